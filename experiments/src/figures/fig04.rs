//! Figure 4: Logit collapse without feature noise.
//!
//! The preset (the sweeps at each scale) and the analysis (measurements against the closed
//! forms, the panels, the table and the verdict criteria) of this figure, side by side.

use super::analysis::*;
use super::presets::*;
use super::registry::Figure;
use crate::ExperimentError;

/// Figure 4.
pub(super) const FIGURE: Figure = Figure {
    id: 4,
    title: "Logit collapse without feature noise",
    claim: "With σ_f = 0 and α = 0.2 every train logit collapses onto z*, the training loss \
     reaches its data-independent floor ℓ(z*), and test accuracy reaches 1.",
    parts,
    analyse,
};

/// α of figure 4's run.
const ALPHA: f64 = 0.2;

/// The sweeps of figure 4 at `scale`: figure 1's sweep with σ_f = 0.
fn parts(scale: Scale) -> Result<Vec<Part>, ExperimentError> {
    super::fig01::clustering_parts(scale, 0.0, 80, &[ALPHA])
}

fn analyse(parts: &Parts) -> Result<Analysis, ExperimentError> {
    let p = part_data(parts, "main")?;
    let runs = p.select(&[]);
    let target = quadratic_target(ALPHA).map_err(ExperimentError::model)?;
    let (z, floor) = (target.z_star, target.loss_floor);
    let metrics = run_metrics(p, &runs)?;
    let loss = trajectory(&metrics, "train_loss");
    let (x0, x1) = (
        loss.iter().map(|p| p.x).find(|x| *x > 0.0).unwrap_or(1.0),
        loss.last().map(|p| p.x).unwrap_or(1.0),
    );
    let hist = match runs.first() {
        Some(r) => p.histograms(r)?,
        None => Vec::new(),
    };
    let steps = runs.first().map(|r| r.num("steps")).unwrap_or(f64::NAN);
    let mut a = Analysis::with_columns(2);
    a.panels.push(Panel {
        series: vec![
            Series::new(
                "measured",
                Style::Measured,
                0,
                loss.into_iter().filter(|p| p.x > 0.0).collect(),
            ),
            horizontal(&format!("floor ℓ(z*) = {}", num(floor)), floor, x0, x1, 7),
        ],
        ..Panel::new("training loss", "step", "train loss")
            .with_log_x()
            .with_log_y()
    });
    a.panels.push(Panel {
        series: vec![
            Series::new(
                "train",
                Style::Measured,
                0,
                log_trajectory(&metrics, "train_accuracy"),
            ),
            Series::new(
                "test",
                Style::Measured,
                1,
                log_trajectory(&metrics, "test_accuracy"),
            ),
        ],
        ..Panel::new("accuracy", "step", "accuracy").with_log_x()
    });
    a.panels.push(Panel {
        series: vec![
            Series::new(
                "mean",
                Style::Measured,
                0,
                log_trajectory(&metrics, "train_logit_mean"),
            ),
            Series::new(
                "std",
                Style::Measured,
                2,
                log_trajectory(&metrics, "train_logit_std"),
            ),
            horizontal(&format!("z* = {}", num(z)), z, x0, x1, 7),
        ],
        ..Panel::new("train logits: mean and std", "step", "signed train logit").with_log_x()
    });
    a.panels.push(Panel {
        series: vec![
            histogram_series(&hist, steps, "train", "train", 0),
            histogram_series(&hist, steps, "test", "test", 1),
        ],
        vlines: vec![(z, format!("z* = {}", num(z)), 7)],
        ..Panel::new(
            format!("logits at step {steps} (seed 0)"),
            "signed logit y·z",
            "density",
        )
    });
    let (mean, mean_sd) = stat(&runs, "train_logit_mean");
    let (std, _) = stat(&runs, "train_logit_std");
    let (loss_end, _) = stat(&runs, "train_loss");
    let (test, test_sd) = stat(&runs, "test_accuracy");
    a.header = strings(["quantity", "measured (mean ± sd over seeds)", "theory"]);
    a.rows = vec![
        vec!["mean train logit".into(), pm(mean, mean_sd), num(z)],
        vec!["std of train logits".into(), num(std), "0".into()],
        vec!["train loss".into(), num(loss_end), num(floor)],
        vec!["test accuracy".into(), pm(test, test_sd), "1".into()],
    ];
    let rel = (mean - z).abs() / z;
    a.checks.push(Check::new(
        "mean train logit within 2% of z*",
        format!("{} vs {} ({:.2}% off)", num(mean), num(z), 100.0 * rel),
        rel <= 0.02,
    ));
    a.checks.push(Check::new(
        "train logit std below 5% of z*",
        format!("std/z* = {}", num(std / z)),
        std / z <= 0.05,
    ));
    a.checks.push(Check::new(
        "train loss within 1% of the floor ℓ(z*)",
        format!("{} vs floor {}", num(loss_end), num(floor)),
        (loss_end - floor).abs() <= 0.01 * floor,
    ));
    a.checks.push(Check::new(
        "test accuracy ≥ 0.99",
        pm(test, test_sd),
        test >= 0.99,
    ));
    Ok(a)
}
