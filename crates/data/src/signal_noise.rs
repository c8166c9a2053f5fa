use rand::RngExt;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha12Rng;
use rand_distr::{Distribution, StandardNormal, StudentT};
use serde::{Deserialize, Serialize};

use crate::error::{check_f64, check_usize};
use crate::stats::normal_cdf;
use rayon::prelude::*;

use crate::{BinaryDataset, BinaryPopulation, BinarySplit, DataError, SampleSet, stream_rng};

/// Fewest rows per parallel task of a draw (a row is at least one noise component).
pub(crate) const ROWS_PER_TASK: usize = 16;

/// How Student-t noise components are scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TScale {
    /// Each component has unit variance: `ξ = t_ν · √((ν−2)/ν)`; needs ν > 2. Then σ_f and σ_n
    /// are standard deviations for every noise law, and second-moment theory (Fisher, Eq. 5's
    /// argument) uses the same σ's. This is the default.
    #[default]
    UnitVariance,
    /// Each component is a raw `t_ν` (unit scale parameter, variance `ν/(ν−2)` for ν > 2,
    /// infinite for ν ≤ 2); needs ν > 0.
    UnitScale,
}

/// The law of the iid noise components `ξ_f` and `ξ_⊥`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case", tag = "law")]
pub enum Noise {
    /// Standard Gaussian components.
    #[default]
    Gaussian,
    /// Student-t components with `nu` degrees of freedom, scaled as `scale` says.
    StudentT {
        /// Degrees of freedom ν.
        nu: f64,
        /// Unit variance (default, needs ν > 2) or unit scale (needs ν > 0).
        #[serde(default)]
        scale: TScale,
    },
}

impl Noise {
    /// Validates ν against the chosen scaling.
    pub fn validate(&self) -> Result<(), DataError> {
        match *self {
            Noise::Gaussian => Ok(()),
            Noise::StudentT {
                nu,
                scale: TScale::UnitVariance,
            } => check_f64("noise.nu", nu, "> 2 (unit-variance Student-t)", |v| v > 2.0),
            Noise::StudentT {
                nu,
                scale: TScale::UnitScale,
            } => check_f64("noise.nu", nu, "> 0", |v| v > 0.0),
        }
    }

    /// Variance of one noise component: 1 for Gaussian and unit-variance t, `ν/(ν−2)` for a
    /// unit-scale t with ν > 2, infinite for ν ≤ 2.
    pub fn component_variance(&self) -> f64 {
        match *self {
            Noise::Gaussian
            | Noise::StudentT {
                scale: TScale::UnitVariance,
                ..
            } => 1.0,
            Noise::StudentT {
                nu,
                scale: TScale::UnitScale,
            } if nu > 2.0 => nu / (nu - 2.0),
            Noise::StudentT { .. } => f64::INFINITY,
        }
    }
}

/// Draws iid noise components of one [`Noise`] law.
pub(crate) enum NoiseSampler {
    Gaussian,
    StudentT { dist: StudentT<f64>, factor: f64 },
}

impl NoiseSampler {
    pub(crate) fn new(noise: Noise) -> Result<Self, DataError> {
        noise.validate()?;
        Ok(match noise {
            Noise::Gaussian => NoiseSampler::Gaussian,
            Noise::StudentT { nu, scale } => {
                let dist = StudentT::new(nu).map_err(|_| DataError::OutOfRange {
                    field: "noise.nu",
                    value: nu.to_string(),
                    allowed: "> 0",
                })?;
                let factor = match scale {
                    TScale::UnitVariance => ((nu - 2.0) / nu).sqrt(),
                    TScale::UnitScale => 1.0,
                };
                NoiseSampler::StudentT { dist, factor }
            }
        })
    }

    pub(crate) fn sample(&self, rng: &mut ChaCha12Rng) -> f64 {
        match self {
            NoiseSampler::Gaussian => StandardNormal.sample(rng),
            NoiseSampler::StudentT { dist, factor } => dist.sample(rng) * factor,
        }
    }
}

/// How labels are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LabelScheme {
    /// Each label is an independent fair ±1 (class sizes fluctuate by about √n).
    Iid,
    /// Exactly ⌈n/2⌉ labels `+1` and ⌊n/2⌋ labels `−1`, in a random order. The default: it
    /// removes the class-imbalance fluctuation that a no-bias classifier cannot absorb.
    #[default]
    Balanced,
}

/// Draws `n` class indices in `0..k`, iid uniform or balanced (class sizes differ by at most
/// one, the first `n mod k` classes get the extra sample), shuffled.
pub(crate) fn draw_classes(
    scheme: LabelScheme,
    n: usize,
    k: usize,
    rng: &mut ChaCha12Rng,
) -> Vec<usize> {
    match scheme {
        LabelScheme::Iid => (0..n).map(|_| rng.random_range(0..k)).collect(),
        LabelScheme::Balanced => {
            let mut classes: Vec<usize> = (0..n).map(|i| i % k).collect();
            classes.shuffle(rng);
            classes
        }
    }
}

/// Binary labels drawn sample by sample: a balanced scheme shuffles its ±1 vector up front
/// (from the same stream), an iid scheme draws each label just before its sample's noise.
pub(crate) struct BinaryLabels(Option<Vec<usize>>);

impl BinaryLabels {
    pub(crate) fn new(scheme: LabelScheme, n: usize, rng: &mut ChaCha12Rng) -> Self {
        match scheme {
            LabelScheme::Balanced => Self(Some(draw_classes(LabelScheme::Balanced, n, 2, rng))),
            LabelScheme::Iid => Self(None),
        }
    }

    /// The label of sample `i`: class 0 is `+1` (so a balanced odd n has one extra `+1`).
    pub(crate) fn label(&self, i: usize, rng: &mut ChaCha12Rng) -> f64 {
        let class = match &self.0 {
            Some(classes) => classes[i],
            None => usize::from(rng.random_bool(0.5)),
        };
        if class == 0 { 1.0 } else { -1.0 }
    }
}

/// The paper's binary signal-plus-noise model (paper.md §2):
///
/// `x = y μ_f e₁ + σ_f ξ_f e₁ + σ_n ξ_⊥`
///
/// with `y ∈ {−1, +1}`, a scalar feature noise `ξ_f` along the signal direction `e₁` and iid
/// components of `ξ_⊥` in the `d − 1` orthogonal directions. All noise components follow the
/// same [`Noise`] law. The class-conditional covariance is `diag(σ_f², σ_n², …, σ_n²)` times
/// [`Noise::component_variance`].
///
/// Sampling order: balanced labels first, as a shuffled vector, from the set's stream; then,
/// from each row's own stream ([`crate::Stream::Row`]), its label (iid scheme only), `ξ_f`, and
/// `ξ_⊥` in coordinate order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SignalPlusNoise {
    /// Input dimension d ≥ 1.
    pub d: usize,
    /// Training-set size N ≥ 1.
    pub n: usize,
    /// Test-set size ≥ 1 (fresh samples from an independent stream).
    pub n_test: usize,
    /// Signal strength μ_f ≥ 0 along e₁.
    pub mu_f: f64,
    /// Feature noise σ_f ≥ 0 (along e₁).
    pub sigma_f: f64,
    /// Orthogonal noise σ_n ≥ 0.
    pub sigma_n: f64,
    /// Noise law of the components.
    pub noise: Noise,
    /// Label scheme.
    pub labels: LabelScheme,
}

impl SignalPlusNoise {
    /// Checks every parameter; the error names the first offending field.
    pub fn validate(&self) -> Result<(), DataError> {
        check_usize("d", self.d, ">= 1", |v| v >= 1)?;
        check_usize("n", self.n, ">= 1", |v| v >= 1)?;
        check_usize("n_test", self.n_test, ">= 1", |v| v >= 1)?;
        check_f64("mu_f", self.mu_f, ">= 0 and finite", |v| v >= 0.0)?;
        check_f64("sigma_f", self.sigma_f, ">= 0 and finite", |v| v >= 0.0)?;
        check_f64("sigma_n", self.sigma_n, ">= 0 and finite", |v| v >= 0.0)?;
        self.noise.validate()
    }

    /// The aspect ratio λ = d / N (the paper's convention).
    pub fn aspect_ratio(&self) -> f64 {
        self.d as f64 / self.n as f64
    }

    /// Draws `n` samples of `set` from `seed`: balanced labels from the set's stream, then each
    /// row (its iid label, ξ_f, ξ_⊥) from its own stream, rows in parallel.
    pub fn sample(&self, n: usize, seed: u64, set: SampleSet) -> Result<BinaryDataset, DataError> {
        self.validate()?;
        let sampler = NoiseSampler::new(self.noise)?;
        let d = self.d;
        let labels = BinaryLabels::new(self.labels, n, &mut stream_rng(seed, set.stream()));
        let mut x = vec![0.0; n * d];
        let mut y = vec![0.0; n];
        x.par_chunks_mut(d)
            .zip(y.par_iter_mut())
            .enumerate()
            .with_min_len(ROWS_PER_TASK)
            .for_each(|(i, (row, label))| {
                let mut rng = stream_rng(seed, set.row(i));
                *label = labels.label(i, &mut rng);
                row[0] = *label * self.mu_f + self.sigma_f * sampler.sample(&mut rng);
                for v in &mut row[1..] {
                    *v = self.sigma_n * sampler.sample(&mut rng);
                }
            });
        Ok(BinaryDataset { n, d, x, y })
    }

    /// The train set (`n` samples, [`SampleSet::Train`]) and the test set (`n_test` samples,
    /// [`SampleSet::Test`]) of `seed`.
    pub fn generate(&self, seed: u64) -> Result<BinarySplit, DataError> {
        let train = self.generate_train(seed)?;
        let test = self.sample(self.n_test, seed, SampleSet::Test)?;
        Ok(BinarySplit { train, test })
    }

    /// The unit model of this one: the same shape, labels and noise law with μ_f = 0 and
    /// σ_f = σ_n = 1, whose draw holds the raw `(y, ξ_f, ξ_⊥)` that every (μ_f, σ_f, σ_n)
    /// rescales ([`SignalPlusNoise::rescale`]).
    pub fn unit(&self) -> Self {
        Self {
            mu_f: 0.0,
            sigma_f: 1.0,
            sigma_n: 1.0,
            ..*self
        }
    }

    /// This model's draw from the [`SignalPlusNoise::unit`] model's draw of the same seed and
    /// set: `x = (y μ_f + σ_f ξ_f, σ_n ξ_⊥)`, computed with the same operations as
    /// [`SignalPlusNoise::sample`], so bit-identical to drawing it afresh (the unit draw's
    /// first input is `y·0 + 1·ξ_f = ξ_f` and its others `1·ξ_⊥ = ξ_⊥`, exactly).
    pub fn rescale(&self, unit: &BinaryDataset) -> BinaryDataset {
        BinaryDataset {
            n: unit.n,
            d: unit.d,
            x: self.rescaled_inputs(unit, |v| v),
            y: unit.y.clone(),
        }
    }

    /// The inputs of [`SignalPlusNoise::rescale`], each passed through `convert` as it is
    /// made, in one pass over the unit draw: `rescaled_inputs(unit, |v| v as f32)` is the
    /// rescaled set rounded to f32 without its f64 copy (the test set at d = 3000 is 240 MB
    /// of f64).
    ///
    /// # Shapes
    /// - `unit.x`: `[n, d]` row-major; returns `[n, d]` row-major
    pub fn rescaled_inputs<T>(&self, unit: &BinaryDataset, convert: impl Fn(f64) -> T) -> Vec<T> {
        let d = unit.d;
        let mut x = Vec::with_capacity(unit.x.len());
        for (row, label) in unit.x.chunks_exact(d.max(1)).zip(&unit.y) {
            if let Some((first, rest)) = row.split_first() {
                x.push(convert(*label * self.mu_f + self.sigma_f * *first));
                x.extend(rest.iter().map(|v| convert(*v * self.sigma_n)));
            }
        }
        x
    }

    /// The train set of `seed` alone, identical to `generate(seed).train` (the two sets come
    /// from separate streams), without drawing the usually larger test set.
    pub fn generate_train(&self, seed: u64) -> Result<BinaryDataset, DataError> {
        self.sample(self.n, seed, SampleSet::Train)
    }

    /// Exact population accuracy of the classifier `sign(Sᵀx)` under **Gaussian** noise, from its
    /// components along and orthogonal to e₁ (paper Eq. 5):
    ///
    /// `A = Φ( S₁ μ_f / √(S₁² σ_f² + ‖S_⊥‖² σ_n²) )`.
    ///
    /// Returns `None` for non-Gaussian noise. A zero denominator gives 1 (or ½ when `S₁ μ_f = 0`,
    /// or 0 when negative).
    pub fn gaussian_accuracy(&self, s1: f64, s_perp_norm: f64) -> Option<f64> {
        if self.noise != Noise::Gaussian {
            return None;
        }
        Some(crate::stats::signal_noise_accuracy(
            s1,
            s_perp_norm,
            self.mu_f,
            self.sigma_f,
            self.sigma_n,
        ))
    }
}

impl BinaryPopulation for SignalPlusNoise {
    fn dim(&self) -> usize {
        self.d
    }

    fn mean(&self) -> Vec<f64> {
        let mut mu = vec![0.0; self.d];
        mu[0] = self.mu_f;
        mu
    }

    /// The Fisher direction `Σ⁻¹μ = μ_f / (σ_f² v) e₁` points along e₁ for every σ's (v is the
    /// component variance); it is returned as `e₁` (positive scale), which is also the σ_f → 0
    /// limit.
    fn fisher_direction(&self) -> Result<Vec<f64>, DataError> {
        self.validate()?;
        let mut e1 = vec![0.0; self.d];
        e1[0] = 1.0;
        Ok(e1)
    }

    /// Gaussian noise: `Φ(μ_f/σ_f)` (1 when σ_f = 0 and μ_f > 0). Student-t: `None`.
    fn bayes_accuracy(&self) -> Option<f64> {
        if self.noise != Noise::Gaussian {
            return None;
        }
        Some(if self.sigma_f > 0.0 {
            normal_cdf(self.mu_f / self.sigma_f)
        } else if self.mu_f > 0.0 {
            1.0
        } else {
            0.5
        })
    }
}
