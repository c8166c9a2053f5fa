//! One configured run (a batch of M runs sharing one data set), from config to result files.

use std::path::Path;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use logit_reg_model::target::multiclass_target;
use logit_reg_model::{
    LinearClassifierConfig, LogitRegularizedLoss, MultiClassLogitLoss, binary_target, make_device,
    to_f64_vec,
};
use serde_json::{Value, json};

use crate::ExperimentError;
use crate::config::{DataModel, EngineName, OptimizerName, RunConfig};
use crate::metrics::{
    HistogramRow, MetricContext, MetricRow, compute_rows, histograms, log_steps, signed_logits,
};
use crate::output::{
    clear_results, git_commit, histograms_csv, metrics_csv, timing_csv, write_atomic, write_json,
};
use crate::problem::Problem;
use crate::train::{LogitModel, Objective, StepView, TrainOutcome, TrainSpec, train};

/// Everything a finished (or diverged) run produced.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Metric rows at the logging steps.
    pub metrics: Vec<MetricRow>,
    /// Histogram rows at the requested steps.
    pub histograms: Vec<HistogramRow>,
    /// How training ended.
    pub outcome: TrainOutcome,
    /// Training wall time in seconds (excluding data generation).
    pub wall_seconds: f64,
    /// Seconds spent computing metrics (included in `wall_seconds`).
    pub metric_seconds: f64,
    /// `summary.json`'s content.
    pub summary: Value,
    /// The final logits, when `train.save_logits` is set.
    pub final_logits: Option<SavedLogits>,
}

/// Every sample's final logits with its label (for `logits.csv`).
#[derive(Debug, Clone)]
pub struct SavedLogits {
    /// Train logits, `[N, M, classes]` row-major (classes = 1 for binary).
    pub train: Vec<f64>,
    /// Test logits, `[N_test, M, classes]` row-major.
    pub test: Vec<f64>,
    /// Train labels: ±1 (binary) or the class index.
    pub train_labels: Vec<f64>,
    /// Test labels.
    pub test_labels: Vec<f64>,
    /// Runs M.
    pub runs: usize,
    /// Logits per run.
    pub classes: usize,
}

/// The fully resolved config with provenance, as written to `config.json`.
pub fn resolved_config(config: &RunConfig) -> Value {
    json!({
        "config": config,
        "runs": config.runs().unwrap_or(0),
        "alpha": config.alphas().unwrap_or_default(),
        "lr": config.lrs().unwrap_or_default(),
        "backend": config.backend.name(),
        "dtype": config.dtype.name(),
        "seed": config.seed,
        "crate_version": env!("CARGO_PKG_VERSION"),
        "git_commit": git_commit(),
        "labels_scheme": config.data.labels,
        "init": if config.train.init_std > 0.0 { "gaussian" } else { "zero" },
    })
}

/// The metric context (z* and penalties of every run).
fn metric_context(config: &RunConfig) -> Result<MetricContext, ExperimentError> {
    let alphas = config.alphas()?;
    let penalty = config.penalty();
    let binary_penalty = penalty.binary().map_err(ExperimentError::model)?;
    let multiclass_penalty = penalty.multiclass().map_err(ExperimentError::model)?;
    let multiclass = config.data.model == DataModel::Multiclass;
    let mut z_star = Vec::new();
    let mut multiclass_targets = Vec::new();
    for &alpha in &alphas {
        if alpha > 0.0 {
            if multiclass {
                let p = multiclass_penalty.as_ref().ok_or_else(|| {
                    ExperimentError::invalid("loss.penalty", "none", "a penalty when α > 0")
                })?;
                let (t, z) = multiclass_target(p.as_ref(), alpha, config.data.k)
                    .map_err(ExperimentError::model)?;
                z_star.push(t.z_star);
                multiclass_targets.push(Some(z));
            } else {
                let p = binary_penalty.as_ref().ok_or_else(|| {
                    ExperimentError::invalid("loss.penalty", "none", "a penalty when α > 0")
                })?;
                z_star.push(
                    binary_target(p.as_ref(), alpha)
                        .map_err(ExperimentError::model)?
                        .z_star,
                );
                multiclass_targets.push(None);
            }
        } else {
            z_star.push(f64::NAN);
            multiclass_targets.push(None);
        }
    }
    Ok(MetricContext {
        alphas,
        binary_penalty,
        multiclass_penalty,
        z_star,
        multiclass_targets,
    })
}

/// A progress bar over `len` units (`steps`, `batches`), drawn only when `visible` and stderr
/// is a terminal.
pub(crate) fn progress_bar(len: u64, unit: &str, visible: bool) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if visible && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        let template = format!("{{elapsed_precise}} [{{bar:40}}] {{pos}}/{{len}} {unit} {{msg}}");
        bar.set_style(
            ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar
}

/// The engine that trains `config`: `train.engine` as set, except that `auto` becomes `burn`
/// where the fused engine does not apply (an optimiser other than GD, multi-class data, or a
/// GPU backend, whose device the host engine would leave idle) and `fused` where it does.
pub fn resolve_engine(config: &RunConfig) -> EngineName {
    let applies =
        config.train.optimizer == OptimizerName::Gd && config.data.model == DataModel::SignalNoise;
    match config.train.engine {
        EngineName::Auto if applies && config.backend != logit_reg_model::Backend::Wgpu => {
            EngineName::Fused
        }
        EngineName::Auto => EngineName::Burn,
        chosen => chosen,
    }
}

/// Trains the configured batch of runs and returns its metrics; writes nothing.
pub fn execute(config: &RunConfig, show_progress: bool) -> Result<RunResult, ExperimentError> {
    config.validate()?;
    let device = make_device(config.backend, config.dtype).map_err(ExperimentError::model)?;
    let device = device.autodiff();
    let runs = config.runs()?;
    let alphas = config.alphas()?;
    let penalty = config.penalty();
    let (problem, objective) = match config.data.model {
        DataModel::SignalNoise => {
            let model = config.signal_noise()?;
            let problem = Problem::binary(&model, config.seed, &device)?;
            let loss = LogitRegularizedLoss::new(
                penalty.binary().map_err(ExperimentError::model)?,
                alphas.clone(),
                &device,
            )
            .map_err(ExperimentError::model)?;
            let objective = Objective::Binary {
                loss: std::sync::Arc::new(loss),
                weight_decay: config.loss.weight_decay,
                sum_data_term: config.loss.weight_decay > 0.0
                    && config.loss.data_term == logit_reg_model::DataTerm::Sum,
            };
            (problem, objective)
        }
        DataModel::Multiclass => {
            let model = config.multiclass()?;
            let split = model.generate(config.seed).map_err(ExperimentError::data)?;
            let problem = Problem::from_multiclass(&split.train, &split.test, &device);
            let loss = MultiClassLogitLoss::new(
                penalty.multiclass().map_err(ExperimentError::model)?,
                alphas.clone(),
                &device,
            )
            .map_err(ExperimentError::model)?;
            (problem, Objective::MultiClass(Box::new(loss)))
        }
    };
    let model = LinearClassifierConfig::new(problem.d)
        .with_runs(runs)
        .with_classes(problem.classes())
        .with_init_std(config.train.init_std)
        .with_init_seed(config.seed)
        .with_first_run(config.train.init_index)
        .init(&device)
        .map_err(ExperimentError::model)?;
    let ctx = metric_context(config)?;
    let spec = TrainSpec {
        optimizer: config.train.optimizer,
        lr: config.lrs()?,
        steps: config.train.steps,
        batch_size: config.train.batch_size,
        grad_tol: config.train.grad_tol,
        adam: (
            config.train.adam_beta1,
            config.train.adam_beta2,
            config.train.adam_eps,
        ),
        seed: config.seed,
        engine: resolve_engine(config),
        threads: config.train.threads,
    };
    if matches!(
        config.train.optimizer,
        crate::config::OptimizerName::Newton | crate::config::OptimizerName::MaxMargin
    ) {
        return execute_exact(config, model, &problem, &objective, spec, &ctx);
    }
    train_and_measure(
        model,
        &problem,
        &objective,
        &spec,
        &ctx,
        config,
        show_progress,
    )
}

/// One run's exact solution and its certificate.
struct ExactSolution {
    weights: Vec<f64>,
    iterations: u64,
    certificate: f64,
    converged: bool,
    details: Value,
}

/// `train.optimizer = "newton"` or `"max-margin"`: each run's exact solution (host, f64; see
/// [`crate::solvers`]), then the metrics of that solution through the same measurement path
/// as a trained model. The metric rows carry the largest iteration count (Newton steps or
/// passes over the data) as their step. The summary adds, per run, the certificate
/// (`gradient_norms` for Newton, `kkt_violations` for max-margin) and the solver's details
/// (`newton`/`max_margin`: iterations, products, history).
fn execute_exact(
    config: &RunConfig,
    mut model: logit_reg_model::LinearClassifier,
    problem: &Problem,
    objective: &Objective,
    mut spec: TrainSpec,
    ctx: &MetricContext,
) -> Result<RunResult, ExperimentError> {
    use crate::config::OptimizerName;
    let start = Instant::now();
    // The problem holds the data only on the device, in the run's precision; the solvers need
    // the exact f64 draw of the train set, so that is drawn again from the same seed (identical
    // bytes; the test set is not needed here).
    let train = config
        .signal_noise()?
        .generate_train(config.seed)
        .map_err(ExperimentError::data)?;
    let a = train.label_absorbed();
    let (n, d) = (train.n, train.d);
    let design = crate::solvers::Design { a: &a, n, d };
    let newton = config.train.optimizer == OptimizerName::Newton;
    let tol = match (config.train.grad_tol > 0.0, newton) {
        (true, _) => config.train.grad_tol,
        (false, true) => 1e-10,
        (false, false) => 1e-8,
    };
    let m = ctx.alphas.len();
    let mut solutions: Vec<ExactSolution> = Vec::new();
    for (run, &alpha) in ctx.alphas.iter().enumerate() {
        let solution = if newton {
            let penalty = config
                .penalty()
                .binary()
                .map_err(ExperimentError::model)?
                .ok_or_else(|| {
                    ExperimentError::invalid("loss.penalty", "none", "a penalty for newton")
                })?;
            let out = crate::solvers::newton_binary(
                &design,
                penalty.as_ref(),
                alpha,
                tol,
                config.train.steps,
            )
            .map_err(|e| match e {
                ExperimentError::Diverged { step, loss, .. } => ExperimentError::Diverged {
                    run,
                    step,
                    loss,
                    lr: 1.0,
                },
                other => other,
            })?;
            ExactSolution {
                details: json!({"iterations": out.iterations, "matrix_products": out.products,
                                "start": if out.interpolating_start { "interpolating" } else { "zero" },
                                "history": out.history}),
                weights: out.weights,
                iterations: out.iterations,
                certificate: out.gradient_norm,
                converged: out.converged,
            }
        } else if run > 0 {
            // α = 0 for every run: one direction serves them all.
            let first = &solutions[0];
            ExactSolution {
                weights: first.weights.clone(),
                iterations: first.iterations,
                certificate: first.certificate,
                converged: first.converged,
                details: first.details.clone(),
            }
        } else {
            let out = crate::solvers::max_margin_binary(&design, tol, config.train.steps)?;
            ExactSolution {
                details: json!({"epochs": out.epochs, "min_margin": out.min_margin,
                                "support_vectors": out.support_vectors, "history": out.history}),
                weights: out.weights,
                iterations: out.epochs,
                certificate: out.kkt_violation,
                converged: out.converged,
            }
        };
        tracing::info!(
            run,
            alpha,
            iterations = solution.iterations,
            certificate = solution.certificate,
            "{}",
            if newton { "newton" } else { "max-margin" }
        );
        solutions.push(solution);
    }
    let mut weights = vec![0.0; d * m];
    for (run, solution) in solutions.iter().enumerate() {
        for (j, w) in solution.weights.iter().enumerate() {
            weights[j * m + run] = *w;
        }
    }
    let device = problem.train_x.device();
    model.weight = burn::module::Param::from_tensor(burn::tensor::Tensor::from_data(
        burn::tensor::TensorData::new(weights, [d, m]),
        &device,
    ));
    spec.steps = 0;
    let solve_seconds = start.elapsed().as_secs_f64();
    let mut result = train_and_measure(model, problem, objective, &spec, ctx, config, false)?;
    let iterations = solutions.iter().map(|o| o.iterations).max().unwrap_or(0);
    for row in &mut result.metrics {
        row.step = iterations;
    }
    let converged = solutions.iter().all(|o| o.converged);
    let certificates: Vec<f64> = solutions.iter().map(|o| o.certificate).collect();
    let details: Vec<Value> = solutions.iter().map(|o| o.details.clone()).collect();
    let summary = &mut result.summary;
    summary["steps"] = json!(iterations);
    summary["converged"] = json!(converged);
    if newton {
        summary["gradient_norms"] = json!(certificates);
        summary["newton"] = json!(details);
    } else {
        summary["gradient_norms"] = Value::Null;
        summary["kkt_violations"] = json!(certificates);
        summary["max_margin"] = json!(details);
    }
    summary["tolerance"] = json!(tol);
    result.wall_seconds += solve_seconds;
    summary["wall_seconds"] = json!(result.wall_seconds);
    if !converged {
        tracing::warn!(
            tol,
            "the exact solver stopped at train.steps before reaching the tolerance"
        );
    }
    Ok(result)
}

/// Runs the training loop with metrics, histograms and a progress bar; for any [`LogitModel`].
pub fn train_and_measure<M: LogitModel>(
    model: M,
    problem: &Problem,
    objective: &Objective,
    spec: &TrainSpec,
    ctx: &MetricContext,
    config: &RunConfig,
    show_progress: bool,
) -> Result<RunResult, ExperimentError> {
    let steps_to_log = log_steps(spec.steps, config.train.log_points);
    let histogram_steps: std::collections::BTreeSet<u64> =
        config.train.histogram_steps.iter().copied().collect();
    let bar = progress_bar(spec.steps, "steps", show_progress);
    let mut metrics = Vec::new();
    let mut hist = Vec::new();
    let mut metric_seconds = 0.0;
    let mut final_train_logits = Vec::new();
    let mut final_test_logits = Vec::new();
    let start = Instant::now();
    let m = ctx.alphas.len();
    let (_, outcome) = train(
        model,
        problem,
        objective,
        spec,
        |step| {
            bar.set_position(step);
            steps_to_log.contains(&step) || histogram_steps.contains(&step)
        },
        |view: &StepView<'_, M>| {
            let t0 = Instant::now();
            let eval = view.model.valid();
            let train_logits = to_f64_vec(eval.logits(problem.train_x_eval.clone()));
            let test_logits = to_f64_vec(eval.logits(problem.test_x_eval.clone()));
            let weights = view.model.linear_weights();
            if steps_to_log.contains(&view.step) || view.last {
                metrics.extend(compute_rows(
                    ctx,
                    problem,
                    view.step,
                    start.elapsed().as_secs_f64(),
                    view.objective,
                    &train_logits,
                    &test_logits,
                    weights.as_deref(),
                ));
            }
            if histogram_steps.contains(&view.step) {
                let (tr, te) = signed_logits(problem, &train_logits, &test_logits, m);
                hist.extend(histograms(
                    view.step,
                    &tr,
                    &te,
                    m,
                    config.train.histogram_bins,
                ));
            }
            if let Some(last) = metrics.last() {
                bar.set_message(format!("test acc {:.3}", last.test_accuracy));
            }
            if view.last {
                final_train_logits = train_logits;
                final_test_logits = test_logits;
            }
            metric_seconds += t0.elapsed().as_secs_f64();
        },
    )?;
    bar.finish_and_clear();
    let wall_seconds = start.elapsed().as_secs_f64();
    let mut summary = summary_json(config, &metrics, &outcome, wall_seconds, metric_seconds, m);
    // The empirical LDA direction's cosine with e₁: the reference the weights are compared to.
    let lda_cos_e1 = problem.lda.as_ref().map(|lda| {
        let norm = lda.iter().map(|v| v * v).sum::<f64>().sqrt();
        lda[0] / norm
    });
    summary["lda_cos_e1"] = json!(lda_cos_e1);
    if let Some(per_run) = summary.get_mut("per_run").and_then(Value::as_array_mut) {
        for entry in per_run.iter_mut() {
            entry["lda_cos_e1"] = json!(lda_cos_e1);
        }
    }
    if let crate::problem::Labels::Classes {
        k, train: labels, ..
    } = &problem.labels
    {
        let means = class_logit_means(&final_train_logits, labels, m, *k);
        if let Some(per_run) = summary.get_mut("per_run").and_then(Value::as_array_mut) {
            for (entry, run_means) in per_run.iter_mut().zip(means) {
                entry["class_logit_means"] = json!(run_means);
            }
        }
    }
    Ok(RunResult {
        metrics,
        histograms: hist,
        outcome,
        wall_seconds,
        metric_seconds,
        summary,
        final_logits: config.train.save_logits.then(|| {
            let (train_labels, test_labels) = match &problem.labels {
                crate::problem::Labels::Binary { train, test, .. } => (train.clone(), test.clone()),
                crate::problem::Labels::Classes { train, test, .. } => (
                    train.iter().map(|&c| c as f64).collect(),
                    test.iter().map(|&c| c as f64).collect(),
                ),
            };
            SavedLogits {
                train: final_train_logits,
                test: final_test_logits,
                train_labels,
                test_labels,
                runs: m,
                classes: problem.classes(),
            }
        }),
    })
}

/// Per run, the mean train logit vector of each class: `[M][K][K]`, entry `[m][c][j]` is the
/// mean of `z_j` over the samples of class c (the simplex targets put `z*` on the diagonal).
pub fn class_logit_means(
    logits: &[f64],
    labels: &[usize],
    m: usize,
    k: usize,
) -> Vec<Vec<Vec<f64>>> {
    let mut sums = vec![vec![vec![0.0; k]; k]; m];
    let mut counts = vec![0usize; k];
    for (i, &y) in labels.iter().enumerate() {
        counts[y] += 1;
        for (run, sum) in sums.iter_mut().enumerate() {
            for j in 0..k {
                sum[y][j] += logits[(i * m + run) * k + j];
            }
        }
    }
    for sum in &mut sums {
        for (c, row) in sum.iter_mut().enumerate() {
            row.iter_mut().for_each(|v| *v /= counts[c].max(1) as f64);
        }
    }
    sums
}

/// The keys every summary has (each a number for M = 1, a list over runs for M > 1).
pub const SUMMARY_METRICS: &[&str] = &[
    "test_accuracy",
    "train_accuracy",
    "cos_e1",
    "cos_fisher",
    "cos_lda",
    "s1",
    "s_perp_norm",
    "weight_norm",
    "train_logit_mean",
    "train_logit_std",
    "test_logit_mean",
    "test_logit_std",
    "z_star",
    "train_loss",
    "train_ce",
    "test_ce",
    "eq5_accuracy",
    "train_target_distance",
    "lda_cos_e1",
];

fn summary_json(
    config: &RunConfig,
    metrics: &[MetricRow],
    outcome: &TrainOutcome,
    wall_seconds: f64,
    metric_seconds: f64,
    m: usize,
) -> Value {
    let finals: Vec<&MetricRow> = (0..m)
        .map(|run| {
            metrics
                .iter()
                .rev()
                .find(|r| r.run == run)
                .expect("final row of every run")
        })
        .collect();
    let as_json = |row: &MetricRow| -> serde_json::Map<String, Value> {
        let mut map = serde_json::Map::new();
        let value = serde_json::to_value(row).unwrap_or(Value::Null);
        for key in SUMMARY_METRICS {
            map.insert(
                key.to_string(),
                value.get(key).cloned().unwrap_or(Value::Null),
            );
        }
        map
    };
    let alphas = config.alphas().unwrap_or_default();
    let lrs = config.lrs().unwrap_or_default();
    let per_run: Vec<Value> = finals
        .iter()
        .enumerate()
        .map(|(run, row)| {
            let mut map = as_json(row);
            map.insert("run".into(), json!(run));
            map.insert("alpha".into(), json!(alphas.get(run)));
            map.insert("lr".into(), json!(lrs.get(run)));
            let div = outcome.diverged[run];
            map.insert("diverged".into(), json!(div.is_some()));
            map.insert("diverged_at_step".into(), json!(div.map(|d| d.0)));
            map.insert("diverged_loss".into(), json!(div.map(|d| d.1.to_string())));
            Value::Object(map)
        })
        .collect();
    let mut top = serde_json::Map::new();
    for key in SUMMARY_METRICS {
        let values: Vec<Value> = per_run.iter().map(|r| r[key].clone()).collect();
        top.insert(
            key.to_string(),
            if m == 1 {
                values[0].clone()
            } else {
                Value::Array(values)
            },
        );
    }
    let any_diverged = outcome.diverged.iter().any(Option::is_some);
    top.insert("steps".into(), json!(outcome.steps));
    top.insert("wall_seconds".into(), json!(wall_seconds));
    top.insert("metric_seconds".into(), json!(metric_seconds));
    top.insert("diverged".into(), json!(any_diverged));
    top.insert(
        "converged".into(),
        json!(outcome.converged && !any_diverged),
    );
    top.insert("gradient_norms".into(), json!(outcome.gradient_norms));
    top.insert("solver".into(), json!(config.train.optimizer));
    top.insert("engine".into(), json!(outcome.engine.name()));
    top.insert("runs".into(), json!(m));
    top.insert("per_run".into(), Value::Array(per_run));
    Value::Object(top)
}

/// Runs `config` and writes `config.json`, `metrics.csv`, `histograms.csv` (when histogram
/// steps are asked for) and `summary.json` to `out`. A diverged run still writes its files
/// (the summary says `"diverged": true`) and then returns [`ExperimentError::Diverged`].
pub fn run_to_dir(
    config: &RunConfig,
    out: &Path,
    show_progress: bool,
) -> Result<RunResult, ExperimentError> {
    config.validate()?;
    std::fs::create_dir_all(out).map_err(|e| ExperimentError::io(out, e))?;
    clear_results(out)?;
    write_json(&out.join("config.json"), &resolved_config(config))?;
    tracing::info!(out = %out.display(), runs = config.runs()?, "training");
    let result = execute(config, show_progress)?;
    write_atomic(
        &out.join("metrics.csv"),
        metrics_csv(&result.metrics).as_bytes(),
    )?;
    write_atomic(
        &out.join("timing.csv"),
        timing_csv(&result.metrics).as_bytes(),
    )?;
    if !result.histograms.is_empty() {
        write_atomic(
            &out.join("histograms.csv"),
            histograms_csv(&result.histograms).as_bytes(),
        )?;
    }
    if let Some(saved) = &result.final_logits {
        write_atomic(&out.join("logits.csv"), logits_csv(saved).as_bytes())?;
    }
    write_json(&out.join("summary.json"), &result.summary)?;
    tracing::info!(
        wall_seconds = result.wall_seconds,
        metric_seconds = result.metric_seconds,
        "finished"
    );
    let lrs = config.lrs()?;
    if let Some((run, (step, loss))) = result
        .outcome
        .diverged
        .iter()
        .enumerate()
        .find_map(|(run, d)| d.map(|d| (run, d)))
    {
        return Err(ExperimentError::Diverged {
            run,
            step,
            loss,
            lr: lrs[run],
        });
    }
    Ok(result)
}

/// The text of `logits.csv`: one row per (split, sample, run, class) with the sample's label
/// (±1 binary, the class index for K classes) and its final logit.
fn logits_csv(saved: &SavedLogits) -> String {
    use std::fmt::Write;
    let (m, k) = (saved.runs, saved.classes);
    let mut out = String::from("split,sample,label,run,class,logit\n");
    for (name, logits, labels) in [
        ("train", &saved.train, &saved.train_labels),
        ("test", &saved.test, &saved.test_labels),
    ] {
        for (i, label) in labels.iter().enumerate() {
            for run in 0..m {
                for class in 0..k {
                    let _ = writeln!(
                        out,
                        "{name},{i},{label},{run},{class},{}",
                        logits[(i * m + run) * k + class]
                    );
                }
            }
        }
    }
    out
}
