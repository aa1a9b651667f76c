//! [`StreamTagger`]: tagging audio pushed in pieces, on the caller's thread.

use std::sync::Arc;

use super::song::SongTags;
use super::TimelineOptions;
use crate::engine::{no_scores_reason, FeaturePipeline, PipelineConfig, Scorer};
use crate::error::{Error, Result};
use crate::model::{Manifest, ModelSet, Placement, SegmentModel, TagClassifier};
use crate::scores::{Scores, View};

/// Tags audio that the caller pushes in pieces of any size: for programs that bring their
/// own audio (a network stream, a game, a decoder of their own) and want scores as it
/// plays, without threads or a ring.
///
/// [`push`](Self::push) runs the models on the calling thread whenever a segment completes,
/// so it must not be called from a real-time audio callback: there, use the live
/// [`Engine`](crate::engine::Engine), whose audio side only copies into a lock-free ring.
/// Pushing a whole song and calling [`finish`](Self::finish) gives exactly what
/// [`Tagger::tag_samples`](crate::Tagger::tag_samples) gives.
///
/// # Examples
/// ```no_run
/// # fn main() -> mstag::Result<()> {
/// use mstag::scores::View;
/// let mut tagger = mstag::Tagger::from_manifest(mstag::model::default_manifest_path())?;
/// let mut stream = tagger.stream(44_100, 2)?;
/// let block = vec![0.0f32; 2 * 4096]; // interleaved stereo, from your own source
/// for _ in 0..100 {
///     if let Some(scores) = stream.push(&block)? {
///         let best = scores.top(View::Window, 1)[0];
///         println!("{:.1} s: {}", scores.t, stream.tags()[best]);
///     }
/// }
/// let song = stream.finish();
/// # Ok(()) }
/// ```
pub struct StreamTagger {
    manifest: Manifest,
    placement: Placement,
    names: Arc<[String]>,
    pipeline: FeaturePipeline,
    scorer: Scorer,
    scores: Scores,
    timeline: Option<Columns>,
    /// Feature vectors of the sliding window, every `window_s` ([`Self::collect_windows`]).
    windows: Option<FeatureWindows>,
    /// Score after every push that completed a segment (false inside [`Tagger`](crate::Tagger): only
    /// for timeline columns and at the end).
    every_segment: bool,
}

/// The window feature vectors being collected: one every `step_s` (the window's length).
struct FeatureWindows {
    step_s: f64,
    next_s: f64,
    rows: Vec<(f64, Vec<f32>)>,
}

/// The timeline being collected: a column every `step_s`.
struct Columns {
    opts: TimelineOptions,
    next_s: f64,
    columns: Vec<(f64, Vec<f32>)>,
}

impl StreamTagger {
    /// A stream of interleaved `f32` samples at `sample_rate` Hz with `channels` channels
    /// (any rate: the pipeline resamples to the models' rate), analysed with `models`.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for a bad `pipeline`, [`Error::AudioFormat`] for 0 or more
    /// than 64 channels or a rate the resampler cannot take.
    pub fn new(
        models: ModelSet,
        sample_rate: u32,
        channels: usize,
        pipeline: PipelineConfig,
    ) -> Result<Self> {
        let names: Arc<[String]> = models.manifest.tags.iter().cloned().collect();
        let mut stream = Self::with_names(models, names, sample_rate, channels, pipeline, None)?;
        stream.every_segment = true;
        Ok(stream)
    }

    pub(crate) fn with_names(
        models: ModelSet,
        names: Arc<[String]>,
        sample_rate: u32,
        channels: usize,
        pipeline: PipelineConfig,
        timeline: Option<TimelineOptions>,
    ) -> Result<Self> {
        let ModelSet {
            manifest,
            scales,
            classifier,
            placement,
        } = models;
        let pipeline = FeaturePipeline::new(&manifest, scales, sample_rate, channels, pipeline)?;
        Ok(StreamTagger {
            manifest,
            placement,
            names,
            pipeline,
            scorer: Scorer::new(classifier),
            scores: Scores::default(),
            timeline: timeline.map(|opts| Columns {
                opts,
                next_s: opts.step_s,
                columns: Vec::new(),
            }),
            windows: None,
            every_segment: false,
        })
    }

    /// Runs up to `n` segments per model call (see
    /// [`FeaturePipeline::set_batch`](crate::engine::FeaturePipeline::set_batch)); scores
    /// are still reported after every push that completes a segment. 1 by default.
    ///
    /// # Errors
    /// [`Error::Inference`] when the segments already waiting fail.
    pub fn set_batch(&mut self, n: usize) -> Result<()> {
        self.pipeline.set_batch(n)
    }

    /// Tag names, in the order of every score array.
    pub fn tags(&self) -> &[String] {
        &self.names
    }

    /// Where the models run (the device `Auto` resolved to, and why).
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// Seconds of audio pushed so far.
    pub fn time_s(&self) -> f64 {
        self.pipeline.time_s()
    }

    /// Feeds interleaved samples (whole frames). Returns (a copy of) the new scores when this push
    /// completed a segment and every scale has one, `None` otherwise (the last scores stay
    /// readable through [`latest`](Self::latest)).
    ///
    /// (Inside [`Tagger`](crate::Tagger), which needs only the song-level result, the
    /// classifier runs only where a timeline column is due, and at the end.)
    ///
    /// # Errors
    /// [`Error::Inference`] when a model fails.
    pub fn push(&mut self, interleaved: &[f32]) -> Result<Option<Scores>> {
        if self.pipeline.push(interleaved)? == 0 {
            return Ok(None);
        }
        let t = self.pipeline.time_s();
        self.collect_window_due(t)?;
        let column_due = self.timeline.as_ref().is_some_and(|tl| t >= tl.next_s);
        if !(self.every_segment || column_due) {
            return Ok(None);
        }
        let ready = self.rescore()?;
        if let Some(tl) = self.timeline.as_mut().filter(|_| column_due) {
            if ready {
                tl.columns
                    .push((t, self.scores.view(tl.opts.view).to_vec()));
            }
            while tl.next_s <= t {
                tl.next_s += tl.opts.step_s;
            }
        }
        Ok(ready.then_some(self.scores))
    }

    /// Also keeps the feature vector of the sliding window every `window_s` seconds (each the
    /// mean of the segments of the last `window_s` seconds, as the window view): the
    /// song's [`SongTags::windows`]. Sets the window view's length to `window_s`.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] named `window` unless `window_s` is a number of seconds
    /// above 0 and at most 3600.
    pub fn collect_windows(&mut self, window_s: f64) -> Result<()> {
        let ema = self.pipeline.config().ema_tau_s;
        self.pipeline.set_view_lengths(window_s, ema)?;
        self.windows = Some(FeatureWindows {
            step_s: window_s,
            next_s: window_s,
            rows: Vec::new(),
        });
        Ok(())
    }

    /// A window row for every boundary `t` has passed (one per push: pushes are shorter than
    /// a window).
    fn collect_window_due(&mut self, t: f64) -> Result<()> {
        let due = self.windows.as_ref().is_some_and(|w| t >= w.next_s);
        if !due {
            return Ok(());
        }
        self.pipeline.flush()?;
        let mut f = vec![0.0; self.pipeline.aggregates.dim()];
        let ready = self.pipeline.aggregates.write(View::Window, &mut f);
        if let Some(w) = self.windows.as_mut() {
            if ready {
                w.rows.push((t, f));
            }
            while w.next_s <= t {
                w.next_s += w.step_s;
            }
        }
        Ok(())
    }

    /// The scores of the last push that made some, if any did.
    pub fn latest(&self) -> Option<&Scores> {
        (self.scores.seq > 0).then_some(&self.scores)
    }

    /// Changes the input's sample rate and channel count between pushes (a source that
    /// switched format); the analysis goes on where it was.
    ///
    /// # Errors
    /// [`Error::AudioFormat`] for a format the pipeline cannot take.
    pub fn set_input_format(&mut self, sample_rate: u32, channels: usize) -> Result<()> {
        self.pipeline.set_channels(channels)?;
        if sample_rate != self.pipeline.input_rate() {
            self.pipeline.set_input_rate(sample_rate)?;
        }
        Ok(())
    }

    /// Starts a new session: the aggregates forget everything pushed so far.
    pub fn reset(&mut self) {
        self.pipeline.reset_aggregates();
        self.scores = Scores::default();
    }

    /// Ends the stream (its last partial segments are analysed, a clip shorter than a
    /// segment is looped to fill one) and returns the song-level result.
    ///
    /// # Errors
    /// [`Error::NoScores`] when the stream was too short or silent to tag.
    pub fn finish(self) -> Result<SongTags> {
        self.finish_and_return().0
    }

    /// [`finish`](Self::finish), handing back the models for the next song.
    pub(crate) fn finish_and_return(mut self) -> (Result<SongTags>, ModelSet) {
        let song = self.finish_song();
        let models = ModelSet {
            manifest: self.manifest,
            scales: self.pipeline.into_models(),
            classifier: self.scorer.into_classifier(),
            placement: self.placement,
        };
        (song, models)
    }

    fn finish_song(&mut self) -> Result<SongTags> {
        let timeline = self
            .timeline
            .as_mut()
            .map(|tl| std::mem::take(&mut tl.columns))
            .unwrap_or_default();
        let mut song = finish_song(
            &mut self.pipeline,
            &mut self.scorer,
            &self.names,
            &self.manifest,
            self.placement.device_name(),
            timeline,
        )?;
        // The end of the song closes the window that ends with it, when a boundary falls
        // within its last push.
        let t = self.pipeline.time_s();
        self.collect_window_due(t + 1e-9)?;
        if let Some(w) = self.windows.as_mut() {
            song.windows = std::mem::take(&mut w.rows);
            song.window_s = Some(w.step_s);
        }
        Ok(song)
    }

    /// Scores the aggregates; false while some scale has no segment yet.
    fn rescore(&mut self) -> Result<bool> {
        self.pipeline.flush()?;
        if !self
            .scorer
            .score(&self.pipeline.aggregates, &mut self.scores)?
        {
            return Ok(false);
        }
        self.scores.t = self.pipeline.time_s();
        self.scores.segments = self.pipeline.segments();
        self.scores.silent = self.pipeline.is_silent();
        self.scores.seq += 1;
        Ok(true)
    }
}

/// Ends `pipeline`'s stream and makes its song-level result: the session view scored, the
/// features it came from, and how the song was analysed.
pub(crate) fn finish_song<M: SegmentModel, C: TagClassifier>(
    pipeline: &mut FeaturePipeline<M>,
    scorer: &mut Scorer<C>,
    names: &Arc<[String]>,
    manifest: &Manifest,
    device: &'static str,
    timeline: Vec<(f64, Vec<f32>)>,
) -> Result<SongTags> {
    pipeline.finish()?;
    let mut scores = Scores::default();
    if !scorer.score(&pipeline.aggregates, &mut scores)? {
        return Err(Error::NoScores {
            path: None,
            reason: no_scores_reason(pipeline, manifest),
        });
    }
    let mut features = vec![0.0; pipeline.aggregates.dim()];
    pipeline.aggregates.write(View::Session, &mut features);
    Ok(SongTags {
        names: names.clone(),
        scores: scores.view(View::Session).to_vec(),
        features,
        duration_s: pipeline.time_s(),
        segments: pipeline.segments(),
        silent_segments: pipeline.silent_segments(),
        looped_scales: pipeline.looped_scales(),
        device,
        timeline,
        windows: Vec::new(),
        window_s: None,
    })
}
