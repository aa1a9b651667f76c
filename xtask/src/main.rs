//! Project tasks: `cargo xtask <setup|demo|test|train|bench>`.
//!
//! * `setup`  fetches ONNX Runtime's shared library from its PyPI wheel (no other download
//!            source is reachable or needed) into `.ort/lib/`.
//! * `demo`   setup, build, then tag the bundled demo clip offline and live.
//! * `test`   setup, then the whole test suite (what CI runs).
//! * `train`  the Python training pipeline in `models/train/` (long; CPU).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

const ORT_VERSION: &str = "1.31.1";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: {cmd:?}");
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Debian packages the build needs (cpal's ALSA backend), and those the live test needs
/// (a PulseAudio server as a virtual microphone).
const BUILD_PACKAGES: &[&str] = &["pkg-config", "libasound2-dev"];
const TEST_PACKAGES: &[&str] = &["pulseaudio", "pulseaudio-utils", "libasound2-plugins"];

fn installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

/// Installs missing Debian packages when running as root; otherwise says what to run.
fn system_packages(pkgs: &[&str]) -> Result<()> {
    let missing: Vec<&str> = pkgs.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if !root {
        bail!(
            "missing Debian packages; run: sudo apt-get install -y {}",
            missing.join(" ")
        );
    }
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// Puts libonnxruntime.so.<ORT_VERSION> (from the PyPI wheel) into .ort/lib.
fn setup(gpu: bool) -> Result<PathBuf> {
    system_packages(BUILD_PACKAGES)?;
    let lib_dir = root().join(".ort").join("lib");
    let lib = lib_dir.join(format!("libonnxruntime.so.{ORT_VERSION}"));
    let marker = lib_dir.join(if gpu { "gpu" } else { "cpu" });
    if lib.is_file() && marker.is_file() {
        return Ok(lib);
    }
    let wheel_dir = root().join(".ort").join("wheel");
    let _ = std::fs::remove_dir_all(&wheel_dir);
    std::fs::create_dir_all(&wheel_dir)?;
    let package = if gpu {
        "onnxruntime-gpu"
    } else {
        "onnxruntime"
    };
    run(Command::new(python())
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
        ])
        .arg(format!("{package}=={ORT_VERSION}"))
        .arg("-d")
        .arg(&wheel_dir))
    .context("downloading the onnxruntime wheel from PyPI (needs python3 with pip)")?;
    let _ = std::fs::remove_dir_all(&lib_dir);
    std::fs::create_dir_all(&lib_dir)?;
    // Extract the runtime libraries (and, for the GPU wheel, its provider libraries).
    let script = r#"
import sys, zipfile, glob, os
whl = glob.glob(os.path.join(sys.argv[1], "*.whl"))[0]
out = sys.argv[2]
with zipfile.ZipFile(whl) as z:
    for n in z.namelist():
        base = os.path.basename(n)
        if "/capi/" in n and base.startswith("libonnxruntime"):
            with open(os.path.join(out, base), "wb") as f:
                f.write(z.read(n))
            print("  " + base)
"#;
    run(Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(&wheel_dir)
        .arg(&lib_dir))?;
    if !lib.is_file() {
        bail!(
            "the {package} {ORT_VERSION} wheel did not contain {}",
            lib.display()
        );
    }
    let link = lib_dir.join("libonnxruntime.so");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(lib.file_name().unwrap_or_default(), &link)?;
    std::fs::write(&marker, ORT_VERSION)?;
    let _ = std::fs::remove_dir_all(&wheel_dir);
    eprintln!(
        "xtask: ONNX Runtime {ORT_VERSION} ready in {}",
        lib_dir.display()
    );
    Ok(lib)
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn demo() -> Result<()> {
    setup(false)?;
    run(cargo().args(["build", "--release", "--bins"]))?;
    let clip = root().join("models").join("demo").join("demo.wav");
    let bin = root().join("target").join("release");
    eprintln!(
        "\n== offline: the paper's song-level tags of {}",
        clip.display()
    );
    run(Command::new(bin.join("mstag"))
        .arg("tag")
        .arg(&clip)
        .args(["--top", "8"]))?;
    eprintln!("\n== live: the same clip through the real-time path (ring, inference thread, running averages)");
    run(Command::new(bin.join("mstag-live"))
        .arg("--input")
        .arg(&clip)
        .args(["--view", "session"]))?;
    Ok(())
}

fn test(extra: &[String]) -> Result<()> {
    setup(false)?;
    system_packages(TEST_PACKAGES)?;
    run(cargo()
        .args(["test", "--release", "--workspace"])
        .args(extra))
}

fn train() -> Result<()> {
    let dir = root().join("models").join("train");
    run(Command::new("bash")
        .arg(dir.join("run.sh"))
        .current_dir(&dir))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("setup") => setup(args.iter().any(|a| a == "--gpu")).map(|_| ()),
        Some("demo") => demo(),
        Some("test") => test(&args[1..]),
        Some("train") => train(),
        _ => {
            eprintln!("usage: cargo xtask <setup [--gpu] | demo | test [cargo test args] | train>");
            std::process::exit(2)
        }
    }
}
