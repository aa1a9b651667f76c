//! A live input device kept alive for an engine: loss noticed, the device reopened with
//! backoff, the new ring handed to the engine, a dead stream released without blocking.
//!
//! Used by `mstag-live`; any front end that opens a device (and the plugin, whose host owns
//! its audio) can use the same logic.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::device::{open_input, InputStream};
use crate::engine::Engine;
use crate::error::Result;
use crate::stream::{RingConsumer, RingStats};

/// No audio for this long means the device is lost.
pub const SILENT_DEVICE_TIMEOUT: Duration = Duration::from_secs(2);

/// What happened to the input, for the program to report.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum InputEvent {
    /// The device stopped: errors from the audio system, or no audio for
    /// [`SILENT_DEVICE_TIMEOUT`]. The engine keeps its session and last scores.
    Lost {
        /// The device's name.
        device: String,
        /// Why it is considered lost.
        why: String,
    },
    /// The device (or the one the selector now names) is open again and feeding the engine.
    Reconnected {
        /// The device's name.
        device: String,
        /// Its sample rate, Hz.
        rate: u32,
        /// Its channel count.
        channels: usize,
    },
    /// The input was switched to another device ([`Supervisor::switch`]).
    Switched {
        /// The new device's name.
        device: String,
        /// Its sample rate, Hz.
        rate: u32,
        /// Its channel count.
        channels: usize,
    },
    /// Reopening failed; the supervisor tries again later (0.5 s, doubling up to 5 s).
    RetryFailed {
        /// Why it failed.
        error: String,
        /// Failed attempts so far, this one included.
        attempts: u32,
    },
    /// The old stream could not be handed to a thread to be released; it stays open.
    ReleaseFailed {
        /// Why.
        error: String,
    },
}

/// Watches one input device feeding an [`Engine`] and reconnects it when it is lost.
///
/// Call [`poll`](Self::poll) every few tens of milliseconds from the thread that owns it
/// (never the audio thread): it returns what happened, if anything.
///
/// # Examples
/// ```no_run
/// # fn main() -> mstag::Result<()> {
/// use mstag::capture::Supervisor;
/// use mstag::engine::Engine;
/// let models = mstag::model::ModelSet::load(
///     &mstag::model::default_manifest_path(), mstag::model::Device::Cpu, 1)?;
/// let (mut input, ring) = Supervisor::open("mic", 4.0)?;
/// let engine = Engine::builder(models, ring, input.sample_rate()).start()?;
/// loop {
///     if let Some(event) = input.poll(&engine) {
///         eprintln!("{event:?}");
///     }
///     std::thread::sleep(std::time::Duration::from_millis(50));
/// #   break;
/// }
/// input.release();
/// # Ok(()) }
/// ```
pub struct Supervisor {
    selector: String,
    ring_s: f64,
    stream: Option<InputStream>,
    stats: Arc<RingStats>,
    rate: u32,
    /// Seconds delivered by streams replaced after a loss.
    seconds_before: f64,
    watch: DeviceWatch,
}

impl Supervisor {
    /// Opens the device `selector` names (`mic`/`default`, a name or an id, as
    /// [`open_input`]) with a ring of `ring_s` seconds; the ring's consumer goes to the
    /// engine.
    ///
    /// # Errors
    /// As [`open_input`].
    pub fn open(selector: &str, ring_s: f64) -> Result<(Supervisor, RingConsumer)> {
        let (stream, ring) = open_input(selector, ring_s)?;
        let sup = Supervisor {
            selector: selector.to_string(),
            ring_s,
            rate: stream.sample_rate(),
            stats: ring.stats().clone(),
            stream: Some(stream),
            seconds_before: 0.0,
            watch: DeviceWatch::new(),
        };
        Ok((sup, ring))
    }

    /// The open stream (after a reconnection, the new one).
    pub fn stream(&self) -> Option<&InputStream> {
        self.stream.as_ref()
    }

    /// Sample rate of the current stream, Hz.
    pub fn sample_rate(&self) -> u32 {
        self.rate
    }

    /// Seconds of audio the device delivered (pushed or dropped), over all its streams.
    pub fn audio_seconds(&self) -> f64 {
        self.seconds_before
            + (self.stats.pushed_frames() + self.stats.dropped_frames()) as f64 / self.rate as f64
    }

    /// True while the device is lost (from the loss until a reconnection).
    pub fn is_lost(&self) -> bool {
        self.watch.lost
    }

    /// Looks at the device; when it is lost and a retry is due, reopens it and hands the
    /// new ring to `engine` (the old stream is kept until then, so the engine keeps its
    /// session and the last scores stay published meanwhile).
    pub fn poll(&mut self, engine: &Engine) -> Option<InputEvent> {
        let stream = self.stream.as_ref()?;
        if let Some(lost) = self.watch.check(stream, &self.stats) {
            return Some(lost);
        }
        if !(self.watch.lost && self.watch.due()) {
            return None;
        }
        let (s, ring) = match open_input(&self.selector, self.ring_s) {
            Ok(opened) => opened,
            Err(e) => return Some(self.watch.failed_attempt(crate::error::report(&e))),
        };
        let (rate, stats) = (s.sample_rate(), ring.stats().clone());
        if let Err(e) = engine.replace_input(ring, rate) {
            return Some(self.watch.failed_attempt(e.to_string()));
        }
        let event = InputEvent::Reconnected {
            device: s.device_name().to_string(),
            rate,
            channels: s.channels(),
        };
        self.seconds_before = self.audio_seconds();
        self.rate = rate;
        self.stats = stats;
        self.watch = DeviceWatch::new();
        match reap(self.stream.replace(s)) {
            Some(failed) => Some(failed),
            None => Some(event),
        }
    }

    /// Switches the engine to another device (`selector` as for [`Supervisor::open`]),
    /// keeping the session: the new device is opened first, its ring handed to `engine`,
    /// and only then is the old stream released (on a thread of its own). From now on a
    /// lost device means this one.
    ///
    /// # Errors
    /// As [`open_input`], or when the engine refuses the new input; the old device then
    /// stays in use.
    pub fn switch(&mut self, selector: &str, engine: &Engine) -> Result<InputEvent> {
        let (s, ring) = open_input(selector, self.ring_s)?;
        let (rate, stats) = (s.sample_rate(), ring.stats().clone());
        engine.replace_input(ring, rate)?;
        let event = InputEvent::Switched {
            device: s.device_name().to_string(),
            rate,
            channels: s.channels(),
        };
        self.seconds_before = self.audio_seconds();
        self.selector = selector.to_string();
        self.rate = rate;
        self.stats = stats;
        self.watch = DeviceWatch::new();
        Ok(reap(self.stream.replace(s)).unwrap_or(event))
    }

    /// Lets go of the stream. A stream whose device died can block forever in its
    /// destructor (seen with ALSA's PulseAudio plugin after the server was killed), so a
    /// lost one is released on a thread of its own; returns the event when even that
    /// failed.
    pub fn release(mut self) -> Option<InputEvent> {
        let stream = self.stream.take();
        if self.watch.lost {
            reap(stream)
        } else {
            drop(stream);
            None
        }
    }
}

/// Notices a lost input device and paces the attempts to reopen it (0.5 s, doubling up
/// to 5 s).
struct DeviceWatch {
    last_frames: u64,
    last_progress: Instant,
    lost: bool,
    attempts: u32,
    next_try: Instant,
}

impl DeviceWatch {
    fn new() -> Self {
        DeviceWatch {
            last_frames: 0,
            last_progress: Instant::now(),
            lost: false,
            attempts: 0,
            next_try: Instant::now(),
        }
    }

    /// The loss, the first time it is noticed.
    fn check(&mut self, d: &InputStream, stats: &RingStats) -> Option<InputEvent> {
        let frames = stats.pushed_frames() + stats.dropped_frames();
        if frames != self.last_frames {
            self.last_frames = frames;
            self.last_progress = Instant::now();
        }
        if self.lost || !(d.failed() || self.last_progress.elapsed() > SILENT_DEVICE_TIMEOUT) {
            return None;
        }
        self.lost = true;
        let why = if d.failed() {
            format!("{} error(s) from the audio system", d.errors())
        } else {
            format!("no audio for {} s", SILENT_DEVICE_TIMEOUT.as_secs())
        };
        Some(InputEvent::Lost {
            device: d.device_name().to_string(),
            why,
        })
    }

    fn due(&self) -> bool {
        Instant::now() >= self.next_try
    }

    fn failed_attempt(&mut self, error: String) -> InputEvent {
        self.attempts += 1;
        self.next_try = Instant::now() + backoff(self.attempts);
        InputEvent::RetryFailed {
            error,
            attempts: self.attempts,
        }
    }
}

/// Wait before the next attempt after `attempts` failed ones: 1 s, 2 s, 4 s, then 5 s.
fn backoff(attempts: u32) -> Duration {
    Duration::from_secs_f64((0.5 * 2f64.powi(attempts.min(4) as i32)).min(5.0))
}

/// Drops a stream on a thread of its own; the event when no thread could be started.
fn reap(stream: Option<InputStream>) -> Option<InputEvent> {
    let s = stream?;
    std::thread::Builder::new()
        .name("mstag-reaper".into())
        .spawn(move || drop(s))
        .err()
        .map(|e| InputEvent::ReleaseFailed {
            error: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_five_seconds() {
        let waits: Vec<f64> = (1..=6).map(|n| backoff(n).as_secs_f64()).collect();
        assert_eq!(waits, [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]);
    }

    #[test]
    fn failed_attempts_are_counted_and_delay_the_next() {
        let mut w = DeviceWatch::new();
        assert!(w.due());
        let e = w.failed_attempt("busy".into());
        assert_eq!(
            e,
            InputEvent::RetryFailed {
                error: "busy".into(),
                attempts: 1
            }
        );
        assert!(!w.due(), "the next try waits");
    }
}
