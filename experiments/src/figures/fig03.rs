//! Figure 3: the signal-plus-noise geometry of real embeddings (Eq. 35), clean and corrupted.
//!
//! The paper measures frozen ResNet-18 features of CIFAR-10 and of CIFAR-10-C. Here the
//! embeddings are those of figure 9 (an MLP trained without regularisation on 797 of the
//! shipped digits, applied to the other 1,000), clean and with 10 % salt-and-pepper noise on
//! the input pixels (the analogue of CIFAR-10-C's impulse noise). Any embeddings a user exports
//! take their place with `--set data.source=npy --set data.path=F.npy
//! --set data.labels_path=L.npy --set data.embed=none` (then only the clean condition is
//! analysed).

use std::path::Path;

use logit_reg_data::real::geometry::{Geometry, geometry};

use super::analysis::*;
use super::presets::*;
use super::registry::Figure;
use crate::ExperimentError;
use crate::config::{DataSource, RunConfig};

/// Figure 3.
pub(super) const FIGURE: Figure = Figure {
    id: 3,
    title: "Signal and noise in real embeddings, clean and corrupted",
    claim: "Real embeddings fit the signal-plus-noise picture: with the signal subspace spanned \
     by the class-mean differences, corruption of the inputs adds noise mostly orthogonal to \
     it (σ_n^eff grows more than σ_f^eff), the regime where logit regularisation helps.",
    parts,
    analyse,
};

/// The corruption of the second condition: each input pixel replaced by 0 or 16 with this
/// probability.
const IMPULSE: f64 = 0.1;
/// The largest feature dimension whose orthogonal spectrum is computed.
const MAX_SPECTRUM_DIM: usize = 1024;

/// Two parts, clean and corrupted inputs, each with the probe of figure 9 (α = 0 and 0.2) so
/// that the geometry sits beside what it does to a classifier.
fn parts(scale: Scale) -> Result<Vec<Part>, ExperimentError> {
    let s = Size::of(scale);
    let seed_list = s.seed_list();
    let part_of = |name: &str, corrupt: f64| {
        let base = super::fig09::probe_base(&s, &format!(", corrupt = {corrupt:?}"));
        part(
            name,
            format!("{base}[grid]\nseed = {seed_list}\n\"loss.alpha\" = [0.0, 0.2]\n"),
        )
    };
    Ok(vec![part_of("clean", 0.0)?, part_of("corrupted", IMPULSE)?])
}

/// The resolved config of a run, from its batch's `config.json` (it holds every `--set`).
fn run_config(p: &PartData, record: &Record) -> Result<RunConfig, ExperimentError> {
    let value = p.batch_json(record, "config.json")?;
    serde_json::from_value(value["config"].clone()).map_err(|e| ExperimentError::Io {
        path: format!(
            "{}/batches/{}/config.json",
            p.dir.display(),
            record.text("batch")
        ),
        message: format!("not a run config: {e}"),
    })
}

/// Per seed, the geometry of the samples the part's runs split (all of them, train and test).
fn geometries(p: &PartData) -> Result<Vec<(u64, Geometry)>, ExperimentError> {
    let mut out = Vec::new();
    for r in p.select(&[("loss.alpha", 0.0)]) {
        let config = run_config(p, r)?;
        let set = crate::real::load_features(&config)?;
        out.push((r.num("seed") as u64, geometry(&set.data, MAX_SPECTRUM_DIM)));
    }
    out.sort_by_key(|(seed, _)| *seed);
    Ok(out)
}

fn analyse(parts: &Parts) -> Result<Analysis, ExperimentError> {
    let clean = part_data(parts, "clean")?;
    let corrupted = part_data(parts, "corrupted")?;
    let user_embeddings = clean
        .records
        .first()
        .map(|r| run_config(clean, r))
        .transpose()?
        .is_some_and(|c| c.data.source != DataSource::Digits);
    let mut conditions = vec![("clean", clean, geometries(clean)?)];
    if !user_embeddings {
        conditions.push(("corrupted", corrupted, geometries(corrupted)?));
    }
    let mut a = Analysis::with_columns(2);
    let mut bars = Panel::new(
        "effective noise, in units of half the mean centroid distance",
        "condition (0 = clean, 1 = corrupted)",
        "σ^eff",
    );
    let mut spectrum = Panel {
        log_y: true,
        ..Panel::new(
            "orthogonal noise covariance: eigenvalues (seed 0)",
            "rank",
            "eigenvalue / (D/2)²",
        )
    };
    a.header = strings([
        "condition",
        "σ_f^eff",
        "σ_n^eff",
        "σ_n^eff / σ_f^eff",
        "signal dim",
        "probe accuracy α = 0",
        "probe accuracy α = 0.2",
    ]);
    let mut summary = serde_json::Map::new();
    let mut stats = Vec::new();
    for (i, (name, p, geoms)) in conditions.iter().enumerate() {
        let f: Vec<f64> = geoms.iter().map(|(_, g)| g.sigma_f_eff).collect();
        let n: Vec<f64> = geoms.iter().map(|(_, g)| g.sigma_n_eff).collect();
        let (fm, fs, _) = mean_std(&f);
        let (nm, ns, _) = mean_std(&n);
        for (series, (m, s), color) in [("σ_f^eff", (fm, fs), 0), ("σ_n^eff", (nm, ns), 1)] {
            let point = Point {
                x: i as f64,
                y: m,
                err: s,
            };
            match bars.series.iter_mut().find(|x| x.label == series) {
                Some(existing) => existing.points.push(point),
                None => bars
                    .series
                    .push(Series::new(series, Style::Measured, color, vec![point])),
            }
        }
        if let Some((_, g)) = geoms.first() {
            // Eigenvalues at rounding level (the signal subspace, dead units) are left out.
            let top = g.spectrum.first().copied().unwrap_or(0.0);
            let points = g
                .spectrum
                .iter()
                .enumerate()
                .filter(|&(_, &l)| l > 1e-10 * top)
                .map(|(r, &l)| Point::new((r + 1) as f64, l))
                .collect();
            spectrum
                .series
                .push(Series::new(*name, Style::Line, i, points));
        }
        let acc = |alpha: f64| stat(&p.select(&[("loss.alpha", alpha)]), "test_accuracy");
        let (a0, a0s) = acc(0.0);
        let (a2, a2s) = acc(0.2);
        a.rows.push(vec![
            name.to_string(),
            pm(fm, fs),
            pm(nm, ns),
            num(nm / fm),
            geoms
                .first()
                .map_or("–".into(), |(_, g)| g.signal_dim.to_string()),
            pm(a0, a0s),
            pm(a2, a2s),
        ]);
        summary.insert(
            name.to_string(),
            serde_json::json!({
                "sigma_f_eff": fm,
                "sigma_n_eff": nm,
                "sigma_f_eff_sd": fs,
                "sigma_n_eff_sd": ns,
                "per_seed": geoms.iter().map(|(seed, g)| serde_json::json!({
                    "seed": seed,
                    "sigma_f_eff": g.sigma_f_eff,
                    "sigma_n_eff": g.sigma_n_eff,
                    "centroid_distance": g.centroid_distance,
                    "signal_dim": g.signal_dim,
                    "spectrum": g.spectrum,
                })).collect::<Vec<_>>(),
            }),
        );
        stats.push((f, n));
    }
    a.panels.push(bars);
    a.panels.push(spectrum);
    // The figure's directory is two levels above a part's (DIR/parts/<part>).
    if let Some(dir) = clean.dir.parent().and_then(Path::parent) {
        crate::output::write_json(
            &dir.join("summary.json"),
            &serde_json::Value::Object(summary),
        )?;
    }
    if let [(f0, n0), (f1, n1)] = &stats[..] {
        let every = n0.iter().zip(n1).all(|(a, b)| b > a);
        a.checks.push(Check::new(
            "corruption raises σ_n^eff, for every seed",
            format!("{} → {}", num(mean_std(n0).0), num(mean_std(n1).0)),
            every && !n0.is_empty(),
        ));
        let grow_n = mean_std(n1).0 / mean_std(n0).0;
        let grow_f = mean_std(f1).0 / mean_std(f0).0;
        a.checks.push(Check::new(
            "σ_n^eff grows by a larger factor than σ_f^eff",
            format!("×{} vs ×{}", num(grow_n), num(grow_f)),
            grow_n > grow_f,
        ));
    } else {
        a.notes.push(
            "User embeddings: only the clean condition is analysed (the corruption acts on the \
             digits' input pixels), so no criterion applies."
                .into(),
        );
    }
    a.notes.push(format!(
        "Eq. 35 as built here: Q spans the centred class means (modified Gram–Schmidt); \
         residuals r = x − μ_y; σ_f^eff = √(mean ‖Q Qᵀ r‖² / dim Q) and σ_n^eff = √(mean ‖(I − Q Qᵀ) \
         r‖² / (d − dim Q)), both over half the mean pairwise centroid distance D/2 (so that the \
         binary model gives σ_f/μ_f and σ_n/μ_f). Measured on the 1,000 embedded digits of each \
         seed; corruption: each input pixel set to 0 or 16 with probability {IMPULSE}, after the \
         embedder is trained on clean digits. These are digits, not the paper's ResNet-18 \
         features of CIFAR-10 and CIFAR-10-C. Numbers also in summary.json."
    ));
    Ok(a)
}
