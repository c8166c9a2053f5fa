//! The fused host engine (`train.engine = "fused"`): full-batch gradient descent of M bias-free
//! binary linear runs with a pointwise margin loss, reading X once per step.
//!
//! With the label-absorbed rows `a_i = y_i x_i` (prepared once, in the run's precision) and the
//! run-major weights `s_m`, one step of every run is
//!
//! ```text
//! t_{i,m} = a_iᵀ s_m                                   forward
//! g_{i,m} = c · ℓ′_m(t_{i,m})                          c = 1/N (mean data term) or 1 (sum)
//! ∇_m     = Σ_i g_{i,m} a_i + γ s_m                    backward (γ: weight decay)
//! s_m    ← s_m − η_m ∇_m
//! ```
//!
//! which is what the Burn autodiff loop computes for the same objective (it stays the reference,
//! and the tests check that the two agree to rounding).
//!
//! **Why it is fast.** The rows are taken in tiles of four. The jobs (a tile, a run) run in
//! order, and one sweep over the columns does the forward dots of one job and the backward update
//! of the job before it (with its derivatives computed in between), so the backward reads a tile
//! that is still in the core's cache: X comes from memory (or the shared cache) once per step
//! instead of twice, and with several runs each tile is read once for two jobs. The inner loops
//! are explicit SIMD register tiles through pulp's runtime dispatch (AVX2 + FMA where the CPU has
//! it, scalar code otherwise), so no unsafe code is needed here. Nothing is allocated, no graph is
//! built and nothing is copied between host and device inside the step; the objective is only
//! evaluated when the caller asks (at logging steps, or when a margin turns suspect).
//!
//! **Threads, reproducibly.** The rows are split into at most eight contiguous parts, a number
//! fixed by N and d alone. Each part accumulates its own gradient, and the gradients are summed
//! in part order, so the result is bit-identical whatever the thread count. The parts are shared
//! out to a team of threads that lives as long as the engine: the calling thread and workers
//! that spin briefly between steps and then park, so a step costs no thread start and, usually,
//! no wake-up.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use logit_reg_model::penalty::LogitPenalty;
use logit_reg_model::target::{sigmoid, softplus};
use pulp::{Arch, Simd, WithSimd};
use rayon::prelude::*;

/// Margins beyond this size (or NaN) flag a run as suspect: its objective may have overflowed
/// (the quadratic penalty does at |t| ≈ 10¹⁵⁴ in f64 while t is finite), so the training loop
/// evaluates it to decide whether the run diverged. The regularised margins of this study are
/// O(1) and the unregularised ones grow like log t, far below it.
pub const SUSPECT_MARGIN: f64 = 1e4;

/// Most parts the rows are split into (and so most threads used).
const MAX_PARTS: usize = 8;
/// Fewest matrix entries per part: below this a thread costs more than it saves.
const MIN_PART_ENTRIES: usize = 1 << 17;

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

/// A float type the fused engine computes in (f32 or f64), with its SIMD register tiles.
pub trait HostFloat: Copy + Send + Sync + Default + PartialEq + std::fmt::Debug + 'static {
    /// Rounds an f64 to this type.
    fn from_f64(v: f64) -> Self;
    /// Widens to f64.
    fn to_f64(self) -> f64;
    /// Dot products of `R` rows with `Q` weight vectors: `out[r][q] = rows[r] · w[q]`.
    ///
    /// # Shapes
    /// - `rows`: R slices of `[d]`; `w`: Q slices of `[d]`; output `[R][Q]`
    fn dot_tile<S: Simd, const R: usize, const Q: usize>(
        simd: S,
        rows: [&[Self]; R],
        w: [&[Self]; Q],
    ) -> [[Self; Q]; R];
    /// Rank-R updates of Q accumulators: `acc[q] += Σ_r c[r][q] · rows[r]`.
    ///
    /// # Shapes
    /// - `rows`: R slices of `[d]`; `c`: `[R][Q]`; `acc`: Q slices of `[d]`
    fn axpy_tile<S: Simd, const R: usize, const Q: usize>(
        simd: S,
        rows: [&[Self]; R],
        c: [[Self; Q]; R],
        acc: [&mut [Self]; Q],
    );
    /// One sweep over the columns that does the forward dots of the next job and the backward
    /// update of the previous one: returns `next[r] · w` and does
    /// `acc += Σ_r c[r] · prev[r]`, with `prev = None` meaning the same rows as `next` (read once).
    ///
    /// # Shapes
    /// - `next`, `prev`: R slices of `[d]`; `w`, `acc`: `[d]`; `c`: `[R]`; output `[R]`
    fn dot_axpy_tile<S: Simd, const R: usize>(
        simd: S,
        next: [&[Self]; R],
        w: &[Self],
        prev: Option<[&[Self]; R]>,
        c: [Self; R],
        acc: &mut [Self],
    ) -> [Self; R];
}

macro_rules! host_float {
    ($t:ty, $lanes:ident, $as_simd:ident, $as_mut_simd:ident, $splat:ident, $fma:ident, $add:ident, $reduce:ident) => {
        impl HostFloat for $t {
            fn from_f64(v: f64) -> Self {
                v as $t
            }

            fn to_f64(self) -> f64 {
                self as f64
            }

            #[inline(always)]
            fn dot_tile<S: Simd, const R: usize, const Q: usize>(
                simd: S,
                rows: [&[Self]; R],
                w: [&[Self]; Q],
            ) -> [[Self; Q]; R] {
                let d = w.first().map_or(0, |v| v.len());
                let rows = rows.map(|row| S::$as_simd(&row[..d]));
                let w = w.map(|v| S::$as_simd(&v[..d]));
                let len = d / (core::mem::size_of::<S::$lanes>() / core::mem::size_of::<$t>());
                let row_heads = rows.map(|(head, _)| &head[..len]);
                let w_heads = w.map(|(head, _)| &head[..len]);
                let mut acc = [[simd.$splat(0.0); Q]; R];
                // Small tiles have too few accumulators to hide the FMA latency: give them a
                // second set, over the odd vectors, and add the two at the end.
                let mut odd = [[simd.$splat(0.0); Q]; R];
                let pairs = if R * Q <= 4 { len / 2 } else { 0 };
                for k in (0..pairs).map(|p| 2 * p) {
                    for (r, head) in row_heads.iter().enumerate() {
                        let (x0, x1) = (head[k], head[k + 1]);
                        for (q, wh) in w_heads.iter().enumerate() {
                            acc[r][q] = simd.$fma(x0, wh[k], acc[r][q]);
                            odd[r][q] = simd.$fma(x1, wh[k + 1], odd[r][q]);
                        }
                    }
                }
                for k in 2 * pairs..len {
                    let wk = w_heads.map(|h| h[k]);
                    for (r, head) in row_heads.iter().enumerate() {
                        let x = head[k];
                        for (q, wq) in wk.iter().enumerate() {
                            acc[r][q] = simd.$fma(x, *wq, acc[r][q]);
                        }
                    }
                }
                let mut out = [[0.0; Q]; R];
                for r in 0..R {
                    for q in 0..Q {
                        let tail: $t = rows[r].1.iter().zip(w[q].1).map(|(x, y)| x * y).sum();
                        let sum = simd.$add(acc[r][q], odd[r][q]);
                        out[r][q] = simd.$reduce(sum) + tail;
                    }
                }
                out
            }

            #[inline(always)]
            fn axpy_tile<S: Simd, const R: usize, const Q: usize>(
                simd: S,
                rows: [&[Self]; R],
                c: [[Self; Q]; R],
                acc: [&mut [Self]; Q],
            ) {
                let d = rows.first().map_or(0, |v| v.len());
                let rows = rows.map(|row| S::$as_simd(&row[..d]));
                let len = d / (core::mem::size_of::<S::$lanes>() / core::mem::size_of::<$t>());
                let row_heads = rows.map(|(head, _)| &head[..len]);
                let cv = c.map(|cr| cr.map(|v| simd.$splat(v)));
                let mut acc = acc.map(|a| S::$as_mut_simd(&mut a[..d]));
                for (q, (head, tail)) in acc.iter_mut().enumerate() {
                    let head = &mut head[..len];
                    for (k, out) in head.iter_mut().enumerate() {
                        let mut sum = *out;
                        for (r, row) in row_heads.iter().enumerate() {
                            sum = simd.$fma(row[k], cv[r][q], sum);
                        }
                        *out = sum;
                    }
                    for (j, out) in tail.iter_mut().enumerate() {
                        for r in 0..R {
                            *out += c[r][q] * rows[r].1[j];
                        }
                    }
                }
            }

            #[inline(always)]
            fn dot_axpy_tile<S: Simd, const R: usize>(
                simd: S,
                next: [&[Self]; R],
                w: &[Self],
                prev: Option<[&[Self]; R]>,
                c: [Self; R],
                acc: &mut [Self],
            ) -> [Self; R] {
                let d = w.len();
                let lanes = core::mem::size_of::<S::$lanes>() / core::mem::size_of::<$t>();
                let len = d / lanes;
                let next = next.map(|row| S::$as_simd(&row[..d]));
                let next_heads = next.map(|(head, _)| &head[..len]);
                let (w_head, w_tail) = S::$as_simd(w);
                let w_head = &w_head[..len];
                let (acc_head, acc_tail) = S::$as_mut_simd(&mut acc[..d]);
                let acc_head = &mut acc_head[..len];
                let cv = c.map(|v| simd.$splat(v));
                let mut dots = [simd.$splat(0.0); R];
                let mut out = [0.0; R];
                match prev {
                    None => {
                        for k in 0..len {
                            let wk = w_head[k];
                            let mut sum = acc_head[k];
                            for r in 0..R {
                                let x = next_heads[r][k];
                                dots[r] = simd.$fma(x, wk, dots[r]);
                                sum = simd.$fma(x, cv[r], sum);
                            }
                            acc_head[k] = sum;
                        }
                        for (j, a) in acc_tail.iter_mut().enumerate() {
                            for r in 0..R {
                                *a += c[r] * next[r].1[j];
                            }
                        }
                    }
                    Some(prev) => {
                        let prev = prev.map(|row| S::$as_simd(&row[..d]));
                        let prev_heads = prev.map(|(head, _)| &head[..len]);
                        for k in 0..len {
                            let wk = w_head[k];
                            let mut sum = acc_head[k];
                            for r in 0..R {
                                dots[r] = simd.$fma(next_heads[r][k], wk, dots[r]);
                                sum = simd.$fma(prev_heads[r][k], cv[r], sum);
                            }
                            acc_head[k] = sum;
                        }
                        for (j, a) in acc_tail.iter_mut().enumerate() {
                            for r in 0..R {
                                *a += c[r] * prev[r].1[j];
                            }
                        }
                    }
                }
                for r in 0..R {
                    let tail: $t = next[r].1.iter().zip(w_tail).map(|(x, y)| x * y).sum();
                    out[r] = simd.$reduce(dots[r]) + tail;
                }
                out
            }
        }
    };
}

host_float!(
    f32,
    f32s,
    as_simd_f32s,
    as_mut_simd_f32s,
    splat_f32s,
    mul_add_e_f32s,
    add_f32s,
    reduce_sum_f32s
);
host_float!(
    f64,
    f64s,
    as_simd_f64s,
    as_mut_simd_f64s,
    splat_f64s,
    mul_add_e_f64s,
    add_f64s,
    reduce_sum_f64s
);

/// The row ranges of the parts for an `[n, d]` matrix: at most [`MAX_PARTS`], each with at
/// least [`MIN_PART_ENTRIES`] entries where possible; a function of (n, d) only.
fn part_ranges(n: usize, d: usize) -> Vec<Range<usize>> {
    let parts = (n * d / MIN_PART_ENTRIES).clamp(1, MAX_PARTS).min(n.max(1));
    let per = n.div_ceil(parts).max(1);
    (0..n)
        .step_by(per)
        .map(|start| start..(start + per).min(n))
        .collect()
}

/// One part's share of a step: its rows' contribution to every run's gradient, and which
/// runs saw a suspect margin (see [`SUSPECT_MARGIN`]).
struct PartGradient<'a, T> {
    rows: &'a [T],
    d: usize,
    weights: &'a [T],
    loss: &'a PointwiseMarginLoss,
    data_scale: f64,
    grad: &'a mut [T],
    suspect: &'a mut [bool],
}

impl<T: HostFloat> PartGradient<'_, T> {
    /// The pipelined jobs over the first `n / R · R` rows (see `with_simd`); returns that count.
    #[inline(always)]
    fn pipeline<S: Simd, const R: usize>(&mut self, simd: S, n: usize, runs: usize) -> usize {
        let d = self.d;
        let (all_rows, weights) = (self.rows, self.weights);
        let full = n / R * R;
        let mut pending: Option<(usize, usize, [T; R])> = None;
        for r0 in (0..full).step_by(R) {
            let rows = tile_rows::<T, R>(all_rows, d, r0);
            for m in 0..runs {
                let w = &weights[m * d..(m + 1) * d];
                let t = match pending {
                    None => T::dot_tile::<S, R, 1>(simd, rows, [w]).map(|[v]| v),
                    Some((prev_r0, prev_m, c)) => {
                        let prev = (prev_r0 != r0).then(|| tile_rows::<T, R>(all_rows, d, prev_r0));
                        let acc = &mut self.grad[prev_m * d..(prev_m + 1) * d];
                        T::dot_axpy_tile::<S, R>(simd, rows, w, prev, c, acc)
                    }
                };
                pending = Some((r0, m, self.derivative_weights(m, t)));
            }
        }
        if let Some((prev_r0, prev_m, c)) = pending {
            let rows = tile_rows::<T, R>(all_rows, d, prev_r0);
            let acc = &mut self.grad[prev_m * d..(prev_m + 1) * d];
            T::axpy_tile::<S, R, 1>(simd, rows, c.map(|v| [v]), [acc]);
        }
        full
    }

    /// `c_r = scale · ℓ′_m(t_r)` for the margins `t` of run m, flagging suspect margins.
    #[inline(always)]
    fn derivative_weights<const R: usize>(&mut self, m: usize, t: [T; R]) -> [T; R] {
        t.map(|v| {
            let v = v.to_f64();
            if v.is_nan() || v.abs() > SUSPECT_MARGIN {
                self.suspect[m] = true;
            }
            T::from_f64(self.data_scale * self.loss.derivative(m, v))
        })
    }

    /// Rows `r0..r0 + R` against runs `m0..m0 + Q`: forward, derivatives, backward.
    #[inline(always)]
    fn tile<S: Simd, const R: usize, const Q: usize>(&mut self, simd: S, r0: usize, m0: usize) {
        let d = self.d;
        let rows = tile_rows::<T, R>(self.rows, d, r0);
        let w = tile_rows::<T, Q>(self.weights, d, m0);
        let t = T::dot_tile(simd, rows, w);
        let mut c = [[T::default(); Q]; R];
        for q in 0..Q {
            let column = self.derivative_weights(m0 + q, t.map(|row| row[q]));
            for r in 0..R {
                c[r][q] = column[r];
            }
        }
        let block = &mut self.grad[m0 * d..(m0 + Q) * d];
        let mut chunks = block.chunks_exact_mut(d.max(1));
        let acc: [&mut [T]; Q] = std::array::from_fn(|_| chunks.next().unwrap_or_default());
        T::axpy_tile(simd, rows, c, acc);
    }
}

/// Rows `r0..r0 + R` of a row-major `[·, d]` matrix.
#[inline(always)]
fn tile_rows<T, const R: usize>(rows: &[T], d: usize, r0: usize) -> [&[T]; R] {
    std::array::from_fn(|r| &rows[(r0 + r) * d..(r0 + r + 1) * d])
}

impl<T: HostFloat> WithSimd for PartGradient<'_, T> {
    type Output = ();

    /// The jobs (a tile of four rows, a run) run in order, pipelined: one sweep over the
    /// columns does the forward dots of a job and the backward update of the job before it, so
    /// each sweep reads one tile from the cache while the next comes in from memory (one run),
    /// or reads the tile once for both (several runs). The last rows (fewer than four) follow
    /// unpipelined, one run at a time.
    #[inline(always)]
    fn with_simd<S: Simd>(mut self, simd: S) {
        self.grad.iter_mut().for_each(|g| *g = T::default());
        self.suspect.iter_mut().for_each(|f| *f = false);
        let d = self.d;
        if d == 0 {
            return;
        }
        let n = self.rows.len() / d;
        let runs = self.weights.len() / d;
        let full = self.pipeline::<S, 4>(simd, n, runs);
        for r0 in full..n {
            for m in 0..runs {
                self.tile::<S, 1, 1>(simd, r0, m);
            }
        }
    }
}

/// One part's objective terms: `Σ_i ℓ_m(a_iᵀ s_m)` over its rows, per run, in f64.
struct PartObjective<'a, T> {
    rows: &'a [T],
    d: usize,
    weights: &'a [T],
    loss: &'a PointwiseMarginLoss,
}

impl<T: HostFloat> WithSimd for PartObjective<'_, T> {
    type Output = Vec<f64>;

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> Vec<f64> {
        let d = self.d.max(1);
        let runs = self.weights.len() / d;
        let mut sums = vec![0.0; runs];
        for row in self.rows.chunks_exact(d) {
            for (m, sum) in sums.iter_mut().enumerate() {
                let t = T::dot_tile::<S, 1, 1>(simd, [row], [&self.weights[m * d..(m + 1) * d]]);
                *sum += self.loss.value(m, t[0][0].to_f64());
            }
        }
        sums
    }
}

/// One part's gradient accumulator and flags.
#[derive(Debug)]
struct PartState<T> {
    grad: Vec<T>,
    suspect: Vec<bool>,
}

/// What the engine's threads share: the data, the weights, each part's accumulator, and the
/// signals of the step protocol.
#[derive(Debug)]
struct Shared<T> {
    a: Vec<T>,
    d: usize,
    weights: RwLock<Vec<T>>,
    parts: Vec<Range<usize>>,
    states: Vec<Mutex<PartState<T>>>,
    loss: PointwiseMarginLoss,
    data_scale: f64,
    /// Members of the team: the calling thread and the workers.
    members: usize,
    /// Bumped by the calling thread to start a step.
    generation: AtomicU64,
    /// Workers that finished the current step.
    finished: AtomicUsize,
    /// Set when the engine is dropped.
    stop: AtomicBool,
}

/// How long a thread spins waiting for the others before it parks (the steps of the study
/// are 0.05–20 ms apart, so a spinning worker usually catches the next one).
const SPIN_FOR: Duration = Duration::from_micros(300);

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<T: HostFloat> Shared<T> {
    /// Member `member`'s share of a step: parts `member`, `member + members`, …
    fn run_share(&self, member: usize) {
        let d = self.d;
        let weights = read(&self.weights);
        for p in (member..self.parts.len()).step_by(self.members) {
            let mut state = lock(&self.states[p]);
            let PartState { grad, suspect } = &mut *state;
            let range = &self.parts[p];
            Arch::new().dispatch(PartGradient {
                rows: &self.a[range.start * d..range.end * d],
                d,
                weights: &weights,
                loss: &self.loss,
                data_scale: self.data_scale,
                grad,
                suspect,
            });
        }
    }

    /// A worker: waits for each new generation, does its share, reports, until stopped.
    /// Generation 0 is the one before the first step (read at spawn time, it could already
    /// be 1 and the worker would miss that step).
    fn work(&self, member: usize) {
        let mut seen = 0;
        loop {
            let waiting = Instant::now();
            loop {
                if self.stop.load(Ordering::Acquire) {
                    return;
                }
                let now = self.generation.load(Ordering::Acquire);
                if now != seen {
                    seen = now;
                    break;
                }
                if waiting.elapsed() < SPIN_FOR {
                    std::hint::spin_loop();
                } else {
                    std::thread::park_timeout(Duration::from_millis(1));
                }
            }
            self.run_share(member);
            self.finished.fetch_add(1, Ordering::AcqRel);
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
    grad: Vec<T>,
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
    /// Threads (0: the available cores, at most [`MAX_PARTS`]). The results do not depend on it.
    pub threads: usize,
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
        let cores = match spec.threads {
            0 => std::thread::available_parallelism().map_or(1, |c| c.get()),
            chosen => chosen,
        };
        let members = cores.clamp(1, MAX_PARTS).min(parts.len());
        let states = parts
            .iter()
            .map(|_| {
                Mutex::new(PartState {
                    grad: vec![T::default(); runs * d],
                    suspect: vec![false; runs],
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

/// `out_i = a_iᵀ v` for every row of the row-major `[n, d]` matrix `a`, vectorised (tiles of
/// four rows). Used by the exact solvers' products.
///
/// # Shapes
/// - `a`: `[n·d]`, `v`: `[d]`, `out`: `[n]`
pub fn rows_dot<T: HostFloat>(a: &[T], d: usize, v: &[T], out: &mut [T]) {
    if d == 0 {
        out.iter_mut().for_each(|o| *o = T::default());
        return;
    }
    let rows: Vec<&[T]> = a.chunks_exact(d).take(out.len()).collect();
    prefix_dots(&rows, &v[..d], out);
}

/// `out_r = rows_r[..k] · w` with `k = w.len()`: dot products of the first k entries of each
/// row with w, vectorised (tiles of four rows share each load of w). The rows may be longer
/// than w, and need not be adjacent in memory; the exact solvers' Gram matrix and Cholesky
/// factorisation use this.
///
/// # Shapes
/// - `rows`: n slices of length ≥ k; `w`: `[k]`; `out`: `[n]`
pub fn prefix_dots<T: HostFloat>(rows: &[&[T]], w: &[T], out: &mut [T]) {
    struct PrefixDots<'a, T> {
        rows: &'a [&'a [T]],
        w: &'a [T],
        out: &'a mut [T],
    }
    impl<T: HostFloat> WithSimd for PrefixDots<'_, T> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) {
            let mut tiles = self.rows.chunks_exact(4);
            let mut outs = self.out.chunks_exact_mut(4);
            for (tile, out) in (&mut tiles).zip(&mut outs) {
                let rows: [&[T]; 4] = std::array::from_fn(|r| tile[r]);
                let t = T::dot_tile::<S, 4, 1>(simd, rows, [self.w]);
                for (o, [value]) in out.iter_mut().zip(t) {
                    *o = value;
                }
            }
            for (row, o) in tiles.remainder().iter().zip(outs.into_remainder()) {
                let [[value]] = T::dot_tile::<S, 1, 1>(simd, [*row], [self.w]);
                *o = value;
            }
        }
    }
    assert_eq!(rows.len(), out.len(), "prefix_dots: one output per row");
    if w.is_empty() {
        out.iter_mut().for_each(|o| *o = T::default());
        return;
    }
    Arch::new().dispatch(PrefixDots { rows, w, out });
}

/// `acc += Σ_i u_i a_i` over the rows of the row-major `[n, d]` matrix `a`, vectorised (tiles
/// of four rows). Used by the exact solvers' products.
///
/// # Shapes
/// - `a`: `[n·d]`, `u`: `[n]`, `acc`: `[d]`
pub fn rows_axpy<T: HostFloat>(a: &[T], d: usize, u: &[T], acc: &mut [T]) {
    struct RowsAxpy<'a, T> {
        a: &'a [T],
        d: usize,
        u: &'a [T],
        acc: &'a mut [T],
    }
    impl<T: HostFloat> WithSimd for RowsAxpy<'_, T> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) {
            let d = self.d;
            let n = self.u.len();
            let full = n / 4 * 4;
            for r0 in (0..full).step_by(4) {
                let c: [[T; 1]; 4] = std::array::from_fn(|r| [self.u[r0 + r]]);
                T::axpy_tile::<S, 4, 1>(simd, tile_rows(self.a, d, r0), c, [&mut *self.acc]);
            }
            for r in full..n {
                let c = [[self.u[r]]];
                T::axpy_tile::<S, 1, 1>(simd, tile_rows(self.a, d, r), c, [&mut *self.acc]);
            }
        }
    }
    if d == 0 {
        return;
    }
    Arch::new().dispatch(RowsAxpy { a, d, u, acc });
}

/// `out += v`.
fn sum_into<T: HostFloat>(out: &mut [T], v: &[T]) {
    sum_scaled_into(out, v, T::from_f64(1.0));
}

/// `out += c·v`, vectorised.
fn sum_scaled_into<T: HostFloat>(out: &mut [T], v: &[T], c: T) {
    struct Axpy<'a, T> {
        out: &'a mut [T],
        v: &'a [T],
        c: T,
    }
    impl<T: HostFloat> WithSimd for Axpy<'_, T> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) {
            T::axpy_tile::<S, 1, 1>(simd, [self.v], [[self.c]], [self.out]);
        }
    }
    Arch::new().dispatch(Axpy { out, v, c });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random matrix with entries in [−1, 1).
    fn matrix(len: usize, seed: u64) -> Vec<f64> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
            })
            .collect()
    }

    fn check_tiles<T: HostFloat, const R: usize, const Q: usize>(d: usize, tol: f64) {
        let rows_f64 = matrix(R * d, 1);
        let w_f64 = matrix(Q * d, 2);
        let rows_t: Vec<T> = rows_f64.iter().map(|&v| T::from_f64(v)).collect();
        let w_t: Vec<T> = w_f64.iter().map(|&v| T::from_f64(v)).collect();
        let rows: [&[T]; R] = std::array::from_fn(|r| &rows_t[r * d..(r + 1) * d]);
        let w: [&[T]; Q] = std::array::from_fn(|q| &w_t[q * d..(q + 1) * d]);
        struct Dot<'a, T, const R: usize, const Q: usize>([&'a [T]; R], [&'a [T]; Q]);
        impl<T: HostFloat, const R: usize, const Q: usize> WithSimd for Dot<'_, T, R, Q> {
            type Output = [[T; Q]; R];
            fn with_simd<S: Simd>(self, simd: S) -> [[T; Q]; R] {
                T::dot_tile::<S, R, Q>(simd, self.0, self.1)
            }
        }
        let got = Arch::new().dispatch(Dot(rows, w));
        for r in 0..R {
            for q in 0..Q {
                // Oracle: the dot product in f64 of the same (rounded) entries.
                let want: f64 = (0..d)
                    .map(|j| rows_t[r * d + j].to_f64() * w_t[q * d + j].to_f64())
                    .sum();
                let err = (got[r][q].to_f64() - want).abs();
                assert!(err <= tol * d as f64, "dot r={r} q={q} d={d}: {err}");
            }
        }
        // axpy: acc_q = w_q + Σ_r c_rq rows_r, with c_rq = (r + 1)/(q + 2).
        let c: [[T; Q]; R] = std::array::from_fn(|r| {
            std::array::from_fn(|q| T::from_f64((r + 1) as f64 / (q + 2) as f64))
        });
        let mut acc_t = w_t.clone();
        {
            let mut chunks = acc_t.chunks_exact_mut(d.max(1));
            let acc: [&mut [T]; Q] = std::array::from_fn(|_| chunks.next().unwrap_or_default());
            Arch::new().dispatch(Axpy2 { rows, c, acc });
        }
        struct Axpy2<'a, T, const R: usize, const Q: usize> {
            rows: [&'a [T]; R],
            c: [[T; Q]; R],
            acc: [&'a mut [T]; Q],
        }
        impl<T: HostFloat, const R: usize, const Q: usize> WithSimd for Axpy2<'_, T, R, Q> {
            type Output = ();
            fn with_simd<S: Simd>(self, simd: S) {
                T::axpy_tile::<S, R, Q>(simd, self.rows, self.c, self.acc);
            }
        }
        for q in 0..Q {
            for j in 0..d {
                let want = w_t[q * d + j].to_f64()
                    + (0..R)
                        .map(|r| c[r][q].to_f64() * rows_t[r * d + j].to_f64())
                        .sum::<f64>();
                let err = (acc_t[q * d + j].to_f64() - want).abs();
                assert!(err <= tol * R as f64 * 4.0, "axpy q={q} j={j}: {err}");
            }
        }
    }

    /// The pipelined sweep against its two halves done separately (same rows and other rows).
    fn check_pipelined<T: HostFloat, const R: usize>(d: usize, tol: f64) {
        let to_t = |v: Vec<f64>| v.into_iter().map(T::from_f64).collect::<Vec<T>>();
        let (next_t, prev_t, w_t, acc0) = (
            to_t(matrix(R * d, 11)),
            to_t(matrix(R * d, 12)),
            to_t(matrix(d, 13)),
            to_t(matrix(d, 14)),
        );
        let next: [&[T]; R] = std::array::from_fn(|r| &next_t[r * d..(r + 1) * d]);
        let prev: [&[T]; R] = std::array::from_fn(|r| &prev_t[r * d..(r + 1) * d]);
        let c: [T; R] = std::array::from_fn(|r| T::from_f64(0.5 - r as f64 / 3.0));
        struct Sweep<'a, T, const R: usize> {
            next: [&'a [T]; R],
            w: &'a [T],
            prev: Option<[&'a [T]; R]>,
            c: [T; R],
            acc: &'a mut [T],
        }
        impl<T: HostFloat, const R: usize> WithSimd for Sweep<'_, T, R> {
            type Output = [T; R];
            fn with_simd<S: Simd>(self, simd: S) -> [T; R] {
                T::dot_axpy_tile::<S, R>(simd, self.next, self.w, self.prev, self.c, self.acc)
            }
        }
        for other_rows in [true, false] {
            let mut acc = acc0.clone();
            let prev_rows = if other_rows { prev } else { next };
            let dots = Arch::new().dispatch(Sweep {
                next,
                w: &w_t,
                prev: other_rows.then_some(prev),
                c,
                acc: &mut acc,
            });
            for r in 0..R {
                let want: f64 = (0..d).map(|j| next[r][j].to_f64() * w_t[j].to_f64()).sum();
                let err = (dots[r].to_f64() - want).abs();
                assert!(err <= tol * d as f64, "dot r={r} d={d}: {err}");
            }
            for j in 0..d {
                let want = acc0[j].to_f64()
                    + (0..R)
                        .map(|r| c[r].to_f64() * prev_rows[r][j].to_f64())
                        .sum::<f64>();
                let err = (acc[j].to_f64() - want).abs();
                assert!(err <= tol * R as f64 * 4.0, "axpy j={j} d={d}: {err}");
            }
        }
    }

    #[test]
    fn tiles_match_plain_loops_for_every_shape_and_tail() {
        // d = 0, lengths below one register, non-multiples of the lane count, and long rows.
        for d in [0, 1, 3, 7, 8, 13, 64, 301] {
            check_tiles::<f64, 8, 1>(d, 1e-15);
            check_tiles::<f64, 4, 2>(d, 1e-15);
            check_tiles::<f64, 1, 1>(d, 1e-15);
            check_tiles::<f32, 8, 1>(d, 1e-6);
            check_tiles::<f32, 4, 2>(d, 1e-6);
            check_tiles::<f32, 1, 1>(d, 1e-6);
            check_pipelined::<f64, 4>(d, 1e-15);
            check_pipelined::<f32, 4>(d, 1e-6);
            check_pipelined::<f64, 1>(d, 1e-15);
        }
    }

    #[test]
    fn row_products_match_plain_loops() {
        for (n, d) in [(1, 1), (5, 3), (9, 17), (40, 64)] {
            let a = matrix(n * d, 21);
            let v = matrix(d, 22);
            let u = matrix(n, 23);
            let mut out = vec![f64::NAN; n];
            rows_dot(&a, d, &v, &mut out);
            for i in 0..n {
                let want: f64 = (0..d).map(|j| a[i * d + j] * v[j]).sum();
                assert!(
                    (out[i] - want).abs() < 1e-13,
                    "dot row {i}: {} vs {want}",
                    out[i]
                );
            }
            let mut acc = vec![0.5; d];
            rows_axpy(&a, d, &u, &mut acc);
            for j in 0..d {
                let want = 0.5 + (0..n).map(|i| u[i] * a[i * d + j]).sum::<f64>();
                assert!((acc[j] - want).abs() < 1e-13, "axpy column {j}");
            }
        }
    }

    #[test]
    fn parts_cover_the_rows_and_depend_only_on_the_shape() {
        for (n, d) in [
            (1, 1),
            (7, 3),
            (200, 140),
            (2000, 1400),
            (2000, 3000),
            (9, 100_000),
        ] {
            let parts = part_ranges(n, d);
            assert!(!parts.is_empty() && parts.len() <= MAX_PARTS);
            assert_eq!(parts[0].start, 0);
            assert_eq!(parts.last().map(|p| p.end), Some(n));
            for w in parts.windows(2) {
                assert_eq!(w[0].end, w[1].start);
                assert!(!w[0].is_empty());
            }
        }
        assert_eq!(part_ranges(200, 140).len(), 1);
        assert_eq!(part_ranges(2000, 1400).len(), 8);
    }

    /// The gradient of the fused engine against a plain f64 loop over the same formula, and the
    /// objective against a central finite difference of itself along a random direction.
    #[test]
    fn gradient_matches_a_plain_loop_and_finite_differences() {
        let (n, d, runs) = (37, 13, 3);
        let x = matrix(n * d, 3);
        let y: Vec<f64> = matrix(n, 4).iter().map(|v| v.signum()).collect();
        let w = matrix(d * runs, 5);
        let loss = PointwiseMarginLoss {
            alpha: vec![0.0, 0.2, 0.6],
            penalty: Some(Arc::new(logit_reg_model::penalty::Quadratic)),
        };
        let spec = FusedSpec {
            loss: loss.clone(),
            lr: vec![0.1, 0.2, 0.3],
            weight_decay: 0.05,
            sum_data_term: false,
            threads: 0,
        };
        let mut engine = FusedGd::<f64>::new(&x, &y, d, &w, spec.clone());
        engine.compute_gradient();
        assert!(engine.suspect().iter().all(|f| !f));
        for m in 0..runs {
            for j in 0..d {
                let mut want = 0.05 * w[j * runs + m];
                for i in 0..n {
                    let t: f64 = (0..d).map(|k| y[i] * x[i * d + k] * w[k * runs + m]).sum();
                    want += loss.derivative(m, t) * y[i] * x[i * d + j] / n as f64;
                }
                let got = engine.grad[m * d + j];
                assert!((got - want).abs() < 1e-14, "m={m} j={j}: {got} vs {want}");
            }
        }
        // Finite differences of the objective along v.
        let v = matrix(d * runs, 6);
        let h = 1e-5;
        let shifted = |sign: f64| {
            let w2: Vec<f64> = w.iter().zip(&v).map(|(a, b)| a + sign * h * b).collect();
            FusedGd::<f64>::new(&x, &y, d, &w2, spec.clone()).objective()
        };
        let (plus, minus) = (shifted(1.0), shifted(-1.0));
        for m in 0..runs {
            let fd = (plus[m] - minus[m]) / (2.0 * h);
            let analytic: f64 = (0..d)
                .map(|j| engine.grad[m * d + j] * v[j * runs + m])
                .sum();
            assert!((fd - analytic).abs() < 1e-8, "run {m}: {fd} vs {analytic}");
        }
        // The update moves each run by its own rate.
        let before = engine.weights();
        let grad = engine.grad.clone();
        engine.update();
        let after = engine.weights();
        for m in 0..runs {
            for j in 0..d {
                let want = before[j * runs + m] - spec.lr[m] * grad[m * d + j];
                assert!((after[j * runs + m] - want).abs() < 1e-15);
            }
        }
    }

    #[test]
    fn suspect_margins_are_flagged_per_run() {
        let (n, d) = (10, 4);
        let x = matrix(n * d, 7);
        let y = vec![1.0; n];
        let mut w = vec![0.0; d * 2];
        w[1] = f64::INFINITY; // run 1, feature 0
        let spec = FusedSpec {
            loss: PointwiseMarginLoss {
                alpha: vec![0.0, 0.0],
                penalty: None,
            },
            lr: vec![0.1, 0.1],
            weight_decay: 0.0,
            sum_data_term: true,
            threads: 0,
        };
        let mut engine = FusedGd::<f32>::new(&x, &y, d, &w, spec);
        engine.compute_gradient();
        assert_eq!(engine.suspect(), &[false, true]);
    }
}
