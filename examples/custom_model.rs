//! A model of your own, trained with a logit penalty, writing the files `experiments run`
//! writes.
//!
//! The model is a "wide and deep" classifier that is neither of the built-in ones: a linear
//! path plus a one-hidden-layer path, `z = x W_w + relu(x W_1 + b_1) W_2 + b_2`, with M copies
//! side by side so that an α sweep reads each batch once. It implements `LogitModel` (logits
//! and the number of runs; features and head for the feature metrics) and nothing else: the
//! training loop, the penalties, the metrics and the output files come from the library.
//!
//! ```bash
//! cargo run --release --example custom_model -- runs/custom-model
//! ```
//!
//! It trains on the shipped UCI digits with label smoothing at α = 0 and α = 0.1 and writes
//! `config.json`, `metrics.csv`, `timing.csv`, `summary.json` and `done.json` to the directory
//! given (default `runs/custom-model`).

use std::path::PathBuf;

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData, activation};
use logit_reg::data::real::{SplitMode, digits, split, standardise};
use logit_reg::data::{Stream, stream_rng};
use logit_reg::experiments::run::{RunResult, summary_json, write_results};
use logit_reg::model::{
    Backend, LogitModel, MultiClassLogitLoss, PenaltyKind, Precision, RunLinear, make_device,
};
use logit_reg::train::{
    EngineName, MeasureSpec, MetricContext, Objective, OptimizerName, Problem, TrainSpec,
    train_and_measure,
};
use rand::RngExt;
use serde_json::json;

/// M wide-and-deep classifiers side by side.
#[derive(Module, Debug)]
struct WideAndDeep {
    /// The linear path, `[M, d, K]`, no bias.
    wide: RunLinear,
    /// The hidden layer, `[M, d, h]`.
    hidden: RunLinear,
    /// The output of the deep path, `[M, h, K]`, with the bias of the sum.
    out: RunLinear,
    /// Number of runs M.
    runs: usize,
}

impl WideAndDeep {
    /// Every weight and bias `U(±1/√fan_in)`, run m from its own seeded stream, so a run does
    /// not depend on how many share its batch.
    fn init(d: usize, h: usize, k: usize, runs: usize, seed: u64, device: &Device) -> Self {
        let sizes = [(d, k, false), (d, h, true), (h, k, true)];
        let mut values: Vec<(Vec<f64>, Vec<f64>)> = sizes
            .iter()
            .map(|&(i, o, _)| (vec![0.0; runs * i * o], vec![0.0; runs * o]))
            .collect();
        for run in 0..runs {
            let mut rng = stream_rng(seed, Stream::Init { index: run as u64 });
            for (&(i, o, bias), (w, b)) in sizes.iter().zip(&mut values) {
                let bound = 1.0 / (i as f64).sqrt();
                for v in &mut w[run * i * o..(run + 1) * i * o] {
                    *v = rng.random_range(-bound..bound);
                }
                if bias {
                    for v in &mut b[run * o..(run + 1) * o] {
                        *v = rng.random_range(-bound..bound);
                    }
                }
            }
        }
        let mut layers = sizes
            .iter()
            .zip(values)
            .map(|(&(i, o, bias), (w, b))| RunLinear {
                weight: Param::from_tensor(Tensor::from_data(
                    TensorData::new(w, [runs, i, o]),
                    device,
                )),
                bias: bias.then(|| {
                    Param::from_tensor(Tensor::from_data(TensorData::new(b, [runs, 1, o]), device))
                }),
            });
        let (wide, hidden, out) = (
            layers.next().expect("three layers"),
            layers.next().expect("three layers"),
            layers.next().expect("three layers"),
        );
        Self {
            wide,
            hidden,
            out,
            runs,
        }
    }
}

impl LogitModel for WideAndDeep {
    /// # Shapes
    /// - `x`: `[N, d]`
    /// - output: `[N, M, K]`
    fn logits(&self, x: Tensor<2>) -> Tensor<3> {
        let deep = self
            .out
            .forward(activation::relu(self.hidden.forward_shared(x.clone())));
        (self.wide.forward_shared(x) + deep).swap_dims(0, 1)
    }

    fn runs(&self) -> usize {
        self.runs
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "runs/custom-model".into()),
    );
    let device = make_device(Backend::Flex, Precision::F32)?.autodiff();

    // The data: 1,000 digits for training (stratified, seed 0), 797 for test, standardised.
    let set = digits()?;
    let mut parts = split(&set.data, 1000, SplitMode::Stratified, 0)?;
    standardise(&mut parts);
    let problem = Problem::from_multiclass(&parts.train, &parts.test, &device);

    // Two runs side by side: label smoothing at α = 0 and α = 0.1.
    let alphas = vec![0.0, 0.1];
    let penalty = PenaltyKind::LabelSmoothing.multiclass()?;
    let loss = MultiClassLogitLoss::new(penalty.clone(), alphas.clone(), &device)?;
    let objective = Objective::MultiClass(Box::new(loss));
    let context = MetricContext::new(alphas.clone(), None, penalty, problem.classes())?;
    let model = WideAndDeep::init(problem.d, 32, problem.classes(), alphas.len(), 0, &device);

    // Mini-batch Adam: batches of 50, 40 epochs of 20 batches.
    let spec = TrainSpec {
        optimizer: OptimizerName::Adam,
        lr: vec![0.003; alphas.len()],
        steps: 800,
        batch_size: 50,
        grad_tol: 0.0,
        adam: (0.9, 0.999, 1e-8),
        seed: 0,
        engine: EngineName::Burn,
        threads: 0,
        fused_kernel: Default::default(),
    };
    let measure = MeasureSpec {
        log_points: 30,
        histogram_steps: Vec::new(),
        histogram_bins: 60,
        save_logits: false,
    };
    let measured = train_and_measure(
        model,
        &problem,
        &objective,
        &spec,
        &measure,
        &context,
        |_, _| {},
    )?;

    let summary = summary_json(&measured.summary);
    let result = RunResult {
        measured,
        summary,
        input_dim: problem.d,
    };
    let config = json!({
        "example": "custom_model",
        "model": "wide and deep: x W_w + relu(x W_1 + b_1) W_2 + b_2, 32 hidden units",
        "data": {"source": "digits", "n_train": 1000, "split": "stratified", "standardise": true},
        "loss": {"penalty": "label-smoothing", "alpha": alphas},
        "train": {"optimizer": "adam", "lr": 0.003, "steps": 800, "batch_size": 50},
        "seed": 0,
    });
    write_results(&out, &config, &result)?;

    println!("run  α     test acc  test ECE  train gap (target)");
    for (run, alpha) in alphas.iter().enumerate() {
        let s = &result.summary;
        println!(
            "{run:<4} {alpha:<5} {:<9.4} {:<9.4} {:.3} ({})",
            s["test_accuracy"][run].as_f64().unwrap_or(f64::NAN),
            s["test_ece"][run].as_f64().unwrap_or(f64::NAN),
            s["train_logit_mean"][run].as_f64().unwrap_or(f64::NAN),
            s["z_star"][run]
                .as_f64()
                .map_or("none".to_string(), |z| format!("{z:.3}")),
        );
    }
    println!("results in {}", out.display());
    Ok(())
}
