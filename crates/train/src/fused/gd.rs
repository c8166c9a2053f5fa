//! Gradient descent on the fused engine: the loss as host functions, the engine's state and
//! its step (gradient, update, objective).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Instant;

use logit_reg_model::penalty::{LogitPenalty, MultiClassPenalty, log_sum_exp, softmax_into};
use logit_reg_model::target::{sigmoid, softplus};
use pulp::Arch;
use rayon::prelude::*;

use super::kernels::{HostFloat, sum_into, sum_scaled_into};
use super::team::{
    PartObjective, PartState, SPIN_FOR, Shared, block_rows, lock, part_ranges, read,
    softmax_part_objective, team_size, write,
};

/// Fewest runs for which [`FusedKernel::Auto`] picks the blocked kernel (BENCHMARKS.md
/// compares the two kernels at M = 1, 8 and 32).
pub const BLOCKED_MIN_RUNS: usize = 16;

/// How the fused engine computes a step. Both compute the same gradient; they sum it in
/// different orders, so their results agree to rounding, not bit for bit. Either one gives
/// bit-identical results on any number of threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FusedKernel {
    /// The blocked kernel from [`BLOCKED_MIN_RUNS`] runs on, the pipelined one below.
    #[default]
    Auto,
    /// Tiles of four rows, one run at a time, the forward of one job and the backward of the
    /// one before it in one sweep over the columns (matrix–vector rate; fastest for a few
    /// runs).
    Pipelined,
    /// Blocks of 16 to 128 rows (about 512 KiB), two GEMMs per block (forward `A_B S`, backward `A_Bᵀ G_B`) with
    /// the block still in the cache for the second (matrix–matrix rate; fastest for several
    /// runs).
    Blocked,
}

impl FusedKernel {
    /// The name in configs (`train.fused_kernel`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Pipelined => "pipelined",
            Self::Blocked => "blocked",
        }
    }

    /// Whether this is [`FusedKernel::Auto`].
    pub fn is_auto(&self) -> bool {
        *self == Self::Auto
    }

    /// The kernel used for `runs` runs (never `Auto`).
    pub fn resolve(self, runs: usize) -> Self {
        match self {
            Self::Auto if runs >= BLOCKED_MIN_RUNS => Self::Blocked,
            Self::Auto => Self::Pipelined,
            chosen => chosen,
        }
    }
}

/// Margins beyond this size (or NaN) flag a run as suspect: its objective may have overflowed
/// (the quadratic penalty does at |t| ≈ 10¹⁵⁴ in f64 while t is finite), so the training loop
/// evaluates it to decide whether the run diverged. The regularised margins of this study are
/// O(1) and the unregularised ones grow like log t, far below it.
pub const SUSPECT_MARGIN: f64 = 1e4;

/// A margin loss given by per-sample host functions of the signed logit,
/// `ℓ_m(t) = (1 − α_m)·log(1 + e^{−t}) + α_m·f(t)` (no f: plain logistic loss).
#[derive(Debug, Clone)]
pub struct PointwiseMarginLoss {
    /// α of each run.
    pub alpha: Vec<f64>,
    /// The penalty f (`None`: α must be 0).
    pub penalty: Option<Arc<dyn LogitPenalty>>,
}

impl PointwiseMarginLoss {
    /// `ℓ_m(t)`.
    pub fn value(&self, run: usize, t: f64) -> f64 {
        let ce = softplus(-t);
        match &self.penalty {
            None => ce,
            Some(f) => {
                let a = self.alpha[run];
                (1.0 - a) * ce + a * f.value(t)
            }
        }
    }

    /// `ℓ′_m(t) = −(1 − α_m)·σ(−t) + α_m·f′(t)`.
    pub fn derivative(&self, run: usize, t: f64) -> f64 {
        let ce = -sigmoid(-t);
        match &self.penalty {
            None => ce,
            Some(f) => {
                let a = self.alpha[run];
                (1.0 - a) * ce + a * f.derivative(t)
            }
        }
    }
}

/// The K-class loss of each run as host functions of one sample's logit vector `z` (`[K]`):
/// `ℓ_m(z, y) = (1 − α_m)·(logsumexp(z) − z_y) + α_m·f(z)` (no f: plain softmax
/// cross-entropy), the loss of [`logit_reg_model::MultiClassLogitLoss`].
#[derive(Debug, Clone)]
pub struct SoftmaxLoss {
    /// Number of classes K ≥ 2.
    pub classes: usize,
    /// The training labels, class indices in `0..K`, `[N]`.
    pub labels: Vec<usize>,
    /// α of each run.
    pub alpha: Vec<f64>,
    /// The penalty f (`None`: α must be 0).
    pub penalty: Option<Arc<dyn MultiClassPenalty>>,
}

impl SoftmaxLoss {
    /// `ℓ_m(z, y)`.
    pub fn value(&self, run: usize, z: &[f64], label: usize) -> f64 {
        let ce = log_sum_exp(z) - z[label];
        match &self.penalty {
            None => ce,
            Some(f) => {
                let a = self.alpha[run];
                (1.0 - a) * ce + a * f.value(z)
            }
        }
    }

    /// `∇_z ℓ_m(z, y) = (1 − α_m)·(softmax(z) − e_y) + α_m·∇f(z)`, written into `out`;
    /// `scratch` (`[K]`) holds ∇f.
    pub fn gradient_into(
        &self,
        run: usize,
        z: &[f64],
        label: usize,
        out: &mut [f64],
        scratch: &mut [f64],
    ) {
        softmax_into(z, out);
        out[label] -= 1.0;
        if let Some(f) = &self.penalty {
            let a = self.alpha[run];
            f.gradient_into(z, scratch);
            for (g, p) in out.iter_mut().zip(scratch.iter()) {
                *g = (1.0 - a) * *g + a * p;
            }
        }
    }
}

/// The loss the fused engine trains with, and the training labels it scores.
#[derive(Debug, Clone)]
pub enum FusedLoss {
    /// Binary labels ±1 (`[N]`) and a loss of the signed logit `t = y·z`; the classifier has
    /// one logit per run and no bias. The engine trains on the label-absorbed rows `y_i x_i`.
    Margin {
        /// The loss of each run.
        loss: PointwiseMarginLoss,
        /// The training labels ±1, `[N]`.
        labels: Vec<f64>,
    },
    /// K classes: K logits per run and a bias. The engine trains on the rows `[x_i, 1]`, so
    /// that the bias is one more row of the weights.
    Softmax(SoftmaxLoss),
}

impl FusedLoss {
    /// Logits per run: 1 (binary) or K.
    pub fn classes(&self) -> usize {
        match self {
            Self::Margin { .. } => 1,
            Self::Softmax(loss) => loss.classes,
        }
    }

    /// Training samples N.
    pub fn samples(&self) -> usize {
        match self {
            Self::Margin { labels, .. } => labels.len(),
            Self::Softmax(loss) => loss.labels.len(),
        }
    }

    /// Whether the classifier has a bias (multi-class).
    pub fn has_bias(&self) -> bool {
        matches!(self, Self::Softmax(_))
    }
}

/// The update rule of the fused engine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FusedOptimizer {
    /// Gradient descent, `w ← w − η_m ∇`.
    Gd,
    /// Adam (Kingma & Ba) in the form Burn uses, with step t = 1, 2, …:
    ///
    /// ```text
    /// m ← β₁ m + (1 − β₁) ∇         v ← β₂ v + (1 − β₂) ∇²
    /// w ← w − η_m · (m · √(1 − β₂ᵗ)/(1 − β₁ᵗ)) / (√v + ε √(1 − β₂ᵗ))
    /// ```
    ///
    /// (that is `η m̂ / (√v̂ + ε)` with the bias-corrected moments). The scalars are computed
    /// in f32 as Burn's Adam computes them ([`AdamScalars`]); the moments are kept in f64.
    Adam {
        /// β₁ ∈ [0, 1).
        beta1: f64,
        /// β₂ ∈ [0, 1).
        beta2: f64,
        /// ε > 0.
        epsilon: f64,
    },
}

/// The scalars of Adam's step t, computed in f32 as Burn's `AdamConfig` computes them (it
/// stores β₁, β₂ and ε as f32), then widened: so that the fused engine takes the same steps as
/// the Burn engine, to the last digits of f64. (In exact f64 they would differ by a relative
/// 1e-7 or so per step; `crates/train/tests/engines_extended.rs` measures both.)
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamScalars {
    /// β₁ rounded to f32.
    pub beta1: f64,
    /// β₂ rounded to f32.
    pub beta2: f64,
    /// 1 − β₁ in f32.
    pub keep1: f64,
    /// 1 − β₂ in f32.
    pub keep2: f64,
    /// `√(1 − β₂ᵗ) / (1 − β₁ᵗ)` in f32.
    pub factor: f64,
    /// `ε √(1 − β₂ᵗ)` in f32.
    pub floor: f64,
}

impl AdamScalars {
    /// The scalars of step `time` (1 for the first step).
    pub fn at(beta1: f64, beta2: f64, epsilon: f64, time: i32) -> Self {
        let (b1, b2, eps) = (beta1 as f32, beta2 as f32, epsilon as f32);
        let correction2 = (1.0 - b2.powi(time)).sqrt();
        Self {
            beta1: f64::from(b1),
            beta2: f64::from(b2),
            keep1: f64::from(1.0 - b1),
            keep2: f64::from(1.0 - b2),
            factor: f64::from(correction2 / (1.0 - b1.powi(time))),
            floor: f64::from(eps * correction2),
        }
    }
}

/// The fused engine's state of M runs on one training set: the training rows (label-absorbed
/// for a binary loss, with a column of ones for a bias), the weights, the optimiser's moments,
/// the gradient buffers (all allocated once, in [`FusedTrainer::new`]) and a team of worker
/// threads that live as long as the engine. A step wakes the workers (they spin briefly
/// between steps, then park), the calling thread does its own share of the parts, and the
/// parts' gradients are summed in part order.
#[derive(Debug)]
pub struct FusedTrainer<T: HostFloat> {
    shared: Arc<Shared<T>>,
    workers: Vec<std::thread::JoinHandle<()>>,
    runs: usize,
    lr: Vec<f64>,
    weight_decay: f64,
    optimizer: FusedOptimizer,
    /// Adam's first and second moments, `[width·M·C]` each (empty for GD).
    moments: (Vec<f64>, Vec<f64>),
    /// Adam steps taken.
    time: i32,
    pub(super) grad: Vec<T>,
    suspect: Vec<bool>,
}

/// What [`FusedTrainer::new`] needs besides the data.
#[derive(Debug, Clone)]
pub struct FusedSpec {
    /// The loss of each run, with the training labels.
    pub loss: FusedLoss,
    /// The update rule.
    pub optimizer: FusedOptimizer,
    /// Learning rate η_m of each run.
    pub lr: Vec<f64>,
    /// γ of the weight-decay term `γ/2 ‖W_m‖²` (0: none; the bias is not decayed).
    pub weight_decay: f64,
    /// Sum instead of mean over the samples in the data term.
    pub sum_data_term: bool,
    /// Threads (0: the available cores; at most 8, the most parts). The results do not depend
    /// on it.
    pub threads: usize,
    /// The kernel ([`FusedKernel::Auto`]: by the number of runs; a multi-class loss always
    /// takes the blocked kernel).
    pub kernel: FusedKernel,
}

impl<T: HostFloat> FusedTrainer<T> {
    /// The engine for inputs `x` (row-major `[N, d]`), initial weights `weights` (row-major
    /// `[d, M·C]`, the layout of the linear classifier) and, for a multi-class loss, the
    /// initial bias `bias` (`[M·C]`; `None` is a zero bias). The labels come with the loss.
    ///
    /// # Shapes
    /// - `x`: `[N·d]`, `weights`: `[d·M·C]`, `bias`: `[M·C]`, `spec.lr` and the loss's α: `[M]`
    ///
    /// # Panics
    /// If the lengths disagree with these shapes.
    pub fn new(
        x: &[f64],
        d: usize,
        weights: &[f64],
        bias: Option<&[f64]>,
        spec: FusedSpec,
    ) -> Self {
        let n = spec.loss.samples();
        let runs = spec.lr.len();
        let classes = spec.loss.classes();
        let cols = runs * classes;
        let has_bias = spec.loss.has_bias();
        let width = d + usize::from(has_bias);
        assert_eq!(x.len(), n * d, "x is [N, d]");
        assert_eq!(weights.len(), d * cols, "weights are [d, M·C]");
        let mut a = Vec::with_capacity(n * width);
        for (i, row) in x.chunks_exact(d.max(1)).take(n).enumerate() {
            match &spec.loss {
                FusedLoss::Margin { labels, .. } => {
                    a.extend(row.iter().map(|v| T::from_f64(v * labels[i])))
                }
                FusedLoss::Softmax(_) => {
                    a.extend(row.iter().map(|&v| T::from_f64(v)));
                    a.push(T::from_f64(1.0));
                }
            }
        }
        if d == 0 && has_bias {
            a = vec![T::from_f64(1.0); n];
        }
        // Column-major [width, M·C]: column `col` is contiguous.
        let mut columns = vec![T::default(); cols * width];
        for j in 0..d {
            for col in 0..cols {
                columns[col * width + j] = T::from_f64(weights[j * cols + col]);
            }
        }
        if has_bias {
            let bias = bias.map_or_else(|| vec![0.0; cols], <[f64]>::to_vec);
            assert_eq!(bias.len(), cols, "bias is [M·C]");
            for (col, b) in bias.into_iter().enumerate() {
                columns[col * width + d] = T::from_f64(b);
            }
        }
        // A K-class row costs about K times a binary one (K logits, a softmax): the parts are
        // sized by `width·K` entries per row, still a function of the shape alone.
        let parts = part_ranges(n, width * classes);
        let members = team_size(spec.threads, parts.len());
        let kernel = match spec.loss {
            FusedLoss::Softmax(_) => FusedKernel::Blocked,
            FusedLoss::Margin { .. } => spec.kernel.resolve(runs),
        };
        let margins = match kernel {
            FusedKernel::Blocked => block_rows(width, std::mem::size_of::<T>()) * cols,
            _ => 0,
        };
        let states = parts
            .iter()
            .map(|_| {
                Mutex::new(PartState {
                    grad: vec![T::default(); cols * width],
                    suspect: vec![false; runs],
                    margins: vec![T::default(); margins],
                })
            })
            .collect();
        let shared = Arc::new(Shared {
            a,
            d: width,
            classes,
            weights: RwLock::new(columns),
            parts,
            states,
            loss: spec.loss,
            data_scale: if spec.sum_data_term {
                1.0
            } else {
                1.0 / n as f64
            },
            kernel,
            members,
            generation: AtomicU64::new(0),
            finished: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let workers = (1..members)
            .map(|member| {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || shared.work(member))
            })
            .collect();
        let moments = match spec.optimizer {
            FusedOptimizer::Gd => (Vec::new(), Vec::new()),
            FusedOptimizer::Adam { .. } => (vec![0.0; cols * width], vec![0.0; cols * width]),
        };
        Self {
            shared,
            workers,
            runs,
            lr: spec.lr,
            weight_decay: spec.weight_decay,
            optimizer: spec.optimizer,
            moments,
            time: 0,
            grad: vec![T::default(); cols * width],
            suspect: vec![false; runs],
        }
    }

    /// Number of runs M.
    pub fn runs(&self) -> usize {
        self.runs
    }

    /// The kernel in use ([`FusedKernel::Pipelined`] or [`FusedKernel::Blocked`]).
    pub fn kernel(&self) -> FusedKernel {
        self.shared.kernel
    }

    /// Input features d (the rows' width without the bias column).
    fn features(&self) -> usize {
        self.shared.d - usize::from(self.shared.loss.has_bias())
    }

    /// Weight columns M·C.
    fn columns(&self) -> usize {
        self.runs * self.shared.classes
    }

    /// The weights, row-major `[d, M·C]` in f64 (the linear classifier's layout).
    pub fn weights(&self) -> Vec<f64> {
        let (width, d, cols) = (self.shared.d, self.features(), self.columns());
        let weights = read(&self.shared.weights);
        let mut out = vec![0.0; d * cols];
        for col in 0..cols {
            for j in 0..d {
                out[j * cols + col] = weights[col * width + j].to_f64();
            }
        }
        out
    }

    /// The bias `[M·C]` in f64 (multi-class; `None` for a binary loss).
    pub fn bias(&self) -> Option<Vec<f64>> {
        let width = self.shared.d;
        self.shared.loss.has_bias().then(|| {
            let weights = read(&self.shared.weights);
            (0..self.columns())
                .map(|col| weights[col * width + width - 1].to_f64())
                .collect()
        })
    }

    /// Per run, whether any of its logits in the last [`FusedTrainer::compute_gradient`] was
    /// NaN or larger in size than [`SUSPECT_MARGIN`].
    pub fn suspect(&self) -> &[bool] {
        &self.suspect
    }

    /// Computes every run's gradient at the current weights (kept for
    /// [`FusedTrainer::update`]) and flags the runs with a suspect logit
    /// ([`FusedTrainer::suspect`]).
    pub fn compute_gradient(&mut self) {
        let shared = &*self.shared;
        shared.finished.store(0, Ordering::Release);
        shared.generation.fetch_add(1, Ordering::AcqRel);
        for worker in &self.workers {
            worker.thread().unpark();
        }
        shared.run_share(0);
        let waiting = Instant::now();
        while shared.finished.load(Ordering::Acquire) < self.workers.len() {
            if waiting.elapsed() < SPIN_FOR {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        for (p, state) in shared.states.iter().enumerate() {
            let state = lock(state);
            if p == 0 {
                self.grad.copy_from_slice(&state.grad);
                self.suspect.copy_from_slice(&state.suspect);
            } else {
                sum_into(&mut self.grad, &state.grad);
                for (flag, part) in self.suspect.iter_mut().zip(&state.suspect) {
                    *flag |= part;
                }
            }
        }
        if self.weight_decay > 0.0 {
            let (width, d) = (shared.d, self.features());
            let gamma = T::from_f64(self.weight_decay);
            let weights = read(&shared.weights);
            for (g, w) in self
                .grad
                .chunks_exact_mut(width)
                .zip(weights.chunks_exact(width))
            {
                sum_scaled_into(&mut g[..d], &w[..d], gamma);
            }
        }
    }

    /// Each run's gradient norm `‖∇_m‖` (weights and bias) from the last
    /// [`FusedTrainer::compute_gradient`].
    pub fn gradient_norms(&self) -> Vec<f64> {
        self.grad
            .chunks_exact((self.shared.d * self.shared.classes).max(1))
            .map(|g| g.iter().map(|v| v.to_f64().powi(2)).sum::<f64>().sqrt())
            .collect()
    }

    /// One update with the last computed gradient: `w ← w − η_m ∇` (GD), or Adam's step.
    pub fn update(&mut self) {
        let per_run = (self.shared.d * self.shared.classes).max(1);
        let mut weights = write(&self.shared.weights);
        match self.optimizer {
            FusedOptimizer::Gd => {
                for ((w, g), &lr) in weights
                    .chunks_exact_mut(per_run)
                    .zip(self.grad.chunks_exact(per_run))
                    .zip(&self.lr)
                {
                    sum_scaled_into(w, g, T::from_f64(-lr));
                }
            }
            FusedOptimizer::Adam {
                beta1,
                beta2,
                epsilon,
            } => {
                self.time += 1;
                let s = AdamScalars::at(beta1, beta2, epsilon, self.time);
                let (first, second) = &mut self.moments;
                for (i, (w, g)) in weights.iter_mut().zip(&self.grad).enumerate() {
                    let g = g.to_f64();
                    first[i] = s.beta1 * first[i] + s.keep1 * g;
                    second[i] = s.beta2 * second[i] + s.keep2 * (g * g);
                    let lr = self.lr[i / per_run];
                    let step = first[i] * s.factor / (second[i].sqrt() + s.floor) * lr;
                    *w = T::from_f64(w.to_f64() - step);
                }
            }
        }
    }

    /// Each run's objective at the current weights: `c·Σ_i ℓ_m(·) + γ/2 ‖W_m‖²`, accumulated
    /// in f64 (c = 1/N for the mean data term, 1 for the sum).
    pub fn objective(&self) -> Vec<f64> {
        let shared = &*self.shared;
        let (width, d) = (shared.d, self.features());
        let weights = read(&shared.weights);
        let part_sums: Vec<Vec<f64>> = shared
            .parts
            .par_iter()
            .map(|range| {
                let rows = &shared.a[range.start * width..range.end * width];
                match &shared.loss {
                    FusedLoss::Margin { loss, .. } => Arch::new().dispatch(PartObjective {
                        rows,
                        d: width,
                        weights: &weights,
                        loss,
                    }),
                    FusedLoss::Softmax(loss) => {
                        softmax_part_objective(rows, width, &weights, loss, range.start)
                    }
                }
            })
            .collect();
        let per_run = width * shared.classes;
        (0..self.runs)
            .map(|m| {
                let data = shared.data_scale * part_sums.iter().map(|p| p[m]).sum::<f64>();
                let norm2: f64 = weights[m * per_run..(m + 1) * per_run]
                    .chunks_exact(width.max(1))
                    .flat_map(|column| &column[..d])
                    .map(|v| v.to_f64().powi(2))
                    .sum();
                data + 0.5 * self.weight_decay * norm2
            })
            .collect()
    }
}

impl<T: HostFloat> Drop for FusedTrainer<T> {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        for worker in self.workers.drain(..) {
            worker.thread().unpark();
            // A worker that panicked has nothing left to clean up.
            let _ = worker.join();
        }
    }
}
