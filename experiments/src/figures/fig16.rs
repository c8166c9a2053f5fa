//! Figure 16: The threshold shift, and the λ grid and threshold estimates that figure 18 (the
//! weight-decay baseline) shares.
//!
//! The preset (the sweeps at each scale) and the analysis (measurements against the closed
//! forms, the panels, the table and the verdict criteria) of this figure, side by side.

use super::analysis::*;
use super::presets::*;
use super::registry::Figure;
use crate::ExperimentError;

/// Figure 16.
pub(super) const FIGURE: Figure = Figure {
    id: 16,
    title: "The threshold shift",
    claim: "With σ_f = 0, α > 0 generalises perfectly up to λ = d/N = 1, plain \
     cross-entropy (α = 0) only up to λ = 1/2; label smoothing behaves like the \
     quadratic penalty.",
    parts,
    analyse,
};

/// λ values of the threshold figures (16, 18): dense around 1/2 and 1.
pub const THRESHOLD_LAMBDAS: [f64; 17] = [
    0.1, 0.2, 0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.2, 1.5,
];

/// The grid lines of the threshold figures: d over [`THRESHOLD_LAMBDAS`] for N = `n`, and
/// σ_f ∈ {0, 0.5, 1}.
pub(super) fn threshold_grid(n: usize) -> String {
    let ds: Vec<String> = THRESHOLD_LAMBDAS
        .iter()
        .map(|l| ((l * n as f64).round() as usize).to_string())
        .collect();
    format!(
        "\"data.d\" = [{}]\n\"data.sigma_f\" = [0.0, 0.5, 1.0]\n",
        ds.join(", ")
    )
}

/// The sweeps of figure 16 at `scale`.
fn parts(scale: Scale) -> Result<Vec<Part>, ExperimentError> {
    let s = Size::of(scale);
    let n = s.n;
    let seed_list = s.seed_list();
    let t = if s.paper { 20_000 } else { 5_000 };
    let grid = threshold_grid(n);
    Ok(vec![
        part(
            "gd",
            format!(
                "[base]\ndata = {{ n = {n} }}\nloss = {{ penalty = \"none\", alpha = 0.0 }}\n\
                 train = {{ steps = {t}, log_points = 10 }}\n\
                 [grid]\n{grid}\"data.sigma_n\" = [1.0, 2.0]\nseed = {seed_list}\n"
            ),
        )?,
        part(
            "quadratic",
            format!(
                "[base]\ndata = {{ n = {n} }}\nloss = {{ penalty = \"quadratic\", alpha = 0.4 }}\n\
                 train = {{ optimizer = \"newton\", steps = 100, log_points = 2 }}\n\
                 [grid]\n{grid}\"data.sigma_n\" = [1.0, 2.0]\nseed = {seed_list}\n"
            ),
        )?,
        part(
            "label-smoothing",
            format!(
                "[base]\ndata = {{ n = {n}, sigma_n = 1.0 }}\n\
                 loss = {{ penalty = \"label-smoothing\", alpha = 0.4 }}\n\
                 train = {{ optimizer = \"newton\", steps = 100, log_points = 2 }}\n\
                 [grid]\n{grid}seed = {seed_list}\n"
            ),
        )?,
    ])
}

/// The threshold λ at which the test accuracy (pairs (λ, acc), λ ascending) first falls below
/// `level`: the midpoint between that λ and the one before, and half their spacing. `(∞, NaN)`
/// when it never does, `(λ₀, NaN)` when it already fails at the first λ.
pub fn threshold(points: &[(f64, f64)], level: f64) -> (f64, f64) {
    for (i, &(lambda, acc)) in points.iter().enumerate() {
        if acc < level {
            if i == 0 {
                return (lambda, f64::NAN);
            }
            let previous = points[i - 1].0;
            return ((previous + lambda) / 2.0, (lambda - previous) / 2.0);
        }
    }
    (f64::INFINITY, f64::NAN)
}

/// Per seed, the threshold of the runs in `runs` (one per λ); mean ± combined uncertainty.
pub(super) fn threshold_over_seeds(runs: &[&Record], n: f64, level: f64) -> (f64, f64, Vec<f64>) {
    let seeds: Vec<f64> = {
        let owned: Vec<Record> = runs.iter().map(|r| (*r).clone()).collect();
        distinct(&owned, "seed")
    };
    let mut estimates = Vec::new();
    let mut half_widths = Vec::new();
    for seed in seeds {
        let mut pts: Vec<(f64, f64)> = runs
            .iter()
            .filter(|r| r.is("seed", seed))
            .map(|r| (r.num("data.d") / n, r.num("test_accuracy")))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (t, h) = threshold(&pts, level);
        estimates.push(t);
        half_widths.push(h);
    }
    let (m, s, _) = mean_std(&estimates);
    let h = half_widths
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    // Uncertainty: the seed spread and the grid's half spacing, added in quadrature.
    let s = if s.is_finite() { s } else { 0.0 };
    (m, (s * s + h * h).sqrt(), estimates)
}

pub(super) fn lambda_curve(runs: &[&Record], n: f64, key: &str) -> Vec<Point> {
    let mut pts = curve(runs, "data.d", key);
    for p in &mut pts {
        p.x /= n;
    }
    pts
}

/// "Accuracy leaves 1": more than 10 errors in 10,000 test samples.
pub(super) const THRESHOLD_LEVEL: f64 = 0.999;
/// A looser level, reported beside it to show how much the estimate depends on the level.
pub(super) const LOOSE_LEVEL: f64 = 0.99;

fn analyse(parts: &Parts) -> Result<Analysis, ExperimentError> {
    // α = 0 (GD) and α = 0.4 (Newton) of the quadratic penalty, as one table.
    let quadratic_parts: Parts = parts
        .iter()
        .filter(|(name, _)| name.as_str() == "gd" || name.as_str() == "quadratic")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if quadratic_parts.len() != 2 {
        return Err(ExperimentError::Io {
            path: "gd, quadratic".into(),
            message: "a part of the figure is missing".into(),
        });
    }
    let quad_merged = PartData::merged(&quadratic_parts);
    let quad = &quad_merged;
    let ls = part_data(parts, "label-smoothing")?;
    let n = quad.base_num("data.n");
    let mut a = Analysis::with_columns(2);
    let lambdas: Vec<f64> = distinct(&quad.records, "data.d")
        .iter()
        .map(|d| d / n)
        .collect();
    let theory_lambdas: Vec<f64> = lambdas.iter().copied().filter(|l| *l < 1.0).collect();
    let vlines = vec![
        (
            theory::critical_aspect_ratio(false),
            "λ_c = 1/2 (α = 0)".to_string(),
            1,
        ),
        (
            theory::critical_aspect_ratio(true),
            "λ_c = 1 (α > 0)".to_string(),
            0,
        ),
    ];
    a.header = strings([
        "penalty",
        "α",
        "σ_n",
        "λ where test acc < 0.999",
        "per seed",
        "λ where test acc < 0.99",
        "theory λ_c",
    ]);
    let mut estimates = BTreeMap::new();
    for sn in [1.0, 2.0] {
        let mut panel = Panel {
            vlines: vlines.clone(),
            legend: Legend::LowerLeft,
            ..Panel::new(
                format!("σ_f = 0, σ_n = {sn}: test accuracy"),
                "λ = d/N",
                "test accuracy",
            )
        };
        for (alpha, color) in [(0.0, 1), (0.4, 0)] {
            let runs = quad.select(&[
                ("data.sigma_f", 0.0),
                ("data.sigma_n", sn),
                ("loss.alpha", alpha),
            ]);
            panel.series.push(Series::new(
                format!("quadratic, α = {alpha}"),
                Style::Measured,
                color,
                lambda_curve(&runs, n, "test_accuracy"),
            ));
            let (m, u, per) = threshold_over_seeds(&runs, n, THRESHOLD_LEVEL);
            let (lm, lu, _) = threshold_over_seeds(&runs, n, LOOSE_LEVEL);
            a.rows.push(vec![
                "quadratic".into(),
                num(alpha),
                num(sn),
                pm(m, u),
                per.iter().map(|v| num(*v)).collect::<Vec<_>>().join(", "),
                pm(lm, lu),
                num(theory::critical_aspect_ratio(alpha > 0.0)),
            ]);
            estimates.insert(format!("q{alpha}-{sn}"), (m, u));
        }
        if sn == 1.0 {
            let runs = ls.select(&[("data.sigma_f", 0.0)]);
            panel.series.push(Series::new(
                "label smoothing, α = 0.4 (ε = 0.2)",
                Style::MeasuredOpen,
                2,
                lambda_curve(&runs, n, "test_accuracy"),
            ));
            let (m, u, per) = threshold_over_seeds(&runs, n, THRESHOLD_LEVEL);
            let (lm, lu, _) = threshold_over_seeds(&runs, n, LOOSE_LEVEL);
            a.rows.push(vec![
                "label smoothing".into(),
                "0.4".into(),
                num(sn),
                pm(m, u),
                per.iter().map(|v| num(*v)).collect::<Vec<_>>().join(", "),
                pm(lm, lu),
                "1".into(),
            ]);
            estimates.insert("ls".into(), (m, u));
        }
        a.panels.push(panel);
    }
    let mut acc_panel = Panel::new(
        "σ_n = 1: test accuracy with feature noise",
        "λ = d/N",
        "test accuracy",
    );
    let mut cos_panel = Panel::new("σ_n = 1: cos(S, e₁)", "λ = d/N", "cos(S, e₁)");
    let mut gaps = Vec::new();
    for (i, sf) in [0.5, 1.0].into_iter().enumerate() {
        for alpha in [0.0, 0.4] {
            let runs = quad.select(&[
                ("data.sigma_f", sf),
                ("data.sigma_n", 1.0),
                ("loss.alpha", alpha),
            ]);
            let style = if alpha > 0.0 {
                Style::Measured
            } else {
                Style::MeasuredOpen
            };
            let acc = lambda_curve(&runs, n, "test_accuracy");
            acc_panel.series.push(Series::new(
                format!("σ_f = {sf}, α = {alpha}"),
                style,
                2 * i + usize::from(alpha > 0.0),
                acc.clone(),
            ));
            cos_panel.series.push(Series::new(
                format!("σ_f = {sf}, α = {alpha}"),
                style,
                2 * i + usize::from(alpha > 0.0),
                lambda_curve(&runs, n, "cos_e1"),
            ));
            if alpha > 0.0 {
                for p in acc.iter().filter(|p| p.x <= 0.8) {
                    let th = theory::predicted_accuracy(p.x, 1.0, sf).unwrap_or(f64::NAN);
                    gaps.push((sf, p.x, p.y - th));
                }
            }
        }
        let th_acc: Vec<Point> = theory_lambdas
            .iter()
            .map(|&l| {
                Point::new(
                    l,
                    theory::predicted_accuracy(l, 1.0, sf).unwrap_or(f64::NAN),
                )
            })
            .collect();
        let th_cos: Vec<Point> = theory_lambdas
            .iter()
            .map(|&l| {
                Point::new(
                    l,
                    theory::predicted_cosine(l, 1.0, sf, 1.0).unwrap_or(f64::NAN),
                )
            })
            .collect();
        acc_panel.series.push(Series::new(
            format!("theory A(λ), σ_f = {sf}"),
            Style::Theory,
            2 * i + 1,
            th_acc,
        ));
        cos_panel.series.push(Series::new(
            format!("theory cos θ₁, σ_f = {sf}"),
            Style::Theory,
            2 * i + 1,
            th_cos,
        ));
    }
    a.panels.push(acc_panel);
    a.panels.push(cos_panel);
    let get = |k: &str| estimates.get(k).copied().unwrap_or((f64::NAN, f64::NAN));
    for sn in [1.0, 2.0] {
        let (m, u) = get(&format!("q0.4-{sn}"));
        a.checks.push(Check::new(
            format!("regularised (α = 0.4, σ_n = {sn}): threshold within 0.1 of λ = 1"),
            pm(m, u),
            (m - 1.0).abs() <= 0.1,
        ));
        let (m, u) = get(&format!("q0-{sn}"));
        a.checks.push(Check::new(
            format!("unregularised (α = 0, σ_n = {sn}): threshold within 0.1 of λ = 1/2"),
            pm(m, u),
            (m - 0.5).abs() <= 0.1,
        ));
    }
    let (lm, lu) = get("ls");
    let (qm, _) = get("q0.4-1");
    a.checks.push(Check::new(
        "label smoothing (ε = 0.2) has the quadratic penalty's threshold, within 0.1",
        format!("{} vs {}", pm(lm, lu), num(qm)),
        (lm - qm).abs() <= 0.1,
    ));
    let worst = gaps.iter().map(|g| g.2.abs()).fold(0.0, f64::max);
    a.checks.push(Check::new(
        "with feature noise, the regularised accuracy follows A(λ) within 0.03 for λ ≤ 0.8",
        format!("largest |measured − A| = {}", num(worst)),
        worst <= 0.03,
    ));
    a.notes.push(format!(
        "Threshold: per seed, the midpoint between the last λ with test accuracy ≥ {THRESHOLD_LEVEL} and the first below it (accuracy 'leaves 1': more than 10 errors in 10,000 test samples); reported as mean ± (seed sd ⊕ half the grid spacing). The theory's λ_c is where S stops being ∝ e₁; with σ_f = 0 a small S_⊥ costs little accuracy when σ_n is small, so the accuracy-based estimate lags λ_c, more at σ_n = 1 than at σ_n = 2 and more at the looser level {LOOSE_LEVEL}."
    ));
    Ok(a)
}
