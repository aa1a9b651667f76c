//! The model manifest (`models/manifest.json`): the only place that knows the sample rate,
//! the front end, the scales, the layers and widths, the feature order, the tags and the
//! files with their checksums.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::dsp::FrontendConfig;
use crate::error::{Error, Result};
use crate::scores::MAX_TAGS;

/// One level of a scale's features: a conv layer's activations, max-pooled over the segment,
/// read from one output of the scale's ONNX graph.
#[derive(Debug, Clone, Deserialize)]
pub struct Level {
    /// Output name in the scale's ONNX graph.
    pub output: String,
    /// Index of the conv layer this level is taken from.
    pub layer: usize,
    /// Number of filters (values per segment).
    pub width: usize,
}

/// One scale: a CNN that reads segments of one length and gives one or more levels of features.
#[derive(Debug, Clone, Deserialize)]
pub struct Scale {
    /// The scale's name (`s18`), used in `feature_order` as `<name>/<level output>`.
    pub name: String,
    /// Segment length in mel frames.
    pub frames: usize,
    /// Frames between the starts of consecutive segments.
    pub hop_frames: usize,
    /// The scale's ONNX file, a plain relative path inside the manifest's folder.
    pub file: String,
    /// The file's SHA-256, lowercase hex, checked by [`Manifest::verify_files`].
    pub sha256: String,
    /// Input name in the ONNX graph (a `[segments, frames, n_mels]` tensor of log-mel values).
    pub input: String,
    /// The levels this scale contributes, in feature order (at least one).
    pub levels: Vec<Level>,
}

impl Scale {
    /// Feature values this scale contributes (sum of level widths).
    pub fn feature_dim(&self) -> usize {
        self.levels.iter().map(|l| l.width).sum()
    }
}

/// The classifier: a small DNN from the concatenated song-level features to the tag scores.
#[derive(Debug, Clone, Deserialize)]
pub struct ClassifierSpec {
    /// The classifier's ONNX file, a plain relative path inside the manifest's folder.
    pub file: String,
    /// The file's SHA-256, lowercase hex, checked by [`Manifest::verify_files`].
    pub sha256: String,
    /// Input name in the ONNX graph (a `[batch, input_dim]` tensor of features).
    pub input: String,
    /// Output name in the ONNX graph (a `[batch, tags]` tensor of scores in 0..1).
    pub output: String,
    /// Feature values the classifier reads: must equal the sum of every level's width.
    pub input_dim: usize,
}

/// A model set as `models/manifest.json` describes it, parsed and checked
/// ([`Manifest::load`]).
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    /// Manifest format version; this mstag reads format 1.
    pub format: u32,
    /// Name of the model set.
    pub name: String,
    /// The models' sample rate, Hz (8,000 to 192,000): input is resampled to it.
    pub sample_rate: u32,
    /// The log-mel front end the models were trained with.
    pub frontend: FrontendConfig,
    /// The scales, in feature order (at least one).
    pub scales: Vec<Scale>,
    /// The classifier over the concatenated features.
    pub classifier: ClassifierSpec,
    /// The classifier's input layout: `<scale>/<level output>` for every level of every scale, in
    /// order (checked against `scales`).
    pub feature_order: Vec<String>,
    /// Tag names in the order of the classifier's outputs (1 to [`MAX_TAGS`]).
    pub tags: Vec<String>,
    /// Per-tag quantiles of the song-level scores over reference music, for calibrated
    /// outputs ([`crate::calibration`]); absent in older manifests.
    #[serde(default)]
    pub calibration: Option<crate::calibration::CalibrationSpec>,
    /// Folder the manifest was read from; model files are relative to it.
    #[serde(skip)]
    pub dir: PathBuf,
    /// The manifest file itself, as given to [`Manifest::load`] or [`Manifest::parse`].
    #[serde(skip)]
    pub path: PathBuf,
}

impl Manifest {
    /// The calibration of the tags, when the manifest has one (checked at load).
    pub fn calibration(&self) -> Option<crate::calibration::Calibration> {
        let spec = self.calibration.as_ref()?;
        crate::calibration::Calibration::new(spec, &self.tags).ok()
    }

    /// Reads and validates a manifest. Checksums are verified by [`Manifest::verify_files`].
    pub fn load(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path)
    }

    /// Parses and validates manifest text; `path` is used for messages and to find files.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest> {
        let bad = |reason: String| Error::Manifest {
            path: path.to_path_buf(),
            reason,
        };
        let mut m: Manifest =
            serde_json::from_str(text).map_err(|e| bad(format!("not a valid manifest: {e}")))?;
        m.path = path.to_path_buf();
        m.dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        m.validate().map_err(bad)?;
        Ok(m)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if self.format != 1 {
            return Err(format!(
                "format {} (this mstag reads format 1)",
                self.format
            ));
        }
        if !(8_000..=192_000).contains(&self.sample_rate) {
            return Err(format!("sample_rate {}", self.sample_rate));
        }
        self.frontend
            .validate(self.sample_rate)
            .map_err(|e| format!("frontend: {e}"))?;
        if self.tags.is_empty() || self.tags.len() > MAX_TAGS {
            return Err(format!(
                "{} tags (1 to {MAX_TAGS} supported)",
                self.tags.len()
            ));
        }
        if let Some(c) = &self.calibration {
            crate::calibration::Calibration::new(c, &self.tags)?;
        }
        if self.scales.is_empty() {
            return Err("no scales".into());
        }
        let mut order = Vec::new();
        for s in &self.scales {
            if s.frames == 0 || s.frames > 10_000 || s.hop_frames == 0 {
                return Err(format!(
                    "scale {}: frames {} / hop_frames {}",
                    s.name, s.frames, s.hop_frames
                ));
            }
            if s.levels.is_empty() || s.levels.iter().any(|l| l.width == 0 || l.width > 65_536) {
                return Err(format!("scale {}: bad levels", s.name));
            }
            check_file_name(&s.file)?;
            order.extend(s.levels.iter().map(|l| format!("{}/{}", s.name, l.output)));
        }
        check_file_name(&self.classifier.file)?;
        if order != self.feature_order {
            return Err(format!(
                "feature_order {:?} does not match the scales' levels {:?}",
                self.feature_order, order
            ));
        }
        let dim: usize = self.scales.iter().map(Scale::feature_dim).sum();
        if dim != self.classifier.input_dim {
            return Err(format!(
                "classifier input_dim {} but the scales' levels add up to {dim}",
                self.classifier.input_dim
            ));
        }
        Ok(())
    }

    /// A name for every value of the song-level feature vector, in its order:
    /// `<scale>/<level>/<unit>` (`s18/level0/0`, ...), following `feature_order`.
    pub fn feature_names(&self) -> Vec<String> {
        self.scales
            .iter()
            .flat_map(|s| {
                s.levels.iter().flat_map(move |l| {
                    (0..l.width).map(move |k| format!("{}/{}/{k}", s.name, l.output))
                })
            })
            .collect()
    }

    /// Total feature dimension (classifier input).
    pub fn feature_dim(&self) -> usize {
        self.classifier.input_dim
    }

    /// Number of tags the classifier scores.
    pub fn n_tags(&self) -> usize {
        self.tags.len()
    }

    /// Longest segment in frames (the warm-up before the first scores).
    pub fn max_segment_frames(&self) -> usize {
        self.scales.iter().map(|s| s.frames).max().unwrap_or(0)
    }

    /// Shortest segment in frames: the least audio that can be tagged (a clip shorter than
    /// the other scales' segments is looped to fill them at the end of its stream).
    pub fn min_segment_frames(&self) -> usize {
        self.scales.iter().map(|s| s.frames).min().unwrap_or(0)
    }

    /// A model file named in the manifest, resolved against the manifest's folder.
    pub fn file_path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// Checks that every model file exists and has the manifest's SHA-256.
    pub fn verify_files(&self) -> Result<()> {
        let files = self
            .scales
            .iter()
            .map(|s| (&s.file, &s.sha256))
            .chain(std::iter::once((
                &self.classifier.file,
                &self.classifier.sha256,
            )));
        for (file, sha) in files {
            let path = self.file_path(file);
            let bytes = std::fs::read(&path).map_err(|e| Error::Model {
                path: path.clone(),
                reason: format!(
                    "cannot read it; the manifest {} lists it",
                    self.path.display()
                ),
                source: Some(Box::new(e)),
            })?;
            let got = hex::encode(Sha256::digest(&bytes));
            if !got.eq_ignore_ascii_case(sha) {
                return Err(Error::Model {
                    path,
                    reason: format!(
                        "SHA-256 {got} does not match the manifest's {sha} (file changed, truncated or from another model version)"
                    ),
                    source: None,
                });
            }
        }
        Ok(())
    }
}

fn check_file_name(f: &str) -> std::result::Result<(), String> {
    let p = Path::new(f);
    if f.is_empty()
        || p.is_absolute()
        || p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(format!(
            "model file name {f:?} must be a plain relative path inside the models folder"
        ));
    }
    Ok(())
}

/// The bundled models: `$MSTAG_MODELS`, else `models/` beside the executable (bundles and
/// installs), else this source tree's `models/`.
pub fn default_manifest_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("MSTAG_MODELS") {
        return PathBuf::from(dir).join("manifest.json");
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            let p = dir.join("models").join("manifest.json");
            if p.exists() {
                return p;
            }
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join("manifest.json")
}
