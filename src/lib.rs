//! mstag: streaming, real-time music auto-tagging after Lee & Nam (2017),
//! "Multi-Level and Multi-Scale Feature Aggregation Using Pre-trained CNNs for Music
//! Auto-tagging": three CNNs read log-mel segments of 18, 27 and 54 frames, each segment's
//! activations are max-pooled, the segment features are averaged, and a small DNN turns the
//! average into scores in 0..1 for the 50 MagnaTagATune tags.
//!
//! # The front doors
//!
//! - [`Tagger`] loads the models once and tags whole songs: a file ([`Tagger::tag_path`]) or
//!   samples in memory ([`Tagger::tag_samples`]). Each song comes back as [`SongTags`]: the
//!   scores in manifest order, the top N, the song-level features, and optionally scores over
//!   time.
//! - [`StreamTagger`] (from [`Tagger::stream`]) tags audio pushed in pieces on the caller's
//!   thread, and gives the song-level result when the stream is finished.
//! - [`engine::Engine::builder`] starts the live engine: an inference thread that drains a
//!   lock-free ring filled by an audio thread and publishes [`engine::Scores`] for the
//!   session mean, a sliding window and an EMA, read through [`engine::Latest`] or an
//!   updates channel, without ever blocking the audio side.
//! - `capture::Supervisor` (feature `capture`) opens a sound device for an engine and keeps it
//!   alive: it notices a lost stream, reopens the device with backoff and hands the new ring
//!   to the engine.
//!
//! ```no_run
//! # fn main() -> mstag::Result<()> {
//! let mut tagger = mstag::Tagger::new(mstag::TaggerConfig::default())?;
//! let song = tagger.tag_path("song.mp3")?;
//! for (tag, score) in song.top(5) { println!("{tag:<12} {score:.3}"); }
//! # Ok(()) }
//! ```
//!
//! # Data flow
//!
//! Data flows one way:
//! audio ([`capture`], [`decode`]) → ring ([`stream`]) → downmix, resampling to the models'
//! rate, mel frames ([`dsp`]) → segments of each scale → per-scale features ([`model`]) →
//! running averages ([`aggregate`]) → classifier → published [`scores::Scores`] →
//! [`output`]. [`Tagger`], [`StreamTagger`] and the live [`engine::Engine`] run the same
//! [`engine::FeaturePipeline`], so a song tagged offline gets the scores the live engine
//! ends with. Every fallible function returns the crate's [`Error`].
//!
//! # Cargo features
//!
//! The core (decoding, DSP, models, aggregation, the engine, [`Tagger`]) needs none of them.
//!
//! | feature | turns on |
//! |---|---|
//! | `capture` | live input from sound devices: `capture::device`, `capture::Supervisor` (cpal) |
//! | `osc` | OSC output over UDP: `output::osc` (rosc) |
//! | `timeline` | tag-over-time images, PNG and SVG: `output::timeline` |
//! | `batch` | many files in parallel: `offline::tag_files` (rayon) |
//! | `terminal` | the live terminal view: `output::terminal` |
//! | `cli` (default) | the `mstag` and `mstag-live` programs; turns on all of the above |
//! | `cuda` | registers ONNX Runtime's CUDA execution provider (needs onnxruntime-gpu) |

#![warn(missing_docs)]

pub mod aggregate;
pub mod calibration;
pub mod capture;
pub mod decode;
pub mod dsp;
pub mod engine;
pub mod error;
pub mod head;
#[cfg(feature = "metadata")]
pub mod metadata;
pub mod model;
#[cfg(feature = "batch")]
pub mod offline;
pub mod output;
pub mod scores;
pub mod stream;
pub mod synonyms;
mod tagger;

pub use error::{Error, Result};
pub use tagger::{SongTags, StreamTagger, Tagger, TaggerConfig, TimelineOptions, DEFAULT_BATCH};
