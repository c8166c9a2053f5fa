//! Figure 8: Multi-class grokking.
//!
//! The preset (the sweeps at each scale) and the analysis (measurements against the closed
//! forms, the panels, the table and the verdict criteria) of this figure, side by side.

use super::analysis::*;
use super::presets::*;
use super::registry::Figure;
use crate::ExperimentError;

/// Figure 8.
pub(super) const FIGURE: Figure = Figure {
    id: 8,
    title: "Multi-class grokking",
    claim: "With K = 10, σ_f = 0 and α = 0.04, the train set is fitted long before the test \
     accuracy rises; the regularised model eventually generalises.",
    parts,
    analyse,
};

/// The sweeps of figure 8 at `scale`.
fn parts(scale: Scale) -> Result<Vec<Part>, ExperimentError> {
    let s = Size::of(scale);
    let seed_list = s.seed_list();
    let t = s.steps(20_000, 10_000);
    let (n8, d8) = if s.paper { (2000, 1400) } else { (400, 280) };
    Ok(vec![part(
        "main",
        format!(
            "[base]\ndata = {{ model = \"multiclass\", k = 10, d = {d8}, n = {n8}, sigma_f = 0.0, sigma_n = 1.0 }}\n\
             loss = {{ penalty = \"quadratic\" }}\n\
             train = {{ steps = {t}, log_points = 120 }}\n\
             [grid]\nseed = {seed_list}\n\"loss.alpha\" = [0.0, 0.04]\n"
        ),
    )?])
}

fn analyse(parts: &Parts) -> Result<Analysis, ExperimentError> {
    let p = part_data(parts, "main")?;
    let mut a = Analysis::with_columns(2);
    let mut acc_panel =
        Panel::new("accuracy (solid: test, open: train)", "step", "accuracy").with_log_x();
    let mut loss_panel = Panel::new(
        "cross-entropy (solid: test, open: train)",
        "step",
        "cross-entropy",
    )
    .with_log_x()
    .with_log_y();
    a.header = strings([
        "α",
        "train acc ≥ 0.99 at step",
        "test acc ≥ 0.9 at step",
        "final test accuracy",
    ]);
    let mut stats = BTreeMap::new();
    for (i, alpha) in [0.0, 0.04].into_iter().enumerate() {
        let runs = p.select(&[("loss.alpha", alpha)]);
        let metrics = run_metrics(p, &runs)?;
        acc_panel.series.push(Series::new(
            format!("test, α = {alpha}"),
            Style::Line,
            i,
            log_trajectory(&metrics, "test_accuracy"),
        ));
        acc_panel.series.push(Series::new(
            format!("train, α = {alpha}"),
            Style::MeasuredOpen,
            i,
            log_trajectory(&metrics, "train_accuracy"),
        ));
        loss_panel.series.push(Series::new(
            format!("test, α = {alpha}"),
            Style::Line,
            i,
            log_trajectory(&metrics, "test_ce"),
        ));
        loss_panel.series.push(Series::new(
            format!("train, α = {alpha}"),
            Style::MeasuredOpen,
            i,
            log_trajectory(&metrics, "train_ce"),
        ));
        let tc = crossings(p, &runs, "train_accuracy", &[0.99])?;
        let sc = crossings(p, &runs, "test_accuracy", &[0.9])?;
        let (tt, tm) = crossing_text(&tc[0]);
        let (st, sm) = crossing_text(&sc[0]);
        let (fin, fin_sd) = stat(&runs, "test_accuracy");
        a.rows.push(vec![num(alpha), tt, st, pm(fin, fin_sd)]);
        stats.insert(i, (tm, sm, fin));
    }
    a.panels = vec![acc_panel, loss_panel];
    let (tm, sm, fin) = stats
        .get(&1)
        .copied()
        .unwrap_or((f64::NAN, f64::NAN, f64::NAN));
    let (_, _, fin0) = stats
        .get(&0)
        .copied()
        .unwrap_or((f64::NAN, f64::NAN, f64::NAN));
    a.checks.push(Check::new(
        "α = 0.04 generalises: test accuracy crosses 0.9 in every seed",
        num(sm),
        sm.is_finite(),
    ));
    a.checks.push(Check::new(
        "delayed: test accuracy 0.9 at least 3× later than train accuracy 0.99",
        format!("{} vs {}", num(sm), num(tm)),
        sm >= 3.0 * tm,
    ));
    a.checks.push(Check::new(
        "regularisation helps: final test accuracy α = 0.04 > α = 0",
        format!("{} vs {}", num(fin), num(fin0)),
        fin > fin0,
    ));
    Ok(a)
}
