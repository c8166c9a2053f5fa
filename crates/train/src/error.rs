use logit_reg_data::DataError;
use logit_reg_model::ModelError;
use thiserror::Error;

/// Everything that can stop training or measuring. Parameter errors name the field of the
/// engine's own specs ([`crate::TrainSpec`], [`crate::MeasureSpec`]); the application maps them
/// to its configuration keys, which carry the same dotted names (`train.lr`, `train.engine`).
#[derive(Debug, Error)]
pub enum TrainError {
    /// A parameter is out of range, or the combination asked for is not supported.
    #[error("invalid value {value} for `{field}` (allowed: {allowed})")]
    Invalid {
        /// The field, e.g. `train.lr`.
        field: String,
        /// The value given, as text.
        value: String,
        /// What is allowed.
        allowed: String,
    },
    /// The objective and the problem disagree (binary loss on K-class data, or the reverse).
    #[error("{0}")]
    Mismatch(String),
    /// A run's objective became non-finite where the caller asked for an error (the exact
    /// solvers; the step loop records divergence in its outcome instead).
    #[error("run {run} diverged at step {step}: loss {loss}")]
    Diverged {
        /// The run's index in the batch.
        run: usize,
        /// The step (or solver iteration) at which the loss was first non-finite.
        step: u64,
        /// The loss value.
        loss: f64,
    },
    /// A data-model error.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A model or loss error.
    #[error(transparent)]
    Model(#[from] ModelError),
}

impl TrainError {
    /// An out-of-range value of `field`.
    pub fn invalid(field: &str, value: &str, allowed: &str) -> Self {
        TrainError::Invalid {
            field: field.to_string(),
            value: value.to_string(),
            allowed: allowed.to_string(),
        }
    }
}
