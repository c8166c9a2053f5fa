//! The objective of each run: a margin loss (binary), the multi-class loss, and the
//! weight-decay baseline's `γ/2 ‖S‖²`.

use std::sync::Arc;

use burn::tensor::{Int, Tensor};
use logit_reg_model::{LogitModel, LogitRegularizedLoss, LossOutput, MultiClassLogitLoss};

use crate::TrainError;
use crate::fused::PointwiseMarginLoss;
use crate::linear::as_linear;
use crate::problem::{Labels, Problem};

/// A per-sample loss of binary signed logits, evaluated for M runs: the logit-regularised
/// losses, or anything a user plugs in (a squared loss, a hinge, …).
pub trait MarginLoss: std::fmt::Debug + Send + Sync {
    /// Per-sample values `[N, M]` and per-run means `[M]` of the signed logits `[N, M]`.
    fn forward(&self, margins: Tensor<2>) -> LossOutput;

    /// The same loss as per-sample host functions, which lets the fused engine train with it.
    /// `None` (the default) keeps a loss on the Burn path.
    fn pointwise(&self) -> Option<PointwiseMarginLoss> {
        None
    }
}

impl MarginLoss for LogitRegularizedLoss {
    fn forward(&self, margins: Tensor<2>) -> LossOutput {
        LogitRegularizedLoss::forward(self, margins)
    }

    fn pointwise(&self) -> Option<PointwiseMarginLoss> {
        Some(PointwiseMarginLoss {
            alpha: self.alpha.clone(),
            penalty: self.penalty.clone(),
        })
    }
}

/// The objective of each run.
#[derive(Debug, Clone)]
pub enum Objective {
    /// A binary margin loss, plus `γ/2 ‖S_m‖²` when `weight_decay > 0`.
    Binary {
        /// The loss.
        loss: Arc<dyn MarginLoss>,
        /// γ of the weight-decay baseline (0: none).
        weight_decay: f64,
        /// Sum instead of mean data term (weight-decay baseline).
        sum_data_term: bool,
    },
    /// K-class logit-regularised loss (boxed: it is much larger than the binary variant).
    MultiClass(Box<MultiClassLogitLoss>),
}

impl Objective {
    /// Evaluates the objectives of `model` on rows of the problem's training set (all rows when
    /// `rows` is `None`).
    ///
    /// # Shapes
    /// - `rows`: `[B]` row indices into the training set
    /// - output: per-sample values `[B, M]` (`[N, M]` for all rows) and means `[M]`
    pub fn evaluate<M: LogitModel>(
        &self,
        model: &M,
        problem: &Problem,
        rows: Option<&Tensor<1, Int>>,
    ) -> Result<LossOutput, TrainError> {
        let x = match rows {
            Some(idx) => problem.train_x.clone().select(0, idx.clone()),
            None => problem.train_x.clone(),
        };
        let logits = model.logits(x);
        let [n, m, _] = logits.dims();
        match (self, &problem.labels) {
            (
                Objective::Binary {
                    loss,
                    weight_decay,
                    sum_data_term,
                },
                Labels::Binary { train_column, .. },
            ) => {
                let y = match rows {
                    Some(idx) => train_column.clone().select(0, idx.clone()),
                    None => train_column.clone(),
                };
                let margins = logits.reshape([n, m]) * y;
                let mut out = loss.forward(margins);
                if *sum_data_term {
                    out.mean = out.mean * (n as f64);
                }
                if *weight_decay > 0.0 {
                    let norms = as_linear(model)
                        .map(|linear| linear.squared_weight_norms())
                        .ok_or_else(|| {
                            TrainError::invalid(
                                "loss.weight_decay",
                                &weight_decay.to_string(),
                                "0 for models without linear weights",
                            )
                        })?;
                    out.mean = out.mean + norms * (0.5 * weight_decay);
                }
                Ok(out)
            }
            (Objective::MultiClass(loss), Labels::Classes { train_tensor, .. }) => {
                let labels = match rows {
                    Some(idx) => train_tensor.clone().select(0, idx.clone()),
                    None => train_tensor.clone(),
                };
                Ok(loss.forward(logits, labels))
            }
            _ => Err(TrainError::Mismatch(
                "the loss and the data disagree on binary versus multi-class".into(),
            )),
        }
    }
}
