//! The training loop: M runs in one batch, any model that maps inputs to logits.
//!
//! Each step evaluates the per-run objectives `L_m` (`[M]`), and back-propagates the scaled sum
//! `Σ_m c_m L_m` with `c_m = η_m / η_max`: since the runs share no parameters, the gradient with
//! respect to run m's parameters is `c_m ∇L_m`, and one optimiser step with rate `η_max` moves
//! run m by `η_m ∇L_m`. So GD and SGD give each run its own learning rate, exactly (to
//! rounding) as if it were trained alone. Adam is invariant to that scaling and takes one rate.
//!
//! Full-batch GD or Adam of a linear classifier (binary and bias-free with a pointwise loss, or
//! multi-class with a bias) goes to the fused host engine ([`crate::fused`]) instead, under the
//! same logging, divergence and convergence rules.

use burn::optim::{AdamConfig, GradientsParams, SgdConfig};
use burn::tensor::{Int, Tensor, TensorData};
use logit_reg_data::{Stream, stream_rng};
use logit_reg_model::{LogitModel, to_f64_vec};
use rand::seq::SliceRandom;

use crate::TrainError;
use crate::fused::{
    FusedEngine, FusedKernel, FusedLoss, FusedOptimizer, FusedSpec, HostFloat, SoftmaxLoss,
};
use crate::group::Recording;
use crate::linear::{as_linear, into_model, linear_bias};
use crate::objective::Objective;
use crate::problem::{Labels, Problem};
use crate::spec::{EngineName, OptimizerName, TrainSpec};

/// What the observer sees at a logging step.
pub struct StepView<'a, M> {
    /// Steps taken so far (0 = the initial model).
    pub step: u64,
    /// The model now.
    pub model: &'a M,
    /// Each run's objective at this step (before the update), NaN where unknown.
    pub objective: &'a [f64],
    /// Per run: the step and loss at which it diverged, if it did.
    pub diverged: &'a [Option<(u64, f64)>],
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
    /// The fused engine's kernel (pipelined, blocked or dual); `None` on the Burn engine.
    pub fused_kernel: Option<FusedKernel>,
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
) -> Result<(M, TrainOutcome), TrainError> {
    let runs = model.runs();
    if spec.lr.len() != runs {
        return Err(TrainError::invalid(
            "train.lr",
            &format!("{} values", spec.lr.len()),
            "one per run",
        ));
    }
    if spec.optimizer.is_exact() && spec.steps > 0 {
        return Err(TrainError::invalid(
            "train.optimizer",
            "newton | max-margin",
            "gd | adam | sgd in the step loop (exact solvers run through solve_and_measure)",
        ));
    }
    if spec.engine != EngineName::Burn {
        match fused_setup(&model, problem, objective, spec) {
            Some(setup) => {
                if setup.spec.loss.has_bias() && spec.fused_kernel == FusedKernel::Pipelined {
                    return Err(TrainError::invalid(
                        "train.fused_kernel",
                        "pipelined",
                        "auto | blocked for multi-class runs (the pipelined kernel is binary only)",
                    ));
                }
                if spec.fused_kernel == FusedKernel::Dual
                    && (setup.spec.loss.has_bias() || setup.spec.optimizer != FusedOptimizer::Gd)
                {
                    return Err(TrainError::invalid(
                        "train.fused_kernel",
                        "dual",
                        "auto | pipelined | blocked unless the runs are binary and trained by gd \
                         (the dual form keeps the weights in the span of the rows)",
                    ));
                }
                // The engine keeps its own copy of the rows; the f64 inputs go before training.
                let FusedSetup {
                    weights,
                    bias,
                    x,
                    spec: fused,
                } = setup;
                let d = problem.d;
                let bias = bias.as_deref();
                return if problem.train_x.dtype() == burn::tensor::DType::F64 {
                    let engine = FusedEngine::<f64>::new(&x, d, &weights, bias, fused);
                    drop(x);
                    train_fused(model, engine, spec, log_step, observe)
                } else {
                    let engine = FusedEngine::<f32>::new(&x, d, &weights, bias, fused);
                    drop(x);
                    train_fused(model, engine, spec, log_step, observe)
                };
            }
            None if spec.engine == EngineName::Fused => {
                return Err(TrainError::invalid(
                    "train.engine",
                    "fused",
                    "auto | burn unless: optimizer gd, or adam on the full batch; a linear \
                     classifier, either binary and bias-free with a pointwise loss \
                     (MarginLoss::pointwise) or multi-class with a bias",
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
        // The exact solvers never step here: `solve_and_measure` measures them with `steps = 0`.
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
    let minibatch = match spec.optimizer {
        OptimizerName::Sgd => true,
        OptimizerName::Adam => spec.batch_size > 0,
        _ => false,
    };
    if minibatch && !(1..=problem.n).contains(&spec.batch_size) {
        return Err(TrainError::invalid(
            "train.batch_size",
            &spec.batch_size.to_string(),
            &format!("1..={} (the training samples)", problem.n),
        ));
    }

    let mut state = LoopState::new(runs);
    loop {
        // Mini-batches: each epoch is a fresh permutation of the training set cut into
        // ⌊N / B⌋ batches of B; the last N mod B samples of a permutation are skipped.
        let rows = match minibatch {
            true => {
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
            false => None,
        };
        let out = objective.evaluate(&model, problem, rows.as_ref())?;
        let values = to_f64_vec(out.mean.clone());
        state.record(&values);
        let done = state.done(spec.steps);
        if log_step(state.step) || done {
            observe(&state.view(&model, &values, done));
        }
        if done {
            break;
        }
        let total = (out.mean * scale_t.clone()).sum();
        let grads = GradientsParams::from_grads(total.backward(), &model);
        let norms = (spec.grad_tol > 0.0)
            .then(|| as_linear(&model).and_then(|linear| linear.run_gradient_norms(&grads)))
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
            state.gradient_norms(unscaled, spec.grad_tol)?;
        }
        if !state.converged {
            model = optimizer.step(lr_max, model, grads);
            state.step += 1;
        }
    }
    Ok((model, state.outcome(EngineName::Burn, None)))
}

/// What the fused engine starts from.
struct FusedSetup {
    /// Initial weights, row-major `[d, M·C]`.
    weights: Vec<f64>,
    /// Initial bias `[M·C]` (multi-class).
    bias: Option<Vec<f64>>,
    /// Training inputs on the host, row-major `[N, d]`.
    x: Vec<f64>,
    /// Loss with labels, optimiser, rates and weight decay.
    spec: FusedSpec,
}

/// What the fused engine needs, when it applies to this model, problem, objective and spec:
/// GD or full-batch Adam, on a bias-free binary linear classifier with a pointwise margin loss
/// or on a multi-class linear classifier with a bias.
fn fused_setup<M: LogitModel>(
    model: &M,
    problem: &Problem,
    objective: &Objective,
    spec: &TrainSpec,
) -> Option<FusedSetup> {
    let optimizer = match spec.optimizer {
        OptimizerName::Gd => FusedOptimizer::Gd,
        // A batch of all N samples is the full batch too (in a shuffled order).
        OptimizerName::Adam if spec.batch_size == 0 || spec.batch_size == problem.n => {
            FusedOptimizer::Adam {
                beta1: spec.adam.0,
                beta2: spec.adam.1,
                epsilon: spec.adam.2,
            }
        }
        _ => return None,
    };
    let linear = as_linear(model)?;
    let (loss, weight_decay, sum_data_term) = match (objective, &problem.labels) {
        (
            Objective::Binary {
                loss,
                weight_decay,
                sum_data_term,
            },
            Labels::Binary { train, .. },
        ) if linear.classes == 1 && linear.bias.is_none() => (
            FusedLoss::Margin {
                loss: loss.pointwise()?,
                labels: train.clone(),
            },
            *weight_decay,
            *sum_data_term,
        ),
        (Objective::MultiClass(loss), Labels::Classes { k, train, .. })
            if linear.classes == *k && linear.bias.is_some() =>
        {
            let loss = SoftmaxLoss {
                classes: *k,
                labels: train.clone(),
                alpha: loss.alpha.clone(),
                penalty: loss.penalty.clone(),
            };
            (FusedLoss::Softmax(loss), 0.0, false)
        }
        _ => return None,
    };
    Some(FusedSetup {
        weights: linear.weights_f64(),
        bias: linear_bias(model),
        x: to_f64_vec(problem.train_x.clone().inner()),
        spec: FusedSpec {
            loss,
            optimizer,
            lr: spec.lr.clone(),
            weight_decay,
            sum_data_term,
            threads: spec.threads,
            kernel: spec.fused_kernel.with_dual_form(
                optimizer == FusedOptimizer::Gd && matches!(problem.labels, Labels::Binary { .. }),
                spec.grad_tol,
                spec.lr.len(),
                problem.n,
                problem.d,
            ),
        },
    })
}

/// Plays a batch's [`Recording`] (from [`crate::group::train_group`]) to `observe` as
/// [`train`] would have called it: every recorded state whose step `log_step` asks for, and the
/// last one, with `model` carrying the recorded weights. Returns the final model and the
/// recorded outcome.
///
/// # Errors
/// If `model` is not a binary linear classifier of the recording's shape.
pub fn replay<M: LogitModel>(
    model: M,
    recording: &Recording,
    mut log_step: impl FnMut(u64) -> bool,
    mut observe: impl FnMut(&StepView<'_, M>),
) -> Result<(M, TrainOutcome), TrainError> {
    let not_linear = || {
        TrainError::invalid(
            "train.group_by_draw",
            "true",
            "false unless the model is a binary linear classifier",
        )
    };
    let mut last = None;
    for snapshot in &recording.snapshots {
        if !(log_step(snapshot.step) || snapshot.last) {
            continue;
        }
        let linear = as_linear(&model).ok_or_else(not_linear)?;
        if linear.classes != 1 || linear.weights_f64().len() != snapshot.weights.len() {
            return Err(not_linear());
        }
        let current = into_model::<M>(linear.with_parameters(&snapshot.weights, None))
            .ok_or_else(not_linear)?;
        observe(&StepView {
            step: snapshot.step,
            model: &current,
            objective: &snapshot.objective,
            diverged: &snapshot.diverged,
            last: snapshot.last,
        });
        last = Some(current);
    }
    Ok((last.unwrap_or(model), recording.outcome.clone()))
}

/// The step loop on the fused engine, with the same logging, divergence and convergence rules
/// as the Burn loop: the objective is evaluated at logging steps, and at any step where a run's
/// margins become suspect (NaN or beyond [`crate::fused::SUSPECT_MARGIN`]); a run whose
/// objective is then non-finite has diverged at that step, as the Burn loop would record. (A
/// penalty whose value overflows while its margins stay finite is caught at the next logging
/// step.)
fn train_fused<M: LogitModel, T: HostFloat>(
    mut model: M,
    mut engine: FusedEngine<T>,
    spec: &TrainSpec,
    mut log_step: impl FnMut(u64) -> bool,
    mut observe: impl FnMut(&StepView<'_, M>),
) -> Result<(M, TrainOutcome), TrainError> {
    let mut state = LoopState::new(engine.runs());
    let kernel = engine.kernel();
    let rebuild = |model: &M, engine: &FusedEngine<T>| {
        let (weights, bias) = (engine.weights(), engine.bias());
        as_linear(model)
            .and_then(|linear| into_model::<M>(linear.with_parameters(&weights, bias.as_deref())))
            .ok_or_else(|| TrainError::invalid("train.engine", "fused", "a linear classifier"))
    };
    loop {
        engine.compute_gradient();
        state.record_suspects(&engine);
        let mut done = state.done(spec.steps);
        if log_step(state.step) || done {
            let objective = engine.objective();
            // A non-finite objective with finite margins (a penalty that overflows on its
            // own) is divergence too; the objective is at hand at every logging step.
            state.record(&objective);
            done = state.done(spec.steps);
            let current = rebuild(&model, &engine)?;
            observe(&state.view(&current, &objective, done));
            if done {
                model = current;
                break;
            }
        }
        if spec.grad_tol > 0.0 {
            state.gradient_norms(engine.gradient_norms(), spec.grad_tol)?;
        }
        if !state.converged {
            engine.update();
            state.step += 1;
        }
    }
    Ok((model, state.outcome(EngineName::Fused, Some(kernel))))
}

/// What the step loops track: the step, divergence per run, and convergence.
pub(crate) struct LoopState {
    pub(crate) step: u64,
    converged: bool,
    pub(crate) diverged: Vec<Option<(u64, f64)>>,
    gradient_norms: Option<Vec<f64>>,
}

impl LoopState {
    pub(crate) fn new(runs: usize) -> Self {
        Self {
            step: 0,
            converged: false,
            diverged: vec![None; runs],
            gradient_norms: None,
        }
    }

    /// Marks every run whose objective is non-finite now as diverged at this step (once).
    /// After a fused step's gradient: when a run not yet diverged has a suspect margin,
    /// evaluates the objective and records every run that has diverged.
    pub(crate) fn record_suspects<T: HostFloat>(&mut self, engine: &FusedEngine<T>) {
        let fresh = engine
            .suspect()
            .iter()
            .zip(&self.diverged)
            .any(|(flag, d)| *flag && d.is_none());
        if fresh {
            self.record(&engine.objective());
        }
    }

    pub(crate) fn record(&mut self, objective: &[f64]) {
        for (run, &value) in objective.iter().enumerate() {
            if !value.is_finite() && self.diverged[run].is_none() {
                self.diverged[run] = Some((self.step, value));
            }
        }
    }

    /// Whether the loop ends here: the step limit, convergence, or every run diverged.
    fn done(&self, steps: u64) -> bool {
        self.step >= steps || self.converged || self.diverged.iter().all(Option::is_some)
    }

    /// The gradient norms of this step, and whether all meet `tol`. A tolerance met before the
    /// first step would stop the runs untrained: that is an error naming `train.grad_tol`.
    fn gradient_norms(&mut self, norms: Vec<f64>, tol: f64) -> Result<(), TrainError> {
        self.converged = norms.iter().all(|&g| g <= tol);
        if self.converged && self.step == 0 {
            let largest = norms.iter().cloned().fold(0.0, f64::max);
            return Err(TrainError::invalid(
                "train.grad_tol",
                &format!("{tol:e}"),
                &format!(
                    "below the largest gradient norm at the start, {largest:e} (at or above \
                     it every run would stop before its first step)"
                ),
            ));
        }
        self.gradient_norms = Some(norms);
        Ok(())
    }

    /// What the observer sees now.
    fn view<'a, M>(&'a self, model: &'a M, objective: &'a [f64], last: bool) -> StepView<'a, M> {
        StepView {
            step: self.step,
            model,
            objective,
            diverged: &self.diverged,
            last,
        }
    }

    fn outcome(self, engine: EngineName, fused_kernel: Option<FusedKernel>) -> TrainOutcome {
        TrainOutcome {
            fused_kernel,
            steps: self.step,
            converged: self.converged,
            diverged: self.diverged,
            gradient_norms: self.gradient_norms,
            engine,
        }
    }
}
