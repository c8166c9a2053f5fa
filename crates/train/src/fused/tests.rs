//! The kernels against plain loops, the gradient against a plain loop, the objective against
//! finite differences.

use std::sync::Arc;

use pulp::{Arch, Simd, WithSimd};

use super::engine::FusedEngine;
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

/// The two-run tile against two calls of the one-run tile: bit for bit, at lengths with and
/// without a remainder past the vector lanes; and against a plain loop in f64.
fn check_pair_tile<T: HostFloat>(d: usize) {
    const R: usize = 4;
    let cast = |v: Vec<f64>| -> Vec<T> { v.into_iter().map(T::from_f64).collect() };
    let rows_t = cast(matrix(R * d, 11));
    let w_t = cast(matrix(2 * d, 12));
    let acc_t = cast(matrix(2 * d, 13));
    let c_t = cast(matrix(2 * R, 14));
    let rows: [&[T]; R] = std::array::from_fn(|r| &rows_t[r * d..(r + 1) * d]);
    let c: [[T; R]; 2] = std::array::from_fn(|p| std::array::from_fn(|r| c_t[p * R + r]));
    struct Pair<'a, T>([&'a [T]; R], &'a [T], [[T; R]; 2], Vec<T>);
    impl<T: HostFloat> WithSimd for Pair<'_, T> {
        type Output = ([[T; R]; 2], Vec<T>);
        fn with_simd<S: Simd>(mut self, simd: S) -> Self::Output {
            let d = self.1.len() / 2;
            let (acc0, acc1) = self.3.split_at_mut(d);
            let dots = T::dot_axpy_tile_pair::<S, R>(
                simd,
                self.0,
                [&self.1[..d], &self.1[d..]],
                self.2,
                [acc0, acc1],
            );
            (dots, self.3)
        }
    }
    struct Single<'a, T>([&'a [T]; R], &'a [T], [T; R], Vec<T>);
    impl<T: HostFloat> WithSimd for Single<'_, T> {
        type Output = ([T; R], Vec<T>);
        fn with_simd<S: Simd>(mut self, simd: S) -> Self::Output {
            let dots = T::dot_axpy_tile::<S, R>(simd, self.0, self.1, None, self.2, &mut self.3);
            (dots, self.3)
        }
    }
    let (pair_dots, pair_acc) = Arch::new().dispatch(Pair(rows, &w_t, c, acc_t.clone()));
    for p in 0..2 {
        let (dots, acc) = Arch::new().dispatch(Single(
            rows,
            &w_t[p * d..(p + 1) * d],
            c[p],
            acc_t[p * d..(p + 1) * d].to_vec(),
        ));
        assert_eq!(pair_dots[p], dots, "dots of run {p}, d = {d}");
        assert_eq!(
            &pair_acc[p * d..(p + 1) * d],
            &acc[..],
            "update of run {p}, d = {d}"
        );
        for r in 0..R {
            let plain: f64 = (0..d)
                .map(|j| rows[r][j].to_f64() * w_t[p * d + j].to_f64())
                .sum();
            assert!((dots[r].to_f64() - plain).abs() < 1e-4 * (1.0 + plain.abs()));
        }
        for j in 0..d {
            let plain = acc_t[p * d + j].to_f64()
                + (0..R)
                    .map(|r| c[p][r].to_f64() * rows[r][j].to_f64())
                    .sum::<f64>();
            assert!((acc[j].to_f64() - plain).abs() < 1e-5 * (1.0 + plain.abs()));
        }
    }
}

#[test]
fn the_two_run_tile_is_two_one_run_tiles_bit_for_bit() {
    for d in [1, 7, 16, 37, 203] {
        check_pair_tile::<f32>(d);
        check_pair_tile::<f64>(d);
    }
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
        loss: FusedLoss::Margin {
            loss: loss.clone(),
            labels: y.clone(),
        },
        optimizer: FusedOptimizer::Gd,
        lr: vec![0.1, 0.2, 0.3],
        weight_decay: 0.05,
        sum_data_term: false,
        threads: 0,
        kernel,
    };
    let mut engine = FusedTrainer::<f64>::new(&x, d, &w, None, spec.clone());
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
        FusedTrainer::<f64>::new(&x, d, &w2, None, spec.clone()).objective()
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
fn the_dual_form_is_chosen_by_one_rule() {
    // At N = 2000: from width 0.7 N = 1400 on, for binary GD without a gradient tolerance;
    // from 24 runs on, from 0.8 N = 1600.
    let n = 2000;
    let at = (DUAL_MIN_RATIO * n as f64).ceil() as usize;
    let many_at = (DUAL_MIN_RATIO_MANY_RUNS * n as f64).ceil() as usize;
    assert_eq!((at, many_at, DUAL_MANY_RUNS), (1400, 1600, 24));
    let auto = FusedKernel::Auto;
    // (run counts, width, the kernel auto becomes).
    let cases = [
        (&[1, 8, 16, 23][..], at, FusedKernel::Dual),
        (&[1, 8, 16, 23][..], 3000, FusedKernel::Dual),
        (&[1, 8, 16, 23][..], at - 1, FusedKernel::Auto),
        (&[24, 32, 500][..], at, FusedKernel::Auto),
        (&[24, 32, 500][..], many_at - 1, FusedKernel::Auto),
        (&[24, 32, 500][..], many_at, FusedKernel::Dual),
        (&[24, 32, 500][..], 3000, FusedKernel::Dual),
    ];
    for (runs, width, want) in cases {
        for &runs in runs {
            assert_eq!(
                auto.with_dual_form(true, 0.0, runs, n, width),
                want,
                "{runs} runs, width {width}"
            );
        }
    }
    // Not binary GD (Adam, or K classes), or with the gradient norms asked for each step.
    assert_eq!(
        auto.with_dual_form(false, 0.0, 4, n, 3000),
        FusedKernel::Auto
    );
    assert_eq!(
        auto.with_dual_form(true, 1e-6, 4, n, 3000),
        FusedKernel::Auto
    );
    // A kernel asked for is kept.
    for kernel in [
        FusedKernel::Pipelined,
        FusedKernel::Blocked,
        FusedKernel::Dual,
    ] {
        assert_eq!(kernel.with_dual_form(true, 0.0, 32, n, 1400), kernel);
        assert_eq!(kernel.with_dual_form(true, 0.0, 4, n, 3000), kernel);
        assert_eq!(kernel.with_dual_form(false, 0.0, 4, n, 10), kernel);
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
        loss: FusedLoss::Margin {
            loss: PointwiseMarginLoss {
                alpha: vec![0.0, 0.0],
                penalty: None,
            },
            labels: y.clone(),
        },
        optimizer: FusedOptimizer::Gd,
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
        let mut engine = FusedTrainer::<f32>::new(&x, d, &w, None, spec);
        engine.compute_gradient();
        assert_eq!(engine.suspect(), &[false, true], "{kernel:?}");
    }
}

/// The K-class gradient (weights and bias) against a plain f64 loop over the samples that
/// forms softmax and the penalty's gradient itself, on a shape the blocked kernel cuts into
/// three blocks (the last one partial); the objective against finite differences of itself;
/// a logit beyond the suspect bound flags its run.
#[test]
fn multiclass_gradient_matches_a_plain_loop_and_finite_differences() {
    use logit_reg_model::penalty::{ElementwiseSum, MultiClassPenalty, Quadratic};
    let (n, d, k, runs) = (300, 5, 3, 2);
    assert_eq!(block_rows(d + 1, 8), 128);
    let x = matrix(n * d, 11);
    let labels: Vec<usize> = (0..n).map(|i| (i * 7 + i / 3) % k).collect();
    let w = matrix(d * runs * k, 12);
    let bias = matrix(runs * k, 13);
    let penalty: Arc<dyn MultiClassPenalty> = Arc::new(ElementwiseSum(Arc::new(Quadratic)));
    let loss = SoftmaxLoss {
        classes: k,
        labels: labels.clone(),
        alpha: vec![0.0, 0.3],
        penalty: Some(Arc::clone(&penalty)),
    };
    let spec = FusedSpec {
        loss: FusedLoss::Softmax(loss),
        optimizer: FusedOptimizer::Gd,
        lr: vec![0.1, 0.2],
        weight_decay: 0.0,
        sum_data_term: false,
        threads: 0,
        kernel: FusedKernel::Auto,
    };
    let mut engine = FusedTrainer::<f64>::new(&x, d, &w, Some(&bias), spec.clone());
    assert_eq!(engine.kernel(), FusedKernel::Blocked);
    engine.compute_gradient();
    assert!(engine.suspect().iter().all(|f| !f));
    // Oracle: z = Wᵀx + b; ∂ℓ/∂z_c = (1 − α)(e^{z_c}/Σ e^z − [c = y]) + α·2 z_c.
    let width = d + 1;
    let alphas = [0.0, 0.3];
    let mut want = vec![0.0; runs * k * width];
    let mut value = [0.0; 2];
    for i in 0..n {
        for m in 0..runs {
            let z: Vec<f64> = (0..k)
                .map(|c| {
                    let col = m * k + c;
                    bias[col]
                        + (0..d)
                            .map(|j| x[i * d + j] * w[j * runs * k + col])
                            .sum::<f64>()
                })
                .collect();
            let norm: f64 = z.iter().map(|v| v.exp()).sum();
            value[m] += ((1.0 - alphas[m]) * (norm.ln() - z[labels[i]])
                + alphas[m] * z.iter().map(|v| v * v).sum::<f64>())
                / n as f64;
            for (c, zc) in z.iter().enumerate() {
                let ce = zc.exp() / norm - f64::from(u8::from(c == labels[i]));
                let g = ((1.0 - alphas[m]) * ce + alphas[m] * 2.0 * zc) / n as f64;
                let col = m * k + c;
                for j in 0..d {
                    want[col * width + j] += g * x[i * d + j];
                }
                want[col * width + d] += g;
            }
        }
    }
    for (idx, (got, want)) in engine.grad.iter().zip(&want).enumerate() {
        assert!((got - want).abs() < 1e-14, "entry {idx}: {got} vs {want}");
    }
    let objective = engine.objective();
    for m in 0..runs {
        assert!((objective[m] - value[m]).abs() < 1e-13, "objective {m}");
    }
    // Finite differences along (v, v_b).
    let (v, vb) = (matrix(d * runs * k, 14), matrix(runs * k, 15));
    let h = 1e-5;
    let shifted = |sign: f64| {
        let w2: Vec<f64> = w.iter().zip(&v).map(|(a, b)| a + sign * h * b).collect();
        let b2: Vec<f64> = bias
            .iter()
            .zip(&vb)
            .map(|(a, b)| a + sign * h * b)
            .collect();
        FusedTrainer::<f64>::new(&x, d, &w2, Some(&b2), spec.clone()).objective()
    };
    let (plus, minus) = (shifted(1.0), shifted(-1.0));
    for m in 0..runs {
        let fd = (plus[m] - minus[m]) / (2.0 * h);
        let analytic: f64 = (m * k..(m + 1) * k)
            .map(|col| {
                (0..d)
                    .map(|j| engine.grad[col * width + j] * v[j * runs * k + col])
                    .sum::<f64>()
                    + engine.grad[col * width + d] * vb[col]
            })
            .sum();
        assert!((fd - analytic).abs() < 1e-8, "run {m}: {fd} vs {analytic}");
    }
    // A logit beyond the bound flags its run only.
    let mut far = bias.clone();
    far[k] = 2.0 * SUSPECT_MARGIN; // run 1, class 0
    let mut engine = FusedTrainer::<f64>::new(&x, d, &w, Some(&far), spec);
    engine.compute_gradient();
    assert_eq!(engine.suspect(), &[false, true]);
}

/// Adam's update against the rule written out per entry in f64 (moments from zero, bias
/// corrections 1 − βᵗ), over three steps with the engine's own gradients, to the precision of
/// the f32 scalars the engine shares with Burn; and those scalars against their definition.
#[test]
fn adam_update_follows_the_written_rule() {
    let (n, d, runs) = (40, 6, 2);
    let x = matrix(n * d, 21);
    let y: Vec<f64> = matrix(n, 22).iter().map(|v| v.signum()).collect();
    let w = matrix(d * runs, 23);
    let (beta1, beta2, epsilon) = (0.8, 0.99, 1e-3);
    let spec = FusedSpec {
        loss: FusedLoss::Margin {
            loss: PointwiseMarginLoss {
                alpha: vec![0.0, 0.5],
                penalty: Some(Arc::new(logit_reg_model::penalty::Quadratic)),
            },
            labels: y,
        },
        optimizer: FusedOptimizer::Adam {
            beta1,
            beta2,
            epsilon,
        },
        lr: vec![0.01, 0.03],
        weight_decay: 0.0,
        sum_data_term: false,
        threads: 0,
        kernel: FusedKernel::Auto,
    };
    let scalars = AdamScalars::at(beta1, beta2, epsilon, 3);
    // Burn's AdamConfig: `(1.0 - beta_2.powi(t)).sqrt() / (1.0 - beta_1.powi(t))` in f32.
    let c2 = (1.0 - 0.99f32.powi(3)).sqrt();
    assert_eq!(scalars.factor, f64::from(c2 / (1.0 - 0.8f32.powi(3))));
    assert_eq!(scalars.floor, f64::from(1e-3f32 * c2));
    assert_eq!(scalars.keep1, f64::from(1.0 - 0.8f32));
    let mut engine = FusedTrainer::<f64>::new(&x, d, &w, None, spec);
    let (mut first, mut second) = (vec![0.0; d * runs], vec![0.0; d * runs]);
    for t in 1..=3 {
        engine.compute_gradient();
        let before = engine.weights();
        let grad = engine.grad.clone();
        engine.update();
        let after = engine.weights();
        for m in 0..runs {
            for j in 0..d {
                let (i, g) = (m * d + j, grad[m * d + j]);
                first[i] = beta1 * first[i] + (1.0 - beta1) * g;
                second[i] = beta2 * second[i] + (1.0 - beta2) * g * g;
                let m_hat = first[i] / (1.0 - f64::powi(beta1, t));
                let v_hat = second[i] / (1.0 - f64::powi(beta2, t));
                let lr = [0.01, 0.03][m];
                let want = before[j * runs + m] - lr * m_hat / (v_hat.sqrt() + epsilon);
                let got = after[j * runs + m];
                // The engine's scalars are f32 (Burn's): a relative 1e-7 of the step, at most.
                let step = (want - before[j * runs + m]).abs();
                assert!(
                    (got - want).abs() <= 1e-6 * step + 1e-16,
                    "t={t} m={m} j={j}: {got} vs {want}"
                );
            }
        }
    }
}

/// Runs through column maps of one base matrix take the steps each would take on its own
/// inputs `X = [first·b₀ + second·b₁, rest·b₂..]`: the oracle is a separate engine per run on
/// that X, formed explicitly. GD with weight decay, Adam, both kernels; in f64 the two agree
/// to rounding after 60 steps, and the objectives and gradient norms with them.
/// A base matrix `[N, d + 1]` whose first column is a ±1 label column, as in the
/// signal-plus-noise draw, and those labels.
fn labelled_base(n: usize, d: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut b = matrix(n * (d + 1), seed);
    for i in 0..n {
        b[i * (d + 1)] = if b[i * (d + 1)] >= 0.0 { 1.0 } else { -1.0 };
    }
    let labels = (0..n).map(|i| b[i * (d + 1)]).collect();
    (b, labels)
}

/// The inputs `[N, d]` that `map` forms from `base` (`[N, d + 1]`), written out.
fn own_inputs(base: &[f64], n: usize, d: usize, map: &ColumnMap) -> Vec<f64> {
    let mut x = vec![0.0; n * d];
    for i in 0..n {
        let b = &base[i * (d + 1)..(i + 1) * (d + 1)];
        x[i * d] = map.first * b[0] + map.second * b[1];
        for j in 1..d {
            x[i * d + j] = map.rest * b[j + 1];
        }
    }
    x
}

#[test]
fn column_mapped_runs_match_runs_on_their_own_inputs() {
    let (n, d) = (37, 9);
    let (base, labels) = labelled_base(n, d, 11);
    let maps = [
        ColumnMap {
            first: 1.0,
            second: 0.0,
            rest: 1.0,
        },
        ColumnMap {
            first: 1.0,
            second: 0.5,
            rest: 2.0,
        },
        ColumnMap {
            first: 0.3,
            second: 1.0,
            rest: 0.25,
        },
    ];
    let runs = maps.len();
    let alpha = vec![0.0, 0.4, 0.2];
    let lr = vec![0.1, 0.05, 0.2];
    let w0 = matrix(d * runs, 12);
    let optimizers = [
        (FusedOptimizer::Gd, 0.05),
        (
            FusedOptimizer::Adam {
                beta1: 0.9,
                beta2: 0.999,
                epsilon: 1e-8,
            },
            0.0,
        ),
    ];
    for (optimizer, weight_decay) in optimizers {
        for kernel in [FusedKernel::Pipelined, FusedKernel::Blocked] {
            let spec = |alpha: Vec<f64>, lr: Vec<f64>| FusedSpec {
                loss: FusedLoss::Margin {
                    loss: PointwiseMarginLoss {
                        alpha,
                        penalty: Some(Arc::new(logit_reg_model::penalty::Quadratic)),
                    },
                    labels: labels.clone(),
                },
                optimizer,
                lr,
                weight_decay,
                sum_data_term: false,
                threads: 0,
                kernel,
            };
            let mut grouped = FusedTrainer::<f64>::new_mapped(
                &base,
                d,
                &w0,
                &maps,
                spec(alpha.clone(), lr.clone()),
            );
            let mut alone: Vec<FusedTrainer<f64>> = (0..runs)
                .map(|m| {
                    let w: Vec<f64> = (0..d).map(|j| w0[j * runs + m]).collect();
                    let x = own_inputs(&base, n, d, &maps[m]);
                    FusedTrainer::new(&x, d, &w, None, spec(vec![alpha[m]], vec![lr[m]]))
                })
                .collect();
            for _ in 0..60 {
                grouped.compute_gradient();
                grouped.update();
                for engine in &mut alone {
                    engine.compute_gradient();
                    engine.update();
                }
            }
            grouped.compute_gradient();
            let (weights, objective, norms) = (
                grouped.weights(),
                grouped.objective(),
                grouped.gradient_norms(),
            );
            for (m, engine) in alone.iter_mut().enumerate() {
                engine.compute_gradient();
                let want = engine.weights();
                let scale = want.iter().fold(0.0f64, |a, v| a.max(v.abs()));
                for j in 0..d {
                    let err = (weights[j * runs + m] - want[j]).abs();
                    assert!(
                        err <= 1e-12 * scale,
                        "{optimizer:?} {kernel:?} run {m} weight {j}: {err:e}"
                    );
                }
                let (o, g) = (engine.objective()[0], engine.gradient_norms()[0]);
                assert!((objective[m] - o).abs() <= 1e-13 * o.abs(), "objective {m}");
                assert!((norms[m] - g).abs() <= 1e-11 * g, "gradient norm {m}");
            }
            // The maps matter: the runs did not all take the first run's steps.
            assert!((weights[1] - weights[0]).abs() > 1e-3);
        }
    }
}

/// The margin-loss spec of the dual-form tests: the quadratic penalty with α per run.
fn margin_spec(
    labels: &[f64],
    alpha: Vec<f64>,
    lr: Vec<f64>,
    weight_decay: f64,
    sum_data_term: bool,
    kernel: FusedKernel,
    threads: usize,
) -> FusedSpec {
    FusedSpec {
        loss: FusedLoss::Margin {
            loss: PointwiseMarginLoss {
                alpha,
                penalty: Some(Arc::new(logit_reg_model::penalty::Quadratic)),
            },
            labels: labels.to_vec(),
        },
        optimizer: FusedOptimizer::Gd,
        lr,
        weight_decay,
        sum_data_term,
        threads,
        kernel,
    }
}

/// Largest |a − b| over the largest |b|.
fn relative_gap(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let gap = a
        .iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    gap / scale
}

#[test]
fn dual_form_takes_the_primal_steps() {
    // More inputs than samples (where the dual form pays) and fewer; from zero and from a
    // random start; with and without weight decay; mean and sum data terms.
    for (n, d) in [(23, 41), (40, 13)] {
        let x = matrix(n * d, 21);
        let labels: Vec<f64> = matrix(n, 22)
            .iter()
            .map(|&v| if v >= 0.0 { 1.0 } else { -1.0 })
            .collect();
        let alpha = vec![0.0, 0.4, 0.2];
        let lr = vec![0.3, 0.2, 0.5];
        let runs = alpha.len();
        for (start_scale, weight_decay, sum) in [
            (0.0, 0.0, false),
            (0.3, 0.0, false),
            (0.3, 0.05, false),
            (0.0, 0.02, true),
        ] {
            let w0: Vec<f64> = matrix(d * runs, 23)
                .iter()
                .map(|v| v * start_scale)
                .collect();
            let lr: Vec<f64> = if sum {
                lr.iter().map(|l| l / n as f64).collect()
            } else {
                lr.clone()
            };
            let spec = |kernel| {
                margin_spec(
                    &labels,
                    alpha.clone(),
                    lr.clone(),
                    weight_decay,
                    sum,
                    kernel,
                    0,
                )
            };
            let mut primal =
                FusedEngine::<f64>::new(&x, d, &w0, None, spec(FusedKernel::Pipelined));
            let mut dual = FusedEngine::<f64>::new(&x, d, &w0, None, spec(FusedKernel::Dual));
            assert_eq!(dual.kernel(), FusedKernel::Dual);
            for step in 0..80 {
                primal.compute_gradient();
                dual.compute_gradient();
                if step % 20 == 0 {
                    let what =
                        format!("n={n} d={d} start={start_scale} γ={weight_decay} step {step}");
                    let (w_p, w_d) = (primal.weights(), dual.weights());
                    assert!(
                        relative_gap(&w_d, &w_p) <= 1e-12 || step == 0 && start_scale == 0.0,
                        "{what}: weights"
                    );
                    let gap = relative_gap(&dual.objective(), &primal.objective());
                    assert!(gap <= 1e-13, "{what}: objective {gap:e}");
                    let gap = relative_gap(&dual.gradient_norms(), &primal.gradient_norms());
                    assert!(gap <= 1e-11, "{what}: gradient norms {gap:e}");
                }
                primal.update();
                dual.update();
            }
            // The runs moved (the test compares trained weights, not the start).
            let moved = relative_gap(&dual.weights(), &w0);
            assert!(moved > 1e-2, "the weights moved: {moved:e}");
        }
    }
}

#[test]
fn dual_form_on_column_maps_matches_runs_on_their_own_inputs() {
    // Fewer samples than inputs, a random start and weight decay: every term of the form.
    let (n, d) = (19, 30);
    let (base, labels) = labelled_base(n, d, 31);
    let maps = [
        ColumnMap {
            first: 1.0,
            second: 0.0,
            rest: 1.0,
        },
        ColumnMap {
            first: 0.3,
            second: 0.5,
            rest: 2.0,
        },
    ];
    let runs = maps.len();
    let (alpha, lr) = (vec![0.4, 0.1], vec![0.1, 0.05]);
    let w0: Vec<f64> = matrix(d * runs, 32).iter().map(|v| 0.2 * v).collect();
    let mut grouped = FusedEngine::<f64>::new_mapped(
        &base,
        d,
        &w0,
        &maps,
        margin_spec(
            &labels,
            alpha.clone(),
            lr.clone(),
            0.03,
            false,
            FusedKernel::Dual,
            0,
        ),
    );
    let mut alone: Vec<FusedEngine<f64>> = (0..runs)
        .map(|m| {
            let x = own_inputs(&base, n, d, &maps[m]);
            let w: Vec<f64> = (0..d).map(|j| w0[j * runs + m]).collect();
            let spec = margin_spec(
                &labels,
                vec![alpha[m]],
                vec![lr[m]],
                0.03,
                false,
                FusedKernel::Pipelined,
                0,
            );
            FusedEngine::new(&x, d, &w, None, spec)
        })
        .collect();
    for _ in 0..60 {
        grouped.compute_gradient();
        grouped.update();
        for engine in &mut alone {
            engine.compute_gradient();
            engine.update();
        }
    }
    grouped.compute_gradient();
    let (weights, objective, norms) = (
        grouped.weights(),
        grouped.objective(),
        grouped.gradient_norms(),
    );
    for (m, engine) in alone.iter_mut().enumerate() {
        engine.compute_gradient();
        let own: Vec<f64> = (0..d).map(|j| weights[j * runs + m]).collect();
        let gap = relative_gap(&own, &engine.weights());
        assert!(gap <= 1e-12, "run {m} weights: {gap:e}");
        let gap = relative_gap(&[objective[m]], &engine.objective());
        assert!(gap <= 1e-13, "run {m} objective: {gap:e}");
        let gap = relative_gap(&[norms[m]], &engine.gradient_norms());
        assert!(gap <= 1e-11, "run {m} gradient norm: {gap:e}");
    }
    assert!((weights[1] - weights[0]).abs() > 1e-3, "the maps matter");
}

#[test]
fn dual_form_is_the_same_on_any_number_of_threads_and_flags_suspect_runs() {
    // Enough rows for several parts, in f32.
    let (n, d) = (600, 700);
    assert!(part_ranges(n, n).len() > 1);
    let x = matrix(n * d, 41);
    let labels: Vec<f64> = matrix(n, 42)
        .iter()
        .map(|&v| if v >= 0.0 { 1.0 } else { -1.0 })
        .collect();
    let w0 = matrix(d * 2, 43);
    let trained = |threads| {
        let spec = margin_spec(
            &labels,
            vec![0.0, 0.4],
            vec![0.1, 0.1],
            0.0,
            false,
            FusedKernel::Dual,
            threads,
        );
        let mut engine = FusedEngine::<f32>::new(&x, d, &w0, None, spec);
        for _ in 0..10 {
            engine.compute_gradient();
            engine.update();
        }
        engine.compute_gradient();
        (engine.weights(), engine.objective())
    };
    assert_eq!(trained(1), trained(2));
    // A start of size 10⁵ gives margins beyond SUSPECT_MARGIN for the second run only.
    let mut w = vec![0.0; d * 2];
    for j in 0..d {
        w[j * 2 + 1] = 1e5 * x[j];
    }
    let spec = margin_spec(
        &labels,
        vec![0.0, 0.4],
        vec![0.1, 0.1],
        0.0,
        false,
        FusedKernel::Dual,
        0,
    );
    let mut engine = FusedEngine::<f64>::new(&x, d, &w, None, spec);
    engine.compute_gradient();
    assert_eq!(engine.suspect(), &[false, true]);
}
