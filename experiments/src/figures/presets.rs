//! The presets: for each synthetic figure of the paper (paper.md §4), the sweeps that measure it
//! at two scales. `paper` uses the paper's d, N and step counts; `quick` is about ten times
//! smaller in N and d (same λ) with fewer steps, chosen so the figure's claim is still visible.
//! The paper gives no seeds or test-set sizes: every preset uses several seeds (0, 1, …) and
//! 10,000 test samples (standard error of an accuracy ≤ 0.005).

use crate::ExperimentError;
use crate::sweep::SweepSpec;

/// The figures with presets, in the paper's numbering.
pub const FIGURES: [u32; 14] = [1, 2, 4, 5, 6, 7, 8, 13, 15, 16, 17, 18, 19, 20];

/// The size of a preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// About ten times smaller than the paper in N and d, fewer steps: minutes for all figures.
    Quick,
    /// The paper's d, N and step counts.
    Paper,
    /// The quick preset shrunk to a few samples and steps, for the smoke tests only.
    Smoke,
}

impl Scale {
    /// Parses `quick` or `paper` (the smoke scale is for the tests, not the command line).
    pub fn parse(text: &str) -> Result<Self, ExperimentError> {
        match text {
            "quick" => Ok(Self::Quick),
            "paper" => Ok(Self::Paper),
            other => Err(ExperimentError::invalid("--scale", other, "quick | paper")),
        }
    }

    /// The name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Quick => "quick",
            Self::Paper => "paper",
            Self::Smoke => "smoke",
        }
    }
}

/// One sweep of a figure.
#[derive(Debug, Clone)]
pub struct Part {
    /// Directory name under `parts/`.
    pub name: String,
    /// The sweep's TOML text (also written to `parts/<name>/spec.toml`).
    pub toml: String,
    /// The parsed sweep.
    pub spec: SweepSpec,
}

/// A figure's preset.
#[derive(Debug, Clone)]
pub struct Preset {
    /// The paper's figure number.
    pub id: u32,
    /// Short title.
    pub title: &'static str,
    /// The claim in one sentence.
    pub claim: &'static str,
    /// The sweeps.
    pub parts: Vec<Part>,
    /// The scale.
    pub scale: Scale,
}

/// Sizes that differ between the scales.
struct Size {
    /// Training samples N for the λ = 0.7 figures.
    n: usize,
    /// Factor applied to the paper's d values (1 for paper, 0.1 for quick).
    d_factor: f64,
    /// Seeds per grid point.
    seeds: usize,
}

fn size(scale: Scale) -> Size {
    match scale {
        Scale::Paper => Size {
            n: 2000,
            d_factor: 1.0,
            seeds: 3,
        },
        Scale::Quick | Scale::Smoke => Size {
            n: 200,
            d_factor: 0.1,
            seeds: 3,
        },
    }
}

fn seeds(n: usize) -> String {
    let list: Vec<String> = (0..n).map(|s| s.to_string()).collect();
    format!("[{}]", list.join(", "))
}

fn d_of(paper_d: usize, s: &Size) -> usize {
    ((paper_d as f64 * s.d_factor).round() as usize).max(1)
}

fn list(values: &[f64]) -> String {
    let items: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!("[{}]", items.join(", "))
}

fn part(name: &str, toml: String) -> Result<Part, ExperimentError> {
    let spec = SweepSpec::parse(&toml, &format!("preset part {name}"))?;
    Ok(Part {
        name: name.to_string(),
        toml,
        spec,
    })
}

/// The learning rate of the σ_n sweeps: `η = min(0.1, 0.25/σ_n²)`. Full-batch GD is stable
/// for η < 2/L, and the largest curvature of the quadratic-penalty loss is about
/// `L ≈ (2α + (1 − α)/4)·σ_n²·(1 + √λ)²`, so the paper's η = 0.1 diverges for σ_n ≳ 2.5 at
/// α = 0.4, λ = 0.7. Scaling η with 1/σ_n² keeps ηL (and so the conditioning of the descent)
/// the same at every σ_n.
pub fn sigma_n_lr(sigma_n: f64) -> f64 {
    (0.25 / (sigma_n * sigma_n)).min(0.1)
}

/// One part per σ_n value (each with [`sigma_n_lr`]), named `<prefix>sigma_n=<value>`; `body`
/// is the sweep, with `{lr}` and `{sigma_n}` to fill in.
fn sigma_n_parts(prefix: &str, sigma_ns: &[f64], body: &str) -> Result<Vec<Part>, ExperimentError> {
    sigma_ns
        .iter()
        .map(|&sn| {
            let lr = sigma_n_lr(sn);
            part(
                &format!("{prefix}sigma_n={sn}"),
                body.replace("{lr}", &format!("{lr:?}"))
                    .replace("{sigma_n}", &format!("{sn:?}")),
            )
        })
        .collect()
}

/// The σ_n grid of figure 17 (the paper gives none).
pub const FIG17_SIGMA_N: [f64; 8] = [0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0];

/// λ values of the threshold figures (16, 18): dense around 1/2 and 1.
pub const THRESHOLD_LAMBDAS: [f64; 17] = [
    0.1, 0.2, 0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.2, 1.5,
];

/// The paper's σ_n grid of the phase diagrams (figs 6, 15), log-spaced over [0.1, 6].
pub const PHASE_SIGMA_N: [f64; 10] = [0.1, 0.2, 0.4, 0.7, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0];
/// The σ_f grid of the phase diagrams, over [0, 0.95].
pub const PHASE_SIGMA_F: [f64; 6] = [0.0, 0.2, 0.4, 0.6, 0.8, 0.95];

/// The preset of figure `id` at `scale`.
pub fn preset(id: u32, scale: Scale) -> Result<Preset, ExperimentError> {
    let s = size(scale);
    let paper = scale == Scale::Paper;
    let (n, d07) = (s.n, d_of(1400, &s));
    let steps = |paper_steps: u64, quick_steps: u64| if paper { paper_steps } else { quick_steps };
    let seed_list = seeds(s.seeds);
    let (title, claim, parts) = match id {
        1 => {
            let t = steps(20_000, 5_000);
            (
                "Logit clustering",
                "With α > 0 the train logits y·z cluster around the finite target z* while \
                 with α = 0 they drift to +∞; test logits are looser than train logits.",
                vec![part(
                    "main",
                    format!(
                        "[base]\ndata = {{ d = {d07}, n = {n}, sigma_f = 0.5, sigma_n = 1.0 }}\n\
                         loss = {{ penalty = \"quadratic\" }}\n\
                         train = {{ steps = {t}, log_points = 60, histogram_steps = [{}, {}, {t}] }}\n\
                         [grid]\nseed = {seed_list}\n\"loss.alpha\" = [0.0, 0.2]\n",
                        t / 100,
                        t / 10
                    ),
                )?],
            )
        }
        4 => {
            let t = steps(20_000, 5_000);
            (
                "Logit collapse without feature noise",
                "With σ_f = 0 and α = 0.2 every train logit collapses onto z*, the training loss \
                 reaches its data-independent floor ℓ(z*), and test accuracy reaches 1.",
                vec![part(
                    "main",
                    format!(
                        "[base]\ndata = {{ d = {d07}, n = {n}, sigma_f = 0.0, sigma_n = 1.0 }}\n\
                         loss = {{ penalty = \"quadratic\" }}\n\
                         train = {{ steps = {t}, log_points = 80, histogram_steps = [{}, {}, {t}] }}\n\
                         [grid]\nseed = {seed_list}\n\"loss.alpha\" = [0.2]\n",
                        t / 100,
                        t / 10
                    ),
                )?],
            )
        }
        2 => {
            let (n2, d2) = if paper { (1500, 1000) } else { (300, 200) };
            let (adam_lr, adam_steps, gd_steps) = if paper {
                (1e-3, 10_000, 10_000)
            } else {
                (1e-2, 3_000, 5_000)
            };
            let base = format!(
                "data = {{ d = {d2}, n = {n2}, sigma_f = 1.0, sigma_n = 1.0, noise = \"student-t\" }}\n"
            );
            (
                "Direction and norm under Student-t noise",
                "Under heavy-tailed noise the direction of S (cos with e₁) barely depends on α and \
                 stays near the empirical-LDA reference, while the norm ‖S‖ changes by orders of \
                 magnitude.",
                vec![
                    part(
                        "unregularised",
                        format!(
                            "[base]\n{base}loss = {{ penalty = \"none\", alpha = 0.0 }}\n\
                             train = {{ optimizer = \"gd\", lr = 0.1, steps = {gd_steps}, log_points = 20 }}\n\
                             [grid]\n\"data.nu\" = [2.1, 3.0, 20.0]\nseed = {seed_list}\n"
                        ),
                    )?,
                    part(
                        "regularised",
                        format!(
                            "[base]\n{base}loss = {{ penalty = \"quadratic\" }}\n\
                             train = {{ optimizer = \"adam\", lr = {adam_lr:?}, steps = {adam_steps}, log_points = 20 }}\n\
                             [grid]\n\"data.nu\" = [2.1, 3.0, 20.0]\nseed = {seed_list}\n\
                             \"loss.alpha\" = [0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.8]\n"
                        ),
                    )?,
                ],
            )
        }
        13 => {
            let ds: Vec<String> = [200, 1400, 1800]
                .iter()
                .map(|&d| d_of(d, &s).to_string())
                .collect();
            let alphas = "[0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.98]";
            let mk = |penalty: &str| {
                format!(
                    "[base]\ndata = {{ n = {n}, sigma_f = 0.5, sigma_n = 1.0 }}\n\
                     loss = {{ penalty = \"{penalty}\" }}\n\
                     train = {{ optimizer = \"newton\", steps = 100, log_points = 2 }}\n\
                     [grid]\n\"data.d\" = [{}]\nseed = {}\n\"loss.alpha\" = {alphas}\n",
                    ds.join(", "),
                    seeds(2)
                )
            };
            (
                "Direction and norm under Gaussian noise",
                "For Gaussian data the minimiser's direction is Fisher's discriminant, insensitive \
                 to α and to the penalty (quadratic or label smoothing), while ‖S‖ is very \
                 sensitive to both.",
                vec![
                    part("quadratic", mk("quadratic"))?,
                    part("label-smoothing", mk("label-smoothing"))?,
                ],
            )
        }
        5 => {
            let (t, alphas) = if paper {
                (200_000, "[0.0, 0.001, 0.01, 0.1]")
            } else {
                (50_000, "[0.0, 0.001, 0.003, 0.01, 0.03, 0.1]")
            };
            let n5 = if paper { 2000 } else { 400 };
            let d5 = if paper { 1400 } else { 280 };
            (
                "Grokking",
                "For 1/2 < λ < 1, σ_f = 0 and small α, gradient descent first fits the training \
                 set with test accuracy near chance and generalises much later; the delay grows \
                 as α → 0.",
                vec![part(
                    "main",
                    format!(
                        "[base]\ndata = {{ d = {d5}, n = {n5}, mu_f = 0.1, sigma_f = 0.0, sigma_n = 1.0 }}\n\
                         loss = {{ penalty = \"quadratic\" }}\n\
                         train = {{ steps = {t}, log_points = 160 }}\n\
                         [grid]\nseed = {seed_list}\n\"loss.alpha\" = {alphas}\n"
                    ),
                )?],
            )
        }
        6 | 15 => {
            let d = d_of(if id == 6 { 1400 } else { 800 }, &s);
            let t = steps(20_000, 3_000);
            (
                if id == 6 {
                    "When regularisation helps (λ = 0.7)"
                } else {
                    "When regularisation helps (λ = 0.4)"
                },
                "At fixed λ, α = 0.4 beats α = 0 at large σ_n and small σ_f and loses in the \
                 opposite corner; the regularised accuracy does not depend on σ_n; the boundary \
                 σ_n*(σ_f) separates the two regions.",
                [
                    sigma_n_parts(
                        "gd,",
                        &PHASE_SIGMA_N,
                        &format!(
                            "[base]\ndata = {{ d = {d}, n = {n}, sigma_n = {{sigma_n}} }}\n\
                             loss = {{ penalty = \"none\", alpha = 0.0 }}\n\
                             train = {{ steps = {t}, lr = {{lr}}, log_points = 10 }}\n\
                             [grid]\n\"data.sigma_f\" = {}\nseed = {}\n",
                            list(&PHASE_SIGMA_F),
                            seeds(2)
                        ),
                    )?,
                    sigma_n_parts(
                        "newton,",
                        &PHASE_SIGMA_N,
                        &format!(
                            "[base]\ndata = {{ d = {d}, n = {n}, sigma_n = {{sigma_n}} }}\n\
                             loss = {{ penalty = \"quadratic\", alpha = 0.4 }}\n\
                             train = {{ optimizer = \"newton\", steps = 100, log_points = 2 }}\n\
                             [grid]\n\"data.sigma_f\" = {}\nseed = {}\n",
                            list(&PHASE_SIGMA_F),
                            seeds(2)
                        ),
                    )?,
                ]
                .concat(),
            )
        }
        16 | 18 => {
            let t = if id == 18 {
                2_000
            } else {
                steps(20_000, 5_000)
            };
            let ds: Vec<String> = THRESHOLD_LAMBDAS
                .iter()
                .map(|l| ((l * n as f64).round() as usize).to_string())
                .collect();
            let grid = format!(
                "\"data.d\" = [{}]\n\"data.sigma_f\" = [0.0, 0.5, 1.0]\n",
                ds.join(", ")
            );
            if id == 16 {
                (
                    "The threshold shift",
                    "With σ_f = 0, α > 0 generalises perfectly up to λ = d/N = 1, plain \
                     cross-entropy (α = 0) only up to λ = 1/2; label smoothing behaves like the \
                     quadratic penalty.",
                    vec![
                        part(
                            "gd",
                            format!(
                                "[base]\ndata = {{ n = {n} }}\nloss = {{ penalty = \"none\", alpha = 0.0 }}\n\
                                 train = {{ steps = {t}, log_points = 10 }}\n\
                                 [grid]\n{grid}\"data.sigma_n\" = [1.0, 2.0]\nseed = {seed_list}\n"
                            ),
                        )?,
                        part(
                            "quadratic",
                            format!(
                                "[base]\ndata = {{ n = {n} }}\nloss = {{ penalty = \"quadratic\", alpha = 0.4 }}\n\
                                 train = {{ optimizer = \"newton\", steps = 100, log_points = 2 }}\n\
                                 [grid]\n{grid}\"data.sigma_n\" = [1.0, 2.0]\nseed = {seed_list}\n"
                            ),
                        )?,
                        part(
                            "label-smoothing",
                            format!(
                                "[base]\ndata = {{ n = {n}, sigma_n = 1.0 }}\n\
                                 loss = {{ penalty = \"label-smoothing\", alpha = 0.4 }}\n\
                                 train = {{ optimizer = \"newton\", steps = 100, log_points = 2 }}\n\
                                 [grid]\n{grid}seed = {seed_list}\n"
                            ),
                        )?,
                    ],
                )
            } else {
                (
                    "Weight decay does not shift the threshold",
                    "Weight decay (γ = 0.2, α = 0) neither moves the threshold to λ = 1 nor makes \
                     the accuracy insensitive to σ_n.",
                    vec![part(
                        "main",
                        format!(
                            "[base]\ndata = {{ n = {n} }}\n\
                             loss = {{ penalty = \"none\", alpha = 0.0, weight_decay = 0.2, data_term = \"mean\" }}\n\
                             train = {{ steps = {t}, log_points = 10 }}\n\
                             [grid]\n{grid}\"data.sigma_n\" = [1.0, 2.0]\nseed = {seed_list}\n"
                        ),
                    )?],
                )
            }
        }
        17 => {
            let t = steps(20_000, 3_000);
            (
                "Accuracy and direction against orthogonal noise",
                "With α = 0.4 and λ < 1 the test accuracy does not depend on σ_n, while cos θ₁ \
                 follows (1 + C²/σ_n²)^(−1/2); without regularisation accuracy falls with σ_n.",
                [
                    sigma_n_parts(
                        "gd,",
                        &FIG17_SIGMA_N,
                        &format!(
                            "[base]\ndata = {{ d = {d07}, n = {n}, sigma_f = 0.5, sigma_n = {{sigma_n}} }}\n\
                             loss = {{ penalty = \"none\", alpha = 0.0 }}\n\
                             train = {{ steps = {t}, lr = {{lr}}, log_points = 10 }}\n\
                             [grid]\nseed = {seed_list}\n"
                        ),
                    )?,
                    sigma_n_parts(
                        "newton,",
                        &FIG17_SIGMA_N,
                        &format!(
                            "[base]\ndata = {{ d = {d07}, n = {n}, sigma_f = 0.5, sigma_n = {{sigma_n}} }}\n\
                             loss = {{ penalty = \"quadratic\", alpha = 0.4 }}\n\
                             train = {{ optimizer = \"newton\", steps = 100, log_points = 2 }}\n\
                             [grid]\nseed = {seed_list}\n"
                        ),
                    )?,
                ]
                .concat(),
            )
        }
        19 => (
            "The slope C²",
            "For α > 0, 1/cos²θ₁ is a straight line in 1/σ_n² with intercept 1 and slope \
             C² = σ_f² λ (μ_f² + σ_f²) / ((1 − λ) μ_f²).",
            vec![part(
                "newton",
                format!(
                    "[base]\ndata = {{ d = {d07}, n = {n}, sigma_f = 0.5 }}\n\
                     loss = {{ penalty = \"quadratic\", alpha = 0.2 }}\n\
                     train = {{ optimizer = \"newton\", steps = 100, log_points = 2 }}\n\
                     [grid]\n\"data.sigma_n\" = [0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0]\n\
                     seed = {seed_list}\n"
                ),
            )?],
        ),
        20 => (
            "Signal and orthogonal weights against feature noise",
            "At σ_f = 0 the regularised minimiser is S = (z*/μ_f)·e₁ (no orthogonal part); as \
             σ_f grows S₁ shrinks and ‖S_⊥‖ grows, with ‖S_⊥‖/S₁ = C/σ_n.",
            vec![part(
                "main",
                format!(
                    "[base]\ndata = {{ d = {d07}, n = {n}, sigma_n = 1.0 }}\n\
                     loss = {{ penalty = \"quadratic\", alpha = 0.4 }}\n\
                     train = {{ optimizer = \"adam\", lr = 0.01, steps = 1000, log_points = 10 }}\n\
                     [grid]\n\"data.sigma_f\" = [0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5]\n\
                     seed = {seed_list}\n"
                ),
            )?],
        ),
        7 => {
            let t = steps(20_000, 5_000);
            let (n7, d7) = if paper { (2000, 1400) } else { (400, 280) };
            (
                "Multi-class logit clustering",
                "With K = 10 classes and α > 0 the train logit vectors cluster around the simplex \
                 targets z*; with α = 0 they spread out and grow.",
                vec![part(
                    "main",
                    format!(
                        "[base]\ndata = {{ model = \"multiclass\", k = 10, d = {d7}, n = {n7}, sigma_f = 0.1, sigma_n = 1.0 }}\n\
                         loss = {{ penalty = \"quadratic\" }}\n\
                         train = {{ steps = {t}, log_points = 40, save_logits = true }}\n\
                         [grid]\nseed = {seed_list}\n\"loss.alpha\" = [0.0, 0.2]\n"
                    ),
                )?],
            )
        }
        8 => {
            let t = steps(20_000, 10_000);
            let (n8, d8) = if paper { (2000, 1400) } else { (400, 280) };
            (
                "Multi-class grokking",
                "With K = 10, σ_f = 0 and α = 0.04, the train set is fitted long before the test \
                 accuracy rises; the regularised model eventually generalises.",
                vec![part(
                    "main",
                    format!(
                        "[base]\ndata = {{ model = \"multiclass\", k = 10, d = {d8}, n = {n8}, sigma_f = 0.0, sigma_n = 1.0 }}\n\
                         loss = {{ penalty = \"quadratic\" }}\n\
                         train = {{ steps = {t}, log_points = 120 }}\n\
                         [grid]\nseed = {seed_list}\n\"loss.alpha\" = [0.0, 0.04]\n"
                    ),
                )?],
            )
        }
        other => {
            return Err(ExperimentError::invalid(
                "figure",
                &other.to_string(),
                "one of 1, 2, 4, 5, 6, 7, 8, 13, 15, 16, 17, 18, 19, 20",
            ));
        }
    };
    let mut parts = parts;
    if scale == Scale::Smoke {
        for p in &mut parts {
            shrink_for_smoke(&mut p.spec)?;
        }
    }
    Ok(Preset {
        id,
        title,
        claim,
        parts,
        scale,
    })
}

/// Shrinks a quick sweep to a smoke test: d and N divided by 10 (d ≥ 10 so that ten classes
/// still fit), at most 30 steps, 200 test samples, one seed.
fn shrink_for_smoke(spec: &mut SweepSpec) -> Result<(), ExperimentError> {
    let shrink = |v: &toml::Value| -> toml::Value {
        match v {
            toml::Value::Integer(i) => toml::Value::Integer((*i / 10).max(10)),
            other => other.clone(),
        }
    };
    let base = &mut spec.base;
    let data = base
        .entry("data")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let toml::Value::Table(t) = data {
        for key in ["d", "n"] {
            if let Some(v) = t.get(key).map(shrink) {
                t.insert(key.into(), v);
            }
        }
        t.insert("n_test".into(), toml::Value::Integer(200));
    }
    let train = base
        .entry("train")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let toml::Value::Table(t) = train {
        let steps = t
            .get("steps")
            .and_then(toml::Value::as_integer)
            .unwrap_or(30);
        let steps = steps.min(30);
        t.insert("steps".into(), toml::Value::Integer(steps));
        if t.contains_key("histogram_steps") {
            t.insert(
                "histogram_steps".into(),
                toml::Value::Array(vec![
                    toml::Value::Integer(steps / 10),
                    toml::Value::Integer(steps / 3),
                    toml::Value::Integer(steps),
                ]),
            );
        }
    }
    for (key, values) in &mut spec.grid {
        match key.as_str() {
            "data.d" | "data.n" => {
                let mut shrunk: Vec<toml::Value> = values.iter().map(shrink).collect();
                shrunk.dedup();
                *values = shrunk;
            }
            "seed" => values.truncate(1),
            _ => {}
        }
    }
    Ok(())
}
