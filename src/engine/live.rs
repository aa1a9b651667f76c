//! The inference thread: drains the ring, runs the shared pipeline, scores the three views
//! and publishes them without ever blocking the audio side.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use parking_lot::Mutex;

use super::pipeline::{FeaturePipeline, PipelineConfig, Tagger};
use super::scores::Scores;
use crate::error::{Error, Result};
use crate::model::ModelSet;
use crate::stream::RingConsumer;

/// How updates reach the consumer of [`Engine::updates`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Never wait: when the consumer lags, updates are skipped (and counted). For live input.
    Lossy,
    /// Wait for the consumer: every update is delivered. For files played with `--fast`.
    Lossless,
}

#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    pub pipeline: PipelineConfig,
    pub delivery: Delivery,
    /// Sleep between polls of an empty ring.
    pub poll: Duration,
    /// Samples popped from the ring per pipeline push.
    pub block_frames: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            pipeline: PipelineConfig::default(),
            delivery: Delivery::Lossy,
            // 2 ms: half the wake-ups of 1 ms for ~1 ms more latency (BENCHMARKS.md, poll sweep).
            poll: Duration::from_millis(2),
            block_frames: 1024,
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
        let tagger = Tagger::new(classifier);
        let (tx, rx) = crossbeam_channel::bounded(4096);
        let (tb_in, tb_out) = triple_buffer::triple_buffer(&Scores::default());
        let stop = Arc::new(AtomicBool::new(false));
        let reset = Arc::new(AtomicBool::new(false));
        let segments = Arc::new(AtomicU64::new(0));
        let (control_tx, control_rx) = crossbeam_channel::unbounded();
        let worker = Worker {
            ring,
            pipeline,
            tagger,
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
    }

    /// Switches the engine to input at `rate` Hz (a plugin host changed its sample rate)
    /// without losing the session: the samples already in the ring are analysed at the old
    /// rate first, then the resampler is rebuilt; aggregates and the time line carry on. Call
    /// it while the producer is not pushing (between a plugin's deactivation and its next
    /// `process()`); it waits (up to 10 s) until the inference thread has switched.
    pub fn set_input_rate(&self, rate: u32) -> Result<()> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.control
            .send(Control::SetInputRate(rate, tx))
            .map_err(|_| Error::EngineStopped("the inference thread has ended".into()))?;
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(Error::InvalidSetting {
                name: "input sample rate",
                value: rate.to_string(),
                reason,
            }),
            Err(_) => Err(Error::EngineStopped(
                "the inference thread did not answer the sample-rate change".into(),
            )),
        }
    }

    /// Switches the engine to a new input ring (e.g. a device reopened after it was lost)
    /// at `rate` Hz, keeping the session: what is left in the old ring is analysed first.
    /// The old ring's producer may still exist; it is simply no longer read.
    pub fn replace_input(&self, ring: RingConsumer, rate: u32) -> Result<()> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.control
            .send(Control::ReplaceInput(ring, rate, tx))
            .map_err(|_| Error::EngineStopped("the inference thread has ended".into()))?;
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(Error::InvalidSetting {
                name: "input",
                value: format!("{rate} Hz"),
                reason,
            }),
            Err(_) => Err(Error::EngineStopped(
                "the inference thread did not answer the input change".into(),
            )),
        }
    }

    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Asks the thread to stop once the ring is empty, without waiting for it (then
    /// [`Engine::join`]). The last published scores stay the final ones.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// Stops the thread (it finishes what is in the ring first only if the producer is gone).
    pub fn stop(mut self) -> Result<EngineSummary> {
        self.stop.store(true, Ordering::Release);
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
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Worker {
    ring: RingConsumer,
    pipeline: FeaturePipeline,
    tagger: Tagger,
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
}

/// Sees each block of interleaved input on the inference thread.
pub type Tap = Box<dyn FnMut(&[f32]) + Send>;

impl Worker {
    fn run(mut self) -> Result<EngineSummary> {
        let ch = self.ring.channels();
        let mut buf = vec![0.0f32; self.cfg.block_frames.max(64) * ch];
        let mut scores = Scores::default();
        let mut skipped = 0u64;
        let mut latency = Vec::with_capacity(1 << 16);
        let mut published_any = false;
        loop {
            if self.reset.swap(false, Ordering::AcqRel) {
                self.pipeline.reset_aggregates();
            }
            while let Ok(control) = self.control.try_recv() {
                let (rate, new_ring, reply) = match control {
                    Control::SetInputRate(rate, reply) => (rate, None, reply),
                    Control::ReplaceInput(ring, rate, reply) => (rate, Some(ring), reply),
                };
                // Everything still in the ring was recorded at the old rate.
                loop {
                    let n = self.ring.pop_frames(&mut buf);
                    if n == 0 {
                        break;
                    }
                    if let Some(tap) = self.tap.as_mut() {
                        tap(&buf[..n]);
                    }
                    if self.pipeline.push(&buf[..n])? > 0 && self.score(&mut scores)? {
                        if !self.publish(&scores) {
                            skipped += 1;
                        }
                        published_any = true;
                    }
                }
                let switched = self.pipeline.set_input_rate(rate).and_then(|made| {
                    if let Some(ring) = new_ring {
                        self.pipeline.set_channels(ring.channels())?;
                        self.dropped_before += self.ring.stats().dropped_frames();
                        self.ring = ring;
                        buf.resize(self.cfg.block_frames.max(64) * self.ring.channels(), 0.0);
                    }
                    Ok(made)
                });
                match switched {
                    Ok(made) => {
                        if made > 0 && self.score(&mut scores)? {
                            if !self.publish(&scores) {
                                skipped += 1;
                            }
                            published_any = true;
                        }
                        let _ = reply.send(Ok(()));
                    }
                    // A refused rate is checked before anything changes: carry on at the old one.
                    Err(Error::InvalidSetting { reason, .. }) => {
                        let _ = reply.send(Err(reason));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.to_string()));
                        return Err(e);
                    }
                }
            }
            let n = self.ring.pop_frames(&mut buf);
            if n > 0 {
                let popped = Instant::now();
                if let Some(tap) = self.tap.as_mut() {
                    tap(&buf[..n]);
                }
                let made = self.pipeline.push(&buf[..n])?;
                if made > 0 {
                    self.segments
                        .store(self.pipeline.segments(), Ordering::Relaxed);
                    if self.score(&mut scores)? {
                        if !self.publish(&scores) {
                            skipped += 1;
                        }
                        published_any = true;
                        if latency.len() < latency.capacity() {
                            latency.push(popped.elapsed().as_secs_f64());
                        }
                    }
                }
                continue;
            }
            if self.stop.load(Ordering::Acquire) {
                break;
            }
            if !self.ring.producer_alive() && self.ring.occupied_samples() < ch {
                // End of input: flush and publish the final session scores.
                self.pipeline.finish()?;
                self.segments
                    .store(self.pipeline.segments(), Ordering::Relaxed);
                if self.score(&mut scores)? || published_any {
                    self.publish(&scores);
                }
                break;
            }
            std::thread::sleep(self.cfg.poll);
        }
        let final_scores = (scores.seq > 0).then_some(scores);
        Ok(EngineSummary {
            final_scores,
            seconds: self.pipeline.time_s(),
            segments: self.pipeline.segments(),
            silent_segments: self.pipeline.silent_segments(),
            dropped_frames: self.dropped_before + self.ring.stats().dropped_frames(),
            skipped_updates: skipped,
            non_finite_samples: self.pipeline.non_finite_samples(),
            publish_latency_s: latency,
        })
    }

    fn score(&mut self, scores: &mut Scores) -> Result<bool> {
        let ok = self.tagger.score(&self.pipeline.aggregates, scores)?;
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
