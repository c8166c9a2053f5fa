//! Real data sets for a run: the source named by `data.source`, read, split and standardised.

use std::path::{Path, PathBuf};

use burn::module::Module;
use logit_reg_data::real::geometry::{class_means, scale_orthogonal, signal_basis};
use logit_reg_data::real::{
    CsvOptions, ImageShape, LabelledSet, LoadError, SplitMode, corrupt, digits, load_cifar10,
    load_csv, load_idx, load_npy, split, split_with, standardise,
};
use logit_reg_data::{MultiClassDataset, MultiClassSplit, Stream};
use logit_reg_model::{MlpConfig, MultiClassLogitLoss, make_device, to_f64_vec};
use logit_reg_train::{EngineName, Objective, OptimizerName, Problem, TrainSpec, train};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::ExperimentError;
use crate::config::{DataSource, EmbedKind, RunConfig};

/// A real data set, split and ready to upload.
#[derive(Debug, Clone)]
pub struct RealData {
    /// The train and test parts (standardised when `data.standardise`).
    pub split: MultiClassSplit,
    /// The image shape of a sample, when the source says the samples are images.
    pub image: Option<ImageShape>,
    /// The files read (none for the shipped digits).
    pub files: Vec<PathBuf>,
}

/// The labelled set `config.data.source` names, read whole and checked.
///
/// # Errors
/// [`ExperimentError::DataFile`] naming the file and its problem; a `synthetic` source is a
/// config error on `data.source`.
pub fn load_source(config: &RunConfig) -> Result<LabelledSet, ExperimentError> {
    let data = &config.data;
    let classes = (data.classes > 0).then_some(data.classes);
    let (path, labels) = (Path::new(&data.path), Path::new(&data.labels_path));
    let set = match data.source {
        DataSource::Synthetic => {
            return Err(ExperimentError::invalid(
                "data.source",
                "synthetic",
                "a real source: digits | npy | csv | idx | cifar10",
            ));
        }
        DataSource::Digits => {
            let mut set = digits()?;
            set.files.clear();
            set
        }
        DataSource::Npy => load_npy(path, labels, classes)?,
        DataSource::Idx => load_idx(path, labels, classes)?,
        DataSource::Csv => load_csv(
            path,
            CsvOptions {
                label_column: data.label_column,
                header: data.header,
                classes,
            },
        )?,
        DataSource::Cifar10 => load_cifar10(path)?,
    };
    if let Some(k) = classes.filter(|&k| k != set.data.k) {
        // CIFAR-10 always has 10 classes, whatever `data.classes` says.
        return Err(ExperimentError::invalid(
            "data.classes",
            &k.to_string(),
            &format!(
                "0 or {} for data.source = {}",
                set.data.k,
                data.source.name()
            ),
        ));
    }
    Ok(set)
}

/// The samples a run of `config` splits into train and test: the source read whole, then, with
/// `data.embed = "mlp"`, `data.embed_n` samples set aside (stratified, [`Stream::EmbedSplit`]
/// of `seed`) to train the embedding MLP and the others replaced by its penultimate features,
/// with `data.corrupt` applied to their raw inputs first (the embedder trains on clean inputs).
/// Without an embedding, `data.corrupt` applies to every sample.
pub fn load_features(config: &RunConfig) -> Result<LabelledSet, ExperimentError> {
    let set = load_source(config)?;
    let data = &config.data;
    if data.embed == EmbedKind::None {
        let mut set = set;
        corrupt(&mut set.data, data.corrupt, config.seed);
        return Ok(set);
    }
    let mut parts = split_with(
        &set.data,
        data.embed_n,
        SplitMode::Stratified,
        config.seed,
        Stream::EmbedSplit,
    )
    .map_err(|e| rename(e, "data.embed_n"))?;
    corrupt(&mut parts.test, data.corrupt, config.seed);
    standardise(&mut parts);
    let features = embed_with_mlp(config, &parts)?;
    Ok(LabelledSet {
        data: MultiClassDataset {
            n: parts.test.n,
            d: features.len() / parts.test.n.max(1),
            k: parts.test.k,
            x: features,
            labels: parts.test.labels,
        },
        image: None,
        files: set.files,
    })
}

/// A split error on `n_train` reported on `key` instead.
fn rename(e: LoadError, key: &'static str) -> ExperimentError {
    match e {
        LoadError::OutOfRange { value, allowed, .. } => ExperimentError::Config {
            key: key.into(),
            message: format!("invalid value {value} (allowed: {allowed})"),
        },
        other => other.into(),
    }
}

/// Trains the embedding MLP (`data.embed_hidden`, relu, no regularisation; Adam η = 0.003,
/// batches of 50, 60 epochs) on `parts.train` and returns the penultimate features of
/// `parts.test`, row-major `[n, h]`.
fn embed_with_mlp(
    config: &RunConfig,
    parts: &MultiClassSplit,
) -> Result<Vec<f64>, ExperimentError> {
    let device = make_device(config.backend, config.dtype)
        .map_err(ExperimentError::model)?
        .autodiff();
    let problem = Problem::from_multiclass(&parts.train, &parts.test, &device);
    let model = MlpConfig::new(
        problem.d,
        config.data.embed_hidden.clone(),
        problem.classes(),
    )
    .with_init_seed(config.seed)
    .init(&device)
    .map_err(ExperimentError::model)?;
    let loss =
        MultiClassLogitLoss::new(None, vec![0.0], &device).map_err(ExperimentError::model)?;
    let objective = Objective::MultiClass(Box::new(loss));
    let batch = EMBED_BATCH.min(problem.n);
    let spec = TrainSpec {
        optimizer: OptimizerName::Adam,
        lr: vec![EMBED_LR],
        steps: EMBED_EPOCHS * (problem.n / batch) as u64,
        batch_size: batch,
        grad_tol: 0.0,
        adam: (0.9, 0.999, 1e-8),
        seed: config.seed,
        engine: EngineName::Burn,
        threads: 0,
        fused_kernel: Default::default(),
    };
    let (model, _) = train(model, &problem, &objective, &spec, |_| false, |_| {})?;
    Ok(to_f64_vec(
        model.valid().penultimate(problem.test_x_eval.clone()),
    ))
}

/// The embedding MLP's training: Adam's rate, batch size and epochs.
const EMBED_LR: f64 = 0.003;
const EMBED_BATCH: usize = 50;
const EMBED_EPOCHS: u64 = 60;

/// Reads `config`'s real source ([`load_features`]: embedded and corrupted as asked), splits
/// it into `data.n_train` training samples (by `data.split`, seeded by `seed`) and the rest as
/// test samples, standardises both with the training statistics when `data.standardise`, and
/// scales the components orthogonal to the training class means by `data.orthogonal_scale`.
pub fn load_real(config: &RunConfig) -> Result<RealData, ExperimentError> {
    let set = load_features(config)?;
    let mut parts = split(
        &set.data,
        config.data.n_train,
        config.data.split,
        config.seed,
    )?;
    if config.data.standardise {
        standardise(&mut parts);
    }
    let gamma = config.data.orthogonal_scale;
    if gamma != 1.0 {
        let means = class_means(&parts.train);
        let mut present = vec![false; parts.train.k];
        parts.train.labels.iter().for_each(|&y| present[y] = true);
        let basis = signal_basis(&means, &present);
        let d = parts.train.d;
        scale_orthogonal(&mut parts.train.x, d, &basis, gamma);
        scale_orthogonal(&mut parts.test.x, d, &basis, gamma);
    }
    Ok(RealData {
        split: parts,
        image: set.image,
        files: set.files,
    })
}

/// What a summary records of a real source so that the run can be checked against the same
/// bytes later: the source, the sizes, and each file's SHA-256.
pub fn provenance(config: &RunConfig, data: &RealData) -> Result<Value, ExperimentError> {
    let files = data
        .files
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path).map_err(|e| ExperimentError::io(path, e))?;
            let hash: String = Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            Ok(json!({"path": path.display().to_string(), "bytes": bytes.len(), "sha256": hash}))
        })
        .collect::<Result<Vec<Value>, ExperimentError>>()?;
    let shipped =
        (config.data.source == DataSource::Digits).then_some(logit_reg_data::real::DIGITS_SHA256);
    Ok(json!({
        "source": config.data.source.name(),
        "n_train": data.split.train.n,
        "n_test": data.split.test.n,
        "d": data.split.train.d,
        "classes": data.split.train.k,
        "image": data.image.map(|i| [i.channels, i.height, i.width]),
        "embed": config.data.embed,
        "corrupt": config.data.corrupt,
        "orthogonal_scale": config.data.orthogonal_scale,
        "files": files,
        "shipped_sha256": shipped,
    }))
}

impl From<LoadError> for ExperimentError {
    /// A loader's range errors name their config key; every other problem is the file's.
    fn from(e: LoadError) -> Self {
        match &e {
            LoadError::OutOfRange { field, .. } => ExperimentError::Config {
                key: format!("data.{field}"),
                message: e.to_string(),
            },
            _ => ExperimentError::DataFile(e),
        }
    }
}
