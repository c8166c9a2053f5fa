//! The backend parity suite, shared by `backends_f32.rs` and `backends_f64.rs`: the same runs
//! on the Burn engine on every compiled backend (flex and ndarray by default; wgpu with
//! `--features wgpu`), compared with flex, run by run: every logged objective, training loss
//! and test accuracy, and the final weights.
//!
//! Cases: the binary linear classifier with gradient descent (quadratic penalty, α ∈ {0, 0.2})
//! and with Adam (label smoothing); the multi-class one (K = 3, with bias) with gradient
//! descent (‖z‖²) and with Adam (softmax label smoothing). Each penalty's loss and gradient
//! against the analytic formulas, on every backend, are in the model crate's loss tests
//! (`crates/model/tests/losses_f32.rs` and `losses_f64.rs`: 1e-5 and 1e-12 relative).

use logit_reg::experiments::config::RunConfig;
use logit_reg::experiments::run::{RunResult, execute};
use logit_reg::model::{Backend, Precision};

/// One case: its name and its `--set` overrides (besides backend and dtype).
pub const CASES: &[(&str, &[&str])] = &[
    (
        "binary, gd, quadratic",
        &[
            "loss.penalty=\"quadratic\"",
            "loss.alpha=[0, 0.2]",
            "train.optimizer=\"gd\"",
        ],
    ),
    (
        "binary, adam, label smoothing",
        &[
            "loss.penalty=\"label-smoothing\"",
            "loss.alpha=0.1",
            "train.optimizer=\"adam\"",
            "train.lr=0.01",
        ],
    ),
    (
        "multi-class, gd, quadratic",
        &[
            "data.model=\"multiclass\"",
            "data.k=3",
            "loss.penalty=\"quadratic\"",
            "loss.alpha=[0, 0.1]",
            "train.optimizer=\"gd\"",
        ],
    ),
    (
        "multi-class, adam, label smoothing",
        &[
            "data.model=\"multiclass\"",
            "data.k=3",
            "loss.penalty=\"label-smoothing\"",
            "loss.alpha=0.1",
            "train.optimizer=\"adam\"",
            "train.lr=0.01",
        ],
    ),
];

/// Runs `case` on `backend` in `precision` on the Burn engine, or says why it cannot.
pub fn run(backend: Backend, precision: Precision, case: &[&str]) -> Result<RunResult, String> {
    let mut sets: Vec<String> = [
        "data.d=12",
        "data.n=40",
        "data.n_test=200",
        "data.sigma_f=0.5",
        "train.steps=60",
        "train.log_points=7",
        "train.engine=\"burn\"",
        "seed=3",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    sets.push(format!("backend=\"{}\"", backend.name()));
    sets.push(format!("dtype=\"{}\"", precision.name()));
    sets.extend(case.iter().map(|s| s.to_string()));
    let config = RunConfig::load(None, &sets).map_err(|e| e.to_string())?;
    execute(&config, false).map_err(|e| e.to_string())
}

/// The largest relative difference between `a` and `b`, relative to the larger magnitude of
/// `b` (floored at 1, so that values near zero compare absolutely).
pub fn relative_difference(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / scale)
        .fold(0.0, f64::max)
}

/// What is compared between backends: per logged row the objective, training loss and test
/// accuracy, then the final weights.
fn compared(result: &RunResult) -> (Vec<f64>, Vec<f64>) {
    let rows: Vec<f64> = result
        .metrics()
        .iter()
        .flat_map(|r| [r.objective, r.train_loss, r.test_accuracy])
        .collect();
    let weights = result
        .measured
        .final_weights
        .clone()
        .expect("a linear model's final weights");
    (rows, weights)
}

/// Runs every case on every compiled backend and checks it against flex within `tolerance`
/// (relative, see [`relative_difference`]). A GPU backend without `precision` must refuse with
/// an error naming the backend and the dtype. Returns the worst difference per backend.
pub fn check_parity(precision: Precision, tolerance: f64) -> Vec<(Backend, f64)> {
    let mut worst = Vec::new();
    for backend in Backend::compiled()
        .into_iter()
        .filter(|b| *b != Backend::Flex)
    {
        let mut backend_worst = 0.0f64;
        for (name, case) in CASES {
            let reference = run(Backend::Flex, precision, case).expect("flex runs every case");
            let other = match run(backend, precision, case) {
                Ok(other) => other,
                Err(e) if !backend.is_cpu() => {
                    assert!(
                        e.contains(backend.name()) && e.contains(precision.name()),
                        "{}: an unclear refusal: {e}",
                        backend.name()
                    );
                    eprintln!("{} {}: refused: {e}", backend.name(), precision.name());
                    return worst;
                }
                Err(e) => panic!("{} fails {name}: {e}", backend.name()),
            };
            let (rows_ref, weights_ref) = compared(&reference);
            let (rows, weights) = compared(&other);
            let diff = relative_difference(&rows, &rows_ref)
                .max(relative_difference(&weights, &weights_ref));
            eprintln!(
                "{} {} {name}: {diff:e} from flex",
                backend.name(),
                precision.name()
            );
            assert!(
                diff <= tolerance,
                "{} {name}: {diff:e} from flex (tolerance {tolerance:e})",
                backend.name()
            );
            backend_worst = backend_worst.max(diff);
        }
        worst.push((backend, backend_worst));
    }
    worst
}
