//! Figure 5: Grokking.
//!
//! The preset (the sweeps at each scale) and the analysis (measurements against the closed
//! forms, the panels, the table and the verdict criteria) of this figure, side by side.

use super::analysis::*;
use super::presets::*;
use super::registry::Figure;
use crate::ExperimentError;

/// Figure 5.
pub(super) const FIGURE: Figure = Figure {
    id: 5,
    title: "Grokking",
    claim: "For 1/2 < λ < 1, σ_f = 0 and small α, gradient descent first fits the training \
     set with test accuracy near chance and generalises much later; the delay grows \
     as α → 0.",
    parts,
    analyse,
};

/// The sweeps of figure 5 at `scale`.
fn parts(scale: Scale) -> Result<Vec<Part>, ExperimentError> {
    let s = Size::of(scale);
    let seed_list = s.seed_list();
    let (t, alphas) = if s.paper {
        (200_000, "[0.0, 0.001, 0.01, 0.1]")
    } else {
        (50_000, "[0.0, 0.001, 0.003, 0.01, 0.03, 0.1]")
    };
    let n5 = if s.paper { 2000 } else { 400 };
    let d5 = if s.paper { 1400 } else { 280 };
    Ok(vec![part(
        "main",
        format!(
            "[base]\ndata = {{ d = {d5}, n = {n5}, mu_f = 0.1, sigma_f = 0.0, sigma_n = 1.0 }}\n\
             loss = {{ penalty = \"quadratic\" }}\n\
             train = {{ steps = {t}, log_points = 160 }}\n\
             [grid]\nseed = {seed_list}\n\"loss.alpha\" = {alphas}\n"
        ),
    )?])
}

fn analyse(parts: &Parts) -> Result<Analysis, ExperimentError> {
    let p = part_data(parts, "main")?;
    let mut a = Analysis::with_columns(2);
    let mut test_panel = Panel::new("test accuracy", "step", "test accuracy").with_log_x();
    let mut train_panel = Panel::new("train accuracy", "step", "train accuracy").with_log_x();
    let mut loss_panel = Panel::new("test cross-entropy", "step", "test CE").with_log_x();
    a.header = strings([
        "α",
        "train acc ≥ 0.99 at step",
        "test acc ≥ 0.75 at step",
        "test acc ≥ 0.9 at step",
        "final test accuracy",
    ]);
    let mut fit_x = Vec::new();
    let mut fit_y = Vec::new();
    let mut delays = Vec::new();
    let mut overfit_first = None;
    let alphas = distinct(&p.records, "loss.alpha");
    for (i, &alpha) in alphas.iter().enumerate() {
        let runs = p.select(&[("loss.alpha", alpha)]);
        let metrics = run_metrics(p, &runs)?;
        test_panel.series.push(Series::new(
            format!("α = {alpha}"),
            Style::Line,
            i,
            log_trajectory(&metrics, "test_accuracy"),
        ));
        train_panel.series.push(Series::new(
            format!("α = {alpha}"),
            Style::Line,
            i,
            log_trajectory(&metrics, "train_accuracy"),
        ));
        loss_panel.series.push(Series::new(
            format!("α = {alpha}"),
            Style::Line,
            i,
            log_trajectory(&metrics, "test_ce"),
        ));
        let train_c = crossings(p, &runs, "train_accuracy", &[0.99])?;
        let test_c = crossings(p, &runs, "test_accuracy", &[0.75, 0.9])?;
        let (train_t, train_m) = crossing_text(&train_c[0]);
        let (t75, m75) = crossing_text(&test_c[0]);
        let (t90, m90) = crossing_text(&test_c[1]);
        let (fin, fin_sd) = stat(&runs, "test_accuracy");
        a.rows
            .push(vec![num(alpha), train_t, t75, t90, pm(fin, fin_sd)]);
        if alpha > 0.0 && m90.is_finite() {
            fit_x.push(alpha.ln());
            fit_y.push(m90.ln());
        }
        delays.push((alpha, m90));
        if alpha > 0.0 && overfit_first.is_none() && m75.is_finite() {
            overfit_first = Some((alpha, train_m, m75));
        }
    }
    let (a0, b, _, se_b, r2) = linear_fit(&fit_x, &fit_y);
    let mut delay_panel = Panel::new("delay: steps to test accuracy 0.9", "α", "steps")
        .with_log_x()
        .with_log_y();
    let pts: Vec<Point> = fit_x
        .iter()
        .zip(&fit_y)
        .map(|(x, y)| Point::new(x.exp(), y.exp()))
        .collect();
    if pts.len() >= 2 {
        let line: Vec<Point> = pts
            .iter()
            .map(|p| Point::new(p.x, (a0 + b * p.x.ln()).exp()))
            .collect();
        delay_panel.series.push(Series::new(
            format!("fit ∝ α^{}", num(b)),
            Style::Line,
            7,
            line,
        ));
    }
    delay_panel.series.push(Series::new(
        "measured (mean over seeds)",
        Style::Measured,
        0,
        pts,
    ));
    a.panels = vec![test_panel, train_panel, loss_panel, delay_panel];
    let (small_alpha, train_m, m75) = overfit_first.unwrap_or((f64::NAN, f64::NAN, f64::NAN));
    a.checks.push(Check::new(
        "overfit first (smallest α > 0 whose test accuracy reaches 0.75): train accuracy reaches 0.99 at least 3× earlier",
        format!("α = {small_alpha}: train at step {}, test at step {}", num(train_m), num(m75)),
        train_m.is_finite() && m75 >= 3.0 * train_m,
    ));
    let crossed: Vec<(f64, f64)> = delays
        .iter()
        .copied()
        .filter(|(al, d)| *al > 0.0 && d.is_finite())
        .collect();
    let monotone = crossed.windows(2).all(|w| w[1].1 <= w[0].1);
    a.checks.push(Check::new(
        "the delay grows as α shrinks (steps to test acc 0.9 decrease with α, over the α > 0 that cross)",
        crossed.iter().map(|(al, d)| format!("α={al}: {}", num(*d))).collect::<Vec<_>>().join("; "),
        crossed.len() >= 2 && monotone,
    ));
    let largest = delays.last().copied().unwrap_or((f64::NAN, f64::NAN));
    a.checks.push(Check::new(
        "the largest α generalises: test accuracy crosses 0.9 in every seed",
        format!("α = {}: {}", largest.0, num(largest.1)),
        largest.1.is_finite(),
    ));
    // A line through two points fits them exactly: it has neither an r² nor a standard error.
    let fit_quality = if fit_x.len() >= 3 {
        format!(
            "b = {} ± {} (r² = {}, {} points)",
            num(b),
            num(se_b),
            num(r2),
            fit_x.len()
        )
    } else {
        format!(
            "b = {} through {} points (no r² or error: a line through two points fits them exactly)",
            num(b),
            fit_x.len()
        )
    };
    a.notes.push(format!(
        "Fitted scaling of the delay (steps to test accuracy 0.9, mean over seeds) over the α > 0 that crossed: t ∝ α^b with {fit_quality}. The paper gives no formula for the delay."
    ));
    let init_std = p.base_num("train.init_std");
    a.notes.push(if init_std.is_nan() || init_std == 0.0 {
        "Every run starts from S = 0 (train.init_std = 0, the default).".to_string()
    } else {
        format!(
            "Every run starts from iid N(0, {}²) weights (train.init_std).",
            num(init_std)
        )
    });
    Ok(a)
}
