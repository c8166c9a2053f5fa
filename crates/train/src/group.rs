//! Training several batches together when their inputs are column maps of one base matrix
//! ([`ColumnMap`]): in the signal-plus-noise model with shared noise draws, batches that differ
//! only in σ_f and σ_n train on `x = (y μ_f + σ_f ξ_f, σ_n ξ_⊥)` of the same draw (y, ξ_f, ξ_⊥),
//! so one pass over `B = [y, ξ_f, ξ_⊥]` per step serves all their runs
//! ([`FusedEngine::new_mapped`]).
//!
//! [`train_group`] runs the fused engine's step loop for the whole group under the rules of
//! [`crate::train`] (logging steps, divergence per run, a batch ends when all its runs have
//! diverged), and records each batch's weights and objectives at the steps its measurements
//! need. [`crate::engine::replay`] then plays one batch's [`Recording`] to the same observer
//! that [`crate::train`] would call, so that each batch is measured on its own data set exactly
//! as if it had been trained alone (to rounding: its logits were summed as `B u`, not `X w`).

use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use logit_reg_model::penalty::LogitPenalty;

use crate::engine::{LoopState, TrainOutcome};
use crate::fused::{
    ColumnMap, FusedEngine, FusedKernel, FusedLoss, FusedOptimizer, FusedSpec, HostFloat,
    PointwiseMarginLoss,
};
use crate::spec::EngineName;

/// One batch of a group: its runs' initial weights, α, learning rates, and the map from the
/// base matrix to its inputs.
#[derive(Debug, Clone)]
pub struct GroupMember {
    /// Initial weights of the batch's runs, row-major `[d, M]`.
    pub weights: Vec<f64>,
    /// α of each run, `[M]`.
    pub alpha: Vec<f64>,
    /// η of each run, `[M]`.
    pub lr: Vec<f64>,
    /// How the batch's inputs are formed from the base matrix.
    pub map: ColumnMap,
}

/// What every batch of a group shares besides the data.
#[derive(Debug, Clone)]
pub struct GroupSpec {
    /// The penalty f of the loss (`None`: plain logistic loss, every α 0).
    pub penalty: Option<Arc<dyn LogitPenalty>>,
    /// The update rule.
    pub optimizer: FusedOptimizer,
    /// γ of the weight-decay term.
    pub weight_decay: f64,
    /// Sum instead of mean over the samples in the data term.
    pub sum_data_term: bool,
    /// Threads (0: the available cores).
    pub threads: usize,
    /// The kernel (`Auto`: for GD, the dual form from a base width d + 1 ≥
    /// [`crate::fused::DUAL_MIN_RATIO`]·N on, the ratio of
    /// [`FusedKernel::with_dual_form`] for the whole group's runs; else by the number of runs
    /// in the whole group).
    pub kernel: FusedKernel,
    /// Steps of every batch.
    pub steps: u64,
    /// The steps whose weights the batches' measurements need (the final step is always
    /// recorded).
    pub record_steps: BTreeSet<u64>,
    /// Compute in f64 (true) or f32.
    pub f64: bool,
}

/// One batch's state at a recorded step.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Steps taken (0: the initial weights).
    pub step: u64,
    /// The batch's weights, row-major `[d, M]`.
    pub weights: Vec<f64>,
    /// Each run's objective at this step (before the update).
    pub objective: Vec<f64>,
    /// Per run: the step and loss at which it diverged, if it has.
    pub diverged: Vec<Option<(u64, f64)>>,
    /// Whether this is the batch's final state (the step limit, or every run diverged).
    pub last: bool,
}

/// What [`train_group`] recorded of one batch.
#[derive(Debug, Clone)]
pub struct Recording {
    /// The batch's states at its recorded steps, in order; the last has `last` set.
    pub snapshots: Vec<Snapshot>,
    /// How the batch's training ended.
    pub outcome: TrainOutcome,
    /// The batch's share of the group's training time, by its share of the runs, seconds.
    pub train_seconds: f64,
    /// Batches and runs in the group.
    pub group: (usize, usize),
}

/// Trains every batch of a group on the base matrix `base` (row-major `[N, d + 1]`) with the
/// training labels `labels` (±1, `[N]`), and records each batch at `spec.record_steps`, at its
/// last step, and when all its runs have diverged.
///
/// # Shapes
/// - `base`: `[N·(d+1)]`, `labels`: `[N]`; per member, `weights` `[d·M_b]`, `alpha`, `lr` `[M_b]`
///
/// `progress` is called with the step before each update.
///
/// # Panics
/// If the shapes disagree, or a member has no runs.
pub fn train_group(
    base: &[f64],
    labels: &[f64],
    d: usize,
    members: &[GroupMember],
    spec: &GroupSpec,
    progress: impl Fn(u64),
) -> Vec<Recording> {
    if spec.f64 {
        train_group_in::<f64>(base, labels, d, members, spec, progress)
    } else {
        train_group_in::<f32>(base, labels, d, members, spec, progress)
    }
}

fn train_group_in<T: HostFloat>(
    base: &[f64],
    labels: &[f64],
    d: usize,
    members: &[GroupMember],
    spec: &GroupSpec,
    progress: impl Fn(u64),
) -> Vec<Recording> {
    let start = Instant::now();
    let mut ranges: Vec<Range<usize>> = Vec::with_capacity(members.len());
    let (mut alpha, mut lr, mut maps) = (Vec::new(), Vec::new(), Vec::new());
    for member in members {
        let runs = member.lr.len();
        assert!(runs >= 1, "a member has runs");
        assert_eq!(member.alpha.len(), runs, "one α per run");
        assert_eq!(member.weights.len(), d * runs, "weights are [d, M]");
        let first = ranges.last().map_or(0, |r| r.end);
        ranges.push(first..first + runs);
        alpha.extend_from_slice(&member.alpha);
        lr.extend_from_slice(&member.lr);
        maps.extend(std::iter::repeat_n(member.map, runs));
    }
    let total = ranges.last().map_or(0, |r| r.end);
    // The group's initial weights, row-major [d, total], column by column from the members.
    let mut weights = vec![0.0; d * total];
    for (member, range) in members.iter().zip(&ranges) {
        let runs = range.len();
        for j in 0..d {
            for r in 0..runs {
                weights[j * total + range.start + r] = member.weights[j * runs + r];
            }
        }
    }
    let runs = lr.len();
    let fused = FusedSpec {
        loss: FusedLoss::Margin {
            loss: PointwiseMarginLoss {
                alpha,
                penalty: spec.penalty.clone(),
            },
            labels: labels.to_vec(),
        },
        optimizer: spec.optimizer,
        lr,
        weight_decay: spec.weight_decay,
        sum_data_term: spec.sum_data_term,
        threads: spec.threads,
        // A group has no gradient tolerance (its runs take every step).
        kernel: spec.kernel.with_dual_form(
            spec.optimizer == FusedOptimizer::Gd,
            0.0,
            runs,
            labels.len(),
            d + 1,
        ),
    };
    let mut engine = FusedEngine::<T>::new_mapped(base, d, &weights, &maps, fused);
    let kernel = engine.kernel();
    let mut state = LoopState::new(total);
    let mut recordings: Vec<Option<Recording>> = vec![None; members.len()];
    let mut snapshots: Vec<Vec<Snapshot>> = vec![Vec::new(); members.len()];
    let finished = |state: &LoopState, range: &Range<usize>| {
        state.step >= spec.steps || state.diverged[range.clone()].iter().all(Option::is_some)
    };
    loop {
        engine.compute_gradient();
        state.record_suspects(&engine);
        let open = |recordings: &[Option<Recording>], state: &LoopState| {
            (0..ranges.len()).any(|g| recordings[g].is_none() && finished(state, &ranges[g]))
        };
        if spec.record_steps.contains(&state.step) || open(&recordings, &state) {
            let objective = engine.objective();
            state.record(&objective);
            let all = engine.weights();
            for (g, range) in ranges.iter().enumerate() {
                if recordings[g].is_some() {
                    continue;
                }
                let last = finished(&state, range);
                if !(last || spec.record_steps.contains(&state.step)) {
                    continue;
                }
                let runs = range.len();
                let mut own = vec![0.0; d * runs];
                for j in 0..d {
                    own[j * runs..(j + 1) * runs]
                        .copy_from_slice(&all[j * total + range.start..j * total + range.end]);
                }
                snapshots[g].push(Snapshot {
                    step: state.step,
                    weights: own,
                    objective: objective[range.clone()].to_vec(),
                    diverged: state.diverged[range.clone()].to_vec(),
                    last,
                });
                if last {
                    recordings[g] = Some(Recording {
                        snapshots: std::mem::take(&mut snapshots[g]),
                        outcome: TrainOutcome {
                            steps: state.step,
                            converged: false,
                            diverged: state.diverged[range.clone()].to_vec(),
                            gradient_norms: None,
                            engine: EngineName::Fused,
                            fused_kernel: Some(kernel),
                        },
                        train_seconds: 0.0,
                        group: (members.len(), total),
                    });
                }
            }
            if recordings.iter().all(Option::is_some) {
                break;
            }
        }
        progress(state.step);
        engine.update();
        state.step += 1;
    }
    let seconds = start.elapsed().as_secs_f64();
    recordings
        .into_iter()
        .zip(&ranges)
        .map(|(recording, range)| {
            let mut recording = recording.expect("every batch finished");
            recording.train_seconds = seconds * range.len() as f64 / total as f64;
            recording
        })
        .collect()
}
