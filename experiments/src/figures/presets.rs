//! What every figure's preset shares: the scales, a part (one sweep), the sizes of each scale,
//! and the helpers that write sweep files. For each synthetic figure of the paper (paper.md §4)
//! its file (`figNN.rs`) holds the sweeps that measure it at two scales. `paper` uses the
//! paper's d, N and step counts; `quick` is about ten times smaller in N and d (same λ) with
//! fewer steps, chosen so the figure's claim is still visible.
//! The paper gives no seeds or test-set sizes: every preset uses several seeds (0, 1, …) and
//! 10,000 test samples (standard error of an accuracy ≤ 0.005).

use crate::ExperimentError;
use crate::sweep::SweepSpec;

/// The size of a preset (`--scale`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scale {
    /// About ten times smaller than the paper in N and d, fewer steps: minutes for all figures.
    Quick,
    /// The paper's d, N and step counts.
    Paper,
    /// The quick preset shrunk to a few samples and steps, for the smoke tests only (not
    /// offered on the command line).
    #[value(skip)]
    Smoke,
}

impl Scale {
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

/// Sizes that differ between the scales, and the helpers the presets write them with.
pub(super) struct Size {
    /// Whether this is the paper scale.
    pub(super) paper: bool,
    /// Training samples N for the λ = 0.7 figures.
    pub(super) n: usize,
    /// Factor applied to the paper's d values (1 for paper, 0.1 for quick).
    d_factor: f64,
    /// Seeds per grid point.
    seeds: usize,
}

impl Size {
    /// The sizes of `scale` (the smoke scale starts from the quick sizes).
    pub(super) fn of(scale: Scale) -> Self {
        match scale {
            Scale::Paper => Size {
                paper: true,
                n: 2000,
                d_factor: 1.0,
                seeds: 3,
            },
            Scale::Quick | Scale::Smoke => Size {
                paper: false,
                n: 200,
                d_factor: 0.1,
                seeds: 3,
            },
        }
    }

    /// `paper_steps` at the paper scale, `quick_steps` otherwise.
    pub(super) fn steps(&self, paper_steps: u64, quick_steps: u64) -> u64 {
        if self.paper { paper_steps } else { quick_steps }
    }

    /// The d of this scale for the paper's `paper_d` (the same λ at the quick scale's N).
    pub(super) fn d(&self, paper_d: usize) -> usize {
        ((paper_d as f64 * self.d_factor).round() as usize).max(1)
    }

    /// The sizes of the λ = 0.7 figures at d = 1400 (paper): N, d and the seed list.
    pub(super) fn standard(&self) -> (usize, usize, String) {
        (self.n, self.d(1400), self.seed_list())
    }

    /// The seed list `[0, 1, …]` of this scale, as TOML.
    pub(super) fn seed_list(&self) -> String {
        seeds(self.seeds)
    }
}

/// The seed list `[0, 1, …, n − 1]` as TOML.
pub(super) fn seeds(n: usize) -> String {
    let list: Vec<String> = (0..n).map(|s| s.to_string()).collect();
    format!("[{}]", list.join(", "))
}

pub(super) fn list(values: &[f64]) -> String {
    let items: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!("[{}]", items.join(", "))
}

pub(super) fn part(name: &str, toml: String) -> Result<Part, ExperimentError> {
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
pub(super) fn sigma_n_parts(
    prefix: &str,
    sigma_ns: &[f64],
    body: &str,
) -> Result<Vec<Part>, ExperimentError> {
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

/// Shrinks a quick sweep to a smoke test: d and N divided by 10 (d ≥ 10 so that ten classes
/// still fit), at most 30 steps, 200 test samples, one seed.
pub(super) fn shrink_for_smoke(spec: &mut SweepSpec) -> Result<(), ExperimentError> {
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
        if t.contains_key("epochs") {
            // An epoch-based preset: one pass over the data.
            t.insert("epochs".into(), toml::Value::Integer(1));
        }
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
