//! The UCI handwritten digits, shipped with the crate (see `assets/README.md`).

use std::path::Path;

use super::{CsvOptions, ImageShape, LabelledSet, LoadError, load_csv_bytes};

/// The SHA-256 of the shipped `digits.csv.gz`, as recorded in `crates/data/assets/README.md`.
pub const DIGITS_SHA256: &str = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22";

const DIGITS_GZ: &[u8] = include_bytes!("../../assets/digits.csv.gz");

/// The shipped file's bytes (gzipped CSV), for checksums and for users who want the file.
pub fn digits_gz() -> &'static [u8] {
    DIGITS_GZ
}

/// The UCI handwritten digits (scikit-learn's copy): 1,797 images of 8 × 8 pixels with values
/// 0..=16, labels 0..=9. Compiled into the binary; nothing is read from disk.
///
/// # Errors
/// Only if the shipped bytes were damaged at build time.
pub fn digits() -> Result<LabelledSet, LoadError> {
    let path = Path::new("<shipped>/digits.csv.gz");
    let options = CsvOptions {
        label_column: -1,
        header: false,
        classes: Some(10),
    };
    let mut set = load_csv_bytes(path, DIGITS_GZ.to_vec(), options)?;
    set.image = Some(ImageShape {
        channels: 1,
        height: 8,
        width: 8,
    });
    Ok(set)
}
