//! `experiments slurm` without a cluster: the scripts it writes, and its refusals. The real
//! Slurm test is `tests/slurm/run.sh`, run by `.ci/run`.

use std::process::{Command, Output};

fn experiments(args: &[&str], path: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_experiments"));
    command.args(args);
    if let Some(path) = path {
        command.env("PATH", path);
    }
    command.output().expect("binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn slurm_writes_an_array_a_dependent_report_and_a_submit_script() {
    let out = std::env::temp_dir().join(format!("logit-reg-slurm-cli-{}", std::process::id()));
    let out_s = out.to_str().expect("utf8");
    let o = experiments(
        &[
            "slurm",
            "figure",
            "19",
            "--scale",
            "quick",
            "--tasks",
            "3",
            "--time",
            "0:30:00",
            "--set",
            "data.n_test=500",
            "--out",
            out_s,
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("batches over 3 array tasks"),
        "{}",
        text(&o)
    );
    let read = |name: &str| std::fs::read_to_string(out.join("slurm").join(name)).expect(name);
    let (array, report, submit) = (read("array.sh"), read("report.sh"), read("submit.sh"));
    assert!(array.contains("#SBATCH --array=0-2\n"), "{array}");
    assert!(array.contains("#SBATCH --time=0:30:00\n"), "{array}");
    assert!(array.contains(&format!(
        "figure 19 --scale quick --out {out_s} --set data.n_test=500 --shard \"${{SLURM_ARRAY_TASK_ID}}/3\""
    )));
    assert!(report.contains(&format!(
        "figure 19 --scale quick --out {out_s} --set data.n_test=500\n"
    )));
    assert!(submit.contains("--dependency=afterok:"));
    assert!(out.join("slurm/logs").is_dir());
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn slurm_refuses_a_relative_out_zero_tasks_and_submit_without_sbatch() {
    let abs = std::env::temp_dir().join(format!("logit-reg-slurm-bad-{}", std::process::id()));
    let abs_s = abs.to_str().expect("utf8");
    for (args, path, flag) in [
        (
            vec![
                "slurm",
                "figure",
                "19",
                "--tasks",
                "2",
                "--out",
                "relative/dir",
            ],
            None,
            "--out",
        ),
        (
            vec!["slurm", "figure", "19", "--tasks", "0", "--out", abs_s],
            None,
            "--tasks",
        ),
        (
            vec![
                "slurm", "figure", "19", "--tasks", "2", "--submit", "--out", abs_s,
            ],
            Some("/nonexistent"),
            "--submit",
        ),
        (
            vec![
                "slurm",
                "figure",
                "19",
                "--tasks",
                "2",
                "--set",
                "data.n=-1",
                "--out",
                abs_s,
            ],
            None,
            "data.n",
        ),
    ] {
        let o = experiments(&args, path);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(flag), "{args:?}: {}", text(&o));
        assert!(
            !abs.join("slurm/array.sh").exists(),
            "{args:?} wrote scripts"
        );
    }
    let _ = std::fs::remove_dir_all(&abs);
}
