use thiserror::Error;

/// An invalid model or loss parameter, or a failed numerical solve.
///
/// Every variant names the offending field and, where it applies, its value and allowed range.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ModelError {
    /// A numeric parameter lies outside its allowed range (or is not finite).
    #[error("invalid value for `{field}`: {value} (allowed: {allowed})")]
    OutOfRange {
        /// The parameter's name, e.g. `loss.alpha`.
        field: &'static str,
        /// The value given, as text.
        value: String,
        /// The allowed range, as text.
        allowed: &'static str,
    },
    /// A per-run vector has the wrong length.
    #[error("wrong length for `{field}`: {len} (expected {expected})")]
    WrongLength {
        /// The parameter's name.
        field: &'static str,
        /// The length given.
        len: usize,
        /// The length required.
        expected: usize,
    },
    /// The backend is not compiled into this build, or the device rejected the setting.
    #[error("backend `{backend}` unavailable: {reason}")]
    Backend {
        /// The backend's name.
        backend: String,
        /// Why it is unavailable.
        reason: String,
    },
    /// A penalty failed a structural check (even, convex, consistent derivatives).
    #[error("penalty `{penalty}` fails the check `{check}` at t = {at}: {detail}")]
    InvalidPenalty {
        /// The penalty's name.
        penalty: String,
        /// The failed property.
        check: &'static str,
        /// Where it failed.
        at: f64,
        /// The numbers.
        detail: String,
    },
    /// A root or minimiser could not be bracketed or did not converge.
    #[error("solver for `{what}` failed: {reason}")]
    Solver {
        /// The quantity solved for.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
}

/// Checks a finite `value` with `ok`, or returns [`ModelError::OutOfRange`] naming `field`.
pub(crate) fn check_f64(
    field: &'static str,
    value: f64,
    allowed: &'static str,
    ok: impl Fn(f64) -> bool,
) -> Result<(), ModelError> {
    if value.is_finite() && ok(value) {
        Ok(())
    } else {
        Err(ModelError::OutOfRange {
            field,
            value: value.to_string(),
            allowed,
        })
    }
}
