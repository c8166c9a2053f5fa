//! The paper's metrics, computed per run from the model's logits and (for linear models) its
//! weights, at log-spaced steps.
//!
//! The **signed logit** of a binary sample is `t = y z`. For K classes it is the gap between
//! the true class's logit and the mean of the others, `t = z_y − mean_{c≠y} z_c`, whose target
//! is the gap Δ of `z*`; so the clustering columns mean the same thing in both cases.

use std::collections::BTreeSet;
use std::sync::Arc;

use logit_reg_model::penalty::{LogitPenalty, MultiClassPenalty};
use logit_reg_model::target::{multiclass_per_sample_loss, per_sample_loss, softplus};
use serde::Serialize;

use crate::problem::{Labels, Problem};

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

fn mean_std(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = values.clone().count() as f64;
    let mean = values.clone().sum::<f64>() / n;
    let var = values.map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// Signed logits `[samples, M]` (row-major) of a binary problem's logits and labels.
fn signed_binary(logits: &[f64], y: &[f64], m: usize) -> Vec<f64> {
    logits
        .iter()
        .enumerate()
        .map(|(idx, z)| z * y[idx / m])
        .collect()
}

/// Per-sample gaps `z_y − mean_{c≠y} z_c`, `[samples, M]`.
fn signed_multiclass(logits: &[f64], labels: &[usize], m: usize, k: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(labels.len() * m);
    for (i, &y) in labels.iter().enumerate() {
        for run in 0..m {
            let z = &logits[(i * m + run) * k..(i * m + run + 1) * k];
            let others = (z.iter().sum::<f64>() - z[y]) / (k as f64 - 1.0);
            out.push(z[y] - others);
        }
    }
    out
}

/// The signed logits of the train and test sets, `[samples, M]` row-major, from the logits
/// `[samples, M, C]`.
pub fn signed_logits(
    problem: &Problem,
    train_logits: &[f64],
    test_logits: &[f64],
    m: usize,
) -> (Vec<f64>, Vec<f64>) {
    match &problem.labels {
        Labels::Binary { train, test, .. } => (
            signed_binary(train_logits, train, m),
            signed_binary(test_logits, test, m),
        ),
        Labels::Classes { k, train, test, .. } => (
            signed_multiclass(train_logits, train, m, *k),
            signed_multiclass(test_logits, test, m, *k),
        ),
    }
}

/// Computes one row per run.
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
    let column = |v: &[f64], run: usize| v.iter().skip(run).step_by(m).copied().collect::<Vec<_>>();
    let k = problem.classes();
    (0..m)
        .map(|run| {
            let alpha = ctx.alphas[run];
            let tr = column(&train_t, run);
            let te = column(&test_t, run);
            let (train_mean, train_std) = mean_std(tr.iter().copied());
            let (test_mean, test_std) = mean_std(te.iter().copied());
            let accuracy =
                |v: &[f64]| v.iter().filter(|&&t| t > 0.0).count() as f64 / v.len() as f64;
            let mut row = MetricRow {
                step,
                run,
                wall_seconds,
                objective: objective.get(run).copied().unwrap_or(f64::NAN),
                train_loss: f64::NAN,
                train_ce: f64::NAN,
                test_ce: f64::NAN,
                train_accuracy: f64::NAN,
                test_accuracy: f64::NAN,
                train_logit_mean: train_mean,
                train_logit_std: train_std,
                test_logit_mean: test_mean,
                test_logit_std: test_std,
                z_star: ctx.z_star[run],
                logit_mean_minus_z_star: train_mean - ctx.z_star[run],
                train_target_distance: f64::NAN,
                weight_norm: f64::NAN,
                s1: f64::NAN,
                s_perp_norm: f64::NAN,
                cos_e1: f64::NAN,
                cos_fisher: f64::NAN,
                cos_lda: f64::NAN,
                eq5_accuracy: f64::NAN,
            };
            match &problem.labels {
                Labels::Binary { .. } => {
                    row.train_ce = tr.iter().map(|&t| softplus(-t)).sum::<f64>() / tr.len() as f64;
                    row.test_ce = te.iter().map(|&t| softplus(-t)).sum::<f64>() / te.len() as f64;
                    row.train_loss = match &ctx.binary_penalty {
                        Some(p) => {
                            tr.iter()
                                .map(|&t| per_sample_loss(p.as_ref(), alpha, t))
                                .sum::<f64>()
                                / tr.len() as f64
                        }
                        None => row.train_ce,
                    };
                    // A tie (t = 0) counts as an error.
                    row.train_accuracy = accuracy(&tr);
                    row.test_accuracy = accuracy(&te);
                }
                Labels::Classes { train, test, .. } => {
                    let multi = |logits: &[f64], labels: &[usize]| {
                        let mut ce = 0.0;
                        let mut loss = 0.0;
                        let mut correct = 0usize;
                        let mut dist = 0.0;
                        for (i, &y) in labels.iter().enumerate() {
                            let z = &logits[(i * m + run) * k..(i * m + run + 1) * k];
                            let lse = logit_reg_model::penalty::log_sum_exp(z);
                            ce += lse - z[y];
                            loss += match &ctx.multiclass_penalty {
                                Some(p) => multiclass_per_sample_loss(p.as_ref(), alpha, z, y),
                                None => lse - z[y],
                            };
                            let best = (0..k).max_by(|&a, &b| z[a].total_cmp(&z[b]));
                            // Ties count as errors unless the true class is the unique max.
                            if best == Some(y) && z.iter().filter(|&&v| v == z[y]).count() == 1 {
                                correct += 1;
                            }
                            if let Some(Some(target)) = ctx.multiclass_targets.get(run) {
                                let mean = z.iter().sum::<f64>() / k as f64;
                                // The class-0 target rotated to class y.
                                dist += (0..k)
                                    .map(|c| {
                                        let t = if c == y { target[0] } else { target[1] };
                                        (z[c] - mean - t).powi(2)
                                    })
                                    .sum::<f64>();
                            }
                        }
                        let n = labels.len() as f64;
                        (loss / n, ce / n, correct as f64 / n, (dist / n).sqrt())
                    };
                    let (loss, ce, acc, dist) = multi(train_logits, train);
                    let (_, test_ce, test_acc, _) = multi(test_logits, test);
                    row.train_loss = loss;
                    row.train_ce = ce;
                    row.test_ce = test_ce;
                    row.train_accuracy = acc;
                    row.test_accuracy = test_acc;
                    if ctx.multiclass_targets.get(run).is_some_and(Option::is_some) {
                        row.train_target_distance = dist;
                    }
                }
            }
            if let Some(w) = weights {
                if k == 1 {
                    let s = column(w, run);
                    let norm = s.iter().map(|v| v * v).sum::<f64>().sqrt();
                    row.weight_norm = norm;
                    row.s1 = s[0];
                    row.s_perp_norm = (norm * norm - s[0] * s[0]).max(0.0).sqrt();
                    row.cos_e1 = s[0] / norm;
                    if let Some(f) = &problem.fisher {
                        row.cos_fisher = cosine(&s, f);
                    }
                    if let Some(l) = &problem.lda {
                        row.cos_lda = cosine(&s, l);
                    }
                    if let Some(spn) = &problem.signal_noise {
                        row.eq5_accuracy = spn
                            .gaussian_accuracy(row.s1, row.s_perp_norm)
                            .unwrap_or(f64::NAN);
                    }
                } else {
                    // Frobenius norm over the run's K columns of W = [d, M·K].
                    let cols = m * k;
                    row.weight_norm = (0..problem.d)
                        .map(|j| {
                            (0..k)
                                .map(|c| w[j * cols + run * k + c].powi(2))
                                .sum::<f64>()
                        })
                        .sum::<f64>()
                        .sqrt();
                }
            }
            row
        })
        .collect()
}

/// One histogram bin of `histograms.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HistogramRow {
    /// Step.
    pub step: u64,
    /// Run.
    pub run: usize,
    /// `train` or `test`.
    pub split: &'static str,
    /// Bin index.
    pub bin: usize,
    /// Lower edge.
    pub lo: f64,
    /// Upper edge.
    pub hi: f64,
    /// Samples in `[lo, hi)` (the last bin includes `hi`).
    pub count: usize,
}

/// Histograms of the signed train and test logits of every run, on a common range per run.
pub fn histograms(
    step: u64,
    train_t: &[f64],
    test_t: &[f64],
    m: usize,
    bins: usize,
) -> Vec<HistogramRow> {
    let mut rows = Vec::new();
    for run in 0..m {
        let tr: Vec<f64> = train_t.iter().skip(run).step_by(m).copied().collect();
        let te: Vec<f64> = test_t.iter().skip(run).step_by(m).copied().collect();
        let finite = tr.iter().chain(&te).copied().filter(|v| v.is_finite());
        let lo = finite.clone().fold(f64::INFINITY, f64::min);
        let mut hi = finite.fold(f64::NEG_INFINITY, f64::max);
        if !lo.is_finite() {
            continue;
        }
        if hi <= lo {
            hi = lo + 1e-9_f64.max(lo.abs() * 1e-9);
        }
        let width = (hi - lo) / bins as f64;
        for (split, values) in [("train", &tr), ("test", &te)] {
            let mut counts = vec![0usize; bins];
            for &v in values.iter().filter(|v| v.is_finite()) {
                let b = (((v - lo) / width) as usize).min(bins - 1);
                counts[b] += 1;
            }
            for (bin, &count) in counts.iter().enumerate() {
                rows.push(HistogramRow {
                    step,
                    run,
                    split,
                    bin,
                    lo: lo + width * bin as f64,
                    hi: lo + width * (bin + 1) as f64,
                    count,
                });
            }
        }
    }
    rows
}
