//! The editor's bars: the top N tags or synonym groups ([`mstag::synonyms`]) of one view,
//! drawn to fill the space they are given.

use egui::{Align2, Color32, FontId, Sense, Vec2};
use mstag::calibration::Calibration;
use mstag::engine::{HeadLabels, Scores, View};
use mstag::synonyms::SynonymGroups;

use crate::settings::{ScaleChoice, Settings, SortOrder};

const BAR_COLOR: Color32 = Color32::from_rgb(0x4c, 0x9e, 0xd9);
const TOP_COLOR: Color32 = Color32::from_rgb(0xf0, 0xa0, 0x30);

/// One bar: a tag or a synonym group, its score, and whether it is the best.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub name: String,
    pub score: f32,
    pub best: bool,
}

/// The bars to draw, in display order: the top N entries of `groups` (synonyms grouped or
/// every tag) by score, sorted by score or by name.
pub fn bar_entries(settings: &Settings, groups: &SynonymGroups, scores: &[f32]) -> Vec<Bar> {
    let mut bars: Vec<Bar> = groups
        .top(scores, settings.top_n)
        .into_iter()
        .enumerate()
        .map(|(i, (name, score))| Bar {
            name,
            score,
            best: i == 0,
        })
        .collect();
    if settings.sort == SortOrder::Name {
        bars.sort_by(|a, b| a.name.cmp(&b.name));
    }
    bars
}

/// `s` with the tags of view `v` calibrated (the other views and the heads as they were). No
/// allocation: the publish hook uses it for the meters.
pub fn calibrate_view(s: &Scores, v: View, calibration: &Calibration) -> Scores {
    let mut out = *s;
    let n = s.n_tags;
    let row = match v {
        View::Session => &mut out.session,
        View::Window => &mut out.window,
        View::Ema => &mut out.ema,
    };
    calibration.apply(s.view(v), &mut row[..n]);
    out
}

/// The scores the bars show: as published (raw), or with the bars' view calibrated when the
/// settings ask for it and the models have a calibration.
pub fn shown_scores(settings: &Settings, scores: &Scores, cal: Option<&Calibration>) -> Scores {
    match (settings.scale, cal) {
        (ScaleChoice::Calibrated, Some(c)) => calibrate_view(scores, settings.view.view(), c),
        _ => *scores,
    }
}

/// Each head's bars: its name, then all its labels best first, from `scores` (one view of
/// [`mstag::engine::Scores::heads`], laid out head after head).
pub fn head_bars(heads: &[HeadLabels], scores: &[f32]) -> Vec<(String, Vec<Bar>)> {
    mstag::scores::per_head(heads, scores)
        .map(|(h, mine)| {
            let bars = mstag::scores::top_k(mine, mine.len())
                .into_iter()
                .enumerate()
                .map(|(rank, i)| Bar {
                    name: h.labels[i].clone(),
                    score: mine[i],
                    best: rank == 0,
                })
                .collect();
            (h.name.clone(), bars)
        })
        .collect()
}

/// The bars fill the panel's height: taller rows (and larger text) for fewer bars, a scroll
/// area when they do not fit at the smallest row height.
pub fn draw_bars(ui: &mut egui::Ui, id: &str, bars: &[Bar]) {
    let n = bars.len().max(1) as f32;
    let gap = 4.0;
    let row_h = ((ui.available_height() / n) - gap).clamp(22.0, 44.0);
    let font = FontId::proportional((row_h * 0.55).clamp(14.5, 20.0));
    let text = ui.visuals().text_color();
    let label_w = bars
        .iter()
        .map(|b| {
            ui.painter()
                .layout_no_wrap(b.name.clone(), font.clone(), text)
                .size()
                .x
        })
        .fold(60.0f32, f32::max)
        + 14.0;
    let value_w = ui
        .painter()
        .layout_no_wrap("0.000".into(), font.clone(), text)
        .size()
        .x
        + 10.0;
    egui::ScrollArea::vertical()
        .id_salt(id)
        .auto_shrink([false, false])
        .show(ui, |ui| {
            ui.spacing_mut().item_spacing.y = gap;
            let width = ui.available_width();
            let label_w = label_w.min(width * 0.45);
            for bar in bars {
                let (rect, _) = ui.allocate_exact_size(Vec2::new(width, row_h), Sense::hover());
                let p = ui.painter_at(rect);
                p.text(
                    rect.left_center() + Vec2::new(2.0, 0.0),
                    Align2::LEFT_CENTER,
                    &bar.name,
                    font.clone(),
                    text,
                );
                let bar_w = (width - label_w - value_w).max(10.0);
                let track = egui::Rect::from_min_size(
                    rect.left_top() + Vec2::new(label_w, row_h * 0.15),
                    Vec2::new(bar_w, row_h * 0.7),
                );
                p.rect_filled(track, 3.0, ui.visuals().extreme_bg_color);
                let v = bar.score.clamp(0.0, 1.0);
                let fill =
                    egui::Rect::from_min_size(track.min, Vec2::new(bar_w * v, track.height()));
                p.rect_filled(fill, 3.0, if bar.best { TOP_COLOR } else { BAR_COLOR });
                p.text(
                    rect.right_center() - Vec2::new(2.0, 0.0),
                    Align2::RIGHT_CENTER,
                    format!("{v:.3}"),
                    font.clone(),
                    text,
                );
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(bars: &[Bar]) -> Vec<&str> {
        bars.iter().map(|b| b.name.as_str()).collect()
    }

    #[test]
    fn each_head_gets_its_labels_best_first() {
        let heads = vec![
            HeadLabels {
                name: "cues".into(),
                labels: vec!["verse".into(), "drop".into()],
            },
            HeadLabels {
                name: "band".into(),
                labels: vec!["a".into(), "b".into(), "c".into()],
            },
        ];
        let got = head_bars(&heads, &[0.25, 0.75, 0.1, 0.2, 0.7]);
        assert_eq!(got[0].0, "cues");
        assert_eq!(names(&got[0].1), ["drop", "verse"]);
        assert!(got[0].1[0].best && !got[0].1[1].best);
        assert_eq!(names(&got[1].1), ["c", "b", "a"]);
        assert_eq!(got[1].1[0].score, 0.7);
        // Fewer scores than labels (before the first update with heads): no panic.
        assert_eq!(head_bars(&heads, &[]).len(), 2);
    }

    #[test]
    fn the_calibrated_scale_maps_only_the_bars_view() {
        use mstag::calibration::CalibrationSpec;
        let tags: Vec<String> = vec!["rock".into(), "piano".into()];
        let spec = CalibrationSpec {
            source: "test".into(),
            levels: vec![0.5, 0.99],
            quantiles: [
                ("rock".to_string(), vec![0.0, 0.5]),
                ("piano".to_string(), vec![0.0, 1.0]),
            ]
            .into(),
        };
        let cal = Calibration::new(&spec, &tags).unwrap();
        let mut s = Scores {
            n_tags: 2,
            ..Scores::default()
        };
        s.window[..2].copy_from_slice(&[0.25, 0.5]);
        s.session[..2].copy_from_slice(&[0.25, 0.5]);
        let mut settings = Settings::default();
        assert_eq!(shown_scores(&settings, &s, Some(&cal)), s, "raw by default");
        settings.scale = ScaleChoice::Calibrated;
        assert_eq!(shown_scores(&settings, &s, None), s, "no calibration: raw");
        let shown = shown_scores(&settings, &s, Some(&cal));
        assert_eq!(shown.view(View::Window), [0.5, 0.5]);
        assert_eq!(shown.view(View::Session), s.view(View::Session));
    }

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
        let groups = SynonymGroups::with(&tags, !s.all_tags);
        let bars = bar_entries(&s, &groups, &scores);
        assert_eq!(names(&bars), ["rock", "guitar", "piano"]);
        assert_eq!(bars[0].score, 0.9);
        s.sort = SortOrder::Name;
        let bars = bar_entries(&s, &groups, &scores);
        assert_eq!(names(&bars), ["guitar", "piano", "rock"]);
        // The best bar stays marked whatever the order.
        assert!(bars[2].best && !bars[0].best && !bars[1].best);
    }

    #[test]
    fn synonyms_share_a_bar_unless_all_tags_is_on() {
        let tags: Vec<String> = [
            "no vocal",
            "classic",
            "no vocals",
            "classical",
            "no voice",
            "rock",
        ]
        .map(String::from)
        .to_vec();
        let scores = [0.8, 0.3, 0.7, 0.6, 0.75, 0.5];
        let mut s = Settings {
            top_n: 4,
            ..Settings::default()
        };
        assert!(!s.all_tags, "grouped by default");
        let grouped = SynonymGroups::with(&tags, !s.all_tags);
        let bars = bar_entries(&s, &grouped, &scores);
        assert_eq!(names(&bars), ["no vocals", "classical", "rock"]);
        assert_eq!(
            bars.iter().map(|b| b.score).collect::<Vec<_>>(),
            [0.8, 0.6, 0.5]
        );
        s.all_tags = true;
        let all = SynonymGroups::with(&tags, !s.all_tags);
        let bars = bar_entries(&s, &all, &scores);
        assert_eq!(
            names(&bars),
            ["no vocal", "no voice", "no vocals", "classical"]
        );
    }
}
