//! What the engine-comparison tests share: the devices of the two precisions and the
//! relative gap between two results.

use burn::tensor::Device;
use logit_reg_model::{Backend, Precision, make_device};

/// f64 on the flex backend, with autodiff.
pub fn f64_device() -> Device {
    make_device(Backend::Flex, Precision::F64)
        .expect("flex f64")
        .autodiff()
}

/// f32 on the ndarray backend (so that both precisions live in one process), with autodiff.
pub fn f32_device() -> Device {
    make_device(Backend::Ndarray, Precision::F32)
        .expect("ndarray f32")
        .autodiff()
}

/// Largest |a − b| / (1 + |b|) over two equally long sequences.
pub fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
        .fold(0.0, f64::max)
}

/// Every run's objective at the last logging step is below its first: the runs moved, since a
/// loop that did nothing would agree with the reference trivially.
///
/// # Shapes
/// - `seen`: one `[M]` row of objectives per logging step
pub fn assert_every_objective_fell(seen: &[Vec<f64>]) {
    let moved = seen[0]
        .iter()
        .zip(seen.last().expect("rows"))
        .all(|(first, last)| last < first);
    assert!(moved, "every run's objective falls: {seen:?}");
}
