//! `logit-reg`: the implicit bias of logit regularisation (arXiv 2602.12039), on Burn 0.22.
//!
//! This facade re-exports the workspace's crates:
//! - [`data`]: seeded data models (signal-plus-noise, Gaussian classes, multi-class);
//! - [`model`]: the linear classifier, the logit-regulariser family, targets z*;
//! - [`experiments`]: training loops, metrics, sweeps, figures and the CLI's library.

pub use experiments;
pub use logit_reg_data as data;
pub use logit_reg_model as model;
