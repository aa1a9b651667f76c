//! ONNX Runtime, loaded at run time from the PyPI wheel's library (`cargo xtask setup`),
//! and the choice of execution provider.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;

use crate::error::{Error, Result};

/// The ONNX Runtime release mstag is built and tested against (PyPI `onnxruntime`).
pub const ORT_VERSION: &str = "1.31.1";

/// Where inference runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// ONNX Runtime's CPU execution provider (the default; always available).
    Cpu,
    /// CUDA execution provider; fails loudly where there is none.
    Cuda,
    /// CUDA where it works, otherwise CPU (and says so).
    Auto,
}

impl std::str::FromStr for Device {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda),
            "auto" => Ok(Device::Auto),
            _ => Err(Error::InvalidSetting {
                name: "--device",
                value: s.into(),
                reason: "choose one of: cpu, cuda, auto".into(),
            }),
        }
    }
}

fn lib_names() -> [String; 2] {
    [
        format!("libonnxruntime.so.{ORT_VERSION}"),
        "libonnxruntime.so".to_string(),
    ]
}

/// A library chosen by the embedding program ([`set_library_path`]).
static PREFERRED: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);

/// Makes `path` (a `libonnxruntime.so.<ORT_VERSION>` file) the library to load, ahead of the
/// places searched by default (only `ORT_DYLIB_PATH` still comes first). For programs whose
/// executable is not theirs, such as a plugin inside a host, which ships the library in its
/// bundle. It only has an effect before the first use of ONNX Runtime in the process: returns
/// false when the runtime is already loaded from another file.
pub fn set_library_path(path: impl Into<PathBuf>) -> bool {
    let path = path.into();
    if let Some(Ok((_, loaded))) = ENV.get() {
        return *loaded == path;
    }
    *PREFERRED.lock().unwrap_or_else(|e| e.into_inner()) = Some(path);
    true
}

/// Places searched for the library, in order: `ORT_DYLIB_PATH`, the file given to
/// [`set_library_path`], beside the executable (and its `lib/`), then `.ort/lib` of this
/// source tree (where `cargo xtask setup` puts it).
pub fn library_candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        if !p.is_empty() {
            out.push(PathBuf::from(p));
        }
    }
    if let Some(p) = PREFERRED.lock().unwrap_or_else(|e| e.into_inner()).clone() {
        out.push(p);
    }
    let mut dirs = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(d) = exe.parent() {
            dirs.push(d.to_path_buf());
            dirs.push(d.join("lib"));
            // Test binaries live in target/<profile>/deps.
            if let Some(up) = d.parent() {
                dirs.push(up.to_path_buf());
            }
        }
    }
    dirs.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(".ort")
            .join("lib"),
    );
    for d in dirs {
        for n in lib_names() {
            out.push(d.join(n));
        }
    }
    out
}

/// The environment variable with which ONNX Runtime (1.29 and later, outside Windows) turns
/// its telemetry off: `1` stops it before it starts.
pub const TELEMETRY_OPT_OUT_VAR: &str = "ORT_DISABLE_TELEMETRY";

/// The environment variable a program should set, and its value, to keep ONNX Runtime's
/// telemetry off: `Some((TELEMETRY_OPT_OUT_VAR, "1"))` unless the user has set
/// [`TELEMETRY_OPT_OUT_VAR`] themselves (then their value stands and this is `None`).
///
/// Why: the PyPI build of ONNX Runtime starts a telemetry system when its environment is
/// created. It writes a device id under `~/.cache/Microsoft/DeveloperTools/`, and every ~5 s
/// its uploader starts three threads that look up the upload host and exit. Each thread exit
/// unmaps its stack, which interrupts every core running one of this process's threads (a TLB
/// shootdown), the audio thread included. The runtime's `DisableTelemetryEvents` call stops the
/// events but not the uploader; only this variable, read when the runtime starts, does.
///
/// The library never sets it: setting an environment variable is only sound while no other
/// thread reads the environment, which only the program can know. mstag's binaries set it
/// first thing in `main`; the plugin before it loads the runtime.
///
/// # Examples
/// ```
/// // First thing in main, before any thread starts:
/// if let Some((var, value)) = mstag::model::runtime::telemetry_opt_out() {
///     std::env::set_var(var, value);
/// }
/// assert!(mstag::model::runtime::telemetry_off());
/// ```
pub fn telemetry_opt_out() -> Option<(&'static str, &'static str)> {
    std::env::var_os(TELEMETRY_OPT_OUT_VAR)
        .is_none()
        .then_some((TELEMETRY_OPT_OUT_VAR, "1"))
}

/// Whether ONNX Runtime's telemetry is off for this process: [`TELEMETRY_OPT_OUT_VAR`] is set
/// to something other than `0` (see [`telemetry_opt_out`]).
pub fn telemetry_off() -> bool {
    std::env::var_os(TELEMETRY_OPT_OUT_VAR).is_some_and(|v| v != "0" && !v.is_empty())
}

static ENV: OnceLock<std::result::Result<(Environment, PathBuf), String>> = OnceLock::new();

/// The process-wide ONNX Runtime environment (loaded once; engines share it, not sessions).
pub fn environment() -> Result<&'static Environment> {
    runtime().map(|(env, _)| env)
}

/// Path of the loaded ONNX Runtime library.
pub fn library_path() -> Result<&'static Path> {
    runtime().map(|(_, p)| p.as_path())
}

fn runtime() -> Result<&'static (Environment, PathBuf)> {
    let r = ENV.get_or_init(|| {
        let candidates = library_candidates();
        let explicit = std::env::var_os("ORT_DYLIB_PATH").is_some_and(|p| !p.is_empty());
        let found = candidates.iter().find(|p| p.is_file()).cloned();
        let path = match found {
            Some(p) => p,
            None => {
                return Err(format!(
                    "libonnxruntime.so.{ORT_VERSION} not found (looked in {})",
                    candidates
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        };
        if explicit && !candidates[0].is_file() {
            return Err(format!(
                "ORT_DYLIB_PATH={} is not a file",
                candidates[0].display()
            ));
        }
        let telemetry_off = telemetry_off();
        let builder = ort::init_from(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let env = builder
            .with_name("mstag")
            .with_telemetry(!telemetry_off)
            .build()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok((env, path))
    });
    r.as_ref().map_err(|reason| Error::Runtime {
        reason: reason.clone(),
        version: ORT_VERSION,
    })
}

/// The execution providers compiled into the loaded ONNX Runtime, as it names them (e.g.
/// `["CUDAExecutionProvider", "CPUExecutionProvider"]`): what it could use, not what works
/// on this machine (see [`super::cuda::check`] for CUDA).
///
/// # Errors
/// [`Error::Runtime`] when ONNX Runtime cannot be loaded.
pub fn available_providers() -> Result<Vec<String>> {
    environment()?;
    let api = ort::api();
    let mut list: *mut *mut std::ffi::c_char = std::ptr::null_mut();
    let mut n: std::ffi::c_int = 0;
    // SAFETY: GetAvailableProviders writes an array of `n` NUL-terminated strings that
    // stay valid until ReleaseAvailableProviders, called below with the same pointer and count.
    let status = unsafe { (api.GetAvailableProviders)(&mut list, &mut n) };
    if !status.0.is_null() {
        // SAFETY: a non-null status from the API is ours to release.
        unsafe { (api.ReleaseStatus)(status.0) };
        return Err(Error::Runtime {
            reason: "ONNX Runtime cannot list its execution providers".into(),
            version: ORT_VERSION,
        });
    }
    let mut out = Vec::new();
    if !list.is_null() {
        for i in 0..n.max(0) as usize {
            // SAFETY: `i < n` entries, each a valid C string (see above).
            let name = unsafe { std::ffi::CStr::from_ptr(*list.add(i)) };
            out.push(name.to_string_lossy().into_owned());
        }
        // SAFETY: releases the array GetAvailableProviders made, once.
        let status = unsafe { (api.ReleaseAvailableProviders)(list, n) };
        if !status.0.is_null() {
            // SAFETY: as above.
            unsafe { (api.ReleaseStatus)(status.0) };
        }
    }
    Ok(out)
}

/// Execution providers to register for a concrete device (`Cpu` or `Cuda`; `Auto` is
/// resolved by the caller, see [`crate::model::ModelSet::from_manifest`]).
pub(crate) fn execution_providers(
    device: Device,
) -> Result<Vec<ort::ep::ExecutionProviderDispatch>> {
    match device {
        Device::Cpu | Device::Auto => Ok(Vec::new()),
        #[cfg(feature = "cuda")]
        Device::Cuda => {
            use ort::ep::cuda::ConvAlgorithmSearch;
            super::cuda::prepare()?;
            // cuDNN's heuristic picks a convolution algorithm at once; the exhaustive search
            // (ONNX Runtime's default) benchmarks every one on the first run of each shape,
            // which costs more than our small CNNs gain from it.
            Ok(vec![ort::ep::CUDA::default()
                .with_conv_algorithm_search(ConvAlgorithmSearch::Heuristic)
                .build()
                .error_on_failure()])
        }
        #[cfg(not(feature = "cuda"))]
        Device::Cuda => Err(Error::ExecutionProvider {
            provider: "CUDA".into(),
            reason: "this mstag was built without the `cuda` feature (cargo build --release --features cuda)".into(),
        }),
    }
}
