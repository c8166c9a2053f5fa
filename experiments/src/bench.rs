//! Benchmarks of the training step and of the machine's own limits (never run as tests).
//!
//! The step is one full-batch GD step of the linear classifier on the quadratic-penalty loss,
//! through the same [`logit_reg_train::train`] loop the experiments use, on either engine. It does
//! `4·N·d·M` flops (two matrix products of `2·N·d·M` each). The Burn engine reads X twice per
//! step (forward `X S` and backward `Xᵀ g`), the fused engine once, so the reported bandwidth
//! is `passes·N·d·bytes / time`.

use std::time::Instant;

use burn::tensor::TensorData;
use burn::tensor::{Device, Tensor};
use logit_reg_data::{LabelScheme, Noise, SignalPlusNoise};
use logit_reg_model::{LinearClassifierConfig, LogitRegularizedLoss, Quadratic};

use logit_reg_train::fused::{FusedKernel, streaming_sum};
use logit_reg_train::{EngineName, Objective, OptimizerName, Problem, TrainSpec, train};

use crate::ExperimentError;

/// One measured configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepTiming {
    /// Samples N.
    pub n: usize,
    /// Dimension d.
    pub d: usize,
    /// Runs M in the batch.
    pub m: usize,
    /// The engine that took the steps.
    pub engine: EngineName,
    /// Median milliseconds per step.
    pub ms_per_step: f64,
    /// Bytes of X read per step (two passes for Burn, one for the fused engine; the N²/2
    /// entries of the Gram triangle for the dual form) divided by the median step time, in GB/s.
    pub gb_per_s: f64,
    /// `4·N·d·M` (`2·N²·M` for the dual form) divided by the median step time, in GFLOP/s.
    pub gflop_per_s: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let k = v.len();
    if k % 2 == 1 {
        v[k / 2]
    } else {
        0.5 * (v[k / 2 - 1] + v[k / 2])
    }
}

/// What [`time_gd_step`] measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepBench {
    /// Samples N.
    pub n: usize,
    /// Dimension d.
    pub d: usize,
    /// Runs M in the batch.
    pub m: usize,
    /// Untimed steps first.
    pub warmup: u64,
    /// Timed steps (the median is reported).
    pub iters: u64,
    /// The engine: `Burn` or `Fused` (`Auto` picks as in training).
    pub engine: EngineName,
    /// The fused engine's kernel (`Auto`: by the number of runs).
    pub kernel: FusedKernel,
}

/// Times `bench.iters` GD steps (after `bench.warmup` steps) of M runs at (N, d) on the
/// autodiff `device`; `bytes` is the size of one float (4 or 8). The bandwidth counts the
/// passes over X that the engine makes: two for Burn (forward and backward), one for the
/// fused engine (its second pass reads the tile from the core's cache).
pub fn time_gd_step(
    device: &Device,
    bench: StepBench,
    bytes: usize,
) -> Result<StepTiming, ExperimentError> {
    let StepBench {
        n,
        d,
        m,
        warmup,
        iters,
        engine,
        kernel,
    } = bench;
    let model = SignalPlusNoise {
        d,
        n,
        n_test: 1,
        mu_f: 1.0,
        sigma_f: 0.5,
        sigma_n: 1.0,
        noise: Noise::Gaussian,
        labels: LabelScheme::Balanced,
    };
    let split = model.generate(0).map_err(ExperimentError::data)?;
    let problem = Problem::from_binary(&split.train, &split.test, device);
    let loss =
        LogitRegularizedLoss::new(Some(std::sync::Arc::new(Quadratic)), vec![0.2; m], device)
            .map_err(ExperimentError::model)?;
    let objective = Objective::Binary {
        loss: std::sync::Arc::new(loss),
        weight_decay: 0.0,
        sum_data_term: false,
    };
    let classifier = LinearClassifierConfig::new(d)
        .with_runs(m)
        .init(device)
        .map_err(ExperimentError::model)?;
    let spec = TrainSpec {
        optimizer: OptimizerName::Gd,
        lr: vec![0.1; m],
        steps: warmup + iters,
        batch_size: n,
        grad_tol: 0.0,
        adam: (0.9, 0.999, 1e-8),
        seed: 0,
        engine,
        threads: 0,
        fused_kernel: kernel,
    };
    let ((_, outcome), secs) = timed_steps(classifier, &problem, &objective, &spec, warmup, |m| {
        m.weight.val().sum()
    })?;
    let passes = if outcome.engine == EngineName::Fused {
        1
    } else {
        2
    };
    // The dual form steps through the N²/2 entries of the Gram triangle, 2N²M flops; the
    // others through X, 4NdM flops.
    let (read_bytes, flops) = match outcome.fused_kernel {
        Some(logit_reg_train::fused::FusedKernel::Dual) => (n * n / 2 * bytes, 2 * n * n * m),
        _ => (passes * n * d * bytes, 4 * n * d * m),
    };
    Ok(StepTiming {
        n,
        d,
        m,
        engine: outcome.engine,
        ms_per_step: secs * 1e3,
        gb_per_s: read_bytes as f64 / secs / 1e9,
        gflop_per_s: flops as f64 / secs / 1e9,
    })
}

/// The streaming read bandwidth of `threads` cores together, in GB/s: the best of `repeats`
/// sums over a 256 MiB array of f64 (far larger than any cache), each thread summing its own
/// contiguous share.
pub fn memory_bandwidth_probe(repeats: usize, threads: usize) -> f64 {
    let len: usize = 32 * 1024 * 1024;
    let data: Vec<f64> = (0..len).map(|i| (i % 7) as f64).collect();
    let threads = threads.max(1);
    let share = len.div_ceil(threads);
    let sum = |chunk: &[f64]| {
        // Four accumulators so the loop is bound by loads, not by the add latency.
        let mut acc = [0.0f64; 4];
        for quad in chunk.chunks_exact(4) {
            for (a, v) in acc.iter_mut().zip(quad) {
                *a += v;
            }
        }
        acc.iter().sum::<f64>()
    };
    let mut best = f64::INFINITY;
    let mut sink = 0.0;
    for _ in 0..repeats {
        let t = Instant::now();
        sink += std::thread::scope(|scope| {
            let handles: Vec<_> = data
                .chunks(share)
                .map(|chunk| scope.spawn(move || sum(chunk)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(0.0))
                .sum::<f64>()
        });
        best = best.min(t.elapsed().as_secs_f64());
    }
    std::hint::black_box(sink);
    (len * 8) as f64 / best / 1e9
}

/// The rate at which `threads` cores together read an f32 array of `bytes` bytes, in GB/s:
/// the best of `repeats` timings of 16 vectorised sums ([`streaming_sum`]) each (so that
/// starting the threads is not timed with a single read), after one untimed sum that brings
/// the array into the caches it fits in, each thread summing its own contiguous share. With
/// `bytes` below the last-level cache this is the fastest a kernel can read a cache-resident
/// design matrix.
pub fn read_bandwidth_probe(bytes: usize, repeats: usize, threads: usize) -> f64 {
    const SUMS_PER_PASS: usize = 16;
    let len = (bytes / 4).max(64);
    let data: Vec<f32> = (0..len).map(|i| (i % 7) as f32).collect();
    let share = len.div_ceil(threads.max(1));
    let pass = || {
        std::thread::scope(|scope| {
            let handles: Vec<_> = data
                .chunks(share)
                .map(|chunk| {
                    scope.spawn(move || {
                        (0..SUMS_PER_PASS)
                            .map(|_| streaming_sum(std::hint::black_box(chunk)) as f64)
                            .sum::<f64>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(0.0))
                .sum::<f64>()
        })
    };
    let mut sink = pass();
    let mut best = f64::INFINITY;
    for _ in 0..repeats {
        let t = Instant::now();
        sink += pass();
        best = best.min(t.elapsed().as_secs_f64());
    }
    std::hint::black_box(sink);
    (SUMS_PER_PASS * len * 4) as f64 / best / 1e9
}

/// The GEMM rate of the device's matmul, in GFLOP/s: the best of `repeats` products of two
/// `size × size` matrices (`2·size³` flops each).
pub fn gemm_probe(device: &Device, size: usize, repeats: usize) -> f64 {
    let inner = device.clone().inner();
    // Seeded data uploaded from the host: a backend cannot fold constants through the product.
    let values = |seed: u64| -> Vec<f64> {
        (0..size * size)
            .map(|k| ((k as u64 * 2654435761 + seed) % 1000) as f64 / 1000.0 - 0.5)
            .collect()
    };
    let a = Tensor::<2>::from_data(TensorData::new(values(1), [size, size]), &inner);
    let b = Tensor::<2>::from_data(TensorData::new(values(2), [size, size]), &inner);
    std::hint::black_box(logit_reg_model::to_f64_vec((a.clone() + b.clone()).sum()));
    let mut best = f64::INFINITY;
    for k in 0..repeats {
        // A fresh left factor each time (made and read before the clock starts), and the
        // sum of the whole product read as numbers: a lazy backend (wgpu) must compute it all.
        let left = a.clone() + k as f64;
        std::hint::black_box(logit_reg_model::to_f64_vec(
            left.clone().slice([0..1, 0..1]),
        ));
        let t = Instant::now();
        let c = left.matmul(b.clone());
        std::hint::black_box(logit_reg_model::to_f64_vec(c.sum()));
        best = best.min(t.elapsed().as_secs_f64());
    }
    2.0 * (size as f64).powi(3) / best / 1e9
}

/// The network a step benchmark trains.
#[derive(Debug, Clone, PartialEq)]
pub enum BenchNetwork {
    /// An MLP on `d` inputs with these hidden widths.
    Mlp {
        /// Input dimension d.
        d: usize,
        /// Hidden widths.
        hidden: Vec<usize>,
    },
    /// A ConvNet on images of this shape with these convolution widths (3 × 3 kernels).
    Cnn {
        /// The input image shape.
        image: logit_reg_data::real::ImageShape,
        /// Output channels of each convolution block.
        channels: Vec<usize>,
    },
}

impl BenchNetwork {
    /// Input features per sample.
    pub fn d(&self) -> usize {
        match self {
            BenchNetwork::Mlp { d, .. } => *d,
            BenchNetwork::Cnn { image, .. } => image.len(),
        }
    }
}

/// What [`time_network_step`] measures: mini-batch Adam on an MLP or a ConvNet, as
/// `experiments run` trains it.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkBench {
    /// The network.
    pub network: BenchNetwork,
    /// Classes K.
    pub classes: usize,
    /// Samples in the data set the batches are drawn from.
    pub n: usize,
    /// Mini-batch size B.
    pub batch: usize,
    /// Runs M side by side.
    pub m: usize,
    /// Untimed steps first.
    pub warmup: u64,
    /// Timed steps (the median is reported).
    pub iters: u64,
}

/// Times one training step of a network: the mini-batch's rows selected, the forward pass,
/// the cross-entropy, the backward pass and Adam's update, through the same
/// [`logit_reg_train::train`] loop the experiments use (which also reads each run's loss back
/// to the host, for divergence). Returns the median milliseconds per step. The data are `n`
/// deterministic inputs in [−1, 1] with labels `i mod K`.
pub fn time_network_step(device: &Device, bench: &NetworkBench) -> Result<f64, ExperimentError> {
    let (n, d, k) = (bench.n, bench.network.d(), bench.classes);
    let x: Vec<f64> = (0..n * d)
        .map(|i| ((i as u64).wrapping_mul(2654435761) % 2001) as f64 / 1000.0 - 1.0)
        .collect();
    let set = logit_reg_data::MultiClassDataset {
        n,
        d,
        k,
        x,
        labels: (0..n).map(|i| i % k).collect(),
    };
    let problem = Problem::from_multiclass(&set, &set, device);
    let loss = logit_reg_model::MultiClassLogitLoss::new(None, vec![0.0; bench.m], device)
        .map_err(ExperimentError::model)?;
    let objective = Objective::MultiClass(Box::new(loss));
    let spec = TrainSpec {
        optimizer: OptimizerName::Adam,
        lr: vec![1e-3; bench.m],
        steps: bench.warmup + bench.iters,
        batch_size: bench.batch,
        grad_tol: 0.0,
        adam: (0.9, 0.999, 1e-8),
        seed: 0,
        engine: EngineName::Burn,
        threads: 0,
        fused_kernel: Default::default(),
    };
    let secs = match &bench.network {
        BenchNetwork::Mlp { hidden, .. } => {
            let model = logit_reg_model::MlpConfig::new(d, hidden.clone(), k)
                .with_runs(bench.m)
                .init(device)
                .map_err(ExperimentError::model)?;
            timed_steps(model, &problem, &objective, &spec, bench.warmup, |m| {
                m.layers[0].weight.val().sum()
            })?
            .1
        }
        BenchNetwork::Cnn { image, channels } => {
            let model = logit_reg_model::ConvNetConfig::new(*image, channels.clone(), k)
                .with_runs(bench.m)
                .init(device)
                .map_err(ExperimentError::model)?;
            timed_steps(model, &problem, &objective, &spec, bench.warmup, |m| {
                m.convs[0].weight.val().sum()
            })?
            .1
        }
    };
    Ok(secs * 1e3)
}

/// Trains `model` through [`train`] with a time stamp at every step and returns the result with
/// the median seconds per step after `warmup` untimed steps. `probe` names a tensor of the
/// trained model: its value is read back before the last stamp, so the device has finished the
/// work (a no-op on the synchronous CPU backends; `into_data` alone does not wait on wgpu).
fn timed_steps<M: logit_reg_model::LogitModel>(
    model: M,
    problem: &Problem,
    objective: &Objective,
    spec: &TrainSpec,
    warmup: u64,
    probe: impl Fn(&M) -> Tensor<1>,
) -> Result<((M, logit_reg_train::TrainOutcome), f64), ExperimentError> {
    let mut stamps = Vec::with_capacity((spec.steps + 1) as usize);
    let trained = train(
        model,
        problem,
        objective,
        spec,
        |_| {
            stamps.push(Instant::now());
            false
        },
        |_| {},
    )?;
    std::hint::black_box(logit_reg_model::to_f64_vec(probe(&trained.0)));
    stamps.push(Instant::now());
    let steps: Vec<f64> = stamps
        .windows(2)
        .skip(warmup as usize)
        .map(|w| (w[1] - w[0]).as_secs_f64())
        .collect();
    Ok((trained, median(steps)))
}
