//! [`Tagger::tag_paths`]: many songs on one thread, each scale's CNN run over segments
//! gathered from several songs at once, so that short files fill a batch too (what a GPU
//! needs; batch 1 leaves it idle).

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::stream::finish_song;
use super::{SongTags, Tagger};
use crate::decode::AudioFile;
use crate::engine::pipeline::MAX_BATCH;
use crate::engine::{FeaturePipeline, Scorer};
use crate::error::{Error, Result};
use crate::model::{Classifier, ModelSet, ScaleModel, SegmentModel, TagClassifier};

/// Songs decoded side by side: enough that their segments fill a batch.
const OPEN_SONGS: usize = 8;

/// A scale model shared by the songs in flight (one thread: `Rc<RefCell>`).
struct SharedScale(Rc<RefCell<ScaleModel>>);

impl SegmentModel for SharedScale {
    fn frames(&self) -> usize {
        self.0.borrow().frames
    }
    fn hop_frames(&self) -> usize {
        self.0.borrow().hop_frames
    }
    fn feature_dim(&self) -> usize {
        self.0.borrow().feature_dim()
    }
    fn extract(&mut self, segments: &[f32], n: usize, out: &mut [f32]) -> Result<()> {
        self.0.borrow_mut().extract(segments, n, out)
    }
}

/// The classifier shared by the songs in flight.
struct SharedClassifier(Rc<RefCell<Classifier>>);

impl TagClassifier for SharedClassifier {
    fn input_dim(&self) -> usize {
        self.0.borrow().input_dim
    }
    fn n_tags(&self) -> usize {
        self.0.borrow().n_tags
    }
    fn predict(&mut self, features: &[f32], n: usize, out: &mut [f32]) -> Result<()> {
        self.0.borrow_mut().predict(features, n, out)
    }
}

/// One song in flight.
struct Song {
    index: usize,
    path: PathBuf,
    file: AudioFile,
    pipeline: FeaturePipeline<SharedScale>,
    ended: bool,
}

impl Tagger {
    /// Tags the files at `paths` on this thread the fastest way for its device, results in
    /// order, `progress` called as each file ends: across files with
    /// [`tag_paths`](Self::tag_paths) on CUDA, one by one with [`tag_path`](Self::tag_path)
    /// on the CPU, where cross-file batches are slower (six 20 s 48 kHz FLAC files on one
    /// core: 0.89 s against 0.55 s, see BENCHMARKS.md). What the Python package's
    /// `predict_batch` and `mstag tag`'s workers call.
    pub fn tag_many<P: AsRef<Path>>(
        &mut self,
        paths: &[P],
        progress: impl FnMut(&Path),
    ) -> Vec<Result<SongTags>> {
        if self.placement().device == crate::model::Device::Cuda {
            return self.tag_paths(paths, progress);
        }
        self.tag_one_by_one(paths, progress)
    }

    /// [`tag_path`](Self::tag_path) on each file in turn, `progress` after each.
    fn tag_one_by_one<P: AsRef<Path>>(
        &mut self,
        paths: &[P],
        mut progress: impl FnMut(&Path),
    ) -> Vec<Result<SongTags>> {
        paths
            .iter()
            .map(|p| {
                let r = self.tag_path(p);
                progress(p.as_ref());
                r
            })
            .collect()
    }

    /// Tags the files at `paths` on this thread and returns their results in order, as
    /// [`tag_path`](Self::tag_path) one by one would (within float rounding, 1e-5), with
    /// `progress` called as each file ends.
    ///
    /// Up to 8 files are decoded side by side, and each scale's CNN runs once for the
    /// segments all of them have ready, up to [`TaggerConfig::batch`](super::TaggerConfig)
    /// segments per call: short files fill batches too. This is what a GPU needs; on a CPU,
    /// [`offline::tag_files`](crate::offline) spreads files over cores instead. With a
    /// timeline or feature windows asked for, files are tagged one by one.
    pub fn tag_paths<P: AsRef<Path>>(
        &mut self,
        paths: &[P],
        mut progress: impl FnMut(&Path),
    ) -> Vec<Result<SongTags>> {
        let mut results: Vec<Option<Result<SongTags>>> = paths.iter().map(|_| None).collect();
        if self.config.timeline.is_some() || self.config.windows.is_some() {
            return self.tag_one_by_one(paths, progress);
        }
        let models = match self.models.take() {
            Some(m) => Ok(m),
            None => self.load(),
        };
        let models = match models {
            Ok(m) => m,
            Err(e) => {
                let reason = crate::error::report(&e);
                return paths
                    .iter()
                    .map(|p| {
                        progress(p.as_ref());
                        Err(Error::Model {
                            path: self.config.manifest.clone(),
                            reason: reason.clone(),
                            source: None,
                        }
                        .for_file(p.as_ref()))
                    })
                    .collect();
            }
        };
        let ModelSet {
            manifest,
            scales,
            classifier,
            placement,
        } = models;
        let scales: Vec<Rc<RefCell<ScaleModel>>> = scales
            .into_iter()
            .map(|s| Rc::new(RefCell::new(s)))
            .collect();
        let classifier = Rc::new(RefCell::new(classifier));
        let mut run = Run {
            tagger: self,
            manifest: &manifest,
            scales: &scales,
            classifier: &classifier,
            device: placement.device_name(),
            songs: Vec::new(),
            segs: Vec::new(),
            ends: Vec::new(),
            feats: Vec::new(),
        };
        let mut next = 0;
        while next < paths.len() || !run.songs.is_empty() {
            while run.songs.len() < OPEN_SONGS && next < paths.len() {
                if let Err(e) = run.open(next, paths[next].as_ref()) {
                    results[next] = Some(Err(e));
                    progress(paths[next].as_ref());
                }
                next += 1;
            }
            for (index, r) in run.step() {
                progress(paths[index].as_ref());
                results[index] = Some(r);
            }
        }
        drop(run);
        // Every song is done: the models are this tagger's again.
        let (scales, classifier) = (unwrap_all(scales), Rc::try_unwrap(classifier));
        if let (Some(scales), Ok(classifier)) = (scales, classifier) {
            self.models = Some(ModelSet {
                manifest,
                scales,
                classifier: classifier.into_inner(),
                placement,
            });
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::EngineStopped("file not tagged".into()))))
            .collect()
    }
}

fn unwrap_all(v: Vec<Rc<RefCell<ScaleModel>>>) -> Option<Vec<ScaleModel>> {
    v.into_iter()
        .map(|m| Rc::try_unwrap(m).ok().map(RefCell::into_inner))
        .collect()
}

/// The songs in flight and the buffers of a cross-song batch.
struct Run<'a> {
    tagger: &'a Tagger,
    manifest: &'a crate::model::Manifest,
    scales: &'a [Rc<RefCell<ScaleModel>>],
    classifier: &'a Rc<RefCell<Classifier>>,
    device: &'static str,
    songs: Vec<Song>,
    segs: Vec<f32>,
    ends: Vec<f64>,
    feats: Vec<f32>,
}

impl Run<'_> {
    fn open(&mut self, index: usize, path: &Path) -> Result<()> {
        let file = AudioFile::open(path)?;
        let models = self.scales.iter().map(|m| SharedScale(m.clone())).collect();
        let mut pipeline = FeaturePipeline::new(
            self.manifest,
            models,
            file.sample_rate(),
            file.channels(),
            self.tagger.config.pipeline,
        )
        .map_err(|e| e.for_file(path))?;
        // The songs never run a batch of their own before the end; `step` gathers them.
        pipeline
            .set_batch(MAX_BATCH)
            .map_err(|e| e.for_file(path))?;
        self.songs.push(Song {
            index,
            path: path.to_path_buf(),
            file,
            pipeline,
            ended: false,
        });
        Ok(())
    }

    /// Feeds every song one block, runs each scale over the segments gathered from all of
    /// them once there are a batch's worth (or a song has ended), and finishes the songs that
    /// ended. Returns the finished songs' results.
    fn step(&mut self) -> Vec<(usize, Result<SongTags>)> {
        let mut done = Vec::new();
        let mut buf = Vec::new();
        let mut k = 0;
        while k < self.songs.len() {
            let s = &mut self.songs[k];
            let fed = match s.file.read(&mut buf) {
                Ok(0) => {
                    s.ended = true;
                    Ok(0)
                }
                Ok(_) => s.pipeline.push(&buf),
                Err(e) => Err(e),
            };
            if let Err(e) = fed {
                let s = self.songs.remove(k);
                done.push((s.index, Err(e.for_file(&s.path))));
                continue;
            }
            k += 1;
        }
        let any_ended = self.songs.iter().any(|s| s.ended);
        for i in 0..self.scales.len() {
            let waiting: usize = self.songs.iter().map(|s| s.pipeline.pending(i)).sum();
            if waiting >= self.tagger.config.batch || (any_ended && waiting > 0) {
                if let Err(e) = self.run_scale(i) {
                    // The model failed: every song in flight shares it.
                    let report = crate::error::report(&e);
                    for s in self.songs.drain(..) {
                        let e = Error::Inference {
                            stage: format!("scale {i}"),
                            reason: report.clone(),
                            source: None,
                        };
                        done.push((s.index, Err(e.for_file(&s.path))));
                    }
                    return done;
                }
            }
        }
        let mut k = 0;
        while k < self.songs.len() {
            if !self.songs[k].ended {
                k += 1;
                continue;
            }
            let mut s = self.songs.remove(k);
            let mut scorer = Scorer::new(SharedClassifier(self.classifier.clone()));
            let song = finish_song(
                &mut s.pipeline,
                &mut scorer,
                &self.tagger.names,
                self.manifest,
                self.device,
                Vec::new(),
            );
            done.push((s.index, song.map_err(|e| e.for_file(&s.path))));
        }
        done
    }

    /// Runs scale `i` over the segments every song has waiting, `batch` at a time, and gives
    /// each song its features back.
    fn run_scale(&mut self, i: usize) -> Result<()> {
        let batch = self.tagger.config.batch.max(1);
        self.segs.clear();
        self.ends.clear();
        let mut counts = Vec::with_capacity(self.songs.len());
        for s in &mut self.songs {
            let before = self.ends.len();
            s.pipeline.take_pending(i, &mut self.segs, &mut self.ends);
            counts.push(self.ends.len() - before);
        }
        let mut model = self.scales[i].borrow_mut();
        let (dim, per) = (model.feature_dim(), model.frames * model.n_mels);
        self.feats.resize(self.ends.len() * dim, 0.0);
        let n = self.ends.len();
        let mut at = 0;
        while at < n {
            let m = batch.min(n - at);
            model.extract(
                &self.segs[at * per..(at + m) * per],
                m,
                &mut self.feats[at * dim..(at + m) * dim],
            )?;
            at += m;
        }
        drop(model);
        let mut at = 0;
        for (s, &c) in self.songs.iter_mut().zip(&counts) {
            s.pipeline.add_features(
                i,
                &self.feats[at * dim..(at + c) * dim],
                &self.ends[at..at + c],
            )?;
            at += c;
        }
        Ok(())
    }
}
