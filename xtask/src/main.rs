//! Project tasks: `cargo xtask <setup|demo|test|train|bundle|screenshot|bench|wheel>`.
//!
//! * `setup`  fetches ONNX Runtime's shared library from its PyPI wheel (no other download
//!   source is reachable or needed) into `.ort/lib/`.
//! * `demo`   setup, build, then tag the bundled demo clip offline and live.
//! * `test`   setup, bundle, then the whole test suite (what CI runs).
//! * `train`  the Python training pipeline in `models/train/` (long; CPU).
//! * `bundle` the CLAP and VST3 plugin: target/bundled/mstag.clap (+ mstag-data/) and
//!   target/bundled/mstag.vst3, each with the models and ONNX Runtime.
//! * `screenshot` the plugin's editor under Xvfb, demo clip playing:
//!   target/screenshot/mstag-editor.png.
//! * `gpu-check` the prepared check for a machine with a GPU (CPU and CUDA scores, offline
//!   throughput at several batch sizes, live latency; the GPU section of BENCHMARKS.md);
//!   `--device cpu` runs it anywhere.
//! * `gpu-pack` `.gpu/`: gpu-check's binaries and ONNX Runtime's CUDA provider in pieces that
//!   a lent GPU machine without network can be given (`xtask/gpu-device.sh` unpacks them).
//! * `wheel`  the Python package as a manylinux_2_28 wheel in target/wheels/ (maturin with
//!   Zig from PyPI), checked in a fresh environment against the CLI.
//! * `bench`  every benchmark (stages, offline and live runs, latency, the plugin in a host,
//!   the musicnn peer, the floor) and the generated part of BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

mod bench;
mod gpu_check;
mod gpu_pack;
mod wheel;

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

/// Debian packages the build needs (cpal's ALSA backend), and those the tests need (a
/// PulseAudio server as a virtual microphone, OSC and WAV readers, a terminal, and headless
/// Chromium with its WebDriver for the browser page, tests/web.rs).
const BUILD_PACKAGES: &[&str] = &["pkg-config", "libasound2-dev"];
const TEST_PACKAGES: &[&str] = &[
    "pulseaudio",
    "pulseaudio-utils",
    "libasound2-plugins",
    "liblo-tools",
    "tmux",
    "sox",
    "chromium",
    "chromium-driver",
];
/// PyPI packages the tests need (pip requirement, module to import): an independent OSC
/// receiver, a VST3 host (which also writes the FLAC, Ogg and MP3 files of the metadata
/// tests), the reference for `mstag learn`'s heads, an independent tag reader, a WebSocket
/// client and the WebDriver client for Chromium (tests/web.rs). (Selenium 4.50: 4.52 needs
/// a certifi release that the package index does not have yet.)
const TEST_PIP: &[(&str, &str)] = &[
    ("python-osc==1.10.2", "pythonosc"),
    ("pedalboard==0.9.26", "pedalboard"),
    ("scikit-learn==1.9.1", "sklearn"),
    ("mutagen==1.47.0", "mutagen"),
    ("websockets==17.4", "websockets"),
    ("selenium==4.50.0", "selenium"),
];

/// Installs the tests' PyPI packages for the machine's python3 (those not importable yet).
fn pip_packages(pkgs: &[(&str, &str)]) -> Result<()> {
    let missing: Vec<&str> = pkgs
        .iter()
        .filter(|(_, module)| {
            !Command::new(python())
                .args(["-c", &format!("import {module}")])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        })
        .map(|(req, _)| *req)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let base = [
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ];
    if run(Command::new(python()).args(base).args(&missing)).is_ok() {
        return Ok(());
    }
    run(Command::new(python())
        .args(base)
        .arg("--break-system-packages")
        .args(&missing))
}

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

/// The NVIDIA libraries ONNX Runtime's CUDA provider loads, as PyPI wheels: the packages of
/// the `onnxruntime-gpu` wheel's `[cuda,cudnn]` extras and what they need, pinned to the CUDA
/// 13.0 releases (they run on every driver from 580 on, as CUDA 13 does; later 13.x builds
/// may need a newer driver for some kernels).
const NVIDIA_WHEELS: &[&str] = &[
    "nvidia-cuda-runtime==13.0.96",
    "nvidia-cuda-nvrtc==13.0.88",
    "nvidia-nvjitlink==13.0.88",
    "nvidia-cublas==13.1.0.3",
    "nvidia-cufft==12.0.0.61",
    "nvidia-curand==10.4.0.35",
    "nvidia-cudnn-cu13==9.28.1.4",
];

/// Libraries `setup --gpu` must leave in .ort/lib (mstag's `model::cuda::NVIDIA_LIBS` checks
/// the full list at run time; `mstag doctor` shows it).
const GPU_LIBS: &[&str] = &[
    "libonnxruntime_providers_cuda.so",
    "libonnxruntime_providers_shared.so",
    "libcudart.so.13",
    "libcublasLt.so.13",
    "libcublas.so.13",
    "libcurand.so.10",
    "libcufft.so.12",
    "libnvrtc.so.13",
    "libnvJitLink.so.13",
    "libcudnn.so.9",
];

fn pip_download(reqs: &[&str], dir: &Path, what: &str) -> Result<()> {
    run(Command::new(python())
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--only-binary=:all:",
        ])
        .args(reqs)
        .arg("-d")
        .arg(dir))
    .with_context(|| format!("downloading {what} from PyPI (needs python3 with pip)"))
}

/// Copies the shared libraries out of every wheel in `wheels` into `out`: ONNX Runtime's
/// (`onnxruntime/capi/libonnxruntime*`) and NVIDIA's (`nvidia/*/lib/*.so*`).
fn extract_libs(wheels: &Path, out: &Path) -> Result<()> {
    let script = r#"
import sys, zipfile, glob, os, shutil
out = sys.argv[2]
for whl in sorted(glob.glob(os.path.join(sys.argv[1], "*.whl"))):
    with zipfile.ZipFile(whl) as z:
        for n in z.namelist():
            base = os.path.basename(n)
            ort = "/capi/" in n and base.startswith("libonnxruntime")
            nv = n.startswith("nvidia/") and "/lib/" in n and ".so" in base
            if ort or nv:
                with z.open(n) as src, open(os.path.join(out, base), "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                print("  " + base)
"#;
    run(Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(wheels)
        .arg(out))
}

/// Puts libonnxruntime.so.<ORT_VERSION> (from the PyPI wheel) into .ort/lib; with `gpu`, the
/// GPU build and everything its CUDA provider loads (about 2.5 GB), so that `--device cuda`
/// needs no system CUDA and no `LD_LIBRARY_PATH`.
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
    pip_download(
        &[&format!("{package}=={ORT_VERSION}")],
        &wheel_dir,
        "the onnxruntime wheel",
    )?;
    if gpu {
        pip_download(
            NVIDIA_WHEELS,
            &wheel_dir,
            "NVIDIA's CUDA 13 and cuDNN 9 wheels",
        )?;
    }
    let _ = std::fs::remove_dir_all(&lib_dir);
    std::fs::create_dir_all(&lib_dir)?;
    extract_libs(&wheel_dir, &lib_dir)?;
    if !lib.is_file() {
        bail!(
            "the {package} {ORT_VERSION} wheel did not contain {}",
            lib.display()
        );
    }
    if gpu {
        let missing: Vec<&str> = GPU_LIBS
            .iter()
            .copied()
            .filter(|l| !lib_dir.join(l).is_file())
            .collect();
        if !missing.is_empty() {
            bail!("the GPU wheels did not contain {}", missing.join(", "));
        }
    }
    let link = lib_dir.join("libonnxruntime.so");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(lib.file_name().unwrap_or_default(), &link)?;
    std::fs::write(&marker, ORT_VERSION)?;
    let _ = std::fs::remove_dir_all(&wheel_dir);
    eprintln!(
        "xtask: ONNX Runtime {ORT_VERSION} ({package}) ready in {}{}",
        lib_dir.display(),
        if gpu {
            "; `cargo run --release -- doctor` checks the CUDA side"
        } else {
            ""
        }
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
    // The plugin host tests (tests/plugin_clap.rs, tests/plugin_vst3.rs) load the bundle.
    bundle()?;
    system_packages(TEST_PACKAGES)?;
    pip_packages(TEST_PIP)?;
    run(cargo()
        .args(["test", "--release", "--workspace"])
        .args(extra))?;
    core_without_features()?;
    python_package()?;
    wheel::wheel().map(|_| ())
}

/// What the Ray Data and Spark recipes (python/mstag/distributed.py) are tested with.
const PYTHON_RECIPE_PIP: &[&str] = &[
    "ray[data]==2.60.0",
    "pyspark==4.3.0",
    "pyarrow==26.0.1",
    "pandas==2.3.3",
];

/// The Python package (python/, issue 15) as a user gets it: `pip install ./python` into a
/// fresh virtual environment (maturin builds the wheel, ONNX Runtime comes from PyPI), then
/// its pytest suite, which compares it with the CLI built above.
fn python_package() -> Result<()> {
    let py = fresh_venv(&root().join("target/python-test-venv"))?;
    run(pip_install(&py)
        .args(["pytest==9.2.0", "./python"])
        // The distributed recipes' tests (python/tests/test_ray.py, test_spark.py): a local Ray
        // cluster and a local Spark (the machine's Java 17). pandas 2: PySpark 4.3 does not
        // fully support the pandas 3 that ray[data] would pull.
        .args(PYTHON_RECIPE_PIP)
        .current_dir(root()))?;
    run(Command::new(&py)
        .args(["-m", "pytest", "-q", "python/tests"])
        .env("MSTAG_CLI", root().join("target/release/mstag"))
        .current_dir(root()))
}

/// A new, empty virtual environment at `dir` (an old one there is removed); its Python.
fn fresh_venv(dir: &Path) -> Result<PathBuf> {
    let _ = std::fs::remove_dir_all(dir);
    run(Command::new(python()).args(["-m", "venv"]).arg(dir))?;
    Ok(dir.join("bin/python"))
}

/// `py -m pip install --quiet` (add the requirements).
fn pip_install(py: &Path) -> Command {
    let mut c = Command::new(py);
    c.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ]);
    c
}

/// Crates the library's core must build without (issue 17): an embedder who turns the
/// default features off gets none of them.
const NOT_IN_CORE: &[&str] = &[
    "cpal",
    "alsa",
    "clap",
    "indicatif",
    "ctrlc",
    "anyhow",
    "png",
    "rosc",
    "rayon",
    "resvg",
    "ndarray-npy",
    "linfa",
    "csv",
    "walkdir",
    "lofty",
    "tungstenite",
    "tiny_http",
    "socket2",
];

/// Checks the core's dependency tree, then builds it and runs its unit tests and the
/// parity and engine tests with `--no-default-features`.
fn core_without_features() -> Result<()> {
    let out = cargo()
        .args([
            "tree",
            "-p",
            "mstag",
            "--no-default-features",
            "-e",
            "normal",
        ])
        .args(["--prefix", "none", "--format", "{p}"])
        .output()
        .context("running cargo tree")?;
    if !out.status.success() {
        bail!(
            "cargo tree failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let tree = String::from_utf8_lossy(&out.stdout);
    let found: Vec<&str> = NOT_IN_CORE
        .iter()
        .copied()
        .filter(|name| {
            tree.lines()
                .any(|l| l.split_whitespace().next() == Some(*name))
        })
        .collect();
    if !found.is_empty() {
        bail!(
            "the core (--no-default-features) depends on {}",
            found.join(", ")
        );
    }
    println!("xtask: the core builds without {}", NOT_IN_CORE.join(", "));
    run(cargo().args([
        "test",
        "--release",
        "-p",
        "mstag",
        "--no-default-features",
        "--lib",
        "--test",
        "parity",
        "--test",
        "engine_builder",
        "--test",
        "tagger",
    ]))
}

fn train() -> Result<()> {
    let dir = root().join("models").join("train");
    run(Command::new("bash")
        .arg(dir.join("run.sh"))
        .current_dir(&dir))
}

/// Where cargo puts build outputs (`CARGO_TARGET_DIR` or `target/`).
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(d) => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                root().join(d)
            }
        }
        None => root().join("target"),
    }
}

/// Copies `from` to `to`, creating `to`'s folder.
fn copy_file(from: &Path, to: &Path) -> Result<()> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// The plugin's data folder (`mstag-data/`): the manifest, the ONNX models it lists, and ONNX
/// Runtime. The plugin finds it beside its own binary (see plugin/src/locate.rs).
fn write_plugin_data(dir: &Path, ort_lib: &Path) -> Result<()> {
    let models = root().join("models");
    let mut n = 0;
    for e in std::fs::read_dir(&models)? {
        let path = e?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_file() && (name == "manifest.json" || name.ends_with(".onnx")) {
            copy_file(&path, &dir.join("models").join(name))?;
            n += 1;
        }
    }
    if n < 2 {
        bail!("no models in {}", models.display());
    }
    let lib_name = ort_lib.file_name().context("ONNX Runtime library name")?;
    copy_file(ort_lib, &dir.join("lib").join(lib_name))
}

/// `cargo xtask bundle`: builds the plugin (release) and writes
/// target/bundled/mstag.clap (+ mstag-data/ beside it) and
/// target/bundled/mstag.vst3/Contents/x86_64-linux/mstag.so (+ Contents/Resources/mstag-data/).
/// Install mstag.clap together with mstag-data/ (e.g. into ~/.clap/), and mstag.vst3 as a whole
/// (e.g. into ~/.vst3/).
fn bundle() -> Result<PathBuf> {
    let ort_lib = setup(false)?;
    run(cargo()
        .args(["build", "--release", "--manifest-path"])
        .arg(root().join("plugin").join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir()))?;
    let so = target_dir().join("release").join("libmstag_plugin.so");
    if !so.is_file() {
        bail!("the build did not produce {}", so.display());
    }
    let out = target_dir().join("bundled");
    let clap = out.join("mstag.clap");
    let vst3 = out.join("mstag.vst3");
    let clap_data = out.join("mstag-data");
    for old in [&vst3, &clap_data] {
        if old.exists() {
            std::fs::remove_dir_all(old)?;
        }
    }
    let _ = std::fs::remove_file(&clap);
    let vst3_so = vst3.join("Contents").join("x86_64-linux").join("mstag.so");
    for dest in [&clap, &vst3_so] {
        copy_file(&so, dest)?;
        // The release profile keeps line tables for the engine's benchmarks; the installed
        // plugin does not need them (about 70 MB). Keep the copy as it is if strip is missing.
        let _ = Command::new("strip")
            .arg("--strip-debug")
            .arg(dest)
            .status();
    }
    write_plugin_data(&clap_data, &ort_lib)?;
    write_plugin_data(
        &vst3.join("Contents").join("Resources").join("mstag-data"),
        &ort_lib,
    )?;
    eprintln!(
        "xtask: bundled {} (with {}) and {}",
        clap.display(),
        clap_data.display(),
        vst3.display()
    );
    Ok(out)
}

/// What the editor needs to draw headless: an X server and Mesa's software OpenGL / EGL.
const SCREENSHOT_PACKAGES: &[&str] = &[
    "xvfb",
    "libegl1",
    "libegl-mesa0",
    "libgl1-mesa-dri",
    "libxkbcommon-x11-0",
];

/// `cargo xtask screenshot`: bundles the plugin, then opens its editor in a small CLAP host
/// (plugin/examples/screenshot.rs) on a private Xvfb display while the demo clip plays, and
/// saves the window as target/screenshot/mstag-editor.png.
fn screenshot() -> Result<()> {
    let bundled = bundle()?;
    system_packages(SCREENSHOT_PACKAGES)?;
    run(cargo()
        .args([
            "build",
            "--release",
            "--example",
            "screenshot",
            "--manifest-path",
        ])
        .arg(root().join("plugin").join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir()))?;
    let host = target_dir()
        .join("release")
        .join("examples")
        .join("screenshot");
    // A display number nobody uses.
    let n = (90..200)
        .find(|n| {
            !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
        })
        .context("no free X display number")?;
    let display = format!(":{n}");
    let mut xvfb = Command::new("Xvfb")
        .arg(&display)
        .args(["-screen", "0", "1024x768x24", "-nolisten", "tcp"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("starting Xvfb")?;
    let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
    let t0 = std::time::Instant::now();
    while !socket.exists() && t0.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = target_dir().join("screenshot").join("mstag-editor.png");
    let result = run(Command::new(&host)
        .arg(bundled.join("mstag.clap"))
        .arg(root().join("models").join("demo").join("demo.wav"))
        .arg(&out)
        .env("DISPLAY", &display));
    let _ = xvfb.kill();
    let _ = xvfb.wait();
    result?;
    eprintln!("xtask: editor screenshot in {}", out.display());
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("setup") => setup(args.iter().any(|a| a == "--gpu")).map(|_| ()),
        Some("demo") => demo(),
        Some("test") => test(&args[1..]),
        Some("train") => train(),
        Some("bench") => bench::bench(&args[1..]),
        Some("gpu-check") => gpu_check::gpu_check(&args[1..]),
        Some("gpu-pack") => gpu_pack::gpu_pack(),
        Some("bundle") => bundle().map(|_| ()),
        Some("screenshot") => screenshot(),
        Some("wheel") => wheel::wheel().map(|_| ()),
        _ => {
            eprintln!("usage: cargo xtask <setup [--gpu] | demo | test [cargo test args] | train | bundle | screenshot | bench [--quick ...] | gpu-check [--device cuda|cpu] ... | gpu-pack | wheel>");
            std::process::exit(2)
        }
    }
}
