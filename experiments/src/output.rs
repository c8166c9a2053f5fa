//! Result files, written atomically: each file goes to a temporary name in the same directory
//! and is renamed into place, so an interrupted run never leaves a file that looks complete.

use std::fmt::Write as _;
use std::path::Path;

use crate::ExperimentError;
use crate::metrics::{COLUMNS, HistogramRow, MetricRow};

/// Writes `contents` to `path` atomically (temp file + rename).
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), ExperimentError> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("out")
    ));
    std::fs::write(&tmp, contents).map_err(|e| ExperimentError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| ExperimentError::io(path, e))
}

/// Writes a JSON value, pretty-printed, atomically.
pub fn write_json(path: &Path, value: &serde_json::Value) -> Result<(), ExperimentError> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| ExperimentError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

fn number(v: f64) -> String {
    if v.is_finite() && v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// The text of `metrics.csv`: a header of [`COLUMNS`], one row per (step, run).
pub fn metrics_csv(rows: &[MetricRow]) -> String {
    let mut out = COLUMNS.join(",");
    out.push('\n');
    for row in rows {
        let line: Vec<String> = row.values().into_iter().map(number).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

/// The text of `timing.csv`: the wall time at each logged step (one line per step).
pub fn timing_csv(rows: &[MetricRow]) -> String {
    let mut out = String::from("step,wall_seconds\n");
    let mut last = None;
    for r in rows {
        if last != Some(r.step) {
            let _ = writeln!(out, "{},{}", r.step, r.wall_seconds);
            last = Some(r.step);
        }
    }
    out
}

/// The text of `histograms.csv`.
pub fn histograms_csv(rows: &[HistogramRow]) -> String {
    let mut out = String::from("step,run,split,bin,lo,hi,count\n");
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{}",
            r.step, r.run, r.split, r.bin, r.lo, r.hi, r.count
        );
    }
    out
}

/// Removes the result files of an earlier run in `dir`, so a new run that is interrupted
/// cannot leave the old summary looking like its own.
pub fn clear_results(dir: &Path) -> Result<(), ExperimentError> {
    for name in [
        "summary.json",
        "metrics.csv",
        "timing.csv",
        "histograms.csv",
        "logits.csv",
        "config.json",
    ] {
        let path = dir.join(name);
        if path.exists() {
            std::fs::remove_file(&path).map_err(|e| ExperimentError::io(&path, e))?;
        }
    }
    Ok(())
}

/// The git commit of the source tree this binary was built from, when it is available.
pub fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
