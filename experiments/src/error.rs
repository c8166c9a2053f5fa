use std::path::Path;

use logit_reg_data::DataError;
use logit_reg_model::ModelError;
use logit_reg_train::TrainError;
use thiserror::Error;

/// Everything that can stop an experiment. Configuration errors name the dotted key.
#[derive(Debug, Error)]
pub enum ExperimentError {
    /// A key is unknown, has the wrong type, or its value is out of range.
    #[error("config key `{key}`: {message}")]
    Config {
        /// The dotted key, e.g. `data.sigma_n`.
        key: String,
        /// What is wrong, with the allowed range.
        message: String,
    },
    /// A model or loss error that is not about a config key.
    #[error(transparent)]
    Model(ModelError),
    /// The loss of a run became non-finite.
    #[error("run {run} diverged at step {step}: loss {loss}; {}", divergence_cause(*step, *lr))]
    Diverged {
        /// The run's index in the batch.
        run: usize,
        /// The step at which the loss was first non-finite.
        step: u64,
        /// The loss value.
        loss: f64,
        /// The run's learning rate.
        lr: f64,
    },
    /// Another process holds the output directory.
    #[error("{path} is in use by {holder}; wait for it, or choose another --out")]
    Locked {
        /// The output directory.
        path: String,
        /// Who holds it.
        holder: String,
    },
    /// A command-line flag is malformed, out of range, or cannot be honoured here.
    #[error("{flag}: {message}")]
    Flag {
        /// The flag, e.g. `--shard`.
        flag: String,
        /// What is wrong, with what is allowed.
        message: String,
    },
    /// A data file of a real source cannot be used (truncated, bad header, bad values, …).
    #[error(transparent)]
    DataFile(logit_reg_data::real::LoadError),
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The path.
        path: String,
        /// The OS error.
        message: String,
    },
}

/// The likely cause of a divergence at `step` with learning rate `lr`, in words. At step 0 no
/// update has been made, so the learning rate cannot be the cause.
fn divergence_cause(step: u64, lr: f64) -> String {
    if step == 0 {
        "the loss is non-finite at the initial weights, before any update, so the learning \
         rate is not the cause: check the scale of the data (data.mu_f, data.sigma_f, \
         data.sigma_n), the loss's parameters (e.g. loss.delta), train.init_std, and the \
         dtype's range (f32 overflows above 3.4e38; try --dtype f64)"
            .into()
    } else if step == 1 {
        format!(
            "with learning rate {} after a single update: lower train.lr, or check the scale \
             of the data (data.mu_f, data.sigma_f, data.sigma_n), the loss's parameters, and \
             the backend and dtype (a GPU backend without f64, or f32's range: try --backend \
             flex --dtype f64)",
            readable(lr)
        )
    } else {
        format!(
            "with learning rate {}: lower train.lr, or check the scale of the data \
             (data.mu_f, data.sigma_f, data.sigma_n) and the loss's parameters",
            readable(lr)
        )
    }
}

/// A number as `{}` when that is short, else in scientific notation.
fn readable(x: f64) -> String {
    if x == 0.0 || (1e-4..1e6).contains(&x.abs()) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

impl ExperimentError {
    /// An out-of-range value of `key`.
    pub fn invalid(key: &str, value: &str, allowed: &str) -> Self {
        ExperimentError::Config {
            key: key.to_string(),
            message: format!("invalid value {value} (allowed: {allowed})"),
        }
    }

    /// A data-model error, with its field mapped to the `data.` key.
    pub fn data(e: DataError) -> Self {
        let key = match &e {
            DataError::OutOfRange { field, .. }
            | DataError::WrongLength { field, .. }
            | DataError::NotPositiveDefinite { field, .. } => {
                format!("data.{}", field.trim_start_matches("noise."))
            }
        };
        ExperimentError::Config {
            key,
            message: e.to_string(),
        }
    }

    /// A model error, with range errors mapped to their key.
    pub fn model(e: ModelError) -> Self {
        match &e {
            ModelError::OutOfRange { field, .. } | ModelError::WrongLength { field, .. } => {
                ExperimentError::Config {
                    key: field.to_string(),
                    message: e.to_string(),
                }
            }
            // A backend not compiled in, or a device without the requested dtype: the user's
            // choice of `--backend`/`--dtype`, so exit code 2.
            ModelError::Backend { .. } => ExperimentError::Config {
                key: "backend".into(),
                message: e.to_string(),
            },
            _ => ExperimentError::Model(e),
        }
    }

    /// A bad value of a command-line flag.
    pub fn flag(flag: &str, message: impl Into<String>) -> Self {
        ExperimentError::Flag {
            flag: flag.to_string(),
            message: message.into(),
        }
    }

    /// Whether the error is the user's input (exit code 2) rather than a failed run (1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            ExperimentError::Config { .. }
                | ExperimentError::Locked { .. }
                | ExperimentError::Flag { .. }
                | ExperimentError::DataFile(_)
        )
    }

    /// An I/O error on `path`.
    pub fn io(path: &Path, e: std::io::Error) -> Self {
        ExperimentError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }
}

impl From<TrainError> for ExperimentError {
    /// The engine's field names are the config's dotted keys, so its parameter errors become
    /// [`ExperimentError::Config`] naming the key; divergence of an exact solver keeps the
    /// learning rate 1 it has always reported (a Newton step is a unit step).
    fn from(e: TrainError) -> Self {
        match e {
            TrainError::Invalid {
                field,
                value,
                allowed,
            } => ExperimentError::invalid(&field, &value, &allowed),
            TrainError::Mismatch(message) => ExperimentError::Config {
                key: "data.model".into(),
                message,
            },
            TrainError::Diverged { run, step, loss } => ExperimentError::Diverged {
                run,
                step,
                loss,
                lr: 1.0,
            },
            TrainError::Data(e) => ExperimentError::data(e),
            TrainError::Model(e) => ExperimentError::model(e),
        }
    }
}
