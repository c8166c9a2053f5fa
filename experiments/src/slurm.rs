//! `experiments slurm`: a figure, the whole reproduction or a sweep as a Slurm job array.
//!
//! ```text
//! experiments slurm figure 16 --scale paper --tasks 32 --time 2:00:00 --out /shared/runs/fig16
//! ```
//!
//! writes into `OUT/slurm/`:
//! - `array.sh`: `#SBATCH --array=0-(N-1)`; task I runs the same command with `--shard I/N`
//!   (the same binary, config and `--out`), training its share of the batches;
//! - `report.sh`: the same command without `--shard`, which trains nothing once every batch is
//!   done and writes the index, the figure and the report. It runs after the array
//!   (`--dependency=afterok:<array>`), and is cancelled if a task fails
//!   (`--kill-on-invalid-dep=yes`);
//! - `submit.sh`: submits both (`sbatch --parsable`) and prints their job ids;
//! - `logs/`: each job's output.
//!
//! With `--submit` the two jobs are submitted at once. After a failure (a task killed, out of
//! time, a node lost), run `submit.sh` again: finished batches verify and are skipped, so only
//! the missing ones train. Tasks run on other nodes, so `--out` must be an absolute path on a
//! file system every node shares, with working `flock` locks (see [`crate::store`]).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::ExperimentError;
use crate::cli::{ConfigFlags, prepare_out};
use crate::figures::{FigureOptions, FigurePlan, Scale};

/// Arguments of `experiments slurm`.
#[derive(Debug, clap::Args)]
pub struct SlurmArgs {
    /// What the array computes.
    #[command(subcommand)]
    pub job: SlurmJob,
}

/// The job of `experiments slurm`.
#[derive(Debug, clap::Subcommand)]
pub enum SlurmJob {
    /// One of the paper's figures (as `experiments figure`).
    Figure {
        /// The paper's figure number.
        #[arg(value_parser = crate::cli::figure_id)]
        id: u32,
        /// quick or paper.
        #[arg(long, value_enum, default_value_t = Scale::Quick)]
        scale: Scale,
        /// Slurm and job options.
        #[command(flatten)]
        options: SlurmOptions,
    },
    /// Every figure (as `experiments reproduce`), one partition over all of their batches.
    Reproduce {
        /// quick or paper.
        #[arg(long, value_enum, default_value_t = Scale::Quick)]
        scale: Scale,
        /// Only these figures (comma-separated), default all.
        #[arg(long, value_delimiter = ',', value_parser = crate::cli::figure_id)]
        only: Vec<u32>,
        /// Slurm and job options.
        #[command(flatten)]
        options: SlurmOptions,
    },
    /// A sweep file (as `experiments sweep --spec SPEC`).
    Sweep {
        /// The sweep file.
        spec: PathBuf,
        /// Slurm and job options.
        #[command(flatten)]
        options: SlurmOptions,
    },
}

/// The options every `experiments slurm` job takes.
#[derive(Debug, clap::Args)]
pub struct SlurmOptions {
    /// Array tasks N: task I trains shard I/N of the batches.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub tasks: u64,
    /// Output directory: an absolute path on a file system shared by every node.
    #[arg(long)]
    pub out: PathBuf,
    /// `#SBATCH --partition`.
    #[arg(long)]
    pub partition: Option<String>,
    /// `#SBATCH --time` per task (and for the report job), e.g. 2:00:00.
    #[arg(long)]
    pub time: Option<String>,
    /// `#SBATCH --cpus-per-task`.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub cpus_per_task: Option<u64>,
    /// `#SBATCH --mem`, e.g. 8G.
    #[arg(long)]
    pub mem: Option<String>,
    /// `#SBATCH --account`.
    #[arg(long)]
    pub account: Option<String>,
    /// An extra `#SBATCH` line for both scripts, e.g. --sbatch=--qos=long (repeatable).
    #[arg(long = "sbatch", value_name = "OPTION", allow_hyphen_values = true)]
    pub extra: Vec<String>,
    /// Submit the array and the report job with sbatch and print their job ids.
    #[arg(long)]
    pub submit: bool,
    /// Overrides, backend and precision, applied to every run.
    #[command(flatten)]
    pub flags: ConfigFlags,
}

/// The three scripts of a job array.
#[derive(Debug, Clone, PartialEq)]
pub struct Scripts {
    /// `array.sh`.
    pub array: String,
    /// `report.sh`.
    pub report: String,
    /// `submit.sh`.
    pub submit: String,
}

/// `text` quoted for a POSIX shell (single quotes; a single quote as `'\''`).
pub fn shell_quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        return text.to_string();
    }
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The scripts for the command `command` (the binary first, then its arguments, without
/// `--shard`), `tasks` array tasks, job name `name`, logs in `out/slurm/logs`.
pub fn scripts(command: &[String], tasks: u64, name: &str, options: &SlurmOptions) -> Scripts {
    let out = options.out.display().to_string();
    let mut common = String::new();
    for (flag, value) in [
        ("partition", &options.partition),
        ("time", &options.time),
        ("mem", &options.mem),
        ("account", &options.account),
    ] {
        if let Some(v) = value {
            let _ = writeln!(common, "#SBATCH --{flag}={v}");
        }
    }
    if let Some(cpus) = options.cpus_per_task {
        let _ = writeln!(common, "#SBATCH --cpus-per-task={cpus}");
    }
    for line in &options.extra {
        let _ = writeln!(common, "#SBATCH {line}");
    }
    let quoted: Vec<String> = command.iter().map(|a| shell_quote(a)).collect();
    let line = quoted.join(" ");
    let provenance = crate::output::build_provenance();
    let header = format!(
        "#!/bin/bash\n# Generated by `experiments slurm` (logit-reg {}, commit {}).\n",
        env!("CARGO_PKG_VERSION"),
        provenance.commit.unwrap_or("unknown")
    );
    let array = format!(
        "{header}# Task I of {tasks} trains shard I/{tasks} of the batches into {out}.\n\
         #SBATCH --job-name={name}\n#SBATCH --array=0-{last}\n\
         #SBATCH --output={logs}/%x-%A_%a.out\n{common}set -euo pipefail\n\
         exec {line} --shard \"${{SLURM_ARRAY_TASK_ID}}/{tasks}\"\n",
        last = tasks - 1,
        logs = shell_quote(&format!("{out}/slurm/logs")),
    );
    let report = format!(
        "{header}# Runs after every array task has succeeded: trains nothing (every batch is \
         done and verified)\n# and writes the index, the figure and the report into {out}.\n\
         #SBATCH --job-name={name}-report\n#SBATCH --output={logs}/%x-%j.out\n\
         #SBATCH --kill-on-invalid-dep=yes\n{common}set -euo pipefail\nexec {line}\n",
        logs = shell_quote(&format!("{out}/slurm/logs")),
    );
    let submit = format!(
        "#!/bin/bash\n# Submits the array ({tasks} tasks), then the report job, which runs once \
         every task has succeeded.\n# Rerun it after a failure: finished batches are verified \
         and skipped, so only the missing ones train.\nset -euo pipefail\n\
         here=\"$(cd \"$(dirname \"$0\")\" && pwd)\"\n\
         array=$(sbatch --parsable \"$here/array.sh\")\narray=${{array%%;*}}\n\
         report=$(sbatch --parsable --dependency=afterok:\"$array\" \"$here/report.sh\")\n\
         report=${{report%%;*}}\n\
         echo \"submitted: array job $array ({tasks} tasks), report job $report (after every \
         task succeeds)\"\n"
    );
    Scripts {
        array,
        report,
        submit,
    }
}

/// Where `program` is on `PATH`, if anywhere.
fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

/// Runs `sbatch --parsable ARGS` and returns the job id.
fn sbatch(sbatch: &Path, args: &[&str]) -> Result<String, ExperimentError> {
    let output = Command::new(sbatch)
        .arg("--parsable")
        .args(args)
        .output()
        .map_err(|e| ExperimentError::io(sbatch, e))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let id = stdout.trim().split(';').next().unwrap_or("").to_string();
    if !output.status.success() || id.is_empty() {
        return Err(ExperimentError::Io {
            path: sbatch.display().to_string(),
            message: format!(
                "sbatch {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    Ok(id)
}

/// `experiments slurm`: checks the job, writes the scripts and, with `--submit`, submits them.
pub fn run_slurm_command(args: &SlurmArgs) -> Result<(), ExperimentError> {
    let (job_args, name, options): (Vec<String>, String, &SlurmOptions) = match &args.job {
        SlurmJob::Figure { id, scale, options } => (
            vec![
                "figure".into(),
                id.to_string(),
                "--scale".into(),
                scale.name().into(),
            ],
            format!("logit-reg-fig{id}"),
            options,
        ),
        SlurmJob::Reproduce {
            scale,
            only,
            options,
        } => {
            let mut a = vec!["reproduce".into(), "--scale".into(), scale.name().into()];
            if !only.is_empty() {
                let ids: Vec<String> = only.iter().map(u32::to_string).collect();
                a.extend(["--only".into(), ids.join(",")]);
            }
            (a, "logit-reg-reproduce".into(), options)
        }
        SlurmJob::Sweep { spec, options } => {
            let spec = std::fs::canonicalize(spec).map_err(|e| ExperimentError::io(spec, e))?;
            (
                vec!["sweep".into(), "--spec".into(), spec.display().to_string()],
                "logit-reg-sweep".into(),
                options,
            )
        }
    };
    if !options.out.is_absolute() {
        return Err(ExperimentError::flag(
            "--out",
            format!(
                "{} is a relative path; array tasks run on other nodes, so give an absolute \
                 path on a file system that every node shares",
                options.out.display()
            ),
        ));
    }
    let sbatch_path = if options.submit {
        Some(on_path("sbatch").ok_or_else(|| {
            ExperimentError::flag(
                "--submit",
                "sbatch is not on PATH: run this on the cluster's login node, or leave out \
                 --submit and run OUT/slurm/submit.sh there",
            )
        })?)
    } else {
        None
    };
    // Check the job itself (every config, every override) before writing anything.
    let extra = options.flags.overrides()?;
    let batches = match &args.job {
        SlurmJob::Figure { id, scale, .. } => {
            FigurePlan::new(*id, &figure_options(*scale, &extra))?.batch_count()
        }
        SlurmJob::Reproduce { scale, only, .. } => {
            let ids = if only.is_empty() {
                crate::figures::figure_ids()
            } else {
                only.clone()
            };
            let figure = figure_options(*scale, &extra);
            ids.iter()
                .map(|&id| FigurePlan::new(id, &figure).map(|p| p.batch_count()))
                .sum::<Result<usize, _>>()?
        }
        SlurmJob::Sweep { spec, .. } => crate::sweep::SweepSpec::load(spec)?.batches(&extra)?.len(),
    };
    prepare_out(&options.out)?;
    let exe = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .map_err(|e| ExperimentError::io(Path::new("current executable"), e))?;
    let mut command = vec![exe.display().to_string()];
    command.extend(job_args);
    command.extend(["--out".into(), options.out.display().to_string()]);
    for assignment in &options.flags.overrides {
        command.extend(["--set".into(), assignment.clone()]);
    }
    if let Some(b) = options.flags.backend {
        command.extend([
            "--backend".into(),
            crate::model::Backend::from(b).name().into(),
        ]);
    }
    if let Some(d) = options.flags.dtype {
        command.extend([
            "--dtype".into(),
            crate::model::Precision::from(d).name().into(),
        ]);
    }
    let scripts = scripts(&command, options.tasks, &name, options);
    let dir = options.out.join("slurm");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| ExperimentError::io(&logs, e))?;
    for (file, text) in [
        ("array.sh", &scripts.array),
        ("report.sh", &scripts.report),
        ("submit.sh", &scripts.submit),
    ] {
        let path = dir.join(file);
        crate::output::write_atomic(&path, text.as_bytes())?;
        make_executable(&path)?;
    }
    println!(
        "{batches} batches over {} array tasks; scripts in {}",
        options.tasks,
        dir.display()
    );
    let Some(sbatch_path) = sbatch_path else {
        println!("submit with: bash {}", dir.join("submit.sh").display());
        return Ok(());
    };
    let array_script = dir.join("array.sh").display().to_string();
    let report_script = dir.join("report.sh").display().to_string();
    let array = sbatch(&sbatch_path, &[&array_script])?;
    let dependency = format!("--dependency=afterok:{array}");
    let report = sbatch(&sbatch_path, &[&dependency, &report_script])?;
    println!(
        "submitted: array job {array} ({} tasks), report job {report} (after every task \
         succeeds)",
        options.tasks
    );
    Ok(())
}

fn figure_options(scale: Scale, extra: &[String]) -> FigureOptions {
    FigureOptions {
        scale,
        extra: extra.to_vec(),
        resume: true,
        progress: false,
        jobs: 1,
    }
}

#[cfg(unix)]
fn make_executable(path: &Path) -> Result<(), ExperimentError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| ExperimentError::io(path, e))
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> Result<(), ExperimentError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_survives_spaces_quotes_and_dollars() {
        assert_eq!(shell_quote("/usr/bin/x"), "/usr/bin/x");
        assert_eq!(shell_quote("loss.alpha=[0, 0.2]"), "'loss.alpha=[0, 0.2]'");
        assert_eq!(shell_quote("it's $HOME"), r"'it'\''s $HOME'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn the_scripts_carry_the_array_the_dependency_and_the_options() {
        let options = SlurmOptions {
            tasks: 4,
            out: PathBuf::from("/shared/out dir"),
            partition: Some("cpu".into()),
            time: Some("1:00:00".into()),
            cpus_per_task: Some(2),
            mem: None,
            account: None,
            extra: vec!["--qos=long".into()],
            submit: false,
            flags: ConfigFlags {
                overrides: Vec::new(),
                backend: None,
                dtype: None,
            },
        };
        let command: Vec<String> = [
            "/bin/experiments",
            "figure",
            "19",
            "--out",
            "/shared/out dir",
        ]
        .map(String::from)
        .to_vec();
        let s = scripts(&command, 4, "logit-reg-fig19", &options);
        assert!(s.array.contains("#SBATCH --array=0-3\n"));
        assert!(s.array.contains("#SBATCH --partition=cpu\n"));
        assert!(s.array.contains("#SBATCH --time=1:00:00\n"));
        assert!(s.array.contains("#SBATCH --cpus-per-task=2\n"));
        assert!(s.array.contains("#SBATCH --qos=long\n"));
        assert!(s.array.contains(
            "exec /bin/experiments figure 19 --out '/shared/out dir' --shard \"${SLURM_ARRAY_TASK_ID}/4\"\n"
        ));
        assert!(
            s.report
                .contains("exec /bin/experiments figure 19 --out '/shared/out dir'\n")
        );
        assert!(!s.report.contains("--shard"));
        assert!(s.report.contains("--kill-on-invalid-dep=yes"));
        assert!(s.submit.contains("--dependency=afterok:\"$array\""));
        // Every #SBATCH line comes before the first command, or sbatch ignores it.
        for script in [&s.array, &s.report] {
            let first_command = script.find("set -euo").expect("a command");
            assert!(script.rfind("#SBATCH").expect("options") < first_command);
        }
    }
}
