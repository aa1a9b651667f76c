//! `mstag doctor`: what ONNX Runtime this program loads, which execution providers it has, and
//! for CUDA every piece that is there or missing, with the command that brings it.

use std::fmt::Write as _;
use std::path::Path;

use mstag::model::cuda::{self, CudaCheck, Found};
use mstag::model::runtime;
use mstag::model::{Device, ModelSet};

/// The report, and whether CUDA is usable.
pub fn report(manifest: &Path) -> (String, bool) {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    match runtime::library_path() {
        Ok(p) => line(format!(
            "ONNX Runtime {}: {}",
            runtime::ORT_VERSION,
            p.display()
        )),
        Err(e) => {
            line(format!("ONNX Runtime: not usable: {e}"));
            return (out, false);
        }
    }
    match runtime::available_providers() {
        Ok(v) => line(format!("  providers in this build of it: {}", v.join(", "))),
        Err(e) => line(format!("  providers: unknown ({e})")),
    }
    line(format!(
        "  CUDA support in this mstag: {}",
        if cfg!(feature = "cuda") {
            "yes"
        } else {
            "no (built without the `cuda` feature)"
        }
    ));
    line(String::new());
    line(match ModelSet::load(manifest, Device::Cpu, 1) {
        Ok(_) => "CPU: ready".into(),
        Err(e) => format!("CPU: not usable: {}", mstag::error::report(&e)),
    });
    let check = cuda::check();
    let mut ready = check.is_ready();
    line(String::new());
    line(cuda_table(&check));
    if ready {
        // Every piece is there: the proof is a session on the GPU.
        match ModelSet::load(manifest, Device::Cuda, 1) {
            Ok(m) => line(format!(
                "CUDA: ready ({}; the models open on it)",
                m.placement.gpu.as_deref().unwrap_or("GPU 0")
            )),
            Err(e) => {
                ready = false;
                line(format!("CUDA: not usable: {}", mstag::error::report(&e)));
            }
        }
    } else {
        line("CUDA: not usable:".into());
        for p in check.problems() {
            line(format!("  - {p}"));
        }
    }
    (out, ready)
}

/// One row per piece the CUDA provider needs.
fn cuda_table(c: &CudaCheck) -> String {
    let mut s = String::from("CUDA execution provider needs:\n");
    let row = |s: &mut String, what: &str, state: String| {
        let _ = writeln!(s, "  {what:<40} {state}");
    };
    row(
        &mut s,
        cuda::PROVIDER_LIB,
        match &c.provider {
            Some(p) => p.display().to_string(),
            None => "missing (the CPU-only ONNX Runtime is installed)".into(),
        },
    );
    for (lib, found) in &c.libs {
        let state = match found {
            Found::File(p) => p.display().to_string(),
            Found::System => "found by the system's loader".into(),
            Found::Missing => format!("missing (PyPI {})", lib.package),
        };
        row(&mut s, lib.file, state);
    }
    let driver = match &c.driver {
        Ok(d) => format!(
            "CUDA {} (needs {} or newer); GPUs: {}",
            d.cuda_version_string(),
            cuda::MIN_DRIVER_RELEASE,
            d.gpus.join(", ")
        ),
        Err(e) => e.clone(),
    };
    row(&mut s, "NVIDIA driver (libcuda.so.1)", driver);
    s.pop();
    s
}
