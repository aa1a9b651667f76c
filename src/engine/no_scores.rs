//! Why a finished stream has no scores, in the words `mstag tag`, `mstag-live` and the
//! library all use.

use super::pipeline::FeaturePipeline;
use crate::model::{Manifest, SegmentModel};

/// Why a finished stream has no scores. Its message is the one `mstag tag` and `mstag-live`
/// give for such input (both then exit with 1).
///
/// # Examples
/// ```
/// use mstag::engine::NoScores;
/// let why = NoScores::SilentScales(vec![54]);
/// assert!(why.to_string().contains("54-frame scale"));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum NoScores {
    /// Shorter than one segment of the shortest scale.
    TooShort {
        /// Seconds of audio the stream had.
        seconds: f64,
        /// Seconds needed for one segment of the shortest scale ([`min_duration_s`]).
        needed_s: f64,
        /// Segment length of the shortest scale, in mel frames.
        frames: usize,
    },
    /// Every segment was digital silence.
    AllSilent,
    /// Every complete segment of these scales (segment lengths in frames) was digital
    /// silence; turning the silence gate off
    /// ([`PipelineConfig::silence_gate`](crate::engine::PipelineConfig::silence_gate)) tags it.
    SilentScales(Vec<usize>),
}

impl std::fmt::Display for NoScores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoScores::TooShort {
                seconds,
                needed_s,
                frames,
            } => write!(
                f,
                "too short to tag: {seconds:.2} s of audio; at least {needed_s:.2} s are \
                 needed (one {frames}-frame segment of the shortest scale)"
            ),
            NoScores::AllSilent => write!(
                f,
                "the audio is digital silence from start to end: nothing to tag"
            ),
            NoScores::SilentScales(scales) => {
                let list: Vec<String> = scales.iter().map(usize::to_string).collect();
                write!(
                    f,
                    "nothing to tag: every complete segment of the {}-frame scale is digital \
                     silence; turn the silence gate off to tag it anyway",
                    list.join(" and ")
                )
            }
        }
    }
}

/// Why `pipeline`, finished, has no scores: too short for one segment of the shortest scale,
/// or digital silence in every segment of some scale.
pub fn no_scores_reason<M: SegmentModel>(
    pipeline: &FeaturePipeline<M>,
    manifest: &Manifest,
) -> NoScores {
    let shortest = manifest.min_segment_frames();
    if pipeline.mel_frames() < shortest as u64 {
        NoScores::TooShort {
            seconds: pipeline.time_s(),
            needed_s: min_duration_s(manifest),
            frames: shortest,
        }
    } else if pipeline.silent_segments() == pipeline.segments() {
        NoScores::AllSilent
    } else {
        NoScores::SilentScales(
            pipeline
                .aggregates
                .scales
                .iter()
                .zip(&manifest.scales)
                .filter(|(a, _)| a.count() == 0)
                .map(|(_, s)| s.frames)
                .collect(),
        )
    }
}

/// Shortest input that yields a score: one segment of the shortest scale (FFT window
/// included), rounded up to 10 ms so that a clip of the length shown is long enough.
pub fn min_duration_s(m: &Manifest) -> f64 {
    let fe = &m.frontend;
    let s = ((m.min_segment_frames().saturating_sub(1)) * fe.hop + fe.n_fft) as f64
        / m.sample_rate as f64;
    (s * 100.0).ceil() / 100.0
}
