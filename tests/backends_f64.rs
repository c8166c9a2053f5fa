//! Backend parity in f64 (see `parity/mod.rs`), in its own process: Burn fixes a device's float
//! type at its first tensor. Tolerance: 1e-10 relative after 60 steps. A GPU backend without
//! working f64 must refuse `--dtype f64` naming the backend and the dtype: on lavapipe (Mesa's
//! software Vulkan) it reports f64 but computes exp(1) as 7.2e-315, and is refused. Measured on
//! 2026-11-30: ndarray ≤ 1.7e-16 from flex.

mod parity;

use logit_reg::model::Precision;

#[test]
fn every_backend_trains_as_flex_does_in_f64() {
    let worst = parity::check_parity(Precision::F64, 1e-10);
    assert!(worst.iter().all(|(_, w)| w.is_finite()));
}
