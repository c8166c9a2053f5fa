use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::check_usize;
use crate::signal_noise::{BinaryLabels, ROWS_PER_TASK};
use crate::stats::{cholesky, cholesky_solve, normal_cdf};
use crate::{
    BinaryDataset, BinaryPopulation, BinarySplit, DataError, LabelScheme, SampleSet, stream_rng,
};

/// The class-conditional covariance Σ of [`GaussianClasses`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Covariance {
    /// `Σ = diag(v)`, every variance `v_j > 0`.
    Diagonal(Vec<f64>),
    /// A full symmetric positive-definite `Σ`, row-major `[d, d]`.
    Full(Vec<f64>),
}

/// Binary Gaussian class-conditional model `x | y ~ N(y μ, Σ)`, `y ∈ {−1, +1}` (paper.md §2,
/// the setting of the Fisher result). Samples are `x = y μ + L z` with `Σ = L Lᵀ` (Cholesky)
/// and `z ~ N(0, I_d)`; per sample: the label (iid scheme), then `z` in coordinate order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GaussianClasses {
    /// Training-set size N ≥ 1.
    pub n: usize,
    /// Test-set size ≥ 1.
    pub n_test: usize,
    /// Class mean μ (length d ≥ 1, finite).
    pub mean: Vec<f64>,
    /// Class-conditional covariance Σ.
    pub covariance: Covariance,
    /// Label scheme.
    pub labels: LabelScheme,
}

impl GaussianClasses {
    /// Checks every parameter and returns the lower Cholesky factor of Σ (row-major `[d, d]`).
    fn factor(&self) -> Result<Vec<f64>, DataError> {
        let d = self.mean.len();
        check_usize("mean.len", d, ">= 1", |v| v >= 1)?;
        check_usize("n", self.n, ">= 1", |v| v >= 1)?;
        check_usize("n_test", self.n_test, ">= 1", |v| v >= 1)?;
        if let Some(bad) = self.mean.iter().find(|v| !v.is_finite()) {
            return Err(DataError::OutOfRange {
                field: "mean",
                value: bad.to_string(),
                allowed: "finite entries",
            });
        }
        match &self.covariance {
            Covariance::Diagonal(v) => {
                if v.len() != d {
                    return Err(DataError::WrongLength {
                        field: "covariance",
                        len: v.len(),
                        expected: d,
                    });
                }
                let mut l = vec![0.0; d * d];
                for (j, &vj) in v.iter().enumerate() {
                    if !(vj > 0.0 && vj.is_finite()) {
                        return Err(DataError::OutOfRange {
                            field: "covariance",
                            value: vj.to_string(),
                            allowed: "diagonal entries > 0 and finite",
                        });
                    }
                    l[j * d + j] = vj.sqrt();
                }
                Ok(l)
            }
            Covariance::Full(s) => cholesky("covariance", s, d),
        }
    }

    /// Checks every parameter; the error names the offending field.
    pub fn validate(&self) -> Result<(), DataError> {
        self.factor().map(|_| ())
    }

    /// Draws `n` samples of `set` from `seed`: balanced labels from the set's stream, then each
    /// row (its iid label, then d standard normals) from its own stream, rows in parallel.
    pub fn sample(&self, n: usize, seed: u64, set: SampleSet) -> Result<BinaryDataset, DataError> {
        let l = self.factor()?;
        let d = self.mean.len();
        let diagonal = matches!(self.covariance, Covariance::Diagonal(_));
        let labels = BinaryLabels::new(self.labels, n, &mut stream_rng(seed, set.stream()));
        let mut x = vec![0.0; n * d];
        let mut y = vec![0.0; n];
        x.par_chunks_mut(d.max(1))
            .zip(y.par_iter_mut())
            .enumerate()
            .with_min_len(ROWS_PER_TASK)
            .for_each_init(
                || vec![0.0; d],
                |z, (i, (row, label))| {
                    let mut rng = stream_rng(seed, set.row(i));
                    *label = labels.label(i, &mut rng);
                    z.iter_mut()
                        .for_each(|v| *v = StandardNormal.sample(&mut rng));
                    for (j, out) in row.iter_mut().enumerate() {
                        let noise = if diagonal {
                            l[j * d + j] * z[j]
                        } else {
                            (0..=j).map(|k| l[j * d + k] * z[k]).sum()
                        };
                        *out = *label * self.mean[j] + noise;
                    }
                },
            );
        Ok(BinaryDataset { n, d, x, y })
    }

    /// The train set and the independent test set of `seed`.
    pub fn generate(&self, seed: u64) -> Result<BinarySplit, DataError> {
        let train = self.sample(self.n, seed, SampleSet::Train)?;
        let test = self.sample(self.n_test, seed, SampleSet::Test)?;
        Ok(BinarySplit { train, test })
    }

    /// The squared Mahalanobis norm `μᵀ Σ⁻¹ μ`.
    pub fn mahalanobis_sq(&self) -> Result<f64, DataError> {
        let w = self.fisher_direction()?;
        Ok(w.iter().zip(&self.mean).map(|(a, b)| a * b).sum())
    }
}

impl BinaryPopulation for GaussianClasses {
    fn dim(&self) -> usize {
        self.mean.len()
    }

    fn mean(&self) -> Vec<f64> {
        self.mean.clone()
    }

    /// `Σ⁻¹ μ`, solved through the Cholesky factor.
    fn fisher_direction(&self) -> Result<Vec<f64>, DataError> {
        let l = self.factor()?;
        Ok(cholesky_solve(&l, self.mean.len(), &self.mean))
    }

    /// `Φ(√(μᵀ Σ⁻¹ μ))`: the classes sit at ±μ with equal priors, so the Bayes rule is
    /// `sign(μᵀ Σ⁻¹ x)`.
    fn bayes_accuracy(&self) -> Option<f64> {
        self.mahalanobis_sq().ok().map(|m| normal_cdf(m.sqrt()))
    }
}
