//! Shared by the `mstag` and `mstag-live` binaries: argument types and the live runner.
#![allow(dead_code)]

pub mod doctor;
pub mod embed;
pub mod learn;
pub mod library;
mod live;
pub mod messages;
pub mod tag;
pub mod web;

pub use live::run_live;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

use mstag::engine::{PipelineConfig, View};
use mstag::model::{default_manifest_path, Device, ModelSet};
use mstag::output::{Framing, OscConfig, OscTarget};

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
pub enum ScaleArg {
    /// The model's probabilities
    Raw,
    /// Each tag through its quantiles over reference music: 0 at or below the median, 1 at or
    /// above the 99th percentile
    Calibrated,
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

/// A progress bar over `n` files on stderr (hidden with `quiet`), `what` naming the work.
pub fn progress_bar(n: usize, quiet: bool, what: &str) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressStyle};
    if quiet {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(n as u64);
    b.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {what} [{{bar:30}}] {{pos}}/{{len}} files {{per_sec:1}} {{elapsed_precise}} eta {{eta}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    b
}

/// With `--device auto`, one line on stderr: the execution provider in use and, when CUDA
/// was not usable, why.
pub fn say_placement(p: &mstag::model::Placement) {
    if p.requested == Device::Auto {
        eprintln!("mstag: {}", p.describe());
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
        self.device.into()
    }

    pub fn load(&self, intra_threads: usize) -> Result<ModelSet> {
        let path = self.manifest_path();
        let models = ModelSet::load(&path, self.device(), intra_threads)
            .with_context(|| format!("loading the models of {}", path.display()))?;
        say_placement(&models.placement);
        Ok(models)
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
    /// Tag values for every output (terminal, --json, OSC): raw probabilities, or calibrated
    /// to 0..1 ranges through each tag's quantiles in the manifest (heads stay as they are)
    #[arg(long, value_enum, default_value = "raw")]
    pub scale: ScaleArg,
    /// A head of your own (a folder made by `mstag learn`): its scores in the same views as
    /// the tags, in the terminal, `--json` lines (`heads`) and OSC (`/mstag/<NAME>/<label>`,
    /// `/mstag/<NAME>/top`); repeat for several
    #[arg(long = "head", value_name = "DIR")]
    pub heads: Vec<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub osc: OscArgs,
    #[command(flatten)]
    pub web: web::WebArgs,
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
    /// OSC (and WebSocket) send rate in Hz (1 to 120), independent of the model's update rate
    /// [default: 30]
    #[arg(long, value_name = "HZ",
          value_parser = clap::value_parser!(u32).range(1..=mstag::output::osc::MAX_RATE_HZ as i64),
          allow_negative_numbers = true)]
    pub osc_rate: Option<u32>,
    /// One-pole smoothing of the sent values, time constant in seconds (0 = off)
    #[arg(long, default_value_t = 0.0, value_name = "SECONDS", value_parser = smoothing_seconds, requires = "osc", allow_negative_numbers = true)]
    pub osc_smooth: f64,
    /// Which aggregate is sent over OSC (and watched by cue triggers, also on the WebSocket)
    /// [default: window]
    #[arg(long, value_enum)]
    pub osc_view: Option<ViewArg>,
    /// Send every OSC message in its own packet instead of bundles
    #[arg(long, requires = "osc")]
    pub osc_plain: bool,
    /// A cue: `/mstag/cue/<tag> i 1` when TAG (or a head's HEAD/label) rises above ON in the
    /// OSC view, `i 0` when it falls below OFF (default ON - 0.1); on the WebSocket
    /// `{"cue": TAG, "on": true|false}`; repeatable
    #[arg(long = "trigger", value_name = "TAG>ON[:OFF]",
          value_parser = |s: &str| mstag::output::osc::Trigger::parse(s).map_err(|e| e.to_string()))]
    pub triggers: Vec<mstag::output::osc::Trigger>,
    /// Send `/mstag/top/changed s` (WebSocket: `{"top_changed": TAG}`) when a new top tag has
    /// stayed on top this many seconds
    #[arg(long, value_name = "SECONDS", value_parser = smoothing_seconds,
          allow_negative_numbers = true)]
    pub hold: Option<f64>,
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
    /// Send rounds per second (`--osc-rate`, 30 by default).
    pub fn rate(&self) -> u32 {
        self.osc_rate.unwrap_or(mstag::output::osc::DEFAULT_RATE_HZ)
    }

    /// The view sent and watched by triggers (`--osc-view`, the window by default).
    pub fn view(&self) -> View {
        self.osc_view.map_or(View::Window, View::from)
    }

    /// Refuses options that only an output uses when no output is asked for (`web`: the
    /// WebSocket or page is).
    pub fn check_used(&self, web: bool) -> mstag::Result<()> {
        if !self.osc.is_empty() || web {
            return Ok(());
        }
        let used = [
            ("--osc-rate", self.osc_rate.is_some()),
            ("--osc-view", self.osc_view.is_some()),
            ("--trigger", !self.triggers.is_empty()),
            ("--hold", self.hold.is_some()),
        ];
        match used.iter().find(|(_, u)| *u) {
            Some((name, _)) => Err(mstag::Error::InvalidSetting {
                name: "output",
                value: (*name).to_string(),
                reason: format!(
                    "{name} needs an output to act on: --osc HOST:PORT, --ws or --http"
                ),
            }),
            None => Ok(()),
        }
    }

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
            rate_hz: self.rate(),
            view: self.view(),
            smooth_s: self.osc_smooth,
            framing: if self.osc_plain {
                Framing::Plain
            } else {
                Framing::Bundles
            },
            triggers: self.triggers.clone(),
            hold_s: self.hold,
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
