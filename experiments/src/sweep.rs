//! Sweeps: a TOML grid over any config fields (seeds included), expanded into runs, batched
//! where runs share their data, resumable.
//!
//! ```toml
//! # sweep.toml
//! [base]                      # a run config (every field optional)
//! data = { d = 200, n = 400 }
//! train = { steps = 2000 }
//!
//! [grid]                      # dotted keys → lists of values; the runs are the Cartesian product
//! "data.sigma_n" = [0.5, 1.0, 2.0]
//! "loss.alpha" = [0.0, 0.2, 0.4]
//! seed = [0, 1, 2]
//! ```
//!
//! Runs that differ only in `loss.alpha` and `train.lr` share data and are trained together as
//! one batch of M runs; all other runs are trained one batch after another. Each batch writes
//! its files to `OUT/batches/bNNNN/`, the completion marker `done.json` last. A batch whose
//! files verify against its marker and whose `config.json` holds the same resolved config is
//! skipped, so an interrupted sweep resumes where it stopped; anything else is redone (see
//! [`crate::store`]). `OUT/index.csv` has one row per run: the grid values, then the run's
//! final metrics.
//!
//! `--shard I/N` splits the batches into N shares balanced by [`batch_cost`]; shard I trains
//! only its share, takes a claim on each batch as it trains it, and writes no index. Once every
//! shard has finished, the same command without `--shard` trains nothing and writes the index.
//!
//! `--jobs N` trains N batches at once in one process through the same claims, each job on
//! `cores / N` threads ([`train_concurrently`]); the results do not depend on it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::ProgressBar;
use serde_json::Value;

use crate::ExperimentError;
use crate::config::{RunConfig, set_dotted};
use crate::output::{csv_text, write_atomic, write_json};
use crate::run::{SUMMARY_METRICS, group_key, resolved_config, run_group_to_dirs, run_to_dir};
use crate::store::{Acquired, BatchState, DirLock, check_batch};

/// The claim file in each batch directory, held while the batch trains.
pub const CLAIM: &str = "claim.lock";

/// Keys whose values vary inside one batch (the runs share their data).
pub const BATCHED_KEYS: &[&str] = &["loss.alpha", "train.lr"];

/// One grid point: dotted key → value, in grid order.
pub type GridPoint = Vec<(String, toml::Value)>;

/// A parsed sweep specification.
#[derive(Debug, Clone)]
pub struct SweepSpec {
    /// The base config table (before grid overrides).
    pub base: toml::Table,
    /// The grid: dotted key → values, in file order.
    pub grid: Vec<(String, Vec<toml::Value>)>,
}

/// One batch of the sweep: the config to train and, per run, its grid values.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The batch's directory name (`bNNNN`).
    pub name: String,
    /// The resolved config of the whole batch.
    pub config: RunConfig,
    /// Per run in the batch: the grid key → value pairs.
    pub points: Vec<GridPoint>,
}

impl SweepSpec {
    /// Parses a sweep file: `[base]` (optional) and `[grid]` (dotted keys to non-empty lists).
    pub fn parse(text: &str, origin: &str) -> Result<Self, ExperimentError> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| ExperimentError::Config {
            key: origin.to_string(),
            message: format!("not valid TOML: {e}"),
        })?;
        let base = match table.remove("base") {
            Some(toml::Value::Table(t)) => t,
            Some(_) => return Err(ExperimentError::invalid("base", "not a table", "a table")),
            None => toml::Table::new(),
        };
        let grid_table = match table.remove("grid") {
            Some(toml::Value::Table(t)) => t,
            Some(_) => return Err(ExperimentError::invalid("grid", "not a table", "a table")),
            None => toml::Table::new(),
        };
        if let Some(key) = table.keys().next() {
            return Err(ExperimentError::Config {
                key: key.clone(),
                message: "unknown section of a sweep file (allowed: base, grid)".into(),
            });
        }
        let mut grid = Vec::new();
        for (key, value) in grid_table {
            let values = match value {
                toml::Value::Array(v) if !v.is_empty() => v,
                other => {
                    return Err(ExperimentError::Config {
                        key: format!("grid.{key}"),
                        message: format!("expected a non-empty list of values, got {other}"),
                    });
                }
            };
            grid.push((key, values));
        }
        let points = grid
            .iter()
            .try_fold(1usize, |product, (_, values)| {
                product.checked_mul(values.len())
            })
            .filter(|&p| p <= crate::limits::MAX_GRID_POINTS);
        if points.is_none() {
            let sizes: Vec<String> = grid.iter().map(|(_, v)| v.len().to_string()).collect();
            return Err(ExperimentError::invalid(
                "grid",
                &format!("{} points", sizes.join(" × ")),
                &format!("at most {} grid points", crate::limits::MAX_GRID_POINTS),
            ));
        }
        Ok(Self { base, grid })
    }

    /// Reads and parses a sweep file.
    pub fn load(path: &Path) -> Result<Self, ExperimentError> {
        let text = std::fs::read_to_string(path).map_err(|e| ExperimentError::io(path, e))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// All grid points (the Cartesian product, last key fastest).
    pub fn points(&self) -> Vec<GridPoint> {
        let mut points: Vec<GridPoint> = vec![Vec::new()];
        for (key, values) in &self.grid {
            points = points
                .into_iter()
                .flat_map(|p| {
                    values.iter().map(move |v| {
                        let mut q = p.clone();
                        q.push((key.clone(), v.clone()));
                        q
                    })
                })
                .collect();
        }
        points
    }

    /// Expands the grid into batches; `extra` overrides (e.g. `--backend`) apply to every run.
    pub fn batches(&self, extra: &[String]) -> Result<Vec<Batch>, ExperimentError> {
        // (the values of the non-batched keys, the grid points that share them)
        let mut groups: Vec<(GridPoint, Vec<GridPoint>)> = Vec::new();
        for point in self.points() {
            let shared: GridPoint = point
                .iter()
                .filter(|(k, _)| !BATCHED_KEYS.contains(&k.as_str()))
                .cloned()
                .collect();
            match groups.iter_mut().find(|(s, _)| *s == shared) {
                Some((_, members)) => members.push(point),
                None => groups.push((shared, vec![point])),
            }
        }
        let mut batches = Vec::new();
        for (index, (shared, members)) in groups.into_iter().enumerate() {
            let mut table = self.base.clone();
            for assignment in extra {
                let (key, value) = crate::config::parse_override(assignment)?;
                if self.grid.iter().any(|(k, _)| *k == key) {
                    return Err(ExperimentError::invalid(
                        &key,
                        &format!("{value} (from --set)"),
                        "a key the sweep does not grid over (the grid sets it for every run)",
                    ));
                }
                set_dotted(&mut table, &key, value)?;
            }
            for (key, value) in &shared {
                set_dotted(&mut table, key, value.clone())?;
            }
            for key in BATCHED_KEYS {
                let gridded = members[0].iter().any(|(k, _)| k == key);
                if !gridded {
                    continue;
                }
                let values: Vec<f64> = members
                    .iter()
                    .map(|p| {
                        let v = p.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
                        v.and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
                            .ok_or_else(|| ExperimentError::invalid(key, "non-number", "numbers"))
                    })
                    .collect::<Result<_, _>>()?;
                let list = toml::Value::Array(values.into_iter().map(toml::Value::Float).collect());
                set_dotted(&mut table, key, list)?;
            }
            let config = RunConfig::from_table(table)?;
            batches.push(Batch {
                name: format!("b{index:04}"),
                config,
                points: members,
            });
        }
        Ok(batches)
    }
}

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SweepReport {
    /// Batches trained now (redone ones included).
    pub trained: usize,
    /// Batches skipped because their results were complete and verified.
    pub skipped: usize,
    /// Batches whose files were there but did not check out (truncated, unmarked, for another
    /// config) and were trained again.
    pub redone: usize,
    /// Batches of this share that another live process was training, left to it (shards only).
    pub left_to_others: usize,
    /// Runs in the index (0 for a shard, which writes none).
    pub runs: usize,
    /// Runs that diverged.
    pub diverged: usize,
    /// Path of `index.csv`; `None` for a shard.
    pub index: Option<PathBuf>,
}

impl SweepReport {
    /// One line: trained, skipped, redone (and left to others).
    pub fn counts(&self) -> String {
        let mut text = format!(
            "{} batches trained ({} of them redone), {} complete and skipped",
            self.trained, self.redone, self.skipped
        );
        if self.left_to_others > 0 {
            text.push_str(&format!(
                ", {} being trained by other processes",
                self.left_to_others
            ));
        }
        text
    }

    /// Counts what [`train_concurrently`] trained (`trained`) in a report of the passes
    /// after it, which found those batches complete and counted them as skipped.
    pub fn count_trained(&mut self, trained: &SweepReport) {
        self.skipped -= trained.trained.min(self.skipped);
        self.trained += trained.trained;
        self.redone += trained.redone;
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &SweepReport) {
        self.trained += other.trained;
        self.skipped += other.skipped;
        self.redone += other.redone;
        self.left_to_others += other.left_to_others;
        self.runs += other.runs;
        self.diverged += other.diverged;
    }
}

fn csv_field(v: &Value) -> String {
    match v {
        Value::Null => "NaN".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Runs every batch of `spec` into `out` (skipping verified ones when `resume`), then writes
/// `out/index.csv`; with a progress bar over the batches when `show_progress`. A full sweep
/// holds the output lock (see [`crate::store`]) throughout; a shard (`mode.shard`) takes only
/// batch claims and writes no index.
pub fn run_sweep(
    spec: &SweepSpec,
    extra: &[String],
    out: &Path,
    mode: &SweepMode,
    show_progress: bool,
) -> Result<SweepReport, ExperimentError> {
    let batches = spec.batches(extra)?;
    let _lock = match mode.shard {
        Some(_) => None,
        None => Some(crate::store::DirLock::output(out)?),
    };
    let share = mode.shard.map(|shard| {
        shard.select_grouped(
            &batches
                .iter()
                .map(|b| batch_cost(&b.config))
                .collect::<Vec<_>>(),
            &batch_groups(&batches),
        )
    });
    let total = share
        .as_ref()
        .map_or(batches.len(), |s| s.iter().filter(|x| **x).count());
    let bar = crate::progress::bar(total as u64, "batches", show_progress, None);
    let report = run_sweep_with(
        spec,
        &batches,
        out,
        mode.resume,
        share.as_deref(),
        mode.jobs,
        &bar,
        "",
    );
    crate::progress::finish(&bar);
    report
}

/// How a sweep, figure or reproduction treats what is already in its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepMode {
    /// Skip batches whose results are complete and verified (the default).
    pub resume: bool,
    /// Train only this shard's share and write no index, figure or report.
    pub shard: Option<crate::shard::Shard>,
    /// Batches trained at once in this process, each on its share of the cores (1: one after
    /// another); see [`run_sweep_with`].
    pub jobs: usize,
}

/// The relative cost of training a batch, for balancing shards: steps × N × d × (runs ·
/// logits per run) for the step loops; for the exact solvers (whose `train.steps` is an
/// iteration cap) one factorisation-sized unit, N × d × min(N, d) × runs, per expected
/// iteration (10). Deterministic: every shard computes the same costs.
pub fn batch_cost(config: &RunConfig) -> f64 {
    let runs = config.runs().unwrap_or(1) as f64;
    let logits = match config.data.model {
        // A real source's d and K are known only once its file is read; the shipped digits'
        // 64 features and 10 classes stand in for all of them (the cost need only be
        // deterministic and roughly proportional).
        _ if config.is_real() => 10.0,
        crate::config::DataModel::SignalNoise => 1.0,
        crate::config::DataModel::Multiclass => config.data.k as f64,
    };
    let (n, d) = if config.is_real() {
        (config.data.n_train as f64, 64.0)
    } else {
        (config.data.n as f64, config.data.d as f64)
    };
    if config.train.optimizer.is_exact() {
        10.0 * n * d * n.min(d) * runs
    } else {
        config.total_steps().max(1) as f64 * n * d * runs * logits
    }
}

/// The group of each batch: the index of the first batch with the same [`group_key`] (the
/// batches a sweep trains together under `train.group_by_draw`), or its own index.
pub fn batch_groups(batches: &[Batch]) -> Vec<usize> {
    part_groups(&[batches])
}

/// [`batch_groups`] over the batches of several parts taken together (a figure's parts, in
/// order): indices into their concatenation. A figure trains the batches of all its parts that
/// share a draw as one group, such as figure 16's runs from S = 0 and from a random start.
pub fn part_groups(parts: &[&[Batch]]) -> Vec<usize> {
    let mut first = std::collections::HashMap::new();
    parts
        .iter()
        .flat_map(|batches| batches.iter())
        .enumerate()
        .map(|(k, b)| match group_key(&b.config) {
            Some(key) => *first.entry(key).or_insert(k),
            None => k,
        })
        .collect()
}

/// The arithmetic and the reads of the design matrix in one batch's step loop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepLoopWork {
    /// Floating-point operations of the forward and backward products over all steps.
    pub flops: f64,
    /// Bytes of the design matrix read over all steps, at one read per step (the fused
    /// engine's single pass; the Burn engine reads it twice).
    pub x_bytes: f64,
}

/// The work of `config`'s step loop: every step computes the logits `T = A S` and the gradient
/// `Aᵀ G` over the rows it uses, each `2 · rows · width · M · K` flops, and reads those rows of
/// A once. `width` is d, plus one column for the bias of a K-class model (K = 1 for a binary
/// one); `rows` is N for full-batch training, else the mini-batch size. This is the work of the
/// steps as both engines take them, whatever their kernels, so no kernel does them in less
/// time than these flops take at the machine's GEMM rate (a different algorithm, such as a
/// step through the N × N Gram matrix when d > N, could do less work). A run that takes the
/// fused engine's dual form ([`crate::run::takes_dual_form`]) does that: `2 · N² · M` flops and
/// a read of the upper triangle of the N × N Gram matrix (N²/2 entries) a step, plus
/// `N² · width` once to form it.
///
/// `None` where the run has no step loop of that form: the exact solvers (whose cost is their
/// iterations'), nonlinear models, and real data sets (whose width is known only once the file
/// is read).
pub fn step_loop_work(config: &RunConfig) -> Option<StepLoopWork> {
    if config.train.optimizer.is_exact()
        || config.model.kind != crate::config::ModelKind::Linear
        || config.is_real()
    {
        return None;
    }
    let (classes, bias) = match config.data.model {
        crate::config::DataModel::SignalNoise => (1.0, 0.0),
        crate::config::DataModel::Multiclass => (config.data.k as f64, 1.0),
    };
    let n = config.data.n;
    let full_batch = config.train.batch_size == 0
        || config.train.optimizer == logit_reg_train::OptimizerName::Gd;
    let rows = if full_batch {
        n
    } else {
        config.train.batch_size.min(n)
    } as f64;
    let width = config.data.d as f64 + bias;
    let columns = config.runs().ok()? as f64 * classes;
    let steps = config.total_steps() as f64;
    let bytes_per_entry = match config.dtype {
        logit_reg_model::Precision::F32 => 4.0,
        logit_reg_model::Precision::F64 => 8.0,
    };
    if crate::run::takes_dual_form(config) {
        let width = width + f64::from(u8::from(config.train.group_by_draw));
        return Some(StepLoopWork {
            flops: steps * 2.0 * rows * rows * columns + rows * rows * width,
            x_bytes: steps * 0.5 * rows * rows * bytes_per_entry,
        });
    }
    Some(StepLoopWork {
        flops: steps * 4.0 * rows * width * columns,
        x_bytes: steps * rows * width * bytes_per_entry,
    })
}

/// The record of what an output directory's batches are: their names and configs. A shard
/// refuses an output whose record differs from its own, rather than mixing two sweeps.
fn plan(batches: &[Batch]) -> Value {
    Value::Array(
        batches
            .iter()
            .map(|b| serde_json::json!({"name": b.name, "config": b.config}))
            .collect(),
    )
}

/// Writes `out/plan.json` when there is none (atomically, never over another's), or checks that
/// the one there is `batches`' plan. A full run (`shard` false) replaces a different plan; a
/// shard refuses it.
fn claim_plan(out: &Path, batches: &[Batch], shard: bool) -> Result<(), ExperimentError> {
    let path = out.join("plan.json");
    let mine = plan(batches);
    let text = format!(
        "{}\n",
        serde_json::to_string_pretty(&mine).unwrap_or_default()
    );
    if !shard {
        return write_atomic(&path, text.as_bytes());
    }
    let tmp = out.join(format!("plan.json.{}.tmp", std::process::id()));
    std::fs::write(&tmp, text.as_bytes()).map_err(|e| ExperimentError::io(&tmp, e))?;
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(ExperimentError::io(&path, e)),
    }
    let theirs: Value = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    if theirs == mine {
        return Ok(());
    }
    let first = batches
        .iter()
        .enumerate()
        .find(|(i, b)| {
            theirs.get(i).and_then(|t| t.get("config")) != Some(&serde_json::json!(b.config))
        })
        .map(|(_, b)| format!("batch {} differs", b.name))
        .unwrap_or_else(|| "the batch count differs".into());
    Err(ExperimentError::flag(
        "--out",
        format!(
            "{} holds a different sweep ({first}; see {}); a shard will not mix results: use \
             another --out, or rerun without --shard to replace them",
            out.display(),
            path.display()
        ),
    ))
}

/// Trains one batch into `dir` (whose claim the caller holds), counting it in `report`.
fn train_batch(
    batch: &Batch,
    dir: &Path,
    redo: Option<String>,
    report: &mut SweepReport,
) -> Result<(), ExperimentError> {
    if let Some(reason) = &redo {
        tracing::warn!("batch {} is redone: {reason}", dir.display());
        report.redone += 1;
    }
    match run_to_dir(&batch.config, dir, false) {
        Ok(_) | Err(ExperimentError::Diverged { .. }) => {
            report.trained += 1;
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Trains the batches of one group (see [`batch_groups`] and [`part_groups`]), in their
/// directories `dirs`, together, when any of them is not complete: claims every member's directory first (a shard leaves the group to another
/// process holding one of them; a full sweep waits for it), then trains the whole group and
/// writes the members that need it. Advances `bar` by one per member.
fn train_group(
    members: &[&Batch],
    dirs: &[PathBuf],
    resume: bool,
    pass: Pass,
    bar: &ProgressBar,
    label: &str,
    report: &mut SweepReport,
) -> Result<(), ExperimentError> {
    let complete =
        |k: usize| resume && check_batch(&dirs[k], &members[k].config) == BatchState::Done;
    if (0..members.len()).all(complete) {
        if pass != Pass::Worker {
            report.skipped += members.len();
            bar.inc(members.len() as u64);
        }
        return Ok(());
    }
    let mut claims = Vec::with_capacity(members.len());
    for dir in dirs {
        std::fs::create_dir_all(dir).map_err(|e| ExperimentError::io(dir, e))?;
        match DirLock::try_acquire(&dir.join(CLAIM))? {
            Acquired::Mine(claim, _) => claims.push(claim),
            Acquired::Held(holder) => {
                if pass == Pass::Worker {
                    // Another job of this process has it.
                    return Ok(());
                }
                let who = holder.map(|h| h.describe()).unwrap_or_default();
                tracing::info!("batch {} is being trained by {who}", dir.display());
                if pass == Pass::Shard {
                    report.left_to_others += members.len();
                    bar.inc(members.len() as u64);
                    return Ok(());
                }
                bar.set_message(format!("{label}{} (waiting for its holder)", dir.display()));
                claims.push(DirLock::acquire_waiting(&dir.join(CLAIM))?);
            }
        }
    }
    // Checked again under the claims: another process may have finished some.
    let states: Vec<BatchState> = (0..members.len())
        .map(|k| check_batch(&dirs[k], &members[k].config))
        .collect();
    let train: Vec<bool> = states
        .iter()
        .map(|state| !(resume && *state == BatchState::Done))
        .collect();
    if train.iter().any(|t| *t) {
        let names: Vec<&str> = members.iter().map(|b| b.name.as_str()).collect();
        bar.set_message(format!(
            "{label}{} (a group of {})",
            names.join(","),
            members.len()
        ));
        for (state, dir) in states.iter().zip(dirs) {
            if let BatchState::Bad(reason) = state
                && resume
            {
                tracing::warn!("batch {} is redone: {reason}", dir.display());
                report.redone += 1;
            }
        }
        let configs: Vec<&RunConfig> = members.iter().map(|b| &b.config).collect();
        let outs: Vec<Option<&Path>> = dirs
            .iter()
            .zip(&train)
            .map(|(dir, t)| t.then_some(dir.as_path()))
            .collect();
        for result in run_group_to_dirs(&configs, &outs)? {
            match result {
                Ok(_) | Err(ExperimentError::Diverged { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    let trained = train.iter().filter(|t| **t).count();
    report.trained += trained;
    if pass == Pass::Worker {
        bar.inc(trained as u64);
    } else {
        report.skipped += members.len() - trained;
        bar.inc(members.len() as u64);
    }
    drop(claims);
    Ok(())
}

/// How a pass over a sweep's batches treats batches that are complete or that someone else
/// holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Every batch made complete: a held one is waited for, and every batch moves the bar.
    Full,
    /// A shard's share: a held batch is left to its holder, and every batch moves the bar.
    Shard,
    /// One of several concurrent jobs in this process ([`run_sweep_with`]'s `jobs`): complete
    /// and held batches are passed over without a count, and only the batches this job trains
    /// move the bar; the full pass after the jobs counts them all.
    Worker,
}

/// What the concurrent jobs of one [`train_concurrently`] share: the units (batch or group,
/// by the directory of its first batch) some job has taken, so that none is trained twice
/// even where `resume` is off and a finished batch no longer holds its claim, and whether a
/// job failed, which stops the others at their next unit.
#[derive(Default)]
struct JobBoard {
    taken: std::sync::Mutex<std::collections::HashSet<PathBuf>>,
    stop: AtomicBool,
}

impl JobBoard {
    /// Takes the unit whose first batch is in `dir`: false if a job already has.
    fn take(&self, dir: &Path) -> bool {
        self.taken
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(dir.to_path_buf())
    }
}

/// One pass over the batches of `parts` (those marked in a part's `share`, if given) in
/// `pass`'s manner, with `groups` over their concatenation ([`part_groups`]): trains each
/// batch or group that is not complete and that it can claim, and returns the counts.
fn train_pass(
    parts: &[SweepPart],
    groups: &[usize],
    resume: bool,
    pass: Pass,
    bar: &ProgressBar,
    board: &JobBoard,
) -> Result<SweepReport, ExperimentError> {
    let mut report = SweepReport::default();
    let mut waiting = Vec::new();
    // Every batch of every part: the batch, its directory, whether it is in the share, and
    // its part's label.
    let items: Vec<(&Batch, PathBuf, bool, &str)> = parts
        .iter()
        .flat_map(|part| {
            part.batches.iter().enumerate().map(|(k, batch)| {
                (
                    batch,
                    part.out.join("batches").join(&batch.name),
                    part.share.is_none_or(|s| s[k]),
                    part.label.as_str(),
                )
            })
        })
        .collect();
    assert_eq!(groups.len(), items.len(), "one group per batch");
    let mut group_size = vec![0usize; items.len()];
    for &g in groups {
        group_size[g] += 1;
    }
    for (k, (batch, dir, selected, label)) in items.iter().enumerate() {
        let (batch, label) = (*batch, *label);
        if !selected {
            continue;
        }
        if board.stop.load(Ordering::Relaxed) {
            // Another job failed: its error is the one reported.
            break;
        }
        if group_size[groups[k]] > 1 {
            // A group is trained once, at its first batch; a share never splits one.
            if groups[k] == k {
                if pass == Pass::Worker && !board.take(dir) {
                    continue;
                }
                let members: Vec<usize> = (k..items.len()).filter(|&j| groups[j] == k).collect();
                let batches: Vec<&Batch> = members.iter().map(|&j| items[j].0).collect();
                let dirs: Vec<PathBuf> = members.iter().map(|&j| items[j].1.clone()).collect();
                train_group(&batches, &dirs, resume, pass, bar, label, &mut report)?;
            }
            continue;
        }
        let dir = dir.clone();
        if pass == Pass::Worker && !board.take(&dir) {
            continue;
        }
        let state = check_batch(&dir, &batch.config);
        if resume && state == BatchState::Done {
            if pass != Pass::Worker {
                report.skipped += 1;
                bar.inc(1);
            }
            continue;
        }
        std::fs::create_dir_all(&dir).map_err(|e| ExperimentError::io(&dir, e))?;
        match DirLock::try_acquire(&dir.join(CLAIM))? {
            Acquired::Mine(_claim, _) => {
                // Checked again under the claim: another process may have finished it.
                let state = check_batch(&dir, &batch.config);
                if resume && state == BatchState::Done {
                    if pass == Pass::Worker {
                        continue;
                    }
                    report.skipped += 1;
                } else {
                    bar.set_message(format!("{label}{}", batch.name));
                    let redo = match state {
                        BatchState::Bad(reason) if resume => Some(reason),
                        _ => None,
                    };
                    train_batch(batch, &dir, redo, &mut report)?;
                }
            }
            Acquired::Held(_) if pass == Pass::Worker => continue,
            Acquired::Held(holder) => {
                let who = holder.map(|h| h.describe()).unwrap_or_default();
                tracing::info!("batch {} is being trained by {who}", dir.display());
                if pass == Pass::Shard {
                    report.left_to_others += 1;
                } else {
                    waiting.push((batch, dir, label));
                    continue;
                }
            }
        }
        bar.inc(1);
    }
    for (batch, dir, label) in waiting {
        bar.set_message(format!("{label}{} (waiting for its holder)", batch.name));
        let _claim = DirLock::acquire_waiting(&dir.join(CLAIM))?;
        match check_batch(&dir, &batch.config) {
            BatchState::Done => report.skipped += 1,
            BatchState::Missing => train_batch(batch, &dir, None, &mut report)?,
            BatchState::Bad(reason) => train_batch(batch, &dir, Some(reason), &mut report)?,
        }
        bar.inc(1);
    }
    Ok(report)
}

/// One sweep's batches for [`train_concurrently`]: their output directory (already holding
/// their plan, see [`prepare_part`]), the share of them to train (all without), and the label
/// of the progress bar's message.
pub struct SweepPart<'a> {
    /// The sweep's batches.
    pub batches: &'a [Batch],
    /// Its output directory.
    pub out: &'a Path,
    /// With a shard, the batches of its share.
    pub share: Option<&'a [bool]>,
    /// The bar's message before a batch's name.
    pub label: String,
}

/// Creates `out` and records the plan of `batches` in it (a shard refuses a different one), as
/// a sweep does before training into it.
pub fn prepare_part(out: &Path, batches: &[Batch], shard: bool) -> Result<(), ExperimentError> {
    std::fs::create_dir_all(out).map_err(|e| ExperimentError::io(out, e))?;
    claim_plan(out, batches, shard)
}

/// Whether `units` units of work (batches or groups trained together) are worth `jobs`
/// concurrent jobs: at least two per job, or a multiple of the jobs, so that no job trains the
/// last unit alone on its share of the cores while the others idle.
pub fn worth_jobs(units: usize, jobs: usize) -> bool {
    jobs > 1 && (units >= 2 * jobs || (units >= jobs && units.is_multiple_of(jobs)))
}

/// Trains the batches of `parts` (each batch or group once) that are not complete, with the
/// batches of all the parts that share a draw as one group ([`part_groups`]), and returns what
/// it trained: [`train_longest_first`] of one set.
pub fn train_concurrently(
    parts: &[SweepPart],
    resume: bool,
    jobs: usize,
    bar: &ProgressBar,
) -> Result<SweepReport, ExperimentError> {
    let batches: Vec<&[Batch]> = parts.iter().map(|p| p.batches).collect();
    let set = SweepSet {
        parts,
        groups: part_groups(&batches),
    };
    let mut reports = train_longest_first(std::slice::from_ref(&set), resume, jobs, bar)?;
    Ok(reports.pop().unwrap_or_default())
}

/// The parts of one sweep (or of one figure) for [`train_longest_first`], with the group of
/// each batch over their concatenation ([`part_groups`]). Groups never span two sets.
pub struct SweepSet<'a> {
    /// The parts, in order.
    pub parts: &'a [SweepPart<'a>],
    /// The group of each batch of the parts taken in order.
    pub groups: Vec<usize>,
}

/// The units of work (a batch, or a group trained together) of `sets`, as (set, index of the
/// unit's first batch in its set), longest first: by the sum of [`batch_cost`] over the unit's
/// batches, ties in the order given. Only the units in a part's share count.
fn units_longest_first(sets: &[SweepSet]) -> Vec<(usize, usize)> {
    let mut units = Vec::new();
    for (s, set) in sets.iter().enumerate() {
        let items: Vec<(&Batch, bool)> = set
            .parts
            .iter()
            .flat_map(|p| {
                p.batches
                    .iter()
                    .enumerate()
                    .map(move |(k, b)| (b, p.share.is_none_or(|share| share[k])))
            })
            .collect();
        let mut cost = vec![0.0; items.len()];
        for (k, (batch, _)) in items.iter().enumerate() {
            cost[set.groups[k]] += batch_cost(&batch.config);
        }
        for (k, &(_, selected)) in items.iter().enumerate() {
            if set.groups[k] == k && selected {
                units.push((s, k, cost[k]));
            }
        }
    }
    // A stable sort: equal costs keep the order given.
    units.sort_by(|a, b| b.2.total_cmp(&a.2));
    units.into_iter().map(|(s, k, _)| (s, k)).collect()
}

/// Trains the batches of every set in `sets` that are not complete (each batch or group
/// once), and returns what it trained in each set. The units (batches, or groups trained
/// together) of all the sets go into one queue, longest first ([`batch_cost`]), so that the
/// long ones start early and short ones fill the end: figures of a reproduction overlap, and
/// no job idles while another trains a long unit alone. On `jobs` concurrent jobs when
/// [`worth_jobs`] says so, each taking the next unit of the queue and building its engines on
/// `cores / jobs` threads; otherwise on the calling thread with every core. Results do not
/// depend on the order or on the jobs (see [`run_sweep_with`]).
///
/// A batch that another process holds is left to it. After it, the pass over each part
/// ([`finish_sweep`]) must resume (skip complete batches) even without `resume`, or it would
/// train them again. Only trained batches move `bar` here; afterwards its position is put
/// back, for that pass (which finds them complete and counts every batch). A failure stops
/// the other jobs at their next unit.
pub fn train_longest_first(
    sets: &[SweepSet],
    resume: bool,
    jobs: usize,
    bar: &ProgressBar,
) -> Result<Vec<SweepReport>, ExperimentError> {
    let units = units_longest_first(sets);
    let start = bar.position();
    let board = JobBoard::default();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let trained: Vec<std::sync::Mutex<SweepReport>> = sets
        .iter()
        .map(|_| std::sync::Mutex::new(SweepReport::default()))
        .collect();
    let jobs = if worth_jobs(units.len(), jobs) {
        jobs
    } else {
        1
    };
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let threads = (cores / jobs).max(1);
    // One unit: its set's parts with a share that holds only the unit's batches.
    let train_unit = |(s, first): (usize, usize)| -> Result<(), ExperimentError> {
        let set = &sets[s];
        let mut offset = 0;
        let masks: Vec<Vec<bool>> = set
            .parts
            .iter()
            .map(|p| {
                let mask = (0..p.batches.len())
                    .map(|k| set.groups[offset + k] == first)
                    .collect();
                offset += p.batches.len();
                mask
            })
            .collect();
        let parts: Vec<SweepPart> = set
            .parts
            .iter()
            .zip(&masks)
            .map(|(p, mask)| SweepPart {
                batches: p.batches,
                out: p.out,
                share: Some(mask),
                label: p.label.clone(),
            })
            .collect();
        let report = train_pass(&parts, &set.groups, resume, Pass::Worker, bar, &board)?;
        trained[s]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .add(&report);
        Ok(())
    };
    let job = || {
        let result = logit_reg_train::fused::with_thread_budget(threads, || {
            loop {
                if board.stop.load(Ordering::Relaxed) {
                    // Another job failed: its error is the one reported.
                    return Ok(());
                }
                let Some(&unit) = units.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    return Ok(());
                };
                train_unit(unit)?;
            }
        });
        if result.is_err() {
            board.stop.store(true, Ordering::Relaxed);
        }
        result
    };
    let results: Vec<Result<(), ExperimentError>> = if jobs == 1 {
        vec![job()]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..jobs).map(|_| scope.spawn(job)).collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        })
    };
    bar.set_position(start);
    for result in results {
        result?;
    }
    Ok(trained
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        })
        .collect())
}

/// [`run_sweep`] of `batches` (the expansion of `spec`), advancing `bar` by one per batch
/// (trained or skipped), with `label` and the batch's name as its message. The caller sets the
/// bar's length (a figure's bar spans all of its parts).
///
/// With `share` (a shard), only the batches marked `true` are considered, a batch claimed by a
/// live process is left to it, and no index is written. Without it, every batch is made
/// complete (waiting for batches that others are training, then verifying them) and
/// `out/index.csv` is written.
///
/// The batches are trained by [`train_concurrently`] (on `jobs` concurrent jobs where there
/// are enough units of work, [`worth_jobs`]), and then [`finish_sweep`] counts them.
/// Results are the same for any `jobs`: they depend neither on the thread count nor on the
/// order in which batches are trained.
#[allow(clippy::too_many_arguments)]
pub fn run_sweep_with(
    spec: &SweepSpec,
    batches: &[Batch],
    out: &Path,
    resume: bool,
    share: Option<&[bool]>,
    jobs: usize,
    bar: &ProgressBar,
    label: &str,
) -> Result<SweepReport, ExperimentError> {
    prepare_part(out, batches, share.is_some())?;
    let part = SweepPart {
        batches,
        out,
        share,
        label: label.to_string(),
    };
    let trained = train_concurrently(std::slice::from_ref(&part), resume, jobs, bar)?;
    let mut report = finish_sweep(spec, batches, out, share, bar, label)?;
    report.count_trained(&trained);
    Ok(report)
}

/// The pass over a sweep's batches after [`train_concurrently`] has trained them: counts each
/// complete batch as skipped, waits for the batches that other processes hold (a shard,
/// `share`, leaves them to their holders) and trains what is still missing then, and, without
/// a share, writes `out/index.csv` from every batch's summary.
pub fn finish_sweep(
    spec: &SweepSpec,
    batches: &[Batch],
    out: &Path,
    share: Option<&[bool]>,
    bar: &ProgressBar,
    label: &str,
) -> Result<SweepReport, ExperimentError> {
    let part = SweepPart {
        batches,
        out,
        share,
        label: label.to_string(),
    };
    let mut report = train_pass(
        std::slice::from_ref(&part),
        &batch_groups(batches),
        true,
        if share.is_some() {
            Pass::Shard
        } else {
            Pass::Full
        },
        bar,
        &JobBoard::default(),
    )?;
    if share.is_some() {
        return Ok(report);
    }

    let keys: Vec<String> = spec.grid.iter().map(|(k, _)| k.clone()).collect();
    let mut header = vec!["batch".to_string(), "run".to_string()];
    header.extend(keys.iter().cloned());
    header.extend(SUMMARY_METRICS.iter().map(|s| s.to_string()));
    header.extend(["steps", "diverged", "solver", "engine"].map(String::from));
    let mut rows = Vec::new();
    let (mut runs, mut diverged) = (0, 0);
    for batch in batches {
        let dir = out.join("batches").join(&batch.name);
        let path = dir.join("summary.json");
        let summary: Value = serde_json::from_str(
            &std::fs::read_to_string(&path).map_err(|e| ExperimentError::io(&path, e))?,
        )
        .map_err(|e| ExperimentError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let per_run = summary["per_run"].as_array().cloned().unwrap_or_default();
        for (run, (point, result)) in batch.points.iter().zip(&per_run).enumerate() {
            let mut fields = vec![batch.name.clone(), run.to_string()];
            for key in &keys {
                let v = point
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.to_string());
                fields.push(v.unwrap_or_default().trim_matches('"').to_string());
            }
            for key in SUMMARY_METRICS {
                fields.push(csv_field(&result[*key]));
            }
            let is_diverged = result["diverged"].as_bool().unwrap_or(false);
            diverged += usize::from(is_diverged);
            fields.push(csv_field(&summary["steps"]));
            fields.push(is_diverged.to_string());
            fields.push(csv_field(&summary["solver"]));
            fields.push(csv_field(&summary["engine"]));
            rows.push(fields);
            runs += 1;
        }
    }
    let text = csv_text(&header, &rows)?;
    let index = out.join("index.csv");
    write_atomic(&index, text.as_bytes())?;
    write_json(
        &out.join("sweep.json"),
        &serde_json::json!({
            "grid": spec.grid.iter().map(|(k, v)| (k.clone(), Value::from(v.iter().map(|x| x.to_string()).collect::<Vec<_>>()))).collect::<serde_json::Map<_, _>>(),
            "batches": batches.iter().map(|b| serde_json::json!({"name": b.name, "config": resolved_config(&b.config)})).collect::<Vec<_>>(),
        }),
    )?;
    report.runs = runs;
    report.diverged = diverged;
    report.index = Some(index);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{
        Batch, SweepPart, SweepSet, SweepSpec, part_groups, units_longest_first, worth_jobs,
    };

    /// The batches of a sweep given as TOML.
    fn batches(text: &str) -> Vec<Batch> {
        SweepSpec::parse(text, "test")
            .and_then(|s| s.batches(&[]))
            .expect("a valid sweep")
    }

    /// One set of one part, unshared or with `share`.
    fn set<'a>(parts: &'a [SweepPart<'a>]) -> SweepSet<'a> {
        let batches: Vec<&[Batch]> = parts.iter().map(|p| p.batches).collect();
        SweepSet {
            parts,
            groups: part_groups(&batches),
        }
    }

    fn part<'a>(batches: &'a [Batch], share: Option<&'a [bool]>) -> SweepPart<'a> {
        SweepPart {
            batches,
            out: Path::new("unused"),
            share,
            label: String::new(),
        }
    }

    #[test]
    fn units_go_longest_first_over_all_sets_a_group_costing_the_sum_of_its_batches() {
        // batch_cost = steps · n · d · runs for one binary run per batch.
        let a = batches(
            "[base]\ndata = { n = 20, d = 10 }\ntrain = { steps = 100 }\n\
             [grid]\n\"data.d\" = [10, 40, 11]\n",
        );
        // Two batches of one draw (σ_n differs): one group, costing 2 · 300 · 20 · 10.
        let b = batches(
            "[base]\ndata = { n = 20, d = 10 }\n\
             train = { steps = 300, group_by_draw = true }\n\
             [grid]\n\"data.sigma_n\" = [1.0, 2.0]\n",
        );
        let (parts_a, parts_b) = ([part(&a, None)], [part(&b, None)]);
        let sets = [set(&parts_a), set(&parts_b)];
        assert_eq!(sets[1].groups, vec![0, 0], "sweep b is one group");
        // Costs: a = [20000, 80000, 22000], b's group 120000.
        assert_eq!(
            units_longest_first(&sets),
            vec![(1, 0), (0, 1), (0, 2), (0, 0)]
        );
        // Equal costs keep the order given; a share leaves out the units it does not hold.
        let c = batches(
            "[base]\ndata = { n = 20, d = 10 }\ntrain = { steps = 100 }\n\
             [grid]\nseed = [1, 2, 3]\n",
        );
        let share = [true, false, true];
        let parts_c = [part(&c, Some(&share))];
        assert_eq!(units_longest_first(&[set(&parts_c)]), vec![(0, 0), (0, 2)]);
    }

    #[test]
    fn jobs_run_only_where_no_job_is_left_with_the_last_unit_alone() {
        // (units, jobs, worth): two units per job, or a multiple of the jobs.
        let cases = [
            (1, 2, false),
            (2, 2, true),
            (3, 2, false),
            (4, 2, true),
            (5, 2, true),
            (40, 2, true),
            (3, 3, true),
            (4, 3, false),
            (6, 3, true),
            (7, 3, true),
            (100, 1, false),
        ];
        for (units, jobs, worth) in cases {
            assert_eq!(worth_jobs(units, jobs), worth, "{units} units, {jobs} jobs");
        }
    }
}
