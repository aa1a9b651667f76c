//! Presenting scores to people and programs: the live terminal view, tables of offline
//! results, tag-over-time heat maps, and OSC for lighting and visual software; and
//! recording the analysed input to WAV.

pub mod json;
pub mod osc;
pub mod recording;
pub mod table;
pub mod terminal;
pub mod timeline;

pub use osc::{Framing, OscConfig, OscEvent, OscSender, OscStats, OscTarget};
pub use recording::Recorder;
pub use table::{to_csv, to_json, to_table, FileResult};
pub use terminal::{TermSize, TerminalView};
pub use timeline::{colormap, ImageFormat, Timeline};
