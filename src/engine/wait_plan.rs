//! How long the inference thread sleeps while its ring is empty ([`Wake`]).

use std::time::{Duration, Instant};

use super::live::{EngineConfig, Wake, IDLE_AFTER, IDLE_POLL_MAX, SCHEDULED_SLEEP_MAX};

/// Decides how long the inference thread sleeps when its ring is empty ([`Wake`]).
///
/// A long sleep is only planned right after a short look found input: the input then ended
/// less than one poll ago, which fixes the phase of the producer's callbacks, so "frames
/// still needed / rate" is a time from now. The callback size is the smallest batch of
/// frames found by such looks among the last eight. Input need not arrive in real time (a
/// file played faster, a host rendering offline), so the time is divided by the measured
/// speed of the input; until that is known (the first quarter second, or after a sleep
/// found far more input than planned) there are no long sleeps.
pub(crate) struct WaitPlan {
    cfg: EngineConfig,
    /// Frames popped since the ring was last found empty.
    batch: u64,
    /// Whether the last sleep was a short look (so a batch found after it is fresh).
    looked: bool,
    /// Whether the current batch began right after a short look.
    fresh: bool,
    /// Recent fresh batch sizes (0: none yet).
    batches: [u64; 8],
    next_batch: usize,
    /// When the ring was last found empty after input, and the current idle back-off.
    empty_since: Option<Instant>,
    idle_poll: Duration,
    /// Frames popped since `speed_from`: how fast input arrives.
    speed_from: Option<Instant>,
    speed_frames: u64,
    /// Input speed in times real time (at least 1), once measured.
    speed: Option<f64>,
    /// Frames the last long sleep waited for.
    planned: u64,
}

/// Input speed is measured over windows of this length.
const SPEED_WINDOW: Duration = Duration::from_millis(250);

impl WaitPlan {
    pub(crate) fn new(cfg: EngineConfig) -> Self {
        WaitPlan {
            cfg,
            batch: 0,
            looked: true,
            fresh: false,
            batches: [0; 8],
            next_batch: 0,
            empty_since: None,
            idle_poll: cfg.poll,
            speed_from: None,
            speed_frames: 0,
            speed: None,
            planned: 0,
        }
    }

    /// `frames` were popped from the ring at `now`.
    pub(crate) fn popped(&mut self, frames: u64, now: Instant) {
        if self.batch == 0 {
            self.fresh = self.looked;
        }
        self.batch += frames;
        self.speed_frames += frames;
        self.speed_from.get_or_insert(now);
        self.empty_since = None;
        self.idle_poll = self.cfg.poll;
    }

    /// The callback size: the smallest recent fresh batch.
    fn callback_frames(&self) -> Option<u64> {
        self.batches.iter().copied().filter(|&b| b > 0).min()
    }

    /// The ring is empty at `now`: how long to sleep. The input is at `input_rate` Hz, and
    /// the next segment still needs `frames_needed` input frames
    /// ([`super::FeaturePipeline::input_frames_until_next_segment`]).
    pub(crate) fn next_sleep(
        &mut self,
        now: Instant,
        input_rate: u32,
        frames_needed: u64,
    ) -> Duration {
        let poll = self.cfg.poll;
        let Wake::Scheduled { early } = self.cfg.wake else {
            return poll;
        };
        let batch = std::mem::take(&mut self.batch);
        let fresh = std::mem::take(&mut self.fresh) && batch > 0;
        if batch == 0 {
            // Nothing new since the last look: back off once idle for a while.
            let since = *self.empty_since.get_or_insert(now);
            if now - since >= IDLE_AFTER {
                self.idle_poll = (self.idle_poll * 2).min(IDLE_POLL_MAX.max(poll));
            }
            self.looked = true;
            return self.idle_poll;
        }
        self.empty_since = Some(now);
        let rate = input_rate.max(1) as f64;
        if let Some(from) = self.speed_from {
            let span = now - from;
            if span >= SPEED_WINDOW {
                let real_time = span.as_secs_f64() * rate;
                self.speed = Some((self.speed_frames as f64 / real_time).max(1.0));
                self.speed_from = Some(now);
                self.speed_frames = 0;
            }
        }
        if fresh {
            self.batches[self.next_batch] = batch;
            self.next_batch = (self.next_batch + 1) % self.batches.len();
        }
        let cb = self.callback_frames().unwrap_or(1);
        if !self.looked && batch > 2 * self.planned + 2 * cb {
            // Far more input than the sleep planned for: it comes faster than measured.
            self.speed = None;
            self.speed_from = Some(now);
            self.speed_frames = 0;
        }
        if let (true, Some(speed)) = (fresh, self.speed) {
            let need = frames_needed;
            let frames = need.div_ceil(cb) * cb;
            let until = Duration::from_secs_f64(frames as f64 / (rate * speed));
            if need > 0 && until > early + poll {
                self.looked = false;
                self.planned = frames;
                return (until - early).min(SCHEDULED_SLEEP_MAX);
            }
        }
        self.looked = true;
        poll
    }
}

#[cfg(test)]
#[path = "wait_plan_tests.rs"]
mod tests;
