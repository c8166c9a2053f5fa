//! The run configuration: a TOML file plus `--set key=value` overrides, validated into typed
//! errors that name the key.
//!
//! Every field has a default (the paper's standard run, figure 1 with α = 0.2), so an empty file
//! is a valid config. [`FIELDS`] documents each dotted key; `experiments run --help` prints it.

use std::path::Path;

use logit_reg_data::real::SplitMode;
use logit_reg_data::{
    DATA_FORMAT, LabelScheme, MultiClassSignalNoise, Noise, SignalPlusNoise, TScale,
};
use logit_reg_model::{Activation, Backend, DataTerm, PenaltyKind, Precision};
use logit_reg_train::fused::FusedKernel;
pub use logit_reg_train::{EngineName, OptimizerName};
use serde::{Deserialize, Serialize};

use crate::ExperimentError;

/// One value or one value per run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PerRun {
    /// The same value for every run.
    One(f64),
    /// One value per run.
    Many(Vec<f64>),
}

impl PerRun {
    /// The values, broadcast to `m` runs.
    pub fn values(&self, m: usize) -> Vec<f64> {
        match self {
            PerRun::One(v) => vec![*v; m],
            PerRun::Many(v) if v.len() == 1 => vec![v[0]; m],
            PerRun::Many(v) => v.clone(),
        }
    }

    /// The number of values given (1 for a scalar).
    pub fn len(&self) -> usize {
        match self {
            PerRun::One(_) => 1,
            PerRun::Many(v) => v.len(),
        }
    }

    /// Whether no value is given (an empty list).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Which data model generates the samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataModel {
    /// The binary signal-plus-noise model.
    SignalNoise,
    /// The K-class signal-plus-noise model.
    Multiclass,
}

/// Where the samples come from (`data.source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataSource {
    /// Drawn from the data model `data.model` (the paper's synthetic data).
    Synthetic,
    /// The UCI handwritten digits shipped with the project (1,797 × 64, 10 classes).
    Digits,
    /// `.npy` features (`data.path`) and labels (`data.labels_path`).
    Npy,
    /// A CSV table (`data.path`) with a label column (`data.label_column`).
    Csv,
    /// IDX images (`data.path`) and labels (`data.labels_path`), as MNIST ships them.
    Idx,
    /// CIFAR-10 binary batches: one `.bin` file or a directory of them (`data.path`).
    Cifar10,
}

impl DataSource {
    /// The name as written in configs.
    pub fn name(self) -> &'static str {
        match self {
            DataSource::Synthetic => "synthetic",
            DataSource::Digits => "digits",
            DataSource::Npy => "npy",
            DataSource::Csv => "csv",
            DataSource::Idx => "idx",
            DataSource::Cifar10 => "cifar10",
        }
    }
}

/// How a real source's inputs are embedded (`data.embed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EmbedKind {
    /// The inputs as read.
    None,
    /// The penultimate features of an MLP trained on `data.embed_n` set-aside samples.
    Mlp,
}

/// How the synthetic data's draws relate across σ_n (`data.noise_draws`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum NoiseDraws {
    /// One draw per seed whatever σ_n: a σ_n sweep rescales the same noise, so anything that
    /// is exactly invariant to σ_n (the regularised minimiser's accuracy) measures as exactly
    /// constant.
    #[default]
    Shared,
    /// Fresh draws for every σ_n: the train and test streams are keyed by
    /// `splitmix64(seed ⊕ bits(σ_n))`, so a σ_n sweep sees independent samples, and the same
    /// (seed, σ_n) always the same ones.
    PerSigmaN,
}

/// SplitMix64's output function: a bijection of `u64` that spreads nearby inputs apart.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The noise law's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoiseName {
    /// Standard Gaussian components.
    Gaussian,
    /// Student-t components with `data.nu` degrees of freedom.
    StudentT,
}

/// `[data]`: the data model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Where the samples come from: `synthetic` (the data model) or a real data set.
    pub source: DataSource,
    /// The data file (features, table, images, or CIFAR-10 batches) of a real source.
    pub path: String,
    /// The labels file of the `npy` and `idx` sources.
    pub labels_path: String,
    /// Training samples of a real source; the rest are the test set.
    pub n_train: usize,
    /// How a real source's training samples spread over the classes.
    pub split: SplitMode,
    /// Standardise a real source's features with the training statistics.
    pub standardise: bool,
    /// The label column of a CSV table (negative: from the end).
    pub label_column: i64,
    /// Whether a CSV table's first row is a header.
    pub header: bool,
    /// Number of classes of a real source (0: one more than the largest label).
    pub classes: usize,
    /// `none`, or `mlp`: replace a real source's inputs by the penultimate features of an MLP
    /// trained (without regularisation) on `embed_n` samples set aside for it.
    pub embed: EmbedKind,
    /// Samples set aside to train the embedding MLP (stratified, from `seed`).
    pub embed_n: usize,
    /// Hidden widths of the embedding MLP.
    pub embed_hidden: Vec<usize>,
    /// Salt-and-pepper probability applied to a real source's inputs (after the embedder is
    /// trained, before embedding).
    pub corrupt: f64,
    /// γ of the orthogonal scaling `x ← (I − P⊥)x + γ P⊥ x` (1: none).
    pub orthogonal_scale: f64,
    /// `signal-noise` or `multiclass`.
    pub model: DataModel,
    /// Input dimension d.
    pub d: usize,
    /// Training samples N.
    pub n: usize,
    /// Test samples.
    pub n_test: usize,
    /// Signal strength μ_f.
    pub mu_f: f64,
    /// Feature noise σ_f.
    pub sigma_f: f64,
    /// Orthogonal noise σ_n.
    pub sigma_n: f64,
    /// Whether a σ_n sweep rescales one draw or draws afresh for every σ_n.
    pub noise_draws: NoiseDraws,
    /// Noise law.
    pub noise: NoiseName,
    /// Student-t degrees of freedom.
    pub nu: f64,
    /// Student-t scaling.
    pub t_scale: TScale,
    /// Label scheme.
    pub labels: LabelScheme,
    /// Number of classes (multiclass only).
    pub k: usize,
    /// The version of the synthetic draws ([`DATA_FORMAT`]; a build makes only its own), so
    /// that a stored run drawn by another version is never taken for one of this build.
    pub format: u32,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            source: DataSource::Synthetic,
            path: String::new(),
            labels_path: String::new(),
            n_train: 1000,
            split: SplitMode::Stratified,
            standardise: true,
            label_column: -1,
            header: false,
            classes: 0,
            embed: EmbedKind::None,
            embed_n: 797,
            embed_hidden: vec![64],
            corrupt: 0.0,
            orthogonal_scale: 1.0,
            model: DataModel::SignalNoise,
            d: 1400,
            n: 2000,
            n_test: 10_000,
            mu_f: 1.0,
            sigma_f: 0.5,
            sigma_n: 1.0,
            noise_draws: NoiseDraws::Shared,
            noise: NoiseName::Gaussian,
            nu: 3.0,
            t_scale: TScale::UnitVariance,
            labels: LabelScheme::Balanced,
            k: 10,
            format: DATA_FORMAT,
        }
    }
}

/// The penalty's name (`loss.penalty`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PenaltyName {
    /// Plain cross-entropy.
    None,
    /// f(t) = t².
    Quadratic,
    /// Label smoothing (α = 2ε binary, α = ε multi-class).
    LabelSmoothing,
    /// Pseudo-Huber with `loss.delta`.
    PseudoHuber,
    /// |t|^p with `loss.p`.
    Power,
}

/// `[loss]`: the objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LossConfig {
    /// The penalty f.
    pub penalty: PenaltyName,
    /// α, one value or one per run.
    pub alpha: PerRun,
    /// Pseudo-Huber δ.
    pub delta: f64,
    /// Power p.
    pub p: f64,
    /// Weight decay γ (the baseline: adds γ/2‖S‖²).
    pub weight_decay: f64,
    /// Weight decay's data term: mean or sum.
    pub data_term: DataTerm,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self {
            penalty: PenaltyName::Quadratic,
            alpha: PerRun::One(0.2),
            delta: 1.0,
            p: 4.0,
            weight_decay: 0.0,
            data_term: DataTerm::Mean,
        }
    }
}

/// `[train]`: the optimisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// gd, adam or sgd.
    pub optimizer: OptimizerName,
    /// Which implementation steps GD: auto (default), burn or fused.
    pub engine: EngineName,
    /// Threads of the fused engine (0: the available cores, at most 8); results do not depend
    /// on it.
    pub threads: usize,
    /// The fused engine's kernel: auto (default; the dual form for binary GD from d ≥ 0.7 N,
    /// else blocked from 8 runs on and for K classes), pipelined (binary only), blocked or dual.
    /// Left out of `config.json` when it is `auto`, so that a sweep stored before this key
    /// existed still resumes.
    #[serde(skip_serializing_if = "FusedKernel::is_auto")]
    pub fused_kernel: FusedKernel,
    /// Train the batches of a sweep that share one data draw together, one pass over the draw
    /// per step for all their runs: batches that differ only in `data.sigma_f`, and in
    /// `data.sigma_n` too under `data.noise_draws = "shared"` (see
    /// [`logit_reg_train::group`]). Binary linear runs by gd or full-batch adam; each batch is
    /// still measured on its own data and written to its own directory. Left out of
    /// `config.json` when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub group_by_draw: bool,
    /// Learning rate, one value or one per run.
    pub lr: PerRun,
    /// Maximum number of steps (replaced by `epochs` when that is > 0).
    pub steps: u64,
    /// Passes over the training set (0: use `steps`).
    pub epochs: u64,
    /// Mini-batch size (0: the full batch; sgd needs >= 1).
    pub batch_size: usize,
    /// Stop when every run's gradient norm is below this (0: never).
    pub grad_tol: f64,
    /// Std of the Gaussian initial weights (0: zero initialisation).
    pub init_std: f64,
    /// Global index of the first run's initialisation stream (run m uses `init_index + m`).
    pub init_index: u64,
    /// Adam β₁.
    pub adam_beta1: f64,
    /// Adam β₂.
    pub adam_beta2: f64,
    /// Adam ε.
    pub adam_eps: f64,
    /// Number of log-spaced logging steps (first and last always included).
    pub log_points: usize,
    /// Steps at which logit histograms are written.
    pub histogram_steps: Vec<u64>,
    /// Histogram bins.
    pub histogram_bins: usize,
    /// Write every sample's final logits to `logits.csv`.
    pub save_logits: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            optimizer: OptimizerName::Gd,
            engine: EngineName::Auto,
            threads: 0,
            fused_kernel: FusedKernel::Auto,
            group_by_draw: false,
            lr: PerRun::One(0.1),
            steps: 20_000,
            epochs: 0,
            batch_size: 0,
            grad_tol: 0.0,
            init_std: 0.0,
            init_index: 0,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_eps: 1e-8,
            log_points: 200,
            histogram_steps: Vec::new(),
            histogram_bins: 60,
            save_logits: false,
        }
    }
}

/// Which model maps the inputs to the logits (`model.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// The linear classifier (the paper's model; binary without bias, multi-class with).
    Linear,
    /// A multilayer perceptron with `model.hidden` widths.
    Mlp,
    /// A small convolutional network with `model.channels` (image inputs only).
    Cnn,
}

impl ModelKind {
    /// The name in configs.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Linear => "linear",
            ModelKind::Mlp => "mlp",
            ModelKind::Cnn => "cnn",
        }
    }
}

/// `[model]`: the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSection {
    /// linear, mlp or cnn.
    pub kind: ModelKind,
    /// Hidden widths of the MLP.
    pub hidden: Vec<usize>,
    /// Output channels of the CNN's convolutions.
    pub channels: Vec<usize>,
    /// Side of the CNN's square kernels (odd).
    pub kernel_size: usize,
    /// The nonlinearity of the MLP and the CNN.
    pub activation: Activation,
    /// Whether the MLP's hidden layers (the CNN's convolutions) have biases.
    pub bias: bool,
}

impl Default for ModelSection {
    fn default() -> Self {
        Self {
            kind: ModelKind::Linear,
            hidden: vec![128, 128],
            channels: vec![16, 32],
            kernel_size: 3,
            activation: Activation::Relu,
            bias: true,
        }
    }
}

/// The full run configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Master seed of data and initial weights.
    pub seed: u64,
    /// Compute backend.
    pub backend: Backend,
    /// Float precision.
    pub dtype: Precision,
    /// The data model.
    pub data: DataConfig,
    /// The model.
    pub model: ModelSection,
    /// The loss.
    pub loss: LossConfig,
    /// The optimisation.
    pub train: TrainConfig,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            backend: Backend::Flex,
            dtype: Precision::F32,
            data: DataConfig::default(),
            model: ModelSection::default(),
            loss: LossConfig::default(),
            train: TrainConfig::default(),
        }
    }
}

/// Every dotted key with its meaning (the defaults come from [`RunConfig::default`]).
pub const FIELDS: &[(&str, &str)] = &[
    (
        "seed",
        "master seed: data (train and test streams) and initial weights",
    ),
    (
        "backend",
        "flex | ndarray | wgpu (those compiled in); also --backend",
    ),
    ("dtype", "f32 | f64; also --dtype"),
    (
        "data.source",
        "synthetic (data.model draws it) | digits (shipped UCI digits, 1797 x 64, 10 classes) | npy | csv | idx | cifar10 (files; always multi-class)",
    ),
    (
        "data.path",
        "the data file of a real source: npy features [n, d] or [n, (c,) h, w]; csv table; idx images; cifar10 .bin file or directory (.gz read too)",
    ),
    (
        "data.labels_path",
        "the labels file of npy ([n] integers) and idx sources",
    ),
    (
        "data.n_train",
        "training samples of a real source, 1..n-1; the other samples are the test set",
    ),
    (
        "data.split",
        "stratified (train classes in proportion) | balanced (equal per class); seeded by `seed`",
    ),
    (
        "data.standardise",
        "true: centre and scale each feature of a real source by the training mean and std",
    ),
    (
        "data.label_column",
        "csv label column: 0 = first, -1 = last (negative counts from the end)",
    ),
    ("data.header", "csv: true when the first row is a header"),
    (
        "data.classes",
        "classes of a real source: 0 = one more than the largest label; else labels must be below it",
    ),
    (
        "data.embed",
        "real source: none | mlp (the inputs become the penultimate features of an MLP trained without regularisation on data.embed_n set-aside samples: Adam 0.003, batches of 50, 60 epochs, relu)",
    ),
    (
        "data.embed_n",
        "samples set aside (stratified, from seed) to train the embedding MLP; the others are split into train and test",
    ),
    ("data.embed_hidden", "hidden widths of the embedding MLP"),
    (
        "data.corrupt",
        "real source: salt-and-pepper probability in [0, 1] on the inputs (after the embedder is trained, before embedding): the analogue of CIFAR-10-C impulse noise",
    ),
    (
        "data.orthogonal_scale",
        "real source: γ > 0 of x <- (I - P⊥)x + γ P⊥x, P⊥ the projector off the span of the training class means (paper Eq. 36); 1 = none",
    ),
    (
        "data.model",
        "synthetic source: signal-noise (binary) | multiclass",
    ),
    ("data.d", "synthetic: input dimension d >= 1"),
    (
        "data.n",
        "synthetic: training samples N >= 1 (aspect ratio λ = d/N)",
    ),
    (
        "data.n_test",
        "synthetic: fresh test samples >= 1 (10000 gives an accuracy s.e. <= 0.005)",
    ),
    (
        "data.mu_f",
        "signal strength μ_f >= 0 along e1 (multiclass: simplex radius)",
    ),
    ("data.sigma_f", "feature noise σ_f >= 0 along the signal"),
    ("data.sigma_n", "orthogonal noise σ_n >= 0"),
    (
        "data.noise_draws",
        "shared (a σ_n sweep rescales one draw per seed) | per-sigma-n (fresh train and test \
         draws for every σ_n, keyed by seed and σ_n)",
    ),
    (
        "data.format",
        "version of the synthetic draws: 2 (one stream per row, drawn in parallel; version 1, \
         one stream per set, is not made by this build)",
    ),
    ("data.noise", "gaussian | student-t (every noise component)"),
    (
        "data.nu",
        "Student-t degrees of freedom (> 2 for unit-variance)",
    ),
    (
        "data.t_scale",
        "unit-variance | unit-scale (Student-t components)",
    ),
    (
        "data.labels",
        "balanced (exact split) | iid (fair ±1 draws)",
    ),
    ("data.k", "number of classes K >= 2 (multiclass only)"),
    (
        "model.kind",
        "linear (the paper's classifier) | mlp (a multilayer perceptron) | cnn (a small \
         convolutional network, image inputs only); M runs side by side",
    ),
    (
        "model.hidden",
        "mlp: hidden widths, a non-empty list of widths >= 1",
    ),
    (
        "model.channels",
        "cnn: output channels of each 'conv, activation, 2x2 max pool' block, a non-empty list >= 1",
    ),
    (
        "model.kernel_size",
        "cnn: side of the square kernels, odd >= 1",
    ),
    ("model.activation", "mlp, cnn: relu | gelu | tanh"),
    (
        "model.bias",
        "mlp, cnn: true gives the hidden layers (convolutions) biases; the output layer always has one",
    ),
    (
        "loss.penalty",
        "none | quadratic | label-smoothing | pseudo-huber | power",
    ),
    (
        "loss.alpha",
        "α in [0, 1): one value or a list, one per run (M = list length)",
    ),
    ("loss.delta", "pseudo-huber δ > 0"),
    ("loss.p", "power p > 1"),
    (
        "loss.weight_decay",
        "γ >= 0: adds γ/2·‖S‖² (the weight-decay baseline; binary only)",
    ),
    (
        "loss.data_term",
        "mean | sum: the weight-decay baseline's data term",
    ),
    (
        "train.optimizer",
        "gd (full batch) | adam (full batch) | sgd (mini-batch) | newton (exact minimiser, binary, α > 0) | max-margin (GD's limit direction, binary, α = 0)",
    ),
    (
        "train.engine",
        "auto (fused where it applies, else burn) | burn (Burn autodiff, the reference) | fused (host engine, X read once per step: linear model, gd or full-batch adam, CPU)",
    ),
    (
        "train.threads",
        "threads of the fused engine and the exact solvers, 0 = the available cores (at most 8); results do not depend on it",
    ),
    (
        "train.fused_kernel",
        "auto (dual for binary gd runs with d >= 0.7 N and train.grad_tol = 0; else blocked from 8 runs on and for multi-class runs, else pipelined) | pipelined (matrix-vector, binary only, fastest for a few runs) | blocked (GEMM per block of 16-128 rows) | dual (GD in the span of the training rows, one product with the upper triangle of the N×N Gram matrix a step; binary gd only); all agree to rounding",
    ),
    (
        "train.group_by_draw",
        "false | true: in a sweep or across a figure's parts, train together the batches that share one data draw (differing only in data.sigma_f, in data.sigma_n with shared noise draws, and in their start, train.init_std and train.init_index), one pass over the draw per step for all their runs; binary linear runs, gd or full-batch adam, train.grad_tol = 0; they agree to rounding with batches trained alone",
    ),
    (
        "train.lr",
        "learning rate > 0: one value or a list, one per run (gd/sgd)",
    ),
    (
        "train.steps",
        "maximum number of steps >= 1 (ignored when train.epochs > 0)",
    ),
    (
        "train.epochs",
        "passes over the training set, 0 = use train.steps; else steps = epochs x floor(N / batch size) (gd: one step per epoch)",
    ),
    (
        "train.batch_size",
        "mini-batch size, 0 = full batch (gd, adam); sgd needs 1..=N; adam with 1..=N takes mini-batches; each epoch a fresh permutation, the last N mod B samples skipped",
    ),
    (
        "train.grad_tol",
        "stop when every run's gradient norm <= this (0: never)",
    ),
    (
        "train.init_std",
        "std of Gaussian initial weights (0: zero init)",
    ),
    (
        "train.init_index",
        "init stream of the first run; run m uses init_index + m",
    ),
    ("train.adam_beta1", "Adam β1 in [0, 1)"),
    ("train.adam_beta2", "Adam β2 in [0, 1)"),
    ("train.adam_eps", "Adam ε > 0 (Burn stores β and ε as f32)"),
    (
        "train.log_points",
        "number of log-spaced logging steps >= 2 (first and last included)",
    ),
    (
        "train.histogram_steps",
        "steps at which histograms.csv records the logits (list)",
    ),
    ("train.histogram_bins", "bins per histogram >= 1"),
    (
        "train.save_logits",
        "true: write every sample's final logits to logits.csv",
    ),
];

/// Sets the dotted `key` (e.g. `data.sigma_n`) in a TOML table, creating sub-tables.
pub fn set_dotted(
    table: &mut toml::Table,
    key: &str,
    value: toml::Value,
) -> Result<(), ExperimentError> {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().unwrap_or_default();
    let mut current = table;
    for part in parts {
        let entry = current
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(Default::default()));
        current = match entry {
            toml::Value::Table(t) => t,
            _ => {
                return Err(ExperimentError::Config {
                    key: key.to_string(),
                    message: format!("`{part}` is not a table"),
                });
            }
        };
    }
    current.insert(last.to_string(), value);
    Ok(())
}

/// Parses the value of `--set key=value`: a TOML literal (`0.2`, `[0, 0.2]`, `true`, `"x"`),
/// or else a bare string (`quadratic`).
pub fn parse_override(assignment: &str) -> Result<(String, toml::Value), ExperimentError> {
    let (key, raw) = assignment
        .split_once('=')
        .ok_or_else(|| ExperimentError::Config {
            key: assignment.to_string(),
            message: "expected key=value".into(),
        })?;
    let key = key.trim().to_string();
    let raw = raw.trim();
    let value = match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or(toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    };
    Ok((key, value))
}

impl RunConfig {
    /// Reads a TOML config file (if any), applies `--set` overrides in order, and deserialises
    /// it. Unknown keys and wrong types are errors naming the key.
    pub fn load(path: Option<&Path>, overrides: &[String]) -> Result<Self, ExperimentError> {
        let mut table = match path {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|e| ExperimentError::io(path, e))?;
                toml::from_str::<toml::Table>(&text).map_err(|e| ExperimentError::Config {
                    key: path.display().to_string(),
                    message: format!("not valid TOML: {e}"),
                })?
            }
            None => toml::Table::new(),
        };
        for assignment in overrides {
            let (key, value) = parse_override(assignment)?;
            set_dotted(&mut table, &key, value)?;
        }
        Self::from_table(table)
    }

    /// Deserialises a TOML table, naming the key of any error.
    pub fn from_table(table: toml::Table) -> Result<Self, ExperimentError> {
        let value = toml::Value::Table(table);
        let config: RunConfig = serde_path_to_error::deserialize(value).map_err(|e| {
            let key = e.path().to_string();
            ExperimentError::Config {
                key,
                message: e.into_inner().to_string(),
            }
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The number of runs M: the length of `loss.alpha` or `train.lr` (lists of length > 1
    /// must agree).
    pub fn runs(&self) -> Result<usize, ExperimentError> {
        let (a, l) = (self.loss.alpha.len(), self.train.lr.len());
        if a == 0 || l == 0 {
            let key = if a == 0 { "loss.alpha" } else { "train.lr" };
            return Err(ExperimentError::invalid(
                key,
                "[]",
                "a number or a non-empty list",
            ));
        }
        if a > 1 && l > 1 && a != l {
            return Err(ExperimentError::invalid(
                "train.lr",
                &format!("{l} values"),
                "one value or as many as loss.alpha",
            ));
        }
        Ok(a.max(l))
    }

    /// α of each run.
    pub fn alphas(&self) -> Result<Vec<f64>, ExperimentError> {
        Ok(self.loss.alpha.values(self.runs()?))
    }

    /// The learning rate of each run.
    pub fn lrs(&self) -> Result<Vec<f64>, ExperimentError> {
        Ok(self.train.lr.values(self.runs()?))
    }

    /// The seed of the synthetic data's train and test streams: `seed`, or, with
    /// `data.noise_draws = "per-sigma-n"`, `splitmix64(seed ⊕ bits(σ_n))`. Initial weights and
    /// mini-batch orders keep `seed`.
    pub fn data_seed(&self) -> u64 {
        match self.data.noise_draws {
            NoiseDraws::Shared => self.seed,
            NoiseDraws::PerSigmaN => splitmix64(self.seed ^ self.data.sigma_n.to_bits()),
        }
    }

    /// The binary data model (for `data.model = signal-noise`).
    pub fn signal_noise(&self) -> Result<SignalPlusNoise, ExperimentError> {
        let d = &self.data;
        let model = SignalPlusNoise {
            d: d.d,
            n: d.n,
            n_test: d.n_test,
            mu_f: d.mu_f,
            sigma_f: d.sigma_f,
            sigma_n: d.sigma_n,
            noise: self.noise(),
            labels: d.labels,
        };
        model.validate().map_err(ExperimentError::data)?;
        Ok(model)
    }

    /// The multi-class data model (for `data.model = multiclass`).
    pub fn multiclass(&self) -> Result<MultiClassSignalNoise, ExperimentError> {
        let d = &self.data;
        let model = MultiClassSignalNoise {
            k: d.k,
            d: d.d,
            n: d.n,
            n_test: d.n_test,
            mu_f: d.mu_f,
            sigma_f: d.sigma_f,
            sigma_n: d.sigma_n,
            noise: self.noise(),
            labels: d.labels,
        };
        model.validate().map_err(ExperimentError::data)?;
        Ok(model)
    }

    fn noise(&self) -> Noise {
        match self.data.noise {
            NoiseName::Gaussian => Noise::Gaussian,
            NoiseName::StudentT => Noise::StudentT {
                nu: self.data.nu,
                scale: self.data.t_scale,
            },
        }
    }

    /// The penalty as the model crate names it.
    pub fn penalty(&self) -> PenaltyKind {
        match self.loss.penalty {
            PenaltyName::None => PenaltyKind::None,
            PenaltyName::Quadratic => PenaltyKind::Quadratic,
            PenaltyName::LabelSmoothing => PenaltyKind::LabelSmoothing,
            PenaltyName::PseudoHuber => PenaltyKind::PseudoHuber {
                delta: self.loss.delta,
            },
            PenaltyName::Power => PenaltyKind::Power { p: self.loss.p },
        }
    }

    /// Checks every value range; the error names the dotted key.
    pub fn validate(&self) -> Result<(), ExperimentError> {
        let runs = self.runs()?;
        if self.data.format != DATA_FORMAT {
            return Err(ExperimentError::invalid(
                "data.format",
                &self.data.format.to_string(),
                &format!("{DATA_FORMAT} (the draws this build makes)"),
            ));
        }
        if self.is_real() {
            self.validate_real_source()?;
        } else {
            self.validate_synthetic_source()?;
            match self.data.model {
                DataModel::SignalNoise => self.signal_noise().map(|_| ())?,
                DataModel::Multiclass => self.multiclass().map(|_| ())?,
            }
        }
        logit_reg_model::loss::validate_alpha(
            &self.loss.alpha.values(runs),
            self.loss.penalty != PenaltyName::None,
        )
        .map_err(ExperimentError::model)?;
        self.penalty().binary().map_err(ExperimentError::model)?;
        let t = &self.train;
        for lr in t.lr.values(runs) {
            if !(lr.is_finite() && lr > 0.0) {
                return Err(ExperimentError::invalid(
                    "train.lr",
                    &lr.to_string(),
                    "> 0 and finite",
                ));
            }
        }
        let lrs = t.lr.values(runs);
        if t.optimizer == OptimizerName::Adam && lrs.iter().any(|&l| l != lrs[0]) {
            return Err(ExperimentError::invalid(
                "train.lr",
                &format!("{lrs:?}"),
                "one value with adam (per-run rates need gd or sgd)",
            ));
        }
        let check = |key: &str, value: f64, ok: bool, allowed: &str| {
            if ok && value.is_finite() {
                Ok(())
            } else {
                Err(ExperimentError::invalid(key, &value.to_string(), allowed))
            }
        };
        check(
            "loss.weight_decay",
            self.loss.weight_decay,
            self.loss.weight_decay >= 0.0,
            ">= 0",
        )?;
        if self.loss.weight_decay > 0.0 && !self.is_binary() {
            return Err(ExperimentError::invalid(
                "loss.weight_decay",
                &self.loss.weight_decay.to_string(),
                "0 for multi-class data (data.model = multiclass or a real data.source; the \
                 baseline is binary)",
            ));
        }
        if t.steps == 0 {
            return Err(ExperimentError::invalid("train.steps", "0", ">= 1"));
        }
        if t.optimizer.is_exact() {
            let name = if t.optimizer == OptimizerName::Newton {
                "newton"
            } else {
                "max-margin"
            };
            if !self.is_binary() {
                return Err(ExperimentError::invalid(
                    "train.optimizer",
                    name,
                    "gd | adam | sgd for multi-class data (data.model = multiclass or a real \
                     data.source; exact solvers are binary only)",
                ));
            }
            if self.loss.weight_decay > 0.0 {
                return Err(ExperimentError::invalid(
                    "train.optimizer",
                    name,
                    "gd | adam | sgd with loss.weight_decay > 0",
                ));
            }
        }
        if t.optimizer == OptimizerName::MaxMargin {
            let alphas = self.alphas()?;
            if let Some(a) = alphas.iter().find(|&&a| a != 0.0) {
                return Err(ExperimentError::invalid(
                    "loss.alpha",
                    &a.to_string(),
                    "0 for every run with train.optimizer = max-margin (α > 0: use newton)",
                ));
            }
        }
        if t.optimizer == OptimizerName::Newton {
            let alphas = self.alphas()?;
            if let Some(a) = alphas.iter().find(|&&a| a <= 0.0) {
                return Err(ExperimentError::invalid(
                    "loss.alpha",
                    &a.to_string(),
                    "> 0 for every run with train.optimizer = newton (α = 0 has no finite minimiser)",
                ));
            }
        }
        if t.engine == EngineName::Burn && t.fused_kernel != FusedKernel::Auto {
            return Err(ExperimentError::invalid(
                "train.fused_kernel",
                t.fused_kernel.name(),
                "auto with train.engine = burn (the kernel is the fused engine's)",
            ));
        }
        if t.fused_kernel == FusedKernel::Pipelined && !self.is_binary() {
            return Err(ExperimentError::invalid(
                "train.fused_kernel",
                "pipelined",
                "auto | blocked for multi-class data (the pipelined kernel is binary only)",
            ));
        }
        if t.fused_kernel == FusedKernel::Dual
            && !(self.is_binary() && t.optimizer == OptimizerName::Gd)
        {
            return Err(ExperimentError::invalid(
                "train.fused_kernel",
                "dual",
                "auto | pipelined | blocked unless data.model is binary and train.optimizer = gd \
                 (the dual form keeps the weights in the span of the training rows)",
            ));
        }
        if t.group_by_draw {
            let exact = t.optimizer.is_exact();
            let fits = self.is_binary()
                && self.model.kind == ModelKind::Linear
                && (exact || (self.fused_applies() && t.engine != EngineName::Burn))
                && t.grad_tol == 0.0
                && self.backend.is_cpu();
            if !fits {
                return Err(ExperimentError::invalid(
                    "train.group_by_draw",
                    "true",
                    "false unless the runs are binary (data.model = signal-noise), model.kind = \
                     linear, trained by gd or full-batch adam on the fused engine (a CPU \
                     backend, train.engine auto or fused) with train.grad_tol = 0 (the exact \
                     solvers accept it and train each batch alone)",
                ));
            }
        }
        if t.engine == EngineName::Fused && !self.fused_applies() {
            return Err(ExperimentError::invalid(
                "train.engine",
                "fused",
                "auto | burn unless model.kind = linear and train.optimizer = gd, or adam with \
                 train.batch_size = 0 (the full batch)",
            ));
        }
        let n = self.n_train();
        let n_key = if self.is_real() {
            "data.n_train"
        } else {
            "data.n"
        };
        match t.optimizer {
            OptimizerName::Sgd if !(1..=n).contains(&t.batch_size) => {
                return Err(ExperimentError::invalid(
                    "train.batch_size",
                    &t.batch_size.to_string(),
                    &format!("1..={n_key} ({n}) for sgd"),
                ));
            }
            OptimizerName::Adam if t.batch_size > n => {
                return Err(ExperimentError::invalid(
                    "train.batch_size",
                    &t.batch_size.to_string(),
                    &format!("0 (full batch) or 1..={n_key} ({n})"),
                ));
            }
            OptimizerName::Adam | OptimizerName::Sgd => {}
            _ if t.batch_size > 0 => {
                return Err(ExperimentError::invalid(
                    "train.batch_size",
                    &t.batch_size.to_string(),
                    &format!(
                        "0 for train.optimizer = {} (full batch; mini-batches need sgd or adam)",
                        t.optimizer.name()
                    ),
                ));
            }
            _ => {}
        }
        if t.epochs > 0 && t.optimizer.is_exact() {
            return Err(ExperimentError::invalid(
                "train.epochs",
                &t.epochs.to_string(),
                "0 for the exact solvers (train.steps caps their iterations)",
            ));
        }
        check("train.grad_tol", t.grad_tol, t.grad_tol >= 0.0, ">= 0")?;
        check("train.init_std", t.init_std, t.init_std >= 0.0, ">= 0")?;
        // Burn keeps β and ε in f32: a β that rounds to 1 there makes Adam's bias correction
        // divide by zero at the first step, and an ε that rounds to 0 is no ε.
        let beta_ok = |b: f64| (0.0..1.0).contains(&b) && (b as f32) < 1.0;
        let beta_range = "[0, 1), and below 1 in f32, where Burn keeps it (at most 0.99999994)";
        check(
            "train.adam_beta1",
            t.adam_beta1,
            beta_ok(t.adam_beta1),
            beta_range,
        )?;
        check(
            "train.adam_beta2",
            t.adam_beta2,
            beta_ok(t.adam_beta2),
            beta_range,
        )?;
        check(
            "train.adam_eps",
            t.adam_eps,
            t.adam_eps > 0.0 && (t.adam_eps as f32) > 0.0,
            "> 0, and above 0 in f32, where Burn keeps it (at least 1.4e-45)",
        )?;
        if !(2..=crate::limits::MAX_LOG_POINTS).contains(&t.log_points) {
            return Err(ExperimentError::invalid(
                "train.log_points",
                &t.log_points.to_string(),
                &format!("2..={}", crate::limits::MAX_LOG_POINTS),
            ));
        }
        if !(1..=crate::limits::MAX_HISTOGRAM_BINS).contains(&t.histogram_bins) {
            return Err(ExperimentError::invalid(
                "train.histogram_bins",
                &t.histogram_bins.to_string(),
                &format!("1..={}", crate::limits::MAX_HISTOGRAM_BINS),
            ));
        }
        if let Some(&s) = t.histogram_steps.iter().find(|&&s| s > self.total_steps()) {
            return Err(ExperimentError::invalid(
                "train.histogram_steps",
                &s.to_string(),
                "each step in 0..=train.steps",
            ));
        }
        self.validate_model()?;
        if self.is_real() {
            // The files bound a real source's size; it is read whole before training.
            Ok(())
        } else {
            self.check_memory()
        }
    }

    /// The training samples N: `data.n_train` for a real source, `data.n` for a synthetic one.
    pub fn n_train(&self) -> usize {
        if self.is_real() {
            self.data.n_train
        } else {
            self.data.n
        }
    }

    /// The steps the loop takes at most: `train.steps`, or with `train.epochs > 0`,
    /// `epochs × ⌊N / B⌋` (B the batch size, N when it is 0; gd takes one step per epoch).
    pub fn total_steps(&self) -> u64 {
        let t = &self.train;
        if t.epochs == 0 {
            return t.steps;
        }
        let n = self.n_train().max(1);
        let b = if t.batch_size == 0 || t.optimizer == OptimizerName::Gd {
            n
        } else {
            t.batch_size.min(n)
        };
        t.epochs.saturating_mul((n / b) as u64)
    }

    /// Whether the samples come from a real data set (files or the shipped digits) rather than
    /// a data model.
    pub fn is_real(&self) -> bool {
        self.data.source != DataSource::Synthetic
    }

    /// Whether the fused host engine can train this run: a linear model (binary, or K classes
    /// with a bias) by GD or by Adam on the full batch (`train.batch_size` 0 or N).
    pub fn fused_applies(&self) -> bool {
        let t = &self.train;
        let full_batch = match t.optimizer {
            OptimizerName::Gd => true,
            OptimizerName::Adam => t.batch_size == 0 || t.batch_size == self.n_train(),
            _ => false,
        };
        full_batch && self.model.kind == ModelKind::Linear
    }

    /// Whether the problem is binary: the synthetic signal-plus-noise model. Real data sets are
    /// always multi-class.
    pub fn is_binary(&self) -> bool {
        !self.is_real() && self.data.model == DataModel::SignalNoise
    }

    /// The keys of a real source: the files it needs, and no file it would ignore.
    fn validate_real_source(&self) -> Result<(), ExperimentError> {
        let data = &self.data;
        let source = data.source.name();
        if data.noise_draws != NoiseDraws::Shared {
            return Err(ExperimentError::invalid(
                "data.noise_draws",
                "per-sigma-n",
                &format!("shared for data.source = {source} (it has no σ_n to draw for)"),
            ));
        }
        let (needs_path, needs_labels) = match data.source {
            DataSource::Synthetic | DataSource::Digits => (false, false),
            DataSource::Csv | DataSource::Cifar10 => (true, false),
            DataSource::Npy | DataSource::Idx => (true, true),
        };
        for (key, value, needed) in [
            ("data.path", &data.path, needs_path),
            ("data.labels_path", &data.labels_path, needs_labels),
        ] {
            if needed && value.is_empty() {
                return Err(ExperimentError::invalid(
                    key,
                    "\"\"",
                    &format!("a file for data.source = {source}"),
                ));
            }
            if !needed && !value.is_empty() {
                return Err(ExperimentError::invalid(
                    key,
                    &format!("{value:?}"),
                    &format!("\"\" for data.source = {source}, which reads no such file"),
                ));
            }
        }
        if data.n_train == 0 {
            return Err(ExperimentError::invalid(
                "data.n_train",
                "0",
                ">= 1 (and below the data set's size)",
            ));
        }
        if data.source != DataSource::Csv && (data.label_column != -1 || data.header) {
            return Err(ExperimentError::invalid(
                if data.header {
                    "data.header"
                } else {
                    "data.label_column"
                },
                &if data.header {
                    "true".to_string()
                } else {
                    data.label_column.to_string()
                },
                &format!("its default for data.source = {source} (it applies to csv only)"),
            ));
        }
        if !(0.0..=1.0).contains(&data.corrupt) {
            return Err(ExperimentError::invalid(
                "data.corrupt",
                &data.corrupt.to_string(),
                "a probability in [0, 1]",
            ));
        }
        if !(data.orthogonal_scale.is_finite() && data.orthogonal_scale > 0.0) {
            return Err(ExperimentError::invalid(
                "data.orthogonal_scale",
                &data.orthogonal_scale.to_string(),
                "> 0 and finite",
            ));
        }
        if data.embed == EmbedKind::Mlp
            && (data.embed_n < 2 || data.embed_hidden.is_empty() || data.embed_hidden.contains(&0))
        {
            let (key, value) = if data.embed_n < 2 {
                ("data.embed_n", data.embed_n.to_string())
            } else {
                ("data.embed_hidden", format!("{:?}", data.embed_hidden))
            };
            return Err(ExperimentError::invalid(
                key,
                &value,
                "embed_n >= 2 and a non-empty list of hidden widths >= 1",
            ));
        }
        if data.classes == 1 {
            return Err(ExperimentError::invalid(
                "data.classes",
                "1",
                "0 (from the labels) or >= 2",
            ));
        }
        Ok(())
    }

    /// The `[model]` keys, and what only the linear classifier supports.
    fn validate_model(&self) -> Result<(), ExperimentError> {
        let m = &self.model;
        match m.kind {
            ModelKind::Linear => return Ok(()),
            ModelKind::Mlp if m.hidden.is_empty() || m.hidden.contains(&0) => {
                return Err(ExperimentError::invalid(
                    "model.hidden",
                    &format!("{:?}", m.hidden),
                    "a non-empty list of widths >= 1",
                ));
            }
            ModelKind::Cnn if m.channels.is_empty() || m.channels.contains(&0) => {
                return Err(ExperimentError::invalid(
                    "model.channels",
                    &format!("{:?}", m.channels),
                    "a non-empty list of channel counts >= 1",
                ));
            }
            ModelKind::Cnn if m.kernel_size.is_multiple_of(2) => {
                return Err(ExperimentError::invalid(
                    "model.kernel_size",
                    &m.kernel_size.to_string(),
                    "an odd size >= 1",
                ));
            }
            ModelKind::Cnn if !self.is_real() || self.data.embed != EmbedKind::None => {
                return Err(ExperimentError::invalid(
                    "model.kind",
                    "cnn",
                    "linear | mlp for synthetic data or embeddings (data.embed); cnn needs \
                     images: data.source = digits | idx | cifar10 | npy [n, (c,) h, w]",
                ));
            }
            _ => {}
        }
        let t = &self.train;
        let kind = m.kind.name();
        let refuse = |key: &str, value: String, allowed: &str| {
            Err(ExperimentError::invalid(
                key,
                &value,
                &format!("{allowed} with model.kind = {kind}"),
            ))
        };
        if t.optimizer.is_exact() {
            return refuse(
                "train.optimizer",
                t.optimizer.name().into(),
                "gd | adam | sgd",
            );
        }
        if t.engine == EngineName::Fused {
            return refuse("train.engine", "fused".into(), "auto | burn");
        }
        if self.loss.weight_decay > 0.0 {
            return refuse(
                "loss.weight_decay",
                self.loss.weight_decay.to_string(),
                "0 (the baseline penalises linear weights)",
            );
        }
        if t.init_std > 0.0 {
            return refuse(
                "train.init_std",
                t.init_std.to_string(),
                "0 (the network starts from U(±1/√fan_in), seeded by `seed` and train.init_index)",
            );
        }
        Ok(())
    }

    /// The keys of a synthetic source: none of a real source's files or transforms.
    fn validate_synthetic_source(&self) -> Result<(), ExperimentError> {
        let d = &self.data;
        for (key, set) in [
            ("data.embed", d.embed != EmbedKind::None),
            ("data.corrupt", d.corrupt != 0.0),
            ("data.orthogonal_scale", d.orthogonal_scale != 1.0),
        ] {
            if set {
                return Err(ExperimentError::invalid(
                    key,
                    "a non-default value",
                    "its default for data.source = synthetic (it transforms a real source)",
                ));
            }
        }
        for (key, value) in [
            ("data.path", &self.data.path),
            ("data.labels_path", &self.data.labels_path),
        ] {
            if !value.is_empty() {
                return Err(ExperimentError::invalid(
                    key,
                    &format!("{value:?}"),
                    "\"\" for data.source = synthetic (set data.source to read a file)",
                ));
            }
        }
        Ok(())
    }

    /// The resolved config as flat `key = value` lines, in [`FIELDS`] order (for `--help`).
    pub fn flat_values(&self) -> Vec<(String, String)> {
        let value = toml::Value::try_from(self).unwrap_or(toml::Value::Table(Default::default()));
        FIELDS
            .iter()
            .map(|(key, _)| {
                let v = key.split('.').try_fold(&value, |v, part| v.get(part));
                let shown = match v {
                    Some(v) => v.to_string(),
                    // Left out of the serialised config while it is the default.
                    None if *key == "train.fused_kernel" => {
                        format!("\"{}\"", self.train.fused_kernel.name())
                    }
                    None if *key == "train.group_by_draw" => self.train.group_by_draw.to_string(),
                    None => "(missing)".to_string(),
                };
                (key.to_string(), shown)
            })
            .collect()
    }
}

/// The `--help` text listing every field, its default and its meaning.
pub fn fields_help() -> String {
    let defaults = RunConfig::default().flat_values();
    let mut out = String::from(
        "CONFIG FIELDS (TOML file sections, or --set key=value; defaults in brackets):\n",
    );
    for ((key, doc), (_, default)) in FIELDS.iter().zip(defaults) {
        out.push_str(&format!("  {key:<22} [{default}]\n      {doc}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(prefix: &str, value: &toml::Value, out: &mut Vec<String>) {
        match value {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    leaves(&key, v, out);
                }
            }
            _ => out.push(prefix.to_string()),
        }
    }

    #[test]
    fn fields_document_exactly_the_config_keys() {
        // `train.fused_kernel` is serialised only when it is not `auto`, and
        // `train.group_by_draw` only when true.
        let mut every_key = RunConfig::default();
        every_key.train.fused_kernel = FusedKernel::Blocked;
        every_key.train.group_by_draw = true;
        let value = toml::Value::try_from(every_key).expect("serialises");
        let mut keys = Vec::new();
        leaves("", &value, &mut keys);
        let mut documented: Vec<String> = FIELDS.iter().map(|(k, _)| k.to_string()).collect();
        keys.sort();
        documented.sort();
        assert_eq!(keys, documented);
        assert!(
            RunConfig::default()
                .flat_values()
                .iter()
                .all(|(_, v)| v != "(missing)")
        );
    }
}
