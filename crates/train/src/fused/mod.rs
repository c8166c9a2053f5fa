//! The fused host engine (`train.engine = "fused"`): full-batch training of M linear runs,
//! reading X once per step. It takes
//!
//! - binary runs (one logit, no bias) with a pointwise margin loss ([`FusedLoss::Margin`]),
//! - K-class runs (K logits and a bias) with softmax cross-entropy plus α f(z)
//!   ([`FusedLoss::Softmax`]),
//!
//! with weight decay, by gradient descent or full-batch Adam ([`FusedOptimizer`]).
//!
//! **Binary.** With the label-absorbed rows `a_i = y_i x_i` (prepared once, in the run's
//! precision) and the run-major weights `s_m`, one GD step of every run is
//!
//! ```text
//! t_{i,m} = a_iᵀ s_m                                   forward
//! g_{i,m} = c · ℓ′_m(t_{i,m})                          c = 1/N (mean data term) or 1 (sum)
//! ∇_m     = Σ_i g_{i,m} a_i + γ s_m                    backward (γ: weight decay)
//! s_m    ← s_m − η_m ∇_m
//! ```
//!
//! **K classes.** The rows are `a_i = [x_i, 1]`, so the bias is the last row of the weights
//! `W_m ∈ R^{(d+1)×K}`; the forward gives the logit vectors `z_{i,m} = W_mᵀ a_i`, the
//! derivatives are `g_{i,m} = c · ((1 − α_m)(softmax(z) − e_{y_i}) + α_m ∇f(z))`, and the
//! backward is `∇_m = Σ_i a_i g_{i,m}ᵀ` (weight decay, when asked, leaves the bias alone).
//!
//! This is what the Burn autodiff loop computes for the same objective (it stays the
//! reference, and the tests check that the two agree to rounding).
//!
//! **Why it is fast.** The rows are taken in tiles of four. The jobs (a tile, a run) run in
//! order, and one sweep over the columns does the forward dots of one job and the backward update
//! of the job before it (with its derivatives computed in between), so the backward reads a tile
//! that is still in the core's cache: X comes from memory (or the shared cache) once per step
//! instead of twice, and with several runs each tile is read once for two jobs. The inner loops
//! are explicit SIMD register tiles through pulp's runtime dispatch (AVX2 + FMA where the CPU has
//! it, scalar code otherwise), so no unsafe code is needed here. A binary run's loss derivatives
//! are computed a tile, a block's column or (dual form) all N margins at once, with an
//! exponential in plain f64 operations that vectorises (`logistic`). Nothing is allocated, no graph is
//! built and nothing is copied between host and device inside the step; the objective is only
//! evaluated when the caller asks (at logging steps, or when a margin turns suspect).
//!
//! **Two kernels** (`train.fused_kernel`, [`FusedKernel`]). The pipelined one (binary only) reads X
//! at the matrix–vector rate, which is the fastest for one or two runs. With many runs the
//! step is two matrix products, and the blocked kernel computes them at the matrix–matrix rate:
//! blocks of rows (about 512 KiB, 16 to 128 rows) go through `T_B = A_B S`, the derivatives, and
//! `∇ += A_Bᵀ G_B`, each product by faer's GEMM on the calling thread, with the block still in
//! the core's L2 cache for the second. `auto` picks it from [`BLOCKED_MIN_RUNS`] runs on, and
//! always for K classes (a step is then a product with M·K columns). The kernels sum in different orders, so they agree to rounding, not bit for bit; a run's result
//! therefore depends on the kernel (recorded in `config.json` when chosen; `auto` follows from
//! the number of runs), and not otherwise on how many runs share its batch.
//!
//! **The dual form** (`train.fused_kernel = "dual"`, [`DualTrainer`]). GD on a margin loss
//! keeps `w − s·w₀` in the span of the training rows, so a binary GD run can step through the
//! N × N Gram matrix `G = A Aᵀ` instead: `t = s·t₀ + G v`, `v ← (1 − ηγ) v − η c ℓ′(t)`, with
//! `w = s·w₀ + Aᵀ v` formed only when asked for. With G's upper triangle kept, a step costs
//! `2N²` flops a run instead of `4N·d` and reads N²/2 entries instead of N·d; `auto` takes it
//! for binary GD runs from
//! d ≥ [`DUAL_MIN_RATIO`]·N on, d ≥ [`DUAL_MIN_RATIO_MANY_RUNS`]·N from [`DUAL_MANY_RUNS`] runs
//! on (not when a gradient tolerance asks for the gradient norms at
//! every step, which cost it a second product). [`FusedEngine`] holds either form.
//!
//! **Runs on column maps of one matrix** ([`FusedTrainer::new_mapped`], [`ColumnMap`]). When
//! the runs' inputs are `X_m = [first_m·b₀ + second_m·b₁, rest_m·b₂, …]` for one base matrix
//! `B = [b₀, b₁, …, b_d]` (the signal-plus-noise draw rescaled by μ_f, σ_f and σ_n), the kernels
//! read B once per step for all of them with the weights `u_m = P_m w_m`, and the gradient is
//! mapped back, `∇w_m = P_mᵀ ∇u_m`, before the optimiser acts on `w_m`: each run takes the
//! steps it would take on its own X, to rounding.
//!
//! **Threads, reproducibly.** The rows are split into at most eight contiguous parts, a number
//! fixed by N and d alone. Each part accumulates its own gradient, and the gradients are summed
//! in part order, so the result is bit-identical whatever the thread count. The parts are shared
//! out to a team of threads that lives as long as the engine: the calling thread and workers
//! that spin briefly between steps and then park, so a step costs no thread start and, usually,
//! no wake-up.

mod dual;
mod engine;
mod gd;
mod kernels;
mod logistic;
mod team;

pub use dual::DualTrainer;
pub use engine::FusedEngine;
pub use gd::{
    AdamScalars, BLOCKED_MIN_RUNS, ColumnMap, DUAL_MANY_RUNS, DUAL_MIN_RATIO,
    DUAL_MIN_RATIO_MANY_RUNS, FusedKernel, FusedLoss, FusedOptimizer, FusedSpec, FusedTrainer,
    PointwiseMarginLoss, SUSPECT_MARGIN, SoftmaxLoss,
};
pub use kernels::{
    HostFloat, exp_after_product_probe, prefix_dots, rows_axpy, rows_dot, streaming_sum,
};
pub use team::with_thread_budget;
pub(crate) use team::{part_ranges, team_size};

#[cfg(test)]
mod tests;
