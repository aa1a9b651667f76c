//! What the user chooses in the editor, saved with the host's project (`#[persist]`).

use std::sync::{Arc, Mutex};

use mstag::engine::View;
use nice_plug::params::persist::PersistentField;
use serde::{Deserialize, Serialize};

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

/// Longest list of bars offered.
pub const MAX_TOP_N: usize = 50;

/// The persisted settings. Unknown or missing keys fall back to the defaults, so projects
/// saved by older or newer versions still load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub view: ViewChoice,
    pub sort: SortOrder,
    /// Number of bars.
    pub top_n: usize,
    /// Send the scores over OSC.
    pub osc_enabled: bool,
    /// OSC receiver, `HOST:PORT`.
    pub osc_target: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            view: ViewChoice::Window,
            sort: SortOrder::Score,
            top_n: 10,
            osc_enabled: false,
            osc_target: "127.0.0.1:7700".into(),
        }
    }
}

impl Settings {
    /// Brings out-of-range values (from a hand-edited or foreign state) back into range.
    pub fn sanitized(mut self) -> Settings {
        self.top_n = self.top_n.clamp(1, MAX_TOP_N);
        self.osc_target = self.osc_target.trim().to_string();
        self
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
            osc_enabled: true,
            osc_target: "10.0.0.2:9000".into(),
        };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Settings>(&json).unwrap(), s);
        let partial: Settings = serde_json::from_str(r#"{"view":"session"}"#).unwrap();
        assert_eq!(partial.view, ViewChoice::Session);
        assert_eq!(partial.top_n, Settings::default().top_n);
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
