//! The kernels against plain loops, the gradient against a plain loop, the objective against
//! finite differences.

use std::sync::Arc;

use pulp::{Arch, Simd, WithSimd};

use super::gd::*;
use super::kernels::*;
use super::team::*;

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

/// The gradient of the fused engine, with each kernel, against a plain f64 loop over the same
/// formula, and the objective against a central finite difference of itself along a random
/// direction. (300, 5) gives the blocked kernel three blocks of rows, the last one partial.
#[test]
fn gradient_matches_a_plain_loop_and_finite_differences() {
    for (n, d) in [(37, 13), (300, 5)] {
        assert_eq!(block_rows(5, 8), 128);
        for kernel in [FusedKernel::Pipelined, FusedKernel::Blocked] {
            check_gradient(n, d, kernel);
        }
    }
}

fn check_gradient(n: usize, d: usize, kernel: FusedKernel) {
    let runs = 3;
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
        kernel,
    };
    let mut engine = FusedGd::<f64>::new(&x, &y, d, &w, spec.clone());
    assert_eq!(engine.kernel(), kernel);
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
            assert!(
                (got - want).abs() < 1e-14,
                "{kernel:?} m={m} j={j}: {got} vs {want}"
            );
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
    // The auto kernel by run count.
    assert_eq!(
        FusedKernel::Auto.resolve(BLOCKED_MIN_RUNS - 1),
        FusedKernel::Pipelined
    );
    assert_eq!(
        FusedKernel::Auto.resolve(BLOCKED_MIN_RUNS),
        FusedKernel::Blocked
    );
    assert_eq!(FusedKernel::Blocked.resolve(1), FusedKernel::Blocked);
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
        kernel: FusedKernel::Auto,
    };
    for kernel in [FusedKernel::Pipelined, FusedKernel::Blocked] {
        let spec = FusedSpec {
            kernel,
            ..spec.clone()
        };
        let mut engine = FusedGd::<f32>::new(&x, &y, d, &w, spec);
        engine.compute_gradient();
        assert_eq!(engine.suspect(), &[false, true], "{kernel:?}");
    }
}
