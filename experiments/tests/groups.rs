//! `train.group_by_draw`: batches that share one data draw, trained together through the
//! binary. The oracle is the same sweep with every batch trained alone: each batch's metrics
//! must agree with it to rounding (in f64), whatever the optimiser; shards and resumes must
//! give the grouped run's index bit for bit.

mod common;

use common::{TempDir, index_without_timing, output, sweep_args, text, trained, write_spec};

/// Sixteen batches of two runs: σ_f × σ_n × μ_f × seed, with α batched. Under shared noise
/// draws the eight batches of a seed form one group.
const GD_SWEEP: &str = r#"
[base]
dtype = "f64"
data = { d = 24, n = 50, n_test = 150 }
loss = { penalty = "quadratic" }
train = { steps = 400, log_points = 6, histogram_steps = [0, 400] }

[grid]
"data.sigma_f" = [0.0, 0.5]
"data.sigma_n" = [1.0, 2.0]
"data.mu_f" = [1.0, 0.3]
"loss.alpha" = [0.0, 0.4]
seed = [1, 2]
"#;

/// Full-batch Adam with weight decay and a random start, fresh noise for each σ_n: groups
/// over σ_f only.
const ADAM_SWEEP: &str = r#"
[base]
dtype = "f64"
data = { d = 20, n = 40, n_test = 100, noise_draws = "per-sigma-n" }
loss = { penalty = "quadratic", alpha = 0.2, weight_decay = 0.05 }
train = { optimizer = "adam", lr = 0.01, steps = 300, log_points = 5, init_std = 0.1 }

[grid]
"data.sigma_f" = [0.0, 0.4, 0.8]
"data.sigma_n" = [0.5, 1.5]
"#;

/// `spec` with `train.group_by_draw = true`.
fn grouped(spec: &str) -> String {
    spec.replace("train = { ", "train = { group_by_draw = true, ")
}

/// The index's numbers, column by column (grid values and metrics), as f64.
fn numbers(rows: &[Vec<String>]) -> Vec<Vec<f64>> {
    rows[1..]
        .iter()
        .map(|row| {
            row.iter()
                .map(|v| v.parse::<f64>().unwrap_or(f64::NAN))
                .collect()
        })
        .collect()
}

/// Sweeps `spec_text` alone and `grouped_text` (the same batches, grouped), and checks every
/// number of the two indexes against each other: equal where both are NaN, else to 1e-9
/// relative to the larger size (at least 1). Returns the grouped summaries.
fn grouped_matches_alone(
    name: &str,
    spec_text: &str,
    grouped_text: &str,
    group_runs: &[(usize, usize)],
) -> Vec<serde_json::Value> {
    let dir = TempDir::new(name);
    let spec = write_spec(&dir.0, "sweep.toml", spec_text);
    let grouped_spec = write_spec(&dir.0, "grouped.toml", grouped_text);
    let (alone, grouped) = (dir.0.join("alone"), dir.0.join("grouped"));
    for (spec, out) in [(&spec, &alone), (&grouped_spec, &grouped)] {
        let o = output(&sweep_args(spec, out.to_str().expect("utf-8"), None));
        assert!(o.status.success(), "{}", text(&o));
    }
    let (a, g) = (
        index_without_timing(&alone.join("index.csv")),
        index_without_timing(&grouped.join("index.csv")),
    );
    assert_eq!(a[0], g[0], "the same columns");
    let (a, g) = (numbers(&a), numbers(&g));
    assert_eq!(a.len(), g.len(), "the same runs");
    let mut worst = 0.0f64;
    for (ra, rg) in a.iter().zip(&g) {
        for (x, y) in ra.iter().zip(rg) {
            if x.is_nan() && y.is_nan() {
                continue;
            }
            worst = worst.max((x - y).abs() / x.abs().max(y.abs()).max(1.0));
        }
    }
    assert!(worst <= 1e-9, "{name}: largest gap {worst:e}");
    // Every batch says which group it trained in.
    let mut seen = Vec::new();
    let mut summaries = Vec::new();
    for entry in std::fs::read_dir(grouped.join("batches")).expect("batches") {
        let path = entry.expect("entry").path().join("summary.json");
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("summary")).expect("json");
        let group = &summary["group"];
        seen.push((
            group["batches"].as_u64().expect("batches") as usize,
            group["runs"].as_u64().expect("runs") as usize,
        ));
        summaries.push(summary);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen, group_runs, "{name}: group sizes");
    summaries
}

#[test]
fn grouped_batches_match_the_same_batches_trained_alone() {
    // GD from zero, every draw shared: a group of 8 batches (16 runs) per seed.
    grouped_matches_alone("group-gd", GD_SWEEP, &grouped(GD_SWEEP), &[(8, 16)]);
    // Adam with weight decay from a random start, a draw per σ_n: 3 batches of one run.
    grouped_matches_alone("group-adam", ADAM_SWEEP, &grouped(ADAM_SWEEP), &[(3, 3)]);
    // Runs from S = 0 and from a random start share their draw (each batch draws its own
    // start): a group of 16 batches (32 runs) per seed.
    let starts = GD_SWEEP.replace(
        "seed = [1, 2]",
        "seed = [1, 2]\n\"train.init_std\" = [0.0, 0.05]",
    );
    grouped_matches_alone("group-starts", &starts, &grouped(&starts), &[(16, 32)]);
}

#[test]
fn grouped_batches_in_the_dual_form_match_the_primal_form_alone() {
    // d > N: the grouped batches take the dual form by default (d + 1 ≥ 0.75 N), the batches
    // trained alone the primal form, as asked.
    let alone = GD_SWEEP
        .replace("d = 24, n = 50", "d = 60, n = 50")
        .replace("train = { ", "train = { fused_kernel = \"pipelined\", ");
    let grouped_text = grouped(&GD_SWEEP.replace("d = 24, n = 50", "d = 60, n = 50"));
    let summaries = grouped_matches_alone("group-dual", &alone, &grouped_text, &[(8, 16)]);
    for summary in summaries {
        assert_eq!(summary["fused_kernel"], "dual", "{summary}");
    }
}

#[test]
fn grouped_shards_and_resumes_give_the_grouped_index_bit_for_bit() {
    let dir = TempDir::new("group-shards");
    let spec = write_spec(&dir.0, "sweep.toml", &grouped(GD_SWEEP));
    let (single, shared) = (dir.0.join("single"), dir.0.join("shared"));
    let (single_s, shared_s) = (
        single.to_str().expect("utf-8"),
        shared.to_str().expect("utf-8"),
    );
    let reference = output(&sweep_args(&spec, single_s, None));
    assert!(reference.status.success(), "{}", text(&reference));
    assert_eq!(trained(&reference), 16);

    // Two shards: each trains whole groups (8 batches), and together all 16.
    let mut total = 0;
    for shard in ["0/2", "1/2"] {
        let o = output(&sweep_args(&spec, shared_s, Some(shard)));
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(
            trained(&o) % 8,
            0,
            "shard {shard} split a group: {}",
            text(&o)
        );
        total += trained(&o);
    }
    assert_eq!(total, 16);
    let merge = output(&sweep_args(&spec, shared_s, None));
    assert!(merge.status.success(), "{}", text(&merge));
    assert_eq!(trained(&merge), 0, "{}", text(&merge));
    assert_eq!(
        index_without_timing(&shared.join("index.csv")),
        index_without_timing(&single.join("index.csv"))
    );

    // A member whose files are damaged is redone with its group (only it is rewritten), and
    // the index comes back the same.
    let damaged = single.join("batches").join("b0003").join("metrics.csv");
    std::fs::write(&damaged, "step\n").expect("damage");
    let resumed = output(&sweep_args(&spec, single_s, None));
    assert!(resumed.status.success(), "{}", text(&resumed));
    assert_eq!(trained(&resumed), 1, "{}", text(&resumed));
    assert_eq!(
        index_without_timing(&single.join("index.csv")),
        index_without_timing(&shared.join("index.csv"))
    );
}

#[test]
fn group_by_draw_where_it_cannot_apply_exits_2_naming_the_key() {
    for sets in [
        &["model.kind=\"mlp\"", "model.hidden=[4]"][..],
        &["data.model=\"multiclass\""][..],
        &["train.optimizer=\"sgd\"", "train.batch_size=10"][..],
        &["train.grad_tol=1e-3"][..],
    ] {
        let mut args = vec!["run", "--quiet", "--set", "train.group_by_draw=true"];
        for s in sets {
            args.extend(["--set", s]);
        }
        let dir = TempDir::new("group-refused");
        let out = dir.0.join("out");
        args.extend(["--out", out.to_str().expect("utf-8")]);
        let o = output(&args);
        assert_eq!(o.status.code(), Some(2), "{sets:?}: {}", text(&o));
        assert!(
            text(&o).contains("train.group_by_draw"),
            "{sets:?}: {}",
            text(&o)
        );
    }
}
