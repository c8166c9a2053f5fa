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

    /// The penultimate features: what the last affine layer reads (the inputs themselves for
    /// a linear model). The feature metrics (`nc1`, `head_lda_cos`) need them; a model that
    /// returns `None`, the default, gets NaN there.
    ///
    /// # Shapes
    /// - `x`: `[N, d]`
    /// - output: `[M, N, F]`, or `[1, N, F]` when every run reads the same features
    fn features(&self, x: Tensor<2>) -> Option<Tensor<3>> {
        let _ = x;
        None
    }

    /// The last affine layer of every run, on the host: weights row-major `[M, F, C]` and the
    /// bias `[M, C]` (`None` without one). `None`, the default, when the model does not expose
    /// it.
    fn head(&self) -> Option<(Vec<f64>, Option<Vec<f64>>)> {
        None
    }
}

impl LogitModel for LinearClassifier {
    fn logits(&self, x: Tensor<2>) -> Tensor<3> {
        self.forward(x)
    }

    fn runs(&self) -> usize {
        self.runs
    }

    fn features(&self, x: Tensor<2>) -> Option<Tensor<3>> {
        Some(x.unsqueeze_dim(0))
    }

    fn head(&self) -> Option<(Vec<f64>, Option<Vec<f64>>)> {
        // [d, M·C] (column m·C + c) → [M, d, C].
        let w = self.weights_f64();
        let (m, c) = (self.runs, self.classes);
        let d = w.len() / (m * c).max(1);
        let mut out = vec![0.0; w.len()];
        for j in 0..d {
            for run in 0..m {
                for class in 0..c {
                    out[(run * d + j) * c + class] = w[j * m * c + run * c + class];
                }
            }
        }
        let bias = self.bias.as_ref().map(|b| crate::to_f64_vec(b.val()));
        Some((out, bias))
    }
}
