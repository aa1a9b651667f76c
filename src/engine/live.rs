//! The inference thread: drains the ring, runs the shared pipeline, scores the three views
//! and publishes them without ever blocking the audio side.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use parking_lot::Mutex;

use super::pipeline::{FeaturePipeline, PipelineConfig, Scorer};
use super::wait_plan::WaitPlan;
use crate::error::{Error, Result};
use crate::model::ModelSet;
use crate::scores::Scores;
use crate::stream::RingConsumer;

/// How updates reach the consumer of [`Engine::updates`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Never wait: when the consumer lags, updates are skipped (and counted). For live input.
    Lossy,
    /// Wait for the consumer: every update is delivered. For files played with `--fast`.
    Lossless,
}

/// How the inference thread waits for audio while its ring is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Look at the ring every [`EngineConfig::poll`].
    Poll,
    /// Sleep until `early` before the input that completes the next segment can have
    /// arrived, then look every [`EngineConfig::poll`]. The frames still needed come from
    /// the pipeline ([`FeaturePipeline::input_frames_until_next_segment`]), rounded up to
    /// whole callbacks of the size last seen. The latency of polling every `poll` for a
    /// fraction of the wake-ups (BENCHMARKS.md). After [`IDLE_AFTER`] without input (a
    /// stopped host, a paused file) the looks back off to one every [`IDLE_POLL_MAX`].
    Scheduled { early: Duration },
}

/// The smallest ring, in seconds of input at `input_rate` Hz, between a producer that
/// pushes `callback_frames` at a time and an engine with `cfg`: one callback, the engine's
/// pop block, and, for a real-time producer (which drops what does not fit and never wakes
/// the engine), the longest scheduled sleep of the engine. A producer that waits for room
/// ([`crate::stream::RingProducer::push_waiting`]) wakes the engine, so it needs no more than
/// the block and the callback.
///
/// # Examples
/// ```
/// use mstag::engine::{min_ring_seconds, EngineConfig};
/// let rt = min_ring_seconds(44_100, 512, &EngineConfig::default(), true);
/// let fast = min_ring_seconds(44_100, 512, &EngineConfig::default(), false);
/// assert!(rt > 0.25 && fast < 0.05);
/// ```
pub fn min_ring_seconds(
    input_rate: u32,
    callback_frames: usize,
    cfg: &EngineConfig,
    real_time: bool,
) -> f64 {
    let frames = (callback_frames + cfg.block_frames.max(64)) as f64;
    let sleep = match (real_time, cfg.wake) {
        (true, Wake::Scheduled { .. }) => SCHEDULED_SLEEP_MAX.max(IDLE_POLL_MAX),
        (true, Wake::Poll) => cfg.poll,
        (false, _) => Duration::ZERO,
    };
    frames / f64::from(input_rate.max(1)) + sleep.as_secs_f64()
}

/// Without input for this long, a [`Wake::Scheduled`] engine backs off its polling.
pub const IDLE_AFTER: Duration = Duration::from_millis(100);
/// The longest sleep between looks at an idle ring, and the longest scheduled sleep.
pub const IDLE_POLL_MAX: Duration = Duration::from_millis(10);
pub(crate) const SCHEDULED_SLEEP_MAX: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    pub pipeline: PipelineConfig,
    pub delivery: Delivery,
    /// Sleep between looks at an empty ring (see [`Wake`]).
    pub poll: Duration,
    pub wake: Wake,
    /// Samples popped from the ring per pipeline push.
    pub block_frames: usize,
    /// Analyse at most this many seconds of input, then end as at the end of input (the
    /// final scores are published and the thread ends); `None` for no limit. Exact to the
    /// frame whatever the pace of the input (`mstag-live --duration`).
    pub max_input_s: Option<f64>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            pipeline: PipelineConfig::default(),
            delivery: Delivery::Lossy,
            // Scheduled wake-ups with a 1 ms poll near a segment's end: the latency of 1 ms
            // polling at about a fifth of the CPU of 2 ms polling (BENCHMARKS.md).
            poll: Duration::from_millis(1),
            wake: Wake::Scheduled {
                early: Duration::from_millis(2),
            },
            block_frames: 1024,
            max_input_s: None,
        }
    }
}

/// What the inference thread reports when it ends.
#[derive(Debug, Clone)]
pub struct EngineSummary {
    pub final_scores: Option<Scores>,
    pub seconds: f64,
    pub segments: u64,
    pub silent_segments: u64,
    pub dropped_frames: u64,
    pub skipped_updates: u64,
    pub non_finite_samples: u64,
    /// Time from popping the block that completed a segment to publishing its scores, seconds.
    pub publish_latency_s: Vec<f64>,
    /// Why there are no final scores (input too short or digital silence), in the words
    /// `mstag tag` uses ([`no_scores_reason`](super::no_scores_reason)); `None` when there are.
    pub no_scores_reason: Option<super::NoScores>,
}

/// Latest published scores, readable from any thread (the writer never waits on readers).
#[derive(Clone)]
pub struct Latest(Arc<Mutex<triple_buffer::Output<Scores>>>);

impl Latest {
    pub fn get(&self) -> Scores {
        *self.0.lock().read()
    }
}

/// Sees every published update on the inference thread, right after it is published (e.g. to
/// update a plugin's meters or wake a GUI). It runs on the inference thread: keep it short and
/// never block in it.
pub type PublishHook = Box<dyn FnMut(&Scores) + Send>;

/// Optional callbacks run on the inference thread ([`Engine::start_with_hooks`]).
#[derive(Default)]
pub struct EngineHooks {
    /// Sees each block of interleaved input before analysis.
    pub tap: Option<Tap>,
    /// Sees each published update.
    pub on_publish: Option<PublishHook>,
}

/// Requests to the inference thread that need an answer.
enum Control {
    SetInputRate(u32, Sender<std::result::Result<(), String>>),
    /// A new ring (a reopened device) at this rate; the old ring is drained first.
    ReplaceInput(RingConsumer, u32, Sender<std::result::Result<(), String>>),
    /// New window length and EMA time constant, seconds (already validated).
    SetViewLengths(f64, f64, Sender<std::result::Result<(), String>>),
}

/// A running inference thread. Dropping it stops and joins the thread.
pub struct Engine {
    thread: Option<JoinHandle<Result<EngineSummary>>>,
    stop: Arc<AtomicBool>,
    reset: Arc<AtomicBool>,
    updates: Receiver<Scores>,
    latest: Latest,
    segments: Arc<AtomicU64>,
    control: Sender<Control>,
}

impl Engine {
    /// Starts the inference thread on `ring`, whose audio is at `input_rate` Hz.
    pub fn start(
        models: ModelSet,
        ring: RingConsumer,
        input_rate: u32,
        cfg: EngineConfig,
    ) -> Result<Engine> {
        Self::start_with_tap(models, ring, input_rate, cfg, None)
    }

    /// Like [`Engine::start`], with a tap that sees every block of interleaved input on the
    /// inference thread, before analysis (e.g. to record the session to a file).
    pub fn start_with_tap(
        models: ModelSet,
        ring: RingConsumer,
        input_rate: u32,
        cfg: EngineConfig,
        tap: Option<Tap>,
    ) -> Result<Engine> {
        Self::start_with_hooks(
            models,
            ring,
            input_rate,
            cfg,
            EngineHooks {
                tap,
                on_publish: None,
            },
        )
    }

    /// Like [`Engine::start`], with callbacks on the inference thread ([`EngineHooks`]).
    pub fn start_with_hooks(
        models: ModelSet,
        ring: RingConsumer,
        input_rate: u32,
        cfg: EngineConfig,
        hooks: EngineHooks,
    ) -> Result<Engine> {
        let ModelSet {
            manifest,
            scales,
            classifier,
        } = models;
        let pipeline =
            FeaturePipeline::new(&manifest, scales, input_rate, ring.channels(), cfg.pipeline)?;
        let manifest = Box::new(manifest);
        let scorer = Scorer::new(classifier);
        let (tx, rx) = crossbeam_channel::bounded(4096);
        let (tb_in, tb_out) = triple_buffer::triple_buffer(&Scores::default());
        let stop = Arc::new(AtomicBool::new(false));
        let reset = Arc::new(AtomicBool::new(false));
        let segments = Arc::new(AtomicU64::new(0));
        let (control_tx, control_rx) = crossbeam_channel::unbounded();
        let worker = Worker {
            ring,
            pipeline,
            scorer,
            tx,
            latest: tb_in,
            stop: stop.clone(),
            reset: reset.clone(),
            segments: segments.clone(),
            cfg,
            tap: hooks.tap,
            on_publish: hooks.on_publish,
            control: control_rx,
            dropped_before: 0,
            manifest,
        };
        let thread = std::thread::Builder::new()
            .name("mstag-inference".into())
            .spawn(move || worker.run())
            .map_err(|e| Error::EngineStopped(format!("cannot start the inference thread: {e}")))?;
        Ok(Engine {
            thread: Some(thread),
            stop,
            reset,
            updates: rx,
            latest: Latest(Arc::new(Mutex::new(tb_out))),
            segments,
            control: control_tx,
        })
    }

    /// Cuts a sleep of the inference thread short (it has a request to look at).
    fn wake(&self) {
        if let Some(t) = self.thread.as_ref() {
            t.thread().unpark();
        }
    }

    /// Every published update, in order (lossy or lossless per [`Delivery`]).
    pub fn updates(&self) -> &Receiver<Scores> {
        &self.updates
    }

    /// A handle to the most recent scores.
    pub fn latest(&self) -> Latest {
        self.latest.clone()
    }

    pub fn segments(&self) -> u64 {
        self.segments.load(Ordering::Relaxed)
    }

    /// Asks the thread to forget the session (all three views) at its next block.
    pub fn reset_session(&self) {
        self.reset.store(true, Ordering::Release);
        self.wake();
    }

    /// Switches the engine to input at `rate` Hz (a plugin host changed its sample rate)
    /// without losing the session: the samples already in the ring are analysed at the old
    /// rate first, then the resampler is rebuilt; aggregates and the time line carry on. Call
    /// it while the producer is not pushing (between a plugin's deactivation and its next
    /// `process()`); it waits (up to 10 s) until the inference thread has switched.
    pub fn set_input_rate(&self, rate: u32) -> Result<()> {
        self.request(
            |reply| Control::SetInputRate(rate, reply),
            "input sample rate",
            rate.to_string(),
            "the sample-rate change",
        )
    }

    /// Changes the window length and the EMA time constant (checked like
    /// [`PipelineConfig::validate`]) while running, keeping the session (see
    /// [`crate::aggregate::ScaleAggregate::set_lengths`]); the views are scored again at
    /// once. The audio side is not involved. Waits (up to 10 s) for the inference thread.
    pub fn set_view_lengths(&self, window_s: f64, ema_tau_s: f64) -> Result<()> {
        PipelineConfig {
            window_s,
            ema_tau_s,
            ..PipelineConfig::default()
        }
        .validate()?;
        self.request(
            |reply| Control::SetViewLengths(window_s, ema_tau_s, reply),
            "window",
            format!("{window_s} s (EMA {ema_tau_s} s)"),
            "the change of window and EMA lengths",
        )
    }

    /// Switches the engine to a new input ring (e.g. a device reopened after it was lost)
    /// at `rate` Hz, keeping the session: what is left in the old ring is analysed first.
    /// The old ring's producer may still exist; it is simply no longer read.
    pub fn replace_input(&self, ring: RingConsumer, rate: u32) -> Result<()> {
        self.request(
            |reply| Control::ReplaceInput(ring, rate, reply),
            "input",
            format!("{rate} Hz"),
            "the input change",
        )
    }

    /// Sends a control request to the inference thread, wakes it and waits (up to 10 s) for
    /// its answer; a refusal is an [`Error::InvalidSetting`] for `name` = `value`.
    fn request(
        &self,
        control: impl FnOnce(Sender<std::result::Result<(), String>>) -> Control,
        name: &'static str,
        value: String,
        what: &str,
    ) -> Result<()> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.control
            .send(control(tx))
            .map_err(|_| Error::EngineStopped("the inference thread has ended".into()))?;
        self.wake();
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(Error::InvalidSetting {
                name,
                value,
                reason,
            }),
            Err(_) => Err(Error::EngineStopped(format!(
                "the inference thread did not answer {what}"
            ))),
        }
    }

    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Asks the thread to stop once the ring is empty, without waiting for it (then
    /// [`Engine::join`]). The last published scores stay the final ones.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.wake();
    }

    /// Stops the thread (it finishes what is in the ring first only if the producer is gone).
    pub fn stop(mut self) -> Result<EngineSummary> {
        self.stop.store(true, Ordering::Release);
        self.wake();
        self.join_inner()
    }

    /// Waits for the end of input (the producer dropped and the ring drained).
    pub fn join(mut self) -> Result<EngineSummary> {
        self.join_inner()
    }

    fn join_inner(&mut self) -> Result<EngineSummary> {
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| Error::EngineStopped("the inference thread panicked".into()))?,
            None => Err(Error::EngineStopped("already joined".into())),
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Worker {
    ring: RingConsumer,
    pipeline: FeaturePipeline,
    scorer: Scorer,
    tx: Sender<Scores>,
    latest: triple_buffer::Input<Scores>,
    stop: Arc<AtomicBool>,
    reset: Arc<AtomicBool>,
    segments: Arc<AtomicU64>,
    cfg: EngineConfig,
    tap: Option<Tap>,
    on_publish: Option<PublishHook>,
    control: Receiver<Control>,
    /// Frames dropped by rings replaced after a device loss.
    dropped_before: u64,
    /// For the reason given when the input yields no scores.
    manifest: Box<crate::model::Manifest>,
}

/// Sees each block of interleaved input on the inference thread, with its format (which
/// changes after [`Engine::set_input_rate`] or [`Engine::replace_input`]).
pub type Tap = Box<dyn FnMut(&[f32], InputFormat) + Send>;

/// The format of a block of input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputFormat {
    /// Sample rate, Hz.
    pub rate: u32,
    /// Interleaved channels per frame.
    pub channels: usize,
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
    fn run(mut self) -> Result<EngineSummary> {
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
                    waits.popped((n / self.ring.channels()) as u64);
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
                self.segments
                    .store(self.pipeline.segments(), Ordering::Relaxed);
                if self.score(&mut st.scores)? || st.published_any {
                    self.publish(&st.scores);
                }
                break;
            }
            let sleep = waits.next_sleep(&self.pipeline);
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
        if made? > 0 {
            self.segments
                .store(self.pipeline.segments(), Ordering::Relaxed);
            if self.score_and_publish(st)? && st.latency.len() < st.latency.capacity() {
                st.latency.push(popped.elapsed().as_secs_f64());
            }
        }
        Ok(limit_reached)
    }

    /// Scores the aggregates and publishes them if every scale has a segment; counts an
    /// update the consumer skipped. Returns whether scores were published.
    fn score_and_publish(&mut self, st: &mut RunState) -> Result<bool> {
        if !self.score(&mut st.scores)? {
            return Ok(false);
        }
        if !self.publish(&st.scores) {
            st.skipped += 1;
        }
        st.published_any = true;
        Ok(true)
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
                    self.score_and_publish(st)?;
                }
                let _ = reply.send(done.map_err(|e| e.to_string()));
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
                    self.score_and_publish(st)?;
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
                let _ = reply.send(Err(e.to_string()));
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

    /// Returns false when the update was skipped because the consumer lags.
    fn publish(&mut self, scores: &Scores) -> bool {
        self.latest.write(*scores);
        if let Some(hook) = self.on_publish.as_mut() {
            hook(scores);
        }
        match self.cfg.delivery {
            Delivery::Lossless => self.tx.send(*scores).is_ok(),
            Delivery::Lossy => !matches!(self.tx.try_send(*scores), Err(TrySendError::Full(_))),
        }
    }
}
