//! The training engine of `logit-reg`: everything between a data set and a measured result,
//! and nothing about files, configuration formats, command lines or plots.
//!
//! - [`problem`]: a data set uploaded to a device, with the Fisher and empirical LDA directions;
//! - [`objective`]: the objective of each run (margin losses, the multi-class loss, weight decay);
//! - [`spec`]: the engine's own specification of a run ([`TrainSpec`]);
//! - [`engine`]: the training loop over any [`LogitModel`], M runs at once; full-batch GD or
//!   Adam of linear runs (binary or K-class) goes to the [`fused`] host engine;
//! - [`fused`]: the fused host engine (kernels, thread team, GD and Adam), X read once per step;
//! - [`group`]: several batches whose inputs are column maps of one draw, trained in one pass
//!   per step and recorded, then measured each on its own data ([`replay`]);
//! - [`solvers`]: exact solvers (Newton–CG, max-margin) on the fused engine's kernels;
//! - [`metrics`]: the paper's metrics, from logits (any model) and weights (linear models);
//! - [`measure`]: training with measurement, returning a typed [`Summary`];
//! - [`linear`]: what only a linear model has, reached through its concrete type.
//!
//! # Example: two runs (α = 0 and α = 0.2) of gradient descent, measured
//!
//! ```
//! use std::sync::Arc;
//! use logit_reg_data::{LabelScheme, Noise, SignalPlusNoise};
//! use logit_reg_model::{
//!     Backend, LinearClassifierConfig, LogitRegularizedLoss, Precision, Quadratic, make_device,
//! };
//! use logit_reg_train::{
//!     EngineName, MeasureSpec, MetricContext, Objective, OptimizerName, Problem, TrainSpec,
//!     train_and_measure,
//! };
//!
//! let device = make_device(Backend::Flex, Precision::F64)?.autodiff();
//! let data = SignalPlusNoise {
//!     d: 20, n: 60, n_test: 200, mu_f: 1.0, sigma_f: 0.5, sigma_n: 1.0,
//!     noise: Noise::Gaussian, labels: LabelScheme::Balanced,
//! };
//! let problem = Problem::binary(&data, 0, &device)?;
//! let alphas = vec![0.0, 0.2];
//! let loss = LogitRegularizedLoss::new(Some(Arc::new(Quadratic)), alphas.clone(), &device)?;
//! let objective = Objective::Binary { loss: Arc::new(loss), weight_decay: 0.0, sum_data_term: false };
//! let model = LinearClassifierConfig::new(20).with_runs(2).init(&device)?;
//! let spec = TrainSpec {
//!     optimizer: OptimizerName::Gd, lr: vec![0.1, 0.1], steps: 200, batch_size: 60,
//!     grad_tol: 0.0, adam: (0.9, 0.999, 1e-8), seed: 0, engine: EngineName::Auto, threads: 0,
//!     fused_kernel: Default::default(),
//! };
//! let measure = MeasureSpec { log_points: 10, histogram_steps: vec![], histogram_bins: 10, save_logits: false };
//! let ctx = MetricContext::new(alphas, Some(Arc::new(Quadratic)), None, 1)?;
//! let result = train_and_measure(model, &problem, &objective, &spec, &measure, &ctx, |_, _| {})?;
//! assert!(result.summary.runs[1].last.test_accuracy > 0.6);
//! # Ok::<(), logit_reg_train::TrainError>(())
//! ```

pub mod engine;
mod error;
pub mod fused;
pub mod group;
pub mod linear;
pub mod measure;
pub mod metrics;
pub mod objective;
pub mod problem;
pub mod solvers;
pub mod spec;

pub use engine::{StepView, TrainOutcome, replay, train};
pub use error::TrainError;
pub use logit_reg_model::LogitModel;
pub use measure::{
    ExactDetails, ExactSummary, MeasureSpec, Measured, RunSummary, SavedLogits, Summary,
    exact_tolerance, recorded_steps, replay_and_measure, solve_and_measure, train_and_measure,
};
pub use metrics::{HistogramRow, MetricContext, MetricRow};
pub use objective::{MarginLoss, Objective};
pub use problem::{Labels, Problem};
pub use spec::{EngineName, OptimizerName, TrainSpec};
