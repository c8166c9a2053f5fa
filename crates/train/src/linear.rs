//! What only a linear model has, reached where the concrete type is known.
//!
//! [`LogitModel`] holds only what every model has. The weight metrics (‖S‖, S₁, cosines), the
//! weight-decay term, the per-run gradient norms, the fused engine and the exact solvers need
//! the linear classifier's weights; the engine asks for them here, by the model's concrete
//! type, and a nonlinear model simply has none.

use std::any::Any;

use logit_reg_model::{LinearClassifier, LogitModel};

/// `model` as the linear classifier, when it is one.
pub fn as_linear<M: LogitModel>(model: &M) -> Option<&LinearClassifier> {
    (model as &dyn Any).downcast_ref::<LinearClassifier>()
}

/// A linear classifier as the model type `M`, when `M` is [`LinearClassifier`].
pub fn into_model<M: LogitModel>(linear: LinearClassifier) -> Option<M> {
    let boxed: Box<dyn Any> = Box::new(linear);
    boxed.downcast::<M>().ok().map(|model| *model)
}

/// The weights of a linear model on the host, row-major `[d, M·C]`; `None` for other models.
pub fn linear_weights<M: LogitModel>(model: &M) -> Option<Vec<f64>> {
    as_linear(model).map(LinearClassifier::weights_f64)
}

/// The bias `[M·C]` of a multi-class linear classifier, as host `f64` (`None` for other models
/// and for the bias-free binary classifier).
pub fn linear_bias<M: LogitModel>(model: &M) -> Option<Vec<f64>> {
    as_linear(model)
        .and_then(|linear| linear.bias.as_ref())
        .map(|bias| logit_reg_model::to_f64_vec(bias.val()))
}
