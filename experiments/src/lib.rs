//! The application of `logit-reg`: configuration, the one factory, runs, sweeps, benchmarks,
//! the paper's figures and the command line. The training engine is the `logit-reg-train`
//! crate ([`train`]); this crate turns configuration into its inputs and its results into files.
//!
//! - [`config`]: the run configuration (TOML + `--set key=value`), validated per key;
//! - [`run`]: the factory (config → problem, model, objective, engine spec), one configured
//!   run from config to result files;
//! - [`real`]: a real data set (`data.source`): read, split, standardised, with provenance;
//! - [`limits`]: the memory estimate and size bounds checked before allocating;
//! - [`output`]: the result files (atomic writes, CSV, `weights.npy`, build provenance);
//! - [`shard`]: `--shard I/N`, the cost-balanced partition of a job's batches;
//! - [`slurm`]: a figure, the reproduction or a sweep as a Slurm job array;
//! - [`store`]: the output lock, per-batch claims and verified completion markers;
//! - [`sweep`]: grids of runs, batched where they share data, resumable;
//! - [`figures`]: the paper's figures, one file each, with a registry, plots and reports;
//! - [`progress`]: the live progress bar, and logs that print above it;
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
pub mod limits;
pub mod output;
pub mod progress;
pub mod real;
pub mod run;
pub mod shard;
pub mod slurm;
pub mod store;
pub mod sweep;

pub use error::ExperimentError;
pub use logit_reg_data as data;
pub use logit_reg_model as model;
pub use logit_reg_train as train;
