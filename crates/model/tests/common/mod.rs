//! Shared helpers of the model tests: seeded random problems and analytic gradients written
//! with plain `f64` loops, independent of Burn; and, for the network tests (`mlp.rs`,
//! `cnn.rs`), the device, deterministic inputs, the activations written out and the
//! finite-difference check of a gradient.

#![allow(dead_code)]

use std::sync::Arc;

use logit_reg_model::penalty::{LogitPenalty, MultiClassPenalty};
use logit_reg_model::target::{per_sample_loss, per_sample_loss_derivative, sigmoid};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A user-supplied penalty, defined here and not in the library: `f(t) = log cosh t`.
#[derive(Debug)]
pub struct LogCosh;

impl LogitPenalty for LogCosh {
    fn name(&self) -> String {
        "log-cosh".into()
    }
    fn apply(&self, t: burn::tensor::Tensor<2>) -> burn::tensor::Tensor<2> {
        let a = t.abs();
        a.clone() + (a * -2.0).exp().log1p() - std::f64::consts::LN_2
    }
    fn value(&self, t: f64) -> f64 {
        t.abs() + (-2.0 * t.abs()).exp().ln_1p() - std::f64::consts::LN_2
    }
    fn derivative(&self, t: f64) -> f64 {
        t.tanh()
    }
    fn second_derivative(&self, t: f64) -> f64 {
        1.0 - t.tanh().powi(2)
    }
}

/// Every binary penalty under test: the built-ins and the user-supplied one.
pub fn binary_penalties() -> Vec<Option<Arc<dyn LogitPenalty>>> {
    use logit_reg_model::{LabelSmoothing, Power, PseudoHuber, Quadratic};
    vec![
        None,
        Some(Arc::new(Quadratic)),
        Some(Arc::new(LabelSmoothing)),
        Some(Arc::new(PseudoHuber::new(1.5).expect("valid"))),
        Some(Arc::new(Power::new(3.0).expect("valid"))),
        Some(Arc::new(LogCosh)),
    ]
}

/// iid N(0, scale²) values from a seeded generator.
pub fn gaussian(n: usize, scale: f64, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            // Box–Muller, enough for test inputs.
            let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-300), rng.random::<f64>());
            scale * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        })
        .collect()
}

/// Analytic gradient of `L_m(S) = (1/N) Σ_i ℓ_m(t_i)`, `t_i = (y_i x_i)ᵀ S_m`, with respect to
/// `S` (row-major `[d, M]`): `∂L_m/∂S_{j,m} = (1/N) Σ_i ℓ′_m(t_{i,m}) (y x)_{i,j}`.
pub fn binary_gradient(
    penalty: Option<&dyn LogitPenalty>,
    alpha: &[f64],
    yx: &[f64],
    s: &[f64],
    n: usize,
    d: usize,
) -> Vec<f64> {
    let m = alpha.len();
    let mut grad = vec![0.0; d * m];
    for i in 0..n {
        for run in 0..m {
            let t: f64 = (0..d).map(|j| yx[i * d + j] * s[j * m + run]).sum();
            let dl = match penalty {
                Some(p) => per_sample_loss_derivative(p, alpha[run], t),
                None => -sigmoid(-t),
            };
            for j in 0..d {
                grad[j * m + run] += dl * yx[i * d + j] / n as f64;
            }
        }
    }
    grad
}

/// Analytic gradients of the K-class loss of M runs with respect to `W` (`[d, M·K]`) and `b`
/// (`[M·K]`): `∂ℓ/∂z = (1 − α)(softmax(z) − onehot(y)) + α ∇f(z)`.
#[allow(clippy::too_many_arguments)]
pub fn multiclass_gradient(
    penalty: Option<&dyn MultiClassPenalty>,
    alpha: &[f64],
    x: &[f64],
    labels: &[usize],
    w: &[f64],
    b: &[f64],
    d: usize,
    k: usize,
) -> (Vec<f64>, Vec<f64>) {
    let (n, m) = (labels.len(), alpha.len());
    let mut gw = vec![0.0; d * m * k];
    let mut gb = vec![0.0; m * k];
    for i in 0..n {
        for (run, &a) in alpha.iter().enumerate() {
            let z: Vec<f64> = (0..k)
                .map(|c| {
                    let col = run * k + c;
                    b[col]
                        + (0..d)
                            .map(|j| x[i * d + j] * w[j * m * k + col])
                            .sum::<f64>()
                })
                .collect();
            let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
            let s: f64 = e.iter().sum();
            let grad_f = penalty.map(|p| p.gradient(&z));
            for c in 0..k {
                let p = e[c] / s - f64::from(u8::from(c == labels[i]));
                let mut dz = (1.0 - a) * p;
                if let Some(gf) = &grad_f {
                    dz += a * gf[c];
                }
                let col = run * k + c;
                gb[col] += dz / n as f64;
                for j in 0..d {
                    gw[j * m * k + col] += dz * x[i * d + j] / n as f64;
                }
            }
        }
    }
    (gw, gb)
}

/// Max |a − b| divided by max |b| (the gradient's scale).
pub fn relative_max_error(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0_f64, |m, v| m.max(v.abs())).max(1e-300);
    a.iter()
        .zip(b)
        .fold(0.0_f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

use burn::module::Param;
use burn::tensor::{Device, Int, Tensor, TensorData};
use logit_reg_model::{
    DataTerm, LinearClassifierConfig, LogitRegularizedLoss, MultiClassLogitLoss, WeightDecayLoss,
    to_f64_vec,
};

/// A classifier of `runs` runs whose weights (and bias) are set to the given host values.
pub fn classifier_with(
    device: &Device,
    d: usize,
    runs: usize,
    classes: usize,
    w: &[f64],
    b: Option<&[f64]>,
) -> logit_reg_model::LinearClassifier {
    let mut model = LinearClassifierConfig::new(d)
        .with_runs(runs)
        .with_classes(classes)
        .init(device)
        .expect("valid config");
    let cols = runs * classes;
    model.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(w.to_vec(), [d, cols]),
        device,
    ));
    if let Some(b) = b {
        model.bias = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(b.to_vec(), [cols]),
            device,
        )));
    }
    model
}

/// Checks the autodiff gradient of every binary penalty, the weight-decay baseline and the
/// multi-class losses against the analytic gradients, on an autodiff `device`, with relative
/// tolerance `tol`. Returns the worst relative error seen.
pub fn check_all_gradients(device: &Device, tol: f64) -> f64 {
    let (n, d) = (9, 6);
    let alpha = [0.0, 0.3, 0.7];
    let m = alpha.len();
    let yx = gaussian(n * d, 1.0, 1);
    let s = gaussian(d * m, 0.8, 2);
    let yx_t = Tensor::<2>::from_data(TensorData::new(yx.clone(), [n, d]), device);
    let mut worst = 0.0_f64;

    for penalty in binary_penalties() {
        let alpha_used: Vec<f64> = if penalty.is_some() {
            alpha.to_vec()
        } else {
            vec![0.0; m]
        };
        let model = classifier_with(device, d, m, 1, &s, None);
        let loss = LogitRegularizedLoss::new(penalty.clone(), alpha_used.clone(), device)
            .expect("valid loss");
        let out = loss.forward(model.forward_binary(yx_t.clone()));
        let values = to_f64_vec(out.mean.clone());
        let grads = out.total().backward();
        let got = to_f64_vec(model.weight.grad(&grads).expect("weight gradient"));
        let want = binary_gradient(penalty.as_deref(), &alpha_used, &yx, &s, n, d);
        let err = relative_max_error(&got, &want);
        let name = penalty.as_ref().map_or("none".to_string(), |p| p.name());
        // The objective itself: the mean over samples of ℓ(t) = (1 − α) log(1 + e^{−t}) + α f(t).
        let want_values: Vec<f64> = (0..m)
            .map(|run| {
                (0..n)
                    .map(|i| {
                        let t: f64 = (0..d).map(|j| yx[i * d + j] * s[j * m + run]).sum();
                        match penalty.as_deref() {
                            Some(p) => per_sample_loss(p, alpha_used[run], t),
                            None => logit_reg_model::target::softplus(-t),
                        }
                    })
                    .sum::<f64>()
                    / n as f64
            })
            .collect();
        let value_err = relative_max_error(&values, &want_values);
        assert!(
            value_err <= tol,
            "{name}: relative loss error {value_err:e} > {tol:e}"
        );
        worst = worst.max(value_err);
        assert!(
            err <= tol,
            "{name}: relative gradient error {err:e} > {tol:e}"
        );
        worst = worst.max(err);
    }

    // Weight decay, both data terms: ∇ = ∇D + γ S.
    for (data_term, scale) in [(DataTerm::Mean, 1.0), (DataTerm::Sum, n as f64)] {
        let model = classifier_with(device, d, m, 1, &s, None);
        let loss = WeightDecayLoss::new(0.2, data_term).expect("valid");
        let out = loss.forward(model.forward_binary(yx_t.clone()), model.weight.val());
        let grads = out.total().backward();
        let got = to_f64_vec(model.weight.grad(&grads).expect("weight gradient"));
        let ce = binary_gradient(None, &[0.0; 3], &yx, &s, n, d);
        let want: Vec<f64> = ce
            .iter()
            .zip(&s)
            .map(|(g, w)| scale * g + 0.2 * w)
            .collect();
        let err = relative_max_error(&got, &want);
        assert!(err <= tol, "weight decay {data_term:?}: error {err:e}");
        worst = worst.max(err);
    }

    // Multi-class, K = 4, M = 3, both multi-class penalties and plain CE.
    let k = 4;
    let x = gaussian(n * d, 1.0, 3);
    let labels: Vec<usize> = (0..n).map(|i| (i * 7 + 3) % k).collect();
    let w = gaussian(d * m * k, 0.7, 4);
    let b = gaussian(m * k, 0.5, 5);
    let x_t = Tensor::<2>::from_data(TensorData::new(x.clone(), [n, d]), device);
    let labels_t = Tensor::<1, Int>::from_data(
        TensorData::new(labels.iter().map(|&l| l as i64).collect::<Vec<_>>(), [n]),
        device,
    );
    let multiclass: Vec<Option<Arc<dyn MultiClassPenalty>>> = vec![
        None,
        Some(Arc::new(logit_reg_model::ElementwiseSum(Arc::new(
            logit_reg_model::Quadratic,
        )))),
        Some(Arc::new(logit_reg_model::SoftmaxLabelSmoothing)),
        Some(Arc::new(logit_reg_model::ElementwiseSum(Arc::new(LogCosh)))),
    ];
    for penalty in multiclass {
        let alpha_used: Vec<f64> = if penalty.is_some() {
            alpha.to_vec()
        } else {
            vec![0.0; m]
        };
        let model = classifier_with(device, d, m, k, &w, Some(&b));
        let loss = MultiClassLogitLoss::new(penalty.clone(), alpha_used.clone(), device)
            .expect("valid loss");
        let grads = loss
            .forward(model.forward(x_t.clone()), labels_t.clone())
            .total()
            .backward();
        let got_w = to_f64_vec(model.weight.grad(&grads).expect("weight gradient"));
        let bias = model.bias.as_ref().expect("multi-class has a bias");
        let got_b = to_f64_vec(bias.grad(&grads).expect("bias gradient"));
        let (want_w, want_b) =
            multiclass_gradient(penalty.as_deref(), &alpha_used, &x, &labels, &w, &b, d, k);
        let name = penalty.map_or("none".to_string(), |p| p.name());
        for (what, err) in [
            ("W", relative_max_error(&got_w, &want_w)),
            ("b", relative_max_error(&got_b, &want_b)),
        ] {
            assert!(
                err <= tol,
                "multi-class {name} {what}: error {err:e} > {tol:e}"
            );
            worst = worst.max(err);
        }
    }
    worst
}

/// [`check_all_gradients`] on every compiled backend (flex and ndarray by default; wgpu with
/// `--features wgpu`) in `precision`, with relative tolerance `tol`. A GPU backend without the
/// precision must refuse it with an error naming the backend and the dtype (and is skipped).
pub fn check_every_backend(precision: logit_reg_model::Precision, tol: f64) {
    use logit_reg_model::{Backend, make_device};
    for backend in Backend::compiled() {
        let device = match make_device(backend, precision) {
            Ok(device) => device.autodiff(),
            Err(e) => {
                let text = e.to_string();
                assert!(!backend.is_cpu(), "{}: {text}", backend.name());
                assert!(
                    text.contains(precision.name()) && text.contains(backend.name()),
                    "{text}"
                );
                eprintln!("{}: skipped: {text}", backend.name());
                continue;
            }
        };
        let worst = check_all_gradients(&device, tol);
        eprintln!("{}: worst relative error {worst:e}", backend.name());
        assert!(worst.is_finite());
    }
}

// ---- The network tests.

use logit_reg_model::{Activation, Backend, Precision, make_device};

/// A network's parameters as `initial_parameters` lays them out: per layer, weights and biases.
pub type Parameters = [(Vec<f64>, Vec<f64>)];

pub fn device() -> Device {
    make_device(Backend::Flex, Precision::F64).expect("flex f64")
}

/// Inputs `[n, d]`, value `sin(1 + 0.7 i + 1.3 j)`: no two pixels tie, so a max pool has a
/// unique maximum and the networks are differentiable at these inputs.
pub fn inputs(n: usize, d: usize) -> Vec<f64> {
    (0..n * d)
        .map(|k| (1.0 + 0.7 * (k / d) as f64 + 1.3 * (k % d) as f64).sin())
        .collect()
}

pub fn act(a: Activation, v: f64) -> f64 {
    match a {
        Activation::Relu => v.max(0.0),
        // x Φ(x) with Φ through erf, as Burn's exact gelu.
        Activation::Gelu => 0.5 * v * (1.0 + libm::erf(v / std::f64::consts::SQRT_2)),
        Activation::Tanh => v.tanh(),
    }
}

/// Fixed weights `a` of the test loss `Σ a_k z_k` (any smooth function of the logits checks the
/// chain rule), in [−1, 1].
pub fn logit_weights(len: usize) -> Vec<f64> {
    (0..len)
        .map(|k| ((k * 37 % 11) as f64 - 5.0) / 5.0)
        .collect()
}

/// Asserts that `gradient[e]` (of layer `layer`'s weights, or biases when `bias`) equals the
/// central difference of `loss` at `params` with step 1e-6, to 1e-7, for each entry `e`.
pub fn assert_gradient(
    loss: impl Fn(&Parameters) -> f64,
    params: &Parameters,
    layer: usize,
    bias: bool,
    gradient: &[f64],
    entries: &[usize],
) {
    let h = 1e-6;
    for &e in entries {
        let bump = |delta: f64| {
            let mut p = params.to_vec();
            if bias {
                p[layer].1[e] += delta;
            } else {
                p[layer].0[e] += delta;
            }
            loss(&p)
        };
        let fd = (bump(h) - bump(-h)) / (2.0 * h);
        assert!(
            (gradient[e] - fd).abs() < 1e-7,
            "layer {layer} {} {e}: {} vs {fd}",
            if bias { "bias" } else { "weight" },
            gradient[e]
        );
    }
}
