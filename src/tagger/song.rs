//! [`SongTags`]: what tagging a whole song gives.

use std::sync::Arc;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::output::json::{finite, TagMap};
use crate::scores::top_k;

/// The song-level result of tagging one song: its tag scores (the paper's aggregate, mean
/// over all segments), the feature vector they were computed from, and how the song was
/// analysed.
///
/// Serialised (serde) as `{"duration_s", "segments", "silent_segments", "looped_scales"
/// (only for a looped short clip), "device" ("cpu" or "cuda"), "tags": {"<tag>": score,
/// ...}}`, tags in manifest order.
///
/// # Examples
/// ```no_run
/// # fn main() -> mstag::Result<()> {
/// let mut tagger = mstag::Tagger::from_manifest(mstag::model::default_manifest_path())?;
/// let song = tagger.tag_path("song.mp3")?;
/// for (tag, score) in song.top(5) {
///     println!("{tag:<16} {score:.3}");
/// }
/// println!("{}", serde_json::to_string(&song).unwrap());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SongTags {
    pub(crate) names: Arc<[String]>,
    pub(crate) scores: Vec<f32>,
    pub(crate) features: Vec<f32>,
    pub(crate) duration_s: f64,
    pub(crate) segments: u64,
    pub(crate) silent_segments: u64,
    pub(crate) looped_scales: Vec<usize>,
    pub(crate) device: &'static str,
    pub(crate) windows: Vec<(f64, Vec<f32>)>,
    pub(crate) window_s: Option<f64>,
    pub(crate) timeline: Vec<(f64, Vec<f32>)>,
}

impl SongTags {
    /// Tag names, in the manifest's order (the order of [`Self::scores`]).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Scores in 0..=1, one per tag, in the order of [`Self::names`].
    pub fn scores(&self) -> &[f32] {
        &self.scores
    }

    /// The score of the tag called `name`, if the models have such a tag.
    pub fn score(&self, name: &str) -> Option<f32> {
        let i = self.names.iter().position(|n| n == name)?;
        self.scores.get(i).copied()
    }

    /// The `n` best tags with their scores, best first (ties keep manifest order).
    pub fn top(&self, n: usize) -> Vec<(&str, f32)> {
        top_k(&self.scores, n)
            .into_iter()
            .map(|i| (self.names[i].as_str(), self.scores[i]))
            .collect()
    }

    /// Every tag with its score, in manifest order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f32)> + '_ {
        self.names
            .iter()
            .map(String::as_str)
            .zip(self.scores.iter().copied())
    }

    /// The song-level feature vector the scores come from: per segment, the maximum over
    /// time of each level's activations; the mean over all segments; every level and scale
    /// concatenated in manifest order. The input of new classifiers trained on these
    /// features (transfer learning).
    pub fn features(&self) -> &[f32] {
        &self.features
    }

    /// Seconds of audio analysed.
    pub fn duration_s(&self) -> f64 {
        self.duration_s
    }

    /// Segments analysed, summed over scales.
    pub fn segments(&self) -> u64 {
        self.segments
    }

    /// Segments that were digital silence (counted, not aggregated).
    pub fn silent_segments(&self) -> u64 {
        self.silent_segments
    }

    /// Segment lengths (mel frames) of the scales whose only segment was made by looping a
    /// clip shorter than it; empty for songs at least as long as the longest segment.
    pub fn looped_scales(&self) -> &[usize] {
        &self.looped_scales
    }

    /// `(end, features)` of the sliding window every [`window_s`](Self::window_s) seconds,
    /// when the tagger was asked for them ([`TaggerConfig::windows`](crate::TaggerConfig));
    /// each vector is the mean over the segments of that window, in the order of
    /// [`features`](Self::features). Empty otherwise.
    pub fn windows(&self) -> &[(f64, Vec<f32>)] {
        &self.windows
    }

    /// The window length of [`windows`](Self::windows), when they were collected.
    pub fn window_s(&self) -> Option<f64> {
        self.window_s
    }

    /// Where the models ran: `"cpu"` or `"cuda"` (what `Device::Auto` resolved to).
    pub fn device(&self) -> &'static str {
        self.device
    }

    /// `(seconds, scores)` every [`TimelineOptions::step_s`](crate::TimelineOptions) when
    /// the tagger was asked for a timeline; empty otherwise.
    pub fn timeline(&self) -> &[(f64, Vec<f32>)] {
        &self.timeline
    }
}

impl Serialize for SongTags {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("duration_s", &finite(self.duration_s))?;
        map.serialize_entry("segments", &self.segments)?;
        map.serialize_entry("silent_segments", &self.silent_segments)?;
        if !self.looped_scales.is_empty() {
            map.serialize_entry("looped_scales", &self.looped_scales)?;
        }
        map.serialize_entry("device", self.device)?;
        map.serialize_entry("tags", &TagMap::new(&self.names, &self.scores))?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn song() -> SongTags {
        SongTags {
            names: ["rock", "piano", "vocal"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            scores: vec![0.25, 0.75, 0.25],
            features: vec![1.0, 2.0],
            duration_s: 12.5,
            segments: 40,
            silent_segments: 2,
            looped_scales: Vec::new(),
            device: "cpu",
            windows: Vec::new(),
            window_s: None,
            timeline: Vec::new(),
        }
    }

    #[test]
    fn top_ranks_best_first_and_keeps_manifest_order_on_ties() {
        let s = song();
        assert_eq!(s.top(2), vec![("piano", 0.75), ("rock", 0.25)]);
        assert_eq!(s.top(10).len(), 3);
        assert_eq!(s.score("vocal"), Some(0.25));
        assert_eq!(s.score("jazz"), None);
        assert_eq!(s.iter().count(), 3);
    }

    #[test]
    fn serialises_with_tags_in_manifest_order() {
        let text = serde_json::to_string(&song()).unwrap();
        assert_eq!(
            text,
            r#"{"duration_s":12.5,"segments":40,"silent_segments":2,"device":"cpu","tags":{"rock":0.25,"piano":0.75,"vocal":0.25}}"#
        );
        let mut looped = song();
        looped.looped_scales = vec![54];
        let v = serde_json::to_value(&looped).unwrap();
        assert_eq!(v["looped_scales"], serde_json::json!([54]));
    }
}
