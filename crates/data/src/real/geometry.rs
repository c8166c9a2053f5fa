//! The signal-plus-noise geometry of a labelled data set (paper Sec. 8, Eq. 35 and 36): the
//! signal subspace spanned by the class-mean differences, the effective noise inside it and
//! orthogonal to it, and the orthogonal scaling `x ← (I − P⊥) x + γ P⊥ x`.
//!
//! With class means `μ_c`, their mean `μ̄`, the residuals `r_i = x_i − μ_{y_i}` and `Q` an
//! orthonormal basis of `span{μ_c − μ̄}` (dimension `s ≤ K − 1`, by modified Gram–Schmidt, the
//! QR factorisation of the centred means), `P = Q Qᵀ` and `P⊥ = I − P`:
//!
//! - `σ_f^eff = √(mean_i ‖P r_i‖² / s) / (D / 2)` and `σ_n^eff = √(mean_i ‖P⊥ r_i‖² / (d − s)) / (D / 2)`,
//!   the per-dimension noise inside and orthogonal to the signal subspace, in units of half the
//!   mean pairwise distance `D` between centroids. For the binary model `x = ±μ_f e₁ + σ_f ξ_f e₁
//!   + σ_n ξ_⊥` the centroids are `2μ_f` apart, so `σ^eff = σ/μ_f`: the paper's parameters.
//! - the spectrum: the eigenvalues of the orthogonal noise covariance
//!   `(1/N) Σ_i (P⊥ r_i)(P⊥ r_i)ᵀ`, in descending order, in the same units (divided by `(D/2)²`).

use serde::Serialize;

use crate::MultiClassDataset;

/// The geometry of one data set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Geometry {
    /// Effective noise inside the signal subspace, per dimension, over `D/2`.
    pub sigma_f_eff: f64,
    /// Effective noise orthogonal to it, per dimension, over `D/2`.
    pub sigma_n_eff: f64,
    /// Mean pairwise distance `D` between the class centroids.
    pub centroid_distance: f64,
    /// Dimension of the signal subspace.
    pub signal_dim: usize,
    /// Eigenvalues of the orthogonal noise covariance over `(D/2)²`, descending.
    pub spectrum: Vec<f64>,
}

/// Class means `[K][d]` of `set`.
pub fn class_means(set: &MultiClassDataset) -> Vec<Vec<f64>> {
    let d = set.d;
    let mut means = vec![vec![0.0; d]; set.k];
    let mut counts = vec![0usize; set.k];
    for (row, &y) in set.x.chunks_exact(d).zip(&set.labels) {
        counts[y] += 1;
        means[y].iter_mut().zip(row).for_each(|(m, v)| *m += v);
    }
    for (mean, &count) in means.iter_mut().zip(&counts) {
        mean.iter_mut().for_each(|m| *m /= count.max(1) as f64);
    }
    means
}

/// An orthonormal basis of the span of the centred class means (classes with no sample are
/// left out), by modified Gram–Schmidt; directions whose residual norm falls below `10⁻¹⁰` of
/// the largest centred mean are dropped.
pub fn signal_basis(means: &[Vec<f64>], present: &[bool]) -> Vec<Vec<f64>> {
    let used: Vec<&Vec<f64>> = means
        .iter()
        .zip(present)
        .filter(|(_, p)| **p)
        .map(|(m, _)| m)
        .collect();
    let d = used.first().map_or(0, |m| m.len());
    let mut centre = vec![0.0; d];
    for m in &used {
        centre.iter_mut().zip(m.iter()).for_each(|(c, v)| *c += v);
    }
    centre
        .iter_mut()
        .for_each(|c| *c /= used.len().max(1) as f64);
    let centred: Vec<Vec<f64>> = used
        .iter()
        .map(|m| m.iter().zip(&centre).map(|(v, c)| v - c).collect())
        .collect();
    let scale = centred
        .iter()
        .map(|v| v.iter().map(|x| x * x).sum::<f64>().sqrt())
        .fold(0.0f64, f64::max);
    let mut basis: Vec<Vec<f64>> = Vec::new();
    for mut v in centred {
        for q in &basis {
            let dot: f64 = v.iter().zip(q).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(q).for_each(|(a, b)| *a -= dot * b);
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 1e-10 * scale {
            v.iter_mut().for_each(|a| *a /= norm);
            basis.push(v);
        }
    }
    basis
}

/// `x ← (I − P⊥) x + γ P⊥ x` for every row of `x` (`[n, d]` row-major): the components
/// orthogonal to the subspace spanned by `basis` (orthonormal) are scaled by `γ`.
pub fn scale_orthogonal(x: &mut [f64], d: usize, basis: &[Vec<f64>], gamma: f64) {
    for row in x.chunks_exact_mut(d) {
        let mut projected = vec![0.0; d];
        for q in basis {
            let dot: f64 = row.iter().zip(q).map(|(a, b)| a * b).sum();
            projected.iter_mut().zip(q).for_each(|(p, b)| *p += dot * b);
        }
        for (v, p) in row.iter_mut().zip(&projected) {
            *v = p + gamma * (*v - p);
        }
    }
}

/// The eigenvalues of the symmetric `[n, n]` matrix `a`, descending
/// ([`crate::stats::symmetric_eigen`]).
pub fn symmetric_eigenvalues(a: &[f64], n: usize) -> Vec<f64> {
    let (mut eigen, _) = crate::stats::symmetric_eigen(a, n);
    eigen.sort_by(|x, y| y.total_cmp(x));
    eigen
}

/// The geometry of `set` (see the module's formulas). The spectrum is computed when
/// `d ≤ max_spectrum_dim` (a Jacobi eigensolver on `d × d`), else left empty.
pub fn geometry(set: &MultiClassDataset, max_spectrum_dim: usize) -> Geometry {
    let d = set.d;
    let means = class_means(set);
    let mut present = vec![false; set.k];
    set.labels.iter().for_each(|&y| present[y] = true);
    let basis = signal_basis(&means, &present);
    let s = basis.len();
    let used: Vec<&Vec<f64>> = means
        .iter()
        .zip(&present)
        .filter(|(_, p)| **p)
        .map(|(m, _)| m)
        .collect();
    let mut total = 0.0;
    let mut pairs = 0usize;
    for (i, a) in used.iter().enumerate() {
        for b in &used[i + 1..] {
            total += a
                .iter()
                .zip(b.iter())
                .map(|(x, y)| (x - y) * (x - y))
                .sum::<f64>()
                .sqrt();
            pairs += 1;
        }
    }
    let distance = total / pairs.max(1) as f64;
    let half = distance / 2.0;
    let n = set.n as f64;
    let (mut inside, mut outside) = (0.0, 0.0);
    let spectrum_wanted = d <= max_spectrum_dim;
    let mut cov = if spectrum_wanted {
        vec![0.0; d * d]
    } else {
        Vec::new()
    };
    for (row, &y) in set.x.chunks_exact(d).zip(&set.labels) {
        let r: Vec<f64> = row.iter().zip(&means[y]).map(|(v, m)| v - m).collect();
        let mut p = vec![0.0; d];
        for q in &basis {
            let dot: f64 = r.iter().zip(q).map(|(a, b)| a * b).sum();
            p.iter_mut().zip(q).for_each(|(pi, b)| *pi += dot * b);
        }
        let perp: Vec<f64> = r.iter().zip(&p).map(|(a, b)| a - b).collect();
        inside += p.iter().map(|v| v * v).sum::<f64>();
        outside += perp.iter().map(|v| v * v).sum::<f64>();
        if spectrum_wanted {
            for i in 0..d {
                for j in 0..d {
                    cov[i * d + j] += perp[i] * perp[j] / n;
                }
            }
        }
    }
    let spectrum = if spectrum_wanted {
        symmetric_eigenvalues(&cov, d)
            .into_iter()
            .map(|l| l.max(0.0) / (half * half))
            .collect()
    } else {
        Vec::new()
    };
    Geometry {
        sigma_f_eff: (inside / n / s.max(1) as f64).sqrt() / half,
        sigma_n_eff: (outside / n / (d - s).max(1) as f64).sqrt() / half,
        centroid_distance: distance,
        signal_dim: s,
        spectrum,
    }
}
