//! The unit draws kept across batches (`experiments::run::unit_draw`): a batch's train and test
//! sets rescaled from a kept draw must be, bit for bit, the sets its model draws afresh, and
//! the batches of one draw must share it. The oracle is `SignalPlusNoise::generate`.

use std::sync::Arc;

use experiments::run::{UNIT_DRAWS_KEPT, rescaled_draw, unit_draw};
use logit_reg_data::{LabelScheme, Noise, SignalPlusNoise, TScale};

fn model(d: usize, mu_f: f64, sigma_f: f64, sigma_n: f64, noise: Noise) -> SignalPlusNoise {
    SignalPlusNoise {
        n: 30,
        n_test: 45,
        d,
        mu_f,
        sigma_f,
        sigma_n,
        noise,
        labels: LabelScheme::Balanced,
    }
}

#[test]
fn batches_of_one_draw_share_it_and_rescaled_are_the_fresh_draws_bit_for_bit() {
    // The tests of a file share one process and run on parallel threads, so all the draws
    // are in this one test: nothing else evicts them between the calls.
    const { assert!(UNIT_DRAWS_KEPT >= 2) };
    let a = unit_draw(&model(13, 1.0, 0.0, 1.0, Noise::Gaussian), 7).expect("valid");
    let b = unit_draw(&model(13, 0.2, 0.9, 3.0, Noise::Gaussian), 7).expect("valid");
    assert!(
        Arc::ptr_eq(&a, &b),
        "σ's and μ_f do not change the unit draw"
    );
    let other_seed = unit_draw(&model(13, 1.0, 0.0, 1.0, Noise::Gaussian), 8).expect("valid");
    assert!(!Arc::ptr_eq(&a, &other_seed));
    assert_ne!(a.train.x, other_seed.train.x);
    let again = unit_draw(&model(13, 0.5, 0.5, 0.5, Noise::Gaussian), 7).expect("valid");
    assert!(
        Arc::ptr_eq(&a, &again),
        "kept while fewer than UNIT_DRAWS_KEPT came after it"
    );

    let t = Noise::StudentT {
        nu: 3.0,
        scale: TScale::UnitVariance,
    };
    for noise in [Noise::Gaussian, t] {
        for (mu_f, sigma_f, sigma_n) in [(1.0, 0.0, 1.0), (1.0, 0.5, 2.0), (0.3, 1.7, 0.25)] {
            for seed in [3, 4] {
                let m = model(11, mu_f, sigma_f, sigma_n, noise);
                let fresh = m.generate(seed).expect("a valid model");
                let kept = rescaled_draw(&m, seed).expect("a valid model");
                assert_eq!(
                    kept, fresh,
                    "{noise:?} μ_f {mu_f} σ_f {sigma_f} σ_n {sigma_n} seed {seed}"
                );
            }
        }
    }
}

#[test]
fn a_model_out_of_range_is_an_error_naming_its_field() {
    let bad = model(5, 1.0, -0.5, 1.0, Noise::Gaussian);
    let err = rescaled_draw(&bad, 1).expect_err("σ_f < 0");
    assert!(err.to_string().contains("sigma_f"), "{err}");
}
