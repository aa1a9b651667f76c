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
                provider: format!("{device:?}").to_uppercase(),
                reason: ort_message(&e.to_string()),
            })?;
    builder
        .commit_from_file(path)
        .map_err(|e| ort_model_err(path, "ONNX Runtime cannot load it", e))
}

/// ONNX Runtime's message without the source location and status code it starts with
/// (`…/provider_bridge_ort.cc:2043 … [ONNXRuntimeError] : 1 : FAIL : Failed to load …`).
fn ort_message(s: &str) -> String {
    match s.split_once("[ONNXRuntimeError]") {
        Some((_, rest)) => rest
            .splitn(4, " : ")
            .last()
            .unwrap_or(rest)
            .trim()
            .to_string(),
        None => s.to_string(),
    }
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

/// Where a model set runs: the device it was asked for and the one it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// What was asked for (`Auto` included).
    pub requested: Device,
    /// Where the models run: [`Device::Cpu`] or [`Device::Cuda`], never `Auto`.
    pub device: Device,
    /// With `Auto` on the CPU: why CUDA was not used.
    pub fallback: Option<String>,
    /// With CUDA: the GPU's name, as the driver gives it.
    pub gpu: Option<String>,
}

impl Placement {
    fn on(requested: Device, device: Device) -> Self {
        let gpu = (device == Device::Cuda)
            .then(|| super::cuda::probe_driver().ok())
            .flatten()
            .and_then(|d| d.gpus.into_iter().next());
        Placement {
            requested,
            device,
            fallback: None,
            gpu,
        }
    }

    /// `cpu` or `cuda`: the device the models run on.
    pub fn device_name(&self) -> &'static str {
        match self.device {
            Device::Cuda => "cuda",
            _ => "cpu",
        }
    }

    /// One line for people: which execution provider is active, and why not CUDA when
    /// `Auto` fell back to the CPU.
    ///
    /// # Examples
    /// ```
    /// use mstag::model::{Device, Placement};
    /// let p = Placement {
    ///     requested: Device::Auto,
    ///     device: Device::Cpu,
    ///     fallback: Some("no NVIDIA driver".into()),
    ///     gpu: None,
    /// };
    /// assert_eq!(
    ///     p.describe(),
    ///     "--device auto: running on the CPU (ONNX Runtime's CPU provider): CUDA is not usable: no NVIDIA driver"
    /// );
    /// ```
    pub fn describe(&self) -> String {
        let flag = format!("--device {}", device_flag(self.requested));
        match (self.device, &self.fallback, &self.gpu) {
            (Device::Cuda, _, Some(gpu)) => {
                format!("{flag}: running on CUDA (ONNX Runtime's CUDA provider, {gpu})")
            }
            (Device::Cuda, _, None) => {
                format!("{flag}: running on CUDA (ONNX Runtime's CUDA provider)")
            }
            (_, Some(why), _) => format!(
                "{flag}: running on the CPU (ONNX Runtime's CPU provider): CUDA is not usable: {why}"
            ),
            _ => format!("{flag}: running on the CPU (ONNX Runtime's CPU provider)"),
        }
    }
}

fn device_flag(d: Device) -> &'static str {
    match d {
        Device::Cpu => "cpu",
        Device::Cuda => "cuda",
        Device::Auto => "auto",
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
    /// Where they run.
    pub placement: Placement,
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
    ///
    /// [`Device::Auto`] tries CUDA first (every model on it) and, when anything about CUDA
    /// fails, opens them all on the CPU and keeps the reason in
    /// [`placement`](Self::placement).
    ///
    /// # Errors
    /// [`Error::ExecutionProvider`] for [`Device::Cuda`] where CUDA cannot be used (naming
    /// what is missing), [`Error::Model`] for a model ONNX Runtime refuses.
    pub fn from_manifest(
        manifest: Manifest,
        device: Device,
        intra_threads: usize,
    ) -> Result<ModelSet> {
        let (scales, classifier, placement) = match device {
            Device::Auto => match Self::open(&manifest, Device::Cuda, intra_threads) {
                Ok((s, c)) => (s, c, Placement::on(Device::Auto, Device::Cuda)),
                Err(e) => {
                    let (s, c) = Self::open(&manifest, Device::Cpu, intra_threads)?;
                    let mut p = Placement::on(Device::Auto, Device::Cpu);
                    p.fallback = Some(cuda_failure(&e));
                    (s, c, p)
                }
            },
            d => {
                let (s, c) = Self::open(&manifest, d, intra_threads)?;
                (s, c, Placement::on(d, d))
            }
        };
        Ok(ModelSet {
            manifest,
            scales,
            classifier,
            placement,
        })
    }

    fn open(
        manifest: &Manifest,
        device: Device,
        intra_threads: usize,
    ) -> Result<(Vec<ScaleModel>, Classifier)> {
        let scales = manifest
            .scales
            .iter()
            .map(|s| ScaleModel::load(manifest, s, device, intra_threads))
            .collect::<Result<Vec<_>>>()?;
        let classifier = Classifier::load(manifest, device, intra_threads)?;
        Ok((scales, classifier))
    }
}

/// Why CUDA failed, without the "execution provider CUDA:" that the fallback line says already.
fn cuda_failure(e: &Error) -> String {
    // (An ONNX Runtime error keeps its full text in the error's source chain.)
    match e {
        Error::ExecutionProvider { reason, .. } => reason.clone(),
        e => crate::error::report(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ort_messages_lose_their_source_location() {
        let raw = "/onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:2043 onnxruntime::Provider& onnxruntime::ProviderLibrary::Get() [ONNXRuntimeError] : 1 : FAIL : Failed to load library x.so with error: x.so: undefined symbol: cuFoo";
        assert_eq!(
            ort_message(raw),
            "Failed to load library x.so with error: x.so: undefined symbol: cuFoo"
        );
        assert_eq!(ort_message("plain"), "plain");
    }
}
