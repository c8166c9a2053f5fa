//! Choosing a backend and a float precision at run time.

use burn::tensor::{Device, FloatDType, Tensor};
use serde::{Deserialize, Serialize};

use crate::ModelError;

/// The compute backends this build may contain. Each is behind the Cargo feature of the same
/// name; [`Backend::compiled`] lists those in this binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// Burn's Flex CPU backend (feature `flex`, the default).
    #[default]
    Flex,
    /// Burn's NdArray CPU backend (feature `ndarray`; deprecated upstream and slower).
    Ndarray,
    /// WGPU (feature `wgpu`): the default adapter.
    Wgpu,
}

impl Backend {
    /// The backend's name as used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::Ndarray => "ndarray",
            Backend::Wgpu => "wgpu",
        }
    }

    /// Parses a command-line name.
    pub fn parse(name: &str) -> Result<Self, ModelError> {
        match name {
            "flex" => Ok(Backend::Flex),
            "ndarray" => Ok(Backend::Ndarray),
            "wgpu" => Ok(Backend::Wgpu),
            other => Err(ModelError::OutOfRange {
                field: "backend",
                value: other.to_string(),
                allowed: "one of flex, ndarray, wgpu",
            }),
        }
    }

    /// The backends compiled into this build.
    pub fn compiled() -> Vec<Backend> {
        let mut out = Vec::new();
        if cfg!(feature = "flex") {
            out.push(Backend::Flex);
        }
        if cfg!(feature = "ndarray") {
            out.push(Backend::Ndarray);
        }
        if cfg!(feature = "wgpu") {
            out.push(Backend::Wgpu);
        }
        out
    }
}

/// Float precision of every tensor on a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    /// 32-bit floats (the default: fastest).
    #[default]
    F32,
    /// 64-bit floats (the reference for tests of exact claims).
    F64,
}

impl Precision {
    /// Parses `f32` or `f64`.
    pub fn parse(name: &str) -> Result<Self, ModelError> {
        match name {
            "f32" => Ok(Precision::F32),
            "f64" => Ok(Precision::F64),
            other => Err(ModelError::OutOfRange {
                field: "dtype",
                value: other.to_string(),
                allowed: "f32 or f64",
            }),
        }
    }

    /// `"f32"` or `"f64"`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }

    fn float_dtype(self) -> FloatDType {
        match self {
            Precision::F32 => FloatDType::F32,
            Precision::F64 => FloatDType::F64,
        }
    }
}

/// The (non-autodiff) device of `backend` with default float type `precision`; call
/// `.autodiff()` on it for training.
///
/// Burn fixes a device's default dtype at its first tensor, process-wide. If the device was
/// already set up with the same precision this succeeds; with another precision it returns
/// [`ModelError::Backend`] (so one process uses one precision per backend).
pub fn make_device(backend: Backend, precision: Precision) -> Result<Device, ModelError> {
    let unavailable = |reason: String| ModelError::Backend {
        backend: backend.name().into(),
        reason,
    };
    let mut device = match backend {
        #[cfg(feature = "flex")]
        Backend::Flex => Device::flex(),
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)]
        Backend::Ndarray => Device::ndarray(),
        #[cfg(feature = "wgpu")]
        Backend::Wgpu => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
        #[allow(unreachable_patterns)]
        other => {
            return Err(unavailable(format!(
                "not compiled into this build (enable the Cargo feature `{}`); compiled: {:?}",
                other.name(),
                Backend::compiled()
                    .iter()
                    .map(|b| b.name())
                    .collect::<Vec<_>>()
            )));
        }
    };
    let wanted = precision.float_dtype();
    if let Err(err) = device.configure(wanted) {
        let current = device.settings().float_dtype;
        if current != wanted {
            return Err(unavailable(format!(
                "requested {} but the device is already set to {current:?}: {err}",
                precision.name()
            )));
        }
    }
    Ok(device)
}

/// Copies a float tensor to the host as `f64` values (row-major).
pub fn to_f64_vec<const D: usize>(tensor: Tensor<D>) -> Vec<f64> {
    tensor.into_data_as::<f64>().iter::<f64>().collect()
}
