//! A multilayer perceptron, holding M independent runs in one module.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData, activation};
use logit_reg_data::{Stream, stream_rng};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::{LogitModel, ModelError};

/// The nonlinearity between the layers of an [`Mlp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    /// `max(0, x)`.
    #[default]
    Relu,
    /// The Gaussian error linear unit `x Φ(x)` (Burn's exact form, with erf).
    Gelu,
    /// `tanh x`.
    Tanh,
}

impl Activation {
    /// The name in configs.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Gelu => "gelu",
            Activation::Tanh => "tanh",
        }
    }

    /// Applies the nonlinearity elementwise.
    pub fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Activation::Relu => activation::relu(x),
            Activation::Gelu => activation::gelu(x),
            Activation::Tanh => activation::tanh(x),
        }
    }
}

/// M independent affine maps applied to M inputs at once: `h_m ↦ h_m W_m + b_m`.
///
/// # Shapes
/// - `weight`: `[M, in, out]`
/// - `bias`: `[M, 1, out]`
#[derive(Module, Debug)]
pub struct RunLinear {
    /// Weights of every run.
    pub weight: Param<Tensor<3>>,
    /// Biases of every run, if the layer has them.
    pub bias: Option<Param<Tensor<3>>>,
}

impl RunLinear {
    /// The affine map of every run on its own input.
    ///
    /// # Shapes
    /// - `h`: `[M, N, in]`
    /// - output: `[M, N, out]`
    pub fn forward(&self, h: Tensor<3>) -> Tensor<3> {
        let z = h.matmul(self.weight.val());
        match &self.bias {
            Some(b) => z + b.val(),
            None => z,
        }
    }

    /// The weights row-major `[M, in, out]` and the biases `[M, out]` (`None` without), on the
    /// host: what [`LogitModel::head`] returns for a network whose head this is.
    pub fn to_host(&self) -> (Vec<f64>, Option<Vec<f64>>) {
        (
            crate::to_f64_vec(self.weight.val()),
            self.bias.as_ref().map(|b| crate::to_f64_vec(b.val())),
        )
    }

    /// The map of every run on one shared input: a single `[N, in] × [in, M·out]` product.
    ///
    /// # Shapes
    /// - `x`: `[N, in]`
    /// - output: `[M, N, out]`
    pub fn forward_shared(&self, x: Tensor<2>) -> Tensor<3> {
        let [m, d_in, d_out] = self.weight.val().dims();
        let [n, _] = x.dims();
        // [M, in, out] → [in, M, out] → [in, M·out]: column m·out + j is unit j of run m.
        let w = self.weight.val().swap_dims(0, 1).reshape([d_in, m * d_out]);
        let z = x.matmul(w).reshape([n, m, d_out]).swap_dims(0, 1);
        match &self.bias {
            Some(b) => z + b.val(),
            None => z,
        }
    }
}

/// The sizes of one layer of a run, for [`uniform_fan_in_init`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerShape {
    /// The layer's fan-in: the bound of its draws is `1/√fan_in`.
    pub fan_in: usize,
    /// Weights per run.
    pub weights: usize,
    /// Biases per run.
    pub biases: usize,
}

/// PyTorch's default initialisation, `U(−1/√fan_in, 1/√fan_in)`, for `runs` runs of a network
/// with `layers`: run m draws from the stream [`Stream::Init`] of `init_seed` with index
/// `first_run + m`, layer by layer, its weights and then (where `has_bias(l)`) its biases, so a
/// batch of M runs starts exactly where M separate single runs would. Returns each layer's
/// weights and biases, run-major (zero where a layer has no bias).
pub fn uniform_fan_in_init(
    init_seed: u64,
    first_run: u64,
    runs: usize,
    layers: &[LayerShape],
    has_bias: impl Fn(usize) -> bool,
) -> Vec<(Vec<f64>, Vec<f64>)> {
    let mut out: Vec<(Vec<f64>, Vec<f64>)> = layers
        .iter()
        .map(|s| (vec![0.0; runs * s.weights], vec![0.0; runs * s.biases]))
        .collect();
    for run in 0..runs {
        let mut rng = stream_rng(
            init_seed,
            Stream::Init {
                index: first_run + run as u64,
            },
        );
        for (l, shape) in layers.iter().enumerate() {
            let bound = 1.0 / (shape.fan_in as f64).sqrt();
            let (w, b) = &mut out[l];
            for v in &mut w[run * shape.weights..(run + 1) * shape.weights] {
                *v = rng.random_range(-bound..bound);
            }
            if has_bias(l) {
                for v in &mut b[run * shape.biases..(run + 1) * shape.biases] {
                    *v = rng.random_range(-bound..bound);
                }
            }
        }
    }
    out
}

/// Configuration of an [`Mlp`].
///
/// Layer widths: `d → hidden[0] → … → hidden[L−1] → classes`, the activation after every
/// hidden layer, none after the last. Every weight and bias starts as
/// `U(−1/√fan_in, 1/√fan_in)` (PyTorch's `nn.Linear` default), drawn from the stream
/// [`Stream::Init`] of `init_seed` with index `first_run + m` for run m, layer by layer (weights
/// row-major `[in, out]`, then the bias), so a batch of M runs starts exactly where M separate
/// single runs would.
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Input dimension d ≥ 1.
    pub d: usize,
    /// Hidden widths, each ≥ 1 (at least one layer).
    pub hidden: Vec<usize>,
    /// Logits per run: K ≥ 2 classes, or 1 for the binary model's single logit.
    pub classes: usize,
    /// Number of runs M ≥ 1 held side by side.
    #[config(default = 1)]
    pub runs: usize,
    /// The nonlinearity.
    #[config(default = "Activation::Relu")]
    pub activation: Activation,
    /// Whether the layers have biases (the last layer always has one).
    #[config(default = true)]
    pub bias: bool,
    /// Master seed of the initial weights.
    #[config(default = 0)]
    pub init_seed: u64,
    /// Global index of the first run (for the per-run initialisation streams).
    #[config(default = 0)]
    pub first_run: u64,
}

impl MlpConfig {
    /// Validates the configuration; the error names the `model.` key.
    pub fn validate(&self) -> Result<(), ModelError> {
        let check = |field: &'static str, value: usize, ok: bool, allowed: &'static str| {
            if ok {
                Ok(())
            } else {
                Err(ModelError::OutOfRange {
                    field,
                    value: value.to_string(),
                    allowed,
                })
            }
        };
        check("model.d", self.d, self.d >= 1, ">= 1")?;
        check("model.classes", self.classes, self.classes >= 1, ">= 1")?;
        check("model.runs", self.runs, self.runs >= 1, ">= 1")?;
        check(
            "model.hidden",
            self.hidden.len(),
            !self.hidden.is_empty(),
            "a list of at least one width",
        )?;
        if let Some(&w) = self.hidden.iter().find(|&&w| w == 0) {
            check("model.hidden", w, false, "widths >= 1")?;
        }
        Ok(())
    }

    /// The layer sizes `(in, out)`, input to output.
    pub fn layer_sizes(&self) -> Vec<(usize, usize)> {
        let mut widths = vec![self.d];
        widths.extend(&self.hidden);
        widths.push(self.classes);
        widths.windows(2).map(|w| (w[0], w[1])).collect()
    }

    /// The initial parameters of every layer: weights row-major `[M, in, out]` and biases
    /// `[M, out]` (zero where the layer has none).
    pub fn initial_parameters(&self) -> Vec<(Vec<f64>, Vec<f64>)> {
        let shapes: Vec<LayerShape> = self
            .layer_sizes()
            .into_iter()
            .map(|(i, o)| LayerShape {
                fan_in: i,
                weights: i * o,
                biases: o,
            })
            .collect();
        let last = shapes.len() - 1;
        uniform_fan_in_init(self.init_seed, self.first_run, self.runs, &shapes, |l| {
            self.bias || l == last
        })
    }

    /// Builds the network on `device` (pass an autodiff device to train it).
    pub fn init(&self, device: &Device) -> Result<Mlp, ModelError> {
        self.validate()?;
        let m = self.runs;
        let sizes = self.layer_sizes();
        let last = sizes.len() - 1;
        let layers = self
            .initial_parameters()
            .into_iter()
            .zip(&sizes)
            .enumerate()
            .map(|(l, ((w, b), &(i, o)))| RunLinear {
                weight: Param::from_tensor(Tensor::from_data(
                    TensorData::new(w, [m, i, o]),
                    device,
                )),
                bias: (self.bias || l == last).then(|| {
                    Param::from_tensor(Tensor::from_data(TensorData::new(b, [m, 1, o]), device))
                }),
            })
            .collect();
        Ok(Mlp {
            layers,
            activation: self.activation,
            runs: m,
            classes: self.classes,
        })
    }
}

/// M multilayer perceptrons side by side: `z = W_L σ(… σ(W_1 x + b_1) …) + b_L` for each run,
/// all runs reading the same input batch (the first layer is one matrix product for every
/// run, the others one batched product).
#[derive(Module, Debug)]
pub struct Mlp {
    /// The layers, input to output; the last one is the linear head.
    pub layers: Vec<RunLinear>,
    /// The nonlinearity after every hidden layer.
    #[module(skip)]
    pub activation: Activation,
    /// Number of runs M.
    pub runs: usize,
    /// Number of classes K.
    pub classes: usize,
}

impl Mlp {
    /// The penultimate features of every run: the last hidden layer after its activation.
    ///
    /// # Shapes
    /// - `x`: `[N, d]`
    /// - output: `[M, N, hidden[L−1]]`
    pub fn penultimate(&self, x: Tensor<2>) -> Tensor<3> {
        let (hidden, _) = self.layers.split_at(self.layers.len() - 1);
        let mut h = self.activation.apply(hidden[0].forward_shared(x));
        for layer in &hidden[1..] {
            h = self.activation.apply(layer.forward(h));
        }
        h
    }

    /// Logits of every run.
    ///
    /// # Shapes
    /// - `x`: `[N, d]`
    /// - output: `[N, M, K]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<3> {
        let head = &self.layers[self.layers.len() - 1];
        head.forward(self.penultimate(x)).swap_dims(0, 1)
    }
}

impl LogitModel for Mlp {
    fn logits(&self, x: Tensor<2>) -> Tensor<3> {
        self.forward(x)
    }

    fn runs(&self) -> usize {
        self.runs
    }

    fn features(&self, x: Tensor<2>) -> Option<Tensor<3>> {
        Some(self.penultimate(x))
    }

    fn head(&self) -> Option<(Vec<f64>, Option<Vec<f64>>)> {
        Some(self.layers[self.layers.len() - 1].to_host())
    }
}
