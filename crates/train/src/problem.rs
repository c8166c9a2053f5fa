//! A data set uploaded to a device, with the reference directions the metrics compare against.

use burn::tensor::{Device, FloatDType, Int, Tensor, TensorData};
use logit_reg_data::stats::{cholesky_in_place_with, cholesky_solve_in_place};
use logit_reg_data::{
    BinaryDataset, BinaryPopulation, BinarySplit, MultiClassDataset, SignalPlusNoise,
};

/// The labels of a problem, on the host and on the training device.
#[derive(Debug, Clone)]
pub enum Labels {
    /// Binary labels ±1.
    Binary {
        /// Train labels on the host.
        train: Vec<f64>,
        /// Test labels on the host.
        test: Vec<f64>,
        /// Train labels as a `[N, 1]` column on the training device.
        train_column: Tensor<2>,
    },
    /// Class indices.
    Classes {
        /// Number of classes K.
        k: usize,
        /// Train labels on the host.
        train: Vec<usize>,
        /// Test labels on the host.
        test: Vec<usize>,
        /// Train labels `[N]` on the training device.
        train_tensor: Tensor<1, Int>,
    },
}

/// A train and test set on a device.
#[derive(Debug, Clone)]
pub struct Problem {
    /// Training samples N.
    pub n: usize,
    /// Test samples.
    pub n_test: usize,
    /// Input dimension d.
    pub d: usize,
    /// Train inputs `[N, d]` on the training (autodiff) device.
    pub train_x: Tensor<2>,
    /// Train inputs `[N, d]` on the inner device, for metrics.
    pub train_x_eval: Tensor<2>,
    /// Test inputs `[N_test, d]` on the inner device.
    pub test_x_eval: Tensor<2>,
    /// The labels.
    pub labels: Labels,
    /// The binary signal-plus-noise model, when the data come from it (for Eq. 5).
    pub signal_noise: Option<SignalPlusNoise>,
    /// The population Fisher direction `Σ⁻¹μ` (binary).
    pub fisher: Option<Vec<f64>>,
    /// The empirical LDA direction `Σ̂⁻¹μ̂` with the centred covariance of `y_i x_i` (binary,
    /// when `N > d` and `Σ̂` is positive definite).
    pub lda: Option<Vec<f64>>,
}

fn upload(x: &[f64], rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    upload_converted(
        rows,
        cols,
        device,
        || x.iter().map(|&v| v as f32).collect(),
        || x.to_vec(),
    )
}

/// A `[rows, cols]` tensor on `device` from the values `as_f32` (an f32 device) or `as_f64`
/// (any other) make. An f32 device gets f32 data, rounded on the host in one pass (as Burn's
/// cast rounds them), not an f64 buffer that Burn would then convert: the test set at
/// d = 3000 is 240 MB of f64.
fn upload_converted(
    rows: usize,
    cols: usize,
    device: &Device,
    as_f32: impl FnOnce() -> Vec<f32>,
    as_f64: impl FnOnce() -> Vec<f64>,
) -> Tensor<2> {
    let data = match device.settings().float_dtype {
        FloatDType::F32 => TensorData::new(as_f32(), [rows, cols]),
        _ => TensorData::new(as_f64(), [rows, cols]),
    };
    Tensor::from_data(data, device)
}

/// The empirical LDA direction `Σ̂⁻¹ μ̂` of a binary data set: `μ̂ = mean(y_i x_i)` and
/// `Σ̂ = (1/N) Σ_i (y_i x_i − μ̂)(y_i x_i − μ̂)ᵀ` (the centred covariance). The Gram matrix is
/// formed on `device`, the solve is the host Cholesky in f64 with the engine's vectorised
/// kernel. `None` when `N ≤ d` or `Σ̂` is singular to working precision.
pub fn empirical_lda(data: &BinaryDataset, device: &Device) -> Option<Vec<f64>> {
    let (n, d) = (data.n, data.d);
    if n <= d {
        return None;
    }
    // `y_i x_i`, row by row, made as it is read (no f64 copy of the set on an f32 device).
    let absorbed = || {
        data.x
            .chunks_exact(d)
            .zip(&data.y)
            .flat_map(|(row, &y)| row.iter().map(move |v| v * y))
    };
    let mut mean = vec![0.0; d];
    for (row, &y) in data.x.chunks_exact(d).zip(&data.y) {
        mean.iter_mut()
            .zip(row)
            .for_each(|(m, v)| *m += v * y / n as f64);
    }
    let t = upload_converted(
        n,
        d,
        device,
        || absorbed().map(|v| v as f32).collect(),
        || absorbed().collect(),
    );
    let gram = t.clone().transpose().matmul(t).into_data();
    let gram: Vec<f64> = match gram.as_slice::<f32>() {
        Ok(values) => values.iter().map(|&v| f64::from(v)).collect(),
        Err(_) => gram.iter::<f64>().collect(),
    };
    let mut sigma = vec![0.0; d * d];
    for i in 0..d {
        for j in i..d {
            // Symmetrise: the device's f32 products need not be exactly symmetric. Both
            // triangles get the same value (the sum and the product commute exactly).
            let g = 0.5 * (gram[i * d + j] + gram[j * d + i]);
            let value = g / n as f64 - mean[i] * mean[j];
            sigma[i * d + j] = value;
            sigma[j * d + i] = value;
        }
    }
    cholesky_in_place_with(&mut sigma, d, crate::fused::prefix_dots).ok()?;
    cholesky_solve_in_place(&sigma, d, &mut mean);
    Some(mean)
}

impl Problem {
    /// The binary problem of `model` and `seed` on the autodiff device `device`.
    pub fn binary(
        model: &SignalPlusNoise,
        seed: u64,
        device: &Device,
    ) -> Result<Self, crate::TrainError> {
        let split = model.generate(seed)?;
        Ok(Self::binary_split(model, &split, device))
    }

    /// [`Problem::binary`] on a split already drawn from `model` (for example rescaled from
    /// its unit draw, [`SignalPlusNoise::rescale`]).
    pub fn binary_split(model: &SignalPlusNoise, split: &BinarySplit, device: &Device) -> Self {
        let inner = device.clone().inner();
        Self::from_binary(&split.train, &split.test, device)
            .with_references(model, empirical_lda(&split.train, &inner))
    }

    /// This problem with `model` and its reference directions: the population Fisher
    /// direction and the empirical LDA direction `lda`.
    fn with_references(mut self, model: &SignalPlusNoise, lda: Option<Vec<f64>>) -> Self {
        self.signal_noise = Some(*model);
        self.fisher = model.fisher_direction().ok();
        self.lda = lda;
        self
    }

    /// [`Problem::binary_split`] of `model`'s draw rescaled from the draw `unit` of
    /// [`SignalPlusNoise::unit`] with the same seed ([`SignalPlusNoise::rescale`]), and
    /// bit-identical to it: the test set goes to the device in one pass over the unit draw,
    /// without the rescaled f64 copy that the metrics never read.
    pub fn binary_rescaled(model: &SignalPlusNoise, unit: &BinarySplit, device: &Device) -> Self {
        Self::binary_rescaled_with_lda(model, unit, device, empirical_lda)
    }

    /// [`Problem::binary_rescaled`] with its empirical LDA direction from `lda`, given the
    /// rescaled train set and the inner device ([`empirical_lda`], or a value kept from an
    /// earlier problem of the same data).
    pub fn binary_rescaled_with_lda(
        model: &SignalPlusNoise,
        unit: &BinarySplit,
        device: &Device,
        lda: impl FnOnce(&BinaryDataset, &Device) -> Option<Vec<f64>>,
    ) -> Self {
        let inner = device.clone().inner();
        let train = model.rescale(&unit.train);
        let test = &unit.test;
        let test_x_eval = upload_converted(
            test.n,
            test.d,
            &inner,
            || model.rescaled_inputs(test, |v| v as f32),
            || model.rescaled_inputs(test, |v| v),
        );
        let lda = lda(&train, &inner);
        Self::binary_with_test(&train, test_x_eval, &test.y, device).with_references(model, lda)
    }

    /// A binary problem from given train and test sets (user-supplied data or embeddings).
    pub fn from_binary(train: &BinaryDataset, test: &BinaryDataset, device: &Device) -> Self {
        let test_x_eval = upload(&test.x, test.n, test.d, &device.clone().inner());
        Self::binary_with_test(train, test_x_eval, &test.y, device)
    }

    /// A binary problem from the train set, the test inputs already on the inner device and
    /// the test labels.
    fn binary_with_test(
        train: &BinaryDataset,
        test_x_eval: Tensor<2>,
        test_y: &[f64],
        device: &Device,
    ) -> Self {
        let labels = Labels::Binary {
            train: train.y.clone(),
            test: test_y.to_vec(),
            train_column: upload(&train.y, train.n, 1, device),
        };
        Self::with_labels((&train.x, train.n), test_x_eval, train.d, labels, device)
    }

    /// A K-class problem from given train and test sets.
    pub fn from_multiclass(
        train: &MultiClassDataset,
        test: &MultiClassDataset,
        device: &Device,
    ) -> Self {
        let labels_i64: Vec<i64> = train.labels.iter().map(|&l| l as i64).collect();
        let labels = Labels::Classes {
            k: train.k,
            train: train.labels.clone(),
            test: test.labels.clone(),
            train_tensor: Tensor::from_data(TensorData::new(labels_i64, [train.n]), device),
        };
        let test_x_eval = upload(&test.x, test.n, test.d, &device.clone().inner());
        Self::with_labels((&train.x, train.n), test_x_eval, train.d, labels, device)
    }

    /// The train inputs (row-major, with their row count) uploaded, with the test inputs
    /// `[N_test, d]` already on the inner device and `labels`. The train inputs are uploaded
    /// once; the metrics read the same buffer through the inner (non-autodiff) device.
    fn with_labels(
        (train_x, n): (&[f64], usize),
        test_x_eval: Tensor<2>,
        d: usize,
        labels: Labels,
        device: &Device,
    ) -> Self {
        let train_x = upload(train_x, n, d, device);
        Self {
            n,
            n_test: test_x_eval.dims()[0],
            d,
            train_x_eval: train_x.clone().inner(),
            train_x,
            test_x_eval,
            labels,
            signal_noise: None,
            fisher: None,
            lda: None,
        }
    }

    /// Logits per run: 1 (binary) or K.
    pub fn classes(&self) -> usize {
        match &self.labels {
            Labels::Binary { .. } => 1,
            Labels::Classes { k, .. } => *k,
        }
    }
}
