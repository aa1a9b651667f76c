//! `cargo xtask gpu-check [--device cuda|cpu] [--files N] [--bin-dir DIR] [--no-latency]`:
//! the prepared check for a machine with a GPU, runnable (with `--device cpu`) anywhere.
//!
//! 1. builds `mstag` and `mstag-live` with `--features cuda` (or takes them from `--bin-dir`,
//!    for a machine that cannot fetch crates) and runs `mstag doctor`;
//! 2. **parity**: the demo clip, the golden fixture and a 44.1 kHz stereo file, tagged on the
//!    device at batch 1, 32 and 256, against the CPU at batch 1 (the reference): at most
//!    1e-4 apart on CUDA, 1e-5 on the CPU;
//! 3. **offline throughput**: N copies of the demo clip at batch 1, 8, 32, 128 and 512, one
//!    process each, with the start-up (a one-file run) measured apart;
//! 4. **live latency**: the latency harness (`benches/latency.rs`) with the models on the
//!    device, from the audio callback that completes a segment to the engine's update;
//! 5. writes the report to `target/gpu-check/REPORT.md` and into BENCHMARKS.md between the
//!    gpu-check markers. Exits non-zero when parity fails or the device cannot be used.
//!
//! Where the NVIDIA libraries are not beside ONNX Runtime, those of the machine's Python
//! environment (PyPI's `nvidia-*` wheels, as a PyTorch install has them) are used through
//! `MSTAG_CUDA_LIBS`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::{cargo, python, root};

pub(crate) const BEGIN: &str = "<!-- gpu-check:begin -->";
pub(crate) const END: &str = "<!-- gpu-check:end -->";

const BATCHES: [usize; 5] = [1, 8, 32, 128, 512];
const PARITY_BATCHES: [usize; 3] = [1, 32, 256];

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Opts {
    pub device: String,
    pub files: usize,
    pub bin_dir: Option<PathBuf>,
    pub latency: bool,
}

impl Opts {
    pub(crate) fn parse(args: &[String]) -> Result<Opts> {
        let mut o = Opts {
            device: "cuda".into(),
            files: 0,
            bin_dir: None,
            latency: true,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut val = || {
                it.next()
                    .cloned()
                    .with_context(|| format!("{a} needs a value"))
            };
            match a.as_str() {
                "--device" => o.device = val()?,
                "--files" => o.files = val()?.parse().context("--files N")?,
                "--bin-dir" => o.bin_dir = Some(PathBuf::from(val()?)),
                "--no-latency" => o.latency = false,
                "-h" | "--help" => bail!(
                    "usage: cargo xtask gpu-check [--device cuda|cpu] [--files N] \
                     [--bin-dir DIR] [--no-latency]"
                ),
                other => bail!("gpu-check: unknown option {other} (see --help)"),
            }
        }
        if !matches!(o.device.as_str(), "cuda" | "cpu") {
            bail!("gpu-check: --device is cuda or cpu, not {}", o.device);
        }
        if o.files == 0 {
            o.files = if o.device == "cuda" { 200 } else { 40 };
        }
        Ok(o)
    }

    fn tolerance(&self) -> f64 {
        if self.device == "cuda" {
            1e-4
        } else {
            1e-5
        }
    }
}

/// One parity comparison: a device and batch against the CPU at batch 1.
#[derive(Debug, Clone)]
pub(crate) struct Parity {
    pub batch: usize,
    pub max_abs: f64,
}

/// One throughput run.
#[derive(Debug, Clone)]
pub(crate) struct Throughput {
    pub batch: usize,
    pub wall_s: f64,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Report {
    pub device: String,
    pub doctor: String,
    pub parity_files: Vec<String>,
    pub tolerance: f64,
    pub parity: Vec<Parity>,
    pub audio_s: f64,
    pub files: usize,
    pub startup_s: f64,
    pub throughput: Vec<Throughput>,
    /// (median, p99, max) ms from the audio callback that completes a segment to the update.
    pub latency_ms: Option<(f64, f64, f64)>,
    pub machine: String,
    pub date: String,
}

impl Report {
    pub(crate) fn parity_ok(&self) -> bool {
        !self.parity.is_empty() && self.parity.iter().all(|p| p.max_abs <= self.tolerance)
    }

    pub(crate) fn render(&self) -> String {
        let mut s = format!("{BEGIN}\n");
        s += &format!(
            "### `cargo xtask gpu-check --device {}` ({}, {})\n\n",
            self.device, self.machine, self.date
        );
        s +=
            "Parity against the CPU at batch 1 (max |difference| of the 50 song-level scores over ";
        s += &format!("{}):\n\n", self.parity_files.join(", "));
        s += "| device | batch | max abs diff | within |\n| --- | --- | --- | --- |\n";
        for p in &self.parity {
            s += &format!(
                "| {} | {} | {:.2e} | {} ({:.0e}) |\n",
                self.device,
                p.batch,
                p.max_abs,
                if p.max_abs <= self.tolerance {
                    "yes"
                } else {
                    "**no**"
                },
                self.tolerance
            );
        }
        s += &format!(
            "\nOffline throughput, whole `mstag tag` process, one job, {} files = {:.0} s of \
             audio (the demo clip); start-up (a one-file run, models loaded) {:.2} s:\n\n",
            self.files, self.audio_s, self.startup_s
        );
        s += "| batch | wall | x real time | x real time after start-up |\n| --- | --- | --- | --- |\n";
        for t in &self.throughput {
            let after = (t.wall_s - self.startup_s).max(1e-9);
            s += &format!(
                "| {} | {:.2} s | {:.0}x | {:.0}x |\n",
                t.batch,
                t.wall_s,
                self.audio_s / t.wall_s,
                self.audio_s / after
            );
        }
        s += "\nLive (batch 1): ";
        s += &match self.latency_ms {
            Some((med, p99, max)) => format!(
                "from the audio callback that completes a segment to the engine's update: \
                 median {med:.2} ms, p99 {p99:.2} ms, max {max:.2} ms (`benches/latency.rs`, \
                 models on {}).\n",
                self.device
            ),
            None => "not measured (`--no-latency`).\n".into(),
        };
        s += "\n<details><summary>mstag doctor</summary>\n\n```text\n";
        s += self.doctor.trim_end();
        s += "\n```\n\n</details>\n";
        s += END;
        s += "\n";
        s
    }
}

/// The largest |a - b| over the tags of every file in two `mstag tag --format json` outputs.
pub(crate) fn max_abs_diff(a: &serde_json::Value, b: &serde_json::Value) -> Result<f64> {
    let (a, b) = (
        a.as_array().context("not a JSON array")?,
        b.as_array().context("not a JSON array")?,
    );
    if a.len() != b.len() {
        bail!("{} files against {}", a.len(), b.len());
    }
    let mut worst = 0.0f64;
    for (x, y) in a.iter().zip(b) {
        let (tx, ty) = (
            x["tags"]
                .as_object()
                .with_context(|| format!("no tags in {x}"))?,
            y["tags"]
                .as_object()
                .with_context(|| format!("no tags in {y}"))?,
        );
        if tx.len() != ty.len() {
            bail!("{} tags against {}", tx.len(), ty.len());
        }
        for (k, v) in tx {
            let w = ty.get(k).and_then(|w| w.as_f64()).context("tag missing")?;
            worst = worst.max((v.as_f64().context("score")? - w).abs());
        }
    }
    Ok(worst)
}

/// `old` with its gpu-check block replaced by `block`, or `block` appended.
pub(crate) fn splice(old: &str, block: &str) -> String {
    match (old.find(BEGIN), old.find(END)) {
        (Some(a), Some(b)) if b > a => {
            format!("{}{}{}", &old[..a], block.trim_end(), &old[b + END.len()..])
        }
        _ => format!("{}\n\n## GPU\n\n{block}", old.trim_end()),
    }
}

/// The folders of the Python environment's `nvidia-*` wheels that hold libraries, joined
/// with `:` (empty when there are none).
fn python_nvidia_libs() -> String {
    let script = "import os\ntry:\n import nvidia\nexcept ImportError:\n raise SystemExit\n\
                  print(':'.join(os.path.join(p, d, 'lib') for p in nvidia.__path__ \
                  for d in sorted(os.listdir(p)) if os.path.isdir(os.path.join(p, d, 'lib'))))";
    Command::new(python())
        .args(["-c", script])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

struct Bins {
    mstag: PathBuf,
}

/// `mstag` and `mstag-live`, release, with the CUDA provider.
pub(crate) fn build_release_bins() -> Result<()> {
    crate::run(cargo().args([
        "build",
        "--release",
        "--features",
        "cuda",
        "--bin",
        "mstag",
        "--bin",
        "mstag-live",
    ]))
}

fn build(o: &Opts) -> Result<Bins> {
    let dir = match &o.bin_dir {
        Some(d) => d.clone(),
        None => {
            build_release_bins()?;
            root().join("target").join("release")
        }
    };
    let mstag = dir.join("mstag");
    if !mstag.is_file() {
        bail!("{} does not exist", mstag.display());
    }
    Ok(Bins { mstag })
}

fn tag_json(
    bins: &Bins,
    device: &str,
    batch: usize,
    files: &[PathBuf],
) -> Result<serde_json::Value> {
    let out = Command::new(&bins.mstag)
        .args(["tag", "--quiet", "--format", "json", "--jobs", "1"])
        .args(["--device", device, "--batch", &batch.to_string()])
        .args(files)
        .output()
        .context("running mstag")?;
    if !out.status.success() {
        bail!(
            "mstag tag --device {device} --batch {batch} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    serde_json::from_slice(&out.stdout).context("mstag tag's JSON")
}

/// A 20 s, 44.1 kHz stereo file (chords with a beat, both channels different).
fn write_stereo(path: &Path) -> Result<()> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec)?;
    let tau = std::f32::consts::TAU;
    for i in 0..20 * 44_100 {
        let t = i as f32 / 44_100.0;
        let beat = (-(t % 0.5) * 20.0).exp();
        let chord: f32 = [220.0f32, 277.2, 329.6]
            .iter()
            .map(|f| (t * f * tau).sin())
            .sum();
        let l = 0.2 * chord + 0.3 * beat * (t * 60.0 * tau).sin();
        let r = 0.2 * chord * (1.0 - 0.5 * beat);
        w.write_sample((l * 12_000.0) as i16)?;
        w.write_sample((r * 12_000.0) as i16)?;
    }
    w.finalize()?;
    Ok(())
}

fn latency(o: &Opts, dir: &Path) -> Result<Option<(f64, f64, f64)>> {
    if !o.latency {
        return Ok(None);
    }
    let out = dir.join("latency.txt");
    let args = ["--seconds", "12", "--callback-calls", "1000", "--out"];
    match &o.bin_dir {
        // A prepared harness (`cargo xtask gpu-pack`), where nothing can be built.
        Some(d) => crate::run(
            Command::new(d.join("latency"))
                .args(args)
                .arg(&out)
                .env("MSTAG_BENCH_DEVICE", &o.device),
        )?,
        None => crate::run(
            cargo()
                .args(["bench", "--features", "cuda", "--bench", "latency", "--"])
                .args(args)
                .arg(&out)
                .env("MSTAG_BENCH_DEVICE", &o.device),
        )?,
    }
    let text = std::fs::read_to_string(&out)?;
    let get = |k: &str| -> Result<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("latency_push_to_update.{k}=")))
            .and_then(|v| v.trim().parse().ok())
            .with_context(|| format!("latency_push_to_update.{k} missing in {}", out.display()))
    };
    Ok(Some((get("median_ms")?, get("p99_ms")?, get("max_ms")?)))
}

pub(crate) fn gpu_check(args: &[String]) -> Result<()> {
    let o = Opts::parse(args)?;
    if std::env::var_os("MSTAG_CUDA_LIBS").is_none() {
        let libs = python_nvidia_libs();
        if !libs.is_empty() {
            eprintln!("xtask gpu-check: NVIDIA libraries of the Python environment: {libs}");
            std::env::set_var("MSTAG_CUDA_LIBS", libs);
        }
    }
    let dir = root().join("target").join("gpu-check");
    std::fs::create_dir_all(&dir)?;
    let bins = build(&o)?;
    let doctor = Command::new(&bins.mstag).arg("doctor").output()?;
    let mut report = Report {
        device: o.device.clone(),
        doctor: String::from_utf8_lossy(&doctor.stdout).into_owned(),
        tolerance: o.tolerance(),
        machine: crate::bench::machine_line(),
        date: crate::bench::today(),
        files: o.files,
        ..Report::default()
    };
    eprintln!("{}", report.doctor);

    let stereo = dir.join("stereo-44k.wav");
    write_stereo(&stereo)?;
    let demo = root().join("models").join("demo").join("demo.wav");
    let parity_files = vec![
        demo.clone(),
        root().join("tests").join("fixtures").join("golden.wav"),
        stereo,
    ];
    report.parity_files = ["demo clip", "golden fixture", "20 s 44.1 kHz stereo"]
        .map(String::from)
        .to_vec();
    let result = (|| -> Result<()> {
        let reference = tag_json(&bins, "cpu", 1, &parity_files)?;
        for batch in PARITY_BATCHES {
            let got = tag_json(&bins, &o.device, batch, &parity_files)?;
            let max_abs = max_abs_diff(&reference, &got)?;
            eprintln!(
                "xtask gpu-check: {} batch {batch}: max abs diff {max_abs:.2e}",
                o.device
            );
            report.parity.push(Parity { batch, max_abs });
        }
        let copies = dir.join("demo-copies");
        std::fs::create_dir_all(&copies)?;
        let files: Vec<PathBuf> = (0..o.files)
            .map(|i| {
                let p = copies.join(format!("demo{i:04}.wav"));
                if !p.is_file() {
                    std::fs::copy(&demo, &p)?;
                }
                Ok(p)
            })
            .collect::<Result<_>>()?;
        report.audio_s = 30.0 * o.files as f64;
        let t = Instant::now();
        tag_json(&bins, &o.device, 1, &files[..1])?;
        report.startup_s = t.elapsed().as_secs_f64();
        for batch in BATCHES {
            let t = Instant::now();
            tag_json(&bins, &o.device, batch, &files)?;
            let wall_s = t.elapsed().as_secs_f64();
            eprintln!("xtask gpu-check: batch {batch}: {wall_s:.2} s");
            report.throughput.push(Throughput { batch, wall_s });
        }
        report.latency_ms = latency(&o, &dir)?;
        Ok(())
    })();
    let text = report.render();
    std::fs::write(dir.join("REPORT.md"), &text)?;
    if let Err(e) = result {
        bail!(
            "gpu-check stopped: {e:#}\n(partial report in {})",
            dir.join("REPORT.md").display()
        );
    }
    let bench = root().join("BENCHMARKS.md");
    let old = std::fs::read_to_string(&bench).unwrap_or_default();
    crate::bench::write_atomic(&bench, &splice(&old, &text))?;
    eprintln!("{text}");
    if !report.parity_ok() {
        bail!(
            "parity failed: a difference above {:.0e} (see {})",
            report.tolerance,
            bench.display()
        );
    }
    eprintln!(
        "xtask gpu-check: wrote {} and the GPU section of BENCHMARKS.md",
        dir.join("REPORT.md").display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options() {
        let o = Opts::parse(&[]).unwrap();
        assert_eq!((o.device.as_str(), o.files, o.latency), ("cuda", 200, true));
        let o = Opts::parse(&args(&["--device", "cpu", "--no-latency"])).unwrap();
        assert_eq!((o.device.as_str(), o.files, o.latency), ("cpu", 40, false));
        assert_eq!(o.tolerance(), 1e-5);
        assert!(Opts::parse(&args(&["--device", "tpu"])).is_err());
        assert!(Opts::parse(&args(&["--files"])).is_err());
        assert!(Opts::parse(&args(&["--frobnicate"])).is_err());
    }

    #[test]
    fn differences_are_the_worst_tag_of_any_file() {
        let a = serde_json::json!([{"tags": {"rock": 0.5, "jazz": 0.25}}, {"tags": {"rock": 0.1, "jazz": 0.2}}]);
        let b = serde_json::json!([{"tags": {"rock": 0.5, "jazz": 0.25}}, {"tags": {"rock": 0.1, "jazz": 0.2003}}]);
        let d = max_abs_diff(&a, &b).unwrap();
        assert!((d - 0.0003).abs() < 1e-9, "{d}");
        assert!(max_abs_diff(&a, &serde_json::json!([])).is_err());
    }

    #[test]
    fn the_report_replaces_its_own_block_only() {
        let r = Report {
            device: "cpu".into(),
            doctor: "ONNX Runtime 1.31.1".into(),
            parity_files: vec!["demo".into()],
            tolerance: 1e-5,
            parity: vec![Parity {
                batch: 32,
                max_abs: 0.0,
            }],
            audio_s: 60.0,
            files: 2,
            startup_s: 0.1,
            throughput: vec![Throughput {
                batch: 1,
                wall_s: 0.2,
            }],
            latency_ms: Some((1.0, 2.0, 3.0)),
            machine: "m".into(),
            date: "d".into(),
        };
        assert!(r.parity_ok());
        let block = r.render();
        assert!(block.contains("| 1 | 0.20 s | 300x | 600x |"), "{block}");
        assert!(
            block.contains("| cpu | 32 | 0.00e0 | yes (1e-5) |"),
            "{block}"
        );
        let doc = format!("# B\n\nintro\n\n## GPU\n\n{BEGIN}\nold\n{END}\n\nafter\n");
        let new = splice(&doc, &block);
        assert!(new.starts_with("# B\n\nintro\n\n## GPU\n\n"));
        assert!(new.ends_with("\n\nafter\n"));
        assert!(!new.contains("\nold\n"));
        assert_eq!(splice(&new, &block), new);
        let appended = splice("# B\n", &block);
        assert!(appended.contains("## GPU") && appended.contains(BEGIN));
    }
}
