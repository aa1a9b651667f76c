//! Running the benchmarks: builds, audio sets, `mstag tag`, the musicnn peer, `mstag-live`,
//! the plugin in a host, the latency harness, numpy's matmul rate and criterion; each
//! command's raw output is kept in `target/bench/` and read back into [`Measurements`].

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::parse::{self, CriterionResult, Kv, Timing};
use super::{AudioSet, BenchOpts, Measurements, PeerRun};
use crate::{bundle, cargo, python, root, run, setup, target_dir, ORT_VERSION};

mod audio;

use audio::{audio_sets, to_48k, wav_info};

/// Reads a `key=value` report file.
fn read_kv(path: &Path) -> Result<Kv> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(parse::parse_kv(&text))
}

/// The trimmed standard output of `cmd args`; empty if it fails.
pub(crate) fn sh(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The machine's load averages (1, 5, 15 min); `?` where /proc/loadavg is unreadable.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(|_| "?".into(), |s| parse::load3(&s))
}

/// One line naming the machine: CPU, cores, and the GPU when `nvidia-smi` answers.
pub(crate) fn machine_line() -> String {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let gpu = sh(
        "nvidia-smi",
        &["--query-gpu=name,driver_version", "--format=csv,noheader"],
    );
    format!(
        "{}, {cores} cores, GPU: {}",
        parse::cpu_summary(&read("/proc/cpuinfo")),
        if gpu.is_empty() {
            "none".to_string()
        } else {
            gpu.replace('\n', "; ")
        }
    )
}

/// The rows of the machine table.
fn machine() -> Vec<(String, String)> {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_string();
    [
        ("CPU", parse::cpu_summary(&read("/proc/cpuinfo"))),
        ("cores available", cores.to_string()),
        ("memory", parse::mem_total(&read("/proc/meminfo"))),
        ("kernel", kernel),
        ("rustc", sh("rustc", &["-V"])),
        ("ONNX Runtime", ORT_VERSION.to_string()),
        ("GPU", "none".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The plugin in a host: bundles mstag.clap, builds the headless CLAP host
/// (`plugin/examples/host.rs`) and plays `clip` through the plugin at 1x for `seconds` under
/// `peer_bench.py measure`. The host's own report (RSS before and after loading the plugin,
/// `process()` durations) is merged in under `host.`.
fn plugin_host(dir: &Path, clip: &Path, seconds: f64) -> Result<Kv> {
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
    let report = dir.join("plugin-host.txt");
    let stdout = dir.join("plugin-host.out");
    let mut kv = measure(&report, Some((5.0, seconds)), Some(&stdout), &cmd)?;
    for (k, v) in read_kv(&out)? {
        kv.insert(format!("host.{k}"), v);
    }
    Ok(kv)
}

/// Runs `cmd` under `peer_bench.py measure` and returns its key=value report.
fn measure(
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
        let more = cmd.len() - 10;
        format!("{} ... ({more} more arguments)", cmd[..10].join(" "))
    } else {
        cmd.join(" ")
    };
    eprintln!("xtask bench: {shown} (load {})", loadavg());
    let o = c
        .output()
        .context("running peer_bench.py measure (needs python3)")?;
    if !o.status.success() {
        let stderr = String::from_utf8_lossy(&o.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        bail!("{} failed: {}", cmd.join(" "), tail.join(" | "));
    }
    read_kv(out)
}

/// Runs `cmd` `repeats` times under `peer_bench.py measure` (reports `dir/tag-N.txt`).
fn timed(dir: &Path, tag: &str, repeats: usize, cmd: &[String]) -> Result<Timing> {
    let (mut runs, mut loads) = (Vec::new(), Vec::new());
    for r in 0..repeats {
        loads.push(parse::load1(&loadavg()));
        runs.push(measure(
            &dir.join(format!("{tag}-{r}.txt")),
            None,
            None,
            cmd,
        )?);
    }
    Ok(Timing::from_runs(&runs, loads))
}

/// Owned copies of `v`.
fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// A command line: `taskset -c 0` first when `one_core`, then `head`, `args`, the set's files.
fn command(one_core: bool, head: &[String], args: &[&str], set: &AudioSet) -> Vec<String> {
    let mut c = Vec::new();
    if one_core {
        c.extend(strs(&["taskset", "-c", "0"]));
    }
    c.extend_from_slice(head);
    c.extend(strs(args));
    c.extend(set.shown_files());
    c
}

/// The training venv's Python with musicnn importable, creating the venv if it is missing.
fn peer_python() -> Result<PathBuf> {
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

/// Criterion's results under target/criterion, sorted by id.
fn criterion_results() -> Vec<CriterionResult> {
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
    let mut files = Vec::new();
    walk(&root().join("target").join("criterion"), &mut files);
    let mut out: Vec<CriterionResult> = files
        .iter()
        .filter_map(|f| {
            let b = std::fs::read_to_string(f).ok()?;
            let e = std::fs::read_to_string(f.with_file_name("estimates.json")).ok()?;
            Some(parse::criterion_result(&b, &e))
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// `mstag tag` on `set`, one core and all cores (reports `dir/TAG-1core-N.txt`, `TAG-all-N`).
fn offline(
    dir: &Path,
    o: &BenchOpts,
    mstag: &str,
    tag: &str,
    set: &AudioSet,
) -> Result<(Timing, Timing)> {
    let head = [mstag.to_string()];
    let mut pair = Vec::new();
    for (one, cores, jobs) in [(true, "1core", "1"), (false, "all", "0")] {
        let args = ["tag", "-q", "--format", "json", "--jobs", jobs];
        let cmd = command(one, &head, &args, set);
        pair.push(timed(dir, &format!("{tag}-{cores}"), o.repeats, &cmd)?);
    }
    let all = pair.pop().context("all-core timing")?;
    let one = pair.pop().context("one-core timing")?;
    Ok((one, all))
}

/// The peer on one set (index `i`), one core and all cores.
fn peer_run(dir: &Path, o: &BenchOpts, py: &Path, i: usize, set: &AudioSet) -> Result<PeerRun> {
    let script = root().join("models/train/peer_bench.py");
    let head = [py, &script].map(|p| p.to_string_lossy().into_owned());
    let mut runs = Vec::new();
    for (one, cores, threads) in [(true, "1core", "1"), (false, "all", "0")] {
        let out = dir.join(format!("peer{i}-{cores}.txt"));
        let out_s = out.to_string_lossy().into_owned();
        let args = ["musicnn", "--threads", threads, "--out", &out_s];
        let tag = format!("peer{i}-{cores}-m");
        let t = timed(dir, &tag, o.peer_repeats, &command(one, &head, &args, set))?;
        runs.push((t, read_kv(&out)?));
    }
    let (all, all_kv) = runs.pop().context("all-core peer run")?;
    let (one, one_kv) = runs.pop().context("one-core peer run")?;
    Ok(PeerRun {
        one,
        one_kv,
        all,
        all_kv,
    })
}

/// The peer on each set; a note where it was not (fully) measured.
fn peers(dir: &Path, o: &BenchOpts, sets: &[&AudioSet]) -> (Vec<Option<PeerRun>>, Option<String>) {
    if !o.peer {
        return (Vec::new(), Some("musicnn not measured (--no-peer)".into()));
    }
    let py = match peer_python() {
        Ok(py) => py,
        Err(e) => return (Vec::new(), Some(format!("musicnn not measured: {e:#}"))),
    };
    let (mut out, mut note) = (Vec::new(), None);
    for (i, set) in sets.iter().enumerate() {
        match peer_run(dir, o, &py, i, set) {
            Ok(p) => out.push(Some(p)),
            Err(e) => {
                note = Some(format!("musicnn failed: {e:#}"));
                out.push(None);
            }
        }
    }
    (out, note)
}

/// `mstag-live` at 1x on the demo clip and on the longest 48 kHz stereo file.
fn live(
    dir: &Path,
    o: &BenchOpts,
    live: &str,
    set_b: Option<&AudioSet>,
) -> Result<Vec<(String, Kv)>> {
    let demo = root().join("models/demo/demo.wav");
    let mut inputs: Vec<(String, PathBuf)> = vec![("demo clip, 22.05 kHz mono".into(), demo)];
    let duration = |p: &Path| wav_info(p).map_or(0.0, |i| i.2);
    if let Some(longest) = set_b.and_then(|b| {
        b.files
            .iter()
            .max_by(|x, y| duration(x).total_cmp(&duration(y)))
    }) {
        inputs.push(("test-split music, 48 kHz stereo".into(), longest.clone()));
    }
    let mut runs = Vec::new();
    for (i, (what, input)) in inputs.into_iter().enumerate() {
        let input = input.to_string_lossy().into_owned();
        let c = [live, "--input", &input, "--duration", &o.live_s.to_string()].map(String::from);
        let out = dir.join(format!("live{i}.txt"));
        let stdout = dir.join(format!("live{i}.out"));
        runs.push((
            what,
            measure(&out, Some((5.0, o.live_s)), Some(&stdout), &c)?,
        ));
    }
    runs.push(live_with_outputs(dir, o, live)?);
    Ok(runs)
}

/// A port the system has free now (for the servers of one run).
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `mstag-live` on the demo clip with every live output on: OSC (to a UDP socket of this
/// process, as a receiver that listens but is not measured), the WebSocket and the page, with
/// headless Chromium on the page the whole time (`tests/web/browser.py --stay`). What is
/// measured is `mstag-live`'s CPU, not the browser's.
fn live_with_outputs(dir: &Path, o: &BenchOpts, live: &str) -> Result<(String, Kv)> {
    let demo = root().join("models/demo/demo.wav");
    let (ws, http) = (free_port()?, free_port()?);
    let osc = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let osc_addr = osc.local_addr()?.to_string();
    let page = format!("http://127.0.0.1:{http}/");
    let stay = (o.live_s - 4.0).max(2.0);
    let shot = dir.join("live-browser.png");
    let browser = std::thread::spawn(move || {
        Command::new(python())
            .arg(root().join("tests/web/browser.py"))
            .arg(&page)
            .arg(&shot)
            .args(["--stay", &stay.to_string()])
            .output()
    });
    let c = [
        live,
        "--input",
        &demo.to_string_lossy(),
        "--duration",
        &o.live_s.to_string(),
        "--osc",
        &osc_addr,
        "--ws",
        &format!("127.0.0.1:{ws}"),
        "--http",
        &format!("127.0.0.1:{http}"),
    ]
    .map(String::from);
    let n = 9;
    let kv = measure(
        &dir.join(format!("live{n}.txt")),
        Some((5.0, o.live_s)),
        Some(&dir.join(format!("live{n}.out"))),
        &c,
    )?;
    let seen = match browser.join() {
        Ok(Ok(out)) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let v: serde_json::Value =
                serde_json::from_str(text.lines().last().unwrap_or("")).unwrap_or_default();
            format!("{} messages", v["messages"])
        }
        Ok(Ok(out)) => format!(
            "the browser failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ),
        other => format!("the browser did not run: {other:?}"),
    };
    drop(osc);
    eprintln!("xtask bench: the browser on the page received {seen}");
    Ok((
        format!(
            "demo clip with OSC, WebSocket and headless Chromium on the page ({seen} received)"
        ),
        kv,
    ))
}

/// `cargo xtask bench --live-only`: the live runs alone, printed (BENCHMARKS.md untouched).
pub(crate) fn live_only(opts: &BenchOpts) -> Result<()> {
    run(cargo().args(["build", "--release", "--bins"]))?;
    let dir = root().join("target").join("bench");
    std::fs::create_dir_all(&dir)?;
    let live_bin = root().join("target/release/mstag-live");
    for (what, kv) in live(&dir, opts, &live_bin.to_string_lossy(), None)? {
        let get = |k: &str| kv.get(k).map_or("?", String::as_str).to_string();
        println!(
            "{what}: wall {} s, CPU {} s, steady {}% of one core, peak RSS {} kB",
            get("wall_s"),
            get("cpu_s"),
            get("steady_cpu_pct"),
            get("vmhwm_kb")
        );
    }
    Ok(())
}

/// `cargo bench --bench latency -- ARGS --out OUT` (with the 48 kHz files as inputs), its report.
fn latency_run(args: &[String], out: &Path, inputs: Option<&AudioSet>) -> Result<Kv> {
    let mut c = cargo();
    c.args(["bench", "--bench", "latency", "--"]).args(args);
    c.arg("--out").arg(out);
    for f in inputs.iter().flat_map(|b| &b.files) {
        c.arg("--input").arg(f);
    }
    run(&mut c)?;
    read_kv(out)
}

/// What the latency harness runs report.
struct LatencyRuns {
    /// Load averages before the main run.
    load: String,
    /// The main run's report.
    lat: Kv,
    /// The back-to-back callbacks at real-time priority (empty if that run failed).
    rt: Kv,
    /// The wake-up sweep: label, report.
    sweep: Vec<(String, Kv)>,
}

/// The latency harness (load before it, report), the back-to-back callbacks at real-time
/// priority, and the wake-up sweep.
fn latency(dir: &Path, o: &BenchOpts, set_b: Option<&AudioSet>) -> Result<LatencyRuns> {
    // The producer runs at real-time priority, as a device's or host's audio thread does.
    let main = strs(&[
        "--seconds",
        &o.latency_s.to_string(),
        "--callback-calls",
        "1000000",
        "--flops",
        "--rt-producer",
        "--platform-seconds",
        "30",
    ]);
    let lat_load = loadavg();
    let lat = latency_run(&main, &dir.join("latency.txt"), set_b)?;
    // The same callbacks at real-time priority (SCHED_FIFO, as an audio thread).
    let rt = strs(&["--seconds", "0", "--callback-calls", "1000000", "--rt"]);
    let lat_rt = latency_run(&rt, &dir.join("latency-rt.txt"), None).unwrap_or_default();
    // The engine's wake-up strategies: fixed polling at several intervals against the
    // default (scheduled) run above: CPU against latency.
    let mut sweep = Vec::new();
    if o.sweep_s > 0.0 {
        for poll in [1.0, 2.0, 5.0] {
            let (secs, ms) = (o.sweep_s.to_string(), poll.to_string());
            let args = strs(&[
                "--seconds",
                &secs,
                "--callback-calls",
                "0",
                "--wake",
                "poll",
                "--poll-ms",
                &ms,
            ]);
            let kv = latency_run(&args, &dir.join(format!("latency-poll{poll}.txt")), set_b)?;
            sweep.push((format!("a look every {poll} ms (`Wake::Poll`)"), kv));
        }
    }
    Ok(LatencyRuns {
        load: lat_load,
        lat,
        rt: lat_rt,
        sweep,
    })
}

/// numpy's (OpenBLAS) matmul rate on one core, if the venv exists.
fn matmul(dir: &Path, venv_py: &Path) -> Option<Kv> {
    let out = dir.join("matmul.txt");
    Command::new("taskset")
        .args(["-c", "0"])
        .arg(venv_py)
        .arg(root().join("models/train/peer_bench.py"))
        .args(["matmul", "--out"])
        .arg(&out)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|_| read_kv(&out).ok())
}

/// Builds, runs every benchmark `opts` asks for and collects what they report.
pub(crate) fn collect(args: &[String], opts: BenchOpts) -> Result<Measurements> {
    setup(false)?;
    run(cargo().args(["build", "--release", "--bins"]))?;
    let dir = root().join("target").join("bench");
    std::fs::create_dir_all(&dir)?;
    let rel = root().join("target").join("release");
    let mstag = rel.join("mstag").to_string_lossy().into_owned();
    let live_bin = rel.join("mstag-live").to_string_lossy().into_owned();
    let date = sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let load_start = loadavg();
    let venv_py = root().join("models/train/.venv/bin/python");
    let (set_a, full, fallback_note) = audio_sets(&dir)?;
    let set_b = to_48k(&set_a, &dir, &venv_py);
    let sets: Vec<&AudioSet> = std::iter::once(&set_a).chain(set_b.as_ref()).collect();
    let mut offline_t = Vec::new();
    for (i, set) in sets.iter().enumerate() {
        offline_t.push(offline(&dir, &opts, &mstag, &format!("tag{i}"), set)?);
    }
    let full_t = match &full {
        Some(f) => Some(offline(&dir, &opts, &mstag, "tagfull", f)?),
        None => None,
    };
    let (peer, peer_note) = peers(&dir, &opts, &sets);
    let live_runs = live(&dir, &opts, &live_bin, set_b.as_ref())?;
    // The plugin in a host: RSS and CPU at 1x, and how long each process() call takes.
    let demo = root().join("models/demo/demo.wav");
    let plugin_host = plugin_host(&dir, &demo, opts.live_s)
        .map_err(|e| format!("{e:#}"))
        .inspect_err(|e| eprintln!("xtask bench: the plugin in a host was not measured: {e}"));
    let lat = latency(&dir, &opts, set_b.as_ref())?;
    let mm = matmul(&dir, &venv_py);
    // Criterion stages, and the what-if benchmarks behind the proposals in BENCHMARKS.md.
    if opts.stages {
        run(cargo().args(["bench", "--bench", "stages"]))?;
        run(cargo().args(["bench", "--bench", "options"]))?;
    }
    let (options, stages) = criterion_results()
        .into_iter()
        .partition(|s| s.id.starts_with("option_"));
    Ok(Measurements {
        args: args.to_vec(),
        date,
        load_start,
        load_end: loadavg(),
        lat_load: lat.load,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        offline: offline_t,
        full_t,
        peer,
        peer_note,
        live_runs,
        plugin_host,
        lat_rt: lat.rt,
        sweep: lat.sweep,
        lat: lat.lat,
        mm,
        stages,
        options,
        resampler_quality: std::fs::read_to_string(dir.join("resampler-quality.md")).ok(),
        machine: machine(),
        opts,
        set_a,
        set_b,
        full,
        fallback_note,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_pin_one_core_and_end_with_the_files() {
        let set = AudioSet {
            name: "s".into(),
            files: vec![
                root().join("models/demo/demo.wav"),
                PathBuf::from("/x/y.wav"),
            ],
            seconds: 60.0,
            format: "f".into(),
        };
        let head = ["mstag".to_string()];
        assert_eq!(
            command(true, &head, &["tag", "--jobs", "1"], &set),
            [
                "taskset",
                "-c",
                "0",
                "mstag",
                "tag",
                "--jobs",
                "1",
                "models/demo/demo.wav",
                "/x/y.wav"
            ]
        );
        assert_eq!(command(false, &head, &[], &set)[0], "mstag");
    }
}
