//! Measurements for the report tests, built from captured raw outputs in `testdata/` (the
//! reports `peer_bench.py` and `benches/latency.rs` write, with the values of the run behind
//! BENCHMARKS.md): a full run, and a bare one (no training cache, peer, plugin host, sweep,
//! real-time run, venv or criterion).

use std::path::PathBuf;

use super::parse::{parse_kv, CriterionResult, Kv, Timing};
use super::{AudioSet, BenchOpts, Measurements, PeerRun};

/// A captured report, `testdata/NAME.txt`.
fn kv(name: &str) -> Kv {
    let path = format!(
        "{}/src/bench/testdata/{name}.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    parse_kv(&text)
}

/// Criterion results (`id`, median ns, mean ns a line) from `testdata/criterion.tsv`.
fn criterion() -> Vec<CriterionResult> {
    include_str!("testdata/criterion.tsv")
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let n = |i: usize| f[i].parse().expect("criterion fixture number");
            CriterionResult {
                id: f[0].to_string(),
                median_ns: n(1),
                mean_ns: n(2),
            }
        })
        .collect()
}

/// A timing with these medians, best wall, peak RSS (MB) and loads.
fn timing(wall: f64, wall_min: f64, cpu: f64, rss_mb: f64, loads: &[f64]) -> Timing {
    Timing {
        wall,
        wall_min,
        cpu,
        rss_mb,
        loads: loads.to_vec(),
    }
}

/// Files under the repository's training cache.
fn cache_files(names: &[&str]) -> Vec<PathBuf> {
    let cache = crate::root().join("models/train/cache/audio");
    names.iter().map(|n| cache.join(n)).collect()
}

/// The audio sets of the full run: short set, as 48 kHz stereo, whole split.
fn full_sets() -> (AudioSet, AudioSet, AudioSet) {
    let files = cache_files(&[
        "generated/gen0001.wav",
        "hedgewars-data/main_theme.wav",
        "lmms/Oglsdl-PpTrip.wav",
        "music21/34c36ab290_bwv320.wav",
    ]);
    let set_a = AudioSet {
        name: "test split, 4 tracks".into(),
        files,
        seconds: 331.93,
        format: "22.05 kHz mono 16-bit WAV".into(),
    };
    let b_dir = crate::root().join("target/bench/audio-48k-stereo");
    let set_b = AudioSet {
        name: "test split, 4 tracks (as 48 kHz stereo)".into(),
        files: vec![
            b_dir.join("generated__gen0001.wav"),
            b_dir.join("lmms__Oglsdl-PpTrip.wav"),
        ],
        seconds: 331.93,
        format: "48 kHz stereo 16-bit WAV (converted with sox)".into(),
    };
    let full = AudioSet {
        name: "whole test split, 76 tracks".into(),
        files: cache_files(&["a.wav"; 76]),
        seconds: 5517.62,
        format: "22.05 kHz mono 16-bit WAV".into(),
    };
    (set_a, set_b, full)
}

/// A full run: every benchmark measured.
pub(crate) fn full_run() -> Measurements {
    let (set_a, set_b, full) = full_sets();
    let peer = |i: usize, one: Timing, all: Timing| PeerRun {
        one,
        one_kv: kv(&format!("peer{i}-1core")),
        all,
        all_kv: kv(&format!("peer{i}-all")),
    };
    let (options, stages) = criterion()
        .into_iter()
        .partition(|s| s.id.starts_with("option_"));
    let sweep = [1, 2, 5].map(|p| {
        (
            format!("a look every {p} ms (`Wake::Poll`)"),
            kv(&format!("latency-poll{p}")),
        )
    });
    Measurements {
        args: Vec::new(),
        opts: BenchOpts::default(),
        date: "2026-11-25 18:33 UTC".into(),
        load_start: "0.17 0.40 0.55".into(),
        load_end: "0.91 0.45 0.43".into(),
        lat_load: "0.19 0.43 0.54".into(),
        cores: 2,
        set_a,
        set_b: Some(set_b),
        full: Some(full),
        fallback_note: None,
        offline: vec![
            (
                timing(0.16318, 0.14252, 0.145, 40.6, &[0.17, 0.12, 0.1]),
                timing(0.10571, 0.10471, 0.150, 40.9, &[0.1, 0.1, 0.09]),
            ),
            (
                timing(0.36597, 0.34612, 0.348, 41.8, &[0.17, 0.15, 0.14]),
                timing(0.22735, 0.22704, 0.352, 42.1, &[0.14, 0.13, 0.12]),
            ),
        ],
        full_t: Some((
            timing(1.8653, 1.8435, 1.852, 40.7, &[0.37, 0.3, 0.29]),
            timing(1.0233, 0.9757, 1.889, 41.2, &[0.29, 0.28, 0.27]),
        )),
        peer: vec![
            Some(peer(
                0,
                timing(9.6, 9.55, 9.1, 776.2, &[0.2]),
                timing(8.18, 8.1, 9.8, 782.0, &[0.3]),
            )),
            Some(peer(
                1,
                timing(9.43, 9.4, 9.0, 803.1, &[0.2]),
                timing(8.79, 8.7, 9.9, 822.4, &[0.3]),
            )),
        ],
        peer_note: None,
        live_runs: vec![
            ("demo clip, 22.05 kHz mono".into(), kv("live0")),
            ("test-split music, 48 kHz stereo".into(), kv("live1")),
        ],
        plugin_host: Ok(kv("plugin-host")),
        lat: kv("latency"),
        lat_rt: kv("latency-rt"),
        sweep: sweep.into(),
        mm: Some(kv("matmul")),
        stages,
        options,
        resampler_quality: Some(include_str!("testdata/resampler-quality.md").to_string()),
        machine: machine(),
    }
}

/// The machine table of the run behind BENCHMARKS.md.
fn machine() -> Vec<(String, String)> {
    [
        ("CPU", "AMD EPYC (avx2, fma, avx512f, avx512_vnni)"),
        ("cores available", "2"),
        ("memory", "23.5 GiB"),
        ("kernel", "6.18.44-fc-v509"),
        ("rustc", "rustc 1.95.0 (59807616e 2026-04-14)"),
        ("ONNX Runtime", "1.31.1"),
        ("GPU", "none"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .into()
}

/// A bare run (`--quick --no-peer --no-stages` without the training cache, the venv, a
/// plugin build or real-time priority): the demo clip repeated, the latency harness alone.
pub(crate) fn bare_run() -> Measurements {
    let demo = crate::root().join("target/bench/demo-repeated");
    let mut lat = kv("latency");
    lat.retain(|k, _| !k.starts_with("platform."));
    let mut opts = BenchOpts::default();
    (opts.repeats, opts.latency_s, opts.live_s, opts.sweep_s) = (1, 30.0, 12.0, 0.0);
    (opts.peer, opts.stages) = (false, false);
    Measurements {
        args: ["--quick", "--no-peer", "--no-stages", "--sweep-seconds", "0"].map(String::from).into(),
        opts,
        date: "2026-12-01 09:05 UTC".into(),
        load_start: "1.02 0.80 0.61".into(),
        load_end: "1.40 0.95 0.70".into(),
        lat_load: "1.21 0.88 0.66".into(),
        cores: 4,
        set_a: AudioSet {
            name: "demo x10".into(),
            files: (0..10).map(|i| demo.join(format!("demo{i:02}.wav"))).collect(),
            seconds: 300.0,
            format: "22.05 kHz mono 16-bit WAV".into(),
        },
        set_b: None,
        full: None,
        fallback_note: Some("the training cache (models/train/cache/audio) is absent: the audio is the 30 s demo clip copied 10 times, not a varied set of music".into()),
        offline: vec![(
            timing(0.2, 0.2, 0.18, 39.5, &[1.02]),
            timing(0.09, 0.09, 0.2, 40.5, &[1.1]),
        )],
        full_t: None,
        peer: Vec::new(),
        peer_note: Some("musicnn not measured (--no-peer)".into()),
        live_runs: vec![("demo clip, 22.05 kHz mono".into(), kv("live0"))],
        plugin_host: Err("xtask: cargo build failed with exit status: 101".into()),
        lat,
        lat_rt: Kv::new(),
        sweep: Vec::new(),
        mm: None,
        stages: Vec::new(),
        options: Vec::new(),
        resampler_quality: None,
        machine: machine(),
    }
}
