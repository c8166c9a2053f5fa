//! The `experiments` binary end to end: outputs, exit codes, and bad input.

use std::path::Path;
use std::process::{Command, Output};

/// A fresh directory under the system's temp dir, removed when dropped. (No `tempfile` crate:
/// its dependencies would change the features of crates Burn shares, and every test build
/// would then compile Burn a second time.)
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir() -> std::io::Result<TempDir> {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let path =
        std::env::temp_dir().join(format!("logit-reg-cli-{}-{n}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&path)?;
    Ok(TempDir(path))
}

fn experiments(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_experiments"))
        .args(args)
        .output()
        .expect("binary runs")
}

/// `experiments sweep` of the sweep file `text` (written to `dir/sweep.toml`) into `dir/out`.
fn sweep(dir: &Path, text: &str) -> Output {
    let spec_path = dir.join("sweep.toml");
    std::fs::write(&spec_path, text).expect("write");
    let out = dir.join("out");
    experiments(&[
        "sweep",
        "--quiet",
        "--spec",
        spec_path.to_str().expect("utf8"),
        "--out",
        out.to_str().expect("utf8"),
    ])
}

fn tiny(out: &Path) -> Vec<String> {
    [
        "run",
        "--quiet",
        "--dtype",
        "f64",
        "--set",
        "data.d=10",
        "--set",
        "data.n=30",
        "--set",
        "data.n_test=50",
        "--set",
        "train.steps=50",
        "--set",
        "loss.alpha=[0, 0.2]",
        "--set",
        "train.histogram_steps=[0, 50]",
        "--out",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([out.display().to_string()])
    .collect()
}

#[test]
fn a_run_writes_every_result_file() {
    let dir = tempdir().expect("tempdir");
    let args = tiny(dir.path());
    let out = experiments(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in [
        "config.json",
        "metrics.csv",
        "timing.csv",
        "histograms.csv",
        "weights.npy",
        "summary.json",
    ] {
        assert!(dir.path().join(file).exists(), "{file} missing");
    }
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("summary.json")).expect("summary"),
    )
    .expect("json");
    for key in [
        "test_accuracy",
        "train_accuracy",
        "cos_e1",
        "cos_lda",
        "s1",
        "weight_norm",
        "train_logit_mean",
        "train_logit_std",
        "test_logit_mean",
        "test_logit_std",
        "z_star",
        "steps",
        "wall_seconds",
        "diverged",
    ] {
        assert!(summary.get(key).is_some(), "summary lacks {key}");
    }
    assert_eq!(summary["steps"], 50);
    assert_eq!(summary["diverged"], false);
    assert_eq!(summary["runs"], 2);
    // Which backend, precision and hardware ran, and the completion marker written last.
    assert_eq!(summary["backend"], "flex");
    assert_eq!(summary["dtype"], "f64");
    assert_eq!(summary["device"], "host CPU");
    assert!(dir.path().join("done.json").exists());
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("config.json")).expect("config"),
    )
    .expect("json");
    assert_eq!(config["dtype"], "f64");
    assert_eq!(config["backend"], "flex");
    assert_eq!(config["config"]["data"]["d"], 10);
    assert!(config["crate_version"].is_string());
    // metrics.csv: a header and one row per (logged step, run), first and last steps included.
    let metrics = std::fs::read_to_string(dir.path().join("metrics.csv")).expect("metrics");
    let lines: Vec<&str> = metrics.lines().collect();
    assert!(lines[0].starts_with("step,run,objective"));
    assert!(lines[1].starts_with("0,0,") && lines[2].starts_with("0,1,"));
    assert!(lines.last().expect("rows").starts_with("50,1,"));
    // weights.npy: the final S of both runs, [d, M] = [10, 2]; each column's norm, S₁ and
    // cos(S, e₁) are the summary's, computed here again from the file.
    let npy = std::fs::read(dir.path().join("weights.npy")).expect("weights.npy");
    assert_eq!(&npy[..8], b"\x93NUMPY\x01\x00");
    let header_len = u16::from_le_bytes([npy[8], npy[9]]) as usize;
    let header = String::from_utf8_lossy(&npy[10..10 + header_len]);
    assert!(
        header.contains("'descr': '<f8'") && header.contains("'shape': (10, 2)"),
        "{header}"
    );
    let w: Vec<f64> = npy[10 + header_len..]
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    assert_eq!(w.len(), 20);
    for run in 0..2 {
        let column: Vec<f64> = (0..10).map(|j| w[j * 2 + run]).collect();
        let norm = column.iter().map(|v| v * v).sum::<f64>().sqrt();
        let from_summary = |key: &str| summary[key][run].as_f64().expect(key);
        assert!(
            (norm - from_summary("weight_norm")).abs() <= 1e-12 * norm,
            "run {run}"
        );
        assert!(
            (column[0] - from_summary("s1")).abs() <= 1e-12 * norm,
            "run {run}"
        );
        assert!(norm > 0.1, "run {run} trained");
    }
    // Build provenance: the commit the binary was built from, when this is a git checkout.
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let Some(head) = head {
        assert_eq!(config["git_commit"], head.as_str());
        assert!(config["git_dirty"].is_boolean(), "{}", config["git_dirty"]);
    }
}

/// `experiments` on the tiny run into `dir` with `extra` flags before `--out`.
fn run_tiny(dir: &Path, extra: &[&str]) -> Output {
    let mut args = tiny(dir);
    let out_index = args.len() - 2;
    for (i, e) in extra.iter().enumerate() {
        args.insert(out_index + i, e.to_string());
    }
    experiments(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn assert_rejected(extra: &[&str], key: &str) {
    let dir = tempdir().expect("tempdir");
    let out = run_tiny(dir.path(), extra);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{extra:?} was accepted");
    assert!(
        stderr.contains(key),
        "{extra:?}: stderr does not name `{key}`: {stderr}"
    );
    assert!(
        !dir.path().join("summary.json").exists(),
        "{extra:?} left a summary"
    );
    assert!(
        !dir.path().join("metrics.csv").exists(),
        "{extra:?} left metrics"
    );
}

#[test]
fn bad_input_exits_non_zero_and_names_the_key() {
    assert_rejected(&["--set", "data.bogus=1"], "bogus");
    assert_rejected(&["--set", "nonsense=1"], "nonsense");
    assert_rejected(&["--set", "data.d=\"many\""], "data.d");
    assert_rejected(&["--set", "data.d=0"], "data.d");
    assert_rejected(&["--set", "data.sigma_n=-1"], "data.sigma_n");
    assert_rejected(&["--set", "data.noise=\"cauchy\""], "data.noise");
    // A stored config of the draws before format 2 is refused, not silently redrawn.
    assert_rejected(&["--set", "data.format=1"], "data.format");
    assert_rejected(
        &["--set", "data.noise=\"student-t\"", "--set", "data.nu=1.5"],
        "data.nu",
    );
    assert_rejected(&["--set", "loss.alpha=1.0"], "loss.alpha");
    assert_rejected(&["--set", "loss.penalty=\"cubic\""], "loss.penalty");
    assert_rejected(&["--set", "loss.penalty=\"none\""], "loss.alpha");
    assert_rejected(&["--set", "train.lr=-0.1"], "train.lr");
    assert_rejected(&["--set", "train.lr=[0.1, 0.2, 0.3]"], "train.lr");
    assert_rejected(&["--set", "train.steps=0"], "train.steps");
    assert_rejected(&["--set", "train.optimizer=\"lbfgs\""], "train.optimizer");
    assert_rejected(
        &["--set", "train.fused_kernel=\"fast\""],
        "train.fused_kernel",
    );
    assert_rejected(
        &[
            "--set",
            "train.engine=\"burn\"",
            "--set",
            "train.fused_kernel=\"blocked\"",
        ],
        "train.fused_kernel",
    );
    // The dual form is for binary runs by GD.
    for extra in ["train.optimizer=\"adam\"", "data.model=\"multiclass\""] {
        assert_rejected(
            &["--set", "train.fused_kernel=\"dual\"", "--set", extra],
            "train.fused_kernel",
        );
    }
    // What only the linear classifier supports, asked of the MLP.
    for (extra, key) in [
        ("model.hidden=[]", "model.hidden"),
        ("model.hidden=[16, 0]", "model.hidden"),
        ("train.init_std=0.1", "train.init_std"),
        ("loss.weight_decay=0.1", "loss.weight_decay"),
        ("train.engine=\"fused\"", "train.engine"),
        ("model.activation=\"swish\"", "model.activation"),
        ("model.kind=\"cnn\"", "model.kind"),
    ] {
        assert_rejected(&["--set", "model.kind=\"mlp\"", "--set", extra], key);
    }
    // The ConvNet's own keys, and its need for images.
    for (extra, key) in [
        ("model.channels=[]", "model.channels"),
        ("model.channels=[8, 0]", "model.channels"),
        ("model.kernel_size=4", "model.kernel_size"),
        ("data.embed=\"mlp\"", "model.kind"),
        ("train.init_std=0.1", "train.init_std"),
    ] {
        assert_rejected(
            &[
                "--set",
                "model.kind=\"cnn\"",
                "--set",
                "data.source=\"digits\"",
                "--set",
                extra,
            ],
            key,
        );
    }
    // sgd needs a batch size; gd is full batch; adam's batch is at most N.
    assert_rejected(&["--set", "train.optimizer=\"sgd\""], "train.batch_size");
    assert_rejected(&["--set", "train.batch_size=8"], "train.batch_size");
    assert_rejected(
        &[
            "--set",
            "train.optimizer=\"adam\"",
            "--set",
            "train.batch_size=100000",
        ],
        "train.batch_size",
    );
    assert_rejected(
        &[
            "--set",
            "train.optimizer=\"newton\"",
            "--set",
            "loss.alpha=0.2",
            "--set",
            "train.epochs=2",
        ],
        "train.epochs",
    );
    assert_rejected(
        &["--set", "train.histogram_steps=[99]"],
        "train.histogram_steps",
    );
    assert_rejected(&["--set", "novalue"], "novalue");
    assert_rejected(
        &["--set", "data.d=10000000", "--set", "data.n=10000000"],
        "data.d",
    );
    assert_rejected(&["--set", "data.d=9223372036854775807"], "data.d");
    assert_rejected(
        &["--set", "train.log_points=1000000000000"],
        "train.log_points",
    );
    assert_rejected(
        &["--set", "train.histogram_bins=10000000000"],
        "train.histogram_bins",
    );
    // A gradient tolerance met before the first step, on both engines.
    assert_rejected(&["--set", "train.grad_tol=1e308"], "train.grad_tol");
    assert_rejected(
        &[
            "--set",
            "train.grad_tol=1e308",
            "--set",
            "train.engine=\"burn\"",
        ],
        "train.grad_tol",
    );
    // Adam's β that rounds to 1 in f32 (where Burn keeps it), and an ε that rounds to 0.
    assert_rejected(
        &[
            "--set",
            "train.optimizer=\"adam\"",
            "--set",
            "train.adam_beta2=0.99999999",
        ],
        "train.adam_beta2",
    );
    assert_rejected(&["--set", "train.adam_eps=1e-50"], "train.adam_eps");
    assert_rejected(&["--backend", "cuda"], "backend");
    assert_rejected(&["--dtype", "f16"], "dtype");
    assert_rejected(
        &["--config", "/nonexistent/run.toml"],
        "/nonexistent/run.toml",
    );
}

#[test]
fn a_malformed_config_file_is_rejected() {
    let dir = tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[data]\nd = [\n").expect("write");
    let out_dir = dir.path().join("out");
    let out = experiments(&[
        "run",
        "--quiet",
        "--config",
        bad.to_str().expect("utf8"),
        "--out",
        out_dir.to_str().expect("utf8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.toml"));
    assert!(!out_dir.join("summary.json").exists());
}

#[test]
fn a_diverging_run_says_so_and_fails() {
    let dir = tempdir().expect("tempdir");
    let out = run_tiny(
        dir.path(),
        &["--set", "train.lr=1e300", "--set", "loss.alpha=0.5"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("diverged at step") && stderr.contains("learning rate 1e300"),
        "{stderr}"
    );
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("summary.json")).expect("summary written"),
    )
    .expect("json");
    assert_eq!(summary["diverged"], true);
    assert_eq!(summary["converged"], false);
}

#[test]
fn a_run_non_finite_before_any_update_does_not_blame_the_learning_rate() {
    // μ_f = 1e300 is finite in f64, but logits from a start of scale 1e100 overflow: the loss is
    // infinite at step 0, where the learning rate has not acted yet.
    let dir = tempdir().expect("tempdir");
    let out = run_tiny(
        dir.path(),
        &["--set", "data.mu_f=1e300", "--set", "train.init_std=1e100"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("diverged at step 0"), "{stderr}");
    assert!(
        stderr.contains("the learning rate is not the cause"),
        "{stderr}"
    );
    assert!(stderr.contains("data.mu_f"), "{stderr}");
}

#[test]
fn help_documents_every_field_and_its_default() {
    let out = experiments(&["run", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for (key, _) in experiments::config::FIELDS {
        assert!(help.contains(key), "--help lacks {key}");
    }
    assert!(help.contains("data.d") && help.contains("[1400]"));
    assert!(help.contains("train.lr") && help.contains("[0.1]"));
}

#[test]
fn every_example_config_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("configs dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            experiments::config::RunConfig::load(Some(&path), &[])
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            count += 1;
        }
    }
    assert!(count >= 5);
}

#[test]
fn theory_prints_the_closed_forms() {
    let out = experiments(&["theory", "--lambda", "0.7", "--alpha", "0.2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    // ε = 0.1 → z* = log 9; A(0.7) ≈ 0.8439 for μ_f = 1, σ_f = 0.5 (hand-computed in the
    // model's theory tests).
    assert!((v["label_smoothing"]["z_star"].as_f64().expect("number") - 9f64.ln()).abs() < 1e-12);
    assert!((v["regularised_accuracy"].as_f64().expect("number") - 0.8439).abs() < 1e-4);
    let bad = experiments(&["theory", "--alpha", "1.5"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("loss.alpha"));
    for (arg, flag) in [
        ("--sigma-n=0", "--sigma-n"),
        ("--sigma-n=-1", "--sigma-n"),
        ("--lambda=NaN", "--lambda"),
        ("--lambda=inf", "--lambda"),
        ("--mu-f=0", "--mu-f"),
        ("--sigma-f=-0.5", "--sigma-f"),
    ] {
        let bad = experiments(&["theory", arg]);
        assert_eq!(bad.status.code(), Some(2), "{arg}");
        assert!(
            String::from_utf8_lossy(&bad.stderr).contains(flag),
            "{arg}: {}",
            String::from_utf8_lossy(&bad.stderr)
        );
    }
}

const SWEEP: &str = r#"
[base]
seed = 1
dtype = "f64"
data = { d = 8, n = 24, n_test = 60 }
train = { steps = 40, log_points = 5 }

[grid]
"data.sigma_n" = [0.5, 2.0]
"loss.alpha" = [0.0, 0.1, 0.3]
seed = [1, 2]
"#;

#[test]
fn a_sweep_batches_shared_data_writes_an_index_and_resumes() {
    let dir = tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let first = sweep(dir.path(), SWEEP);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let stdout = String::from_utf8_lossy(&first.stdout);
    // 2 σ_n × 2 seeds = 4 batches of 3 runs (the α values share their data).
    assert!(
        stdout.contains("12 runs (4 batches trained (0 of them redone), 0 complete and skipped"),
        "{stdout}"
    );
    let index = std::fs::read_to_string(out.join("index.csv")).expect("index");
    let lines: Vec<&str> = index.lines().collect();
    assert_eq!(lines.len(), 13);
    assert!(lines[0].starts_with("batch,run,data.sigma_n,loss.alpha,seed,test_accuracy"));
    assert!(lines[1].starts_with("b0000,0,0.5,0.0,1,"), "{}", lines[1]);
    assert!(lines[3].starts_with("b0000,2,0.5,0.3,1,"), "{}", lines[3]);
    // A batch's run equals the same run trained alone (per-run α in one batch).
    let batch_summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("batches/b0000/summary.json")).expect("summary"),
    )
    .expect("json");
    assert_eq!(batch_summary["runs"], 3);

    // Rerunning skips everything; removing one batch's summary retrains only that batch.
    let second = sweep(dir.path(), SWEEP);
    let text = String::from_utf8_lossy(&second.stdout);
    assert!(
        text.contains("0 batches trained (0 of them redone), 4 complete and skipped"),
        "{text}"
    );
    std::fs::remove_file(out.join("batches/b0002/summary.json")).expect("remove");
    let third = sweep(dir.path(), SWEEP);
    let text = String::from_utf8_lossy(&third.stdout);
    assert!(
        text.contains("1 batches trained (1 of them redone), 3 complete and skipped"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("index.csv")).expect("index"),
        index
    );
}

#[test]
fn a_bad_sweep_names_its_key() {
    let dir = tempdir().expect("tempdir");
    for (text, key) in [
        ("[grid]\n\"data.d\" = []\n", "grid.data.d"),
        ("[grid]\n\"data.bogus\" = [1]\n", "bogus"),
        ("[grid]\n\"loss.alpha\" = [2.0]\n", "loss.alpha"),
        ("[extra]\nx = 1\n", "extra"),
        (
            "[grid]\na = [1,2,3,4,5,6,7,8,9,10]\nb = [1,2,3,4,5,6,7,8,9,10]\n\
             c = [1,2,3,4,5,6,7,8,9,10]\nd = [1,2,3,4,5,6,7,8,9,10]\n\
             e = [1,2,3,4,5,6,7,8,9,10]\nf = [1,2,3,4,5,6,7,8,9,10]\ng = [1,2]\n",
            "grid",
        ),
    ] {
        let result = sweep(dir.path(), text);
        assert_eq!(result.status.code(), Some(2), "{text}");
        assert!(
            String::from_utf8_lossy(&result.stderr).contains(key),
            "{text}"
        );
        assert!(!dir.path().join("out").join("index.csv").exists());
    }
}

#[test]
fn every_example_sweep_expands() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sweeps");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("sweeps dir") {
        let path = entry.expect("entry").path();
        let spec = experiments::sweep::SweepSpec::load(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let batches = spec
            .batches(&[])
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let runs: usize = batches.iter().map(|b| b.points.len()).sum();
        assert_eq!(runs, spec.points().len());
        count += 1;
    }
    assert!(count >= 1);
}

#[test]
fn bad_figure_commands_name_the_flag() {
    let dir = tempdir().expect("tempdir");
    let out = dir.path().join("fig");
    let out = out.to_str().expect("utf8");
    for (args, key) in [
        (vec!["figure", "10", "--out", out], "figure"),
        (
            vec!["figure", "16", "--scale", "huge", "--out", out],
            "--scale",
        ),
        (
            vec!["figure", "16", "--scale", "smoke", "--out", out],
            "--scale",
        ),
        (vec!["reproduce", "--only", "1,10", "--out", out], "--only"),
        (
            vec!["figure", "19", "--set", "data.bogus=1", "--out", out],
            "bogus",
        ),
        (
            vec![
                "figure",
                "1",
                "--features",
                "f.npy",
                "--labels",
                "l.npy",
                "--out",
                out,
            ],
            "--features",
        ),
        (
            vec!["figure", "9", "--features", "f.npy", "--out", out],
            "--labels",
        ),
        (
            vec![
                "figure",
                "9",
                "--features",
                "/nonexistent/f.npy",
                "--labels",
                "l.npy",
                "--out",
                out,
            ],
            "/nonexistent/f.npy",
        ),
    ] {
        let result = experiments(&[&["--quiet"], args.as_slice()].concat());
        assert_eq!(result.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&result.stderr).contains(key),
            "{args:?}: {}",
            String::from_utf8_lossy(&result.stderr)
        );
        assert!(!dir.path().join("fig").join("report.md").exists());
    }
}

/// A grid over a list-valued key: every value holds a comma.
const LIST_SWEEP: &str = r#"
[base]
dtype = "f64"
data = { d = 8, n = 24, n_test = 40 }
train = { steps = 20, log_points = 5 }

[grid]
"train.histogram_steps" = [[0, 10], [0, 20]]
seed = [0, 1]
"#;

#[test]
fn a_grid_over_a_list_valued_key_keeps_the_index_columns() {
    let dir = tempdir().expect("tempdir");
    let run = sweep(dir.path(), LIST_SWEEP);
    let out = dir.path().join("out");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // Read back as any CSV reader would (RFC 4180 quoting).
    let mut reader = csv::Reader::from_path(out.join("index.csv")).expect("index");
    let header = reader.headers().expect("header").clone();
    let column = |name: &str| header.iter().position(|h| h == name).expect(name);
    let (grid, accuracy, steps) = (
        column("train.histogram_steps"),
        column("test_accuracy"),
        column("steps"),
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), 4);
    for row in &rows {
        assert_eq!(row.len(), header.len(), "one field per column: {row:?}");
        assert!(
            row[grid] == *"[0, 10]" || row[grid] == *"[0, 20]",
            "the list stays one field: {row:?}"
        );
        let acc: f64 = row[accuracy].parse().expect("test_accuracy is a number");
        assert!((0.0..=1.0).contains(&acc), "{row:?}");
        assert_eq!(&row[steps], "20");
    }
}

#[test]
fn run_prints_a_table_and_json_on_request() {
    let dir = tempdir().expect("tempdir");
    let args = tiny(dir.path());
    let table = experiments(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let stdout = String::from_utf8_lossy(&table.stdout);
    assert!(table.status.success(), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    // A header, one line per run (α = 0 and 0.2), and the path.
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(lines[0].contains("test acc") && lines[0].contains("z*"));
    assert!(lines[1].trim_start().starts_with("0 ") && lines[1].contains("–"));
    assert!(
        lines[2].contains("0.2") && lines[2].contains("0.6748"),
        "{stdout}"
    );
    assert!(lines[3].starts_with("results in "));
    let mut with_json = args.clone();
    with_json.insert(1, "--json".into());
    let json = experiments(&with_json.iter().map(String::as_str).collect::<Vec<_>>());
    let summary: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json on stdout");
    assert_eq!(summary["runs"], 2);
}

#[test]
fn a_set_on_a_gridded_key_is_refused() {
    let dir = tempdir().expect("tempdir");
    let spec_path = dir.path().join("sweep.toml");
    std::fs::write(&spec_path, SWEEP).expect("write");
    let out = dir.path().join("out");
    let result = experiments(&[
        "sweep",
        "--quiet",
        "--spec",
        spec_path.to_str().expect("utf8"),
        "--set",
        "data.sigma_n=3.0",
        "--out",
        out.to_str().expect("utf8"),
    ]);
    assert_eq!(result.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains("data.sigma_n") && stderr.contains("--set"),
        "{stderr}"
    );
    assert!(!out.join("index.csv").exists());
}
