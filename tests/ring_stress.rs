//! Stress test of the lossless hand-off (issue 12: a hang in `mstag-live --fast` with a tiny
//! ring): thousands of runs of a producer that waits for room and a consumer that waits for
//! input, with rings of 1 to 8 frames and random push and pop sizes, on the real ring.
//!
//! Every wait has a timeout far longer than any run needs (10 s), so a wake-up lost by the
//! protocol would show as a wait that ran out: the test counts those and requires none,
//! and checks that every sample arrives once, in order. A stall is bounded by those timeouts
//! (the test cannot hang), and a failure names the run.

mod common;

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use mstag::stream::ring;

/// A small deterministic generator (xorshift64*), so a failing run can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }
}

const WAIT: Duration = Duration::from_secs(10);

/// One run; returns the number of waits that ended by their timeout (a lost wake-up).
fn run(seed: u64) -> usize {
    let mut rng = Rng(seed | 1);
    let channels = 1 + rng.below(3);
    let capacity = 1 + rng.below(8);
    let frames = 200 + rng.below(800);
    let (mut producer, mut consumer) = ring(channels, capacity);
    let samples: Vec<f32> = (0..frames * channels).map(|i| i as f32).collect();
    let max_push = 1 + rng.below(16);
    let max_pop = 1 + rng.below(16);
    let push_seed = rng.next();
    let writer = std::thread::spawn(move || {
        let mut rng = Rng(push_seed | 1);
        let stop = AtomicBool::new(false);
        let mut pos = 0;
        let mut timeouts = 0;
        while pos < frames {
            let n = (1 + rng.below(max_push as u64)).min(frames - pos);
            let t = Instant::now();
            let pushed = producer.push_waiting(
                &samples[pos * channels..(pos + n) * channels],
                &stop,
                Some(Instant::now() + WAIT),
                WAIT,
            );
            if pushed < n {
                timeouts += 1;
                assert!(t.elapsed() >= WAIT, "push gave up early");
            }
            pos += pushed;
        }
        // Dropping the producer here must wake the consumer.
        timeouts
    });
    let mut got = Vec::with_capacity(frames * channels);
    let mut buf = vec![0.0f32; max_pop * channels];
    let mut timeouts = 0;
    loop {
        let n = consumer.pop_frames(&mut buf);
        if n > 0 {
            got.extend_from_slice(&buf[..n]);
            continue;
        }
        if !consumer.producer_alive() && consumer.occupied_samples() == 0 {
            break;
        }
        let t = Instant::now();
        consumer.wait_for_input(WAIT);
        if t.elapsed() >= WAIT {
            timeouts += 1;
        }
    }
    timeouts += writer.join().expect("producer thread");
    let want: Vec<f32> = (0..frames * channels).map(|i| i as f32).collect();
    assert_eq!(
        got, want,
        "run {seed}: samples lost, repeated or out of order"
    );
    assert_eq!(consumer.stats().dropped_frames(), 0, "run {seed}");
    timeouts
}

#[test]
fn thousands_of_lossless_hand_offs_on_tiny_rings_never_stall() {
    let runs = 3000u64;
    let mut stalled = Vec::new();
    for seed in 1..=runs {
        if run(seed * 0x9E37_79B9) > 0 {
            stalled.push(seed);
        }
    }
    assert!(
        stalled.is_empty(),
        "{} of {runs} runs had a wait that ran out (a lost wake-up): seeds {stalled:?}",
        stalled.len()
    );
}

/// The whole `--fast` path: a file played with `Pace::Fast` into rings of a few
/// milliseconds, the engine in lossless delivery, many times; every run ends, analyses the
/// whole file, drops nothing and gives the same song-level scores.
#[test]
fn fast_file_playback_through_tiny_rings_always_finishes_with_the_same_scores() {
    use mstag::capture::file::{FilePlayer, Pace};
    use mstag::engine::{Delivery, Engine, EngineConfig, View};
    let dir = common::TempDir::new("ring-stress");
    let path = dir.path("clip.wav");
    let rate = 22_050;
    // 3 s of a chord with a beat: enough for every scale's segments.
    let x: Vec<f32> = (0..3 * rate)
        .flat_map(|i| {
            let t = i as f32 / rate as f32;
            let env = if (t * 4.0).fract() < 0.1 { 1.0 } else { 0.4 };
            let v = env
                * (0.3 * (2.0 * std::f32::consts::PI * 220.0 * t).sin()
                    + 0.2 * (2.0 * std::f32::consts::PI * 330.0 * t).sin());
            [v, 0.5 * v]
        })
        .collect();
    common::write_wav(&path, &x, rate as u32, 2);
    let mut reference: Option<Vec<f32>> = None;
    let mut rng = Rng(7);
    for i in 0..24 {
        // 0.002 s to 0.05 s of audio in the ring (44 to 1,100 frames).
        let ring_s = 0.002 + 0.048 * (rng.below(1000) as f64 / 1000.0);
        let (player, consumer) = FilePlayer::start(&path, Pace::Fast, ring_s).unwrap();
        let cfg = EngineConfig {
            delivery: Delivery::Lossless,
            block_frames: 64 + rng.below(2048),
            ..EngineConfig::default()
        };
        let engine = Engine::builder(common::models(), consumer, player.sample_rate())
            .config(cfg)
            .updates(4096)
            .start()
            .unwrap();
        let updates = engine.updates().expect("updates channel").clone();
        let drained = std::thread::spawn(move || updates.iter().count());
        let summary = engine.join().unwrap();
        let n_updates = drained.join().unwrap();
        assert!(n_updates > 0, "run {i}: no updates; {summary:?}");
        assert!(player.error().is_none(), "run {i}: {:?}", player.error());
        assert!(
            (summary.seconds - 3.0).abs() < 1e-6,
            "run {i}: {}",
            summary.seconds
        );
        assert_eq!(summary.dropped_frames, 0, "run {i}");
        let scores = summary
            .final_scores
            .expect("final scores")
            .view(View::Session)
            .to_vec();
        match &reference {
            None => reference = Some(scores),
            Some(r) => assert!(
                common::max_abs_err(r, &scores) < 1e-5,
                "run {i} (ring {ring_s:.3} s): scores differ"
            ),
        }
    }
}
