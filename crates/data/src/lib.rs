//! Data for `logit-reg`: seeded synthetic models, and real data sets read from files ([`real`]).
//!
//! This crate knows nothing of Burn: it produces plain row-major `f64` matrices and labels, and
//! the population quantities (class means, covariances, Fisher direction, Bayes accuracy) that
//! the theory needs. The training code uploads the samples to a device as `TensorData`.
//!
//! Models:
//! - [`SignalPlusNoise`]: the paper's binary model
//!   `x = y μ_f e₁ + σ_f ξ_f e₁ + σ_n ξ_⊥`, with Gaussian or Student-t noise;
//! - [`GaussianClasses`]: binary `x | y ~ N(y μ, Σ)` with full or diagonal Σ;
//! - [`MultiClassSignalNoise`]: K classes with simplex means in a (K−1)-dimensional signal
//!   subspace.
//!
//! # Randomness
//!
//! Every random draw comes from a ChaCha12 stream keyed by the master seed and a
//! [`Stream`] purpose (train set, test set, initial weights, …); see [`stream_rng`]. The train and
//! test sets therefore come from independent streams of one seed, so changing `n_test` never
//! changes the training set, and the same seed always gives the same bytes. Within a set each
//! row has its own stream ([`Stream::Row`]): the rows are drawn in parallel, a row's values do
//! not depend on the thread count or on how many rows are drawn, and [`DATA_FORMAT`] names this
//! version of the draws.
//!
//! # Example
//!
//! ```
//! use logit_reg_data::{LabelScheme, Noise, SignalPlusNoise};
//!
//! let model = SignalPlusNoise {
//!     d: 50,
//!     n: 80,
//!     n_test: 1000,
//!     mu_f: 1.0,
//!     sigma_f: 0.5,
//!     sigma_n: 1.0,
//!     noise: Noise::Gaussian,
//!     labels: LabelScheme::Balanced,
//! };
//! let split = model.generate(7)?;
//! assert_eq!(split.train.x.len(), 80 * 50);
//! assert_eq!(split.train.y.iter().filter(|&&y| y > 0.0).count(), 40);
//! # Ok::<(), logit_reg_data::DataError>(())
//! ```

mod error;
mod gaussian;
mod multiclass;
pub mod real;
mod rng;
mod signal_noise;
pub mod stats;

pub use error::DataError;
pub use gaussian::{Covariance, GaussianClasses};
pub use multiclass::{MultiClassDataset, MultiClassSignalNoise, MultiClassSplit};
pub use rng::{DATA_FORMAT, SampleSet, Stream, stream_rng};
pub use signal_noise::{LabelScheme, Noise, SignalPlusNoise, TScale};

/// A binary data set: `n` samples of dimension `d`, row-major, with labels `y ∈ {−1, +1}`.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryDataset {
    /// Number of samples.
    pub n: usize,
    /// Input dimension.
    pub d: usize,
    /// Samples, row-major: `x[i * d + j]` is coordinate `j` of sample `i`.
    pub x: Vec<f64>,
    /// Labels, each exactly `−1.0` or `+1.0`.
    pub y: Vec<f64>,
}

impl BinaryDataset {
    /// Row `i` of the sample matrix.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.x[i * self.d..(i + 1) * self.d]
    }

    /// The label-absorbed samples `y_i x_i`, row-major `[n, d]`: for a linear classifier without
    /// bias the signed logit is `y_i z_i = (y_i x_i)ᵀ S`.
    pub fn label_absorbed(&self) -> Vec<f64> {
        let mut out = self.x.clone();
        for (row, &y) in out.chunks_mut(self.d).zip(&self.y) {
            row.iter_mut().for_each(|v| *v *= y);
        }
        out
    }
}

/// A train set and a test set drawn from the same model with independent streams.
#[derive(Debug, Clone, PartialEq)]
pub struct BinarySplit {
    /// The training set (`n` samples).
    pub train: BinaryDataset,
    /// The fresh test set (`n_test` samples).
    pub test: BinaryDataset,
}

/// Population quantities of a binary class-conditional model `x | y` with mean `y μ` and
/// class-conditional covariance `Σ`, for the theory.
pub trait BinaryPopulation {
    /// Input dimension `d`.
    fn dim(&self) -> usize;
    /// The class mean `μ` (the `+1` class has mean `μ`, the `−1` class `−μ`).
    fn mean(&self) -> Vec<f64>;
    /// The population Fisher direction `Σ⁻¹ μ`, not normalised.
    fn fisher_direction(&self) -> Result<Vec<f64>, DataError>;
    /// The Bayes accuracy where it is known in closed form (Gaussian noise), else `None`.
    fn bayes_accuracy(&self) -> Option<f64>;
}
