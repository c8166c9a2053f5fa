//! Integration tests of the training loop against the paper's exact statements, at small
//! sizes, in f64 on the default backend (one process, one precision: see the model tests).

use std::sync::Arc;

use burn::module::{Module, Param};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use logit_reg::experiments::config::RunConfig;
use logit_reg::experiments::run::execute;
use logit_reg::model::{
    Backend, LinearClassifierConfig, LogitModel, LogitRegularizedLoss, LossOutput, Precision,
    Quadratic, make_device, to_f64_vec,
};
use logit_reg::train::{
    EngineName, MarginLoss, MetricRow, Objective, OptimizerName, Problem, TrainSpec, train,
};

fn device() -> Device {
    make_device(Backend::Flex, Precision::F64)
        .expect("flex f64")
        .autodiff()
}

fn config(sets: &[&str]) -> RunConfig {
    let mut all: Vec<String> = vec!["dtype=\"f64\"".into()];
    all.extend(sets.iter().map(|s| s.to_string()));
    RunConfig::load(None, &all).expect("valid config")
}

/// Full-batch training to a gradient tolerance, with one learning rate.
fn spec(
    optimizer: OptimizerName,
    lr: f64,
    steps: u64,
    batch_size: usize,
    grad_tol: f64,
) -> TrainSpec {
    TrainSpec {
        optimizer,
        lr: vec![lr],
        steps,
        batch_size,
        grad_tol,
        adam: (0.9, 0.999, 1e-8),
        seed: 0,
        engine: EngineName::Burn,
        threads: 0,
        fused_kernel: Default::default(),
    }
}

/// Asserts that two metric rows agree column by column (from column `skip` on) to `1e-10`
/// relative, NaN matching NaN.
fn assert_rows_agree(a: &MetricRow, b: &MetricRow, skip: usize, what: &str) {
    for (column, (x, y)) in a.values().iter().zip(b.values()).enumerate().skip(skip) {
        assert!(
            (x - y).abs() <= 1e-10 * (1.0 + y.abs()) || (x.is_nan() && y.is_nan()),
            "{what}, column {column}: {x} vs {y}"
        );
    }
}

fn final_rows(rows: &[MetricRow]) -> Vec<MetricRow> {
    let last = rows.iter().map(|r| r.step).max().expect("rows");
    rows.iter().filter(|r| r.step == last).copied().collect()
}

#[test]
fn threshold_solution_with_noiseless_features() {
    // σ_f = 0, α = 0.2, λ = 20/60 < 1: GD converges to S = (z*/μ_f) e₁, all logits at z*.
    let cfg = config(&[
        "data.d=20",
        "data.n=60",
        "data.n_test=2000",
        "data.sigma_f=0",
        "loss.alpha=0.2",
        "train.steps=200000",
        "train.grad_tol=1e-11",
    ]);
    let result = execute(&cfg, false).expect("runs");
    assert!(
        result.measured.outcome.converged,
        "GD did not reach the gradient tolerance"
    );
    let z_star = logit_reg::model::target::quadratic_target(0.2)
        .expect("ok")
        .z_star;
    let row = final_rows(result.metrics())[0];
    assert!(
        (row.train_logit_mean - z_star).abs() < 1e-4,
        "mean {} vs z* {z_star}",
        row.train_logit_mean
    );
    // Every train logit within 1e-4 of z*: the mean is, and the std is ≤ 1e-4 / 3.
    assert!(row.train_logit_std < 3e-5, "std {}", row.train_logit_std);
    assert_eq!(row.test_accuracy, 1.0);
    assert!(
        (row.s1 - z_star / 1.0).abs() < 1e-4,
        "S1 {} vs z*/μ_f {z_star}",
        row.s1
    );
    assert!(row.s_perp_norm < 1e-4, "‖S⊥‖ {}", row.s_perp_norm);
}

/// A per-sample loss that is exactly quadratic in the signed logit: `ℓ(t) = (t − 1)²`.
#[derive(Debug)]
struct SquaredMarginLoss;

impl MarginLoss for SquaredMarginLoss {
    fn forward(&self, margins: Tensor<2>) -> LossOutput {
        let [n, m] = margins.dims();
        let per_sample = (margins.clone() - 1.0) * (margins - 1.0);
        let mean = per_sample.clone().sum_dim(0).reshape([m]) * (1.0 / n as f64);
        LossOutput { per_sample, mean }
    }
}

#[test]
fn quadratic_per_sample_loss_finds_the_empirical_lda_direction() {
    // Cor. 3.3: with a quadratic per-sample loss and λ < 1 the minimiser is ∝ Σ̂⁻¹μ̂.
    let dev = device();
    let spn = config(&["data.d=15", "data.n=80", "data.n_test=100"])
        .signal_noise()
        .expect("valid");
    let problem = Problem::binary(&spn, 3, &dev).expect("data");
    let lda = problem.lda.clone().expect("N > d gives an LDA direction");
    let model = LinearClassifierConfig::new(15).init(&dev).expect("model");
    let objective = Objective::Binary {
        loss: Arc::new(SquaredMarginLoss),
        weight_decay: 0.0,
        sum_data_term: false,
    };
    let spec = spec(OptimizerName::Gd, 0.1, 100_000, 80, 1e-12);
    let (model, outcome) =
        train(model, &problem, &objective, &spec, |_| false, |_| {}).expect("trains");
    assert!(outcome.converged);
    let s = model.weights_f64();
    let cos = s.iter().zip(&lda).map(|(a, b)| a * b).sum::<f64>()
        / (s.iter().map(|v| v * v).sum::<f64>().sqrt()
            * lda.iter().map(|v| v * v).sum::<f64>().sqrt());
    assert!(cos >= 0.9999, "cos(S, LDA) = {cos}");
}

#[test]
fn unregularised_logits_and_norm_keep_growing() {
    let cfg = config(&[
        "data.d=30",
        "data.n=40",
        "data.n_test=500",
        "data.sigma_f=0.2",
        "loss.penalty=\"none\"",
        "loss.alpha=0",
        "train.steps=5000",
        "train.log_points=30",
    ]);
    let result = execute(&cfg, false).expect("runs");
    let rows: Vec<&MetricRow> = result.metrics().iter().filter(|r| r.step >= 100).collect();
    assert!(rows.len() > 5);
    for pair in rows.windows(2) {
        assert!(
            pair[1].weight_norm > pair[0].weight_norm,
            "‖S‖ stopped growing at {}",
            pair[1].step
        );
        assert!(
            pair[1].train_logit_mean > pair[0].train_logit_mean,
            "mean logit stopped growing"
        );
    }
    assert_eq!(rows.last().expect("rows").train_accuracy, 1.0);
}

#[test]
fn regularised_logits_cluster() {
    let cfg = config(&[
        "data.d=40",
        "data.n=100",
        "data.n_test=500",
        "loss.alpha=[0, 0.2]",
        "train.steps=4000",
        "train.log_points=20",
    ]);
    let result = execute(&cfg, false).expect("runs");
    let ratio = |r: &MetricRow| r.train_logit_std / r.train_logit_mean;
    let at = |step: u64, run: usize| {
        *result
            .metrics()
            .iter()
            .find(|r| r.step == step && r.run == run)
            .expect("row")
    };
    let first_step = result
        .metrics()
        .iter()
        .map(|r| r.step)
        .find(|&s| s > 0)
        .expect("steps");
    let early = at(first_step, 1);
    let last = final_rows(result.metrics());
    // The coefficient of variation of the α = 0.2 logits falls during training.
    assert!(
        ratio(&last[1]) < ratio(&early),
        "{} !< {}",
        ratio(&last[1]),
        ratio(&early)
    );
    // At the same step the α = 0.2 logits are much tighter than the α = 0 ones.
    assert!(last[1].train_logit_std < 0.5 * last[0].train_logit_std);
    // And their mean sits near z* (which the spread pulls below: μ* = z*/(1 + r²)).
    assert!(last[1].train_logit_mean < last[1].z_star);
}

#[test]
fn a_batch_of_runs_equals_single_runs() {
    let base = [
        "data.d=25",
        "data.n=50",
        "data.n_test=200",
        "train.steps=300",
        "train.init_std=0.1",
    ];
    let mut batch = base.to_vec();
    batch.extend(["loss.alpha=[0, 0.1, 0.4]", "train.lr=[0.1, 0.05, 0.3]"]);
    let batch = execute(&config(&batch), false).expect("batch");
    for (run, (alpha, lr)) in [(0.0, 0.1), (0.1, 0.05), (0.4, 0.3)]
        .into_iter()
        .enumerate()
    {
        let mut single = base.to_vec();
        let a = format!("loss.alpha={alpha}");
        let l = format!("train.lr={lr}");
        let i = format!("train.init_index={run}");
        single.extend([a.as_str(), l.as_str(), i.as_str()]);
        let single = execute(&config(&single), false).expect("single");
        let b = final_rows(batch.metrics())[run];
        let s = final_rows(single.metrics())[0];
        assert_rows_agree(&b, &s, 2, &format!("run {run}: batch vs single"));
    }
}

#[test]
fn an_mlp_batch_of_runs_equals_single_runs() {
    // M MLPs side by side share the data pass and nothing else: run m of a batch follows the
    // single run with α_m, η_m and init stream m, for GD (per-run rates) and for mini-batch Adam
    // (one rate; every run sees the same batches).
    let base = [
        "model.kind=\"mlp\"",
        "model.hidden=[8, 6]",
        "model.activation=\"tanh\"",
        "data.model=\"multiclass\"",
        "data.k=3",
        "data.d=10",
        "data.n=40",
        "data.n_test=60",
        "train.steps=120",
        "loss.penalty=\"label-smoothing\"",
    ];
    // (extra keys, [(α, η) of each run]).
    type Case<'a> = (&'a [&'a str], [(f64, f64); 2]);
    let cases: [Case; 2] = [
        (&[], [(0.0, 0.2), (0.1, 0.05)]),
        (
            &["train.optimizer=\"adam\"", "train.batch_size=16"],
            [(0.0, 0.01), (0.1, 0.01)],
        ),
    ];
    for (extra, runs) in cases {
        let mut batch = base.to_vec();
        batch.extend(extra);
        let alphas = format!("loss.alpha=[{}, {}]", runs[0].0, runs[1].0);
        let lrs = if runs[0].1 == runs[1].1 {
            format!("train.lr={}", runs[0].1)
        } else {
            format!("train.lr=[{}, {}]", runs[0].1, runs[1].1)
        };
        batch.extend([alphas.as_str(), lrs.as_str()]);
        let batch = execute(&config(&batch), false).expect("batch");
        for (run, (alpha, lr)) in runs.into_iter().enumerate() {
            let mut single = base.to_vec();
            single.extend(extra);
            let a = format!("loss.alpha={alpha}");
            let l = format!("train.lr={lr}");
            let i = format!("train.init_index={run}");
            single.extend([a.as_str(), l.as_str(), i.as_str()]);
            let single = execute(&config(&single), false).expect("single");
            let b = final_rows(batch.metrics())[run];
            let s = final_rows(single.metrics())[0];
            assert!(
                b.train_loss < 0.9 * batch.metrics()[run].train_loss,
                "run {run} trains"
            );
            assert_rows_agree(&b, &s, 2, &format!("{extra:?} run {run}: batch vs single"));
        }
    }
}

#[test]
fn shared_noise_draws_make_sigma_n_invariance_exact_and_per_sigma_n_draws_do_not() {
    // The regularised minimiser (Newton) on σ_n = 1 and σ_n = 2. With one draw per seed the
    // second data set is the first with its orthogonal part doubled, train and test alike, so
    // the minimiser's predictions, hence its accuracies, are identical: an invariance check on
    // such a sweep cannot fail. With per-σ_n draws the two runs see independent samples.
    let accuracy = |draws: &str, sigma_n: f64| -> (f64, f64) {
        let d = format!("data.noise_draws=\"{draws}\"");
        let s = format!("data.sigma_n={sigma_n}");
        let result = execute(
            &config(&[
                "data.d=40",
                "data.n=60",
                "data.n_test=400",
                &d,
                &s,
                "loss.alpha=0.4",
                "train.optimizer=\"newton\"",
                "train.steps=100",
            ]),
            false,
        )
        .expect("run");
        let get = |k: &str| result.summary[k].as_f64().expect(k);
        (get("train_accuracy"), get("test_accuracy"))
    };
    let (shared_1, shared_2) = (accuracy("shared", 1.0), accuracy("shared", 2.0));
    assert_eq!(
        shared_1, shared_2,
        "shared draws: σ_n-invariance is an identity"
    );
    let (fresh_1, fresh_2) = (accuracy("per-sigma-n", 1.0), accuracy("per-sigma-n", 2.0));
    assert_ne!(fresh_1.1, fresh_2.1, "per-σ_n draws: independent test sets");
    // The same (seed, σ_n) draws the same data either way round.
    assert_eq!(fresh_1, accuracy("per-sigma-n", 1.0));
    let seeds: Vec<u64> = [1.0, 2.0, 1.0]
        .iter()
        .map(|sn| {
            let s = format!("data.sigma_n={sn}");
            config(&["data.noise_draws=\"per-sigma-n\"", &s]).data_seed()
        })
        .collect();
    assert!(seeds[0] != seeds[1] && seeds[0] == seeds[2]);
    assert_eq!(
        config(&["data.sigma_n=3"]).data_seed(),
        0,
        "shared: the seed itself"
    );
}

#[test]
fn a_cnn_batch_of_runs_on_the_digits_equals_single_runs() {
    // The ConvNet's runs share the first convolution's pass and the grouped later ones, and
    // nothing else: run m of a batch follows the single run with α_m and init stream m under
    // mini-batch Adam, and the penultimate-feature metrics are defined (F = 6·2·2 = 24).
    let base = [
        "model.kind=\"cnn\"",
        "model.channels=[4, 6]",
        "data.source=\"digits\"",
        "data.n_train=200",
        "train.optimizer=\"adam\"",
        "train.lr=0.01",
        "train.batch_size=25",
        "train.epochs=6",
        "loss.penalty=\"label-smoothing\"",
    ];
    let mut batch = base.to_vec();
    batch.push("loss.alpha=[0, 0.1]");
    let batch = execute(&config(&batch), false).expect("batch");
    for (run, alpha) in [0.0, 0.1].into_iter().enumerate() {
        let mut single = base.to_vec();
        let a = format!("loss.alpha={alpha}");
        let i = format!("train.init_index={run}");
        single.extend([a.as_str(), i.as_str()]);
        let single = execute(&config(&single), false).expect("single");
        let b = final_rows(batch.metrics())[run];
        let s = final_rows(single.metrics())[0];
        assert!(
            b.train_loss < 0.5 * batch.metrics()[run].train_loss,
            "run {run} trains: {} from {}",
            b.train_loss,
            batch.metrics()[run].train_loss
        );
        assert_rows_agree(&b, &s, 2, &format!("cnn run {run}: batch vs single"));
        for key in ["nc1", "head_lda_cos", "test_ece"] {
            let v = batch.summary[key][run].as_f64().expect(key);
            assert!(v.is_finite(), "{key} of run {run}: {v}");
        }
    }
}

#[test]
fn head_lda_cosine_of_a_linear_run_agrees_with_the_empirical_lda_cosine() {
    // For a binary linear model the "features" are the inputs and the head is S, so
    // head_lda_cos = cos(S, Σ̃_W⁻¹(μ₊ − μ₋)) measures what cos_lda = cos(S, Σ̂⁻¹μ̂) does, with
    // the within-class covariance in place of the centred covariance of y·x. The two
    // covariances differ by terms in the class-mean midpoint (μ₊ + μ₋)/2, zero in the
    // population and O(1/√N) here, plus a 1e-6 ridge: agreement to 5e-3, not to rounding.
    let cfg = config(&[
        "data.d=40",
        "data.n=400",
        "data.n_test=100",
        "train.steps=3000",
        "loss.alpha=[0, 0.2]",
    ]);
    let result = execute(&cfg, false).expect("run");
    for run in 0..2 {
        let lda = result.summary["cos_lda"][run].as_f64().expect("cos_lda");
        let head = result.summary["head_lda_cos"][run]
            .as_f64()
            .expect("head_lda_cos");
        assert!(
            (lda - head).abs() < 5e-3,
            "run {run}: cos_lda {lda}, head_lda_cos {head}"
        );
        let nc1 = result.summary["nc1"][run].as_f64().expect("nc1");
        assert!(nc1 > 0.0 && nc1.is_finite(), "{nc1}");
    }
    // The regularised run is nearer the LDA direction (the paper's claim 2).
    let head = |run: usize| result.summary["head_lda_cos"][run].as_f64().expect("cos");
    assert!(head(1) > head(0), "{} vs {}", head(1), head(0));
}

#[test]
fn the_same_seed_gives_an_identical_metrics_csv() {
    let sets = [
        "data.d=20",
        "data.n=30",
        "data.n_test=100",
        "train.steps=200",
        "seed=5",
    ];
    let a = execute(&config(&sets), false).expect("a");
    let b = execute(&config(&sets), false).expect("b");
    let csv = |r: &logit_reg::experiments::run::RunResult| {
        logit_reg::experiments::output::metrics_csv(r.metrics()).expect("csv")
    };
    assert_eq!(csv(&a), csv(&b));
    let mut other = sets.to_vec();
    other[4] = "seed=6";
    assert_ne!(csv(&a), csv(&execute(&config(&other), false).expect("c")));
}

#[cfg(feature = "ndarray")]
#[test]
fn flex_and_ndarray_agree_in_f64() {
    let sets = [
        "data.d=20",
        "data.n=40",
        "data.n_test=200",
        "train.steps=500",
        "loss.alpha=[0, 0.3]",
    ];
    let flex = execute(&config(&sets), false).expect("flex");
    let mut nd = sets.to_vec();
    nd.push("backend=\"ndarray\"");
    let nd = execute(&config(&nd), false).expect("ndarray");
    for (a, b) in final_rows(flex.metrics())
        .iter()
        .zip(final_rows(nd.metrics()))
    {
        for (x, y) in a.values().iter().zip(b.values()) {
            assert!(
                (x - y).abs() <= 1e-6 * (1.0 + y.abs()) || (x.is_nan() && y.is_nan()),
                "{x} vs {y}"
            );
        }
    }
}

/// A tiny two-layer MLP with M = 1 run: `z = w₂ᵀ relu(W₁ x + b₁)`.
#[derive(Module, Debug)]
struct Mlp {
    hidden: Param<Tensor<2>>,
    bias: Param<Tensor<1>>,
    out: Param<Tensor<2>>,
}

impl LogitModel for Mlp {
    fn logits(&self, x: Tensor<2>) -> Tensor<3> {
        let [n, _] = x.dims();
        let h = relu(x.matmul(self.hidden.val()) + self.bias.val().unsqueeze_dim(0));
        h.matmul(self.out.val()).reshape([n, 1, 1])
    }
    fn runs(&self) -> usize {
        1
    }
}

#[test]
fn the_loop_trains_a_nonlinear_model() {
    // XOR-like labels y = sign(x₁ x₂) are not linearly separable; a 16-unit MLP fits them.
    let dev = device();
    let (n, d, h) = (200, 2, 16);
    let x: Vec<f64> = (0..n * d)
        .map(|i| ((i * 7919 % 1000) as f64 / 500.0) - 1.0)
        .collect();
    let y: Vec<f64> = (0..n)
        .map(|i| {
            if x[2 * i] * x[2 * i + 1] > 0.0 {
                1.0
            } else {
                -1.0
            }
        })
        .collect();
    let train_set = logit_reg::data::BinaryDataset { n, d, x, y };
    let problem = Problem::from_binary(&train_set, &train_set, &dev);
    let init = |len: usize, seed: u64, scale: f64| {
        (0..len)
            .map(|i| scale * (((i as u64 * 2654435761 + seed) % 1000) as f64 / 500.0 - 1.0))
            .collect::<Vec<_>>()
    };
    let param2 = |v: Vec<f64>, shape: [usize; 2]| {
        Param::from_tensor(Tensor::from_data(TensorData::new(v, shape), &dev))
    };
    let mlp = Mlp {
        hidden: param2(init(d * h, 1, 1.0), [d, h]),
        bias: Param::from_tensor(Tensor::from_data(
            TensorData::new(init(h, 2, 0.1), [h]),
            &dev,
        )),
        out: param2(init(h, 3, 0.5), [h, 1]),
    };
    let loss =
        LogitRegularizedLoss::new(Some(Arc::new(Quadratic)), vec![0.05], &dev).expect("loss");
    let objective = Objective::Binary {
        loss: Arc::new(loss),
        weight_decay: 0.0,
        sum_data_term: false,
    };
    let spec = spec(OptimizerName::Adam, 0.02, 1500, n, 0.0);
    let mut objective_at = Vec::new();
    let (mlp, _) = train(
        mlp,
        &problem,
        &objective,
        &spec,
        |s| s % 500 == 0,
        |v| objective_at.push(v.objective[0]),
    )
    .expect("trains");
    let margins = to_f64_vec(mlp.logits(problem.train_x.clone()).reshape([n, 1]));
    let acc = margins
        .iter()
        .zip(&train_set.y)
        .filter(|(z, y)| *z * *y > 0.0)
        .count() as f64
        / n as f64;
    assert!(acc >= 0.95, "MLP train accuracy {acc}");
    // The objective falls between logging steps 0, 500, 1000 and 1500.
    assert_eq!(objective_at.len(), 4);
    assert!(
        objective_at.windows(2).all(|w| w[1] < w[0]),
        "{objective_at:?}"
    );
}

#[test]
fn sgd_with_full_batches_equals_gd() {
    // With batch_size = N every mini-batch is the whole (reshuffled) training set, so SGD takes
    // the GD steps up to the order of summation.
    let base = [
        "data.d=15",
        "data.n=40",
        "data.n_test=100",
        "train.steps=200",
        "loss.alpha=0.3",
    ];
    let gd = execute(&config(&base), false).expect("gd");
    let mut sgd = base.to_vec();
    sgd.extend(["train.optimizer=\"sgd\"", "train.batch_size=40"]);
    let sgd = execute(&config(&sgd), false).expect("sgd");
    let (a, b) = (final_rows(gd.metrics())[0], final_rows(sgd.metrics())[0]);
    assert_rows_agree(&a, &b, 0, "full batch vs mini-batches of N");
    // Smaller batches still train.
    let mut small = base.to_vec();
    small.extend(["train.optimizer=\"sgd\"", "train.batch_size=8"]);
    let small = execute(&config(&small), false).expect("sgd");
    assert!(final_rows(small.metrics())[0].train_loss < 0.9 * small.metrics()[0].train_loss);
}

#[test]
fn minibatch_adam_with_full_batches_equals_adam_and_epochs_set_the_steps() {
    // Adam with batch_size = N sees the whole (reshuffled) training set at every step: the
    // full-batch Adam steps up to the order of summation.
    let base = [
        "data.d=15",
        "data.n=40",
        "data.n_test=100",
        "train.optimizer=\"adam\"",
        "train.lr=0.01",
        "train.steps=150",
        "loss.alpha=0.3",
    ];
    let full = execute(&config(&base), false).expect("adam");
    let mut batched = base.to_vec();
    batched.push("train.batch_size=40");
    let batched = execute(&config(&batched), false).expect("mini-batch adam");
    let (a, b) = (
        final_rows(full.metrics())[0],
        final_rows(batched.metrics())[0],
    );
    assert_rows_agree(&a, &b, 0, "full batch vs mini-batches of N");
    // Smaller batches take other steps, and train.
    let mut small = base.to_vec();
    small.push("train.batch_size=8");
    let small = execute(&config(&small), false).expect("mini-batch adam");
    let last = final_rows(small.metrics())[0];
    assert!(last.train_loss != a.train_loss);
    assert!(last.train_loss < 0.9 * small.metrics()[0].train_loss);
    // 3 epochs of ⌊40 / 6⌋ = 6 batches of 6: 18 steps, for adam and sgd; gd: one per epoch.
    for (optimizer, batch, steps) in [("adam", 6, 18), ("sgd", 6, 18), ("gd", 0, 3)] {
        let mut sets = base.to_vec();
        let optimizer = format!("train.optimizer=\"{optimizer}\"");
        let batch = format!("train.batch_size={batch}");
        sets.extend([optimizer.as_str(), batch.as_str(), "train.epochs=3"]);
        let cfg = config(&sets);
        assert_eq!(cfg.total_steps(), steps);
        let result = execute(&cfg, false).expect("epochs");
        assert_eq!(result.summary["steps"], steps, "{optimizer}");
    }
}

#[test]
fn weight_decay_baseline_reaches_its_stationary_point() {
    // At the minimiser of (1/N) Σ log(1 + e^{−t_i}) + γ/2 ‖S‖²: γ S = (1/N) Σ σ(−t_i) y_i x_i.
    let dev = device();
    let cfg = config(&[
        "data.d=12",
        "data.n=50",
        "data.n_test=100",
        "loss.penalty=\"none\"",
        "loss.alpha=0",
        "loss.weight_decay=0.2",
        "train.steps=100000",
        "train.grad_tol=1e-12",
    ]);
    let spn = cfg.signal_noise().expect("valid");
    let problem = Problem::binary(&spn, cfg.seed, &dev).expect("data");
    let loss = LogitRegularizedLoss::new(None, vec![0.0], &dev).expect("loss");
    let objective = Objective::Binary {
        loss: Arc::new(loss),
        weight_decay: 0.2,
        sum_data_term: false,
    };
    let spec = spec(OptimizerName::Gd, 0.1, 100_000, 50, 1e-12);
    let model = LinearClassifierConfig::new(12).init(&dev).expect("model");
    let (model, outcome) =
        train(model, &problem, &objective, &spec, |_| false, |_| {}).expect("trains");
    assert!(outcome.converged);
    let s = model.weights_f64();
    let data = spn.generate(cfg.seed).expect("data").train;
    let mut rhs = vec![0.0; 12];
    for i in 0..data.n {
        let yx: Vec<f64> = data.row(i).iter().map(|v| v * data.y[i]).collect();
        let t: f64 = yx.iter().zip(&s).map(|(a, b)| a * b).sum();
        let w = logit_reg::model::target::sigmoid(-t) / data.n as f64;
        rhs.iter_mut().zip(&yx).for_each(|(r, v)| *r += w * v);
    }
    for (sj, rj) in s.iter().zip(&rhs) {
        assert!((0.2 * sj - rj).abs() < 1e-10, "γS = {} vs {}", 0.2 * sj, rj);
    }
}

#[test]
fn multiclass_logits_cluster_around_the_simplex_targets() {
    let cfg = config(&[
        "data.model=\"multiclass\"",
        "data.k=4",
        "data.d=12",
        "data.n=200",
        "data.n_test=400",
        "data.sigma_f=0.1",
        "loss.alpha=[0, 0.2]",
        "train.steps=3000",
    ]);
    let result = execute(&cfg, false).expect("runs");
    let last = final_rows(result.metrics());
    assert_eq!(last[1].train_accuracy, 1.0);
    // The regularised gaps sit near Δ* and their vectors near the simplex targets; the
    // unregularised ones keep growing past it.
    assert!((last[1].train_logit_mean - last[1].z_star).abs() < 0.1 * last[1].z_star);
    assert!(last[1].train_target_distance < 0.2 * last[1].z_star);
    assert!(last[0].train_logit_mean > last[1].train_logit_mean);
    let means = &result.summary["per_run"][1]["class_logit_means"];
    assert_eq!(means.as_array().map(Vec::len), Some(4));
}

#[test]
fn newton_reaches_the_minimiser_that_long_gd_converges_to() {
    // Small, well-conditioned problem (λ = 0.2) where GD converges to 1e-9 in a few thousand
    // steps: both solvers must give the same weights, and Newton's certificate must hold when
    // the gradient is recomputed by Burn's autodiff at its solution.
    let common = [
        "data.d=20",
        "data.n=100",
        "data.n_test=500",
        "loss.alpha=[0.1, 0.4]",
        "train.log_points=5",
    ];
    let mut gd_sets = common.to_vec();
    gd_sets.extend(["train.lr=0.5", "train.steps=200000", "train.grad_tol=1e-9"]);
    let gd = execute(&config(&gd_sets), false).expect("gd runs");
    assert_eq!(gd.summary["converged"], true, "GD reaches the tolerance");
    let mut newton_sets = common.to_vec();
    newton_sets.extend([
        "train.optimizer=\"newton\"",
        "train.steps=100",
        "train.grad_tol=1e-12",
    ]);
    let newton = execute(&config(&newton_sets), false).expect("newton runs");
    assert_eq!(newton.summary["converged"], true);
    assert_eq!(newton.summary["solver"], "newton");
    let details = newton.summary["newton"].as_array().expect("newton details");
    assert!(
        details
            .iter()
            .all(|r| r["iterations"].as_u64().unwrap_or(99) <= 20)
    );
    let a = final_rows(gd.metrics());
    let b = final_rows(newton.metrics());
    for (g, n) in a.iter().zip(&b) {
        // ‖S_gd − S_newton‖ ≤ ‖∇F(S_gd)‖/μ_min ~ 1e-8: compare the norms and the directions.
        assert!((g.weight_norm - n.weight_norm).abs() < 1e-7 * n.weight_norm);
        assert!((g.s1 - n.s1).abs() < 1e-7 * n.weight_norm);
        assert!((g.train_loss - n.train_loss).abs() < 1e-12);
        assert!(
            n.train_loss <= g.train_loss + 1e-15,
            "Newton's loss is the minimum"
        );
    }
    // The certificate: ‖∇F‖ ≤ 1e-12 for every run (GD, through Burn's autodiff, only got to
    // 1e-9, and the two agree on the weights to the accuracy that implies).
    let norms = newton.summary["gradient_norms"].as_array().expect("norms");
    assert!(norms.iter().all(|g| g.as_f64().unwrap_or(1.0) <= 1e-12));
}

#[test]
fn newton_rejects_what_it_cannot_solve() {
    let bad = |sets: &[&str]| {
        let mut all: Vec<String> = vec!["train.optimizer=\"newton\"".into()];
        all.extend(sets.iter().map(|s| s.to_string()));
        RunConfig::load(None, &all).and_then(|c| c.validate().map(|_| c))
    };
    let err = bad(&["loss.alpha=[0, 0.2]"]).expect_err("α = 0");
    assert!(err.to_string().contains("loss.alpha"), "{err}");
    let err = bad(&["data.model=\"multiclass\""]).expect_err("multiclass");
    assert!(err.to_string().contains("train.optimizer"), "{err}");
    let err = bad(&["loss.weight_decay=0.2"]).expect_err("weight decay");
    assert!(err.to_string().contains("train.optimizer"), "{err}");
    // max-margin is the α = 0 solver.
    let err = RunConfig::load(
        None,
        &[
            "train.optimizer=\"max-margin\"".into(),
            "loss.alpha=[0, 0.2]".into(),
        ],
    )
    .and_then(|c| c.validate().map(|_| c))
    .expect_err("α > 0");
    assert!(err.to_string().contains("loss.alpha"), "{err}");
}

#[test]
fn max_margin_is_the_direction_unregularised_gd_converges_to() {
    // λ = 0.75 > 1/2 with feature noise: separable, and GD on plain cross-entropy turns (slowly,
    // like 1/log t) towards the hard-margin direction. Its cosine with the max-margin solution
    // must rise with the steps and end close to 1.
    let dev = device();
    let spn = config(&["data.d=30", "data.n=40", "data.n_test=100"])
        .signal_noise()
        .expect("valid");
    let split = spn.generate(5).expect("data");
    let a = split.train.label_absorbed();
    let design = logit_reg::train::solvers::Design::new(&a, 40, 30);
    let mm =
        logit_reg::train::solvers::max_margin_binary(&design, 1e-10, 100_000).expect("separable");
    assert!(mm.converged && (mm.min_margin - 1.0).abs() < 1e-8);
    let problem = Problem::binary(&spn, 5, &dev).expect("data");
    let loss = LogitRegularizedLoss::new(None, vec![0.0], &dev).expect("loss");
    let objective = Objective::Binary {
        loss: Arc::new(loss),
        weight_decay: 0.0,
        sum_data_term: false,
    };
    let cosine = |w: &[f64]| {
        let dot: f64 = w.iter().zip(&mm.weights).map(|(x, y)| x * y).sum();
        let nw = w.iter().map(|x| x * x).sum::<f64>().sqrt();
        let nm = mm.weights.iter().map(|x| x * x).sum::<f64>().sqrt();
        dot / (nw * nm)
    };
    let model = LinearClassifierConfig::new(30).init(&dev).expect("model");
    let mut cosines = Vec::new();
    let (model, _) = train(
        model,
        &problem,
        &objective,
        &spec(OptimizerName::Gd, 1.0, 100_000, 40, 0.0),
        |step| [100, 1_000, 10_000].contains(&step),
        |view| {
            if !view.last {
                cosines.push(cosine(&view.model.weights_f64()));
            }
        },
    )
    .expect("trains");
    cosines.push(cosine(&model.weights_f64()));
    assert!(
        cosines.windows(2).all(|w| w[1] > w[0]),
        "cosines {cosines:?} must rise"
    );
    assert!(*cosines.last().unwrap_or(&0.0) > 0.99, "{cosines:?}");
    // And the exact solver reached through the config gives the same direction.
    let cfg = config(&[
        "data.d=30",
        "data.n=40",
        "data.n_test=100",
        "seed=5",
        "loss.penalty=\"none\"",
        "loss.alpha=0",
        "train.optimizer=\"max-margin\"",
        "train.steps=100000",
        "train.grad_tol=1e-10",
    ]);
    let result = execute(&cfg, false).expect("max-margin runs");
    assert_eq!(result.summary["solver"], "max-margin");
    let row = final_rows(result.metrics())[0];
    let nm = mm.weights.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((row.weight_norm - nm).abs() < 1e-9 * nm);
    assert!((row.cos_e1 - mm.weights[0] / nm).abs() < 1e-9);
}
