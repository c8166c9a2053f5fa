//! The figure presets, the report generator and the plots.
//!
//! - every preset's quick sweeps run at a smoke size (N, d / 10, ≤ 30 steps, one seed) through
//!   the whole pipeline: sweeps, analysis, SVG + PNG, report;
//! - the report generator is checked on a hand-written fixture;
//! - the threshold and boundary estimators on hand-made curves.

use std::path::PathBuf;

use experiments::figures::fig06::{
    PHASE_GRID_RATIO, PHASE_SIGMA_N, boundary_rises, helps_boundary, phase_sigma_ns,
};
use experiments::figures::fig16::{PENALTY_AGREEMENT, largest_gap, random_start_std, threshold};
use experiments::figures::plot::{Panel, Point, Series, Style, write_figure};
use experiments::figures::report::{
    Check, FigureOutcome, Verdict, figure_report, reproduction_report,
};
use experiments::figures::{FigureOptions, Scale, figure_ids, preset, reproduce, run_figure};

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "logit-reg-figures-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn smoke(id: u32) {
    let dir = TempDir::new(&format!("fig{id}"));
    let options = FigureOptions {
        scale: Scale::Smoke,
        extra: Vec::new(),
        resume: true,
        progress: false,
        // Batches trained two at a time wherever a part has enough of them.
        jobs: 2,
    };
    let outcome = run_figure(id, &options, &dir.0).expect("the figure runs at smoke size");
    assert_eq!(outcome.id, id);
    assert!(outcome.runs > 0);
    assert!(
        !outcome.checks.is_empty(),
        "figure {id} has verdict criteria"
    );
    for file in ["index.csv", "figure.svg", "figure.png", "report.md"] {
        let path = dir.0.join(file);
        let meta =
            std::fs::metadata(&path).unwrap_or_else(|_| panic!("{} missing", path.display()));
        assert!(meta.len() > 0, "{file} is empty");
    }
    let png = std::fs::read(dir.0.join("figure.png")).expect("png");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let report = std::fs::read_to_string(dir.0.join("report.md")).expect("report");
    assert!(report.starts_with(&format!("# Figure {id}: ")));
    // index.csv: one row per run, plus the header.
    let index = std::fs::read_to_string(dir.0.join("index.csv")).expect("index");
    assert_eq!(index.lines().count(), outcome.runs + 1);
    // A second call resumes: nothing is retrained and the outcome is the same.
    let again = run_figure(id, &options, &dir.0).expect("resume");
    assert_eq!(again.rows, outcome.rows);
    assert!(outcome.train_seconds > 0.0);
    assert_eq!(
        again.train_seconds, outcome.train_seconds,
        "figure {id}: read from the same batches"
    );
}

#[test]
fn every_preset_parses_at_both_scales() {
    for id in figure_ids() {
        for scale in [Scale::Quick, Scale::Paper] {
            let p = preset(id, scale).expect("preset");
            assert!(!p.parts.is_empty());
            for part in &p.parts {
                let batches = part.spec.batches(&[]).expect("the sweep expands");
                assert!(!batches.is_empty());
                for b in &batches {
                    b.config.validate().expect("every run's config is valid");
                }
            }
        }
    }
    assert!(preset(10, Scale::Quick).is_err());
}

#[test]
fn paper_scale_uses_the_papers_sizes() {
    let p = preset(1, Scale::Paper).expect("preset");
    let batches = p.parts[0].spec.batches(&[]).expect("batches");
    let c = &batches[0].config;
    assert_eq!((c.data.d, c.data.n, c.train.steps), (1400, 2000, 20_000));
    let q = preset(1, Scale::Quick).expect("preset");
    let c = &q.parts[0].spec.batches(&[]).expect("batches")[0].config;
    assert_eq!((c.data.d, c.data.n), (140, 200), "quick keeps λ = 0.7");
}

#[test]
fn a_figure_trains_the_batches_of_its_parts_that_share_a_draw_as_one_group() {
    // Figure 16: each batch of `gd-random` (a random start) joins the `gd-zero` group of its
    // draw; the exact solvers train alone.
    let options = FigureOptions {
        scale: Scale::Quick,
        extra: vec![],
        resume: true,
        progress: false,
        jobs: 1,
    };
    let plan = experiments::figures::FigurePlan::new(16, &options).expect("plan");
    let names: Vec<&str> = plan.preset.parts.iter().map(|p| p.name.as_str()).collect();
    let part = |name: &str| names.iter().position(|n| *n == name).expect("part");
    let (zero, random) = (part("gd-zero"), part("gd-random"));
    let mut offsets = vec![0];
    for batches in &plan.batches {
        offsets.push(offsets[offsets.len() - 1] + batches.len());
    }
    let part_of = |k: usize| {
        (0..names.len())
            .find(|&p| k < offsets[p + 1])
            .expect("a part")
    };
    let groups = plan.groups();
    assert_eq!(groups.len(), offsets[names.len()]);
    for (k, &g) in groups.iter().enumerate() {
        if part_of(k) == random {
            assert_eq!(part_of(g), zero, "batch {k} of gd-random");
        }
    }
    for (k, &g) in groups.iter().enumerate() {
        if names[part_of(k)].starts_with("exact") {
            assert_eq!(g, k, "an exact solve trains alone");
        }
    }
    // Each gd-zero group takes the gd-random batches of its draw: as many groups as alone.
    let units = |range: std::ops::Range<usize>| range.filter(|&k| groups[k] == k).count();
    let alone = experiments::sweep::batch_groups(&plan.batches[zero]);
    let zero_units = alone.iter().enumerate().filter(|(k, g)| k == *g).count();
    assert_eq!(units(offsets[zero]..offsets[zero + 1]), zero_units);
    assert_eq!(units(offsets[random]..offsets[random + 1]), 0);
}

/// Every figure of the registry, end to end at the smoke size (a figure added to the registry
/// is tested here without another line).
#[test]
fn every_registered_figure_runs_at_smoke_size() {
    for id in figure_ids() {
        smoke(id);
    }
}

fn fixture() -> FigureOutcome {
    FigureOutcome {
        id: 19,
        title: "The slope C²".into(),
        claim: "1/cos² is linear in 1/σ_n².".into(),
        scale: "quick".into(),
        parameters: "d = 140, N = 200".into(),
        solver: "gd".into(),
        header: vec!["quantity".into(), "fit".into(), "theory".into()],
        rows: vec![vec!["slope".into(), "0.70 ± 0.02".into(), "0.7292".into()]],
        checks: vec![
            Check::new("r² ≥ 0.98", "0.995", true),
            Check::new("slope within 20%", "−4%", true),
            Check::new("intercept within 0.1 of 1", "1.3", false),
        ],
        notes: vec!["finite N".into()],
        runs: 24,
        train_seconds: 10.6,
        wall_seconds: 12.4,
        shared_jobs: false,
        batches: "2 batches trained (0 of them redone), 0 complete and skipped".into(),
    }
}

#[test]
fn a_reproduction_trains_its_figures_on_shared_jobs_with_the_results_of_each_alone() {
    // Figure 16 has groups over two parts, 19 exact solves, 4 one batch: on one queue of two
    // jobs, longest first, each index must be the one its figure writes alone on one job.
    let ids = [4, 16, 19];
    let options = |jobs| FigureOptions {
        scale: Scale::Smoke,
        extra: Vec::new(),
        resume: true,
        progress: false,
        jobs,
    };
    let together = TempDir::new("together");
    let outcomes = reproduce(&ids, &options(2), &together.0).expect("the reproduction runs");
    let alone = TempDir::new("alone");
    for (id, outcome) in ids.iter().zip(&outcomes) {
        assert!(outcome.shared_jobs);
        let dir = alone.0.join(format!("fig{id}"));
        let single = run_figure(*id, &options(1), &dir).expect("the figure runs");
        assert!(!single.shared_jobs);
        assert_eq!(outcome.runs, single.runs);
        let read = |path: PathBuf| std::fs::read_to_string(&path).expect("an index");
        assert_eq!(
            read(together.0.join(format!("fig{id}/index.csv"))),
            read(dir.join("index.csv")),
            "figure {id}"
        );
        let report = read(together.0.join(format!("fig{id}/report.md")));
        assert!(report.contains("trained it on jobs shared with the other figures"));
    }
    assert!(together.0.join("report.md").exists());
}

#[test]
fn report_generator_on_a_fixture() {
    let outcome = fixture();
    assert_eq!(outcome.verdict(), Verdict::Partially);
    let text = figure_report(&outcome);
    let expected_start = "# Figure 19: The slope C²\n\n**Claim.** 1/cos² is linear in 1/σ_n².\n\n\
                          **Verdict: partially reproduced** (2 of 3 criteria met).\n\n\
                          ![figure 19](figure.png)\n\n\
                          Scale `quick`: d = 140, N = 200. Solver: gd. 24 runs; training time 11 s \
                          (sum over batches, which concurrent jobs overlap); this invocation 12 s: 2 \
                          batches trained (0 of them redone), 0 \
                          complete and skipped.\n\n\
                          | quantity | fit | theory |\n|---|---|---|\n| slope | 0.70 ± 0.02 | 0.7292 |\n";
    assert!(text.starts_with(expected_start), "got:\n{text}");
    assert!(text.contains("| intercept within 0.1 of 1 | 1.3 | no |\n"));
    assert!(text.contains("- finite N\n"));
    // In a reproduction, the figure's own time is that of its analysis.
    let shared = FigureOutcome {
        shared_jobs: true,
        ..fixture()
    };
    assert!(figure_report(&shared).contains(
        "training time 11 s (sum over batches, which concurrent jobs overlap); this invocation \
         trained it on jobs shared with the other figures and analysed it in 12 s: 2 batches \
         trained"
    ));

    let mut all_met = fixture();
    all_met.checks.truncate(2);
    assert_eq!(all_met.verdict(), Verdict::Reproduced);
    let top = reproduction_report(&[outcome, all_met], "quick", 90.0);
    assert!(top.contains(
        "Scale `quick`; 2 figures; training time 0.4 min in total (the sum over the batches, \
         whenever they were trained; concurrent jobs overlap them, so it can exceed the \
         invocation's time); this invocation took 1.5 min."
    ));
    assert!(
        top.contains("| [19](#figure-19) | The slope C² | partially reproduced | 2/3 | 24 | 11 |")
    );
    assert!(top.contains("| reproduced | 2/2 |"));
    assert!(top.contains("<a id=\"figure-19\"></a>\n\n## Figure 19: The slope C²"));
    assert!(top.contains("![figure 19](fig19/figure.png)"));
    assert_eq!(Verdict::from_counts(0, 3), Verdict::NotReproduced);
}

#[test]
fn criteria_exact_by_construction_are_shown_but_not_counted() {
    // The two evidence criteria hold; the identity fails (a bug), and is still not counted.
    let mut outcome = fixture();
    outcome.checks = vec![
        Check::new("r² ≥ 0.98", "0.995", true),
        Check::new("slope within 20%", "−4%", true),
        Check::by_construction("intercept 1", "1", false, "shared draws"),
    ];
    assert_eq!(outcome.verdict(), Verdict::Reproduced);
    assert_eq!((outcome.criteria_met(), outcome.criteria_counted()), (2, 2));
    let text = figure_report(&outcome);
    assert!(text.contains(
        "**Verdict: reproduced** (2 of 2 criteria met; 1 more exact by construction, not counted)."
    ));
    assert!(
        text.contains(
            "| intercept 1 (exact by construction: shared draws) | 1 | no, not counted |\n"
        )
    );
    // Only identities: nothing is evidence, so nothing is reproduced.
    outcome.checks = vec![Check::by_construction("x = x", "0", true, "identity")];
    assert_eq!(outcome.verdict(), Verdict::NotReproduced);
    assert!(reproduction_report(&[outcome], "quick", 1.0).contains("| not reproduced | 0/0 |"));
}

#[test]
fn threshold_and_boundary_estimators_on_hand_made_curves() {
    // Accuracy 1 up to λ = 0.9, then 0.95 at λ = 1.1: threshold (0.9 + 1.1)/2 = 1.0 ± 0.1.
    let pts = [(0.5, 1.0), (0.9, 0.995), (1.1, 0.95), (1.5, 0.9)];
    let (t, h) = threshold(&pts, 0.99);
    assert!((t - 1.0).abs() < 1e-12 && (h - 0.1).abs() < 1e-12);
    assert_eq!(threshold(&[(0.1, 1.0)], 0.99).0, f64::INFINITY);
    // Δ = −0.1 at σ_n = 1 and +0.1 at σ_n = 4: the sign change is halfway in log σ_n, at 2.
    let b = helps_boundary(&[(0.5, -0.2), (1.0, -0.1), (4.0, 0.1)]);
    assert!((b - 2.0).abs() < 1e-12);
    assert_eq!(helps_boundary(&[(1.0, 0.1), (2.0, 0.2)]), f64::NEG_INFINITY);
    assert_eq!(helps_boundary(&[(1.0, -0.1), (2.0, 0.0)]), f64::INFINITY);
    // The phase diagram's boundary criterion: rising passes; a fall of more than 10 % (a made-up
    // wrong diagram), or fewer than three σ_f inside the grid, fails.
    let rising = [(0.2, 0.7), (0.4, 1.0), (0.6, 1.5), (0.8, 1.8)];
    let (rises, worst) = boundary_rises(&rising);
    assert!(rises && (worst - 1.2).abs() < 1e-12, "{worst}");
    assert!(
        boundary_rises(&[(0.2, 0.7), (0.4, 0.66), (0.6, 1.5)]).0,
        "−6 % is within 10 %"
    );
    let (falls, worst) = boundary_rises(&[(0.2, 1.0), (0.4, 0.8), (0.6, 1.5)]);
    assert!(!falls && (worst - 0.8).abs() < 1e-12);
    assert!(!boundary_rises(&[(0.2, 0.7), (0.4, 1.0)]).0);
    // The phase diagrams' σ_n grid keeps the paper's points and, over [0.4, 3], is fine enough
    // that half a step (√ratio in log) is below the criterion's 10 %.
    let grid = phase_sigma_ns();
    assert!(PHASE_SIGMA_N.iter().all(|p| grid.contains(p)));
    assert!(PHASE_GRID_RATIO.sqrt() < 1.1);
    for w in grid.windows(2).filter(|w| w[0] >= 0.4 && w[1] <= 3.0) {
        assert!(w[1] / w[0] <= PHASE_GRID_RATIO, "{} → {}", w[0], w[1]);
    }
}

#[test]
fn label_smoothing_against_quadratic_criterion_fails_on_a_made_up_gap() {
    // Two accuracy curves over λ that agree to 0.005 except at λ = 0.9, where the made-up
    // label-smoothing curve is 0.05 lower: the criterion must name that λ and fail.
    let quadratic = [(0.3, 0.95), (0.6, 0.90), (0.9, 0.80), (1.2, 0.70)];
    let close = [(0.3, 0.952), (0.6, 0.895), (0.9, 0.801), (1.2, 0.70)];
    let (gap, at) = largest_gap(&quadratic, &close);
    assert!((gap - 0.005).abs() < 1e-12 && (at - 0.6).abs() < 1e-12);
    assert!(gap <= PENALTY_AGREEMENT);
    let wrong = [(0.3, 0.952), (0.6, 0.895), (0.9, 0.75), (1.2, 0.70)];
    let (gap, at) = largest_gap(&quadratic, &wrong);
    assert!((gap - 0.05).abs() < 1e-12 && (at - 0.9).abs() < 1e-12);
    assert!(gap > PENALTY_AGREEMENT);
    // Only shared λ count; none shared gives NaN, which fails any `<=` criterion.
    let (gap, _) = largest_gap(&quadratic, &[(0.45, 0.0)]);
    assert!(gap.is_nan());
    // The random start of figure 16: s = 1/√N, so that ‖S₀‖² = d s² = λ has mean 1 at λ = 1.
    assert!((random_start_std(2000) - 1.0 / 2000f64.sqrt()).abs() < 1e-15);
}

#[test]
fn plots_are_written_as_svg_and_png_with_the_embedded_font() {
    let dir = TempDir::new("plot");
    let panel = Panel {
        title: "test panel".into(),
        x_label: "λ".into(),
        y_label: "accuracy".into(),
        log_x: true,
        series: vec![
            Series::new(
                "measured",
                Style::Measured,
                0,
                vec![
                    Point {
                        x: 0.1,
                        y: 1.0,
                        err: 0.01,
                    },
                    Point {
                        x: 1.0,
                        y: 0.8,
                        err: 0.02,
                    },
                ],
            ),
            Series::new(
                "theory",
                Style::Theory,
                1,
                vec![Point::new(0.1, 1.0), Point::new(1.0, 0.75)],
            ),
        ],
        vlines: vec![(0.5, "λ_c".into(), 7)],
        ..Default::default()
    };
    let (svg, png) = (dir.0.join("f.svg"), dir.0.join("f.png"));
    write_figure(&[panel.clone(), panel], "fixture figure", 2, &svg, &png).expect("plot");
    let text = std::fs::read_to_string(&svg).expect("svg");
    assert!(
        text.contains("<svg") && text.contains("fixture figure") && text.contains("test panel")
    );
    let bytes = std::fs::read(&png).expect("png");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    // Text was rasterised: the PNG differs from an all-white image of the same size, and
    // no partial file is left behind.
    assert!(bytes.len() > 2000);
    assert!(!dir.0.join(".f.partial.png").exists());
}

#[test]
fn the_tasks_table_keeps_a_group_on_one_task() {
    use experiments::figures::{Estimate, tasks_table};
    let batch =
        |name: &str, seconds: f64, group: &str| (name.to_string(), 1.0, seconds, group.to_string());
    // b0000 and b0001 train as one group (10 s, carried by its first batch); b0002 alone (4 s).
    let estimate = Estimate {
        id: 16,
        batches: 3,
        runs: 3,
        steps: 0,
        seconds: 14.0,
        per_batch: vec![
            batch("gd/b0000", 10.0, "gd/b0000"),
            batch("gd/b0001", 0.0, "gd/b0000"),
            batch("gd/b0002", 4.0, "gd/b0002"),
        ],
        flops: 0.0,
        x_bytes: 0.0,
        counted_seconds: 0.0,
        floor_seconds: 0.0,
        uncounted: 0,
    };
    let table = tasks_table(&[estimate], &[1, 2]);
    // One task: 14 s. Two: the group (cost 2) on one task, b0002 on the other, so the wall
    // time is the group's 10 s and the largest share is 10 / 7 of the mean.
    assert!(table.contains("| 1 | 14 s | 1.00 |"), "{table}");
    assert!(table.contains("| 2 | 10 s | 1.43 |"), "{table}");
    assert!(table.contains("figure 16 gd/b0000 (10 s)"), "{table}");
}
