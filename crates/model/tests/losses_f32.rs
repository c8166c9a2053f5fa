//! Model tests in f32 (their own process: Burn fixes a device's float type process-wide).

mod common;

use burn::tensor::{Tensor, TensorData};
use common::{binary_penalties, check_every_backend};
use logit_reg_model::loss::check_penalty_tensor;
use logit_reg_model::penalty::LogitPenalty;
use logit_reg_model::{Backend, LabelSmoothing, Precision, make_device, to_f64_vec};

fn device() -> burn::tensor::Device {
    make_device(Backend::Flex, Precision::F32)
        .expect("flex f32")
        .autodiff()
}

#[test]
fn autodiff_gradients_match_analytic_gradients_f32() {
    check_every_backend(Precision::F32, 1e-5);
}

#[test]
fn label_smoothing_is_stable_at_large_logits_f32() {
    let dev = device();
    let t = Tensor::<2>::from_data(TensorData::new(vec![1e4f32, -1e4, 0.0, 80.0], [4, 1]), &dev)
        .require_grad();
    let f = LabelSmoothing.apply(t.clone());
    let values = to_f64_vec(f.clone());
    assert_eq!(values[..2], [5000.0, 5000.0]);
    assert!((values[2] - 2f64.ln()).abs() < 1e-6);
    assert_eq!(values[3], 40.0);
    let g = to_f64_vec(t.grad(&f.sum().backward()).expect("gradient"));
    assert_eq!(g, vec![0.5, -0.5, 0.0, 0.5]);
}

#[test]
fn tensor_forms_match_scalar_forms_f32() {
    let dev = device();
    for penalty in binary_penalties().into_iter().flatten() {
        check_penalty_tensor(penalty.as_ref(), &dev, 2e-6).expect("tensor = scalar in f32");
    }
}
