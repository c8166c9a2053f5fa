//! The multilayer perceptron against a forward pass written with plain `f64` loops from its
//! initial parameters, its gradient against central finite differences of that host forward
//! pass, the batch of M runs against M single runs, and the linear classifier's view of its
//! features and head.

mod common;

use burn::tensor::{Tensor, TensorData};
use common::{act, assert_gradient, device, inputs, logit_weights};
use logit_reg_model::{
    Activation, LinearClassifierConfig, LogitModel, MlpConfig, ModelError, to_f64_vec,
};

/// The logits `[n, M, K]` of `config`'s network with parameters `params` (as
/// `initial_parameters` lays them out), by plain loops.
fn host_forward(
    config: &MlpConfig,
    params: &[(Vec<f64>, Vec<f64>)],
    x: &[f64],
    n: usize,
) -> Vec<f64> {
    let sizes = config.layer_sizes();
    let (m, k) = (config.runs, config.classes);
    let mut out = vec![0.0; n * m * k];
    for run in 0..m {
        for i in 0..n {
            let mut h: Vec<f64> = x[i * config.d..(i + 1) * config.d].to_vec();
            for (l, &(fan_in, fan_out)) in sizes.iter().enumerate() {
                let (w, b) = &params[l];
                let mut next = vec![0.0; fan_out];
                for (o, v) in next.iter_mut().enumerate() {
                    *v = b[run * fan_out + o]
                        + (0..fan_in)
                            .map(|j| h[j] * w[(run * fan_in + j) * fan_out + o])
                            .sum::<f64>();
                }
                h = if l + 1 < sizes.len() {
                    next.into_iter()
                        .map(|v| act(config.activation, v))
                        .collect()
                } else {
                    next
                };
            }
            out[(i * m + run) * k..(i * m + run + 1) * k].copy_from_slice(&h);
        }
    }
    out
}

fn config(activation: Activation) -> MlpConfig {
    MlpConfig::new(4, vec![6, 5], 3)
        .with_runs(2)
        .with_activation(activation)
        .with_init_seed(9)
}

#[test]
fn forward_matches_the_host_forward_pass_for_every_activation() {
    let (n, dev) = (7, device());
    let x = inputs(n, 4);
    for activation in [Activation::Relu, Activation::Gelu, Activation::Tanh] {
        let cfg = config(activation);
        let model = cfg.init(&dev).expect("init");
        let xt = Tensor::<2>::from_data(TensorData::new(x.clone(), [n, 4]), &dev);
        let logits = model.logits(xt.clone());
        assert_eq!(logits.dims(), [n, 2, 3]);
        let expected = host_forward(&cfg, &cfg.initial_parameters(), &x, n);
        for (a, b) in to_f64_vec(logits).iter().zip(&expected) {
            assert!((a - b).abs() < 1e-12, "{activation:?}: {a} vs {b}");
        }
        let features = model.features(xt).expect("features");
        assert_eq!(features.dims(), [2, n, 5], "[M, N, last hidden width]");
    }
}

#[test]
fn gradient_matches_central_finite_differences() {
    // Loss: Σ_{i,m,c} a_{imc} z_{imc} with fixed weights a (any smooth function of the logits
    // checks the chain rule); tanh keeps the network smooth.
    let (n, dev) = (5, device().autodiff());
    let cfg = config(Activation::Tanh);
    let params = cfg.initial_parameters();
    let x = inputs(n, 4);
    let a = logit_weights(n * 2 * 3);
    let loss = |p: &[(Vec<f64>, Vec<f64>)]| -> f64 {
        host_forward(&cfg, p, &x, n)
            .iter()
            .zip(&a)
            .map(|(z, w)| z * w)
            .sum()
    };
    let model = cfg.init(&dev).expect("init");
    let xt = Tensor::<2>::from_data(TensorData::new(x.clone(), [n, 4]), &dev);
    let at = Tensor::<3>::from_data(TensorData::new(a.clone(), [n, 2, 3]), &dev);
    let grads = (model.logits(xt) * at).sum().backward();
    for (layer, entries) in [
        (0usize, [0usize, 13, 47]),
        (1, [2, 29, 55]),
        (2, [0, 7, 29]),
    ] {
        let g = to_f64_vec(model.layers[layer].weight.grad(&grads).expect("grad"));
        assert_gradient(loss, &params, layer, false, &g, &entries);
    }
    let gb = to_f64_vec(
        model.layers[2]
            .bias
            .as_ref()
            .expect("head bias")
            .grad(&grads)
            .expect("grad"),
    );
    assert_gradient(loss, &params, 2, true, &gb, &[4]);
}

#[test]
fn a_batch_of_runs_starts_where_single_runs_would() {
    let dev = device();
    let (n, x) = (3, inputs(3, 4));
    let xt = Tensor::<2>::from_data(TensorData::new(x, [n, 4]), &dev);
    let batch = to_f64_vec(
        config(Activation::Relu)
            .init(&dev)
            .expect("init")
            .logits(xt.clone()),
    );
    for run in 0..2 {
        let single = config(Activation::Relu)
            .with_runs(1)
            .with_first_run(run as u64)
            .init(&dev)
            .expect("init");
        let z = to_f64_vec(single.logits(xt.clone()));
        for i in 0..n {
            assert_eq!(
                &z[i * 3..i * 3 + 3],
                &batch[(i * 2 + run) * 3..(i * 2 + run) * 3 + 3]
            );
        }
    }
}

#[test]
fn initialisation_bounds_bias_option_and_bad_configs() {
    let cfg = config(Activation::Relu).with_bias(false);
    for (l, ((w, b), (fan_in, _))) in cfg
        .initial_parameters()
        .iter()
        .zip(cfg.layer_sizes())
        .enumerate()
    {
        let bound = 1.0 / (fan_in as f64).sqrt();
        assert!(w.iter().all(|v| v.abs() <= bound) && w.iter().any(|v| v.abs() > bound / 2.0));
        // Without bias only the head has one.
        assert_eq!(b.iter().all(|&v| v == 0.0), l < 2, "layer {l}");
    }
    let model = cfg.init(&device()).expect("init");
    assert!(model.layers[0].bias.is_none() && model.layers[2].bias.is_some());
    for (bad, field) in [
        (MlpConfig::new(4, vec![], 3), "model.hidden"),
        (MlpConfig::new(4, vec![8, 0], 3), "model.hidden"),
        (MlpConfig::new(4, vec![8], 0), "model.classes"),
        (MlpConfig::new(0, vec![8], 3), "model.d"),
    ] {
        match bad.validate() {
            Err(ModelError::OutOfRange { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[test]
fn the_linear_classifier_reads_its_inputs_and_exposes_its_head() {
    let dev = device();
    let model = LinearClassifierConfig::new(3)
        .with_runs(2)
        .with_classes(4)
        .with_init_std(1.0)
        .init(&dev)
        .expect("init");
    let w = model.weights_f64();
    let (head, bias) = model.head().expect("head");
    // head[m, j, c] = weights[j, m·C + c].
    for run in 0..2 {
        for j in 0..3 {
            for c in 0..4 {
                assert_eq!(head[(run * 3 + j) * 4 + c], w[j * 8 + run * 4 + c]);
            }
        }
    }
    assert_eq!(bias.map(|b| b.len()), Some(8));
    let x = Tensor::<2>::from_data(TensorData::new(inputs(5, 3), [5, 3]), &dev);
    let features = model.features(x.clone()).expect("features");
    assert_eq!(features.dims(), [1, 5, 3]);
    assert_eq!(to_f64_vec(features), to_f64_vec(x));
}
