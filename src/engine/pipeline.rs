//! audio → frames → segments → features → running averages: the one code path shared by
//! the live engine and offline tagging (which is why their results are equal).

use crate::aggregate::{Aggregates, ScaleAggregate};
use crate::dsp::{Downmixer, MelFrontEnd, StreamResampler};
use crate::error::{Error, Result};
use crate::head::HeadSet;
use crate::model::{Classifier, Manifest, ScaleModel, SegmentModel, TagClassifier};
use crate::scores::{Scores, View};

/// Settings of the aggregate views and the silence gate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PipelineConfig {
    /// Length of the sliding-window view, seconds.
    pub window_s: f64,
    /// Time constant of the exponential moving average, seconds.
    pub ema_tau_s: f64,
    /// Segments whose largest log-mel value is below this are digital silence: they are
    /// counted but left out of the aggregates, so scores hold through silence instead of
    /// drifting to "what silence sounds like". `None` aggregates every segment.
    pub silence_gate: Option<f32>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            window_s: 10.0,
            ema_tau_s: 5.0,
            silence_gate: Some(DEFAULT_SILENCE_GATE),
        }
    }
}

/// log10(1 + 1e4·e) < 1e-3 means a mel-band power below ~2.3e-7 in every band and frame:
/// digital silence or a signal below about -100 dBFS.
pub const DEFAULT_SILENCE_GATE: f32 = 1e-3;

impl PipelineConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] named `window` or `ema` when a length is not a finite number of
    /// seconds above 0 and at most 3600.
    pub fn validate(&self) -> Result<()> {
        if !(self.window_s.is_finite() && self.window_s > 0.0 && self.window_s <= 3600.0) {
            return Err(Error::InvalidSetting {
                name: "window",
                value: self.window_s.to_string(),
                reason: "seconds, more than 0 and at most 3600".into(),
            });
        }
        if !(self.ema_tau_s.is_finite() && self.ema_tau_s > 0.0 && self.ema_tau_s <= 3600.0) {
            return Err(Error::InvalidSetting {
                name: "ema",
                value: self.ema_tau_s.to_string(),
                reason: "time constant in seconds, more than 0 and at most 3600".into(),
            });
        }
        Ok(())
    }
}

struct ScaleCursor {
    next_start: u64,
}

/// The most segments one model call may take ([`FeaturePipeline::set_batch`]).
pub const MAX_BATCH: usize = 1024;

/// Complete, non-silent segments of one scale waiting for a batched model call.
#[derive(Default)]
struct Pending {
    /// `n * frames * n_mels` values, segment after segment.
    segments: Vec<f32>,
    /// When each segment ends (seconds), for the aggregates.
    end_t: Vec<f64>,
}

/// Everything between interleaved input samples and the running aggregates.
///
/// `M` is each scale's segment model: the ONNX session ([`ScaleModel`]) unless a test puts a
/// stand-in there ([`SegmentModel`]).
pub struct FeaturePipeline<M = ScaleModel> {
    channels: usize,
    input_rate: u32,
    model_rate: u32,
    n_fft: usize,
    hop: usize,
    n_mels: usize,
    downmix: Downmixer,
    resampler: StreamResampler,
    mel: MelFrontEnd,
    mono: Vec<f32>,
    resampled: Vec<f32>,
    frames: Vec<f32>,
    frames_base: u64,
    cursors: Vec<ScaleCursor>,
    models: Vec<M>,
    feat: Vec<f32>,
    /// Segments per model call; 1 runs each as it completes.
    batch: usize,
    pending: Vec<Pending>,
    /// The running session, window and EMA aggregates of every scale: what the classifier
    /// reads. With a batch above 1 ([`set_batch`](Self::set_batch)), [`flush`](Self::flush)
    /// before reading it.
    pub aggregates: Aggregates,
    cfg: PipelineConfig,
    input_frames: u64,
    /// Seconds of input consumed before the last change of input rate
    /// ([`FeaturePipeline::set_input_rate`]); `input_frames` counts from that change.
    time_base_s: f64,
    segments: u64,
    silent_segments: u64,
    last_segment_silent: bool,
    finished: bool,
}

impl<M: SegmentModel> FeaturePipeline<M> {
    /// A pipeline for input at `input_rate` Hz with `channels` interleaved channels, framed
    /// as `manifest`'s front end describes, with one model per scale (in manifest order).
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for a bad `cfg` or an unsupported rate,
    /// [`Error::AudioFormat`] for 0 or more than 64 channels.
    pub fn new(
        manifest: &Manifest,
        models: Vec<M>,
        input_rate: u32,
        channels: usize,
        cfg: PipelineConfig,
    ) -> Result<Self> {
        cfg.validate()?;
        if channels == 0 || channels > 64 {
            return Err(Error::AudioFormat {
                reason: format!("{channels} channels (1 to 64 supported)"),
            });
        }
        let fe = &manifest.frontend;
        let sr = manifest.sample_rate;
        let aggs = models
            .iter()
            .map(|m| {
                let hop_s = (m.hop_frames() * fe.hop) as f64 / sr as f64;
                ScaleAggregate::new(m.feature_dim(), hop_s, cfg.window_s, cfg.ema_tau_s)
            })
            .collect();
        let max_dim = models.iter().map(|m| m.feature_dim()).max().unwrap_or(0);
        let max_frames = models.iter().map(|m| m.frames()).max().unwrap_or(0);
        Ok(FeaturePipeline {
            channels,
            input_rate,
            model_rate: sr,
            n_fft: fe.n_fft,
            hop: fe.hop,
            n_mels: fe.n_mels,
            downmix: Downmixer::new(),
            resampler: StreamResampler::new(input_rate, sr)?,
            mel: MelFrontEnd::new(sr, fe)?,
            mono: Vec::with_capacity(8192),
            resampled: Vec::with_capacity(8192),
            frames: Vec::with_capacity(4 * max_frames * fe.n_mels),
            frames_base: 0,
            cursors: models
                .iter()
                .map(|_| ScaleCursor { next_start: 0 })
                .collect(),
            pending: models.iter().map(|_| Pending::default()).collect(),
            models,
            feat: vec![0.0; max_dim],
            batch: 1,
            aggregates: Aggregates::new(aggs),
            cfg,
            input_frames: 0,
            time_base_s: 0.0,
            segments: 0,
            silent_segments: 0,
            last_segment_silent: false,
            finished: false,
        })
    }

    /// Runs up to `n` segments of a scale in one model call (clamped to 1..=[`MAX_BATCH`]);
    /// 1, the default, runs each segment as it completes, as the live engine must.
    ///
    /// With `n > 1` complete segments wait until `n` of their scale have gathered, or until
    /// [`flush`](Self::flush) or [`finish`](Self::finish); **[`aggregates`](Self::aggregates)
    /// holds only the segments run so far, so call `flush` before reading it**. What a
    /// batch gives equals what single segments give within float rounding (1e-5), and a
    /// many-core CPU or a GPU runs it faster.
    ///
    /// # Errors
    /// [`Error::Inference`] when flushing the segments already waiting fails.
    pub fn set_batch(&mut self, n: usize) -> Result<()> {
        self.flush()?;
        let n = n.clamp(1, MAX_BATCH);
        let max_dim = self
            .models
            .iter()
            .map(|m| m.feature_dim())
            .max()
            .unwrap_or(0);
        self.feat.resize(n * max_dim, 0.0);
        self.batch = n;
        Ok(())
    }

    /// Segments per model call ([`set_batch`](Self::set_batch)).
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Runs every segment waiting for a batch and adds it to the aggregates (nothing waits
    /// with a batch of 1).
    ///
    /// # Errors
    /// [`Error::Inference`] when a model fails.
    pub fn flush(&mut self) -> Result<()> {
        for i in 0..self.models.len() {
            self.flush_scale(i)?;
        }
        Ok(())
    }

    /// Segments of scale `scale` (manifest order) waiting for a batch.
    pub fn pending(&self, scale: usize) -> usize {
        self.pending.get(scale).map_or(0, |p| p.end_t.len())
    }

    /// Moves the segments of scale `scale` that wait for a batch out of the pipeline, for a
    /// caller that batches across pipelines (several songs in one model call): their values
    /// are appended to `segments` and their end times to `end_t`. Give their features back,
    /// in the same order, with [`add_features`](Self::add_features).
    pub fn take_pending(&mut self, scale: usize, segments: &mut Vec<f32>, end_t: &mut Vec<f64>) {
        if let Some(p) = self.pending.get_mut(scale) {
            segments.append(&mut p.segments);
            end_t.append(&mut p.end_t);
        }
    }

    /// Adds the features (`end_t.len() * feature_dim` values) of segments taken with
    /// [`take_pending`](Self::take_pending) to scale `scale`'s aggregate, as a flush would.
    ///
    /// # Errors
    /// [`Error::Inference`] when the sizes do not match.
    pub fn add_features(&mut self, scale: usize, features: &[f32], end_t: &[f64]) -> Result<()> {
        let dim = self.models.get(scale).map_or(0, |m| m.feature_dim());
        if dim == 0 || features.len() != end_t.len() * dim {
            return Err(Error::Inference {
                stage: format!("scale {scale}"),
                reason: format!(
                    "{} feature values for {} segments of {dim}",
                    features.len(),
                    end_t.len()
                ),
                source: None,
            });
        }
        let agg = &mut self.aggregates.scales[scale];
        let mut f = vec![0.0; dim];
        for (src, &t) in features.chunks_exact(dim).zip(end_t) {
            f.copy_from_slice(src);
            sanitize(&mut f);
            agg.add(&f, t);
        }
        Ok(())
    }

    fn flush_scale(&mut self, i: usize) -> Result<()> {
        let pending = &mut self.pending[i];
        let n = pending.end_t.len();
        if n == 0 {
            return Ok(());
        }
        let model = &mut self.models[i];
        let dim = model.feature_dim();
        let feat = &mut self.feat[..n * dim];
        let run = model.extract(&pending.segments, n, feat);
        let agg = &mut self.aggregates.scales[i];
        if run.is_ok() {
            for (f, &t) in feat.chunks_exact_mut(dim).zip(&pending.end_t) {
                sanitize(f);
                agg.add(f, t);
            }
        }
        pending.segments.clear();
        pending.end_t.clear();
        run
    }

    /// Interleaved channels per input frame.
    pub fn channels(&self) -> usize {
        self.channels
    }
    /// The input's sample rate, Hz (the rate pushed now, after any
    /// [`set_input_rate`](Self::set_input_rate)).
    pub fn input_rate(&self) -> u32 {
        self.input_rate
    }
    /// The view lengths and silence gate in use.
    pub fn config(&self) -> PipelineConfig {
        self.cfg
    }
    /// Seconds of input consumed.
    pub fn time_s(&self) -> f64 {
        self.time_base_s + self.input_frames as f64 / self.input_rate as f64
    }
    /// Segments analysed (all scales), including silent ones.
    pub fn segments(&self) -> u64 {
        self.segments
    }
    /// Segments the silence gate left out of the aggregates (also counted in
    /// [`segments`](Self::segments)).
    pub fn silent_segments(&self) -> u64 {
        self.silent_segments
    }
    /// Whether the most recent segment was gated as silence.
    pub fn is_silent(&self) -> bool {
        self.last_segment_silent
    }
    /// NaN / ±Inf input samples replaced by 0.
    pub fn non_finite_samples(&self) -> u64 {
        self.downmix.non_finite()
    }

    /// Input frames (at the input rate) still to push before the next segment of any scale
    /// can complete: through the resampler's chunking and the mel framing. It never exceeds
    /// the exact number (it may fall short by up to one resampler chunk,
    /// [`crate::dsp::resample::chunk_frames`]), so
    /// the live engine can sleep until then without adding latency. 0 after [`Self::finish`].
    pub fn input_frames_until_next_segment(&self) -> u64 {
        if self.finished {
            return 0;
        }
        let available = self.frames_base + (self.frames.len() / self.n_mels) as u64;
        let needed = self
            .cursors
            .iter()
            .zip(&self.models)
            .map(|(c, m)| c.next_start + m.frames() as u64)
            .min()
            .unwrap_or(available);
        let samples = self
            .mel
            .samples_until_frames(needed.saturating_sub(available));
        self.resampler.input_until_output(samples)
    }

    /// Feeds interleaved samples; returns the number of segments completed.
    pub fn push(&mut self, interleaved: &[f32]) -> Result<usize> {
        if self.finished {
            return Err(Error::EngineStopped("push after finish".into()));
        }
        self.input_frames += (interleaved.len() / self.channels) as u64;
        self.mono.clear();
        self.downmix
            .process(interleaved, self.channels, &mut self.mono);
        self.resampled.clear();
        self.resampler.push(&self.mono, &mut self.resampled)?;
        self.mel.push(&self.resampled, &mut self.frames);
        self.run_segments()
    }

    /// Ends the stream: flushes the resampler and runs the last complete segments.
    ///
    /// A stream shorter than some scale's segment (a one-shot or a loop) but at least as long
    /// as the shortest one then gets one segment of each such scale, filled by looping the
    /// clip (see [`loop_frames`]); [`Self::looped_scales`] names them. A stream at least as
    /// long as the longest segment has completed a segment of every scale by then, so this
    /// never changes its scores.
    pub fn finish(&mut self) -> Result<usize> {
        if self.finished {
            return Ok(0);
        }
        self.finished = true;
        self.resampled.clear();
        self.resampler.finish(&mut self.resampled)?;
        self.mel.push(&self.resampled, &mut self.frames);
        let done = self.run_segments()?;
        self.flush()?;
        Ok(done + self.loop_short_clip()?)
    }

    /// Log-mel frames computed so far (at the model's rate).
    pub fn mel_frames(&self) -> u64 {
        self.frames_base + (self.frames.len() / self.n_mels) as u64
    }

    /// Segment lengths (frames) of the scales whose aggregate holds a segment filled by
    /// looping a clip shorter than it ([`Self::finish`]); empty for any stream at least as
    /// long as the longest segment.
    pub fn looped_scales(&self) -> Vec<usize> {
        self.models
            .iter()
            .zip(&self.aggregates.scales)
            .filter(|(_, a)| a.is_looped())
            .map(|(m, _)| m.frames())
            .collect()
    }

    /// End of a segment whose last frame is `last_frame`, in seconds of model-rate audio.
    fn frame_end_s(last_frame: u64, hop: usize, n_fft: usize, model_rate: u32) -> f64 {
        (last_frame * hop as u64 + n_fft as u64) as f64 / f64::from(model_rate)
    }

    fn run_segments(&mut self) -> Result<usize> {
        let n_mels = self.n_mels;
        let available = self.mel_frames();
        let mut done = 0;
        for i in 0..self.models.len() {
            let (frames, hop_frames) = (self.models[i].frames(), self.models[i].hop_frames());
            while self.cursors[i].next_start + frames as u64 <= available {
                let start = self.cursors[i].next_start;
                let a = (start - self.frames_base) as usize * n_mels;
                let seg = &self.frames[a..a + frames * n_mels];
                let last = start + frames as u64 - 1;
                let end_t = Self::frame_end_s(last, self.hop, self.n_fft, self.model_rate);
                let silent = if self.batch > 1 {
                    let silent = is_silent(seg, self.cfg.silence_gate);
                    if !silent {
                        self.pending[i].segments.extend_from_slice(seg);
                        self.pending[i].end_t.push(end_t);
                    }
                    silent
                } else {
                    analyse_segment(
                        &mut self.models[i],
                        seg,
                        self.cfg.silence_gate,
                        &mut self.feat,
                        &mut self.aggregates.scales[i],
                        end_t,
                    )?
                };
                self.silent_segments += silent as u64;
                self.last_segment_silent = silent;
                self.cursors[i].next_start += hop_frames as u64;
                self.segments += 1;
                done += 1;
                if self.batch > 1 && self.pending[i].end_t.len() >= self.batch {
                    self.flush_scale(i)?;
                }
            }
        }
        // Drop frames no scale needs any more.
        let keep_from = self
            .cursors
            .iter()
            .map(|c| c.next_start)
            .min()
            .unwrap_or(available);
        let drop = (keep_from.saturating_sub(self.frames_base)) as usize;
        if drop > 0 && drop * n_mels * 2 >= self.frames.len() {
            self.frames.drain(..drop * n_mels);
            self.frames_base += drop as u64;
        }
        Ok(done)
    }

    /// At the end of a stream that is shorter than some scale's segment: one segment of each
    /// such scale made by looping the clip's frames, when the clip holds at least one segment
    /// of the shortest scale (below that nothing is tagged). Only scales that have not
    /// completed a segment in this stream get one, so it never touches a longer stream.
    fn loop_short_clip(&mut self) -> Result<usize> {
        let n_mels = self.n_mels;
        let available = self.mel_frames();
        let shortest = self.models.iter().map(|m| m.frames()).min().unwrap_or(0) as u64;
        // A scale still at its first segment keeps every frame since the start of the
        // stream, so frames_base is 0 whenever some scale needs a loop.
        if available == 0 || available < shortest || self.frames_base != 0 {
            return Ok(0);
        }
        let end_t = Self::frame_end_s(available - 1, self.hop, self.n_fft, self.model_rate);
        let clip = &self.frames[..available as usize * n_mels];
        let mut seg = Vec::new();
        let mut done = 0;
        for (i, model) in self.models.iter_mut().enumerate() {
            let cur = &mut self.cursors[i];
            if cur.next_start != 0 {
                continue;
            }
            loop_frames(clip, n_mels, model.frames(), &mut seg);
            let agg = &mut self.aggregates.scales[i];
            let silent = analyse_segment(
                model,
                &seg,
                self.cfg.silence_gate,
                &mut self.feat,
                agg,
                end_t,
            )?;
            if !silent {
                agg.mark_looped();
            }
            self.silent_segments += silent as u64;
            self.last_segment_silent = silent;
            cur.next_start += model.hop_frames() as u64;
            self.segments += 1;
            done += 1;
        }
        Ok(done)
    }

    /// Gives the scale models back (to reuse their sessions for another file).
    pub fn into_models(self) -> Vec<M> {
        self.models
    }

    /// Forgets the session (aggregates) but keeps the stream position.
    pub fn reset_aggregates(&mut self) {
        for p in &mut self.pending {
            p.segments.clear();
            p.end_t.clear();
        }
        self.aggregates.reset();
    }

    /// Changes the window length and the EMA time constant (checked like
    /// [`PipelineConfig::validate`]) without losing the session; see
    /// [`crate::aggregate::ScaleAggregate::set_lengths`].
    pub fn set_view_lengths(&mut self, window_s: f64, ema_tau_s: f64) -> Result<()> {
        let cfg = PipelineConfig {
            window_s,
            ema_tau_s,
            ..self.cfg
        };
        cfg.validate()?;
        self.flush()?;
        self.aggregates.set_lengths(window_s, ema_tau_s);
        self.cfg = cfg;
        Ok(())
    }

    /// Switches to input with `channels` interleaved channels (between pushes).
    pub fn set_channels(&mut self, channels: usize) -> Result<()> {
        if channels == 0 || channels > 64 {
            return Err(Error::AudioFormat {
                reason: format!("{channels} channels (1 to 64 supported)"),
            });
        }
        self.channels = channels;
        Ok(())
    }

    /// Switches to input at `rate` Hz (a host changed its sample rate) without losing the
    /// session: the old resampler is flushed into the mel frames, so the model-rate stream
    /// stays continuous, and the aggregates, segment cursors and time line carry on. Call it
    /// between pushes, once every sample at the old rate has been pushed. Returns the number
    /// of segments the flush completed.
    pub fn set_input_rate(&mut self, rate: u32) -> Result<usize> {
        if rate == self.input_rate {
            return Ok(0);
        }
        if self.finished {
            return Err(Error::EngineStopped("set_input_rate after finish".into()));
        }
        let resampler = StreamResampler::new(rate, self.model_rate)?;
        self.resampled.clear();
        self.resampler.finish(&mut self.resampled)?;
        self.mel.push(&self.resampled, &mut self.frames);
        let done = self.run_segments()?;
        self.time_base_s = self.time_s();
        self.input_frames = 0;
        self.input_rate = rate;
        self.resampler = resampler;
        Ok(done)
    }
}

/// Runs one segment through its scale's model and adds the features to the scale's
/// aggregate at `end_t`, unless the silence gate holds it back. Returns whether it was silent.
fn analyse_segment<M: SegmentModel>(
    model: &mut M,
    seg: &[f32],
    gate: Option<f32>,
    feat: &mut [f32],
    agg: &mut ScaleAggregate,
    end_t: f64,
) -> Result<bool> {
    if is_silent(seg, gate) {
        return Ok(true);
    }
    let feat = &mut feat[..model.feature_dim()];
    model.extract(seg, 1, feat)?;
    sanitize(feat);
    agg.add(feat, end_t);
    Ok(false)
}

/// Whether the silence gate holds `seg` back: every log-mel value below the gate.
fn is_silent(seg: &[f32], gate: Option<f32>) -> bool {
    gate.is_some_and(|g| seg.iter().all(|&v| v < g))
}

/// Fills `seg` with `seg_frames` frames of `n_mels` values taken from `clip` (whole frames,
/// at least one) in a loop: frame `k` of the segment is frame `k mod n` of the clip's `n`.
/// Repeating the clip is what a producer does with a loop, and unlike zero padding it adds
/// no silence or edge the model never saw in music; every frame is still a real frame.
pub fn loop_frames(clip: &[f32], n_mels: usize, seg_frames: usize, seg: &mut Vec<f32>) {
    seg.clear();
    if clip.is_empty() || n_mels == 0 {
        return;
    }
    seg.extend(clip.iter().copied().cycle().take(seg_frames * n_mels));
}

/// Model outputs are ReLU activations; anything non-finite would poison the means.
fn sanitize(x: &mut [f32]) {
    for v in x {
        if !v.is_finite() {
            *v = 0.0;
        }
    }
}

/// The classifier applied to the three views of the aggregates (one batched call).
///
/// `C` is the classifier: the ONNX session ([`Classifier`]) unless a test puts a stand-in
/// there ([`TagClassifier`]).
pub struct Scorer<C = Classifier> {
    classifier: C,
    heads: HeadSet,
    features: Vec<f32>,
    out: Vec<f32>,
}

impl<C: TagClassifier> Scorer<C> {
    /// A scorer with buffers for the three views of `classifier`'s input.
    pub fn new(classifier: C) -> Self {
        let (d, t) = (classifier.input_dim(), classifier.n_tags());
        Scorer {
            classifier,
            heads: HeadSet::default(),
            features: vec![0.0; 3 * d],
            out: vec![0.0; 3 * t],
        }
    }

    /// Scores `heads` too, from the same three views, in every [`Self::score`] (into
    /// [`Scores::heads`]); an empty set scores none.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] when the heads read another feature length than the
    /// classifier (they were trained on other models).
    pub fn set_heads(&mut self, heads: HeadSet) -> Result<()> {
        let d = self.classifier.input_dim();
        if let Some(hd) = heads.feature_dim().filter(|&hd| hd != d) {
            return Err(Error::InvalidSetting {
                name: "head",
                value: heads.labels()[0].name.clone(),
                reason: format!("it reads {hd} features; these models give {d}"),
            });
        }
        self.heads = heads;
        Ok(())
    }

    /// The heads scored beside the tags.
    pub fn heads(&self) -> &HeadSet {
        &self.heads
    }

    /// Scores per view (tags, in manifest order).
    pub fn n_tags(&self) -> usize {
        self.classifier.n_tags()
    }

    /// Gives the classifier back (to reuse its session for another file).
    pub fn into_classifier(self) -> C {
        self.classifier
    }

    /// Scores all three views into `scores`; false while some scale has no segment yet.
    pub fn score(&mut self, aggregates: &Aggregates, scores: &mut Scores) -> Result<bool> {
        let d = self.classifier.input_dim();
        if aggregates.dim() != d {
            return Err(Error::Inference {
                stage: "classifier".into(),
                reason: format!(
                    "aggregate dimension {} but classifier input {d}",
                    aggregates.dim()
                ),
                source: None,
            });
        }
        for (k, v) in View::ALL.iter().enumerate() {
            if !aggregates.write(*v, &mut self.features[k * d..(k + 1) * d]) {
                return Ok(false);
            }
        }
        self.classifier.predict(&self.features, 3, &mut self.out)?;
        let t = self.classifier.n_tags();
        scores.n_tags = t;
        scores.looped = aggregates.looped();
        for (k, v) in View::ALL.iter().enumerate() {
            let dst = scores.view_mut(*v);
            for (d, &s) in dst.iter_mut().zip(&self.out[k * t..(k + 1) * t]) {
                *d = if s.is_finite() {
                    s.clamp(0.0, 1.0)
                } else {
                    0.0
                };
            }
        }
        let n = self.heads.n_labels();
        scores.n_head = n;
        for (k, row) in scores.heads.iter_mut().enumerate() {
            self.heads
                .score_into(&self.features[k * d..(k + 1) * d], &mut row[..n]);
        }
        Ok(true)
    }

    /// Scores one feature vector (e.g. a song-level feature computed elsewhere).
    pub fn score_features(&mut self, features: &[f32], out: &mut [f32]) -> Result<()> {
        self.classifier.predict(features, 1, out)
    }
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
