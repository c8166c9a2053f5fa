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

    /// Whether the backend computes on the host CPU (flex, ndarray) rather than a GPU device.
    pub fn is_cpu(self) -> bool {
        matches!(self, Backend::Flex | Backend::Ndarray)
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
    if precision == Precision::F64 && !backend.is_cpu() {
        check_f64(&device, backend)?;
    }
    Ok(device)
}

/// Whether `device` (of a GPU `backend`) computes in f64: it must report f64 support, and a
/// probe of what training uses must agree with the host: a sum that keeps what f32 would round
/// away (`1 + 1e-10`), and `exp` and `log`. On Mesa's software Vulkan (lavapipe) the device
/// reports f64 and its sums and products are exact, but `exp(1)` comes back as 7.2e-315 and
/// `log` as −88.03 whatever the input (measured 2026-11-30), so training would be NaN at its
/// first update; this check refuses it with a clear error instead.
fn check_f64(device: &Device, backend: Backend) -> Result<(), ModelError> {
    let name = device_name(device, backend);
    let refuse = |why: String| ModelError::Backend {
        backend: backend.name().into(),
        reason: format!(
            "--dtype f64 on {name}: {why}; use --dtype f32, or a CPU backend (flex, ndarray) \
             for f64"
        ),
    };
    if !device.supports_dtype(FloatDType::F64) {
        return Err(refuse("the device reports no f64 support".into()));
    }
    let tensor = |values: Vec<f64>| {
        let n = values.len();
        Tensor::<1>::from_data(burn::tensor::TensorData::new(values, [n]), device)
    };
    let sum = tensor(vec![1.0, 1e-10]).sum().into_scalar::<f64>();
    let exp = tensor(vec![1.0]).exp().into_scalar::<f64>();
    let log = tensor(vec![2.0]).log().into_scalar::<f64>();
    let close = |got: f64, want: f64| (got - want).abs() <= 1e-12 * want.abs();
    for (what, got, want) in [
        ("1 + 1e-10", sum, 1.0 + 1e-10),
        ("exp(1)", exp, std::f64::consts::E),
        ("log(2)", log, std::f64::consts::LN_2),
    ] {
        if !close(got, want) {
            return Err(refuse(format!(
                "it reports f64 support, but {what} computes to {got:e} instead of {want:e}"
            )));
        }
    }
    Ok(())
}

/// The name of the hardware behind `device`: the adapter's name for a GPU backend (for example
/// "llvmpipe (LLVM 15.0.6, 256 bits)" for Mesa's software Vulkan, or a GPU model), "host CPU"
/// for the CPU backends.
pub fn device_name(device: &Device, backend: Backend) -> String {
    if backend.is_cpu() {
        return "host CPU".into();
    }
    #[cfg(feature = "wgpu")]
    {
        if let Some(identity) = device.identity() {
            return identity.name;
        }
    }
    let _ = device;
    format!("{} device (unnamed)", backend.name())
}

/// Copies a float tensor to the host as `f64` values (row-major).
pub fn to_f64_vec<const D: usize>(tensor: Tensor<D>) -> Vec<f64> {
    tensor.into_data_as::<f64>().iter::<f64>().collect()
}
