//! Gradient descent on the fused engine: the loss as host functions, the engine's state and
//! its step (gradient, update, objective).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Instant;

use logit_reg_model::penalty::{LogitPenalty, MultiClassPenalty, log_sum_exp, softmax_into};
use logit_reg_model::target::softplus;
use pulp::Arch;
use rayon::prelude::*;

use super::kernels::{HostFloat, sum_into, sum_scaled_into};
use super::logistic::{combine_derivatives, logistic};
use super::team::{
    PartObjective, PartState, SPIN_FOR, Shared, block_rows, lock, part_ranges, read,
    softmax_part_objective, team_size, write,
};

/// Fewest runs for which [`FusedKernel::Auto`] picks the blocked kernel: from 8 runs on its
/// GEMMs are ahead of the pipelined tiles at N = 2000 and d = 400 to 1,400, both on two
/// threads and as each of two concurrent one-thread jobs; at 6 they tie (BENCHMARKS.md,
/// "Choosing the kernel").
pub const BLOCKED_MIN_RUNS: usize = 8;

/// Fewest inputs per sample (width/N) from which [`FusedKernel::Auto`] trains binary GD runs in
/// the dual form. Its step (`2N²` flops a run, N²/2 entries read) does less work than the
/// primal one (`4N·width`, N·width) from width = N/2 on. Measured at N = 2000 in f32, the dual
/// form is ahead from width ≈ 0.5 N on for 1 to 6 runs as each of two concurrent one-thread
/// jobs, and from 0.6 N (4 to 6 runs) to 0.8 N (12 runs) on two threads; 0.7 N takes it for the
/// paper's standard λ = d/N = 0.7 (BENCHMARKS.md, "Choosing the kernel").
pub const DUAL_MIN_RATIO: f64 = 0.7;

/// Runs from which [`FusedKernel::Auto`] asks more of the width before it takes the dual form
/// ([`DUAL_MIN_RATIO_MANY_RUNS`]): with many runs the blocked kernel's GEMMs run near the
/// machine's GEMM rate and the dual form's register tiles at about half of it, which outweighs
/// the dual form's smaller work at width 0.7 N. Measured at N = 2000 (f32 and f64, on two
/// threads and as one-thread jobs): at d = 1400 the blocked kernel is ahead at 24 and 32 runs in
/// all four settings (1.23 against 1.56 ms at 24 runs in f32 on two threads), and the dual form
/// at 16 runs as a job; at d = 1600 the dual form is ahead or level at 24 runs everywhere and at
/// 32 runs as a job (BENCHMARKS.md, "Choosing the kernel").
pub const DUAL_MANY_RUNS: usize = 24;

/// The width/N from which [`FusedKernel::Auto`] takes the dual form for [`DUAL_MANY_RUNS`] runs
/// or more (below them, [`DUAL_MIN_RATIO`]).
pub const DUAL_MIN_RATIO_MANY_RUNS: f64 = 0.8;

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
    /// GD in the span of the training rows ([`super::DualTrainer`]): one product with the
    /// N×N Gram matrix a step instead of two with the N×d inputs (binary runs by GD only;
    /// fastest when d is well above N).
    Dual,
}

impl FusedKernel {
    /// The name in configs (`train.fused_kernel`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Pipelined => "pipelined",
            Self::Blocked => "blocked",
            Self::Dual => "dual",
        }
    }

    /// Whether this is [`FusedKernel::Auto`].
    pub fn is_auto(&self) -> bool {
        *self == Self::Auto
    }

    /// The one rule for the dual form: `Auto` becomes [`FusedKernel::Dual`] for `runs` binary
    /// runs by GD (`binary_gd`) whose gradient norms are not asked for at every step
    /// (`grad_tol == 0`: the dual form would pay a second product a step for them), on `n`
    /// samples of `width` inputs each (the base matrix's width for column maps), from
    /// `width ≥ DUAL_MIN_RATIO·n` on, or `width ≥ DUAL_MIN_RATIO_MANY_RUNS·n` from
    /// [`DUAL_MANY_RUNS`] runs on, where a step of the dual form is the faster one
    /// ([`DUAL_MIN_RATIO`], [`DUAL_MIN_RATIO_MANY_RUNS`]). Any other choice is kept.
    pub fn with_dual_form(
        self,
        binary_gd: bool,
        grad_tol: f64,
        runs: usize,
        n: usize,
        width: usize,
    ) -> Self {
        let ratio = if runs >= DUAL_MANY_RUNS {
            DUAL_MIN_RATIO_MANY_RUNS
        } else {
            DUAL_MIN_RATIO
        };
        match self {
            Self::Auto if binary_gd && grad_tol == 0.0 && width as f64 >= ratio * n as f64 => {
                Self::Dual
            }
            chosen => chosen,
        }
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

    /// `ℓ′_m(t) = −(1 − α_m)·σ(−t) + α_m·f′(t)`, with σ from the fused engine's vectorising
    /// exponential (libm's to about one unit in the last place), so that this
    /// value is bit for bit the one [`PointwiseMarginLoss::derivatives`] gives.
    pub fn derivative(&self, run: usize, t: f64) -> f64 {
        let ce = -logistic(-t);
        match &self.penalty {
            None => ce,
            Some(f) => {
                let a = self.alpha[run];
                (1.0 - a) * ce + a * f.derivative(t)
            }
        }
    }

    /// `out_i = scale·ℓ′_m(t_i)` for every margin of run m: the penalty's derivatives in one
    /// call ([`LogitPenalty::derivatives`]), then the logistic part in one vectorised pass
    /// (through pulp's dispatch). Each value is bit for bit `scale * self.derivative(run, t_i)`.
    ///
    /// # Shapes
    /// - `t`, `out`: `[n]`
    pub fn derivatives(&self, run: usize, t: &[f64], scale: f64, out: &mut [f64]) {
        let (alpha, penalty) = self.penalty_derivatives(run, t, out);
        Arch::new().dispatch(Combine {
            t,
            alpha,
            penalty,
            scale,
            out,
        })
    }

    /// [`PointwiseMarginLoss::derivatives`] compiled into a caller that already runs inside
    /// pulp's dispatch (the pipelined kernel's tiles), so that its loop is vectorised there.
    #[inline(always)]
    pub(crate) fn derivatives_here(&self, run: usize, t: &[f64], scale: f64, out: &mut [f64]) {
        let (alpha, penalty) = self.penalty_derivatives(run, t, out);
        combine_derivatives(t, alpha, penalty, scale, out)
    }

    /// The penalty's derivatives at `t` into `out` (one dynamic call), and the (α, penalty)
    /// that [`combine_derivatives`] then takes; `out` is untouched without a penalty.
    fn penalty_derivatives(&self, run: usize, t: &[f64], out: &mut [f64]) -> (f64, bool) {
        match &self.penalty {
            None => (0.0, false),
            Some(f) => {
                f.derivatives(t, out);
                (self.alpha[run], true)
            }
        }
    }
}

/// The logistic part of [`PointwiseMarginLoss::derivatives`] under pulp's dispatch.
struct Combine<'a> {
    t: &'a [f64],
    alpha: f64,
    penalty: bool,
    scale: f64,
    out: &'a mut [f64],
}

impl pulp::WithSimd for Combine<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        combine_derivatives(self.t, self.alpha, self.penalty, self.scale, self.out)
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
    /// The runs' own weights and gradient when their inputs are maps of a shared base matrix
    /// ([`FusedTrainer::new_mapped`]).
    mapped: Option<Mapped<T>>,
}

/// How one run's inputs are formed from a shared base matrix `B = [b₀, b₁, b₂, …, b_d]`
/// (`[N, d + 1]`): the run trains on
///
/// ```text
/// X = [first·b₀ + second·b₁,  rest·b₂, …, rest·b_d]                              [N, d]
/// ```
///
/// so that `X w = B u` with `u = P w = (first·w₁, second·w₁, rest·w₂, …, rest·w_d)`, and the
/// gradient with respect to w is `Pᵀ` of the one with respect to u:
/// `∂/∂w₁ = first·∂/∂u₀ + second·∂/∂u₁` and `∂/∂w_j = rest·∂/∂u_j` for j ≥ 2.
///
/// For the signal-plus-noise model, `b₀ = y`, `b₁ = ξ_f` and `b₂.. = ξ_⊥` (one draw at
/// μ_f = 0, σ_f = σ_n = 1), and `(first, second, rest) = (μ_f, σ_f, σ_n)` give each run its own
/// `x = (y μ_f + σ_f ξ_f, σ_n ξ_⊥)`: runs that differ only in σ_f and σ_n read one matrix per step
/// between them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColumnMap {
    /// The coefficient of `b₀` in the first input.
    pub first: f64,
    /// The coefficient of `b₁` in the first input.
    pub second: f64,
    /// The scale of the remaining inputs.
    pub rest: f64,
}

impl ColumnMap {
    /// `u = P w` (`w`: `[d]`, `u`: `[d + 1]`).
    pub(super) fn forward<T: HostFloat>(&self, w: &[T], u: &mut [T]) {
        let w1 = w[0].to_f64();
        u[0] = T::from_f64(self.first * w1);
        u[1] = T::from_f64(self.second * w1);
        for (u, w) in u[2..].iter_mut().zip(&w[1..]) {
            *u = T::from_f64(self.rest * w.to_f64());
        }
    }

    /// `g_w = Pᵀ g_u` (`g_u`: `[d + 1]`, `g_w`: `[d]`).
    pub(super) fn backward<T: HostFloat>(&self, g_u: &[T], g_w: &mut [T]) {
        g_w[0] = T::from_f64(self.first * g_u[0].to_f64() + self.second * g_u[1].to_f64());
        for (g, u) in g_w[1..].iter_mut().zip(&g_u[2..]) {
            *g = T::from_f64(self.rest * u.to_f64());
        }
    }
}

/// The state of runs trained through column maps: their own weights `W` (run-major `[M, d]`)
/// and gradient, while the engine's kernels read `U = P W` over the base matrix.
#[derive(Debug)]
struct Mapped<T> {
    maps: Vec<ColumnMap>,
    d: usize,
    weights: Vec<T>,
    grad: Vec<T>,
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
    /// If d is 0 or the lengths disagree with these shapes.
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
        assert!(d >= 1, "at least one input feature");
        assert_eq!(x.len(), n * d, "x is [N, d]");
        assert_eq!(weights.len(), d * cols, "weights are [d, M·C]");
        let mut a = Vec::with_capacity(n * width);
        for (i, row) in x.chunks_exact(d).take(n).enumerate() {
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
        assert!(
            spec.kernel != FusedKernel::Dual,
            "the dual form is DualTrainer's (FusedEngine picks it)"
        );
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
            mapped: None,
        }
    }

    /// The engine for binary runs whose inputs are column maps of one base matrix (see
    /// [`ColumnMap`]): `base` is row-major `[N, d + 1]`, `weights` the runs' initial weights
    /// (row-major `[d, M]`, the linear classifier's layout) and `maps` one map per run. Each
    /// step reads `base` once for all runs; the optimiser and the weight decay act on each
    /// run's own weights, so every run takes the steps it would take on its own inputs (to
    /// rounding: its logits are summed as `B u` rather than `X w`).
    ///
    /// # Shapes
    /// - `base`: `[N·(d+1)]`, `weights`: `[d·M]`, `maps`, `spec.lr` and the loss's α: `[M]`
    ///
    /// # Panics
    /// If the lengths disagree with these shapes, or the loss is not a margin loss.
    pub fn new_mapped(
        base: &[f64],
        d: usize,
        weights: &[f64],
        maps: &[ColumnMap],
        spec: FusedSpec,
    ) -> Self {
        assert!(
            matches!(spec.loss, FusedLoss::Margin { .. }),
            "column maps are for binary margin losses"
        );
        assert!(d >= 1, "at least one input");
        let runs = spec.lr.len();
        assert_eq!(maps.len(), runs, "one map per run");
        assert_eq!(weights.len(), d * runs, "weights are [d, M]");
        let mut own = vec![T::default(); runs * d];
        for (m, w) in own.chunks_exact_mut(d).enumerate() {
            for (j, v) in w.iter_mut().enumerate() {
                *v = T::from_f64(weights[j * runs + m]);
            }
        }
        let mut u = vec![T::default(); runs * (d + 1)];
        for ((map, w), u) in maps
            .iter()
            .zip(own.chunks_exact(d))
            .zip(u.chunks_exact_mut(d + 1))
        {
            map.forward(w, u);
        }
        let mut u_rows = vec![0.0; (d + 1) * runs];
        for (m, column) in u.chunks_exact(d + 1).enumerate() {
            for (j, v) in column.iter().enumerate() {
                u_rows[j * runs + m] = v.to_f64();
            }
        }
        let mut engine = Self::new(base, d + 1, &u_rows, None, spec);
        if let FusedOptimizer::Adam { .. } = engine.optimizer {
            engine.moments = (vec![0.0; runs * d], vec![0.0; runs * d]);
        }
        engine.mapped = Some(Mapped {
            maps: maps.to_vec(),
            d,
            weights: own,
            grad: vec![T::default(); runs * d],
        });
        engine
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
        if let Some(mapped) = &self.mapped {
            let (d, runs) = (mapped.d, self.runs);
            let mut out = vec![0.0; d * runs];
            for (m, w) in mapped.weights.chunks_exact(d).enumerate() {
                for (j, v) in w.iter().enumerate() {
                    out[j * runs + m] = v.to_f64();
                }
            }
            return out;
        }
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
        if let Some(mapped) = &mut self.mapped {
            let (d, width) = (mapped.d, shared.d);
            for ((map, g_w), g_u) in mapped
                .maps
                .iter()
                .zip(mapped.grad.chunks_exact_mut(d))
                .zip(self.grad.chunks_exact(width))
            {
                map.backward(g_u, g_w);
            }
            if self.weight_decay > 0.0 {
                sum_scaled_into(
                    &mut mapped.grad,
                    &mapped.weights,
                    T::from_f64(self.weight_decay),
                );
            }
        } else if self.weight_decay > 0.0 {
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
        let (grad, per_run) = match &self.mapped {
            Some(mapped) => (&mapped.grad, mapped.d),
            None => (&self.grad, self.shared.d * self.shared.classes),
        };
        grad.chunks_exact(per_run.max(1))
            .map(|g| g.iter().map(|v| v.to_f64().powi(2)).sum::<f64>().sqrt())
            .collect()
    }

    /// One update with the last computed gradient: `w ← w − η_m ∇` (GD), or Adam's step.
    /// Runs trained through column maps update their own weights, then the weights the
    /// kernels read (`U = P W`).
    pub fn update(&mut self) {
        if let FusedOptimizer::Adam { .. } = self.optimizer {
            self.time += 1;
        }
        let mut weights = write(&self.shared.weights);
        match &mut self.mapped {
            None => {
                let per_run = (self.shared.d * self.shared.classes).max(1);
                apply_update(
                    self.optimizer,
                    self.time,
                    &self.lr,
                    &mut self.moments,
                    per_run,
                    &mut weights,
                    &self.grad,
                );
            }
            Some(mapped) => {
                let d = mapped.d;
                apply_update(
                    self.optimizer,
                    self.time,
                    &self.lr,
                    &mut self.moments,
                    d,
                    &mut mapped.weights,
                    &mapped.grad,
                );
                for ((map, w), u) in mapped
                    .maps
                    .iter()
                    .zip(mapped.weights.chunks_exact(d))
                    .zip(weights.chunks_exact_mut(d + 1))
                {
                    map.forward(w, u);
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
                if let Some(mapped) = &self.mapped {
                    let own = &mapped.weights[m * mapped.d..(m + 1) * mapped.d];
                    let norm2: f64 = own.iter().map(|v| v.to_f64().powi(2)).sum();
                    return data + 0.5 * self.weight_decay * norm2;
                }
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

/// One optimiser step of every run on `weights` (run-major, `per_run` entries a run) with
/// `grad`: `w ← w − η_m ∇` (GD), or Adam's step number `time` with the moments in f64.
fn apply_update<T: HostFloat>(
    optimizer: FusedOptimizer,
    time: i32,
    lr: &[f64],
    moments: &mut (Vec<f64>, Vec<f64>),
    per_run: usize,
    weights: &mut [T],
    grad: &[T],
) {
    let runs = weights
        .chunks_exact_mut(per_run)
        .zip(grad.chunks_exact(per_run));
    match optimizer {
        FusedOptimizer::Gd => {
            for ((w, g), &lr) in runs.zip(lr) {
                sum_scaled_into(w, g, T::from_f64(-lr));
            }
        }
        FusedOptimizer::Adam {
            beta1,
            beta2,
            epsilon,
        } => {
            let s = AdamScalars::at(beta1, beta2, epsilon, time);
            let (first, second) = moments;
            let moments = first
                .chunks_exact_mut(per_run)
                .zip(second.chunks_exact_mut(per_run));
            for (((w, g), (first, second)), &lr) in runs.zip(moments).zip(lr) {
                for (((w, g), m1), m2) in w.iter_mut().zip(g).zip(first).zip(second) {
                    let g = g.to_f64();
                    *m1 = s.beta1 * *m1 + s.keep1 * g;
                    *m2 = s.beta2 * *m2 + s.keep2 * (g * g);
                    let step = *m1 * s.factor / (m2.sqrt() + s.floor) * lr;
                    *w = T::from_f64(w.to_f64() - step);
                }
            }
        }
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
