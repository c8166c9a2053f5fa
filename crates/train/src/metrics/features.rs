//! The geometry of the penultimate features `h_i` (what the last affine layer reads; the inputs
//! for a linear model): within-class variability collapse, and whether the last layer's weights
//! point along the Fisher/LDA directions of those features, the paper's central claim moved to
//! the last layer of a network.
//!
//! With class means `μ_c`, the global mean `μ_G` (over samples), N samples and K classes,
//!
//! - `Σ_W = (1/N) Σ_i (h_i − μ_{y_i})(h_i − μ_{y_i})ᵀ` and `Σ_B = (1/K) Σ_c (μ_c − μ_G)(μ_c − μ_G)ᵀ`;
//! - `NC1 = tr(Σ_W Σ_B⁺) / K` (Papyan, Han and Donoho, 2020). With `A = [μ_c − μ_G]_c / √K`
//!   (F × K), `Σ_B = A Aᵀ` and `Σ_B⁺ = A (AᵀA)⁺² Aᵀ`, so only K × K matrices are inverted:
//!   `NC1 = tr((AᵀA)⁺² · AᵀΣ_W A) / K`.
//! - `head_lda_cos`: the mean over class pairs `c < c'` of `cos(w_c − w_{c'}, Σ̃_W⁻¹(μ_c − μ_{c'}))`,
//!   with `w_c` the last layer's weights of class c and `Σ̃_W = Σ_W + ε I`,
//!   `ε = 10⁻⁶ · tr(Σ_W) / F` (a ridge, so that constant or dead features leave it invertible).
//!   A binary model has one logit `z = wᵀh + b`, and the pair is (+1, −1): `cos(w, Σ̃_W⁻¹(μ₊ − μ₋))`.
//!   Fisher's discriminant for a pair of classes with a shared covariance is exactly that
//!   direction; with K > 2 classes, `w_c − w_{c'}` is what separates c from c'.

use logit_reg_data::stats::{cholesky_in_place_with, cholesky_solve_in_place, symmetric_eigen};
use serde::Serialize;

/// The feature geometry of one run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FeatureGeometry {
    /// `tr(Σ_W Σ_B⁺) / K`.
    pub nc1: f64,
    /// Mean cosine between the head's class-difference weights and the LDA directions.
    pub head_lda_cos: f64,
}

/// The largest feature dimension whose LDA directions are computed (a Cholesky factorisation of
/// `F × F`); above it `head_lda_cos` is NaN.
pub const MAX_LDA_FEATURES: usize = 512;

/// The Moore–Penrose pseudo-inverse of the symmetric `[k, k]` matrix `g`: with
/// `g = V diag(λ) Vᵀ` ([`symmetric_eigen`]), `g⁺ = V diag(1/λ for |λ| > 10⁻¹⁰ max|λ|, else 0) Vᵀ`.
pub fn symmetric_pinv(g: &[f64], k: usize) -> Vec<f64> {
    let (eigen, v) = symmetric_eigen(g, k);
    let top = eigen.iter().fold(0.0f64, |m, l| m.max(l.abs()));
    let inverse: Vec<f64> = eigen
        .iter()
        .map(|&l| if l.abs() > 1e-10 * top { 1.0 / l } else { 0.0 })
        .collect();
    let mut out = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..k {
            out[i * k + j] = (0..k)
                .map(|r| v[i * k + r] * inverse[r] * v[j * k + r])
                .sum();
        }
    }
    out
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// What the feature geometry needs of one set of features, whatever the head: the class
/// means, NC1, and the Cholesky factor of `Σ̃_W` (computed once when every run reads the same
/// features, as a linear model's do).
#[derive(Debug, Clone)]
pub struct FeatureStats {
    /// Feature dimension F.
    pub f: usize,
    /// Class means `[K][F]`.
    pub means: Vec<Vec<f64>>,
    /// `tr(Σ_W Σ_B⁺) / K`.
    pub nc1: f64,
    /// The lower Cholesky factor of `Σ_W + ε I` (`[F, F]`), when F ≤ [`MAX_LDA_FEATURES`] and
    /// the factorisation succeeds.
    pub chol: Option<Vec<f64>>,
}

/// The statistics of features `h` (`[N, F]` row-major) with class labels in `0..k`.
///
/// # Shapes
/// - `h`: `[N·F]`
/// - `labels`: `[N]`
pub fn feature_stats(h: &[f64], labels: &[usize], k: usize) -> FeatureStats {
    let n = labels.len();
    let f = h.len() / n.max(1);
    let mut means = vec![vec![0.0; f]; k];
    let mut counts = vec![0usize; k];
    let mut global = vec![0.0; f];
    for (row, &y) in h.chunks_exact(f).zip(labels) {
        counts[y] += 1;
        means[y].iter_mut().zip(row).for_each(|(m, v)| *m += v);
        global.iter_mut().zip(row).for_each(|(m, v)| *m += v);
    }
    for (mean, &count) in means.iter_mut().zip(&counts) {
        mean.iter_mut().for_each(|m| *m /= count.max(1) as f64);
    }
    global.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    // A = [μ_c − μ_G] / √K, F × K (row-major).
    let root_k = (k as f64).sqrt();
    let a: Vec<f64> = (0..f)
        .flat_map(|j| (0..k).map(move |c| (j, c)))
        .map(|(j, c)| (means[c][j] - global[j]) / root_k)
        .collect();
    let mut gram = vec![0.0; k * k];
    for row in a.chunks_exact(k) {
        for p in 0..k {
            for q in 0..k {
                gram[p * k + q] += row[p] * row[q];
            }
        }
    }
    let pinv = symmetric_pinv(&gram, k);
    // Q = Aᵀ Σ_W A = (1/N) Σ_i v_i v_iᵀ with v_i = Aᵀ (h_i − μ_{y_i}).
    let mut q = vec![0.0; k * k];
    let mut v = vec![0.0; k];
    for (row, &y) in h.chunks_exact(f).zip(labels) {
        v.iter_mut().for_each(|x| *x = 0.0);
        for j in 0..f {
            let centred = row[j] - means[y][j];
            for c in 0..k {
                v[c] += a[j * k + c] * centred;
            }
        }
        for p in 0..k {
            for r in 0..k {
                q[p * k + r] += v[p] * v[r] / n as f64;
            }
        }
    }
    // tr(P² Q) with P = (AᵀA)⁺.
    let mut p2 = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..k {
            p2[i * k + j] = (0..k).map(|r| pinv[i * k + r] * pinv[r * k + j]).sum();
        }
    }
    let trace: f64 = (0..k)
        .map(|i| (0..k).map(|j| p2[i * k + j] * q[j * k + i]).sum::<f64>())
        .sum();
    let chol = (f <= MAX_LDA_FEATURES).then(|| {
        let mut sigma = vec![0.0; f * f];
        let mut centred = vec![0.0; f];
        for (row, &y) in h.chunks_exact(f).zip(labels) {
            centred
                .iter_mut()
                .zip(row.iter().zip(&means[y]))
                .for_each(|(c, (v, m))| *c = v - m);
            for i in 0..f {
                let ci = centred[i] / n as f64;
                for j in 0..=i {
                    sigma[i * f + j] += ci * centred[j];
                }
            }
        }
        let ridge = 1e-6 * (0..f).map(|i| sigma[i * f + i]).sum::<f64>() / f as f64;
        (0..f).for_each(|i| sigma[i * f + i] += ridge.max(f64::MIN_POSITIVE));
        cholesky_in_place_with(&mut sigma, f, logit_reg_data::stats::prefix_dots)
            .ok()
            .map(|()| sigma)
    });
    FeatureStats {
        f,
        means,
        nc1: trace / k as f64,
        chol: chol.flatten(),
    }
}

/// The mean cosine between a head's class-difference weights and the LDA directions of the
/// features `stats` describes. `w` is `[F, C]` row-major: C = K, or C = 1 for a binary head
/// whose positive class is class 1. NaN without a Cholesky factor.
///
/// # Shapes
/// - `w`: `[F·C]`
pub fn head_lda_cos(stats: &FeatureStats, w: &[f64]) -> f64 {
    let (f, k) = (stats.f, stats.means.len());
    let Some(chol) = &stats.chol else {
        return f64::NAN;
    };
    let c_out = w.len() / f.max(1);
    let pairs: Vec<(usize, usize)> = if c_out == 1 {
        vec![(1, 0)]
    } else {
        (0..k)
            .flat_map(|c| (c + 1..k).map(move |d| (c, d)))
            .collect()
    };
    let total: f64 = pairs
        .iter()
        .map(|&(c, d)| {
            let mut lda: Vec<f64> = stats.means[c]
                .iter()
                .zip(&stats.means[d])
                .map(|(x, y)| x - y)
                .collect();
            cholesky_solve_in_place(chol, f, &mut lda);
            let diff: Vec<f64> = if c_out == 1 {
                w.to_vec()
            } else {
                (0..f)
                    .map(|j| w[j * c_out + c] - w[j * c_out + d])
                    .collect()
            };
            cosine(&diff, &lda)
        })
        .sum();
    total / pairs.len() as f64
}

/// [`feature_stats`] and [`head_lda_cos`] together, for one run.
///
/// # Shapes
/// - `h`: `[N·F]`
/// - `labels`: `[N]`
/// - `w`: `[F·C]`
pub fn feature_geometry(h: &[f64], labels: &[usize], k: usize, w: &[f64]) -> FeatureGeometry {
    let stats = feature_stats(h, labels, k);
    FeatureGeometry {
        nc1: stats.nc1,
        head_lda_cos: head_lda_cos(&stats, w),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinv_of_a_rank_deficient_matrix() {
        // g = u uᵀ with u = (1, 2, 2): g⁺ = u uᵀ / ‖u‖⁴ = g / 81.
        let u = [1.0, 2.0, 2.0];
        let g: Vec<f64> = (0..9).map(|i| u[i / 3] * u[i % 3]).collect();
        let p = symmetric_pinv(&g, 3);
        for (x, y) in p.iter().zip(&g) {
            assert!((x - y / 81.0).abs() < 1e-14, "{x} vs {}", y / 81.0);
        }
        // A full-rank 2 × 2: [[2, 1], [1, 2]]⁻¹ = [[2, −1], [−1, 2]] / 3.
        let p = symmetric_pinv(&[2.0, 1.0, 1.0, 2.0], 2);
        for (x, y) in p.iter().zip([2.0, -1.0, -1.0, 2.0]) {
            assert!((x - y / 3.0).abs() < 1e-14);
        }
    }

    #[test]
    fn two_classes_in_the_plane_by_hand() {
        // Class 0 at (−1, ±s), class 1 at (1, ±s): μ₀ = (−1, 0), μ₁ = (1, 0), μ_G = 0.
        // Σ_W = diag(0, s²) and Σ_B = diag(1, 0), so Σ_B⁺ = diag(1, 0) and tr(Σ_W Σ_B⁺) = 0:
        // the within-class spread is orthogonal to the class means, NC1 = 0.
        let s = 0.5;
        let h = [-1.0, s, -1.0, -s, 1.0, s, 1.0, -s];
        let labels = [0, 0, 1, 1];
        let g = feature_geometry(&h, &labels, 2, &[-1.0, 1.0, 0.0, 0.0]);
        assert!(g.nc1.abs() < 1e-14, "{}", g.nc1);
        // Spread along the means instead: class 0 at −1 ± s, class 1 at 1 ± s on the first
        // axis, so Σ_W = diag(s², 0) and tr(Σ_W Σ_B⁺) / K = s² / 2.
        let h = [-1.0 - s, 0.0, -1.0 + s, 0.0, 1.0 - s, 0.0, 1.0 + s, 0.0];
        let g = feature_geometry(&h, &labels, 2, &[-1.0, 1.0, 0.0, 0.0]);
        assert!((g.nc1 - s * s / 2.0).abs() < 1e-14, "{}", g.nc1);
    }

    #[test]
    fn head_along_the_lda_direction_has_cosine_one() {
        // Two classes in the plane with a shared covariance diag(4, 1) (samples at μ ± (2, 0)
        // and μ ± (0, 1)); μ₁ − μ₀ = (2, 2), so Σ_W⁻¹ (μ₁ − μ₀) = (0.5, 2) up to the ridge.
        let mut h = Vec::new();
        let mut labels = Vec::new();
        for (c, mu) in [(0usize, [-1.0, -1.0]), (1, [1.0, 1.0])] {
            for d in [[2.0, 0.0], [-2.0, 0.0], [0.0, 1.0], [0.0, -1.0]] {
                h.extend([mu[0] + d[0], mu[1] + d[1]]);
                labels.push(c);
            }
        }
        // Σ_W = diag(2, 0.5) (each axis: two of four samples at ±2 or ±1): LDA ∝ (1, 4).
        // A two-logit head with w₁ − w₀ = (1, 4): cosine 1; a binary head w = (1, 4): 1;
        // the mean difference (1, 1) itself: cos((1, 1), (1, 4)) = 5 / √34.
        let two = [0.0, 1.0, 0.0, 4.0];
        assert!((feature_geometry(&h, &labels, 2, &two).head_lda_cos - 1.0).abs() < 1e-6);
        assert!((feature_geometry(&h, &labels, 2, &[1.0, 4.0]).head_lda_cos - 1.0).abs() < 1e-6);
        let plain = feature_geometry(&h, &labels, 2, &[1.0, 1.0]).head_lda_cos;
        assert!((plain - 5.0 / 34f64.sqrt()).abs() < 1e-6, "{plain}");
    }
}
