//! CIFAR-10's binary batches (`cifar-10-batches-bin`).
//!
//! Each record is 3,073 bytes: the label (0..=9), then 1,024 red, 1,024 green and 1,024 blue
//! pixels of a 32×32 image, each row by row. A batch file holds 10,000 records.

use std::path::{Path, PathBuf};

use super::{ImageShape, LabelledSet, LoadError, RawLabels, assemble, read_bytes};

/// Bytes per record: one label and 3 × 32 × 32 pixels.
const RECORD: usize = 1 + 3 * 32 * 32;
/// CIFAR-10's classes.
const CLASSES: usize = 10;

/// The batch files under `path`: `path` itself when it is a file, else every `*.bin` file in
/// the directory, sorted by name (`data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`).
fn batch_files(path: &Path) -> Result<Vec<PathBuf>, LoadError> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| LoadError::io(path, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "bin") && p.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(LoadError::malformed(
            path,
            "the directory holds no .bin batch file (expected cifar-10-batches-bin/*.bin)",
        ));
    }
    Ok(files)
}

/// Reads CIFAR-10 binary batches: one `.bin` file, or every `.bin` file of a directory (the
/// five training batches and the test batch, pooled, in file-name order). Each file may be
/// gzipped. The samples are images of shape 3 × 32 × 32, pixels 0..=255 as stored.
///
/// # Errors
/// [`LoadError`] naming the file: a size that is not a whole number of 3,073-byte records
/// (truncated), a label above 9, an empty directory, one class.
pub fn load_cifar10(path: &Path) -> Result<LabelledSet, LoadError> {
    let files = batch_files(path)?;
    let mut x = Vec::new();
    let mut labels = Vec::new();
    for file in &files {
        let bytes = read_bytes(file)?;
        if bytes.is_empty() || bytes.len() % RECORD != 0 {
            let records = bytes.len().div_ceil(RECORD).max(1);
            return Err(LoadError::Truncated {
                path: file.clone(),
                what: format!("{records} CIFAR-10 records of {RECORD} bytes"),
                expected: (records * RECORD) as u64,
                found: bytes.len() as u64,
            });
        }
        for (i, record) in bytes.chunks_exact(RECORD).enumerate() {
            if usize::from(record[0]) >= CLASSES {
                return Err(LoadError::LabelOutOfRange {
                    path: file.clone(),
                    row: i,
                    label: record[0].to_string(),
                    allowed: "0..=9 (CIFAR-10's classes)".into(),
                });
            }
            labels.push(i64::from(record[0]));
            x.extend(record[1..].iter().map(|&b| f64::from(b)));
        }
    }
    let mut set = assemble(
        (&files[0], x, RECORD - 1),
        (&files[0], RawLabels::Int(labels)),
        Some(CLASSES),
        Some(ImageShape {
            channels: 3,
            height: 32,
            width: 32,
        }),
    )?;
    set.files = files;
    Ok(set)
}
