//! Metrics of any model, from its logits alone: losses, accuracies, the signed logits'
//! clustering around z*, histograms, and the class means of multi-class logits.

use logit_reg_data::stats::{StdKind, mean_std};
use logit_reg_model::target::{multiclass_per_sample_loss, per_sample_loss, softplus};
use serde::Serialize;

use super::{MetricContext, MetricRow, column};
use crate::problem::{Labels, Problem};

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

/// The logit metrics of run `run`: losses, accuracies and the signed logits' moments;
/// the weight columns are NaN (see [`super::linear`]).
pub(super) fn logit_row(
    ctx: &MetricContext,
    problem: &Problem,
    run: usize,
    (step, wall_seconds, objective): (u64, f64, f64),
    (train_t, test_t): (&[f64], &[f64]),
    (train_logits, test_logits): (&[f64], &[f64]),
) -> MetricRow {
    let m = ctx.alphas.len();
    let k = problem.classes();
    let alpha = ctx.alphas[run];
    let tr = column(train_t, run, m);
    let te = column(test_t, run, m);
    let (train_mean, train_std) = mean_std(&tr, StdKind::Population);
    let (test_mean, test_std) = mean_std(&te, StdKind::Population);
    let accuracy = |v: &[f64]| v.iter().filter(|&&t| t > 0.0).count() as f64 / v.len() as f64;
    let mut row = MetricRow {
        step,
        run,
        wall_seconds,
        objective,
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
        test_brier: f64::NAN,
        test_ece: f64::NAN,
    };
    let calibration = super::calibration::test_calibration(problem, test_logits, run, m);
    row.test_brier = calibration.brier;
    row.test_ece = calibration.ece;
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
    row
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

/// Per run, the mean train logit vector of each class: `[M][K][K]`, entry `[m][c][j]` is the
/// mean of `z_j` over the samples of class c (the simplex targets put `z*` on the diagonal).
pub fn class_logit_means(
    logits: &[f64],
    labels: &[usize],
    m: usize,
    k: usize,
) -> Vec<Vec<Vec<f64>>> {
    let mut sums = vec![vec![vec![0.0; k]; k]; m];
    let mut counts = vec![0usize; k];
    for (i, &y) in labels.iter().enumerate() {
        counts[y] += 1;
        for (run, sum) in sums.iter_mut().enumerate() {
            for j in 0..k {
                sum[y][j] += logits[(i * m + run) * k + j];
            }
        }
    }
    for sum in &mut sums {
        for (c, row) in sum.iter_mut().enumerate() {
            row.iter_mut().for_each(|v| *v /= counts[c].max(1) as f64);
        }
    }
    sums
}
