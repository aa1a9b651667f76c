//! The editor's MIDI row (on/off, channel, first CC, the best N tags or chosen tags) and its
//! scale toggle for the bars and meters. Kept apart from [`crate::editor`] to keep that file
//! short.

use egui::RichText;

use crate::editor::{capitalized, ERROR_COLOR};
use crate::instance::Snapshot;
use crate::midi::{HIGHEST_CC, LOWEST_CC, MAX_MIDI_CCS};
use crate::settings::{tag_list, MidiMode, ScaleChoice, Settings, SettingsField};

/// The chosen tags as a text field: `"rock, guitar"`.
pub fn tags_text(tags: &[String]) -> String {
    tags.join(", ")
}

/// "Scale: Raw | Calibrated" for the bars and the host's meters.
pub fn scale_toggle(ui: &mut egui::Ui, field: &SettingsField, settings: &Settings) {
    ui.label("Scale:");
    let choices = [
        (
            ScaleChoice::Raw,
            "Raw",
            "The model's probabilities: a top tag often reads 0.2-0.35",
        ),
        (
            ScaleChoice::Calibrated,
            "Calibrated",
            "Each tag through its quantiles over reference music: 0 at its median, 1 at its \
             99th percentile (\"as rock as typical rock\" reads near 1)",
        ),
    ];
    for (choice, label, hover) in choices {
        if ui
            .selectable_label(settings.scale == choice, label)
            .on_hover_text(hover)
            .clicked()
        {
            field.update(|s| s.scale = choice);
        }
    }
}

/// The MIDI row's state: the tags being typed, and the saved list they started from (a
/// restored project replaces what is being typed).
pub struct MidiRow {
    tags_edit: String,
    tags_saved: Vec<String>,
}

impl MidiRow {
    pub fn new(settings: &Settings) -> MidiRow {
        MidiRow {
            tags_edit: tags_text(&settings.midi_tags),
            tags_saved: settings.midi_tags.clone(),
        }
    }

    /// The text in the tags field.
    pub fn tags_edit(&self) -> &str {
        &self.tags_edit
    }

    /// Shows the saved tags when they changed other than by typing here.
    pub fn follow_saved(&mut self, settings: &Settings) {
        if settings.midi_tags != self.tags_saved {
            self.tags_edit = tags_text(&settings.midi_tags);
            self.tags_saved = settings.midi_tags.clone();
        }
    }

    /// The row, and a line saying what is sent (or why not).
    pub fn show(
        &mut self,
        ui: &mut egui::Ui,
        field: &SettingsField,
        settings: &Settings,
        snap: &Snapshot,
    ) {
        self.follow_saved(settings);
        let width = ui.available_width();
        ui.horizontal(|ui| {
            ui.strong("MIDI");
            let mut enabled = settings.midi_enabled;
            if ui
                .checkbox(&mut enabled, "Send CCs")
                .on_hover_text("Calibrated values 0-127, at most 30 times a second, on change")
                .changed()
            {
                field.update(|s| s.midi_enabled = enabled);
            }
            ui.label("Channel");
            let mut channel = settings.midi_channel;
            if ui
                .add(egui::DragValue::new(&mut channel).range(1..=16))
                .changed()
            {
                field.update(|s| s.midi_channel = channel);
            }
            ui.label("First CC");
            let last_first = HIGHEST_CC + 1 - settings.midi_cc_count().max(1) as u32;
            let mut first = settings.midi_first_cc;
            if ui
                .add(egui::DragValue::new(&mut first).range(LOWEST_CC..=last_first))
                .changed()
            {
                field.update(|s| s.midi_first_cc = first);
            }
            if ui
                .selectable_label(settings.midi_mode == MidiMode::Top, "Best")
                .on_hover_text("CC first + i carries the i-th best tag")
                .clicked()
            {
                field.update(|s| s.midi_mode = MidiMode::Top);
            }
            let mut n = settings.midi_top_n;
            let top = ui.add_enabled(
                settings.midi_mode == MidiMode::Top,
                egui::DragValue::new(&mut n).range(1..=MAX_MIDI_CCS),
            );
            if top.changed() {
                field.update(|s| s.midi_top_n = n);
            }
            if ui
                .selectable_label(settings.midi_mode == MidiMode::Tags, "Tags")
                .on_hover_text("The tags typed below, one CC each")
                .clicked()
            {
                field.update(|s| s.midi_mode = MidiMode::Tags);
            }
        });
        if settings.midi_mode == MidiMode::Tags {
            ui.horizontal(|ui| self.tags_field(ui, field, width));
        }
        self.status(ui, snap);
    }

    /// The chosen tags, typed as "rock, guitar" and applied with Apply or Enter.
    fn tags_field(&mut self, ui: &mut egui::Ui, field: &SettingsField, width: f32) {
        ui.label("Tags");
        let text = ui.add(
            egui::TextEdit::singleline(&mut self.tags_edit)
                .desired_width((width * 0.55).clamp(140.0, 480.0))
                .hint_text("rock, guitar, piano (one CC each, in this order)"),
        );
        let entered = text.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if ui.button("Apply").clicked() || entered {
            let tags = tag_list(&[self.tags_edit.as_str()]);
            self.tags_edit = tags_text(&tags);
            self.tags_saved = tags.clone();
            field.update(|s| s.midi_tags = tags);
        }
    }

    fn status(&self, ui: &mut egui::Ui, snap: &Snapshot) {
        let line = format!("{}.", capitalized(&snap.midi));
        ui.add(egui::Label::new(RichText::new(line).small()).wrap());
        if !snap.midi_unknown.is_empty() {
            let msg = format!(
                "Not tags of the model (their CCs are not sent): {}.",
                snap.midi_unknown.join(", ")
            );
            ui.add(egui::Label::new(RichText::new(msg).small().color(ERROR_COLOR)).wrap());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restored_project_replaces_the_tags_being_typed() {
        let mut row = MidiRow::new(&Settings::default());
        assert_eq!(row.tags_edit(), "");
        let restored = Settings {
            midi_tags: vec!["rock".into(), "guitar".into()],
            ..Settings::default()
        };
        row.follow_saved(&restored);
        assert_eq!(row.tags_edit(), "rock, guitar");
        assert_eq!(
            tag_list(&[row.tags_edit()]),
            restored.midi_tags,
            "the text reads back as the list"
        );
    }
}
