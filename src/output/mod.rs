//! Presenting scores to people and programs: the live terminal view, tables of offline
//! results, tag-over-time heat maps, and OSC for lighting and visual software.

pub mod osc;
pub mod table;
pub mod terminal;
pub mod timeline;

pub use osc::{Framing, OscConfig, OscEvent, OscSender, OscStats, OscTarget};
pub use table::{to_csv, to_json, to_table, FileResult};
pub use terminal::TerminalView;
pub use timeline::{colormap, ImageFormat, Timeline};
