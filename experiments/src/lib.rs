//! Training loops, metrics and the command line of `logit-reg`.
//!
//! - [`config`]: the run configuration (TOML + `--set key=value`), validated per key;
//! - [`problem`]: a data set on a device, with the Fisher and empirical LDA directions;
//! - [`train`]: the autodiff training loop over any [`train::LogitModel`], M runs at once;
//! - [`metrics`]: the paper's metrics at log-spaced steps, logit histograms;
//! - [`run`]: one configured run from config to result files;
//! - [`fused`]: the fused host engine for full-batch GD of linear binary runs (X read once per
//!   step), behind the same [`train::train`] API;
//! - [`solvers`]: exact solvers (Newton–CG for the regularised minimiser);
//! - [`sweep`]: grids of runs, batched where they share data, resumable;
//! - [`figures`]: the paper's figures: presets, analysis against theory, plots, reports;
//! - [`bench`]: timings of the training step and the machine's limits;
//! - [`cli`]: the command line.
//!
//! # Example: two runs (α = 0 and α = 0.2) in one batch
//!
//! ```no_run
//! use experiments::config::RunConfig;
//!
//! let config = RunConfig::load(None, &[
//!     "data.d=100".into(), "data.n=200".into(), "train.steps=500".into(),
//!     "loss.alpha=[0, 0.2]".into(),
//! ])?;
//! let result = experiments::run::execute(&config, false)?;
//! println!("{}", result.summary["test_accuracy"]);
//! # Ok::<(), experiments::ExperimentError>(())
//! ```

pub mod bench;
pub mod cli;
pub mod config;
mod error;
pub mod figures;
pub mod fused;
pub mod metrics;
pub mod output;
pub mod problem;
pub mod run;
pub mod solvers;
pub mod sweep;
pub mod train;

pub use error::ExperimentError;
pub use logit_reg_data as data;
pub use logit_reg_model as model;
