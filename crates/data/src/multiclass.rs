use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{check_f64, check_usize};
use crate::signal_noise::{NoiseSampler, ROWS_PER_TASK, draw_classes};
use crate::stats::{gaussian_expectation, normal_cdf};
use crate::{DataError, LabelScheme, Noise, SampleSet, stream_rng};

/// A K-class data set: `n` samples of dimension `d`, row-major, with labels in `0..k`.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiClassDataset {
    /// Number of samples.
    pub n: usize,
    /// Input dimension.
    pub d: usize,
    /// Number of classes.
    pub k: usize,
    /// Samples, row-major `[n, d]`.
    pub x: Vec<f64>,
    /// Class labels in `0..k`.
    pub labels: Vec<usize>,
}

/// A multi-class train set and test set from independent streams of one seed.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiClassSplit {
    /// The training set.
    pub train: MultiClassDataset,
    /// The test set.
    pub test: MultiClassDataset,
}

/// K-class signal-plus-noise model (paper.md §2, figures 7 and 8):
///
/// `x = μ_y + σ_f ξ_f + σ_n ξ_⊥`
///
/// where the class means `μ_c` span the signal subspace made of the first `k − 1` coordinates,
/// `ξ_f` has iid components in that subspace and `ξ_⊥` in the other `d − k + 1` coordinates.
///
/// # Construction of the means
///
/// The means form a **regular simplex of radius μ_f** centred at the origin: with the Helmert
/// basis `h_j ∈ R^k`, `j = 1..k−1` (`h_j[i] = 1/√(j(j+1))` for `i < j`, `−j/√(j(j+1))` for
/// `i = j`, 0 after), an orthonormal basis of the sum-zero subspace of `R^k`,
///
/// `μ_c[j−1] = μ_f · h_j[c] / √((k−1)/k)`, `j = 1..k−1`, and `μ_c = 0` on the other coordinates.
///
/// So `‖μ_c‖ = μ_f`, `Σ_c μ_c = 0`, `μ_cᵀμ_c' = −μ_f²/(k−1)` for `c ≠ c'`, and for `k = 2`
/// the means are `±μ_f e₁` as in the binary model (class 0 has mean `+μ_f e₁`, class 1 has
/// `−μ_f e₁`).
///
/// Sampling order: the classes first (iid or a shuffled balanced vector) from the set's
/// stream; then, from each row's own stream ([`crate::Stream::Row`]), the `k − 1`
/// signal-subspace noise components and the `d − k + 1` orthogonal ones.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MultiClassSignalNoise {
    /// Number of classes k ≥ 2.
    pub k: usize,
    /// Input dimension d ≥ k − 1.
    pub d: usize,
    /// Training-set size N ≥ 1.
    pub n: usize,
    /// Test-set size ≥ 1.
    pub n_test: usize,
    /// Radius μ_f ≥ 0 of the simplex of class means.
    pub mu_f: f64,
    /// Noise σ_f ≥ 0 inside the signal subspace.
    pub sigma_f: f64,
    /// Noise σ_n ≥ 0 orthogonal to the signal subspace.
    pub sigma_n: f64,
    /// Noise law of every component.
    pub noise: Noise,
    /// Label scheme (balanced: class sizes differ by at most one).
    pub labels: LabelScheme,
}

impl MultiClassSignalNoise {
    /// Checks every parameter; the error names the first offending field.
    pub fn validate(&self) -> Result<(), DataError> {
        check_usize("k", self.k, ">= 2", |v| v >= 2)?;
        check_usize("d", self.d, ">= k - 1 and >= 1", |v| {
            v >= 1 && v + 1 >= self.k
        })?;
        check_usize("n", self.n, ">= 1", |v| v >= 1)?;
        check_usize("n_test", self.n_test, ">= 1", |v| v >= 1)?;
        check_f64("mu_f", self.mu_f, ">= 0 and finite", |v| v >= 0.0)?;
        check_f64("sigma_f", self.sigma_f, ">= 0 and finite", |v| v >= 0.0)?;
        check_f64("sigma_n", self.sigma_n, ">= 0 and finite", |v| v >= 0.0)?;
        self.noise.validate()
    }

    /// The class means, row-major `[k, d]` (see the type's documentation for the construction).
    pub fn class_means(&self) -> Vec<f64> {
        let (k, d) = (self.k, self.d);
        let norm = ((k as f64 - 1.0) / k as f64).sqrt();
        let mut means = vec![0.0; k * d];
        for c in 0..k {
            for j in 1..k {
                let scale = 1.0 / ((j * (j + 1)) as f64).sqrt();
                let h = match c.cmp(&j) {
                    std::cmp::Ordering::Less => scale,
                    std::cmp::Ordering::Equal => -(j as f64) * scale,
                    std::cmp::Ordering::Greater => 0.0,
                };
                means[c * d + (j - 1)] = self.mu_f * h / norm;
            }
        }
        means
    }

    /// The class-conditional covariance's diagonal: `σ_f² v` on the first `k − 1` coordinates
    /// and `σ_n² v` on the rest, with `v` the noise component variance.
    pub fn covariance_diagonal(&self) -> Vec<f64> {
        let v = self.noise.component_variance();
        (0..self.d)
            .map(|j| {
                if j + 1 < self.k {
                    self.sigma_f.powi(2) * v
                } else {
                    self.sigma_n.powi(2) * v
                }
            })
            .collect()
    }

    /// Draws `n` samples of `set` from `seed`: the classes from the set's stream, then each
    /// row's noise from its own stream, rows in parallel.
    pub fn sample(
        &self,
        n: usize,
        seed: u64,
        set: SampleSet,
    ) -> Result<MultiClassDataset, DataError> {
        self.validate()?;
        let sampler = NoiseSampler::new(self.noise)?;
        let means = self.class_means();
        let (k, d) = (self.k, self.d);
        let labels = draw_classes(self.labels, n, k, &mut stream_rng(seed, set.stream()));
        let mut x = vec![0.0; n * d];
        x.par_chunks_mut(d)
            .zip(labels.par_iter())
            .enumerate()
            .with_min_len(ROWS_PER_TASK)
            .for_each(|(i, (row, &c))| {
                let mut rng = stream_rng(seed, set.row(i));
                for (j, v) in row.iter_mut().enumerate() {
                    let sigma = if j + 1 < k {
                        self.sigma_f
                    } else {
                        self.sigma_n
                    };
                    *v = means[c * d + j] + sigma * sampler.sample(&mut rng);
                }
            });
        Ok(MultiClassDataset { n, d, k, x, labels })
    }

    /// The train set and the independent test set of `seed`.
    pub fn generate(&self, seed: u64) -> Result<MultiClassSplit, DataError> {
        let train = self.sample(self.n, seed, SampleSet::Train)?;
        let test = self.sample(self.n_test, seed, SampleSet::Test)?;
        Ok(MultiClassSplit { train, test })
    }

    /// Bayes accuracy under Gaussian noise with equal priors (nearest class mean):
    ///
    /// `P = ∫ φ(u) Φ(u + a/σ_f)^{k−1} du`, `a = μ_f √(k/(k−1))`,
    ///
    /// because in the sum-zero coordinates of `R^k` the means are `a(e_c − 1/k)` and the rule is
    /// `argmax_c x_c`. For `k = 2` this is `Φ(μ_f/σ_f)`. `None` for non-Gaussian noise.
    pub fn bayes_accuracy(&self) -> Option<f64> {
        if self.noise != Noise::Gaussian {
            return None;
        }
        let k = self.k as f64;
        if self.sigma_f == 0.0 {
            return Some(if self.mu_f > 0.0 { 1.0 } else { 1.0 / k });
        }
        let a = self.mu_f * (k / (k - 1.0)).sqrt();
        let snr = a / self.sigma_f;
        Some(gaussian_expectation(|u| normal_cdf(u + snr).powf(k - 1.0)))
    }
}
