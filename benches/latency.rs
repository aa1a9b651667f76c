//! Real-time harness (no criterion): `cargo bench --bench latency -- [options]`.
//!
//! 1. **Publish latency.** A producer thread plays audio into the ring at real-time pace in
//!    512-frame device callbacks (`capture_callback`, as cpal would) and stamps the moment
//!    each callback returns. The live [`Engine`] (default config, as `mstag-live` runs it)
//!    analyses the ring; this thread receives every update from [`Engine::updates`] and
//!    stamps its arrival. A silent pre-pass through the same [`FeaturePipeline`] tells,
//!    for every segment, which callback delivered its last sample; the segment's latency is
//!    then `arrival of the first update that includes it − return of that callback`.
//!    Segments completed in the first 2 s (warm-up) are left out.
//! 2. **Audio-callback duration.** Every callback of that run is timed (in situ, with the
//!    engine working on the other core), and `--callback-calls` more are timed back to back
//!    into a ring with room, for f32 and i16 stereo: median, p99, p99.9, p99.99 and max.
//! 3. **The platform's own stalls.** `--platform-seconds S`: a thread at the same priority
//!    spins reading the clock for S seconds and counts the gaps (the times the machine did not
//!    run it), with how much of each gap the kernel charged to it as CPU time. On a virtual
//!    machine these set the floor under any worst-case duration measured here.
//! 4. **The floor.** `--flops`: the models' multiply-accumulates per second of audio, from the
//!    manifest (conv widths, kernel, pools; the classifier), and the single-thread rate of a
//!    plain Rust f32 matrix multiply.
//!
//! Options: `--seconds S` (real-time run length, default 20; 0 skips it), `--input FILE`
//! (repeatable, concatenated and looped; default: the demo clip resampled to 48 kHz stereo),
//! `--poll-ms MS` (the engine's poll interval; default `EngineConfig::default()`'s),
//! `--wake poll|scheduled` (look every poll, or sleep until a segment is nearly due; default
//! `EngineConfig::default()`'s),
//! `--callback-calls N` (default 200000), `--platform-seconds S` (default 0: skipped),
//! `--rt` (time those callbacks at real-time priority, SCHED_FIFO via `chrt`, as an audio
//! thread runs), `--rt-producer` (the same for the real-time run's producer thread),
//! `--flops`, `--out FILE` (results as `key=value` lines, for `cargo xtask bench`). Prints
//! the same lines either way.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use mstag::capture::{capture_callback, CaptureSample};
use mstag::engine::{Engine, EngineConfig, Scores, Wake};
use mstag::stream::ring;

use common::{as_device, demo, load, load_models, manifest_path, pipeline_for, Audio};

const CALLBACK_FRAMES: usize = 512;
const WARM_UP_S: f64 = 2.0;
/// Latencies above this are checked against stalls of the producer thread.
const OUTLIER_S: f64 = 0.020;
/// The producer woke this much later than due: the machine did not run it.
const STALL_S: f64 = 0.005;

struct Args {
    seconds: f64,
    inputs: Vec<PathBuf>,
    callback_calls: usize,
    flops: bool,
    out: Option<PathBuf>,
    /// Engine poll interval (default: `EngineConfig::default()`'s).
    poll_ms: Option<f64>,
    /// Run the back-to-back callback timing at real-time priority (SCHED_FIFO 20, via chrt).
    rt: bool,
    /// Run the real-time run's producer (the "audio thread") at SCHED_FIFO 20, as audio
    /// servers and hosts run their audio threads.
    rt_producer: bool,
    /// Seconds of the platform-stall probe (0: skipped).
    platform_seconds: f64,
    /// The engine's wake-up strategy: `None` = `EngineConfig::default()`'s, `Some(false)` =
    /// `Wake::Poll` (a look every `poll`), `Some(true)` = `Wake::Scheduled`.
    scheduled: Option<bool>,
}

fn args() -> Args {
    let mut a = Args {
        seconds: 20.0,
        inputs: Vec::new(),
        callback_calls: 200_000,
        flops: false,
        out: None,
        poll_ms: None,
        rt: false,
        rt_producer: false,
        scheduled: None,
        platform_seconds: 0.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        let mut val = |name: &str| it.next().unwrap_or_else(|| panic!("{name} needs a value"));
        match x.as_str() {
            "--seconds" => a.seconds = val("--seconds").parse().expect("--seconds S"),
            "--input" => a.inputs.push(PathBuf::from(val("--input"))),
            "--callback-calls" => {
                a.callback_calls = val("--callback-calls").parse().expect("--callback-calls N")
            }
            "--flops" => a.flops = true,
            "--rt" => a.rt = true,
            "--rt-producer" => a.rt_producer = true,
            "--wake" => {
                a.scheduled = Some(match val("--wake").as_str() {
                    "poll" => false,
                    "scheduled" => true,
                    other => panic!("--wake poll|scheduled, not {other}"),
                })
            }
            "--platform-seconds" => {
                a.platform_seconds = val("--platform-seconds")
                    .parse()
                    .expect("--platform-seconds S")
            }
            "--poll-ms" => a.poll_ms = Some(val("--poll-ms").parse().expect("--poll-ms MS")),
            "--out" => a.out = Some(PathBuf::from(val("--out"))),
            // `cargo bench` passes --bench (and filters); nothing else to do with them.
            _ => {}
        }
    }
    a
}

/// Results, printed and written as `key=value` lines.
#[derive(Default)]
struct Report(BTreeMap<String, String>);

impl Report {
    fn set(&mut self, k: &str, v: impl ToString) {
        self.0.insert(k.to_string(), v.to_string());
    }
    fn text(&self) -> String {
        let mut s = String::new();
        for (k, v) in &self.0 {
            let _ = writeln!(s, "{k}={v}");
        }
        s
    }
}

/// Sorted-sample percentile (nearest rank).
fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(rep: &mut Report, key: &str, mut v: Vec<f64>, scale: f64, unit: &str) {
    v.sort_by(f64::total_cmp);
    rep.set(&format!("{key}.n"), v.len());
    for (name, p) in [
        ("median", 50.0),
        ("p90", 90.0),
        ("p99", 99.0),
        ("p99.9", 99.9),
        ("p99.99", 99.99),
    ] {
        rep.set(&format!("{key}.{name}_{unit}"), fmt(pct(&v, p) * scale));
    }
    rep.set(
        &format!("{key}.max_{unit}"),
        fmt(v.last().copied().unwrap_or(f64::NAN) * scale),
    );
    for over_us in [20, 50] {
        let n = v.iter().filter(|&&x| x * 1e6 > over_us as f64).count();
        rep.set(&format!("{key}.over_{over_us}us"), n);
    }
    let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
    rep.set(&format!("{key}.mean_{unit}"), fmt(mean * scale));
}

fn fmt(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.1}")
    } else if x.abs() >= 1.0 {
        format!("{x:.3}")
    } else {
        format!("{x:.4}")
    }
}

fn input_audio(a: &Args) -> (Audio, String) {
    if a.inputs.is_empty() {
        return (
            as_device(&demo(), 48_000, 2),
            "models/demo/demo.wav resampled to 48 kHz stereo".into(),
        );
    }
    let mut all: Option<Audio> = None;
    for p in &a.inputs {
        let x = load(p);
        match all.as_mut() {
            None => all = Some(x),
            Some(acc) => {
                assert!(
                    acc.rate == x.rate && acc.channels == x.channels,
                    "all --input files need the same rate and channels"
                );
                acc.samples.extend_from_slice(&x.samples);
            }
        }
    }
    let all = all.expect("an input");
    let desc = format!("{} file(s), {:.1} s", a.inputs.len(), all.seconds());
    (all, desc)
}

/// For every segment, in order, the input frames it depends on: the count of input frames up
/// to and including the last audio sample its last mel frame reads. Found with a pipeline at
/// the models' rate (no resampler: exact), whose sample counts are converted to the input
/// rate. The latency measured from the callback that pushed that frame includes what the
/// resampler holds back (its chunking and its filter delay), as a listener would see it.
fn segment_audio_ends(audio: &Audio, seconds: f64) -> Vec<u64> {
    let set = load_models();
    let sr = set.manifest.sample_rate;
    let mut p = mstag::engine::FeaturePipeline::new(
        &set.manifest,
        set.scales,
        sr,
        1,
        mstag::engine::PipelineConfig::default(),
    )
    .expect("pipeline");
    // Not silent (the silence gate must not matter), and the same numbers every run.
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut noise = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
            })
            .collect()
    };
    let model_total = (seconds * sr as f64).ceil() as u64;
    let mut pushed = 0u64;
    let mut ends = Vec::new();
    while pushed < model_total {
        let n = p.input_frames_until_next_segment().max(1);
        let before = p.segments();
        p.push(&noise(n as usize)).expect("push");
        pushed += n;
        for _ in before..p.segments() {
            ends.push((pushed as f64 * audio.rate as f64 / sr as f64).ceil() as u64);
        }
    }
    ends
}

/// The cumulative segment count after each callback-sized block, from the same pipeline the
/// engine runs (segment boundaries depend only on the sample count, not on how it is cut).
fn segment_schedule(audio: &Audio, blocks: usize) -> Vec<u64> {
    let (mut p, _) = pipeline_for(audio);
    let ch = audio.channels;
    let total = audio.frames();
    let mut cum = Vec::with_capacity(blocks);
    for k in 0..blocks {
        let start = (k * CALLBACK_FRAMES) % total;
        let n = CALLBACK_FRAMES.min(total - start);
        p.push(&audio.samples[start * ch..(start + n) * ch])
            .expect("push");
        if n < CALLBACK_FRAMES {
            let rest = CALLBACK_FRAMES - n;
            p.push(&audio.samples[..rest * ch]).expect("push");
        }
        cum.push(p.segments());
    }
    cum
}

/// One device buffer per block, wrapping around the end of the audio.
fn block_of(audio: &Audio, k: usize, buf: &mut Vec<f32>) {
    let ch = audio.channels;
    let total = audio.frames();
    buf.clear();
    let start = (k * CALLBACK_FRAMES) % total;
    let n = CALLBACK_FRAMES.min(total - start);
    buf.extend_from_slice(&audio.samples[start * ch..(start + n) * ch]);
    if n < CALLBACK_FRAMES {
        buf.extend_from_slice(&audio.samples[..(CALLBACK_FRAMES - n) * ch]);
    }
}

fn live_run(a: &Args, rep: &mut Report) {
    let (audio, desc) = input_audio(a);
    let rate = audio.rate;
    let blocks = ((a.seconds * rate as f64) / CALLBACK_FRAMES as f64).ceil() as usize;
    rep.set("live.input", &desc);
    rep.set("live.rate", rate);
    rep.set("live.channels", audio.channels);
    rep.set("live.seconds", a.seconds);
    eprintln!(
        "latency: {desc}; {:.0} s real time in {blocks} callbacks of {CALLBACK_FRAMES} frames at {rate} Hz",
        a.seconds
    );
    let cum = segment_schedule(&audio, blocks);
    let audio_ends = segment_audio_ends(&audio, a.seconds);

    // The same ring size as mstag-live's default (--ring 4).
    let (mut prod, cons) = ring(audio.channels, 4 * rate as usize);
    let ring_samples = 4 * rate as usize * audio.channels;
    let models = load_models();
    let mut cfg = EngineConfig::default();
    if let Some(ms) = a.poll_ms {
        cfg.poll = Duration::from_secs_f64(ms / 1e3);
    }
    rep.set("live.poll_ms", fmt(cfg.poll.as_secs_f64() * 1e3));
    match a.scheduled {
        Some(false) => cfg.wake = Wake::Poll,
        Some(true) if cfg.wake == Wake::Poll => {
            cfg.wake = Wake::Scheduled {
                early: Duration::from_millis(2),
            }
        }
        _ => {}
    }
    rep.set(
        "live.wake",
        match cfg.wake {
            Wake::Poll => "poll".to_string(),
            Wake::Scheduled { early } => {
                format!("scheduled (early {} ms)", fmt(early.as_secs_f64() * 1e3))
            }
        },
    );
    rep.set("live.engine", "Engine");
    let engine = Engine::builder(models, cons, rate)
        .config(cfg)
        .updates(4096)
        .start()
        .expect("engine");
    let updates: Receiver<Scores> = engine.updates().expect("updates channel").clone();
    let engine_tid = thread_named("mstag-inference");
    let audio = Arc::new(audio);
    // The in-situ controls: half-way between callbacks the producer also wakes and times, in
    // turn, (a) a register-only spin as long as the median callback of the warm-up (60 ns, a
    // warm callback, until the warm-up ends: a stall that lands at random hits a timed region
    // in proportion to its length, so only an equally long control compares), and (b) a copy
    // of the callback's block into a private buffer of the ring's size, at the next offset
    // each time: the callback's memory writes without the ring (no atomics, no line shared
    // with the consumer). Outliers that (b) shows as often as the callback are the machine's
    // handling of memory writes, not the ring's.
    let spin_s = spin_seconds_per_iter();
    let warm_blocks = ((WARM_UP_S * rate as f64) / CALLBACK_FRAMES as f64) as usize;
    let half_period = Duration::from_secs_f64(CALLBACK_FRAMES as f64 / audio.rate as f64 / 2.0);
    let base = Instant::now() + Duration::from_millis(200);
    let rt_producer = a.rt_producer;
    let (rt_tx, rt_rx) = crossbeam_channel::bounded(1);
    let producer = {
        let audio = audio.clone();
        std::thread::Builder::new()
            .name("bench-audio-callback".into())
            .spawn(move || {
                let _ = rt_tx.send(rt_producer && make_realtime());
                // Everything that allocates happens before the first callback.
                let mut pushed_at = vec![0u64; blocks];
                let mut took = vec![0u64; blocks];
                let mut late = vec![0u64; blocks];
                let mut ctl = vec![0u64; blocks];
                let mut buf = Vec::with_capacity(CALLBACK_FRAMES * audio.channels);
                let mut warm_sorted = vec![0u64; warm_blocks.min(blocks)];
                // Non-zero, so every page is written (mapped) here, not in the timed copies.
                let mut private = vec![1.0f32; ring_samples + CALLBACK_FRAMES * audio.channels];
                let mut ctl_iters = ((60e-9 / spin_s) as u64).max(1);
                for k in 0..blocks {
                    if k == warm_blocks && k > 0 {
                        warm_sorted.copy_from_slice(&took[..k]);
                        warm_sorted.sort_unstable();
                        let median_s = warm_sorted[k / 2] as f64 * 1e-9;
                        ctl_iters = ((median_s / spin_s) as u64).max(1);
                    }
                    block_of(&audio, k, &mut buf);
                    let due = base
                        + Duration::from_secs_f64(
                            ((k + 1) * CALLBACK_FRAMES) as f64 / audio.rate as f64,
                        );
                    let now = Instant::now();
                    if due > now + half_period {
                        std::thread::sleep(due - half_period - now);
                        if k % 2 == 0 {
                            let c0 = Instant::now();
                            black_box(spin(ctl_iters));
                            ctl[k] = c0.elapsed().as_nanos() as u64;
                        } else {
                            let n = buf.len();
                            let at = (k / 2 * n) % ring_samples;
                            let c0 = Instant::now();
                            private[at..at + n].copy_from_slice(black_box(&buf));
                            black_box(&private[at]);
                            ctl[k] = c0.elapsed().as_nanos() as u64;
                        }
                    }
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    let t0 = Instant::now();
                    black_box(capture_callback(&mut prod, &buf));
                    let t1 = Instant::now();
                    pushed_at[k] = (t1 - base).as_nanos() as u64;
                    took[k] = (t1 - t0).as_nanos() as u64;
                    late[k] = t0.saturating_duration_since(due).as_nanos() as u64;
                }
                let ctl_s = ctl_iters as f64 * spin_s;
                (
                    pushed_at,
                    took,
                    late,
                    ctl,
                    ctl_s,
                    prod.stats().dropped_frames(),
                )
            })
            .expect("producer thread")
    };
    // (arrival ns since base, segments included)
    let mut arrivals: Vec<(u64, u64)> = Vec::with_capacity(blocks);
    // CPU time of the inference thread from the warm-up's end to the last sample pushed.
    let mut cpu_first: Option<(Instant, (u64, u64))> = None;
    let mut cpu_last: Option<(Instant, (u64, u64))> = None;
    let end = base + Duration::from_secs_f64(a.seconds);
    while let Ok(s) = updates.recv() {
        let now = Instant::now();
        arrivals.push((
            now.saturating_duration_since(base).as_nanos() as u64,
            s.segments,
        ));
        if now < end && now.saturating_duration_since(base).as_secs_f64() >= WARM_UP_S {
            if let Some(ns) = engine_tid.and_then(thread_sched_ns) {
                if cpu_first.is_none() {
                    cpu_first = Some((now, ns));
                } else {
                    cpu_last = Some((now, ns));
                }
            }
        }
    }
    if let (Some((t0, (c0, w0))), Some((t1, (c1, w1)))) = (cpu_first, cpu_last) {
        let span = (t1 - t0).as_secs_f64();
        rep.set(
            "live.inference_thread_cpu_pct",
            fmt(100.0 * (c1 - c0) as f64 * 1e-9 / span),
        );
        // Time the thread was runnable but waiting for a CPU (other jobs on the machine).
        rep.set(
            "live.inference_thread_runqueue_wait_pct",
            fmt(100.0 * (w1 - w0) as f64 * 1e-9 / span),
        );
    }
    let (pushed_at, took, late, ctl, ctl_s, dropped) = producer.join().expect("producer");
    rep.set(
        "live.producer_realtime_priority",
        rt_rx.try_recv().unwrap_or(false),
    );
    drop(updates);
    let summary = engine.join().expect("engine summary");
    let (skipped, publish_latency) = (summary.skipped_updates, summary.publish_latency_s);

    // Per segment: the callback that delivered its last sample, and the first update with it.
    // `lat` runs from the callback that pushed the segment's last audio sample (what a
    // listener waits); `lat_released` from the callback after which the pipeline could
    // complete it (the resampler's chunking and delay left out).
    let mut lat = Vec::new();
    let mut lat_released = Vec::new();
    let mut u = 0usize;
    let mut k = 0usize;
    let total_segments = *cum.last().unwrap_or(&0);
    let mut missing = 0u64;
    let (mut outliers, mut outliers_in_stalls) = (0u64, 0u64);
    for s in 1..=total_segments {
        while cum[k] < s {
            k += 1;
        }
        while u < arrivals.len() && arrivals[u].1 < s {
            u += 1;
        }
        if u == arrivals.len() {
            missing += 1;
            continue;
        }
        let t_last_sample = ((k + 1) * CALLBACK_FRAMES) as f64 / rate as f64;
        if t_last_sample < WARM_UP_S {
            continue;
        }
        let released = (arrivals[u].0 as f64 - pushed_at[k] as f64) * 1e-9;
        lat_released.push(released);
        let k_audio = audio_ends
            .get(s as usize - 1)
            .map_or(k, |&end| {
                (end.div_ceil(CALLBACK_FRAMES as u64) as usize).saturating_sub(1)
            })
            .min(k);
        let l = (arrivals[u].0 as f64 - pushed_at[k_audio] as f64) * 1e-9;
        if l > OUTLIER_S {
            // Was the producer thread (which only sleeps and copies) also held up in that
            // interval? Then the whole machine stalled, not the engine.
            let t_end = arrivals[u].0;
            let stalled = (k + 1..blocks)
                .take_while(|&j| pushed_at[j] <= t_end + 50_000_000)
                .any(|j| late[j] as f64 * 1e-9 > STALL_S);
            outliers += 1;
            if stalled {
                outliers_in_stalls += 1;
            }
        }
        lat.push(l);
    }
    rep.set("live.latency_outliers_over_20ms", outliers);
    rep.set(
        "live.latency_outliers_while_producer_stalled",
        outliers_in_stalls,
    );
    summary_into(
        rep,
        "producer_lateness",
        late.iter().map(|&n| n as f64 * 1e-9).collect(),
        1e3,
        "ms",
    );
    rep.set("live.segments_measured", lat.len());
    rep.set("live.segments_unpublished", missing);
    rep.set("live.updates", arrivals.len());
    rep.set("live.dropped_frames", dropped);
    rep.set("live.skipped_updates", skipped);
    summary_into(rep, "latency_push_to_update", lat, 1e3, "ms");
    summary_into(rep, "latency_released_to_update", lat_released, 1e3, "ms");
    summary_into(
        rep,
        "latency_engine_pop_to_publish",
        publish_latency,
        1e3,
        "ms",
    );
    // All after the warm-up, when the spin has the callback's length; the controls take
    // turns (spin on even callbacks, copy on odd ones).
    let after_warm_up = |v: &[u64], parity: Option<usize>| -> Vec<f64> {
        (warm_blocks..v.len())
            .filter(|k| parity.is_none_or(|p| k % 2 == p))
            .map(|k| v[k] as f64 * 1e-9)
            .collect()
    };
    summary_into(
        rep,
        "callback_in_situ_f32",
        after_warm_up(&took, None),
        1e6,
        "us",
    );
    rep.set("control_in_situ.spin_us", fmt(ctl_s * 1e6));
    summary_into(
        rep,
        "control_in_situ",
        after_warm_up(&ctl, Some(0)),
        1e6,
        "us",
    );
    summary_into(
        rep,
        "control_copy_in_situ",
        after_warm_up(&ctl, Some(1)),
        1e6,
        "us",
    );
}

fn summary_into(rep: &mut Report, key: &str, v: Vec<f64>, scale: f64, unit: &str) {
    summary(rep, key, v, scale, unit)
}

/// The id of this process's thread with that name (`/proc/self/task/*/comm`).
fn thread_named(name: &str) -> Option<u32> {
    for _ in 0..100 {
        if let Ok(rd) = std::fs::read_dir("/proc/self/task") {
            for e in rd.flatten() {
                let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
                if comm.trim() == name {
                    return e.file_name().to_str().and_then(|s| s.parse().ok());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// CPU time and run-queue wait of a thread of this process, ns (`schedstat`).
fn thread_sched_ns(tid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    let mut it = text.split_whitespace().map(|x| x.parse::<u64>().ok());
    Some((it.next()??, it.next()??))
}

/// Puts the calling thread at real-time priority (SCHED_FIFO 20) with `chrt`, as an audio
/// thread would run; false where that is not possible.
fn make_realtime() -> bool {
    let Ok(link) = std::fs::read_link("/proc/thread-self") else {
        return false;
    };
    let Some(tid) = link
        .file_name()
        .and_then(|s| s.to_str())
        .map(str::to_string)
    else {
        return false;
    };
    std::process::Command::new("chrt")
        .args(["-f", "-p", "20", &tid])
        .status()
        .is_ok_and(|s| s.success())
}

/// Times `calls` callbacks one by one into a ring with room (drained, untimed, after each).
fn callback_loop<T: CaptureSample>(data: &[T], calls: usize) -> Vec<f64> {
    let (mut prod, mut cons) = ring(2, CALLBACK_FRAMES * 8);
    let mut sink = vec![0.0f32; CALLBACK_FRAMES * 8 * 2];
    let mut took = vec![0.0f64; calls];
    for (k, t) in took.iter_mut().enumerate() {
        breather(k);
        let t0 = Instant::now();
        black_box(capture_callback(&mut prod, black_box(data)));
        *t = t0.elapsed().as_nanos() as f64 * 1e-9;
        cons.pop_frames(&mut sink);
    }
    took
}

/// The cost of reading the clock twice, which every timed callback includes.
fn clock_overhead() -> f64 {
    let n = 100_000;
    let mut v: Vec<f64> = (0..n)
        .map(|_| {
            let t0 = Instant::now();
            t0.elapsed().as_nanos() as f64
        })
        .collect();
    v.sort_by(f64::total_cmp);
    pct(&v, 50.0)
}

fn callbacks(a: &Args, rep: &mut Report) {
    let dev = as_device(&demo(), 48_000, 2);
    let f32s: Vec<f32> = dev.samples[96_000..96_000 + CALLBACK_FRAMES * 2].to_vec();
    let i16s: Vec<i16> = f32s
        .iter()
        .map(|&s| (s * 32_767.0).round().clamp(-32_768.0, 32_767.0) as i16)
        .collect();
    if a.rt {
        rep.set("callback.realtime_priority", make_realtime());
    }
    rep.set("callback.clock_overhead_ns", fmt(clock_overhead()));
    rep.set("callback.calls", a.callback_calls);
    let f = callback_loop(&f32s, a.callback_calls);
    summary(rep, "callback_loop_f32", f, 1e6, "us");
    let i = callback_loop(&i16s, a.callback_calls);
    let mut sorted = i.clone();
    sorted.sort_by(f64::total_cmp);
    let i16_median = pct(&sorted, 50.0);
    summary(rep, "callback_loop_i16", i, 1e6, "us");
    // Control: a timed region of the same length as the i16 callback that touches no memory
    // (a register-only spin). Its outliers are the platform's (interrupts, the hypervisor),
    // not the callback's.
    let n = ((i16_median / spin_seconds_per_iter()) as u64).max(1);
    let mut took = vec![0.0f64; a.callback_calls];
    for (k, t) in took.iter_mut().enumerate() {
        breather(k);
        let t0 = Instant::now();
        spin(n);
        *t = t0.elapsed().as_nanos() as f64 * 1e-9;
    }
    summary(rep, "callback_loop_control", took, 1e6, "us");
}

/// A real audio thread sleeps between callbacks; a back-to-back loop at SCHED_FIFO must too,
/// or the kernel's real-time throttling (95% of each second) stops it for 50 ms.
#[inline]
fn breather(k: usize) {
    if k % 10_000 == 9_999 {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Seconds per iteration of [`spin`] on this machine.
fn spin_seconds_per_iter() -> f64 {
    let t = Instant::now();
    spin(1_000_000);
    t.elapsed().as_secs_f64() / 1e6
}

/// Busy work in registers only.
#[inline(never)]
fn spin(n: u64) -> u64 {
    let mut x = 0u64;
    for i in 0..n {
        x = black_box(x.wrapping_add(i));
    }
    x
}

/// Multiply-accumulates of the models per second of audio, from the manifest.
fn flops(rep: &mut Report) {
    let text = std::fs::read_to_string(manifest_path()).expect("manifest");
    let m: serde_json::Value = serde_json::from_str(&text).expect("manifest json");
    let num = |v: &serde_json::Value| v.as_u64().expect("number") as f64;
    let sr = num(&m["sample_rate"]);
    let hop = num(&m["frontend"]["hop"]);
    let n_fft = num(&m["frontend"]["n_fft"]);
    let n_mels = num(&m["frontend"]["n_mels"]);
    let frames_per_s = sr / hop;
    let mut cnn_per_s = 0.0;
    let mut segs_per_s = 0.0;
    for s in m["scales"].as_array().expect("scales") {
        let name = s["name"].as_str().unwrap_or("?");
        let mut t = num(&s["frames"]);
        let hop_frames = num(&s["hop_frames"]);
        let k = num(&s["kernel"]);
        let widths: Vec<f64> = s["widths"]
            .as_array()
            .expect("widths")
            .iter()
            .map(num)
            .collect();
        let pools: Vec<f64> = s["pools"]
            .as_array()
            .expect("pools")
            .iter()
            .map(num)
            .collect();
        let mut c_in = n_mels;
        let mut macs = 0.0;
        for (i, &w) in widths.iter().enumerate() {
            // Conv1D over time, 'same' padding: every output step sees k × c_in inputs.
            macs += t * k * c_in * w;
            c_in = w;
            if let Some(&p) = pools.get(i) {
                t = (t / p).floor();
            }
        }
        let per_s = frames_per_s / hop_frames;
        rep.set(&format!("flops.{name}.macs_per_segment"), macs);
        rep.set(&format!("flops.{name}.segments_per_s"), fmt(per_s));
        cnn_per_s += macs * per_s;
        segs_per_s += per_s;
    }
    let c = &m["classifier"];
    let n_tags = m["tags"].as_array().map_or(50, |t| t.len()) as f64;
    let cls = num(&c["input_dim"]) * num(&c["hidden"]) + num(&c["hidden"]) * n_tags;
    // The live engine scores three views (batch 3) after every push that completed a
    // segment; offline scores once per file.
    let updates_per_s = segs_per_s; // upper bound: segments of different scales rarely coincide
    rep.set("flops.cnn_macs_per_s_audio", cnn_per_s);
    rep.set("flops.classifier_macs_per_call", cls);
    rep.set(
        "flops.live_classifier_macs_per_s_audio",
        3.0 * cls * updates_per_s,
    );
    // Front end (estimates, in MACs = flops / 2): real FFT ≈ 2.5·N·log2 N flops per frame,
    // mel ≈ 2 weights per bin; rubato's sinc resampler, the nearest of its precomputed
    // phases: sinc_len (128) MACs per output sample.
    let fft = 2.5 * n_fft * n_fft.log2() * frames_per_s / 2.0;
    let melw = 2.0 * (n_fft / 2.0 + 1.0) * frames_per_s;
    rep.set("flops.mel_macs_per_s_audio_est", fft + melw);
    rep.set("flops.resampler_macs_per_s_audio_est", 128.0 * sr);
}

/// Single-thread f32 matrix multiply in plain Rust (i-k-j loops, auto-vectorised for the
/// build's target features): GFLOP/s.
fn rust_matmul(rep: &mut Report) {
    let n = 256;
    let a: Vec<f32> = (0..n * n).map(|i| (i % 17) as f32 * 0.01).collect();
    let b: Vec<f32> = (0..n * n).map(|i| (i % 13) as f32 * 0.01).collect();
    let mut c = vec![0.0f32; n * n];
    let run = |c: &mut [f32]| {
        c.iter_mut().for_each(|x| *x = 0.0);
        for i in 0..n {
            let ci = &mut c[i * n..(i + 1) * n];
            for k in 0..n {
                let aik = a[i * n + k];
                let bk = &b[k * n..(k + 1) * n];
                for (x, &y) in ci.iter_mut().zip(bk) {
                    *x += aik * y;
                }
            }
        }
    };
    run(&mut c);
    let mut best = f64::INFINITY;
    for _ in 0..20 {
        let t = Instant::now();
        run(&mut c);
        black_box(&c);
        best = best.min(t.elapsed().as_secs_f64());
    }
    let gflops = 2.0 * (n * n * n) as f64 / best / 1e9;
    rep.set("matmul.rust_naive_gflops", fmt(gflops));
    rep.set("matmul.rust_naive_n", n);
}

/// Spins reading the clock at the audio thread's priority and records every gap over 10 µs:
/// the moments the machine did not run this thread (interrupts, the hypervisor; at SCHED_FIFO
/// no ordinary thread of the guest can take the CPU). Runs in 200 ms bursts with 20 ms rests, so
/// the kernel's real-time throttling (a 50 ms stop each second) never triggers.
fn platform_stalls(seconds: f64, rep: &mut Report) {
    let probe = std::thread::Builder::new()
        .name("bench-platform-probe".into())
        .spawn(move || {
            let realtime = make_realtime();
            let mut gaps: Vec<(u64, u64)> = Vec::with_capacity(1 << 20);
            let mut spun = 0.0f64;
            while spun < seconds {
                let burst = 0.2f64.min(seconds - spun);
                let t0 = Instant::now();
                let (mut prev, mut prev_cpu) = (t0, thread_cpu_ns());
                loop {
                    let now = Instant::now();
                    let cpu = thread_cpu_ns();
                    let gap = (now - prev).as_nanos() as u64;
                    if gap > 10_000 && gaps.len() < gaps.capacity() {
                        gaps.push((gap, cpu.saturating_sub(prev_cpu)));
                    }
                    (prev, prev_cpu) = (now, cpu);
                    if (now - t0).as_secs_f64() >= burst {
                        break;
                    }
                }
                spun += burst;
                std::thread::sleep(Duration::from_millis(20));
            }
            (realtime, gaps)
        })
        .expect("probe thread");
    let (realtime, gaps) = probe.join().expect("probe");
    rep.set("platform.seconds", seconds);
    rep.set("platform.realtime_priority", realtime);
    for over_us in [20u64, 50, 100] {
        let over: Vec<_> = gaps.iter().filter(|g| g.0 > over_us * 1_000).collect();
        let charged = over.iter().filter(|g| g.1 * 10 >= g.0 * 9).count();
        rep.set(
            &format!("platform.gaps_over_{over_us}us_per_s"),
            fmt(over.len() as f64 / seconds),
        );
        // Gaps the kernel counted as this thread running (≥ 90% of the gap as its CPU time):
        // no other thread ran, so interrupt handling (charged to the thread where the kernel
        // has no IRQ time accounting, as here) or the hypervisor.
        rep.set(
            &format!("platform.gaps_over_{over_us}us_charged_as_cpu_per_s"),
            fmt(charged as f64 / seconds),
        );
    }
    let max = gaps.iter().map(|g| g.0).max().unwrap_or(0);
    rep.set("platform.max_gap_us", fmt(max as f64 * 1e-3));
}

/// CPU time of the calling thread, ns.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn main() {
    let a = args();
    let mut rep = Report::default();
    if a.platform_seconds > 0.0 {
        platform_stalls(a.platform_seconds, &mut rep);
    }
    if a.seconds > 0.0 {
        live_run(&a, &mut rep);
    }
    if a.callback_calls > 0 {
        callbacks(&a, &mut rep);
    }
    if a.flops {
        flops(&mut rep);
        rust_matmul(&mut rep);
    }
    let text = rep.text();
    print!("{text}");
    if let Some(out) = &a.out {
        std::fs::write(out, &text).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
    }
}
