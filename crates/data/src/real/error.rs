use std::path::{Path, PathBuf};

use thiserror::Error;

/// A data file that cannot be used, or a split that cannot be made.
///
/// Every variant names the file and what is wrong with it, so that the user knows which file to
/// fix and how. A loader reads and checks the whole file before it returns, so no caller ever
/// sees part of a data set.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum LoadError {
    /// The file cannot be opened or read, or its compression is corrupt.
    #[error("{}: cannot read: {message}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's or the decompressor's message.
        message: String,
    },
    /// The file ends before the data its header announces.
    #[error("{}: truncated: {what} needs {expected} bytes, the file has {found}", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// What was being read, e.g. `a [100, 64] <f4 array`.
        what: String,
        /// The bytes needed.
        expected: u64,
        /// The bytes present.
        found: u64,
    },
    /// The file does not start like a file of its format (magic number or header).
    #[error("{}: not a valid {format} file: {reason}", path.display())]
    BadHeader {
        /// The file.
        path: PathBuf,
        /// The format expected, e.g. `.npy`.
        format: &'static str,
        /// What is wrong with the header.
        reason: String,
    },
    /// The element type is not one this loader reads.
    #[error("{}: unsupported dtype {dtype} (allowed: {allowed})", path.display())]
    UnsupportedDtype {
        /// The file.
        path: PathBuf,
        /// The dtype found, as the format spells it.
        dtype: String,
        /// The dtypes this loader reads.
        allowed: &'static str,
    },
    /// The content is well-formed but not a usable table: wrong rank, ragged rows, an
    /// unparsable number, no rows.
    #[error("{}: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong, with its position.
        reason: String,
    },
    /// The features and the labels have different numbers of samples.
    #[error(
        "{} has {n_features} samples but {} has {n_labels} labels (they must match)",
        features.display(),
        labels.display()
    )]
    LengthMismatch {
        /// The features file.
        features: PathBuf,
        /// Its number of samples.
        n_features: usize,
        /// The labels file.
        labels: PathBuf,
        /// Its number of labels.
        n_labels: usize,
    },
    /// A feature is NaN or infinite.
    #[error(
        "{}: sample {row}, feature {column} is {value} (allowed: finite values)",
        path.display()
    )]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// The sample's index (0-based).
        row: usize,
        /// The feature's index (0-based).
        column: usize,
        /// The value found.
        value: f64,
    },
    /// A label is negative, not a whole number, or not below the number of classes.
    #[error("{}: sample {row} has label {label} (allowed: {allowed})", path.display())]
    LabelOutOfRange {
        /// The file.
        path: PathBuf,
        /// The sample's index (0-based).
        row: usize,
        /// The label found, as text.
        label: String,
        /// The allowed labels.
        allowed: String,
    },
    /// Every sample has the same label.
    #[error(
        "{}: every sample has label {label}; a classifier needs at least two classes",
        path.display()
    )]
    SingleClass {
        /// The file.
        path: PathBuf,
        /// The one label.
        label: usize,
    },
    /// A loading or splitting parameter is out of range.
    #[error("invalid value for `{field}`: {value} (allowed: {allowed})")]
    OutOfRange {
        /// The parameter, e.g. `n_train`.
        field: &'static str,
        /// The value given, as text.
        value: String,
        /// The allowed range, as text.
        allowed: String,
    },
}

impl LoadError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: &Path, e: impl std::fmt::Display) -> Self {
        LoadError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }

    /// A malformed table in `path`.
    pub(crate) fn malformed(path: &Path, reason: impl Into<String>) -> Self {
        LoadError::Malformed {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    /// A bad header of a `format` file.
    pub(crate) fn header(path: &Path, format: &'static str, reason: impl Into<String>) -> Self {
        LoadError::BadHeader {
            path: path.to_path_buf(),
            format,
            reason: reason.into(),
        }
    }
}
