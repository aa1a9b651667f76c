//! `cargo xtask wheel`: the Python package as a portable wheel,
//! `target/wheels/mstag-<version>-cp39-abi3-manylinux_2_28_x86_64.whl`.
//!
//! `pip install ./python` (and a plain `maturin build`) link against this machine's glibc and
//! tag the wheel `linux_x86_64`: it needs glibc 2.34 here and no package index takes it. This
//! builds with maturin's `--zig` (Zig's linker from the PyPI `ziglang` package, both pinned, in
//! `target/wheel-venv`) for glibc 2.28, the floor of the `onnxruntime` wheel the package
//! depends on (manylinux_2_28), and maturin checks the result against that policy. Then the
//! wheel is installed into a fresh virtual environment with nothing else, and its scores for
//! the demo clip must equal `mstag tag`'s within 1e-5.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{cargo, fresh_venv, pip_install, root, run, target_dir};

/// The glibc the wheel is built for (`onnxruntime==1.31.1` is manylinux_2_28 too).
const POLICY: &str = "manylinux_2_28";
/// The build tools, from PyPI.
const BUILD_PIP: &[&str] = &["maturin==1.16.0", "ziglang==0.17.1"];

/// Builds the wheel, checks it in a fresh environment, and returns its path.
pub(crate) fn wheel() -> Result<PathBuf> {
    let target = target_dir();
    let tools = target.join("wheel-venv");
    if !tools.join("bin/maturin").exists() {
        run(pip_install(&fresh_venv(&tools)?).args(BUILD_PIP))?;
    }
    let out = target.join("wheels");
    let ours = |p: &Path| {
        let n = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        n.starts_with("mstag-") && n.ends_with(&format!("-cp39-abi3-{POLICY}_x86_64.whl"))
    };
    for old in wheels(&out, &ours) {
        let _ = std::fs::remove_file(old);
    }
    // maturin finds Zig as `python -m ziglang` of the interpreter on PATH: the venv's.
    let path = format!(
        "{}:{}",
        tools.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    run(Command::new(tools.join("bin/maturin"))
        .args(["build", "--release", "--zig", "--compatibility", POLICY])
        .arg("-m")
        .arg(root().join("python/Cargo.toml"))
        .arg("-o")
        .arg(&out)
        .env("PATH", path)
        .current_dir(root()))?;
    let Some(wheel) = wheels(&out, &ours).pop() else {
        bail!("maturin wrote no {POLICY} wheel into {}", out.display());
    };
    check(&wheel, &target)?;
    println!("xtask: {}", wheel.display());
    Ok(wheel)
}

/// The files in `dir` that `keep` accepts, sorted.
fn wheels(dir: &Path, keep: &dyn Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| Some(e.ok()?.path()))
                .filter(|p| keep(p))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// The wheel alone in a fresh environment (its dependencies from PyPI) tags the demo clip as
/// the CLI does.
fn check(wheel: &Path, target: &Path) -> Result<()> {
    run(cargo().args(["build", "--release", "--bin", "mstag"]))?;
    let py = fresh_venv(&target.join("wheel-check-venv"))?;
    run(pip_install(&py).arg(wheel))?;
    let script = r#"
import json, subprocess, sys
import mstag
clip, cli = sys.argv[1], sys.argv[2]
ours = mstag.Tagger().tag(clip)["tags"]
out = json.loads(subprocess.run([cli, "tag", "--format", "json", clip], check=True,
                                capture_output=True, text=True).stdout)
theirs = (out[0] if isinstance(out, list) else out)["tags"]
diff = max(abs(ours[k] - theirs[k]) for k in theirs)
assert list(ours) == list(theirs), "tag names differ"
assert diff <= 1e-5, f"the wheel's scores differ from the CLI's by {diff}"
print(f"xtask: the wheel tags the demo clip as mstag tag does (max difference {diff:.1e})")
"#;
    run(Command::new(&py)
        .arg("-c")
        .arg(script)
        .arg(root().join("models/demo/demo.wav"))
        .arg(target.join("release/mstag"))
        .current_dir(target))
    .context("checking the wheel in a fresh environment")
}
