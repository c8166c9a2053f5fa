//! The paper's figures: one file per figure (`figNN.rs`: its preset, the sweeps behind it at
//! two scales, beside its analysis, the measurements over seeds against the closed forms), the
//! [`registry`] that lists them, the shared helpers ([`presets`], [`analysis`], [`table`]), the
//! plots and the reports.
//!
//! `experiments figure <id> --scale quick --out DIR` writes
//! - `DIR/parts/<part>/spec.toml`, `index.csv`, `batches/*` — the sweeps (resumable: a
//!   re-run skips the batches whose results are complete);
//! - `DIR/index.csv` — every run of every part, one row each, with a `part` column;
//! - `DIR/figure.svg`, `DIR/figure.png` — the panels, measured points with error bars (one
//!   standard deviation over seeds), theory dashed;
//! - `DIR/report.md` — the claim, the figure, measured against theory, the verdict.
//!
//! `experiments reproduce` does this for every figure in `DIR/fig<id>/` and writes
//! `DIR/report.md` over all of them.

pub mod analysis;
pub mod plot;
pub mod presets;
pub mod registry;
pub mod report;
pub mod table;

pub mod fig01;
pub mod fig02;
pub mod fig03;
pub mod fig04;
pub mod fig05;
pub mod fig06;
pub mod fig07;
pub mod fig08;
pub mod fig09;
pub mod fig101;
pub mod fig13;
pub mod fig15;
pub mod fig16;
pub mod fig17;
pub mod fig18;
pub mod fig19;
pub mod fig20;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::ProgressBar;
pub use presets::{Part, Scale};
pub use registry::{FIGURES, Figure, Preset, figure, figure_ids, figure_list, preset};
pub use report::{FigureOutcome, Verdict};

use crate::ExperimentError;
use crate::output::write_atomic;
use crate::progress;
use crate::shard::Shard;
use crate::sweep::{
    Batch, StepLoopWork, SweepReport, batch_cost, finish_sweep, part_groups, step_loop_work,
};

/// Options of a figure run.
#[derive(Debug, Clone)]
pub struct FigureOptions {
    /// The scale.
    pub scale: Scale,
    /// Overrides applied to every run (`--backend`, `--dtype`, `--set`).
    pub extra: Vec<String>,
    /// Skip complete batches (default).
    pub resume: bool,
    /// Show progress bars.
    pub progress: bool,
    /// Batches trained at once, each on its share of the cores (1: one after another); see
    /// [`crate::sweep::run_sweep_with`].
    pub jobs: usize,
}

/// The text of `DIR/index.csv`: the parts' index files concatenated, with a leading `part`
/// column and the union of their columns (empty where a part lacks one).
fn combined_index(parts: &[(String, table::Table)]) -> Result<String, ExperimentError> {
    let mut columns: Vec<String> = Vec::new();
    for (_, t) in parts {
        for h in &t.header {
            if !columns.contains(h) {
                columns.push(h.clone());
            }
        }
    }
    let mut rows = Vec::new();
    for (name, t) in parts {
        for row in &t.rows {
            let mut fields = vec![name.clone()];
            fields.extend(columns.iter().map(|c| {
                t.column(c)
                    .and_then(|i| row.get(i))
                    .cloned()
                    .unwrap_or_default()
            }));
            rows.push(fields);
        }
    }
    let mut header = vec!["part".to_string()];
    header.extend(columns);
    crate::output::csv_text(&header, &rows)
}

/// A figure's preset with its parts' batches, expanded once.
pub struct FigurePlan {
    /// The figure.
    pub id: u32,
    /// Its preset at the chosen scale.
    pub preset: Preset,
    /// Per part, its batches.
    pub batches: Vec<Vec<Batch>>,
}

impl FigurePlan {
    /// Expands figure `id`'s preset at `options.scale` with `options.extra`.
    pub fn new(id: u32, options: &FigureOptions) -> Result<Self, ExperimentError> {
        let preset = preset(id, options.scale)?;
        let batches = preset
            .parts
            .iter()
            .map(|part| part.spec.batches(&options.extra))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            id,
            preset,
            batches,
        })
    }

    /// The cost of each batch (see [`batch_cost`]), parts in order.
    pub fn costs(&self) -> Vec<f64> {
        self.batches
            .iter()
            .flatten()
            .map(|b| batch_cost(&b.config))
            .collect()
    }

    /// The group of each batch, parts in order ([`part_groups`]: the batches of all parts
    /// that share a draw train together).
    pub fn groups(&self) -> Vec<usize> {
        let parts: Vec<&[Batch]> = self.batches.iter().map(Vec::as_slice).collect();
        part_groups(&parts)
    }

    /// The number of batches over all parts.
    pub fn batch_count(&self) -> usize {
        self.batches.iter().map(Vec::len).sum()
    }
}

/// Trains the batches of `parts[k]`, the parts of figure `plans[k]`, for every k, on one
/// queue of `options.jobs` concurrent jobs, longest first
/// ([`crate::sweep::train_longest_first`], each figure's groups from [`FigurePlan::groups`]),
/// and returns what it trained of each figure. On failure the bar is finished.
fn train_figures(
    plans: &[FigurePlan],
    parts: &[Vec<crate::sweep::SweepPart>],
    options: &FigureOptions,
    bar: &ProgressBar,
) -> Result<Vec<SweepReport>, ExperimentError> {
    let sets: Vec<crate::sweep::SweepSet> = plans
        .iter()
        .zip(parts)
        .map(|(plan, parts)| crate::sweep::SweepSet {
            parts,
            groups: plan.groups(),
        })
        .collect();
    crate::sweep::train_longest_first(&sets, options.resume, options.jobs, bar).inspect_err(|_| {
        progress::finish(bar);
    })
}

/// Trains, for shard `shard`, its share of the batches of every figure in `plans` (the
/// partition is over all of them together), figure `plans[k]` into `dirs[k]`, all of them on
/// one queue of concurrent jobs, longest first ([`crate::sweep::train_longest_first`]).
/// Writes batch directories only: no index, figure or report.
pub fn train_share(
    plans: &[FigurePlan],
    dirs: &[&Path],
    shard: Shard,
    options: &FigureOptions,
) -> Result<SweepReport, ExperimentError> {
    let costs: Vec<f64> = plans.iter().flat_map(FigurePlan::costs).collect();
    // Batches trained together (train.group_by_draw, over all parts of a figure) go to one
    // shard: group ids made unique over all figures by their offset.
    let mut groups = Vec::with_capacity(costs.len());
    for plan in plans {
        let offset = groups.len();
        groups.extend(plan.groups().into_iter().map(|g| offset + g));
    }
    let selected = shard.select_grouped(&costs, &groups);
    let bar = progress::bar(
        selected.iter().filter(|s| **s).count() as u64,
        "batches",
        options.progress,
        Some(&format!("shard {shard}")),
    );
    // Each figure's parts with their share of the batches, prepared where they have any.
    let mut offset = 0;
    let mut figures = Vec::with_capacity(plans.len());
    for (plan, dir) in plans.iter().zip(dirs) {
        let mut shares = Vec::new();
        for (part, batches) in plan.preset.parts.iter().zip(&plan.batches) {
            let share = &selected[offset..offset + batches.len()];
            offset += batches.len();
            let part_dir = dir.join("parts").join(&part.name);
            if share.iter().any(|s| *s) {
                crate::sweep::prepare_part(&part_dir, batches, true)?;
            }
            shares.push((part, batches, part_dir, share));
        }
        figures.push(shares);
    }
    let label = |id: u32, part: &str| format!("figure {id} part {part} ");
    let sweep_parts: Vec<Vec<crate::sweep::SweepPart>> = figures
        .iter()
        .zip(plans)
        .map(|(shares, plan)| {
            shares
                .iter()
                .map(|(part, batches, part_dir, share)| crate::sweep::SweepPart {
                    batches,
                    out: part_dir,
                    share: Some(share),
                    label: label(plan.id, &part.name),
                })
                .collect()
        })
        .collect();
    // The share's batches of every figure on one queue, longest first.
    let trained = train_figures(plans, &sweep_parts, options, &bar)?;
    let mut total = SweepReport::default();
    for ((shares, plan), trained) in figures.iter().zip(plans).zip(&trained) {
        for (part, batches, part_dir, share) in shares {
            if !share.iter().any(|s| *s) {
                continue;
            }
            // What the jobs trained is complete now: this pass counts it and leaves the
            // batches other processes hold to them.
            let label = label(plan.id, &part.name);
            let report = finish_sweep(&part.spec, batches, part_dir, Some(share), &bar, &label);
            let report = match report {
                Ok(report) => report,
                Err(e) => {
                    progress::finish(&bar);
                    return Err(e);
                }
            };
            total.add(&report);
        }
        total.count_trained(trained);
    }
    progress::finish(&bar);
    tracing::info!("shard {shard}: {}", total.counts());
    Ok(total)
}

/// Trains (or resumes) every part of figure `id`, analyses it, draws it and writes its report
/// into `out`, holding the output lock (see [`crate::store`]) throughout. [`train_share`] is
/// the shard's counterpart.
pub fn run_figure(
    id: u32,
    options: &FigureOptions,
    out: &Path,
) -> Result<FigureOutcome, ExperimentError> {
    let plan = FigurePlan::new(id, options)?;
    let bar = progress::bar(
        0,
        "batches",
        options.progress,
        Some(&format!("figure {id}")),
    );
    let outcome = run_figure_with(&plan, options, out, &bar);
    progress::finish(&bar);
    outcome
}

/// [`run_figure`], on a progress bar the caller owns: its length becomes this figure's batch
/// count (over all parts) and its message the current part and batch. Holds the lock on `out`
/// (so a `figure` into a directory that a `reproduce` is writing is refused, and vice versa).
fn run_figure_with(
    plan: &FigurePlan,
    options: &FigureOptions,
    out: &Path,
    bar: &ProgressBar,
) -> Result<FigureOutcome, ExperimentError> {
    let start = Instant::now();
    let (_lock, dirs) = prepare_figure(plan, out)?;
    bar.set_length(plan.batch_count() as u64);
    bar.set_position(0);
    bar.reset_eta();
    // The figure's batches over all its parts on concurrent jobs (when there are enough of
    // them), so that parts with few batches each, such as figure 6's twenty groups per σ_n,
    // still overlap; the passes over the parts below then find them complete.
    let sweep_parts = figure_sweep_parts(plan, &dirs);
    let trained =
        crate::sweep::train_concurrently(&sweep_parts, options.resume, options.jobs, bar)?;
    finish_figure(plan, options, out, &dirs, bar, &trained, start, false)
}

/// Makes figure `plan`'s output directory `out` ready for training: takes its lock (held
/// while the returned guard lives), removes an earlier report, drawing and index, and writes
/// each part's plan and `spec.toml`. Returns the guard and the parts' directories.
fn prepare_figure(
    plan: &FigurePlan,
    out: &Path,
) -> Result<(crate::store::DirLock, Vec<PathBuf>), ExperimentError> {
    let lock = crate::store::DirLock::output(out)?;
    std::fs::create_dir_all(out).map_err(|e| ExperimentError::io(out, e))?;
    for name in ["report.md", "figure.svg", "figure.png", "index.csv"] {
        let path = out.join(name);
        if path.exists() {
            std::fs::remove_file(&path).map_err(|e| ExperimentError::io(&path, e))?;
        }
    }
    let dirs: Vec<PathBuf> = plan
        .preset
        .parts
        .iter()
        .map(|part| out.join("parts").join(&part.name))
        .collect();
    for ((part, part_batches), dir) in plan.preset.parts.iter().zip(&plan.batches).zip(&dirs) {
        crate::sweep::prepare_part(dir, part_batches, false)?;
        write_atomic(&dir.join("spec.toml"), part.toml.as_bytes())?;
    }
    Ok((lock, dirs))
}

/// The progress bar's label of part `k` named `name` of a figure with `parts` parts.
fn part_label(k: usize, name: &str, parts: usize) -> String {
    if parts > 1 {
        format!("part {name} ({}/{parts}) ", k + 1)
    } else {
        String::new()
    }
}

/// Figure `plan`'s parts, trained into `dirs`, as sweeps for the training functions.
fn figure_sweep_parts<'a>(
    plan: &'a FigurePlan,
    dirs: &'a [PathBuf],
) -> Vec<crate::sweep::SweepPart<'a>> {
    let parts = &plan.preset.parts;
    parts
        .iter()
        .zip(&plan.batches)
        .zip(dirs)
        .enumerate()
        .map(|(k, ((part, batches), dir))| crate::sweep::SweepPart {
            batches,
            out: dir,
            share: None,
            label: format!(
                "figure {} {}",
                plan.id,
                part_label(k, &part.name, parts.len())
            ),
        })
        .collect()
}

/// The rest of a figure once its batches are trained (`trained`: what the training pass
/// trained): the pass over each part that counts and indexes it ([`finish_sweep`]), the
/// analysis, the drawing and `report.md`. `start` is when the figure's invocation began;
/// `shared` says that its batches were trained on jobs shared with other figures (a
/// reproduction), so that its own time is that of this rest alone.
#[allow(clippy::too_many_arguments)]
fn finish_figure(
    plan: &FigurePlan,
    options: &FigureOptions,
    out: &Path,
    dirs: &[PathBuf],
    bar: &ProgressBar,
    trained: &SweepReport,
    start: Instant,
    shared: bool,
) -> Result<FigureOutcome, ExperimentError> {
    let (id, preset, batches) = (plan.id, &plan.preset, &plan.batches);
    let mut counts = SweepReport::default();
    let mut parts = BTreeMap::new();
    let mut tables = Vec::new();
    let mut runs = 0;
    let mut train_seconds = 0.0;
    let mut solvers = Vec::new();
    for (k, (part, part_batches)) in preset.parts.iter().zip(batches).enumerate() {
        let dir = &dirs[k];
        tracing::debug!(
            figure = id,
            part = %part.name,
            "part {}/{} ({})",
            k + 1,
            preset.parts.len(),
            options.scale.name()
        );
        // What the jobs trained is complete now, with or without resume.
        let label = format!(
            "figure {id} {}",
            part_label(k, &part.name, preset.parts.len())
        );
        let sweep = finish_sweep(&part.spec, part_batches, dir, None, bar, &label)?;
        counts.add(&sweep);
        runs += sweep.runs;
        train_seconds += batch_seconds(dir)?;
        if sweep.diverged > 0 {
            tracing::warn!(figure = id, part = %part.name, runs = sweep.diverged, "runs diverged");
        }
        let data = analysis::PartData::load(dir, part.spec.base.clone())?;
        for r in &data.records {
            // The step loop's optimisers name the engine that took their steps.
            let solver = r.text("solver").trim_matches('"');
            let engine = r.text("engine").trim_matches('"');
            let s = if matches!(solver, "gd" | "adam" | "sgd") && !engine.is_empty() {
                format!("{solver} ({engine} engine)")
            } else {
                solver.to_string()
            };
            if !solvers.contains(&s) {
                solvers.push(s);
            }
        }
        tables.push((
            part.name.clone(),
            table::Table::read(&dir.join("index.csv"))?,
        ));
        parts.insert(part.name.clone(), data);
    }
    write_atomic(&out.join("index.csv"), combined_index(&tables)?.as_bytes())?;
    let mut analysis = (preset.figure.analyse)(&parts)?;
    let diverged: usize = parts.values().map(|p| p.diverged).sum();
    if diverged > 0 {
        analysis.notes.push(format!(
            "{diverged} of {runs} runs diverged (non-finite loss) and are left out of the figure and the table; see the `diverged` column of index.csv."
        ));
    }
    counts.count_trained(trained);
    plot::write_figure(
        &analysis.panels,
        &format!(
            "Figure {}: {} ({} scale)",
            id,
            preset.figure.title,
            options.scale.name()
        ),
        analysis.columns,
        &out.join("figure.svg"),
        &out.join("figure.png"),
    )?;
    let outcome = FigureOutcome {
        id,
        title: preset.figure.title.to_string(),
        claim: preset.figure.claim.to_string(),
        scale: options.scale.name().to_string(),
        parameters: parameters_line(preset),
        solver: solvers.join(", "),
        header: analysis.header,
        rows: analysis.rows,
        checks: analysis.checks,
        notes: analysis.notes,
        runs,
        train_seconds,
        wall_seconds: start.elapsed().as_secs_f64(),
        shared_jobs: shared,
        batches: counts.counts(),
    };
    if counts.redone > 0 {
        tracing::warn!(figure = id, "{} batches redone", counts.redone);
    }
    write_atomic(
        &out.join("report.md"),
        report::figure_report(&outcome).as_bytes(),
    )?;
    Ok(outcome)
}

/// The sum of `wall_seconds` over the `summary.json` of every batch of a sweep directory.
fn batch_seconds(dir: &Path) -> Result<f64, ExperimentError> {
    let batches = dir.join("batches");
    let mut total = 0.0;
    let entries = std::fs::read_dir(&batches).map_err(|e| ExperimentError::io(&batches, e))?;
    for entry in entries.flatten() {
        let path = entry.path().join("summary.json");
        if let Ok(text) = std::fs::read_to_string(&path) {
            let summary: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| ExperimentError::Io {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
            total += summary["wall_seconds"].as_f64().unwrap_or(0.0);
        }
    }
    Ok(total)
}

/// One line with each part's base config and grid, as in its `spec.toml`.
fn parameters_line(preset: &Preset) -> String {
    preset
        .parts
        .iter()
        .map(|p| {
            let base = toml::to_string(&p.spec.base)
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| l.trim().to_string())
                .collect::<Vec<_>>()
                .join(" ");
            let grid = p
                .spec
                .grid
                .iter()
                .map(|(k, v)| {
                    let vs: Vec<String> = v.iter().map(|x| x.to_string()).collect();
                    format!("{k} ∈ {{{}}}", vs.join(", "))
                })
                .collect::<Vec<_>>()
                .join("; ");
            format!("*{}*: `{base}`; grid {grid}", p.name)
        })
        .collect::<Vec<_>>()
        .join(" — ")
}

/// Runs every figure in `ids` into `out/fig<id>/` and writes `out/report.md`. The batches of
/// all the figures are trained first, on one queue of concurrent jobs, longest first
/// ([`crate::sweep::train_longest_first`]), so that the figures overlap and the cores stay
/// busy to the end; then each figure is indexed, analysed, drawn and reported in turn.
/// Results are those of [`run_figure`] on each figure alone.
pub fn reproduce(
    ids: &[u32],
    options: &FigureOptions,
    out: &Path,
) -> Result<Vec<FigureOutcome>, ExperimentError> {
    let start = Instant::now();
    let _lock = crate::store::DirLock::output(out)?;
    let plans = ids
        .iter()
        .map(|&id| FigurePlan::new(id, options))
        .collect::<Result<Vec<_>, _>>()?;
    let outs: Vec<PathBuf> = plans
        .iter()
        .map(|plan| out.join(format!("fig{}", plan.id)))
        .collect();
    let mut prepared = Vec::with_capacity(plans.len());
    for (plan, figure_out) in plans.iter().zip(&outs) {
        prepared.push(prepare_figure(plan, figure_out)?);
    }
    let total: usize = plans.iter().map(FigurePlan::batch_count).sum();
    let bar = progress::bar(total as u64, "batches", options.progress, Some("reproduce"));
    let sweep_parts: Vec<Vec<crate::sweep::SweepPart>> = plans
        .iter()
        .zip(&prepared)
        .map(|(plan, (_, dirs))| figure_sweep_parts(plan, dirs))
        .collect();
    let trained = train_figures(&plans, &sweep_parts, options, &bar)?;
    tracing::info!(
        "trained the batches of {} figures in {:.0} s",
        plans.len(),
        start.elapsed().as_secs_f64()
    );
    let mut outcomes = Vec::new();
    for (k, (plan, (_lock, dirs))) in plans.iter().zip(&prepared).enumerate() {
        let id = plan.id;
        bar.set_prefix(format!("figure {id} ({} of {})", k + 1, ids.len()));
        let outcome = finish_figure(
            plan,
            options,
            &outs[k],
            dirs,
            &bar,
            &trained[k],
            Instant::now(),
            true,
        );
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(e) => {
                progress::finish(&bar);
                return Err(e);
            }
        };
        tracing::info!(
            "figure {id}: {} (training {:.0} s, summed over its batches)",
            outcome.verdict().word(),
            outcome.train_seconds
        );
        outcomes.push(outcome);
    }
    progress::finish(&bar);
    write_atomic(
        &out.join("report.md"),
        report::reproduction_report(
            &outcomes,
            options.scale.name(),
            start.elapsed().as_secs_f64(),
        )
        .as_bytes(),
    )?;
    Ok(outcomes)
}

/// The predicted cost of one figure, from measured step times.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// The figure.
    pub id: u32,
    /// Batches (trained one after another).
    pub batches: usize,
    /// Runs.
    pub runs: usize,
    /// Σ over batches of the batch's steps.
    pub steps: u64,
    /// Σ over batches of steps × the measured time of one step of that batch's shape, seconds.
    pub seconds: f64,
    /// Per batch, parts in order: its name (`part/bNNNN`), [`batch_cost`], estimated seconds,
    /// and the name of the first batch of its group (its own name when it trains alone: see
    /// [`part_groups`]).
    pub per_batch: Vec<(String, f64, f64, String)>,
    /// Σ over the batches with a step loop of [`step_loop_work`]'s flops.
    pub flops: f64,
    /// Σ over the same batches of the bytes of X read, one read per step.
    pub x_bytes: f64,
    /// The estimated seconds of the batches counted in `flops`.
    pub counted_seconds: f64,
    /// Σ over the same batches of [`MachineRates::floor_seconds`].
    pub floor_seconds: f64,
    /// Batches without a step loop of the counted form (exact solvers, nonlinear models,
    /// real data sets).
    pub uncounted: usize,
}

/// Estimates the training time of each figure in `ids` at `scale` without training it: every
/// distinct batch shape (N, d, M·classes) is timed for 40 full-batch GD steps (after 10
/// untimed ones) on the configured backend and precision, and each batch costs its step count
/// times its shape's median step time. (With 7 steps after 2, one shape read up to 8× its
/// usual time on a busy machine, and every batch of that shape with it.) Metrics (a few % of a run) and data generation are not included.
pub fn estimate(
    ids: &[u32],
    scale: Scale,
    extra: &[String],
    rates: MachineRates,
) -> Result<Vec<Estimate>, ExperimentError> {
    let mut cache: BTreeMap<(String, String, usize, usize, usize), f64> = BTreeMap::new();
    let mut out = Vec::new();
    for &id in ids {
        let preset = preset(id, scale)?;
        let mut e = Estimate {
            id,
            batches: 0,
            runs: 0,
            steps: 0,
            seconds: 0.0,
            per_batch: Vec::new(),
            flops: 0.0,
            x_bytes: 0.0,
            counted_seconds: 0.0,
            floor_seconds: 0.0,
            uncounted: 0,
        };
        let part_batches = preset
            .parts
            .iter()
            .map(|part| part.spec.batches(extra))
            .collect::<Result<Vec<_>, _>>()?;
        let groups = part_groups(&part_batches.iter().map(Vec::as_slice).collect::<Vec<_>>());
        // Every batch of every part, with its part's name: a group may span parts.
        let batches: Vec<(&str, &Batch)> = preset
            .parts
            .iter()
            .zip(&part_batches)
            .flat_map(|(part, batches)| batches.iter().map(|b| (part.name.as_str(), b)))
            .collect();
        for (k, &(part_name, batch)) in batches.iter().enumerate() {
            let c = &batch.config;
            let m = c.runs()?;
            // A group (train.group_by_draw) takes its steps once for all its batches, on
            // the base matrix (d + 1 columns): its first batch carries the cost.
            let group_runs: usize = (0..batches.len())
                .filter(|&j| groups[j] == groups[k])
                .map(|j| batches[j].1.config.runs().unwrap_or(1))
                .sum();
            let grouped = group_runs > m;
            let (share, steps_m, steps_d) = match (grouped, groups[k] == k) {
                (false, _) => (1.0, m, c.data.d),
                (true, true) => (
                    group_runs as f64 / m as f64 * (c.data.d + 1) as f64 / c.data.d as f64,
                    group_runs,
                    c.data.d + 1,
                ),
                (true, false) => (0.0, m, c.data.d),
            };
            let classes = match c.data.model {
                crate::config::DataModel::SignalNoise => 1,
                crate::config::DataModel::Multiclass => c.data.k,
            };
            let key = (
                c.backend.name().to_string(),
                c.dtype.name().to_string(),
                c.data.n,
                steps_d,
                steps_m * classes,
            );
            let ms = match cache.get(&key) {
                Some(ms) => *ms,
                None => {
                    let device = logit_reg_model::make_device(c.backend, c.dtype)
                        .map_err(ExperimentError::model)?
                        .autodiff();
                    let bytes = match c.dtype {
                        logit_reg_model::Precision::F32 => 4,
                        logit_reg_model::Precision::F64 => 8,
                    };
                    let bench = crate::bench::StepBench {
                        n: c.data.n,
                        d: steps_d,
                        m: steps_m * classes,
                        warmup: 10,
                        iters: 40,
                        engine: crate::run::resolve_engine(c),
                        kernel: c.train.fused_kernel,
                    };
                    let t = crate::bench::time_gd_step(&device, bench, bytes)?;
                    cache.insert(key, t.ms_per_step);
                    t.ms_per_step
                }
            };
            e.batches += 1;
            e.runs += m;
            e.steps += c.train.steps;
            let seconds = if share > 0.0 {
                c.train.steps as f64 * ms / 1000.0
            } else {
                0.0
            };
            e.seconds += seconds;
            match step_loop_work(c) {
                Some(work) => {
                    let work = StepLoopWork {
                        flops: work.flops * share,
                        x_bytes: work.x_bytes
                            * if share > 0.0 {
                                share * m as f64 / group_runs.max(m) as f64
                            } else {
                                0.0
                            },
                    };
                    e.flops += work.flops;
                    e.x_bytes += work.x_bytes;
                    e.counted_seconds += seconds;
                    e.floor_seconds += rates.floor_seconds(work);
                }
                None => e.uncounted += 1,
            }
            let (first_part, first) = batches[groups[k]];
            e.per_batch.push((
                format!("{part_name}/{}", batch.name),
                batch_cost(c),
                seconds,
                format!("{first_part}/{}", first.name),
            ));
        }
        tracing::info!(figure = id, hours = e.seconds / 3600.0, "estimated");
        out.push(e);
    }
    Ok(out)
}

/// The size of the array [`MachineRates::probe`] reads for the cache bandwidth: 8 MiB, below
/// the last-level cache of the machines this was measured on (32 MiB) and of the order of the
/// design matrices of the paper (11 MB at N = 2000, d = 1400 in f32).
pub const CACHE_PROBE_BYTES: usize = 8 << 20;

/// The two rates that bound a step loop on this machine, measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MachineRates {
    /// The GEMM rate of the configured backend and precision ([`crate::bench::gemm_probe`],
    /// 1024 × 1024, best of 10), GFLOP/s.
    pub gemm_gflops: f64,
    /// The read bandwidth of every core over a cache-resident array
    /// ([`crate::bench::read_bandwidth_probe`] of [`CACHE_PROBE_BYTES`], best of 20), GB/s.
    pub cache_gbps: f64,
}

impl MachineRates {
    /// Measures both rates for the backend and precision that `extra` configures.
    pub fn probe(extra: &[String]) -> Result<Self, ExperimentError> {
        let config = crate::config::RunConfig::load(None, extra)?;
        let device = logit_reg_model::make_device(config.backend, config.dtype)
            .map_err(ExperimentError::model)?;
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        Ok(Self {
            gemm_gflops: crate::bench::gemm_probe(&device, 1024, 10),
            cache_gbps: crate::bench::read_bandwidth_probe(CACHE_PROBE_BYTES, 20, cores),
        })
    }

    /// The least time in which any kernel could do `work` here: its flops at the GEMM rate,
    /// or its reads of X at the cache bandwidth, whichever is longer.
    pub fn floor_seconds(&self, work: StepLoopWork) -> f64 {
        (work.flops / (self.gemm_gflops * 1e9)).max(work.x_bytes / (self.cache_gbps * 1e9))
    }
}

/// The Markdown table of [`estimate`]'s results, with each figure's step-loop work
/// ([`step_loop_work`]) and its floor on this machine ([`MachineRates::floor_seconds`] per
/// batch): the least time in which any kernel could run those steps here. `estimated ÷ floor`
/// compares the two over the counted batches: near 1 a figure is bound by the paper's step
/// counts; far above it, by kernels that do not reach the GEMM rate or the cache bandwidth
/// (small products, one or two runs per pass over X).
pub fn estimate_table(estimates: &[Estimate], scale: Scale, rates: MachineRates) -> String {
    let mut out = format!(
        "Estimated training time at scale `{}` (measured step times × step counts; metrics and \
         data generation not included), and the floor of each figure's step loops: per batch, \
         its flops at the GEMM probe's {:.1} GFLOP/s or its reads of X at the cache probe's \
         {:.1} GB/s, whichever is longer\n\n\
         | figure | batches | runs | steps (Σ over batches) | estimated time | step-loop work \
         (TFLOP) | X read (TB) | floor | estimated ÷ floor | batches not counted |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
        scale.name(),
        rates.gemm_gflops,
        rates.cache_gbps
    );
    let ratio = |e: f64, f: f64| {
        if f > 0.0 {
            format!("{:.1}", e / f)
        } else {
            "–".into()
        }
    };
    let (mut total, mut flops, mut bytes, mut counted, mut floor, mut uncounted) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0);
    for e in estimates {
        total += e.seconds;
        flops += e.flops;
        bytes += e.x_bytes;
        counted += e.counted_seconds;
        floor += e.floor_seconds;
        uncounted += e.uncounted;
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.1} | {:.2} | {} | {} | {} |\n",
            e.id,
            e.batches,
            e.runs,
            e.steps,
            duration(e.seconds),
            e.flops / 1e12,
            e.x_bytes / 1e12,
            duration(e.floor_seconds),
            ratio(e.counted_seconds, e.floor_seconds),
            e.uncounted
        ));
    }
    out.push_str(&format!(
        "| all | | | | {} | {:.1} | {:.2} | {} | {} | {uncounted} |\n",
        duration(total),
        flops / 1e12,
        bytes / 1e12,
        duration(floor),
        ratio(counted, floor)
    ));
    out
}

/// The predicted wall time of the figures in `estimates` on each number of parallel tasks in
/// `counts`, as a Markdown table: the batches are split as `--shard I/N` splits them (one
/// partition over all figures, by [`batch_cost`], a group of batches trained together as one),
/// and the wall time is the largest share's estimated seconds. No share can finish before its
/// longest batch or group, named below the table.
pub fn tasks_table(estimates: &[Estimate], counts: &[usize]) -> String {
    // Per group (in order of its first batch): its name, summed cost and summed seconds.
    let mut index = std::collections::HashMap::new();
    let mut groups: Vec<(String, f64, f64)> = Vec::new();
    for e in estimates {
        for (_, cost, seconds, group) in &e.per_batch {
            let name = format!("figure {} {group}", e.id);
            let g = *index.entry(name.clone()).or_insert_with(|| {
                groups.push((name, 0.0, 0.0));
                groups.len() - 1
            });
            groups[g].1 += cost;
            groups[g].2 += seconds;
        }
    }
    let costs: Vec<f64> = groups.iter().map(|g| g.1).collect();
    let total: f64 = groups.iter().map(|g| g.2).sum();
    let longest = groups
        .iter()
        .max_by(|a, b| a.2.total_cmp(&b.2))
        .cloned()
        .unwrap_or_default();
    let mut out = String::from(
        "Predicted wall time on N parallel tasks (each as fast as this machine, running \
         `--shard I/N`):\n\n| tasks N | predicted wall time | largest share ÷ mean share |\n\
         |---|---|---|\n",
    );
    for &n in counts {
        let shares = crate::shard::assign(&costs, n);
        let mut load = vec![0.0f64; n.max(1)];
        for (g, s) in shares.iter().enumerate() {
            load[*s] += groups[g].2;
        }
        let wall = load.iter().cloned().fold(0.0, f64::max);
        let mean = total / n.max(1) as f64;
        out.push_str(&format!(
            "| {n} | {} | {:.2} |\n",
            duration(wall),
            if mean > 0.0 { wall / mean } else { 1.0 }
        ));
    }
    out.push_str(&format!(
        "\nThe longest single batch (or group of batches trained together), {} ({}), bounds \
         the wall time from below on any number of tasks.\n",
        longest.0,
        duration(longest.2)
    ));
    out
}

/// Seconds as `42 s`, `3.5 min` or `2.1 h`.
pub fn duration(seconds: f64) -> String {
    if seconds < 120.0 {
        format!("{seconds:.0} s")
    } else if seconds < 7200.0 {
        format!("{:.1} min", seconds / 60.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}
