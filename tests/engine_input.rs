//! The live engine across input changes: a reopened device in another format
//! (`Engine::replace_input`) and a host's new sample rate (`Engine::set_input_rate`). The
//! session and its time line carry on, and the tap (what `--record` writes) sees every
//! block in the format it was recorded in.

mod common;

use std::sync::{Arc, Mutex};

use mstag::engine::{Delivery, Engine, EngineConfig, EngineSummary, InputFormat};
use mstag::stream::ring;

/// `seconds` of a broadband test signal at `rate` with `channels` channels.
fn signal(rate: u32, channels: usize, seconds: f64) -> Vec<f32> {
    let n = (rate as f64 * seconds) as usize;
    let mut seed = 12345u64;
    (0..n * channels)
        .map(|i| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            let t = (i / channels) as f64 / rate as f64;
            ((2.0 * std::f64::consts::PI * 440.0 * t).sin() * 0.3) as f32
                + ((seed >> 41) as f32 / (1u64 << 23) as f32 - 0.5) * 0.1
        })
        .collect()
}

type Seen = Arc<Mutex<Vec<(InputFormat, usize)>>>;

/// An engine whose tap counts the frames it sees in each format, in order.
fn engine_with_tap(ring: mstag::stream::RingConsumer, rate: u32) -> (Engine, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let tap = Box::new(move |block: &[f32], f: InputFormat| {
        let mut s = s.lock().unwrap();
        let frames = block.len() / f.channels;
        match s.last_mut() {
            Some((last, n)) if *last == f => *n += frames,
            _ => s.push((f, frames)),
        }
    });
    let cfg = EngineConfig {
        delivery: Delivery::Lossless,
        ..EngineConfig::default()
    };
    let engine = Engine::builder(common::models(), ring, rate)
        .config(cfg)
        .tap(tap)
        .start()
        .unwrap();
    (engine, seen)
}

/// Waits until the engine has taken everything out of the ring (its producer still alive).
fn drained(stats: &mstag::stream::RingStats, seen: &Seen, want_frames: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let got: u64 = seen.lock().unwrap().iter().map(|(_, n)| *n as u64).sum();
        if got >= want_frames {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "engine stalled at {got} frames"
        );
        assert_eq!(stats.dropped_frames(), 0);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The tap saw exactly `want` — (rate, channels, frames), in order — and the session's time
/// line is `seconds` long.
fn assert_run(seen: &Seen, want: &[(u32, usize, usize)], summary: &EngineSummary, seconds: f64) {
    let want: Vec<_> = want
        .iter()
        .map(|&(rate, channels, frames)| (InputFormat { rate, channels }, frames))
        .collect();
    assert_eq!(*seen.lock().unwrap(), want);
    assert!(
        (summary.seconds - seconds).abs() < 1e-9,
        "{} s",
        summary.seconds
    );
}

#[test]
fn a_reopened_device_in_another_format_continues_the_session() {
    let (mut p1, c1) = ring(2, 48_000 * 10);
    let (engine, seen) = engine_with_tap(c1, 48_000);
    let a = signal(48_000, 2, 3.0);
    assert_eq!(p1.push_interleaved(&a), 144_000);
    drained(p1.stats(), &seen, 144_000);

    // The device comes back as 44.1 kHz mono.
    let (mut p2, c2) = ring(1, 44_100 * 10);
    engine.replace_input(c2, 44_100).expect("replace_input");
    let b = signal(44_100, 1, 2.0);
    assert_eq!(p2.push_interleaved(&b), 88_200);
    drop(p1);
    drop(p2);
    let summary = engine.join().unwrap();

    assert_run(
        &seen,
        &[(48_000, 2, 144_000), (44_100, 1, 88_200)],
        &summary,
        5.0,
    );
    assert_eq!(summary.dropped_frames, 0);
    let scores = summary.final_scores.expect("scores");
    assert!(scores.segments > 20);
}

#[test]
fn a_new_host_rate_keeps_the_time_line() {
    let (mut p, c) = ring(2, 96_000 * 10);
    let (engine, seen) = engine_with_tap(c, 48_000);
    assert_eq!(p.push_interleaved(&signal(48_000, 2, 2.0)), 96_000);
    drained(p.stats(), &seen, 96_000);
    // A refused rate changes nothing.
    assert!(engine.set_input_rate(1_000_000).is_err());
    engine.set_input_rate(96_000).expect("set_input_rate");
    assert_eq!(p.push_interleaved(&signal(96_000, 2, 1.5)), 144_000);
    drop(p);
    let summary = engine.join().unwrap();
    assert_run(
        &seen,
        &[(48_000, 2, 96_000), (96_000, 2, 144_000)],
        &summary,
        3.5,
    );
}
