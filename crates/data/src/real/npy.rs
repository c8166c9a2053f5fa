//! NumPy `.npy` files, read with the `npyz` crate.

use std::path::Path;

use npyz::{DType, NpyFile, NpyHeader, Order, TypeChar};

use super::{LabelledSet, LoadError, RawLabels, assemble, read_bytes, sample_layout};

const FEATURE_DTYPES: &str = "f32 (<f4), f64 (<f8), u8 (|u1), i64 (<i8), either byte order";
const LABEL_DTYPES: &str = "u8 (|u1), i32 (<i4), i64 (<i8), either byte order";

/// The element type of an array, among those the loaders read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Element {
    F32,
    F64,
    U8,
    I32,
    I64,
}

/// A parsed `.npy` file: its header and the bytes after it.
struct Array<'a> {
    header: NpyHeader,
    element: Element,
    data: &'a [u8],
}

fn parse<'a>(
    path: &Path,
    bytes: &'a [u8],
    allowed: &'static str,
    accept: &[Element],
) -> Result<Array<'a>, LoadError> {
    if !bytes.starts_with(b"\x93NUMPY") {
        let start: Vec<String> = bytes.iter().take(6).map(|b| format!("{b:02x}")).collect();
        return Err(LoadError::header(
            path,
            ".npy",
            format!(
                "the magic string \\x93NUMPY is missing (the file starts with {})",
                start.join(" ")
            ),
        ));
    }
    let mut rest = bytes;
    let header = NpyHeader::from_reader(&mut rest)
        .map_err(|e| LoadError::header(path, ".npy", e.to_string()))?;
    let dtype = header.dtype();
    let unsupported = || LoadError::UnsupportedDtype {
        path: path.to_path_buf(),
        dtype: match &dtype {
            DType::Plain(ts) => ts.to_string(),
            other => other.descr(),
        },
        allowed,
    };
    let DType::Plain(ts) = &dtype else {
        return Err(unsupported());
    };
    let element = match (ts.type_char(), ts.size_field()) {
        (TypeChar::Float, 4) => Element::F32,
        (TypeChar::Float, 8) => Element::F64,
        (TypeChar::Uint, 1) => Element::U8,
        (TypeChar::Int, 4) => Element::I32,
        (TypeChar::Int, 8) => Element::I64,
        _ => return Err(unsupported()),
    };
    if !accept.contains(&element) {
        return Err(unsupported());
    }
    if header.order() == Order::Fortran && header.shape().len() > 1 {
        return Err(LoadError::malformed(
            path,
            "the array is in Fortran order (allowed: C order; save np.ascontiguousarray(a))",
        ));
    }
    let width = match element {
        Element::U8 => 1,
        Element::F32 | Element::I32 => 4,
        Element::F64 | Element::I64 => 8,
    };
    let expected = super::checked_product(header.shape())
        .and_then(|n| n.checked_mul(width))
        .ok_or_else(|| {
            LoadError::header(
                path,
                ".npy",
                format!("shape {:?} overflows", header.shape()),
            )
        })?;
    if (rest.len() as u64) < expected {
        return Err(LoadError::Truncated {
            path: path.to_path_buf(),
            what: format!("a {:?} {} array", header.shape(), ts),
            expected,
            found: rest.len() as u64,
        });
    }
    Ok(Array {
        header,
        element,
        data: &rest[..expected as usize],
    })
}

fn read_floats(path: &Path, array: Array<'_>) -> Result<Vec<f64>, LoadError> {
    let npy = NpyFile::with_header(array.header, array.data);
    let io = |e: std::io::Error| LoadError::io(path, e);
    Ok(match array.element {
        Element::F32 => npy
            .into_vec::<f32>()
            .map_err(io)?
            .into_iter()
            .map(f64::from)
            .collect(),
        Element::F64 => npy.into_vec::<f64>().map_err(io)?,
        Element::U8 => npy
            .into_vec::<u8>()
            .map_err(io)?
            .into_iter()
            .map(f64::from)
            .collect(),
        Element::I32 => npy
            .into_vec::<i32>()
            .map_err(io)?
            .into_iter()
            .map(f64::from)
            .collect(),
        Element::I64 => npy
            .into_vec::<i64>()
            .map_err(io)?
            .into_iter()
            .map(|v| v as f64)
            .collect(),
    })
}

fn read_ints(path: &Path, array: Array<'_>) -> Result<Vec<i64>, LoadError> {
    let npy = NpyFile::with_header(array.header, array.data);
    let io = |e: std::io::Error| LoadError::io(path, e);
    Ok(match array.element {
        Element::U8 => npy
            .into_vec::<u8>()
            .map_err(io)?
            .into_iter()
            .map(i64::from)
            .collect(),
        Element::I32 => npy
            .into_vec::<i32>()
            .map_err(io)?
            .into_iter()
            .map(i64::from)
            .collect(),
        Element::I64 => npy.into_vec::<i64>().map_err(io)?,
        // `parse` refuses float labels before this point; kept total without a panic.
        Element::F32 | Element::F64 => {
            return Err(LoadError::UnsupportedDtype {
                path: path.to_path_buf(),
                dtype: "a float type".into(),
                allowed: LABEL_DTYPES,
            });
        }
    })
}

/// Reads features from `features` (`[n, d]`, or images `[n, h, w]` / `[n, c, h, w]`) and class
/// labels from `labels` (`[n]` or `[n, 1]`), both `.npy` (gzipped or not), as NumPy's
/// `np.save` writes them.
///
/// `classes`: the number of classes when known; `None` takes `1 + the largest label`.
///
/// # Errors
/// [`LoadError`] naming the file: a missing magic string or a bad header, an unsupported dtype
/// (features: f32, f64, u8, i64; labels: u8, i32, i64), Fortran order, a wrong rank, a
/// truncated array, a length mismatch, non-finite features, labels out of range, one class.
pub fn load_npy(
    features: &Path,
    labels: &Path,
    classes: Option<usize>,
) -> Result<LabelledSet, LoadError> {
    use Element::*;
    let feature_bytes = read_bytes(features)?;
    let array = parse(
        features,
        &feature_bytes,
        FEATURE_DTYPES,
        &[F32, F64, U8, I64],
    )?;
    let shape: Vec<usize> = array.header.shape().iter().map(|&v| v as usize).collect();
    let (d, image) = sample_layout(&shape).ok_or_else(|| {
        LoadError::malformed(
            features,
            format!(
                "features have shape {shape:?} (allowed: [n, d], [n, h, w] or [n, c, h, w], with \
                 at least one feature per sample)"
            ),
        )
    })?;
    let x = read_floats(features, array)?;
    let label_bytes = read_bytes(labels)?;
    let array = parse(labels, &label_bytes, LABEL_DTYPES, &[U8, I32, I64])?;
    let label_shape = array.header.shape().to_vec();
    if !matches!(label_shape[..], [_] | [_, 1]) {
        return Err(LoadError::malformed(
            labels,
            format!("labels have shape {label_shape:?} (allowed: [n] or [n, 1])"),
        ));
    }
    let y = read_ints(labels, array)?;
    assemble(
        (features, x, d),
        (labels, RawLabels::Int(y)),
        classes,
        image,
    )
}
