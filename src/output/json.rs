//! The one JSON encoding of scores, shared by every output that writes JSON: `mstag tag
//! --format json`, `mstag-live --json`, and [`SongTags`](crate::SongTags) through serde.
//!
//! Scores are written as `{"<tag>": score, ...}` objects in manifest order, each score in the
//! shortest decimal form that reads back as the same `f32` (`0.7`, not `0.699999988`), and
//! `null` for a score that is not finite (JSON has no NaN).

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::calibration::Scale;
use crate::scores::{per_head, HeadLabels, Scores, View};

/// `{tag: score}` in manifest order; a score without a name (more scores than names) is
/// called `tag<i>`.
///
/// # Examples
/// ```
/// use mstag::output::json::TagMap;
/// let names = ["rock".to_string(), "piano".to_string()];
/// let text = serde_json::to_string(&TagMap::new(&names, &[0.7, f32::NAN])).unwrap();
/// assert_eq!(text, r#"{"rock":0.7,"piano":null}"#);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TagMap<'a> {
    names: &'a [String],
    scores: &'a [f32],
}

impl<'a> TagMap<'a> {
    /// The scores `scores` under the names `names` (both in manifest order).
    pub fn new(names: &'a [String], scores: &'a [f32]) -> Self {
        TagMap { names, scores }
    }
}

impl Serialize for TagMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.scores.len()))?;
        for (i, &x) in self.scores.iter().enumerate() {
            let value = x.is_finite().then_some(x);
            match self.names.get(i) {
                Some(name) => map.serialize_entry(name, &value)?,
                None => map.serialize_entry(&format!("tag{i}"), &value)?,
            }
        }
        map.end()
    }
}

/// A list of `f32` values (a feature vector), each in its shortest decimal form, `null` where
/// not finite.
///
/// # Examples
/// ```
/// use mstag::output::json::Floats;
/// let text = serde_json::to_string(&Floats(&[0.1, 2.5, f32::INFINITY])).unwrap();
/// assert_eq!(text, "[0.1,2.5,null]");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Floats<'a>(pub &'a [f32]);

impl Serialize for Floats<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|&x| x.is_finite().then_some(x)))
    }
}

/// A duration or time in seconds, `null` when not finite.
pub(crate) fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// One update of the live engine as `mstag-live --json` writes it: `t` (seconds of input,
/// 4 decimals), the three views, the input's dropped frames, whether the input is silent
/// (scores held) or a short clip was looped, and `final` on the last line of a session (the
/// song-level result). With heads of your own ([`LiveLine::with_heads`]) a `heads` object
/// follows the views: `{"session": {NAME: {label: score}}, "window": ..., "ema": ...}`.
///
/// # Examples
/// ```
/// use mstag::output::json::LiveLine;
/// use mstag::scores::Scores;
/// let names = ["rock".to_string()];
/// let mut s = Scores::default();
/// s.n_tags = 1;
/// s.session[0] = 0.5;
/// let v: serde_json::Value = serde_json::to_value(LiveLine::new(&names, &s, true)).unwrap();
/// assert_eq!(v["session"]["rock"], 0.5);
/// assert_eq!(v["final"], true);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct LiveLine<'a> {
    names: &'a [String],
    heads: &'a [HeadLabels],
    scores: &'a Scores,
    is_final: bool,
    scale: Scale,
}

/// One view of every head: `{NAME: {label: score}}`, laid out as in [`Scores::heads`].
pub(crate) struct HeadView<'a> {
    pub(crate) heads: &'a [HeadLabels],
    pub(crate) scores: &'a [f32],
}

impl Serialize for HeadView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.heads.len()))?;
        for (h, scores) in per_head(self.heads, self.scores) {
            map.serialize_entry(&h.name, &TagMap::new(&h.labels, scores))?;
        }
        map.end()
    }
}

/// Every view of every head: `{view: {NAME: {label: score}}}`.
struct HeadViews<'a> {
    heads: &'a [HeadLabels],
    scores: &'a Scores,
}

impl Serialize for HeadViews<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        for v in View::ALL {
            let view = HeadView {
                heads: self.heads,
                scores: self.scores.head_view(v),
            };
            map.serialize_entry(v.name(), &view)?;
        }
        map.end()
    }
}

impl<'a> LiveLine<'a> {
    /// The line for `scores`; `is_final` marks the last one of a session.
    pub fn new(names: &'a [String], scores: &'a Scores, is_final: bool) -> Self {
        LiveLine {
            names,
            heads: &[],
            scores,
            is_final,
            scale: Scale::Raw,
        }
    }

    /// Says the tag values are calibrated (`"scale": "calibrated"` after `final`); raw values
    /// (the default) add no key.
    pub fn with_scale(mut self, scale: Scale) -> Self {
        self.scale = scale;
        self
    }

    /// Names the head scores of the update ([`Scores::heads`]) with `heads`' labels, written
    /// under `heads`; without heads (the default) there is no `heads` key.
    pub fn with_heads(mut self, heads: &'a [HeadLabels]) -> Self {
        self.heads = heads;
        self
    }

    /// The line as compact JSON text (no newline).
    pub fn to_json(&self) -> String {
        // Serialising strings, finite numbers and booleans into a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Serialize for LiveLine<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let sc = self.scores;
        let extra = usize::from(!self.heads.is_empty()) + usize::from(self.scale != Scale::Raw);
        let mut map = s.serialize_map(Some(8 + extra))?;
        map.serialize_entry("t", &finite((sc.t * 1e4).round() / 1e4))?;
        for v in View::ALL {
            map.serialize_entry(v.name(), &TagMap::new(self.names, sc.view(v)))?;
        }
        if !self.heads.is_empty() {
            let heads = HeadViews {
                heads: self.heads,
                scores: sc,
            };
            map.serialize_entry("heads", &heads)?;
        }
        map.serialize_entry("dropped", &sc.dropped)?;
        map.serialize_entry("silent", &sc.silent)?;
        map.serialize_entry("looped", &sc.looped)?;
        map.serialize_entry("final", &self.is_final)?;
        if self.scale != Scale::Raw {
            map.serialize_entry("scale", self.scale.name())?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_keep_manifest_order_and_their_shortest_form() {
        let names: Vec<String> = ["z", "a", "m"].iter().map(|s| s.to_string()).collect();
        let text = serde_json::to_string(&TagMap::new(&names, &[0.1, 0.25, 1.0 / 3.0])).unwrap();
        assert_eq!(text, r#"{"z":0.1,"a":0.25,"m":0.33333334}"#);
        // A score without a name gets one; infinities are null.
        let text = serde_json::to_string(&TagMap::new(&names[..1], &[f32::INFINITY, 0.5])).unwrap();
        assert_eq!(text, r#"{"z":null,"tag1":0.5}"#);
    }

    #[test]
    fn a_live_line_has_every_field_in_order() {
        let names = vec!["rock".to_string(), "piano".to_string()];
        let mut s = Scores {
            t: 1.234_567,
            n_tags: 2,
            dropped: 3,
            silent: true,
            ..Scores::default()
        };
        s.window[1] = 0.75;
        let text = LiveLine::new(&names, &s, false).to_json();
        assert_eq!(
            text,
            r#"{"t":1.2346,"session":{"rock":0.0,"piano":0.0},"window":{"rock":0.0,"piano":0.75},"ema":{"rock":0.0,"piano":0.0},"dropped":3,"silent":true,"looped":false,"final":false}"#
        );
    }

    #[test]
    fn head_scores_follow_the_views_named_by_their_heads() {
        let names = vec!["rock".to_string()];
        let heads = vec![
            HeadLabels {
                name: "cue".into(),
                labels: vec!["drop".into(), "verse".into()],
            },
            HeadLabels {
                name: "band".into(),
                labels: vec!["a".into(), "b".into()],
            },
        ];
        let mut s = Scores {
            n_tags: 1,
            n_head: 4,
            ..Scores::default()
        };
        s.heads[View::Ema.index()][..4].copy_from_slice(&[0.25, 0.75, 0.5, 0.125]);
        let v: serde_json::Value =
            serde_json::to_value(LiveLine::new(&names, &s, false).with_heads(&heads)).unwrap();
        assert_eq!(v["heads"]["ema"]["cue"]["verse"], 0.75);
        assert_eq!(v["heads"]["ema"]["band"]["b"], 0.125);
        assert_eq!(v["heads"]["session"]["band"]["a"], 0.0);
        let keys: Vec<&String> = v["heads"]["window"]["cue"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(keys, ["drop", "verse"]);
        // Without heads there is no key at all.
        let plain: serde_json::Value =
            serde_json::to_value(LiveLine::new(&names, &s, false)).unwrap();
        assert!(plain.get("heads").is_none());
    }
}
