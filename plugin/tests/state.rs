//! The settings saved with a project, through a CLAP host's state save and load (clack-host):
//! every setting (view, window and EMA lengths, sort, bars, all tags, OSC target, prefix,
//! rate, view and smoothing, heads, scale, MIDI) and the editor's size come back as they were
//! saved, in the same instance and in a new one; a project saved before these settings existed still loads, with
//! the defaults (and OSC keeps sending the view it sent); out-of-range values from a foreign
//! state are brought back into range.
//!
//! The plugin is the library this test was built with (`libmstag_plugin.so` beside the test
//! executable, with the same CLAP entry as the bundle); no models are needed, nothing is
//! activated.

#[path = "../examples/clap_host/mod.rs"]
mod clap_host;

use std::path::PathBuf;

use clack_extensions::gui::{GuiSize, PluginGui};
use clack_extensions::state::PluginState;
use clack_host::prelude::*;
use serde_json::{json, Value};

/// The plugin's shared library, built with this test: `target/<profile>/deps/libmstag_plugin.so`
/// (cargo builds the crate's cdylib there along with the rlib the test links; the copy one
/// folder up is only refreshed by `cargo build`, so it may be older).
fn plugin_library() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let name = format!(
        "{}mstag_plugin{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let lib = deps.join(&name);
    assert!(lib.is_file(), "{} missing", lib.display());
    lib
}

struct Plugin {
    instance: PluginInstance<()>,
    state: PluginState,
    gui: PluginGui,
}

fn new_instance(entry: &PluginEntry, id: &std::ffi::CStr) -> Plugin {
    let host = clap_host::host_info("mstag-state-test");
    let mut instance = PluginInstance::<()>::new(|_| (), |_| (), entry, id, &host).unwrap();
    let state = instance.plugin_handle().get_extension().expect("state");
    let gui = instance.plugin_handle().get_extension().expect("gui");
    Plugin {
        instance,
        state,
        gui,
    }
}

impl Plugin {
    /// The host saves the project: nice-plug's CLAP state is a little-endian u64 length, then
    /// JSON.
    fn save(&mut self) -> Value {
        let mut saved = Vec::new();
        self.state
            .save(&self.instance.plugin_handle(), &mut saved)
            .unwrap();
        let len = u64::from_le_bytes(saved[..8].try_into().unwrap()) as usize;
        serde_json::from_slice(&saved[8..8 + len]).expect("JSON state")
    }

    fn load(&mut self, project: &Value) {
        let json = serde_json::to_vec(project).unwrap();
        let mut blob = (json.len() as u64).to_le_bytes().to_vec();
        blob.extend_from_slice(&json);
        self.state
            .load(&self.instance.plugin_handle(), &mut &blob[..])
            .expect("state loads");
    }

    /// What the plugin tells the host about its editor's size (before opening it).
    fn editor_size(&mut self) -> GuiSize {
        self.gui
            .get_size(&self.instance.plugin_handle())
            .expect("editor size")
    }
}

/// A persisted field of a saved project (nice-plug stores each as a JSON string).
fn field(project: &Value, name: &str) -> Value {
    let s = project["fields"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no field {name} in {project}"));
    serde_json::from_str(s).unwrap()
}

fn set_field(project: &mut Value, name: &str, value: &Value) {
    project["fields"][name] = Value::String(value.to_string());
}

fn load_plugin() -> (PluginEntry, std::ffi::CString) {
    let (entry, id, name) = clap_host::load(&plugin_library()).expect("the plugin loads");
    assert_eq!(name, "mstag");
    (entry, id)
}

#[test]
fn every_setting_and_the_editor_size_survive_a_save_and_load() {
    let (entry, id) = load_plugin();
    let mut a = new_instance(&entry, &id);
    let mut project = a.save();
    let settings = json!({
        "view": "ema",
        "sort": "name",
        "top_n": 17,
        "window_s": 30.0,
        "ema_s": 2.5,
        "all_tags": true,
        "osc_enabled": true,
        "osc_target": "127.0.0.1:9123",
        "osc_prefix": "/show/tags",
        "osc_rate_hz": 60,
        "osc_view": "session",
        "osc_smooth_s": 0.25,
        "heads_folder": "/home/me/heads",
        "scale": "calibrated",
        "midi_enabled": true,
        "midi_channel": 10,
        "midi_first_cc": 70,
        "midi_mode": "tags",
        "midi_top_n": 3,
        "midi_tags": ["rock", "guitar", "not a tag"],
    });
    set_field(&mut project, "settings", &settings);
    set_field(
        &mut project,
        "editor-size",
        &json!({"width": 900, "height": 700}),
    );
    a.load(&project);
    assert_eq!(
        a.editor_size(),
        GuiSize {
            width: 900,
            height: 700
        }
    );

    // The host saves the project again and opens it in a new instance.
    let saved = a.save();
    assert_eq!(field(&saved, "settings"), settings);
    assert_eq!(
        field(&saved, "editor-size"),
        json!({"width": 900, "height": 700})
    );
    let mut b = new_instance(&entry, &id);
    b.load(&saved);
    let again = b.save();
    assert_eq!(field(&again, "settings"), settings);
    assert_eq!(
        b.editor_size(),
        GuiSize {
            width: 900,
            height: 700
        }
    );
}

#[test]
fn a_project_saved_before_these_settings_loads_with_the_defaults() {
    let (entry, id) = load_plugin();
    let mut p = new_instance(&entry, &id);
    let fresh = p.save();
    let defaults = field(&fresh, "settings");
    assert_eq!(defaults["view"], "window", "the CLI's default view");
    assert_eq!(
        (&defaults["window_s"], &defaults["ema_s"]),
        (&json!(10.0), &json!(5.0))
    );
    assert_eq!(defaults["all_tags"], false);
    assert_eq!(defaults["midi_enabled"], false, "MIDI is off by default");
    assert_eq!(
        defaults["scale"], "raw",
        "the bars and meters stay raw by default"
    );
    assert_eq!(
        p.editor_size(),
        GuiSize {
            width: 600,
            height: 600
        }
    );

    // What version 0.1.0 saved: five settings and no editor size.
    let mut old = fresh.clone();
    old["fields"].as_object_mut().unwrap().remove("editor-size");
    set_field(
        &mut old,
        "settings",
        &json!({"view": "session", "sort": "name", "top_n": 12, "osc_enabled": true,
                "osc_target": "127.0.0.1:9000"}),
    );
    let mut q = new_instance(&entry, &id);
    q.load(&old);
    let loaded = field(&q.save(), "settings");
    for (key, want) in [
        ("view", json!("session")),
        ("sort", json!("name")),
        ("top_n", json!(12)),
        ("osc_enabled", json!(true)),
        ("osc_target", json!("127.0.0.1:9000")),
        // OSC sent the editor's view then, and still does.
        ("osc_view", json!("session")),
    ] {
        assert_eq!(loaded[key], want, "{key}");
    }
    for key in [
        "window_s",
        "ema_s",
        "all_tags",
        "osc_prefix",
        "osc_rate_hz",
        "osc_smooth_s",
        "heads_folder",
        "scale",
        "midi_enabled",
        "midi_channel",
        "midi_first_cc",
        "midi_mode",
        "midi_top_n",
        "midi_tags",
    ] {
        assert_eq!(loaded[key], defaults[key], "{key} takes its default");
    }
    assert_eq!(
        q.editor_size(),
        GuiSize {
            width: 600,
            height: 600
        }
    );
}

#[test]
fn out_of_range_values_from_a_foreign_state_are_brought_into_range() {
    let (entry, id) = load_plugin();
    let mut p = new_instance(&entry, &id);
    let mut project = p.save();
    set_field(
        &mut project,
        "settings",
        &json!({"top_n": 500, "window_s": -3.0, "ema_s": 1e9, "osc_rate_hz": 0,
                "osc_smooth_s": -1.0, "midi_channel": 0, "midi_first_cc": 500,
                "midi_top_n": 99}),
    );
    set_field(
        &mut project,
        "editor-size",
        &json!({"width": 10, "height": 99999}),
    );
    p.load(&project);
    let loaded = field(&p.save(), "settings");
    assert_eq!(loaded["top_n"], 50);
    assert_eq!(loaded["window_s"], 1.0);
    assert_eq!(loaded["ema_s"], 3600.0);
    assert_eq!(loaded["osc_rate_hz"], 1);
    assert_eq!(loaded["osc_smooth_s"], 0.0);
    // 16 CCs at most, the last one 119 at most.
    assert_eq!(loaded["midi_channel"], 1);
    assert_eq!(loaded["midi_top_n"], 16);
    assert_eq!(loaded["midi_first_cc"], 104);
    assert_eq!(
        p.editor_size(),
        GuiSize {
            width: 480,
            height: 4096
        }
    );
}
