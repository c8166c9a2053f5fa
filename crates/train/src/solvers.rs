//! Exact solvers for the figures that need the converged minimiser rather than a trajectory.
//!
//! **Newton (`train.optimizer = "newton"`)**, binary data, α > 0. The objective
//!
//! ```text
//! F(S) = (1/N) Σ_i ℓ(a_iᵀ S),   a_i = y_i x_i,   ℓ(t) = (1 − α)·log(1 + e^{−t}) + α·f(t)
//! ∇F = (1/N) Aᵀ ℓ′(t),          ℓ′(t) = −(1 − α)·σ(−t) + α·f′(t)
//! ∇²F = (1/N) Aᵀ diag(ℓ″(t)) A, ℓ″(t) = (1 − α)·σ(t)·σ(−t) + α·f″(t)
//! ```
//!
//! is strictly convex for α > 0 and a strictly convex f, so it has one minimiser. Each Newton
//! step solves `∇²F p = −∇F` by conjugate gradients (Jacobi preconditioner when N > d; none
//! when d ≥ N, so that the iterates stay in the row space of A and the solution is the
//! minimum-norm minimiser that GD from zero converges to; forcing term
//! `min(0.5, √‖∇F‖)`), using only products with A and Aᵀ, and takes the largest step
//! `s ∈ {1, ½, ¼, …}` with the Armijo decrease `F(S + s p) ≤ F(S) + 10⁻⁴ s ∇Fᵀp`. The
//! certificate is the final gradient norm `‖∇F‖`, in f64 on the host.
//!
//! **The interpolating start (d ≥ N).** When A has full row rank every vector of margins
//! `t = A S` is reachable, so the minimiser puts every margin at the one-dimensional minimiser
//! z* of ℓ. The minimum-norm S with `A S = z*·1`, the one GD from S = 0 converges to, is
//!
//! ```text
//! S = Aᵀ c,   K c = z*·1,   K = A Aᵀ  (N × N, by Cholesky K = L Lᵀ).
//! ```
//!
//! The solve is refined iteratively (up to three times, while the misfit of the margins at
//! least halves; K is ill-conditioned near d = N), and Newton starts there; it usually has
//! nothing left to do. Near d = N, A Aᵀ is badly
//! conditioned and CG from S = 0 would need thousands of products; the Gram matrix and its
//! factor cost `N²d/2 + N³/6` multiply-adds, once. When K is singular to working precision
//! (A without full row rank) Newton–CG starts from S = 0 instead.
//!
//! **Max-margin (`train.optimizer = "max-margin"`)**, binary data, α = 0: the hard-margin SVM
//! direction without bias, the direction gradient descent on the unregularised loss converges
//! to on separable data,
//!
//! ```text
//! min ½‖w‖²  subject to  a_iᵀ w ≥ 1 for every i,
//! ```
//!
//! solved by dual coordinate ascent on `max_{β ≥ 0} Σ β_i − ½‖Σ β_i a_i‖²` (w = Σ β_i a_i):
//! each coordinate step `β_i ← max(0, β_i − (a_iᵀw − 1)/‖a_i‖²)`. The certificate is the
//! largest violation of the KKT conditions (projected dual gradient): `1 − a_iᵀw` for every i,
//! and `|a_iᵀw − 1|` where `β_i > 0`. Data that are not linearly separable make the dual
//! unbounded; the solver reports that as an error instead of returning a direction.
//!
//! All arithmetic is f64 on the host. The products split the rows into parts fixed by the shape
//! and sum them in part order, so the results do not depend on the number of threads
//! ([`Design::threads`], `train.threads`).

use logit_reg_data::stats::{cholesky_in_place_with, cholesky_solve_in_place};
use logit_reg_model::penalty::LogitPenalty;
use logit_reg_model::target::{
    binary_target, per_sample_loss, per_sample_loss_derivative, per_sample_loss_second_derivative,
};

use std::ops::Range;

use crate::TrainError;

/// The label-absorbed training matrix `A` (`a_i = y_i x_i`), row-major `[n, d]`.
///
/// Its products split the rows into parts fixed by (n, d) alone (the fused engine's
/// partition) and sum the parts in part order, so they, and the solvers built on them, give
/// bit-identical results on any number of threads.
#[derive(Debug, Clone)]
pub struct Design<'a> {
    /// The entries, row-major.
    pub a: &'a [f64],
    /// Rows N.
    pub n: usize,
    /// Columns d.
    pub d: usize,
    /// Threads for the products (0: the available cores, at most 8). The results do not
    /// depend on it.
    pub threads: usize,
}

impl<'a> Design<'a> {
    /// The design of the row-major `[n, d]` matrix `a`, on the available cores.
    pub fn new(a: &'a [f64], n: usize, d: usize) -> Self {
        Self {
            a,
            n,
            d,
            threads: 0,
        }
    }

    /// The same design, its products on `threads` threads (0: the available cores).
    pub fn with_threads(self, threads: usize) -> Self {
        Self { threads, ..self }
    }

    /// `work` on every part of the rows, in part order, the parts shared out to the threads.
    fn map_parts<R: Send>(&self, work: impl Fn(Range<usize>) -> R + Sync) -> Vec<R> {
        let parts = crate::fused::part_ranges(self.n, self.d);
        let threads = crate::fused::team_size(self.threads, parts.len());
        if threads <= 1 {
            return parts.into_iter().map(work).collect();
        }
        let mut out: Vec<Option<R>> = parts.iter().map(|_| None).collect();
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|member| {
                    let (parts, work) = (&parts, &work);
                    scope.spawn(move || {
                        (member..parts.len())
                            .step_by(threads)
                            .map(|p| (p, work(parts[p].clone())))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for handle in handles {
                let done = handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                for (p, result) in done {
                    out[p] = Some(result);
                }
            }
        });
        out.into_iter().flatten().collect()
    }

    /// `A v` (`[n]`).
    pub fn mul(&self, v: &[f64]) -> Vec<f64> {
        let d = self.d;
        self.map_parts(|rows| {
            let mut out = vec![0.0; rows.len()];
            crate::fused::rows_dot(&self.a[rows.start * d..rows.end * d], d, v, &mut out);
            out
        })
        .concat()
    }

    /// `Aᵀ u` (`[d]`).
    pub fn mul_t(&self, u: &[f64]) -> Vec<f64> {
        let d = self.d;
        let partials = self.map_parts(|rows| {
            let mut acc = vec![0.0; d];
            let weights = &u[rows.clone()];
            crate::fused::rows_axpy(&self.a[rows.start * d..rows.end * d], d, weights, &mut acc);
            acc
        });
        let mut out = vec![0.0; d];
        for p in partials {
            out.iter_mut().zip(&p).for_each(|(o, v)| *o += v);
        }
        out
    }

    /// The lower triangle of the Gram matrix `K = A Aᵀ` (`K_ij = a_iᵀ a_j`, j ≤ i); the
    /// entries above the diagonal are 0. Blocks of rows that fit in a core's L2 cache go to
    /// the cores in turn, and every earlier row streams past a block once.
    ///
    /// # Shapes
    /// - output: row-major `[n, n]`
    pub fn gram_lower(&self) -> Vec<f64> {
        use rayon::prelude::*;
        let (n, d) = (self.n, self.d);
        let mut k = vec![0.0; n * n];
        if n == 0 || d == 0 {
            return k;
        }
        // About 256 KiB of rows per block, in whole tiles of four.
        let block = (32_768 / d / 4 * 4).clamp(4, 64);
        let rows: Vec<&[f64]> = self.a.chunks_exact(d).take(n).collect();
        k.par_chunks_mut(block * n)
            .enumerate()
            .for_each(|(b, out)| {
                let (i0, i1) = (b * block, ((b + 1) * block).min(n));
                let mut dots = vec![0.0; block];
                for (j, row_j) in rows[..i1].iter().enumerate() {
                    let first = i0.max(j);
                    let these = &rows[first..i1];
                    crate::fused::prefix_dots(these, row_j, &mut dots[..these.len()]);
                    for (i, v) in (first..i1).zip(&dots) {
                        out[(i - i0) * n + j] = *v;
                    }
                }
            });
        k
    }
}

/// The Cholesky factor of the Gram matrix in place ([`cholesky_in_place_with`], with the fused
/// engine's vectorised [`prefix_dots`](crate::fused::prefix_dots)).
fn cholesky_in_place(k: &mut [f64], n: usize) -> Result<(), usize> {
    cholesky_in_place_with(k, n, crate::fused::prefix_dots)
}

/// The interpolating start of [`newton_binary`]: the weights, their margins and the products
/// with A or Aᵀ spent (the Gram matrix and its factor counted as their multiply-adds ÷ N·d).
struct Interpolation {
    weights: Vec<f64>,
    margins: Vec<f64>,
    products: u64,
}

/// The minimum-norm minimiser when d ≥ N (module docs): `S = Aᵀ K⁻¹ z*·1`. `None` when d < N
/// or K is singular to working precision. Errors when ℓ has no finite minimiser z*.
fn interpolating_minimiser(
    design: &Design<'_>,
    penalty: &dyn LogitPenalty,
    alpha: f64,
) -> Result<Option<Interpolation>, TrainError> {
    let (n, d) = (design.n, design.d);
    if d < n || n == 0 {
        return Ok(None);
    }
    let z_star = binary_target(penalty, alpha)
        .map_err(TrainError::Model)?
        .z_star;
    let mut k = design.gram_lower();
    if cholesky_in_place(&mut k, n).is_err() {
        return Ok(None);
    }
    let (nf, df) = (n as f64, d as f64);
    let mut products = (nf / 2.0 + nf * nf / (6.0 * df)).ceil() as u64;
    let misfit = |t: &[f64]| t.iter().fold(0.0, |m: f64, t| m.max((z_star - t).abs()));
    let mut c = vec![z_star; n];
    cholesky_solve_in_place(&k, n, &mut c);
    let weights = design.mul_t(&c);
    let margins = design.mul(&weights);
    products += 2;
    let mut best = (misfit(&margins), weights, margins);
    // Iterative refinement: near d = N, K is ill-conditioned and the first solve leaves the
    // margins off z* by ~1e-9, mostly along K's smallest eigenvectors, which Newton–CG would
    // need thousands of products to remove. The residual of A S = z*·1, solved with the same
    // factor, is added while the misfit shrinks at least twofold (at most three times, two
    // products each). BENCHMARKS.md has the measured saving at d = N = 2000.
    for _ in 0..3 {
        if best.0 == 0.0 {
            break;
        }
        let mut step: Vec<f64> = best.2.iter().map(|t| z_star - t).collect();
        cholesky_solve_in_place(&k, n, &mut step);
        let refined: Vec<f64> = c.iter().zip(&step).map(|(c, s)| c + s).collect();
        let weights = design.mul_t(&refined);
        let margins = design.mul(&weights);
        products += 2;
        let size = misfit(&margins);
        if size >= best.0 {
            break;
        }
        let enough = size > 0.5 * best.0;
        c = refined;
        best = (size, weights, margins);
        if enough {
            break;
        }
    }
    let (_, weights, margins) = best;
    Ok(Some(Interpolation {
        weights,
        margins,
        products,
    }))
}

/// How a Newton solve ended.
#[derive(Debug, Clone, PartialEq)]
pub struct NewtonOutcome {
    /// The minimiser S (`[d]`).
    pub weights: Vec<f64>,
    /// Newton iterations taken.
    pub iterations: u64,
    /// Products with A or Aᵀ (the cost unit: a GD step makes two), counting the interpolating
    /// start's Gram matrix and Cholesky factor as their multiply-adds ÷ (N·d).
    pub products: u64,
    /// Whether Newton started from the interpolating solution `Aᵀ K⁻¹ z*·1` (d ≥ N, K
    /// non-singular) rather than from S = 0.
    pub interpolating_start: bool,
    /// ‖∇F‖ at the returned S: the convergence certificate.
    pub gradient_norm: f64,
    /// Whether `gradient_norm ≤ tol`.
    pub converged: bool,
    /// Per iteration (from the starting point): the objective and the gradient norm.
    pub history: Vec<(f64, f64)>,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// The per-sample loss ℓ(t) and its first two derivatives.
fn loss_terms(penalty: &dyn LogitPenalty, alpha: f64, t: f64) -> (f64, f64, f64) {
    (
        per_sample_loss(penalty, alpha, t),
        per_sample_loss_derivative(penalty, alpha, t),
        per_sample_loss_second_derivative(penalty, alpha, t),
    )
}

fn objective(penalty: &dyn LogitPenalty, alpha: f64, t: &[f64]) -> f64 {
    t.iter()
        .map(|&t| loss_terms(penalty, alpha, t).0)
        .sum::<f64>()
        / t.len() as f64
}

/// Minimises `F(S) = mean ℓ(a_iᵀ S)` by Newton–CG from S = 0 until `‖∇F‖ ≤ tol` or
/// `max_iterations` Newton steps.
pub fn newton_binary(
    design: &Design<'_>,
    penalty: &dyn LogitPenalty,
    alpha: f64,
    tol: f64,
    max_iterations: u64,
) -> Result<NewtonOutcome, TrainError> {
    newton_with(design, penalty, alpha, tol, max_iterations, true)
}

/// [`newton_binary`], with the interpolating start allowed (`interpolate`) or not: the tests
/// compare the two routes to the same minimiser.
fn newton_with(
    design: &Design<'_>,
    penalty: &dyn LogitPenalty,
    alpha: f64,
    tol: f64,
    max_iterations: u64,
    interpolate: bool,
) -> Result<NewtonOutcome, TrainError> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(TrainError::invalid(
            "loss.alpha",
            &alpha.to_string(),
            "(0, 1) for train.optimizer = \"newton\" (α = 0 has no finite minimiser: use \"max-margin\")",
        ));
    }
    let (n, d) = (design.n, design.d);
    let inv_n = 1.0 / n as f64;
    // Column squares, for the Jacobi preconditioner diag(∇²F)_j = (1/N) Σ_i ℓ″_i a_ij², which
    // is used only when N > d.
    let squares: Vec<f64> = if n > d {
        design.a.iter().map(|v| v * v).collect()
    } else {
        Vec::new()
    };
    let squares = Design {
        a: &squares,
        ..design.clone()
    };
    let start = if interpolate {
        interpolating_minimiser(design, penalty, alpha)?
    } else {
        None
    };
    let interpolating_start = start.is_some();
    let (mut s, mut t, mut products) = match start {
        Some(start) => (start.weights, start.margins, start.products),
        None => (vec![0.0; d], vec![0.0; n], 0),
    };
    let mut history = Vec::new();
    let mut iterations = 0;
    // Set when no step lowers F or ‖∇F‖ any more: S is the minimiser to rounding.
    let mut stalled = false;
    loop {
        let terms: Vec<(f64, f64, f64)> =
            t.iter().map(|&ti| loss_terms(penalty, alpha, ti)).collect();
        let f = terms.iter().map(|x| x.0).sum::<f64>() * inv_n;
        let first: Vec<f64> = terms.iter().map(|x| x.1 * inv_n).collect();
        let second: Vec<f64> = terms.iter().map(|x| x.2 * inv_n).collect();
        let g = design.mul_t(&first);
        products += 1;
        let g_norm = norm(&g);
        history.push((f, g_norm));
        if !g_norm.is_finite() {
            return Err(TrainError::Diverged {
                run: 0,
                step: iterations,
                loss: f,
            });
        }
        if g_norm <= tol || iterations >= max_iterations || stalled {
            return Ok(NewtonOutcome {
                weights: s,
                iterations,
                products,
                interpolating_start,
                gradient_norm: g_norm,
                converged: g_norm <= tol,
                history,
            });
        }
        // Preconditioned CG on H p = −g.
        // With d ≥ N the Hessian is singular; unpreconditioned CG from S = 0 stays in the row
        // space of A and so finds the minimum-norm minimiser (the one GD from zero reaches).
        let diag: Vec<f64> = if n > d {
            products += 1;
            squares
                .mul_t(&second)
                .into_iter()
                .map(|v| v.max(1e-300))
                .collect()
        } else {
            vec![1.0; d]
        };
        let forcing = g_norm.sqrt().min(0.5);
        let mut p = vec![0.0; d];
        let mut r: Vec<f64> = g.iter().map(|v| -v).collect();
        let mut z: Vec<f64> = r.iter().zip(&diag).map(|(r, h)| r / h).collect();
        let mut dir = z.clone();
        let mut rz = dot(&r, &z);
        for _ in 0..(4 * d).max(50) {
            let a_dir = design.mul(&dir);
            let weighted: Vec<f64> = a_dir.iter().zip(&second).map(|(x, w)| x * w).collect();
            let h_dir = design.mul_t(&weighted);
            products += 2;
            let curvature = dot(&dir, &h_dir);
            if curvature <= 0.0 {
                break;
            }
            let step = rz / curvature;
            p.iter_mut().zip(&dir).for_each(|(p, v)| *p += step * v);
            r.iter_mut().zip(&h_dir).for_each(|(r, v)| *r -= step * v);
            if norm(&r) <= forcing * g_norm {
                break;
            }
            z = r.iter().zip(&diag).map(|(r, h)| r / h).collect();
            let rz_next = dot(&r, &z);
            let beta = rz_next / rz;
            rz = rz_next;
            dir.iter_mut().zip(&z).for_each(|(d, z)| *d = z + beta * *d);
        }
        // Armijo backtracking along p.
        let slope = dot(&g, &p);
        let a_p = design.mul(&p);
        products += 1;
        let mut step = 1.0;
        let mut accepted = false;
        // Armijo only while the predicted decrease is resolvable in F (else every trial looks
        // like "no decrease" and the search would shrink the step to nothing).
        let resolvable = -slope > 1e-13 * f.abs().max(f64::MIN_POSITIVE);
        for _ in 0..if resolvable { 60 } else { 0 } {
            let trial: Vec<f64> = t.iter().zip(&a_p).map(|(t, v)| t + step * v).collect();
            if objective(penalty, alpha, &trial) <= f + 1e-4 * step * slope {
                t = trial;
                s.iter_mut().zip(&p).for_each(|(s, v)| *s += step * v);
                accepted = true;
                break;
            }
            step *= 0.5;
        }
        iterations += 1;
        if !accepted {
            // Near the minimum the decrease of F falls below f64 resolution (it is ~‖∇F‖²);
            // then take the full Newton step if it lowers the gradient norm, else stop at S
            // (the next pass of the loop returns it with its gradient norm).
            let trial: Vec<f64> = t.iter().zip(&a_p).map(|(t, v)| t + v).collect();
            let terms: Vec<f64> = trial
                .iter()
                .map(|&ti| loss_terms(penalty, alpha, ti).1 * inv_n)
                .collect();
            let trial_norm = norm(&design.mul_t(&terms));
            products += 1;
            if trial_norm < g_norm {
                t = trial;
                s.iter_mut().zip(&p).for_each(|(s, v)| *s += v);
            } else {
                stalled = true;
            }
        }
    }
}

/// How a max-margin solve ended.
#[derive(Debug, Clone, PartialEq)]
pub struct MaxMarginOutcome {
    /// The max-margin weights w (margin 1: `min_i a_iᵀ w = 1` at the solution).
    pub weights: Vec<f64>,
    /// Passes over the data (each reads A twice, like one GD step).
    pub epochs: u64,
    /// The largest KKT violation at the returned w: the certificate.
    pub kkt_violation: f64,
    /// Whether `kkt_violation ≤ tol`.
    pub converged: bool,
    /// The smallest margin `min_i a_iᵀ w`.
    pub min_margin: f64,
    /// Support vectors (β_i > 0).
    pub support_vectors: usize,
    /// At epochs 1, 2, 4, 8, … and the last: (epoch, dual objective, KKT violation).
    pub history: Vec<(u64, f64, f64)>,
}

/// The hard-margin direction by dual coordinate ascent (cyclic order), until the KKT
/// violation is at most `tol` or `max_epochs` passes. Errors when the data are not linearly
/// separable: Σβ exceeds 1000·(‖w‖² + 1) (at the solution of separable data Σβ = ‖w‖²) or the
/// dual objective exceeds 1e12.
pub fn max_margin_binary(
    design: &Design<'_>,
    tol: f64,
    max_epochs: u64,
) -> Result<MaxMarginOutcome, TrainError> {
    let (n, d) = (design.n, design.d);
    let rows: Vec<&[f64]> = design.a.chunks_exact(d).collect();
    let sq: Vec<f64> = rows.iter().map(|r| dot(r, r)).collect();
    if let Some(i) = sq.iter().position(|&v| v == 0.0) {
        return Err(TrainError::invalid(
            "data",
            &format!("sample {i} is zero"),
            "non-zero samples for max-margin",
        ));
    }
    let mut beta = vec![0.0; n];
    let mut w = vec![0.0; d];
    let mut history = Vec::new();
    let mut epoch = 0;
    loop {
        epoch += 1;
        for (i, row) in rows.iter().enumerate() {
            let g = dot(row, &w) - 1.0;
            let new = (beta[i] - g / sq[i]).max(0.0);
            let change = new - beta[i];
            if change != 0.0 {
                w.iter_mut().zip(*row).for_each(|(w, a)| *w += change * a);
                beta[i] = new;
            }
        }
        let margins: Vec<f64> = rows.iter().map(|r| dot(r, &w)).collect();
        let violation = margins
            .iter()
            .zip(&beta)
            .map(|(&m, &b)| {
                if b > 0.0 {
                    (m - 1.0).abs()
                } else {
                    (1.0 - m).max(0.0)
                }
            })
            .fold(0.0, f64::max);
        let dual = beta.iter().sum::<f64>() - 0.5 * dot(&w, &w);
        let done = violation <= tol || epoch >= max_epochs;
        if epoch.is_power_of_two() || done {
            history.push((epoch, dual, violation));
        }
        // Separable data: Σβ → ‖w‖² (strong duality). Not separable: Σβ grows without bound
        // while w stays bounded (or both blow up).
        let beta_sum: f64 = beta.iter().sum();
        if !dual.is_finite() || dual > 1e12 || beta_sum > 1e3 * (dot(&w, &w) + 1.0) {
            return Err(TrainError::invalid(
                "train.optimizer",
                "max-margin",
                "linearly separable training data (here the dual is unbounded: no w has every margin ≥ 1; use gd)",
            ));
        }
        if done {
            return Ok(MaxMarginOutcome {
                min_margin: margins.iter().copied().fold(f64::INFINITY, f64::min),
                support_vectors: beta.iter().filter(|&&b| b > 0.0).count(),
                weights: w,
                epochs: epoch,
                kkt_violation: violation,
                converged: violation <= tol,
                history,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logit_reg_model::Quadratic;

    #[test]
    fn products_match_a_dense_reference() {
        // A = [[1, 2], [3, 4], [5, 6]]: A·(1, −1) = (−1, −1, −1), Aᵀ·(1, 0, 2) = (11, 14).
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let design = Design::new(&a, 3, 2);
        assert_eq!(design.mul(&[1.0, -1.0]), vec![-1.0, -1.0, -1.0]);
        assert_eq!(design.mul_t(&[1.0, 0.0, 2.0]), vec![11.0, 14.0]);
    }

    #[test]
    fn max_margin_of_a_hand_made_separable_set() {
        // Rows (1, 0) and (0, 1) (label-absorbed): the max-margin w solves w₁ ≥ 1, w₂ ≥ 1 with
        // the least norm, w = (1, 1). Adding (2, 2) changes nothing (margin 4, not a support).
        let a = [1.0, 0.0, 0.0, 1.0, 2.0, 2.0];
        let design = Design::new(&a, 3, 2);
        let out = max_margin_binary(&design, 1e-12, 1000).expect("separable");
        assert!((out.weights[0] - 1.0).abs() < 1e-9 && (out.weights[1] - 1.0).abs() < 1e-9);
        assert_eq!(out.support_vectors, 2);
        assert!((out.min_margin - 1.0).abs() < 1e-9 && out.converged);
        // (1, 0) and (−1, 0): no w separates both.
        let b = [1.0, 0.0, -1.0, 0.0];
        let design = Design::new(&b, 2, 2);
        let err = max_margin_binary(&design, 1e-9, 100_000).expect_err("not separable");
        assert!(err.to_string().contains("separable"), "{err}");
    }

    /// A deterministic pseudo-random `[n, d]` matrix, entries uniform on [−1, 1) from the
    /// splitmix64 sequence (full rank with probability one).
    fn irregular(n: usize, d: usize) -> Vec<f64> {
        (0..n * d)
            .map(|k| {
                let mut z = (k as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^= z >> 31;
                (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
            })
            .collect()
    }

    #[test]
    fn gram_matches_plain_loops() {
        // Several blocks (d = 600: blocks of 52 rows) and tiles with remainders.
        for (n, d) in [(1, 1), (7, 3), (70, 600), (9, 1)] {
            let a = irregular(n, d);
            let k = Design::new(&a, n, d).gram_lower();
            for i in 0..n {
                for j in 0..n {
                    let want = if j <= i {
                        dot(&a[i * d..(i + 1) * d], &a[j * d..(j + 1) * d])
                    } else {
                        0.0
                    };
                    let err = (k[i * n + j] - want).abs();
                    assert!(
                        err <= 1e-12 * want.abs().max(1.0),
                        "({i}, {j}) of ({n}, {d})"
                    );
                }
            }
        }
    }

    #[test]
    fn cholesky_reconstructs_and_solves() {
        for (n, d) in [(1, 2), (6, 6), (23, 31)] {
            let a = irregular(n, d);
            let k = Design::new(&a, n, d).gram_lower();
            let mut l = k.clone();
            cholesky_in_place(&mut l, n).expect("positive definite");
            for i in 0..n {
                for j in 0..=i {
                    let llt: f64 = (0..=j).map(|c| l[i * n + c] * l[j * n + c]).sum();
                    assert!(
                        (llt - k[i * n + j]).abs() <= 1e-10 * k[i * n + i],
                        "({i}, {j})"
                    );
                }
            }
            // K x = b for b = (1, 2, …): multiply back with the full symmetric K.
            let b: Vec<f64> = (1..=n).map(|v| v as f64).collect();
            let mut x = b.clone();
            cholesky_solve_in_place(&l, n, &mut x);
            for i in 0..n {
                let kx: f64 = (0..n).map(|j| k[i.max(j) * n + i.min(j)] * x[j]).sum();
                assert!(
                    (kx - b[i]).abs() < 1e-8 * n as f64,
                    "row {i}: {kx} vs {}",
                    b[i]
                );
            }
        }
        // Two equal rows: K is singular, the factorisation says at which row.
        let mut a = irregular(5, 8);
        a.copy_within(0..8, 3 * 8);
        let mut k = Design::new(&a, 5, 8).gram_lower();
        assert_eq!(cholesky_in_place(&mut k, 5), Err(3));
    }

    #[test]
    fn interpolating_start_is_the_minimum_norm_minimiser() {
        let z = logit_reg_model::target::quadratic_target(0.4)
            .expect("z*")
            .z_star;
        for (n, d) in [(30, 30), (30, 47)] {
            let a = irregular(n, d);
            let design = Design::new(&a, n, d);
            let fast = newton_binary(&design, &Quadratic, 0.4, 1e-11, 100).expect("solves");
            assert!(
                fast.interpolating_start && fast.converged,
                "({n}, {d}): {fast:?}"
            );
            // Every margin at z*.
            for (i, t) in design.mul(&fast.weights).iter().enumerate() {
                assert!((t - z).abs() < 1e-8, "margin {i} of ({n}, {d}): {t} vs {z}");
            }
            // Newton–CG from S = 0 reaches the same S (it stays in the row space of A).
            let slow = newton_with(&design, &Quadratic, 0.4, 1e-11, 100, false).expect("solves");
            assert!(!slow.interpolating_start && slow.converged);
            let gap = fast
                .weights
                .iter()
                .zip(&slow.weights)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max);
            assert!(gap < 1e-7 * norm(&slow.weights), "({n}, {d}): gap {gap}");
        }
        // Without full row rank (two equal samples) Newton starts from zero and still converges.
        let mut a = irregular(12, 20);
        a.copy_within(0..20, 5 * 20);
        let design = Design::new(&a, 12, 20);
        let out = newton_binary(&design, &Quadratic, 0.4, 1e-11, 100).expect("solves");
        assert!(!out.interpolating_start && out.converged);
    }

    /// Newton on shapes split into several parts (N·d ≥ 2¹⁸), once with N > d (Newton–CG with
    /// the Jacobi preconditioner: every product counts) and once with d > N (the interpolating
    /// start): the same bits on one thread and on two, and the products equal to a plain loop.
    #[test]
    fn newton_does_not_depend_on_the_thread_count() {
        for (n, d) in [(900, 300), (300, 900)] {
            assert!(crate::fused::part_ranges(n, d).len() >= 2);
            let a = irregular(n, d);
            let one = Design::new(&a, n, d).with_threads(1);
            let two = Design::new(&a, n, d).with_threads(2);
            let u: Vec<f64> = (0..n).map(|i| ((i * 37) % 11) as f64 - 5.0).collect();
            let plain: Vec<f64> = (0..d)
                .map(|j| (0..n).map(|i| a[i * d + j] * u[i]).sum::<f64>())
                .collect();
            let fast = two.mul_t(&u);
            let gap = fast
                .iter()
                .zip(&plain)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max);
            assert!(gap < 1e-9, "({n}, {d}): Aᵀu off by {gap}");
            assert_eq!(one.mul_t(&u), fast);
            let solve = |design: &Design<'_>| {
                newton_binary(design, &Quadratic, 0.3, 1e-12, 100).expect("solves")
            };
            let (s1, s2) = (solve(&one), solve(&two));
            assert!(s1.converged, "({n}, {d})");
            assert_eq!(s1.weights, s2.weights, "({n}, {d}): weights");
            assert_eq!(s1.iterations, s2.iterations, "({n}, {d}): iterations");
            assert_eq!(
                s1.gradient_norm, s2.gradient_norm,
                "({n}, {d}): certificate"
            );
        }
    }

    #[test]
    fn one_dimensional_minimiser_is_z_star() {
        // One sample a = 1: F(S) = ℓ(S), minimised at S = z*.
        let a = [1.0];
        let design = Design::new(&a, 1, 1);
        let out = newton_binary(&design, &Quadratic, 0.2, 1e-12, 50).expect("solves");
        let z = logit_reg_model::target::quadratic_target(0.2)
            .expect("z*")
            .z_star;
        assert!(
            (out.weights[0] - z).abs() < 1e-10,
            "{} vs {z}",
            out.weights[0]
        );
        assert!(out.converged && out.gradient_norm <= 1e-12);
        assert!(newton_binary(&design, &Quadratic, 0.0, 1e-12, 50).is_err());
    }
}
