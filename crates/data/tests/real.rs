//! Tests of the real-data loaders on small files written here byte by byte (the formats'
//! specifications are the oracle, not the crates that read them), of the shipped digits, and
//! of the split and standardisation.

use std::io::Write;
use std::path::{Path, PathBuf};

use logit_reg_data::MultiClassDataset;
use logit_reg_data::real::{
    CsvOptions, DIGITS_SHA256, ImageShape, LoadError, SplitMode, digits, digits_gz, load_cifar10,
    load_csv, load_idx, load_npy, split, standardise,
};
use sha2::{Digest, Sha256};

/// A fresh directory for one test's files, removed when the test ends (pass or fail).
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("logit-reg-real-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    Scratch(dir)
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write test file");
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

/// An `.npy` file (format 1.0) as the NumPy format specification lays it out: magic, version,
/// little-endian header length, the header dict padded with spaces to a multiple of 64 bytes
/// and ended by a newline, then the raw bytes.
fn npy(descr: &str, fortran: bool, shape: &[usize], body: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|s| s.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let fortran = if fortran { "True" } else { "False" };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(body);
    out
}

fn f32_le(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn f64_le(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn i64_le(values: &[i64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

const FEATURES: [f32; 6] = [0.5, -1.25, 2.0, 3.5, -0.125, 7.0];

/// Writes features `[3, 2]` (`FEATURES`, f32) and labels `[0, 2, 1]` (i64).
fn npy_pair(dir: &Path) -> (PathBuf, PathBuf) {
    let (f, l) = (dir.join("x.npy"), dir.join("y.npy"));
    write(&f, &npy("<f4", false, &[3, 2], &f32_le(&FEATURES)));
    write(&l, &npy("<i8", false, &[3], &i64_le(&[0, 2, 1])));
    (f, l)
}

#[test]
fn npy_reads_every_supported_dtype_exactly() {
    let dir = scratch("npy-dtypes");
    let (f, l) = npy_pair(&dir);
    let set = load_npy(&f, &l, None).expect("loads");
    let expected: Vec<f64> = FEATURES.iter().map(|&v| f64::from(v)).collect();
    assert_eq!(
        (set.data.n, set.data.d, set.data.k),
        (3, 2, 3),
        "k is 1 + the largest label"
    );
    assert_eq!(set.data.x, expected);
    assert_eq!(set.data.labels, vec![0, 2, 1]);
    assert_eq!(set.image, None);
    assert_eq!(set.files, vec![f.clone(), l.clone()]);

    // f64, big-endian f64, u8 and i64 features give the same numbers.
    let big: Vec<u8> = expected.iter().flat_map(|v| v.to_be_bytes()).collect();
    for (descr, body) in [
        ("<f8", f64_le(&expected)),
        (">f8", big),
        ("|u1", vec![1, 2, 3, 4, 5, 6]),
        ("<i8", i64_le(&[1, 2, 3, 4, 5, 6])),
    ] {
        write(&f, &npy(descr, false, &[3, 2], &body));
        let set = load_npy(&f, &l, None).expect(descr);
        let want = if descr.contains('f') {
            expected.clone()
        } else {
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        };
        assert_eq!(set.data.x, want, "{descr}");
    }
    // Labels as u8, i32, and as a [n, 1] column.
    for (descr, shape, body) in [
        ("|u1", vec![3], vec![0u8, 2, 1]),
        (
            "<i4",
            vec![3, 1],
            [0i32, 2, 1].iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
    ] {
        write(&l, &npy(descr, false, &shape, &body));
        assert_eq!(
            load_npy(&f, &l, None).expect(descr).data.labels,
            vec![0, 2, 1]
        );
    }
}

#[test]
fn npy_images_keep_their_shape_and_gzip_is_transparent() {
    let dir = scratch("npy-images");
    let (f, l) = (dir.join("x.npy.gz"), dir.join("y.npy"));
    let pixels: Vec<f32> = (0..2 * 3 * 2 * 2).map(|v| v as f32).collect();
    write(
        &f,
        &gzip(&npy("<f4", false, &[2, 3, 2, 2], &f32_le(&pixels))),
    );
    write(&l, &npy("|u1", false, &[2], &[1, 0]));
    let set = load_npy(&f, &l, None).expect("loads");
    assert_eq!(
        set.image,
        Some(ImageShape {
            channels: 3,
            height: 2,
            width: 2
        })
    );
    assert_eq!((set.data.n, set.data.d), (2, 12));
    assert_eq!(set.data.x[12], 12.0, "C order: sample 1 starts at value 12");
    // [n, h, w] is one channel.
    write(&f, &npy("<f4", false, &[2, 4, 3], &f32_le(&pixels)));
    let image = load_npy(&f, &l, None).expect("loads").image.expect("image");
    assert_eq!((image.channels, image.height, image.width), (1, 4, 3));
}

/// The error of loading `features` with the standard labels, or of the standard features with
/// `labels`.
fn npy_error(
    features: Option<Vec<u8>>,
    labels: Option<Vec<u8>>,
    classes: Option<usize>,
) -> LoadError {
    let dir = scratch(&format!("npy-err-{}", rand_tag()));
    let (f, l) = npy_pair(&dir);
    if let Some(bytes) = features {
        write(&f, &bytes);
    }
    if let Some(bytes) = labels {
        write(&l, &bytes);
    }
    load_npy(&f, &l, classes).expect_err("must fail")
}

fn rand_tag() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[test]
fn npy_bad_files_get_errors_that_name_the_problem() {
    let good = npy("<f4", false, &[3, 2], &f32_le(&FEATURES));
    // A wrong magic string.
    let mut bad = good.clone();
    bad[1] = b'X';
    let e = npy_error(Some(bad), None, None);
    assert!(matches!(e, LoadError::BadHeader { .. }), "{e}");
    assert!(
        e.to_string().contains("x.npy") && e.to_string().contains("magic"),
        "{e}"
    );
    // Truncated: the header announces 24 bytes of data, 20 are there.
    let e = npy_error(Some(good[..good.len() - 4].to_vec()), None, None);
    assert!(
        matches!(
            e,
            LoadError::Truncated {
                expected: 24,
                found: 20,
                ..
            }
        ),
        "{e}"
    );
    // Unsupported dtypes: complex and i16 features, float labels.
    for descr in ["<c16", "<i2"] {
        let e = npy_error(Some(npy(descr, false, &[3, 2], &[0; 96])), None, None);
        assert!(
            matches!(&e, LoadError::UnsupportedDtype { dtype, .. } if dtype == descr),
            "{e}"
        );
    }
    let e = npy_error(
        None,
        Some(npy("<f8", false, &[3], &f64_le(&[0.0, 1.0, 2.0]))),
        None,
    );
    assert!(matches!(e, LoadError::UnsupportedDtype { .. }), "{e}");
    assert!(e.to_string().contains("y.npy"), "{e}");
    // Fortran order and a wrong rank.
    let e = npy_error(
        Some(npy("<f4", true, &[3, 2], &f32_le(&FEATURES))),
        None,
        None,
    );
    assert!(e.to_string().contains("Fortran"), "{e}");
    let e = npy_error(
        Some(npy("<f4", false, &[6], &f32_le(&FEATURES))),
        None,
        None,
    );
    assert!(e.to_string().contains("shape [6]"), "{e}");
    // Features and labels of different lengths.
    let e = npy_error(None, Some(npy("<i8", false, &[2], &i64_le(&[0, 1]))), None);
    assert!(
        matches!(
            e,
            LoadError::LengthMismatch {
                n_features: 3,
                n_labels: 2,
                ..
            }
        ),
        "{e}"
    );
    // NaN and inf features, with their position.
    for bad in [f32::NAN, f32::INFINITY] {
        let mut values = FEATURES;
        values[3] = bad;
        let e = npy_error(
            Some(npy("<f4", false, &[3, 2], &f32_le(&values))),
            None,
            None,
        );
        assert!(
            matches!(
                e,
                LoadError::NonFinite {
                    row: 1,
                    column: 1,
                    ..
                }
            ),
            "{e}"
        );
    }
    // A negative label, a label beyond the given number of classes, a single class.
    let e = npy_error(
        None,
        Some(npy("<i8", false, &[3], &i64_le(&[0, -1, 1]))),
        None,
    );
    assert!(
        matches!(e, LoadError::LabelOutOfRange { row: 1, .. }),
        "{e}"
    );
    let e = npy_error(None, None, Some(2));
    assert!(
        matches!(&e, LoadError::LabelOutOfRange { row: 1, label, .. } if label == "2"),
        "{e}"
    );
    let e = npy_error(
        None,
        Some(npy("<i8", false, &[3], &i64_le(&[4, 4, 4]))),
        None,
    );
    assert!(matches!(e, LoadError::SingleClass { label: 4, .. }), "{e}");
    // A missing file.
    let e =
        load_npy(Path::new("/nonexistent/x.npy"), Path::new("y.npy"), None).expect_err("no file");
    assert!(matches!(e, LoadError::Io { .. }) && e.to_string().contains("/nonexistent/x.npy"));
    // A corrupt gzip stream.
    let mut gz = gzip(&good);
    let len = gz.len();
    gz.truncate(len / 2);
    let e = npy_error(Some(gz), None, None);
    assert!(e.to_string().contains("gzip"), "{e}");
}

#[test]
fn csv_reads_labels_anywhere_with_or_without_a_header() {
    let dir = scratch("csv");
    let path = dir.join("t.csv");
    write(&path, b"label,a,b\n1, 0.5,2\n0,-1,3.25\n2,4,1e-3\n");
    let options = CsvOptions {
        label_column: 0,
        header: true,
        classes: None,
    };
    let set = load_csv(&path, options).expect("loads");
    assert_eq!((set.data.n, set.data.d, set.data.k), (3, 2, 3));
    assert_eq!(set.data.x, vec![0.5, 2.0, -1.0, 3.25, 4.0, 1e-3]);
    assert_eq!(set.data.labels, vec![1, 0, 2]);
    // The same table gzipped, and with the label last (the default) and no header.
    let gz = dir.join("t.csv.gz");
    write(&gz, &gzip(b"0.5,2,1\n-1,3.25,0\n4,1e-3,2.0\n"));
    let other = load_csv(&gz, CsvOptions::default()).expect("loads");
    assert_eq!(other.data, set.data);
}

#[test]
fn csv_bad_tables_get_errors_with_line_and_column() {
    let dir = scratch("csv-bad");
    let path = dir.join("bad.csv");
    let error = |text: &str, options: CsvOptions| {
        write(&path, text.as_bytes());
        load_csv(&path, options).expect_err(text)
    };
    let default = CsvOptions::default();
    let e = error("1,2,0\n3,4\n", default);
    assert!(e.to_string().contains("line 2 has 2 fields"), "{e}");
    let e = error("1,2,0\n3,x,1\n", default);
    assert!(e.to_string().contains("line 2, column 2: \"x\""), "{e}");
    let e = error("1,2,0\n3,4,1.5\n", default);
    assert!(
        matches!(&e, LoadError::LabelOutOfRange { row: 1, label, .. } if label == "1.5"),
        "{e}"
    );
    let e = error("1,inf,0\n3,4,1\n", default);
    assert!(
        matches!(
            e,
            LoadError::NonFinite {
                row: 0,
                column: 1,
                ..
            }
        ),
        "{e}"
    );
    let e = error(
        "1,2,0\n3,4,1\n",
        CsvOptions {
            label_column: 3,
            ..default
        },
    );
    assert!(
        matches!(
            &e,
            LoadError::OutOfRange {
                field: "label_column",
                ..
            }
        ),
        "{e}"
    );
    let e = error("", default);
    assert!(e.to_string().contains("no data rows"), "{e}");
    let e = error("1,2,1\n3,4,1\n", default);
    assert!(matches!(e, LoadError::SingleClass { label: 1, .. }), "{e}");
}

/// An IDX file: `00 00 code rank`, big-endian u32 sizes, then `body`.
fn idx(code: u8, dims: &[u32], body: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, code, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(body);
    out
}

#[test]
fn idx_reads_mnist_layout_plain_and_gzipped() {
    let dir = scratch("idx");
    let (images, labels) = (
        dir.join("images-idx3-ubyte.gz"),
        dir.join("labels-idx1-ubyte"),
    );
    let pixels: Vec<u8> = (0..12).map(|v| v * 20).collect();
    write(&images, &gzip(&idx(0x08, &[3, 2, 2], &pixels)));
    write(&labels, &idx(0x08, &[3], &[7, 1, 7]));
    let set = load_idx(&images, &labels, Some(10)).expect("loads");
    assert_eq!((set.data.n, set.data.d, set.data.k), (3, 4, 10));
    assert_eq!(set.data.x[5], 100.0);
    assert_eq!(set.data.labels, vec![7, 1, 7]);
    assert_eq!(
        set.image.map(|i| (i.channels, i.height, i.width)),
        Some((1, 2, 2))
    );
    // f32 images (big-endian).
    let body: Vec<u8> = [0.5f32, -2.0, 1.0, 3.0, 0.0, 1.5]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    write(&images, &idx(0x0D, &[3, 2], &body));
    let set = load_idx(&images, &labels, None).expect("loads");
    assert_eq!(set.data.x, vec![0.5, -2.0, 1.0, 3.0, 0.0, 1.5]);
    assert_eq!(set.data.k, 8);
}

#[test]
fn idx_bad_files_get_errors() {
    let dir = scratch("idx-bad");
    let (images, labels) = (dir.join("images"), dir.join("labels"));
    write(&labels, &idx(0x08, &[3], &[0, 1, 2]));
    let error = |bytes: Vec<u8>| {
        write(&images, &bytes);
        load_idx(&images, &labels, None).expect_err("must fail")
    };
    let e = error(vec![1, 0, 8, 3, 0, 0]);
    assert!(matches!(e, LoadError::BadHeader { .. }), "{e}");
    let e = error(idx(0x0A, &[3, 2, 2], &[0; 12]));
    assert!(
        matches!(&e, LoadError::UnsupportedDtype { dtype, .. } if dtype == "type code 0x0A"),
        "{e}"
    );
    let e = error(idx(0x08, &[3, 2, 2], &[0; 11]));
    assert!(
        matches!(
            e,
            LoadError::Truncated {
                expected: 28,
                found: 27,
                ..
            }
        ),
        "{e}"
    );
    let e = error(idx(0x08, &[2, 2, 2], &[0; 8]));
    assert!(matches!(e, LoadError::LengthMismatch { .. }), "{e}");
    let e = error(vec![0, 0, 8]);
    assert!(matches!(e, LoadError::Truncated { .. }), "{e}");
    let nan: Vec<u8> = [1.0f64, f64::NAN, 0.0]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let e = error(idx(0x0E, &[3, 1], &nan));
    assert!(
        matches!(
            e,
            LoadError::NonFinite {
                row: 1,
                column: 0,
                ..
            }
        ),
        "{e}"
    );
    write(&images, &idx(0x08, &[3, 1], &[0, 1, 2]));
    write(&labels, &idx(0x08, &[3], &[0, 1, 10]));
    let e = load_idx(&images, &labels, Some(10)).expect_err("label 10 of 10 classes");
    assert!(
        matches!(e, LoadError::LabelOutOfRange { row: 2, .. }),
        "{e}"
    );
}

/// A CIFAR-10 record: the label, then the red, green and blue planes of 32×32 pixels; pixel
/// `p` of channel `c` is `(label + c + p) mod 256`.
fn cifar_record(label: u8) -> Vec<u8> {
    let mut out = vec![label];
    for c in 0..3usize {
        for p in 0..1024usize {
            out.push(((label as usize + c + p) % 256) as u8);
        }
    }
    out
}

#[test]
fn cifar10_reads_a_file_or_a_directory_of_batches() {
    let dir = scratch("cifar");
    let batches = dir.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&batches).expect("dir");
    let first: Vec<u8> = [3u8, 9].iter().flat_map(|&l| cifar_record(l)).collect();
    write(&batches.join("data_batch_1.bin"), &first);
    write(&batches.join("test_batch.bin"), &cifar_record(0));
    write(&batches.join("batches.meta.txt"), b"airplane\n");
    let one = load_cifar10(&batches.join("data_batch_1.bin")).expect("one file");
    assert_eq!((one.data.n, one.data.d, one.data.k), (2, 3072, 10));
    assert_eq!(one.data.labels, vec![3, 9]);
    // Sample 1 (label 9): green channel (c = 1), pixel 5 is (9 + 1 + 5) mod 256 = 15.
    assert_eq!(one.data.x[3072 + 1024 + 5], 15.0);
    let all = load_cifar10(&batches).expect("directory");
    assert_eq!(
        all.data.labels,
        vec![3, 9, 0],
        "data_batch_1 before test_batch"
    );
    assert_eq!(all.files.len(), 2);
    assert_eq!(all.image.map(|i| i.len()), Some(3072));
    // Truncated, and a label above 9.
    let truncated = batches.join("data_batch_2.bin");
    write(&truncated, &first[..3073 + 100]);
    let e = load_cifar10(&batches).expect_err("truncated");
    assert!(
        matches!(&e, LoadError::Truncated { path, expected: 6146, found: 3173, .. } if path == &truncated),
        "{e}"
    );
    write(&truncated, &cifar_record(10));
    let e = load_cifar10(&batches).expect_err("label 10");
    assert!(
        matches!(e, LoadError::LabelOutOfRange { row: 0, .. }),
        "{e}"
    );
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).expect("dir");
    assert!(load_cifar10(&empty).is_err());
}

#[test]
fn shipped_digits_match_their_checksum_and_description() {
    let hash: String = Sha256::digest(digits_gz())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hash, DIGITS_SHA256);
    let set = digits().expect("shipped digits");
    assert_eq!((set.data.n, set.data.d, set.data.k), (1797, 64, 10));
    let mut counts = [0usize; 10];
    set.data.labels.iter().for_each(|&c| counts[c] += 1);
    // The class sizes of assets/README.md.
    assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
    // The file's first row: 0,0,5,13,9,1,0,0, … with label 0.
    assert_eq!(&set.data.x[..8], &[0.0, 0.0, 5.0, 13.0, 9.0, 1.0, 0.0, 0.0]);
    assert_eq!(set.data.labels[0], 0);
    assert!(
        set.data
            .x
            .iter()
            .all(|&v| (0.0..=16.0).contains(&v) && v.fract() == 0.0)
    );
}

/// A toy set: 10 samples in 3 classes of sizes 5, 3, 2; feature 0 is the sample index,
/// feature 1 is constant.
fn toy() -> MultiClassDataset {
    let labels = vec![0, 1, 0, 2, 0, 1, 0, 2, 1, 0];
    MultiClassDataset {
        n: 10,
        d: 2,
        k: 3,
        x: (0..10).flat_map(|i| [i as f64, 4.0]).collect(),
        labels,
    }
}

fn class_counts(set: &MultiClassDataset) -> Vec<usize> {
    let mut counts = vec![0; set.k];
    set.labels.iter().for_each(|&c| counts[c] += 1);
    counts
}

#[test]
fn stratified_and_balanced_splits_partition_the_samples_deterministically() {
    let set = toy();
    // Stratified, n_train = 6: shares 3.0, 1.8, 1.2 → floors 3, 1, 1, the leftover sample goes
    // to the largest remainder (class 1): 3, 2, 1.
    let parts = split(&set, 6, SplitMode::Stratified, 11).expect("splits");
    assert_eq!(class_counts(&parts.train), vec![3, 2, 1]);
    assert_eq!(class_counts(&parts.test), vec![2, 1, 1]);
    // Train and test partition the samples (feature 0 is the sample index), in order.
    let mut rows: Vec<f64> = parts.train.x.iter().step_by(2).copied().collect();
    let test_rows: Vec<f64> = parts.test.x.iter().step_by(2).copied().collect();
    assert!(rows.windows(2).all(|w| w[0] < w[1]) && test_rows.windows(2).all(|w| w[0] < w[1]));
    rows.extend(test_rows);
    rows.sort_by(f64::total_cmp);
    assert_eq!(rows, (0..10).map(f64::from).collect::<Vec<_>>());
    // Each row keeps its label.
    for (row, &label) in parts.train.x.chunks(2).zip(&parts.train.labels) {
        assert_eq!(set.labels[row[0] as usize], label);
    }
    // Same seed, same split; some other seed gives another one.
    assert_eq!(
        split(&set, 6, SplitMode::Stratified, 11).expect("splits"),
        parts
    );
    assert!(
        (0..20).any(|seed| split(&set, 6, SplitMode::Stratified, seed).expect("splits") != parts)
    );
    // Balanced, n_train = 5: 2, 2, 1.
    let parts = split(&set, 5, SplitMode::Balanced, 0).expect("splits");
    assert_eq!(class_counts(&parts.train), vec![2, 2, 1]);
}

#[test]
fn impossible_splits_name_n_train() {
    let set = toy();
    for (n_train, mode) in [
        (0, SplitMode::Stratified),
        (10, SplitMode::Stratified),
        // Balanced 9 asks 3 of class 2, which has 2.
        (9, SplitMode::Balanced),
        // Stratified 2: shares 1.0, 0.6, 0.4 → class 2 gets none.
        (2, SplitMode::Stratified),
    ] {
        let e = split(&set, n_train, mode, 0).expect_err("impossible");
        assert!(
            matches!(&e, LoadError::OutOfRange { field: "n_train", value, .. } if value == &n_train.to_string()),
            "{e}"
        );
    }
}

#[test]
fn standardise_uses_the_training_statistics_on_both_parts() {
    let mut parts = split(&toy(), 6, SplitMode::Stratified, 3).expect("splits");
    let train_before: Vec<f64> = parts.train.x.iter().step_by(2).copied().collect();
    let test_before: Vec<f64> = parts.test.x.iter().step_by(2).copied().collect();
    let (mean, std) = standardise(&mut parts);
    // The oracle: the mean and the divisor-N standard deviation of feature 0 over train.
    let m = train_before.iter().sum::<f64>() / 6.0;
    let s = (train_before.iter().map(|v| (v - m).powi(2)).sum::<f64>() / 6.0).sqrt();
    assert!((mean[0] - m).abs() < 1e-12 && (std[0] - s).abs() < 1e-12);
    assert_eq!((mean[1], std[1]), (4.0, 0.0));
    for (after, before) in parts.test.x.iter().step_by(2).zip(&test_before) {
        assert!((after - (before - m) / s).abs() < 1e-12);
    }
    let z: Vec<f64> = parts.train.x.iter().step_by(2).copied().collect();
    let zm = z.iter().sum::<f64>() / 6.0;
    let zv = z.iter().map(|v| (v - zm).powi(2)).sum::<f64>() / 6.0;
    assert!(zm.abs() < 1e-12 && (zv - 1.0).abs() < 1e-12);
    // The constant feature is centred, not divided by zero.
    assert!(parts.train.x.iter().skip(1).step_by(2).all(|&v| v == 0.0));
}

mod geometry_tests {
    use logit_reg_data::real::geometry::{class_means, geometry, scale_orthogonal, signal_basis};
    use logit_reg_data::{LabelScheme, MultiClassDataset, MultiClassSignalNoise, Noise};

    fn simplex(k: usize, d: usize, sigma_f: f64, sigma_n: f64) -> MultiClassDataset {
        MultiClassSignalNoise {
            k,
            d,
            n: 20_000,
            n_test: 1,
            mu_f: 1.0,
            sigma_f,
            sigma_n,
            noise: Noise::Gaussian,
            labels: LabelScheme::Balanced,
        }
        .generate(3)
        .expect("data")
        .train
    }

    #[test]
    fn effective_noise_recovers_the_generating_parameters() {
        // Two classes at ±e₁ (radius μ_f = 1, centroids 2 apart): σ^eff = σ / μ_f.
        let set = simplex(2, 12, 0.5, 2.0);
        let g = geometry(&set, 64);
        assert_eq!(g.signal_dim, 1);
        assert!(
            (g.centroid_distance - 2.0).abs() < 0.02,
            "{}",
            g.centroid_distance
        );
        assert!((g.sigma_f_eff - 0.5).abs() < 0.02, "{}", g.sigma_f_eff);
        assert!((g.sigma_n_eff - 2.0).abs() < 0.04, "{}", g.sigma_n_eff);
        // The orthogonal covariance: d − 1 eigenvalues near σ_n²/μ_f² = 4, one near 0.
        assert_eq!(g.spectrum.len(), 12);
        let top: f64 = g.spectrum[..11].iter().sum::<f64>() / 11.0;
        assert!((top - 4.0).abs() < 0.16, "{top}");
        assert!(g.spectrum[11].abs() < 1e-9, "{}", g.spectrum[11]);
        // K = 4 simplex of radius 1: centroids √(2K/(K−1)) = √(8/3) apart, so
        // σ^eff = σ / (D/2) with D/2 = √(2/3).
        let set = simplex(4, 10, 0.3, 1.0);
        let g = geometry(&set, 0);
        let half = (2.0f64 / 3.0).sqrt();
        assert_eq!(g.signal_dim, 3);
        assert!(g.spectrum.is_empty(), "above max_spectrum_dim");
        assert!(
            (g.sigma_f_eff - 0.3 / half).abs() < 0.015,
            "{}",
            g.sigma_f_eff
        );
        assert!(
            (g.sigma_n_eff - 1.0 / half).abs() < 0.03,
            "{}",
            g.sigma_n_eff
        );
    }

    #[test]
    fn orthogonal_scaling_multiplies_sigma_n_eff_by_gamma_exactly() {
        let mut set = simplex(3, 8, 0.4, 1.5);
        let before = geometry(&set, 64);
        let means = class_means(&set);
        let basis = signal_basis(&means, &[true; 3]);
        scale_orthogonal(&mut set.x, set.d, &basis, 3.0);
        let after = geometry(&set, 64);
        assert!((after.sigma_f_eff - before.sigma_f_eff).abs() < 1e-10);
        assert!((after.sigma_n_eff - 3.0 * before.sigma_n_eff).abs() < 1e-10);
        assert!((after.centroid_distance - before.centroid_distance).abs() < 1e-10);
        for (a, b) in after.spectrum.iter().zip(&before.spectrum) {
            assert!((a - 9.0 * b).abs() < 1e-9 * (1.0 + b.abs()));
        }
    }
}
