//! A small convolutional network, holding M independent runs in one module.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::tensor::{Device, Tensor, TensorData};
use logit_reg_data::real::ImageShape;

use crate::mlp::{LayerShape, uniform_fan_in_init};
use crate::{Activation, LogitModel, ModelError, RunLinear};

/// Configuration of a [`ConvNet`].
///
/// The network: for each width `c_l` in `channels`, a `k × k` convolution with stride 1 and
/// zero padding `k / 2` (the spatial size is kept), the activation, then a 2 × 2 max pool of
/// stride 2 while both spatial sizes are at least 2 (odd sizes are floored, as PyTorch's
/// `MaxPool2d(2)` does). The last feature map is flattened channel-major (`c, h, w`, as
/// `torch.flatten`) into the penultimate features, and a linear head with bias maps them to the
/// `classes` logits.
///
/// Every weight and bias starts as `U(−1/√fan_in, 1/√fan_in)` with `fan_in = c_in · k²` for a
/// convolution and `F` for the head (PyTorch's `Conv2d` and `Linear` defaults), drawn from the
/// stream [`Stream::Init`](logit_reg_data::Stream::Init) of `init_seed` with index `first_run + m` for run m, layer by layer
/// (a convolution's weights row-major `[c_out, c_in, k, k]`, then its bias; the head's weights
/// row-major `[F, K]`, then its bias), so a batch of M runs starts exactly where M separate
/// single runs would.
#[derive(Config, Debug)]
pub struct ConvNetConfig {
    /// The shape of one input image; inputs are rows of `channels · height · width` values,
    /// channel-major.
    pub image: ImageShape,
    /// The output channels of each convolution, input to output (at least one layer).
    pub channels: Vec<usize>,
    /// Logits per run: K ≥ 2 classes.
    pub classes: usize,
    /// Side k of the square kernels, odd (so padding k / 2 keeps the spatial size).
    #[config(default = 3)]
    pub kernel_size: usize,
    /// Number of runs M ≥ 1 held side by side.
    #[config(default = 1)]
    pub runs: usize,
    /// The nonlinearity after every convolution.
    #[config(default = "Activation::Relu")]
    pub activation: Activation,
    /// Whether the convolutions have biases (the head always has one).
    #[config(default = true)]
    pub bias: bool,
    /// Master seed of the initial weights.
    #[config(default = 0)]
    pub init_seed: u64,
    /// Global index of the first run (for the per-run initialisation streams).
    #[config(default = 0)]
    pub first_run: u64,
}

/// The initial parameters of one layer for every run: weights and biases, run-major.
pub type LayerParameters = (Vec<f64>, Vec<f64>);

impl ConvNetConfig {
    /// Validates the configuration; the error names the `model.` key.
    pub fn validate(&self) -> Result<(), ModelError> {
        let fail = |field: &'static str, value: String, allowed: &'static str| {
            Err(ModelError::OutOfRange {
                field,
                value,
                allowed,
            })
        };
        if self.image.is_empty() {
            return fail(
                "data.image",
                format!(
                    "{}x{}x{}",
                    self.image.channels, self.image.height, self.image.width
                ),
                "channels, height and width >= 1",
            );
        }
        if self.channels.is_empty() || self.channels.contains(&0) {
            return fail(
                "model.channels",
                format!("{:?}", self.channels),
                "a non-empty list of channel counts >= 1",
            );
        }
        if self.kernel_size.is_multiple_of(2) {
            return fail(
                "model.kernel_size",
                self.kernel_size.to_string(),
                "an odd size >= 1",
            );
        }
        if self.classes < 2 {
            return fail("model.classes", self.classes.to_string(), ">= 2");
        }
        if self.runs == 0 {
            return fail("model.runs", "0".into(), ">= 1");
        }
        Ok(())
    }

    /// The spatial size `(height, width)` after each convolution block, input to output.
    pub fn spatial_sizes(&self) -> Vec<(usize, usize)> {
        let (mut h, mut w) = (self.image.height, self.image.width);
        self.channels
            .iter()
            .map(|_| {
                if h >= 2 && w >= 2 {
                    (h, w) = (h / 2, w / 2);
                }
                (h, w)
            })
            .collect()
    }

    /// The number F of penultimate features per run: the last block's channels × its
    /// spatial size.
    pub fn feature_count(&self) -> usize {
        let (h, w) = self.spatial_sizes().last().copied().unwrap_or((0, 0));
        self.channels.last().copied().unwrap_or(0) * h * w
    }

    /// The sizes of every layer, the head last.
    fn layer_shapes(&self) -> Vec<LayerShape> {
        let k2 = self.kernel_size * self.kernel_size;
        let mut c_in = self.image.channels;
        let mut shapes: Vec<LayerShape> = self
            .channels
            .iter()
            .map(|&c_out| {
                let shape = LayerShape {
                    fan_in: c_in * k2,
                    weights: c_out * c_in * k2,
                    biases: c_out,
                };
                c_in = c_out;
                shape
            })
            .collect();
        let f = self.feature_count();
        shapes.push(LayerShape {
            fan_in: f,
            weights: f * self.classes,
            biases: self.classes,
        });
        shapes
    }

    /// The initial parameters of every layer, the head last: weights run-major (run m's
    /// block is `[c_out, c_in, k, k]` for a convolution, `[F, K]` for the head, row-major) and
    /// biases `[M, c_out]` or `[M, K]` (zero where a convolution has none).
    pub fn initial_parameters(&self) -> Vec<LayerParameters> {
        let shapes = self.layer_shapes();
        let head = shapes.len() - 1;
        uniform_fan_in_init(self.init_seed, self.first_run, self.runs, &shapes, |l| {
            self.bias || l == head
        })
    }

    /// Builds the network on `device` (pass an autodiff device to train it).
    pub fn init(&self, device: &Device) -> Result<ConvNet, ModelError> {
        self.validate()?;
        let (m, k) = (self.runs, self.kernel_size);
        let mut params = self.initial_parameters();
        let (head_w, head_b) = params.pop().expect("the head's parameters");
        let mut c_in = self.image.channels;
        let convs = params
            .into_iter()
            .zip(&self.channels)
            .enumerate()
            .map(|(l, ((w, b), &c_out))| {
                // The first layer reads the one shared image (groups 1, M·c_out filters);
                // every later one reads its own run's channels (groups M).
                let groups = if l == 0 { 1 } else { m };
                let conv = Conv2d {
                    weight: Param::from_tensor(Tensor::from_data(
                        TensorData::new(w, [m * c_out, c_in, k, k]),
                        device,
                    )),
                    bias: self.bias.then(|| {
                        Param::from_tensor(Tensor::from_data(
                            TensorData::new(b, [m * c_out]),
                            device,
                        ))
                    }),
                    stride: [1, 1],
                    kernel_size: [k, k],
                    dilation: [1, 1],
                    groups,
                    padding: PaddingConfig2d::Explicit(k / 2, k / 2, k / 2, k / 2),
                };
                c_in = c_out;
                conv
            })
            .collect();
        let f = self.feature_count();
        let head = RunLinear {
            weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(head_w, [m, f, self.classes]),
                device,
            )),
            bias: Some(Param::from_tensor(Tensor::from_data(
                TensorData::new(head_b, [m, 1, self.classes]),
                device,
            ))),
        };
        Ok(ConvNet {
            convs,
            pool: MaxPool2dConfig::new([2, 2]).init(),
            head,
            activation: self.activation,
            image: [self.image.channels, self.image.height, self.image.width],
            runs: m,
            classes: self.classes,
        })
    }
}

/// M small convolutional networks side by side: blocks of convolution, activation and 2 × 2
/// max pool, then a linear head on the flattened feature map (see [`ConvNetConfig`]).
///
/// The M runs share every data pass. The first convolution is one convolution with `M · c_1`
/// filters over the shared image; each later one is a grouped convolution (`groups = M`) whose
/// group m reads only run m's channels; the head is one batched product over the runs.
#[derive(Module, Debug)]
pub struct ConvNet {
    /// The convolutions, input to output; layer l holds `M · c_l` filters, run m's at
    /// `m · c_l ..`.
    pub convs: Vec<Conv2d>,
    /// The 2 × 2 max pool after each block (skipped once a spatial size is below 2).
    pub pool: MaxPool2d,
    /// The linear head of every run.
    pub head: RunLinear,
    /// The nonlinearity after every convolution.
    #[module(skip)]
    pub activation: Activation,
    /// The input image shape `[channels, height, width]`.
    pub image: [usize; 3],
    /// Number of runs M.
    pub runs: usize,
    /// Number of classes K.
    pub classes: usize,
}

impl ConvNet {
    /// The penultimate features of every run: the last feature map, flattened channel-major.
    ///
    /// # Shapes
    /// - `x`: `[N, channels · height · width]`
    /// - output: `[M, N, F]`
    pub fn penultimate(&self, x: Tensor<2>) -> Tensor<3> {
        let [n, _] = x.dims();
        let [c, h, w] = self.image;
        let mut a = x.reshape([n, c, h, w]);
        for conv in &self.convs {
            a = self.activation.apply(conv.forward(a));
            let [_, _, height, width] = a.dims();
            if height >= 2 && width >= 2 {
                a = self.pool.forward(a);
            }
        }
        let [_, channels, height, width] = a.dims();
        // Channel m·c + j is channel j of run m, so each run's map is contiguous.
        a.reshape([n, self.runs, channels / self.runs * height * width])
            .swap_dims(0, 1)
    }

    /// Logits of every run.
    ///
    /// # Shapes
    /// - `x`: `[N, channels · height · width]`
    /// - output: `[N, M, K]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<3> {
        self.head.forward(self.penultimate(x)).swap_dims(0, 1)
    }
}

impl LogitModel for ConvNet {
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
        Some(self.head.to_host())
    }
}
