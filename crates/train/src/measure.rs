//! Training with measurement: the metrics at log-spaced steps, histograms at chosen steps, and
//! a typed summary of the final state, for any [`LogitModel`]; and the same measurement of the
//! exact solvers' solutions.

use std::collections::BTreeSet;
use std::time::Instant;

use burn::module::Param;
use burn::tensor::{Tensor, TensorData};
use logit_reg_data::BinaryDataset;
use logit_reg_model::{LinearClassifier, LogitModel, to_f64_vec};

use crate::TrainError;
use crate::engine::{StepView, TrainOutcome, train};
use crate::linear::linear_weights;
use crate::metrics::features::{FeatureGeometry, feature_stats, head_lda_cos};
use crate::metrics::{
    HistogramRow, MetricContext, MetricRow, class_logit_means, compute_rows, histograms, log_steps,
    signed_logits,
};
use crate::objective::Objective;
use crate::problem::{Labels, Problem};
use crate::solvers::{Design, MaxMarginOutcome, NewtonOutcome, max_margin_binary, newton_binary};
use crate::spec::{EngineName, OptimizerName, TrainSpec};

/// What to measure besides the metric rows.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasureSpec {
    /// Number of log-spaced logging steps (first and last always included).
    pub log_points: usize,
    /// Steps at which logit histograms are taken.
    pub histogram_steps: Vec<u64>,
    /// Histogram bins.
    pub histogram_bins: usize,
    /// Keep every sample's final logits.
    pub save_logits: bool,
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

/// One run's final state.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The final metric row.
    pub last: MetricRow,
    /// α of the run.
    pub alpha: f64,
    /// Its learning rate.
    pub lr: f64,
    /// The step and loss at which its loss became non-finite.
    pub diverged: Option<(u64, f64)>,
    /// K classes: the mean train logit vector of each class, `[K][K]`.
    pub class_logit_means: Option<Vec<Vec<f64>>>,
    /// The final test calibration: NLL, Brier, ECE and the reliability diagram's bins.
    pub test_calibration: Option<crate::metrics::calibration::Calibration>,
    /// The final geometry of the penultimate train features (NC1, the head's LDA cosine), when
    /// the model exposes its features and head.
    pub feature_geometry: Option<FeatureGeometry>,
}

/// The feature geometry of every run of `model` on the training set: NC1 and the head's LDA
/// cosine (see [`crate::metrics::features`]). Features shared by every run (a linear model's
/// inputs) are analysed once. `None` per run when the model exposes no features or head.
pub fn run_feature_geometry<M: LogitModel>(
    model: &M,
    problem: &Problem,
) -> Vec<Option<FeatureGeometry>> {
    let m = model.runs();
    let (labels, k): (Vec<usize>, usize) = match &problem.labels {
        Labels::Binary { train, .. } => (train.iter().map(|&y| usize::from(y > 0.0)).collect(), 2),
        Labels::Classes { k, train, .. } => (train.clone(), *k),
    };
    let (Some(features), Some((w, _))) =
        (model.features(problem.train_x_eval.clone()), model.head())
    else {
        return vec![None; m];
    };
    let [blocks, n, f] = features.dims();
    let h = to_f64_vec(features);
    let c = w.len() / (m * f).max(1);
    let shared = (blocks == 1).then(|| feature_stats(&h, &labels, k));
    (0..m)
        .map(|run| {
            let own;
            let stats = match &shared {
                Some(stats) => stats,
                None => {
                    own = feature_stats(&h[run * n * f..(run + 1) * n * f], &labels, k);
                    &own
                }
            };
            Some(FeatureGeometry {
                nc1: stats.nc1,
                head_lda_cos: head_lda_cos(stats, &w[run * f * c..(run + 1) * f * c]),
            })
        })
        .collect()
}

/// How an exact solver ended, per run.
#[derive(Debug, Clone)]
pub enum ExactDetails {
    /// Newton–CG: its outcome (certificate: the gradient norm).
    Newton(NewtonOutcome),
    /// Dual coordinate ascent: its outcome (certificate: the largest KKT violation).
    MaxMargin(MaxMarginOutcome),
}

impl ExactDetails {
    /// The solution.
    pub fn weights(&self) -> &[f64] {
        match self {
            ExactDetails::Newton(o) => &o.weights,
            ExactDetails::MaxMargin(o) => &o.weights,
        }
    }

    /// Newton iterations or passes over the data.
    pub fn iterations(&self) -> u64 {
        match self {
            ExactDetails::Newton(o) => o.iterations,
            ExactDetails::MaxMargin(o) => o.epochs,
        }
    }

    /// The certificate: ‖∇F‖ or the largest KKT violation.
    pub fn certificate(&self) -> f64 {
        match self {
            ExactDetails::Newton(o) => o.gradient_norm,
            ExactDetails::MaxMargin(o) => o.kkt_violation,
        }
    }

    /// Whether the certificate met the tolerance.
    pub fn converged(&self) -> bool {
        match self {
            ExactDetails::Newton(o) => o.converged,
            ExactDetails::MaxMargin(o) => o.converged,
        }
    }
}

/// The exact solvers' part of a summary.
#[derive(Debug, Clone)]
pub struct ExactSummary {
    /// The certificate's tolerance.
    pub tolerance: f64,
    /// Per run.
    pub runs: Vec<ExactDetails>,
}

/// The typed summary of a batch of M runs.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Per run.
    pub runs: Vec<RunSummary>,
    /// Steps taken (the largest solver iteration count for exact solvers).
    pub steps: u64,
    /// Training (or solving) wall time in seconds, metrics included.
    pub wall_seconds: f64,
    /// Seconds spent computing metrics.
    pub metric_seconds: f64,
    /// Whether every run met its tolerance (and none diverged).
    pub converged: bool,
    /// The last gradient norms, per run, when a tolerance was set (step loop).
    pub gradient_norms: Option<Vec<f64>>,
    /// The optimiser.
    pub optimizer: OptimizerName,
    /// The engine that took the steps.
    pub engine: EngineName,
    /// The fused engine's kernel, when it took the steps.
    pub fused_kernel: Option<crate::fused::FusedKernel>,
    /// cos(empirical LDA direction, e₁), when the problem has one.
    pub lda_cos_e1: Option<f64>,
    /// The exact solvers' details.
    pub exact: Option<ExactSummary>,
}

impl Summary {
    /// Whether any run diverged.
    pub fn any_diverged(&self) -> bool {
        self.runs.iter().any(|r| r.diverged.is_some())
    }
}

/// Everything a finished (or diverged) batch produced.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Metric rows at the logging steps.
    pub metrics: Vec<MetricRow>,
    /// Histogram rows at the requested steps.
    pub histograms: Vec<HistogramRow>,
    /// How training ended.
    pub outcome: TrainOutcome,
    /// The summary.
    pub summary: Summary,
    /// The final weights of a linear model, row-major `[d, M·C]`.
    pub final_weights: Option<Vec<f64>>,
    /// The final bias `[M·C]` of a multi-class linear model (the binary model has none).
    pub final_bias: Option<Vec<f64>>,
    /// The final logits, when [`MeasureSpec::save_logits`] is set.
    pub final_logits: Option<SavedLogits>,
}

/// Runs the training loop with metrics and histograms, for any [`LogitModel`]. `progress` is
/// called with the step at every step, and with the latest test accuracy at logging steps
/// (a progress bar, or nothing).
pub fn train_and_measure<M: LogitModel>(
    model: M,
    problem: &Problem,
    objective: &Objective,
    spec: &TrainSpec,
    measure: &MeasureSpec,
    ctx: &MetricContext,
    progress: impl Fn(u64, Option<f64>),
) -> Result<Measured, TrainError> {
    measure_steps(
        problem,
        spec,
        measure,
        ctx,
        progress,
        0.0,
        |log_step, observe| train(model, problem, objective, spec, log_step, observe),
    )
}

/// [`train_and_measure`] for a batch trained in a group ([`crate::group::train_group`]): its
/// recorded states are measured on `problem`, the batch's own data, as the training loop would
/// have measured them. The summary's wall time is the batch's share of the group's training
/// time plus its measurement.
///
/// # Errors
/// If `model` is not a binary linear classifier of the recording's shape.
pub fn replay_and_measure<M: LogitModel>(
    model: M,
    problem: &Problem,
    spec: &TrainSpec,
    measure: &MeasureSpec,
    ctx: &MetricContext,
    recording: &crate::group::Recording,
    progress: impl Fn(u64, Option<f64>),
) -> Result<Measured, TrainError> {
    measure_steps(
        problem,
        spec,
        measure,
        ctx,
        progress,
        recording.train_seconds,
        |log_step, observe| crate::engine::replay(model, recording, log_step, observe),
    )
}

/// The steps to log: every one `log_steps` and `histogram_steps` name.
pub fn recorded_steps(spec: &TrainSpec, measure: &MeasureSpec) -> BTreeSet<u64> {
    let mut steps = log_steps(spec.steps, measure.log_points);
    steps.extend(measure.histogram_steps.iter().copied());
    steps
}

/// The measurements of one batch around `drive`, which runs the steps (or replays them) and
/// calls the observer it is given at the logging steps; `extra_seconds` is added to the wall
/// time.
fn measure_steps<M: LogitModel>(
    problem: &Problem,
    spec: &TrainSpec,
    measure: &MeasureSpec,
    ctx: &MetricContext,
    progress: impl Fn(u64, Option<f64>),
    extra_seconds: f64,
    drive: impl FnOnce(
        &mut dyn FnMut(u64) -> bool,
        &mut dyn FnMut(&StepView<'_, M>),
    ) -> Result<(M, TrainOutcome), TrainError>,
) -> Result<Measured, TrainError> {
    let steps_to_log = log_steps(spec.steps, measure.log_points);
    let histogram_steps: BTreeSet<u64> = measure.histogram_steps.iter().copied().collect();
    let mut metrics = Vec::new();
    let mut hist = Vec::new();
    let mut metric_seconds = 0.0;
    let mut final_train_logits = Vec::new();
    let mut final_test_logits = Vec::new();
    let mut final_weights = None;
    let mut final_bias = None;
    let mut final_geometry = Vec::new();
    let start = Instant::now();
    let m = ctx.alphas.len();
    let (_, outcome) = drive(
        &mut |step| {
            progress(step, None);
            steps_to_log.contains(&step) || histogram_steps.contains(&step)
        },
        &mut |view: &StepView<'_, M>| {
            let t0 = Instant::now();
            let eval = view.model.valid();
            let train_logits = to_f64_vec(eval.logits(problem.train_x_eval.clone()));
            let test_logits = to_f64_vec(eval.logits(problem.test_x_eval.clone()));
            let weights = linear_weights(view.model);
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
                hist.extend(histograms(view.step, &tr, &te, m, measure.histogram_bins));
            }
            if let Some(last) = metrics.last() {
                progress(view.step, Some(last.test_accuracy));
            }
            if view.last {
                final_train_logits = train_logits;
                final_test_logits = test_logits;
                final_weights = weights;
                final_bias = crate::linear::linear_bias(view.model);
                final_geometry = run_feature_geometry(&eval, problem);
            }
            metric_seconds += t0.elapsed().as_secs_f64();
        },
    )?;
    let wall_seconds = start.elapsed().as_secs_f64() + extra_seconds;
    let class_means = match &problem.labels {
        Labels::Classes { k, train, .. } => {
            Some(class_logit_means(&final_train_logits, train, m, *k))
        }
        Labels::Binary { .. } => None,
    };
    let runs = (0..m)
        .map(|run| RunSummary {
            last: *metrics
                .iter()
                .rev()
                .find(|r| r.run == run)
                .expect("the final row of every run"),
            alpha: ctx.alphas[run],
            lr: spec.lr[run],
            diverged: outcome.diverged[run],
            class_logit_means: class_means.as_ref().map(|c| c[run].clone()),
            feature_geometry: final_geometry.get(run).copied().flatten(),
            test_calibration: Some(crate::metrics::calibration::test_calibration(
                problem,
                &final_test_logits,
                run,
                m,
            )),
        })
        .collect();
    // The empirical LDA direction's cosine with e₁: the reference the weights are compared to.
    let lda_cos_e1 = problem.lda.as_ref().map(|lda| {
        let norm = lda.iter().map(|v| v * v).sum::<f64>().sqrt();
        lda[0] / norm
    });
    let summary = Summary {
        runs,
        steps: outcome.steps,
        wall_seconds,
        metric_seconds,
        converged: outcome.converged && outcome.diverged.iter().all(Option::is_none),
        gradient_norms: outcome.gradient_norms.clone(),
        optimizer: spec.optimizer,
        engine: outcome.engine,
        fused_kernel: outcome.fused_kernel,
        lda_cos_e1,
        exact: None,
    };
    Ok(Measured {
        metrics,
        histograms: hist,
        outcome,
        summary,
        final_weights,
        final_bias,
        final_logits: measure.save_logits.then(|| {
            let (train_labels, test_labels) = match &problem.labels {
                Labels::Binary { train, test, .. } => (train.clone(), test.clone()),
                Labels::Classes { train, test, .. } => (
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

/// The default certificate tolerance of an exact solver when `grad_tol` is 0: 1e-10 for
/// Newton's gradient norm, 1e-8 for max-margin's KKT violation.
pub fn exact_tolerance(optimizer: OptimizerName, grad_tol: f64) -> f64 {
    match (grad_tol > 0.0, optimizer == OptimizerName::Newton) {
        (true, _) => grad_tol,
        (false, true) => 1e-10,
        (false, false) => 1e-8,
    }
}

/// `spec.optimizer = Newton` or `MaxMargin`: each run's exact solution (host, f64; see
/// [`crate::solvers`]) on `train_set` (the problem's training set drawn in f64), then the
/// metrics of that solution through the same measurement path as a trained model. The metric
/// rows carry the largest iteration count (Newton steps or passes over the data) as their
/// step; the summary adds, per run, the certificate and the solver's details.
#[allow(clippy::too_many_arguments)]
pub fn solve_and_measure(
    mut model: LinearClassifier,
    problem: &Problem,
    objective: &Objective,
    spec: &TrainSpec,
    measure: &MeasureSpec,
    ctx: &MetricContext,
    train_set: &BinaryDataset,
) -> Result<Measured, TrainError> {
    let start = Instant::now();
    let a = train_set.label_absorbed();
    let (n, d) = (train_set.n, train_set.d);
    let design = Design::new(&a, n, d).with_threads(spec.threads);
    let newton = spec.optimizer == OptimizerName::Newton;
    let tol = exact_tolerance(spec.optimizer, spec.grad_tol);
    let m = ctx.alphas.len();
    let mut solutions: Vec<ExactDetails> = Vec::new();
    for (run, &alpha) in ctx.alphas.iter().enumerate() {
        let solution =
            if newton {
                let penalty = ctx.binary_penalty.as_ref().ok_or_else(|| {
                    TrainError::invalid("loss.penalty", "none", "a penalty for newton")
                })?;
                let out = newton_binary(&design, penalty.as_ref(), alpha, tol, spec.steps)
                    .map_err(|e| match e {
                        TrainError::Diverged { step, loss, .. } => {
                            TrainError::Diverged { run, step, loss }
                        }
                        other => other,
                    })?;
                ExactDetails::Newton(out)
            } else if run > 0 {
                // α = 0 for every run: one direction serves them all.
                solutions[0].clone()
            } else {
                ExactDetails::MaxMargin(max_margin_binary(&design, tol, spec.steps)?)
            };
        tracing::debug!(
            run,
            alpha,
            iterations = solution.iterations(),
            certificate = solution.certificate(),
            "{}",
            if newton { "newton" } else { "max-margin" }
        );
        solutions.push(solution);
    }
    let mut weights = vec![0.0; d * m];
    for (run, solution) in solutions.iter().enumerate() {
        for (j, w) in solution.weights().iter().enumerate() {
            weights[j * m + run] = *w;
        }
    }
    let device = problem.train_x.device();
    model.weight = Param::from_tensor(Tensor::from_data(TensorData::new(weights, [d, m]), &device));
    let measure_spec = TrainSpec {
        steps: 0,
        ..spec.clone()
    };
    let solve_seconds = start.elapsed().as_secs_f64();
    let mut result = train_and_measure(
        model,
        problem,
        objective,
        &measure_spec,
        measure,
        ctx,
        |_, _| {},
    )?;
    let iterations = solutions
        .iter()
        .map(ExactDetails::iterations)
        .max()
        .unwrap_or(0);
    for row in &mut result.metrics {
        row.step = iterations;
    }
    for run in &mut result.summary.runs {
        run.last.step = iterations;
    }
    let summary = &mut result.summary;
    summary.steps = iterations;
    summary.converged = solutions.iter().all(ExactDetails::converged);
    summary.gradient_norms = None;
    summary.wall_seconds += solve_seconds;
    if !summary.converged {
        tracing::warn!(
            tol,
            "the exact solver stopped at train.steps before reaching the tolerance"
        );
    }
    summary.exact = Some(ExactSummary {
        tolerance: tol,
        runs: solutions,
    });
    Ok(result)
}
