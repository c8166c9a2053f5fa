//! Runs on real data sets end to end: the shipped digits and files in every supported format,
//! checked against a second formulation (the data crate's split and standardisation, and the
//! trained weights and bias applied by hand), and bad files and keys refused before anything
//! is written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use logit_reg_data::real::{SplitMode, digits, split, standardise};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A fresh directory under the system's temp dir, removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir(name: &str) -> TempDir {
    let path =
        std::env::temp_dir().join(format!("logit-reg-real-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(&path).expect("temp dir");
    TempDir(path)
}

fn experiments(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_experiments"))
        .args(args)
        .output()
        .expect("binary runs")
}

/// `experiments run` with `sets` as `--set` overrides into `out`.
fn run(out: &Path, sets: &[&str]) -> Output {
    let mut args = vec!["run".to_string()];
    for s in sets {
        args.push("--set".into());
        args.push(s.to_string());
    }
    args.extend(["--out".to_string(), out.display().to_string()]);
    experiments(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json")
}

/// The f64 values and shape of a `weights.npy` (format 1.0, `<f8`, C order), read by the
/// format's layout: magic and version (8 bytes), header length (u16 LE), header, data.
fn read_weights(path: &Path) -> (Vec<f64>, Vec<usize>) {
    let bytes = std::fs::read(path).expect("weights.npy");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).expect("ascii");
    let shape: Vec<usize> = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("shape")
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let values = bytes[10 + header_len..]
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    (values, shape)
}

const DIGITS_RUN: &[&str] = &[
    "data.source=digits",
    "data.n_train=600",
    "seed=5",
    "dtype=f64",
    "train.optimizer=adam",
    "train.lr=0.01",
    "train.steps=150",
    "loss.alpha=[0, 0.1]",
];

#[test]
fn digits_run_matches_the_split_and_weights_recomputed_by_hand() {
    let dir = tempdir("digits");
    let out = dir.0.join("out");
    let output = run(&out, DIGITS_RUN);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = json(&out.join("summary.json"));
    let data = &summary["data"];
    assert_eq!(data["source"], "digits");
    assert_eq!(
        (data["n_train"].as_u64(), data["n_test"].as_u64()),
        (Some(600), Some(1197))
    );
    assert_eq!(data["image"], serde_json::json!([1, 8, 8]));
    assert_eq!(data["shipped_sha256"], logit_reg_data::real::DIGITS_SHA256);

    // The second formulation: the data crate's split and standardisation, and the logits
    // X·W of the trained weights (no bias) with their argmax, give the accuracies reported.
    let set = digits().expect("digits");
    let mut parts = split(&set.data, 600, SplitMode::Stratified, 5).expect("split");
    standardise(&mut parts);
    let (w, shape) = read_weights(&out.join("weights.npy"));
    assert_eq!(shape, vec![64, 20], "[d, runs · classes]");
    let (b, shape) = read_weights(&out.join("bias.npy"));
    assert_eq!(shape, vec![1, 20], "[1, runs · classes]");
    for (key, part) in [
        ("train_accuracy", &parts.train),
        ("test_accuracy", &parts.test),
    ] {
        for run in 0..2 {
            let correct = part
                .x
                .chunks(64)
                .zip(&part.labels)
                .filter(|(row, label)| {
                    let logit = |c: usize| -> f64 {
                        b[run * 10 + c]
                            + row
                                .iter()
                                .enumerate()
                                .map(|(j, v)| v * w[j * 20 + run * 10 + c])
                                .sum::<f64>()
                    };
                    let best = (0..10).max_by(|&a, &b| logit(a).total_cmp(&logit(b)));
                    best == Some(**label)
                })
                .count();
            let by_hand = correct as f64 / part.n as f64;
            if key == "test_accuracy" {
                // The test NLL and Brier score from the same hand-made logits.
                let (mut nll, mut brier) = (0.0, 0.0);
                for (row, &label) in part.x.chunks(64).zip(&part.labels) {
                    let z: Vec<f64> = (0..10)
                        .map(|c| {
                            b[run * 10 + c]
                                + (0..64)
                                    .map(|j| row[j] * w[j * 20 + run * 10 + c])
                                    .sum::<f64>()
                        })
                        .collect();
                    let norm: f64 = z.iter().map(|v| v.exp()).sum();
                    nll -= (z[label].exp() / norm).ln();
                    brier += (0..10)
                        .map(|c| (z[c].exp() / norm - f64::from(u8::from(c == label))).powi(2))
                        .sum::<f64>();
                }
                let n = part.n as f64;
                for (name, value) in [("test_nll", nll / n), ("test_brier", brier / n)] {
                    let reported = summary[name][run].as_f64().expect(name);
                    assert!(
                        (value - reported).abs() < 1e-9,
                        "{name}: {value} vs {reported}"
                    );
                }
            }
            let reported = summary[key][run].as_f64().expect("accuracy");
            assert!(
                (by_hand - reported).abs() < 0.5 / part.n as f64,
                "{key} of run {run}: {by_hand} by hand, {reported} reported"
            );
            assert!(
                reported > 0.5,
                "{key} of run {run} is {reported}: the run did not learn"
            );
        }
    }
    // Rerun: the same bytes.
    let again = dir.0.join("again");
    assert!(run(&again, DIGITS_RUN).status.success());
    assert_eq!(
        std::fs::read(out.join("weights.npy")).expect("read"),
        std::fs::read(again.join("weights.npy")).expect("read")
    );
}

/// Three classes in 3 features, 30 samples: class c sits near 4·e_c.
fn three_blobs() -> (Vec<f32>, Vec<i64>) {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..30usize {
        let c = i % 3;
        for j in 0..3usize {
            // Multiples of 1/8: exact in f32, f64 and decimal text alike.
            let wobble = ((i * 7 + j * 3) % 5) as f32 * 0.125;
            x.push(if j == c { 4.0 } else { 0.0 } + wobble);
        }
        y.push(c as i64);
    }
    (x, y)
}

/// An `.npy` file (format 1.0) laid out by the specification.
fn npy(descr: &str, shape: &str, body: &[u8]) -> Vec<u8> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
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

fn sha256(path: &Path) -> String {
    Sha256::digest(std::fs::read(path).expect("read"))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn npy_csv_and_idx_files_train_and_record_their_checksums() {
    let dir = tempdir("files");
    let (x, y) = three_blobs();
    let features = dir.0.join("x.npy");
    let labels = dir.0.join("y.npy");
    let body: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&features, npy("<f4", "(30, 3)", &body)).expect("write");
    let label_body: Vec<u8> = y.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&labels, npy("<i8", "(30,)", &label_body)).expect("write");
    let csv = dir.0.join("t.csv");
    let text: String = x
        .chunks(3)
        .zip(&y)
        .map(|(row, label)| format!("{label},{},{},{}\n", row[0], row[1], row[2]))
        .collect();
    std::fs::write(&csv, format!("y,a,b,c\n{text}")).expect("write");
    let (images, idx_labels) = (dir.0.join("images"), dir.0.join("labels"));
    let mut idx = vec![0, 0, 0x0D, 2, 0, 0, 0, 30, 0, 0, 0, 3];
    idx.extend(x.iter().flat_map(|v| v.to_be_bytes()));
    std::fs::write(&images, idx).expect("write");
    let mut idx = vec![0, 0, 0x08, 1, 0, 0, 0, 30];
    idx.extend(y.iter().map(|&v| v as u8));
    std::fs::write(&idx_labels, idx).expect("write");

    let common = [
        "data.n_train=15",
        "train.optimizer=adam",
        "train.lr=0.05",
        "train.steps=200",
    ];
    let cases: Vec<(&str, Vec<String>, Vec<&PathBuf>)> = vec![
        (
            "npy",
            vec![
                format!("data.path={}", features.display()),
                format!("data.labels_path={}", labels.display()),
            ],
            vec![&features, &labels],
        ),
        (
            "csv",
            vec![
                format!("data.path={}", csv.display()),
                "data.label_column=0".into(),
                "data.header=true".into(),
            ],
            vec![&csv],
        ),
        (
            "idx",
            vec![
                format!("data.path={}", images.display()),
                format!("data.labels_path={}", idx_labels.display()),
            ],
            vec![&images, &idx_labels],
        ),
    ];
    let mut weights = Vec::new();
    for (source, keys, files) in cases {
        let out = dir.0.join(format!("out-{source}"));
        let mut sets: Vec<String> = vec![format!("data.source={source}")];
        sets.extend(keys);
        sets.extend(common.iter().map(|s| s.to_string()));
        let output = run(&out, &sets.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(
            output.status.success(),
            "{source}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let summary = json(&out.join("summary.json"));
        let data = &summary["data"];
        assert_eq!(
            (data["d"].as_u64(), data["classes"].as_u64()),
            (Some(3), Some(3)),
            "{source}"
        );
        let recorded: Vec<&str> = data["files"]
            .as_array()
            .expect("files")
            .iter()
            .map(|f| f["sha256"].as_str().expect("sha256"))
            .collect();
        let expected: Vec<String> = files.iter().map(|f| sha256(f)).collect();
        assert_eq!(recorded, expected, "{source}");
        assert_eq!(
            summary["test_accuracy"].as_f64(),
            Some(1.0),
            "{source}: separable blobs"
        );
        weights.push(read_weights(&out.join("weights.npy")).0);
    }
    // The same numbers in three formats (f32 in all three) train the same weights.
    assert_eq!(weights[0], weights[1], "npy = csv");
    assert_eq!(weights[0], weights[2], "npy = idx");
}

/// Runs `sets` into a fresh directory and checks it fails with exit code 2, naming `needle`,
/// and writes no result file.
fn assert_refused(sets: &[&str], needle: &str) {
    let dir = tempdir(&format!("refused-{}", needle.replace(['/', '.', ' '], "_")));
    let out = dir.0.join("out");
    let output = run(&out, sets);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{sets:?}: {stderr}");
    assert!(
        stderr.contains(needle),
        "{sets:?}: stderr does not name {needle}: {stderr}"
    );
    for file in ["config.json", "summary.json", "metrics.csv", "weights.npy"] {
        assert!(!out.join(file).exists(), "{sets:?} left {file}");
    }
}

#[test]
fn bad_files_and_keys_are_refused_before_anything_is_written() {
    let dir = tempdir("bad");
    let bad = dir.0.join("bad.npy");
    std::fs::write(&bad, b"not numpy").expect("write");
    let bad_path = format!("data.path={}", bad.display());
    let bad_labels = format!("data.labels_path={}", bad.display());
    assert_refused(
        &["data.source=npy", &bad_path, &bad_labels],
        "bad.npy: not a valid .npy",
    );
    assert_refused(&["data.source=npy", &bad_path], "data.labels_path");
    assert_refused(&["data.source=csv"], "data.path");
    assert_refused(&[&bad_path], "data.path");
    assert_refused(&["data.source=digits", "data.n_train=1797"], "data.n_train");
    assert_refused(&["data.source=digits", "data.n_train=0"], "data.n_train");
    assert_refused(
        &["data.source=digits", "data.label_column=0"],
        "data.label_column",
    );
    assert_refused(&["data.source=digits", "data.classes=12"], "data.classes");
    assert_refused(
        &["data.source=digits", "train.optimizer=newton"],
        "train.optimizer",
    );
    assert_refused(
        &["data.source=digits", "loss.weight_decay=0.1"],
        "loss.weight_decay",
    );
    assert_refused(&["data.source=mnist"], "data.source");
    assert_refused(
        &["data.source=digits", "data.noise_draws=per-sigma-n"],
        "data.noise_draws",
    );
    // A ConvNet needs images; a CSV table's rows are flat.
    let table = dir.0.join("flat.csv");
    let rows: String = (0..8)
        .map(|i| format!("{},{},{}\n", i as f64 * 0.5, (i * i) as f64 * 0.1, i % 2))
        .collect();
    std::fs::write(&table, rows).expect("write");
    let table_path = format!("data.path={}", table.display());
    assert_refused(
        &[
            "data.source=csv",
            &table_path,
            "data.n_train=4",
            "model.kind=cnn",
            "train.optimizer=adam",
        ],
        "model.kind",
    );
    let missing = format!("data.path={}", dir.0.join("nope.bin").display());
    assert_refused(&["data.source=cifar10", &missing], "nope.bin: cannot read");
}

/// A config of `sets` on top of a real source.
fn config(sets: &[&str]) -> experiments::config::RunConfig {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    experiments::config::RunConfig::load(None, &sets).expect("valid config")
}

#[test]
fn orthogonal_scaling_embedding_and_corruption_in_the_pipeline() {
    use experiments::real::{load_features, load_real};
    use logit_reg_data::real::geometry::geometry;
    // γ scales the noise orthogonal to the training class means and nothing else: on the
    // training part, σ_n^eff is multiplied by γ exactly and σ_f^eff is unchanged.
    let base = ["data.source=digits", "data.n_train=900", "seed=4"];
    let plain = load_real(&config(&base)).expect("digits");
    let mut scaled_sets = base.to_vec();
    scaled_sets.push("data.orthogonal_scale=5");
    let scaled = load_real(&config(&scaled_sets)).expect("digits");
    let (g1, g5) = (
        geometry(&plain.split.train, 0),
        geometry(&scaled.split.train, 0),
    );
    assert!((g5.sigma_n_eff - 5.0 * g1.sigma_n_eff).abs() < 1e-9 * g1.sigma_n_eff);
    assert!((g5.sigma_f_eff - g1.sigma_f_eff).abs() < 1e-9 * g1.sigma_f_eff);
    assert_eq!(plain.split.train.labels, scaled.split.train.labels);

    // The embedding: 797 digits set aside for the MLP, the other 1,000 embedded in its 16
    // penultimate units; the same seed gives the same bytes, another seed other ones.
    let embed = [
        "data.source=digits",
        "data.embed=mlp",
        "data.embed_hidden=[16]",
        "seed=2",
    ];
    let a = load_features(&config(&embed)).expect("embedding");
    assert_eq!((a.data.n, a.data.d, a.data.k), (1000, 16, 10));
    assert!(a.data.x.iter().all(|&v| v >= 0.0), "ReLU features");
    assert_eq!(load_features(&config(&embed)).expect("again").data, a.data);
    let mut other = embed.to_vec();
    other[3] = "seed=3";
    assert_ne!(
        load_features(&config(&other)).expect("other").data.x,
        a.data.x
    );

    // Corruption without an embedding: about p of the pixels become 0 or 16.
    let clean = load_features(&config(&["data.source=digits"])).expect("clean");
    let noisy = load_features(&config(&["data.source=digits", "data.corrupt=0.2"])).expect("noisy");
    let changed = clean
        .data
        .x
        .iter()
        .zip(&noisy.data.x)
        .filter(|(a, b)| a != b)
        .count() as f64
        / clean.data.x.len() as f64;
    // A replaced pixel keeps its value when it already was the one drawn (0 for about half
    // of the digits' pixels): between p/2 and p change.
    assert!((0.1..0.2).contains(&changed), "{changed}");
    assert!(
        clean
            .data
            .x
            .iter()
            .zip(&noisy.data.x)
            .all(|(a, b)| a == b || *b == 0.0 || *b == 16.0)
    );
}

#[test]
fn transform_keys_are_checked() {
    assert_refused(&["data.source=digits", "data.corrupt=1.5"], "data.corrupt");
    assert_refused(
        &["data.source=digits", "data.orthogonal_scale=0"],
        "data.orthogonal_scale",
    );
    assert_refused(&["data.orthogonal_scale=2"], "data.orthogonal_scale");
    assert_refused(&["data.embed=mlp"], "data.embed");
    assert_refused(
        &[
            "data.source=digits",
            "data.embed=mlp",
            "data.embed_hidden=[]",
        ],
        "data.embed_hidden",
    );
    assert_refused(
        &["data.source=digits", "data.embed=mlp", "data.embed_n=1797"],
        "data.embed_n",
    );
}
