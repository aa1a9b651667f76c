//! Presenting scores to people and programs: the live terminal view, tables of offline
//! results, tag-over-time heat maps, and OSC for lighting and visual software; and
//! recording the analysed input to WAV.

use crate::scores::Scores;

pub mod cues;
pub mod json;
#[cfg(feature = "osc")]
pub mod osc;
pub mod recording;
pub mod table;
#[cfg(feature = "terminal")]
pub mod terminal;
#[cfg(feature = "timeline")]
pub mod timeline;
#[cfg(feature = "ws")]
pub mod ws;

#[cfg(feature = "osc")]
pub use osc::{Framing, OscConfig, OscEvent, OscSender, OscStats, OscTarget};
pub use recording::Recorder;
pub use table::{to_csv, to_json, to_json_line, to_table, FileResult, FileStamp, HeadScores};
#[cfg(feature = "terminal")]
pub use terminal::{TermSize, TerminalView};
#[cfg(feature = "timeline")]
pub use timeline::{colormap, ImageFormat, Timeline};

/// Where a sending thread (OSC, WebSocket) reads scores from each round (for the engine:
/// [`Latest::get`](crate::engine::Latest::get)).
pub type ScoreSource = Box<dyn FnMut() -> Scores + Send>;
