//! `logit-reg`: the implicit bias of logit regularisation (arXiv 2602.12039), on Burn 0.22.
//!
//! This facade re-exports the workspace's crates:
//! - [`data`]: seeded data models (signal-plus-noise, Gaussian classes, multi-class);
//! - [`model`]: the linear classifier, the logit-regulariser family, targets z*;
//! - [`train`]: the engine: problems, objectives, the training loops, the fused engine, exact
//!   solvers, metrics;
//! - [`experiments`]: configuration, runs, sweeps, figures and the CLI's library.

pub use experiments;
pub use logit_reg_data as data;
pub use logit_reg_model as model;
pub use logit_reg_train as train;
