//! The autodiff training loop: M runs in one batch, any model that maps inputs to logits.
//!
//! Each step evaluates the per-run objectives `L_m` (`[M]`), and back-propagates the scaled sum
//! `Σ_m c_m L_m` with `c_m = η_m / η_max`: since the runs share no parameters, the gradient with
//! respect to run m's parameters is `c_m ∇L_m`, and one optimiser step with rate `η_max` moves
//! run m by `η_m ∇L_m`. So GD and SGD give each run its own learning rate, exactly (to
//! rounding) as if it were trained alone. Adam is invariant to that scaling and takes one rate.

use std::sync::Arc;

use burn::module::{Module, Param};
use burn::optim::{AdamConfig, GradientsParams, SgdConfig};
use burn::tensor::{Int, Tensor, TensorData};
use logit_reg_data::{Stream, stream_rng};
use logit_reg_model::{
    LinearClassifier, LogitRegularizedLoss, LossOutput, MultiClassLogitLoss, to_f64_vec,
};
use rand::seq::SliceRandom;

use crate::ExperimentError;
use crate::config::{EngineName, OptimizerName};
use crate::fused::{FusedGd, FusedSpec, HostFloat, PointwiseMarginLoss};
use crate::problem::{Labels, Problem};

/// A Burn module that maps inputs to the logits of M independent runs. The training loop and
/// the regularisers use only this, so nonlinear models train in the same machinery.
pub trait LogitModel: Module + Sized {
    /// Logits of every run.
    ///
    /// # Shapes
    /// - `x`: `[N, d]`
    /// - output: `[N, M, C]` (C = 1 for a binary model)
    fn logits(&self, x: Tensor<2>) -> Tensor<3>;

    /// Number of runs M.
    fn runs(&self) -> usize;

    /// For linear models: the weights on the host, row-major `[d, M·C]`, for the weight metrics
    /// (‖S‖, S₁, cosines). `None` for other models.
    fn linear_weights(&self) -> Option<Vec<f64>> {
        None
    }

    /// For linear models: `‖S_m‖²` of each run (`[M]`), for the weight-decay baseline.
    fn squared_weight_norms(&self) -> Option<Tensor<1>> {
        None
    }

    /// For linear models: each run's gradient norm, from the gradients of this step.
    fn run_gradient_norms(&self, _grads: &GradientsParams) -> Option<Vec<f64>> {
        None
    }

    /// For bias-free binary linear models: the weights on the host, row-major `[d, M]`, that the
    /// fused engine ([`crate::fused`]) starts from. `None` (the default) keeps a model on the
    /// Burn path.
    fn fused_start(&self) -> Option<Vec<f64>> {
        None
    }

    /// The same model with the weights `[d, M]` (row-major) from the fused engine; `None` where
    /// [`LogitModel::fused_start`] is `None`.
    fn with_fused_weights(&self, _weights: &[f64]) -> Option<Self> {
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

    fn linear_weights(&self) -> Option<Vec<f64>> {
        Some(self.weights_f64())
    }

    fn squared_weight_norms(&self) -> Option<Tensor<1>> {
        let w = self.weight.val();
        let [_, cols] = w.dims();
        Some(
            (w.clone() * w)
                .sum_dim(0)
                .reshape([self.runs, cols / self.runs])
                .sum_dim(1)
                .reshape([self.runs]),
        )
    }

    fn run_gradient_norms(&self, grads: &GradientsParams) -> Option<Vec<f64>> {
        let g: Tensor<2> = grads.get(self.weight.id)?;
        let [d, cols] = g.dims();
        let c = cols / self.runs;
        let mut sq = vec![0.0; self.runs];
        let values = to_f64_vec(g);
        for j in 0..d {
            for col in 0..cols {
                sq[col / c] += values[j * cols + col].powi(2);
            }
        }
        if let Some(gb) = self.bias.as_ref().and_then(|b| grads.get::<1>(b.id)) {
            for (col, v) in to_f64_vec(gb).into_iter().enumerate() {
                sq[col / c] += v * v;
            }
        }
        Some(sq.into_iter().map(f64::sqrt).collect())
    }

    fn fused_start(&self) -> Option<Vec<f64>> {
        (self.classes == 1 && self.bias.is_none()).then(|| self.weights_f64())
    }

    fn with_fused_weights(&self, weights: &[f64]) -> Option<Self> {
        self.fused_start()?;
        let device = self.weight.val().device();
        let [d, cols] = self.weight.val().dims();
        let tensor = Tensor::<2>::from_data(TensorData::new(weights.to_vec(), [d, cols]), &device);
        let mut model = self.clone();
        model.weight = Param::from_tensor(tensor);
        Some(model)
    }
}

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
    pub fn evaluate<M: LogitModel>(
        &self,
        model: &M,
        problem: &Problem,
        rows: Option<&Tensor<1, Int>>,
    ) -> Result<LossOutput, ExperimentError> {
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
                    let norms = model.squared_weight_norms().ok_or_else(|| {
                        ExperimentError::invalid(
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
            _ => Err(ExperimentError::Config {
                key: "data.model".into(),
                message: "the loss and the data disagree on binary versus multi-class".into(),
            }),
        }
    }
}

/// The optimiser and its schedule.
#[derive(Debug, Clone)]
pub struct TrainSpec {
    /// gd, adam or sgd.
    pub optimizer: OptimizerName,
    /// Learning rate of each run.
    pub lr: Vec<f64>,
    /// Maximum steps.
    pub steps: u64,
    /// Mini-batch size (sgd).
    pub batch_size: usize,
    /// Gradient-norm tolerance (0: off).
    pub grad_tol: f64,
    /// Adam (β₁, β₂, ε).
    pub adam: (f64, f64, f64),
    /// Seed of the mini-batch order.
    pub seed: u64,
    /// Which implementation steps GD (`Auto`: the fused engine where it applies).
    pub engine: EngineName,
    /// Threads of the fused engine (0: the available cores).
    pub threads: usize,
}

/// What the observer sees at a logging step.
pub struct StepView<'a, M> {
    /// Steps taken so far (0 = the initial model).
    pub step: u64,
    /// The model now.
    pub model: &'a M,
    /// Each run's objective at this step (before the update), NaN where unknown.
    pub objective: &'a [f64],
    /// Each run's divergence step, if it diverged.
    pub diverged: &'a [Option<u64>],
    /// Whether this is the final model (the step limit, convergence, or every run diverged).
    pub last: bool,
}

/// How a training run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOutcome {
    /// Steps taken.
    pub steps: u64,
    /// Whether every run met the gradient tolerance.
    pub converged: bool,
    /// Per run: the step and loss at which its loss became non-finite.
    pub diverged: Vec<Option<(u64, f64)>>,
    /// The last gradient norms (linear models with a tolerance), per run.
    pub gradient_norms: Option<Vec<f64>>,
    /// The engine that took the steps: `Burn` or `Fused`.
    pub engine: EngineName,
}

/// Trains `model` on `problem` and returns it with the outcome. `observe` is called at every
/// step for which `log_step(step)` is true, with the model before that step's update (step 0
/// is the initial model), and always once with the final model (`last = true`).
pub fn train<M: LogitModel>(
    mut model: M,
    problem: &Problem,
    objective: &Objective,
    spec: &TrainSpec,
    mut log_step: impl FnMut(u64) -> bool,
    mut observe: impl FnMut(&StepView<'_, M>),
) -> Result<(M, TrainOutcome), ExperimentError> {
    let runs = model.runs();
    if spec.lr.len() != runs {
        return Err(ExperimentError::invalid(
            "train.lr",
            &format!("{} values", spec.lr.len()),
            "one per run",
        ));
    }
    if matches!(
        spec.optimizer,
        OptimizerName::Newton | OptimizerName::MaxMargin
    ) && spec.steps > 0
    {
        return Err(ExperimentError::invalid(
            "train.optimizer",
            "newton | max-margin",
            "gd | adam | sgd in the step loop (exact solvers run through run::execute)",
        ));
    }
    if spec.engine != EngineName::Burn {
        match fused_setup(&model, problem, objective, spec) {
            Some(FusedSetup {
                start,
                x,
                y,
                spec: fused,
            }) => {
                // The engine keeps its own label-absorbed copy; the f64 inputs go before training.
                let d = problem.d;
                return if problem.train_x.dtype() == burn::tensor::DType::F64 {
                    let engine = FusedGd::<f64>::new(&x, y, d, &start, fused);
                    drop(x);
                    train_fused(model, engine, spec, log_step, observe)
                } else {
                    let engine = FusedGd::<f32>::new(&x, y, d, &start, fused);
                    drop(x);
                    train_fused(model, engine, spec, log_step, observe)
                };
            }
            None if spec.engine == EngineName::Fused => {
                return Err(ExperimentError::invalid(
                    "train.engine",
                    "fused",
                    "auto | burn unless: optimizer gd, full batch, binary labels, a bias-free \
                     linear model (LogitModel::fused_start) and a pointwise loss \
                     (MarginLoss::pointwise)",
                ));
            }
            None => {}
        }
    }
    let lr_max = spec.lr.iter().copied().fold(0.0_f64, f64::max);
    let scale: Vec<f64> = match spec.optimizer {
        OptimizerName::Adam => vec![1.0; runs],
        _ => spec.lr.iter().map(|l| l / lr_max).collect(),
    };
    let device = problem.train_x.device();
    let scale_t = Tensor::<1>::from_data(TensorData::new(scale, [runs]), &device);
    let mut optimizer = match spec.optimizer {
        // Newton never steps here: `run::execute` solves it and measures with `steps = 0`.
        OptimizerName::Gd
        | OptimizerName::Sgd
        | OptimizerName::Newton
        | OptimizerName::MaxMargin => SgdConfig::new().init(),
        OptimizerName::Adam => AdamConfig::new()
            .with_beta_1(spec.adam.0 as f32)
            .with_beta_2(spec.adam.1 as f32)
            .with_epsilon(spec.adam.2 as f32)
            .init(),
    };
    let mut batch_rng = stream_rng(spec.seed, Stream::Batches { index: 0 });
    let mut order: Vec<usize> = (0..problem.n).collect();
    let mut cursor = problem.n;

    let mut diverged: Vec<Option<(u64, f64)>> = vec![None; runs];
    let mut gradient_norms = None;
    let mut converged = false;
    let mut step = 0;
    loop {
        let rows = match spec.optimizer {
            OptimizerName::Sgd => {
                if cursor + spec.batch_size > problem.n {
                    order.shuffle(&mut batch_rng);
                    cursor = 0;
                }
                let idx: Vec<i64> = order[cursor..cursor + spec.batch_size]
                    .iter()
                    .map(|&i| i as i64)
                    .collect();
                cursor += spec.batch_size;
                Some(Tensor::<1, Int>::from_data(
                    TensorData::new(idx, [spec.batch_size]),
                    &device,
                ))
            }
            _ => None,
        };
        let out = objective.evaluate(&model, problem, rows.as_ref())?;
        let values = to_f64_vec(out.mean.clone());
        for (run, &v) in values.iter().enumerate() {
            if !v.is_finite() && diverged[run].is_none() {
                diverged[run] = Some((step, v));
            }
        }
        let done = step >= spec.steps || converged || diverged.iter().all(Option::is_some);
        if log_step(step) || done {
            let div: Vec<Option<u64>> = diverged.iter().map(|d| d.map(|(s, _)| s)).collect();
            observe(&StepView {
                step,
                model: &model,
                objective: &values,
                diverged: &div,
                last: done,
            });
        }
        if done {
            break;
        }
        let total = (out.mean * scale_t.clone()).sum();
        let grads = GradientsParams::from_grads(total.backward(), &model);
        let norms = (spec.grad_tol > 0.0)
            .then(|| model.run_gradient_norms(&grads))
            .flatten();
        if let Some(norms) = norms {
            // Norms of the scaled gradient: undo the per-run scale c_m.
            let unscaled: Vec<f64> = norms
                .iter()
                .zip(&spec.lr)
                .map(|(g, l)| {
                    if spec.optimizer == OptimizerName::Adam {
                        *g
                    } else {
                        g * lr_max / l
                    }
                })
                .collect();
            converged = unscaled.iter().all(|&g| g <= spec.grad_tol);
            gradient_norms = Some(unscaled);
        }
        if !converged {
            model = optimizer.step(lr_max, model, grads);
            step += 1;
        }
    }
    Ok((
        model,
        TrainOutcome {
            steps: step,
            converged,
            diverged,
            gradient_norms,
            engine: EngineName::Burn,
        },
    ))
}

/// What the fused engine starts from.
struct FusedSetup<'p> {
    /// Initial weights, row-major `[d, M]`.
    start: Vec<f64>,
    /// Training inputs on the host, row-major `[N, d]`.
    x: Vec<f64>,
    /// Training labels ±1, `[N]`.
    y: &'p [f64],
    /// Loss, rates and weight decay.
    spec: FusedSpec,
}

/// What the fused engine needs, when it applies to this model, problem, objective and spec.
fn fused_setup<'p, M: LogitModel>(
    model: &M,
    problem: &'p Problem,
    objective: &Objective,
    spec: &TrainSpec,
) -> Option<FusedSetup<'p>> {
    if spec.optimizer != OptimizerName::Gd {
        return None;
    }
    let Objective::Binary {
        loss,
        weight_decay,
        sum_data_term,
    } = objective
    else {
        return None;
    };
    let Labels::Binary { train, .. } = &problem.labels else {
        return None;
    };
    let pointwise = loss.pointwise()?;
    let start = model.fused_start()?;
    Some(FusedSetup {
        start,
        x: to_f64_vec(problem.train_x.clone().inner()),
        y: train,
        spec: FusedSpec {
            loss: pointwise,
            lr: spec.lr.clone(),
            weight_decay: *weight_decay,
            sum_data_term: *sum_data_term,
            threads: spec.threads,
        },
    })
}

/// The GD loop on the fused engine, with the same logging, divergence and convergence rules
/// as the Burn loop: the objective is evaluated at logging steps, and at any step where a run's
/// margins become suspect (NaN or beyond [`crate::fused::SUSPECT_MARGIN`]); a run whose
/// objective is then non-finite has diverged at that step, as the Burn loop would record.
fn train_fused<M: LogitModel, T: HostFloat>(
    mut model: M,
    mut engine: FusedGd<T>,
    spec: &TrainSpec,
    mut log_step: impl FnMut(u64) -> bool,
    mut observe: impl FnMut(&StepView<'_, M>),
) -> Result<(M, TrainOutcome), ExperimentError> {
    let runs = engine.runs();
    let mut diverged: Vec<Option<(u64, f64)>> = vec![None; runs];
    let mut gradient_norms = None;
    let mut converged = false;
    let mut step = 0;
    let rebuild = |model: &M, weights: &[f64]| {
        model.with_fused_weights(weights).ok_or_else(|| {
            ExperimentError::invalid(
                "train.engine",
                "fused",
                "a model whose with_fused_weights is implemented",
            )
        })
    };
    loop {
        engine.compute_gradient();
        let fresh = engine
            .suspect()
            .iter()
            .zip(&diverged)
            .any(|(flag, d)| *flag && d.is_none());
        if fresh {
            let objective = engine.objective();
            for (run, value) in objective.into_iter().enumerate() {
                if !value.is_finite() && diverged[run].is_none() {
                    diverged[run] = Some((step, value));
                }
            }
        }
        let done = step >= spec.steps || converged || diverged.iter().all(Option::is_some);
        if log_step(step) || done {
            let objective = engine.objective();
            let current = rebuild(&model, &engine.weights())?;
            let div: Vec<Option<u64>> = diverged.iter().map(|d| d.map(|(s, _)| s)).collect();
            observe(&StepView {
                step,
                model: &current,
                objective: &objective,
                diverged: &div,
                last: done,
            });
            if done {
                model = current;
                break;
            }
        }
        if spec.grad_tol > 0.0 {
            let norms = engine.gradient_norms();
            converged = norms.iter().all(|&g| g <= spec.grad_tol);
            gradient_norms = Some(norms);
        }
        if !converged {
            engine.update();
            step += 1;
        }
    }
    Ok((
        model,
        TrainOutcome {
            steps: step,
            converged,
            diverged,
            gradient_norms,
            engine: EngineName::Fused,
        },
    ))
}
