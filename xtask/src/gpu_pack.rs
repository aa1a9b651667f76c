//! `cargo xtask gpu-pack`: what `gpu-check` needs on a lent GPU machine that can fetch
//! nothing (no crates, no PyPI) and receives at most 64 MiB per call, packed into `.gpu/0`,
//! `.gpu/1`, … (each at most 52 MiB, leaving room for the repository; `.gpu/` is ignored by git):
//!
//! * `.gpu/0`: the release binaries (`mstag`, `mstag-live`, the latency harness, `xtask`),
//!   stripped, and ONNX Runtime's GPU build minus its CUDA provider;
//! * `.gpu/1…`: the CUDA provider library (284 MB), xz-compressed and cut in pieces.
//!
//! The NVIDIA libraries are not packed: that machine's Python environment has them (PyPI's
//! `nvidia-*` wheels, beside PyTorch), and `gpu-check` points mstag at them. Each piece goes
//! over in its own call (`carry: [".gpu/N"]`, command `xtask/gpu-device.sh put N`); the last
//! call runs `xtask/gpu-device.sh run`. BENCHMARKS.md ("GPU") has the calls.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{cargo, root, run, ORT_VERSION};

/// The most bytes one piece holds (the device tool takes 64 MiB per call, repository included).
const PIECE: u64 = 52 << 20;

/// The latency harness's executable, built with the release profile.
fn latency_bench() -> Result<PathBuf> {
    let out = cargo()
        .args([
            "bench",
            "--bench",
            "latency",
            "--no-run",
            "--message-format=json",
        ])
        .output()
        .context("building the latency harness")?;
    if !out.status.success() {
        bail!(
            "cargo bench --no-run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"]["name"] == "latency")
        .find_map(|v| v["executable"].as_str().map(PathBuf::from))
        .context("cargo did not name the latency harness's executable")
}

fn strip_into(src: &Path, dst: &Path) -> Result<()> {
    run(Command::new("strip").arg("-o").arg(dst).arg(src))
        .with_context(|| format!("stripping {}", src.display()))
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

pub(crate) fn gpu_pack() -> Result<()> {
    let lib = root().join(".ort").join("lib");
    let provider = lib.join("libonnxruntime_providers_cuda.so");
    if !lib.join("gpu").is_file() || !provider.is_file() {
        bail!("ONNX Runtime's GPU build is not in .ort/lib: run `cargo xtask setup --gpu` first");
    }
    crate::gpu_check::build_release_bins()?;
    run(cargo().args(["build", "--release", "-p", "xtask"]))?;
    let latency = latency_bench()?;
    let out = root().join(".gpu");
    let _ = std::fs::remove_dir_all(&out);
    let first = out.join("0");
    std::fs::create_dir_all(first.join("bin"))?;
    std::fs::create_dir_all(first.join("lib"))?;
    let release = root().join("target").join("release");
    for (src, name) in [
        (release.join("mstag"), "mstag"),
        (release.join("mstag-live"), "mstag-live"),
        (release.join("xtask"), "xtask"),
        (latency, "latency"),
    ] {
        strip_into(&src, &first.join("bin").join(name))?;
    }
    for name in [
        format!("libonnxruntime.so.{ORT_VERSION}"),
        "libonnxruntime_providers_shared.so".to_string(),
    ] {
        std::fs::copy(lib.join(&name), first.join("lib").join(&name))?;
    }
    // The provider: xz, then pieces of at most PIECE bytes, one folder each.
    let xz = out.join("provider.xz");
    let packed = Command::new("xz")
        .args(["-9", "-T0", "-c"])
        .arg(&provider)
        .output()
        .context("running xz (Debian xz-utils)")?;
    if !packed.status.success() {
        bail!("xz failed");
    }
    std::fs::write(&xz, &packed.stdout)?;
    let mut pieces = 0;
    for (k, chunk) in packed.stdout.chunks(PIECE as usize).enumerate() {
        let d = out.join((k + 1).to_string());
        std::fs::create_dir_all(&d)?;
        std::fs::write(d.join(format!("provider.xz.{k:02}")), chunk)?;
        pieces = k + 1;
    }
    std::fs::remove_file(&xz)?;
    let first_size: u64 = walk(&first).iter().map(|p| size(p)).sum();
    if first_size > PIECE {
        bail!(
            "{} holds {} MiB, more than a call carries; strip or split it",
            first.display(),
            first_size >> 20
        );
    }
    eprintln!(
        "xtask gpu-pack: {} pieces in {} (.gpu/0: {} MiB; the provider in .gpu/1-{pieces}).\n\
         On the GPU machine, one call per piece N: carry [\".gpu/N\"], command \
         `bash xtask/gpu-device.sh put N`; then `bash xtask/gpu-device.sh run` (see BENCHMARKS.md, GPU).",
        pieces + 1,
        out.display(),
        first_size >> 20
    );
    Ok(())
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
