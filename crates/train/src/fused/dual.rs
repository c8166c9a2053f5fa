//! Gradient descent in the span of the training rows (`train.fused_kernel = "dual"`): the
//! step of a binary linear run as one product with the N×N Gram matrix instead of two with the
//! N×d data, for runs with more inputs than samples.
//!
//! With the label-absorbed rows `A = [a_1, …, a_N]ᵀ` (`a_i = y_i x_i`, `[N, d]`), a GD step of a
//! margin loss with weight decay γ is
//!
//! ```text
//! w ← (1 − ηγ)·w − η c Aᵀ ℓ′(A w)            c = 1/N (mean data term) or 1 (sum)
//! ```
//!
//! so the weights stay of the form `w = s·w₀ + Aᵀ v` (`s` a scalar, `v ∈ R^N`): `s₀ = 1`,
//! `v₀ = 0`, and one step is
//!
//! ```text
//! t = s·t₀ + G v          t₀ = A w₀ (once),  G = A Aᵀ (once)
//! v ← (1 − ηγ)·v − η c ℓ′(t)
//! s ← (1 − ηγ)·s
//! ```
//!
//! in exact arithmetic the same weights as the primal step, for `2N²` flops a run instead of
//! `4Nd`, and a read of half of `G` (N²/2 entries, below) instead of `A` (N·d). The weights are formed,
//! `w = s·w₀ + Aᵀ v`, only when asked for (logging steps); `‖w‖²` for the weight-decay term
//! is `s²‖w₀‖² + s·t₀ᵀv + vᵀt` from the current margins.
//!
//! **Column maps.** For runs on maps of one base matrix ([`ColumnMap`]: run m trains on
//! `x = (f_m b₀ + g_m b₁, r_m b₂, …)`), `A_m A_mᵀ = r_m² K + q_m q_mᵀ` with
//! `K = B̃_{2..} B̃_{2..}ᵀ` shared by all the runs and `q_m = f_m b̃₀ + g_m b̃₁` (B̃: the
//! label-absorbed base), so one product `K V` serves every run and each adds its rank-one term.
//! Without maps, `K = G` and the rank-one term is absent.
//!
//! **Half the matrix.** `K` is symmetric, so only its upper triangle is kept, row `i` holding
//! `K_{i,i..}`. The rows go in tiles of four, `I = i..i+4`, and one sweep over the columns
//! `J = i+4..N` of a tile does, for run m, both halves of the product with `K_IJ`: the dots
//! `Z_I += K_IJ v_J` and the update `Z_J += K_IJᵀ v_I` (the fused engine's pipelined register
//! tile with the same rows read once), the 4 × 4 block `K_II` apart. `K` is read from memory
//! once a step (N²/2 entries) and from the core's cache once a run.
//!
//! **Reproducibly.** `K` is formed in f64 and rounded to the run's precision once. The tiles
//! are shared out to parts fixed by N alone; each part sums into its own buffer, and the
//! buffers are summed in part order, so the results do not depend on the number of threads.

use std::ops::Range;
use std::sync::Mutex;

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use pulp::{Arch, Simd, WithSimd};
use rayon::prelude::*;

use super::gd::{
    ColumnMap, FusedLoss, FusedOptimizer, FusedSpec, PointwiseMarginLoss, SUSPECT_MARGIN,
};
use super::kernels::{HostFloat, clear_upper_vector_state, sum_into};
use super::team::{block_rows, lock, part_ranges, team_size};

/// Rows of a tile of the triangular product.
const TILE: usize = 4;

/// The dual form of the fused engine for M binary runs by gradient descent (see the module
/// docs): the Gram matrix of the training rows, each run's coefficients `v_m` and scale `s_m`,
/// and its margins and loss derivatives at the current step. Per-run vectors are run-major
/// (`[M, N]`).
#[derive(Debug)]
pub struct DualTrainer<T: HostFloat> {
    n: usize,
    runs: usize,
    /// Features of a run's weights.
    d: usize,
    /// The label-absorbed rows in f64 (`[N, width]`; width = d, or d + 1 for a base matrix).
    rows: Vec<f64>,
    width: usize,
    /// One map per run for a base matrix, `None` for plain inputs.
    maps: Option<Vec<ColumnMap>>,
    /// The upper triangle of K, row i's `K_{i,i..}` from `starts[i]`, in the run's precision.
    triangle: Vec<T>,
    starts: Vec<usize>,
    /// Rows of each part (multiples of [`TILE`] but the last end), fixed by N.
    parts: Vec<Range<usize>>,
    /// Each part's share of `K V`, `[M, N]` each.
    sums: Vec<Mutex<Vec<T>>>,
    /// `r_m²` of each run (1 without maps).
    rest2: Vec<f64>,
    /// `q_m` of each run (`[M, N]`; empty without maps).
    first: Vec<f64>,
    /// The initial weights, `[M, d]`.
    start: Vec<f64>,
    /// `t₀ = A w₀`, `[M, N]`.
    start_margins: Vec<f64>,
    /// `‖w₀_m‖²`, `[M]`.
    start_norm2: Vec<f64>,
    /// `s_m`, `[M]`.
    scale: Vec<f64>,
    /// V, `[M, N]`.
    coef: Vec<T>,
    /// `K V`, `[M, N]`.
    products: Vec<T>,
    /// `t` at the current coefficients, `[M, N]`.
    margins: Vec<f64>,
    /// `c ℓ′_m(t)`, `[M, N]`.
    derivs: Vec<f64>,
    /// Whether `margins` and `derivs` belong to the current coefficients.
    fresh: bool,
    suspect: Vec<bool>,
    loss: PointwiseMarginLoss,
    lr: Vec<f64>,
    weight_decay: f64,
    data_scale: f64,
    pool: rayon::ThreadPool,
}

impl<T: HostFloat> DualTrainer<T> {
    /// The dual engine for inputs `x` (row-major `[N, d]`) and initial weights `weights`
    /// (row-major `[d, M]`). The loss must be a margin loss, the optimiser GD.
    ///
    /// # Shapes
    /// - `x`: `[N·d]`, `weights`: `[d·M]`, `spec.lr` and the loss's α: `[M]`
    ///
    /// # Panics
    /// If the lengths disagree with these shapes, the loss has classes, the optimiser is not
    /// GD, or d is 0.
    pub fn new(x: &[f64], d: usize, weights: &[f64], spec: FusedSpec) -> Self {
        Self::build(x, d, d, weights, None, spec)
    }

    /// The dual engine for runs on column maps of one base matrix `base` (row-major
    /// `[N, d + 1]`, see [`ColumnMap`]), with initial weights `weights` (row-major `[d, M]`).
    ///
    /// # Shapes
    /// - `base`: `[N·(d+1)]`, `weights`: `[d·M]`, `maps`, `spec.lr` and the loss's α: `[M]`
    ///
    /// # Panics
    /// As [`DualTrainer::new`], and if there is not one map per run.
    pub fn new_mapped(
        base: &[f64],
        d: usize,
        weights: &[f64],
        maps: &[ColumnMap],
        spec: FusedSpec,
    ) -> Self {
        assert_eq!(maps.len(), spec.lr.len(), "one map per run");
        Self::build(base, d, d + 1, weights, Some(maps.to_vec()), spec)
    }

    fn build(
        x: &[f64],
        d: usize,
        width: usize,
        weights: &[f64],
        maps: Option<Vec<ColumnMap>>,
        spec: FusedSpec,
    ) -> Self {
        assert!(
            spec.optimizer == FusedOptimizer::Gd,
            "the dual form takes gradient descent only"
        );
        let FusedLoss::Margin { loss, labels } = spec.loss else {
            panic!("the dual form is for binary margin losses");
        };
        let n = labels.len();
        let runs = spec.lr.len();
        assert!(d >= 1, "at least one input");
        assert_eq!(x.len(), n * width, "the inputs are [N, width]");
        assert_eq!(weights.len(), d * runs, "weights are [d, M]");
        let rows: Vec<f64> = x
            .chunks_exact(width)
            .zip(&labels)
            .flat_map(|(row, &y)| row.iter().map(move |v| v * y))
            .collect();
        let parts = triangle_parts(n);
        let threads = team_size(spec.threads, parts.len());
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a thread pool for the dual form");
        let mut starts = Vec::with_capacity(n + 1);
        let mut total = 0;
        for i in 0..n {
            starts.push(total);
            total += n - i;
        }
        starts.push(total);
        let triangle = upper_gram(
            &rows,
            n,
            width,
            usize::from(maps.is_some()) * 2,
            &starts,
            &pool,
        );
        // Each run's initial weights and u₀ = P w₀ over the rows' columns.
        let mut start = vec![0.0; runs * d];
        for (m, w) in start.chunks_exact_mut(d).enumerate() {
            for (j, v) in w.iter_mut().enumerate() {
                *v = weights[j * runs + m];
            }
        }
        let start_norm2 = start
            .chunks_exact(d)
            .map(|w| w.iter().map(|v| v * v).sum())
            .collect();
        let mut u0 = vec![0.0; width * runs];
        for (m, w) in start.chunks_exact(d).enumerate() {
            let column = &mut u0[m * width..(m + 1) * width];
            match &maps {
                Some(maps) => maps[m].forward(w, column),
                None => column.copy_from_slice(w),
            }
        }
        let mut start_margins = vec![0.0; runs * n];
        if start.iter().any(|&v| v != 0.0) {
            matmul(
                MatMut::from_column_major_slice_mut(&mut start_margins, n, runs),
                Accum::Replace,
                MatRef::from_row_major_slice(&rows, n, width),
                MatRef::from_column_major_slice(&u0, width, runs),
                1.0,
                Par::Seq,
            );
            clear_upper_vector_state();
        }
        let (rest2, first) = match &maps {
            Some(maps) => {
                let rest2 = maps.iter().map(|m| m.rest * m.rest).collect();
                let mut first = vec![0.0; runs * n];
                for (map, q) in maps.iter().zip(first.chunks_exact_mut(n)) {
                    for (i, q) in q.iter_mut().enumerate() {
                        *q = map.first * rows[i * width] + map.second * rows[i * width + 1];
                    }
                }
                (rest2, first)
            }
            None => (vec![1.0; runs], Vec::new()),
        };
        let sums = parts
            .iter()
            .map(|_| Mutex::new(vec![T::default(); runs * n]))
            .collect();
        Self {
            n,
            runs,
            d,
            rows,
            width,
            maps,
            triangle,
            starts,
            parts,
            sums,
            rest2,
            first,
            start,
            start_margins,
            start_norm2,
            scale: vec![1.0; runs],
            coef: vec![T::default(); runs * n],
            products: vec![T::default(); runs * n],
            margins: vec![0.0; runs * n],
            derivs: vec![0.0; runs * n],
            fresh: false,
            suspect: vec![false; runs],
            loss,
            lr: spec.lr,
            weight_decay: spec.weight_decay,
            data_scale: if spec.sum_data_term {
                1.0
            } else {
                1.0 / n as f64
            },
            pool,
        }
    }

    /// Number of runs M.
    pub fn runs(&self) -> usize {
        self.runs
    }

    /// Per run, whether any of its margins at the last [`DualTrainer::compute_gradient`] was
    /// NaN or larger in size than [`SUSPECT_MARGIN`].
    pub fn suspect(&self) -> &[bool] {
        &self.suspect
    }

    /// `out = K·coef` (both `[M, N]`): each part sums its tiles into its own buffer, then the
    /// buffers are summed in part order.
    fn gram_times(&self, coef: &[T], out: &mut [T]) {
        let (n, runs) = (self.n, self.runs);
        let share = |(part, sum): (&Range<usize>, &Mutex<Vec<T>>)| {
            let mut sum = lock(sum);
            Arch::new().dispatch(TriangleProduct {
                triangle: &self.triangle,
                starts: &self.starts,
                n,
                rows: part.clone(),
                coef,
                runs,
                out: &mut sum,
            });
        };
        if self.parts.len() == 1 || self.pool.current_num_threads() == 1 {
            // One part, or one thread: on the calling thread, without waking the pool (the
            // parts still sum into their own buffers, so the result is the same).
            self.parts.iter().zip(&self.sums).for_each(share);
        } else {
            self.pool.install(|| {
                self.parts
                    .par_iter()
                    .zip(self.sums.par_iter())
                    .for_each(share)
            });
        }
        out.fill(T::default());
        for (part, sum) in self.parts.iter().zip(&self.sums) {
            let sum = lock(sum);
            for (out, sum) in out.chunks_exact_mut(n).zip(sum.chunks_exact(n)) {
                sum_into(&mut out[part.start..], &sum[part.start..]);
            }
        }
    }

    /// `q_mᵀ p_m` for each run (0 without maps).
    fn first_dots(&self, coef: &[T]) -> Vec<f64> {
        let n = self.n;
        (0..self.runs)
            .map(|m| match self.maps {
                Some(_) => self.first[m * n..(m + 1) * n]
                    .iter()
                    .zip(&coef[m * n..(m + 1) * n])
                    .map(|(q, v)| q * v.to_f64())
                    .sum(),
                None => 0.0,
            })
            .collect()
    }

    /// Computes every run's margins and loss derivatives at the current coefficients (kept for
    /// [`DualTrainer::update`]) and flags the runs with a suspect margin.
    pub fn compute_gradient(&mut self) {
        let mut products = std::mem::take(&mut self.products);
        self.gram_times(&self.coef, &mut products);
        let dots = self.first_dots(&self.coef);
        let n = self.n;
        for (m, &dot) in dots.iter().enumerate() {
            let (scale, rest2) = (self.scale[m], self.rest2[m]);
            let run = m * n..(m + 1) * n;
            let margins = &mut self.margins[run.clone()];
            let start = &self.start_margins[run.clone()];
            for ((t, &t0), p) in margins.iter_mut().zip(start).zip(&products[run.clone()]) {
                *t = scale * t0 + rest2 * p.to_f64();
            }
            if self.maps.is_some() {
                for (t, q) in margins.iter_mut().zip(&self.first[run.clone()]) {
                    *t += q * dot;
                }
            }
            self.suspect[m] = margins
                .iter()
                .any(|t| t.is_nan() || t.abs() > SUSPECT_MARGIN);
            let derivs = &mut self.derivs[run];
            self.loss.derivatives(m, margins, self.data_scale, derivs);
        }
        self.products = products;
        self.fresh = true;
    }

    /// One GD step with the last computed derivatives: `v ← (1 − η_m γ)·v − η_m c ℓ′(t)`,
    /// `s ← (1 − η_m γ)·s`.
    pub fn update(&mut self) {
        assert!(self.fresh, "update after compute_gradient");
        let n = self.n;
        for m in 0..self.runs {
            let keep = 1.0 - self.lr[m] * self.weight_decay;
            let lr = self.lr[m];
            for (v, g) in self.coef[m * n..(m + 1) * n]
                .iter_mut()
                .zip(&self.derivs[m * n..(m + 1) * n])
            {
                *v = T::from_f64(keep * v.to_f64() - lr * g);
            }
            self.scale[m] *= keep;
        }
        self.fresh = false;
    }

    /// Each run's objective at the current weights: `c·Σ_i ℓ_m(t_i) + γ/2 ‖w_m‖²`, in f64.
    ///
    /// # Panics
    /// If called between [`DualTrainer::update`] and the next
    /// [`DualTrainer::compute_gradient`] (the margins would be stale).
    pub fn objective(&self) -> Vec<f64> {
        assert!(self.fresh, "objective after compute_gradient");
        let n = self.n;
        (0..self.runs)
            .map(|m| {
                let run = m * n..(m + 1) * n;
                let mut data = 0.0;
                let (mut start_dot, mut own_dot) = (0.0, 0.0);
                for ((&t, v), t0) in self.margins[run.clone()]
                    .iter()
                    .zip(&self.coef[run.clone()])
                    .zip(&self.start_margins[run])
                {
                    data += self.loss.value(m, t);
                    let v = v.to_f64();
                    start_dot += t0 * v;
                    own_dot += t * v;
                }
                let s = self.scale[m];
                let norm2 = s * s * self.start_norm2[m] + s * start_dot + own_dot;
                self.data_scale * data + 0.5 * self.weight_decay * norm2
            })
            .collect()
    }

    /// Each run's gradient norm `‖∇_m‖` at the last [`DualTrainer::compute_gradient`]:
    /// with `h = c ℓ′(t) + γ v`, `‖∇‖² = hᵀ G h + 2γ s t₀ᵀh + γ² s² ‖w₀‖²` (one more product
    /// with the Gram matrix).
    pub fn gradient_norms(&self) -> Vec<f64> {
        let n = self.n;
        let gamma = self.weight_decay;
        let h: Vec<T> = self
            .derivs
            .iter()
            .zip(&self.coef)
            .map(|(g, v)| T::from_f64(g + gamma * v.to_f64()))
            .collect();
        let mut kh = vec![T::default(); n * self.runs];
        self.gram_times(&h, &mut kh);
        let dots = self.first_dots(&h);
        (0..self.runs)
            .map(|m| {
                let run = m * n..(m + 1) * n;
                let (mut hkh, mut start_dot) = (0.0, 0.0);
                for ((h, kh), t0) in h[run.clone()]
                    .iter()
                    .zip(&kh[run.clone()])
                    .zip(&self.start_margins[run])
                {
                    hkh += h.to_f64() * kh.to_f64();
                    start_dot += t0 * h.to_f64();
                }
                let s = self.scale[m];
                let total = self.rest2[m] * hkh
                    + dots[m] * dots[m]
                    + 2.0 * gamma * s * start_dot
                    + gamma * gamma * s * s * self.start_norm2[m];
                total.max(0.0).sqrt()
            })
            .collect()
    }

    /// The weights `w_m = s_m w₀_m + A_mᵀ v_m`, row-major `[d, M]` in f64.
    pub fn weights(&self) -> Vec<f64> {
        let (n, runs, width, d) = (self.n, self.runs, self.width, self.d);
        let coef: Vec<f64> = self.coef.iter().map(|v| v.to_f64()).collect();
        let mut spans = vec![0.0; width * runs];
        matmul(
            MatMut::from_column_major_slice_mut(&mut spans, width, runs),
            Accum::Replace,
            MatRef::from_row_major_slice(&self.rows, n, width).transpose(),
            MatRef::from_column_major_slice(&coef, n, runs),
            1.0,
            Par::Seq,
        );
        clear_upper_vector_state();
        let mut out = vec![0.0; d * runs];
        let mut own = vec![0.0; d];
        for (m, column) in spans.chunks_exact(width).enumerate() {
            match &self.maps {
                Some(maps) => maps[m].backward(column, &mut own),
                None => own.copy_from_slice(column),
            }
            let start = &self.start[m * d..(m + 1) * d];
            for j in 0..d {
                out[j * runs + m] = self.scale[m] * start[j] + own[j];
            }
        }
        out
    }
}

/// The parts of the triangular product for N rows: as many as [`part_ranges`] gives an
/// N × N matrix, of about equal areas of the triangle, starting at multiples of [`TILE`].
fn triangle_parts(n: usize) -> Vec<Range<usize>> {
    let wanted = part_ranges(n, n).len();
    let area = |i: usize| (n - i) * (n - i); // twice the triangle's area from row i on
    let mut bounds = vec![0];
    for p in 1..wanted {
        // The first tile boundary whose remaining area is at most the (wanted − p) shares left.
        let target = area(0) * (wanted - p) / wanted;
        let mut i = *bounds.last().unwrap_or(&0);
        while i < n && area(i) > target {
            i += TILE;
        }
        let i = i.min(n);
        if i > *bounds.last().unwrap_or(&0) && i < n {
            bounds.push(i);
        }
    }
    bounds.push(n);
    bounds.windows(2).map(|w| w[0]..w[1]).collect()
}

/// The upper triangle of `K = Ã_c Ã_cᵀ` for the columns `c = from..width` of the rows `Ã`
/// (`[N, width]`), row i's `K_{i,i..}` at `starts[i]`: formed in f64 by blocks of rows, each a
/// GEMM on one thread, and rounded.
fn upper_gram<T: HostFloat>(
    rows: &[f64],
    n: usize,
    width: usize,
    from: usize,
    starts: &[usize],
    pool: &rayon::ThreadPool,
) -> Vec<T> {
    let columns = MatRef::from_row_major_slice(rows, n, width).subcols(from, width - from);
    let per = block_rows(n, std::mem::size_of::<f64>());
    let blocks: Vec<Range<usize>> = (0..n).step_by(per).map(|s| s..(s + per).min(n)).collect();
    let mut triangle = vec![T::default(); starts[n]];
    let mut pieces = Vec::with_capacity(blocks.len());
    let mut rest = triangle.as_mut_slice();
    for block in &blocks {
        let (head, tail) = rest.split_at_mut(starts[block.end] - starts[block.start]);
        pieces.push(head);
        rest = tail;
    }
    pool.install(|| {
        pieces
            .into_par_iter()
            .zip(blocks.par_iter())
            .for_each(|(out, block)| {
                let (r0, b, cols) = (block.start, block.len(), n - block.start);
                let mut full = vec![0.0; b * cols];
                matmul(
                    MatMut::from_row_major_slice_mut(&mut full, b, cols),
                    Accum::Replace,
                    columns.subrows(r0, b),
                    columns.subrows(r0, cols).transpose(),
                    1.0,
                    Par::Seq,
                );
                clear_upper_vector_state();
                let mut at = 0;
                for r in 0..b {
                    let row = &full[r * cols + r..(r + 1) * cols];
                    for (o, v) in out[at..at + row.len()].iter_mut().zip(row) {
                        *o = T::from_f64(*v);
                    }
                    at += row.len();
                }
            });
    });
    triangle
}

/// One part's share of `K V` from the upper triangle: for each tile of rows `I` and run m,
/// `out_m[I] += K_II v_m[I] + K_IJ v_m[J]` and `out_m[J] += K_IJᵀ v_m[I]` (J: the columns after
/// the tile). `out` is zeroed from the part's first row on.
struct TriangleProduct<'a, T> {
    triangle: &'a [T],
    starts: &'a [usize],
    n: usize,
    rows: Range<usize>,
    coef: &'a [T],
    runs: usize,
    out: &'a mut [T],
}

impl<T: HostFloat> TriangleProduct<'_, T> {
    /// The tile of rows `i..i + R` for every run.
    #[inline(always)]
    fn tile<S: Simd, const R: usize>(&mut self, simd: S, i: usize) {
        let (n, triangle, starts) = (self.n, self.triangle, self.starts);
        let after = i + R;
        // Row r's entries K_{r, after..N}.
        let rows: [&[T]; R] =
            std::array::from_fn(|r| &triangle[starts[i + r] + (after - i - r)..starts[i + r + 1]]);
        // Two runs per sweep over the tile's rows, then the odd one alone.
        let mut m = 0;
        while m + 2 <= self.runs {
            let (v0, v1) = self.coef[m * n..(m + 2) * n].split_at(n);
            let (out0, out1) = self.out[m * n..(m + 2) * n].split_at_mut(n);
            let c = [v0, v1].map(|v| std::array::from_fn(|r| v[i + r]));
            let dots = T::dot_axpy_tile_pair::<S, R>(
                simd,
                rows,
                [&v0[after..], &v1[after..]],
                c,
                [&mut out0[after..], &mut out1[after..]],
            );
            diagonal_block(triangle, starts, i, v0, out0, dots[0]);
            diagonal_block(triangle, starts, i, v1, out1, dots[1]);
            m += 2;
        }
        if m < self.runs {
            let v = &self.coef[m * n..(m + 1) * n];
            let out = &mut self.out[m * n..(m + 1) * n];
            let c: [T; R] = std::array::from_fn(|r| v[i + r]);
            let dots =
                T::dot_axpy_tile::<S, R>(simd, rows, &v[after..], None, c, &mut out[after..]);
            diagonal_block(triangle, starts, i, v, out, dots);
        }
    }
}

/// Completes rows `i..i + R` of one run's `K v` from their dots past the tile: adds them and the
/// R × R block on the diagonal (from its upper triangle), in f64.
#[inline(always)]
fn diagonal_block<T: HostFloat, const R: usize>(
    triangle: &[T],
    starts: &[usize],
    i: usize,
    v: &[T],
    out: &mut [T],
    dots: [T; R],
) {
    for a in 0..R {
        let mut sum = out[i + a].to_f64() + dots[a].to_f64();
        for b in 0..R {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            let k = triangle[starts[i + lo] + (hi - lo)];
            sum += k.to_f64() * v[i + b].to_f64();
        }
        out[i + a] = T::from_f64(sum);
    }
}

impl<T: HostFloat> WithSimd for TriangleProduct<'_, T> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(mut self, simd: S) {
        let n = self.n;
        for m in 0..self.runs {
            self.out[m * n + self.rows.start..(m + 1) * n].fill(T::default());
        }
        let mut i = self.rows.start;
        while i + TILE <= self.rows.end {
            self.tile::<S, TILE>(simd, i);
            i += TILE;
        }
        while i < self.rows.end {
            self.tile::<S, 1>(simd, i);
            i += 1;
        }
    }
}
