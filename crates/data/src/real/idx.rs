//! IDX files: MNIST's and Fashion-MNIST's format.
//!
//! An IDX file is two zero bytes, a type code, the number of dimensions `r`, then `r`
//! big-endian `u32` sizes, then the values, big-endian, in C order. Type codes: `0x08` u8,
//! `0x09` i8, `0x0B` i16, `0x0C` i32, `0x0D` f32, `0x0E` f64.

use std::path::Path;

use super::{LabelledSet, LoadError, RawLabels, assemble, read_bytes, sample_layout};

const DTYPES: &str = "0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64";

/// A parsed IDX array: its dimensions and its values.
struct IdxArray {
    dims: Vec<usize>,
    values: Vec<f64>,
}

fn parse(path: &Path, bytes: &[u8]) -> Result<IdxArray, LoadError> {
    if bytes.len() < 4 {
        return Err(LoadError::Truncated {
            path: path.to_path_buf(),
            what: "the IDX magic number".into(),
            expected: 4,
            found: bytes.len() as u64,
        });
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(LoadError::header(
            path,
            "IDX",
            format!(
                "the magic number starts with {:02x} {:02x} (allowed: 00 00)",
                bytes[0], bytes[1]
            ),
        ));
    }
    let (code, rank) = (bytes[2], bytes[3] as usize);
    let width = match code {
        0x08 | 0x09 => 1,
        0x0B => 2,
        0x0C | 0x0D => 4,
        0x0E => 8,
        _ => {
            return Err(LoadError::UnsupportedDtype {
                path: path.to_path_buf(),
                dtype: format!("type code 0x{code:02X}"),
                allowed: DTYPES,
            });
        }
    };
    if rank == 0 {
        return Err(LoadError::header(path, "IDX", "0 dimensions"));
    }
    let header_len = 4 + 4 * rank;
    if bytes.len() < header_len {
        return Err(LoadError::Truncated {
            path: path.to_path_buf(),
            what: format!("the sizes of {rank} dimensions"),
            expected: header_len as u64,
            found: bytes.len() as u64,
        });
    }
    let dims: Vec<u64> = bytes[4..header_len]
        .chunks_exact(4)
        .map(|c| u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
        .collect();
    let body = super::checked_product(&dims)
        .and_then(|n| n.checked_mul(width as u64))
        .ok_or_else(|| LoadError::header(path, "IDX", format!("sizes {dims:?} overflow")))?;
    let expected = header_len as u64 + body;
    if (bytes.len() as u64) < expected {
        return Err(LoadError::Truncated {
            path: path.to_path_buf(),
            what: format!("an IDX array of sizes {dims:?} (type code 0x{code:02X})"),
            expected,
            found: bytes.len() as u64,
        });
    }
    let data = &bytes[header_len..expected as usize];
    let values: Vec<f64> = match code {
        0x08 => data.iter().map(|&b| f64::from(b)).collect(),
        0x09 => data.iter().map(|&b| f64::from(b as i8)).collect(),
        0x0B => data
            .chunks_exact(2)
            .map(|c| f64::from(i16::from_be_bytes([c[0], c[1]])))
            .collect(),
        0x0C => data
            .chunks_exact(4)
            .map(|c| f64::from(i32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        0x0D => data
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        _ => data
            .chunks_exact(8)
            .map(|c| f64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
    };
    Ok(IdxArray {
        dims: dims.into_iter().map(|v| v as usize).collect(),
        values,
    })
}

/// Reads an IDX images file (`[n, h, w]`, `[n, d]` or `[n, c, h, w]`) and an IDX labels file
/// (`[n]`), each gzipped or not, as MNIST and Fashion-MNIST ship them (`train-images-idx3-ubyte.gz`,
/// `train-labels-idx1-ubyte.gz`).
///
/// `classes`: the number of classes when known (10 for MNIST); `None` takes `1 + the largest
/// label`.
///
/// # Errors
/// [`LoadError`] naming the file: a magic number that does not start with two zero bytes, an
/// unknown type code, a truncated file, a wrong rank, a length mismatch, non-finite values,
/// labels out of range, one class.
pub fn load_idx(
    images: &Path,
    labels: &Path,
    classes: Option<usize>,
) -> Result<LabelledSet, LoadError> {
    let array = parse(images, &read_bytes(images)?)?;
    let (d, image) = sample_layout(&array.dims).ok_or_else(|| {
        LoadError::malformed(
            images,
            format!(
                "images have sizes {:?} (allowed: [n, d], [n, h, w] or [n, c, h, w], with at \
                 least one pixel per image)",
                array.dims
            ),
        )
    })?;
    let label_array = parse(labels, &read_bytes(labels)?)?;
    if label_array.dims.len() != 1 {
        return Err(LoadError::malformed(
            labels,
            format!(
                "labels have sizes {:?} (allowed: one dimension, [n])",
                label_array.dims
            ),
        ));
    }
    assemble(
        (images, array.values, d),
        (labels, RawLabels::Float(label_array.values)),
        classes,
        image,
    )
}
