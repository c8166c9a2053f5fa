//! The logit-regularised losses, label smoothing in its usual targets form, and the
//! weight-decay baseline.
//!
//! Conventions (paper.md §1): every data term is the **mean** over the N training samples,
//! except where [`WeightDecayLoss`] is asked for the paper's sum. Each loss returns both the
//! per-sample values and the per-run mean ([`LossOutput`]).

use std::sync::Arc;

use burn::config::Config;
use burn::module::Module;
use burn::tensor::activation::{log_sigmoid, log_softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::error::check_f64;
use crate::penalty::{LogitPenalty, MultiClassPenalty, PenaltyKind};
use crate::{ModelError, to_f64_vec};

/// A loss evaluated for M runs at once.
#[derive(Debug, Clone)]
pub struct LossOutput {
    /// Per-sample losses.
    ///
    /// # Shapes
    /// `[N, M]`
    pub per_sample: Tensor<2>,
    /// The objective of each run (the mean of `per_sample` over samples, plus any weight
    /// penalty).
    ///
    /// # Shapes
    /// `[M]`
    pub mean: Tensor<1>,
}

impl LossOutput {
    /// The sum of the M runs' objectives: a scalar whose gradient with respect to run m's
    /// parameters is the gradient of run m's objective (the runs share no parameters).
    ///
    /// # Shapes
    /// output: `[1]`
    pub fn total(&self) -> Tensor<1> {
        self.mean.clone().sum()
    }
}

/// Mean over the sample axis, written as `sum · (1/N)` (exact in f64 under autodiff, unlike
/// a division by a scalar).
///
/// # Shapes
/// - `per_sample`: `[N, M]`
/// - output: `[M]`
pub fn mean_over_samples(per_sample: Tensor<2>) -> Tensor<1> {
    let [n, m] = per_sample.dims();
    per_sample.sum_dim(0).reshape([m]) * (1.0 / n as f64)
}

/// Binary cross-entropy on signed logits, `log(1 + e^{−t}) = −log σ(t)`.
///
/// # Shapes
/// - `t`: `[N, M]`, output: `[N, M]`
pub fn binary_cross_entropy(t: Tensor<2>) -> Tensor<2> {
    log_sigmoid(t) * -1.0
}

/// Softmax cross-entropy `−log softmax(z)_y` of each sample and run.
///
/// # Shapes
/// - `logits`: `[N, M, K]`
/// - `labels`: `[N]`, class indices in `0..K`
/// - output: `[N, M]`
pub fn softmax_cross_entropy(logits: Tensor<3>, labels: Tensor<1, Int>) -> Tensor<2> {
    let [n, m, _] = logits.dims();
    let index = labels.reshape([n, 1, 1]).repeat_dim(1, m);
    (log_softmax(logits, 2).gather(2, index) * -1.0).reshape([n, m])
}

/// Checks the per-run α: at least one value, each in `[0, 1)`, and all 0 without a penalty
/// (`has_penalty = false`). The one place α is validated; the error names `loss.alpha`.
pub fn validate_alpha(alpha: &[f64], has_penalty: bool) -> Result<(), ModelError> {
    if alpha.is_empty() {
        return Err(ModelError::WrongLength {
            field: "loss.alpha",
            len: 0,
            expected: 1,
        });
    }
    for &a in alpha {
        check_f64("loss.alpha", a, "[0, 1)", |v| (0.0..1.0).contains(&v))?;
        if !has_penalty && a != 0.0 {
            return Err(ModelError::OutOfRange {
                field: "loss.alpha",
                value: a.to_string(),
                allowed: "0 when loss.penalty = none",
            });
        }
    }
    Ok(())
}

fn alpha_row(alpha: &[f64], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(alpha.to_vec(), [1, alpha.len()]), device)
}

/// `(1 − α_m)·ce + α_m·f`, with α a `[1, M]` row broadcast over the samples.
fn mix(ce: Tensor<2>, f: Tensor<2>, alpha_row: &Tensor<2>) -> Tensor<2> {
    let alpha = alpha_row.clone().to_device(&ce.device());
    ce * (alpha.clone() * -1.0 + 1.0) + f * alpha
}

/// Configuration of a [`LogitRegularizedLoss`] (binary) or [`MultiClassLogitLoss`].
#[derive(Config, Debug)]
pub struct LogitLossConfig {
    /// The penalty f.
    pub penalty: PenaltyKind,
    /// α of each run, in `[0, 1)` (all 0 when the penalty is `none`).
    pub alpha: Vec<f64>,
}

impl LogitLossConfig {
    /// The binary loss on `device`.
    pub fn init(&self, device: &Device) -> Result<LogitRegularizedLoss, ModelError> {
        LogitRegularizedLoss::new(self.penalty.binary()?, self.alpha.clone(), device)
    }

    /// The multi-class loss on `device`.
    pub fn init_multiclass(&self, device: &Device) -> Result<MultiClassLogitLoss, ModelError> {
        MultiClassLogitLoss::new(self.penalty.multiclass()?, self.alpha.clone(), device)
    }
}

/// The binary logit-regularised loss of M runs,
///
/// `ℓ_m(t) = (1 − α_m) log(1 + e^{−t}) + α_m f(t)`, `L_m = (1/N) Σ_i ℓ_m(t_{i,m})`,
///
/// on the signed logits `t_{i,m} = y_i z_{i,m}`.
#[derive(Module, Debug)]
pub struct LogitRegularizedLoss {
    /// The penalty f, or `None` for plain cross-entropy.
    #[module(skip)]
    pub penalty: Option<Arc<dyn LogitPenalty>>,
    /// α of each run.
    #[module(skip)]
    pub alpha: Vec<f64>,
    /// α as a `[1, M]` row on the device.
    alpha_row: Tensor<2>,
}

impl LogitRegularizedLoss {
    /// The loss of `penalty` with per-run `alpha`, each in `[0, 1)`.
    pub fn new(
        penalty: Option<Arc<dyn LogitPenalty>>,
        alpha: Vec<f64>,
        device: &Device,
    ) -> Result<Self, ModelError> {
        validate_alpha(&alpha, penalty.is_some())?;
        let alpha_row = alpha_row(&alpha, device);
        Ok(Self {
            penalty,
            alpha,
            alpha_row,
        })
    }

    /// Number of runs M.
    pub fn runs(&self) -> usize {
        self.alpha.len()
    }

    /// Per-sample and mean losses.
    ///
    /// # Shapes
    /// - `margins`: `[N, M]`, the signed logits `y_i z_{i,m}`
    /// - output: per-sample `[N, M]`, mean `[M]`
    pub fn forward(&self, margins: Tensor<2>) -> LossOutput {
        let ce = binary_cross_entropy(margins.clone());
        let per_sample = match &self.penalty {
            None => ce,
            Some(penalty) => mix(ce, penalty.apply(margins), &self.alpha_row),
        };
        let mean = mean_over_samples(per_sample.clone());
        LossOutput { per_sample, mean }
    }
}

/// The multi-class logit-regularised loss of M runs,
///
/// `ℓ_m(z, y) = (1 − α_m) (−log softmax(z)_y) + α_m f(z)`, averaged over the N samples.
#[derive(Module, Debug)]
pub struct MultiClassLogitLoss {
    /// The penalty f, or `None` for plain softmax cross-entropy.
    #[module(skip)]
    pub penalty: Option<Arc<dyn MultiClassPenalty>>,
    /// α of each run.
    #[module(skip)]
    pub alpha: Vec<f64>,
    alpha_row: Tensor<2>,
}

impl MultiClassLogitLoss {
    /// The loss of `penalty` with per-run `alpha`, each in `[0, 1)`.
    pub fn new(
        penalty: Option<Arc<dyn MultiClassPenalty>>,
        alpha: Vec<f64>,
        device: &Device,
    ) -> Result<Self, ModelError> {
        validate_alpha(&alpha, penalty.is_some())?;
        let alpha_row = alpha_row(&alpha, device);
        Ok(Self {
            penalty,
            alpha,
            alpha_row,
        })
    }

    /// Per-sample and mean losses.
    ///
    /// # Shapes
    /// - `logits`: `[N, M, K]`
    /// - `labels`: `[N]`, class indices
    /// - output: per-sample `[N, M]`, mean `[M]`
    pub fn forward(&self, logits: Tensor<3>, labels: Tensor<1, Int>) -> LossOutput {
        let ce = softmax_cross_entropy(logits.clone(), labels);
        let per_sample = match &self.penalty {
            None => ce,
            Some(penalty) => mix(ce, penalty.apply(logits), &self.alpha_row),
        };
        let mean = mean_over_samples(per_sample.clone());
        LossOutput { per_sample, mean }
    }
}

/// α of the penalty form equal to binary label smoothing with targets `(1 − ε, ε)`: **α = 2ε**,
/// for ε ∈ [0, ½).
pub fn binary_alpha_from_epsilon(epsilon: f64) -> Result<f64, ModelError> {
    check_f64(
        "loss.epsilon",
        epsilon,
        "[0, 0.5) for binary label smoothing",
        |v| (0.0..0.5).contains(&v),
    )?;
    Ok(2.0 * epsilon)
}

/// α of the penalty form equal to K-class label smoothing with targets
/// `(1 − ε) onehot + ε/K`: **α = ε**, for ε ∈ [0, 1).
pub fn multiclass_alpha_from_epsilon(epsilon: f64) -> Result<f64, ModelError> {
    check_f64(
        "loss.epsilon",
        epsilon,
        "[0, 1) for multi-class label smoothing",
        |v| (0.0..1.0).contains(&v),
    )?;
    Ok(epsilon)
}

/// Binary label smoothing in its usual targets form,
/// `(1 − ε) log(1 + e^{−t}) + ε log(1 + e^{t})`.
///
/// # Shapes
/// - `margins`: `[N, M]` signed logits; output `[N, M]`
pub fn binary_label_smoothing_targets(margins: Tensor<2>, epsilon: f64) -> Tensor<2> {
    binary_cross_entropy(margins.clone()) * (1.0 - epsilon)
        + binary_cross_entropy(margins * -1.0) * epsilon
}

/// K-class label smoothing in its usual targets form, `−Σ_c t_c log softmax(z)_c` with
/// `t = (1 − ε) onehot(y) + ε/K`.
///
/// # Shapes
/// - `logits`: `[N, M, K]`, `labels`: `[N]`; output `[N, M]`
pub fn multiclass_label_smoothing_targets(
    logits: Tensor<3>,
    labels: &[usize],
    epsilon: f64,
) -> Tensor<2> {
    let [n, m, k] = logits.dims();
    let mut targets = vec![epsilon / k as f64; n * k];
    for (i, &label) in labels.iter().enumerate() {
        targets[i * k + label] += 1.0 - epsilon;
    }
    let targets = Tensor::<3>::from_data(TensorData::new(targets, [n, 1, k]), &logits.device());
    (log_softmax(logits, 2) * targets)
        .sum_dim(2)
        .reshape([n, m])
        * -1.0
}

/// Whether the weight-decay baseline's data term is a sum or a mean over samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DataTerm {
    /// `(1/N) Σ_i CE_i`: the default, the same scale as the logit-regularised losses, so GD with
    /// η = 0.1 is stable. Equivalent to the sum form with `γ_sum = N γ_mean`.
    #[default]
    Mean,
    /// `Σ_i CE_i`, as the paper writes it (with γ = 0.2).
    Sum,
}

/// The weight-decay baseline (not a logit regulariser):
///
/// `L_m = D_m + (γ/2) ‖S_m‖²`, `D_m = (1/N) Σ_i log(1 + e^{−t_{i,m}})` ([`DataTerm::Mean`], the
/// default) or `Σ_i log(1 + e^{−t_{i,m}})` ([`DataTerm::Sum`], the paper's form).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeightDecayLoss {
    /// γ ≥ 0.
    pub gamma: f64,
    /// Sum or mean over samples.
    pub data_term: DataTerm,
}

impl WeightDecayLoss {
    /// The baseline with `gamma ≥ 0`.
    pub fn new(gamma: f64, data_term: DataTerm) -> Result<Self, ModelError> {
        check_f64("loss.gamma", gamma, ">= 0 and finite", |v| v >= 0.0)?;
        Ok(Self { gamma, data_term })
    }

    /// Per-sample cross-entropies and each run's objective.
    ///
    /// # Shapes
    /// - `margins`: `[N, M]` signed logits
    /// - `weight`: `[d, M]`, the binary weights S of the M runs
    /// - output: per-sample `[N, M]`, mean `[M]`
    pub fn forward(&self, margins: Tensor<2>, weight: Tensor<2>) -> LossOutput {
        let [_, m] = margins.dims();
        let per_sample = binary_cross_entropy(margins);
        let data = match self.data_term {
            DataTerm::Mean => mean_over_samples(per_sample.clone()),
            DataTerm::Sum => per_sample.clone().sum_dim(0).reshape([m]),
        };
        let norm_sq = (weight.clone() * weight).sum_dim(0).reshape([m]);
        LossOutput {
            per_sample,
            mean: data + norm_sq * (0.5 * self.gamma),
        }
    }
}

/// Checks that a penalty's tensor form agrees with its scalar form on a grid of
/// `t ∈ [−50, 50]`, to relative tolerance `tol` (1e-12 is right for f64, 1e-5 for f32).
pub fn check_penalty_tensor(
    penalty: &dyn LogitPenalty,
    device: &Device,
    tol: f64,
) -> Result<(), ModelError> {
    let grid: Vec<f64> = (0..=400)
        .map(|i| -50.0 + 0.25 * f64::from(i) + 0.0071)
        .collect();
    let t = Tensor::<2>::from_data(TensorData::new(grid.clone(), [grid.len(), 1]), device);
    let values = to_f64_vec(penalty.apply(t));
    for (&t, &v) in grid.iter().zip(&values) {
        let want = penalty.value(t);
        if !v.is_finite() || (v - want).abs() > tol * (1.0 + want.abs()) {
            return Err(ModelError::InvalidPenalty {
                penalty: penalty.name(),
                check: "tensor-form",
                at: t,
                detail: format!("apply gives {v}, value gives {want}"),
            });
        }
    }
    Ok(())
}
