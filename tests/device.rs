//! `--device cuda|auto` and `mstag doctor` on a machine without a usable GPU (as CI's): a
//! refusal that names what is missing and how to get it, a fallback that says why, and a
//! report of every piece. A stand-in NVIDIA driver (a small C library built here) checks the
//! driver's version and device checks, which no machine without a GPU reaches otherwise.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mstag() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mstag"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Whether this machine can really run CUDA (then the tests of refusals do not apply).
fn cuda_works() -> bool {
    mstag::model::cuda::check().is_ready()
        && mstag::model::ModelSet::load(&common::manifest_path(), mstag::model::Device::Cuda, 1)
            .is_ok()
}

fn tag(device: &str, extra_env: &[(&str, &Path)]) -> Output {
    let mut c = mstag();
    c.args(["tag", "--quiet", "--format", "json", "--device", device])
        .arg(common::demo_clip());
    for (k, v) in extra_env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn device_cuda_is_refused_naming_what_is_missing_and_how_to_get_it() {
    if cuda_works() {
        let out = tag("cuda", &[]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v[0]["device"], "cuda");
        return;
    }
    let out = tag("cuda", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "nothing tagged: {}",
        text(&out.stdout)
    );
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("execution provider CUDA"), "{err}");
    let check = mstag::model::cuda::check();
    // Each problem the check finds is in the message, with its remedy.
    for p in check.problems() {
        assert!(err.contains(&p), "{p}\nnot in\n{err}");
    }
    if check.provider.is_none()
        || check
            .libs
            .iter()
            .any(|(_, f)| *f == mstag::model::cuda::Found::Missing)
    {
        assert!(err.contains("cargo xtask setup --gpu"), "{err}");
    }
    if check.driver.is_err() {
        assert!(err.contains("NVIDIA"), "{err}");
    }
}

#[test]
fn device_auto_says_it_fell_back_to_the_cpu_and_why_and_json_records_it() {
    if cuda_works() {
        return;
    }
    let out = tag("auto", &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    assert!(
        lines[0].starts_with("mstag: --device auto: running on the CPU (ONNX Runtime's CPU provider): CUDA is not usable: "),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["device"], "cpu");
    // The same scores as --device cpu.
    let cpu = tag("cpu", &[]);
    assert!(
        cpu.stderr.is_empty(),
        "--device cpu says nothing: {}",
        text(&cpu.stderr)
    );
    let w: serde_json::Value = serde_json::from_slice(&cpu.stdout).unwrap();
    assert_eq!(v[0]["tags"], w[0]["tags"]);
    assert_eq!(w[0]["device"], "cpu");
}

#[test]
fn the_live_runner_says_where_it_runs_too() {
    if cuda_works() {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_mstag-live"))
        .args([
            "--device",
            "auto",
            "--fast",
            "--json",
            "--duration",
            "2",
            "--input",
        ])
        .arg(common::demo_clip())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.lines()
            .any(|l| l.starts_with("mstag: --device auto: running on the CPU")),
        "{err}"
    );
}

#[test]
fn doctor_lists_the_runtime_the_providers_and_every_cuda_piece() {
    let out = mstag().arg("doctor").output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(
        s.starts_with(&format!(
            "ONNX Runtime {}: ",
            mstag::model::runtime::ORT_VERSION
        )),
        "{s}"
    );
    assert!(s.contains("CPUExecutionProvider"), "{s}");
    assert!(s.contains("\nCPU: ready\n"), "{s}");
    assert!(s.contains(mstag::model::cuda::PROVIDER_LIB), "{s}");
    for lib in mstag::model::cuda::NVIDIA_LIBS {
        assert!(s.contains(lib.file), "{} missing from\n{s}", lib.file);
    }
    assert!(s.contains("NVIDIA driver (libcuda.so.1)"), "{s}");
    if !cuda_works() {
        assert!(s.contains("\nCUDA: not usable:\n  - "), "{s}");
    }
}

/// Builds a stand-in `libcuda.so.1` whose driver reports CUDA `version` and `devices` GPUs
/// (cuInit returns CUDA_ERROR_NO_DEVICE, 100, when there are none). None without a C compiler.
fn fake_driver(dir: &common::TempDir, version: i32, devices: i32) -> Option<PathBuf> {
    let src = dir.path("cuda.c");
    std::fs::write(
        &src,
        format!(
            r#"
int cuDriverGetVersion(int *v) {{ *v = {version}; return 0; }}
int cuInit(unsigned flags) {{ return {devices} > 0 ? 0 : 100; }}
int cuDeviceGetCount(int *n) {{ *n = {devices}; return 0; }}
int cuDeviceGet(int *d, int i) {{ *d = i; return 0; }}
int cuDeviceGetName(char *name, int len, int d) {{
    const char *s = "Stand-in GPU"; int i = 0;
    for (; s[i] && i < len - 1; i++) name[i] = s[i];
    name[i] = 0; return 0;
}}
int cuGetErrorName(int code, const char **s) {{
    *s = code == 100 ? "CUDA_ERROR_NO_DEVICE" : "CUDA_ERROR_UNKNOWN"; return 0;
}}
"#
        ),
    )
    .unwrap();
    let lib = dir.path("libcuda.so.1");
    let ok = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    ok.then(|| dir.0.clone())
}

#[test]
fn an_old_driver_or_one_without_gpus_is_named_as_such() {
    if cuda_works() {
        return;
    }
    let cases = [
        (12_040, 1, "the NVIDIA driver supports CUDA 12.4 only; the CUDA 13 libraries need driver 580 or newer"),
        (13_000, 0, "the NVIDIA driver (CUDA 13.0) sees no GPU (CUDA_ERROR_NO_DEVICE; is CUDA_VISIBLE_DEVICES set?)"),
    ];
    for (version, gpus, want) in cases {
        let dir = common::TempDir::new(&format!("fake-driver-{version}-{gpus}"));
        let Some(lib_dir) = fake_driver(&dir, version, gpus) else {
            eprintln!("no C compiler: skipped");
            return;
        };
        let out = tag("cuda", &[("LD_LIBRARY_PATH", &lib_dir)]);
        assert_eq!(out.status.code(), Some(1));
        let err = text(&out.stderr);
        assert!(err.contains(want), "{want}\nnot in\n{err}");
        // And auto falls back, saying the same.
        let out = tag("auto", &[("LD_LIBRARY_PATH", &lib_dir)]);
        assert!(out.status.success());
        assert!(text(&out.stderr).contains(want));
    }
    // A driver that is new enough and sees a GPU: doctor names it.
    let dir = common::TempDir::new("fake-driver-ok");
    if let Some(lib_dir) = fake_driver(&dir, 13_000, 1) {
        let out = mstag()
            .arg("doctor")
            .env("LD_LIBRARY_PATH", &lib_dir)
            .output()
            .unwrap();
        let s = text(&out.stdout);
        assert!(
            s.contains("CUDA 13.0 (needs 580 or newer); GPUs: Stand-in GPU"),
            "{s}"
        );
    }
}
