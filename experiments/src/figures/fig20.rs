//! Figure 20: Signal and orthogonal weights against feature noise.
//!
//! The preset (the sweeps at each scale) and the analysis (measurements against the closed
//! forms, the panels, the table and the verdict criteria) of this figure, side by side.

use super::analysis::*;
use super::presets::*;
use super::registry::Figure;
use crate::ExperimentError;

/// Figure 20.
pub(super) const FIGURE: Figure = Figure {
    id: 20,
    title: "Signal and orthogonal weights against feature noise",
    claim: "At σ_f = 0 the regularised minimiser is S = (z*/μ_f)·e₁ (no orthogonal part); as \
             σ_f grows S₁ shrinks and ‖S_⊥‖ grows, with ‖S_⊥‖/S₁ = C/σ_n.",
    parts,
    analyse,
};

/// The sweeps of figure 20 at `scale`.
fn parts(scale: Scale) -> Result<Vec<Part>, ExperimentError> {
    let s = Size::of(scale);
    let (n, d07, seed_list) = s.standard();
    Ok(vec![part(
        "main",
        format!(
            "[base]\ndata = {{ d = {d07}, n = {n}, sigma_n = 1.0 }}\n\
             loss = {{ penalty = \"quadratic\", alpha = 0.4 }}\n\
             train = {{ optimizer = \"adam\", lr = 0.01, steps = 1000, log_points = 10 }}\n\
             [grid]\n\"data.sigma_f\" = [0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5]\n\
             seed = {seed_list}\n"
        ),
    )?])
}

fn analyse(parts: &Parts) -> Result<Analysis, ExperimentError> {
    let p = part_data(parts, "main")?;
    let lambda = p.base_num("data.d") / p.base_num("data.n");
    let sn = p.base_num("data.sigma_n");
    let z = z_star_quadratic(0.4);
    let runs = p.select(&[]);
    let s1 = curve(&runs, "data.sigma_f", "s1");
    let sp = curve(&runs, "data.sigma_f", "s_perp_norm");
    let mut ratio_by: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for r in &runs {
        ratio_by
            .entry((r.num("data.sigma_f") * 1e9) as i64)
            .or_default()
            .push(r.num("s_perp_norm") / r.num("s1"));
    }
    let ratio: Vec<Point> = ratio_by
        .iter()
        .map(|(k, v)| {
            let (m, s, _) = mean_std(v);
            Point {
                x: *k as f64 / 1e9,
                y: m,
                err: s,
            }
        })
        .collect();
    let th_ratio: Vec<Point> = ratio
        .iter()
        .map(|p| {
            Point::new(
                p.x,
                theory::predicted_c2(lambda, 1.0, p.x)
                    .map(|c| c.sqrt() / sn)
                    .unwrap_or(f64::NAN),
            )
        })
        .collect();
    let mut a = Analysis::with_columns(3);
    a.panels.push(Panel {
        series: vec![
            Series::new("measured", Style::Measured, 0, s1.clone()),
            Series::new(
                "theory at σ_f = 0: z*/μ_f",
                Style::MeasuredOpen,
                7,
                vec![Point::new(0.0, z)],
            ),
        ],
        ..Panel::new("signal weight S₁", "σ_f", "S₁")
    });
    a.panels.push(Panel {
        series: vec![
            Series::new("measured", Style::Measured, 1, sp.clone()),
            Series::new(
                "theory at σ_f = 0: 0",
                Style::MeasuredOpen,
                7,
                vec![Point::new(0.0, 0.0)],
            ),
        ],
        ..Panel::new("orthogonal weight ‖S_⊥‖", "σ_f", "‖S_⊥‖")
    });
    a.panels.push(Panel {
        series: vec![
            Series::new("measured", Style::Measured, 2, ratio.clone()),
            Series::new("theory C/σ_n", Style::Theory, 7, th_ratio.clone()),
        ],
        ..Panel::new("‖S_⊥‖ / S₁", "σ_f", "‖S_⊥‖ / S₁")
    });
    a.header = strings(["σ_f", "S₁", "‖S_⊥‖", "‖S_⊥‖/S₁", "theory C/σ_n"]);
    for (i, pt) in s1.iter().enumerate() {
        a.rows.push(vec![
            num(pt.x),
            pm(pt.y, pt.err),
            sp.get(i).map(|q| pm(q.y, q.err)).unwrap_or_default(),
            ratio.get(i).map(|q| pm(q.y, q.err)).unwrap_or_default(),
            th_ratio.get(i).map(|q| num(q.y)).unwrap_or_default(),
        ]);
    }
    let s1_0 = s1.first().map(|p| p.y).unwrap_or(f64::NAN);
    let r0 = ratio.first().map(|p| p.y).unwrap_or(f64::NAN);
    a.checks.push(Check::new(
        "σ_f = 0: S₁ within 5% of z*/μ_f",
        format!("{} vs {}", num(s1_0), num(z)),
        ((s1_0 - z) / z).abs() <= 0.05,
    ));
    a.checks
        .push(Check::new("σ_f = 0: ‖S_⊥‖/S₁ ≤ 0.05", num(r0), r0 <= 0.05));
    let mono = s1.windows(2).all(|w| w[1].y <= w[0].y) && sp.windows(2).all(|w| w[1].y >= w[0].y);
    a.checks.push(Check::new(
        "S₁ decreases and ‖S_⊥‖ increases with σ_f (means over seeds)",
        "see table",
        mono,
    ));
    let (rl, tl) = (
        ratio.last().map(|p| p.y).unwrap_or(f64::NAN),
        th_ratio.last().map(|p| p.y).unwrap_or(f64::NAN),
    );
    a.checks.push(Check::new(
        "largest σ_f: ‖S_⊥‖/S₁ within 20% of C/σ_n",
        format!("{} vs {}", num(rl), num(tl)),
        ((rl - tl) / tl).abs() <= 0.2,
    ));
    a.notes.push(
        "Adam (η = 0.01, 1,000 steps) as in the paper; z* = z*(α = 0.4) of the quadratic penalty."
            .into(),
    );
    Ok(a)
}
