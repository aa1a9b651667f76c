//! The library's front door: [`Tagger`] tags songs (a file or samples in memory) and gives
//! their song-level features; [`StreamTagger`] tags audio pushed in pieces.
//!
//! Both run the one pipeline the live [`Engine`](crate::engine::Engine) runs, so a song
//! tagged here gets the scores `mstag-live` ends with.

mod many;
mod song;
mod stream;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use song::SongTags;
pub use stream::StreamTagger;

use crate::decode::AudioFile;
use crate::engine::pipeline::MAX_BATCH;
use crate::engine::PipelineConfig;
use crate::error::{Error, Result};
use crate::model::{default_manifest_path, Device, Manifest, ModelSet, Placement};
use crate::scores::View;

/// What a [`Tagger`] loads and how it analyses.
///
/// # Examples
/// ```
/// let cfg = mstag::TaggerConfig {
///     device: mstag::model::Device::Auto,
///     ..mstag::TaggerConfig::default()
/// };
/// assert!(cfg.manifest.ends_with("manifest.json"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TaggerConfig {
    /// The model manifest (default: [`default_manifest_path`]: `$MSTAG_MODELS`, `models/`
    /// beside the executable, or the source tree's bundled models).
    pub manifest: PathBuf,
    /// Where inference runs.
    pub device: Device,
    /// Threads ONNX Runtime may use inside each model (1 suits one song per core).
    pub intra_threads: usize,
    /// Views and the silence gate.
    pub pipeline: PipelineConfig,
    /// Also collect scores over time ([`SongTags::timeline`]); `None` for none.
    pub timeline: Option<TimelineOptions>,
    /// Also collect the song's feature vector per window of this many seconds
    /// ([`SongTags::windows`], e.g. for `mstag embed --window`); `None` for none.
    pub windows: Option<f64>,
    /// Segments of a scale run in one model call (1 to [`MAX_BATCH`](crate::engine::pipeline::MAX_BATCH)):
    /// a GPU wants hundreds; on a CPU see BENCHMARKS.md. Scores equal those of single
    /// segments within float rounding (1e-5). Default [`DEFAULT_BATCH`].
    pub batch: usize,
}

/// Segments per model call unless [`TaggerConfig::batch`] says otherwise.
pub const DEFAULT_BATCH: usize = 32;

impl Default for TaggerConfig {
    fn default() -> Self {
        TaggerConfig {
            manifest: default_manifest_path(),
            device: Device::Cpu,
            intra_threads: 1,
            pipeline: PipelineConfig::default(),
            timeline: None,
            windows: None,
            batch: DEFAULT_BATCH,
        }
    }
}

/// Scores over time, for a timeline image: one column every `step_s` seconds of the `view`
/// aggregate (the sliding window, the EMA, or the session mean so far).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimelineOptions {
    /// Seconds between columns.
    pub step_s: f64,
    /// What each column shows.
    pub view: View,
}

/// Tags songs with one set of models, loaded once and reused song after song.
///
/// # Examples
/// ```no_run
/// # fn main() -> mstag::Result<()> {
/// let mut tagger = mstag::Tagger::new(mstag::TaggerConfig::default())?;
/// let song = tagger.tag_path("song.flac")?;
/// for (tag, score) in song.top(5) {
///     println!("{tag:<16} {score:.3}");
/// }
/// # Ok(()) }
/// ```
pub struct Tagger {
    config: TaggerConfig,
    manifest: Manifest,
    names: Arc<[String]>,
    placement: Placement,
    /// `None` only while a song is being analysed, or after a failure that consumed them
    /// (they are then loaded again for the next song).
    models: Option<ModelSet>,
}

impl Tagger {
    /// Loads the manifest named by `config` (its checksums verified) and its models.
    ///
    /// # Errors
    /// [`Error::Manifest`], [`Error::Model`] or [`Error::Runtime`] when the models cannot be
    /// loaded; [`Error::InvalidSetting`] for a bad pipeline setting or batch size;
    /// [`Error::ExecutionProvider`] when [`Device::Cuda`] was asked for and cannot be used.
    pub fn new(config: TaggerConfig) -> Result<Self> {
        config.pipeline.validate()?;
        if let Some(w) = config.windows {
            PipelineConfig {
                window_s: w,
                ..config.pipeline
            }
            .validate()?;
        }
        if !(1..=MAX_BATCH).contains(&config.batch) {
            return Err(Error::InvalidSetting {
                name: "batch",
                value: config.batch.to_string(),
                reason: format!("segments per model call, 1 to {MAX_BATCH}"),
            });
        }
        let models = ModelSet::load(&config.manifest, config.device, config.intra_threads)?;
        Ok(Self::from_models(models, config))
    }

    /// [`Tagger::new`] with the default configuration and the manifest at `path`.
    ///
    /// # Errors
    /// As [`Tagger::new`].
    pub fn from_manifest(path: impl Into<PathBuf>) -> Result<Self> {
        Self::new(TaggerConfig {
            manifest: path.into(),
            ..TaggerConfig::default()
        })
    }

    /// A tagger over models already loaded (`config.manifest` and `config.device` then only
    /// say where to load them again, should a failure consume them).
    pub fn from_models(models: ModelSet, config: TaggerConfig) -> Self {
        let manifest = models.manifest.clone();
        let names = manifest.tags.iter().cloned().collect();
        Tagger {
            config,
            manifest,
            names,
            placement: models.placement.clone(),
            models: Some(models),
        }
    }

    /// Where the models run: the device [`TaggerConfig::device`] resolved to (`Auto`: CUDA
    /// where it works, else the CPU and why).
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// Tag names, in the order of every score array.
    pub fn tags(&self) -> &[String] {
        &self.names
    }

    /// The loaded manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The configuration this tagger was made with.
    pub fn config(&self) -> &TaggerConfig {
        &self.config
    }

    /// Length of the song-level feature vector ([`SongTags::features`]).
    pub fn feature_dim(&self) -> usize {
        self.manifest.feature_dim()
    }

    /// Decodes the audio file at `path` (WAV, FLAC, OGG Vorbis, MP3, AAC/M4A, AIFF, ...)
    /// and tags it.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read, [`Error::Decode`] when it is not audio
    /// the decoder understands, [`Error::NoScores`] when it is too short or silent; every
    /// error names the file.
    pub fn tag_path(&mut self, path: impl AsRef<Path>) -> Result<SongTags> {
        let path = path.as_ref();
        let mut file = AudioFile::open(path)?;
        let named = |e: Error| e.for_file(path);
        let mut stream = self
            .stream_inner(file.sample_rate(), file.channels())
            .map_err(named)?;
        let mut buf = Vec::new();
        let fed = loop {
            match file.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(_) => {
                    if let Err(e) = stream.push(&buf) {
                        break Err(e);
                    }
                }
                Err(e) => break Err(e),
            }
        };
        let (song, models) = stream.finish_and_return();
        self.models = Some(models);
        fed.and(song).map_err(named)
    }

    /// Tags a song in memory: interleaved samples at `sample_rate` Hz with `channels`
    /// channels (any rate; resampled to the models' rate).
    ///
    /// # Errors
    /// [`Error::AudioFormat`] for 0 or more than 64 channels or an unusable rate,
    /// [`Error::NoScores`] when the audio is too short or silent.
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> mstag::Result<()> {
    /// let mut tagger = mstag::Tagger::new(mstag::TaggerConfig::default())?;
    /// let tone: Vec<f32> = (0..10 * 22_050)
    ///     .map(|i| (i as f32 * 440.0 * std::f32::consts::TAU / 22_050.0).sin() * 0.3)
    ///     .collect();
    /// let song = tagger.tag_samples(&tone, 22_050, 1)?;
    /// assert_eq!(song.scores().len(), tagger.tags().len());
    /// # Ok(()) }
    /// ```
    pub fn tag_samples(
        &mut self,
        samples: &[f32],
        sample_rate: u32,
        channels: usize,
    ) -> Result<SongTags> {
        let mut stream = self.stream_inner(sample_rate, channels)?;
        // The same block size as the file decoder hands over, so results match tag_path.
        let block = 4096 * channels.max(1);
        let mut fed = Ok(());
        for chunk in samples.chunks(block) {
            if let Err(e) = stream.push(chunk) {
                fed = Err(e);
                break;
            }
        }
        let (song, models) = stream.finish_and_return();
        self.models = Some(models);
        fed.and(song)
    }

    /// A stream that reports scores after every segment, using this tagger's models (a new
    /// set of sessions, so the tagger stays usable meanwhile).
    ///
    /// # Errors
    /// As [`StreamTagger::new`], and model loading errors.
    pub fn stream(&mut self, sample_rate: u32, channels: usize) -> Result<StreamTagger> {
        let models = self.load()?;
        StreamTagger::new(models, sample_rate, channels, self.config.pipeline)
    }

    /// Another tagger with the same manifest and configuration and sessions of its own
    /// (for another thread): the manifest is not read or verified again.
    ///
    /// # Errors
    /// Model loading errors.
    pub fn try_clone(&self) -> Result<Tagger> {
        Ok(Tagger {
            config: self.config.clone(),
            manifest: self.manifest.clone(),
            names: self.names.clone(),
            placement: self.placement.clone(),
            models: Some(self.load()?),
        })
    }

    /// A tagger with this one's configuration and no models (they load at first use): a
    /// template to [`try_clone`](Self::try_clone) from (for `offline::tag_files`).
    #[cfg(feature = "batch")]
    pub(crate) fn blueprint(&self) -> Tagger {
        Tagger {
            config: self.config.clone(),
            manifest: self.manifest.clone(),
            names: self.names.clone(),
            placement: self.placement.clone(),
            models: None,
        }
    }

    /// A stream over this tagger's own models (returned by `finish_and_return`).
    fn stream_inner(&mut self, sample_rate: u32, channels: usize) -> Result<StreamTagger> {
        let models = match self.models.take() {
            Some(m) => m,
            None => self.load()?,
        };
        let mut stream = StreamTagger::with_names(
            models,
            self.names.clone(),
            sample_rate,
            channels,
            self.config.pipeline,
            self.config.timeline,
        )?;
        stream.set_batch(self.config.batch)?;
        if let Some(w) = self.config.windows {
            stream.collect_windows(w)?;
        }
        Ok(stream)
    }

    /// Another set of sessions for the same, already verified, manifest, on the device the
    /// first set resolved to (so `Auto` does not probe CUDA again).
    fn load(&self) -> Result<ModelSet> {
        let mut models = ModelSet::from_manifest(
            self.manifest.clone(),
            self.placement.device,
            self.config.intra_threads,
        )?;
        models.placement = self.placement.clone();
        Ok(models)
    }
}
