//! Your own audio callback feeding the live engine: the callback only copies samples into a
//! lock-free ring (no allocation, lock or system call); the engine's thread analyses them and
//! publishes scores.
//!
//! ```sh
//! cargo run --release --example push_samples          # 12 s of a synthetic signal
//! cargo run --release --example push_samples -- 30    # 30 s
//! ```
//!
//! Here a thread stands in for the audio system, calling `callback` every 512 frames at the
//! pace of real time; in your program it is the audio library's callback (JACK, CoreAudio,
//! a game engine's mixer, ...).

use std::time::{Duration, Instant};

use mstag::engine::{Delivery, Engine, EngineConfig, View};
use mstag::model::{default_manifest_path, Device, ModelSet};
use mstag::stream::{ring, RingProducer};

const RATE: u32 = 48_000;
const CHANNELS: usize = 2;
const BLOCK: usize = 512;

/// What your audio callback does with each block: copy it into the ring. Returns the frames
/// that did not fit (dropped and counted, never waited for).
fn callback(producer: &mut RingProducer, block: &[f32]) -> usize {
    let pushed = producer.push_interleaved(block);
    block.len() / CHANNELS - pushed
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: f64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(12.0);
    let models = ModelSet::load(&default_manifest_path(), Device::Cpu, 1)?;
    let tags = models.manifest.tags.clone();
    // Two seconds of room: what the ring holds if the inference thread is briefly late.
    let (mut producer, consumer) = ring(CHANNELS, 2 * RATE as usize);
    let engine = Engine::builder(models, consumer, RATE)
        .config(EngineConfig {
            delivery: Delivery::Lossy,
            ..EngineConfig::default()
        })
        .updates(64)
        .start()?;
    let updates = engine.updates().ok_or("asked for updates")?.clone();

    let audio = std::thread::spawn(move || {
        let mut block = vec![0.0f32; BLOCK * CHANNELS];
        let mut dropped = 0;
        let start = Instant::now();
        let blocks = (seconds * f64::from(RATE) / BLOCK as f64) as usize;
        for b in 0..blocks {
            synth(&mut block, b * BLOCK);
            dropped += callback(&mut producer, &block);
            // The pace of a real device.
            let due = start + Duration::from_secs_f64(((b + 1) * BLOCK) as f64 / f64::from(RATE));
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        dropped
        // Dropping the producer ends the input: the engine publishes its final scores.
    });

    for scores in updates.iter() {
        let top: Vec<String> = scores
            .top(View::Window, 3)
            .into_iter()
            .map(|i| format!("{} {:.2}", tags[i], scores.view(View::Window)[i]))
            .collect();
        println!("{:6.1} s  {}", scores.t, top.join("  "));
    }
    let dropped = audio.join().map_err(|_| "the audio thread panicked")?;
    let summary = engine.join()?;
    println!(
        "{:.1} s analysed, {} segments, {dropped} frames dropped",
        summary.seconds, summary.segments
    );
    Ok(())
}

/// A plucked-string-like tone every half second over a soft noise floor, interleaved stereo.
fn synth(block: &mut [f32], first_frame: usize) {
    let mut noise = (first_frame as u32).wrapping_mul(2_654_435_761);
    for (k, frame) in block.chunks_mut(CHANNELS).enumerate() {
        let n = first_frame + k;
        let t = n as f32 / RATE as f32;
        let since_pluck = t % 0.5;
        let pitch = [220.0, 277.2, 329.6, 440.0][(n / (RATE as usize / 2)) % 4];
        let tone = (std::f32::consts::TAU * pitch * t).sin() * (-6.0 * since_pluck).exp();
        noise ^= noise << 13;
        noise ^= noise >> 17;
        noise ^= noise << 5;
        let hiss = (noise as f32 / u32::MAX as f32 - 0.5) * 0.01;
        frame.fill(0.4 * tone + hiss);
    }
}
