//! What every figure's analysis shares: the sweep outputs of a part read from disk, the
//! [`Analysis`] a figure produces (panels, table, verdict criteria, notes), and the helpers that
//! aggregate runs over seeds. Each figure's own analysis is in its file (`figNN.rs`).
//!
//! Every verdict criterion states its tolerance beside the measured numbers; the tolerances
//! are fixed here, not tuned to the results.

use std::path::{Path, PathBuf};

// The figures' prelude: every `figNN.rs` imports this module whole.
pub(super) use std::collections::BTreeMap;

pub(super) use logit_reg_model::target::quadratic_target;
pub(super) use logit_reg_model::theory;

pub(super) use super::plot::{Legend, Panel, Point, Series, Style};
pub(super) use super::report::{Check, num, pm};
pub(super) use super::table::{
    Record, Table, curve, distinct, first_crossing, linear_fit, mean_std,
};
use crate::ExperimentError;

/// The sweep outputs of one part of a figure.
#[derive(Debug, Clone)]
pub struct PartData {
    /// The part's directory (holds `index.csv` and `batches/`).
    pub dir: PathBuf,
    /// The rows of `index.csv`.
    pub records: Vec<Record>,
    /// The part's base config table (for fields not in the grid, e.g. `data.n`).
    pub base: toml::Table,
    /// Runs that diverged (left out of `records`).
    pub diverged: usize,
}

/// The numeric leaves of a TOML table as dotted keys (`data.n` → 2000).
fn numeric_leaves(table: &toml::Table, prefix: &str, out: &mut Vec<(String, f64)>) {
    for (key, value) in table {
        let dotted = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(t) => numeric_leaves(t, &dotted, out),
            toml::Value::Float(f) => out.push((dotted, *f)),
            toml::Value::Integer(i) => out.push((dotted, *i as f64)),
            _ => {}
        }
    }
}

impl PartData {
    /// Reads a part's `index.csv`. Each record also gets the base config's numeric fields
    /// that the grid does not set (so `data.sigma_n` is there whether it was swept or fixed)
    /// and the part's directory (`_dir`). Diverged runs are counted and left out.
    pub fn load(dir: &Path, base: toml::Table) -> Result<Self, ExperimentError> {
        let mut leaves = Vec::new();
        numeric_leaves(&base, "", &mut leaves);
        let mut records = Vec::new();
        let mut diverged = 0;
        for mut r in Table::read(&dir.join("index.csv"))?.records() {
            if r.text("diverged") == "true" {
                diverged += 1;
                continue;
            }
            for (key, value) in &leaves {
                r.fields
                    .entry(key.clone())
                    .or_insert_with(|| value.to_string());
            }
            r.fields.insert("_dir".into(), dir.display().to_string());
            records.push(r);
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            records,
            base,
            diverged,
        })
    }

    /// All parts as one (records concatenated; the base of the first part).
    pub fn merged(parts: &BTreeMap<String, PartData>) -> Self {
        let first = parts.values().next();
        Self {
            dir: first.map(|p| p.dir.clone()).unwrap_or_default(),
            records: parts
                .values()
                .flat_map(|p| p.records.iter().cloned())
                .collect(),
            base: first.map(|p| p.base.clone()).unwrap_or_default(),
            diverged: parts.values().map(|p| p.diverged).sum(),
        }
    }

    /// A numeric field of the base config (`data.n`), NaN when absent.
    pub fn base_num(&self, dotted: &str) -> f64 {
        let mut value: Option<&toml::Value> = None;
        let mut table = Some(&self.base);
        for key in dotted.split('.') {
            value = table.and_then(|t| t.get(key));
            table = value.and_then(toml::Value::as_table);
        }
        value
            .and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
            .unwrap_or(f64::NAN)
    }

    /// The records matching every `(key, value)`.
    pub fn select(&self, filters: &[(&str, f64)]) -> Vec<&Record> {
        self.records
            .iter()
            .filter(|r| filters.iter().all(|(k, v)| r.is(k, *v)))
            .collect()
    }

    fn batch_file(&self, record: &Record, file: &str) -> Result<Vec<Record>, ExperimentError> {
        let path = self
            .dir
            .join("batches")
            .join(record.text("batch"))
            .join(file);
        let run = record.num("run");
        Ok(Table::read(&path)?
            .records()
            .into_iter()
            .filter(|r| r.is("run", run))
            .collect())
    }

    /// The run's rows of its batch's `metrics.csv`.
    pub fn metrics(&self, record: &Record) -> Result<Vec<Record>, ExperimentError> {
        self.batch_file(record, "metrics.csv")
    }

    /// The run's rows of its batch's `histograms.csv`.
    pub fn histograms(&self, record: &Record) -> Result<Vec<Record>, ExperimentError> {
        self.batch_file(record, "histograms.csv")
    }

    /// The run's rows of its batch's `logits.csv`.
    pub fn logits(&self, record: &Record) -> Result<Vec<Record>, ExperimentError> {
        self.batch_file(record, "logits.csv")
    }

    /// A JSON file (`config.json`, `summary.json`) of the run's batch.
    pub fn batch_json(
        &self,
        record: &Record,
        file: &str,
    ) -> Result<serde_json::Value, ExperimentError> {
        let path = self
            .dir
            .join("batches")
            .join(record.text("batch"))
            .join(file);
        let text = std::fs::read_to_string(&path).map_err(|e| ExperimentError::io(&path, e))?;
        serde_json::from_str(&text).map_err(|e| ExperimentError::Io {
            path: path.display().to_string(),
            message: format!("not valid JSON: {e}"),
        })
    }
}

/// Per seed present in both, `value(other) − value(base)`: the paired differences (same split
/// and initialisation) whose signs and spread decide a criterion.
pub(super) fn paired_by_seed(
    base: &[&Record],
    other: &[&Record],
    value: impl Fn(&Record) -> f64,
) -> Vec<f64> {
    let by_seed = |runs: &[&Record]| -> BTreeMap<u64, f64> {
        runs.iter()
            .map(|r| (r.num("seed") as u64, value(r)))
            .collect()
    };
    let base = by_seed(base);
    by_seed(other)
        .iter()
        .filter_map(|(seed, v)| base.get(seed).map(|b| v - b))
        .collect()
}

/// What the analysis of one figure produced.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    /// The panels.
    pub panels: Vec<Panel>,
    /// Panels per row.
    pub columns: usize,
    /// Table header.
    pub header: Vec<String>,
    /// Table rows.
    pub rows: Vec<Vec<String>>,
    /// Verdict criteria.
    pub checks: Vec<Check>,
    /// Notes.
    pub notes: Vec<String>,
}

impl Analysis {
    /// An empty analysis whose figure has `columns` panels per row.
    pub fn with_columns(columns: usize) -> Self {
        Self {
            columns,
            ..Default::default()
        }
    }
}

/// The parts of a figure by name.
pub type Parts = BTreeMap<String, PartData>;

pub(super) fn part_data<'a>(parts: &'a Parts, name: &str) -> Result<&'a PartData, ExperimentError> {
    parts.get(name).ok_or_else(|| ExperimentError::Io {
        path: name.into(),
        message: "a part of the figure is missing".into(),
    })
}

pub(super) fn strings<const N: usize>(items: [&str; N]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

pub(super) fn values(records: &[&Record], key: &str) -> Vec<f64> {
    records.iter().map(|r| r.num(key)).collect()
}

pub(super) fn stat(records: &[&Record], key: &str) -> (f64, f64) {
    let (m, s, _) = mean_std(&values(records, key));
    (m, s)
}

pub(super) fn z_star_quadratic(alpha: f64) -> f64 {
    quadratic_target(alpha)
        .map(|t| t.z_star)
        .unwrap_or(f64::NAN)
}

/// Per logged step, mean ± std over the runs of `key`.
pub(super) fn trajectory(runs: &[Vec<Record>], key: &str) -> Vec<Point> {
    let mut by_step: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for rows in runs {
        for r in rows {
            by_step
                .entry(r.num("step") as u64)
                .or_default()
                .push(r.num(key));
        }
    }
    by_step
        .into_iter()
        .map(|(step, v)| {
            let (m, s, _) = mean_std(&v);
            Point {
                x: step as f64,
                y: m,
                err: s,
            }
        })
        .collect()
}

/// [`trajectory`] without step 0, for log-step axes.
pub(super) fn log_trajectory(runs: &[Vec<Record>], key: &str) -> Vec<Point> {
    trajectory(runs, key)
        .into_iter()
        .filter(|p| p.x > 0.0)
        .collect()
}

/// The `metrics.csv` rows of each run.
pub(super) fn run_metrics(
    p: &PartData,
    runs: &[&Record],
) -> Result<Vec<Vec<Record>>, ExperimentError> {
    runs.iter().map(|r| p.metrics(r)).collect()
}

/// The smallest and largest of `values` (±∞ when empty).
pub(super) fn span_of(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

/// The value of `key` at the logged step closest to `step`.
pub(super) fn at_step(rows: &[Record], step: f64, key: &str) -> f64 {
    rows.iter()
        .min_by(|a, b| {
            (a.num("step") - step)
                .abs()
                .total_cmp(&(b.num("step") - step).abs())
        })
        .map(|r| r.num(key))
        .unwrap_or(f64::NAN)
}

pub(super) fn horizontal(label: &str, y: f64, x0: f64, x1: f64, color: usize) -> Series {
    Series::new(
        label,
        Style::Theory,
        color,
        vec![Point::new(x0, y), Point::new(x1, y)],
    )
}

/// A normalised histogram (density) of a run at `step` and `split` as a step outline.
pub(super) fn histogram_series(
    rows: &[Record],
    step: f64,
    split: &str,
    label: &str,
    color: usize,
) -> Series {
    let bins: Vec<&Record> = rows
        .iter()
        .filter(|r| r.is("step", step) && r.text("split") == split)
        .collect();
    let total: f64 = bins.iter().map(|r| r.num("count")).sum();
    let mut points = Vec::new();
    for r in bins {
        let (lo, hi) = (r.num("lo"), r.num("hi"));
        let density = r.num("count") / (total * (hi - lo)).max(f64::MIN_POSITIVE);
        points.push(Point::new(lo, density));
        points.push(Point::new(hi, density));
    }
    Series::new(label, Style::Line, color, points)
}

/// Per α: the crossing steps of `key` at each level, per seed.
pub(super) fn crossings(
    p: &PartData,
    runs: &[&Record],
    key: &str,
    levels: &[f64],
) -> Result<Vec<Vec<Option<f64>>>, ExperimentError> {
    let mut out = vec![Vec::new(); levels.len()];
    for r in runs {
        let rows = p.metrics(r)?;
        let series: Vec<(f64, f64)> = rows.iter().map(|m| (m.num("step"), m.num(key))).collect();
        for (i, &level) in levels.iter().enumerate() {
            out[i].push(first_crossing(&series, level));
        }
    }
    Ok(out)
}

pub(super) fn crossing_text(c: &[Option<f64>]) -> (String, f64) {
    let hit: Vec<f64> = c.iter().flatten().copied().collect();
    let (m, s, k) = mean_std(&hit);
    if k == 0 {
        return ("never".into(), f64::NAN);
    }
    let text = if k < c.len() {
        format!("{} ({k}/{} seeds)", pm(m, s), c.len())
    } else {
        pm(m, s)
    };
    (text, if k == c.len() { m } else { f64::NAN })
}
