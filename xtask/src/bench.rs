//! `cargo xtask bench`: end-to-end figures for BENCHMARKS.md (see that file for what each
//! number means): offline and live runs, the latency harness, the plugin in a host, the
//! musicnn peer, the machine's multiply rate, the criterion tables; then the generated block of
//! BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::{bundle, cargo, python, root, run, setup, target_dir, ORT_VERSION};

/// Options of `cargo xtask bench`.
struct BenchOpts {
    /// Repeats of each mstag timing (the median is reported).
    repeats: usize,
    /// Repeats of each musicnn timing.
    peer_repeats: usize,
    /// Seconds of the real-time latency run.
    latency_s: f64,
    /// Seconds of each `mstag-live` CPU run.
    live_s: f64,
    /// Run the criterion stage benchmarks too.
    stages: bool,
    /// Measure the peer (musicnn).
    peer: bool,
    /// Seconds of each extra latency run with a longer engine poll interval (0: none).
    sweep_s: f64,
}

impl BenchOpts {
    fn parse(args: &[String]) -> Result<BenchOpts> {
        let mut o = BenchOpts {
            repeats: 3,
            peer_repeats: 2,
            latency_s: 300.0,
            live_s: 30.0,
            stages: true,
            peer: true,
            sweep_s: 60.0,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut num = |name: &str| -> Result<f64> {
                it.next()
                    .with_context(|| format!("{name} needs a value"))?
                    .parse::<f64>()
                    .with_context(|| format!("{name}: not a number"))
            };
            match a.as_str() {
                "--quick" => {
                    o.repeats = 1;
                    o.peer_repeats = 1;
                    o.latency_s = 30.0;
                    o.live_s = 12.0;
                    o.sweep_s = 20.0;
                }
                "--repeats" => o.repeats = num(a)?.max(1.0) as usize,
                "--peer-repeats" => o.peer_repeats = num(a)?.max(1.0) as usize,
                "--latency-seconds" => o.latency_s = num(a)?.max(5.0),
                "--live-seconds" => o.live_s = num(a)?.max(8.0),
                "--no-stages" => o.stages = false,
                "--no-peer" => o.peer = false,
                "--sweep-seconds" => o.sweep_s = num(a)?.max(0.0),
                other => bail!(
                    "bench: unknown option {other} (--quick, --repeats N, --peer-repeats N, \
                     --latency-seconds S, --live-seconds S, --sweep-seconds S, --no-stages, --no-peer)"
                ),
            }
        }
        Ok(o)
    }
}

type Kv = std::collections::BTreeMap<String, String>;

fn bench_read_kv(path: &Path) -> Result<Kv> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

fn bench_f(kv: &Kv, key: &str) -> f64 {
    kv.get(key).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

fn bench_sh(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn bench_loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn bench_machine() -> Vec<(String, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "?".into())
    };
    let flags = field("flags");
    let simd: Vec<&str> = ["avx2", "fma", "avx512f", "avx512_vnni"]
        .into_iter()
        .filter(|f| flags.split_whitespace().any(|x| x == *f))
        .collect();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or("?".into(), |kb| format!("{:.1} GiB", kb / 1048576.0));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    vec![
        (
            "CPU".into(),
            format!("{} ({})", field("model name"), simd.join(", ")),
        ),
        ("cores available".into(), cores.to_string()),
        ("memory".into(), mem),
        (
            "kernel".into(),
            std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_string(),
        ),
        ("rustc".into(), bench_sh("rustc", &["-V"])),
        ("ONNX Runtime".into(), ORT_VERSION.to_string()),
        ("GPU".into(), "none".into()),
    ]
}

/// Sample rate, channels, seconds of a PCM WAV file (header only).
fn bench_wav_info(path: &Path) -> Option<(u32, u16, f64)> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let mut head = vec![0u8; 1 << 16];
    let n = f.read(&mut head).ok()?;
    let head = &head[..n];
    if head.len() < 12 || &head[..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return None;
    }
    let u16at = |i: usize| u16::from_le_bytes([head[i], head[i + 1]]);
    let u32at = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
    let (mut pos, mut fmt) = (12usize, None);
    while pos + 8 <= head.len() {
        let id = &head[pos..pos + 4];
        let size = u32at(pos + 4) as usize;
        if id == b"fmt " && pos + 24 <= head.len() {
            fmt = Some((u16at(pos + 10), u32at(pos + 12), u16at(pos + 22)));
        } else if id == b"data" {
            let (ch, rate, bits) = fmt?;
            let frames = size as f64 / (ch as f64 * (bits as f64 / 8.0));
            return Some((rate, ch, frames / rate as f64));
        }
        pos += 8 + size + (size & 1);
    }
    None
}

/// The strings of the array `key` in a small JSON object (split.json: {"test": [...]}).
fn bench_json_strings(text: &str, key: &str) -> Vec<String> {
    let Some(at) = text.find(&format!("\"{key}\"")) else {
        return Vec::new();
    };
    let rest = &text[at..];
    let (Some(a), Some(b)) = (rest.find('['), rest.find(']')) else {
        return Vec::new();
    };
    rest[a + 1..b]
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// One audio set: files, total seconds, what it is.
struct AudioSet {
    name: String,
    files: Vec<PathBuf>,
    seconds: f64,
    format: String,
}

/// Test-split tracks of the training cache: round robin over the sources, each source's next
/// track of at most 150 s, until at least 300 s; the whole test split as a long second set.
/// Falls back to the demo clip repeated (10 copies) when the cache is absent.
fn bench_audio_sets(dir: &Path) -> Result<(AudioSet, Option<AudioSet>, Option<String>)> {
    let train = root().join("models").join("train");
    let cache = train.join("cache").join("audio");
    let split = std::fs::read_to_string(train.join("split.json")).unwrap_or_default();
    let test: Vec<(String, PathBuf, f64)> = bench_json_strings(&split, "test")
        .into_iter()
        .filter_map(|t| {
            let p = cache.join(format!("{t}.wav"));
            bench_wav_info(&p).map(|(_, _, s)| (t, p, s))
        })
        .collect();
    if test.is_empty() {
        let demo = root().join("models").join("demo").join("demo.wav");
        let d = dir.join("demo-repeated");
        std::fs::create_dir_all(&d)?;
        let mut files = Vec::new();
        for i in 0..10 {
            let p = d.join(format!("demo{i:02}.wav"));
            std::fs::copy(&demo, &p)?;
            files.push(p);
        }
        let secs = 10.0 * bench_wav_info(&demo).map_or(30.0, |x| x.2);
        let note = "the training cache (models/train/cache/audio) is absent: the audio is the \
                    30 s demo clip copied 10 times, not a varied set of music"
            .to_string();
        return Ok((
            AudioSet {
                name: "demo x10".into(),
                files,
                seconds: secs,
                format: "22.05 kHz mono 16-bit WAV".into(),
            },
            None,
            Some(note),
        ));
    }
    let mut sources: Vec<String> = test
        .iter()
        .map(|(t, _, _)| t.split('/').next().unwrap_or("").to_string())
        .collect();
    sources.dedup();
    let mut used = vec![false; test.len()];
    let (mut files, mut secs) = (Vec::new(), 0.0);
    'outer: loop {
        let mut took = false;
        for src in &sources {
            if let Some(i) = (0..test.len()).find(|&i| {
                !used[i] && test[i].0.starts_with(&format!("{src}/")) && test[i].2 <= 150.0
            }) {
                used[i] = true;
                took = true;
                files.push(test[i].1.clone());
                secs += test[i].2;
                if secs >= 300.0 {
                    break 'outer;
                }
            }
        }
        if !took {
            break;
        }
    }
    let fmt_of = |p: &Path| {
        bench_wav_info(p).map_or("?".into(), |(r, c, _)| {
            format!(
                "{:.2} kHz {} 16-bit WAV",
                r as f64 / 1000.0,
                if c == 1 { "mono" } else { "stereo" }
            )
        })
    };
    let short = AudioSet {
        name: format!("test split, {} tracks", files.len()),
        format: fmt_of(&files[0]),
        files,
        seconds: secs,
    };
    let full = AudioSet {
        name: format!("whole test split, {} tracks", test.len()),
        format: short.format.clone(),
        files: test.iter().map(|t| t.1.clone()).collect(),
        seconds: test.iter().map(|t| t.2).sum(),
    };
    Ok((short, Some(full), None))
}

/// The same audio as 48 kHz stereo 16-bit WAV (what most devices and downloads carry), with
/// sox, else the training venv's Python; `None` if neither works.
fn bench_to_48k(set: &AudioSet, dir: &Path, venv_python: &Path) -> Option<AudioSet> {
    let out = dir.join("audio-48k-stereo");
    std::fs::create_dir_all(&out).ok()?;
    let mut files = Vec::new();
    for f in &set.files {
        let name = f
            .strip_prefix(root().join("models/train/cache/audio"))
            .unwrap_or(f)
            .to_string_lossy()
            .replace('/', "__");
        let dst = out.join(name);
        if bench_wav_info(&dst).is_none() {
            let ok = Command::new("sox")
                .args(["-q", "-G"])
                .arg(f)
                .args(["-r", "48000", "-c", "2", "-b", "16"])
                .arg(&dst)
                .status()
                .is_ok_and(|s| s.success())
                || Command::new(venv_python)
                    .arg(root().join("models/train/peer_bench.py"))
                    .args(["convert", "--rate", "48000", "--channels", "2"])
                    .arg(f)
                    .arg(&dst)
                    .status()
                    .is_ok_and(|s| s.success());
            if !ok {
                eprintln!(
                    "xtask bench: cannot convert {} to 48 kHz (no sox, no venv)",
                    f.display()
                );
                return None;
            }
        }
        files.push(dst);
    }
    let seconds = files
        .iter()
        .filter_map(|f| bench_wav_info(f))
        .map(|x| x.2)
        .sum();
    Some(AudioSet {
        name: format!("{} (as 48 kHz stereo)", set.name),
        files,
        seconds,
        format: "48 kHz stereo 16-bit WAV (converted with sox)".into(),
    })
}

/// The plugin in a host: bundles mstag.clap, builds the headless CLAP host
/// (`plugin/examples/host.rs`) and plays `clip` through the plugin at 1x for `seconds` under
/// `peer_bench.py measure`. The host's own report (RSS before and after loading the plugin,
/// `process()` durations) is merged in under `host.`.
fn bench_plugin_host(dir: &Path, clip: &Path, seconds: f64) -> Result<Kv> {
    let bundled = bundle()?;
    run(cargo()
        .args(["build", "--release", "--manifest-path"])
        .arg(root().join("plugin").join("Cargo.toml"))
        .args(["--example", "host", "--target-dir"])
        .arg(target_dir()))?;
    let host = target_dir().join("release").join("examples").join("host");
    let out = dir.join("plugin-host-report.txt");
    let cmd: Vec<String> = [
        host.as_os_str(),
        bundled.join("mstag.clap").as_os_str(),
        clip.as_os_str(),
        "--seconds".as_ref(),
        seconds.to_string().as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]
    .iter()
    .map(|a| a.to_string_lossy().into_owned())
    .collect();
    let mut kv = bench_measure(
        &dir.join("plugin-host.txt"),
        Some((5.0, seconds)),
        Some(&dir.join("plugin-host.out")),
        &cmd,
    )?;
    for (k, v) in bench_read_kv(&out)? {
        kv.insert(format!("host.{k}"), v);
    }
    Ok(kv)
}

/// Runs `cmd` under `peer_bench.py measure` and returns its key=value report.
fn bench_measure(
    out: &Path,
    mark: Option<(f64, f64)>,
    stdout: Option<&Path>,
    cmd: &[String],
) -> Result<Kv> {
    let mut c = Command::new(python());
    c.arg(root().join("models/train/peer_bench.py"))
        .arg("measure")
        .arg("--out")
        .arg(out);
    if let Some((from, to)) = mark {
        c.args(["--mark", &from.to_string(), "--mark-end", &to.to_string()]);
    }
    if let Some(s) = stdout {
        c.arg("--stdout").arg(s);
    }
    c.arg("--").args(cmd).current_dir(root());
    let shown = if cmd.len() > 12 {
        format!(
            "{} ... ({} more arguments)",
            cmd[..10].join(" "),
            cmd.len() - 10
        )
    } else {
        cmd.join(" ")
    };
    eprintln!("xtask bench: {shown} (load {})", bench_loadavg());
    let o = c
        .output()
        .context("running peer_bench.py measure (needs python3)")?;
    if !o.status.success() {
        bail!(
            "{} failed: {}",
            cmd.join(" "),
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
    bench_read_kv(out)
}

fn bench_median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Wall and CPU seconds (medians over repeats), peak RSS (max), load averages seen.
struct Timing {
    wall: f64,
    wall_min: f64,
    cpu: f64,
    rss_mb: f64,
    /// 1-minute load average before each run.
    loads: Vec<f64>,
}

impl Timing {
    fn max_load(&self) -> f64 {
        self.loads.iter().copied().fold(0.0, f64::max)
    }
}

fn bench_timed(dir: &Path, tag: &str, repeats: usize, cmd: &[String]) -> Result<Timing> {
    let (mut wall, mut cpu, mut rss, mut loads) = (Vec::new(), Vec::new(), 0.0f64, Vec::new());
    for r in 0..repeats {
        loads.push(
            bench_loadavg()
                .split_whitespace()
                .next()
                .and_then(|l| l.parse().ok())
                .unwrap_or(f64::NAN),
        );
        let kv = bench_measure(&dir.join(format!("{tag}-{r}.txt")), None, None, cmd)?;
        wall.push(bench_f(&kv, "wall_s"));
        cpu.push(bench_f(&kv, "cpu_s"));
        rss = rss.max(bench_f(&kv, "maxrss_kb").max(bench_f(&kv, "vmhwm_kb")) / 1024.0);
    }
    Ok(Timing {
        wall_min: wall.iter().copied().fold(f64::INFINITY, f64::min),
        wall: bench_median(wall),
        cpu: bench_median(cpu),
        rss_mb: rss,
        loads,
    })
}

fn bench_strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn bench_files(set: &AudioSet) -> Vec<String> {
    set.files
        .iter()
        .map(|f| {
            f.strip_prefix(root())
                .unwrap_or(f)
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// The training venv's Python with musicnn importable, creating the venv if it is missing.
fn bench_peer_python() -> Result<PathBuf> {
    let train = root().join("models").join("train");
    let py = train.join(".venv").join("bin").join("python");
    let ok = |py: &Path| {
        Command::new(py)
            .args(["-c", "import musicnn, tensorflow, librosa, soundfile"])
            .env("TF_CPP_MIN_LOG_LEVEL", "3")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if py.is_file() && ok(&py) {
        return Ok(py);
    }
    eprintln!("xtask bench: creating the training venv for the peer (musicnn) ...");
    run(Command::new(python())
        .args(["-m", "venv"])
        .arg(train.join(".venv")))?;
    run(Command::new(&py)
        .args(["-m", "pip", "install", "-q", "-r"])
        .arg(train.join("requirements.txt")))?;
    run(Command::new(&py).args(["-m", "pip", "install", "-q", "--no-deps", "musicnn==0.1.0"]))?;
    if !ok(&py) {
        bail!("musicnn still does not import in {}", py.display());
    }
    Ok(py)
}

/// Median point estimates (ns) of the criterion benchmarks, by full id.
fn bench_criterion_results() -> Vec<(String, f64, f64)> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.ends_with("new/benchmark.json") {
                    out.push(p);
                }
            }
        }
    }
    let point = |text: &str, stat: &str| -> f64 {
        text.find(&format!("\"{stat}\":"))
            .and_then(|i| {
                let rest = &text[i..];
                let j = rest.find("\"point_estimate\":")? + "\"point_estimate\":".len();
                let num: String = rest[j..]
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
                    .collect();
                num.parse().ok()
            })
            .unwrap_or(f64::NAN)
    };
    let mut files = Vec::new();
    walk(&root().join("target").join("criterion"), &mut files);
    let mut out = Vec::new();
    for f in files {
        let (Ok(b), Ok(e)) = (
            std::fs::read_to_string(&f),
            std::fs::read_to_string(f.with_file_name("estimates.json")),
        ) else {
            continue;
        };
        let id = b
            .split("\"full_id\":\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("?")
            .to_string();
        out.push((id, point(&e, "median"), point(&e, "mean")));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn bench_ns(ns: f64) -> String {
    if !ns.is_finite() {
        "–".into()
    } else if ns >= 1e6 {
        format!("{:.3} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// A markdown table of criterion results: id, median and mean (ns), and times real time for
/// the benchmarks that process one second of audio.
fn bench_criterion_table(w: &mut String, title: &str, rows: &[(String, f64, f64)]) {
    use std::fmt::Write as _;
    let _ = writeln!(w, "### {title}\n");
    let _ = writeln!(
        w,
        "| benchmark | median | mean | x real time (per-second benches) |\n|---|---|---|---|"
    );
    for (id, med, mean) in rows {
        let xr = if id.ends_with("1s_audio") {
            bench_x(1e9 / med)
        } else {
            String::new()
        };
        let _ = writeln!(
            w,
            "| `{id}` | {} | {} | {xr} |",
            bench_ns(*med),
            bench_ns(*mean)
        );
    }
}

/// A table row of `key`'s median, p90, p99, p99.9 and max (`key.median_us`, ...) from `kv`.
fn bench_percentile_row(w: &mut String, label: &str, kv: &Kv, key: &str, unit: &str) {
    use std::fmt::Write as _;
    let g = |p: &str| {
        kv.get(&format!("{key}.{p}_{unit}"))
            .map_or("?", |s| s.as_str())
            .to_string()
    };
    let _ = writeln!(
        w,
        "| {label} | {} | {} | {} | {} | {} |",
        g("median"),
        g("p90"),
        g("p99"),
        g("p99.9"),
        g("max")
    );
}

fn bench_x(v: f64) -> String {
    if !v.is_finite() {
        "–".into()
    } else if v >= 100.0 {
        format!("{v:.0}x")
    } else {
        format!("{v:.1}x")
    }
}

fn bench_met(ok: bool) -> &'static str {
    if ok {
        "**met**"
    } else {
        "**missed**"
    }
}

const BENCH_BEGIN: &str = "<!-- cargo xtask bench: generated from here -->";
const BENCH_END: &str = "<!-- cargo xtask bench: generated up to here -->";

pub(crate) fn bench(args: &[String]) -> Result<()> {
    use std::fmt::Write as _;
    let o = BenchOpts::parse(args)?;
    setup(false)?;
    run(cargo().args(["build", "--release", "--bins"]))?;
    let dir = root().join("target").join("bench");
    std::fs::create_dir_all(&dir)?;
    let rel = root().join("target").join("release");
    let mstag = rel.join("mstag").to_string_lossy().into_owned();
    let live = rel.join("mstag-live").to_string_lossy().into_owned();
    let date = bench_sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let load_start = bench_loadavg();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    // Audio.
    let venv_py = root().join("models/train/.venv/bin/python");
    let (set_a, full, fallback_note) = bench_audio_sets(&dir)?;
    let set_b = bench_to_48k(&set_a, &dir, &venv_py);
    let mut sets: Vec<&AudioSet> = vec![&set_a];
    if let Some(b) = &set_b {
        sets.push(b);
    }

    // Offline: mstag tag, one core and all cores.
    let tag_cmd = |set: &AudioSet, one_core: bool| -> Vec<String> {
        let mut c = Vec::new();
        if one_core {
            c.extend(bench_strs(&["taskset", "-c", "0"]));
        }
        c.push(mstag.clone());
        c.extend(bench_strs(&["tag", "-q", "--format", "json", "--jobs"]));
        c.push(if one_core { "1" } else { "0" }.into());
        c.extend(bench_files(set));
        c
    };
    let mut offline = Vec::new();
    for (i, set) in sets.iter().enumerate() {
        let one = bench_timed(
            &dir,
            &format!("tag{i}-1core"),
            o.repeats,
            &tag_cmd(set, true),
        )?;
        let all = bench_timed(
            &dir,
            &format!("tag{i}-all"),
            o.repeats,
            &tag_cmd(set, false),
        )?;
        offline.push((one, all));
    }
    let full_t = match &full {
        Some(f) => Some((
            bench_timed(&dir, "tagfull-1core", o.repeats, &tag_cmd(f, true))?,
            bench_timed(&dir, "tagfull-all", o.repeats, &tag_cmd(f, false))?,
        )),
        None => None,
    };

    // The peer on the same files.
    let mut peer: Vec<Option<(Timing, Kv, Timing, Kv)>> = Vec::new();
    let mut peer_note = None;
    if o.peer {
        match bench_peer_python() {
            Ok(py) => {
                for (i, set) in sets.iter().enumerate() {
                    let mut one_kv = Kv::new();
                    let mut all_kv = Kv::new();
                    let run_peer = |one_core: bool, kv: &mut Kv| -> Result<Timing> {
                        let out = dir.join(format!(
                            "peer{i}-{}.txt",
                            if one_core { "1core" } else { "all" }
                        ));
                        let mut c = Vec::new();
                        if one_core {
                            c.extend(bench_strs(&["taskset", "-c", "0"]));
                        }
                        c.push(py.to_string_lossy().into_owned());
                        c.push(
                            root()
                                .join("models/train/peer_bench.py")
                                .to_string_lossy()
                                .into_owned(),
                        );
                        c.extend(bench_strs(&[
                            "musicnn",
                            "--threads",
                            if one_core { "1" } else { "0" },
                            "--out",
                        ]));
                        c.push(out.to_string_lossy().into_owned());
                        c.extend(bench_files(set));
                        let t = bench_timed(
                            &dir,
                            &format!("peer{i}-{}-m", if one_core { "1core" } else { "all" }),
                            o.peer_repeats,
                            &c,
                        )?;
                        *kv = bench_read_kv(&out)?;
                        Ok(t)
                    };
                    let one = run_peer(true, &mut one_kv);
                    let all = run_peer(false, &mut all_kv);
                    match (one, all) {
                        (Ok(a), Ok(b)) => peer.push(Some((a, one_kv, b, all_kv))),
                        (Err(e), _) | (_, Err(e)) => {
                            peer_note = Some(format!("musicnn failed: {e:#}"));
                            peer.push(None);
                        }
                    }
                }
            }
            Err(e) => peer_note = Some(format!("musicnn not measured: {e:#}")),
        }
    } else {
        peer_note = Some("musicnn not measured (--no-peer)".into());
    }

    // Live: mstag-live at 1x on the demo clip and on 48 kHz stereo music.
    let demo = root().join("models/demo/demo.wav");
    let mut live_runs: Vec<(String, Kv)> = Vec::new();
    let mut live_inputs: Vec<(String, PathBuf)> =
        vec![("demo clip, 22.05 kHz mono".into(), demo.clone())];
    if let Some(b) = &set_b {
        if let Some(longest) = b.files.iter().max_by(|x, y| {
            let d = |p: &Path| bench_wav_info(p).map_or(0.0, |i| i.2);
            d(x).total_cmp(&d(y))
        }) {
            live_inputs.push(("test-split music, 48 kHz stereo".into(), longest.clone()));
        }
    }
    for (i, (what, input)) in live_inputs.iter().enumerate() {
        let mut c = vec![
            live.clone(),
            "--input".into(),
            input.to_string_lossy().into_owned(),
        ];
        c.extend(bench_strs(&["--duration", &o.live_s.to_string()]));
        let kv = bench_measure(
            &dir.join(format!("live{i}.txt")),
            Some((5.0, o.live_s)),
            Some(&dir.join(format!("live{i}.out"))),
            &c,
        )?;
        live_runs.push((what.clone(), kv));
    }

    // The plugin in a host: RSS and CPU at 1x, and how long each process() call takes.
    let plugin_host = bench_plugin_host(&dir, &demo, o.live_s)
        .map_err(|e| format!("{e:#}"))
        .inspect_err(|e| eprintln!("xtask bench: the plugin in a host was not measured: {e}"));

    // Latency and audio callbacks (real-time harness), FLOPs.
    let lat_out = dir.join("latency.txt");
    let mut lat_cmd = cargo();
    lat_cmd.args([
        "bench",
        "--bench",
        "latency",
        "--",
        "--seconds",
        &o.latency_s.to_string(),
    ]);
    // The producer runs at real-time priority, as a device's or host's audio thread does.
    lat_cmd
        .args([
            "--callback-calls",
            "1000000",
            "--flops",
            "--rt-producer",
            "--platform-seconds",
            "30",
            "--out",
        ])
        .arg(&lat_out);
    if let Some(b) = &set_b {
        for f in &b.files {
            lat_cmd.arg("--input").arg(f);
        }
    }
    let lat_load = bench_loadavg();
    run(&mut lat_cmd)?;
    let lat = bench_read_kv(&lat_out)?;
    // The same callbacks at real-time priority (SCHED_FIFO, as an audio thread).
    let rt_out = dir.join("latency-rt.txt");
    let lat_rt = run(cargo()
        .args(["bench", "--bench", "latency", "--", "--seconds", "0"])
        .args(["--callback-calls", "1000000", "--rt", "--out"])
        .arg(&rt_out))
    .and_then(|_| bench_read_kv(&rt_out))
    .unwrap_or_default();
    // The engine's wake-up strategies: fixed polling at several intervals against the
    // default (scheduled) run above: CPU against latency.
    let mut sweep: Vec<(String, Kv)> = Vec::new();
    if o.sweep_s > 0.0 {
        for poll in [1.0, 2.0, 5.0] {
            let out = dir.join(format!("latency-poll{poll}.txt"));
            let mut c = cargo();
            c.args(["bench", "--bench", "latency", "--", "--seconds"])
                .arg(o.sweep_s.to_string())
                .args(["--callback-calls", "0", "--wake", "poll", "--poll-ms"])
                .arg(poll.to_string())
                .arg("--out")
                .arg(&out);
            if let Some(b) = &set_b {
                for f in &b.files {
                    c.arg("--input").arg(f);
                }
            }
            run(&mut c)?;
            sweep.push((
                format!("a look every {poll} ms (`Wake::Poll`)"),
                bench_read_kv(&out)?,
            ));
        }
    }

    // Matrix-multiply rate: numpy (OpenBLAS) on one core.
    let mm_out = dir.join("matmul.txt");
    let mm = Command::new("taskset")
        .args(["-c", "0"])
        .arg(&venv_py)
        .arg(root().join("models/train/peer_bench.py"))
        .args(["matmul", "--out"])
        .arg(&mm_out)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|_| bench_read_kv(&mm_out).ok());

    // Criterion stages.
    // Criterion stages, and the what-if benchmarks behind the proposals in BENCHMARKS.md.
    if o.stages {
        run(cargo().args(["bench", "--bench", "stages"]))?;
        run(cargo().args(["bench", "--bench", "options"]))?;
    }
    let all_results = bench_criterion_results();
    let (options, stages): (Vec<_>, Vec<_>) = all_results
        .into_iter()
        .partition(|s| s.0.starts_with("option_"));
    let resampler_quality = std::fs::read_to_string(dir.join("resampler-quality.md")).ok();
    let stage = |id: &str| stages.iter().find(|s| s.0 == id).map_or(f64::NAN, |s| s.1);
    let load_end = bench_loadavg();

    // ----- The report -----
    let mut r = String::new();
    let w = &mut r;
    let _ = writeln!(w, "{BENCH_BEGIN}");
    let _ = writeln!(
        w,
        "_Generated by `cargo xtask bench` on {date}; load average (1, 5, 15 min) {load_start} at the start, {load_end} at the end. Raw outputs: `target/bench/`._\n"
    );

    // Targets.
    let x_of = |secs: f64, t: &Timing| secs / t.wall;
    let (a1, aall) = &offline[0];
    let x_a1 = x_of(set_a.seconds, a1);
    let x_b1 = set_b
        .as_ref()
        .map_or(f64::NAN, |b| x_of(b.seconds, &offline[1].0));
    let peer_x = |i: usize, one: bool| -> f64 {
        match peer.get(i) {
            Some(Some((a, _, b, _))) => sets[i].seconds / if one { a.wall } else { b.wall },
            _ => f64::NAN,
        }
    };
    let ratio_a1 = x_a1 / peer_x(0, true);
    let ratio_aall = x_of(set_a.seconds, aall) / peer_x(0, false);
    let ratio_b1 = x_b1 / peer_x(1, true);
    let ratio_ball = set_b
        .as_ref()
        .map_or(f64::NAN, |b| x_of(b.seconds, &offline[1].1))
        / peer_x(1, false);
    let live_pct = |kv: &Kv| bench_f(kv, "steady_cpu_pct");
    let live_rss = |kv: &Kv| bench_f(kv, "maxrss_kb").max(bench_f(kv, "vmhwm_kb")) / 1024.0;
    let lat_med = bench_f(&lat, "latency_push_to_update.median_ms");
    let lat_p99 = bench_f(&lat, "latency_push_to_update.p99_ms");
    let cb_max = bench_f(&lat, "callback_in_situ_f32.max_us");
    let rt_ok = lat_rt
        .get("callback.realtime_priority")
        .is_some_and(|v| v == "true");
    let loop_kv = if rt_ok { &lat_rt } else { &lat };
    let cb_p999_loop = bench_f(loop_kv, "callback_loop_f32.p99.9_us")
        .max(bench_f(loop_kv, "callback_loop_i16.p99.9_us"));
    let cb_max_loop = bench_f(loop_kv, "callback_loop_f32.max_us")
        .max(bench_f(loop_kv, "callback_loop_i16.max_us"));
    let demo_rss = live_runs.first().map_or(f64::NAN, |(_, kv)| live_rss(kv));
    let g = |k: &str| lat.get(k).cloned().unwrap_or_else(|| "?".into());
    let _ = writeln!(w, "### Targets\n");
    let _ = writeln!(w, "| target | measured | result |\n|---|---|---|");
    let _ = writeln!(
        w,
        "| offline ≥ 500x real time on one core | {} ({}); {} ({}) | {} / {} |",
        bench_x(x_a1),
        set_a.format,
        bench_x(x_b1),
        set_b
            .as_ref()
            .map_or("–", |_| "same music as 48 kHz stereo"),
        bench_met(x_a1 >= 500.0),
        if x_b1.is_finite() {
            bench_met(x_b1 >= 500.0)
        } else {
            "–"
        }
    );
    let _ = writeln!(
        w,
        "| offline ≥ 10x the peer's throughput | one core {} / {}; all cores {} / {} (as stored / 48 kHz stereo) | {} |",
        bench_x(ratio_a1),
        bench_x(ratio_b1),
        bench_x(ratio_aall),
        bench_x(ratio_ball),
        if ratio_a1.is_finite() {
            bench_met([ratio_a1, ratio_aall, ratio_b1, ratio_ball].iter().filter(|r| r.is_finite()).all(|&r| r >= 10.0))
        } else {
            "not measured"
        }
    );
    for (what, kv) in &live_runs {
        let p = live_pct(kv);
        let _ = writeln!(
            w,
            "| live at 1x < 2% of one core ({what}) | {p:.2}% steady, {:.2}% with start-up | {} |",
            100.0 * bench_f(kv, "cpu_s") / bench_f(kv, "wall_s"),
            bench_met(p < 2.0)
        );
    }
    let _ = writeln!(
        w,
        "| publish latency median < 5 ms, p99 < 20 ms | median {lat_med:.2} ms, p99 {lat_p99:.2} ms ({} s at 48 kHz; {} of {} segments over 20 ms, {} of those during machine-wide stalls) | {} |",
        lat.get("live.seconds").map_or("?", |s| s.as_str()),
        lat.get("live.latency_outliers_over_20ms").map_or("?", |s| s.as_str()),
        lat.get("live.segments_measured").map_or("?", |s| s.as_str()),
        lat.get("live.latency_outliers_while_producer_stalled").map_or("?", |s| s.as_str()),
        bench_met(lat_med < 5.0 && lat_p99 < 20.0)
    );
    let _ = writeln!(
        w,
        "| worst audio callback < 50 µs | in the real-time run: max {cb_max:.1} µs, {} of {} calls over 50 µs; controls woken the same way, in turn: a register-only spin as long as the median callback max {:.1} µs ({} over 50 µs), the callback's 4 KiB copied into a private buffer max {:.1} µs ({} over 50 µs); this VM stops a spinning thread at SCHED_FIFO for > 50 µs {} times a second (platform probe below); back to back ({} calls each, f32 and i16{}): p99.9 {cb_p999_loop:.2} µs, max {cb_max_loop:.1} µs; the control (a register-only spin of the same length, same priority) max {:.1} µs, p99.99 {:.1} µs | {} (real-time run) / {} (back to back max) |",
        g("callback_in_situ_f32.over_50us"),
        g("callback_in_situ_f32.n"),
        bench_f(&lat, "control_in_situ.max_us"),
        g("control_in_situ.over_50us"),
        bench_f(&lat, "control_copy_in_situ.max_us"),
        g("control_copy_in_situ.over_50us"),
        g("platform.gaps_over_50us_per_s"),
        lat.get("callback.calls").map_or("?", |s| s.as_str()),
        if rt_ok { ", SCHED_FIFO" } else { ", normal priority" },
        bench_f(loop_kv, "callback_loop_control.max_us"),
        bench_f(loop_kv, "callback_loop_control.p99.99_us"),
        bench_met(cb_max < 50.0),
        bench_met(cb_max_loop < 50.0)
    );
    let _ = writeln!(
        w,
        "| mstag-live RSS < 150 MB | {demo_rss:.1} MB (demo clip) | {} |",
        bench_met(demo_rss < 150.0)
    );
    match &plugin_host {
        Ok(kv) => {
            let peak = live_rss(kv);
            let host_alone = bench_f(kv, "host.rss.host_kb") / 1024.0;
            let _ = writeln!(
                w,
                "| plugin RSS in a host (no bar; mstag-live's is 150 MB) | {peak:.1} MB peak for a headless CLAP host playing the demo clip through mstag at 1x (48 kHz stereo, 512-frame blocks); the host alone {host_alone:.1} MB, so the plugin's share is {:.1} MB | {} |",
                peak - host_alone,
                bench_met(peak < 150.0)
            );
        }
        Err(e) => {
            let _ = writeln!(w, "| plugin RSS in a host | not measured: {e} | – |");
        }
    }
    let _ = writeln!(w, "| GPU | not measured (no GPU lent to this task) | – |\n");

    // Offline table.
    if let Some(n) = &fallback_note {
        let _ = writeln!(w, "**Note:** {n}.\n");
    }
    let _ = writeln!(w, "### Offline tagging (`mstag tag`)\n");
    let _ = writeln!(
        w,
        "Times real time = seconds of audio / wall seconds of the whole process (start-up and model loading included), median of {} runs (best in brackets); CPU = user + system seconds of the process.\n",
        o.repeats
    );
    let _ = writeln!(w, "| audio | files | audio s | one core: wall s | x real time | CPU s | all {cores} cores: wall s | x real time | CPU s | peak RSS | max 1-min load before a run |\n|---|---|---|---|---|---|---|---|---|---|---|");
    let mut rows: Vec<(&AudioSet, &Timing, &Timing)> = sets
        .iter()
        .zip(&offline)
        .map(|(s, (a, b))| (*s, a, b))
        .collect();
    if let (Some(f), Some((a, b))) = (&full, &full_t) {
        rows.push((f, a, b));
    }
    for (set, one, all) in &rows {
        let _ = writeln!(
            w,
            "| {} — {} | {} | {:.1} | {:.3} | {} ({}) | {:.3} | {:.3} | {} ({}) | {:.3} | {:.0} MB | {:.2} |",
            set.name,
            set.format,
            set.files.len(),
            set.seconds,
            one.wall,
            bench_x(set.seconds / one.wall),
            bench_x(set.seconds / one.wall_min),
            one.cpu,
            all.wall,
            bench_x(set.seconds / all.wall),
            bench_x(set.seconds / all.wall_min),
            all.cpu,
            one.rss_mb.max(all.rss_mb),
            one.max_load().max(all.max_load())
        );
    }
    if let (Some(f), Some((fa, _))) = (&full, &full_t) {
        let marginal = (f.seconds - set_a.seconds) / (fa.wall - a1.wall);
        let _ = writeln!(
            w,
            "\nOne core, without start-up: (whole split − short set) audio / wall difference = {} real time; CPU-time throughput on the short set {} real time per CPU second.",
            bench_x(marginal),
            bench_x(set_a.seconds / a1.cpu)
        );
    }
    let _ = writeln!(
        w,
        "\nFiles of the short set: {}.\n",
        bench_files(&set_a).join(", ")
    );

    // Peer.
    let _ = writeln!(
        w,
        "### The peer: musicnn (PyPI 0.1.0, MTT_musicnn, TensorFlow CPU)\n"
    );
    if let Some(n) = &peer_note {
        let _ = writeln!(w, "{n}\n");
    }
    if peer.iter().any(Option::is_some) {
        let _ = writeln!(w, "`musicnn.extractor.extractor(file, model='MTT_musicnn', input_length=3)` for each file in one Python process (`models/train/peer_bench.py musicnn`); one core = `taskset -c 0` and TensorFlow intra/inter-op threads 1; median of {} runs. Process wall includes importing TensorFlow; \"tagging\" is the loop over files only.\n", o.peer_repeats);
        let _ = writeln!(w, "| audio | cores | musicnn process wall s | x real time | tagging s | x real time (tagging) | peak RSS | mstag x real time | **mstag / musicnn** (process) | (vs tagging only) |\n|---|---|---|---|---|---|---|---|---|---|");
        for (i, p) in peer.iter().enumerate() {
            let Some((one, okv, all, akv)) = p else {
                continue;
            };
            let set = sets[i];
            for (label, t, kv, m) in [
                ("1", one, okv, &offline[i].0),
                (&*cores.to_string(), all, akv, &offline[i].1),
            ] {
                let mx = set.seconds / m.wall;
                let px = set.seconds / t.wall;
                let tag_s = bench_f(kv, "tagging_s");
                let _ = writeln!(
                    w,
                    "| {} | {label} | {:.2} | {} | {tag_s:.2} | {} | {:.0} MB | {} | **{}** | {} |",
                    set.format,
                    t.wall,
                    bench_x(px),
                    bench_x(set.seconds / tag_s),
                    t.rss_mb,
                    bench_x(mx),
                    bench_x(mx / px),
                    bench_x(mx / (set.seconds / tag_s))
                );
            }
        }
        if let Some(Some((_, kv, _, _))) = peer.first() {
            let tops: Vec<String> = kv
                .iter()
                .filter(|(k, _)| {
                    k.strip_prefix("file")
                        .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty())
                })
                .map(|(_, v)| format!("`{v}`"))
                .collect();
            let _ = writeln!(w, "\nmusicnn per file (one core): {}.\n", tops.join("; "));
        }
    }

    // Live.
    let _ = writeln!(
        w,
        "### Live path (`mstag-live --input FILE`, real time, {} s)\n",
        o.live_s
    );
    let _ = writeln!(w, "CPU from the child's rusage (all threads: file player, inference, terminal view); \"steady\" is the CPU time of all its threads (`/proc/<pid>/task/*/schedstat`) from 5 s after the start to the end of playback, over that wall time. RSS = peak (VmHWM / ru_maxrss).\n");
    let _ = writeln!(w, "| input | wall s | CPU s | CPU % of one core (whole run) | CPU % steady | of which: inference thread / file player / main (terminal view) | peak RSS |\n|---|---|---|---|---|---|---|");
    // A row of that table; `threads`: the thread names of the three thread columns.
    let live_row = |what: &str, kv: &Kv, threads: [Option<&str>; 3], note: &str| {
        let t = |name: Option<&str>| {
            name.map_or("–".to_string(), |n| {
                format!("{:.2}%", bench_f(kv, &format!("steady_thread.{n}_pct")))
            })
        };
        format!(
            "| {what} | {:.2} | {:.3} | {:.2}% | {:.2}% | {} / {} / {}{note} | {:.1} MB |",
            bench_f(kv, "wall_s"),
            bench_f(kv, "cpu_s"),
            100.0 * bench_f(kv, "cpu_s") / bench_f(kv, "wall_s"),
            live_pct(kv),
            t(threads[0]),
            t(threads[1]),
            t(threads[2]),
            live_rss(kv)
        )
    };
    for (what, kv) in &live_runs {
        let threads = [
            Some("mstag-inference"),
            Some("mstag-file-play"),
            Some("mstag-live"),
        ];
        let _ = writeln!(w, "{}", live_row(what, kv, threads, ""));
    }
    if let Ok(kv) = &plugin_host {
        let what = "the plugin in a headless CLAP host (`plugin/examples/host.rs`), demo clip at 48 kHz stereo in 512-frame blocks";
        let threads = [Some("mstag-inference"), None, Some("host")];
        let note = " (host thread, process() included)";
        let _ = writeln!(w, "{}", live_row(what, kv, threads, note));
        let _ = writeln!(
            w,
            "\nThe plugin's `process()` in that host ({} calls): median {} µs, p99 {} µs, p99.9 {} µs, p99.99 {} µs, max {} µs (a stereo copy-through plus the mono mix into the ring).",
            kv.get("host.process.calls").map_or("?", |s| s.as_str()),
            kv.get("host.process.median_us").map_or("?", |s| s.as_str()),
            kv.get("host.process.p99_us").map_or("?", |s| s.as_str()),
            kv.get("host.process.p99.9_us").map_or("?", |s| s.as_str()),
            kv.get("host.process.p99.99_us").map_or("?", |s| s.as_str()),
            kv.get("host.process.max_us").map_or("?", |s| s.as_str()),
        );
    }
    let _ = writeln!(
        w,
        "\nThe inference thread alone in the latency harness below (48 kHz stereo, engine defaults): {}% of one core.",
        lat.get("live.inference_thread_cpu_pct").map_or("?", |s| s.as_str())
    );

    // Latency.
    let _ = writeln!(w, "\n### Latency (real-time harness `benches/latency.rs`, {} s, load {lat_load} at the start)\n", g("live.seconds"));
    let _ = writeln!(w, "Input: {}, {} Hz, {} ch, pushed with `capture_callback` in 512-frame callbacks at real-time pace by a producer thread (at SCHED_FIFO 20 as an audio thread: {}); the engine runs with `EngineConfig::default()` (as `mstag-live`). A segment's latency runs from the return of the callback that pushed the last audio sample its last mel frame reads (found by a pipeline at the models' rate, without a resampler) to the arrival of the first update that includes it on `Engine::updates()`: what the resampler holds back (its ~1 ms chunks and 1.3 ms filter delay, so about one segment in ten waits for the next callback) is included. The second row starts instead at the callback after which the pipeline could complete the segment. {} segments measured (first 2 s left out), {} updates, {} frames dropped, {} updates skipped.\n",
        g("live.input"), g("live.rate"), g("live.channels"), if g("live.producer_realtime_priority") == "true" { "yes" } else { "not permitted, normal priority" }, g("live.segments_measured"), g("live.updates"), g("live.dropped_frames"), g("live.skipped_updates"));
    let _ = writeln!(
        w,
        "| measure | median | p90 | p99 | p99.9 | max |\n|---|---|---|---|---|---|"
    );
    for (label, key, unit) in [
        (
            "last audio sample pushed → update received (ms)",
            "latency_push_to_update",
            "ms",
        ),
        (
            "segment released by the resampler → update received (ms)",
            "latency_released_to_update",
            "ms",
        ),
        (
            "engine: block popped → published (`publish_latency_s`, ms)",
            "latency_engine_pop_to_publish",
            "ms",
        ),
        (
            "audio callback in the real-time run, f32 stereo 512 (µs)",
            "callback_in_situ_f32",
            "us",
        ),
        (
            "control in the real-time run: a register-only spin as long as the warm-up's median callback, half-way between callbacks (every other one; µs)",
            "control_in_situ",
            "us",
        ),
        (
            "control in the real-time run: the callback's block copied into a private buffer of the ring's size (the other half-way points; µs)",
            "control_copy_in_situ",
            "us",
        ),
        (
            "audio callback back to back, f32 stereo 512 (µs)",
            "callback_loop_f32",
            "us",
        ),
        (
            "audio callback back to back, i16 stereo 512 (µs)",
            "callback_loop_i16",
            "us",
        ),
        (
            "control: a register-only spin as long as the i16 callback (µs)",
            "callback_loop_control",
            "us",
        ),
    ] {
        bench_percentile_row(w, label, &lat, key, unit);
    }
    if lat_rt
        .get("callback.realtime_priority")
        .is_some_and(|v| v == "true")
    {
        for (label, key) in [
            (
                "audio callback back to back at SCHED_FIFO 20, f32 (µs)",
                "callback_loop_f32",
            ),
            (
                "audio callback back to back at SCHED_FIFO 20, i16 (µs)",
                "callback_loop_i16",
            ),
            (
                "control at SCHED_FIFO 20: register-only spin as long as the i16 callback (µs)",
                "callback_loop_control",
            ),
        ] {
            bench_percentile_row(w, label, &lat_rt, key, "us");
        }
    }
    if lat.contains_key("platform.max_gap_us") {
        let _ = writeln!(
            w,
            "\nThe platform's own stalls (`--platform-seconds`: a thread at {} spins reading the clock for {} s, in 200 ms bursts; a gap is time it did not run): over 20 µs {} per second, over 50 µs {} per second ({} of them charged to the thread as CPU time: interrupt handling or the hypervisor, not another thread), over 100 µs {} per second; longest {} µs.",
            if g("platform.realtime_priority") == "true" { "SCHED_FIFO 20" } else { "normal priority" },
            g("platform.seconds"),
            g("platform.gaps_over_20us_per_s"),
            g("platform.gaps_over_50us_per_s"),
            g("platform.gaps_over_50us_charged_as_cpu_per_s"),
            g("platform.gaps_over_100us_per_s"),
            g("platform.max_gap_us"),
        );
    }
    if !sweep.is_empty() {
        let _ = writeln!(w, "\nHow the inference thread waits for audio (`EngineConfig::wake`; the default sleeps until ~2 ms before the next segment can complete, then looks every {} ms) against its CPU and the latency (same harness; the sweep runs {} s each):\n", bench_f(&lat, "live.poll_ms"), o.sweep_s);
        let _ = writeln!(w, "| wake-up | inference thread CPU % | latency median ms | p99 ms | max ms | waiting for a CPU % | updates > 20 ms (while the producer also stalled) |\n|---|---|---|---|---|---|---|");
        let row = |label: &str, kv: &Kv| {
            let k = |key: &str| kv.get(key).map_or("?", |s| s.as_str()).to_string();
            format!(
                "| {label} | {} | {} | {} | {} | {} | {} ({}) |",
                k("live.inference_thread_cpu_pct"),
                k("latency_push_to_update.median_ms"),
                k("latency_push_to_update.p99_ms"),
                k("latency_push_to_update.max_ms"),
                k("live.inference_thread_runqueue_wait_pct"),
                k("live.latency_outliers_over_20ms"),
                k("live.latency_outliers_while_producer_stalled"),
            )
        };
        let default_label = format!(
            "{} (default, the run above)",
            lat.get("live.wake").map_or("?", |s| s.as_str())
        );
        let _ = writeln!(w, "{}", row(&default_label, &lat));
        for (label, kv) in &sweep {
            let _ = writeln!(w, "{}", row(label, kv));
        }
    }
    let _ = writeln!(w, "\nCallback timings include reading the clock twice ({} ns). The back-to-back runs time {} calls each into a ring with room (drained after each call, untimed).\n", g("callback.clock_overhead_ns"), g("callback.calls"));
    let _ = writeln!(w, "Contention during the {} s run: the inference thread waited for a CPU (runnable, not running; `schedstat`) {}% of the time; {} segments took over 20 ms, {} of them while the producer thread — which only sleeps and copies — also woke more than 5 ms late (a machine-wide stall: other jobs, not the engine); the producer woke late by {} ms at p99 and {} ms at most.\n",
        g("live.seconds"), g("live.inference_thread_runqueue_wait_pct"), g("live.latency_outliers_over_20ms"), g("live.latency_outliers_while_producer_stalled"), g("producer_lateness.p99_ms"), g("producer_lateness.max_ms"));

    // Stages.
    if !stages.is_empty() {
        bench_criterion_table(
            w,
            "Stages (`cargo bench --bench stages`, criterion, median)",
            &stages,
        );
        let _ = writeln!(w);
    }
    if !options.is_empty() {
        bench_criterion_table(
            w,
            "What-if (`cargo bench --bench options`, criterion, median)",
            &options,
        );
        if let Some(q) = &resampler_quality {
            let _ = writeln!(w, "\nResampler output against a reference (sinc 512, cubic, oversampling 512) and against today's: log-mel differences on 10 s of broadband audio (a 50 Hz–24 kHz sweep plus noise, 20 frames at each end left out), in log10(1 + 10⁴·mel) units (frames span 0 to ~4); and the largest difference of the 50 song-level scores of the demo clip (as 48 kHz):\n\n{}", q.trim_end());
        }
        let _ = writeln!(w);
    }

    // The floor.
    let cnn = bench_f(&lat, "flops.cnn_macs_per_s_audio");
    let cls = bench_f(&lat, "flops.classifier_macs_per_call");
    let upd_per_s = bench_f(&lat, "live.updates") / bench_f(&lat, "live.seconds");
    let live_cls = 3.0 * cls * upd_per_s;
    let res = bench_f(&lat, "flops.resampler_macs_per_s_audio_est");
    let mel = bench_f(&lat, "flops.mel_macs_per_s_audio_est");
    let np1024 = mm
        .as_ref()
        .map_or(f64::NAN, |k| bench_f(k, "sgemm_1024_gflops"));
    let np256 = mm
        .as_ref()
        .map_or(f64::NAN, |k| bench_f(k, "sgemm_256_gflops"));
    let np1 = np1024.max(np256);
    let rust = bench_f(&lat, "matmul.rust_naive_gflops");
    let _ = writeln!(w, "### The physical limit\n");
    let _ = writeln!(w, "Work per second of audio, from `models/manifest.json` (Conv1D over time with 'same' padding: frames × kernel × inputs × filters per layer, then the pools; 1 MAC = 2 flops):\n");
    let _ = writeln!(
        w,
        "| part | MACs per segment | segments / s | MFLOP per s of audio |\n|---|---|---|---|"
    );
    for s in ["s18", "s27", "s54"] {
        let m = bench_f(&lat, &format!("flops.{s}.macs_per_segment"));
        let n = bench_f(&lat, &format!("flops.{s}.segments_per_s"));
        let _ = writeln!(
            w,
            "| CNN {s} | {:.2} M | {n:.3} | {:.2} |",
            m / 1e6,
            2.0 * m * n / 1e6
        );
    }
    let _ = writeln!(w, "| CNNs together | | | **{:.2}** |", 2.0 * cnn / 1e6);
    let _ = writeln!(w, "| classifier (offline: once per file; live: 3 vectors per update) | {:.3} M per vector | {upd_per_s:.2} updates (measured) | {:.2} (live) |", cls / 1e6, 2.0 * live_cls / 1e6);
    let _ = writeln!(
        w,
        "| log-mel (FFT 1024 + filterbank, estimate) | | 43.07 frames | {:.2} |",
        2.0 * mel / 1e6
    );
    let _ = writeln!(w, "| resampler 48 kHz → 22.05 kHz (rubato sinc 128, nearest of 512 phases: 128 MACs per output sample, estimate) | | | {:.2} |\n", 2.0 * res / 1e6);
    let _ = writeln!(w, "Measured single-core multiply rate: numpy {} float32 matmul (`taskset -c 0`, one BLAS thread) {np1024:.1} GFLOP/s at 1024², {np256:.1} GFLOP/s at 256² (the better one, **{np1:.1} GFLOP/s**, is the rate used below); a plain Rust i-k-j loop (baseline x86-64 target, SSE2) {rust:.1} GFLOP/s.\n",
        mm.as_ref().and_then(|k| k.get("blas").cloned()).unwrap_or_else(|| "(not measured: no venv)".into()));
    let cnn_time = stage("model/cnn_s18/segment_batch1")
        * bench_f(&lat, "flops.s18.segments_per_s")
        + stage("model/cnn_s27/segment_batch1") * bench_f(&lat, "flops.s27.segments_per_s")
        + stage("model/cnn_s54/segment_batch1") * bench_f(&lat, "flops.s54.segments_per_s");
    let floor_cnn = 2.0 * cnn / (np1 * 1e9);
    let _ = writeln!(
        w,
        "| | time per second of audio | x real time | achieved GFLOP/s |\n|---|---|---|---|"
    );
    let _ = writeln!(
        w,
        "| CNN floor at the numpy rate | {} | {} | {np1:.1} |",
        bench_ns(floor_cnn * 1e9),
        bench_x(1.0 / floor_cnn)
    );
    let _ = writeln!(
        w,
        "| CNNs measured (criterion, batch 1, one thread) | {} | {} | {:.2} |",
        bench_ns(cnn_time),
        bench_x(1e9 / cnn_time),
        2.0 * cnn / cnn_time
    );
    let rs = stage("dsp/resample_48k_to_22k/1s_audio");
    let _ = writeln!(
        w,
        "| resampler measured | {} | {} | {:.2} |",
        bench_ns(rs),
        bench_x(1e9 / rs),
        2.0 * res / rs
    );
    let lp = stage("live_path/22k_mono/1s_audio");
    let lp48 = stage("live_path/48k_stereo/1s_audio");
    // Per second of audio: the live path's flops, its floor at the numpy rate, and the
    // measured live path, at the model rate and from a 48 kHz stereo device.
    for (input, floor_parts, flops, measured) in [
        (
            "22.05 kHz mono",
            "CNNs + mel + classifier",
            2.0 * (cnn + mel + live_cls),
            lp,
        ),
        (
            "48 kHz stereo",
            "the same + the resampler",
            2.0 * (cnn + mel + live_cls + res),
            lp48,
        ),
    ] {
        let floor = flops / np1;
        let _ = writeln!(
            w,
            "| live path floor, {input}: {floor_parts} at the numpy rate | {} | {} | {np1:.1} |",
            bench_ns(floor),
            bench_x(1e9 / floor)
        );
        let _ = writeln!(
            w,
            "| whole live path measured, {input} (criterion) | {} | {} | {:.2} ({:.0}% of the floor's speed) |",
            bench_ns(measured),
            bench_x(1e9 / measured),
            flops / measured,
            100.0 * floor / measured
        );
    }
    let _ = writeln!(w);

    // Machine and commands.
    let _ = writeln!(w, "### Machine and commands\n");
    let _ = writeln!(w, "| | |\n|---|---|");
    for (k, v) in bench_machine() {
        let _ = writeln!(w, "| {k} | {v} |");
    }
    let _ = writeln!(w, "| date | {date} |");
    let _ = writeln!(
        w,
        "| load average at start / end | {load_start} / {load_end} |\n"
    );
    let _ = writeln!(w, "```sh\ncargo xtask bench {}                # all of the above; raw outputs in target/bench/", args.join(" "));
    let _ = writeln!(w, "taskset -c 0 target/release/mstag tag -q --format json --jobs 1 FILES...   # offline, one core");
    let _ = writeln!(w, "target/release/mstag tag -q --format json --jobs 0 FILES...                 # offline, all cores");
    let _ = writeln!(w, "taskset -c 0 models/train/.venv/bin/python models/train/peer_bench.py musicnn --threads 1 FILES...");
    let _ = writeln!(
        w,
        "models/train/.venv/bin/python models/train/peer_bench.py musicnn --threads 0 FILES..."
    );
    let _ = writeln!(w, "python3 models/train/peer_bench.py measure --mark 5 -- target/release/mstag-live --input FILE --duration {}", o.live_s);
    let _ = writeln!(w, "cargo bench --bench latency -- --seconds {} --callback-calls 1000000 --flops --input FILE...", o.latency_s);
    let _ = writeln!(w, "cargo bench --bench stages");
    let _ = writeln!(w, "cargo bench --bench options\n```");
    let _ = writeln!(w, "{BENCH_END}");

    // Splice into BENCHMARKS.md, keeping what is written around the generated part.
    let path = root().join("BENCHMARKS.md");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let new = match (old.find(BENCH_BEGIN), old.find(BENCH_END)) {
        (Some(a), Some(b)) if b > a => {
            format!("{}{}{}", &old[..a], r.trim_end(), &old[b + BENCH_END.len()..])
        }
        _ => format!(
            "# Benchmarks\n\nNumbers below are regenerated by `cargo xtask bench`; the text outside the generated block is kept.\n\n{r}"
        ),
    };
    std::fs::write(&path, new)?;
    eprintln!("xtask bench: wrote {}", path.display());
    Ok(())
}
