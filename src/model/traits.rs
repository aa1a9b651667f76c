//! What the feature pipeline and the scorer need of their models, as traits: the ONNX
//! sessions ([`super::ScaleModel`], [`super::Classifier`]) implement them, and so can a
//! deterministic stand-in, which lets segment scheduling, the silence gate and rate
//! switching be tested without ONNX Runtime.

use crate::error::Result;

/// One scale's segment model (the paper's CNN): a segment of log-mel frames in, its
/// per-segment features (each level max-pooled over time) out.
///
/// # Examples
/// A stand-in that returns the largest value of each segment:
/// ```
/// use mstag::model::SegmentModel;
///
/// struct Loudest;
/// impl SegmentModel for Loudest {
///     fn frames(&self) -> usize { 4 }
///     fn hop_frames(&self) -> usize { 2 }
///     fn feature_dim(&self) -> usize { 1 }
///     fn extract(&mut self, segments: &[f32], n: usize, out: &mut [f32]) -> mstag::Result<()> {
///         for (seg, o) in segments.chunks(segments.len() / n.max(1)).zip(out) {
///             *o = seg.iter().copied().fold(f32::MIN, f32::max);
///         }
///         Ok(())
///     }
/// }
/// let mut out = [0.0];
/// Loudest.extract(&[0.5, 2.0, 1.0, 0.0], 1, &mut out).unwrap();
/// assert_eq!(out, [2.0]);
/// ```
pub trait SegmentModel {
    /// Segment length, in mel frames.
    fn frames(&self) -> usize;
    /// Frames between the starts of consecutive segments.
    fn hop_frames(&self) -> usize;
    /// Feature values per segment (all levels together).
    fn feature_dim(&self) -> usize;
    /// Runs `n` segments (`n * frames * n_mels` values, time-major) and writes their
    /// features (`n * feature_dim`) to `out`.
    fn extract(&mut self, segments: &[f32], n: usize, out: &mut [f32]) -> Result<()>;
}

/// The song-level classifier (the paper's DNN): aggregated features in, tag scores out.
///
/// # Examples
/// A stand-in that scores one tag with the mean of the features:
/// ```
/// use mstag::model::TagClassifier;
///
/// struct Mean;
/// impl TagClassifier for Mean {
///     fn input_dim(&self) -> usize { 2 }
///     fn n_tags(&self) -> usize { 1 }
///     fn predict(&mut self, features: &[f32], n: usize, out: &mut [f32]) -> mstag::Result<()> {
///         for (f, o) in features.chunks(2).zip(out).take(n) {
///             *o = (f[0] + f[1]) / 2.0;
///         }
///         Ok(())
///     }
/// }
/// let mut out = [0.0; 2];
/// Mean.predict(&[0.0, 1.0, 1.0, 1.0], 2, &mut out).unwrap();
/// assert_eq!(out, [0.5, 1.0]);
/// ```
pub trait TagClassifier {
    /// Values per feature vector.
    fn input_dim(&self) -> usize;
    /// Scores per feature vector (tags, in manifest order).
    fn n_tags(&self) -> usize;
    /// Scores `n` feature vectors (`n * input_dim`) into `out` (`n * n_tags`).
    fn predict(&mut self, features: &[f32], n: usize, out: &mut [f32]) -> Result<()>;
}
