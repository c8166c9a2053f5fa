//! The engine's own specification of a training run: the optimiser, the engine that takes the
//! steps, and the schedule. The application builds it from its configuration; the engine never
//! reads a configuration file.

use serde::{Deserialize, Serialize};

/// The optimiser (`train.optimizer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerName {
    /// Full-batch gradient descent (the paper's default).
    Gd,
    /// Adam: full batch, or mini-batches of `train.batch_size` when it is set (> 0).
    Adam,
    /// Mini-batch SGD with `train.batch_size`.
    Sgd,
    /// The exact minimiser by Newton–CG (binary, α > 0); `train.steps` caps the Newton
    /// iterations and `train.grad_tol` (1e-10 when 0) is the gradient-norm certificate.
    Newton,
    /// The hard-margin (max-margin) direction that GD on the unregularised loss converges to
    /// (binary, α = 0, separable data); `train.steps` caps the passes over the data and
    /// `train.grad_tol` (1e-8 when 0) bounds the KKT violation.
    MaxMargin,
}

impl OptimizerName {
    /// Whether this is an exact solver (no step loop).
    pub fn is_exact(self) -> bool {
        matches!(self, OptimizerName::Newton | OptimizerName::MaxMargin)
    }

    /// The name in configs and summaries (`train.optimizer`).
    pub fn name(self) -> &'static str {
        match self {
            OptimizerName::Gd => "gd",
            OptimizerName::Adam => "adam",
            OptimizerName::Sgd => "sgd",
            OptimizerName::Newton => "newton",
            OptimizerName::MaxMargin => "max-margin",
        }
    }
}

/// Which implementation takes the GD steps (`train.engine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EngineName {
    /// `fused` where it applies (full-batch GD of a bias-free binary linear model with a
    /// pointwise loss, on a CPU backend), `burn` everywhere else.
    #[default]
    Auto,
    /// Burn's autodiff loop: every backend, model, loss and optimiser; the reference.
    Burn,
    /// The fused host engine ([`crate::fused`]): X read once per step; an error where it does
    /// not apply.
    Fused,
}

impl EngineName {
    /// The name in configs and summaries.
    pub fn name(self) -> &'static str {
        match self {
            EngineName::Auto => "auto",
            EngineName::Burn => "burn",
            EngineName::Fused => "fused",
        }
    }
}

/// The optimiser and its schedule.
#[derive(Debug, Clone)]
pub struct TrainSpec {
    /// gd, adam or sgd (the exact solvers run through [`crate::solve_and_measure`]).
    pub optimizer: OptimizerName,
    /// Learning rate of each run.
    pub lr: Vec<f64>,
    /// Maximum steps (iterations or passes for the exact solvers).
    pub steps: u64,
    /// Mini-batch size: sgd always uses it (1..=N); adam uses mini-batches when it is > 0 and
    /// the full batch when it is 0; gd ignores it. Each epoch is a fresh permutation cut into
    /// ⌊N / B⌋ batches.
    pub batch_size: usize,
    /// Gradient-norm tolerance (0: off).
    pub grad_tol: f64,
    /// Adam (β₁, β₂, ε).
    pub adam: (f64, f64, f64),
    /// Seed of the mini-batch order.
    pub seed: u64,
    /// Which implementation steps GD (`Auto`: the fused engine where it applies).
    pub engine: EngineName,
    /// Threads of the fused engine (0: the available cores).
    pub threads: usize,
    /// The fused engine's kernel (`Auto`: by the number of runs).
    pub fused_kernel: crate::fused::FusedKernel,
}
