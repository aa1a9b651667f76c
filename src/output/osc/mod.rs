//! Open Sound Control output for lighting and visual software (QLC+, TouchDesigner, Resolume).
//!
//! An [`OscSender`] runs its own thread. At a fixed rate (`--osc-rate`, default 30 Hz),
//! decoupled from the model's update rate, it reads the latest published
//! [`Scores`](crate::engine::Scores) through [`Latest::get`](crate::engine::Latest::get)
//! (between model updates the last values are sent again), optionally smooths them (one-pole
//! low-pass, `--osc-smooth`), and sends to every receiver:
//!
//! | address | arguments |
//! |---|---|
//! | `<prefix>/window` | `s`: which aggregate is sent (`session`, `window` or `ema`) |
//! | `<prefix>/top` | `s f`: the top tag's name (as in the manifest) and its score |
//! | `<prefix>/tags` | `f…`: every score, in manifest order |
//! | `<prefix>/tag/<tag>` | `f`: one score in 0..1, one address per tag |
//! | `<prefix>/<head>/top` | `s f`: a head of your own's best label and its score |
//! | `<prefix>/<head>/<label>` | `f`: one head label's score in 0..1 |
//!
//! | `<prefix>/cue/<tag>` | `i`: 1 when the tag rises above its `--trigger` ON threshold, 0 when it falls below OFF |
//! | `<prefix>/top/changed` | `s`: the new top tag, once it has stayed on top for `--hold` seconds (only with `--hold`) |
//!
//! The head messages are there when the sender was started with heads
//! ([`OscSender::start_with_heads`], `mstag-live --head`); they come from the same view.
//!
//! `<tag>` is the tag name made into a valid OSC address part by [`sanitize_tag`]
//! ("no vocals" → `no_vocals`). Messages go out in bundles with the "immediately" time tag,
//! split so that every UDP packet is smaller than [`MAX_PACKET_BYTES`], or, with
//! [`Framing::Plain`], one message per packet. Nothing is sent before the engine has published
//! its first scores.
//!
//! Sending never blocks: each receiver has its own non-blocking UDP socket, bound to an
//! ephemeral port and connected to the receiver (so that the ICMP "port unreachable" of a
//! receiver that is not running comes back as `ECONNREFUSED` on that receiver's socket). Send
//! errors are counted per receiver and reported once per outage through the log hook
//! ([`OscEvent::Unreachable`]), and once more when the receiver is back ([`OscEvent::Back`]);
//! sending itself goes on regardless.
//!
//! The building blocks ([`sanitize_tag`], [`OscMessages`], [`split_bundles`],
//! [`PacketWriter`], [`Smoother`]) are pure and reuse their buffers, so the sender thread does
//! not allocate per packet once it runs.
//!
//! The module's files, one job each: `target` (receivers), `config` (settings and their
//! checks), `messages` (addresses and arguments of a round), `packet` (encoding into UDP
//! packets), `smoothing`, `stats` (counters), `sender` (the thread's start and stop, events)
//! and `worker` (the thread's loop).

use rosc::OscTime;

mod config;
mod messages;
mod packet;
mod sender;
mod smoothing;
mod stats;
mod target;
#[cfg(test)]
mod test_support;
mod worker;

pub use crate::output::cues::{CueEvent, Cues, Trigger, DEFAULT_HYSTERESIS};
pub use config::{normalize_prefix, Framing, OscConfig};
pub use messages::{sanitize_tag, tag_address_parts, OscMessages};
pub use packet::{split_bundles, PacketWriter};
pub use sender::{OscEvent, OscLog, OscRider, OscSender, ScoreSource};
pub use smoothing::{clamp_unit, Smoother};
pub use stats::{OscStats, ReceiverStats};
pub use target::OscTarget;

/// Every UDP packet sent is strictly smaller than this many bytes (a common safe payload size
/// on Ethernet and Wi-Fi, so packets are never fragmented).
pub const MAX_PACKET_BYTES: usize = 1400;
/// Default address prefix.
pub const DEFAULT_PREFIX: &str = "/mstag";
/// Default send rate, send rounds per second.
pub const DEFAULT_RATE_HZ: u32 = 30;
/// Highest send rate accepted.
pub const MAX_RATE_HZ: u32 = 120;
/// Longest smoothing time constant accepted, seconds.
pub const MAX_SMOOTH_S: f64 = 3600.0;
/// Longest address prefix accepted, bytes.
pub const MAX_PREFIX_LEN: usize = 256;

/// The OSC time tag meaning "immediately" (`0x00000000_00000001`).
pub const IMMEDIATELY: OscTime = OscTime {
    seconds: 0,
    fractional: 1,
};
