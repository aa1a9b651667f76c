//! Presenting scores to people and programs: the live terminal view, tables of offline
//! results, tag-over-time heat maps, and OSC for lighting and visual software; and
//! recording the analysed input to WAV.

use crate::scores::Scores;

pub mod cues;
pub mod json;
#[cfg(any(feature = "osc", feature = "ws"))]
pub(crate) mod mailbox;
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
pub use osc::{Framing, OscConfig, OscEvent, OscRider, OscSender, OscStats, OscTarget};
pub use recording::Recorder;
pub use table::{to_csv, to_json, to_json_line, to_table, FileResult, FileStamp, HeadScores};
#[cfg(feature = "terminal")]
pub use terminal::{TermSize, TerminalView};
#[cfg(feature = "timeline")]
pub use timeline::{colormap, ImageFormat, Timeline};

/// An output that sends on another output's clock: that output's thread calls
/// [`Rider::round`] once per round, after its own. `mstag-live` runs OSC on the WebSocket
/// server's thread this way when both are on (they share `--osc-rate`), so one wake-up a
/// round serves both (see [`OscSender::start_riding`] and
/// [`WsServer::start_with_riders`](ws::WsServer::start_with_riders)).
#[cfg(any(feature = "osc", feature = "ws"))]
pub trait Rider: Send {
    /// Sends one round. Called at the host's rate, which must be the rider's own.
    fn round(&mut self);
}

/// Where a sending thread (OSC, WebSocket) reads scores from each round (for the engine:
/// [`Latest::get`](crate::engine::Latest::get)).
pub type ScoreSource = Box<dyn FnMut() -> Scores + Send>;
