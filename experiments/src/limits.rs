//! Limits checked before anything is allocated: the peak memory a config needs against what the
//! machine has, and upper bounds on the sizes that only cost time.

use crate::ExperimentError;
use crate::config::{DataModel, RunConfig};

/// The most logging steps a run may ask for (`train.log_points`).
pub const MAX_LOG_POINTS: usize = 100_000;
/// The most histogram bins (`train.histogram_bins`).
pub const MAX_HISTOGRAM_BINS: usize = 100_000;

/// `MemAvailable` of /proc/meminfo in bytes, where it can be read.
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The most grid points a sweep may have (the product of its value counts).
pub const MAX_GRID_POINTS: usize = 1_000_000;

impl RunConfig {
    /// The bytes a run of this config holds at its peak, roughly: the data drawn on the host
    /// in f64 and uploaded (train and test inputs), the f64 copy the fused engine or an exact
    /// solver makes, the Gram matrix of Newton's interpolating start (d ≥ N) or the empirical
    /// LDA covariance (N > d), the weights, and the logits the metrics read back. Checked
    /// arithmetic: a size that overflows is an error naming the keys.
    pub fn memory_estimate(&self) -> Result<u64, ExperimentError> {
        let overflow = || {
            ExperimentError::invalid(
                "data.d, data.n, data.n_test",
                &format!("{} × ({} + {})", self.data.d, self.data.n, self.data.n_test),
                "sizes whose product fits in memory",
            )
        };
        let d = self.data.d as u64;
        let (n, n_test) = (self.data.n as u64, self.data.n_test as u64);
        let classes = match self.data.model {
            DataModel::SignalNoise => 1,
            DataModel::Multiclass => self.data.k as u64,
        };
        let runs = self.runs()? as u64;
        let rows = n.checked_add(n_test).ok_or_else(overflow)?;
        let inputs = rows.checked_mul(d).ok_or_else(overflow)?;
        let square = if d >= n { n } else { d };
        let floats = [
            inputs.checked_mul(3).ok_or_else(overflow)?,
            n.checked_mul(d).ok_or_else(overflow)?,
            square.checked_mul(square).ok_or_else(overflow)?,
            d.checked_mul(runs)
                .and_then(|v| v.checked_mul(classes))
                .ok_or_else(overflow)?,
            rows.checked_mul(runs)
                .and_then(|v| v.checked_mul(classes))
                .and_then(|v| v.checked_mul(2))
                .ok_or_else(overflow)?,
        ]
        .iter()
        .try_fold(0u64, |sum, v| sum.checked_add(*v))
        .ok_or_else(overflow)?;
        floats.checked_mul(8).ok_or_else(overflow)
    }

    /// Refuses a config whose [`RunConfig::memory_estimate`] exceeds the memory this machine
    /// has available (`MemAvailable` of /proc/meminfo; not checked where that is unreadable).
    pub(crate) fn check_memory(&self) -> Result<(), ExperimentError> {
        let need = self.memory_estimate()?;
        if let Some(available) = available_memory().filter(|&available| need > available) {
            let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
            return Err(ExperimentError::invalid(
                "data.d, data.n, data.n_test",
                &format!(
                    "{} × ({} + {}) (needs about {:.1} GiB)",
                    self.data.d,
                    self.data.n,
                    self.data.n_test,
                    gib(need)
                ),
                &format!(
                    "sizes that fit in the {:.1} GiB of memory available",
                    gib(available)
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_estimate_of_the_default_config() {
        // d = 1400, N = 2000, N_test = 10000, M = 1, binary: 3·12000·1400 (inputs: host draw,
        // device, f64 copy) + 2000·1400 (the engine's label-absorbed copy) + 1400² (the LDA
        // covariance, N > d) + 1400 (weights) + 2·12000 (logits) = 55,185,400 floats.
        let config = RunConfig::default();
        assert_eq!(config.memory_estimate().expect("fits"), 8 * 55_185_400);
        // d ≥ N: the Gram matrix is N², not d².
        let mut wide = RunConfig::default();
        wide.data.d = 3000;
        let floats = 3 * 12_000 * 3000 + 2000 * 3000 + 2000 * 2000 + 3000 + 2 * 12_000;
        assert_eq!(wide.memory_estimate().expect("fits"), 8 * floats);
        // A product that overflows u64 is an error naming the keys, not a panic.
        wide.data.d = usize::MAX / 2;
        let err = wide.memory_estimate().expect_err("overflows");
        assert!(err.to_string().contains("data.d"), "{err}");
    }
}
