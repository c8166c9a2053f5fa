//! The per-sample target `z*` (the unique minimiser of the per-sample loss for α > 0) and the
//! loss floor `ℓ(z*)`, a data-independent lower bound on the training loss.

use crate::ModelError;
use crate::error::check_f64;
use crate::penalty::{LabelSmoothing, LogitPenalty, MultiClassPenalty, log_sum_exp};

/// `log(1 + e^u)`, stable for all u.
pub fn softplus(u: f64) -> f64 {
    u.max(0.0) + (-u.abs()).exp().ln_1p()
}

/// The logistic function `σ(u) = 1/(1 + e^{−u})`, stable for all u.
pub fn sigmoid(u: f64) -> f64 {
    // e^{−|u|} ≤ 1 either way; σ(u) = 1/(1 + e^{−u}) for u ≥ 0 and e^{u}/(1 + e^{u}) below,
    // chosen by a select rather than a branch (the sign of a margin is hard to predict).
    let e = (-u.abs()).exp();
    let top = if u >= 0.0 { 1.0 } else { e };
    top / (1.0 + e)
}

/// The binary per-sample loss `ℓ(t) = (1 − α) log(1 + e^{−t}) + α f(t)` as a scalar.
pub fn per_sample_loss(penalty: &dyn LogitPenalty, alpha: f64, t: f64) -> f64 {
    (1.0 - alpha) * softplus(-t) + alpha * penalty.value(t)
}

/// `ℓ′(t) = −(1 − α) σ(−t) + α f′(t)`.
pub fn per_sample_loss_derivative(penalty: &dyn LogitPenalty, alpha: f64, t: f64) -> f64 {
    -(1.0 - alpha) * sigmoid(-t) + alpha * penalty.derivative(t)
}

/// `ℓ″(t) = (1 − α) σ(t) σ(−t) + α f″(t)`.
pub fn per_sample_loss_second_derivative(penalty: &dyn LogitPenalty, alpha: f64, t: f64) -> f64 {
    (1.0 - alpha) * sigmoid(t) * sigmoid(-t) + alpha * penalty.second_derivative(t)
}

/// A per-sample target and its loss floor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// The minimiser z* of the per-sample loss (for multi-class: the gap Δ between the true
    /// class's logit and the others').
    pub z_star: f64,
    /// The loss floor `ℓ(z*)`.
    pub loss_floor: f64,
    /// The derivative of the per-sample loss at z*, the solver's certificate (0 for closed forms
    /// up to rounding).
    pub residual: f64,
    /// Newton/bisection iterations used (0 for a closed form).
    pub iterations: usize,
}

fn check_alpha_open(alpha: f64) -> Result<(), ModelError> {
    check_f64(
        "loss.alpha",
        alpha,
        "(0, 1) for a finite per-sample target z*",
        |a| a > 0.0 && a < 1.0,
    )
}

/// Finds the root of an increasing function `g` on `[lo, ∞)` with `g(lo) < 0`: the bracket's
/// upper end doubles until `g > 0`, then a Newton iteration safeguarded by bisection narrows it
/// to machine precision. `g` returns `(g(x), g′(x))`.
fn bracketed_newton(
    what: &'static str,
    lo: f64,
    g: impl Fn(f64) -> (f64, f64),
) -> Result<(f64, usize), ModelError> {
    let (mut lo, mut hi) = (lo, lo + 1.0);
    let mut doublings = 0;
    while g(hi).0 <= 0.0 {
        if g(hi).0 == 0.0 {
            return Ok((hi, 0));
        }
        lo = hi;
        hi = 2.0 * hi + 1.0;
        doublings += 1;
        if doublings > 1100 || !hi.is_finite() {
            return Err(ModelError::Solver {
                what,
                reason: format!("no sign change of the derivative up to {hi}"),
            });
        }
    }
    bracketed_newton_in(what, lo, hi, &g)
}

/// The binary target z* of any convex even penalty, by bracketed Newton on `ℓ′(t) = 0`
/// over `t ≥ 0` (`ℓ′(0) = −(1 − α)/2 < 0` since `f′(0) = 0`).
///
/// Errors when α ∉ (0, 1), or when `ℓ′` never turns positive (a penalty that does not grow).
pub fn binary_target(penalty: &dyn LogitPenalty, alpha: f64) -> Result<Target, ModelError> {
    check_alpha_open(alpha)?;
    let g = |t: f64| {
        (
            per_sample_loss_derivative(penalty, alpha, t),
            per_sample_loss_second_derivative(penalty, alpha, t),
        )
    };
    let (z, iterations) = bracketed_newton("z_star", 0.0, g)?;
    Ok(Target {
        z_star: z,
        loss_floor: per_sample_loss(penalty, alpha, z),
        residual: per_sample_loss_derivative(penalty, alpha, z),
        iterations,
    })
}

/// Binary label smoothing's closed form: with `ε = α/2`, `z* = log((1 − ε)/ε) = log((2 − α)/α)`,
/// and the floor is the binary entropy `−(1−ε) log(1−ε) − ε log ε`.
pub fn label_smoothing_target(alpha: f64) -> Result<Target, ModelError> {
    check_alpha_open(alpha)?;
    let eps = 0.5 * alpha;
    let z = ((1.0 - eps) / eps).ln();
    Ok(Target {
        z_star: z,
        loss_floor: -(1.0 - eps) * (1.0 - eps).ln() - eps * eps.ln(),
        residual: per_sample_loss_derivative(&LabelSmoothing, alpha, z),
        iterations: 0,
    })
}

/// The solution `z*` of the quadratic penalty's equation `(1 − α)/(1 + e^{z*}) = 2α z*`.
pub fn quadratic_target(alpha: f64) -> Result<Target, ModelError> {
    binary_target(&crate::penalty::Quadratic, alpha)
}

/// The logit vector `Δ (e_y − 1/K)` of a K-class target with gap Δ, for the true class `y = 0`.
pub fn simplex_logits(gap: f64, k: usize) -> Vec<f64> {
    (0..k)
        .map(|c| gap * (f64::from(u8::from(c == 0)) - 1.0 / k as f64))
        .collect()
}

/// The K-class per-sample loss `(1 − α)(−log softmax(z)_y) + α f(z)` as a scalar.
pub fn multiclass_per_sample_loss(
    penalty: &dyn MultiClassPenalty,
    alpha: f64,
    z: &[f64],
    label: usize,
) -> f64 {
    (1.0 - alpha) * (log_sum_exp(z) - z[label]) + alpha * penalty.value(z)
}

/// Finds the root of an increasing function `g` on the whole line, starting from `x0`: the
/// bracket grows outwards (doubling steps) until `g` changes sign, then safeguarded Newton.
fn root_increasing(
    what: &'static str,
    x0: f64,
    g: impl Fn(f64) -> (f64, f64),
) -> Result<f64, ModelError> {
    let g0 = g(x0).0;
    if g0 == 0.0 {
        return Ok(x0);
    }
    let direction = if g0 < 0.0 { 1.0 } else { -1.0 };
    let mut step = 1.0;
    let mut far = x0 + direction * step;
    let mut near = x0;
    let mut expansions = 0;
    while g(far).0 * direction < 0.0 {
        near = far;
        step *= 2.0;
        far = x0 + direction * step;
        expansions += 1;
        if expansions > 1100 || !far.is_finite() {
            return Err(ModelError::Solver {
                what,
                reason: format!("no sign change up to {far}"),
            });
        }
    }
    let (lo, hi) = if direction > 0.0 {
        (near, far)
    } else {
        (far, near)
    };
    let (root, _) = bracketed_newton_in(what, lo, hi, &g)?;
    Ok(root)
}

/// Safeguarded Newton on a bracket `[lo, hi]` with `g(lo) ≤ 0 ≤ g(hi)`.
fn bracketed_newton_in(
    what: &'static str,
    mut lo: f64,
    mut hi: f64,
    g: &impl Fn(f64) -> (f64, f64),
) -> Result<(f64, usize), ModelError> {
    let mut x = 0.5 * (lo + hi);
    for iteration in 1..=500 {
        let (gx, dgx) = g(x);
        if gx == 0.0 {
            return Ok((x, iteration));
        }
        if gx < 0.0 {
            lo = x;
        } else {
            hi = x;
        }
        let newton = x - gx / dgx;
        let next = if dgx > 0.0 && newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
        if (next - x).abs() <= 2.0 * f64::EPSILON * x.abs().max(1.0) || hi - lo <= f64::EPSILON {
            return Ok((next, iteration));
        }
        x = next;
    }
    Err(ModelError::Solver {
        what,
        reason: format!("no convergence in 500 steps, bracket [{lo}, {hi}]"),
    })
}

/// The K-class target. By the permutation symmetry of CE and f over the non-target classes the
/// minimiser has the form
///
/// `z* = Δ u + s 1`, `u = e_y − 1/K`,
///
/// with the gap Δ > 0 and a common shift s. CE depends on Δ only, so s minimises `f(Δu + s1)`
/// (s = 0 for `‖z‖²`, and for shift-invariant penalties such as label smoothing, whose minimiser
/// is unique only up to s; the zero-mean representative is returned). Δ solves
/// `(1 − α)·d/dΔ log(1 + (K − 1)e^{−Δ}) + α ∇f(z)·u = 0` at `s = s*(Δ)`, by bracketed Newton
/// with the exact derivative `g_ΔΔ − g_Δs²/g_ss` of the reduced problem.
/// Returns the target (`z_star` = Δ) and the logit vector for the true class 0.
pub fn multiclass_target(
    penalty: &dyn MultiClassPenalty,
    alpha: f64,
    k: usize,
) -> Result<(Target, Vec<f64>), ModelError> {
    check_alpha_open(alpha)?;
    if k < 2 {
        return Err(ModelError::OutOfRange {
            field: "k",
            value: k.to_string(),
            allowed: ">= 2",
        });
    }
    let km1 = k as f64 - 1.0;
    let u = simplex_logits(1.0, k);
    let ones = vec![1.0; k];
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let logits = |gap: f64, shift: f64| -> Vec<f64> { u.iter().map(|v| gap * v + shift).collect() };
    let shift_of = |gap: f64| -> Result<f64, ModelError> {
        let h = |s: f64| {
            let z = logits(gap, s);
            (
                dot(&penalty.gradient(&z), &ones),
                dot(&penalty.hessian_vector(&z, &ones), &ones),
            )
        };
        let (g0, c0) = h(0.0);
        if g0.abs() <= 1e-15 * (1.0 + c0.abs()) {
            return Ok(0.0);
        }
        root_increasing("multiclass shift", 0.0, h)
    };
    let reduced = |gap: f64| -> Result<(f64, f64, f64), ModelError> {
        let s = shift_of(gap)?;
        let z = logits(gap, s);
        let e = gap.exp();
        let ce1 = -km1 / (e + km1);
        let ce2 = if e.is_finite() {
            km1 * e / ((e + km1) * (e + km1))
        } else {
            0.0
        };
        let hu = penalty.hessian_vector(&z, &u);
        let h1 = penalty.hessian_vector(&z, &ones);
        let g_dd = (1.0 - alpha) * ce2 + alpha * dot(&hu, &u);
        let g_ds = alpha * dot(&hu, &ones);
        let g_ss = alpha * dot(&h1, &ones);
        let curvature = if g_ss > 1e-300 {
            g_dd - g_ds * g_ds / g_ss
        } else {
            g_dd
        };
        Ok((
            (1.0 - alpha) * ce1 + alpha * dot(&penalty.gradient(&z), &u),
            curvature,
            s,
        ))
    };
    // The closures cannot return errors through the solver, so a failed inner solve is carried
    // out as NaN and reported after.
    let inner_error = std::cell::RefCell::new(None);
    let g = |gap: f64| match reduced(gap) {
        Ok((g, dg, _)) => (g, dg),
        Err(e) => {
            inner_error.borrow_mut().get_or_insert(e);
            (f64::NAN, f64::NAN)
        }
    };
    let solved = bracketed_newton("multiclass z_star", 0.0, g);
    if let Some(e) = inner_error.into_inner() {
        return Err(e);
    }
    let (gap, iterations) = solved?;
    let (residual, _, shift) = reduced(gap)?;
    let z = logits(gap, shift);
    let target = Target {
        z_star: gap,
        loss_floor: multiclass_per_sample_loss(penalty, alpha, &z, 0),
        residual,
        iterations,
    };
    Ok((target, z))
}

/// K-class label smoothing's closed form: with targets `(1 − ε) onehot + ε/K` and α = ε, the
/// optimal softmax equals the targets, so the gap is `Δ = log(1 + K(1 − ε)/ε)` and the floor is
/// the targets' entropy.
pub fn multiclass_label_smoothing_target(alpha: f64, k: usize) -> Result<Target, ModelError> {
    check_alpha_open(alpha)?;
    let kf = k as f64;
    let (p_true, p_other) = (1.0 - alpha + alpha / kf, alpha / kf);
    let gap = (p_true / p_other).ln();
    let floor = -p_true * p_true.ln() - (kf - 1.0) * p_other * p_other.ln();
    let z = simplex_logits(gap, k);
    let penalty = crate::penalty::SoftmaxLabelSmoothing;
    let grad = penalty.gradient(&z);
    let u = simplex_logits(1.0, k);
    let km1 = kf - 1.0;
    let residual = (1.0 - alpha) * (-km1 / (gap.exp() + km1))
        + alpha * grad.iter().zip(&u).map(|(a, b)| a * b).sum::<f64>();
    Ok(Target {
        z_star: gap,
        loss_floor: floor,
        residual,
        iterations: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::sigmoid;

    #[test]
    fn sigmoid_is_bit_for_bit_the_two_branch_form_and_stays_finite() {
        // The stable form written with a branch: 1/(1 + e^{−u}) for u ≥ 0, e^u/(1 + e^u) below.
        let branch = |u: f64| {
            if u >= 0.0 {
                1.0 / (1.0 + (-u).exp())
            } else {
                let e = u.exp();
                e / (1.0 + e)
            }
        };
        for k in -4000..=4000 {
            let u = k as f64 * 0.37;
            assert_eq!(sigmoid(u).to_bits(), branch(u).to_bits(), "u = {u}");
        }
        for u in [
            0.0,
            -0.0,
            1e-300,
            -1e-300,
            745.0,
            -745.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            assert_eq!(sigmoid(u).to_bits(), branch(u).to_bits(), "u = {u}");
        }
        assert_eq!(sigmoid(-800.0), 0.0);
        assert_eq!(sigmoid(800.0), 1.0);
        assert!(sigmoid(f64::NAN).is_nan());
    }
}
