//! The paper's metrics, computed per run from the model's logits ([`logits`]: any model) and,
//! for linear models, from its weights ([`linear`]), at log-spaced steps.
//!
//! The **signed logit** of a binary sample is `t = y z`. For K classes it is the gap between
//! the true class's logit and the mean of the others, `t = z_y − mean_{c≠y} z_c`, whose target
//! is the gap Δ of `z*`; so the clustering columns mean the same thing in both cases.

pub mod calibration;
pub mod features;
mod linear;
mod logits;

use std::collections::BTreeSet;
use std::sync::Arc;

use logit_reg_model::penalty::{LogitPenalty, MultiClassPenalty};
use logit_reg_model::target::{binary_target, multiclass_target};
use serde::Serialize;

use crate::TrainError;
use crate::problem::Problem;

pub use logits::{HistogramRow, class_logit_means, histograms, signed_logits};

/// The logging steps: 0, `steps`, and `points − 1` log-spaced steps in between (rounded,
/// deduplicated). Always contains 0 and `steps`.
pub fn log_steps(steps: u64, points: usize) -> BTreeSet<u64> {
    let mut out = BTreeSet::from([0, steps]);
    let k = points.saturating_sub(1).max(1);
    for i in 0..=k {
        let s = (steps as f64).powf(i as f64 / k as f64).round() as u64;
        out.insert(s.min(steps));
    }
    out
}

/// One tidy row of `metrics.csv`: one run at one step. `NaN` marks a value that does not
/// apply (e.g. `cos_lda` when λ ≥ 1, weight metrics of a nonlinear model).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MetricRow {
    /// Steps taken.
    pub step: u64,
    /// Run index in the batch.
    pub run: usize,
    /// Seconds since training started.
    pub wall_seconds: f64,
    /// The objective the optimiser minimises (full training set; with weight decay included).
    pub objective: f64,
    /// Train regularised loss `mean ℓ(t)` (without weight decay).
    pub train_loss: f64,
    /// Train cross-entropy.
    pub train_ce: f64,
    /// Test cross-entropy.
    pub test_ce: f64,
    /// Train accuracy.
    pub train_accuracy: f64,
    /// Test accuracy (0-1 error on the fresh test set).
    pub test_accuracy: f64,
    /// Mean signed train logit.
    pub train_logit_mean: f64,
    /// Std of the signed train logits.
    pub train_logit_std: f64,
    /// Mean signed test logit.
    pub test_logit_mean: f64,
    /// Std of the signed test logits.
    pub test_logit_std: f64,
    /// The per-sample target z* (the gap Δ for K classes); NaN when α = 0.
    pub z_star: f64,
    /// `train_logit_mean − z*`.
    pub logit_mean_minus_z_star: f64,
    /// K classes: RMS distance of the centred train logit vectors to their simplex targets.
    pub train_target_distance: f64,
    /// ‖S‖ (Frobenius norm of W for K classes).
    pub weight_norm: f64,
    /// S₁ = ⟨S, e₁⟩ (binary).
    pub s1: f64,
    /// ‖S_⊥‖ (binary).
    pub s_perp_norm: f64,
    /// cos(S, e₁) (binary).
    pub cos_e1: f64,
    /// cos(S, Σ⁻¹μ) with the population Fisher direction (binary).
    pub cos_fisher: f64,
    /// cos(S, Σ̂⁻¹μ̂) with the empirical LDA direction, centred covariance (binary, N > d).
    pub cos_lda: f64,
    /// Exact test accuracy of S under Gaussian signal-plus-noise data (paper Eq. 5).
    pub eq5_accuracy: f64,
    /// Test Brier score, summed over classes (see [`calibration`]).
    pub test_brier: f64,
    /// Test expected calibration error, 15 equal-width confidence bins (see [`calibration`]).
    pub test_ece: f64,
}

/// The column names of `metrics.csv`, in order. Wall time is not among them (it goes to
/// `timing.csv`), so the same config and seed give a byte-identical `metrics.csv`.
pub const COLUMNS: &[&str] = &[
    "step",
    "run",
    "objective",
    "train_loss",
    "train_ce",
    "test_ce",
    "train_accuracy",
    "test_accuracy",
    "train_logit_mean",
    "train_logit_std",
    "test_logit_mean",
    "test_logit_std",
    "z_star",
    "logit_mean_minus_z_star",
    "train_target_distance",
    "weight_norm",
    "s1",
    "s_perp_norm",
    "cos_e1",
    "cos_fisher",
    "cos_lda",
    "eq5_accuracy",
    "test_brier",
    "test_ece",
];

impl MetricRow {
    /// The row's values in [`COLUMNS`] order.
    pub fn values(&self) -> Vec<f64> {
        vec![
            self.step as f64,
            self.run as f64,
            self.objective,
            self.train_loss,
            self.train_ce,
            self.test_ce,
            self.train_accuracy,
            self.test_accuracy,
            self.train_logit_mean,
            self.train_logit_std,
            self.test_logit_mean,
            self.test_logit_std,
            self.z_star,
            self.logit_mean_minus_z_star,
            self.train_target_distance,
            self.weight_norm,
            self.s1,
            self.s_perp_norm,
            self.cos_e1,
            self.cos_fisher,
            self.cos_lda,
            self.eq5_accuracy,
            self.test_brier,
            self.test_ece,
        ]
    }
}

/// What the metrics need besides the logits: the loss of each run and the reference directions.
#[derive(Debug, Clone)]
pub struct MetricContext {
    /// α of each run.
    pub alphas: Vec<f64>,
    /// The binary penalty, if any.
    pub binary_penalty: Option<Arc<dyn LogitPenalty>>,
    /// The multi-class penalty, if any.
    pub multiclass_penalty: Option<Arc<dyn MultiClassPenalty>>,
    /// z* of each run (NaN where α = 0).
    pub z_star: Vec<f64>,
    /// K-class targets: the zero-mean target logit vector of class 0 per run (rotated for
    /// other classes).
    pub multiclass_targets: Vec<Option<Vec<f64>>>,
}

impl MetricContext {
    /// The context of runs with `alphas` and the given penalties, on data with `classes` logits
    /// per run (1: binary; K ≥ 2: the K-class targets): computes z* of every run with α > 0.
    pub fn new(
        alphas: Vec<f64>,
        binary_penalty: Option<Arc<dyn LogitPenalty>>,
        multiclass_penalty: Option<Arc<dyn MultiClassPenalty>>,
        classes: usize,
    ) -> Result<Self, TrainError> {
        let missing = || TrainError::invalid("loss.penalty", "none", "a penalty when α > 0");
        let mut z_star = Vec::new();
        let mut multiclass_targets = Vec::new();
        for &alpha in &alphas {
            if alpha > 0.0 {
                if classes > 1 {
                    let p = multiclass_penalty.as_ref().ok_or_else(missing)?;
                    let (t, z) = multiclass_target(p.as_ref(), alpha, classes)?;
                    z_star.push(t.z_star);
                    multiclass_targets.push(Some(z));
                } else {
                    let p = binary_penalty.as_ref().ok_or_else(missing)?;
                    z_star.push(binary_target(p.as_ref(), alpha)?.z_star);
                    multiclass_targets.push(None);
                }
            } else {
                z_star.push(f64::NAN);
                multiclass_targets.push(None);
            }
        }
        Ok(Self {
            alphas,
            binary_penalty,
            multiclass_penalty,
            z_star,
            multiclass_targets,
        })
    }
}

/// Computes one row per run: the logit metrics of any model, then the weight metrics when the
/// model is linear (`weights`, row-major `[d, M·C]`).
#[allow(clippy::too_many_arguments)]
pub fn compute_rows(
    ctx: &MetricContext,
    problem: &Problem,
    step: u64,
    wall_seconds: f64,
    objective: &[f64],
    train_logits: &[f64],
    test_logits: &[f64],
    weights: Option<&[f64]>,
) -> Vec<MetricRow> {
    let m = ctx.alphas.len();
    let (train_t, test_t) = signed_logits(problem, train_logits, test_logits, m);
    (0..m)
        .map(|run| {
            let mut row = logits::logit_row(
                ctx,
                problem,
                run,
                (
                    step,
                    wall_seconds,
                    objective.get(run).copied().unwrap_or(f64::NAN),
                ),
                (&train_t, &test_t),
                (train_logits, test_logits),
            );
            if let Some(w) = weights {
                linear::weight_metrics(&mut row, problem, w, run, m);
            }
            row
        })
        .collect()
}

/// Column `run` of a row-major `[·, m]` array.
fn column(values: &[f64], run: usize, m: usize) -> Vec<f64> {
    values.iter().skip(run).step_by(m).copied().collect()
}
