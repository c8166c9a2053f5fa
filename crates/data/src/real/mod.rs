//! Real data sets read from standard files, and how to split them.
//!
//! Each loader reads a whole file, checks it, and returns a [`LabelledSet`]: `n` samples of
//! `d` features (row-major `f64`) with class labels in `0..k`. The loaders:
//!
//! | format | function | element types | notes |
//! |---|---|---|---|
//! | `.npy` features + labels | [`load_npy`] | f32, f64, u8, i64 (labels: u8, i32, i64) | C order; `[n, d]`, `[n, h, w]` or `[n, c, h, w]` |
//! | CSV with a label column | [`load_csv`] | numbers; labels whole numbers ≥ 0 | optional header; `.gz` or plain |
//! | IDX (MNIST, Fashion-MNIST) | [`load_idx`] | u8, i8, i16, i32, f32, f64 | images + labels; `.gz` or plain |
//! | CIFAR-10 binary batches | [`load_cifar10`] | u8 | one `.bin` file or a directory of them |
//! | the UCI digits (shipped) | [`digits`] | 0..=16 | 1,797 × 64, 10 classes, no file needed |
//!
//! Gzip is recognised by its magic bytes, not by the file name. Values are returned as stored
//! (pixels stay 0..=255); [`standardise`] rescales with the training set's statistics.
//!
//! Every check fails with a [`LoadError`] naming the file: a truncated file, a wrong magic
//! number or header, an unsupported dtype, features and labels of different lengths, a NaN or
//! infinite feature, a label out of range, a single class.
//!
//! # Example
//!
//! ```
//! use logit_reg_data::real::{SplitMode, digits, split, standardise};
//!
//! let set = digits()?;
//! assert_eq!((set.data.n, set.data.d, set.data.k), (1797, 64, 10));
//! let mut parts = split(&set.data, 1000, SplitMode::Stratified, 0)?;
//! standardise(&mut parts);
//! assert_eq!((parts.train.n, parts.test.n), (1000, 797));
//! # Ok::<(), logit_reg_data::real::LoadError>(())
//! ```

mod cifar10;
mod csv_table;
mod digits;
mod error;
pub mod geometry;
mod idx;
mod npy;
mod split;

use std::io::Read;
use std::path::{Path, PathBuf};

pub use cifar10::load_cifar10;
pub use csv_table::{CsvOptions, load_csv, load_csv_bytes};
pub use digits::{DIGITS_SHA256, digits, digits_gz};
pub use error::LoadError;
pub use idx::load_idx;
pub use npy::load_npy;
pub use split::{SplitMode, corrupt, split, split_with, standardise};

use crate::MultiClassDataset;

/// The shape of one sample when the samples are images: `channels × height × width`, stored
/// channel-major (all of channel 0, row by row, then channel 1, …), as Burn's `Conv2d` reads
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageShape {
    /// Channels (1 for grey, 3 for RGB).
    pub channels: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

impl ImageShape {
    /// Features per sample, `channels · height · width`.
    pub fn len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Whether the image has no pixels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A labelled data set read from files, before any split.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledSet {
    /// The samples (`x`, row-major `[n, d]`) and their labels in `0..k`.
    pub data: MultiClassDataset,
    /// The image shape of a sample, when the files say the samples are images.
    pub image: Option<ImageShape>,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
}

/// Labels as read from a file, before they are checked: integers, or floats that must be
/// whole numbers (CSV).
pub(crate) enum RawLabels {
    /// Integer labels.
    Int(Vec<i64>),
    /// Labels read as numbers.
    Float(Vec<f64>),
}

impl RawLabels {
    fn len(&self) -> usize {
        match self {
            RawLabels::Int(v) => v.len(),
            RawLabels::Float(v) => v.len(),
        }
    }
}

/// Checks features and labels and assembles the set.
///
/// `classes`: the number of classes, when it is known (CIFAR-10: 10) or given; otherwise
/// `1 + the largest label`. Fails on a length mismatch, a non-finite feature, a label that is
/// negative, not whole or not below `classes`, and a single class.
pub(crate) fn assemble(
    (features, x, d): (&Path, Vec<f64>, usize),
    (label_file, labels): (&Path, RawLabels),
    classes: Option<usize>,
    image: Option<ImageShape>,
) -> Result<LabelledSet, LoadError> {
    let n = x.len().checked_div(d).unwrap_or(0);
    if labels.len() != n {
        return Err(LoadError::LengthMismatch {
            features: features.to_path_buf(),
            n_features: n,
            labels: label_file.to_path_buf(),
            n_labels: labels.len(),
        });
    }
    if n == 0 {
        return Err(LoadError::malformed(features, "no samples"));
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(LoadError::NonFinite {
            path: features.to_path_buf(),
            row: i / d,
            column: i % d,
            value: x[i],
        });
    }
    let allowed = |k: Option<usize>| match k {
        Some(k) => format!("whole numbers in 0..={}", k - 1),
        None => "whole numbers >= 0".to_string(),
    };
    let bad = |row: usize, label: String| LoadError::LabelOutOfRange {
        path: label_file.to_path_buf(),
        row,
        label,
        allowed: allowed(classes),
    };
    let mut out = Vec::with_capacity(n);
    match labels {
        RawLabels::Int(v) => {
            for (row, l) in v.into_iter().enumerate() {
                match usize::try_from(l) {
                    Ok(c) if classes.is_none_or(|k| c < k) => out.push(c),
                    _ => return Err(bad(row, l.to_string())),
                }
            }
        }
        RawLabels::Float(v) => {
            for (row, l) in v.into_iter().enumerate() {
                let whole = l.is_finite() && l >= 0.0 && l.fract() == 0.0 && l < 1e15;
                let c = l as usize;
                if !whole || classes.is_some_and(|k| c >= k) {
                    return Err(bad(row, l.to_string()));
                }
                out.push(c);
            }
        }
    }
    let k = classes.unwrap_or_else(|| out.iter().max().map_or(0, |m| m + 1));
    if out.iter().all(|&c| c == out[0]) {
        return Err(LoadError::SingleClass {
            path: label_file.to_path_buf(),
            label: out[0],
        });
    }
    let mut files = vec![features.to_path_buf()];
    if label_file != features {
        files.push(label_file.to_path_buf());
    }
    Ok(LabelledSet {
        data: MultiClassDataset {
            n,
            d,
            k,
            x,
            labels: out,
        },
        image,
        files,
    })
}

/// The features per sample and the image shape of an array of `shape`: `[n, d]` (no image),
/// `[n, h, w]` (one channel) or `[n, c, h, w]`; `None` for any other rank or for no feature per
/// sample.
pub(crate) fn sample_layout(shape: &[usize]) -> Option<(usize, Option<ImageShape>)> {
    let image = |channels, height, width| ImageShape {
        channels,
        height,
        width,
    };
    let layout = match *shape {
        [_, d] => (d, None),
        [_, h, w] => (h * w, Some(image(1, h, w))),
        [_, c, h, w] => (c * h * w, Some(image(c, h, w))),
        _ => return None,
    };
    (layout.0 > 0).then_some(layout)
}

/// The whole content of `path`, decompressed when it starts with gzip's magic bytes.
pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>, LoadError> {
    let raw = std::fs::read(path).map_err(|e| LoadError::io(path, e))?;
    gunzip_if_compressed(path, raw)
}

/// `raw` decompressed when it starts with gzip's magic bytes `1f 8b`, else unchanged.
pub(crate) fn gunzip_if_compressed(path: &Path, raw: Vec<u8>) -> Result<Vec<u8>, LoadError> {
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| LoadError::io(path, format!("corrupt gzip stream: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Multiplies dimensions with overflow checking; `None` when the product does not fit.
pub(crate) fn checked_product(dims: &[u64]) -> Option<u64> {
    dims.iter().try_fold(1u64, |p, &v| p.checked_mul(v))
}
