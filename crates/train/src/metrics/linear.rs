//! Metrics of linear models, from their weights: ‖S‖, S₁, ‖S_⊥‖, the cosines with e₁, the
//! Fisher direction and the empirical LDA direction, and the exact Gaussian accuracy (Eq. 5).

use super::{MetricRow, column};
use crate::problem::Problem;

/// `cos(a, b) = aᵀb / (‖a‖ ‖b‖)`.
pub(crate) fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// Fills the weight columns of run `run`'s row from the weights `w` (row-major `[d, M·C]`).
pub(super) fn weight_metrics(
    row: &mut MetricRow,
    problem: &Problem,
    w: &[f64],
    run: usize,
    m: usize,
) {
    let k = problem.classes();
    if k == 1 {
        let s = column(w, run, m);
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
