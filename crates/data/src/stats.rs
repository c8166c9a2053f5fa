//! Small numerical helpers shared by the data models, the engine and the theory: the normal
//! CDF, the project's one Cholesky factorisation and its solves, and sample moments.

use crate::DataError;

/// The standard normal CDF `Φ(x) = ½ erfc(−x/√2)`, accurate to a few ulps in both tails.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// The standard normal density `φ(x) = exp(−x²/2)/√(2π)`.
pub fn normal_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// The Gaussian signal-plus-noise accuracy of a linear classifier with components `s1` along
/// `e₁` and `s_perp` (norm) orthogonal to it (paper Eq. 5):
/// `Φ( s1 μ_f / √(s1² σ_f² + s_perp² σ_n²) )`. A zero denominator gives 1, ½ or 0 by the sign of
/// `s1 μ_f`.
pub fn signal_noise_accuracy(s1: f64, s_perp: f64, mu_f: f64, sigma_f: f64, sigma_n: f64) -> f64 {
    let num = s1 * mu_f;
    let den = (s1 * s1 * sigma_f * sigma_f + s_perp * s_perp * sigma_n * sigma_n).sqrt();
    if den > 0.0 {
        normal_cdf(num / den)
    } else if num > 0.0 {
        1.0
    } else if num < 0.0 {
        0.0
    } else {
        0.5
    }
}

/// Lower Cholesky factor `L` (row-major `[d, d]`, zeros above the diagonal) with `Σ = L Lᵀ`,
/// by [`cholesky_in_place_with`] with the plain [`prefix_dots`].
///
/// Returns [`DataError::NotPositiveDefinite`] naming `field` when `sigma` is not symmetric
/// (relative tolerance 1e-12) or is singular to working precision (a pivot at most 10⁻¹² of its
/// diagonal entry).
pub fn cholesky(field: &'static str, sigma: &[f64], d: usize) -> Result<Vec<f64>, DataError> {
    if sigma.len() != d * d {
        return Err(DataError::WrongLength {
            field,
            len: sigma.len(),
            expected: d * d,
        });
    }
    for i in 0..d {
        for j in 0..i {
            let (a, b) = (sigma[i * d + j], sigma[j * d + i]);
            if !a.is_finite() || (a - b).abs() > 1e-12 * (1.0 + a.abs().max(b.abs())) {
                return Err(DataError::NotPositiveDefinite {
                    field,
                    reason: format!("entry ({i},{j}) = {a} but ({j},{i}) = {b}"),
                });
            }
        }
    }
    let mut l = sigma.to_vec();
    cholesky_in_place_with(&mut l, d, prefix_dots).map_err(|row| {
        DataError::NotPositiveDefinite {
            field,
            reason: format!("pivot {row} is not positive (singular to working precision)"),
        }
    })?;
    for i in 0..d {
        l[i * d + i + 1..(i + 1) * d].fill(0.0);
    }
    Ok(l)
}

/// `out_r = rows_r[..k] · w` with `k = w.len()`, summed in order: the plain kernel of
/// [`cholesky_in_place_with`].
///
/// # Shapes
/// - `rows`: n slices of length ≥ k; `w`: `[k]`; `out`: `[n]`
pub fn prefix_dots(rows: &[&[f64]], w: &[f64], out: &mut [f64]) {
    for (row, o) in rows.iter().zip(out.iter_mut()) {
        *o = row[..w.len()].iter().zip(w).map(|(a, b)| a * b).sum();
    }
}

/// The eigendecomposition `a = V diag(λ) Vᵀ` of the symmetric row-major `[n, n]` matrix `a`,
/// by cyclic Jacobi rotations (until the off-diagonal norm is below `10⁻¹⁵` of `‖a‖_F`, at most
/// 100 sweeps). Returns `(λ, V)` with `V` row-major and column `r` the eigenvector of `λ_r`;
/// the eigenvalues are in no particular order.
pub fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0.0; n * n];
    (0..n).for_each(|i| v[i * n + i] = 1.0);
    let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum::<f64>()
            .sqrt();
        if off <= 1e-15 * scale.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                // The rotation that zeroes a_pq (theta = 0 gives t = 1: f64::signum(0) = 1).
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for r in 0..n {
                    let (arp, arq) = (a[r * n + p], a[r * n + q]);
                    a[r * n + p] = c * arp - s * arq;
                    a[r * n + q] = s * arp + c * arq;
                }
                for r in 0..n {
                    let (apr, aqr) = (a[p * n + r], a[q * n + r]);
                    a[p * n + r] = c * apr - s * aqr;
                    a[q * n + r] = s * apr + c * aqr;
                }
                for r in 0..n {
                    let (vrp, vrq) = (v[r * n + p], v[r * n + q]);
                    v[r * n + p] = c * vrp - s * vrq;
                    v[r * n + q] = s * vrp + c * vrq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

/// The Cholesky factorisation of the project, in place: on return the lower triangle of the
/// row-major `[n, n]` `k` holds L with `K = L Lᵀ` (only the lower triangle is read; the upper
/// is left as it was).
///
/// Rows go in tiles of four: each tile's dot products with the finished rows are one call of
/// `prefix_dots(rows, w, out)`, which must set `out_r = rows_r[..w.len()] · w` (the plain
/// [`prefix_dots`], or a vectorised kernel with the same contract: the training engine passes
/// its SIMD kernel), then `L_rj = (K_rj − dot) / L_jj`.
///
/// Errors with the row j whose pivot `K_jj − ‖L_{j,<j}‖²` is not above `10⁻¹²·K_jj`: K is
/// singular to working precision.
pub fn cholesky_in_place_with(
    k: &mut [f64],
    n: usize,
    prefix_dots: impl Fn(&[&[f64]], &[f64], &mut [f64]),
) -> Result<(), usize> {
    let mut dots = [0.0; 4];
    for i0 in (0..n).step_by(4) {
        let m = (n - i0).min(4);
        let (done, tile) = k.split_at_mut(i0 * n);
        for j in 0..i0 {
            let row_j = &done[j * n..j * n + j];
            let pivot = done[j * n + j];
            {
                let rows: [&[f64]; 4] = std::array::from_fn(|r| &tile[r.min(m - 1) * n..]);
                prefix_dots(&rows[..m], row_j, &mut dots[..m]);
            }
            for (r, dot) in dots[..m].iter().enumerate() {
                let entry = &mut tile[r * n + j];
                *entry = (*entry - dot) / pivot;
            }
        }
        // The tile's own triangle.
        for ri in 0..m {
            for rj in 0..=ri {
                let j = i0 + rj;
                let sum: f64 = (0..j).map(|c| tile[ri * n + c] * tile[rj * n + c]).sum();
                if rj < ri {
                    tile[ri * n + j] = (tile[ri * n + j] - sum) / tile[rj * n + j];
                } else {
                    let diagonal = tile[ri * n + j];
                    let pivot = diagonal - sum;
                    if pivot.is_nan() || pivot <= 1e-12 * diagonal {
                        return Err(j);
                    }
                    tile[ri * n + j] = pivot.sqrt();
                }
            }
        }
    }
    Ok(())
}

/// Solves `L Lᵀ x = b` in place (`b` becomes x), with L the lower triangle of the row-major
/// `[n, n]` `l` (the factor of [`cholesky_in_place_with`]; the upper triangle is not read).
///
/// # Shapes
/// - `l`: `[n·n]`; `b`: `[n]`
pub fn cholesky_solve_in_place(l: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        let sum: f64 = l[i * n..i * n + i]
            .iter()
            .zip(&b[..i])
            .map(|(l, b)| l * b)
            .sum();
        b[i] = (b[i] - sum) / l[i * n + i];
    }
    for i in (0..n).rev() {
        b[i] /= l[i * n + i];
        let x = b[i];
        b[..i]
            .iter_mut()
            .zip(&l[i * n..i * n + i])
            .for_each(|(b, l)| *b -= l * x);
    }
}

/// Solves `L Lᵀ x = b` given the lower Cholesky factor `L` (row-major `[d, d]`).
pub fn cholesky_solve(l: &[f64], d: usize, b: &[f64]) -> Vec<f64> {
    let mut x = b.to_vec();
    cholesky_solve_in_place(l, d, &mut x);
    x
}

/// Which standard deviation [`mean_std`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdKind {
    /// The population standard deviation `sqrt(Σ (v − mean)² / n)`: the spread of a whole set
    /// (the train logits of a run).
    Population,
    /// The sample standard deviation `sqrt(Σ (v − mean)² / (n − 1))` (0 for one value): the
    /// estimate of a spread from a sample (results over seeds).
    Sample,
}

/// The mean of `values` and their standard deviation of the given kind. Non-finite values
/// propagate (the caller filters them when it must); an empty slice gives NaN.
pub fn mean_std(values: &[f64], kind: StdKind) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let squares = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>();
    let std = match kind {
        StdKind::Population => (squares / n).sqrt(),
        StdKind::Sample if values.len() > 1 => (squares / (n - 1.0)).sqrt(),
        StdKind::Sample => 0.0,
    };
    (mean, std)
}

/// Sample excess kurtosis `m₄/m₂² − 3` (0 for a Gaussian, `6/(ν−4)` for Student-t with ν > 4).
pub fn excess_kurtosis(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let m2 = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let m4 = values.iter().map(|v| (v - mean).powi(4)).sum::<f64>() / n;
    m4 / (m2 * m2) - 3.0
}

/// `∫ φ(u) g(u) du` over the real line by composite Simpson's rule on `[−12, 12]` with 4000
/// panels (the Gaussian tail beyond 12 is below 1e-32).
pub fn gaussian_expectation(g: impl Fn(f64) -> f64) -> f64 {
    let (a, b, panels) = (-12.0_f64, 12.0_f64, 4000_usize);
    let h = (b - a) / panels as f64;
    let mut sum = normal_pdf(a) * g(a) + normal_pdf(b) * g(b);
    for i in 1..panels {
        let u = a + h * i as f64;
        let w = if i % 2 == 1 { 4.0 } else { 2.0 };
        sum += w * normal_pdf(u) * g(u);
    }
    sum * h / 3.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_cdf_matches_tabulated_values() {
        // Φ(0) = 1/2, Φ(1) = 0.8413447460685429, Φ(−3) = 0.0013498980316300946 (tables).
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-16);
        assert!((normal_cdf(1.0) - 0.841_344_746_068_542_9).abs() < 1e-15);
        assert!((normal_cdf(-3.0) - 0.001_349_898_031_630_094_6).abs() < 1e-17);
    }

    #[test]
    fn cholesky_reconstructs_and_solves() {
        // Σ = [[4, 2], [2, 3]]: L = [[2, 0], [1, √2]].
        let l = cholesky("sigma", &[4.0, 2.0, 2.0, 3.0], 2).expect("spd");
        assert!((l[0] - 2.0).abs() < 1e-15 && (l[2] - 1.0).abs() < 1e-15);
        assert!((l[3] - 2f64.sqrt()).abs() < 1e-15);
        // Σ x = (8, 7) has x = (1.25, 1.5).
        let x = cholesky_solve(&l, 2, &[8.0, 7.0]);
        assert!((x[0] - 1.25).abs() < 1e-14 && (x[1] - 1.5).abs() < 1e-14);
        assert!(cholesky("sigma", &[1.0, 2.0, 2.0, 1.0], 2).is_err());
        assert!(cholesky("sigma", &[1.0, 0.5, 0.4, 1.0], 2).is_err());
    }

    #[test]
    fn gaussian_expectation_of_moments() {
        assert!((gaussian_expectation(|_| 1.0) - 1.0).abs() < 1e-12);
        assert!((gaussian_expectation(|u| u * u) - 1.0).abs() < 1e-12);
        assert!((gaussian_expectation(|u| u.powi(4)) - 3.0).abs() < 1e-11);
    }
}
