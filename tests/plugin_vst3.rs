//! The VST3 bundle in a JUCE-based host: pedalboard (PyPI, pinned in .ci/run) loads
//! target/bundled/mstag.vst3 (made by `cargo xtask bundle`, which `cargo xtask test` runs
//! first), checks that it is named mstag and that stereo and mono audio pass through bit for
//! bit in blocks of 64 and 512 frames. The checks themselves are in tests/plugin_vst3.py.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bundled_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .map(|d| if d.is_absolute() { d } else { root().join(d) })
        .unwrap_or_else(|| root().join("target"))
        .join("bundled")
}

#[test]
fn vst3_plugin_loads_in_pedalboard_and_passes_audio_bit_exact() {
    let bundle = bundled_dir().join("mstag.vst3");
    assert!(
        bundle.join("Contents/x86_64-linux/mstag.so").is_file(),
        "{} is missing: run `cargo xtask bundle` (cargo xtask test does)",
        bundle.display()
    );
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python)
        .args(["-c", "import pedalboard; print(pedalboard.__version__)"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    assert!(
        probe.status.success(),
        "pedalboard is not installed for {python}: pip install pedalboard==0.9.26 (.ci/run does)\n{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let out = Command::new(&python)
        .arg(root().join("tests/plugin_vst3.py"))
        .arg(&bundle)
        .arg(root().join("models/demo/demo.wav"))
        .output()
        .expect("running tests/plugin_vst3.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "pedalboard {}{stdout}{}",
        String::from_utf8_lossy(&probe.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the VST3 host checks failed:\n{stdout}"
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}
