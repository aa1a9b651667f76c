//! Offline tagging of whole files (`mstag tag`): the same pipeline as the live engine, fed
//! from a decoder instead of a ring, in parallel over files.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::decode::AudioFile;
use crate::engine::pipeline::{FeaturePipeline, PipelineConfig, Scorer};
use crate::error::{Error, Result};
use crate::model::{Device, Manifest, ModelSet, SegmentModel};
use crate::scores::{Scores, View};

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
    /// Scores of the `timeline_view` view every `timeline_step_s`, when asked for.
    pub timeline: Vec<(f64, Vec<f32>)>,
}

#[derive(Debug, Clone, Copy)]
pub struct TagOptions {
    pub pipeline: PipelineConfig,
    /// Seconds between timeline columns; `None` for no timeline.
    pub timeline_step_s: Option<f64>,
    /// What the timeline's columns show: the sliding window (`PipelineConfig::window_s`),
    /// the EMA (`PipelineConfig::ema_tau_s`) or the session mean so far.
    pub timeline_view: View,
    pub device: Device,
    /// Parallel files (0 = all cores).
    pub jobs: usize,
}

impl Default for TagOptions {
    fn default() -> Self {
        TagOptions {
            pipeline: PipelineConfig::default(),
            timeline_step_s: None,
            timeline_view: View::Window,
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
    let mut scorer = Scorer::new(classifier);
    let mut scores = Scores::default();
    let mut timeline = Vec::new();
    let step = opts.timeline_step_s.unwrap_or(f64::INFINITY);
    let mut next_col = step;
    let mut buf = Vec::new();
    while file.read(&mut buf)? > 0 {
        let made = pipeline.push(&buf).map_err(named)?;
        if made > 0 && pipeline.time_s() >= next_col {
            if scorer
                .score(&pipeline.aggregates, &mut scores)
                .map_err(named)?
            {
                timeline.push((pipeline.time_s(), scores.view(opts.timeline_view).to_vec()));
            }
            while next_col <= pipeline.time_s() {
                next_col += step;
            }
        }
    }
    pipeline.finish().map_err(named)?;
    let ready = scorer
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
        classifier: scorer.into_classifier(),
    };
    Ok((tags, models))
}

/// Where `mstag tag --timeline BASE` writes the timelines of `files`, one path per file, all
/// different, checked before any audio is decoded.
///
/// With one file the timeline goes to `BASE` itself; with several, each file's name is added
/// to BASE's (`tl.png` and `song.mp3` give `tl-song.png`), and a name that is taken already
/// (two files `a/t.mp3` and `b/t.mp3`, in any letter case) gets `-2`, `-3`, ... (`tl-t-2.png`).
///
/// # Errors
/// [`Error::Output`] naming BASE when its extension is not `.png` or `.svg`, when it is a
/// folder, or when its folder does not exist or cannot be written to.
pub fn timeline_paths(base: &Path, files: &[PathBuf]) -> Result<Vec<PathBuf>> {
    crate::output::timeline::check_output_path(base)?;
    crate::output::timeline::ImageFormat::from_path(base)?;
    if files.len() <= 1 {
        return Ok(vec![base.to_path_buf(); files.len()]);
    }
    let lossy = |s: Option<&std::ffi::OsStr>| s.map(|s| s.to_string_lossy().into_owned());
    let stem = lossy(base.file_stem()).unwrap_or_default();
    let ext = lossy(base.extension()).unwrap_or_default();
    let mut taken = std::collections::HashSet::new();
    Ok(files
        .iter()
        .map(|f| {
            let name = lossy(f.file_stem())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "audio".to_string());
            let mut candidate = format!("{stem}-{name}.{ext}");
            let mut k = 2;
            while !taken.insert(candidate.to_lowercase()) {
                candidate = format!("{stem}-{name}-{k}.{ext}");
                k += 1;
            }
            base.with_file_name(candidate)
        })
        .collect())
}

/// Why a finished stream has no scores: too short for one segment of the shortest scale,
/// or digital silence in every segment of some scale. The one message `mstag tag` and
/// `mstag-live` give for such input (both then exit with 1).
pub fn no_scores_reason<M: SegmentModel>(
    pipeline: &FeaturePipeline<M>,
    manifest: &Manifest,
) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(v: &[&str]) -> Vec<PathBuf> {
        v.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn timeline_paths_are_unique_per_file() {
        let dir = std::env::temp_dir();
        let base = dir.join("tl.png");
        let files = paths(&["t.mp3", "sub/t.mp3", "t-2.wav", "other/T.flac", "x.ogg"]);
        let got = timeline_paths(&base, &files).expect("paths");
        let names: Vec<String> = got
            .iter()
            .map(|p| {
                assert_eq!(p.parent(), Some(dir.as_path()));
                p.file_name().unwrap().to_string_lossy().into_owned()
            })
            .collect();
        assert_eq!(
            names,
            [
                "tl-t.png",
                "tl-t-2.png",
                "tl-t-2-2.png",
                "tl-T-3.png",
                "tl-x.png"
            ]
        );
        // One file: the path as given.
        assert_eq!(timeline_paths(&base, &files[..1]).unwrap(), vec![base]);
    }

    #[test]
    fn timeline_paths_check_the_output_before_any_work() {
        let files = paths(&["a.wav", "b.wav"]);
        let cases = [
            ("tl.jpg", "unsupported extension \".jpg\""),
            ("no-such-folder-mstag/tl.png", "does not exist"),
        ];
        for (base, needle) in cases {
            let base = std::env::temp_dir().join(base);
            let e = timeline_paths(&base, &files).expect_err(base.to_str().unwrap());
            let msg = e.to_string();
            assert!(msg.contains(needle), "{msg}");
            assert!(msg.contains(&base.display().to_string()), "{msg}");
        }
        let e = timeline_paths(&std::env::temp_dir(), &files).expect_err("a folder");
        assert!(e.to_string().contains(".svg or .png"), "{e}");
    }
}
