//! Shared by the `mstag` and `mstag-live` binaries: argument types and the live runner.
#![allow(dead_code)]

pub mod messages;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};

use mstag::capture::file::{FilePlayer, Pace};
use mstag::capture::{InputEvent, Supervisor};
use mstag::engine::{Delivery, Engine, EngineConfig, InputFormat, PipelineConfig, Scores, View};
use mstag::model::{default_manifest_path, Device, ModelSet};
use mstag::output::{Framing, OscConfig, OscSender, OscTarget, Recorder, TerminalView};

/// Keeps ONNX Runtime's telemetry off (see [`mstag::model::runtime::telemetry_opt_out`]).
/// Sets an environment variable: call it first thing in `main`, before any thread starts.
pub fn keep_ort_telemetry_off() {
    if let Some((var, value)) = mstag::model::runtime::telemetry_opt_out() {
        std::env::set_var(var, value);
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ViewArg {
    Session,
    Window,
    Ema,
}

impl From<ViewArg> for View {
    fn from(v: ViewArg) -> View {
        match v {
            ViewArg::Session => View::Session,
            ViewArg::Window => View::Window,
            ViewArg::Ema => View::Ema,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum DeviceArg {
    Cpu,
    Cuda,
    Auto,
}

impl From<DeviceArg> for Device {
    fn from(d: DeviceArg) -> Device {
        match d {
            DeviceArg::Cpu => Device::Cpu,
            DeviceArg::Cuda => Device::Cuda,
            DeviceArg::Auto => Device::Auto,
        }
    }
}

/// Options shared by every command that runs the models.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Model manifest (default: $MSTAG_MODELS/manifest.json, models/ beside the executable,
    /// or the source tree's models/)
    #[arg(long, value_name = "PATH")]
    pub models: Option<PathBuf>,
    /// Where inference runs: cpu, cuda (fails if unavailable) or auto (CUDA, else CPU)
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: DeviceArg,
    /// Seconds of the sliding-window view
    #[arg(long, default_value_t = 10.0, value_parser = positive_seconds, allow_negative_numbers = true)]
    pub window: f64,
    /// Time constant of the exponential-moving-average view, seconds
    #[arg(long = "ema", default_value_t = 5.0, value_parser = positive_seconds, allow_negative_numbers = true)]
    pub ema_tau: f64,
    /// Aggregate digitally silent segments too (by default they are skipped, so scores hold)
    #[arg(long)]
    pub no_silence_gate: bool,
}

pub fn positive_seconds(s: &str) -> std::result::Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if v.is_finite() && v > 0.0 && v <= 3600.0 {
        Ok(v)
    } else {
        Err(format!("{s}: must be more than 0 and at most 3600 seconds"))
    }
}

impl ModelArgs {
    pub fn manifest_path(&self) -> PathBuf {
        self.models.clone().unwrap_or_else(default_manifest_path)
    }

    pub fn pipeline(&self) -> PipelineConfig {
        PipelineConfig {
            window_s: self.window,
            ema_tau_s: self.ema_tau,
            silence_gate: if self.no_silence_gate {
                None
            } else {
                Some(mstag::engine::pipeline::DEFAULT_SILENCE_GATE)
            },
        }
    }

    pub fn device(&self) -> Device {
        let d: Device = self.device.into();
        if d == Device::Auto && !cfg!(feature = "cuda") {
            eprintln!("mstag: --device auto: built without CUDA support, running on the CPU");
        }
        d
    }

    pub fn load(&self, intra_threads: usize) -> Result<ModelSet> {
        let path = self.manifest_path();
        ModelSet::load(&path, self.device(), intra_threads)
            .with_context(|| format!("loading the models of {}", path.display()))
    }
}

/// Options of the live runner.
#[derive(Debug, Clone, Args)]
pub struct LiveArgs {
    /// `mic` (or `default`) for the default input device, a device name or id
    /// (see `mstag devices`), or an audio file (WAV, FLAC, OGG, MP3) played through the same path
    #[arg(long, short, default_value = "mic")]
    pub input: String,
    /// With a file: feed it as fast as possible instead of in real time (nothing dropped)
    #[arg(long)]
    pub fast: bool,
    /// Stop after this many seconds of audio
    #[arg(long, value_parser = positive_duration, allow_negative_numbers = true)]
    pub duration: Option<f64>,
    /// One JSON line per update instead of the terminal view
    #[arg(long)]
    pub json: bool,
    /// Which aggregate the terminal view shows
    #[arg(long, value_enum, default_value = "window")]
    pub view: ViewArg,
    /// Tags shown in the terminal view (1 to 64)
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=64), allow_negative_numbers = true)]
    pub top: u16,
    /// Give every tag its own row in the terminal view (by default synonyms such as
    /// `no vocal`, `no vocals` and `no voice` share one; JSON and OSC always have all tags)
    #[arg(long)]
    pub all_tags: bool,
    /// Also write the analysed input (as received, before resampling) to this WAV file (if a
    /// reconnected device comes back in another format, the rest goes to FILE.2.wav, ...)
    #[arg(long, value_name = "WAV")]
    pub record: Option<PathBuf>,
    /// Seconds of audio the ring between the audio thread and the inference thread holds
    #[arg(long, default_value_t = 4.0, value_parser = positive_seconds, allow_negative_numbers = true)]
    pub ring: f64,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub osc: OscArgs,
}

/// OSC output options (see docs/OSC.md).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "OSC output")]
pub struct OscArgs {
    /// Send the scores as OSC over UDP to HOST:PORT (repeatable for several receivers;
    /// IPv6 in brackets, e.g. `[::1]:9000`)
    #[arg(long = "osc", value_name = "HOST:PORT")]
    pub osc: Vec<String>,
    /// Address prefix of the OSC messages (`/` for none)
    #[arg(long, default_value = mstag::output::osc::DEFAULT_PREFIX, value_name = "PREFIX", requires = "osc")]
    pub osc_prefix: String,
    /// OSC send rate in Hz (1 to 120), independent of the model's update rate
    #[arg(long, default_value_t = mstag::output::osc::DEFAULT_RATE_HZ, value_name = "HZ",
          value_parser = clap::value_parser!(u32).range(1..=mstag::output::osc::MAX_RATE_HZ as i64),
          requires = "osc", allow_negative_numbers = true)]
    pub osc_rate: u32,
    /// One-pole smoothing of the sent values, time constant in seconds (0 = off)
    #[arg(long, default_value_t = 0.0, value_name = "SECONDS", value_parser = smoothing_seconds, requires = "osc", allow_negative_numbers = true)]
    pub osc_smooth: f64,
    /// Which aggregate is sent over OSC
    #[arg(long, value_enum, default_value = "window", requires = "osc")]
    pub osc_view: ViewArg,
    /// Send every OSC message in its own packet instead of bundles
    #[arg(long, requires = "osc")]
    pub osc_plain: bool,
}

fn smoothing_seconds(s: &str) -> std::result::Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if v.is_finite() && (0.0..=mstag::output::osc::MAX_SMOOTH_S).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{s}: must be 0 (off) to 3600 seconds"))
    }
}

impl OscArgs {
    /// The sender's configuration, with every `--osc` resolved; `None` without `--osc`.
    pub fn config(&self) -> mstag::Result<Option<OscConfig>> {
        if self.osc.is_empty() {
            return Ok(None);
        }
        let targets = self
            .osc
            .iter()
            .map(|s| OscTarget::parse(s))
            .collect::<mstag::Result<Vec<_>>>()?;
        let cfg = OscConfig {
            prefix: self.osc_prefix.clone(),
            rate_hz: self.osc_rate,
            view: self.osc_view.into(),
            smooth_s: self.osc_smooth,
            framing: if self.osc_plain {
                Framing::Plain
            } else {
                Framing::Bundles
            },
            ..OscConfig::new(targets)
        };
        cfg.validate()?;
        Ok(Some(cfg))
    }
}

pub fn positive_duration(s: &str) -> std::result::Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("{s}: must be a positive number of seconds"))
    }
}

enum Source {
    Device(Supervisor),
    File(FilePlayer),
}

impl Source {
    fn rate(&self) -> u32 {
        match self {
            Source::Device(d) => d.sample_rate(),
            Source::File(f) => f.sample_rate(),
        }
    }
    fn describe(&self) -> String {
        match self {
            Source::Device(d) => match d.stream() {
                Some(s) => format!(
                    "device {} ({} Hz, {} ch)",
                    s.device_name(),
                    s.sample_rate(),
                    s.channels()
                ),
                None => "device".to_string(),
            },
            Source::File(f) => format!("file ({} Hz, {} ch)", f.sample_rate(), f.channels()),
        }
    }

    /// Lets go of the input; a lost device's stream is released on a thread of its own.
    fn release(self) {
        if let Source::Device(d) = self {
            if let Some(event) = d.release() {
                report(&event);
            }
        }
    }
}

/// Says on stderr what happened to a live input device.
fn report(event: &InputEvent) {
    match event {
        InputEvent::Lost { device, why } => eprintln!(
            "mstag-live: input device {device} lost ({why}); keeping the last scores, reconnecting"
        ),
        InputEvent::Reconnected {
            device,
            rate,
            channels,
        } => eprintln!("mstag-live: reconnected to {device} ({rate} Hz, {channels} ch)"),
        // One line for the first failure and every tenth after it.
        InputEvent::RetryFailed { error, attempts } if attempts % 10 == 1 => {
            eprintln!("mstag-live: cannot reopen the input yet ({error}); retrying")
        }
        InputEvent::RetryFailed { .. } => {}
        InputEvent::ReleaseFailed { error } => {
            eprintln!("mstag-live: cannot release the old input ({error}); leaving it open")
        }
        other => eprintln!("mstag-live: {other:?}"),
    }
}

fn looks_like_file(input: &str) -> bool {
    let p = Path::new(input);
    p.exists()
        || p.extension().is_some_and(|e| {
            matches!(
                e.to_string_lossy().to_ascii_lowercase().as_str(),
                "wav"
                    | "flac"
                    | "ogg"
                    | "oga"
                    | "mp3"
                    | "m4a"
                    | "aif"
                    | "aiff"
                    | "caf"
                    | "mkv"
                    | "webm"
            )
        })
}

/// One `mstag-live --json` line; `is_final` marks the last one (the song-level result).
pub fn json_line(tags: &[String], s: &Scores, is_final: bool) -> String {
    mstag::output::json::LiveLine::new(tags, s, is_final).to_json()
}

/// Frames a device callback is assumed to deliver at most when `--ring` is checked (the
/// period is only known once audio flows; ALSA's default is 512).
const DEVICE_CALLBACK_FRAMES: usize = 2048;

/// Updates the engine may queue for the terminal, JSON or OSC output before it skips some
/// (the output thread reads them every 50 ms at most).
const UPDATES_CAPACITY: usize = 4096;

/// Refuses a `--ring` too small to hold one callback of the source plus what the engine
/// needs ([`mstag::engine::min_ring_seconds`]): in real time it would drop most of the input.
fn check_ring(args: &LiveArgs, source: &Source, cfg: &EngineConfig) -> Result<()> {
    let (callback, real_time, needs) = match source {
        Source::Device(_) => (
            DEVICE_CALLBACK_FRAMES,
            true,
            format!("a device callback of up to {DEVICE_CALLBACK_FRAMES} frames, "),
        ),
        Source::File(_) if args.fast => (0, false, String::new()),
        Source::File(_) => {
            let block = mstag::capture::file::REALTIME_BLOCK_FRAMES;
            (
                block,
                true,
                format!("the file player's block of {block} frames, "),
            )
        }
    };
    let min = mstag::engine::min_ring_seconds(source.rate(), callback, cfg, real_time);
    if args.ring < min {
        bail!(
            "--ring {}: too small for {} at {} Hz; at least {:.3} s are needed ({needs}\
             the inference thread's {}-frame block{})",
            args.ring,
            source.describe(),
            source.rate(),
            (min * 1000.0).ceil() / 1000.0,
            cfg.block_frames,
            if real_time {
                " and the longest it sleeps between segments"
            } else {
                ""
            }
        );
    }
    Ok(())
}

/// Runs the live path until the input ends, `--duration` is reached, or Ctrl-C.
pub fn run_live(args: &LiveArgs) -> Result<()> {
    let osc_config = args.osc.config()?;
    let models = args.model.load(1)?;
    let tags = models.manifest.tags.clone();
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
            .context("installing the Ctrl-C handler")?;
    }
    let is_file = looks_like_file(&args.input) && !matches!(args.input.as_str(), "mic" | "default");
    if args.fast && !is_file {
        bail!(
            "--fast only applies to a file input (got --input {})",
            args.input
        );
    }
    let (source, ring) = if is_file {
        let pace = if args.fast {
            Pace::Fast
        } else {
            Pace::RealTime
        };
        let (p, ring) = FilePlayer::start(Path::new(&args.input), pace, args.ring)
            .with_context(|| format!("opening {}", args.input))?;
        (Source::File(p), ring)
    } else {
        let (s, ring) = Supervisor::open(&args.input, args.ring)?;
        (Source::Device(s), ring)
    };
    let rate = source.rate();
    let cfg = EngineConfig {
        pipeline: args.model.pipeline(),
        delivery: if args.fast {
            Delivery::Lossless
        } else {
            Delivery::Lossy
        },
        max_input_s: args.duration,
        ..EngineConfig::default()
    };
    check_ring(args, &source, &cfg)?;
    let channels = ring.channels();
    let mut builder = Engine::builder(models, ring, rate)
        .config(cfg)
        .updates(UPDATES_CAPACITY);
    let recording = match &args.record {
        Some(path) => {
            let (tap, rec) = recorder(path, InputFormat { rate, channels })?;
            builder = builder.tap(tap);
            Some(rec)
        }
        None => None,
    };
    let engine = builder.start()?;
    let updates = engine
        .updates()
        .context("the engine was started without its updates channel")?
        .clone();
    let osc = match osc_config {
        Some(c) => Some(OscSender::start(
            c,
            &tags,
            engine.latest(),
            Box::new(|e| eprintln!("mstag-live: {e}")),
        )?),
        None => None,
    };
    if !args.json {
        eprintln!(
            "mstag-live: {} → {} tags; Ctrl-C to stop",
            source.describe(),
            tags.len()
        );
    }
    let mut source = Some(source);
    let mut view = TerminalView::new(
        tags.clone(),
        args.top as usize,
        args.view.into(),
        std::io::IsTerminal::is_terminal(&std::io::stdout()),
    )
    .with_all_tags(args.all_tags);
    let stdout = std::io::stdout();
    let mut last_draw = Instant::now() - Duration::from_secs(1);
    let mut stopping = false;
    loop {
        match updates.recv_timeout(Duration::from_millis(50)) {
            Ok(s) => {
                let mut out = stdout.lock();
                if args.json {
                    writeln!(out, "{}", json_line(&tags, &s, false))?;
                } else if last_draw.elapsed() >= Duration::from_millis(100) {
                    view.draw(&mut out, &s, "")?;
                    last_draw = Instant::now();
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        }
        if stopping {
            continue;
        }
        if let Some(Source::Device(d)) = source.as_mut() {
            if let Some(event) = d.poll(&engine) {
                report(&event);
            }
        }
        // `--duration` is the engine's own limit (exact in seconds analysed, whatever the pace).
        if interrupted.load(Ordering::SeqCst) {
            // Dropping the source drops the ring's producer: the engine drains what is left,
            // publishes the final session scores and ends.
            if let Some(Source::File(f)) = source.as_mut() {
                f.stop();
            }
            if let Some(Source::Device(d)) = &source {
                if d.is_lost() {
                    // A dead device may never let go of its stream (and so of the ring's
                    // producer): stop the engine instead of waiting for the end of input.
                    engine.request_stop();
                }
            }
            if let Some(s) = source.take() {
                s.release();
            }
            stopping = true;
        }
    }
    // The engine may have ended by itself (`--duration`); a dead device's stream may never
    // let go, so it is released on a thread of its own.
    if let Some(s) = source.take() {
        s.release();
    }
    let summary = engine.join()?;
    if let Some(osc) = osc {
        eprintln!("mstag-live: {}", osc.stop());
    }
    // The last line or frame is always the final (song-level) scores, drawn whatever the
    // throttle skipped before.
    if let Some(f) = summary.final_scores {
        let mut out = stdout.lock();
        if args.json {
            writeln!(out, "{}", json_line(&tags, &f, true))?;
        } else {
            view.draw(&mut out, &f, "final")?;
        }
    }
    if let Some(rec) = &recording {
        finish_recording(rec);
    }
    eprintln!(
        "mstag-live: {:.1} s of audio, {} segments ({} silent), {} frames dropped, {} updates skipped",
        summary.seconds, summary.segments, summary.silent_segments, summary.dropped_frames, summary.skipped_updates
    );
    if let Some(reason) = summary.no_scores_reason {
        // The same message and exit code as `mstag tag` for input that yields no scores.
        return Err(mstag::Error::NoScores {
            path: Some(args.input.clone().into()),
            reason,
        }
        .into());
    }
    Ok(())
}

/// The recording behind `--record`: written by the engine's tap on the inference thread
/// (a new file if a reconnected device comes back in another format), read at the end.
type Recording = Arc<parking_lot::Mutex<Option<Recorder>>>;

/// Creates the recording (so a bad path fails before the session starts) and the tap that
/// feeds it.
fn recorder(path: &Path, format: InputFormat) -> Result<(mstag::engine::Tap, Recording)> {
    let recording: Recording = Arc::new(parking_lot::Mutex::new(Some(Recorder::create(
        path, format,
    )?)));
    let rec = recording.clone();
    let tap: mstag::engine::Tap = Box::new(move |block: &[f32], format: InputFormat| {
        if let Some(r) = rec.lock().as_mut() {
            r.write(block, format);
        }
    });
    Ok((tap, recording))
}

/// Finalises the recording and says where it went (and why it stopped, if it did).
fn finish_recording(recording: &Recording) {
    let Some(r) = recording.lock().take() else {
        return;
    };
    let (files, error) = r.finish();
    if files.len() > 1 {
        let list: Vec<String> = files
            .iter()
            .map(|(p, f)| format!("{} ({} Hz, {} ch)", p.display(), f.rate, f.channels))
            .collect();
        eprintln!(
            "mstag-live: the input changed format during the session; recorded to {}",
            list.join(", ")
        );
    }
    if let Some(err) = error {
        eprintln!("mstag-live: recording failed: {err}");
    }
}
