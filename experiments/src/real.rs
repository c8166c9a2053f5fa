//! Real data sets for a run: the source named by `data.source`, read, split and standardised.

use std::path::{Path, PathBuf};

use logit_reg_data::MultiClassSplit;
use logit_reg_data::real::{
    CsvOptions, ImageShape, LabelledSet, LoadError, digits, load_cifar10, load_csv, load_idx,
    load_npy, split, standardise,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::ExperimentError;
use crate::config::{DataSource, RunConfig};

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

/// Reads `config`'s real source, splits it into `data.n_train` training samples (by
/// `data.split`, seeded by `seed`) and the rest as test samples, and standardises both with the
/// training statistics when `data.standardise`.
pub fn load_real(config: &RunConfig) -> Result<RealData, ExperimentError> {
    let set = load_source(config)?;
    let mut parts = split(
        &set.data,
        config.data.n_train,
        config.data.split,
        config.seed,
    )?;
    if config.data.standardise {
        standardise(&mut parts);
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
