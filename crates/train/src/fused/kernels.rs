//! The vectorised kernels of the fused engine and of the exact solvers: register tiles of dot
//! products and rank-R updates over rows of a row-major matrix, in f32 or f64, through pulp's
//! runtime SIMD dispatch (AVX2 + FMA where the CPU has it, scalar code otherwise), and the
//! matrix products of the blocked kernel through faer's GEMM.

use faer::{Accum, MatMut, MatRef, Par};
use pulp::{Arch, Simd, WithSimd};

/// Clears the upper halves of the vector registers (`vzeroupper`, through pulp's safe AVX
/// token) where the CPU has AVX; a no-op elsewhere.
///
/// faer's AVX-512 GEMM kernels can return with the upper halves of the vector registers
/// still in use. On Intel CPUs every legacy-SSE instruction after that pays for the dirty state
/// until something clears it, so the scalar f64 code that follows a product (libm's `exp` in
/// the loss derivatives, compiled for baseline x86-64) slows down by an order of magnitude
/// ([`exp_after_product_probe`] measures it; BENCHMARKS.md, "Dirty vector registers"). Called
/// after every faer product; it changes no value.
#[cfg(target_arch = "x86_64")]
pub(crate) fn clear_upper_vector_state() {
    if let Some(simd) = pulp::x86::V3::try_new() {
        simd.avx._mm256_zeroupper();
    }
}

/// What a scalar f64 `exp` costs right after a faer product, against after
/// [`clear_upper_vector_state`]: nanoseconds per call over `calls` calls each, the best of
/// three timings. The product (64 × 64 by 64 × 8, f32) is what the blocked kernel does before
/// its loss derivatives; the two numbers differ where that leaves the vector registers dirty
/// (BENCHMARKS.md, "Dirty vector registers").
pub fn exp_after_product_probe(calls: usize) -> (f64, f64) {
    let lhs = vec![0.5f32; 64 * 64];
    let rhs = vec![0.25f32; 64 * 8];
    let mut dst = vec![0.0f32; 64 * 8];
    let inputs: Vec<f64> = (0..calls.max(1))
        .map(|i| -10.0 + 20.0 * (i as f64 / calls.max(1) as f64))
        .collect();
    let mut time = |clear: bool| {
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            faer::linalg::matmul::matmul(
                MatMut::from_column_major_slice_mut(&mut dst, 64, 8),
                Accum::Replace,
                MatRef::from_column_major_slice(&lhs, 64, 64),
                MatRef::from_column_major_slice(&rhs, 64, 8),
                1.0,
                Par::Seq,
            );
            if clear {
                clear_upper_vector_state();
            }
            let start = std::time::Instant::now();
            let mut sum = 0.0;
            for &x in &inputs {
                sum += std::hint::black_box(x).exp();
            }
            std::hint::black_box(sum);
            best = best.min(start.elapsed().as_secs_f64());
        }
        best / inputs.len() as f64 * 1e9
    };
    (time(false), time(true))
}

/// No vector state to clear off x86-64.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn clear_upper_vector_state() {}

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
    /// [`HostFloat::dot_axpy_tile`] (with `prev = None`) for two runs in one sweep over the
    /// rows: returns `rows[r] · w[p]` and does `acc[p] += Σ_r c[p][r] · rows[r]` for p = 0, 1.
    /// Each run's arithmetic is the single-run tile's, operation for operation, so the results
    /// are bit-identical to two calls of it; the rows are read once for both, and the two runs'
    /// chains of fused multiply-adds interleave.
    ///
    /// # Shapes
    /// - `rows`: R slices of `[d]`; `w`, `acc`: 2 slices of `[d]`; `c`: `[2][R]`; output `[2][R]`
    fn dot_axpy_tile_pair<S: Simd, const R: usize>(
        simd: S,
        rows: [&[Self]; R],
        w: [&[Self]; 2],
        c: [[Self; R]; 2],
        acc: [&mut [Self]; 2],
    ) -> [[Self; R]; 2];
    /// `dst ← lhs · rhs`, or `dst ← dst + lhs · rhs` with `add`, on the calling thread
    /// (faer's GEMM: packed panels and register tiles). For a given shape the summation order
    /// is fixed, so the result does not depend on the thread that computes it.
    ///
    /// # Shapes
    /// - `dst`: `[m, n]`, `lhs`: `[m, k]`, `rhs`: `[k, n]`
    fn matmul(dst: MatMut<'_, Self>, add: bool, lhs: MatRef<'_, Self>, rhs: MatRef<'_, Self>);
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

            fn matmul(
                dst: MatMut<'_, Self>,
                add: bool,
                lhs: MatRef<'_, Self>,
                rhs: MatRef<'_, Self>,
            ) {
                let accum = if add { Accum::Add } else { Accum::Replace };
                faer::linalg::matmul::matmul(dst, accum, lhs, rhs, 1.0, Par::Seq);
                clear_upper_vector_state();
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

            #[inline(always)]
            fn dot_axpy_tile_pair<S: Simd, const R: usize>(
                simd: S,
                rows: [&[Self]; R],
                w: [&[Self]; 2],
                c: [[Self; R]; 2],
                acc: [&mut [Self]; 2],
            ) -> [[Self; R]; 2] {
                let d = w[0].len();
                let lanes = core::mem::size_of::<S::$lanes>() / core::mem::size_of::<$t>();
                let len = d / lanes;
                let rows = rows.map(|row| S::$as_simd(&row[..d]));
                let heads = rows.map(|(head, _)| &head[..len]);
                let [w0, w1] = w;
                let (w0_head, w0_tail) = S::$as_simd(&w0[..d]);
                let (w1_head, w1_tail) = S::$as_simd(&w1[..d]);
                let (w0_head, w1_head) = (&w0_head[..len], &w1_head[..len]);
                let [acc0, acc1] = acc;
                let (acc0_head, acc0_tail) = S::$as_mut_simd(&mut acc0[..d]);
                let (acc1_head, acc1_tail) = S::$as_mut_simd(&mut acc1[..d]);
                let (acc0_head, acc1_head) = (&mut acc0_head[..len], &mut acc1_head[..len]);
                let cv0 = c[0].map(|v| simd.$splat(v));
                let cv1 = c[1].map(|v| simd.$splat(v));
                let mut dots0 = [simd.$splat(0.0); R];
                let mut dots1 = [simd.$splat(0.0); R];
                for k in 0..len {
                    let (wk0, wk1) = (w0_head[k], w1_head[k]);
                    let mut sum0 = acc0_head[k];
                    let mut sum1 = acc1_head[k];
                    for r in 0..R {
                        let x = heads[r][k];
                        dots0[r] = simd.$fma(x, wk0, dots0[r]);
                        sum0 = simd.$fma(x, cv0[r], sum0);
                        dots1[r] = simd.$fma(x, wk1, dots1[r]);
                        sum1 = simd.$fma(x, cv1[r], sum1);
                    }
                    acc0_head[k] = sum0;
                    acc1_head[k] = sum1;
                }
                for (j, a) in acc0_tail.iter_mut().enumerate() {
                    for r in 0..R {
                        *a += c[0][r] * rows[r].1[j];
                    }
                }
                for (j, a) in acc1_tail.iter_mut().enumerate() {
                    for r in 0..R {
                        *a += c[1][r] * rows[r].1[j];
                    }
                }
                let mut out = [[0.0; R]; 2];
                for r in 0..R {
                    let tail0: $t = rows[r].1.iter().zip(w0_tail).map(|(x, y)| x * y).sum();
                    let tail1: $t = rows[r].1.iter().zip(w1_tail).map(|(x, y)| x * y).sum();
                    out[0][r] = simd.$reduce(dots0[r]) + tail0;
                    out[1][r] = simd.$reduce(dots1[r]) + tail1;
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

/// Rows `r0..r0 + R` of a row-major `[·, d]` matrix.
#[inline(always)]
pub(crate) fn tile_rows<T, const R: usize>(rows: &[T], d: usize, r0: usize) -> [&[T]; R] {
    std::array::from_fn(|r| &rows[(r0 + r) * d..(r0 + r + 1) * d])
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
pub(crate) fn sum_into<T: HostFloat>(out: &mut [T], v: &[T]) {
    sum_scaled_into(out, v, T::from_f64(1.0));
}

/// `out += c·v`, vectorised.
pub(crate) fn sum_scaled_into<T: HostFloat>(out: &mut [T], v: &[T], c: T) {
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

/// `Σ v`, vectorised with four independent accumulators, so that the loop is bound by the
/// loads alone: the read loop of the bandwidth probes, which measure how fast any kernel could
/// stream a matrix.
pub fn streaming_sum(v: &[f32]) -> f32 {
    struct Sum<'a>(&'a [f32]);
    impl WithSimd for Sum<'_> {
        type Output = f32;
        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) -> f32 {
            let (head, tail) = S::as_simd_f32s(self.0);
            let mut acc = [simd.splat_f32s(0.0); 4];
            let mut quads = head.chunks_exact(4);
            for quad in &mut quads {
                for (a, x) in acc.iter_mut().zip(quad) {
                    *a = simd.add_f32s(*a, *x);
                }
            }
            let mut total =
                simd.add_f32s(simd.add_f32s(acc[0], acc[1]), simd.add_f32s(acc[2], acc[3]));
            for x in quads.remainder() {
                total = simd.add_f32s(total, *x);
            }
            simd.reduce_sum_f32s(total) + tail.iter().sum::<f32>()
        }
    }
    Arch::new().dispatch(Sum(v))
}
