//! Figure 18: Weight decay does not shift the threshold (the baseline, on figure 16's grid).
//!
//! The preset (the sweeps at each scale) and the analysis (measurements against the closed
//! forms, the panels, the table and the verdict criteria) of this figure, side by side.

use super::analysis::*;
use super::fig16::{THRESHOLD_LEVEL, lambda_curve, threshold_grid, threshold_over_seeds};
use super::presets::*;
use super::registry::Figure;
use crate::ExperimentError;

/// Figure 18.
pub(super) const FIGURE: Figure = Figure {
    id: 18,
    title: "Weight decay does not shift the threshold",
    claim: "Weight decay (γ = 0.2, α = 0) neither moves the threshold to λ = 1 nor makes \
     the accuracy insensitive to σ_n.",
    parts,
    analyse,
};

/// The sweep of figure 18 at `scale`: the paper's 2,000 steps at both scales.
fn parts(scale: Scale) -> Result<Vec<Part>, ExperimentError> {
    let s = Size::of(scale);
    let n = s.n;
    let seed_list = s.seed_list();
    let t = 2_000;
    let grid = threshold_grid(n);
    Ok(vec![part(
        "main",
        format!(
            "[base]\ndata = {{ n = {n} }}\n\
             loss = {{ penalty = \"none\", alpha = 0.0, weight_decay = 0.2, data_term = \"mean\" }}\n\
             train = {{ steps = {t}, log_points = 10, group_by_draw = true }}\n\
             [grid]\n{grid}\"data.sigma_n\" = [1.0, 2.0]\nseed = {seed_list}\n"
        ),
    )?])
}

fn analyse(parts: &Parts) -> Result<Analysis, ExperimentError> {
    let p = part_data(parts, "main")?;
    let n = p.base_num("data.n");
    let mut a = Analysis::with_columns(2);
    let vlines = vec![
        (0.5, "λ = 1/2".to_string(), 1),
        (1.0, "λ = 1".to_string(), 0),
    ];
    let mut zero = Panel {
        vlines,
        legend: Legend::LowerLeft,
        ..Panel::new(
            "σ_f = 0: test accuracy (weight decay γ = 0.2)",
            "λ = d/N",
            "test accuracy",
        )
    };
    let mut noisy = Panel::new(
        "σ_f > 0: test accuracy against σ_n",
        "λ = d/N",
        "test accuracy",
    );
    a.header = strings([
        "σ_f",
        "σ_n",
        "λ where test acc < 0.999",
        "test acc at λ = 0.1",
        "test acc at λ = 0.7",
    ]);
    let mut thresholds = Vec::new();
    let mut sensitivity = Vec::new();
    for (i, sf) in [0.0, 0.5, 1.0].into_iter().enumerate() {
        let mut per_sn = Vec::new();
        for sn in [1.0, 2.0] {
            let runs = p.select(&[("data.sigma_f", sf), ("data.sigma_n", sn)]);
            let acc = lambda_curve(&runs, n, "test_accuracy");
            let style = if sn == 1.0 {
                Style::Measured
            } else {
                Style::MeasuredOpen
            };
            if sf == 0.0 {
                zero.series.push(Series::new(
                    format!("σ_n = {sn}"),
                    style,
                    i + usize::from(sn > 1.0),
                    acc.clone(),
                ));
            } else {
                noisy.series.push(Series::new(
                    format!("σ_f = {sf}, σ_n = {sn}"),
                    style,
                    i,
                    acc.clone(),
                ));
            }
            let (m, u, _) = threshold_over_seeds(&runs, n, "test_accuracy", THRESHOLD_LEVEL);
            let near = |l: f64| {
                acc.iter()
                    .min_by(|a, b| (a.x - l).abs().total_cmp(&(b.x - l).abs()))
                    .map(|p| p.y)
                    .unwrap_or(f64::NAN)
            };
            a.rows.push(vec![
                num(sf),
                num(sn),
                pm(m, u),
                num(near(0.1)),
                num(near(0.7)),
            ]);
            if sf == 0.0 {
                thresholds.push((sn, m));
            }
            per_sn.push(acc);
        }
        if sf > 0.0 {
            let diffs: Vec<f64> = per_sn[0]
                .iter()
                .zip(&per_sn[1])
                .filter(|(p, _)| p.x < 1.0)
                .map(|(p, q)| p.y - q.y)
                .collect();
            sensitivity.push((sf, mean_std(&diffs).0));
        }
    }
    a.panels = vec![zero, noisy];
    let (_, t1) = thresholds.first().copied().unwrap_or((1.0, f64::NAN));
    a.checks.push(Check::new(
        "no threshold shift: with σ_f = 0, σ_n = 1 the accuracy leaves 0.999 below λ = 0.9",
        num(t1),
        t1 < 0.9,
    ));
    let s05 = sensitivity.first().map(|s| s.1).unwrap_or(f64::NAN);
    a.checks.push(Check::new(
        "still σ_n-sensitive: at σ_f = 0.5, accuracy(σ_n = 1) − accuracy(σ_n = 2), mean over λ < 1, ≥ 0.02",
        num(s05),
        s05 >= 0.02,
    ));
    a.notes.push("Weight decay objective: mean cross-entropy + (γ/2)‖S‖², γ = 0.2 (the paper writes the data term as a sum; with a sum, γ is effectively N times weaker).".into());
    Ok(a)
}
