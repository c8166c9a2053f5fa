//! Figure 17: Accuracy and direction against orthogonal noise.
//!
//! The preset (the sweeps at each scale) and the analysis (measurements against the closed
//! forms, the panels, the table and the verdict criteria) of this figure, side by side.

use super::analysis::*;
use super::presets::*;
use super::registry::Figure;
use crate::ExperimentError;

/// Figure 17.
pub(super) const FIGURE: Figure = Figure {
    id: 17,
    title: "Accuracy and direction against orthogonal noise",
    claim: "With α = 0.4 and λ < 1 the test accuracy does not depend on σ_n, while cos θ₁ \
     follows (1 + C²/σ_n²)^(−1/2); without regularisation accuracy falls with σ_n.",
    parts,
    analyse,
};

/// The σ_n grid of figure 17 (the paper gives none).
pub const FIG17_SIGMA_N: [f64; 8] = [0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0];

/// The sweeps of figure 17 at `scale`.
fn parts(scale: Scale) -> Result<Vec<Part>, ExperimentError> {
    let s = Size::of(scale);
    let (n, d07, seed_list) = s.standard();
    let t = s.steps(20_000, 3_000);
    Ok([
        sigma_n_parts(
            "gd-",
            &FIG17_SIGMA_N,
            &format!(
                "[base]\ndata = {{ d = {d07}, n = {n}, sigma_f = 0.5, sigma_n = {{sigma_n}}, noise_draws = \"per-sigma-n\" }}\n\
                 loss = {{ penalty = \"none\", alpha = 0.0 }}\n\
                 train = {{ steps = {t}, lr = {{lr}}, log_points = 10 }}\n\
                 [grid]\nseed = {seed_list}\n"
            ),
        )?,
        sigma_n_parts(
            "newton-",
            &FIG17_SIGMA_N,
            &format!(
                "[base]\ndata = {{ d = {d07}, n = {n}, sigma_f = 0.5, sigma_n = {{sigma_n}}, noise_draws = \"per-sigma-n\" }}\n\
                 loss = {{ penalty = \"quadratic\", alpha = 0.4 }}\n\
                 train = {{ optimizer = \"newton\", steps = 100, log_points = 2 }}\n\
                 [grid]\nseed = {seed_list}\n"
            ),
        )?,
    ]
    .concat())
}

fn analyse(parts: &Parts) -> Result<Analysis, ExperimentError> {
    let merged = PartData::merged(parts);
    let p = &merged;
    let lambda = p.base_num("data.d") / p.base_num("data.n");
    let sf = p.base_num("data.sigma_f");
    let sigma_ns = distinct(&p.records, "data.sigma_n");
    let th_acc = theory::predicted_accuracy(lambda, 1.0, sf).unwrap_or(f64::NAN);
    let reg = p.select(&[("loss.alpha", 0.4)]);
    let unreg = p.select(&[("loss.alpha", 0.0)]);
    let (x0, x1) = (
        sigma_ns.first().copied().unwrap_or(0.25),
        sigma_ns.last().copied().unwrap_or(4.0),
    );
    let th_cos: Vec<Point> = sigma_ns
        .iter()
        .map(|&s| {
            Point::new(
                s,
                theory::predicted_cosine(lambda, 1.0, sf, s).unwrap_or(f64::NAN),
            )
        })
        .collect();
    let acc_reg = curve(&reg, "data.sigma_n", "test_accuracy");
    let acc_unreg = curve(&unreg, "data.sigma_n", "test_accuracy");
    let cos_reg = curve(&reg, "data.sigma_n", "cos_e1");
    let cos_unreg = curve(&unreg, "data.sigma_n", "cos_e1");
    let mut a = Analysis::with_columns(2);
    a.panels.push(Panel {
        series: vec![
            Series::new("α = 0.4", Style::Measured, 0, acc_reg.clone()),
            Series::new("α = 0", Style::Measured, 1, acc_unreg.clone()),
            horizontal("theory A(λ), α > 0", th_acc, x0, x1, 0),
        ],
        ..Panel::new(
            format!("test accuracy (λ = {}, σ_f = {sf})", num(lambda)),
            "σ_n",
            "test accuracy",
        )
        .with_log_x()
    });
    a.panels.push(Panel {
        series: vec![
            Series::new("α = 0.4", Style::Measured, 0, cos_reg.clone()),
            Series::new("α = 0", Style::Measured, 1, cos_unreg.clone()),
            Series::new(
                "theory (1 + C²/σ_n²)^(−1/2)",
                Style::Theory,
                0,
                th_cos.clone(),
            ),
        ],
        ..Panel::new("direction cos θ₁ = cos(S, e₁)", "σ_n", "cos θ₁").with_log_x()
    });
    a.header = strings([
        "σ_n",
        "acc α=0.4",
        "theory A(λ)",
        "acc α=0",
        "cos θ₁ α=0.4",
        "theory cos θ₁",
        "cos θ₁ α=0",
    ]);
    for (i, &sn) in sigma_ns.iter().enumerate() {
        let g = |c: &[Point]| c.get(i).map(|p| pm(p.y, p.err)).unwrap_or_default();
        a.rows.push(vec![
            num(sn),
            g(&acc_reg),
            num(th_acc),
            g(&acc_unreg),
            g(&cos_reg),
            num(th_cos[i].y),
            g(&cos_unreg),
        ]);
    }
    let ys: Vec<f64> = acc_reg.iter().map(|p| p.y).collect();
    let (lo, hi) = span_of(&ys);
    let spread = hi - lo;
    a.checks.push(Check::new(
        "α = 0.4: accuracy varies by ≤ 0.03 over σ_n",
        num(spread),
        spread <= 0.03,
    ));
    let worst = cos_reg
        .iter()
        .zip(&th_cos)
        .map(|(m, t)| (m.y - t.y).abs())
        .fold(0.0, f64::max);
    a.checks.push(Check::new(
        "α = 0.4: cos θ₁ within 0.05 of Eq. 4 with the closed-form C², at every σ_n",
        format!("largest gap {}", num(worst)),
        worst <= 0.05,
    ));
    let drop = acc_unreg.first().map(|p| p.y).unwrap_or(f64::NAN)
        - acc_unreg.last().map(|p| p.y).unwrap_or(f64::NAN);
    a.checks.push(Check::new(
        "α = 0: accuracy falls by ≥ 0.02 from the smallest to the largest σ_n",
        num(drop),
        drop >= 0.02,
    ));
    a.notes.push("The paper does not give this figure's parameters; we use d/N = 0.7, μ_f = 1, σ_f = 0.5, σ_n ∈ [0.25, 4], α ∈ {0, 0.4}.".into());
    Ok(a)
}
