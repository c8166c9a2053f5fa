//! The linear classifier, holding M independent runs in one module.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use logit_reg_data::{Stream, stream_rng};
use rand_distr::{Distribution, StandardNormal};

use crate::ModelError;
use crate::error::check_f64;

/// Configuration of a [`LinearClassifier`].
///
/// `classes = 1` is the paper's binary classifier: one scalar logit `z = Sᵀx`, **no bias**,
/// labels ±1. `classes = K ≥ 2` is the multi-class classifier `z = Wᵀx + b` with K logits and a
/// bias. Weights start at zero (`init_std = 0`, the default) or as iid `N(0, init_std²)` drawn
/// from the stream [`Stream::Init`] of `init_seed` with index `first_run + m` for run m, so a
/// batch of M runs starts exactly where M separate single runs would.
#[derive(Config, Debug)]
pub struct LinearClassifierConfig {
    /// Input dimension d ≥ 1.
    pub d: usize,
    /// Number of runs M ≥ 1 held side by side.
    #[config(default = 1)]
    pub runs: usize,
    /// Logits per run: 1 for binary (no bias), K ≥ 2 for multi-class (with bias).
    #[config(default = 1)]
    pub classes: usize,
    /// Standard deviation of the Gaussian initial weights (0: zero initialisation).
    #[config(default = 0.0)]
    pub init_std: f64,
    /// Master seed of the initial weights.
    #[config(default = 0)]
    pub init_seed: u64,
    /// Global index of the first run (for the per-run initialisation streams).
    #[config(default = 0)]
    pub first_run: u64,
}

impl LinearClassifierConfig {
    /// Validates the configuration.
    pub fn validate(&self) -> Result<(), ModelError> {
        let positive = |field: &'static str, value: usize| {
            if value >= 1 {
                Ok(())
            } else {
                Err(ModelError::OutOfRange {
                    field,
                    value: value.to_string(),
                    allowed: ">= 1",
                })
            }
        };
        positive("model.d", self.d)?;
        positive("model.runs", self.runs)?;
        positive("model.classes", self.classes)?;
        check_f64("model.init_std", self.init_std, ">= 0 and finite", |v| {
            v >= 0.0
        })
    }

    /// The initial weights, row-major `[d, M·C]` (column `m·C + c` is logit c of run m).
    pub fn initial_weights(&self) -> Vec<f64> {
        let (d, m, c) = (self.d, self.runs, self.classes);
        let mut w = vec![0.0; d * m * c];
        if self.init_std > 0.0 {
            for run in 0..m {
                let mut rng = stream_rng(
                    self.init_seed,
                    Stream::Init {
                        index: self.first_run + run as u64,
                    },
                );
                // Per run: column-major over (feature j, class c) so that run m's draws do not
                // depend on M.
                for j in 0..d {
                    for class in 0..c {
                        let v: f64 = StandardNormal.sample(&mut rng);
                        w[j * m * c + run * c + class] = self.init_std * v;
                    }
                }
            }
        }
        w
    }

    /// Builds the classifier on `device` (pass an autodiff device to train it).
    pub fn init(&self, device: &Device) -> Result<LinearClassifier, ModelError> {
        self.validate()?;
        let (d, m, c) = (self.d, self.runs, self.classes);
        let weight =
            Tensor::<2>::from_data(TensorData::new(self.initial_weights(), [d, m * c]), device);
        let bias = (c > 1).then(|| Param::from_tensor(Tensor::<1>::zeros([m * c], device)));
        Ok(LinearClassifier {
            weight: Param::from_tensor(weight),
            bias,
            runs: m,
            classes: c,
        })
    }
}

/// M linear classifiers side by side, sharing one input batch.
///
/// Binary (`classes = 1`): `z_{i,m} = x_iᵀ S_m`, no bias. Multi-class: `z_{i,m,c} = x_iᵀ W_{m,c} +
/// b_{m,c}`. All runs' logits come from one matrix product `X W`, `W ∈ R^{d × M·C}`.
#[derive(Module, Debug)]
pub struct LinearClassifier {
    /// Weights, `[d, M·C]`: column `m·C + c` is logit c of run m.
    pub weight: Param<Tensor<2>>,
    /// Bias `[M·C]` (multi-class only).
    pub bias: Option<Param<Tensor<1>>>,
    /// Number of runs M.
    pub runs: usize,
    /// Logits per run C (1 = binary).
    pub classes: usize,
}

impl LinearClassifier {
    /// Logits of every run.
    ///
    /// # Shapes
    /// - `x`: `[N, d]`
    /// - output: `[N, M, C]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<3> {
        let [n, _] = x.dims();
        let mut z = x.matmul(self.weight.val());
        if let Some(bias) = &self.bias {
            z = z + bias.val().unsqueeze_dim(0);
        }
        z.reshape([n, self.runs, self.classes])
    }

    /// Binary logits `z_{i,m} = x_iᵀ S_m`; pass the label-absorbed inputs `y_i x_i` to get the
    /// signed logits `t_{i,m} = y_i z_{i,m}` directly.
    ///
    /// # Shapes
    /// - `x`: `[N, d]`
    /// - output: `[N, M]`
    pub fn forward_binary(&self, x: Tensor<2>) -> Tensor<2> {
        debug_assert_eq!(
            self.classes, 1,
            "forward_binary on a multi-class classifier"
        );
        x.matmul(self.weight.val())
    }

    /// The weights as host `f64`, row-major `[d, M·C]`.
    pub fn weights_f64(&self) -> Vec<f64> {
        crate::to_f64_vec(self.weight.val())
    }

    /// `‖S_m‖²` of each run (Frobenius over its C columns), for the weight-decay baseline.
    ///
    /// # Shapes
    /// - output: `[M]`
    pub fn squared_weight_norms(&self) -> Tensor<1> {
        let w = self.weight.val();
        let [_, cols] = w.dims();
        (w.clone() * w)
            .sum_dim(0)
            .reshape([self.runs, cols / self.runs])
            .sum_dim(1)
            .reshape([self.runs])
    }

    /// Each run's gradient norm (weights and bias) from the gradients of one step.
    ///
    /// # Shapes
    /// - output: `[M]`
    pub fn run_gradient_norms(&self, grads: &GradientsParams) -> Option<Vec<f64>> {
        let g: Tensor<2> = grads.get(self.weight.id)?;
        let [d, cols] = g.dims();
        let c = cols / self.runs;
        let mut sq = vec![0.0; self.runs];
        let values = crate::to_f64_vec(g);
        for j in 0..d {
            for col in 0..cols {
                sq[col / c] += values[j * cols + col].powi(2);
            }
        }
        if let Some(gb) = self.bias.as_ref().and_then(|b| grads.get::<1>(b.id)) {
            for (col, v) in crate::to_f64_vec(gb).into_iter().enumerate() {
                sq[col / c] += v * v;
            }
        }
        Some(sq.into_iter().map(f64::sqrt).collect())
    }

    /// The same classifier with the weights `weights` (row-major `[d, M·C]`, host f64),
    /// uploaded to the device of the current ones; the bias is kept.
    ///
    /// # Shapes
    /// - `weights`: `[d·M·C]`
    pub fn with_weights(&self, weights: &[f64]) -> Self {
        let device = self.weight.val().device();
        let [d, cols] = self.weight.val().dims();
        let tensor = Tensor::<2>::from_data(TensorData::new(weights.to_vec(), [d, cols]), &device);
        let mut model = self.clone();
        model.weight = Param::from_tensor(tensor);
        model
    }

    /// The same classifier with the weights `weights` (row-major `[d, M·C]`) and, for a
    /// classifier with a bias, the bias `bias` (`[M·C]`), both host f64 uploaded to the device
    /// of the current ones. A `bias` is ignored by a bias-free classifier.
    ///
    /// # Shapes
    /// - `weights`: `[d·M·C]`, `bias`: `[M·C]`
    pub fn with_parameters(&self, weights: &[f64], bias: Option<&[f64]>) -> Self {
        let mut model = self.with_weights(weights);
        if let (Some(current), Some(values)) = (&model.bias, bias) {
            let device = current.val().device();
            let tensor =
                Tensor::<1>::from_data(TensorData::new(values.to_vec(), [values.len()]), &device);
            model.bias = Some(Param::from_tensor(tensor));
        }
        model
    }
}
