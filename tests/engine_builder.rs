//! `Engine::builder`: the updates channel exists only when asked for (the plugin reads the
//! latest scores and its hook instead), delivers every update in order when it does, and a
//! channel that could hold nothing is refused.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use mstag::engine::{Delivery, Engine, EngineConfig, EngineHooks};
use mstag::stream::ring;
use mstag::Error;

/// The first `seconds` of the demo clip (interleaved), its rate and channels.
fn clip(seconds: f64) -> (Vec<f32>, u32, usize) {
    let (audio, rate, channels) = mstag::decode::decode_all(&common::demo_clip()).unwrap();
    let n = (seconds * f64::from(rate)) as usize * channels;
    (audio[..n].to_vec(), rate, channels)
}

fn lossless() -> EngineConfig {
    EngineConfig {
        delivery: Delivery::Lossless,
        ..EngineConfig::default()
    }
}

#[test]
fn without_an_updates_channel_scores_reach_latest_and_the_hook() {
    let (audio, rate, channels) = clip(3.0);
    let (mut producer, consumer) = ring(channels, audio.len() / channels + 1024);
    let seen = Arc::new(AtomicU64::new(0));
    let counter = seen.clone();
    // Lossless with nobody reading: a channel would fill up and stall the engine.
    let engine = Engine::builder(common::models(), consumer, rate)
        .config(lossless())
        .hooks(EngineHooks {
            tap: None,
            on_publish: Some(Box::new(move |_| {
                counter.fetch_add(1, Ordering::Relaxed);
            })),
        })
        .start()
        .unwrap();
    assert!(engine.updates().is_none());
    assert_eq!(producer.push_interleaved(&audio), audio.len());
    drop(producer);
    let latest = engine.latest();
    let summary = engine.join().unwrap();
    let last = summary.final_scores.expect("final scores");
    assert!(last.seq > 1);
    assert_eq!(latest.get(), last);
    assert_eq!(seen.load(Ordering::Relaxed), last.seq);
    assert_eq!(summary.skipped_updates, 0);
}

#[test]
fn an_updates_channel_delivers_every_update_in_order() {
    let (audio, rate, channels) = clip(3.0);
    let (mut producer, consumer) = ring(channels, audio.len() / channels + 1024);
    let engine = Engine::builder(common::models(), consumer, rate)
        .config(lossless())
        .updates(1)
        .start()
        .unwrap();
    assert_eq!(producer.push_interleaved(&audio), audio.len());
    drop(producer);
    let seqs: Vec<u64> = engine
        .updates()
        .expect("updates channel")
        .iter()
        .map(|s| s.seq)
        .collect();
    let summary = engine.join().unwrap();
    let last = summary.final_scores.expect("final scores").seq;
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>());
    assert_eq!(summary.skipped_updates, 0);
}

#[test]
fn an_updates_channel_of_capacity_zero_is_refused() {
    let (_producer, consumer) = ring(1, 4096);
    let refused = Engine::builder(common::models(), consumer, 48_000)
        .updates(0)
        .start();
    match refused {
        Err(
            e @ Error::InvalidSetting {
                name: "updates", ..
            },
        ) => {
            assert!(e.to_string().contains("at least 1"), "{e}");
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("an updates channel of capacity 0 was accepted"),
    }
}
