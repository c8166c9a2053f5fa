//! The fused host engine, with each of its kernels (pipelined and blocked), against the Burn
//! autodiff loop (the reference): the same GD steps to rounding, in f64 (flex) and f32
//! (ndarray, so that both precisions live in one process), with every loss term the engine
//! handles; the same divergence and convergence decisions; bit-identical results on one thread
//! and on many.

mod common;

use std::sync::Arc;

use burn::tensor::Device;
use common::{assert_every_objective_fell, f32_device, f64_device, max_rel};
use logit_reg_model::penalty::LogitPenalty;
use logit_reg_model::{LabelSmoothing, LinearClassifierConfig, LogitRegularizedLoss, Quadratic};
use logit_reg_train::fused::FusedKernel;
use logit_reg_train::{
    EngineName, Objective, OptimizerName, Problem, TrainOutcome, TrainSpec, train,
};

/// One training of `runs` runs from a small random start (so that no run starts at the origin).
#[derive(Clone)]
struct Case {
    n: usize,
    d: usize,
    alpha: Vec<f64>,
    lr: Vec<f64>,
    penalty: Option<Arc<dyn LogitPenalty>>,
    weight_decay: f64,
    sum_data_term: bool,
    steps: u64,
    grad_tol: f64,
    threads: usize,
    kernel: FusedKernel,
}

/// The fused engine's kernels, each tested on its own.
const KERNELS: [FusedKernel; 2] = [FusedKernel::Pipelined, FusedKernel::Blocked];

impl Case {
    fn new(alpha: &[f64], lr: &[f64]) -> Self {
        Self {
            n: 53,
            d: 29,
            alpha: alpha.to_vec(),
            lr: lr.to_vec(),
            penalty: Some(Arc::new(Quadratic)),
            weight_decay: 0.0,
            sum_data_term: false,
            steps: 150,
            grad_tol: 0.0,
            threads: 0,
            kernel: FusedKernel::Auto,
        }
    }

    /// Trains on `engine` and returns the final weights `[d, M]`, the objectives seen at the
    /// logging steps (every 10th), and the outcome.
    fn train(
        &self,
        device: &Device,
        engine: EngineName,
    ) -> (Vec<f64>, Vec<Vec<f64>>, TrainOutcome) {
        let model = logit_reg_data::SignalPlusNoise {
            d: self.d,
            n: self.n,
            n_test: 10,
            mu_f: 1.0,
            sigma_f: 0.5,
            sigma_n: 1.0,
            noise: logit_reg_data::Noise::Gaussian,
            labels: logit_reg_data::LabelScheme::Balanced,
        };
        let problem = Problem::binary(&model, 7, device).expect("problem");
        let loss = LogitRegularizedLoss::new(self.penalty.clone(), self.alpha.clone(), device)
            .expect("loss");
        let objective = Objective::Binary {
            loss: Arc::new(loss),
            weight_decay: self.weight_decay,
            sum_data_term: self.sum_data_term,
        };
        let classifier = LinearClassifierConfig::new(self.d)
            .with_runs(self.alpha.len())
            .with_init_std(0.05)
            .with_init_seed(3)
            .init(device)
            .expect("classifier");
        let spec = TrainSpec {
            optimizer: OptimizerName::Gd,
            lr: self.lr.clone(),
            steps: self.steps,
            batch_size: self.n,
            grad_tol: self.grad_tol,
            adam: (0.9, 0.999, 1e-8),
            seed: 0,
            engine,
            threads: self.threads,
            fused_kernel: self.kernel,
        };
        let mut seen = Vec::new();
        let (trained, outcome) = train(
            classifier,
            &problem,
            &objective,
            &spec,
            |step| step % 10 == 0,
            |view| seen.push(view.objective.to_vec()),
        )
        .expect("trains");
        assert_eq!(outcome.engine, engine, "the engine that was asked for ran");
        (trained.weights_f64(), seen, outcome)
    }
}

/// Both fused kernels against the Burn engine on `case`.
fn assert_engines_agree(case: &Case, device: &Device, tol: f64) {
    for kernel in KERNELS {
        let mut case = case.clone();
        case.kernel = kernel;
        assert_kernel_agrees(&case, device, tol);
    }
}

fn assert_kernel_agrees(case: &Case, device: &Device, tol: f64) {
    let (w_burn, seen_burn, out_burn) = case.train(device, EngineName::Burn);
    let (w_fused, seen_fused, out_fused) = case.train(device, EngineName::Fused);
    let weights = max_rel(&w_fused, &w_burn);
    assert!(
        weights <= tol,
        "{:?}: weights differ by {weights:e} (tol {tol:e})",
        case.kernel
    );
    assert_eq!(seen_burn.len(), seen_fused.len(), "logging steps");
    for (b, f) in seen_burn.iter().zip(&seen_fused) {
        let gap = max_rel(f, b);
        assert!(gap <= tol, "objectives {f:?} vs {b:?}");
    }
    assert_eq!(out_burn.steps, out_fused.steps);
    assert_eq!(out_burn.converged, out_fused.converged);
    assert_every_objective_fell(&seen_fused);
}

#[test]
fn fused_equals_burn_in_f64_for_every_loss_term() {
    let dev = f64_device();
    // Quadratic penalty, per-run α (including 0) and learning rates, odd N and d.
    assert_engines_agree(
        &Case::new(&[0.0, 0.1, 0.3, 0.6], &[0.05, 0.1, 0.2, 0.3]),
        &dev,
        1e-11,
    );
    // Label smoothing (f(t) = ½ log(2 + 2 cosh t)), one run: the single-run kernel.
    let mut ls = Case::new(&[0.2], &[0.5]);
    ls.penalty = Some(Arc::new(LabelSmoothing));
    assert_engines_agree(&ls, &dev, 1e-11);
    // Plain cross-entropy with the weight-decay baseline's summed data term.
    let mut wd = Case::new(&[0.0, 0.0, 0.0], &[0.002, 0.004, 0.008]);
    wd.penalty = None;
    wd.weight_decay = 0.1;
    wd.sum_data_term = true;
    assert_engines_agree(&wd, &dev, 1e-11);
    // A shape large enough to be split into several parts (N·d ≥ 2¹⁸).
    let mut big = Case::new(&[0.2, 0.4], &[0.1, 0.1]);
    big.n = 611;
    big.d = 437;
    big.steps = 20;
    assert_engines_agree(&big, &dev, 1e-11);
}

#[test]
fn fused_equals_burn_in_f32_to_single_precision() {
    let dev = f32_device();
    assert_engines_agree(&Case::new(&[0.0, 0.2, 0.5], &[0.1, 0.1, 0.2]), &dev, 2e-5);
}

#[test]
fn both_engines_stop_at_the_same_divergence_and_convergence() {
    let dev = f64_device();
    // η = 40 on the quadratic penalty at α = 0.5 overshoots: the loss grows geometrically to
    // infinity. Run 1 (η = 0.1) stays finite; the loop stops when every run diverged or at
    // the step limit.
    let mut blow = Case::new(&[0.5, 0.5], &[40.0, 0.1]);
    blow.steps = 2000;
    let (_, _, burn) = blow.train(&dev, EngineName::Burn);
    let step_of = |o: &TrainOutcome, run: usize| o.diverged[run].map(|(s, _)| s);
    assert!(step_of(&burn, 0).is_some(), "run 0 diverges: {burn:?}");
    // A gradient tolerance: both stop at the same step, with norms below it.
    let mut tol = Case::new(&[0.3, 0.5], &[0.5, 0.5]);
    tol.steps = 20_000;
    tol.grad_tol = 1e-6;
    let (_, _, burn_tol) = tol.train(&dev, EngineName::Burn);
    assert!(burn_tol.converged);
    assert!(burn_tol.steps < 20_000 && burn_tol.steps > 10);
    for kernel in KERNELS {
        blow.kernel = kernel;
        let (_, _, fused) = blow.train(&dev, EngineName::Fused);
        assert_eq!(step_of(&burn, 0), step_of(&fused, 0), "{kernel:?}");
        assert_eq!(step_of(&fused, 1), None);
        assert!(
            !fused.diverged[0]
                .map(|(_, v)| v.is_finite())
                .unwrap_or(true)
        );
        tol.kernel = kernel;
        let (_, _, fused) = tol.train(&dev, EngineName::Fused);
        assert!(fused.converged, "{kernel:?}");
        assert_eq!(burn_tol.steps, fused.steps, "{kernel:?}");
        let norms = fused.gradient_norms.expect("norms");
        assert!(norms.iter().all(|&g| g <= 1e-6), "{norms:?}");
    }
}

#[test]
fn fused_results_do_not_depend_on_the_thread_count() {
    let dev = f64_device();
    let mut case = Case::new(&[0.2, 0.4, 0.6], &[0.1, 0.2, 0.3]);
    case.n = 700;
    case.d = 500; // 3.5·10⁵ entries: two parts
    case.steps = 10;
    for kernel in KERNELS {
        case.kernel = kernel;
        case.threads = 1;
        let (one, _, _) = case.train(&dev, EngineName::Fused);
        case.threads = 2;
        let (two, _, _) = case.train(&dev, EngineName::Fused);
        case.threads = 3; // more threads than parts: capped at the part count
        let (three, _, _) = case.train(&dev, EngineName::Fused);
        assert_eq!(
            one, two,
            "{kernel:?}: bit-identical on one thread and on two"
        );
        assert_eq!(one, three, "{kernel:?}");
    }
}

#[test]
fn a_penalty_that_overflows_with_finite_margins_diverges_on_both_engines() {
    // Pseudo-Huber with δ = 1e308: f(t) = δ²(√(1 + (t/δ)²) − 1) is ∞·0 = NaN at every t, while
    // its derivative t/√(1 + (t/δ)²) ≈ t stays finite, so no margin ever looks suspect.
    let dev = f64_device();
    let mut case = Case::new(&[0.5, 0.5], &[0.1, 0.1]);
    case.penalty = Some(Arc::new(
        logit_reg_model::PseudoHuber::new(1e308).expect("δ = 1e308 is finite"),
    ));
    case.steps = 50;
    for (engine, kernel) in [
        (EngineName::Burn, FusedKernel::Auto),
        (EngineName::Fused, FusedKernel::Pipelined),
        (EngineName::Fused, FusedKernel::Blocked),
    ] {
        case.kernel = kernel;
        let (_, _, outcome) = case.train(&dev, engine);
        for run in 0..2 {
            let (step, loss) = outcome.diverged[run].expect("diverged");
            assert_eq!(step, 0, "{engine:?} run {run}");
            assert!(loss.is_nan(), "{engine:?} run {run}: {loss}");
        }
        assert_eq!(
            outcome.steps, 0,
            "{engine:?}: every run diverged, so training stopped"
        );
    }
}
