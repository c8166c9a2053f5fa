//! The registry: the one list of the figures. The CLI's help and id validation, `reproduce`,
//! the estimate, the smoke tests and the top-level report all read it. Adding a figure is one
//! new file (`figNN.rs`, with a `FIGURE` constant) and one line in [`FIGURES`].

use super::analysis::{Analysis, Parts};
use super::presets::{Part, Scale, shrink_for_smoke};
use super::{
    fig01, fig02, fig03, fig04, fig05, fig06, fig07, fig08, fig09, fig13, fig15, fig16, fig17,
    fig18, fig19, fig20, fig101,
};
use crate::ExperimentError;

/// A figure: its number in the paper, what it claims, its sweeps at each scale, and its
/// analysis of their results.
#[derive(Debug, Clone, Copy)]
pub struct Figure {
    /// The paper's figure number; 100 and above are studies beyond the paper.
    pub id: u32,
    /// Short title.
    pub title: &'static str,
    /// The claim in one sentence.
    pub claim: &'static str,
    /// The sweeps (parts) at a scale.
    pub parts: fn(Scale) -> Result<Vec<Part>, ExperimentError>,
    /// The analysis of the parts' results.
    pub analyse: fn(&Parts) -> Result<Analysis, ExperimentError>,
}

/// Every figure with a preset, in the order `reproduce` runs them (the paper's numbering, then
/// the studies beyond it).
pub const FIGURES: &[Figure] = &[
    fig01::FIGURE,
    fig02::FIGURE,
    fig03::FIGURE,
    fig04::FIGURE,
    fig05::FIGURE,
    fig06::FIGURE,
    fig07::FIGURE,
    fig08::FIGURE,
    fig09::FIGURE,
    fig13::FIGURE,
    fig15::FIGURE,
    fig16::FIGURE,
    fig17::FIGURE,
    fig18::FIGURE,
    fig19::FIGURE,
    fig20::FIGURE,
    fig101::FIGURE,
];

/// The ids of [`FIGURES`], in order.
pub fn figure_ids() -> Vec<u32> {
    FIGURES.iter().map(|f| f.id).collect()
}

/// The ids as text, `1, 2, 4, …` (for help and errors).
pub fn figure_list() -> String {
    figure_ids()
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The figure with number `id`; an error naming the known ids otherwise.
pub fn figure(id: u32) -> Result<&'static Figure, ExperimentError> {
    FIGURES.iter().find(|f| f.id == id).ok_or_else(|| {
        ExperimentError::invalid(
            "figure",
            &id.to_string(),
            &format!("one of {}", figure_list()),
        )
    })
}

/// A figure's preset at one scale: the figure and its sweeps.
#[derive(Debug, Clone)]
pub struct Preset {
    /// The figure.
    pub figure: &'static Figure,
    /// The sweeps.
    pub parts: Vec<Part>,
    /// The scale.
    pub scale: Scale,
}

/// The preset of figure `id` at `scale` (the smoke scale shrinks the quick sweeps).
pub fn preset(id: u32, scale: Scale) -> Result<Preset, ExperimentError> {
    let figure = figure(id)?;
    let mut parts = (figure.parts)(scale)?;
    if scale == Scale::Smoke {
        for p in &mut parts {
            shrink_for_smoke(&mut p.spec)?;
        }
    }
    Ok(Preset {
        figure,
        parts,
        scale,
    })
}
