//! Training loops, metrics, sweeps, paper figures and reports for `logit-reg`.
//!
//! The training library arrives with the training issue; for now this crate only names the
//! layers it builds on.

pub use logit_reg_data as data;
pub use logit_reg_model as model;
