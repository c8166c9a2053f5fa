//! The batch store through the binary: one writer per output, per-batch claims between
//! shards, verified resume after corruption, and shards that add up to the single-process run.

mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use common::{
    TempDir, experiments, index_without_timing, output, sweep_args, text, trained, write_spec,
};

/// Eight batches of two runs (σ_n × seed; the α values share their data).
const SWEEP: &str = r#"
[base]
data = { d = 30, n = 60, n_test = 200 }
train = { steps = 300, log_points = 5 }

[grid]
"data.sigma_n" = [0.5, 1.0]
"loss.alpha" = [0.0, 0.2]
seed = [1, 2, 3, 4]
"#;

#[test]
fn a_second_writer_is_refused_naming_the_first_and_the_results_stay_whole() {
    let dir = TempDir::new("race");
    let out = dir.0.join("out");
    let out_s = out.to_str().expect("test step succeeds");
    // A run that takes about a second, so that it still holds the lock when the second starts.
    let long = [
        "run",
        "--quiet",
        "--out",
        out_s,
        "--set",
        "data.d=400",
        "--set",
        "data.n=800",
        "--set",
        "train.steps=3000",
        "--set",
        "seed=1",
        "--set",
        "loss.alpha=[0, 0.1, 0.2]",
    ];
    let first = experiments(&long).spawn().expect("test step succeeds");
    let lock = out.join(".lock");
    let pid = first.id().to_string();
    let start = Instant::now();
    while !std::fs::read_to_string(&lock).is_ok_and(|t| t.contains(&format!("\"pid\":{pid}"))) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the first run never took the lock"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let second = output(&["run", "--quiet", "--out", out_s, "--set", "seed=2"]);
    let first = first.wait_with_output().expect("test step succeeds");
    assert!(first.status.success(), "{}", text(&first));
    assert_eq!(second.status.code(), Some(2), "{}", text(&second));
    let message = text(&second);
    assert!(message.contains("is in use by pid"), "{message}");
    assert!(message.contains(&format!("pid {pid} on ")), "{message}");
    // The directory holds the first run only, and verifies.
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("config.json")).expect("test step succeeds"),
    )
    .expect("test step succeeds");
    assert_eq!(config["seed"], 1);
    assert!(out.join("done.json").exists());
    // Once the first has exited its lock is stale, and the next writer takes it over.
    let third = output(&["run", "--quiet", "--out", out_s, "--set", "seed=3"]);
    assert!(third.status.success(), "{}", text(&third));
}

#[test]
fn racing_shards_never_train_a_batch_twice_and_add_up_to_one_process() {
    let dir = TempDir::new("shards");
    let spec = write_spec(&dir.0, "sweep.toml", SWEEP);
    let single = dir.0.join("single");
    let shared = dir.0.join("shared");
    let (single_s, shared_s) = (
        single.to_str().expect("test step succeeds"),
        shared.to_str().expect("test step succeeds"),
    );

    let reference = output(&sweep_args(&spec, single_s, None));
    assert!(reference.status.success(), "{}", text(&reference));

    // Three processes race over the same share (all of it), and one over half of it: the
    // claims must leave each of the 8 batches to exactly one of them.
    let children: Vec<_> = ["0/1", "0/1", "0/1", "1/2"]
        .iter()
        .map(|s| {
            experiments(&sweep_args(&spec, shared_s, Some(s)))
                .spawn()
                .expect("test step succeeds")
        })
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().expect("test step succeeds"))
        .collect();
    for o in &outputs {
        assert!(o.status.success(), "{}", text(o));
        assert!(
            !shared.join("index.csv").exists(),
            "a shard wrote the index"
        );
    }
    let total: usize = outputs.iter().map(trained).sum();
    assert_eq!(total, 8, "batches trained by the racing shards");

    // The full run then trains nothing and writes the same index as one process.
    let merge = output(&sweep_args(&spec, shared_s, None));
    assert!(merge.status.success(), "{}", text(&merge));
    assert_eq!(trained(&merge), 0, "{}", text(&merge));
    assert_eq!(
        index_without_timing(&shared.join("index.csv")),
        index_without_timing(&single.join("index.csv"))
    );

    // A shard of a different sweep refuses the directory rather than mixing results.
    let other = write_spec(
        &dir.0,
        "other.toml",
        &SWEEP.replace("steps = 300", "steps = 200"),
    );
    let refused = output(&sweep_args(&other, shared_s, Some("0/2")));
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        text(&refused).contains("holds a different sweep"),
        "{}",
        text(&refused)
    );
}

#[test]
fn concurrent_jobs_train_each_batch_once_and_write_the_index_of_one_job() {
    let dir = TempDir::new("jobs");
    // Single batches, and groups of two batches trained together (σ_n as column maps).
    let grouped = SWEEP.replace("log_points = 5", "log_points = 5, group_by_draw = true");
    for (name, sweep) in [("single", SWEEP), ("grouped", grouped.as_str())] {
        let spec = write_spec(&dir.0, &format!("{name}.toml"), sweep);
        let one = dir.0.join(format!("{name}-one"));
        let three = dir.0.join(format!("{name}-three"));
        let (one_s, three_s) = (
            one.to_str().expect("test step succeeds"),
            three.to_str().expect("test step succeeds"),
        );
        let mut args = sweep_args(&spec, one_s, None);
        args.extend(["--jobs", "1"]);
        let reference = output(&args);
        assert!(reference.status.success(), "{}", text(&reference));
        // 8 batches (4 groups): two units per job for 2 jobs, so they run concurrently.
        let jobs = if name == "single" { "3" } else { "2" };
        let mut args = sweep_args(&spec, three_s, None);
        args.extend(["--jobs", jobs]);
        // Runs the sweep with the jobs and checks its counts and its index.
        let check = |args: &[&str], trained_now: usize, skipped: usize, when: &str| {
            let o = output(args);
            assert!(o.status.success(), "{}", text(&o));
            let line = String::from_utf8_lossy(&o.stdout).to_string();
            assert_eq!(trained(&o), trained_now, "{name}, {when}: {line}");
            assert!(
                line.contains(&format!("{skipped} complete and skipped")),
                "{name}, {when}: {line}"
            );
            assert_eq!(
                index_without_timing(&three.join("index.csv")),
                index_without_timing(&one.join("index.csv")),
                "{name}, {when}"
            );
        };
        check(&args, 8, 0, "first");
        // Resumed, the jobs find everything complete.
        check(&args, 0, 8, "resumed");
        // Without resume, each batch is trained again, once.
        args.push("--no-resume");
        check(&args, 8, 0, "retrained");
    }
}

#[test]
fn corrupted_batches_are_redone_and_the_index_comes_back_the_same() {
    let dir = TempDir::new("corrupt");
    let spec = write_spec(&dir.0, "sweep.toml", SWEEP);
    let out = dir.0.join("out");
    let out_s = out.to_str().expect("test step succeeds");
    let first = output(&sweep_args(&spec, out_s, None));
    assert!(first.status.success(), "{}", text(&first));
    let index = index_without_timing(&out.join("index.csv"));
    let batch = |name: &str| out.join("batches").join(name);

    // A truncated metrics.csv, a summary of `{}`, a truncated summary.json, a summary with an
    // empty per_run (marker rewritten to match, so only the run count can catch it), and a
    // batch without its completion marker.
    let metrics = std::fs::read(batch("b0000").join("metrics.csv")).expect("test step succeeds");
    std::fs::write(
        batch("b0000").join("metrics.csv"),
        &metrics[..metrics.len() / 2],
    )
    .expect("test step succeeds");
    std::fs::write(batch("b0001").join("summary.json"), "{}").expect("test step succeeds");
    let summary = std::fs::read(batch("b0002").join("summary.json")).expect("test step succeeds");
    std::fs::write(
        batch("b0002").join("summary.json"),
        &summary[..summary.len() / 3],
    )
    .expect("test step succeeds");
    let mut value: serde_json::Value = serde_json::from_slice(
        &std::fs::read(batch("b0003").join("summary.json")).expect("test step succeeds"),
    )
    .expect("test step succeeds");
    value["per_run"] = serde_json::json!([]);
    let bytes = serde_json::to_vec(&value).expect("test step succeeds");
    std::fs::write(batch("b0003").join("summary.json"), &bytes).expect("test step succeeds");
    let mut marker: serde_json::Value = serde_json::from_slice(
        &std::fs::read(batch("b0003").join("done.json")).expect("test step succeeds"),
    )
    .expect("test step succeeds");
    marker["files"]["summary.json"] = serde_json::json!(experiments::store::sha256_hex(&bytes));
    std::fs::write(batch("b0003").join("done.json"), marker.to_string())
        .expect("test step succeeds");
    std::fs::remove_file(batch("b0004").join("done.json")).expect("test step succeeds");

    let second = output(&sweep_args(&spec, out_s, None));
    assert!(second.status.success(), "{}", text(&second));
    let out_text = String::from_utf8_lossy(&second.stdout);
    assert!(
        out_text.contains("5 batches trained (5 of them redone), 3 complete and skipped"),
        "{out_text}"
    );
    assert_eq!(index_without_timing(&out.join("index.csv")), index);
}

#[test]
fn bad_shard_tasks_and_out_flags_exit_2_naming_the_flag() {
    let dir = TempDir::new("flags");
    let spec = write_spec(&dir.0, "sweep.toml", SWEEP);
    let out = dir.0.join("out");
    let out_s = out.to_str().expect("test step succeeds");
    for bad in ["2/2", "0/0", "x/2", "1"] {
        let o = output(&sweep_args(&spec, out_s, Some(bad)));
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", text(&o));
        assert!(text(&o).contains("--shard"), "{}", text(&o));
    }
    let o = output(&[
        "figure", "19", "--scale", "quick", "--shard", "4/4", "--out", out_s,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    for args in [
        vec!["reproduce", "--estimate", "--tasks", "0", "--out", out_s],
        vec!["reproduce", "--tasks", "8", "--out", out_s],
    ] {
        let o = output(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains("--tasks"), "{}", text(&o));
    }
    // An --out that is a file, not a directory.
    let file = dir.0.join("a-file");
    std::fs::write(&file, "x").expect("test step succeeds");
    let o = output(&sweep_args(
        &spec,
        file.to_str().expect("test step succeeds"),
        None,
    ));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--out"), "{}", text(&o));
}

#[test]
fn a_resumed_sweep_keeps_batches_whose_floats_need_all_17_digits() {
    // η = 0.25/2.3² (the phase diagrams' learning rate at σ_n = 2.3) needs all 17 significant
    // digits, 0.047258979206049156; read back without correct rounding, the stored config
    // differed from the sweep's in the last bit and every such batch was trained again.
    let dir = TempDir::new("floats");
    let lr = 0.25 / (2.3f64 * 2.3);
    let spec = write_spec(
        &dir.0,
        "floats.toml",
        &format!(
            "[base]\ndata = {{ d = 10, n = 20, n_test = 50 }}\n\
             train = {{ steps = 5, log_points = 2, lr = {lr:?} }}\n[grid]\nseed = [1, 2]\n"
        ),
    );
    let out = dir.0.join("out");
    let out = out.to_str().expect("test step succeeds");
    let first = output(&sweep_args(&spec, out, None));
    assert!(first.status.success(), "{}", text(&first));
    assert_eq!(trained(&first), 2);
    let again = output(&sweep_args(&spec, out, None));
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(trained(&again), 0, "{}", text(&again));
}
