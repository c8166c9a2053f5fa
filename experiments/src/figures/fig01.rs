//! Figure 1: Logit clustering.
//!
//! The preset (the sweeps at each scale) and the analysis (measurements against the closed
//! forms, the panels, the table and the verdict criteria) of this figure, side by side.

use super::analysis::*;
use super::presets::*;
use super::registry::Figure;
use crate::ExperimentError;

/// Figure 1.
pub(super) const FIGURE: Figure = Figure {
    id: 1,
    title: "Logit clustering",
    claim: "With α > 0 the train logits y·z cluster around the finite target z* while \
     with α = 0 they drift to +∞; test logits are looser than train logits.",
    parts,
    analyse,
};

/// α of the two runs of figure 1.
const ALPHAS: [f64; 2] = [0.0, 0.2];

/// The sweeps of figure 1 at `scale`.
fn parts(scale: Scale) -> Result<Vec<Part>, ExperimentError> {
    clustering_parts(scale, 0.5, 60, &ALPHAS)
}

/// The sweep of the clustering figures (1, and 4 without feature noise): d/N = 0.7, σ_n = 1,
/// the quadratic penalty at each α, histograms at 1 %, 10 % and 100 % of the steps.
pub(super) fn clustering_parts(
    scale: Scale,
    sigma_f: f64,
    log_points: usize,
    alphas: &[f64],
) -> Result<Vec<Part>, ExperimentError> {
    let s = Size::of(scale);
    let (n, d07, seed_list) = s.standard();
    let t = s.steps(20_000, 5_000);
    Ok(vec![part(
        "main",
        format!(
            "[base]\ndata = {{ d = {d07}, n = {n}, sigma_f = {sigma_f:?}, sigma_n = 1.0 }}\n\
             loss = {{ penalty = \"quadratic\" }}\n\
             train = {{ steps = {t}, log_points = {log_points}, histogram_steps = [{}, {}, {t}] }}\n\
             [grid]\nseed = {seed_list}\n\"loss.alpha\" = {}\n",
            t / 100,
            t / 10,
            list(alphas)
        ),
    )?])
}

fn analyse(parts: &Parts) -> Result<Analysis, ExperimentError> {
    let p = part_data(parts, "main")?;
    let mut a = Analysis::with_columns(3);
    let steps = p
        .records
        .first()
        .map(|r| r.num("steps"))
        .unwrap_or(f64::NAN);
    let hist_steps = [steps / 100.0, steps / 10.0, steps].map(f64::round);
    let z = z_star_quadratic(ALPHAS[1]);
    for alpha in ALPHAS {
        let seed0 = p.select(&[("loss.alpha", alpha), ("seed", 0.0)]);
        let rows = match seed0.first() {
            Some(r) => p.histograms(r)?,
            None => Vec::new(),
        };
        for step in hist_steps {
            let mut panel = Panel {
                series: vec![
                    histogram_series(&rows, step, "train", "train", 0),
                    histogram_series(&rows, step, "test", "test", 1),
                ],
                ..Panel::new(
                    format!("α = {alpha}, step {step}"),
                    "signed logit y·z",
                    "density",
                )
            };
            if alpha > 0.0 {
                panel.vlines.push((z, format!("z* = {}", num(z)), 7));
            }
            a.panels.push(panel);
        }
    }
    a.header = strings([
        "α",
        "z*",
        "train mean (step T/10)",
        "train mean (final)",
        "train std",
        "test mean",
        "test std",
    ]);
    let mut summary = BTreeMap::new();
    for alpha in ALPHAS {
        let runs = p.select(&[("loss.alpha", alpha)]);
        let mut middle = Vec::new();
        for r in &runs {
            middle.push(at_step(&p.metrics(r)?, steps / 10.0, "train_logit_mean"));
        }
        let (mid, mid_sd, _) = mean_std(&middle);
        let (fin, fin_sd) = stat(&runs, "train_logit_mean");
        let (tr_sd, _) = stat(&runs, "train_logit_std");
        let (te, te_sd) = stat(&runs, "test_logit_mean");
        let (te_std, _) = stat(&runs, "test_logit_std");
        a.rows.push(vec![
            num(alpha),
            if alpha > 0.0 { num(z) } else { "–".into() },
            pm(mid, mid_sd),
            pm(fin, fin_sd),
            num(tr_sd),
            pm(te, te_sd),
            num(te_std),
        ]);
        summary.insert((alpha * 10.0) as i32, (mid, fin, tr_sd, te_std));
    }
    let (_, fin2, tr2, te2) =
        summary
            .get(&2)
            .copied()
            .unwrap_or((f64::NAN, f64::NAN, f64::NAN, f64::NAN));
    let (mid0, fin0, _, _) =
        summary
            .get(&0)
            .copied()
            .unwrap_or((f64::NAN, f64::NAN, f64::NAN, f64::NAN));
    let gap = (fin2 - z).abs() / z;
    a.checks.push(Check::new(
        "α = 0.2: mean train logit within 25% of z*",
        format!(
            "mean {} vs z* {} ({:.1}% off)",
            num(fin2),
            num(z),
            100.0 * gap
        ),
        gap <= 0.25,
    ));
    a.checks.push(Check::new(
        "α = 0.2: test logits looser than train logits (std)",
        format!("test std {} vs train std {}", num(te2), num(tr2)),
        te2 > tr2,
    ));
    a.checks.push(Check::new(
        "α = 0: mean train logit still growing (final ≥ 1.1 × value at T/10)",
        format!(
            "{} at T/10 → {} final (×{:.2})",
            num(mid0),
            num(fin0),
            fin0 / mid0
        ),
        fin0 >= 1.1 * mid0,
    ));
    Ok(a)
}
