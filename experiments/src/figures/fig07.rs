//! Figure 7: Multi-class logit clustering.
//!
//! The preset (the sweeps at each scale) and the analysis (measurements against the closed
//! forms, the panels, the table and the verdict criteria) of this figure, side by side.

use super::analysis::*;
use super::presets::*;
use super::registry::Figure;
use crate::ExperimentError;

/// Figure 7.
pub(super) const FIGURE: Figure = Figure {
    id: 7,
    title: "Multi-class logit clustering",
    claim: "With K = 10 classes and α > 0 the train logit vectors cluster around the simplex \
     targets z*; with α = 0 they spread out and grow.",
    parts,
    analyse,
};

/// The sweeps of figure 7 at `scale`.
fn parts(scale: Scale) -> Result<Vec<Part>, ExperimentError> {
    let s = Size::of(scale);
    let seed_list = s.seed_list();
    let t = s.steps(20_000, 5_000);
    let (n7, d7) = if s.paper { (2000, 1400) } else { (400, 280) };
    Ok(vec![part(
        "main",
        format!(
            "[base]\ndata = {{ model = \"multiclass\", k = 10, d = {d7}, n = {n7}, sigma_f = 0.1, sigma_n = 1.0 }}\n\
             loss = {{ penalty = \"quadratic\" }}\n\
             train = {{ steps = {t}, log_points = 40, save_logits = true }}\n\
             [grid]\nseed = {seed_list}\n\"loss.alpha\" = [0.0, 0.2]\n"
        ),
    )?])
}

fn analyse(parts: &Parts) -> Result<Analysis, ExperimentError> {
    let p = part_data(parts, "main")?;
    let mut a = Analysis::with_columns(3);
    let mut gap_panel =
        Panel::new("mean train logit gap z_y − mean z_{c≠y}", "step", "gap").with_log_x();
    a.header = strings([
        "α",
        "target gap Δ",
        "train gap",
        "train gap std",
        "test gap",
        "RMS distance to targets",
        "test accuracy",
    ]);
    let mut results = BTreeMap::new();
    for (i, alpha) in [0.0, 0.2].into_iter().enumerate() {
        let runs = p.select(&[("loss.alpha", alpha)]);
        let delta = stat(&runs, "z_star").0;
        if let Some(r) = p.select(&[("loss.alpha", alpha), ("seed", 0.0)]).first() {
            let logits = p.logits(r)?;
            let mut by_sample: BTreeMap<usize, (usize, [f64; 3])> = BTreeMap::new();
            for row in logits.iter().filter(|l| l.text("split") == "train") {
                let class = row.num("class") as usize;
                if class < 3 {
                    let entry = by_sample
                        .entry(row.num("sample") as usize)
                        .or_insert((row.num("label") as usize, [0.0; 3]));
                    entry.1[class] = row.num("logit");
                }
            }
            let mut series: Vec<Series> = (0..3)
                .map(|c| Series::new(format!("class {}", c + 1), Style::Scatter, c, Vec::new()))
                .collect();
            for (label, z) in by_sample.values() {
                if *label < 3 {
                    series[*label]
                        .points
                        .push(Point::new(z[0] - z[1], z[0] - z[2]));
                }
            }
            if delta.is_finite() {
                series.push(Series::new(
                    "targets z*",
                    Style::MeasuredOpen,
                    7,
                    vec![
                        Point::new(delta, delta),
                        Point::new(-delta, 0.0),
                        Point::new(0.0, -delta),
                    ],
                ));
            }
            a.panels.push(Panel {
                series,
                legend: Legend::LowerLeft,
                ..Panel::new(
                    format!("α = {alpha}: train logits of classes 1–3 (seed 0)"),
                    "z₁ − z₂ (along W₁ − W₂)",
                    "z₁ − z₃ (along W₁ − W₃)",
                )
            });
        }
        let metrics = run_metrics(p, &runs)?;
        let traj: Vec<Point> = trajectory(&metrics, "train_logit_mean")
            .into_iter()
            .filter(|p| p.x > 0.0)
            .collect();
        gap_panel.series.push(Series::new(
            format!("α = {alpha}"),
            Style::Line,
            i,
            traj.clone(),
        ));
        if delta.is_finite() {
            let (x0, x1) = (
                traj.first().map(|p| p.x).unwrap_or(1.0),
                traj.last().map(|p| p.x).unwrap_or(1.0),
            );
            gap_panel
                .series
                .push(horizontal(&format!("Δ = {}", num(delta)), delta, x0, x1, i));
        }
        let steps = runs.first().map(|r| r.num("steps")).unwrap_or(f64::NAN);
        let middle = mean_std(
            &metrics
                .iter()
                .map(|m| at_step(m, steps / 10.0, "train_logit_mean"))
                .collect::<Vec<_>>(),
        )
        .0;
        let (gap, gap_sd) = stat(&runs, "train_logit_mean");
        let (gstd, _) = stat(&runs, "train_logit_std");
        let (tg, _) = stat(&runs, "test_logit_mean");
        let (dist, _) = stat(&runs, "train_target_distance");
        let (acc, acc_sd) = stat(&runs, "test_accuracy");
        a.rows.push(vec![
            num(alpha),
            num(delta),
            pm(gap, gap_sd),
            num(gstd),
            num(tg),
            num(dist),
            pm(acc, acc_sd),
        ]);
        results.insert(i, (delta, gap, dist, middle));
    }
    a.panels.push(gap_panel);
    let (delta, gap, dist, _) =
        results
            .get(&1)
            .copied()
            .unwrap_or((f64::NAN, f64::NAN, f64::NAN, f64::NAN));
    let rel = ((gap - delta) / delta).abs();
    a.checks.push(Check::new(
        "α = 0.2: mean train gap within 10% of the target gap Δ",
        format!("{} vs {} ({:.1}% off)", num(gap), num(delta), 100.0 * rel),
        rel <= 0.1,
    ));
    a.checks.push(Check::new(
        "α = 0.2: RMS distance of train logit vectors to their simplex targets ≤ 0.5 Δ",
        format!("{} vs Δ = {}", num(dist), num(delta)),
        dist <= 0.5 * delta,
    ));
    let (_, gap0, _, mid0) =
        results
            .get(&0)
            .copied()
            .unwrap_or((f64::NAN, f64::NAN, f64::NAN, f64::NAN));
    a.checks.push(Check::new(
        "α = 0: the train gap keeps growing (final ≥ 1.1 × value at T/10)",
        format!("{} → {}", num(mid0), num(gap0)),
        gap0 >= 1.1 * mid0,
    ));
    a.notes.push("The class means form a regular simplex of radius μ_f in a (K−1)-dimensional signal subspace (the paper does not say how its means are built). The projection on W₁ − W₂ and W₁ − W₃ of a sample is its logit difference z₁ − z₂, z₁ − z₃ (bias included).".into());
    Ok(a)
}
