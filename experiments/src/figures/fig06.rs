//! Figure 6: When regularisation helps (λ = 0.7), and the phase diagram it shares with
//! figure 15 (λ = 0.4).
//!
//! The preset (the sweeps at each scale) and the analysis (measurements against the closed
//! forms, the panels, the table and the verdict criteria), side by side. Figure 15 is the same
//! study at another λ: it calls [`phase_parts`] and [`analyse_phase`].

use super::analysis::*;
use super::presets::*;
use super::registry::Figure;
use crate::ExperimentError;

/// The claim of both phase diagrams.
pub(super) const PHASE_CLAIM: &str = "At fixed λ, α = 0.4 beats α = 0 at large σ_n and small σ_f and loses in the \
     opposite corner; the regularised accuracy does not depend on σ_n; the boundary \
     σ_n*(σ_f) separates the two regions.";

/// Figure 6.
pub(super) const FIGURE: Figure = Figure {
    id: 6,
    title: "When regularisation helps (λ = 0.7)",
    claim: PHASE_CLAIM,
    parts,
    analyse: analyse_phase,
};

/// The paper's σ_n grid of the phase diagrams (figs 6, 15), log-spaced over [0.1, 6].
pub const PHASE_SIGMA_N: [f64; 10] = [0.1, 0.2, 0.4, 0.7, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0];
/// The σ_f grid of the phase diagrams, over [0, 0.95].
pub const PHASE_SIGMA_F: [f64; 6] = [0.0, 0.2, 0.4, 0.6, 0.8, 0.95];

/// The sweeps of figure 6 at `scale`.
fn parts(scale: Scale) -> Result<Vec<Part>, ExperimentError> {
    phase_parts(scale, 1400)
}

/// The sweeps of a phase diagram with the paper's `paper_d` (N = 2000) at `scale`: α = 0 by
/// GD and α = 0.4 by Newton, one part per σ_n, σ_f and seeds gridded.
pub(super) fn phase_parts(scale: Scale, paper_d: usize) -> Result<Vec<Part>, ExperimentError> {
    let s = Size::of(scale);
    let n = s.n;
    let d = s.d(paper_d);
    let t = s.steps(20_000, 3_000);
    Ok([
        sigma_n_parts(
            "gd-",
            &PHASE_SIGMA_N,
            &format!(
                "[base]\ndata = {{ d = {d}, n = {n}, sigma_n = {{sigma_n}}, noise_draws = \"per-sigma-n\" }}\n\
                 loss = {{ penalty = \"none\", alpha = 0.0 }}\n\
                 train = {{ steps = {t}, lr = {{lr}}, log_points = 10 }}\n\
                 [grid]\n\"data.sigma_f\" = {}\nseed = {}\n",
                list(&PHASE_SIGMA_F),
                seeds(2)
            ),
        )?,
        sigma_n_parts(
            "newton-",
            &PHASE_SIGMA_N,
            &format!(
                "[base]\ndata = {{ d = {d}, n = {n}, sigma_n = {{sigma_n}}, noise_draws = \"per-sigma-n\" }}\n\
                 loss = {{ penalty = \"quadratic\", alpha = 0.4 }}\n\
                 train = {{ optimizer = \"newton\", steps = 100, log_points = 2 }}\n\
                 [grid]\n\"data.sigma_f\" = {}\nseed = {}\n",
                list(&PHASE_SIGMA_F),
                seeds(2)
            ),
        )?,
    ]
    .concat())
}

/// The σ_n at which `delta` (pairs (σ_n, Δacc), σ_n ascending) turns from ≤ 0 to > 0 for the
/// last time, interpolated in log σ_n. `-∞`/`+∞` when Δ > 0 everywhere / nowhere.
pub fn helps_boundary(delta: &[(f64, f64)]) -> f64 {
    if delta.iter().all(|(_, d)| *d > 0.0) {
        return f64::NEG_INFINITY;
    }
    if delta.iter().all(|(_, d)| *d <= 0.0) {
        return f64::INFINITY;
    }
    let mut boundary = f64::NAN;
    for w in delta.windows(2) {
        let ((s0, d0), (s1, d1)) = (w[0], w[1]);
        if d0 <= 0.0 && d1 > 0.0 {
            let t = -d0 / (d1 - d0);
            boundary = (s0.ln() + t * (s1.ln() - s0.ln())).exp();
        }
    }
    boundary
}

pub(super) fn analyse_phase(parts: &Parts) -> Result<Analysis, ExperimentError> {
    let merged = PartData::merged(parts);
    let p = &merged;
    let lambda = p.base_num("data.d") / p.base_num("data.n");
    let sigma_fs = distinct(&p.records, "data.sigma_f");
    let sigma_ns = distinct(&p.records, "data.sigma_n");
    let seeds = distinct(&p.records, "seed");
    let (x0, x1) = (
        sigma_ns.first().copied().unwrap_or(0.1),
        sigma_ns.last().copied().unwrap_or(6.0),
    );
    let mut a = Analysis::with_columns(3);
    let mut acc_panel = Panel::new(
        format!("test accuracy (λ = {})", num(lambda)),
        "σ_n",
        "test accuracy",
    )
    .with_log_x();
    let mut delta_panel =
        Panel::new("gain of α = 0.4 over α = 0", "σ_n", "Δ test accuracy").with_log_x();
    let mut boundary_points = Vec::new();
    a.header = strings([
        "σ_f",
        "σ_n* (helps above)",
        "acc α=0.4 over σ_n (min–max)",
        "theory A(λ)",
        "Δ at smallest σ_n",
        "Δ at largest σ_n",
    ]);
    let (mut invariant_ok, mut theory_ok) = (true, true);
    let mut theory_gaps = Vec::new();
    for (i, &sf) in sigma_fs.iter().enumerate() {
        let reg = p.select(&[("data.sigma_f", sf), ("loss.alpha", 0.4)]);
        let unreg = p.select(&[("data.sigma_f", sf), ("loss.alpha", 0.0)]);
        let acc_reg = curve(&reg, "data.sigma_n", "test_accuracy");
        let acc_unreg = curve(&unreg, "data.sigma_n", "test_accuracy");
        let th = theory::predicted_accuracy(lambda, 1.0, sf).unwrap_or(f64::NAN);
        if [0.2, 0.6].iter().any(|v| (v - sf).abs() < 1e-9) || sigma_fs.len() <= 2 {
            acc_panel.series.push(Series::new(
                format!("σ_f = {sf}, α = 0.4"),
                Style::Measured,
                i,
                acc_reg.clone(),
            ));
            acc_panel.series.push(Series::new(
                format!("σ_f = {sf}, α = 0"),
                Style::MeasuredOpen,
                i,
                acc_unreg.clone(),
            ));
            acc_panel.series.push(horizontal(
                &format!("theory A(λ), σ_f = {sf}"),
                th,
                x0,
                x1,
                i,
            ));
        }
        let delta: Vec<Point> = acc_reg
            .iter()
            .zip(&acc_unreg)
            .map(|(r, u)| Point::new(r.x, r.y - u.y))
            .collect();
        delta_panel.series.push(Series::new(
            format!("σ_f = {sf}"),
            Style::Measured,
            i,
            delta.clone(),
        ));
        // The boundary per seed, then mean ± sd over the seeds where it is inside the grid.
        let mut per_seed = Vec::new();
        for &seed in &seeds {
            let d: Vec<(f64, f64)> = sigma_ns
                .iter()
                .map(|&sn| {
                    let r = p.select(&[
                        ("data.sigma_f", sf),
                        ("data.sigma_n", sn),
                        ("seed", seed),
                        ("loss.alpha", 0.4),
                    ]);
                    let u = p.select(&[
                        ("data.sigma_f", sf),
                        ("data.sigma_n", sn),
                        ("seed", seed),
                        ("loss.alpha", 0.0),
                    ]);
                    (
                        sn,
                        stat(&r, "test_accuracy").0 - stat(&u, "test_accuracy").0,
                    )
                })
                .collect();
            per_seed.push(helps_boundary(&d));
        }
        let inside: Vec<f64> = per_seed.iter().copied().filter(|v| v.is_finite()).collect();
        let (bm, bs, bk) = mean_std(&inside);
        let boundary_text = if bk == per_seed.len() && bk > 0 {
            boundary_points.push(Point {
                x: sf,
                y: bm,
                err: bs,
            });
            pm(bm, bs)
        } else if per_seed.iter().all(|v| *v == f64::NEG_INFINITY) {
            format!("< {} (helps everywhere)", num(x0))
        } else if per_seed.iter().all(|v| *v == f64::INFINITY) {
            format!("> {} (never helps)", num(x1))
        } else {
            format!(
                "mixed over seeds: {}",
                per_seed
                    .iter()
                    .map(|v| num(*v))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let ys: Vec<f64> = acc_reg.iter().map(|p| p.y).collect();
        let (lo, hi) = span_of(&ys);
        a.rows.push(vec![
            num(sf),
            boundary_text,
            format!("{} – {}", num(lo), num(hi)),
            num(th),
            num(delta.first().map(|p| p.y).unwrap_or(f64::NAN)),
            num(delta.last().map(|p| p.y).unwrap_or(f64::NAN)),
        ]);
        invariant_ok &= hi - lo <= 0.03;
        let gap = (mean_std(&ys).0 - th).abs();
        theory_gaps.push(format!("σ_f={sf}: {}", num(gap)));
        theory_ok &= gap <= 0.02;
    }
    let mut boundary_panel =
        Panel::new("boundary σ_n*(σ_f): α = 0.4 helps above", "σ_f", "σ_n*").with_log_y();
    boundary_panel
        .series
        .push(Series::new("measured", Style::Measured, 0, boundary_points));
    a.panels = vec![acc_panel, delta_panel, boundary_panel];
    let corner = |sf: f64, sn: f64| -> f64 {
        let r = p.select(&[
            ("data.sigma_f", sf),
            ("data.sigma_n", sn),
            ("loss.alpha", 0.4),
        ]);
        let u = p.select(&[
            ("data.sigma_f", sf),
            ("data.sigma_n", sn),
            ("loss.alpha", 0.0),
        ]);
        stat(&r, "test_accuracy").0 - stat(&u, "test_accuracy").0
    };
    let (sf_lo, sf_hi) = (
        sigma_fs.first().copied().unwrap_or(0.0),
        sigma_fs.last().copied().unwrap_or(0.0),
    );
    let helps = corner(sf_lo, x1);
    let hurts = corner(sf_hi, x0);
    a.checks.push(Check::new(
        format!("helps at small σ_f, large σ_n: Δ(σ_f={sf_lo}, σ_n={x1}) > 0"),
        num(helps),
        helps > 0.0,
    ));
    a.checks.push(Check::new(
        format!("hurts at large σ_f, small σ_n: Δ(σ_f={sf_hi}, σ_n={x0}) < 0"),
        num(hurts),
        hurts < 0.0,
    ));
    a.checks.push(Check::new(
        "regularised accuracy independent of σ_n: max − min over σ_n ≤ 0.03, per σ_f",
        "see table",
        invariant_ok,
    ));
    a.checks.push(Check::new(
        "regularised accuracy matches A(λ): |mean over σ_n − A| ≤ 0.02, per σ_f",
        theory_gaps.join("; "),
        theory_ok,
    ));
    a.notes.push("Δ = test accuracy(α = 0.4) − test accuracy(α = 0), mean over seeds; σ_n* is where Δ turns positive for the last time along σ_n (log-interpolated), computed per seed.".into());
    Ok(a)
}
