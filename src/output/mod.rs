//! Presenting scores to people and programs: the live terminal view, tables of offline
//! results, and tag-over-time heat maps.
//!
//! An `osc` module (Open Sound Control output for live use) will follow separately.

pub mod table;
pub mod terminal;
pub mod timeline;

pub use table::{to_csv, to_json, to_table, FileResult};
pub use terminal::TerminalView;
pub use timeline::{colormap, ImageFormat, Timeline};
