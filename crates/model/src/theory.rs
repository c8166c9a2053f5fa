//! Closed-form theory for the signal-plus-noise model (paper.md §3), to draw over measurements.
//!
//! Notation: `λ = d/N`, signal `μ_f`, feature noise `σ_f`, orthogonal noise `σ_n`, Gaussian
//! noise. `ρ = cos θ₁ = S₁/‖S‖` is the cosine between the weights and `e₁`.
//!
//! - **Eq. 5** ([`accuracy_from_cosine`]): the test accuracy of a direction with cosine ρ,
//!   `A = Φ( ρ μ_f / √(ρ² σ_f² + (1 − ρ²) σ_n²) )`.
//! - **Eq. 4** ([`cosine_from_c2`]): for α > 0 and λ < 1 the minimiser's cosine obeys
//!   `cos θ₁ = (1 + C²/σ_n²)^{−1/2}`, a straight line of `1/cos²θ₁` against `1/σ_n²` with slope
//!   C².
//! - **The λ < 1 closed forms** (derived for this project from the Fisher result):
//!   `C² = σ_f² λ (μ_f² + σ_f²) / ((1 − λ) μ_f²)` ([`predicted_c2`]) and
//!   `A(λ) = Φ( μ_f² √(1 − λ) / (σ_f √(μ_f² + λ σ_f²)) )` ([`predicted_accuracy`]); the two are
//!   consistent through Eq. 4 and 5, since `A = Φ(μ_f / √(σ_f² + C²))`.
//! - **Thresholds** ([`critical_aspect_ratio`]): with σ_f = 0 the regularised minimiser
//!   generalises perfectly iff λ < 1, the unregularised (max-margin) one iff λ < 1/2.
//! - **Quadratic identity** ([`quadratic_mean_logit`]): `μ* = z*/(1 + r²)` for the mean logit,
//!   with r the logits' coefficient of variation.

use logit_reg_data::stats::normal_cdf;

use crate::ModelError;
use crate::error::check_f64;

/// Paper Eq. 5: the Gaussian test accuracy of a classifier whose cosine with `e₁` is `rho`.
/// A zero denominator (ρ = 1 and σ_f = 0) gives accuracy 1 for ρ μ_f > 0.
pub fn accuracy_from_cosine(rho: f64, mu_f: f64, sigma_f: f64, sigma_n: f64) -> f64 {
    let perp = (1.0 - rho * rho).max(0.0).sqrt();
    logit_reg_data::stats::signal_noise_accuracy(rho, perp, mu_f, sigma_f, sigma_n)
}

/// Paper Eq. 4: `cos θ₁ = (1 + C²/σ_n²)^{−1/2}`.
pub fn cosine_from_c2(c2: f64, sigma_n: f64) -> f64 {
    (1.0 + c2 / (sigma_n * sigma_n)).powf(-0.5)
}

fn check_lambda_below_one(lambda: f64) -> Result<(), ModelError> {
    check_f64(
        "lambda",
        lambda,
        "(0, 1): the closed forms hold for λ < 1",
        |l| l > 0.0 && l < 1.0,
    )
}

/// The slope `C² = σ_f² λ (μ_f² + σ_f²) / ((1 − λ) μ_f²)` of `1/cos²θ₁` against `1/σ_n²`, for the
/// regularised minimiser at λ < 1.
pub fn predicted_c2(lambda: f64, mu_f: f64, sigma_f: f64) -> Result<f64, ModelError> {
    check_lambda_below_one(lambda)?;
    check_f64("mu_f", mu_f, "> 0", |v| v > 0.0)?;
    check_f64("sigma_f", sigma_f, ">= 0", |v| v >= 0.0)?;
    Ok(
        sigma_f * sigma_f * lambda * (mu_f * mu_f + sigma_f * sigma_f)
            / ((1.0 - lambda) * mu_f * mu_f),
    )
}

/// The regularised minimiser's test accuracy at λ < 1,
/// `A(λ) = Φ( μ_f² √(1 − λ) / (σ_f √(μ_f² + λ σ_f²)) )` (1 when σ_f = 0). It does not depend on
/// σ_n (claim 5).
pub fn predicted_accuracy(lambda: f64, mu_f: f64, sigma_f: f64) -> Result<f64, ModelError> {
    check_lambda_below_one(lambda)?;
    check_f64("mu_f", mu_f, "> 0", |v| v > 0.0)?;
    check_f64("sigma_f", sigma_f, ">= 0", |v| v >= 0.0)?;
    if sigma_f == 0.0 {
        return Ok(1.0);
    }
    Ok(normal_cdf(
        mu_f * mu_f * (1.0 - lambda).sqrt()
            / (sigma_f * (mu_f * mu_f + lambda * sigma_f * sigma_f).sqrt()),
    ))
}

/// The predicted cosine of the regularised minimiser with `e₁` at λ < 1 (Eq. 4 with
/// [`predicted_c2`]).
pub fn predicted_cosine(
    lambda: f64,
    mu_f: f64,
    sigma_f: f64,
    sigma_n: f64,
) -> Result<f64, ModelError> {
    check_f64("sigma_n", sigma_n, "> 0", |v| v > 0.0)?;
    Ok(cosine_from_c2(
        predicted_c2(lambda, mu_f, sigma_f)?,
        sigma_n,
    ))
}

/// The critical aspect ratio λ_c below which the σ_f = 0 model is learned perfectly:
/// 1 with logit regularisation (α > 0), 1/2 without (max-margin). The critical sample count is
/// `N_c = d/λ_c`: d against 2d.
pub fn critical_aspect_ratio(regularised: bool) -> f64 {
    if regularised { 1.0 } else { 0.5 }
}

/// The quadratic-loss identity for the mean signed logit, `μ* = z*/(1 + r²)`, where
/// `r = σ/μ` is the logits' coefficient of variation.
pub fn quadratic_mean_logit(z_star: f64, r: f64) -> f64 {
    z_star / (1.0 + r * r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eq5_at_hand_computed_points() {
        // ρ = 1: Φ(μ_f/σ_f) = Φ(2) = 0.9772498680518208.
        assert!((accuracy_from_cosine(1.0, 1.0, 0.5, 1.0) - 0.977_249_868_051_820_8).abs() < 1e-15);
        // ρ = 0.6, μ_f = 1, σ_f = 0.5, σ_n = 1: Φ(0.6/√(0.09 + 0.64)) = Φ(0.702246…).
        let want = normal_cdf(0.6 / 0.73_f64.sqrt());
        assert!((accuracy_from_cosine(0.6, 1.0, 0.5, 1.0) - want).abs() < 1e-15);
        assert!((want - 0.758_75).abs() < 1e-4); // Φ(0.7022) from tables
        // ρ = 0: chance; ρ = 1, σ_f = 0: perfect.
        assert_eq!(accuracy_from_cosine(0.0, 1.0, 0.5, 1.0), 0.5);
        assert_eq!(accuracy_from_cosine(1.0, 1.0, 0.0, 1.0), 1.0);
    }

    #[test]
    fn closed_forms_at_hand_computed_points() {
        // λ = 0.7, μ_f = 1, σ_f = 0.5: C² = 0.25·0.7·1.25/0.3 = 0.7291666…
        let c2 = predicted_c2(0.7, 1.0, 0.5).expect("valid");
        assert!((c2 - 0.25 * 0.7 * 1.25 / 0.3).abs() < 1e-15);
        assert!((c2 - 0.729_166_666_666_666_6).abs() < 1e-15);
        // A(0.7) = Φ(√0.3/(0.5·√1.175)) = Φ(1.010519…) ≈ 0.8439.
        let a = predicted_accuracy(0.7, 1.0, 0.5).expect("valid");
        assert!((a - normal_cdf(0.3_f64.sqrt() / (0.5 * 1.175_f64.sqrt()))).abs() < 1e-15);
        assert!((a - 0.8439).abs() < 1e-4);
        // Eq. 4 at σ_n = 1: cos θ₁ = 1/√(1 + C²).
        let cos = predicted_cosine(0.7, 1.0, 0.5, 1.0).expect("valid");
        assert!((cos - 1.0 / (1.0 + c2).sqrt()).abs() < 1e-15);
        assert_eq!(predicted_accuracy(0.5, 1.0, 0.0).expect("valid"), 1.0);
        assert_eq!(predicted_c2(0.5, 1.0, 0.0).expect("valid"), 0.0);
    }

    #[test]
    fn accuracy_formula_is_eq5_at_the_predicted_cosine_for_every_sigma_n() {
        // A(λ) must equal Eq. 5 at ρ = cos θ₁(C², σ_n), whatever σ_n (claim 5's invariance).
        for (lambda, mu_f, sigma_f) in [
            (0.1, 1.0, 0.5),
            (0.7, 1.0, 0.5),
            (0.4, 2.0, 1.3),
            (0.95, 0.5, 0.2),
        ] {
            let a = predicted_accuracy(lambda, mu_f, sigma_f).expect("valid");
            for sigma_n in [0.1, 1.0, 6.0] {
                let rho = predicted_cosine(lambda, mu_f, sigma_f, sigma_n).expect("valid");
                let eq5 = accuracy_from_cosine(rho, mu_f, sigma_f, sigma_n);
                assert!(
                    (a - eq5).abs() < 1e-12,
                    "λ={lambda} σ_n={sigma_n}: {a} vs {eq5}"
                );
            }
        }
    }

    #[test]
    fn thresholds_and_identities() {
        assert_eq!(critical_aspect_ratio(true), 1.0);
        assert_eq!(critical_aspect_ratio(false), 0.5);
        assert_eq!(quadratic_mean_logit(2.0, 1.0), 1.0);
        assert!(predicted_accuracy(1.0, 1.0, 0.5).is_err());
        assert!(predicted_c2(0.0, 1.0, 0.5).is_err());
        assert!(predicted_c2(0.5, 0.0, 0.5).is_err());
        assert!(predicted_cosine(0.5, 1.0, 0.5, 0.0).is_err());
    }
}
