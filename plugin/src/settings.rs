//! What the user chooses in the editor, saved with the host's project (`#[persist]`).

use std::sync::{Arc, Mutex};

use mstag::calibration::Scale;
use mstag::engine::{PipelineConfig, View};
use mstag::output::osc::{DEFAULT_PREFIX, DEFAULT_RATE_HZ, MAX_RATE_HZ, MAX_SMOOTH_S};
use mstag::output::{OscConfig, OscTarget};
use nice_plug::params::persist::PersistentField;
use serde::{Deserialize, Serialize};

use crate::midi::{HIGHEST_CC, LOWEST_CC, MAX_MIDI_CCS};

/// Which running average the bars, the meters and OSC show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ViewChoice {
    /// Everything heard since the session started (the paper's song-level aggregate).
    Session,
    /// The last `window_s` seconds.
    Window,
    /// Exponential moving average.
    Ema,
}

impl ViewChoice {
    pub const ALL: [ViewChoice; 3] = [ViewChoice::Session, ViewChoice::Window, ViewChoice::Ema];

    pub fn view(self) -> View {
        match self {
            ViewChoice::Session => View::Session,
            ViewChoice::Window => View::Window,
            ViewChoice::Ema => View::Ema,
        }
    }

    pub fn index(self) -> u8 {
        self as u8
    }

    pub fn from_index(i: u8) -> ViewChoice {
        match i {
            0 => ViewChoice::Session,
            2 => ViewChoice::Ema,
            _ => ViewChoice::Window,
        }
    }
}

/// Order of the bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    /// Highest score first.
    Score,
    /// Alphabetical (of the top N by score).
    Name,
}

/// How the bars and the host's meters show scores ([`mstag::calibration`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScaleChoice {
    /// The model's probabilities, as `mstag-live` and OSC give them by default.
    #[default]
    Raw,
    /// Each tag through its quantiles over reference music (`--scale calibrated`).
    Calibrated,
}

impl ScaleChoice {
    pub fn scale(self) -> Scale {
        match self {
            ScaleChoice::Raw => Scale::Raw,
            ScaleChoice::Calibrated => Scale::Calibrated,
        }
    }
}

/// Which tags the MIDI CCs carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MidiMode {
    /// The N best tags, best first: CC `first + i` is the `i`-th best.
    Top,
    /// The tags named in [`Settings::midi_tags`], in that order.
    Tags,
}

/// Longest list of bars offered.
pub const MAX_TOP_N: usize = 50;

/// Shortest window offered, seconds (a few segments of each scale).
pub const MIN_WINDOW_S: f64 = 1.0;
/// Shortest EMA time constant offered, seconds.
pub const MIN_EMA_S: f64 = 0.5;
/// Longest window and EMA time constant, seconds (as `mstag-live --window` / `--ema`).
pub const MAX_LENGTH_S: f64 = 3600.0;

/// The persisted settings. Unknown or missing keys fall back to the defaults, so projects
/// saved by older or newer versions still load. The defaults are `mstag-live`'s: the window
/// view (10 s), EMA 5 s, the top 10, and for OSC `/mstag` at 30 Hz, window view, no
/// smoothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// What the bars and the meters show.
    pub view: ViewChoice,
    pub sort: SortOrder,
    /// Number of bars.
    pub top_n: usize,
    /// Length of the window view, seconds (`mstag-live --window`).
    pub window_s: f64,
    /// Time constant of the EMA view, seconds (`mstag-live --ema`).
    pub ema_s: f64,
    /// Every one of the 50 tags in the bars and meters; off (the default) shows synonyms
    /// (`no vocal` / `no vocals` / `no voice`, ...) as one bar ([`mstag::synonyms`]).
    pub all_tags: bool,
    /// Send the scores over OSC.
    pub osc_enabled: bool,
    /// OSC receiver, `HOST:PORT` (`mstag-live --osc`).
    pub osc_target: String,
    /// Address prefix (`--osc-prefix`).
    pub osc_prefix: String,
    /// Send rounds per second (`--osc-rate`).
    pub osc_rate_hz: u32,
    /// Which view OSC sends (`--osc-view`). Missing in projects saved before it existed:
    /// then OSC keeps following `view`, as it did ([`Settings::sanitized`] fills it in).
    #[serde(default)]
    pub osc_view: Option<ViewChoice>,
    /// One-pole smoothing of the sent values, seconds; 0 is off (`--osc-smooth`).
    pub osc_smooth_s: f64,
    /// Heads of your own (`mstag learn`): a head folder, or a folder of head folders; empty
    /// for none (`mstag-live --head`).
    pub heads_folder: String,
    /// What the bars and the host's meters show: raw probabilities (the default, as
    /// `mstag-live`) or calibrated values. MIDI is always calibrated.
    pub scale: ScaleChoice,
    /// Send MIDI CCs (docs/MIDI.md); off by default.
    pub midi_enabled: bool,
    /// MIDI channel, 1-16.
    pub midi_channel: u32,
    /// CC number of the first value; the CCs `first..first + count` stay within 1-119.
    pub midi_first_cc: u32,
    /// The best N tags, or chosen tags.
    pub midi_mode: MidiMode,
    /// Number of CCs in [`MidiMode::Top`], 1-16.
    pub midi_top_n: usize,
    /// The tags of [`MidiMode::Tags`], one CC each in this order (at most 16). Names that are
    /// not the model's tags are kept (and shown as unknown in the editor); their CCs are not
    /// sent.
    pub midi_tags: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            view: ViewChoice::Window,
            sort: SortOrder::Score,
            top_n: 10,
            window_s: PipelineConfig::default().window_s,
            ema_s: PipelineConfig::default().ema_tau_s,
            all_tags: false,
            osc_enabled: false,
            osc_target: "127.0.0.1:7700".into(),
            osc_prefix: DEFAULT_PREFIX.into(),
            osc_rate_hz: DEFAULT_RATE_HZ,
            osc_view: Some(ViewChoice::Window),
            osc_smooth_s: 0.0,
            heads_folder: String::new(),
            scale: ScaleChoice::Raw,
            midi_enabled: false,
            midi_channel: 1,
            midi_first_cc: DEFAULT_FIRST_CC,
            midi_mode: MidiMode::Top,
            midi_top_n: 4,
            midi_tags: Vec::new(),
        }
    }
}

/// The first CC by default: 20-31 are undefined in the MIDI specification, so nothing else
/// listens to them by convention.
pub const DEFAULT_FIRST_CC: u32 = 20;

/// `x` within `min..=max`; `default` when it is not a number.
fn clamp_seconds(x: f64, min: f64, max: f64, default: f64) -> f64 {
    if x.is_finite() {
        x.clamp(min, max)
    } else {
        default
    }
}

impl Settings {
    /// Brings out-of-range values (from a hand-edited or foreign state) back into range. An
    /// invalid OSC target or prefix cannot be repaired: it stays, and OSC then says why it
    /// does not send ([`Settings::osc_config`]).
    pub fn sanitized(mut self) -> Settings {
        let d = Settings::default();
        self.top_n = self.top_n.clamp(1, MAX_TOP_N);
        self.window_s = clamp_seconds(self.window_s, MIN_WINDOW_S, MAX_LENGTH_S, d.window_s);
        self.ema_s = clamp_seconds(self.ema_s, MIN_EMA_S, MAX_LENGTH_S, d.ema_s);
        self.osc_target = self.osc_target.trim().to_string();
        self.osc_prefix = self.osc_prefix.trim().to_string();
        self.osc_rate_hz = self.osc_rate_hz.clamp(1, MAX_RATE_HZ);
        self.osc_view.get_or_insert(self.view);
        self.osc_smooth_s = clamp_seconds(self.osc_smooth_s, 0.0, MAX_SMOOTH_S, 0.0);
        self.heads_folder = self.heads_folder.trim().to_string();
        self.midi_channel = self.midi_channel.clamp(1, 16);
        self.midi_top_n = self.midi_top_n.clamp(1, MAX_MIDI_CCS);
        self.midi_tags = tag_list(&self.midi_tags);
        let count = self.midi_cc_count().max(1) as u32;
        self.midi_first_cc = self.midi_first_cc.clamp(LOWEST_CC, HIGHEST_CC + 1 - count);
        self
    }

    /// Number of CCs the MIDI settings fill.
    pub fn midi_cc_count(&self) -> usize {
        match self.midi_mode {
            MidiMode::Top => self.midi_top_n,
            MidiMode::Tags => self.midi_tags.len(),
        }
    }

    /// The view OSC sends.
    pub fn osc_view(&self) -> ViewChoice {
        self.osc_view.unwrap_or(self.view)
    }

    /// The OSC sender's configuration, checked exactly like `mstag-live --osc HOST:PORT
    /// --osc-prefix ... --osc-rate ... --osc-view ... --osc-smooth ...` (the target is
    /// resolved now).
    pub fn osc_config(&self) -> mstag::Result<OscConfig> {
        let mut cfg = OscConfig::new(vec![OscTarget::parse(&self.osc_target)?]);
        cfg.prefix = self.osc_prefix.clone();
        cfg.rate_hz = self.osc_rate_hz;
        cfg.view = self.osc_view().view();
        cfg.smooth_s = self.osc_smooth_s;
        cfg.validate()?;
        Ok(cfg)
    }
}

/// Tag names as typed: trimmed, empty ones dropped, at most [`MAX_MIDI_CCS`]. Names may also
/// be separated by commas within one entry (`"rock, guitar"`).
pub fn tag_list<S: AsRef<str>>(names: &[S]) -> Vec<String> {
    names
        .iter()
        .flat_map(|n| n.as_ref().split(','))
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .take(MAX_MIDI_CCS)
        .map(String::from)
        .collect()
}

/// An error about a setting, in the editor's words: the setting names in the library's
/// messages (`osc prefix`) become the editor's labels (`OSC prefix`); other errors keep their
/// causes.
pub fn describe(e: &mstag::Error) -> String {
    match e {
        mstag::Error::InvalidSetting {
            name,
            value,
            reason,
        } => {
            let label = match *name {
                "osc target" => "OSC target",
                "osc prefix" => "OSC prefix",
                "osc rate" => "OSC rate",
                "osc smoothing" => "OSC smoothing",
                "window" => "window",
                "ema" => "EMA",
                other => other,
            };
            format!("{label} {value:?}: {reason}")
        }
        // With its causes: "cannot read X: No such file or directory".
        other => mstag::error::report(other),
    }
}

/// The editor's size in logical pixels, saved with the project.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EditorSize {
    pub width: u32,
    pub height: u32,
}

/// The editor's size when nothing else was saved.
pub const DEFAULT_EDITOR_SIZE: EditorSize = EditorSize {
    width: 600,
    height: 600,
};
/// The smallest size the editor can be given.
pub const MIN_EDITOR_SIZE: EditorSize = EditorSize {
    width: 480,
    height: 420,
};
/// The largest size restored from a project (anything bigger is hand-edited or foreign).
pub const MAX_EDITOR_SIZE: EditorSize = EditorSize {
    width: 4096,
    height: 4096,
};

impl Default for EditorSize {
    fn default() -> Self {
        DEFAULT_EDITOR_SIZE
    }
}

impl EditorSize {
    /// Within [`MIN_EDITOR_SIZE`] and [`MAX_EDITOR_SIZE`].
    pub fn clamped(self) -> EditorSize {
        EditorSize {
            width: self
                .width
                .clamp(MIN_EDITOR_SIZE.width, MAX_EDITOR_SIZE.width),
            height: self
                .height
                .clamp(MIN_EDITOR_SIZE.height, MAX_EDITOR_SIZE.height),
        }
    }
}

type Listener = Arc<dyn Fn() + Send + Sync>;

/// The settings as a `#[persist]` field: besides storing them, it tells the plugin when the
/// host restores a project (a state load), so that e.g. OSC follows the restored settings even
/// while the editor is closed.
pub struct SettingsField {
    value: Mutex<Settings>,
    listener: Mutex<Option<Listener>>,
}

impl Default for SettingsField {
    fn default() -> Self {
        SettingsField {
            value: Mutex::new(Settings::default()),
            listener: Mutex::new(None),
        }
    }
}

impl SettingsField {
    pub fn get(&self) -> Settings {
        self.value.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Changes the settings (from the editor) and notifies the listener.
    pub fn update(&self, f: impl FnOnce(&mut Settings)) {
        {
            let mut v = self.value.lock().unwrap_or_else(|e| e.into_inner());
            let mut next = v.clone();
            f(&mut next);
            let next = next.sanitized();
            if *v == next {
                return;
            }
            *v = next;
        }
        self.notify();
    }

    /// Who to tell when the settings change.
    pub fn set_listener(&self, listener: Listener) {
        *self.listener.lock().unwrap_or_else(|e| e.into_inner()) = Some(listener);
    }

    fn notify(&self) {
        let l = self
            .listener
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(l) = l {
            l();
        }
    }
}

impl<'a> PersistentField<'a, Settings> for SettingsField {
    fn set(&self, new_value: Settings) {
        *self.value.lock().unwrap_or_else(|e| e.into_inner()) = new_value.sanitized();
        self.notify();
    }

    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&Settings) -> R,
    {
        f(&self.value.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn settings_round_trip_and_tolerate_missing_keys() {
        let s = Settings {
            view: ViewChoice::Ema,
            sort: SortOrder::Name,
            top_n: 7,
            window_s: 30.0,
            ema_s: 2.5,
            all_tags: true,
            osc_enabled: true,
            osc_target: "10.0.0.2:9000".into(),
            osc_prefix: "/show/tags".into(),
            osc_rate_hz: 60,
            osc_view: Some(ViewChoice::Session),
            osc_smooth_s: 0.25,
            heads_folder: "/home/me/heads".into(),
            scale: ScaleChoice::Calibrated,
            midi_enabled: true,
            midi_channel: 10,
            midi_first_cc: 70,
            midi_mode: MidiMode::Tags,
            midi_top_n: 3,
            midi_tags: vec!["rock".into(), "guitar".into()],
        };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Settings>(&json).unwrap(), s);
        let partial: Settings = serde_json::from_str(r#"{"view":"session"}"#).unwrap();
        assert_eq!(partial.view, ViewChoice::Session);
        assert_eq!(partial.top_n, Settings::default().top_n);
    }

    #[test]
    fn an_old_project_keeps_sending_the_view_it_showed() {
        // Saved before window, EMA, all tags and the OSC options existed: OSC followed `view`.
        let old: Settings = serde_json::from_str(
            r#"{"view":"session","sort":"score","top_n":12,"osc_enabled":true,"osc_target":"127.0.0.1:9000"}"#,
        )
        .unwrap();
        let old = old.sanitized();
        assert_eq!(old.osc_view(), ViewChoice::Session);
        assert_eq!(old.osc_view, Some(ViewChoice::Session));
        let d = Settings::default();
        assert_eq!(
            (old.window_s, old.ema_s, old.all_tags),
            (d.window_s, d.ema_s, d.all_tags)
        );
        assert_eq!(
            (&old.osc_prefix, old.osc_rate_hz, old.osc_smooth_s),
            (&d.osc_prefix, d.osc_rate_hz, d.osc_smooth_s)
        );
        // A new project's OSC view is the CLI's default, whatever the bars show.
        assert_eq!(d.osc_view(), ViewChoice::Window);
        let mut s = d.clone();
        s.view = ViewChoice::Ema;
        assert_eq!(s.sanitized().osc_view(), ViewChoice::Window);
    }

    #[test]
    fn defaults_are_the_clis() {
        let d = Settings::default();
        assert_eq!(d.view, ViewChoice::Window);
        assert_eq!((d.window_s, d.ema_s), (10.0, 5.0));
        assert_eq!(d.top_n, 10);
        assert!(!d.all_tags, "synonyms grouped by default");
        let cfg = OscConfig::new(Vec::new());
        assert_eq!(d.osc_prefix, cfg.prefix);
        assert_eq!(d.osc_rate_hz, cfg.rate_hz);
        assert_eq!(d.osc_view().view(), cfg.view);
        assert_eq!(d.osc_smooth_s, cfg.smooth_s);
    }

    #[test]
    fn out_of_range_values_are_brought_back_into_range() {
        let s = Settings {
            window_s: 0.0,
            ema_s: f64::NAN,
            osc_rate_hz: 0,
            osc_smooth_s: -1.0,
            osc_prefix: "  /show ".into(),
            ..Settings::default()
        }
        .sanitized();
        assert_eq!(s.window_s, MIN_WINDOW_S);
        assert_eq!(s.ema_s, Settings::default().ema_s);
        assert_eq!(s.osc_rate_hz, 1);
        assert_eq!(s.osc_smooth_s, 0.0);
        assert_eq!(s.osc_prefix, "/show");
        let s = Settings {
            window_s: 1e9,
            osc_rate_hz: 10_000,
            osc_smooth_s: f64::INFINITY,
            ..Settings::default()
        }
        .sanitized();
        assert_eq!(s.window_s, MAX_LENGTH_S);
        assert_eq!(s.osc_rate_hz, MAX_RATE_HZ);
        assert_eq!(s.osc_smooth_s, 0.0);
        // Whatever comes out of sanitizing, the engine accepts.
        PipelineConfig {
            window_s: s.window_s,
            ema_tau_s: s.ema_s,
            ..PipelineConfig::default()
        }
        .validate()
        .unwrap();
        let size = EditorSize {
            width: 0,
            height: 100_000,
        }
        .clamped();
        assert_eq!(
            (size.width, size.height),
            (MIN_EDITOR_SIZE.width, MAX_EDITOR_SIZE.height)
        );
    }

    #[test]
    fn osc_settings_are_checked_like_the_cli() {
        let s = Settings {
            osc_target: "127.0.0.1:9001".into(),
            osc_prefix: "/show/".into(),
            osc_rate_hz: 12,
            osc_view: Some(ViewChoice::Ema),
            osc_smooth_s: 0.5,
            ..Settings::default()
        };
        let cfg = s.osc_config().unwrap();
        assert_eq!(cfg.targets[0].addr.port(), 9001);
        assert_eq!(
            (cfg.prefix.as_str(), cfg.rate_hz, cfg.view, cfg.smooth_s),
            ("/show/", 12, View::Ema, 0.5)
        );
        let bad = |s: Settings| describe(&s.osc_config().unwrap_err());
        let msg = bad(Settings {
            osc_prefix: "show".into(),
            ..Settings::default()
        });
        assert_eq!(
            msg,
            r#"OSC prefix "show": must start with '/', e.g. /mstag"#
        );
        let msg = bad(Settings {
            osc_prefix: "/my show".into(),
            ..Settings::default()
        });
        assert!(
            msg.starts_with(r#"OSC prefix "/my show": each part"#),
            "{msg}"
        );
        let msg = bad(Settings {
            osc_target: "localhost".into(),
            ..Settings::default()
        });
        assert!(
            msg.starts_with(r#"OSC target "localhost": no port"#),
            "{msg}"
        );
        // Not reachable through sanitized settings, but checked all the same.
        let msg = bad(Settings {
            osc_rate_hz: 0,
            ..Settings::default()
        });
        assert_eq!(msg, r#"OSC rate "0": must be 1 to 120 messages per second"#);
        let msg = bad(Settings {
            osc_smooth_s: -2.0,
            ..Settings::default()
        });
        assert!(
            msg.starts_with(r#"OSC smoothing "-2": must be 0 (off)"#),
            "{msg}"
        );
    }

    #[test]
    fn midi_settings_are_off_by_default_and_brought_into_range() {
        let d = Settings::default();
        assert!(!d.midi_enabled, "nothing changes for existing projects");
        assert_eq!(d.scale, ScaleChoice::Raw);
        assert_eq!((d.midi_channel, d.midi_first_cc, d.midi_top_n), (1, 20, 4));
        // An old project without the MIDI keys.
        let old: Settings = serde_json::from_str(r#"{"view":"ema","top_n":12}"#).unwrap();
        assert_eq!(
            (old.midi_enabled, old.scale, old.midi_mode),
            (false, ScaleChoice::Raw, MidiMode::Top)
        );
        let s = Settings {
            midi_channel: 0,
            midi_first_cc: 0,
            midi_top_n: 0,
            ..Settings::default()
        }
        .sanitized();
        assert_eq!((s.midi_channel, s.midi_first_cc, s.midi_top_n), (1, 1, 1));
        // The last CC stays at 119 or below.
        let s = Settings {
            midi_channel: 99,
            midi_first_cc: 200,
            midi_top_n: 500,
            ..Settings::default()
        }
        .sanitized();
        assert_eq!((s.midi_channel, s.midi_top_n), (16, MAX_MIDI_CCS));
        assert_eq!(
            s.midi_first_cc as usize + s.midi_top_n - 1,
            HIGHEST_CC as usize
        );
        let s = Settings {
            midi_mode: MidiMode::Tags,
            midi_tags: vec![" rock , guitar".into(), "".into(), "piano ".into()],
            midi_first_cc: 119,
            ..Settings::default()
        }
        .sanitized();
        assert_eq!(s.midi_tags, ["rock", "guitar", "piano"]);
        assert_eq!(s.midi_first_cc, 117);
        let many: Vec<String> = (0..40).map(|i| format!("t{i}")).collect();
        assert_eq!(tag_list(&many).len(), MAX_MIDI_CCS);
        // A foreign state's nonsense still loads.
        let odd: Settings =
            serde_json::from_str(r#"{"scale":"calibrated","midi_mode":"tags","midi_tags":[]}"#)
                .unwrap();
        let odd = odd.sanitized();
        assert_eq!(
            (odd.scale, odd.midi_cc_count()),
            (ScaleChoice::Calibrated, 0)
        );
    }

    #[test]
    fn restoring_state_notifies_the_listener() {
        let field = SettingsField::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        field.set_listener(Arc::new(move || {
            c.fetch_add(1, Ordering::SeqCst);
        }));
        PersistentField::set(
            &field,
            Settings {
                top_n: 500,
                ..Settings::default()
            },
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(field.get().top_n, MAX_TOP_N);
        field.update(|s| s.top_n = MAX_TOP_N); // no change: no notification
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        field.update(|s| s.view = ViewChoice::Session);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
