//! The plugin's parameters: read-only meters for the host, and the persisted settings.
//!
//! **Meters.** The top three tags (as an index into the manifest's tags, shown by name) and
//! their scores, in the view chosen in the editor. Like the editor's bars they group synonyms
//! unless "all tags" is on: there are only three meters, and per tag they could all be one
//! idea (`no vocal`, `no vocals`, `no voice`). A group shows as its displayed name's index
//! with the highest score of its members ([`mstag::synonyms`]), so the value is still a tag
//! of the manifest. OSC keeps every tag (machine output). They are flagged hidden, which nice-plug
//! exports as *read-only* (CLAP `CLAP_PARAM_IS_READONLY | CLAP_PARAM_IS_HIDDEN`, VST3
//! `kIsReadOnly | kIsHidden`): the host cannot automate or change them and does not list them
//! as automation targets, so they never flood automation lanes. The inference thread writes them
//! when it publishes scores (never `process()`); nice-plug has no way to announce
//! plugin-side changes, so hosts see the values when they query them (CLAP
//! `params.get_value`, VST3 `getParamNormalized`). Some hosts do not read them at all (JUCE-based
//! hosts read VST3 output parameters as 0). They start to move only once the first scores exist
//! (after about 1.3 s of sound), which is also why clap-validator's `param-set-wrong-namespace`
//! test, which processes one block and compares the values before and after, passes.

use std::sync::{Arc, Mutex, OnceLock};

use mstag::engine::{Scores, View, MAX_TAGS};
use mstag::synonyms::SynonymGroups;
use nice_plug::params::InternalParamMut;
use nice_plug::prelude::*;

use crate::settings::{EditorSize, SettingsField};

/// Number of (tag, score) meter pairs.
pub const METERS: usize = 3;

/// Tag names, known once the models are loaded (for the meters' display).
pub type TagNames = Arc<OnceLock<Vec<String>>>;

#[derive(Params)]
pub struct MstagParams {
    /// View, lengths, sort order, bar count, grouping and OSC settings (saved with the
    /// project).
    #[persist = "settings"]
    pub settings: SettingsField,
    /// The editor's size (saved with the project).
    #[persist = "editor-size"]
    pub editor_size: Mutex<EditorSize>,

    #[id = "top1_tag"]
    pub top1_tag: IntParam,
    #[id = "top1_score"]
    pub top1_score: FloatParam,
    #[id = "top2_tag"]
    pub top2_tag: IntParam,
    #[id = "top2_score"]
    pub top2_score: FloatParam,
    #[id = "top3_tag"]
    pub top3_tag: IntParam,
    #[id = "top3_score"]
    pub top3_score: FloatParam,
}

fn tag_meter(name: &str, names: &TagNames) -> IntParam {
    let names = names.clone();
    IntParam::new(
        name,
        -1,
        IntRange::Linear {
            min: -1,
            max: MAX_TAGS as i32 - 1,
        },
    )
    .with_value_to_string({
        let names = names.clone();
        Arc::new(move |i| {
            if i < 0 {
                return "-".to_string();
            }
            names
                .get()
                .and_then(|n| n.get(i as usize))
                .cloned()
                .unwrap_or_else(|| format!("tag {i}"))
        })
    })
    .with_string_to_value(Arc::new(move |text| {
        let text = text.trim();
        if text == "-" {
            return Some(-1);
        }
        if let Some(i) = names.get().and_then(|n| n.iter().position(|t| t == text)) {
            return Some(i as i32);
        }
        text.strip_prefix("tag ").unwrap_or(text).parse().ok()
    }))
    .hide()
}

fn score_meter(name: &str) -> FloatParam {
    FloatParam::new(name, 0.0, FloatRange::Linear { min: 0.0, max: 1.0 })
        .with_value_to_string(Arc::new(|v| format!("{v:.3}")))
        .hide()
}

impl MstagParams {
    pub fn new(names: &TagNames) -> MstagParams {
        MstagParams {
            settings: SettingsField::default(),
            editor_size: Mutex::new(EditorSize::default()),
            top1_tag: tag_meter("Top tag", names),
            top1_score: score_meter("Top tag score"),
            top2_tag: tag_meter("Second tag", names),
            top2_score: score_meter("Second tag score"),
            top3_tag: tag_meter("Third tag", names),
            top3_score: score_meter("Third tag score"),
        }
    }

    fn meters(&self) -> [(&IntParam, &FloatParam); METERS] {
        [
            (&self.top1_tag, &self.top1_score),
            (&self.top2_tag, &self.top2_score),
            (&self.top3_tag, &self.top3_score),
        ]
    }

    /// The editor's size as saved (clamped to the sizes the editor accepts).
    pub fn editor_size(&self) -> EditorSize {
        self.editor_size
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clamped()
    }

    /// Records the editor's size (after the window was resized).
    pub fn set_editor_size(&self, size: EditorSize) {
        *self.editor_size.lock().unwrap_or_else(|e| e.into_inner()) = size.clamped();
    }

    /// Writes the meters from freshly published scores (on the inference thread), per tag or,
    /// with `groups`, per synonym group.
    pub fn set_meters(&self, scores: &Scores, view: View, groups: Option<&SynonymGroups>) {
        let values = scores.view(view);
        let top = match groups {
            None => top3(values),
            Some(g) => top3(&g.scores(values)).map(|best| {
                best.and_then(|(entry, s)| Some((*g.groups().get(entry)?.members.first()?, s)))
            }),
        };
        for ((tag, score), best) in self.meters().into_iter().zip(top) {
            let (i, s) = best.map_or((-1, 0.0), |(i, s)| (i as i32, s));
            // SAFETY: these parameters are read-only for the host, so nothing else writes them;
            // the setters only store atomics.
            unsafe {
                tag._internal_set_plain_value(i);
                score._internal_set_plain_value(s);
            }
        }
    }
}

/// The three best (index, score) pairs, best first; ties keep manifest order.
fn top3(scores: &[f32]) -> [Option<(usize, f32)>; METERS] {
    let mut best: [Option<(usize, f32)>; METERS] = [None; METERS];
    for (i, &s) in scores.iter().enumerate() {
        let mut cand = Some((i, s));
        for slot in best.iter_mut() {
            match (*slot, cand) {
                (None, _) => {
                    *slot = cand;
                    break;
                }
                (Some((bi, bs)), Some((ci, cs))) if cs.total_cmp(&bs).then(bi.cmp(&ci)).is_gt() => {
                    std::mem::swap(slot, &mut cand);
                }
                _ => {}
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top3_matches_a_full_sort() {
        let v = [0.1, 0.5, 0.3, 0.5, 0.9, 0.0];
        let got: Vec<usize> = top3(&v).iter().map(|b| b.unwrap().0).collect();
        assert_eq!(got, mstag::scores::top_k(&v, 3));
        assert_eq!(top3(&[0.2]), [Some((0, 0.2)), None, None]);
    }

    #[test]
    fn meters_show_tag_names_and_follow_the_scores() {
        let names: TagNames = Arc::new(OnceLock::new());
        let p = MstagParams::new(&names);
        assert_eq!(p.top1_tag.to_string(), "-");
        names
            .set(vec!["guitar".into(), "rock".into(), "piano".into()])
            .unwrap();
        let mut s = Scores {
            n_tags: 3,
            ..Scores::default()
        };
        s.session[..3].copy_from_slice(&[0.2, 0.7, 0.1]);
        p.set_meters(&s, View::Session, None);
        assert_eq!(p.top1_tag.value(), 1);
        assert_eq!(p.top1_tag.to_string(), "rock");
        assert_eq!(p.top1_score.value(), 0.7);
        assert_eq!(p.top3_tag.to_string(), "piano");
        for text in ["-", "rock", "tag 2", "7"] {
            let v = p.top1_tag.string_to_normalized_value(text).unwrap();
            let back = p.top1_tag.normalized_value_to_string(v, false);
            assert_eq!(
                p.top1_tag.string_to_normalized_value(&back),
                Some(v),
                "{text}"
            );
        }
        assert!(p.top1_tag.flags().contains(ParamFlags::HIDDEN));
    }

    #[test]
    fn grouped_meters_give_one_synonym_group_one_meter() {
        let tags: Vec<String> = ["no vocal", "rock", "no vocals", "no voice", "guitar"]
            .map(String::from)
            .to_vec();
        let names: TagNames = Arc::new(OnceLock::new());
        names.set(tags.clone()).unwrap();
        let p = MstagParams::new(&names);
        let mut s = Scores {
            n_tags: 5,
            ..Scores::default()
        };
        s.window[..5].copy_from_slice(&[0.8, 0.5, 0.7, 0.6, 0.4]);
        // Per tag, the three meters are all one idea.
        p.set_meters(&s, View::Window, None);
        let shown =
            |p: &MstagParams| [&p.top1_tag, &p.top2_tag, &p.top3_tag].map(|t| t.to_string());
        assert_eq!(shown(&p), ["no vocal", "no vocals", "no voice"]);
        // Grouped: the group once, under its shown name, with its best member's score.
        let groups = SynonymGroups::new(&tags);
        p.set_meters(&s, View::Window, Some(&groups));
        assert_eq!(shown(&p), ["no vocals", "rock", "guitar"]);
        assert_eq!(p.top1_tag.value(), 2);
        assert_eq!(p.top1_score.value(), 0.8);
        assert_eq!(p.top2_score.value(), 0.5);
    }
}
