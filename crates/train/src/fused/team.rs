//! The fused engine's thread team: the rows split into parts fixed by the shape, and the team
//! of threads (the caller and workers that live as long as the engine) that computes the parts'
//! gradients in each step. The parts are summed in part order by the caller, so results do not
//! depend on the number of threads.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use faer::{MatMut, MatRef};
use pulp::{Arch, Simd, WithSimd};

use super::gd::{FusedKernel, FusedLoss, PointwiseMarginLoss, SUSPECT_MARGIN, SoftmaxLoss};
use super::kernels::{HostFloat, tile_rows};

/// Most parts the rows are split into (and so most threads used).
pub(crate) const MAX_PARTS: usize = 8;

thread_local! {
    /// The threads an engine built on this thread may use when none were asked for (0: no
    /// budget, the available cores); see [`with_thread_budget`].
    static THREAD_BUDGET: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Runs `f` with engines built on this thread limited to `threads` threads (at least 1) where
/// their spec asks for the default (`threads = 0`, every core): for running several batches at
/// once, each on its share of the cores. Results do not change, since they do not depend on the
/// thread count; the previous budget is restored afterwards.
pub fn with_thread_budget<R>(threads: usize, f: impl FnOnce() -> R) -> R {
    struct Restore(usize);
    impl Drop for Restore {
        fn drop(&mut self) {
            THREAD_BUDGET.with(|b| b.set(self.0));
        }
    }
    let _restore = Restore(THREAD_BUDGET.with(|b| b.replace(threads.max(1))));
    f()
}

/// Threads of a team for `parts` parts when `threads` were asked for (0: the thread budget of
/// [`with_thread_budget`], else the available cores): at least 1, at most [`MAX_PARTS`] and
/// the number of parts.
pub(crate) fn team_size(threads: usize, parts: usize) -> usize {
    let cores = match (threads, THREAD_BUDGET.with(|b| b.get())) {
        (0, 0) => std::thread::available_parallelism().map_or(1, |c| c.get()),
        (0, budget) => budget,
        (chosen, _) => chosen,
    };
    cores.clamp(1, MAX_PARTS).min(parts.max(1))
}

/// Bytes of rows per block of the blocked kernel: the block stays in the core's L2 cache
/// between its forward and its backward product.
const BLOCK_BYTES: usize = 1 << 19;

/// Rows per block of the blocked kernel for rows of `d` entries of `bytes` bytes each:
/// [`BLOCK_BYTES`] of rows, at least 16 and at most 128; a function of the shape only.
pub(crate) fn block_rows(d: usize, bytes: usize) -> usize {
    (BLOCK_BYTES / (d * bytes).max(1)).clamp(16, MAX_BLOCK_ROWS)
}

/// Most rows in a block of [`block_rows`].
const MAX_BLOCK_ROWS: usize = 128;
/// Fewest matrix entries per part: below this a thread costs more than it saves.
const MIN_PART_ENTRIES: usize = 1 << 17;

/// The row ranges of the parts for an `[n, d]` matrix: at most [`MAX_PARTS`], each with at
/// least [`MIN_PART_ENTRIES`] entries where possible; a function of (n, d) only.
pub(crate) fn part_ranges(n: usize, d: usize) -> Vec<Range<usize>> {
    let parts = (n * d / MIN_PART_ENTRIES).clamp(1, MAX_PARTS).min(n.max(1));
    let per = n.div_ceil(parts).max(1);
    (0..n)
        .step_by(per)
        .map(|start| start..(start + per).min(n))
        .collect()
}

/// One part's share of a step: its rows' contribution to every run's gradient, and which
/// runs saw a suspect margin (see [`SUSPECT_MARGIN`]).
pub(crate) struct PartGradient<'a, T> {
    pub(crate) rows: &'a [T],
    pub(crate) d: usize,
    pub(crate) weights: &'a [T],
    pub(crate) loss: &'a FusedLoss,
    /// Index of the part's first row in the training set (for the class labels).
    pub(crate) first_row: usize,
    pub(crate) data_scale: f64,
    pub(crate) grad: &'a mut [T],
    pub(crate) suspect: &'a mut [bool],
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

    /// `c_r = scale · ℓ′_m(t_r)` for the margins `t` of run m, flagging a suspect margin
    /// (vectorised with the caller's loop: this runs inside pulp's dispatch). Only a margin
    /// loss reaches here: a multi-class loss always takes the blocked kernel, whose
    /// derivatives are [`PartGradient::softmax_derivatives`].
    #[inline(always)]
    fn derivative_weights<const R: usize>(&mut self, m: usize, t: [T; R]) -> [T; R] {
        let FusedLoss::Margin { loss, .. } = self.loss else {
            unreachable!("a multi-class loss takes the blocked kernel")
        };
        let t = t.map(|v| v.to_f64());
        if t.iter().any(|t| t.is_nan() || t.abs() > SUSPECT_MARGIN) {
            self.suspect[m] = true;
        }
        let mut c = [0.0; R];
        loss.derivatives_here(m, &t, self.data_scale, &mut c);
        c.map(T::from_f64)
    }

    /// The derivatives of a block's logits under a K-class loss, in place: `t` is
    /// column-major `[b, M·K]` (column `m·K + c` is logit c of run m) for the rows
    /// `r0..r0 + b` of the part, and becomes `scale · ∇_z ℓ_m(z_i, y_i)` row by row.
    fn softmax_derivatives(&mut self, loss: &SoftmaxLoss, t: &mut [T], b: usize, r0: usize) {
        let k = loss.classes;
        let runs = t.len() / (b * k).max(1);
        let (mut z, mut g, mut scratch) = (vec![0.0; k], vec![0.0; k], vec![0.0; k]);
        for r in 0..b {
            let label = loss.labels[self.first_row + r0 + r];
            for m in 0..runs {
                for (c, v) in z.iter_mut().enumerate() {
                    *v = t[(m * k + c) * b + r].to_f64();
                }
                if z.iter().any(|v| v.is_nan() || v.abs() > SUSPECT_MARGIN) {
                    self.suspect[m] = true;
                }
                loss.gradient_into(m, &z, label, &mut g, &mut scratch);
                for (c, v) in g.iter().enumerate() {
                    t[(m * k + c) * b + r] = T::from_f64(self.data_scale * v);
                }
            }
        }
    }

    /// The blocked kernel: blocks of [`block_rows`] rows, each with two matrix products,
    ///
    /// ```text
    /// T_B = A_B S            forward: logits of the block's rows, every column  [b, M·C]
    /// G_B = c · ∂ℓ/∂T_B      derivatives (elementwise for a margin loss; per row
    ///                        and run over the K logits for a multi-class one)
    /// ∇  += A_Bᵀ G_B         backward                                          [d, M·C]
    /// ```
    ///
    /// by faer's GEMM on this thread. The block is read from memory for the forward product
    /// and is still in the cache for the backward one, so X is still read from memory once per
    /// step, now at the GEMM rate: this is the kernel for several runs, and for K classes.
    /// `margins` holds T_B (then G_B), column-major `[b, M·C]`.
    fn blocked(mut self, margins: &mut [T]) {
        self.suspect.iter_mut().for_each(|f| *f = false);
        let d = self.d;
        let n = self.rows.len() / d.max(1);
        if d == 0 || n == 0 {
            self.grad.iter_mut().for_each(|g| *g = T::default());
            return;
        }
        let cols = self.weights.len() / d;
        let (all_rows, weights) = (self.rows, self.weights);
        let weights = MatRef::from_column_major_slice(weights, d, cols);
        let rows_per_block = block_rows(d, std::mem::size_of::<T>());
        // One column of a block's margins, and its derivatives, in f64.
        let (mut block_margins, mut block_derivs) = ([0.0; MAX_BLOCK_ROWS], [0.0; MAX_BLOCK_ROWS]);
        for (block, r0) in (0..n).step_by(rows_per_block).enumerate() {
            let b = rows_per_block.min(n - r0);
            let rows = MatRef::from_row_major_slice(&all_rows[r0 * d..(r0 + b) * d], b, d);
            let t = &mut margins[..b * cols];
            T::matmul(
                MatMut::from_column_major_slice_mut(t, b, cols),
                false,
                rows,
                weights,
            );
            match self.loss {
                FusedLoss::Margin { loss, .. } => {
                    let (margins, derivs) = (&mut block_margins[..b], &mut block_derivs[..b]);
                    for (m, column) in t.chunks_exact_mut(b).enumerate() {
                        for (t, v) in margins.iter_mut().zip(column.iter()) {
                            *t = v.to_f64();
                        }
                        if margins
                            .iter()
                            .any(|t| t.is_nan() || t.abs() > SUSPECT_MARGIN)
                        {
                            self.suspect[m] = true;
                        }
                        loss.derivatives(m, margins, self.data_scale, derivs);
                        for (v, g) in column.iter_mut().zip(derivs.iter()) {
                            *v = T::from_f64(*g);
                        }
                    }
                }
                FusedLoss::Softmax(loss) => self.softmax_derivatives(loss, t, b, r0),
            }
            let grad = MatMut::from_column_major_slice_mut(&mut *self.grad, d, cols);
            let g = MatRef::from_column_major_slice(&*t, b, cols);
            T::matmul(grad, block > 0, rows.transpose(), g);
        }
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
pub(crate) struct PartObjective<'a, T> {
    pub(crate) rows: &'a [T],
    pub(crate) d: usize,
    pub(crate) weights: &'a [T],
    pub(crate) loss: &'a PointwiseMarginLoss,
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

/// One part's K-class objective terms, `Σ_i ℓ_m(z_i, y_i)` per run in f64, with the logits
/// of blocks of [`block_rows`] rows from faer's GEMM. `first_row` is the part's first row in
/// the training set.
///
/// # Shapes
/// - `rows`: `[n_part, width]` row-major; `weights`: `[width, M·K]` column-major
pub(crate) fn softmax_part_objective<T: HostFloat>(
    rows: &[T],
    width: usize,
    weights: &[T],
    loss: &SoftmaxLoss,
    first_row: usize,
) -> Vec<f64> {
    let k = loss.classes;
    let cols = weights.len() / width.max(1);
    let runs = cols / k;
    let mut sums = vec![0.0; runs];
    let n = rows.len() / width.max(1);
    if n == 0 || width == 0 {
        return sums;
    }
    let weights = MatRef::from_column_major_slice(weights, width, cols);
    let per_block = block_rows(width, std::mem::size_of::<T>());
    let mut t = vec![T::default(); per_block * cols];
    let mut z = vec![0.0; k];
    for r0 in (0..n).step_by(per_block) {
        let b = per_block.min(n - r0);
        let block = MatRef::from_row_major_slice(&rows[r0 * width..(r0 + b) * width], b, width);
        let t = &mut t[..b * cols];
        T::matmul(
            MatMut::from_column_major_slice_mut(t, b, cols),
            false,
            block,
            weights,
        );
        for r in 0..b {
            let label = loss.labels[first_row + r0 + r];
            for (m, sum) in sums.iter_mut().enumerate() {
                for (c, v) in z.iter_mut().enumerate() {
                    *v = t[(m * k + c) * b + r].to_f64();
                }
                *sum += loss.value(m, &z, label);
            }
        }
    }
    sums
}

/// One part's gradient accumulator and flags.
#[derive(Debug)]
pub(crate) struct PartState<T> {
    pub(crate) grad: Vec<T>,
    pub(crate) suspect: Vec<bool>,
    /// The blocked kernel's margins of one block, `[block_rows, M]` (empty for the pipelined
    /// kernel).
    pub(crate) margins: Vec<T>,
}

/// What the engine's threads share: the data, the weights, each part's accumulator, and the
/// signals of the step protocol.
#[derive(Debug)]
pub(crate) struct Shared<T> {
    /// The training rows, row-major `[N, width]`: `y_i x_i` (binary) or `[x_i, 1]` (K classes).
    pub(crate) a: Vec<T>,
    /// The rows' width: d, plus one for the bias column.
    pub(crate) d: usize,
    /// Logits per run C (1 for binary).
    pub(crate) classes: usize,
    /// The weights, column-major `[width, M·C]`.
    pub(crate) weights: RwLock<Vec<T>>,
    pub(crate) parts: Vec<Range<usize>>,
    pub(crate) states: Vec<Mutex<PartState<T>>>,
    pub(crate) loss: FusedLoss,
    pub(crate) data_scale: f64,
    /// The kernel every part uses: [`FusedKernel::Pipelined`] or [`FusedKernel::Blocked`].
    pub(crate) kernel: FusedKernel,
    /// Members of the team: the calling thread and the workers.
    pub(crate) members: usize,
    /// Bumped by the calling thread to start a step.
    pub(crate) generation: AtomicU64,
    /// Workers that finished the current step.
    pub(crate) finished: AtomicUsize,
    /// Set when the engine is dropped.
    pub(crate) stop: AtomicBool,
}

/// How long a thread spins waiting for the others before it parks (the steps of the study
/// are 0.05–20 ms apart, so a spinning worker usually catches the next one).
pub(crate) const SPIN_FOR: Duration = Duration::from_micros(300);

pub(crate) fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<T: HostFloat> Shared<T> {
    /// Member `member`'s share of a step: parts `member`, `member + members`, …
    pub(crate) fn run_share(&self, member: usize) {
        let d = self.d;
        let weights = read(&self.weights);
        for p in (member..self.parts.len()).step_by(self.members) {
            let mut state = lock(&self.states[p]);
            let PartState {
                grad,
                suspect,
                margins,
            } = &mut *state;
            let range = &self.parts[p];
            let part = PartGradient {
                rows: &self.a[range.start * d..range.end * d],
                d,
                weights: &weights,
                loss: &self.loss,
                first_row: range.start,
                data_scale: self.data_scale,
                grad,
                suspect,
            };
            match self.kernel {
                FusedKernel::Blocked => part.blocked(margins),
                _ => Arch::new().dispatch(part),
            }
        }
    }

    /// A worker: waits for each new generation, does its share, reports, until stopped.
    /// Generation 0 is the one before the first step (read at spawn time, it could already
    /// be 1 and the worker would miss that step).
    pub(crate) fn work(&self, member: usize) {
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
