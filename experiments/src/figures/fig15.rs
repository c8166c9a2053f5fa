//! Figure 15: the phase diagram of figure 6 at λ = 0.4 (d = 800, N = 2000); the preset and the
//! analysis are figure 6's ([`super::fig06::phase_parts`], [`super::fig06::analyse_phase`]).

use super::fig06::{PHASE_CLAIM, analyse_phase, phase_parts};
use super::presets::{Part, Scale};
use super::registry::Figure;
use crate::ExperimentError;

/// Figure 15.
pub(super) const FIGURE: Figure = Figure {
    id: 15,
    title: "When regularisation helps (λ = 0.4)",
    claim: PHASE_CLAIM,
    parts,
    analyse: analyse_phase,
};

/// The sweeps of figure 15 at `scale`.
fn parts(scale: Scale) -> Result<Vec<Part>, ExperimentError> {
    phase_parts(scale, 800)
}
