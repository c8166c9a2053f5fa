use thiserror::Error;

/// An invalid data-model parameter, or a failure that follows from one.
///
/// Every variant names the offending field, its value and the allowed range, so a user who
/// typed `data.sigma_n = -1` learns exactly what to change.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DataError {
    /// A numeric parameter lies outside its allowed range (or is not finite).
    #[error("invalid value for `{field}`: {value} (allowed: {allowed})")]
    OutOfRange {
        /// The parameter's name, e.g. `sigma_n`.
        field: &'static str,
        /// The value given, as text.
        value: String,
        /// The allowed range, as text, e.g. `>= 0 and finite`.
        allowed: &'static str,
    },
    /// A vector or matrix parameter has the wrong length.
    #[error("wrong length for `{field}`: {len} (expected {expected})")]
    WrongLength {
        /// The parameter's name.
        field: &'static str,
        /// The length given.
        len: usize,
        /// The length required.
        expected: usize,
    },
    /// A covariance matrix is not symmetric positive definite.
    #[error("`{field}` is not symmetric positive definite: {reason}")]
    NotPositiveDefinite {
        /// The parameter's name.
        field: &'static str,
        /// What failed (the pivot or the asymmetric entry).
        reason: String,
    },
}

/// Checks `value` with `ok`, or returns [`DataError::OutOfRange`] naming `field`.
pub(crate) fn check_f64(
    field: &'static str,
    value: f64,
    allowed: &'static str,
    ok: impl Fn(f64) -> bool,
) -> Result<(), DataError> {
    if value.is_finite() && ok(value) {
        Ok(())
    } else {
        Err(DataError::OutOfRange {
            field,
            value: value.to_string(),
            allowed,
        })
    }
}

/// Checks an integer parameter with `ok`, or returns [`DataError::OutOfRange`] naming `field`.
pub(crate) fn check_usize(
    field: &'static str,
    value: usize,
    allowed: &'static str,
    ok: impl Fn(usize) -> bool,
) -> Result<(), DataError> {
    if ok(value) {
        Ok(())
    } else {
        Err(DataError::OutOfRange {
            field,
            value: value.to_string(),
            allowed,
        })
    }
}
