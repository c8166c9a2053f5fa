//! Result files, written atomically: each file goes to a temporary name in the same directory
//! and is renamed into place, so an interrupted run never leaves a file that looks complete.
//! CSV goes through the `csv` crate (fields with commas or quotes are quoted), the final
//! weights go to `weights.npy` (NumPy's format 1.0, little-endian f64, C order).

use std::path::Path;

use logit_reg_train::{HistogramRow, MetricRow, metrics::COLUMNS};

use crate::ExperimentError;

/// Writes `contents` to `path` atomically: to a temporary name unique to this process and call
/// (`<name>.<pid>.<n>.tmp`, so that two writers never share one), then renamed into place.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), ExperimentError> {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!(
        "{}.{}.{n}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("out"),
        std::process::id()
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

/// CSV text of a header and rows, quoted where a field needs it.
pub fn csv_text<S: AsRef<str>>(
    header: &[S],
    rows: &[Vec<String>],
) -> Result<String, ExperimentError> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let fail = |e: csv::Error| ExperimentError::Io {
        path: "(csv)".into(),
        message: e.to_string(),
    };
    writer
        .write_record(header.iter().map(AsRef::as_ref))
        .map_err(fail)?;
    for row in rows {
        writer.write_record(row).map_err(fail)?;
    }
    let bytes = writer.into_inner().map_err(|e| ExperimentError::Io {
        path: "(csv)".into(),
        message: e.to_string(),
    })?;
    String::from_utf8(bytes).map_err(|e| ExperimentError::Io {
        path: "(csv)".into(),
        message: e.to_string(),
    })
}

/// A number as in the CSV files: integers without a fraction, everything else as Rust prints it
/// (shortest round-trip form; `NaN`, `inf`).
pub fn number(v: f64) -> String {
    if v.is_finite() && v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// The text of `metrics.csv`: a header of [`COLUMNS`], one row per (step, run).
pub fn metrics_csv(rows: &[MetricRow]) -> Result<String, ExperimentError> {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.values().into_iter().map(number).collect())
        .collect();
    csv_text(COLUMNS, &rows)
}

/// The text of `timing.csv`: the wall time at each logged step (one line per step).
pub fn timing_csv(rows: &[MetricRow]) -> Result<String, ExperimentError> {
    let mut out = Vec::new();
    let mut last = None;
    for r in rows {
        if last != Some(r.step) {
            out.push(vec![r.step.to_string(), r.wall_seconds.to_string()]);
            last = Some(r.step);
        }
    }
    csv_text(&["step", "wall_seconds"], &out)
}

/// The text of `histograms.csv`.
pub fn histograms_csv(rows: &[HistogramRow]) -> Result<String, ExperimentError> {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.step.to_string(),
                r.run.to_string(),
                r.split.to_string(),
                r.bin.to_string(),
                r.lo.to_string(),
                r.hi.to_string(),
                r.count.to_string(),
            ]
        })
        .collect();
    csv_text(&["step", "run", "split", "bin", "lo", "hi", "count"], &rows)
}

/// The bytes of a `.npy` file (format 1.0) holding `values` as a little-endian f64 array of
/// `shape`, C order: `numpy.load` reads it back as `values.reshape(shape)`.
///
/// # Shapes
/// - `values`: `[shape[0]·shape[1]]`, row-major
pub fn weights_npy(values: &[f64], shape: [usize; 2]) -> Vec<u8> {
    let mut header = format!(
        "{{'descr': '<f8', 'fortran_order': False, 'shape': ({}, {}), }}",
        shape[0], shape[1]
    );
    // Magic (6) + version (2) + header length (2) + header + '\n' is a multiple of 64.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + 8 * values.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Removes the result files of an earlier run in `dir`, so a new run that is interrupted
/// cannot leave the old summary looking like its own.
pub fn clear_results(dir: &Path) -> Result<(), ExperimentError> {
    // The completion marker goes first: a directory half cleared must never look done.
    for name in [
        crate::store::DONE_MARKER,
        "summary.json",
        "metrics.csv",
        "timing.csv",
        "histograms.csv",
        "logits.csv",
        "weights.npy",
        "bias.npy",
        "config.json",
    ] {
        let path = dir.join(name);
        if path.exists() {
            std::fs::remove_file(&path).map_err(|e| ExperimentError::io(&path, e))?;
        }
    }
    Ok(())
}

/// The commit this binary was built from, recorded by the build script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildProvenance {
    /// `git rev-parse HEAD` at build time; `None` when the source was not a git checkout.
    pub commit: Option<&'static str>,
    /// Whether tracked files differed from that commit at build time; `None` when unknown.
    pub dirty: Option<bool>,
}

/// The build's provenance (see [`BuildProvenance`]).
pub fn build_provenance() -> BuildProvenance {
    let commit = env!("LOGIT_REG_GIT_COMMIT");
    let dirty = env!("LOGIT_REG_GIT_DIRTY");
    BuildProvenance {
        commit: (!commit.is_empty()).then_some(commit),
        dirty: match dirty {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_with_commas_and_quotes_are_quoted() {
        let text = csv_text(
            &["a", "b"],
            &[
                vec!["x,y".into(), "say \"hi\"".into()],
                vec!["1".into(), "2".into()],
            ],
        )
        .expect("csv");
        assert_eq!(text, "a,b\n\"x,y\",\"say \"\"hi\"\"\"\n1,2\n");
    }

    #[test]
    fn concurrent_atomic_writes_leave_one_whole_file_and_no_temporaries() {
        // Eight writers, 40 writes each, of contents that differ in length: with one shared
        // temporary name they would rename each other's half-written files (or fail to).
        let dir = std::env::temp_dir().join(format!("logit-reg-atomic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("summary.json");
        let contents: Vec<Vec<u8>> = (0..8)
            .map(|w| vec![b'a' + w as u8; 1000 * (w + 1)])
            .collect();
        std::thread::scope(|scope| {
            for c in &contents {
                let path = &path;
                scope.spawn(move || {
                    for _ in 0..40 {
                        write_atomic(path, c).expect("write");
                    }
                });
            }
        });
        let written = std::fs::read(&path).expect("read");
        assert!(contents.contains(&written), "a whole file of one writer");
        let left: Vec<_> = std::fs::read_dir(&dir).expect("list").flatten().collect();
        assert_eq!(left.len(), 1, "no temporary file left: {left:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn npy_header_is_aligned_and_describes_the_array() {
        // A 2×3 array: the header says so, the data are the six values in C order.
        let values = [1.0, 2.0, 3.0, 4.0, 5.0, -0.5];
        let bytes = weights_npy(&values, [2, 3]);
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).expect("ascii");
        assert!(header.contains("'descr': '<f8'") && header.contains("'shape': (2, 3)"));
        assert!(header.ends_with('\n'));
        let data: Vec<f64> = bytes[10 + header_len..]
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        assert_eq!(data, values);
    }
}
