//! The fused engine as the step loops drive it: the primal form ([`FusedTrainer`], the
//! pipelined and blocked kernels) or the dual form ([`DualTrainer`]), chosen by the spec's
//! kernel.

use super::dual::DualTrainer;
use super::gd::{ColumnMap, FusedKernel, FusedLoss, FusedOptimizer, FusedSpec, FusedTrainer};
use super::kernels::HostFloat;

/// The fused engine for M runs: [`FusedKernel::Dual`] trains in the span of the rows, every
/// other kernel in the inputs' own coordinates. Both take the same steps, to rounding. (One
/// engine lives per batch, so the size of the variants does not matter.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum FusedEngine<T: HostFloat> {
    /// The primal form (pipelined or blocked kernel).
    Primal(FusedTrainer<T>),
    /// The dual form.
    Dual(DualTrainer<T>),
}

/// Whether `spec` asks for the dual form, which only binary GD runs can take.
///
/// # Panics
/// If the dual form is asked for runs it cannot take (the config refuses these first).
fn dual(spec: &FusedSpec) -> bool {
    let wanted = spec.kernel == FusedKernel::Dual;
    if wanted {
        assert!(
            matches!(spec.loss, FusedLoss::Margin { .. }) && spec.optimizer == FusedOptimizer::Gd,
            "the dual form takes binary runs by GD"
        );
    }
    wanted
}

impl<T: HostFloat> FusedEngine<T> {
    /// The engine for inputs `x` (see [`FusedTrainer::new`] and [`DualTrainer::new`]).
    ///
    /// # Shapes
    /// - `x`: `[N·d]`, `weights`: `[d·M·C]`, `bias`: `[M·C]`
    pub fn new(
        x: &[f64],
        d: usize,
        weights: &[f64],
        bias: Option<&[f64]>,
        spec: FusedSpec,
    ) -> Self {
        if dual(&spec) {
            Self::Dual(DualTrainer::new(x, d, weights, spec))
        } else {
            Self::Primal(FusedTrainer::new(x, d, weights, bias, spec))
        }
    }

    /// The engine for runs on column maps of one base matrix (see
    /// [`FusedTrainer::new_mapped`] and [`DualTrainer::new_mapped`]).
    ///
    /// # Shapes
    /// - `base`: `[N·(d+1)]`, `weights`: `[d·M]`, `maps`: `[M]`
    pub fn new_mapped(
        base: &[f64],
        d: usize,
        weights: &[f64],
        maps: &[ColumnMap],
        spec: FusedSpec,
    ) -> Self {
        if dual(&spec) {
            Self::Dual(DualTrainer::new_mapped(base, d, weights, maps, spec))
        } else {
            Self::Primal(FusedTrainer::new_mapped(base, d, weights, maps, spec))
        }
    }

    /// Number of runs M.
    pub fn runs(&self) -> usize {
        match self {
            Self::Primal(e) => e.runs(),
            Self::Dual(e) => e.runs(),
        }
    }

    /// The kernel in use (never [`FusedKernel::Auto`]).
    pub fn kernel(&self) -> FusedKernel {
        match self {
            Self::Primal(e) => e.kernel(),
            Self::Dual(_) => FusedKernel::Dual,
        }
    }

    /// Computes every run's gradient at the current weights and flags suspect runs.
    pub fn compute_gradient(&mut self) {
        match self {
            Self::Primal(e) => e.compute_gradient(),
            Self::Dual(e) => e.compute_gradient(),
        }
    }

    /// Per run, whether a margin of the last gradient was NaN or beyond
    /// [`super::SUSPECT_MARGIN`].
    pub fn suspect(&self) -> &[bool] {
        match self {
            Self::Primal(e) => e.suspect(),
            Self::Dual(e) => e.suspect(),
        }
    }

    /// Each run's objective at the current weights (after the step's gradient).
    pub fn objective(&self) -> Vec<f64> {
        match self {
            Self::Primal(e) => e.objective(),
            Self::Dual(e) => e.objective(),
        }
    }

    /// Each run's gradient norm at the last gradient.
    pub fn gradient_norms(&self) -> Vec<f64> {
        match self {
            Self::Primal(e) => e.gradient_norms(),
            Self::Dual(e) => e.gradient_norms(),
        }
    }

    /// One optimiser step with the last gradient.
    pub fn update(&mut self) {
        match self {
            Self::Primal(e) => e.update(),
            Self::Dual(e) => e.update(),
        }
    }

    /// The weights, row-major `[d, M·C]` in f64.
    pub fn weights(&self) -> Vec<f64> {
        match self {
            Self::Primal(e) => e.weights(),
            Self::Dual(e) => e.weights(),
        }
    }

    /// The bias `[M·C]` (multi-class; `None` for a binary loss).
    pub fn bias(&self) -> Option<Vec<f64>> {
        match self {
            Self::Primal(e) => e.bias(),
            Self::Dual(_) => None,
        }
    }
}
