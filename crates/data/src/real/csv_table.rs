//! CSV tables with one label column, read with the `csv` crate.

use std::path::Path;

use super::{LabelledSet, LoadError, RawLabels, assemble, gunzip_if_compressed};

/// How to read a CSV table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvOptions {
    /// The label column: `0` is the first, `-1` the last (negative values count from the end).
    pub label_column: i64,
    /// Whether the first row is a header to skip.
    pub header: bool,
    /// The number of classes when known; `None` takes `1 + the largest label`.
    pub classes: Option<usize>,
}

impl Default for CsvOptions {
    /// The label in the last column, no header, classes from the labels.
    fn default() -> Self {
        Self {
            label_column: -1,
            header: false,
            classes: None,
        }
    }
}

/// Reads a comma-separated table (gzipped or not): every row has the same number of fields,
/// the label column holds whole numbers `>= 0`, every other column a number.
///
/// # Errors
/// [`LoadError`] naming the file and, for a bad value, its line and column: ragged rows, a
/// field that is not a number, a label column outside the row, no rows, non-finite features,
/// labels out of range, one class.
pub fn load_csv(path: &Path, options: CsvOptions) -> Result<LabelledSet, LoadError> {
    let raw = std::fs::read(path).map_err(|e| LoadError::io(path, e))?;
    load_csv_bytes(path, raw, options)
}

/// [`load_csv`] on bytes already in memory (`path` names them in errors).
pub fn load_csv_bytes(
    path: &Path,
    raw: Vec<u8>,
    options: CsvOptions,
) -> Result<LabelledSet, LoadError> {
    let bytes = gunzip_if_compressed(path, raw)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(options.header)
        .trim(csv::Trim::All)
        .from_reader(&bytes[..]);
    let mut x = Vec::new();
    let mut labels = Vec::new();
    let mut width: Option<(usize, usize)> = None;
    for (index, record) in reader.records().enumerate() {
        let record = record.map_err(|e| LoadError::malformed(path, csv_message(&e)))?;
        let line = record
            .position()
            .map_or(index + 1 + usize::from(options.header), |p| {
                p.line() as usize
            });
        let (fields, label_at) = match width {
            Some(w) => w,
            None => {
                let fields = record.len();
                let label_at = resolve_column(options.label_column, fields)?;
                if fields < 2 {
                    return Err(LoadError::malformed(
                        path,
                        format!(
                            "line {line} has {fields} field (allowed: a label and at least one feature)"
                        ),
                    ));
                }
                *width.insert((fields, label_at))
            }
        };
        debug_assert_eq!(record.len(), fields, "the csv reader refuses ragged rows");
        for (column, field) in record.iter().enumerate() {
            let value: f64 = field.parse().map_err(|_| {
                LoadError::malformed(
                    path,
                    format!(
                        "line {line}, column {}: {field:?} is not a number",
                        column + 1
                    ),
                )
            })?;
            if column == label_at {
                labels.push(value);
            } else {
                x.push(value);
            }
        }
    }
    let Some((fields, _)) = width else {
        return Err(LoadError::malformed(path, "no data rows"));
    };
    assemble(
        (path, x, fields - 1),
        (path, RawLabels::Float(labels)),
        options.classes,
        None,
    )
}

/// The 0-based index of `label_column` in rows of `fields` fields.
fn resolve_column(label_column: i64, fields: usize) -> Result<usize, LoadError> {
    let index = if label_column < 0 {
        fields as i64 + label_column
    } else {
        label_column
    };
    if (0..fields as i64).contains(&index) {
        Ok(index as usize)
    } else {
        Err(LoadError::OutOfRange {
            field: "label_column",
            value: label_column.to_string(),
            allowed: format!(
                "-{fields}..={} for rows of {fields} fields (negative counts from the end)",
                fields - 1
            ),
        })
    }
}

/// The csv crate's error in words, with the line where it has one.
fn csv_message(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => format!(
            "line {} has {len} fields, the rows before it {expected_len} (rows must be equally long)",
            pos.as_ref().map_or(0, |p| p.line())
        ),
        csv::ErrorKind::Utf8 { pos, .. } => format!(
            "line {} is not valid UTF-8",
            pos.as_ref().map_or(0, |p| p.line())
        ),
        _ => e.to_string(),
    }
}
