//! Tests of the data models against their defining moments, closed forms and contracts.

use logit_reg_data::stats::{StdKind, excess_kurtosis, mean_std, normal_cdf};
use logit_reg_data::{
    BinaryPopulation, Covariance, DataError, GaussianClasses, LabelScheme, MultiClassSignalNoise,
    Noise, SignalPlusNoise, TScale,
};

fn spn(noise: Noise) -> SignalPlusNoise {
    SignalPlusNoise {
        d: 8,
        n: 20_000,
        n_test: 10,
        mu_f: 1.0,
        sigma_f: 0.5,
        sigma_n: 2.0,
        noise,
        labels: LabelScheme::Iid,
    }
}

/// Checks that the sample mean and variance of `values` are within 4 standard errors of
/// `(mean, var)`; the variance's standard error is `var·√((κ + 2)/(n − 1))`, κ the excess
/// kurtosis of the law.
fn assert_moments(values: &[f64], mean: f64, var: f64, kurtosis: f64, what: &str) {
    let n = values.len() as f64;
    let (m, s) = mean_std(values, StdKind::Sample);
    let v = s * s;
    let se_mean = (var / n).sqrt();
    let se_var = var * ((kurtosis + 2.0) / (n - 1.0)).sqrt();
    assert!(
        (m - mean).abs() < 4.0 * se_mean,
        "{what}: mean {m} vs {mean} (se {se_mean})"
    );
    assert!(
        (v - var).abs() < 4.0 * se_var,
        "{what}: var {v} vs {var} (se {se_var})"
    );
}

#[test]
fn signal_plus_noise_moments_along_and_orthogonal_to_e1() {
    for (noise, kurt) in [
        (Noise::Gaussian, 0.0),
        // Student-t ν = 20, unit variance: excess kurtosis 6/(ν − 4) = 0.375.
        (
            Noise::StudentT {
                nu: 20.0,
                scale: TScale::UnitVariance,
            },
            0.375,
        ),
    ] {
        let model = spn(noise);
        let data = model.generate(11).expect("valid").train;
        let d = model.d;
        // y·x₁ = μ_f + σ_f ξ_f.
        let signal: Vec<f64> = (0..data.n).map(|i| data.y[i] * data.x[i * d]).collect();
        assert_moments(&signal, 1.0, 0.25, kurt, "y x1");
        for j in [1, 4, d - 1] {
            let orth: Vec<f64> = (0..data.n).map(|i| data.x[i * d + j]).collect();
            assert_moments(&orth, 0.0, 4.0, kurt, "orthogonal");
        }
    }
}

#[test]
fn unit_scale_student_t_has_variance_nu_over_nu_minus_2() {
    // ν = 12: variance 12/10 = 1.2 per component, excess kurtosis 6/8.
    let model = spn(Noise::StudentT {
        nu: 12.0,
        scale: TScale::UnitScale,
    });
    let data = model.generate(5).expect("valid").train;
    let orth: Vec<f64> = (0..data.n).map(|i| data.x[i * model.d + 3]).collect();
    assert_moments(&orth, 0.0, 4.0 * 1.2, 0.75, "unit-scale t");
}

#[test]
fn balanced_labels_are_exactly_balanced() {
    for n in [1, 2, 7, 1000, 1001] {
        let model = SignalPlusNoise {
            n,
            labels: LabelScheme::Balanced,
            ..spn(Noise::Gaussian)
        };
        let data = model.generate(3).expect("valid").train;
        let pos = data.y.iter().filter(|&&y| y == 1.0).count();
        let neg = data.y.iter().filter(|&&y| y == -1.0).count();
        assert_eq!(pos + neg, n);
        assert_eq!(pos, n.div_ceil(2), "n = {n}");
    }
    // Iid labels are not forced to balance (with n = 1001 an exact split is one outcome in ~40).
    let iid = SignalPlusNoise {
        n: 1001,
        ..spn(Noise::Gaussian)
    };
    let counts: Vec<usize> = (0..5)
        .map(|s| {
            iid.generate(s)
                .expect("valid")
                .train
                .y
                .iter()
                .filter(|&&y| y > 0.0)
                .count()
        })
        .collect();
    assert!(
        counts.iter().any(|&c| c != 501),
        "iid labels always balanced: {counts:?}"
    );
}

#[test]
fn student_t_kurtosis_is_heavier_than_gaussian() {
    let big = |noise| SignalPlusNoise {
        d: 2,
        n: 200_000,
        ..spn(noise)
    };
    let orth = |model: SignalPlusNoise| {
        let data = model.generate(9).expect("valid").train;
        (0..data.n).map(|i| data.x[i * 2 + 1]).collect::<Vec<_>>()
    };
    let gauss = excess_kurtosis(&orth(big(Noise::Gaussian)));
    // ν = 10: population excess kurtosis 6/(ν − 4) = 1.
    let t = excess_kurtosis(&orth(big(Noise::StudentT {
        nu: 10.0,
        scale: TScale::UnitVariance,
    })));
    let se_gauss = (24.0 / 200_000.0_f64).sqrt();
    assert!(
        gauss.abs() < 4.0 * se_gauss,
        "Gaussian excess kurtosis {gauss}"
    );
    assert!(
        t > 0.5,
        "Student-t(10) excess kurtosis {t}, expected about 1"
    );
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn same_seed_same_bytes_different_seed_different_bytes() {
    let model = SignalPlusNoise {
        n: 50,
        ..spn(Noise::Gaussian)
    };
    let a = model.generate(42).expect("valid");
    let b = model.generate(42).expect("valid");
    let c = model.generate(43).expect("valid");
    assert_eq!(bits(&a.train.x), bits(&b.train.x));
    assert_eq!(bits(&a.test.x), bits(&b.test.x));
    assert_eq!(a.train.y, b.train.y);
    assert_ne!(bits(&a.train.x), bits(&c.train.x));
    // Train and test are different streams.
    assert_ne!(bits(&a.train.x[..80]), bits(&a.test.x[..80]));
}

#[test]
fn a_rescaled_unit_draw_is_the_draw_bit_for_bit() {
    // The oracle is the model's own draw, afresh from its streams.
    for noise in [
        Noise::Gaussian,
        Noise::StudentT {
            nu: 3.0,
            scale: TScale::UnitVariance,
        },
    ] {
        for labels in [LabelScheme::Iid, LabelScheme::Balanced] {
            for (mu_f, sigma_f, sigma_n) in [(1.0, 0.5, 2.0), (0.1, 0.0, 1.0), (0.0, 1.3, 0.0)] {
                let model = SignalPlusNoise {
                    n: 40,
                    n_test: 30,
                    mu_f,
                    sigma_f,
                    sigma_n,
                    labels,
                    ..spn(noise)
                };
                let unit = model.unit().generate(7).expect("valid");
                let fresh = model.generate(7).expect("valid");
                for (got, want) in [
                    (model.rescale(&unit.train), &fresh.train),
                    (model.rescale(&unit.test), &fresh.test),
                ] {
                    assert_eq!(bits(&got.x), bits(&want.x), "{mu_f} {sigma_f} {sigma_n}");
                    assert_eq!(got.y, want.y);
                }
            }
        }
    }
}

#[test]
fn training_set_does_not_depend_on_n_test() {
    let small = SignalPlusNoise {
        n: 50,
        n_test: 10,
        ..spn(Noise::Gaussian)
    };
    let large = SignalPlusNoise {
        n_test: 5000,
        ..small
    };
    let a = small.generate(1).expect("valid");
    let b = large.generate(1).expect("valid");
    assert_eq!(bits(&a.train.x), bits(&b.train.x));
    assert_eq!(a.train.y, b.train.y);
    // The train set drawn alone (the exact solvers' path) is the same draw.
    let alone = large.generate_train(1).expect("valid");
    assert_eq!(bits(&alone.x), bits(&a.train.x));
    assert_eq!(alone.y, a.train.y);
    // The small test set is a prefix of the large one (same stream).
    assert_eq!(bits(&a.test.x), bits(&b.test.x[..a.test.x.len()]));

    let mc = MultiClassSignalNoise {
        n_test: 3,
        ..multiclass()
    };
    let mc_large = MultiClassSignalNoise { n_test: 300, ..mc };
    assert_eq!(
        mc.generate(2).expect("valid").train,
        mc_large.generate(2).expect("valid").train
    );
}

fn field_of(err: DataError) -> &'static str {
    match err {
        DataError::OutOfRange { field, .. }
        | DataError::WrongLength { field, .. }
        | DataError::NotPositiveDefinite { field, .. } => field,
    }
}

#[test]
fn each_invalid_field_returns_its_own_error() {
    let ok = spn(Noise::Gaussian);
    let cases: Vec<(SignalPlusNoise, &str)> = vec![
        (SignalPlusNoise { d: 0, ..ok }, "d"),
        (SignalPlusNoise { n: 0, ..ok }, "n"),
        (SignalPlusNoise { n_test: 0, ..ok }, "n_test"),
        (SignalPlusNoise { mu_f: -1.0, ..ok }, "mu_f"),
        (
            SignalPlusNoise {
                mu_f: f64::NAN,
                ..ok
            },
            "mu_f",
        ),
        (
            SignalPlusNoise {
                sigma_f: -0.1,
                ..ok
            },
            "sigma_f",
        ),
        (
            SignalPlusNoise {
                sigma_n: f64::INFINITY,
                ..ok
            },
            "sigma_n",
        ),
        (
            SignalPlusNoise {
                noise: Noise::StudentT {
                    nu: 2.0,
                    scale: TScale::UnitVariance,
                },
                ..ok
            },
            "noise.nu",
        ),
        (
            SignalPlusNoise {
                noise: Noise::StudentT {
                    nu: 0.0,
                    scale: TScale::UnitScale,
                },
                ..ok
            },
            "noise.nu",
        ),
    ];
    for (model, field) in cases {
        let err = model.generate(0).expect_err("must be rejected");
        let text = err.to_string();
        assert_eq!(field_of(err), field, "{text}");
        assert!(text.contains(field) && text.contains("allowed"), "{text}");
    }
    // ν = 1.5 is fine at unit scale (infinite variance, but a valid law).
    let heavy = SignalPlusNoise {
        noise: Noise::StudentT {
            nu: 1.5,
            scale: TScale::UnitScale,
        },
        ..ok
    };
    assert!(heavy.validate().is_ok());

    let mc = multiclass();
    let mc_cases: Vec<(MultiClassSignalNoise, &str)> = vec![
        (MultiClassSignalNoise { k: 1, ..mc }, "k"),
        (MultiClassSignalNoise { k: 10, d: 8, ..mc }, "d"),
        (MultiClassSignalNoise { n: 0, ..mc }, "n"),
        (
            MultiClassSignalNoise {
                sigma_f: -1.0,
                ..mc
            },
            "sigma_f",
        ),
        (
            MultiClassSignalNoise {
                sigma_n: -1.0,
                ..mc
            },
            "sigma_n",
        ),
        (
            MultiClassSignalNoise {
                mu_f: f64::NAN,
                ..mc
            },
            "mu_f",
        ),
    ];
    for (model, field) in mc_cases {
        assert_eq!(field_of(model.generate(0).expect_err("rejected")), field);
    }
    // d = k − 1 is allowed (no orthogonal directions).
    assert!(
        MultiClassSignalNoise { k: 10, d: 9, ..mc }
            .validate()
            .is_ok()
    );

    let gauss = gaussian_full();
    let bad_cov = GaussianClasses {
        covariance: Covariance::Full(vec![1.0, 2.0, 2.0, 1.0]),
        ..gauss.clone()
    };
    assert_eq!(
        field_of(bad_cov.generate(0).expect_err("indefinite")),
        "covariance"
    );
    let short = GaussianClasses {
        covariance: Covariance::Diagonal(vec![1.0]),
        ..gauss.clone()
    };
    assert!(matches!(
        short.validate(),
        Err(DataError::WrongLength {
            field: "covariance",
            ..
        })
    ));
    let zero_var = GaussianClasses {
        covariance: Covariance::Diagonal(vec![1.0, 0.0]),
        ..gauss.clone()
    };
    assert_eq!(
        field_of(zero_var.validate().expect_err("zero variance")),
        "covariance"
    );
    let empty = GaussianClasses {
        mean: vec![],
        ..gauss
    };
    assert_eq!(field_of(empty.validate().expect_err("empty")), "mean.len");
}

fn gaussian_full() -> GaussianClasses {
    GaussianClasses {
        n: 40_000,
        n_test: 10,
        mean: vec![1.0, -0.5],
        // Σ = [[2, 0.6], [0.6, 1]].
        covariance: Covariance::Full(vec![2.0, 0.6, 0.6, 1.0]),
        labels: LabelScheme::Balanced,
    }
}

#[test]
fn gaussian_classes_moments_fisher_and_bayes() {
    let model = gaussian_full();
    let data = model.generate(4).expect("valid").train;
    // r = y x − μ ~ N(0, Σ): check variances and the covariance via r₀ + r₁ (var 2 + 1 + 1.2).
    let r: Vec<[f64; 2]> = (0..data.n)
        .map(|i| {
            let (y, row) = (data.y[i], data.row(i));
            [y * row[0] - 1.0, y * row[1] + 0.5]
        })
        .collect();
    assert_moments(
        &r.iter().map(|v| v[0]).collect::<Vec<_>>(),
        0.0,
        2.0,
        0.0,
        "r0",
    );
    assert_moments(
        &r.iter().map(|v| v[1]).collect::<Vec<_>>(),
        0.0,
        1.0,
        0.0,
        "r1",
    );
    assert_moments(
        &r.iter().map(|v| v[0] + v[1]).collect::<Vec<_>>(),
        0.0,
        4.2,
        0.0,
        "r0+r1",
    );

    // Fisher: Σ w = μ.
    let w = model.fisher_direction().expect("spd");
    assert!((2.0 * w[0] + 0.6 * w[1] - 1.0).abs() < 1e-14);
    assert!((0.6 * w[0] + 1.0 * w[1] + 0.5).abs() < 1e-14);
    // Bayes: Φ(√(μᵀΣ⁻¹μ)); by hand Σ⁻¹ = [[1, −0.6], [−0.6, 2]]/1.64, so with μ = (1, −0.5)
    // μᵀΣ⁻¹μ = (1 + 0.6 + 0.5)/1.64 = 2.1/1.64.
    let bayes = model.bayes_accuracy().expect("gaussian");
    assert!((bayes - normal_cdf((2.1_f64 / 1.64).sqrt())).abs() < 1e-14);

    // Diagonal Σ gives the same samples' law: check the Fisher direction μ_j / v_j.
    let diag = GaussianClasses {
        covariance: Covariance::Diagonal(vec![4.0, 0.25]),
        ..gaussian_full()
    };
    let w = diag.fisher_direction().expect("valid");
    assert!((w[0] - 0.25).abs() < 1e-15 && (w[1] + 2.0).abs() < 1e-15);
    let data = diag.generate(2).expect("valid").train;
    let r1: Vec<f64> = (0..data.n)
        .map(|i| data.y[i] * data.x[i * 2 + 1] + 0.5)
        .collect();
    assert_moments(&r1, 0.0, 0.25, 0.0, "diag r1");
}

#[test]
fn signal_plus_noise_population_quantities() {
    let model = spn(Noise::Gaussian);
    assert_eq!(model.mean()[0], 1.0);
    assert_eq!(model.fisher_direction().expect("valid")[0], 1.0);
    // Bayes accuracy Φ(μ_f/σ_f) = Φ(2).
    assert!((model.bayes_accuracy().expect("gaussian") - normal_cdf(2.0)).abs() < 1e-16);
    let noiseless = SignalPlusNoise {
        sigma_f: 0.0,
        ..model
    };
    assert_eq!(noiseless.bayes_accuracy(), Some(1.0));
    assert_eq!(
        spn(Noise::StudentT {
            nu: 3.0,
            scale: TScale::UnitVariance
        })
        .bayes_accuracy(),
        None
    );
    // Eq. 5 at S = e₁ is the Bayes accuracy; at S = e₁ + e₂: Φ(1/√(0.25 + 4)).
    assert_eq!(model.gaussian_accuracy(1.0, 0.0), model.bayes_accuracy());
    let a = model.gaussian_accuracy(1.0, 1.0).expect("gaussian");
    assert!((a - normal_cdf(1.0 / 4.25_f64.sqrt())).abs() < 1e-16);
    assert!((model.aspect_ratio() - 8.0 / 20_000.0).abs() < 1e-18);
}

#[test]
fn signal_plus_noise_empirical_accuracy_matches_eq5() {
    // The classifier S = (1, 0.3, 0, …) on a large Gaussian test set: accuracy within 4 se of
    // Φ(S₁μ_f/√(S₁²σ_f² + ‖S_⊥‖²σ_n²)).
    let model = SignalPlusNoise {
        n: 10,
        n_test: 40_000,
        ..spn(Noise::Gaussian)
    };
    let test = model.generate(8).expect("valid").test;
    let correct = (0..test.n)
        .filter(|&i| test.y[i] * (test.row(i)[0] + 0.3 * test.row(i)[1]) > 0.0)
        .count();
    let acc = correct as f64 / test.n as f64;
    let theory = model.gaussian_accuracy(1.0, 0.3).expect("gaussian");
    let se = (theory * (1.0 - theory) / test.n as f64).sqrt();
    assert!(
        (acc - theory).abs() < 4.0 * se,
        "accuracy {acc} vs Eq. 5 {theory}"
    );
}

fn multiclass() -> MultiClassSignalNoise {
    MultiClassSignalNoise {
        k: 10,
        d: 30,
        n: 20_000,
        n_test: 10,
        mu_f: 2.0,
        sigma_f: 1.0,
        sigma_n: 1.5,
        noise: Noise::Gaussian,
        labels: LabelScheme::Balanced,
    }
}

#[test]
fn multiclass_means_form_a_regular_simplex() {
    let model = multiclass();
    let (k, d) = (model.k, model.d);
    let means = model.class_means();
    let dot = |a: usize, b: usize| {
        (0..d)
            .map(|j| means[a * d + j] * means[b * d + j])
            .sum::<f64>()
    };
    for a in 0..k {
        assert!((dot(a, a) - 4.0).abs() < 1e-12, "radius");
        for b in 0..a {
            // μ_aᵀμ_b = −μ_f²/(k − 1).
            assert!((dot(a, b) + 4.0 / 9.0).abs() < 1e-12, "angle");
        }
        assert!(
            means[a * d + k - 1..(a + 1) * d].iter().all(|&v| v == 0.0),
            "outside subspace"
        );
    }
    for j in 0..d {
        assert!(
            (0..k).map(|c| means[c * d + j]).sum::<f64>().abs() < 1e-12,
            "centred"
        );
    }
    // k = 2 reduces to ±μ_f e₁.
    let binary = MultiClassSignalNoise { k: 2, ..model };
    let m2 = binary.class_means();
    assert!((m2[0] - 2.0).abs() < 1e-15 && (m2[d] + 2.0).abs() < 1e-15);
}

#[test]
fn multiclass_noise_moments_and_balance() {
    let model = multiclass();
    let data = model.generate(6).expect("valid").train;
    let (k, d) = (model.k, model.d);
    let means = model.class_means();
    for c in 0..k {
        assert_eq!(data.labels.iter().filter(|&&l| l == c).count(), 2000);
    }
    let resid = |j: usize| -> Vec<f64> {
        (0..data.n)
            .map(|i| data.x[i * d + j] - means[data.labels[i] * d + j])
            .collect()
    };
    assert_moments(&resid(0), 0.0, 1.0, 0.0, "signal subspace");
    assert_moments(&resid(8), 0.0, 1.0, 0.0, "signal subspace");
    assert_moments(&resid(9), 0.0, 2.25, 0.0, "orthogonal");
    assert_moments(&resid(29), 0.0, 2.25, 0.0, "orthogonal");
    assert_eq!(model.covariance_diagonal()[8], 1.0);
    assert_eq!(model.covariance_diagonal()[9], 2.25);
}

#[test]
fn multiclass_bayes_accuracy_matches_nearest_mean_monte_carlo() {
    let model = MultiClassSignalNoise {
        n: 10,
        n_test: 20_000,
        ..multiclass()
    };
    let test = model.generate(12).expect("valid").test;
    let (k, d) = (model.k, model.d);
    let means = model.class_means();
    let correct = (0..test.n)
        .filter(|&i| {
            let row = &test.x[i * d..(i + 1) * d];
            let dist = |c: usize| {
                (0..d)
                    .map(|j| (row[j] - means[c * d + j]).powi(2))
                    .sum::<f64>()
            };
            (0..k).min_by(|&a, &b| dist(a).total_cmp(&dist(b))) == Some(test.labels[i])
        })
        .count();
    let acc = correct as f64 / test.n as f64;
    let theory = model.bayes_accuracy().expect("gaussian");
    let se = (theory * (1.0 - theory) / test.n as f64).sqrt();
    assert!(
        (acc - theory).abs() < 4.0 * se,
        "nearest-mean accuracy {acc} vs {theory}"
    );
    // k = 2: Φ(μ_f/σ_f).
    let binary = MultiClassSignalNoise { k: 2, ..model };
    assert!((binary.bayes_accuracy().expect("gaussian") - normal_cdf(2.0)).abs() < 1e-10);
}

/// Data format 2: every row from its own stream, rows drawn in parallel. The draws of each
/// model are bit-identical on one thread and on several, and a row does not depend on how many
/// rows are drawn.
#[test]
fn draws_do_not_depend_on_the_thread_count_or_on_n() {
    let on = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool")
    };
    let mut model = spn(Noise::StudentT {
        nu: 3.0,
        scale: TScale::UnitVariance,
    });
    model.n = 3_000;
    let one = on(1).install(|| model.generate(9)).expect("draw");
    let three = on(3).install(|| model.generate(9)).expect("draw");
    assert_eq!(bits(&one.train.x), bits(&three.train.x));
    assert_eq!(one.train.y, three.train.y);
    assert_eq!(bits(&one.test.x), bits(&three.test.x));
    let mc = multiclass();
    let (a, b) = (
        on(1).install(|| mc.generate(4)).expect("draw"),
        on(2).install(|| mc.generate(4)).expect("draw"),
    );
    assert_eq!(bits(&a.train.x), bits(&b.train.x));
    assert_eq!(a.train.labels, b.train.labels);
    let g = gaussian_full();
    let (a, b) = (
        on(1).install(|| g.generate(4)).expect("draw"),
        on(2).install(|| g.generate(4)).expect("draw"),
    );
    assert_eq!(bits(&a.train.x), bits(&b.train.x));
    // Iid labels come from the rows' streams: the first 100 rows of N = 3,000 are the rows
    // of N = 100.
    let mut short = model;
    short.n = 100;
    let short = short.generate_train(9).expect("draw");
    assert_eq!(bits(&short.x), bits(&one.train.x[..100 * model.d]));
    assert_eq!(short.y, one.train.y[..100]);
}

/// Row i of a set is drawn from the ChaCha12 stream `Stream::Row { set, index: i }` of the
/// seed, in the order label (iid scheme), ξ_f, ξ_⊥: written out here with rand's own samplers.
#[test]
fn a_row_is_the_draw_of_its_own_stream() {
    use logit_reg_data::{SampleSet, stream_rng};
    use rand::RngExt;
    use rand_distr::{Distribution, StandardNormal};
    let model = SignalPlusNoise {
        noise: Noise::Gaussian,
        ..spn(Noise::Gaussian)
    };
    let split = model.generate(11).expect("draw");
    for (set, data) in [
        (SampleSet::Train, &split.train),
        (SampleSet::Test, &split.test),
    ] {
        for i in [0, 7] {
            let mut rng = stream_rng(11, set.row(i));
            let label = if rng.random_bool(0.5) { -1.0 } else { 1.0 };
            assert_eq!(data.y[i], label, "{set:?} row {i}");
            let xi_f: f64 = StandardNormal.sample(&mut rng);
            let row = &data.x[i * model.d..(i + 1) * model.d];
            assert_eq!(row[0], label * model.mu_f + model.sigma_f * xi_f);
            for v in &row[1..] {
                let xi: f64 = StandardNormal.sample(&mut rng);
                assert_eq!(*v, model.sigma_n * xi);
            }
        }
    }
}
