//! `report.md`: per figure the claim, the figure, measured values against theory and a verdict;
//! and the top-level report over all figures.

use std::fmt::Write;

/// Whether a figure's claim was reproduced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every criterion met.
    Reproduced,
    /// Some criteria met.
    Partially,
    /// No criterion met.
    NotReproduced,
}

impl Verdict {
    /// From the number of criteria met out of `total`.
    pub fn from_counts(met: usize, total: usize) -> Self {
        if total > 0 && met == total {
            Self::Reproduced
        } else if met > 0 {
            Self::Partially
        } else {
            Self::NotReproduced
        }
    }

    /// The word used in the reports.
    pub fn word(self) -> &'static str {
        match self {
            Self::Reproduced => "reproduced",
            Self::Partially => "partially reproduced",
            Self::NotReproduced => "not reproduced",
        }
    }
}

/// One verdict criterion: what was tested, the numbers, and whether it held.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// What the criterion is, with its tolerance.
    pub criterion: String,
    /// The measured numbers behind it.
    pub measured: String,
    /// Whether it held.
    pub passed: bool,
    /// Whether it is evidence for the claim. A criterion that holds by construction of the
    /// setup (an identity no plausible wrong result could break) is still shown, marked as
    /// such, but does not count towards the verdict.
    pub evidence: bool,
}

impl Check {
    /// A criterion that counts towards the verdict.
    pub fn new(criterion: impl Into<String>, measured: impl Into<String>, passed: bool) -> Self {
        Self {
            criterion: criterion.into(),
            measured: measured.into(),
            passed,
            evidence: true,
        }
    }

    /// A criterion that holds by construction of the setup: reported (a failure would reveal a
    /// bug) but not counted as evidence for the claim. `why` says what makes it an identity.
    pub fn by_construction(
        criterion: impl Into<String>,
        measured: impl Into<String>,
        passed: bool,
        why: &str,
    ) -> Self {
        Self {
            criterion: format!("{} (exact by construction: {why})", criterion.into()),
            measured: measured.into(),
            passed,
            evidence: false,
        }
    }

    /// The `met` cell of the report's table.
    pub fn met_word(&self) -> &'static str {
        match (self.passed, self.evidence) {
            (true, true) => "yes",
            (false, true) => "no",
            (true, false) => "yes, not counted",
            (false, false) => "no, not counted",
        }
    }
}

/// What the analysis of one figure produced, for the report.
#[derive(Debug, Clone, PartialEq)]
pub struct FigureOutcome {
    /// The paper's figure number.
    pub id: u32,
    /// Short title.
    pub title: String,
    /// The claim in one sentence.
    pub claim: String,
    /// The scale (`quick` or `paper`).
    pub scale: String,
    /// The parameters actually used, in one line.
    pub parameters: String,
    /// Which solver produced the runs (`gd`, `adam`, ...).
    pub solver: String,
    /// Table header.
    pub header: Vec<String>,
    /// Table rows (measured against theory).
    pub rows: Vec<Vec<String>>,
    /// The verdict criteria.
    pub checks: Vec<Check>,
    /// Further notes (deviations from the paper, caveats).
    pub notes: Vec<String>,
    /// Runs trained.
    pub runs: usize,
    /// Training time: the sum over the figure's batches of each batch's `wall_seconds`
    /// (training and metrics; data generation excluded), whenever the batch was trained.
    pub train_seconds: f64,
    /// Wall time of the invocation that wrote the report (small when it resumed), seconds; with
    /// `shared_jobs`, of the figure's indexing, analysis and drawing alone.
    pub wall_seconds: f64,
    /// Whether its batches were trained on jobs shared with the other figures of a
    /// reproduction (whose report gives the wall time of the whole).
    pub shared_jobs: bool,
    /// What this invocation did with the batches: trained, redone, reused (one phrase).
    pub batches: String,
}

impl FigureOutcome {
    /// The verdict: reproduced when every criterion that counts as evidence passed.
    pub fn verdict(&self) -> Verdict {
        Verdict::from_counts(self.criteria_met(), self.criteria_counted())
    }

    /// The criteria that count as evidence and held.
    pub fn criteria_met(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.evidence && c.passed)
            .count()
    }

    /// The criteria that count as evidence (those not exact by construction).
    pub fn criteria_counted(&self) -> usize {
        self.checks.iter().filter(|c| c.evidence).count()
    }

    /// "k of n criteria met", naming those not counted.
    pub fn criteria_phrase(&self) -> String {
        let uncounted = self.checks.len() - self.criteria_counted();
        let mut phrase = format!(
            "{} of {} criteria met",
            self.criteria_met(),
            self.criteria_counted()
        );
        if uncounted > 0 {
            phrase.push_str(&format!(
                "; {uncounted} more exact by construction, not counted"
            ));
        }
        phrase
    }
}

/// Formats a number for a table: 4 significant digits without trailing zeros, `–` for NaN.
pub fn num(v: f64) -> String {
    significant(v, 4)
}

/// `v` to `digits` significant digits, trailing zeros dropped; `–` for NaN, `∞` for infinity.
pub fn significant(v: f64, digits: i32) -> String {
    if v.is_nan() {
        return "–".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "∞".into()
        } else {
            "−∞".into()
        };
    }
    if v == 0.0 {
        return "0".into();
    }
    let magnitude = v.abs().log10().floor() as i32;
    if !(-3..6).contains(&magnitude) {
        return format!("{v:.*e}", (digits - 1).max(0) as usize);
    }
    let decimals = (digits - 1 - magnitude).max(0) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// `mean ± std`: the mean with [`num`], the spread to 2 significant digits.
pub fn pm(mean: f64, std: f64) -> String {
    if std.is_finite() && std > 0.0 {
        format!("{} ± {}", num(mean), significant(std, 2))
    } else {
        num(mean)
    }
}

fn markdown_table(out: &mut String, header: &[String], rows: &[Vec<String>]) {
    if header.is_empty() {
        return;
    }
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
}

/// The body of one figure's section; `image` is the figure's path relative to the report.
pub fn figure_section(outcome: &FigureOutcome, image: &str, heading: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{heading} Figure {}: {}\n", outcome.id, outcome.title);
    let _ = writeln!(out, "**Claim.** {}\n", outcome.claim);
    let _ = writeln!(
        out,
        "**Verdict: {}** ({}).\n",
        outcome.verdict().word(),
        outcome.criteria_phrase()
    );
    let _ = writeln!(out, "![figure {}]({image})\n", outcome.id);
    let invocation = if outcome.shared_jobs {
        "this invocation trained it on jobs shared with the other figures and analysed it in"
    } else {
        "this invocation"
    };
    let _ = writeln!(
        out,
        "Scale `{}`: {}. Solver: {}. {} runs; training time {:.0} s (sum over batches, which \
         concurrent jobs overlap); {invocation} {:.0} s: {}.\n",
        outcome.scale,
        outcome.parameters,
        outcome.solver,
        outcome.runs,
        outcome.train_seconds,
        outcome.wall_seconds,
        outcome.batches
    );
    markdown_table(&mut out, &outcome.header, &outcome.rows);
    let header = ["criterion", "measured", "met"].map(String::from);
    let rows: Vec<Vec<String>> = outcome
        .checks
        .iter()
        .map(|c| vec![c.criterion.clone(), c.measured.clone(), c.met_word().into()])
        .collect();
    markdown_table(&mut out, &header, &rows);
    for note in &outcome.notes {
        let _ = writeln!(out, "- {note}");
    }
    if !outcome.notes.is_empty() {
        out.push('\n');
    }
    out
}

/// `report.md` of one figure.
pub fn figure_report(outcome: &FigureOutcome) -> String {
    let mut out = figure_section(outcome, "figure.png", "#");
    out.push_str(
        "Files: `index.csv` (one row per run: parameters and final metrics), `figure.svg`, \
         `figure.png`, `parts/*/` (each part's sweep spec, batches, metrics.csv per batch).\n",
    );
    out
}

/// The top-level `report.md` over every figure of a reproduction.
pub fn reproduction_report(outcomes: &[FigureOutcome], scale: &str, total_seconds: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Reproduction of \"The Implicit Bias of Logit Regularization\" (arXiv 2602.12039)\n"
    );
    let train: f64 = outcomes.iter().map(|o| o.train_seconds).sum();
    let _ = writeln!(
        out,
        "Scale `{scale}`; {} figures; training time {:.1} min in total (the sum over the \
         batches, whenever they were trained; concurrent jobs overlap them, so it can exceed \
         the invocation's time); this invocation took {:.1} min. Generated by \
         `experiments reproduce --scale {scale}`; every number below comes from the runs in \
         the `fig*/` directories.\n",
        outcomes.len(),
        train / 60.0,
        total_seconds / 60.0
    );
    let header = [
        "figure",
        "claim",
        "verdict",
        "criteria met",
        "runs",
        "training time (s)",
    ]
    .map(String::from);
    let rows: Vec<Vec<String>> = outcomes
        .iter()
        .map(|o| {
            vec![
                format!("[{}](#figure-{})", o.id, o.id),
                o.title.clone(),
                o.verdict().word().into(),
                format!("{}/{}", o.criteria_met(), o.criteria_counted()),
                o.runs.to_string(),
                format!("{:.0}", o.train_seconds),
            ]
        })
        .collect();
    markdown_table(&mut out, &header, &rows);
    for outcome in outcomes {
        let _ = writeln!(out, "<a id=\"figure-{}\"></a>\n", outcome.id);
        out.push_str(&figure_section(
            outcome,
            &format!("fig{}/figure.png", outcome.id),
            "##",
        ));
    }
    out
}
