//! "The physical limit" (work per second of audio against the machine's multiply rate) and
//! "Machine and commands" of the generated block.

use super::super::parse::{num, Kv};
use super::super::Measurements;
use super::{cells, fmt_ns, times, Table};

/// The work per second of audio from the latency report's `flops.*`, MACs.
struct Work {
    /// The three CNNs, per second of audio.
    cnn: f64,
    /// The classifier, live (3 vectors per update), per second.
    live_cls: f64,
    /// The resampler (48 kHz to 22.05 kHz), per second.
    res: f64,
    /// The log-mel front end, per second.
    mel: f64,
}

/// The work table: each CNN, the classifier, the front end and the resampler.
fn work_table(lat: &Kv) -> (Work, Table) {
    let mut t = Table::new(&[
        "part",
        "MACs per segment",
        "segments / s",
        "MFLOP per s of audio",
    ]);
    for s in ["s18", "s27", "s54"] {
        let m = num(lat, &format!("flops.{s}.macs_per_segment"));
        let n = num(lat, &format!("flops.{s}.segments_per_s"));
        let mflop = 2.0 * m * n / 1e6;
        t.row(vec![
            format!("CNN {s}"),
            format!("{:.2} M", m / 1e6),
            format!("{n:.3}"),
            format!("{mflop:.2}"),
        ]);
    }
    let cnn = num(lat, "flops.cnn_macs_per_s_audio");
    let cls = num(lat, "flops.classifier_macs_per_call");
    let upd_per_s = num(lat, "live.updates") / num(lat, "live.seconds");
    let w = Work {
        cnn,
        live_cls: 3.0 * cls * upd_per_s,
        res: num(lat, "flops.resampler_macs_per_s_audio_est"),
        mel: num(lat, "flops.mel_macs_per_s_audio_est"),
    };
    t.row(cells([
        "CNNs together",
        "",
        "",
        &format!("**{:.2}**", 2.0 * cnn / 1e6),
    ]));
    t.row(vec![
        "classifier (offline: once per file; live: 3 vectors per update)".into(),
        format!("{:.3} M per vector", cls / 1e6),
        format!("{upd_per_s:.2} updates (measured)"),
        format!("{:.2} (live)", 2.0 * w.live_cls / 1e6),
    ]);
    let mel = format!("{:.2}", 2.0 * w.mel / 1e6);
    t.row(cells([
        "log-mel (FFT 1024 + filterbank, estimate)",
        "",
        "43.07 frames",
        &mel,
    ]));
    let res_what = "resampler 48 kHz → 22.05 kHz (rubato sinc 128, nearest of 512 phases: \
                    128 MACs per output sample, estimate)";
    t.row(cells([
        res_what,
        "",
        "",
        &format!("{:.2}", 2.0 * w.res / 1e6),
    ]));
    (w, t)
}

/// The measured multiply rates: numpy's float32 matmul on one core, a plain Rust loop.
fn rates(m: &Measurements) -> (f64, String) {
    let np = |key: &str| m.mm.as_ref().map_or(f64::NAN, |k| num(k, key));
    let (np1024, np256) = (np("sgemm_1024_gflops"), np("sgemm_256_gflops"));
    let np1 = np1024.max(np256);
    let blas = m.mm.as_ref().and_then(|k| k.get("blas").cloned());
    let blas = blas.unwrap_or_else(|| "(not measured: no venv)".into());
    let numpy = format!(
        "Measured single-core multiply rate: numpy {blas} float32 matmul (`taskset -c 0`, one BLAS thread) \
         {np1024:.1} GFLOP/s at 1024², {np256:.1} GFLOP/s at 256² "
    );
    let rust = format!(
        "(the better one, **{np1:.1} GFLOP/s**, is the rate used below); a plain Rust i-k-j loop \
         (baseline x86-64 target, SSE2) {:.1} GFLOP/s.\n\n",
        num(&m.lat, "matmul.rust_naive_gflops")
    );
    (np1, numpy + &rust)
}

/// A row of the floor table: what, its time per second of audio (ns), times real time, and
/// the rate it achieves.
fn time_row(what: &str, ns: f64, rate: String) -> Vec<String> {
    vec![what.to_string(), fmt_ns(ns), times(1e9 / ns), rate]
}

/// "The physical limit": the work per second of audio, and the time it takes at the numpy
/// rate against the measured stages and live path.
pub(super) fn floor(m: &Measurements) -> String {
    let lat = &m.lat;
    let stage = |id: &str| {
        m.stages
            .iter()
            .find(|s| s.id == id)
            .map_or(f64::NAN, |s| s.median_ns)
    };
    let (w, work) = work_table(lat);
    let (np1, rates) = rates(m);
    let mut t = Table::new(&[
        "",
        "time per second of audio",
        "x real time",
        "achieved GFLOP/s",
    ]);
    let floor_cnn = 2.0 * w.cnn / (np1 * 1e9);
    t.row(cells([
        "CNN floor at the numpy rate",
        &fmt_ns(floor_cnn * 1e9),
        &times(1.0 / floor_cnn),
        &format!("{np1:.1}"),
    ]));
    let cnn_time = stage("model/cnn_s18/segment_batch1") * num(lat, "flops.s18.segments_per_s")
        + stage("model/cnn_s27/segment_batch1") * num(lat, "flops.s27.segments_per_s")
        + stage("model/cnn_s54/segment_batch1") * num(lat, "flops.s54.segments_per_s");
    let cnn_rate = format!("{:.2}", 2.0 * w.cnn / cnn_time);
    t.row(time_row(
        "CNNs measured (criterion, batch 1, one thread)",
        cnn_time,
        cnn_rate,
    ));
    let rs = stage("dsp/resample_48k_to_22k/1s_audio");
    t.row(time_row(
        "resampler measured",
        rs,
        format!("{:.2}", 2.0 * w.res / rs),
    ));
    // Per second of audio: the live path's flops, its floor at the numpy rate, and the
    // measured live path, at the model rate and from a 48 kHz stereo device.
    let base = w.cnn + w.mel + w.live_cls;
    for (input, parts, flops, measured) in [
        (
            "22.05 kHz mono",
            "CNNs + mel + classifier",
            2.0 * base,
            stage("live_path/22k_mono/1s_audio"),
        ),
        (
            "48 kHz stereo",
            "the same + the resampler",
            2.0 * (base + w.res),
            stage("live_path/48k_stereo/1s_audio"),
        ),
    ] {
        let floor = flops / np1;
        let what = format!("live path floor, {input}: {parts} at the numpy rate");
        t.row(time_row(&what, floor, format!("{np1:.1}")));
        let achieved = format!(
            "{:.2} ({:.0}% of the floor's speed)",
            flops / measured,
            100.0 * floor / measured
        );
        let what = format!("whole live path measured, {input} (criterion)");
        t.row(time_row(&what, measured, achieved));
    }
    let intro = concat!(
        "Work per second of audio, from `models/manifest.json` (Conv1D over time with 'same' padding: ",
        "frames × kernel × inputs × filters per layer, then the pools; 1 MAC = 2 flops):\n\n"
    );
    format!(
        "### The physical limit\n\n{intro}{}\n{rates}{}\n",
        work.markdown(),
        t.markdown()
    )
}

/// "Machine and commands": the machine table and the commands behind each section.
pub(super) fn machine(m: &Measurements) -> String {
    let mut t = Table::new(&["", ""]);
    for (k, v) in &m.machine {
        t.row(vec![k.clone(), v.clone()]);
    }
    t.row(cells(["date", &m.date]));
    t.row(cells([
        "load average at start / end",
        &format!("{} / {}", m.load_start, m.load_end),
    ]));
    let o = &m.opts;
    let commands = [
        format!("cargo xtask bench {}                # all of the above; raw outputs in target/bench/", m.args.join(" ")),
        "taskset -c 0 target/release/mstag tag -q --format json --jobs 1 FILES...   # offline, one core".into(),
        "target/release/mstag tag -q --format json --jobs 0 FILES...                 # offline, all cores".into(),
        "taskset -c 0 models/train/.venv/bin/python models/train/peer_bench.py musicnn --threads 1 FILES...".into(),
        "models/train/.venv/bin/python models/train/peer_bench.py musicnn --threads 0 FILES...".into(),
        format!("python3 models/train/peer_bench.py measure --mark 5 -- target/release/mstag-live --input FILE --duration {}", o.live_s),
        format!("cargo bench --bench latency -- --seconds {} --callback-calls 1000000 --flops --input FILE...", o.latency_s),
        "cargo bench --bench stages".into(),
        "cargo bench --bench options".into(),
    ];
    format!(
        "### Machine and commands\n\n{}\n```sh\n{}\n```\n",
        t.markdown(),
        commands.join("\n")
    )
}
