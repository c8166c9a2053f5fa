//! Gradient descent on the fused engine: the loss as host functions, the engine's state and
//! its step (gradient, update, objective).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Instant;

use logit_reg_model::penalty::LogitPenalty;
use logit_reg_model::target::{sigmoid, softplus};
use pulp::Arch;
use rayon::prelude::*;

use super::kernels::{HostFloat, sum_into, sum_scaled_into};
use super::team::{
    PartObjective, PartState, SPIN_FOR, Shared, block_rows, lock, part_ranges, read, team_size,
    write,
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

/// The fused GD state of M runs on one training set: the label-absorbed rows, the weights,
/// the gradient buffers (all allocated once, in [`FusedGd::new`]) and a team of worker threads
/// that live as long as the engine. A step wakes the workers (they spin briefly between steps,
/// then park), the calling thread does its own share of the parts, and the parts' gradients are
/// summed in part order.
#[derive(Debug)]
pub struct FusedGd<T: HostFloat> {
    shared: Arc<Shared<T>>,
    workers: Vec<std::thread::JoinHandle<()>>,
    runs: usize,
    lr: Vec<f64>,
    weight_decay: f64,
    pub(super) grad: Vec<T>,
    suspect: Vec<bool>,
}

/// What [`FusedGd::new`] needs besides the data.
#[derive(Debug, Clone)]
pub struct FusedSpec {
    /// The loss of each run.
    pub loss: PointwiseMarginLoss,
    /// Learning rate η_m of each run.
    pub lr: Vec<f64>,
    /// γ of the weight-decay term `γ/2 ‖s_m‖²` (0: none).
    pub weight_decay: f64,
    /// Sum instead of mean over the samples in the data term.
    pub sum_data_term: bool,
    /// Threads (0: the available cores; at most 8, the most parts). The results do not depend
    /// on it.
    pub threads: usize,
    /// The kernel ([`FusedKernel::Auto`]: by the number of runs).
    pub kernel: FusedKernel,
}

impl<T: HostFloat> FusedGd<T> {
    /// The engine for inputs `x` (row-major `[n, d]`), labels `y` (±1, `[n]`) and initial
    /// weights `weights` (row-major `[d, M]`, the layout of the linear classifier).
    ///
    /// # Shapes
    /// - `x`: `[n·d]`, `y`: `[n]`, `weights`: `[d·M]`, `spec.lr` and `spec.loss.alpha`: `[M]`
    pub fn new(x: &[f64], y: &[f64], d: usize, weights: &[f64], spec: FusedSpec) -> Self {
        let n = y.len();
        let runs = spec.lr.len();
        debug_assert_eq!(x.len(), n * d);
        debug_assert_eq!(weights.len(), d * runs);
        let mut a = Vec::with_capacity(n * d);
        for (row, &label) in x.chunks_exact(d.max(1)).zip(y) {
            a.extend(row.iter().map(|v| T::from_f64(v * label)));
        }
        let mut run_major = vec![T::default(); runs * d];
        for j in 0..d {
            for m in 0..runs {
                run_major[m * d + j] = T::from_f64(weights[j * runs + m]);
            }
        }
        let parts = part_ranges(n, d);
        let members = team_size(spec.threads, parts.len());
        let kernel = spec.kernel.resolve(runs);
        let margins = match kernel {
            FusedKernel::Blocked => block_rows(d, std::mem::size_of::<T>()) * runs,
            _ => 0,
        };
        let states = parts
            .iter()
            .map(|_| {
                Mutex::new(PartState {
                    grad: vec![T::default(); runs * d],
                    suspect: vec![false; runs],
                    margins: vec![T::default(); margins],
                })
            })
            .collect();
        let shared = Arc::new(Shared {
            a,
            d,
            weights: RwLock::new(run_major),
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
        Self {
            shared,
            workers,
            runs,
            lr: spec.lr,
            weight_decay: spec.weight_decay,
            grad: vec![T::default(); runs * d],
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

    /// The weights, row-major `[d, M]` in f64 (the linear classifier's layout).
    pub fn weights(&self) -> Vec<f64> {
        let d = self.shared.d;
        let weights = read(&self.shared.weights);
        let mut out = vec![0.0; d * self.runs];
        for m in 0..self.runs {
            for j in 0..d {
                out[j * self.runs + m] = weights[m * d + j].to_f64();
            }
        }
        out
    }

    /// Per run, whether any of its margins in the last [`FusedGd::compute_gradient`] was NaN or
    /// larger in size than [`SUSPECT_MARGIN`].
    pub fn suspect(&self) -> &[bool] {
        &self.suspect
    }

    /// Computes every run's gradient at the current weights (kept for [`FusedGd::update`]) and
    /// flags the runs with a suspect margin ([`FusedGd::suspect`]).
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
            let gamma = T::from_f64(self.weight_decay);
            sum_scaled_into(&mut self.grad, &read(&shared.weights), gamma);
        }
    }

    /// Each run's gradient norm `‖∇_m‖` from the last [`FusedGd::compute_gradient`].
    pub fn gradient_norms(&self) -> Vec<f64> {
        self.grad
            .chunks_exact(self.shared.d.max(1))
            .map(|g| g.iter().map(|v| v.to_f64().powi(2)).sum::<f64>().sqrt())
            .collect()
    }

    /// The GD update `s_m ← s_m − η_m ∇_m` with the last computed gradient.
    pub fn update(&mut self) {
        let d = self.shared.d.max(1);
        let mut weights = write(&self.shared.weights);
        for ((w, g), &lr) in weights
            .chunks_exact_mut(d)
            .zip(self.grad.chunks_exact(d))
            .zip(&self.lr)
        {
            sum_scaled_into(w, g, T::from_f64(-lr));
        }
    }

    /// Each run's objective at the current weights:
    /// `c·Σ_i ℓ_m(a_iᵀ s_m) + γ/2 ‖s_m‖²`, accumulated in f64.
    pub fn objective(&self) -> Vec<f64> {
        let shared = &*self.shared;
        let d = shared.d;
        let weights = read(&shared.weights);
        let part_sums: Vec<Vec<f64>> = shared
            .parts
            .par_iter()
            .map(|range| {
                Arch::new().dispatch(PartObjective {
                    rows: &shared.a[range.start * d..range.end * d],
                    d,
                    weights: &weights,
                    loss: &shared.loss,
                })
            })
            .collect();
        (0..self.runs)
            .map(|m| {
                let data = shared.data_scale * part_sums.iter().map(|p| p[m]).sum::<f64>();
                let norm2: f64 = weights[m * d..(m + 1) * d]
                    .iter()
                    .map(|v| v.to_f64().powi(2))
                    .sum();
                data + 0.5 * self.weight_decay * norm2
            })
            .collect()
    }
}

impl<T: HostFloat> Drop for FusedGd<T> {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        for worker in self.workers.drain(..) {
            worker.thread().unpark();
            // A worker that panicked has nothing left to clean up.
            let _ = worker.join();
        }
    }
}
