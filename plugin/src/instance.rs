//! One plugin instance's engine, OSC sender and status, shared by the plugin object (main
//! thread: activation, state), the inference thread's publish hook and the editor.
//!
//! `process()` never touches any of this: it owns the ring's producer
//! ([`crate::feed::AudioFeed`]) and the reading ends of two triple buffers, the latest scores
//! and the MIDI plan ([`crate::midi::MidiOut`]), whose writing ends are here.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use mstag::calibration::Calibration;
use mstag::engine::{
    Delivery, Engine, EngineConfig, EngineHooks, HeadLabels, Latest, PipelineConfig, Scores,
};
use mstag::head::HeadSet;
use mstag::model::{runtime, Device, Manifest, ModelSet};
use mstag::output::osc::normalize_prefix;
use mstag::output::{OscConfig, OscSender};
use mstag::stream::ring;
use mstag::synonyms::SynonymGroups;
use nice_plug::prelude::*;
use nice_plug_egui::RepaintNotifier;

use crate::bars::calibrate_view;
use crate::feed::AudioFeed;
use crate::locate;
use crate::midi::{midi_channel, CcPlan, MidiInputs, MidiOut};
use crate::params::{MstagParams, TagNames};
use crate::settings::{describe, ScaleChoice, Settings, ViewChoice};

/// Ring capacity in (mono) frames: about 22 s at 48 kHz, so the engine may lag a lot before a
/// single frame is dropped.
pub const RING_FRAMES: usize = 1 << 20;

/// What the editor shows about the engine.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineState {
    /// Not activated by the host yet.
    Idle,
    /// Running at this input sample rate.
    Running { rate: u32 },
    /// Models or ONNX Runtime missing, or the engine failed: the message says what to do.
    /// Audio still passes through.
    Failed(String),
}

/// What the editor needs for one frame.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub state: EngineState,
    pub scores: Option<Scores>,
    pub tags: Arc<[String]>,
    pub osc: String,
    /// The window length and EMA time constant the engine runs with, seconds.
    pub window_s: f64,
    pub ema_s: f64,
    /// Why the engine kept its old lengths after a change, if it did.
    pub lengths_error: Option<String>,
    /// The heads of your own the engine scores ([`Scores::heads`] follows their labels).
    pub heads: Arc<[HeadLabels]>,
    /// What became of the heads folder: loaded, or why not.
    pub heads_status: String,
    /// The models' calibration (`None`: not loaded yet, or the manifest has none).
    pub calibration: Option<Arc<Calibration>>,
    /// What MIDI sends, or why nothing.
    pub midi: String,
    /// Chosen MIDI tags that are not the model's tags.
    pub midi_unknown: Vec<String>,
}

/// What the OSC sender is started with: the settings that matter to it.
#[derive(Debug, Clone, PartialEq)]
struct OscWanted {
    target: String,
    prefix: String,
    rate_hz: u32,
    view: ViewChoice,
    smooth_s: f64,
    heads: Arc<[HeadLabels]>,
}

impl OscWanted {
    fn of(s: &Settings, heads: &Arc<[HeadLabels]>) -> OscWanted {
        OscWanted {
            target: s.osc_target.clone(),
            prefix: s.osc_prefix.clone(),
            rate_hz: s.osc_rate_hz,
            view: s.osc_view(),
            smooth_s: s.osc_smooth_s,
            heads: heads.clone(),
        }
    }
}

#[derive(Default)]
struct Runtime {
    engine: Option<Engine>,
    latest: Option<Latest>,
    tags: Option<Arc<[String]>>,
    rate: u32,
    error: Option<String>,
    osc: Option<OscSender>,
    /// The settings the running sender was started with, or the refused ones.
    osc_applied: Option<OscWanted>,
    osc_status: String,
    /// The (window, EMA) lengths the engine runs with.
    lengths: (f64, f64),
    lengths_error: Option<String>,
    /// The manifest of the running models, to check heads against.
    manifest: Option<Manifest>,
    /// The labels of the heads the engine scores.
    heads: Option<Arc<[HeadLabels]>>,
    /// The heads folder last applied (loaded or refused).
    heads_applied: Option<String>,
    heads_status: String,
    /// The models' per-tag quantiles, when the manifest has them.
    calibration: Option<Arc<Calibration>>,
    midi_status: String,
    midi_unknown: Vec<String>,
}

/// What [`Shared::activate`] hands the plugin.
pub struct Activation {
    /// The audio side of a newly started engine.
    pub feed: Option<AudioFeed>,
    /// Whether the engine runs at the host's rate (feed it) or not (pass audio through only).
    pub analyse: bool,
    /// The models' calibration, for MIDI (`None`: nothing is sent).
    pub calibration: Option<Calibration>,
}

pub struct Shared {
    pub params: Arc<MstagParams>,
    pub tag_names: TagNames,
    pub repaint: RepaintNotifier,
    runtime: Mutex<Runtime>,
    /// The view the meters follow (a [`ViewChoice`] index), read by the publish hook.
    meter_view: Arc<AtomicU8>,
    /// Whether the meters group synonyms (not "all tags"), read by the publish hook.
    meter_grouped: Arc<AtomicBool>,
    /// Whether the meters show calibrated values, read by the publish hook.
    meter_calibrated: Arc<AtomicBool>,
    /// The writing ends of what `process()` reads for MIDI: the latest scores (by the publish
    /// hook) and the plan (by [`Shared::apply_settings`]).
    midi: Arc<MidiInputs>,
    osc_event: Arc<Mutex<Option<String>>>,
    engine_config: EngineConfig,
}

impl Shared {
    /// A new instance's shared state, and the audio thread's MIDI side (for the plugin
    /// object).
    pub fn new() -> (Arc<Shared>, MidiOut) {
        let tag_names: TagNames = Default::default();
        let params = Arc::new(MstagParams::new(&tag_names));
        // Scheduled wake-ups: the thread sleeps until a segment is nearly due, and backs off
        // to one look every 10 ms while the host sends nothing (transport stopped).
        let engine_config = EngineConfig {
            delivery: Delivery::Lossy,
            ..EngineConfig::default()
        };
        let settings = params.settings.get();
        let (midi_inputs, midi_out) = midi_channel();
        let shared = Arc::new(Shared {
            meter_view: Arc::new(AtomicU8::new(settings.view.index())),
            meter_grouped: Arc::new(AtomicBool::new(!settings.all_tags)),
            meter_calibrated: Arc::new(AtomicBool::new(settings.scale == ScaleChoice::Calibrated)),
            midi: Arc::new(midi_inputs),
            params,
            tag_names,
            repaint: RepaintNotifier::new(),
            runtime: Mutex::new(Runtime::default()),
            osc_event: Arc::new(Mutex::new(None)),
            engine_config,
        });
        let weak = Arc::downgrade(&shared);
        shared.params.settings.set_listener(Arc::new(move || {
            if let Some(s) = weak.upgrade() {
                s.apply_settings();
            }
        }));
        (shared, midi_out)
    }

    fn rt(&self) -> MutexGuard<'_, Runtime> {
        self.runtime.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called from `Plugin::activate` (main thread). The first time it loads the models and
    /// starts the inference thread at the host's rate and returns the audio side; later calls
    /// (the host re-activating for a new buffer size or sample rate, or after a state load)
    /// keep the engine and its session, only telling it about a new rate. The feed is `None`
    /// when the audio side already exists or the engine cannot run (see
    /// [`EngineState::Failed`]); `analyse` says whether the engine runs at `rate` (a rate it
    /// refuses leaves it at the old one, and the audio must then not reach it).
    pub fn activate(&self, rate: u32) -> Activation {
        let feed = {
            let mut rt = self.rt();
            if let Some(engine) = rt.engine.as_ref() {
                if rt.rate == rate {
                    // Back at the engine's rate (after a refused one): analyse again.
                    rt.error = None;
                } else {
                    match engine.set_input_rate(rate) {
                        Ok(()) => {
                            nice_log!(
                                "mstag: sample rate {} Hz -> {rate} Hz, session kept",
                                rt.rate
                            );
                            rt.rate = rate;
                            rt.error = None;
                        }
                        Err(e) => {
                            let msg = format!("cannot switch to {rate} Hz: {e}");
                            nice_error!("mstag: {msg}");
                            rt.error = Some(msg);
                        }
                    }
                }
                None
            } else {
                match self.start_engine(&mut rt, rate) {
                    Ok(feed) => Some(feed),
                    Err(msg) => {
                        nice_error!("mstag: {msg} (audio passes through untouched)");
                        rt.error = Some(msg);
                        None
                    }
                }
            }
        };
        let (analyse, calibration) = {
            let rt = self.rt();
            let calibration = rt.calibration.as_deref().cloned();
            (rt.engine.is_some() && rt.rate == rate, calibration)
        };
        self.apply_settings();
        self.repaint.request_repaint();
        Activation {
            feed,
            analyse,
            calibration,
        }
    }

    fn start_engine(&self, rt: &mut Runtime, rate: u32) -> Result<AudioFeed, String> {
        let data = locate::find_data()?;
        // ONNX Runtime reads this when it loads (below, once per process): its telemetry
        // uploader's threads would interrupt the host's audio thread. A plugin has no moment
        // before all threads: this is the earliest it can, before the runtime and the
        // plugin's own threads start, and only when the host has not set it.
        // Once per process, so two instances starting together never set it at once.
        static TELEMETRY_OFF: std::sync::Once = std::sync::Once::new();
        TELEMETRY_OFF.call_once(|| {
            if let Some((var, value)) = runtime::telemetry_opt_out() {
                std::env::set_var(var, value);
            }
        });
        if !runtime::set_library_path(&data.ort_library) {
            nice_warn!(
                "mstag: ONNX Runtime was already loaded in this process from {}; using it",
                runtime::library_path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
        }
        let models =
            ModelSet::load(&data.manifest, Device::Cpu, 1).map_err(|e| mstag::error::report(&e))?;
        let tags: Arc<[String]> = models.manifest.tags.clone().into();
        let manifest = models.manifest.clone();
        let calibration = manifest.calibration().map(Arc::new);
        let _ = self.tag_names.set(tags.to_vec());
        let (producer, consumer) = ring(1, RING_FRAMES);
        let hook = {
            let params = self.params.clone();
            let view = self.meter_view.clone();
            let grouped = self.meter_grouped.clone();
            let calibrated = self.meter_calibrated.clone();
            let audio = self.midi.clone();
            let cal = calibration.clone();
            let groups = SynonymGroups::new(&tags);
            let repaint = self.repaint.clone();
            Box::new(move |s: &Scores| {
                audio.publish_scores(s);
                let v = ViewChoice::from_index(view.load(Ordering::Relaxed)).view();
                let g = grouped.load(Ordering::Relaxed).then_some(&groups);
                match cal
                    .as_deref()
                    .filter(|_| calibrated.load(Ordering::Relaxed))
                {
                    Some(c) => params.set_meters(&calibrate_view(s, v, c), v, g),
                    None => params.set_meters(s, v, g),
                }
                repaint.request_repaint();
            })
        };
        // The lengths saved with the project (a state load before the first activation).
        let settings = self.params.settings.get();
        let config = EngineConfig {
            pipeline: PipelineConfig {
                window_s: settings.window_s,
                ema_tau_s: settings.ema_s,
                ..self.engine_config.pipeline
            },
            ..self.engine_config
        };
        // No updates channel: the editor and the meters read `latest` and the hook.
        let engine = Engine::builder(models, consumer, rate)
            .config(config)
            .hooks(EngineHooks {
                tap: None,
                on_publish: Some(hook),
            })
            .start()
            .map_err(|e| mstag::error::report(&e))?;
        nice_log!(
            "mstag: engine started at {rate} Hz (models {}, ONNX Runtime {})",
            data.manifest.display(),
            data.ort_library.display()
        );
        rt.latest = Some(engine.latest());
        rt.lengths = (config.pipeline.window_s, config.pipeline.ema_tau_s);
        rt.lengths_error = None;
        rt.engine = Some(engine);
        rt.manifest = Some(manifest);
        rt.calibration = calibration;
        rt.heads_applied = None;
        rt.tags = Some(tags);
        rt.rate = rate;
        rt.error = None;
        Ok(AudioFeed::new(producer))
    }

    /// Loads the heads folder of the settings again (the editor's Load button on the same
    /// folder: heads retrained in place).
    pub fn reload_heads(&self) {
        self.rt().heads_applied = None;
        self.apply_settings();
    }

    /// Forgets the session (all three views); the editor's reset button.
    pub fn reset_session(&self) {
        if let Some(e) = self.rt().engine.as_ref() {
            e.reset_session();
        }
    }

    /// Brings the meters, the engine's window and EMA lengths and the OSC sender in line
    /// with the settings (after an edit in the editor, a state load, or activation). Runs on
    /// the main or GUI thread, never touches the audio side: a change of lengths is a request
    /// to the inference thread ([`Engine::set_view_lengths`]), which keeps the session.
    pub fn apply_settings(&self) {
        let s = self.params.settings.get();
        self.meter_view.store(s.view.index(), Ordering::Relaxed);
        self.meter_grouped.store(!s.all_tags, Ordering::Relaxed);
        self.meter_calibrated
            .store(s.scale == ScaleChoice::Calibrated, Ordering::Relaxed);
        let mut rt = self.rt();
        self.apply_midi(&mut rt, &s);
        self.apply_lengths(&mut rt, &s);
        apply_heads(&mut rt, &s);
        let heads = rt.heads.clone().unwrap_or_else(|| Arc::from(Vec::new()));
        let want = (s.osc_enabled && rt.latest.is_some()).then(|| OscWanted::of(&s, &heads));
        if want == rt.osc_applied && (rt.osc.is_some() || want.is_none()) {
            drop(rt);
            self.repaint.request_repaint();
            return;
        }
        if let Some(old) = rt.osc.take() {
            old.stop();
        }
        *self.osc_event.lock().unwrap_or_else(|e| e.into_inner()) = None;
        rt.osc_applied = want.clone();
        rt.osc_status = match (want, rt.latest.clone(), rt.tags.clone()) {
            (Some(_), Some(latest), Some(tags)) => {
                match start_osc(&s, &tags, &heads, latest, self.osc_event.clone()) {
                    Ok((sender, cfg)) => {
                        rt.osc = Some(sender);
                        let what = format!(
                            "sending to {} ({}, {} view, {} Hz{})",
                            s.osc_target,
                            match normalize_prefix(&cfg.prefix) {
                                Ok(p) if !p.is_empty() => p,
                                _ => "no prefix".to_string(),
                            },
                            cfg.view.name(),
                            cfg.rate_hz,
                            if cfg.smooth_s > 0.0 {
                                format!(", smoothed {} s", cfg.smooth_s)
                            } else {
                                String::new()
                            }
                        );
                        nice_log!("mstag: OSC {what}");
                        what
                    }
                    Err(e) => {
                        let e = describe(&e);
                        nice_warn!("mstag: OSC not started: {e}");
                        format!("not sending: {e}")
                    }
                }
            }
            _ if s.osc_enabled => "waiting for the engine".into(),
            _ => "off".into(),
        };
        drop(rt);
        self.repaint.request_repaint();
    }

    /// Gives `process()` the MIDI plan of `s` (tag names resolved against the models' tags)
    /// and says what it sends.
    fn apply_midi(&self, rt: &mut Runtime, s: &Settings) {
        let tags = rt.tags.clone().unwrap_or_else(|| Arc::from(Vec::new()));
        let (plan, unknown) = CcPlan::of(s, &tags);
        self.midi.publish_plan(&plan);
        rt.midi_status = if !s.midi_enabled {
            "off".into()
        } else if rt.engine.is_none() {
            "waiting for the engine".into()
        } else if rt.calibration.is_none() {
            "not sending: the models have no calibration (per-tag quantiles)".into()
        } else {
            plan.describe(&tags)
        };
        rt.midi_unknown = unknown;
    }

    /// Asks a running engine for the window and EMA lengths of `s`, if they changed.
    fn apply_lengths(&self, rt: &mut Runtime, s: &Settings) {
        let want = (s.window_s, s.ema_s);
        let Some(engine) = rt.engine.as_ref() else {
            return;
        };
        if want == rt.lengths {
            return;
        }
        match engine.set_view_lengths(want.0, want.1) {
            Ok(()) => {
                nice_log!(
                    "mstag: window {} s, EMA {} s (session kept)",
                    want.0,
                    want.1
                );
                rt.lengths = want;
                rt.lengths_error = None;
            }
            Err(e) => {
                let e = describe(&e);
                nice_warn!("mstag: window and EMA lengths not changed: {e}");
                rt.lengths_error = Some(e);
            }
        }
    }

    /// For the editor.
    pub fn snapshot(&self) -> Snapshot {
        let settings = self.params.settings.get();
        let rt = self.rt();
        let state = match (&rt.error, &rt.engine) {
            (Some(e), _) => EngineState::Failed(e.clone()),
            (None, Some(e)) if e.is_finished() => {
                EngineState::Failed("the inference thread stopped (see the host's log)".into())
            }
            (None, Some(_)) => EngineState::Running { rate: rt.rate },
            (None, None) => EngineState::Idle,
        };
        let mut osc = if rt.osc_status.is_empty() {
            "off".to_string()
        } else {
            rt.osc_status.clone()
        };
        if let Some(ev) = self
            .osc_event
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            osc = format!("{osc}; {ev}");
        }
        Snapshot {
            state,
            scores: rt.latest.as_ref().map(Latest::get).filter(|s| s.seq > 0),
            tags: rt.tags.clone().unwrap_or_else(|| Arc::from(Vec::new())),
            osc,
            window_s: if rt.engine.is_some() {
                rt.lengths.0
            } else {
                settings.window_s
            },
            ema_s: if rt.engine.is_some() {
                rt.lengths.1
            } else {
                settings.ema_s
            },
            lengths_error: rt.lengths_error.clone(),
            heads: rt.heads.clone().unwrap_or_else(|| Arc::from(Vec::new())),
            heads_status: if rt.heads_status.is_empty() {
                "none".into()
            } else {
                rt.heads_status.clone()
            },
            calibration: rt.calibration.clone(),
            midi: if rt.midi_status.is_empty() {
                "off".into()
            } else {
                rt.midi_status.clone()
            },
            midi_unknown: rt.midi_unknown.clone(),
        }
    }

    /// Stops OSC and the inference thread (when the plugin instance is destroyed).
    pub fn shutdown(&self) {
        let (osc, engine) = {
            let mut rt = self.rt();
            rt.latest = None;
            (rt.osc.take(), rt.engine.take())
        };
        if let Some(o) = osc {
            o.stop();
        }
        if let Some(e) = engine {
            match e.stop() {
                Ok(summary) => nice_log!(
                    "mstag: engine stopped after {:.1} s of audio, {} segments, {} frames dropped",
                    summary.seconds,
                    summary.segments,
                    summary.dropped_frames
                ),
                Err(err) => nice_warn!("mstag: engine ended with an error: {err}"),
            }
        }
    }
}

/// Starts the OSC sender with the settings' configuration (checked like the CLI's).
fn start_osc(
    settings: &Settings,
    tags: &[String],
    heads: &[HeadLabels],
    latest: Latest,
    event: Arc<Mutex<Option<String>>>,
) -> mstag::Result<(OscSender, OscConfig)> {
    let cfg = settings.osc_config()?;
    let sender = OscSender::start_with_heads(
        cfg.clone(),
        tags,
        heads,
        Box::new(move || latest.get()),
        Box::new(move |ev| {
            nice_warn!("mstag: {ev}");
            *event.lock().unwrap_or_else(|e| e.into_inner()) = Some(ev.to_string());
        }),
    )?;
    Ok((sender, cfg))
}

/// Loads the heads folder of the settings into a running engine when it changed (on the main
/// or GUI thread; the engine swaps them on the inference thread, the session goes on). A
/// folder that cannot be used leaves the heads as they were and says why.
fn apply_heads(rt: &mut Runtime, s: &Settings) {
    let want = s.heads_folder.trim().to_string();
    if rt.heads_applied.as_deref() == Some(want.as_str()) {
        return;
    }
    let (Some(engine), Some(manifest)) = (rt.engine.as_ref(), rt.manifest.as_ref()) else {
        return;
    };
    let loaded = if want.is_empty() {
        Ok(HeadSet::default())
    } else {
        HeadSet::load_folder(std::path::Path::new(&want), manifest)
    };
    let done = loaded.and_then(|set| {
        let labels = set.labels();
        engine.set_heads(set).map(|()| labels)
    });
    match done {
        Ok(labels) => {
            rt.heads_status = if labels.is_empty() {
                "none".into()
            } else {
                let names: Vec<String> = labels
                    .iter()
                    .map(|h| format!("{} ({} labels)", h.name, h.labels.len()))
                    .collect();
                format!("scoring {}", names.join(", "))
            };
            nice_log!("mstag: heads: {}", rt.heads_status);
            rt.heads = Some(labels.into());
        }
        Err(e) => {
            let e = describe(&e);
            nice_warn!("mstag: heads from {want} not loaded: {e}");
            rt.heads_status = format!("not loaded: {e}");
        }
    }
    rt.heads_applied = Some(want);
}
