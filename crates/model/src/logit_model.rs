//! The one trait every model implements: inputs to the logits of M runs.

use burn::module::Module;
use burn::tensor::Tensor;

use crate::LinearClassifier;

/// A Burn module that maps inputs to the logits of M independent runs. The training loop, the
/// regularisers and the logit metrics use only this, so nonlinear models train in the same
/// machinery. What only a linear model has (its weights, the fused engine, the exact solvers)
/// is not part of the trait: the engine reaches it through the concrete type
/// ([`LinearClassifier`]) where it knows it.
pub trait LogitModel: Module + Sized + 'static {
    /// Logits of every run.
    ///
    /// # Shapes
    /// - `x`: `[N, d]`
    /// - output: `[N, M, C]` (C = 1 for a binary model)
    fn logits(&self, x: Tensor<2>) -> Tensor<3>;

    /// Number of runs M.
    fn runs(&self) -> usize;
}

impl LogitModel for LinearClassifier {
    fn logits(&self, x: Tensor<2>) -> Tensor<3> {
        self.forward(x)
    }

    fn runs(&self) -> usize {
        self.runs
    }
}
