//! Audio sources that feed the lock-free ring ([`crate::stream`]): a live input device
//! (`device`, feature `capture`) or a file played as if it were one ([`file`](mod@file)).
//!
//! Both hand back a [`RingConsumer`](crate::stream::RingConsumer) carrying interleaved `f32`
//! frames at the source's own sample rate and channel count.

#[cfg(feature = "capture")]
pub mod device;
pub mod file;
#[cfg(feature = "capture")]
pub mod supervisor;

#[cfg(feature = "capture")]
pub use device::{
    capture_callback, list_input_devices, open_input, CaptureSample, DeviceInfo, InputStream,
    StreamHealth,
};
pub use file::{FilePlayer, Pace, REALTIME_BLOCK_FRAMES};
#[cfg(feature = "capture")]
pub use supervisor::{InputEvent, Supervisor};
