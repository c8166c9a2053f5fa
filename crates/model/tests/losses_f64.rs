//! Model tests in f64 on the default backend. Burn fixes a device's float type for the whole
//! process, so f32 tests live in their own test binary (`losses_f32.rs`).

mod common;

use std::sync::Arc;

use burn::tensor::{Int, Tensor, TensorData};
use burn_nn_check::burn_cross_entropy;
use common::{LogCosh, binary_penalties, check_every_backend, classifier_with, gaussian};
use logit_reg_model::loss::{
    binary_alpha_from_epsilon, binary_label_smoothing_targets, check_penalty_tensor,
    multiclass_alpha_from_epsilon, multiclass_label_smoothing_targets,
};
use logit_reg_model::penalty::{LogitPenalty, MultiClassPenalty};
use logit_reg_model::target::{
    label_smoothing_target, multiclass_label_smoothing_target, multiclass_per_sample_loss,
    per_sample_loss, per_sample_loss_derivative, quadratic_target, simplex_logits,
};
use logit_reg_model::{
    Backend, ElementwiseSum, LabelSmoothing, LinearClassifierConfig, LogitLossConfig,
    LogitRegularizedLoss, ModelError, MultiClassLogitLoss, PenaltyKind, Power, Precision,
    PseudoHuber, Quadratic, SoftmaxLabelSmoothing, binary_target, check_penalty, make_device,
    multiclass_target, to_f64_vec,
};

fn device() -> burn::tensor::Device {
    make_device(Backend::Flex, Precision::F64)
        .expect("flex f64")
        .autodiff()
}

/// Burn's own cross-entropy with label smoothing, the independent oracle.
mod burn_nn_check {
    use burn::nn::loss::CrossEntropyLossConfig;
    use burn::tensor::{Int, Tensor};

    /// Mean smoothed cross-entropy from `burn::nn` (smoothing is an f32 there).
    pub fn burn_cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>, smoothing: f32) -> f64 {
        let loss = CrossEntropyLossConfig::new()
            .with_smoothing(Some(smoothing))
            .init(&logits.device());
        loss.forward(logits, labels).into_scalar::<f64>()
    }
}

#[test]
fn autodiff_gradients_match_analytic_gradients_f64() {
    check_every_backend(Precision::F64, 1e-12);
}

#[test]
fn label_smoothing_penalty_form_equals_targets_form() {
    let dev = device();
    let (n, m) = (50, 2);
    // Signed logits spanning ±40 (where the naive formulas would overflow in f32).
    let t: Vec<f64> = gaussian(n * m, 12.0, 7);
    let t_tensor = Tensor::<2>::from_data(TensorData::new(t, [n, m]), &dev);
    for eps in [0.0, 0.05, 0.1, 0.3, 0.49] {
        let alpha = binary_alpha_from_epsilon(eps).expect("valid");
        assert_eq!(alpha, 2.0 * eps);
        let loss = LogitRegularizedLoss::new(Some(Arc::new(LabelSmoothing)), vec![alpha; m], &dev)
            .expect("valid");
        let f_form = to_f64_vec(loss.forward(t_tensor.clone()).per_sample);
        let targets = to_f64_vec(binary_label_smoothing_targets(t_tensor.clone(), eps));
        let err = f_form
            .iter()
            .zip(&targets)
            .fold(0.0_f64, |a, (x, y)| a.max((x - y).abs()));
        assert!(err < 1e-13, "binary eps {eps}: max diff {err:e}");
    }

    let (k, d) = (10, 4);
    let x = gaussian(n * d, 2.0, 8);
    let w = gaussian(d * k, 1.5, 9);
    let b = gaussian(k, 1.0, 10);
    let labels: Vec<usize> = (0..n).map(|i| (i * 3) % k).collect();
    let model = classifier_with(&dev, d, 1, k, &w, Some(&b));
    let x_t = Tensor::<2>::from_data(TensorData::new(x, [n, d]), &dev);
    let labels_t = Tensor::<1, Int>::from_data(
        TensorData::new(labels.iter().map(|&l| l as i64).collect::<Vec<_>>(), [n]),
        &dev,
    );
    for eps in [0.0, 0.1, 0.5, 0.9] {
        let alpha = multiclass_alpha_from_epsilon(eps).expect("valid");
        assert_eq!(alpha, eps);
        let loss =
            MultiClassLogitLoss::new(Some(Arc::new(SoftmaxLabelSmoothing)), vec![alpha], &dev)
                .expect("valid");
        let logits = model.forward(x_t.clone());
        let f_form = to_f64_vec(loss.forward(logits.clone(), labels_t.clone()).per_sample);
        let targets = to_f64_vec(multiclass_label_smoothing_targets(logits, &labels, eps));
        let err = f_form
            .iter()
            .zip(&targets)
            .fold(0.0_f64, |a, (x, y)| a.max((x - y).abs()));
        assert!(err < 1e-13, "multi-class eps {eps}: max diff {err:e}");
    }
}

#[test]
fn binary_label_smoothing_agrees_with_burn_cross_entropy_k2() {
    // A binary logit z is the 2-class softmax with logits (0, z), class 1 ↔ y = +1. Burn's
    // smoothing a gives targets (1 − a/2, a/2), i.e. ε = a/2 and α = 2ε = a.
    let dev = device();
    let n = 40;
    let z = gaussian(n, 3.0, 11);
    let y: Vec<f64> = (0..n)
        .map(|i| if i % 3 == 0 { -1.0 } else { 1.0 })
        .collect();
    for a in [0.0_f32, 0.125, 0.25, 0.5] {
        let alpha = binary_alpha_from_epsilon(f64::from(a) / 2.0).expect("valid");
        let margins: Vec<f64> = z.iter().zip(&y).map(|(z, y)| z * y).collect();
        let loss = LogitRegularizedLoss::new(Some(Arc::new(LabelSmoothing)), vec![alpha], &dev)
            .expect("valid");
        let ours = to_f64_vec(
            loss.forward(Tensor::from_data(TensorData::new(margins, [n, 1]), &dev))
                .mean,
        )[0];
        let two_class: Vec<f64> = z.iter().flat_map(|&z| [0.0, z]).collect();
        let labels: Vec<i64> = y.iter().map(|&y| i64::from(y > 0.0)).collect();
        let burn = burn_cross_entropy(
            Tensor::from_data(TensorData::new(two_class, [n, 2]), &dev),
            Tensor::from_data(TensorData::new(labels, [n]), &dev),
            a,
        );
        assert!(
            (ours - burn).abs() < 1e-13,
            "a = {a}: ours {ours}, burn {burn}"
        );
    }
}

#[test]
fn multiclass_label_smoothing_agrees_with_burn_cross_entropy_k10() {
    let dev = device();
    let (n, k) = (60, 10);
    let logits = gaussian(n * k, 2.5, 12);
    let labels: Vec<usize> = (0..n).map(|i| (i * 7 + 1) % k).collect();
    for a in [0.0_f32, 0.1, 0.25, 0.7] {
        let alpha = multiclass_alpha_from_epsilon(f64::from(a)).expect("valid");
        let loss =
            MultiClassLogitLoss::new(Some(Arc::new(SoftmaxLabelSmoothing)), vec![alpha], &dev)
                .expect("valid");
        let labels_t = Tensor::<1, Int>::from_data(
            TensorData::new(labels.iter().map(|&l| l as i64).collect::<Vec<_>>(), [n]),
            &dev,
        );
        let z3 = Tensor::<3>::from_data(TensorData::new(logits.clone(), [n, 1, k]), &dev);
        let ours = to_f64_vec(loss.forward(z3, labels_t.clone()).mean)[0];
        let z2 = Tensor::<2>::from_data(TensorData::new(logits.clone(), [n, k]), &dev);
        let burn = burn_cross_entropy(z2, labels_t, a);
        // Burn builds its targets as `onehot·(1 − a) + a / K as f32`: the ε/K term is rounded
        // to f32 (relative error ≤ 6e-8), so the losses agree to about 1e-8, not to 1e-15.
        assert!(
            (ours - burn).abs() < 1e-7 * ours,
            "a = {a}: ours {ours}, burn {burn}"
        );
    }
}

#[test]
fn label_smoothing_target_closed_form() {
    // ε = 0.1 → α = 0.2 → z* = log((1 − ε)/ε) = log 9.
    let closed = label_smoothing_target(0.2).expect("valid");
    assert!((closed.z_star - 9f64.ln()).abs() < 1e-15);
    // Floor: binary entropy of 0.1.
    let h = -(0.9f64 * 0.9f64.ln() + 0.1 * 0.1f64.ln());
    assert!((closed.loss_floor - h).abs() < 1e-15);
    // The generic solver finds the same root.
    let solved = binary_target(&LabelSmoothing, 0.2).expect("solvable");
    assert!(
        (solved.z_star - 9f64.ln()).abs() < 1e-13,
        "{}",
        solved.z_star
    );
    assert!((solved.loss_floor - h).abs() < 1e-14);
}

#[test]
fn quadratic_target_solves_its_equation() {
    for alpha in [1e-4, 0.001, 0.01, 0.1, 0.2, 0.4, 0.8, 0.999] {
        let t = quadratic_target(alpha).expect("solvable");
        let z = t.z_star;
        let residual = (1.0 - alpha) / (1.0 + z.exp()) - 2.0 * alpha * z;
        assert!(
            residual.abs() <= 1e-12,
            "alpha {alpha}: z* = {z}, residual {residual:e}"
        );
        assert!(z > 0.0);
    }
    // z* decreases with α (stronger pull to 0).
    let zs: Vec<f64> = [0.01, 0.1, 0.5]
        .iter()
        .map(|&a| quadratic_target(a).expect("ok").z_star)
        .collect();
    assert!(zs[0] > zs[1] && zs[1] > zs[2]);
}

#[test]
fn every_target_is_a_stationary_minimum() {
    for penalty in binary_penalties().into_iter().flatten() {
        for alpha in [0.01, 0.2, 0.6] {
            let t = binary_target(penalty.as_ref(), alpha).expect("solvable");
            let d = per_sample_loss_derivative(penalty.as_ref(), alpha, t.z_star);
            assert!(
                d.abs() < 1e-14,
                "{} α={alpha}: ℓ'(z*) = {d:e}",
                penalty.name()
            );
            for i in -400..=400 {
                let z = t.z_star + 0.05 * f64::from(i);
                let l = per_sample_loss(penalty.as_ref(), alpha, z);
                assert!(
                    t.loss_floor <= l + 1e-15,
                    "{} α={alpha}: ℓ({z}) < ℓ(z*)",
                    penalty.name()
                );
            }
        }
    }
}

#[test]
fn multiclass_targets_minimise_over_all_logit_vectors() {
    let k = 10;
    let penalties: Vec<Arc<dyn MultiClassPenalty>> = vec![
        Arc::new(ElementwiseSum(Arc::new(Quadratic))),
        Arc::new(SoftmaxLabelSmoothing),
        Arc::new(ElementwiseSum(Arc::new(LogCosh))),
    ];
    for penalty in penalties {
        for alpha in [0.04, 0.2, 0.7] {
            let (t, z) = multiclass_target(penalty.as_ref(), alpha, k).expect("solvable");
            assert!(
                t.residual.abs() < 1e-14,
                "{}: residual {}",
                penalty.name(),
                t.residual
            );
            // z* = Δ(e_0 − 1/K) + s·1: the other classes share one logit, the gap is Δ, and
            // s = 0 for the squared norm and for shift-invariant label smoothing.
            assert!(z[1..].iter().all(|&v| (v - z[1]).abs() < 1e-12));
            assert!((z[0] - z[1] - t.z_star).abs() < 1e-12);
            if !penalty.name().contains("log-cosh") {
                let zero_mean = simplex_logits(t.z_star, k);
                assert!(z.iter().zip(&zero_mean).all(|(a, b)| (a - b).abs() < 1e-12));
            }
            // Random perturbations in all K directions never go below the floor.
            for seed in 0..200 {
                let dz = gaussian(k, 0.3, 100 + seed);
                let z2: Vec<f64> = z.iter().zip(&dz).map(|(a, b)| a + b).collect();
                let l = multiclass_per_sample_loss(penalty.as_ref(), alpha, &z2, 0);
                assert!(t.loss_floor <= l + 1e-14, "{} α={alpha}", penalty.name());
            }
        }
    }
    // Label smoothing: the solver agrees with the closed form Δ = log(1 + K(1 − ε)/ε).
    for eps in [0.05, 0.1, 0.4] {
        let closed = multiclass_label_smoothing_target(eps, k).expect("valid");
        assert!((closed.z_star - (1.0 + 10.0 * (1.0 - eps) / eps).ln()).abs() < 1e-14);
        let (solved, _) = multiclass_target(&SoftmaxLabelSmoothing, eps, k).expect("solvable");
        assert!((solved.z_star - closed.z_star).abs() < 1e-12);
        assert!((solved.loss_floor - closed.loss_floor).abs() < 1e-14);
    }
}

#[test]
fn targets_need_alpha_strictly_between_zero_and_one() {
    for alpha in [0.0, 1.0, -0.1, 1.5, f64::NAN] {
        let err = binary_target(&Quadratic, alpha).expect_err("out of range");
        assert!(
            matches!(
                err,
                ModelError::OutOfRange {
                    field: "loss.alpha",
                    ..
                }
            ),
            "{err}"
        );
        assert!(label_smoothing_target(alpha).is_err());
        assert!(multiclass_target(&SoftmaxLabelSmoothing, alpha, 3).is_err());
    }
}

#[test]
fn builtin_and_user_penalties_pass_the_checks() {
    let dev = device();
    for penalty in binary_penalties().into_iter().flatten() {
        check_penalty(penalty.as_ref()).expect("even, convex, consistent");
        check_penalty_tensor(penalty.as_ref(), &dev, 1e-12).expect("tensor = scalar");
    }
}

#[derive(Debug)]
struct Broken(&'static str);

impl LogitPenalty for Broken {
    fn name(&self) -> String {
        self.0.into()
    }
    fn apply(&self, t: Tensor<2>) -> Tensor<2> {
        t.clone() * t * 3.0
    }
    fn value(&self, t: f64) -> f64 {
        match self.0 {
            "odd" => t * t + t,
            "concave" => -(t * t),
            _ => t * t,
        }
    }
    fn derivative(&self, t: f64) -> f64 {
        match self.0 {
            "odd" => 2.0 * t + 1.0,
            "concave" => -2.0 * t,
            _ => 3.0 * t, // wrong
        }
    }
    fn second_derivative(&self, _t: f64) -> f64 {
        match self.0 {
            "odd" | "wrong-derivative" => 2.0,
            _ => -2.0,
        }
    }
}

#[test]
fn penalty_checks_reject_broken_penalties() {
    let check_of = |e: ModelError| match e {
        ModelError::InvalidPenalty { check, .. } => check,
        other => panic!("unexpected error {other}"),
    };
    assert_eq!(
        check_of(check_penalty(&Broken("odd")).expect_err("odd")),
        "even"
    );
    assert_eq!(
        check_of(check_penalty(&Broken("concave")).expect_err("concave")),
        "convex"
    );
    assert_eq!(
        check_of(check_penalty(&Broken("wrong-derivative")).expect_err("bad f'")),
        "derivative"
    );
    let dev = device();
    assert_eq!(
        check_of(check_penalty_tensor(&Broken("odd"), &dev, 1e-12).expect_err("3t² ≠ t²+t")),
        "tensor-form"
    );
}

#[test]
fn label_smoothing_is_stable_at_large_logits_f64() {
    let dev = device();
    let t = Tensor::<2>::from_data(TensorData::new(vec![1e4, -1e4, 0.0, 700.0], [4, 1]), &dev)
        .require_grad();
    let f = LabelSmoothing.apply(t.clone());
    let values = to_f64_vec(f.clone());
    assert_eq!(values[0], 5000.0);
    assert_eq!(values[1], 5000.0);
    assert!((values[2] - 2f64.ln()).abs() < 1e-15);
    assert_eq!(values[3], 350.0);
    let grads = f.sum().backward();
    let g = to_f64_vec(t.grad(&grads).expect("gradient"));
    // f'(t) = ½ tanh(t/2): ±½ at ±1e4, exactly 0 at 0.
    assert_eq!(g, vec![0.5, -0.5, 0.0, 0.5]);
}

#[test]
fn classifier_initialisation_and_forward() {
    let dev = device();
    // Zero initialisation by default.
    let zero = LinearClassifierConfig::new(5)
        .with_runs(3)
        .init(&dev)
        .expect("valid");
    assert!(zero.weights_f64().iter().all(|&w| w == 0.0));
    assert!(zero.bias.is_none());

    // Gaussian init: a batch of 4 runs equals 4 single runs with matching `first_run`.
    let batch = LinearClassifierConfig::new(300)
        .with_runs(4)
        .with_init_std(0.5)
        .with_init_seed(9);
    let w = batch.initial_weights();
    for run in 0..4 {
        let single = LinearClassifierConfig::new(300)
            .with_init_std(0.5)
            .with_init_seed(9)
            .with_first_run(run as u64)
            .initial_weights();
        let column: Vec<f64> = (0..300).map(|j| w[j * 4 + run]).collect();
        assert_eq!(column, single);
    }
    // Sample std of 1200 N(0, 0.25) draws within 4 standard errors (se ≈ σ/√(2n)).
    let (mean, sd) = logit_reg_data::stats::mean_std(&w, logit_reg_data::stats::StdKind::Sample);
    let var = sd * sd;
    assert!(mean.abs() < 4.0 * 0.5 / 1200f64.sqrt());
    assert!((var.sqrt() - 0.5).abs() < 4.0 * 0.5 / 2400f64.sqrt());

    // Forward equals a host matrix product, multi-class with bias.
    let (n, d, m, k) = (3, 4, 2, 3);
    let x = gaussian(n * d, 1.0, 20);
    let wv = gaussian(d * m * k, 1.0, 21);
    let bv = gaussian(m * k, 1.0, 22);
    let model = classifier_with(&dev, d, m, k, &wv, Some(&bv));
    let z = to_f64_vec(model.forward(Tensor::from_data(TensorData::new(x.clone(), [n, d]), &dev)));
    for i in 0..n {
        for col in 0..m * k {
            let want = bv[col]
                + (0..d)
                    .map(|j| x[i * d + j] * wv[j * m * k + col])
                    .sum::<f64>();
            assert!((z[i * m * k + col] - want).abs() < 1e-13);
        }
    }
}

#[test]
fn bad_model_and_loss_parameters_are_typed_errors() {
    let dev = device();
    let field = |e: ModelError| match e {
        ModelError::OutOfRange { field, .. } | ModelError::WrongLength { field, .. } => field,
        other => panic!("unexpected {other}"),
    };
    assert_eq!(
        field(LinearClassifierConfig::new(0).init(&dev).expect_err("d")),
        "model.d"
    );
    assert_eq!(
        field(
            LinearClassifierConfig::new(2)
                .with_runs(0)
                .init(&dev)
                .expect_err("runs")
        ),
        "model.runs"
    );
    assert_eq!(
        field(
            LinearClassifierConfig::new(2)
                .with_classes(0)
                .init(&dev)
                .expect_err("classes")
        ),
        "model.classes"
    );
    assert_eq!(
        field(
            LinearClassifierConfig::new(2)
                .with_init_std(-1.0)
                .init(&dev)
                .expect_err("std")
        ),
        "model.init_std"
    );
    let loss = |penalty, alpha: Vec<f64>| LogitLossConfig::new(penalty, alpha).init(&dev);
    assert_eq!(
        field(loss(PenaltyKind::Quadratic, vec![1.0]).expect_err("α=1")),
        "loss.alpha"
    );
    assert_eq!(
        field(loss(PenaltyKind::Quadratic, vec![-0.1]).expect_err("α<0")),
        "loss.alpha"
    );
    assert_eq!(
        field(loss(PenaltyKind::Quadratic, vec![]).expect_err("empty")),
        "loss.alpha"
    );
    assert_eq!(
        field(loss(PenaltyKind::None, vec![0.2]).expect_err("none")),
        "loss.alpha"
    );
    assert!(loss(PenaltyKind::None, vec![0.0]).is_ok());
    assert_eq!(
        field(loss(PenaltyKind::PseudoHuber { delta: 0.0 }, vec![0.1]).expect_err("δ")),
        "loss.delta"
    );
    assert_eq!(
        field(loss(PenaltyKind::Power { p: 1.0 }, vec![0.1]).expect_err("p")),
        "loss.p"
    );
    assert_eq!(
        field(binary_alpha_from_epsilon(0.5).expect_err("ε")),
        "loss.epsilon"
    );
    assert_eq!(
        field(multiclass_alpha_from_epsilon(1.0).expect_err("ε")),
        "loss.epsilon"
    );
    assert_eq!(
        field(logit_reg_model::WeightDecayLoss::new(-1.0, Default::default()).expect_err("γ")),
        "loss.gamma"
    );
    assert!(PseudoHuber::new(f64::INFINITY).is_err() && Power::new(f64::NAN).is_err());
    assert!(Backend::parse("cuda").is_err() && Precision::parse("f16").is_err());
    // The error text names the field, the value and the allowed range.
    let text = loss(PenaltyKind::Quadratic, vec![1.5])
        .expect_err("α")
        .to_string();
    assert!(
        text.contains("loss.alpha") && text.contains("1.5") && text.contains("[0, 1)"),
        "{text}"
    );
}

#[test]
fn asking_for_a_missing_backend_or_another_precision_is_an_error() {
    let _ = device();
    // The flex device is already f64 in this process: asking for f32 must fail, not silently
    // hand back f64.
    let err = make_device(Backend::Flex, Precision::F32).expect_err("precision clash");
    assert!(matches!(err, ModelError::Backend { .. }), "{err}");
    if !Backend::compiled().contains(&Backend::Wgpu) {
        let err = make_device(Backend::Wgpu, Precision::F32).expect_err("not compiled");
        assert!(err.to_string().contains("not compiled"), "{err}");
    }
}
