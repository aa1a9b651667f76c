//! The editor: live bars of the top tags (synonyms share a bar unless "all tags" is on), the
//! view, its length and scale, a reset button, the OSC and the MIDI settings ([`crate::midi_row`]).
//! It can be resized (by the host or
//! by its corner); its size is saved with the project ([`crate::params::MstagParams`]).
//!
//! Scores come from the engine's [`mstag::engine::Latest`] (written by the inference thread),
//! read once per frame; the inference thread also wakes the editor when it publishes.
//!
//! nice-plug calls `Plugin::editor` once, before the host restores a project, and
//! `EguiEditorState` cannot be given a new size afterwards; so [`MstagEditor`] makes a fresh
//! egui editor, at the saved size, each time the host opens the window.

use std::error::Error;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use egui::{Color32, FontFamily, FontId, RichText, TextStyle, Vec2};
use mstag::output::osc::{normalize_prefix, MAX_RATE_HZ};
use mstag::synonyms::SynonymGroups;
use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::{LogicalSize, NativeSize, Size};
use nice_plug::editor::{Editor, HostMethods, ParentWindowHandle, ResizeHint, SpawnedEditor};
use nice_plug_egui::resizable_window::ResizableWindow;
use nice_plug_egui::{EguiEditorHandle, EguiEditorState, EguiNiceSettings, Frame, NiceEguiApp};

use crate::bars::shown_scores;
use crate::bars::{bar_entries, draw_bars, head_bars};
use crate::instance::{EngineState, Shared, Snapshot};
use crate::midi_row::{scale_toggle, MidiRow};
use crate::settings::{
    describe, EditorSize, Settings, SortOrder, ViewChoice, MAX_LENGTH_S, MAX_TOP_N,
    MIN_EDITOR_SIZE, MIN_EMA_S, MIN_WINDOW_S,
};

/// Longest OSC smoothing offered by the slider, seconds (the CLI allows up to an hour).
const MAX_SMOOTH_SLIDER_S: f64 = 60.0;

pub(crate) const ERROR_COLOR: Color32 = Color32::from_rgb(0xff, 0x70, 0x60);

/// The host may resize the editor freely, down to [`MIN_EDITOR_SIZE`].
pub fn resize_hint() -> ResizeHint {
    ResizeHint::RESIZABLE.with_min_logical_size(LogicalSize::new(
        MIN_EDITOR_SIZE.width as f32,
        MIN_EDITOR_SIZE.height as f32,
    ))
}

/// The plugin's editor: an egui window at the size saved with the project.
pub struct MstagEditor {
    shared: Arc<Shared>,
    /// The window's scale factor (an `f64`'s bits), as last reported.
    scale: Arc<AtomicU64>,
}

pub fn create(shared: Arc<Shared>) -> Option<MstagEditor> {
    Some(MstagEditor {
        shared,
        scale: Arc::new(AtomicU64::new(1.0f64.to_bits())),
    })
}

impl Editor for MstagEditor {
    type Handle = EguiEditorHandle;

    fn spawn(
        &self,
        parent: Option<ParentWindowHandle>,
        wait_for_parent: bool,
        fallback_scale_factor: Option<f64>,
        gui_context: GuiContext,
        host: Option<HostMethods>,
    ) -> Result<SpawnedEditor<Self::Handle>, Box<dyn Error>> {
        if let Some(f) = fallback_scale_factor {
            self.scale.store(f.to_bits(), Ordering::Relaxed);
        }
        let size = self.shared.params.editor_size();
        let state = EguiEditorState::from_size(
            LogicalSize::new(size.width as f32, size.height as f32),
            1.0,
        );
        let app = MstagApp::new(self.shared.clone(), self.scale.clone());
        let editor = nice_plug_egui::create_egui_editor(
            state,
            self.shared.repaint.clone(),
            EguiNiceSettings::new()
                .with_tile("mstag")
                .with_resize_hint(resize_hint()),
            app,
        )
        .ok_or("the egui editor could not be created")?;
        editor.spawn(
            parent,
            wait_for_parent,
            fallback_scale_factor,
            gui_context,
            host,
        )
    }

    fn size(&self) -> NativeSize<u32> {
        let s = self.shared.params.editor_size();
        let logical = LogicalSize::new(s.width as f64, s.height as f64);
        NativeSize::from_size(
            Size::Logical(logical),
            f64::from_bits(self.scale.load(Ordering::Relaxed)),
        )
    }

    fn resize_hint(&self) -> ResizeHint {
        resize_hint()
    }
}

pub struct MstagApp {
    shared: Arc<Shared>,
    scale: Arc<AtomicU64>,
    /// The OSC target and prefix as being typed (applied with the button or Enter).
    osc_target_edit: String,
    osc_prefix_edit: String,
    /// The saved target and prefix the edits were last set from: when the saved ones change
    /// otherwise (the host restores a project while the editor is open), the edits follow.
    osc_saved: (String, String),
    /// Why the typed prefix was not applied.
    prefix_error: Option<String>,
    /// The heads folder being typed, and the saved one it started from (as for OSC).
    heads_edit: String,
    heads_saved: String,
    /// Slider values while they are being dragged (applied when let go).
    drags: Drags,
    /// The synonym groups of the manifest's tags, for the "all tags" setting it was made for.
    groups: Option<(bool, SynonymGroups)>,
    midi: MidiRow,
}

#[derive(Default)]
struct Drags {
    window: Option<f64>,
    ema: Option<f64>,
    top_n: Option<f64>,
    osc_rate: Option<f64>,
    osc_smooth: Option<f64>,
}

impl MstagApp {
    fn new(shared: Arc<Shared>, scale: Arc<AtomicU64>) -> MstagApp {
        let s = shared.params.settings.get();
        MstagApp {
            midi: MidiRow::new(&s),
            shared,
            scale,
            osc_target_edit: s.osc_target.clone(),
            osc_prefix_edit: s.osc_prefix.clone(),
            osc_saved: (s.osc_target, s.osc_prefix),
            prefix_error: None,
            heads_edit: s.heads_folder.clone(),
            heads_saved: s.heads_folder,
            drags: Drags::default(),
            groups: None,
        }
    }
}

/// Text sizes: nothing under 12.5 px.
fn set_style(ctx: &egui::Context) {
    ctx.all_styles_mut(|style| {
        use FontFamily::{Monospace, Proportional};
        style.text_styles = [
            (TextStyle::Small, FontId::new(12.5, Proportional)),
            (TextStyle::Body, FontId::new(14.5, Proportional)),
            (TextStyle::Button, FontId::new(14.5, Proportional)),
            (TextStyle::Heading, FontId::new(22.0, Proportional)),
            (TextStyle::Monospace, FontId::new(13.5, Monospace)),
        ]
        .into();
        style.spacing.interact_size.y = 22.0;
        style.spacing.item_spacing = Vec2::new(8.0, 6.0);
    });
}

impl NiceEguiApp for MstagApp {
    fn build(
        &mut self,
        egui_ctx: egui::Context,
        _nice_gui_ctx: GuiContext,
        _frame: &mut Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        set_style(&egui_ctx);
        Ok(())
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut Frame) {
        // Keep the clock and status line moving even between score updates.
        ui.ctx().request_repaint_after(Duration::from_millis(250));
        let snap = self.shared.snapshot();
        let settings = self.shared.params.settings.get();
        let min = Vec2::new(MIN_EDITOR_SIZE.width as f32, MIN_EDITOR_SIZE.height as f32);
        ResizableWindow::new("mstag-editor")
            .min_size(min)
            .show(ui, |ui| {
                egui::Panel::top("mstag-top").show(ui, |ui| {
                    self.header(ui, &snap);
                    ui.separator();
                    self.controls(ui, &settings, &snap);
                    ui.add_space(2.0);
                });
                egui::Panel::bottom("mstag-osc").show(ui, |ui| {
                    ui.add_space(4.0);
                    self.heads(ui, &settings, &snap);
                    ui.separator();
                    self.osc(ui, &settings, &snap);
                    ui.separator();
                    self.midi
                        .show(ui, &self.shared.params.settings, &settings, &snap);
                    ui.add_space(4.0);
                });
                egui::CentralPanel::default_margins().show(ui, |ui| {
                    self.bars(ui, &settings, &snap);
                });
            });
    }

    fn resized(&mut self, new_size: nice_plug_egui::baseview::WindowSize) {
        self.scale
            .store(new_size.scale_factor.to_bits(), Ordering::Relaxed);
        self.shared.params.set_editor_size(EditorSize {
            width: new_size.logical.width.round() as u32,
            height: new_size.logical.height.round() as u32,
        });
    }
}

/// A slider whose value is applied when the user lets go of it (or types it, or uses the
/// keys), not on every frame of a drag: a new window length is a request to the inference
/// thread and a new OSC rate restarts the sender. Returns the value to apply.
fn slider_on_release(
    ui: &mut egui::Ui,
    drag: &mut Option<f64>,
    saved: f64,
    range: RangeInclusive<f64>,
    logarithmic: bool,
    suffix: &str,
    decimals: usize,
) -> Option<f64> {
    let mut v = drag.unwrap_or(saved);
    let r = ui.add(
        egui::Slider::new(&mut v, range)
            .logarithmic(logarithmic)
            .suffix(suffix)
            .max_decimals(decimals),
    );
    if r.dragged() || r.is_pointer_button_down_on() {
        *drag = Some(v);
        return None;
    }
    *drag = None;
    (v != saved).then_some(v)
}

fn view_label(v: ViewChoice, window_s: f64, ema_s: f64) -> String {
    match v {
        ViewChoice::Session => "Whole song".to_string(),
        ViewChoice::Window => format!("Last {} s", seconds(window_s)),
        ViewChoice::Ema => format!("EMA {} s", seconds(ema_s)),
    }
}

/// Seconds as the editor shows them: whole seconds when whole, else one decimal.
fn seconds(s: f64) -> String {
    if (s - s.round()).abs() < 0.05 {
        format!("{s:.0}")
    } else {
        format!("{s:.1}")
    }
}

/// The views in the order the editor offers them: the default (the window, as `mstag-live`)
/// first.
const VIEW_ORDER: [ViewChoice; 3] = [ViewChoice::Window, ViewChoice::Ema, ViewChoice::Session];

impl MstagApp {
    fn header(&mut self, ui: &mut egui::Ui, snap: &Snapshot) {
        ui.horizontal(|ui| {
            ui.heading("mstag");
            ui.label("live music tags");
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                let enabled = matches!(snap.state, EngineState::Running { .. });
                if ui
                    .add_enabled(enabled, egui::Button::new("Reset session"))
                    .on_hover_text("Forget everything heard so far (all three views)")
                    .clicked()
                {
                    self.shared.reset_session();
                }
            });
        });
        match &snap.state {
            EngineState::Idle => {
                ui.label("Waiting for the host to start audio…");
            }
            EngineState::Failed(msg) => {
                ui.colored_label(
                    ERROR_COLOR,
                    RichText::new(format!("Not analysing: {msg}")).strong(),
                );
                ui.label("Audio passes through untouched.");
            }
            EngineState::Running { rate } => {
                let line = match &snap.scores {
                    Some(s) => format!(
                        "{rate} Hz · {:.1} s heard · {} segments · {} frames dropped{}",
                        s.t,
                        s.segments,
                        s.dropped,
                        if s.silent {
                            " · silence: scores held"
                        } else {
                            ""
                        }
                    ),
                    None => format!(
                        "{rate} Hz · listening (the first tags come after about 1.3 s of sound)"
                    ),
                };
                ui.label(line);
            }
        }
    }

    fn controls(&mut self, ui: &mut egui::Ui, settings: &Settings, snap: &Snapshot) {
        // Sliders grow with the window.
        ui.spacing_mut().slider_width = (ui.available_width() * 0.2).clamp(100.0, 240.0);
        let f = &self.shared.params.settings;
        ui.horizontal_wrapped(|ui| {
            ui.label("View:");
            for v in VIEW_ORDER {
                let label = view_label(v, snap.window_s, snap.ema_s);
                let hover = match v {
                    ViewChoice::Window => "Mean of the segments of the last seconds (the window)",
                    ViewChoice::Ema => "Exponential moving average: recent sound counts most",
                    ViewChoice::Session => {
                        "Mean of everything heard since the session started (the paper's \
                         song-level tags)"
                    }
                };
                if ui
                    .selectable_label(settings.view == v, label)
                    .on_hover_text(hover)
                    .clicked()
                {
                    f.update(|s| s.view = v);
                }
            }
            ui.add_space(8.0);
            scale_toggle(ui, f, settings);
        });
        ui.horizontal(|ui| {
            ui.label("Window");
            let d = &mut self.drags;
            let range = MIN_WINDOW_S..=MAX_LENGTH_S;
            if let Some(w) =
                slider_on_release(ui, &mut d.window, settings.window_s, range, true, " s", 1)
            {
                f.update(|s| s.window_s = w);
            }
            ui.add_space(8.0);
            ui.label("EMA");
            let range = MIN_EMA_S..=MAX_LENGTH_S;
            if let Some(e) = slider_on_release(ui, &mut d.ema, settings.ema_s, range, true, " s", 1)
            {
                f.update(|s| s.ema_s = e);
            }
        });
        if let Some(e) = &snap.lengths_error {
            ui.colored_label(ERROR_COLOR, e);
        }
        ui.horizontal(|ui| {
            ui.label("Sort:");
            for (o, label) in [(SortOrder::Score, "Score"), (SortOrder::Name, "Name")] {
                if ui.selectable_label(settings.sort == o, label).clicked() {
                    f.update(|s| s.sort = o);
                }
            }
            ui.add_space(8.0);
            ui.label("Bars");
            let n = settings.top_n as f64;
            let range = 1.0..=MAX_TOP_N as f64;
            if let Some(n) = slider_on_release(ui, &mut self.drags.top_n, n, range, false, "", 0) {
                f.update(|s| s.top_n = n.round() as usize);
            }
            ui.add_space(8.0);
            let mut all = settings.all_tags;
            if ui
                .checkbox(&mut all, "All tags")
                .on_hover_text(
                    "Show each of the 50 tags. Off: synonyms (no vocal / no vocals / no voice, \
                     classic / classical, …) share one bar, with the highest of their scores.",
                )
                .changed()
            {
                f.update(|s| s.all_tags = all);
            }
        });
    }

    fn osc(&mut self, ui: &mut egui::Ui, settings: &Settings, snap: &Snapshot) {
        let width = ui.available_width();
        ui.spacing_mut().slider_width = (width * 0.15).clamp(80.0, 200.0);
        self.follow_saved_osc_text(settings);
        ui.horizontal(|ui| {
            ui.strong("OSC");
            let mut enabled = settings.osc_enabled;
            let toggled = ui.checkbox(&mut enabled, "Send to").changed();
            let target = ui.add(
                egui::TextEdit::singleline(&mut self.osc_target_edit)
                    .desired_width((width * 0.28).clamp(110.0, 200.0))
                    .hint_text("host:port"),
            );
            ui.label("Prefix");
            let prefix = ui.add(
                egui::TextEdit::singleline(&mut self.osc_prefix_edit)
                    .desired_width((width * 0.15).clamp(70.0, 140.0))
                    .hint_text("/mstag"),
            );
            let entered = (target.lost_focus() || prefix.lost_focus())
                && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if ui.button("Apply").clicked() || entered || toggled {
                self.apply_osc_text(enabled);
            }
        });
        // Rate, view and smoothing on one row, or two in a narrow window.
        let narrow = width < 600.0;
        ui.horizontal(|ui| {
            self.osc_rate_and_view(ui, settings, snap);
            if !narrow {
                self.osc_smoothing(ui, settings);
            }
        });
        if narrow {
            ui.horizontal(|ui| self.osc_smoothing(ui, settings));
        }
        if let Some(e) = &self.prefix_error {
            ui.colored_label(ERROR_COLOR, e);
        }
        let prefix = normalize_prefix(&settings.osc_prefix).unwrap_or_default();
        ui.add(
            egui::Label::new(
                RichText::new(format!(
                    "{}. Messages: {prefix}/tags, {prefix}/tag/NAME (every tag), {prefix}/top, \
                     {prefix}/window.",
                    capitalized(&snap.osc)
                ))
                .small(),
            )
            .wrap(),
        );
    }

    fn osc_rate_and_view(&mut self, ui: &mut egui::Ui, settings: &Settings, snap: &Snapshot) {
        let f = &self.shared.params.settings;
        ui.label("Rate");
        let rate = settings.osc_rate_hz as f64;
        let range = 1.0..=MAX_RATE_HZ as f64;
        if let Some(r) =
            slider_on_release(ui, &mut self.drags.osc_rate, rate, range, false, " Hz", 0)
        {
            f.update(|s| s.osc_rate_hz = r.round() as u32);
        }
        ui.label("View");
        let current = settings.osc_view();
        egui::ComboBox::from_id_salt("mstag-osc-view")
            .selected_text(view_label(current, snap.window_s, snap.ema_s))
            .show_ui(ui, |ui| {
                for v in VIEW_ORDER {
                    let label = view_label(v, snap.window_s, snap.ema_s);
                    if ui.selectable_label(current == v, label).clicked() {
                        f.update(|s| s.osc_view = Some(v));
                    }
                }
            });
    }

    fn osc_smoothing(&mut self, ui: &mut egui::Ui, settings: &Settings) {
        ui.label("Smoothing");
        let smooth = settings.osc_smooth_s;
        let range = 0.0..=MAX_SMOOTH_SLIDER_S.max(smooth);
        if let Some(t) =
            slider_on_release(ui, &mut self.drags.osc_smooth, smooth, range, true, " s", 2)
        {
            self.shared.params.settings.update(|s| s.osc_smooth_s = t);
        }
    }

    /// Shows the saved target and prefix when they changed other than by typing here.
    fn follow_saved_osc_text(&mut self, settings: &Settings) {
        if (&settings.osc_target, &settings.osc_prefix) != (&self.osc_saved.0, &self.osc_saved.1) {
            self.osc_target_edit = settings.osc_target.clone();
            self.osc_prefix_edit = settings.osc_prefix.clone();
            self.osc_saved = (settings.osc_target.clone(), settings.osc_prefix.clone());
            self.prefix_error = None;
        }
    }

    /// Applies the typed target and prefix (and the on/off box); a prefix that `mstag-live
    /// --osc-prefix` would refuse is not applied, and the editor says why.
    fn apply_osc_text(&mut self, enabled: bool) {
        let target = self.osc_target_edit.trim().to_string();
        let prefix = self.osc_prefix_edit.trim().to_string();
        let prefix_ok = match normalize_prefix(&prefix) {
            Ok(_) => {
                self.prefix_error = None;
                true
            }
            Err(e) => {
                self.prefix_error = Some(describe(&e));
                false
            }
        };
        self.shared.params.settings.update(|s| {
            s.osc_enabled = enabled;
            s.osc_target = target;
            if prefix_ok {
                s.osc_prefix = prefix;
            }
        });
    }

    /// The heads folder: typed or pasted, applied with Load (or Enter), cleared with Clear;
    /// saved with the project.
    fn heads(&mut self, ui: &mut egui::Ui, settings: &Settings, snap: &Snapshot) {
        if settings.heads_folder != self.heads_saved {
            self.heads_edit = settings.heads_folder.clone();
            self.heads_saved = settings.heads_folder.clone();
        }
        let width = ui.available_width();
        let mut apply = None;
        ui.horizontal(|ui| {
            ui.strong("Heads");
            let field = ui.add(
                egui::TextEdit::singleline(&mut self.heads_edit)
                    .desired_width((width * 0.55).clamp(140.0, 480.0))
                    .hint_text("folder made by `mstag learn`, or a folder of them"),
            );
            let entered = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if ui.button("Load").clicked() || entered {
                apply = Some(self.heads_edit.trim().to_string());
            }
            if ui.button("Clear").clicked() {
                self.heads_edit.clear();
                apply = Some(String::new());
            }
        });
        if let Some(folder) = apply {
            self.heads_saved = folder.clone();
            // The same folder again: load it afresh (a head retrained in place).
            if folder == settings.heads_folder {
                self.shared.reload_heads();
            } else {
                self.shared
                    .params
                    .settings
                    .update(|s| s.heads_folder = folder);
            }
        }
        let color = if snap.heads_status.starts_with("not loaded") {
            ERROR_COLOR
        } else {
            ui.visuals().text_color()
        };
        ui.add(
            egui::Label::new(
                RichText::new(format!("{}.", capitalized(&snap.heads_status)))
                    .small()
                    .color(color),
            )
            .wrap(),
        );
    }

    fn bars(&mut self, ui: &mut egui::Ui, settings: &Settings, snap: &Snapshot) {
        let (Some(scores), false) = (snap.scores.as_ref(), snap.tags.is_empty()) else {
            ui.add_space(8.0);
            ui.label("No tags yet.");
            return;
        };
        let grouped = !settings.all_tags;
        if self.groups.as_ref().is_none_or(|(g, _)| *g != grouped) {
            self.groups = Some((grouped, SynonymGroups::with(&snap.tags, grouped)));
        }
        let Some((_, groups)) = self.groups.as_ref() else {
            return;
        };
        let view = settings.view.view();
        let scores = shown_scores(settings, scores, snap.calibration.as_deref());
        let tags = bar_entries(settings, groups, scores.view(view));
        let heads = head_bars(&snap.heads, scores.head_view(view));
        if heads.is_empty() {
            draw_bars(ui, "mstag-tags", &tags);
            return;
        }
        // The tags and each head share the height by their number of rows.
        let rows = tags.len() + heads.iter().map(|(_, b)| b.len() + 1).sum::<usize>();
        let row_h = ui.available_height() / rows.max(1) as f32;
        let width = ui.available_width();
        ui.allocate_ui(Vec2::new(width, row_h * tags.len() as f32), |ui| {
            draw_bars(ui, "mstag-tags", &tags)
        });
        for (name, bars) in &heads {
            ui.strong(name);
            ui.allocate_ui(Vec2::new(width, row_h * bars.len() as f32), |ui| {
                draw_bars(ui, name, bars)
            });
        }
    }
}

pub(crate) fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests;
