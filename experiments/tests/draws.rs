//! The unit draws and problems kept across batches (`experiments::run::unit_draw`,
//! `experiments::run::signal_noise_problem`): a batch's train and test sets rescaled from a
//! kept draw must be, bit for bit, the sets its model draws afresh, the batches of one draw
//! must share it, and a kept problem (or one built again with its kept LDA direction) must be
//! the problem built from the fresh draw. The oracles
//! are `SignalPlusNoise::generate` and `Problem::binary_split`.

use std::sync::Arc;

use experiments::run::{
    PROBLEMS_KEPT, UNIT_DRAWS_KEPT, rescaled_draw, signal_noise_problem, unit_draw,
};
use logit_reg_data::{LabelScheme, Noise, SignalPlusNoise, TScale};
use logit_reg_model::{Backend, Precision, make_device, to_f64_vec};
use logit_reg_train::{Labels, Problem};

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

/// Everything of a problem that a batch reads, as host values: the train inputs on the
/// training and the inner device, the test inputs, the labels, the empirical LDA direction.
fn contents(p: &Problem) -> [Vec<f64>; 5] {
    let Labels::Binary {
        train,
        test,
        train_column,
    } = &p.labels
    else {
        panic!("a binary problem");
    };
    let mut labels = train.clone();
    labels.extend(test);
    labels.extend(to_f64_vec(train_column.clone()));
    [
        to_f64_vec(p.train_x.clone()),
        to_f64_vec(p.train_x_eval.clone()),
        to_f64_vec(p.test_x_eval.clone()),
        labels,
        p.lda.clone().unwrap_or_default(),
    ]
}

#[test]
fn kept_problems_are_the_problems_of_the_fresh_draws_bit_for_bit() {
    // One test for the same reason as above: the kept problems are the process's. A process's
    // CPU device has one precision, and the runs train in f32; the f64 path goes through
    // `groups.rs`, whose f64 groups agree with the same batches trained alone.
    const { assert!(PROBLEMS_KEPT >= 3) };
    let precision = Precision::F32;
    let device = make_device(Backend::Flex, precision)
        .expect("the flex backend")
        .autodiff();
    let models = [
        model(11, 1.0, 0.5, 2.0, Noise::Gaussian),
        model(11, 1.0, 0.5, 1.0, Noise::Gaussian),
        model(11, 0.3, 1.7, 0.25, Noise::Gaussian),
    ];
    // Each model three times: the second time out of the kept problems (a key that missed a
    // σ would hand the second model the first one's data), the third after other problems
    // have pushed them out, with only their LDA directions kept.
    for round in 0..3 {
        if round == 2 {
            for i in 0..=PROBLEMS_KEPT {
                let other = model(11, 1.0, 0.1 * (i + 1) as f64, 3.0, Noise::Gaussian);
                signal_noise_problem(&other, 5, (Backend::Flex, precision), &device, None)
                    .expect("a valid model");
            }
        }
        for m in &models {
            let seed = 5;
            let fresh = Problem::binary_split(m, &m.generate(seed).expect("valid"), &device);
            let kept = signal_noise_problem(m, seed, (Backend::Flex, precision), &device, None)
                .expect("a valid model");
            assert!(fresh.lda.is_some(), "N = 30 > d = 11");
            assert_eq!(
                contents(&kept),
                contents(&fresh),
                "{precision:?} round {round} {m:?}"
            );
            assert_eq!(
                (kept.n, kept.n_test, kept.d),
                (fresh.n, fresh.n_test, fresh.d)
            );
            assert_eq!(kept.fisher, fresh.fisher);
            assert_eq!(kept.signal_noise, Some(*m));
        }
    }
    let bad = model(5, 1.0, 1.0, -1.0, Noise::Gaussian);
    let err = signal_noise_problem(
        &bad,
        1,
        (Backend::Flex, Precision::F32),
        &make_device(Backend::Flex, Precision::F32)
            .expect("flex")
            .autodiff(),
        None,
    )
    .expect_err("σ_n < 0");
    assert!(err.to_string().contains("sigma_n"), "{err}");
}
