//! Burn modules of `logit-reg`: the model trait [`LogitModel`], the linear classifier, the
//! multilayer perceptron [`Mlp`] and the small convolutional network [`ConvNet`] (each with M
//! runs side by side), the family of
//! logit-regularised losses `ℓ = (1 − α) CE + α f`, the per-sample targets `z*` with their loss
//! floors, label smoothing in both of its forms, and the weight-decay baseline.
//!
//! Everything here is written against Burn 0.22's backend-free API: tensors are `Tensor<D>`,
//! the device is a runtime value ([`make_device`]) and autodiff is `device.autodiff()`.
//!
//! # Example: the loss of two runs, α = 0 and α = 0.2
//!
//! ```
//! use logit_reg_model::{
//!     Backend, LinearClassifierConfig, LogitLossConfig, PenaltyKind, Precision, make_device,
//! };
//! use burn::tensor::{Tensor, TensorData};
//!
//! let device = make_device(Backend::Flex, Precision::F32)?.autodiff();
//! let model = LinearClassifierConfig::new(3).with_runs(2).init(&device)?;
//! let loss = LogitLossConfig::new(PenaltyKind::Quadratic, vec![0.0, 0.2]).init(&device)?;
//! // Label-absorbed inputs y_i x_i, N = 2 samples.
//! let yx = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.5, 0.0, 0.8, -0.1, 0.3], [2, 3]), &device);
//! let out = loss.forward(model.forward_binary(yx));
//! // At S = 0 every loss is log 2.
//! let mean = logit_reg_model::to_f64_vec(out.mean);
//! assert!((mean[0] - 2f64.ln()).abs() < 1e-6 && (mean[1] - 0.8 * 2f64.ln()).abs() < 1e-6);
//! # Ok::<(), logit_reg_model::ModelError>(())
//! ```

pub mod cnn;
mod device;
mod error;
pub mod linear;
pub mod logit_model;
pub mod loss;
pub mod mlp;
pub mod penalty;
pub mod target;
pub mod theory;

pub use cnn::{ConvNet, ConvNetConfig};
pub use device::{Backend, Precision, device_name, make_device, to_f64_vec};
pub use error::ModelError;
pub use linear::{LinearClassifier, LinearClassifierConfig};
pub use logit_model::LogitModel;
pub use loss::{
    DataTerm, LogitLossConfig, LogitRegularizedLoss, LossOutput, MultiClassLogitLoss,
    WeightDecayLoss,
};
pub use mlp::{Activation, Mlp, MlpConfig, RunLinear};
pub use penalty::{
    ElementwiseSum, LabelSmoothing, LogitPenalty, MultiClassPenalty, PenaltyKind, Power,
    PseudoHuber, Quadratic, SoftmaxLabelSmoothing, check_penalty,
};
pub use target::{Target, binary_target, multiclass_target};
