//! The logit penalties `f`: the binary family `f(t)` on signed logits `t = y z`, and the
//! multi-class family `f(z)` on logit vectors.
//!
//! A penalty is used twice: as tensor operations inside the autodiff graph
//! ([`LogitPenalty::apply`]) and as plain scalars for the solvers and the theory
//! ([`LogitPenalty::value`], [`derivative`](LogitPenalty::derivative),
//! [`second_derivative`](LogitPenalty::second_derivative)). [`check_penalty`] verifies that
//! the two agree and that `f` is even and convex, which the theory assumes.
//!
//! # Adding a penalty
//!
//! ```
//! use burn::tensor::Tensor;
//! use logit_reg_model::LogitPenalty;
//!
//! /// f(t) = log cosh t: quadratic near 0, linear in the tails.
//! #[derive(Debug)]
//! struct LogCosh;
//!
//! impl LogitPenalty for LogCosh {
//!     fn name(&self) -> String {
//!         "log-cosh".into()
//!     }
//!     fn apply(&self, t: Tensor<2>) -> Tensor<2> {
//!         // log cosh t = |t| + log1p(exp(−2|t|)) − log 2, stable for large |t|.
//!         let a = t.abs();
//!         a.clone() + (a * -2.0).exp().log1p() - std::f64::consts::LN_2
//!     }
//!     fn value(&self, t: f64) -> f64 {
//!         t.abs() + (-2.0 * t.abs()).exp().ln_1p() - std::f64::consts::LN_2
//!     }
//!     fn derivative(&self, t: f64) -> f64 {
//!         t.tanh()
//!     }
//!     fn second_derivative(&self, t: f64) -> f64 {
//!         1.0 - t.tanh().powi(2)
//!     }
//! }
//! ```

use std::fmt::Debug;
use std::sync::Arc;

use burn::tensor::Tensor;
use burn::tensor::activation::{log_sigmoid, log_softmax};
use serde::{Deserialize, Serialize};

use crate::ModelError;
use crate::error::check_f64;

/// A convex, even penalty `f(t)` on the signed logit `t = y z` of a binary classifier.
///
/// The regularised per-sample loss is `ℓ(t) = (1 − α) log(1 + e^{−t}) + α f(t)`.
pub trait LogitPenalty: Debug + Send + Sync {
    /// A short name, used in file names and reports (e.g. `quadratic`).
    fn name(&self) -> String;

    /// `f` applied element-wise, as differentiable tensor operations.
    ///
    /// # Shapes
    /// - `t`: `[N, M]` signed logits, N samples by M runs
    /// - output: `[N, M]`
    fn apply(&self, t: Tensor<2>) -> Tensor<2>;

    /// `f(t)`.
    fn value(&self, t: f64) -> f64;

    /// `f′(t)`.
    fn derivative(&self, t: f64) -> f64;

    /// `f′(t_i)` for every i, into `out_i`: by default a loop over
    /// [`LogitPenalty::derivative`], one dynamic call per slice (the fused engine's step asks
    /// for a run's margins at once).
    ///
    /// # Shapes
    /// - `t`, `out`: `[n]`
    fn derivatives(&self, t: &[f64], out: &mut [f64]) {
        for (out, &t) in out.iter_mut().zip(t) {
            *out = self.derivative(t);
        }
    }

    /// `f″(t)`.
    fn second_derivative(&self, t: f64) -> f64;
}

/// `f(t) = t²`, the penalty of every numerical result in the paper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Quadratic;

impl LogitPenalty for Quadratic {
    fn name(&self) -> String {
        "quadratic".into()
    }
    fn apply(&self, t: Tensor<2>) -> Tensor<2> {
        t.clone() * t
    }
    fn value(&self, t: f64) -> f64 {
        t * t
    }
    fn derivative(&self, t: f64) -> f64 {
        2.0 * t
    }
    fn second_derivative(&self, _t: f64) -> f64 {
        2.0
    }
}

/// Binary label smoothing in penalty form: `f(t) = ½ log(2 + 2 cosh t)`, with `α = 2ε`.
///
/// Since `½ log(2 + 2 cosh t) = ½ [log(1 + e^t) + log(1 + e^{−t})]`,
///
/// `(1 − α) log(1 + e^{−t}) + α f(t) = (1 − ε) log(1 + e^{−t}) + ε log(1 + e^{t})`
///
/// is exactly the cross-entropy against the targets `(1 − ε, ε)` when `α = 2ε`.
/// The tensor form is `−½ [log σ(t) + log σ(−t)]`, stable for `|t|` up to 1e4 and beyond in
/// f32 and f64, with the exact derivative `½ tanh(t/2)` (0 at t = 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LabelSmoothing;

impl LogitPenalty for LabelSmoothing {
    fn name(&self) -> String {
        "label-smoothing".into()
    }
    fn apply(&self, t: Tensor<2>) -> Tensor<2> {
        (log_sigmoid(t.clone()) + log_sigmoid(-t)) * -0.5
    }
    fn value(&self, t: f64) -> f64 {
        0.5 * t.abs() + (-t.abs()).exp().ln_1p()
    }
    fn derivative(&self, t: f64) -> f64 {
        0.5 * (0.5 * t).tanh()
    }
    fn second_derivative(&self, t: f64) -> f64 {
        0.25 * (1.0 - (0.5 * t).tanh().powi(2))
    }
}

/// The pseudo-Huber penalty `f(t) = δ² (√(1 + (t/δ)²) − 1)`: quadratic (`t²/2`) for `|t| ≪ δ`,
/// linear (`δ|t|`) for `|t| ≫ δ`; smooth, even and strictly convex.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PseudoHuber {
    /// The transition scale δ > 0.
    pub delta: f64,
}

impl PseudoHuber {
    /// A pseudo-Huber penalty; `delta` must be finite and > 0.
    pub fn new(delta: f64) -> Result<Self, ModelError> {
        check_f64("loss.delta", delta, "> 0 and finite", |v| v > 0.0)?;
        Ok(Self { delta })
    }
}

impl LogitPenalty for PseudoHuber {
    fn name(&self) -> String {
        format!("pseudo-huber(delta={})", self.delta)
    }
    fn apply(&self, t: Tensor<2>) -> Tensor<2> {
        let u = t * (1.0 / self.delta);
        ((u.clone() * u + 1.0).sqrt() - 1.0) * (self.delta * self.delta)
    }
    fn value(&self, t: f64) -> f64 {
        let u = t / self.delta;
        self.delta * self.delta * (u.mul_add(u, 1.0).sqrt() - 1.0)
    }
    fn derivative(&self, t: f64) -> f64 {
        let u = t / self.delta;
        t / u.mul_add(u, 1.0).sqrt()
    }
    fn second_derivative(&self, t: f64) -> f64 {
        let u = t / self.delta;
        u.mul_add(u, 1.0).powf(-1.5)
    }
}

/// The power penalty `f(t) = |t|^p`, `p > 1` (p = 2 is [`Quadratic`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Power {
    /// The exponent p > 1.
    pub p: f64,
}

impl Power {
    /// A power penalty; `p` must be finite and > 1.
    pub fn new(p: f64) -> Result<Self, ModelError> {
        check_f64("loss.p", p, "> 1 and finite", |v| v > 1.0)?;
        Ok(Self { p })
    }
}

impl LogitPenalty for Power {
    fn name(&self) -> String {
        format!("power(p={})", self.p)
    }
    fn apply(&self, t: Tensor<2>) -> Tensor<2> {
        t.abs().powf_scalar(self.p)
    }
    fn value(&self, t: f64) -> f64 {
        t.abs().powf(self.p)
    }
    fn derivative(&self, t: f64) -> f64 {
        self.p * t.abs().powf(self.p - 1.0) * t.signum()
    }
    fn second_derivative(&self, t: f64) -> f64 {
        self.p * (self.p - 1.0) * t.abs().powf(self.p - 2.0)
    }
}

/// A convex penalty `f(z)` on a K-class logit vector `z`, invariant under permutations of the
/// classes. The regularised loss is `(1 − α) CE(z, y) + α f(z)`.
pub trait MultiClassPenalty: Debug + Send + Sync {
    /// A short name.
    fn name(&self) -> String;

    /// `f` of each logit vector, as differentiable tensor operations.
    ///
    /// # Shapes
    /// - `logits`: `[N, M, K]`
    /// - output: `[N, M]`
    fn apply(&self, logits: Tensor<3>) -> Tensor<2>;

    /// `f(z)`.
    fn value(&self, z: &[f64]) -> f64;

    /// `∇f(z)`.
    fn gradient(&self, z: &[f64]) -> Vec<f64>;

    /// `∇f(z)` written into `out` (`[K]`), for callers that evaluate it per sample in a loop
    /// (the fused engine). The default calls [`MultiClassPenalty::gradient`]; the built-in
    /// penalties override it without allocating.
    fn gradient_into(&self, z: &[f64], out: &mut [f64]) {
        out.copy_from_slice(&self.gradient(z));
    }

    /// The Hessian-vector product `∇²f(z) v`.
    fn hessian_vector(&self, z: &[f64], v: &[f64]) -> Vec<f64>;
}

/// `f(z) = Σ_c g(z_c)` for a binary penalty `g`; with [`Quadratic`] this is `‖z‖²`, the
/// paper's multi-class penalty.
#[derive(Debug, Clone)]
pub struct ElementwiseSum(pub Arc<dyn LogitPenalty>);

impl MultiClassPenalty for ElementwiseSum {
    fn name(&self) -> String {
        let inner = self.0.name();
        if inner == "quadratic" {
            "squared-norm".into()
        } else {
            format!("sum-{inner}")
        }
    }
    fn apply(&self, logits: Tensor<3>) -> Tensor<2> {
        let [n, m, k] = logits.dims();
        let flat = self.0.apply(logits.reshape([n, m * k]));
        flat.reshape([n, m, k]).sum_dim(2).reshape([n, m])
    }
    fn value(&self, z: &[f64]) -> f64 {
        z.iter().map(|&v| self.0.value(v)).sum()
    }
    fn gradient(&self, z: &[f64]) -> Vec<f64> {
        z.iter().map(|&v| self.0.derivative(v)).collect()
    }
    fn gradient_into(&self, z: &[f64], out: &mut [f64]) {
        for (o, &v) in out.iter_mut().zip(z) {
            *o = self.0.derivative(v);
        }
    }
    fn hessian_vector(&self, z: &[f64], v: &[f64]) -> Vec<f64> {
        z.iter()
            .zip(v)
            .map(|(&zc, &vc)| self.0.second_derivative(zc) * vc)
            .collect()
    }
}

/// Multi-class label smoothing in penalty form: `f(z) = logsumexp(z) − mean(z)` with `α = ε`.
///
/// `(1 − ε) CE(z, y) + ε f(z) = −Σ_c t_c log softmax(z)_c` with the targets
/// `t = (1 − ε) onehot(y) + ε/K` (PyTorch's and Burn's convention). The tensor form is
/// `−mean_c log_softmax(z)_c`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SoftmaxLabelSmoothing;

fn softmax(z: &[f64]) -> Vec<f64> {
    let mut p = vec![0.0; z.len()];
    softmax_into(z, &mut p);
    p
}

/// `softmax(z)` written into `out` (`[K]`), stable (the largest logit is subtracted first).
pub fn softmax_into(z: &[f64], out: &mut [f64]) {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for (o, v) in out.iter_mut().zip(z) {
        *o = (v - max).exp();
        sum += *o;
    }
    out.iter_mut().for_each(|o| *o /= sum);
}

/// `logsumexp(z)`, stable.
pub fn log_sum_exp(z: &[f64]) -> f64 {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    max + z.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
}

impl MultiClassPenalty for SoftmaxLabelSmoothing {
    fn name(&self) -> String {
        "label-smoothing".into()
    }
    fn apply(&self, logits: Tensor<3>) -> Tensor<2> {
        let [n, m, _] = logits.dims();
        (log_softmax(logits, 2).mean_dim(2) * -1.0).reshape([n, m])
    }
    fn value(&self, z: &[f64]) -> f64 {
        log_sum_exp(z) - z.iter().sum::<f64>() / z.len() as f64
    }
    fn gradient(&self, z: &[f64]) -> Vec<f64> {
        let k = z.len() as f64;
        softmax(z).into_iter().map(|p| p - 1.0 / k).collect()
    }
    fn gradient_into(&self, z: &[f64], out: &mut [f64]) {
        softmax_into(z, out);
        let k = z.len() as f64;
        out.iter_mut().for_each(|p| *p -= 1.0 / k);
    }
    fn hessian_vector(&self, z: &[f64], v: &[f64]) -> Vec<f64> {
        let p = softmax(z);
        let pv: f64 = p.iter().zip(v).map(|(a, b)| a * b).sum();
        p.iter()
            .zip(v)
            .map(|(&pc, &vc)| pc * vc - pc * pv)
            .collect()
    }
}

/// The penalties selectable by name in configs (`loss.penalty`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum PenaltyKind {
    /// No penalty: plain cross-entropy (α must be 0).
    None,
    /// `f(t) = t²` (multi-class: `‖z‖²`). The default.
    #[default]
    Quadratic,
    /// Label smoothing: `½ log(2 + 2 cosh t)` with α = 2ε (binary); `logsumexp − mean` with
    /// α = ε (multi-class).
    LabelSmoothing,
    /// Pseudo-Huber with scale δ (multi-class: summed over classes).
    PseudoHuber {
        /// δ > 0.
        delta: f64,
    },
    /// `|t|^p`, p > 1 (multi-class: summed over classes).
    Power {
        /// p > 1.
        p: f64,
    },
}

impl PenaltyKind {
    /// The binary penalty, or `None` for plain cross-entropy.
    pub fn binary(&self) -> Result<Option<Arc<dyn LogitPenalty>>, ModelError> {
        Ok(match *self {
            PenaltyKind::None => None,
            PenaltyKind::Quadratic => Some(Arc::new(Quadratic)),
            PenaltyKind::LabelSmoothing => Some(Arc::new(LabelSmoothing)),
            PenaltyKind::PseudoHuber { delta } => Some(Arc::new(PseudoHuber::new(delta)?)),
            PenaltyKind::Power { p } => Some(Arc::new(Power::new(p)?)),
        })
    }

    /// The multi-class penalty, or `None` for plain cross-entropy.
    pub fn multiclass(&self) -> Result<Option<Arc<dyn MultiClassPenalty>>, ModelError> {
        Ok(match *self {
            PenaltyKind::LabelSmoothing => Some(Arc::new(SoftmaxLabelSmoothing)),
            _ => self
                .binary()?
                .map(|p| Arc::new(ElementwiseSum(p)) as Arc<dyn MultiClassPenalty>),
        })
    }

    /// The name used in configs and reports.
    pub fn name(&self) -> String {
        match self {
            PenaltyKind::None => "none".into(),
            PenaltyKind::Quadratic => "quadratic".into(),
            PenaltyKind::LabelSmoothing => "label-smoothing".into(),
            PenaltyKind::PseudoHuber { delta } => format!("pseudo-huber(delta={delta})"),
            PenaltyKind::Power { p } => format!("power(p={p})"),
        }
    }
}

/// Checks, on a grid of `t ∈ [−30, 30]`, that a user-supplied penalty is even
/// (`f(t) = f(−t)`), convex (`f″ ≥ 0`), and that `f′` and `f″` agree with central differences
/// of `f` and `f′` (relative tolerance 1e-5). The tensor form is checked separately by
/// [`crate::loss::check_penalty_tensor`].
pub fn check_penalty(penalty: &dyn LogitPenalty) -> Result<(), ModelError> {
    let fail = |check, at, detail: String| ModelError::InvalidPenalty {
        penalty: penalty.name(),
        check,
        at,
        detail,
    };
    for i in 0..=240 {
        let t = -30.0 + 0.25 * f64::from(i) + 0.0123;
        let (f, fm) = (penalty.value(t), penalty.value(-t));
        if !f.is_finite() || (f - fm).abs() > 1e-10 * (1.0 + f.abs()) {
            return Err(fail("even", t, format!("f(t) = {f}, f(-t) = {fm}")));
        }
        let f2 = penalty.second_derivative(t);
        if f2.is_nan() || f2 < -1e-12 {
            return Err(fail("convex", t, format!("f''(t) = {f2}")));
        }
        let h = 1e-5 * (1.0 + t.abs());
        let fd1 = (penalty.value(t + h) - penalty.value(t - h)) / (2.0 * h);
        let d1 = penalty.derivative(t);
        if (fd1 - d1).abs() > 1e-5 * (1.0 + d1.abs()) {
            return Err(fail(
                "derivative",
                t,
                format!("f'(t) = {d1}, finite difference {fd1}"),
            ));
        }
        let fd2 = (penalty.derivative(t + h) - penalty.derivative(t - h)) / (2.0 * h);
        if (fd2 - f2).abs() > 1e-5 * (1.0 + f2.abs()) {
            return Err(fail(
                "second-derivative",
                t,
                format!("f''(t) = {f2}, finite difference {fd2}"),
            ));
        }
    }
    Ok(())
}
