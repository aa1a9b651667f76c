//! A headless CLAP host for measurements (`cargo xtask bench` runs it): loads mstag from a
//! bundle, activates it at 48 kHz stereo and plays a clip through it (looped) at real-time
//! pace in fixed blocks, as a DAW track would, timing every `process()` call. It prints
//! `key=value` lines (and writes them to `--out FILE`):
//!
//! * `rss.host_kb`: this process before the plugin is loaded (the host and its audio);
//! * `rss.plugin_running_kb`, `rss.peak_kb`: with the plugin running, and the peak;
//! * `process.*_us`: the duration of `process()` (the host's audio callback into the
//!   plugin): median, p99, p99.9, p99.99, max.
//!
//! ```sh
//! host PATH/TO/mstag.clap CLIP [--seconds S] [--speed X] [--block N] [--instances N] [--out FILE]
//! ```

mod clap_host;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clack_host::prelude::*;

const RATE: u32 = 48_000;

struct Args {
    clap: PathBuf,
    clip: PathBuf,
    seconds: f64,
    speed: f64,
    block: usize,
    instances: usize,
    out: Option<PathBuf>,
}

fn args() -> Result<Args, String> {
    let mut pos = Vec::new();
    let mut a = Args {
        clap: PathBuf::new(),
        clip: PathBuf::new(),
        seconds: 30.0,
        speed: 1.0,
        block: 512,
        instances: 1,
        out: None,
    };
    let mut it = std::env::args_os().skip(1);
    while let Some(x) = it.next() {
        let mut num = |name: &str| -> Result<f64, String> {
            it.next()
                .and_then(|v| v.to_str().and_then(|s| s.parse().ok()))
                .filter(|v: &f64| v.is_finite() && *v > 0.0)
                .ok_or_else(|| format!("{name} needs a positive number"))
        };
        match x.to_str() {
            Some("--seconds") => a.seconds = num("--seconds")?,
            Some("--speed") => a.speed = num("--speed")?,
            Some("--block") => a.block = (num("--block")? as usize).clamp(1, 8192),
            Some("--instances") => a.instances = (num("--instances")? as usize).clamp(1, 64),
            Some("--out") => a.out = it.next().map(PathBuf::from),
            _ => pos.push(PathBuf::from(x)),
        }
    }
    let [clap, clip] = &pos[..] else {
        return Err(
            "usage: host PATH/TO/mstag.clap CLIP [--seconds S] [--speed X] [--block N] \
                    [--instances N] [--out FILE]"
                .into(),
        );
    };
    a.clap = clap.clone();
    a.clip = clip.clone();
    Ok(a)
}

/// A field of /proc/self/status, kB.
fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The clip as 48 kHz stereo (mono duplicated; more channels: the first two).
fn stereo_48k(clip: &std::path::Path) -> Result<(Vec<f32>, Vec<f32>), String> {
    let (samples, sr, ch) =
        mstag::decode::decode_all(clip).map_err(|e| format!("{}: {e}", clip.display()))?;
    let mut sides = [Vec::new(), Vec::new()];
    for (c, side) in sides.iter_mut().enumerate() {
        let c = c.min(ch - 1);
        let x: Vec<f32> = samples.iter().skip(c).step_by(ch).copied().collect();
        let mut r = mstag::dsp::StreamResampler::new(sr, RATE).map_err(|e| e.to_string())?;
        r.push(&x, side).map_err(|e| e.to_string())?;
        r.finish(side).map_err(|e| e.to_string())?;
    }
    let [l, r] = sides;
    if l.is_empty() {
        return Err(format!("{}: no audio", clip.display()));
    }
    Ok((l, r))
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1e3
}

fn main() {
    if let Err(e) = run() {
        eprintln!("host: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let a = args()?;
    let (left, right) = stereo_48k(&a.clip)?;
    let blocks = (a.seconds * RATE as f64 / a.block as f64).ceil() as usize;
    let mut took = Vec::with_capacity(blocks * a.instances);
    let rss_host = status_kb("VmRSS:");

    let (entry, id, name) = clap_host::load(&a.clap)?;
    let host = clap_host::host_info("mstag-bench-host");
    let config = PluginAudioConfiguration {
        sample_rate: RATE as f64,
        min_frames_count: 1,
        max_frames_count: a.block as u32,
    };
    let mut instances = Vec::new();
    let mut processors = Vec::new();
    for _ in 0..a.instances {
        let mut instance = PluginInstance::<()>::new(|_| (), |_| (), &entry, &id, &host)
            .map_err(|e| format!("{name}: cannot create an instance: {e}"))?;
        let stopped = instance
            .activate(|_, _| (), config)
            .map_err(|e| format!("{name}: cannot activate: {e}"))?;
        processors.push(
            stopped
                .start_processing()
                .map_err(|e| format!("{name}: cannot start processing: {e}"))?,
        );
        instances.push(instance);
    }
    let rss_loaded = status_kb("VmRSS:");

    let mut player = clap_host::Player::new(a.block);
    let started = Instant::now();
    let mut pos = 0usize;
    for k in 0..blocks {
        let at = pos % left.len();
        let n = a.block.min(left.len() - at);
        for p in processors.iter_mut() {
            let t0 = Instant::now();
            player
                .process(
                    p,
                    &left[at..at + n],
                    &right[at..at + n],
                    (k * a.block) as u64,
                )
                .map_err(|e| format!("process: {e}"))?;
            took.push((t0.elapsed()).as_nanos() as u64);
        }
        pos += n;
        let due = pos as f64 / RATE as f64 / a.speed;
        let ahead = due - started.elapsed().as_secs_f64();
        if ahead > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(ahead));
        }
    }
    let played_s = pos as f64 / RATE as f64;
    // Let the inference threads catch up before reading the memory.
    std::thread::sleep(Duration::from_millis(500));
    let rss_running = status_kb("VmRSS:");
    let rss_peak = status_kb("VmHWM:");
    for (mut instance, p) in instances.into_iter().zip(processors) {
        instance.deactivate(p.stop_processing());
    }

    took.sort_unstable();
    let mut r = String::new();
    let _ = writeln!(r, "plugin.name={name}");
    let _ = writeln!(r, "plugin.instances={}", a.instances);
    let _ = writeln!(r, "host.rate={RATE}");
    let _ = writeln!(r, "host.block={}", a.block);
    let _ = writeln!(r, "host.speed={}", a.speed);
    let _ = writeln!(r, "host.played_s={played_s:.3}");
    let _ = writeln!(r, "rss.host_kb={rss_host}");
    let _ = writeln!(r, "rss.plugin_loaded_kb={rss_loaded}");
    let _ = writeln!(r, "rss.plugin_running_kb={rss_running}");
    let _ = writeln!(r, "rss.peak_kb={rss_peak}");
    let _ = writeln!(r, "process.calls={}", took.len());
    for (k, p) in [
        ("median", 50.0),
        ("p99", 99.0),
        ("p99.9", 99.9),
        ("p99.99", 99.99),
    ] {
        let _ = writeln!(r, "process.{k}_us={:.3}", pct(&took, p));
    }
    let _ = writeln!(r, "process.max_us={:.3}", pct(&took, 100.0));
    print!("{r}");
    if let Some(out) = &a.out {
        std::fs::write(out, &r).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    Ok(())
}
