//! The inference thread: drains the ring, runs the shared pipeline, scores the three views
//! and publishes them without ever blocking the audio side.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use super::pipeline::{FeaturePipeline, PipelineConfig, Scorer};
use super::worker::Worker;
use crate::error::{Error, Result};
use crate::head::HeadSet;
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
    Scheduled {
        /// How long before the segment's input can have arrived the thread wakes to start
        /// polling (a margin for callbacks that come early or in bursts).
        early: Duration,
    },
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

/// How an [`Engine`] analyses and delivers: the pipeline's views, how updates reach the
/// consumer, how the inference thread waits for audio, and how much it analyses.
#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    /// Views and the silence gate (checked when the engine starts).
    pub pipeline: PipelineConfig,
    /// Whether updates may be skipped when the consumer of [`Engine::updates`] lags.
    pub delivery: Delivery,
    /// Sleep between looks at an empty ring (see [`Wake`]).
    pub poll: Duration,
    /// How the thread waits while the ring is empty: a look every [`EngineConfig::poll`], or
    /// sleeps scheduled for the next segment's end.
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
            // polling for less CPU than polling every 2 ms (measurements in BENCHMARKS.md).
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
    /// The scores at the end of input (the song-level result in [`Scores::session`]); `None`
    /// when none could be made (see `no_scores_reason`).
    pub final_scores: Option<Scores>,
    /// Seconds of input analysed, at the input's rate.
    pub seconds: f64,
    /// Segments analysed, summed over scales, silent ones included.
    pub segments: u64,
    /// Segments left out of the aggregates by the silence gate
    /// ([`PipelineConfig::silence_gate`]).
    pub silent_segments: u64,
    /// Input frames the audio side dropped because the ring was full.
    pub dropped_frames: u64,
    /// Updates not delivered on the updates channel because its consumer lagged
    /// ([`Delivery::Lossy`]).
    pub skipped_updates: u64,
    /// NaN or infinite input samples, replaced by 0 before analysis.
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
    /// A copy of the most recent scores (all zero, `seq` 0, before the first publish). Takes a
    /// short lock shared only with other readers, never with the inference thread.
    pub fn get(&self) -> Scores {
        *self.0.lock().read()
    }
}

/// Sees every published update on the inference thread, right after it is published (e.g. to
/// update a plugin's meters or wake a GUI). It runs on the inference thread: keep it short and
/// never block in it.
pub type PublishHook = Box<dyn FnMut(&Scores) + Send>;

/// Optional callbacks run on the inference thread ([`EngineBuilder::hooks`]).
#[derive(Default)]
pub struct EngineHooks {
    /// Sees each block of interleaved input before analysis.
    pub tap: Option<Tap>,
    /// Sees each published update.
    pub on_publish: Option<PublishHook>,
}

/// Requests to the inference thread that need an answer.
pub(super) enum Control {
    SetInputRate(u32, Sender<std::result::Result<(), String>>),
    /// A new ring (a reopened device) at this rate; the old ring is drained first.
    ReplaceInput(RingConsumer, u32, Sender<std::result::Result<(), String>>),
    /// New window length and EMA time constant, seconds (already validated).
    SetViewLengths(f64, f64, Sender<std::result::Result<(), String>>),
    /// Other heads of your own (already checked against the models).
    SetHeads(HeadSet, Sender<std::result::Result<(), String>>),
}

/// A running inference thread. Dropping it stops and joins the thread.
pub struct Engine {
    thread: Option<JoinHandle<Result<EngineSummary>>>,
    stop: Arc<AtomicBool>,
    reset: Arc<AtomicBool>,
    updates: Option<Receiver<Scores>>,
    latest: Latest,
    segments: Arc<AtomicU64>,
    control: Sender<Control>,
}

/// How to start an [`Engine`]: [`Engine::builder`], options, then [`EngineBuilder::start`].
///
/// By default the engine runs with [`EngineConfig::default`], no hooks and no updates
/// channel: its scores are read with [`Engine::latest`] (or seen by a publish hook). A
/// consumer that wants every update asks for the channel with [`EngineBuilder::updates`].
///
/// # Examples
/// ```no_run
/// use mstag::engine::{Engine, EngineConfig};
/// use mstag::model::{default_manifest_path, Device, ModelSet};
/// use mstag::stream::ring;
///
/// # fn main() -> mstag::Result<()> {
/// let models = ModelSet::load(&default_manifest_path(), Device::Cpu, 1)?;
/// let (mut producer, consumer) = ring(2, 48_000);
/// let engine = Engine::builder(models, consumer, 48_000)
///     .config(EngineConfig::default())
///     .updates(4096)
///     .start()?;
/// producer.push_interleaved(&vec![0.0; 2 * 48_000]);
/// drop(producer);
/// if let Some(updates) = engine.updates() {
///     for scores in updates.iter() {
///         println!("{:.1} s: {} segments", scores.t, scores.segments);
///     }
/// }
/// println!("{} segments", engine.join()?.segments);
/// # Ok(())
/// # }
/// ```
#[must_use = "an engine builder does nothing until `start` is called"]
pub struct EngineBuilder {
    models: ModelSet,
    ring: RingConsumer,
    input_rate: u32,
    cfg: EngineConfig,
    hooks: EngineHooks,
    updates: Option<usize>,
    heads: HeadSet,
}

impl EngineBuilder {
    /// Heads of your own scored beside the tags in every update ([`Scores::heads`]), on the
    /// inference thread, from the same views. Load them with [`HeadSet::load`], which checks
    /// they were trained on these models.
    pub fn heads(mut self, heads: HeadSet) -> Self {
        self.heads = heads;
        self
    }

    /// The engine's settings (default: [`EngineConfig::default`]).
    pub fn config(mut self, cfg: EngineConfig) -> Self {
        self.cfg = cfg;
        self
    }

    /// Callbacks on the inference thread ([`EngineHooks`]); replaces a [`Self::tap`] set
    /// before.
    pub fn hooks(mut self, hooks: EngineHooks) -> Self {
        self.hooks = hooks;
        self
    }

    /// A tap that sees every block of interleaved input on the inference thread, before
    /// analysis (e.g. to record the session to a file).
    pub fn tap(mut self, tap: Tap) -> Self {
        self.hooks.tap = Some(tap);
        self
    }

    /// Publishes every update on a channel of `capacity` updates as well, read with
    /// [`Engine::updates`]. With [`Delivery::Lossy`] an update that finds the channel full
    /// is skipped (and counted); with [`Delivery::Lossless`] the engine waits for room.
    /// Without this there is no channel (nothing is allocated for it) and delivery is moot.
    pub fn updates(mut self, capacity: usize) -> Self {
        self.updates = Some(capacity);
        self
    }

    /// Starts the inference thread.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for an updates channel of capacity 0 or a bad pipeline
    /// setting or input rate, [`Error::AudioFormat`] for an unsupported channel count, and
    /// [`Error::EngineStopped`] when the thread cannot be started.
    pub fn start(self) -> Result<Engine> {
        let EngineBuilder {
            models,
            ring,
            input_rate,
            cfg,
            hooks,
            updates,
            heads,
        } = self;
        if updates == Some(0) {
            return Err(Error::InvalidSetting {
                name: "updates",
                value: "0".into(),
                reason: "capacity of the updates channel: at least 1 update".into(),
            });
        }
        let ModelSet {
            manifest,
            scales,
            classifier,
            ..
        } = models;
        let pipeline =
            FeaturePipeline::new(&manifest, scales, input_rate, ring.channels(), cfg.pipeline)?;
        let mut scorer = Scorer::new(classifier);
        scorer.set_heads(heads)?;
        let (tx, rx) = updates.map(crossbeam_channel::bounded).unzip();
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
            manifest: Box::new(manifest),
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
}

impl Engine {
    /// An engine for `ring`, whose audio is at `input_rate` Hz, analysed with `models`: set
    /// its options on the [`EngineBuilder`], then [`EngineBuilder::start`] it.
    pub fn builder(models: ModelSet, ring: RingConsumer, input_rate: u32) -> EngineBuilder {
        EngineBuilder {
            models,
            ring,
            input_rate,
            cfg: EngineConfig::default(),
            hooks: EngineHooks::default(),
            updates: None,
            heads: HeadSet::default(),
        }
    }

    /// Cuts a sleep of the inference thread short (it has a request to look at).
    fn wake(&self) {
        if let Some(t) = self.thread.as_ref() {
            t.thread().unpark();
        }
    }

    /// Every published update, in order (lossy or lossless per [`Delivery`]), when the
    /// engine was started with a channel for them ([`EngineBuilder::updates`]); `None`
    /// otherwise.
    pub fn updates(&self) -> Option<&Receiver<Scores>> {
        self.updates.as_ref()
    }

    /// A handle to the most recent scores.
    pub fn latest(&self) -> Latest {
        self.latest.clone()
    }

    /// Segments analysed so far, summed over scales (updated at each publish).
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

    /// Scores other heads of your own from the next update on (an empty set: none), and
    /// republishes the current scores with them at once. The session goes on.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] when the heads read another feature length than the
    /// engine's models, [`Error::EngineStopped`] when the thread has ended.
    pub fn set_heads(&self, heads: HeadSet) -> Result<()> {
        let names: Vec<String> = heads.labels().into_iter().map(|h| h.name).collect();
        self.request(
            |reply| Control::SetHeads(heads, reply),
            "head",
            names.join(", "),
            "the change of heads",
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

    /// True once the inference thread has ended: end of input, a stop request, or an error
    /// (which [`Engine::join`] or [`Engine::stop`] then returns).
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
