//! The logistic part of the margin losses' derivatives, `σ(u) = 1/(1 + e^{−u})`, in plain f64
//! operations that vectorise.
//!
//! A step of the fused engine evaluates `ℓ′_m(t)` at every margin of every run (N·M values),
//! and with libm's scalar `exp` behind each one that was about a seventh of the step at N = 2000
//! (BENCHMARKS.md, "The loss derivatives vectorised"). Here `e^x` is a branch-free polynomial
//! with its scaling done on the exponent bits, so a loop over a slice of margins compiles to
//! vector instructions wherever it runs inside pulp's runtime dispatch, and a value is the same
//! whether it was computed in a vector lane or alone, on any x86-64 or other machine (no table,
//! no fused multiply-add, no libm).

/// `e^x` for `x ≤ 0`, to within about one unit in the last place (the tests measure it
/// against libm over the whole range).
///
/// ```text
/// k = round(x / ln 2),   r = x − k·ln2_hi − k·ln2_lo  (|r| ≤ ln2/2; k·ln2_hi is exact)
/// e^x = 2^k · (1 + (r + r²·Σ_{j=2}^{13} r^{j−2}/j!))    (truncation below 5e−18 relative)
/// ```
///
/// The sum is evaluated by Estrin's scheme (short dependency chains) and `2^k` is built from
/// its exponent bits. Below `x = −708` (where `e^x ≈ 3.3e−308` nears the smallest normal
/// number) the result is 0, not a subnormal; NaN gives NaN. Positive x is outside the contract
/// (the callers pass `−|u|`).
#[inline(always)]
pub(crate) fn exp_nonpositive(x: f64) -> f64 {
    /// Adding 1.5·2^52 rounds a number of size below 2^51 to an integer, held in the low bits.
    const SHIFT: f64 = 6_755_399_441_055_744.0;
    // fdlibm's split of ln 2: the high part ends in 21 zero bits, so k·LN2_HI is exact.
    const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);
    const MIN_ARG: f64 = -708.0;
    const C: [f64; 14] = [
        1.0,
        1.0,
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5_040.0,
        1.0 / 40_320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
        1.0 / 6_227_020_800.0,
    ];
    // A NaN fails the comparison and stays NaN all the way through.
    let clamped = if x < MIN_ARG { MIN_ARG } else { x };
    let shifted = clamped * std::f64::consts::LOG2_E + SHIFT;
    let k_bits = shifted.to_bits() as i64 - SHIFT.to_bits() as i64;
    let k = shifted - SHIFT;
    let r = (clamped - k * LN2_HI) - k * LN2_LO;
    let r2 = r * r;
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    // e^r = 1 + (r + r²·P(r)), P(r) = Σ_{j≥2} r^{j−2}/j!: the small part first, so that the
    // last addition to 1 rounds once.
    let pair = |j: usize| C[j] + C[j + 1] * r;
    let tail = ((pair(2) + pair(4) * r2) + (pair(6) + pair(8) * r2) * r4)
        + (pair(10) + pair(12) * r2) * r8;
    let poly = 1.0 + (r + r2 * tail);
    // k ∈ [−1022, 0] here, so 2^k is a normal number.
    let scale = f64::from_bits(((k_bits + 1023) as u64) << 52);
    let value = poly * scale;
    if x < MIN_ARG { 0.0 } else { value }
}

/// The logistic function `σ(u) = 1/(1 + e^{−u})` with [`exp_nonpositive`]: `e = e^{−|u|}`, then
/// `1/(1 + e)` for u ≥ 0 and `e/(1 + e)` below, chosen by a select (the sign of a margin is
/// hard to predict).
#[inline(always)]
pub(crate) fn logistic(u: f64) -> f64 {
    let e = exp_nonpositive(-u.abs());
    let top = if u >= 0.0 { 1.0 } else { e };
    top / (1.0 + e)
}

/// `out_i ← scale·((1 − α)·(−σ(−t_i)) + α·out_i)` for every i (with `penalty` false,
/// `out_i ← scale·(−σ(−t_i))` and `out` is only written): the margin loss's derivative from the
/// penalty's derivatives already in `out`, in one pass. Compiled into its caller, so that the
/// loop is vectorised wherever the caller runs inside pulp's dispatch
/// ([`super::PointwiseMarginLoss::derivatives`] dispatches for callers that do not).
///
/// # Shapes
/// - `t`, `out`: `[n]`
#[inline(always)]
pub(crate) fn combine_derivatives(
    t: &[f64],
    alpha: f64,
    penalty: bool,
    scale: f64,
    out: &mut [f64],
) {
    assert_eq!(t.len(), out.len(), "one derivative per margin");
    if penalty {
        let keep = 1.0 - alpha;
        for (o, &t) in out.iter_mut().zip(t) {
            let ce = -logistic(-t);
            *o = scale * (keep * ce + alpha * *o);
        }
    } else {
        for (o, &t) in out.iter_mut().zip(t) {
            *o = scale * -logistic(-t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic spread of arguments over `[lo, hi]`: an even grid plus points from a
    /// 64-bit LCG (Knuth's MMIX constants).
    fn arguments(lo: f64, hi: f64, count: usize) -> Vec<f64> {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut out: Vec<f64> = (0..=count)
            .map(|i| lo + (hi - lo) * i as f64 / count as f64)
            .collect();
        for _ in 0..count {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let unit = (state >> 11) as f64 / (1u64 << 53) as f64;
            out.push(lo + (hi - lo) * unit);
        }
        out
    }

    #[test]
    fn the_exponential_is_libms_to_a_unit_in_the_last_place() {
        // Relative error against libm's exp (itself correctly rounded but in rare cases) over
        // the whole contract, dense near 0 where the margins of the study live.
        let mut worst: f64 = 0.0;
        for (lo, hi) in [(-708.0, 0.0), (-40.0, 0.0), (-1.0, 0.0), (-1e-6, 0.0)] {
            for x in arguments(lo, hi, 200_000) {
                let want = x.exp();
                let got = exp_nonpositive(x);
                worst = worst.max(((got - want) / want).abs());
            }
        }
        // One unit in the last place of a number in [1, 2) is 2^−52 ≈ 2.2e−16 of it; the
        // measured largest error is 2.217e−16 (2026-12-02).
        assert!(
            worst <= 1.25 * f64::EPSILON,
            "largest relative error {worst:e}"
        );
    }

    #[test]
    fn the_exponential_is_exact_at_zero_and_flushes_below_its_range() {
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert_eq!(exp_nonpositive(-0.0), 1.0);
        // At the edge of the range: a normal number within rounding of libm's.
        let edge = exp_nonpositive(-708.0);
        assert!(edge.is_normal() && ((edge - (-708.0f64).exp()) / edge).abs() < 1e-15);
        // Below it: 0, where libm gives a subnormal (or 0).
        assert_eq!(exp_nonpositive(-708.5), 0.0);
        assert_eq!(exp_nonpositive(-1e300), 0.0);
        assert_eq!(exp_nonpositive(f64::NEG_INFINITY), 0.0);
        assert!(exp_nonpositive(f64::NAN).is_nan());
    }

    #[test]
    fn the_logistic_function_matches_its_definition_and_its_symmetry() {
        for u in arguments(-60.0, 60.0, 20_000) {
            let got = logistic(u);
            // σ(u) = 1/(1 + e^{−u}) with libm, a second formula (fine in this range).
            let want = 1.0 / (1.0 + (-u).exp());
            assert!(
                (got - want).abs() <= 4.0 * f64::EPSILON * want,
                "σ({u}) = {got}, want {want}"
            );
            // σ(u) + σ(−u) = 1.
            assert!((got + logistic(-u) - 1.0).abs() <= 4.0 * f64::EPSILON);
        }
        assert_eq!(logistic(0.0), 0.5);
        assert_eq!(logistic(1e6), 1.0);
        assert_eq!(logistic(-1e6), 0.0);
        assert!(logistic(f64::NAN).is_nan());
    }

    #[test]
    fn the_vectorised_pass_gives_the_scalar_values_bit_for_bit() {
        use super::super::PointwiseMarginLoss;
        use logit_reg_model::penalty::Quadratic;
        use std::sync::Arc;

        let mut t = arguments(-30.0, 30.0, 997);
        t.extend([0.0, -0.0, 1e5, -1e5, 800.0, -800.0, f64::NAN]);
        let (alpha, scale) = (0.3, 1.0 / 2000.0);
        // Run 1 with f(t) = t² (f′ = 2t), and the plain logistic loss, both through the
        // dispatched pass.
        let quadratic = PointwiseMarginLoss {
            alpha: vec![0.0, alpha],
            penalty: Some(Arc::new(Quadratic)),
        };
        let plain = PointwiseMarginLoss {
            alpha: vec![0.0],
            penalty: None,
        };
        let mut with_penalty = vec![f64::NAN; t.len()];
        quadratic.derivatives(1, &t, scale, &mut with_penalty);
        let mut without = vec![f64::NAN; t.len()];
        plain.derivatives(0, &t, scale, &mut without);
        for i in 0..t.len() {
            let ce = -logistic(-t[i]);
            let want = scale * ((1.0 - alpha) * ce + alpha * (2.0 * t[i]));
            assert_eq!(with_penalty[i].to_bits(), want.to_bits(), "t = {}", t[i]);
            assert_eq!(without[i].to_bits(), (scale * ce).to_bits(), "t = {}", t[i]);
            // And the one-margin form.
            let one = scale * quadratic.derivative(1, t[i]);
            assert_eq!(with_penalty[i].to_bits(), one.to_bits(), "t = {}", t[i]);
        }
    }
}
