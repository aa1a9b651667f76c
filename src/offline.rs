//! Offline tagging of whole files (`mstag tag`): the same pipeline as the live engine, fed
//! from a decoder instead of a ring, in parallel over files.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::decode::AudioFile;
use crate::engine::pipeline::{FeaturePipeline, PipelineConfig, Tagger};
use crate::engine::scores::{Scores, View};
use crate::error::{Error, Result};
use crate::model::{Device, Manifest, ModelSet};

/// Song-level tags of one file.
#[derive(Debug, Clone)]
pub struct FileTags {
    pub duration_s: f64,
    /// Scores in manifest tag order (the paper's song-level aggregate).
    pub scores: Vec<f32>,
    pub segments: u64,
    pub silent_segments: u64,
    /// Segment lengths (frames) of the scales that got one segment made by looping the
    /// clip, because it is shorter than their segment; empty for longer files.
    pub looped_scales: Vec<usize>,
    /// Window-view scores every `timeline_step_s`, when asked for.
    pub timeline: Vec<(f64, Vec<f32>)>,
}

#[derive(Debug, Clone, Copy)]
pub struct TagOptions {
    pub pipeline: PipelineConfig,
    /// Seconds between timeline columns; `None` for no timeline.
    pub timeline_step_s: Option<f64>,
    pub device: Device,
    /// Parallel files (0 = all cores).
    pub jobs: usize,
}

impl Default for TagOptions {
    fn default() -> Self {
        TagOptions {
            pipeline: PipelineConfig::default(),
            timeline_step_s: None,
            device: Device::Cpu,
            jobs: 0,
        }
    }
}

/// Tags one file with the given models, and hands the models back for the next file.
/// Every error names the file.
pub fn tag_file(path: &Path, models: ModelSet, opts: &TagOptions) -> Result<(FileTags, ModelSet)> {
    let named = |e: Error| match e {
        e @ (Error::Decode { .. } | Error::Io { .. }) => e,
        other => Error::Decode {
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    };
    let mut file = AudioFile::open(path)?;
    let ModelSet {
        manifest,
        scales,
        classifier,
    } = models;
    let mut pipeline = FeaturePipeline::new(
        &manifest,
        scales,
        file.sample_rate(),
        file.channels(),
        opts.pipeline,
    )
    .map_err(named)?;
    let mut tagger = Tagger::new(classifier);
    let mut scores = Scores::default();
    let mut timeline = Vec::new();
    let step = opts.timeline_step_s.unwrap_or(f64::INFINITY);
    let mut next_col = step;
    let mut buf = Vec::new();
    while file.read(&mut buf)? > 0 {
        let made = pipeline.push(&buf).map_err(named)?;
        if made > 0 && pipeline.time_s() >= next_col {
            if tagger
                .score(&pipeline.aggregates, &mut scores)
                .map_err(named)?
            {
                timeline.push((pipeline.time_s(), scores.view(View::Window).to_vec()));
            }
            while next_col <= pipeline.time_s() {
                next_col += step;
            }
        }
    }
    pipeline.finish().map_err(named)?;
    let ready = tagger
        .score(&pipeline.aggregates, &mut scores)
        .map_err(named)?;
    if !ready {
        return Err(Error::Decode {
            path: path.to_path_buf(),
            reason: no_scores_reason(&pipeline, &manifest),
        });
    }
    let tags = FileTags {
        duration_s: pipeline.time_s(),
        scores: scores.view(View::Session).to_vec(),
        segments: pipeline.segments(),
        silent_segments: pipeline.silent_segments(),
        looped_scales: pipeline.looped_scales(),
        timeline,
    };
    let models = ModelSet {
        manifest,
        scales: pipeline.into_models(),
        classifier: tagger.into_classifier(),
    };
    Ok((tags, models))
}

/// Why a finished stream has no scores: too short for one segment of the shortest scale,
/// or digital silence in every segment of some scale. The one message `mstag tag` and
/// `mstag-live` give for such input (both then exit with 1).
pub fn no_scores_reason(pipeline: &FeaturePipeline, manifest: &Manifest) -> String {
    let shortest = manifest.min_segment_frames();
    if pipeline.mel_frames() < shortest as u64 {
        format!(
            "too short to tag: {:.2} s of audio; at least {:.2} s are needed \
             (one {shortest}-frame segment of the shortest scale)",
            pipeline.time_s(),
            min_duration_s(manifest)
        )
    } else if pipeline.silent_segments() == pipeline.segments() {
        "the audio is digital silence from start to end: nothing to tag".into()
    } else {
        let silent_scales: Vec<String> = pipeline
            .aggregates
            .scales
            .iter()
            .zip(&manifest.scales)
            .filter(|(a, _)| a.count() == 0)
            .map(|(_, s)| s.frames.to_string())
            .collect();
        format!(
            "nothing to tag: every complete segment of the {}-frame scale is digital \
             silence; --no-silence-gate tags it anyway",
            silent_scales.join(" and ")
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

/// Tags many files in parallel (one set of sessions per worker); results in input order.
/// `progress` is called once per finished file.
pub fn tag_files(
    manifest: &Manifest,
    files: &[PathBuf],
    opts: &TagOptions,
    progress: &(dyn Fn(&Path) + Sync),
) -> Result<Vec<Result<FileTags>>> {
    let jobs = if opts.jobs == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        opts.jobs
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.min(files.len().max(1)))
        .build()
        .map_err(|e| Error::EngineStopped(format!("thread pool: {e}")))?;
    // Fail early (once, clearly) if the models cannot load at all.
    let first = ModelSet::from_manifest(manifest.clone(), opts.device, 1)?;
    let slot = parking_lot::Mutex::new(vec![first]);
    Ok(pool.install(|| {
        files
            .par_iter()
            .map(|path| {
                let models = match slot.lock().pop() {
                    Some(m) => m,
                    None => ModelSet::from_manifest(manifest.clone(), opts.device, 1)?,
                };
                let r = tag_file(path, models, opts);
                progress(path);
                r.map(|(tags, models)| {
                    slot.lock().push(models);
                    tags
                })
            })
            .collect()
    }))
}
