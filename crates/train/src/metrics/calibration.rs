//! Calibration of the predicted probabilities: negative log-likelihood, Brier score, expected
//! calibration error and the reliability diagram's bins.
//!
//! The probabilities are the softmax of a run's K logits, `p_c = e^{z_c} / Σ_j e^{z_j}`; a
//! binary run's single logit z is the two-class softmax of `(0, z)`: `p(+1) = σ(z)`,
//! `p(−1) = 1 − σ(z)`. So every quantity below means the same for K = 2 as for K classes.
//!
//! - NLL `= −(1/N) Σ_i log p_{i,y_i}` (the test cross-entropy);
//! - Brier `= (1/N) Σ_i Σ_c (p_{ic} − 1{c = y_i})²` (summed over classes, in [0, 2]);
//! - ECE with B = 15 equal-width bins of the confidence `p̂_i = max_c p_{ic}`: sample i goes to
//!   bin `b = min(⌊p̂_i · B⌋, B − 1)`, and `ECE = Σ_b (n_b / N) · |acc_b − conf_b|`, with
//!   `acc_b` the fraction of bin b whose predicted class (the first largest probability) is the
//!   label and `conf_b` its mean confidence (Guo et al., 2017).

use serde::Serialize;

use crate::problem::{Labels, Problem};

/// Bins of the expected calibration error and of the reliability diagram.
pub const ECE_BINS: usize = 15;

/// One bin of the reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ReliabilityBin {
    /// Lower edge of the confidence interval `[lo, hi)` (the last bin includes 1).
    pub lo: f64,
    /// Upper edge.
    pub hi: f64,
    /// Samples whose confidence falls in the bin.
    pub count: usize,
    /// Fraction of them predicted correctly (NaN for an empty bin).
    pub accuracy: f64,
    /// Their mean confidence (NaN for an empty bin).
    pub confidence: f64,
}

/// The calibration of one run on one data set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    /// Mean negative log-likelihood of the labels.
    pub nll: f64,
    /// Brier score, summed over classes and averaged over samples.
    pub brier: f64,
    /// Expected calibration error over [`ECE_BINS`] equal-width bins.
    pub ece: f64,
    /// The reliability diagram's bins.
    pub bins: Vec<ReliabilityBin>,
}

/// The softmax of `z`, computed stably (shifted by the largest logit).
pub fn softmax(z: &[f64]) -> Vec<f64> {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.into_iter().map(|v| v / sum).collect()
}

/// The calibration of the probabilities `probabilities` (row-major `[N, K]`, rows summing to 1)
/// against `labels` in `0..K`.
///
/// # Shapes
/// - `probabilities`: `[N·K]`
/// - `labels`: `[N]`
pub fn calibration(probabilities: &[f64], labels: &[usize], k: usize) -> Calibration {
    let n = labels.len();
    let mut nll = 0.0;
    let mut brier = 0.0;
    let mut count = [0usize; ECE_BINS];
    let mut correct = [0usize; ECE_BINS];
    let mut confidence = [0.0f64; ECE_BINS];
    for (p, &y) in probabilities.chunks_exact(k).zip(labels) {
        nll -= p[y].max(f64::MIN_POSITIVE).ln();
        brier += p
            .iter()
            .enumerate()
            .map(|(c, &pc)| (pc - f64::from(u8::from(c == y))).powi(2))
            .sum::<f64>();
        let (predicted, top) =
            p.iter()
                .copied()
                .enumerate()
                .fold((0, f64::NEG_INFINITY), |best, (c, v)| {
                    if v > best.1 { (c, v) } else { best }
                });
        let bin = ((top * ECE_BINS as f64) as usize).min(ECE_BINS - 1);
        count[bin] += 1;
        correct[bin] += usize::from(predicted == y);
        confidence[bin] += top;
    }
    let total = n.max(1) as f64;
    let mut ece = 0.0;
    let bins = (0..ECE_BINS)
        .map(|b| {
            let (accuracy, mean_confidence) = if count[b] > 0 {
                let c = count[b] as f64;
                (correct[b] as f64 / c, confidence[b] / c)
            } else {
                (f64::NAN, f64::NAN)
            };
            if count[b] > 0 {
                ece += count[b] as f64 / total * (accuracy - mean_confidence).abs();
            }
            ReliabilityBin {
                lo: b as f64 / ECE_BINS as f64,
                hi: (b + 1) as f64 / ECE_BINS as f64,
                count: count[b],
                accuracy,
                confidence: mean_confidence,
            }
        })
        .collect();
    Calibration {
        nll: nll / total,
        brier: brier / total,
        ece,
        bins,
    }
}

/// The test-set calibration of run `run` from the test logits `[N_test, M, C]` (row-major).
pub fn test_calibration(
    problem: &Problem,
    test_logits: &[f64],
    run: usize,
    m: usize,
) -> Calibration {
    match &problem.labels {
        Labels::Binary { test, .. } => {
            let probabilities: Vec<f64> = test_logits
                .iter()
                .skip(run)
                .step_by(m)
                .flat_map(|&z| {
                    let p = softmax(&[0.0, z]);
                    [p[0], p[1]]
                })
                .collect();
            let labels: Vec<usize> = test.iter().map(|&y| usize::from(y > 0.0)).collect();
            calibration(&probabilities, &labels, 2)
        }
        Labels::Classes { k, test, .. } => {
            let probabilities: Vec<f64> = test
                .iter()
                .enumerate()
                .flat_map(|(i, _)| softmax(&test_logits[(i * m + run) * k..(i * m + run + 1) * k]))
                .collect();
            calibration(&probabilities, test, *k)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_three_samples() {
        // Three samples, two classes:
        // p = (0.9, 0.1), y = 0: confidence 0.9 → bin ⌊13.5⌋ = 13, correct;
        // p = (0.2, 0.8), y = 0: confidence 0.8 → bin 12, wrong;
        // p = (0.4, 0.6), y = 1: confidence 0.6 → bin 9, correct.
        let p = [0.9, 0.1, 0.2, 0.8, 0.4, 0.6];
        let c = calibration(&p, &[0, 0, 1], 2);
        let nll = -(0.9f64.ln() + 0.2f64.ln() + 0.6f64.ln()) / 3.0;
        let brier = (2.0 * 0.01 + 2.0 * 0.64 + 2.0 * 0.16) / 3.0;
        // ECE: (1/3)|1 − 0.9| + (1/3)|0 − 0.8| + (1/3)|1 − 0.6| = (0.1 + 0.8 + 0.4) / 3.
        let ece = (0.1 + 0.8 + 0.4) / 3.0;
        assert!((c.nll - nll).abs() < 1e-15);
        assert!((c.brier - brier).abs() < 1e-15);
        assert!((c.ece - ece).abs() < 1e-15, "{} vs {ece}", c.ece);
        assert_eq!(
            c.bins.iter().map(|b| b.count).collect::<Vec<_>>(),
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 1, 0]
        );
        assert_eq!(c.bins[12].accuracy, 0.0);
        assert!(c.bins[0].accuracy.is_nan());
    }

    #[test]
    fn certain_and_right_is_perfectly_calibrated_and_confidence_one_is_the_last_bin() {
        let c = calibration(&[1.0, 0.0, 0.0, 0.0, 1.0, 0.0], &[0, 1], 3);
        assert_eq!((c.nll, c.brier, c.ece), (0.0, 0.0, 0.0));
        assert_eq!(c.bins[ECE_BINS - 1].count, 2);
    }

    #[test]
    fn softmax_is_shift_invariant_and_stable() {
        let a = softmax(&[1.0, 2.0, 3.0]);
        let b = softmax(&[1001.0, 1002.0, 1003.0]);
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-15);
        }
        // e^1 / (e^1 + e^2 + e^3), written out.
        let e = [1f64.exp(), 2f64.exp(), 3f64.exp()];
        assert!((a[0] - e[0] / (e[0] + e[1] + e[2])).abs() < 1e-15);
    }
}
