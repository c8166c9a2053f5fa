//! Sweeps: a TOML grid over any config fields (seeds included), expanded into runs, batched
//! where runs share their data, resumable.
//!
//! ```toml
//! # sweep.toml
//! [base]                      # a run config (every field optional)
//! data = { d = 200, n = 400 }
//! train = { steps = 2000 }
//!
//! [grid]                      # dotted keys → lists of values; the runs are the Cartesian product
//! "data.sigma_n" = [0.5, 1.0, 2.0]
//! "loss.alpha" = [0.0, 0.2, 0.4]
//! seed = [0, 1, 2]
//! ```
//!
//! Runs that differ only in `loss.alpha` and `train.lr` share data and are trained together as
//! one batch of M runs; all other runs are trained one batch after another. Each batch writes
//! its files to `OUT/batches/bNNNN/`. A batch whose `summary.json` exists and whose
//! `config.json` holds the same resolved config is skipped, so an interrupted sweep resumes
//! where it stopped. `OUT/index.csv` has one row per run: the grid values, then the run's final
//! metrics.

use std::path::{Path, PathBuf};

use indicatif::ProgressBar;
use serde_json::Value;

use crate::ExperimentError;
use crate::config::{RunConfig, set_dotted};
use crate::output::{csv_text, write_atomic, write_json};
use crate::run::{SUMMARY_METRICS, resolved_config, run_to_dir};

/// Keys whose values vary inside one batch (the runs share their data).
pub const BATCHED_KEYS: &[&str] = &["loss.alpha", "train.lr"];

/// One grid point: dotted key → value, in grid order.
pub type GridPoint = Vec<(String, toml::Value)>;

/// A parsed sweep specification.
#[derive(Debug, Clone)]
pub struct SweepSpec {
    /// The base config table (before grid overrides).
    pub base: toml::Table,
    /// The grid: dotted key → values, in file order.
    pub grid: Vec<(String, Vec<toml::Value>)>,
}

/// One batch of the sweep: the config to train and, per run, its grid values.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The batch's directory name (`bNNNN`).
    pub name: String,
    /// The resolved config of the whole batch.
    pub config: RunConfig,
    /// Per run in the batch: the grid key → value pairs.
    pub points: Vec<GridPoint>,
}

impl SweepSpec {
    /// Parses a sweep file: `[base]` (optional) and `[grid]` (dotted keys to non-empty lists).
    pub fn parse(text: &str, origin: &str) -> Result<Self, ExperimentError> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| ExperimentError::Config {
            key: origin.to_string(),
            message: format!("not valid TOML: {e}"),
        })?;
        let base = match table.remove("base") {
            Some(toml::Value::Table(t)) => t,
            Some(_) => return Err(ExperimentError::invalid("base", "not a table", "a table")),
            None => toml::Table::new(),
        };
        let grid_table = match table.remove("grid") {
            Some(toml::Value::Table(t)) => t,
            Some(_) => return Err(ExperimentError::invalid("grid", "not a table", "a table")),
            None => toml::Table::new(),
        };
        if let Some(key) = table.keys().next() {
            return Err(ExperimentError::Config {
                key: key.clone(),
                message: "unknown section of a sweep file (allowed: base, grid)".into(),
            });
        }
        let mut grid = Vec::new();
        for (key, value) in grid_table {
            let values = match value {
                toml::Value::Array(v) if !v.is_empty() => v,
                other => {
                    return Err(ExperimentError::Config {
                        key: format!("grid.{key}"),
                        message: format!("expected a non-empty list of values, got {other}"),
                    });
                }
            };
            grid.push((key, values));
        }
        let points = grid
            .iter()
            .try_fold(1usize, |product, (_, values)| {
                product.checked_mul(values.len())
            })
            .filter(|&p| p <= crate::limits::MAX_GRID_POINTS);
        if points.is_none() {
            let sizes: Vec<String> = grid.iter().map(|(_, v)| v.len().to_string()).collect();
            return Err(ExperimentError::invalid(
                "grid",
                &format!("{} points", sizes.join(" × ")),
                &format!("at most {} grid points", crate::limits::MAX_GRID_POINTS),
            ));
        }
        Ok(Self { base, grid })
    }

    /// Reads and parses a sweep file.
    pub fn load(path: &Path) -> Result<Self, ExperimentError> {
        let text = std::fs::read_to_string(path).map_err(|e| ExperimentError::io(path, e))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// All grid points (the Cartesian product, last key fastest).
    pub fn points(&self) -> Vec<GridPoint> {
        let mut points: Vec<GridPoint> = vec![Vec::new()];
        for (key, values) in &self.grid {
            points = points
                .into_iter()
                .flat_map(|p| {
                    values.iter().map(move |v| {
                        let mut q = p.clone();
                        q.push((key.clone(), v.clone()));
                        q
                    })
                })
                .collect();
        }
        points
    }

    /// Expands the grid into batches; `extra` overrides (e.g. `--backend`) apply to every run.
    pub fn batches(&self, extra: &[String]) -> Result<Vec<Batch>, ExperimentError> {
        // (the values of the non-batched keys, the grid points that share them)
        let mut groups: Vec<(GridPoint, Vec<GridPoint>)> = Vec::new();
        for point in self.points() {
            let shared: GridPoint = point
                .iter()
                .filter(|(k, _)| !BATCHED_KEYS.contains(&k.as_str()))
                .cloned()
                .collect();
            match groups.iter_mut().find(|(s, _)| *s == shared) {
                Some((_, members)) => members.push(point),
                None => groups.push((shared, vec![point])),
            }
        }
        let mut batches = Vec::new();
        for (index, (shared, members)) in groups.into_iter().enumerate() {
            let mut table = self.base.clone();
            for assignment in extra {
                let (key, value) = crate::config::parse_override(assignment)?;
                if self.grid.iter().any(|(k, _)| *k == key) {
                    return Err(ExperimentError::invalid(
                        &key,
                        &format!("{value} (from --set)"),
                        "a key the sweep does not grid over (the grid sets it for every run)",
                    ));
                }
                set_dotted(&mut table, &key, value)?;
            }
            for (key, value) in &shared {
                set_dotted(&mut table, key, value.clone())?;
            }
            for key in BATCHED_KEYS {
                let gridded = members[0].iter().any(|(k, _)| k == key);
                if !gridded {
                    continue;
                }
                let values: Vec<f64> = members
                    .iter()
                    .map(|p| {
                        let v = p.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
                        v.and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
                            .ok_or_else(|| ExperimentError::invalid(key, "non-number", "numbers"))
                    })
                    .collect::<Result<_, _>>()?;
                let list = toml::Value::Array(values.into_iter().map(toml::Value::Float).collect());
                set_dotted(&mut table, key, list)?;
            }
            let config = RunConfig::from_table(table)?;
            batches.push(Batch {
                name: format!("b{index:04}"),
                config,
                points: members,
            });
        }
        Ok(batches)
    }
}

/// What a sweep did.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepReport {
    /// Batches trained now.
    pub trained: usize,
    /// Batches skipped because their results were complete.
    pub skipped: usize,
    /// Runs in the index.
    pub runs: usize,
    /// Runs that diverged.
    pub diverged: usize,
    /// Path of `index.csv`.
    pub index: PathBuf,
}

fn complete(dir: &Path, config: &RunConfig) -> bool {
    let summary = dir.join("summary.json");
    let stored = std::fs::read_to_string(dir.join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok());
    summary.exists()
        && stored.is_some_and(|s| {
            s.get("config") == Some(&serde_json::to_value(config).unwrap_or(Value::Null))
        })
}

fn csv_field(v: &Value) -> String {
    match v {
        Value::Null => "NaN".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Runs every batch of `spec` into `out` (skipping complete ones when `resume`), then writes
/// `out/index.csv`; with a progress bar over the batches when `show_progress`.
pub fn run_sweep(
    spec: &SweepSpec,
    extra: &[String],
    out: &Path,
    resume: bool,
    show_progress: bool,
) -> Result<SweepReport, ExperimentError> {
    let batches = spec.batches(extra)?;
    let bar = crate::progress::bar(batches.len() as u64, "batches", show_progress, None);
    let report = run_sweep_with(spec, &batches, out, resume, &bar, "");
    crate::progress::finish(&bar);
    report
}

/// [`run_sweep`] of `batches` (the expansion of `spec`), advancing `bar` by one per batch
/// (trained or skipped), with `label` and the batch's name as its message. The caller sets the
/// bar's length (a figure's bar spans all of its parts).
pub fn run_sweep_with(
    spec: &SweepSpec,
    batches: &[Batch],
    out: &Path,
    resume: bool,
    bar: &ProgressBar,
    label: &str,
) -> Result<SweepReport, ExperimentError> {
    std::fs::create_dir_all(out).map_err(|e| ExperimentError::io(out, e))?;
    let (mut trained, mut skipped) = (0, 0);
    for batch in batches {
        let dir = out.join("batches").join(&batch.name);
        if resume && complete(&dir, &batch.config) {
            skipped += 1;
        } else {
            bar.set_message(format!("{label}{}", batch.name));
            match run_to_dir(&batch.config, &dir, false) {
                Ok(_) | Err(ExperimentError::Diverged { .. }) => trained += 1,
                Err(e) => return Err(e),
            }
        }
        bar.inc(1);
    }

    let keys: Vec<String> = spec.grid.iter().map(|(k, _)| k.clone()).collect();
    let mut header = vec!["batch".to_string(), "run".to_string()];
    header.extend(keys.iter().cloned());
    header.extend(SUMMARY_METRICS.iter().map(|s| s.to_string()));
    header.extend(["steps", "diverged", "solver", "engine"].map(String::from));
    let mut rows = Vec::new();
    let (mut runs, mut diverged) = (0, 0);
    for batch in batches {
        let dir = out.join("batches").join(&batch.name);
        let path = dir.join("summary.json");
        let summary: Value = serde_json::from_str(
            &std::fs::read_to_string(&path).map_err(|e| ExperimentError::io(&path, e))?,
        )
        .map_err(|e| ExperimentError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let per_run = summary["per_run"].as_array().cloned().unwrap_or_default();
        for (run, (point, result)) in batch.points.iter().zip(&per_run).enumerate() {
            let mut fields = vec![batch.name.clone(), run.to_string()];
            for key in &keys {
                let v = point
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.to_string());
                fields.push(v.unwrap_or_default().trim_matches('"').to_string());
            }
            for key in SUMMARY_METRICS {
                fields.push(csv_field(&result[*key]));
            }
            let is_diverged = result["diverged"].as_bool().unwrap_or(false);
            diverged += usize::from(is_diverged);
            fields.push(csv_field(&summary["steps"]));
            fields.push(is_diverged.to_string());
            fields.push(csv_field(&summary["solver"]));
            fields.push(csv_field(&summary["engine"]));
            rows.push(fields);
            runs += 1;
        }
    }
    let text = csv_text(&header, &rows)?;
    let index = out.join("index.csv");
    write_atomic(&index, text.as_bytes())?;
    write_json(
        &out.join("sweep.json"),
        &serde_json::json!({
            "grid": spec.grid.iter().map(|(k, v)| (k.clone(), Value::from(v.iter().map(|x| x.to_string()).collect::<Vec<_>>()))).collect::<serde_json::Map<_, _>>(),
            "batches": batches.iter().map(|b| serde_json::json!({"name": b.name, "config": resolved_config(&b.config)})).collect::<Vec<_>>(),
        }),
    )?;
    Ok(SweepReport {
        trained,
        skipped,
        runs,
        diverged,
        index,
    })
}
