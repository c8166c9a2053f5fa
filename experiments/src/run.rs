//! One configured run (a batch of M runs sharing one data set), from config to result files:
//! the one factory (config → problem, model, objective, engine spec), the summary as JSON, and
//! the files.

use std::path::Path;
use std::sync::Arc;

use logit_reg_data::SignalPlusNoise;
use logit_reg_model::{
    Backend, ConvNet, ConvNetConfig, LinearClassifier, LinearClassifierConfig,
    LogitRegularizedLoss, Mlp, MlpConfig, MultiClassLogitLoss, Precision, make_device,
};
use logit_reg_train::fused::FusedKernel;
use logit_reg_train::{
    EngineName, ExactDetails, MeasureSpec, Measured, MetricContext, MetricRow, Objective,
    OptimizerName, Problem, SavedLogits, Summary, TrainSpec, solve_and_measure, train_and_measure,
};
use serde_json::{Value, json};

use crate::ExperimentError;
use crate::config::{DataModel, ModelKind, RunConfig};
use crate::output::{
    build_provenance, clear_results, histograms_csv, metrics_csv, timing_csv, weights_npy,
    write_atomic, write_json,
};

/// Everything a finished (or diverged) run produced.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// What the engine measured (metric rows, histograms, outcome, typed summary, final
    /// weights and logits).
    pub measured: Measured,
    /// `summary.json`'s content.
    pub summary: Value,
    /// The input dimension d the model was trained on (a real source's comes from its file).
    pub input_dim: usize,
}

impl RunResult {
    /// Metric rows at the logging steps.
    pub fn metrics(&self) -> &[MetricRow] {
        &self.measured.metrics
    }
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
        "git_commit": build_provenance().commit,
        "git_dirty": build_provenance().dirty,
        "device": device_label(config),
        "labels_scheme": config.data.labels,
        "init": if config.train.init_std > 0.0 { "gaussian" } else { "zero" },
    })
}

/// The engine that trains `config`: `train.engine` as set, except that `auto` becomes `fused`
/// where the fused engine applies ([`RunConfig::fused_applies`]: a linear model trained by GD
/// or full-batch Adam) on a CPU backend, and `burn` elsewhere (other models and optimisers,
/// and a GPU backend, whose device the host engine would leave idle).
pub fn resolve_engine(config: &RunConfig) -> EngineName {
    match config.train.engine {
        EngineName::Auto
            if config.fused_applies() && config.backend != logit_reg_model::Backend::Wgpu =>
        {
            EngineName::Fused
        }
        EngineName::Auto => EngineName::Burn,
        chosen => chosen,
    }
}

/// Whether `config`'s runs take the fused engine's dual form ([`FusedKernel::Dual`]: GD in the
/// span of the training rows): asked for, or chosen by `auto` for binary runs by GD without a
/// gradient tolerance on a synthetic draw whose width (d, or d + 1 for the base matrix of a
/// group) is at least [`logit_reg_train::fused::DUAL_MIN_RATIO`]·N (more from
/// [`logit_reg_train::fused::DUAL_MANY_RUNS`] runs on), as the engine chooses it for the
/// config's own runs.
pub fn takes_dual_form(config: &RunConfig) -> bool {
    if resolve_engine(config) != EngineName::Fused {
        return false;
    }
    let binary_gd = config.is_binary() && config.train.optimizer == OptimizerName::Gd;
    match config.train.fused_kernel {
        FusedKernel::Dual => true,
        // A real data set's width is known only once its file is read.
        FusedKernel::Auto if !config.is_real() => {
            let width = config.data.d + usize::from(config.train.group_by_draw);
            // The config's own runs: a group's engine decides on all of its members' runs,
            // which can only raise the ratio asked for (this answer is for cost estimates).
            let runs = config.runs().unwrap_or(1);
            let chosen = FusedKernel::Auto.with_dual_form(
                binary_gd,
                config.train.grad_tol,
                runs,
                config.data.n,
                width,
            );
            chosen == FusedKernel::Dual
        }
        _ => false,
    }
}

/// The hardware `config`'s backend runs on: "host CPU" for flex and ndarray, the adapter's
/// name for a GPU backend (e.g. "llvmpipe (LLVM 15.0.6, 256 bits)", Mesa's software Vulkan).
pub fn device_label(config: &RunConfig) -> String {
    if config.backend.is_cpu() {
        return "host CPU".into();
    }
    match make_device(config.backend, config.dtype) {
        Ok(device) => logit_reg_model::device_name(&device, config.backend),
        Err(e) => format!("unavailable ({e})"),
    }
}

/// The note for a run where a GPU backend was asked for but the host CPU computes: the fused
/// engine (chosen with `train.engine = "fused"`) or an exact solver. `None` otherwise.
pub fn host_engine_note(config: &RunConfig, engine: EngineName) -> Option<String> {
    if config.backend.is_cpu() {
        return None;
    }
    let backend = config.backend.name();
    if config.train.optimizer.is_exact() {
        let solver = config.train.optimizer.name();
        Some(format!(
            "note: --backend {backend} was asked for, but the exact solver ({solver}) runs on \
             the host CPU; the device only holds the data"
        ))
    } else if engine == EngineName::Fused {
        Some(format!(
            "note: --backend {backend} was asked for, but the fused host engine \
             (train.engine = \"fused\") trains on the host CPU; the device only holds the data \
             (train.engine = \"burn\" trains on it)"
        ))
    } else {
        None
    }
}

/// Prints [`host_engine_note`] on stderr, once per process.
fn note_host_engine(config: &RunConfig, engine: EngineName) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    if let Some(note) = host_engine_note(config, engine) {
        ONCE.call_once(|| eprintln!("{note}"));
    }
}

/// The engine's specification of `config`'s training.
pub fn train_spec(config: &RunConfig) -> Result<TrainSpec, ExperimentError> {
    Ok(TrainSpec {
        optimizer: config.train.optimizer,
        lr: config.lrs()?,
        steps: config.total_steps(),
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
        fused_kernel: config.train.fused_kernel,
    })
}

/// What `config` asks to measure.
pub fn measure_spec(config: &RunConfig) -> MeasureSpec {
    MeasureSpec {
        log_points: config.train.log_points,
        histogram_steps: config.train.histogram_steps.clone(),
        histogram_bins: config.train.histogram_bins,
        save_logits: config.train.save_logits,
    }
}

/// Everything the engine needs for one batch, built from a config: the one factory.
pub struct Built {
    /// The data on the device.
    pub problem: Problem,
    /// The objective of each run.
    pub objective: Objective,
    /// The model at its initial weights.
    pub model: BuiltModel,
    /// z* and the penalties of every run.
    pub context: MetricContext,
    /// The optimiser and schedule.
    pub spec: TrainSpec,
    /// What to measure.
    pub measure: MeasureSpec,
    /// The real data set's provenance for `summary.json` (`None` for synthetic data).
    pub data_provenance: Option<Value>,
}

/// The model a config asks for, at its initial weights.
#[derive(Debug)]
pub enum BuiltModel {
    /// The linear classifier.
    Linear(LinearClassifier),
    /// The multilayer perceptron.
    Mlp(Mlp),
    /// The small convolutional network.
    Cnn(ConvNet),
}

/// How many unit draws [`unit_draw`] keeps: a figure's batches that share a draw (the same d,
/// N, noise law, labels and data seed; different μ_f, σ_f, σ_n) come a few apart in the queue,
/// for example the three seeds of one d. At the paper's largest draw (d = 3000, 12,000 rows in
/// f64) the kept draws hold 1.2 GB.
pub const UNIT_DRAWS_KEPT: usize = 4;

/// Values kept by key for the next batches of the process, most recently used first: the
/// kept unit draws, problems and LDA directions. Lookups and insertions take the lock; the
/// value itself is made outside it, so two jobs may make the same one at once (the same
/// values), and the first one kept wins.
struct Kept<K, V>(std::sync::Mutex<Vec<(K, V)>>);

impl<K: PartialEq, V: Clone> Kept<K, V> {
    const fn new() -> Self {
        Self(std::sync::Mutex::new(Vec::new()))
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Vec<(K, V)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value kept for `key`, which becomes the most recently used.
    fn get(&self, key: &K) -> Option<V> {
        Self::promote(&mut self.entries(), key)
    }

    fn promote(entries: &mut Vec<(K, V)>, key: &K) -> Option<V> {
        let at = entries.iter().position(|(k, _)| k == key)?;
        let entry = entries.remove(at);
        let value = entry.1.clone();
        entries.insert(0, entry);
        Some(value)
    }

    /// Keeps `value` for `key` (or returns the value another job kept meanwhile), then the
    /// first `keep(entries)` entries only.
    fn insert(&self, key: K, value: V, keep: impl Fn(&[(K, V)]) -> usize) -> V {
        let mut entries = self.entries();
        if let Some(kept) = Self::promote(&mut entries, &key) {
            return kept;
        }
        entries.insert(0, (key, value.clone()));
        let keep = keep(&entries);
        entries.truncate(keep);
        value
    }
}

/// The unit draws: the unit model ([`SignalPlusNoise::unit`]) and the data seed, with its
/// train and test sets.
static UNIT_DRAWS: Kept<(SignalPlusNoise, u64), Arc<logit_reg_data::BinarySplit>> = Kept::new();

/// The draw of `model.unit()` from `seed`, kept for the next [`UNIT_DRAWS_KEPT`] distinct
/// draws, so that the batches of one draw draw it once (12,000 rows at d = 1400 are 17 million
/// normals; BENCHMARKS.md, "Kept draws, and jemalloc tried").
///
/// # Errors
/// The unit model's parameters out of range.
pub fn unit_draw(
    model: &SignalPlusNoise,
    seed: u64,
) -> Result<Arc<logit_reg_data::BinarySplit>, ExperimentError> {
    let key = (model.unit(), seed);
    if let Some(split) = UNIT_DRAWS.get(&key) {
        return Ok(split);
    }
    let split = Arc::new(key.0.generate(seed).map_err(ExperimentError::data)?);
    Ok(UNIT_DRAWS.insert(key, split, |entries| entries.len().min(UNIT_DRAWS_KEPT)))
}

/// `model`'s train and test sets of `seed`, rescaled from its unit draw ([`unit_draw`],
/// [`SignalPlusNoise::rescale`]): bit-identical to `model.generate(seed)`.
///
/// # Errors
/// `model`'s parameters out of range.
pub fn rescaled_draw(
    model: &SignalPlusNoise,
    seed: u64,
) -> Result<logit_reg_data::BinarySplit, ExperimentError> {
    model.validate().map_err(ExperimentError::data)?;
    let unit = unit_draw(model, seed)?;
    Ok(logit_reg_data::BinarySplit {
        train: model.rescale(&unit.train),
        test: model.rescale(&unit.test),
    })
}

/// How many signal-plus-noise problems [`signal_noise_problem`] keeps, at most.
pub const PROBLEMS_KEPT: usize = 8;

/// The most bytes of input data the kept problems hold together: six problems at the paper's
/// largest draw (d = 3000, 12,000 rows in f32).
pub const PROBLEMS_KEPT_BYTES: usize = 1 << 30;

/// What makes two signal-plus-noise problems the same: the model with its σ's, the data seed,
/// and the device's backend and precision.
type ProblemKey = (SignalPlusNoise, u64, Backend, Precision);

/// The problems last built by any job of this process.
static PROBLEMS: Kept<ProblemKey, Problem> = Kept::new();

/// How many empirical LDA directions [`signal_noise_problem`] keeps (at most 16 KB each: the
/// direction exists for d < N only), so that batches of one draw far apart in the queue, such
/// as a figure's gradient-descent groups and its exact solves, compute it once.
pub const LDA_DIRECTIONS_KEPT: usize = 4096;

/// The empirical LDA directions computed last.
static LDA_DIRECTIONS: Kept<ProblemKey, Option<Vec<f64>>> = Kept::new();

/// The empirical LDA direction of the problem `key` with the rescaled train set `train`, kept
/// in [`LDA_DIRECTIONS`] or computed on `device` ([`logit_reg_train::problem::empirical_lda`]).
fn kept_lda(
    key: &ProblemKey,
    train: &logit_reg_data::BinaryDataset,
    device: &burn::tensor::Device,
) -> Option<Vec<f64>> {
    if let Some(lda) = LDA_DIRECTIONS.get(key) {
        return lda;
    }
    let lda = logit_reg_train::problem::empirical_lda(train, device);
    LDA_DIRECTIONS.insert(*key, lda, |entries| entries.len().min(LDA_DIRECTIONS_KEPT))
}

/// The bytes of input data `problem` holds on its device (train and test inputs).
fn problem_bytes(problem: &Problem, precision: Precision) -> usize {
    let width = match precision {
        Precision::F32 => 4,
        _ => 8,
    };
    (problem.n + problem.n_test) * problem.d * width
}

/// The problem of `model` and the data `seed` on `device` (of `backend` and `precision`),
/// rescaled from the unit draw `unit` of the same seed (or [`unit_draw`]'s), and kept for the
/// next batches that ask for the same one ([`PROBLEMS_KEPT`], [`PROBLEMS_KEPT_BYTES`]): the
/// batches of a draw that differ only in α, the optimiser or the solver share the same data,
/// its f32 copies and its empirical LDA direction (BENCHMARKS.md, "Problems kept, and the test
/// set in one pass"); the LDA direction alone is kept longer ([`LDA_DIRECTIONS_KEPT`]).
/// The problem is the same value built again would be, bit for bit.
///
/// # Errors
/// `model`'s parameters out of range.
pub fn signal_noise_problem(
    model: &SignalPlusNoise,
    seed: u64,
    (backend, precision): (Backend, Precision),
    device: &burn::tensor::Device,
    unit: Option<&logit_reg_data::BinarySplit>,
) -> Result<Problem, ExperimentError> {
    model.validate().map_err(ExperimentError::data)?;
    let key: ProblemKey = (*model, seed, backend, precision);
    if let Some(problem) = PROBLEMS.get(&key) {
        return Ok(problem);
    }
    let lda = |train: &logit_reg_data::BinaryDataset, inner: &burn::tensor::Device| {
        kept_lda(&key, train, inner)
    };
    let problem = match unit {
        Some(unit) => Problem::binary_rescaled_with_lda(model, unit, device, lda),
        None => Problem::binary_rescaled_with_lda(model, &*unit_draw(model, seed)?, device, lda),
    };
    Ok(PROBLEMS.insert(key, problem, |entries| {
        let mut bytes = 0;
        entries
            .iter()
            .take(PROBLEMS_KEPT)
            .take_while(|(k, p)| {
                let first = bytes == 0;
                bytes += problem_bytes(p, k.3);
                first || bytes <= PROBLEMS_KEPT_BYTES
            })
            .count()
    }))
}

/// Builds the problem, objective, model, metric context and specs of `config`.
pub fn build(config: &RunConfig) -> Result<Built, ExperimentError> {
    build_with(config, None)
}

/// [`build`], with the unit draw `unit` of the config's signal-plus-noise data (the draw of
/// [`SignalPlusNoise::unit`] with the config's data seed) given instead of looked up.
fn build_with(
    config: &RunConfig,
    unit: Option<&logit_reg_data::BinarySplit>,
) -> Result<Built, ExperimentError> {
    config.validate()?;
    let device = make_device(config.backend, config.dtype).map_err(ExperimentError::model)?;
    let device = device.autodiff();
    let runs = config.runs()?;
    let alphas = config.alphas()?;
    let penalty = config.penalty();
    let binary_penalty = penalty.binary().map_err(ExperimentError::model)?;
    let multiclass_penalty = penalty.multiclass().map_err(ExperimentError::model)?;
    let mut data_provenance = None;
    let mut image = None;
    let (problem, objective) = match config.data.model {
        _ if config.is_real() => {
            let data = crate::real::load_real(config)?;
            data_provenance = Some(crate::real::provenance(config, &data)?);
            image = data.image;
            let problem = Problem::from_multiclass(&data.split.train, &data.split.test, &device);
            let loss =
                MultiClassLogitLoss::new(multiclass_penalty.clone(), alphas.clone(), &device)
                    .map_err(ExperimentError::model)?;
            (problem, Objective::MultiClass(Box::new(loss)))
        }
        DataModel::SignalNoise => {
            let model = config.signal_noise()?;
            let problem = signal_noise_problem(
                &model,
                config.data_seed(),
                (config.backend, config.dtype),
                &device,
                unit,
            )?;
            let loss = LogitRegularizedLoss::new(binary_penalty.clone(), alphas.clone(), &device)
                .map_err(ExperimentError::model)?;
            let objective = Objective::Binary {
                loss: Arc::new(loss),
                weight_decay: config.loss.weight_decay,
                sum_data_term: config.loss.weight_decay > 0.0
                    && config.loss.data_term == logit_reg_model::DataTerm::Sum,
            };
            (problem, objective)
        }
        DataModel::Multiclass => {
            let model = config.multiclass()?;
            let split = model
                .generate(config.data_seed())
                .map_err(ExperimentError::data)?;
            let problem = Problem::from_multiclass(&split.train, &split.test, &device);
            let loss =
                MultiClassLogitLoss::new(multiclass_penalty.clone(), alphas.clone(), &device)
                    .map_err(ExperimentError::model)?;
            (problem, Objective::MultiClass(Box::new(loss)))
        }
    };
    let model = match config.model.kind {
        ModelKind::Linear => BuiltModel::Linear(
            LinearClassifierConfig::new(problem.d)
                .with_runs(runs)
                .with_classes(problem.classes())
                .with_init_std(config.train.init_std)
                .with_init_seed(config.seed)
                .with_first_run(config.train.init_index)
                .init(&device)
                .map_err(ExperimentError::model)?,
        ),
        ModelKind::Mlp => BuiltModel::Mlp(
            MlpConfig::new(problem.d, config.model.hidden.clone(), problem.classes())
                .with_runs(runs)
                .with_activation(config.model.activation)
                .with_bias(config.model.bias)
                .with_init_seed(config.seed)
                .with_first_run(config.train.init_index)
                .init(&device)
                .map_err(ExperimentError::model)?,
        ),
        ModelKind::Cnn => {
            let image = image.ok_or_else(|| {
                ExperimentError::invalid(
                    "model.kind",
                    "cnn",
                    &format!(
                        "linear | mlp for data.source = {} here: its samples are flat vectors \
                         of {} features, not images (npy features [n, h, w] or [n, c, h, w], \
                         idx, cifar10 and digits are)",
                        config.data.source.name(),
                        problem.d
                    ),
                )
            })?;
            BuiltModel::Cnn(
                ConvNetConfig::new(image, config.model.channels.clone(), problem.classes())
                    .with_kernel_size(config.model.kernel_size)
                    .with_runs(runs)
                    .with_activation(config.model.activation)
                    .with_bias(config.model.bias)
                    .with_init_seed(config.seed)
                    .with_first_run(config.train.init_index)
                    .init(&device)
                    .map_err(ExperimentError::model)?,
            )
        }
    };
    let context = MetricContext::new(
        alphas,
        binary_penalty,
        multiclass_penalty,
        problem.classes(),
    )?;
    Ok(Built {
        problem,
        objective,
        model,
        context,
        spec: train_spec(config)?,
        measure: measure_spec(config),
        data_provenance,
    })
}

/// Trains the configured batch of runs and returns its metrics; writes nothing.
pub fn execute(config: &RunConfig, show_progress: bool) -> Result<RunResult, ExperimentError> {
    let Built {
        problem,
        objective,
        model,
        context,
        spec,
        measure,
        data_provenance,
    } = build(config)?;
    note_host_engine(config, spec.engine);
    let progress = |model| {
        let bar = crate::progress::bar(spec.steps, "steps", show_progress, None);
        let report = |step, accuracy: Option<f64>| match accuracy {
            None => bar.set_position(step),
            Some(a) => bar.set_message(format!("test acc {a:.3}")),
        };
        let measured = match model {
            BuiltModel::Linear(model) => train_and_measure(
                model, &problem, &objective, &spec, &measure, &context, report,
            ),
            BuiltModel::Mlp(model) => train_and_measure(
                model, &problem, &objective, &spec, &measure, &context, report,
            ),
            BuiltModel::Cnn(model) => train_and_measure(
                model, &problem, &objective, &spec, &measure, &context, report,
            ),
        };
        crate::progress::finish(&bar);
        measured
    };
    let measured =
        if let (true, BuiltModel::Linear(model)) = (config.train.optimizer.is_exact(), &model) {
            // The problem holds the data only on the device, in the run's precision; the solvers
            // need the exact f64 draw of the train set, so that is drawn again from the same seed
            // (identical bytes; the test set is not needed here).
            let train_set = config
                .signal_noise()?
                .generate_train(config.data_seed())
                .map_err(ExperimentError::data)?;
            solve_and_measure(
                model.clone(),
                &problem,
                &objective,
                &spec,
                &measure,
                &context,
                &train_set,
            )?
        } else {
            progress(model)?
        };
    let mut summary = run_summary(config, &measured);
    if let (Value::Object(map), Some(data)) = (&mut summary, data_provenance) {
        map.insert("data".into(), data);
    }
    Ok(RunResult {
        measured,
        summary,
        input_dim: problem.d,
    })
}

/// `summary.json` of `measured` with the config's backend, precision and device.
fn run_summary(config: &RunConfig, measured: &Measured) -> Value {
    let mut summary = summary_json(&measured.summary);
    if let Value::Object(map) = &mut summary {
        map.insert("backend".into(), json!(config.backend.name()));
        map.insert("dtype".into(), json!(config.dtype.name()));
        map.insert("device".into(), json!(device_label(config)));
    }
    summary
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
    "test_nll",
    "test_brier",
    "test_ece",
    "nc1",
    "head_lda_cos",
];

/// `summary.json`: the final metrics (top level: a number for M = 1, a list over runs for
/// M > 1), the outcome, and `per_run` with every run's metrics, α, η and divergence.
pub fn summary_json(summary: &Summary) -> Value {
    let m = summary.runs.len();
    let per_run: Vec<Value> = summary
        .runs
        .iter()
        .enumerate()
        .map(|(run, r)| {
            let mut map = serde_json::Map::new();
            let value = serde_json::to_value(r.last).unwrap_or(Value::Null);
            for key in SUMMARY_METRICS {
                // The test NLL is the test cross-entropy under the name calibration studies use;
                // the feature geometry is measured once, on the final model.
                let entry = match *key {
                    "test_nll" => value.get("test_ce").cloned(),
                    "nc1" => r.feature_geometry.map(|g| json!(g.nc1)),
                    "head_lda_cos" => r.feature_geometry.map(|g| json!(g.head_lda_cos)),
                    _ => value.get(key).cloned(),
                };
                map.insert(key.to_string(), entry.unwrap_or(Value::Null));
            }
            map.insert("run".into(), json!(run));
            map.insert("alpha".into(), json!(r.alpha));
            map.insert("lr".into(), json!(r.lr));
            map.insert("diverged".into(), json!(r.diverged.is_some()));
            map.insert("diverged_at_step".into(), json!(r.diverged.map(|d| d.0)));
            map.insert(
                "diverged_loss".into(),
                json!(r.diverged.map(|d| d.1.to_string())),
            );
            map.insert("lda_cos_e1".into(), json!(summary.lda_cos_e1));
            if let Some(means) = &r.class_logit_means {
                map.insert("class_logit_means".into(), json!(means));
            }
            if let Some(calibration) = &r.test_calibration {
                // Empty bins have no accuracy or confidence: null, not NaN.
                let bins: Vec<Value> = calibration
                    .bins
                    .iter()
                    .map(|b| {
                        json!({
                            "lo": b.lo,
                            "hi": b.hi,
                            "count": b.count,
                            "accuracy": b.accuracy.is_finite().then_some(b.accuracy),
                            "confidence": b.confidence.is_finite().then_some(b.confidence),
                        })
                    })
                    .collect();
                map.insert("test_reliability".into(), Value::Array(bins));
            }
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
    top.insert("lda_cos_e1".into(), json!(summary.lda_cos_e1));
    top.insert("steps".into(), json!(summary.steps));
    top.insert("wall_seconds".into(), json!(summary.wall_seconds));
    top.insert("metric_seconds".into(), json!(summary.metric_seconds));
    top.insert("diverged".into(), json!(summary.any_diverged()));
    top.insert("converged".into(), json!(summary.converged));
    top.insert("gradient_norms".into(), json!(summary.gradient_norms));
    top.insert("solver".into(), json!(summary.optimizer));
    top.insert("engine".into(), json!(summary.engine.name()));
    if let Some(kernel) = summary.fused_kernel {
        top.insert("fused_kernel".into(), json!(kernel.name()));
    }
    top.insert("runs".into(), json!(m));
    top.insert("per_run".into(), Value::Array(per_run));
    if let Some(exact) = &summary.exact {
        let certificates: Vec<f64> = exact.runs.iter().map(ExactDetails::certificate).collect();
        let details: Vec<Value> = exact.runs.iter().map(exact_details_json).collect();
        if summary.optimizer == OptimizerName::Newton {
            top.insert("gradient_norms".into(), json!(certificates));
            top.insert("newton".into(), json!(details));
        } else {
            top.insert("kkt_violations".into(), json!(certificates));
            top.insert("max_margin".into(), json!(details));
        }
        top.insert("tolerance".into(), json!(exact.tolerance));
    }
    Value::Object(top)
}

/// One exact solve's details in `summary.json`.
fn exact_details_json(details: &ExactDetails) -> Value {
    match details {
        ExactDetails::Newton(out) => json!({
            "iterations": out.iterations,
            "matrix_products": out.products,
            "start": if out.interpolating_start { "interpolating" } else { "zero" },
            "history": out.history,
        }),
        ExactDetails::MaxMargin(out) => json!({
            "epochs": out.epochs,
            "min_margin": out.min_margin,
            "support_vectors": out.support_vectors,
            "history": out.history,
        }),
    }
}

/// Writes a finished run's files to `out`: `config.json` (the given JSON), `metrics.csv`,
/// `timing.csv`, `histograms.csv` and `logits.csv` when measured, `weights.npy` and `bias.npy`
/// for linear models, `summary.json`, and last the completion marker `done.json`. For a run
/// trained outside [`execute`] (a custom model; see `examples/custom_model.rs`), with the same
/// files as `experiments run`.
pub fn write_results(
    out: &Path,
    config: &Value,
    result: &RunResult,
) -> Result<(), ExperimentError> {
    std::fs::create_dir_all(out).map_err(|e| ExperimentError::io(out, e))?;
    write_json(&out.join("config.json"), config)?;
    let measured = &result.measured;
    write_atomic(
        &out.join("metrics.csv"),
        metrics_csv(&measured.metrics)?.as_bytes(),
    )?;
    write_atomic(
        &out.join("timing.csv"),
        timing_csv(&measured.metrics)?.as_bytes(),
    )?;
    if !measured.histograms.is_empty() {
        write_atomic(
            &out.join("histograms.csv"),
            histograms_csv(&measured.histograms)?.as_bytes(),
        )?;
    }
    if let Some(saved) = &measured.final_logits {
        write_atomic(&out.join("logits.csv"), logits_csv(saved)?.as_bytes())?;
    }
    if let Some(weights) = &measured.final_weights {
        // Row-major [d, M·C]: column m·C + c is logit c of run m.
        let d = result.input_dim;
        write_atomic(
            &out.join("weights.npy"),
            &weights_npy(weights, [d, weights.len() / d.max(1)]),
        )?;
    }
    if let Some(bias) = &measured.final_bias {
        // [1, M·C], the columns of weights.npy: the logits are x·W + b.
        write_atomic(&out.join("bias.npy"), &weights_npy(bias, [1, bias.len()]))?;
    }
    write_json(&out.join("summary.json"), &result.summary)?;
    crate::store::write_marker(out, measured.summary.runs.len())
}

/// Runs `config` and writes `config.json`, `metrics.csv`, `timing.csv`, `histograms.csv` (when
/// histogram steps are asked for), `logits.csv` (when asked for), `weights.npy` (linear runs),
/// `bias.npy` (multi-class linear runs)
/// and `summary.json` to `out`. A diverged run still writes its files (the summary says
/// `"diverged": true`) and then returns [`ExperimentError::Diverged`].
pub fn run_to_dir(
    config: &RunConfig,
    out: &Path,
    show_progress: bool,
) -> Result<RunResult, ExperimentError> {
    config.validate()?;
    std::fs::create_dir_all(out).map_err(|e| ExperimentError::io(out, e))?;
    clear_results(out)?;
    tracing::debug!(out = %out.display(), runs = config.runs()?, "training");
    // Nothing is written until the data are read and trained on: a bad data file or a failed
    // build leaves no config.json that looks like the start of a result.
    let result = execute(config, show_progress)?;
    finish_in_dir(config, out, result)
}

/// Writes `result` (of `config`) into `out`; a run that diverged is an error after its files
/// are written.
fn finish_in_dir(
    config: &RunConfig,
    out: &Path,
    result: RunResult,
) -> Result<RunResult, ExperimentError> {
    write_results(out, &resolved_config(config), &result)?;
    let measured = &result.measured;
    tracing::debug!(
        wall_seconds = measured.summary.wall_seconds,
        metric_seconds = measured.summary.metric_seconds,
        "finished"
    );
    let lrs = config.lrs()?;
    if let Some((run, (step, loss))) = measured
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

/// The key that the batches trained together ([`execute_group`]) share: the config with the
/// values a group may differ in set aside (μ_f and σ_f; σ_n too under shared noise draws, whose
/// data seed does not depend on it; α and η, which are per run anyway; the start,
/// `train.init_std` and `train.init_index`, which each batch draws for its own runs). `None`
/// for a config that trains alone: `train.group_by_draw` unset, or an exact solver.
pub fn group_key(config: &RunConfig) -> Option<String> {
    if !config.train.group_by_draw || config.train.optimizer.is_exact() {
        return None;
    }
    let mut key = config.clone();
    key.data.mu_f = 0.0;
    key.data.sigma_f = 0.0;
    if key.data.noise_draws == crate::config::NoiseDraws::Shared {
        key.data.sigma_n = 0.0;
    }
    key.loss.alpha = crate::config::PerRun::One(0.0);
    key.train.lr = crate::config::PerRun::One(0.0);
    key.train.init_std = 0.0;
    key.train.init_index = 0;
    serde_json::to_string(&key).ok()
}

/// Trains the batches `configs` together (they share a [`group_key`]) and measures each on its
/// own data, as [`execute`] would have: one draw at μ_f = 0, σ_f = σ_n = 1 gives the base
/// matrix `[y, ξ_f, ξ_⊥]`, each batch's inputs are the column map (μ_f, σ_f, σ_n) of it
/// ([`logit_reg_train::fused::ColumnMap`]), and every step reads it once for all the runs.
/// Each batch's own train and test sets are that draw rescaled
/// ([`logit_reg_data::SignalPlusNoise::rescale`], bit-identical to drawing them afresh).
///
/// # Errors
/// A config that does not validate, or batches that do not share a key.
pub fn execute_group(
    configs: &[&RunConfig],
    show_progress: bool,
) -> Result<Vec<RunResult>, ExperimentError> {
    use logit_reg_train::fused::{ColumnMap, FusedOptimizer};
    use logit_reg_train::group::{GroupMember, GroupSpec, train_group};
    let first = *configs
        .first()
        .ok_or_else(|| ExperimentError::invalid("train.group_by_draw", "true", "a batch"))?;
    let key = group_key(first);
    for config in configs {
        config.validate()?;
        if key.is_none() || group_key(config) != key {
            return Err(ExperimentError::invalid(
                "train.group_by_draw",
                "true",
                "batches that differ only in data.mu_f, data.sigma_f, data.sigma_n (shared \
                 noise draws), loss.alpha, train.lr, train.init_std and train.init_index",
            ));
        }
    }
    let unit = unit_draw(&first.signal_noise()?, first.data_seed())?;
    let draw = &unit.train;
    let (n, d) = (draw.n, draw.d);
    let mut base = Vec::with_capacity(n * (d + 1));
    for (row, label) in draw.x.chunks_exact(d).zip(&draw.y) {
        base.push(*label);
        base.extend_from_slice(row);
    }
    let device = make_device(first.backend, first.dtype)
        .map_err(ExperimentError::model)?
        .autodiff();
    let mut members = Vec::with_capacity(configs.len());
    for config in configs {
        let model = LinearClassifierConfig::new(d)
            .with_runs(config.runs()?)
            .with_init_std(config.train.init_std)
            .with_init_seed(config.seed)
            .with_first_run(config.train.init_index)
            .init(&device)
            .map_err(ExperimentError::model)?;
        members.push(GroupMember {
            weights: model.weights_f64(),
            alpha: config.alphas()?,
            lr: config.lrs()?,
            map: ColumnMap {
                first: config.data.mu_f,
                second: config.data.sigma_f,
                rest: config.data.sigma_n,
            },
        });
    }
    let t = &first.train;
    let optimizer = match t.optimizer {
        logit_reg_train::OptimizerName::Adam => FusedOptimizer::Adam {
            beta1: t.adam_beta1,
            beta2: t.adam_beta2,
            epsilon: t.adam_eps,
        },
        _ => FusedOptimizer::Gd,
    };
    let spec = train_spec(first)?;
    let measure = measure_spec(first);
    let weight_decay = first.loss.weight_decay;
    let group = GroupSpec {
        penalty: first.penalty().binary().map_err(ExperimentError::model)?,
        optimizer,
        weight_decay,
        sum_data_term: weight_decay > 0.0 && first.loss.data_term == logit_reg_model::DataTerm::Sum,
        threads: t.threads,
        kernel: t.fused_kernel,
        steps: spec.steps,
        record_steps: logit_reg_train::recorded_steps(&spec, &measure),
        f64: first.dtype == logit_reg_model::Precision::F64,
    };
    let bar = crate::progress::bar(spec.steps, "steps", show_progress, None);
    let recordings = train_group(&base, &draw.y, d, &members, &group, |step| {
        bar.set_position(step)
    });
    crate::progress::finish(&bar);
    drop(base);
    let mut results = Vec::with_capacity(configs.len());
    for (config, recording) in configs.iter().zip(&recordings) {
        let Built {
            problem,
            model,
            context,
            spec,
            measure,
            ..
        } = build_with(config, Some(&unit))?;
        let BuiltModel::Linear(model) = model else {
            return Err(ExperimentError::invalid(
                "model.kind",
                config.model.kind.name(),
                "linear with train.group_by_draw = true",
            ));
        };
        let measured = logit_reg_train::replay_and_measure(
            model,
            &problem,
            &spec,
            &measure,
            &context,
            recording,
            |_, _| {},
        )?;
        let mut summary = run_summary(config, &measured);
        if let Value::Object(map) = &mut summary {
            map.insert(
                "group".into(),
                json!({"batches": recording.group.0, "runs": recording.group.1}),
            );
        }
        results.push(RunResult {
            measured,
            summary,
            input_dim: problem.d,
        });
    }
    Ok(results)
}

/// [`execute_group`] of `configs`, the files of each batch with a directory in `outs` written
/// there (as [`run_to_dir`] writes them; `None`: trained with the group, not written). One
/// result per written batch: a batch with a diverged run gives [`ExperimentError::Diverged`]
/// after its files are written, as alone.
pub fn run_group_to_dirs(
    configs: &[&RunConfig],
    outs: &[Option<&Path>],
) -> Result<Vec<Result<RunResult, ExperimentError>>, ExperimentError> {
    for out in outs.iter().flatten() {
        std::fs::create_dir_all(out).map_err(|e| ExperimentError::io(out, e))?;
        clear_results(out)?;
    }
    let results = execute_group(configs, false)?;
    Ok(configs
        .iter()
        .zip(outs)
        .zip(results)
        .filter_map(|((config, out), result)| out.map(|out| finish_in_dir(config, out, result)))
        .collect())
}

/// The text of `logits.csv`: one row per (split, sample, run, class) with the sample's label
/// (±1 binary, the class index for K classes) and its final logit.
fn logits_csv(saved: &SavedLogits) -> Result<String, ExperimentError> {
    let (m, k) = (saved.runs, saved.classes);
    let mut rows = Vec::new();
    for (name, logits, labels) in [
        ("train", &saved.train, &saved.train_labels),
        ("test", &saved.test, &saved.test_labels),
    ] {
        for (i, label) in labels.iter().enumerate() {
            for run in 0..m {
                for class in 0..k {
                    rows.push(vec![
                        name.to_string(),
                        i.to_string(),
                        label.to_string(),
                        run.to_string(),
                        class.to_string(),
                        logits[(i * m + run) * k + class].to_string(),
                    ]);
                }
            }
        }
    }
    crate::output::csv_text(
        &["split", "sample", "label", "run", "class", "logit"],
        &rows,
    )
}
