//! The inference thread's loop: drains the ring, runs the pipeline, scores and publishes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::live::{Control, Delivery, EngineConfig, EngineSummary, InputFormat, PublishHook, Tap};
use super::pipeline::{FeaturePipeline, Scorer};
use super::wait_plan::WaitPlan;
use crate::error::{Error, Result};
use crate::model::Manifest;
use crate::scores::Scores;
use crate::stream::RingConsumer;

/// The inference thread's state: the input, the pipeline and where updates go.
pub(super) struct Worker {
    pub(super) ring: RingConsumer,
    pub(super) pipeline: FeaturePipeline,
    pub(super) scorer: Scorer,
    /// The channel behind [`super::Engine::updates`], when one was asked for.
    pub(super) tx: Option<Sender<Scores>>,
    pub(super) latest: triple_buffer::Input<Scores>,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) reset: Arc<AtomicBool>,
    pub(super) segments: Arc<AtomicU64>,
    pub(super) cfg: EngineConfig,
    pub(super) tap: Option<Tap>,
    pub(super) on_publish: Option<PublishHook>,
    pub(super) control: Receiver<Control>,
    /// Frames dropped by rings replaced after a device loss.
    pub(super) dropped_before: u64,
    /// For the reason given when the input yields no scores.
    pub(super) manifest: Box<Manifest>,
}

/// What the worker keeps across blocks while it runs.
struct RunState {
    buf: Vec<f32>,
    scores: Scores,
    skipped: u64,
    latency: Vec<f64>,
    published_any: bool,
}

impl Worker {
    /// The thread's loop, until the end of input, a stop or [`EngineConfig::max_input_s`].
    pub(super) fn run(mut self) -> Result<EngineSummary> {
        let mut st = RunState {
            buf: vec![0.0f32; self.cfg.block_frames.max(64) * self.ring.channels()],
            scores: Scores::default(),
            skipped: 0,
            latency: Vec::with_capacity(1 << 16),
            published_any: false,
        };
        let mut waits = WaitPlan::new(self.cfg);
        loop {
            if self.reset.swap(false, Ordering::AcqRel) {
                self.pipeline.reset_aggregates();
            }
            let mut limit_reached = false;
            while let Ok(control) = self.control.try_recv() {
                limit_reached |= self.handle_control(control, &mut st, &mut waits)?;
            }
            if !limit_reached {
                let n = self.ring.pop_frames(&mut st.buf);
                if n > 0 {
                    waits.popped((n / self.ring.channels()) as u64, Instant::now());
                    if !self.analyse(n, &mut st)? {
                        continue;
                    }
                    limit_reached = true;
                }
            }
            if !limit_reached && self.stop.load(Ordering::Acquire) {
                break;
            }
            let input_ended =
                !self.ring.producer_alive() && self.ring.occupied_samples() < self.ring.channels();
            if limit_reached || input_ended {
                // End of input (or of `max_input_s`): flush and publish the final scores.
                self.pipeline.finish()?;
                self.update(&mut st, true)?;
                break;
            }
            let sleep = waits.next_sleep(
                Instant::now(),
                self.pipeline.input_rate(),
                self.pipeline.input_frames_until_next_segment(),
            );
            // Woken early by a producer that may wait (it pushed, or left), or by a request.
            self.ring.wait_for_input(sleep);
        }
        let final_scores = (st.scores.seq > 0).then_some(st.scores);
        let no_scores_reason = final_scores
            .is_none()
            .then(|| super::no_scores_reason(&self.pipeline, &self.manifest));
        Ok(EngineSummary {
            no_scores_reason,
            final_scores,
            seconds: self.pipeline.time_s(),
            segments: self.pipeline.segments(),
            silent_segments: self.pipeline.silent_segments(),
            dropped_frames: self.dropped_before + self.ring.stats().dropped_frames(),
            skipped_updates: st.skipped,
            non_finite_samples: self.pipeline.non_finite_samples(),
            publish_latency_s: st.latency,
        })
    }

    /// Input frames still to analyse before [`EngineConfig::max_input_s`] (`None`: no limit).
    fn frames_left(&self) -> Option<u64> {
        self.cfg.max_input_s.map(|limit| {
            let left_s = (limit - self.pipeline.time_s()).max(0.0);
            (left_s * f64::from(self.pipeline.input_rate())).round() as u64
        })
    }

    /// Analyses the first `n` samples of `st.buf` (cut at [`EngineConfig::max_input_s`]):
    /// tap, pipeline, and a published update when a segment completed. Returns whether the
    /// limit is reached (the rest of the block is not analysed).
    fn analyse(&mut self, n: usize, st: &mut RunState) -> Result<bool> {
        let ch = self.ring.channels();
        let (n, limit_reached) = match self.frames_left() {
            Some(left) if (n / ch) as u64 >= left => (left as usize * ch, true),
            _ => (n, false),
        };
        if n == 0 {
            return Ok(limit_reached);
        }
        let popped = Instant::now();
        let block = std::mem::take(&mut st.buf);
        self.tap(&block[..n]);
        let made = self.pipeline.push(&block[..n]);
        st.buf = block;
        if made? > 0 && self.update(st, false)? && st.latency.len() < st.latency.capacity() {
            st.latency.push(popped.elapsed().as_secs_f64());
        }
        Ok(limit_reached)
    }

    /// The one way an update goes out: counts the segments analysed, scores the aggregates
    /// and publishes them if every scale has a segment, counting an update the consumer
    /// skipped. The `last` update of a stream is published even when the views cannot be
    /// scored (a reset emptied them) if anything was published before, so that the final
    /// update carries the final time and counts. Returns whether new scores were made.
    fn update(&mut self, st: &mut RunState, last: bool) -> Result<bool> {
        self.segments
            .store(self.pipeline.segments(), Ordering::Relaxed);
        let scored = self.score(&mut st.scores)?;
        if scored || (last && st.published_any) {
            if !self.publish(&st.scores) {
                st.skipped += 1;
            }
            st.published_any = true;
        }
        Ok(scored)
    }

    /// Carries out a request: the old ring is drained at the old rate first. Returns whether
    /// [`EngineConfig::max_input_s`] was reached while draining.
    fn handle_control(
        &mut self,
        control: Control,
        st: &mut RunState,
        waits: &mut WaitPlan,
    ) -> Result<bool> {
        let (rate, new_ring, reply) = match control {
            Control::SetInputRate(rate, reply) => (rate, None, reply),
            Control::ReplaceInput(ring, rate, reply) => (rate, Some(ring), reply),
            Control::SetViewLengths(window_s, ema_tau_s, reply) => {
                let done = self.pipeline.set_view_lengths(window_s, ema_tau_s);
                if done.is_ok() {
                    self.update(st, false)?;
                }
                let _ = reply.send(done.map_err(|e| crate::error::report(&e)));
                return Ok(false);
            }
            Control::SetHeads(heads, reply) => {
                let done = self.scorer.set_heads(heads);
                let answer = match done {
                    Ok(()) => {
                        if st.published_any {
                            self.update(st, false)?;
                        }
                        Ok(())
                    }
                    Err(Error::InvalidSetting { reason, .. }) => Err(reason),
                    Err(e) => Err(crate::error::report(&e)),
                };
                let _ = reply.send(answer);
                return Ok(false);
            }
        };
        // Everything still in the ring was recorded at the old rate.
        loop {
            let n = self.ring.pop_frames(&mut st.buf);
            if n == 0 {
                break;
            }
            if self.analyse(n, st)? {
                let _ = reply.send(Err("the engine reached its input limit".into()));
                return Ok(true);
            }
        }
        let switched = self.pipeline.set_input_rate(rate).and_then(|made| {
            if let Some(ring) = new_ring {
                self.pipeline.set_channels(ring.channels())?;
                self.dropped_before += self.ring.stats().dropped_frames();
                self.ring = ring;
                st.buf
                    .resize(self.cfg.block_frames.max(64) * self.ring.channels(), 0.0);
                *waits = WaitPlan::new(self.cfg);
            }
            Ok(made)
        });
        match switched {
            Ok(made) => {
                if made > 0 {
                    self.update(st, false)?;
                }
                let _ = reply.send(Ok(()));
                Ok(false)
            }
            // A refused rate is checked before anything changes: carry on at the old one.
            Err(Error::InvalidSetting { reason, .. }) => {
                let _ = reply.send(Err(reason));
                Ok(false)
            }
            Err(e) => {
                let _ = reply.send(Err(crate::error::report(&e)));
                Err(e)
            }
        }
    }

    /// Shows a block of input (in the ring's current format) to the tap, if there is one.
    fn tap(&mut self, block: &[f32]) {
        if let Some(tap) = self.tap.as_mut() {
            let format = InputFormat {
                rate: self.pipeline.input_rate(),
                channels: self.ring.channels(),
            };
            tap(block, format);
        }
    }

    /// Scores the three views into `scores` with the stream's bookkeeping; false (and the
    /// views untouched) while some scale has no segment.
    fn score(&mut self, scores: &mut Scores) -> Result<bool> {
        let ok = self.scorer.score(&self.pipeline.aggregates, scores)?;
        scores.t = self.pipeline.time_s();
        scores.dropped = self.dropped_before + self.ring.stats().dropped_frames();
        scores.segments = self.pipeline.segments();
        scores.silent = self.pipeline.is_silent();
        if ok {
            scores.seq += 1;
        }
        Ok(ok)
    }

    /// Writes the latest scores, shows them to the publish hook and sends them on the
    /// updates channel if there is one. Returns false when the update was skipped because
    /// the consumer lags.
    fn publish(&mut self, scores: &Scores) -> bool {
        self.latest.write(*scores);
        if let Some(hook) = self.on_publish.as_mut() {
            hook(scores);
        }
        let Some(tx) = self.tx.as_ref() else {
            return true;
        };
        match self.cfg.delivery {
            Delivery::Lossless => tx.send(*scores).is_ok(),
            Delivery::Lossy => !matches!(tx.try_send(*scores), Err(TrySendError::Full(_))),
        }
    }
}
