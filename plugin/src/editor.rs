//! The editor: live bars of the top tags, the view, a reset button and the OSC settings.
//!
//! Scores come from the engine's [`mstag::engine::Latest`] (written by the inference thread),
//! read once per frame; the inference thread also wakes the editor when it publishes.

use std::sync::Arc;
use std::time::Duration;

use egui::{Align2, Color32, FontId, RichText, Sense, Vec2};
use nice_plug_egui::{EguiEditor, EguiEditorState, EguiNiceSettings, Frame, NiceEguiApp};

use crate::instance::{EngineState, Shared, Snapshot};
use crate::settings::{Settings, SortOrder, ViewChoice, MAX_TOP_N};

pub const WIDTH: u32 = 560;
pub const HEIGHT: u32 = 640;

pub fn default_state() -> Arc<EguiEditorState> {
    EguiEditorState::from_size(
        nice_plug::editor::dpi::LogicalSize::new(WIDTH as f32, HEIGHT as f32),
        1.0,
    )
}

pub fn create(shared: Arc<Shared>, state: Arc<EguiEditorState>) -> Option<EguiEditor<MstagApp>> {
    let target = shared.params.settings.get().osc_target;
    nice_plug_egui::create_egui_editor(
        state,
        shared.repaint.clone(),
        EguiNiceSettings::new().with_tile("mstag"),
        MstagApp {
            shared,
            osc_target_edit: target,
        },
    )
}

pub struct MstagApp {
    shared: Arc<Shared>,
    /// The OSC target as being typed (applied with the button or Enter).
    osc_target_edit: String,
}

const BAR_COLOR: Color32 = Color32::from_rgb(0x4c, 0x9e, 0xd9);
const TOP_COLOR: Color32 = Color32::from_rgb(0xf0, 0xa0, 0x30);
const ERROR_COLOR: Color32 = Color32::from_rgb(0xff, 0x70, 0x60);

impl NiceEguiApp for MstagApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut Frame) {
        // Keep the clock and status line moving even between score updates.
        ui.ctx().request_repaint_after(Duration::from_millis(250));
        let snap = self.shared.snapshot();
        let settings = self.shared.params.settings.get();
        egui::CentralPanel::default_margins().show(ui, |ui| {
            self.header(ui, &snap);
            ui.separator();
            self.controls(ui, &settings, &snap);
            ui.separator();
            bars(ui, &settings, &snap);
            ui.separator();
            self.osc(ui, &settings, &snap);
        });
    }
}

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
        let f = &self.shared.params.settings;
        ui.horizontal(|ui| {
            ui.label("View:");
            for v in ViewChoice::ALL {
                let label = match v {
                    ViewChoice::Session => "Whole song".to_string(),
                    ViewChoice::Window => format!("Last {:.0} s", snap.window_s),
                    ViewChoice::Ema => format!("EMA {:.0} s", snap.ema_s),
                };
                if ui.selectable_label(settings.view == v, label).clicked() {
                    f.update(|s| s.view = v);
                }
            }
        });
        ui.horizontal(|ui| {
            ui.label("Sort by:");
            for (o, label) in [(SortOrder::Score, "Score"), (SortOrder::Name, "Name")] {
                if ui.selectable_label(settings.sort == o, label).clicked() {
                    f.update(|s| s.sort = o);
                }
            }
            ui.add_space(16.0);
            let mut n = settings.top_n;
            if ui
                .add(egui::Slider::new(&mut n, 1..=MAX_TOP_N).text("tags"))
                .changed()
            {
                f.update(|s| s.top_n = n);
            }
        });
    }

    fn osc(&mut self, ui: &mut egui::Ui, settings: &Settings, snap: &Snapshot) {
        let f = &self.shared.params.settings;
        ui.horizontal(|ui| {
            let mut enabled = settings.osc_enabled;
            if ui.checkbox(&mut enabled, "Send OSC to").changed() {
                let target = self.osc_target_edit.clone();
                f.update(|s| {
                    s.osc_enabled = enabled;
                    s.osc_target = target;
                });
            }
            let edit = ui.add(
                egui::TextEdit::singleline(&mut self.osc_target_edit)
                    .desired_width(180.0)
                    .hint_text("host:port"),
            );
            let entered = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if ui.button("Apply").clicked() || entered {
                let target = self.osc_target_edit.clone();
                f.update(|s| s.osc_target = target);
            }
        });
        ui.label(
            RichText::new(format!(
                "OSC {} (/mstag/tags, /mstag/tag/NAME, /mstag/top, /mstag/window)",
                snap.osc
            ))
            .small(),
        );
    }
}

/// The indices of the bars to draw, in display order.
pub fn bar_order(settings: &Settings, scores: &[f32], tags: &[String]) -> Vec<usize> {
    let mut idx = mstag::engine::scores::top_k(scores, settings.top_n);
    if settings.sort == SortOrder::Name {
        idx.sort_by(|&a, &b| tags[a].cmp(&tags[b]));
    }
    idx
}

fn bars(ui: &mut egui::Ui, settings: &Settings, snap: &Snapshot) {
    let (Some(scores), false) = (snap.scores.as_ref(), snap.tags.is_empty()) else {
        ui.add_space(8.0);
        ui.label("No tags yet.");
        return;
    };
    let values = scores.view(settings.view.view());
    let order = bar_order(settings, values, &snap.tags);
    let best = mstag::engine::scores::top_k(values, 1).first().copied();
    egui::ScrollArea::vertical()
        .max_height(ui.available_height() - 48.0)
        .auto_shrink([false, true])
        .show(ui, |ui| {
            let width = ui.available_width();
            let row_h = 20.0;
            let label_w = 110.0;
            let value_w = 48.0;
            for i in order {
                let (rect, _) = ui.allocate_exact_size(Vec2::new(width, row_h), Sense::hover());
                let p = ui.painter_at(rect);
                let font = FontId::proportional(14.0);
                let text = ui.visuals().text_color();
                p.text(
                    rect.left_center() + Vec2::new(2.0, 0.0),
                    Align2::LEFT_CENTER,
                    &snap.tags[i],
                    font.clone(),
                    text,
                );
                let bar_w = (width - label_w - value_w).max(10.0);
                let track = egui::Rect::from_min_size(
                    rect.left_top() + Vec2::new(label_w, 3.0),
                    Vec2::new(bar_w, row_h - 6.0),
                );
                p.rect_filled(track, 3.0, ui.visuals().extreme_bg_color);
                let v = values[i].clamp(0.0, 1.0);
                let fill =
                    egui::Rect::from_min_size(track.min, Vec2::new(bar_w * v, track.height()));
                p.rect_filled(
                    fill,
                    3.0,
                    if Some(i) == best {
                        TOP_COLOR
                    } else {
                        BAR_COLOR
                    },
                );
                p.text(
                    rect.right_center() - Vec2::new(2.0, 0.0),
                    Align2::RIGHT_CENTER,
                    format!("{v:.3}"),
                    font,
                    text,
                );
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_the_top_n_sorted_by_score_or_name() {
        let tags: Vec<String> = ["rock", "ambient", "guitar", "piano"]
            .map(String::from)
            .to_vec();
        let scores = [0.9, 0.1, 0.5, 0.3];
        let mut s = Settings {
            top_n: 3,
            ..Settings::default()
        };
        assert_eq!(bar_order(&s, &scores, &tags), vec![0, 2, 3]);
        s.sort = SortOrder::Name;
        assert_eq!(bar_order(&s, &scores, &tags), vec![2, 3, 0]);
    }
}
