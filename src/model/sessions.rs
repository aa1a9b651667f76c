//! ONNX sessions for the per-scale feature extractors and the classifier, checked against
//! the manifest when they are created.

use std::path::{Path, PathBuf};

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;

use super::manifest::{Manifest, Scale};
use super::runtime::{self, Device};
use super::traits::{SegmentModel, TagClassifier};
use crate::error::{Error, Result};

fn model_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::Model {
        path: path.to_path_buf(),
        reason: reason.into(),
        source: None,
    }
}

/// ONNX Runtime refused the model file at `path` while `doing` something.
fn ort_model_err(path: &Path, doing: &str, e: impl Into<ort::Error>) -> Error {
    Error::Model {
        path: path.to_path_buf(),
        reason: doing.to_string(),
        source: Some(Box::new(e.into())),
    }
}

/// ONNX Runtime failed while running `stage`.
fn ort_inference_err(stage: String, e: ort::Error) -> Error {
    Error::Inference {
        stage,
        reason: "ONNX Runtime failed".into(),
        source: Some(Box::new(e)),
    }
}

fn open_session(path: &Path, device: Device, intra_threads: usize) -> Result<Session> {
    let env = runtime::environment()?;
    let eps = runtime::execution_providers(device)?;
    let fail = |e: ort::Error<ort::session::builder::SessionBuilder>| {
        ort_model_err(path, "cannot set up a session for it", e)
    };
    let builder = Session::builder(env)
        .map_err(|e| ort_model_err(path, "cannot set up a session for it", e))?;
    let builder = builder
        .with_intra_threads(intra_threads.max(1))
        .map_err(fail)?;
    let builder = builder.with_inter_threads(1).map_err(fail)?;
    let builder = builder
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(fail)?;
    let mut builder =
        builder
            .with_execution_providers(eps)
            .map_err(|e| Error::ExecutionProvider {
                provider: format!("{device:?}"),
                reason: e.to_string(),
            })?;
    builder
        .commit_from_file(path)
        .map_err(|e| ort_model_err(path, "ONNX Runtime cannot load it", e))
}

/// Checks a session's input or output against an expected name and shape (`-1` = any).
fn check_outlet(
    path: &Path,
    kind: &str,
    outlets: &[ort::value::Outlet],
    name: &str,
    want: &[i64],
) -> Result<()> {
    let o = outlets.iter().find(|o| o.name() == name).ok_or_else(|| {
        model_err(
            path,
            format!(
                "has no {kind} named {name:?} (it has {:?}); the manifest and the file disagree",
                outlets.iter().map(|o| o.name()).collect::<Vec<_>>()
            ),
        )
    })?;
    let shape = o
        .dtype()
        .tensor_shape()
        .ok_or_else(|| model_err(path, format!("{kind} {name:?} is not a tensor")))?;
    let dims: Vec<i64> = shape.iter().copied().collect();
    let ok = dims.len() == want.len()
        && dims
            .iter()
            .zip(want)
            .all(|(&d, &w)| w < 0 || d < 0 || d == w);
    if !ok {
        return Err(model_err(
            path,
            format!("{kind} {name:?} has shape {dims:?}, the manifest expects {want:?} (-1 = any)"),
        ));
    }
    Ok(())
}

/// One scale's CNN: a segment `[frames, n_mels]` in, its pooled level activations out.
pub struct ScaleModel {
    session: Session,
    /// The scale's name from the manifest (`s18`).
    pub name: String,
    /// Segment length, mel frames.
    pub frames: usize,
    /// Mel frames between the starts of consecutive segments.
    pub hop_frames: usize,
    /// Mel bands per frame.
    pub n_mels: usize,
    input: String,
    outputs: Vec<(String, usize)>,
    dim: usize,
    path: PathBuf,
}

impl ScaleModel {
    fn load(m: &Manifest, s: &Scale, device: Device, threads: usize) -> Result<Self> {
        let path = m.file_path(&s.file);
        let session = open_session(&path, device, threads)?;
        let n_mels = m.frontend.n_mels;
        check_outlet(
            &path,
            "input",
            session.inputs(),
            &s.input,
            &[-1, s.frames as i64, n_mels as i64],
        )?;
        for l in &s.levels {
            check_outlet(
                &path,
                "output",
                session.outputs(),
                &l.output,
                &[-1, l.width as i64],
            )?;
        }
        Ok(ScaleModel {
            session,
            name: s.name.clone(),
            frames: s.frames,
            hop_frames: s.hop_frames,
            n_mels,
            input: s.input.clone(),
            outputs: s
                .levels
                .iter()
                .map(|l| (l.output.clone(), l.width))
                .collect(),
            dim: s.feature_dim(),
            path,
        })
    }

    /// Feature values per segment (sum of the level widths).
    pub fn feature_dim(&self) -> usize {
        self.dim
    }

    /// Runs `n` segments (`n * frames * n_mels` values, time-major) and writes their features
    /// (`n * feature_dim`, levels concatenated in manifest order) to `out`.
    pub fn extract(&mut self, segments: &[f32], n: usize, out: &mut [f32]) -> Result<()> {
        let per = self.frames * self.n_mels;
        if segments.len() != n * per || out.len() != n * self.dim {
            return Err(Error::Inference {
                stage: self.name.clone(),
                reason: format!(
                    "buffer sizes {} / {} for {n} segments",
                    segments.len(),
                    out.len()
                ),
                source: None,
            });
        }
        let fail = |e: ort::Error| {
            ort_inference_err(format!("scale {} ({})", self.name, self.path.display()), e)
        };
        let input =
            TensorRef::from_array_view(([n, self.frames, self.n_mels], segments)).map_err(fail)?;
        let outputs = self
            .session
            .run(ort::inputs![self.input.as_str() => input])
            .map_err(|e| ort_inference_err(format!("scale {}", self.name), e))?;
        let mut off = 0;
        for (name, width) in &self.outputs {
            let (_, data) = outputs[name.as_str()]
                .try_extract_tensor::<f32>()
                .map_err(|e| ort_inference_err(format!("scale {} output {name}", self.name), e))?;
            for i in 0..n {
                out[i * self.dim + off..i * self.dim + off + width]
                    .copy_from_slice(&data[i * width..(i + 1) * width]);
            }
            off += width;
        }
        Ok(())
    }
}

/// The song-level DNN: aggregated features in, tag scores out.
pub struct Classifier {
    session: Session,
    input: String,
    output: String,
    /// Feature values per input row (the manifest's `input_dim`).
    pub input_dim: usize,
    /// Scores per output row, one per tag.
    pub n_tags: usize,
}

impl Classifier {
    fn load(m: &Manifest, device: Device, threads: usize) -> Result<Self> {
        let c = &m.classifier;
        let path = m.file_path(&c.file);
        let session = open_session(&path, device, threads)?;
        check_outlet(
            &path,
            "input",
            session.inputs(),
            &c.input,
            &[-1, c.input_dim as i64],
        )?;
        check_outlet(
            &path,
            "output",
            session.outputs(),
            &c.output,
            &[-1, m.n_tags() as i64],
        )?;
        Ok(Classifier {
            session,
            input: c.input.clone(),
            output: c.output.clone(),
            input_dim: c.input_dim,
            n_tags: m.n_tags(),
        })
    }

    /// Scores `n` feature vectors (`n * input_dim`) into `out` (`n * n_tags`).
    pub fn predict(&mut self, features: &[f32], n: usize, out: &mut [f32]) -> Result<()> {
        if features.len() != n * self.input_dim || out.len() != n * self.n_tags {
            return Err(Error::Inference {
                stage: "classifier".into(),
                reason: format!(
                    "buffer sizes {} / {} for {n} vectors",
                    features.len(),
                    out.len()
                ),
                source: None,
            });
        }
        let fail = |e: ort::Error| ort_inference_err("classifier".into(), e);
        let input = TensorRef::from_array_view(([n, self.input_dim], features)).map_err(fail)?;
        let outputs = self
            .session
            .run(ort::inputs![self.input.as_str() => input])
            .map_err(fail)?;
        let (_, data) = outputs[self.output.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(fail)?;
        out.copy_from_slice(&data[..n * self.n_tags]);
        Ok(())
    }
}

impl SegmentModel for ScaleModel {
    fn frames(&self) -> usize {
        self.frames
    }
    fn hop_frames(&self) -> usize {
        self.hop_frames
    }
    fn feature_dim(&self) -> usize {
        self.dim
    }
    fn extract(&mut self, segments: &[f32], n: usize, out: &mut [f32]) -> Result<()> {
        ScaleModel::extract(self, segments, n, out)
    }
}

impl TagClassifier for Classifier {
    fn input_dim(&self) -> usize {
        self.input_dim
    }
    fn n_tags(&self) -> usize {
        self.n_tags
    }
    fn predict(&mut self, features: &[f32], n: usize, out: &mut [f32]) -> Result<()> {
        Classifier::predict(self, features, n, out)
    }
}

/// Everything needed to tag: the manifest, one CNN per scale and the classifier.
pub struct ModelSet {
    /// The manifest the models were loaded from (checksums verified).
    pub manifest: Manifest,
    /// One CNN per scale, in manifest order.
    pub scales: Vec<ScaleModel>,
    /// The song-level classifier.
    pub classifier: Classifier,
}

impl ModelSet {
    /// Loads the manifest, verifies its checksums and opens every model with `intra_threads`
    /// threads each (1 for the live path).
    pub fn load(manifest_path: &Path, device: Device, intra_threads: usize) -> Result<ModelSet> {
        let manifest = Manifest::load(manifest_path)?;
        manifest.verify_files()?;
        Self::from_manifest(manifest, device, intra_threads)
    }

    /// Opens the models of an already verified manifest (another set of sessions for another
    /// thread or engine).
    pub fn from_manifest(
        manifest: Manifest,
        device: Device,
        intra_threads: usize,
    ) -> Result<ModelSet> {
        let scales = manifest
            .scales
            .iter()
            .map(|s| ScaleModel::load(&manifest, s, device, intra_threads))
            .collect::<Result<Vec<_>>>()?;
        let classifier = Classifier::load(&manifest, device, intra_threads)?;
        Ok(ModelSet {
            manifest,
            scales,
            classifier,
        })
    }
}
