//! The convolutional network against a forward pass written with plain `f64` loops from its
//! initial parameters (convolution with zero padding, activation, 2 × 2 max pool, channel-major
//! flatten, head), its gradient against central finite differences of that host pass, and the
//! batch of M runs (a shared first convolution, then grouped ones) against M single runs.

mod common;

use burn::tensor::{Tensor, TensorData};
use common::{act, assert_gradient, device, inputs, logit_weights};
use logit_reg_data::real::ImageShape;
use logit_reg_model::{Activation, ConvNetConfig, LogitModel, ModelError, to_f64_vec};

fn image(channels: usize, height: usize, width: usize) -> ImageShape {
    ImageShape {
        channels,
        height,
        width,
    }
}

/// The logits `[n, M, K]` of `config`'s network with parameters `params` (as
/// `initial_parameters` lays them out), by plain loops over one sample and one run at a time.
fn host_forward(
    config: &ConvNetConfig,
    params: &[(Vec<f64>, Vec<f64>)],
    x: &[f64],
    n: usize,
) -> Vec<f64> {
    let (m, k, classes) = (config.runs, config.kernel_size, config.classes);
    let pad = (k / 2) as isize;
    let d = config.image.len();
    let mut out = vec![0.0; n * m * classes];
    for run in 0..m {
        for i in 0..n {
            // The feature map [c, h, w].
            let (mut c, mut h, mut w) = (
                config.image.channels,
                config.image.height,
                config.image.width,
            );
            let mut map: Vec<f64> = x[i * d..(i + 1) * d].to_vec();
            for (l, &c_out) in config.channels.iter().enumerate() {
                let (weights, biases) = &params[l];
                let per_run = c_out * c * k * k;
                let mut next = vec![0.0; c_out * h * w];
                for o in 0..c_out {
                    for r in 0..h {
                        for s in 0..w {
                            let mut v = biases[run * c_out + o];
                            for ci in 0..c {
                                for u in 0..k {
                                    for t in 0..k {
                                        let (rr, ss) = (
                                            r as isize + u as isize - pad,
                                            s as isize + t as isize - pad,
                                        );
                                        if rr < 0 || ss < 0 || rr >= h as isize || ss >= w as isize
                                        {
                                            continue;
                                        }
                                        let wi = run * per_run + ((o * c + ci) * k + u) * k + t;
                                        v += weights[wi]
                                            * map[(ci * h + rr as usize) * w + ss as usize];
                                    }
                                }
                            }
                            next[(o * h + r) * w + s] = act(config.activation, v);
                        }
                    }
                }
                c = c_out;
                map = next;
                if h >= 2 && w >= 2 {
                    let (ph, pw) = (h / 2, w / 2);
                    let mut pooled = vec![0.0; c * ph * pw];
                    for ch in 0..c {
                        for r in 0..ph {
                            for s in 0..pw {
                                pooled[(ch * ph + r) * pw + s] = [(0, 0), (0, 1), (1, 0), (1, 1)]
                                    .iter()
                                    .map(|&(a, b)| map[(ch * h + 2 * r + a) * w + 2 * s + b])
                                    .fold(f64::NEG_INFINITY, f64::max);
                            }
                        }
                    }
                    (h, w, map) = (ph, pw, pooled);
                }
            }
            let f = map.len();
            let (hw, hb) = &params[config.channels.len()];
            for class in 0..classes {
                out[(i * m + run) * classes + class] = hb[run * classes + class]
                    + (0..f)
                        .map(|j| map[j] * hw[(run * f + j) * classes + class])
                        .sum::<f64>();
            }
        }
    }
    out
}

/// Two runs, 2-channel 5 × 6 images (odd height: the pool floors it), two convolutions.
fn config(activation: Activation) -> ConvNetConfig {
    ConvNetConfig::new(image(2, 5, 6), vec![3, 4], 3)
        .with_runs(2)
        .with_activation(activation)
        .with_init_seed(5)
}

#[test]
fn forward_matches_the_host_forward_pass_for_every_activation_and_kernel() {
    let (n, dev) = (4, device());
    let x = inputs(n, 60);
    for (activation, kernel) in [
        (Activation::Relu, 3),
        (Activation::Gelu, 3),
        (Activation::Tanh, 1),
        (Activation::Tanh, 5),
    ] {
        let cfg = config(activation).with_kernel_size(kernel);
        let model = cfg.init(&dev).expect("init");
        let xt = Tensor::<2>::from_data(TensorData::new(x.clone(), [n, 60]), &dev);
        let logits = model.logits(xt.clone());
        assert_eq!(logits.dims(), [n, 2, 3]);
        let expected = host_forward(&cfg, &cfg.initial_parameters(), &x, n);
        for (a, b) in to_f64_vec(logits).iter().zip(&expected) {
            assert!(
                (a - b).abs() < 1e-12,
                "{activation:?} k={kernel}: {a} vs {b}"
            );
        }
        // 5×6 → 2×3 → 1×1: F = 4 channels.
        assert_eq!(cfg.spatial_sizes(), vec![(2, 3), (1, 1)]);
        let features = model.features(xt).expect("features");
        assert_eq!(features.dims(), [2, n, 4], "[M, N, F]");
    }
}

#[test]
fn pooling_stops_once_a_side_is_below_two() {
    // 4×4 → 2×2 → 1×1 → 1×1 (no pool at the third block).
    let cfg = ConvNetConfig::new(image(1, 4, 4), vec![2, 2, 3], 2);
    assert_eq!(cfg.spatial_sizes(), vec![(2, 2), (1, 1), (1, 1)]);
    assert_eq!(cfg.feature_count(), 3);
    let (n, dev) = (3, device());
    let x = inputs(n, 16);
    let model = cfg.init(&dev).expect("init");
    let z = model.logits(Tensor::<2>::from_data(
        TensorData::new(x.clone(), [n, 16]),
        &dev,
    ));
    let expected = host_forward(&cfg, &cfg.initial_parameters(), &x, n);
    for (a, b) in to_f64_vec(z).iter().zip(&expected) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
}

#[test]
fn gradient_matches_central_finite_differences() {
    // Loss: Σ a_{imc} z_{imc} with fixed weights a; tanh keeps the network smooth, and the
    // inputs have no ties for the max pool.
    let (n, dev) = (3, device().autodiff());
    let cfg = config(Activation::Tanh);
    let params = cfg.initial_parameters();
    let x = inputs(n, 60);
    let a = logit_weights(n * 2 * 3);
    let loss = |p: &[(Vec<f64>, Vec<f64>)]| -> f64 {
        host_forward(&cfg, p, &x, n)
            .iter()
            .zip(&a)
            .map(|(z, w)| z * w)
            .sum()
    };
    let model = cfg.init(&dev).expect("init");
    let xt = Tensor::<2>::from_data(TensorData::new(x.clone(), [n, 60]), &dev);
    let at = Tensor::<3>::from_data(TensorData::new(a.clone(), [n, 2, 3]), &dev);
    let grads = (model.logits(xt) * at).sum().backward();
    let check = |layer: usize, bias: bool, g: &[f64], entries: &[usize]| {
        assert_gradient(loss, &params, layer, bias, g, entries)
    };
    // Run 1's entries too: the grouped convolution must route each run's gradient to it.
    let w0 = to_f64_vec(model.convs[0].weight.grad(&grads).expect("grad"));
    check(0, false, &w0, &[0, 17, 53, 54 + 31]);
    let w1 = to_f64_vec(model.convs[1].weight.grad(&grads).expect("grad"));
    check(1, false, &w1, &[3, 50, 108 + 7, 108 + 99]);
    let b1 = to_f64_vec(
        model.convs[1]
            .bias
            .as_ref()
            .expect("bias")
            .grad(&grads)
            .expect("grad"),
    );
    check(1, true, &b1, &[1, 6]);
    let hw = to_f64_vec(model.head.weight.grad(&grads).expect("grad"));
    check(2, false, &hw, &[0, 5, 12 + 11]);
}

#[test]
fn a_batch_of_runs_starts_where_single_runs_would() {
    let dev = device();
    let (n, x) = (3, inputs(3, 60));
    let xt = Tensor::<2>::from_data(TensorData::new(x, [n, 60]), &dev);
    let cfg = config(Activation::Relu).with_runs(3);
    let batch = to_f64_vec(cfg.init(&dev).expect("init").logits(xt.clone()));
    for run in 0..3 {
        let single = cfg
            .clone()
            .with_runs(1)
            .with_first_run(run as u64)
            .init(&dev)
            .expect("init");
        let z = to_f64_vec(single.logits(xt.clone()));
        for i in 0..n {
            let (a, b) = (
                &z[i * 3..i * 3 + 3],
                &batch[(i * 3 + run) * 3..(i * 3 + run) * 3 + 3],
            );
            for (u, v) in a.iter().zip(b) {
                assert!((u - v).abs() < 1e-13, "run {run} sample {i}: {u} vs {v}");
            }
        }
    }
}

#[test]
fn initialisation_bounds_bias_option_and_bad_configs() {
    let cfg = config(Activation::Relu).with_bias(false);
    let params = cfg.initial_parameters();
    // fan_in: 2·9, 3·9, then F = 4.
    for (l, fan_in) in [18usize, 27, 4].into_iter().enumerate() {
        let (w, b) = &params[l];
        let bound = 1.0 / (fan_in as f64).sqrt();
        assert!(w.iter().all(|v| v.abs() <= bound) && w.iter().any(|v| v.abs() > bound / 2.0));
        assert_eq!(b.iter().all(|&v| v == 0.0), l < 2, "layer {l}");
    }
    let model = cfg.init(&device()).expect("init");
    assert!(model.convs.iter().all(|c| c.bias.is_none()) && model.head.bias.is_some());
    assert_eq!(model.convs[0].groups, 1);
    assert_eq!(model.convs[1].groups, 2);
    for (bad, field) in [
        (
            ConvNetConfig::new(image(1, 4, 4), vec![], 3),
            "model.channels",
        ),
        (
            ConvNetConfig::new(image(1, 4, 4), vec![2, 0], 3),
            "model.channels",
        ),
        (
            ConvNetConfig::new(image(1, 4, 4), vec![2], 3).with_kernel_size(4),
            "model.kernel_size",
        ),
        (
            ConvNetConfig::new(image(1, 4, 4), vec![2], 1),
            "model.classes",
        ),
        (ConvNetConfig::new(image(0, 4, 4), vec![2], 3), "data.image"),
    ] {
        match bad.validate() {
            Err(ModelError::OutOfRange { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
}
