//! mstag: streaming, real-time music auto-tagging after Lee & Nam (2017),
//! "Multi-Level and Multi-Scale Feature Aggregation Using Pre-trained CNNs for Music
//! Auto-tagging".
//!
//! Data flows one way:
//! audio ([`capture`], [`decode`]) → ring ([`stream`]) → mel frames ([`dsp`]) → segments →
//! per-scale features ([`model`]) → running averages ([`aggregate`]) → classifier →
//! published [`scores::Scores`] → [`output`].

pub mod aggregate;
pub mod capture;
pub mod decode;
pub mod dsp;
pub mod engine;
pub mod error;
pub mod model;
#[cfg(feature = "batch")]
pub mod offline;
pub mod output;
pub mod scores;
pub mod stream;
pub mod synonyms;
mod tagger;

pub use error::{Error, Result};
pub use tagger::{SongTags, StreamTagger, Tagger, TaggerConfig, TimelineOptions};
