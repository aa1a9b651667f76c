//! What ONNX Runtime's CUDA execution provider needs before it can run, checked one by one so
//! that a failure names the missing piece and the command that brings it:
//!
//! 1. the GPU build of ONNX Runtime: `libonnxruntime_providers_cuda.so` beside the loaded
//!    `libonnxruntime.so` (PyPI `onnxruntime-gpu`);
//! 2. the NVIDIA libraries that provider loads: the CUDA 13 runtime, cuBLAS, cuRAND, cuFFT,
//!    NVRTC and cuDNN 9 (PyPI's `nvidia-*` wheels). `cargo xtask setup --gpu` puts both beside
//!    ONNX Runtime in `.ort/lib`; a system CUDA toolkit found by the loader works too;
//! 3. the NVIDIA driver (`libcuda.so.1`, never shipped by us), recent enough for CUDA 13, with
//!    at least one GPU visible.
//!
//! [`prepare`] loads the libraries of step 2 by absolute path in dependency order before the
//! provider starts, so they are found without `LD_LIBRARY_PATH`: once a library with a given
//! name is loaded, the provider's own lookups of that name find it.

use std::ffi::{c_char, c_int, c_uint, CStr};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// The CUDA version (as the driver reports it: 1000 × major + 10 × minor) that the CUDA 13
/// libraries need the driver to support.
pub const MIN_DRIVER_CUDA: i32 = 13_000;

/// The first NVIDIA driver release that supports CUDA 13 on Linux.
pub const MIN_DRIVER_RELEASE: &str = "580";

/// ONNX Runtime's CUDA provider library, shipped beside `libonnxruntime.so` in its GPU build.
pub const PROVIDER_LIB: &str = "libonnxruntime_providers_cuda.so";

/// The environment variable naming extra folders (`:`-separated) to look for the NVIDIA
/// libraries in, before the folder of ONNX Runtime and the system's loader.
pub const LIB_DIRS_VAR: &str = "MSTAG_CUDA_LIBS";

/// How a missing piece is installed.
pub const SETUP_HINT: &str = "`cargo xtask setup --gpu` installs it from PyPI into .ort/lib";

/// One NVIDIA library the CUDA provider loads, and the PyPI package that ships it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NvidiaLib {
    /// File (and ELF) name, e.g. `libcublasLt.so.13`.
    pub file: &'static str,
    /// The PyPI wheel that ships it, e.g. `nvidia-cublas`.
    pub package: &'static str,
}

const fn lib(file: &'static str, package: &'static str) -> NvidiaLib {
    NvidiaLib { file, package }
}

/// The libraries, in load order (each after those it depends on).
pub const NVIDIA_LIBS: &[NvidiaLib] = &[
    lib("libcudart.so.13", "nvidia-cuda-runtime"),
    lib("libnvJitLink.so.13", "nvidia-nvjitlink"),
    lib("libcublasLt.so.13", "nvidia-cublas"),
    lib("libcublas.so.13", "nvidia-cublas"),
    lib("libnvrtc.so.13", "nvidia-cuda-nvrtc"),
    lib("libcurand.so.10", "nvidia-curand"),
    lib("libcufft.so.12", "nvidia-cufft"),
    lib("libcudnn.so.9", "nvidia-cudnn-cu13"),
    lib("libcudnn_graph.so.9", "nvidia-cudnn-cu13"),
    lib("libcudnn_ops.so.9", "nvidia-cudnn-cu13"),
    lib("libcudnn_heuristic.so.9", "nvidia-cudnn-cu13"),
    lib("libcudnn_adv.so.9", "nvidia-cudnn-cu13"),
    lib("libcudnn_cnn.so.9", "nvidia-cudnn-cu13"),
    lib("libcudnn_engines_precompiled.so.9", "nvidia-cudnn-cu13"),
    lib(
        "libcudnn_engines_runtime_compiled.so.9",
        "nvidia-cudnn-cu13",
    ),
];

/// Where a library was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A file in one of the searched folders.
    File(PathBuf),
    /// Not in those folders, but the system's loader finds it by name (a system CUDA).
    System,
    /// Nowhere.
    Missing,
}

/// The NVIDIA driver, as its own API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Driver {
    /// The newest CUDA version the driver supports (1000 × major + 10 × minor).
    pub cuda_version: i32,
    /// The names of the visible GPUs, in device order.
    pub gpus: Vec<String>,
}

impl Driver {
    /// `13.0` for 13000.
    pub fn cuda_version_string(&self) -> String {
        format_cuda_version(self.cuda_version)
    }
}

fn format_cuda_version(v: i32) -> String {
    format!("{}.{}", v / 1000, (v % 1000) / 10)
}

/// Everything the CUDA provider needs, checked (see the module's documentation).
#[derive(Debug, Clone)]
pub struct CudaCheck {
    /// The folder of the loaded (or to-be-loaded) ONNX Runtime library.
    pub runtime_dir: Option<PathBuf>,
    /// The provider library, when it is beside ONNX Runtime.
    pub provider: Option<PathBuf>,
    /// Each NVIDIA library and where it was found, in load order.
    pub libs: Vec<(NvidiaLib, Found)>,
    /// The driver, or why it cannot be used.
    pub driver: std::result::Result<Driver, String>,
}

impl CudaCheck {
    /// What stops CUDA from working, one sentence each (empty: nothing known).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.provider.is_none() {
            out.push(match &self.runtime_dir {
                Some(d) => format!(
                    "the ONNX Runtime in {} is the CPU-only build ({PROVIDER_LIB} is not beside it); {SETUP_HINT}",
                    d.display()
                ),
                None => format!("ONNX Runtime's {PROVIDER_LIB} was not found; {SETUP_HINT}"),
            });
        }
        let missing: Vec<NvidiaLib> = self
            .libs
            .iter()
            .filter(|(_, f)| *f == Found::Missing)
            .map(|(l, _)| *l)
            .collect();
        if !missing.is_empty() {
            out.push(format!(
                "missing NVIDIA libraries: {}; `cargo xtask setup --gpu` installs them from PyPI into .ort/lib (or set {LIB_DIRS_VAR} to the folders that hold them)",
                by_package(&missing)
            ));
        }
        if let Err(e) = &self.driver {
            out.push(e.clone());
        }
        out
    }

    /// Whether nothing known stops CUDA.
    pub fn is_ready(&self) -> bool {
        self.problems().is_empty()
    }
}

/// `libcublasLt.so.13 and libcublas.so.13 (PyPI nvidia-cublas), ...`: the files grouped by
/// the wheel that ships them, in load order.
fn by_package(libs: &[NvidiaLib]) -> String {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for l in libs {
        match groups.iter_mut().find(|(p, _)| *p == l.package) {
            Some((_, files)) => files.push(l.file),
            None => groups.push((l.package, vec![l.file])),
        }
    }
    groups
        .iter()
        .map(|(p, files)| {
            let names = match files.as_slice() {
                [one] => one.to_string(),
                [a, b] => format!("{a} and {b}"),
                more => format!("{} libraries {}", more.len(), more.join(", ")),
            };
            format!("{names} (PyPI {p})")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Folders searched for the NVIDIA libraries, in order: [`LIB_DIRS_VAR`], then the folder of
/// ONNX Runtime (`runtime_dir`).
pub fn search_dirs(runtime_dir: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os(LIB_DIRS_VAR)
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    dirs.extend(runtime_dir.map(Path::to_path_buf));
    dirs
}

/// Where `file` is: the first of `dirs` that holds it, else the system's loader if
/// `try_system` and it can load it by name.
fn locate(file: &str, dirs: &[PathBuf], try_system: bool) -> Found {
    if let Some(p) = dirs.iter().map(|d| d.join(file)).find(|p| p.is_file()) {
        return Found::File(p);
    }
    if try_system && load_forever(file).is_ok() {
        return Found::System;
    }
    Found::Missing
}

/// Checks the provider library, the NVIDIA libraries and the driver for ONNX Runtime in
/// `runtime_dir` (see [`check`] for the one this process uses).
///
/// With `try_system`, a library not in the searched folders is looked up with the system's
/// loader (which loads it, for good, when it is there).
pub fn check_in(runtime_dir: Option<&Path>, try_system: bool) -> CudaCheck {
    let provider = runtime_dir
        .map(|d| d.join(PROVIDER_LIB))
        .filter(|p| p.is_file());
    let dirs = search_dirs(runtime_dir);
    let libs = NVIDIA_LIBS
        .iter()
        .map(|l| (*l, locate(l.file, &dirs, try_system)))
        .collect();
    CudaCheck {
        runtime_dir: runtime_dir.map(Path::to_path_buf),
        provider,
        libs,
        driver: probe_driver(),
    }
}

/// [`check_in`] for the ONNX Runtime this process loads (see
/// [`runtime::library_path`](super::runtime::library_path)).
pub fn check() -> CudaCheck {
    let dir = super::runtime::library_path()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    check_in(dir.as_deref(), true)
}

/// Makes the CUDA provider ready to register: checks everything ([`check`]) and loads the
/// NVIDIA libraries in dependency order. Done once per process; later calls return the
/// first answer.
///
/// # Errors
/// [`Error::ExecutionProvider`] naming every missing piece and how to get it.
pub fn prepare() -> Result<&'static Driver> {
    static READY: OnceLock<std::result::Result<Driver, String>> = OnceLock::new();
    let r = READY.get_or_init(|| {
        let c = check();
        let problems = c.problems();
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        for (_, found) in &c.libs {
            if let Found::File(p) = found {
                load_forever(p).map_err(|e| format!("{} cannot be loaded: {e}", p.display()))?;
            }
        }
        c.driver
    });
    r.as_ref().map_err(|reason| Error::ExecutionProvider {
        provider: "CUDA".into(),
        reason: reason.clone(),
    })
}

/// Loads a shared library and keeps it loaded for the life of the process (the CUDA provider
/// and the driver must never be unloaded under ONNX Runtime).
fn load_forever(name: impl AsRef<std::ffi::OsStr>) -> std::result::Result<(), String> {
    // SAFETY: the libraries loaded here are NVIDIA's CUDA libraries, whose initialisers only
    // register their own state; loading them has no effect on memory this program owns.
    let lib = unsafe { libloading::Library::new(name.as_ref()) }.map_err(|e| loader_error(&e))?;
    std::mem::forget(lib);
    Ok(())
}

/// The loader's message (libloading keeps `dlerror`'s text as the error's source).
fn loader_error(e: &libloading::Error) -> String {
    match std::error::Error::source(e) {
        Some(src) => src.to_string(),
        None => e.to_string(),
    }
}

type CuInit = unsafe extern "C" fn(c_uint) -> c_int;
type CuDriverGetVersion = unsafe extern "C" fn(*mut c_int) -> c_int;
type CuDeviceGetCount = unsafe extern "C" fn(*mut c_int) -> c_int;
type CuDeviceGet = unsafe extern "C" fn(*mut c_int, c_int) -> c_int;
type CuDeviceGetName = unsafe extern "C" fn(*mut c_char, c_int, c_int) -> c_int;
type CuGetErrorName = unsafe extern "C" fn(c_int, *mut *const c_char) -> c_int;

/// Asks the driver (`libcuda.so.1`) for its CUDA version and GPUs. Cached: the driver is
/// initialised once per process.
pub fn probe_driver() -> std::result::Result<Driver, String> {
    static DRIVER: OnceLock<std::result::Result<Driver, String>> = OnceLock::new();
    DRIVER.get_or_init(probe_driver_uncached).clone()
}

fn probe_driver_uncached() -> std::result::Result<Driver, String> {
    let no_driver = |e: &dyn std::fmt::Display| {
        format!(
            "no NVIDIA driver ({e}); install NVIDIA's driver {MIN_DRIVER_RELEASE} or newer \
             (CUDA 13 needs it)"
        )
    };
    // SAFETY: libcuda.so.1 is the NVIDIA driver's library; loading it runs no code of ours.
    let lib = unsafe { libloading::Library::new("libcuda.so.1") }
        .map_err(|e| no_driver(&loader_error(&e)))?;
    // The driver stays loaded: ONNX Runtime uses the same library, and CUDA must not be
    // unloaded after cuInit.
    let lib: &'static libloading::Library = Box::leak(Box::new(lib));
    // SAFETY: these are the CUDA driver API's entry points with their documented C
    // signatures (cuda.h); the library stays loaded for the life of the process.
    let (init, version, count, get, name, err_name) = unsafe {
        (
            *lib.get::<CuInit>(b"cuInit\0").map_err(|e| no_driver(&e))?,
            *lib.get::<CuDriverGetVersion>(b"cuDriverGetVersion\0")
                .map_err(|e| no_driver(&e))?,
            *lib.get::<CuDeviceGetCount>(b"cuDeviceGetCount\0")
                .map_err(|e| no_driver(&e))?,
            *lib.get::<CuDeviceGet>(b"cuDeviceGet\0")
                .map_err(|e| no_driver(&e))?,
            *lib.get::<CuDeviceGetName>(b"cuDeviceGetName\0")
                .map_err(|e| no_driver(&e))?,
            *lib.get::<CuGetErrorName>(b"cuGetErrorName\0")
                .map_err(|e| no_driver(&e))?,
        )
    };
    let code_name = |code: c_int| -> String {
        let mut p: *const c_char = std::ptr::null();
        // SAFETY: cuGetErrorName writes a pointer to a static string (or leaves it null).
        let ok = unsafe { err_name(code, &mut p) } == 0 && !p.is_null();
        if ok {
            // SAFETY: the driver's error names are static, NUL-terminated strings.
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        } else {
            format!("error {code}")
        }
    };
    let mut v: c_int = 0;
    // SAFETY: cuDriverGetVersion writes one int; it may be called before cuInit.
    let rc = unsafe { version(&mut v) };
    if rc != 0 {
        return Err(format!(
            "the NVIDIA driver does not say its CUDA version ({})",
            code_name(rc)
        ));
    }
    if v < MIN_DRIVER_CUDA {
        return Err(format!(
            "the NVIDIA driver supports CUDA {} only; the CUDA 13 libraries need driver \
             {MIN_DRIVER_RELEASE} or newer",
            format_cuda_version(v)
        ));
    }
    // SAFETY: cuInit takes flags 0.
    let rc = unsafe { init(0) };
    if rc != 0 {
        let n = code_name(rc);
        return Err(if n == "CUDA_ERROR_NO_DEVICE" {
            format!(
                "the NVIDIA driver (CUDA {}) sees no GPU ({n}; is CUDA_VISIBLE_DEVICES set?)",
                format_cuda_version(v)
            )
        } else {
            format!("the NVIDIA driver cannot start CUDA ({n})")
        });
    }
    let mut n: c_int = 0;
    // SAFETY: writes one int; CUDA is initialised.
    let rc = unsafe { count(&mut n) };
    if rc != 0 || n <= 0 {
        return Err(format!(
            "the NVIDIA driver (CUDA {}) sees no GPU ({}; is CUDA_VISIBLE_DEVICES set?)",
            format_cuda_version(v),
            if rc != 0 {
                code_name(rc)
            } else {
                "0 devices".into()
            }
        ));
    }
    let mut gpus = Vec::new();
    for i in 0..n {
        let mut dev: c_int = 0;
        let mut buf = [0 as c_char; 256];
        // SAFETY: cuDeviceGet writes one handle for an ordinal below the count;
        // cuDeviceGetName writes at most `len` bytes, NUL-terminated, into `buf`.
        let named = unsafe {
            get(&mut dev, i) == 0 && name(buf.as_mut_ptr(), buf.len() as c_int, dev) == 0
        };
        gpus.push(if named {
            // SAFETY: NUL-terminated within `buf` (the driver writes at most len - 1 bytes).
            unsafe { CStr::from_ptr(buf.as_ptr()) }
                .to_string_lossy()
                .into_owned()
        } else {
            format!("GPU {i}")
        });
    }
    Ok(Driver {
        cuda_version: v,
        gpus,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_runtime(files: &[&str]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for f in files {
            std::fs::write(d.path().join(f), b"").unwrap();
        }
        d
    }

    #[test]
    fn cpu_build_is_named_with_the_command_that_fixes_it() {
        let d = fake_runtime(&["libonnxruntime.so.1.31.1"]);
        let c = check_in(Some(d.path()), false);
        assert!(c.provider.is_none());
        let p = c.problems();
        assert!(p[0].contains("CPU-only build"), "{p:?}");
        assert!(p[0].contains("cargo xtask setup --gpu"), "{p:?}");
        // Every NVIDIA library is named with its PyPI package.
        assert!(
            p[1].contains("libcublasLt.so.13 and libcublas.so.13 (PyPI nvidia-cublas)"),
            "{p:?}"
        );
        assert!(p[1].contains("8 libraries libcudnn.so.9, "), "{p:?}");
        assert!(p[1].contains("(PyPI nvidia-cudnn-cu13)"), "{p:?}");
        assert!(!c.is_ready());
    }

    #[test]
    fn only_the_missing_libraries_are_named() {
        let mut files: Vec<&str> = NVIDIA_LIBS.iter().map(|l| l.file).collect();
        files.retain(|f| *f != "libcufft.so.12");
        files.push(PROVIDER_LIB);
        let d = fake_runtime(&files);
        let c = check_in(Some(d.path()), false);
        assert_eq!(c.provider, Some(d.path().join(PROVIDER_LIB)));
        let missing: Vec<_> = c
            .libs
            .iter()
            .filter(|(_, f)| *f == Found::Missing)
            .map(|(l, _)| l.file)
            .collect();
        assert_eq!(missing, ["libcufft.so.12"]);
        let libs = c
            .problems()
            .into_iter()
            .find(|p| p.contains("missing"))
            .unwrap();
        assert!(
            libs.contains("libcufft.so.12 (PyPI nvidia-cufft)"),
            "{libs}"
        );
        assert!(!libs.contains("libcublas"), "{libs}");
    }

    #[test]
    fn load_order_puts_dependencies_first() {
        let pos = |f: &str| NVIDIA_LIBS.iter().position(|l| l.file == f).unwrap();
        assert!(pos("libcudart.so.13") < pos("libcublas.so.13"));
        assert!(pos("libcublasLt.so.13") < pos("libcublas.so.13"));
        assert!(pos("libnvJitLink.so.13") < pos("libcufft.so.12"));
        assert!(pos("libcublas.so.13") < pos("libcudnn.so.9"));
        assert!(pos("libcudnn.so.9") < pos("libcudnn_cnn.so.9"));
    }

    #[test]
    fn a_machine_without_a_driver_says_which_driver_to_install() {
        // Only meaningful where there is no driver (as on the project's CI machines).
        if let Err(e) = probe_driver() {
            assert!(
                e.contains("driver") && (e.contains(MIN_DRIVER_RELEASE) || e.contains("GPU")),
                "{e}"
            );
        }
    }

    #[test]
    fn cuda_versions_read_as_people_write_them() {
        assert_eq!(format_cuda_version(13_000), "13.0");
        assert_eq!(format_cuda_version(12_040), "12.4");
        assert_eq!(format_cuda_version(13_010), "13.1");
    }
}
