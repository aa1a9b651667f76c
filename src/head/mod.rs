//! Heads of your own: a linear classifier on the song-level features (the paper's transfer
//! learning: new labels on the same CNN features), trained by `mstag learn` and applied
//! wherever the 50 tags are.
//!
//! A head is a folder with `head.json` (format 1), plain data that is read, never run:
//!
//! ```text
//! {"format": 1, "name": "genre", "kind": "single" | "multi", "labels": [...],
//!  "feature_dim": 960, "feature_models": {"manifest": NAME, "sha256": {"s18.onnx": HEX, ...}},
//!  "mean": [dim], "scale": [dim], "weights": [[dim] per label], "bias": [per label],
//!  "training": {...}}
//! ```
//!
//! Scores: `z = weights · ((x - mean) / scale) + bias`, then a softmax over the labels
//! (`single`: one label per song) or a sigmoid per label (`multi`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::Manifest;
use crate::scores::MAX_HEAD_LABELS;

mod set;
pub use set::HeadSet;

/// The file inside a head's folder.
pub const HEAD_FILE: &str = "head.json";

/// Whether a song has one label (softmax) or any number (a sigmoid each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeadKind {
    /// One label per song: the scores sum to 1.
    Single,
    /// Any number of labels per song: each score on its own.
    Multi,
}

/// Which feature models a head was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureModels {
    /// The manifest's `name`.
    pub manifest: String,
    /// SHA-256 of each scale's model file, by file name.
    pub sha256: BTreeMap<String, String>,
}

impl FeatureModels {
    /// The feature models of `manifest`.
    pub fn of(manifest: &Manifest) -> Self {
        FeatureModels {
            manifest: manifest.name.clone(),
            sha256: manifest
                .scales
                .iter()
                .map(|s| (s.file.clone(), s.sha256.clone()))
                .collect(),
        }
    }
}

/// A trained head (see the module's documentation for the file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Head {
    /// File format version (1).
    pub format: u32,
    /// The head's name: the key of its scores in outputs (`"heads": {NAME: ...}`).
    pub name: String,
    /// Softmax or sigmoids.
    pub kind: HeadKind,
    /// Label names, in score order.
    pub labels: Vec<String>,
    /// Length of the feature vectors it reads.
    pub feature_dim: usize,
    /// The feature models it was trained on.
    pub feature_models: FeatureModels,
    /// Standardisation: subtracted from each feature.
    pub mean: Vec<f32>,
    /// Standardisation: each feature divided by it (after the mean).
    pub scale: Vec<f32>,
    /// One row of `feature_dim` weights per label.
    pub weights: Vec<Vec<f32>>,
    /// One bias per label.
    pub bias: Vec<f32>,
    /// How it was trained (free-form, for people).
    #[serde(default)]
    pub training: serde_json::Value,
}

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::Model {
        path: path.to_path_buf(),
        reason: reason.into(),
        source: None,
    }
}

impl Head {
    /// Reads the head in folder `dir` (or the file `dir` itself) and checks it is whole.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be read, [`Error::Model`] naming the file when it is not
    /// a head or is inconsistent (corrupt).
    pub fn load(dir: impl AsRef<Path>) -> Result<Head> {
        let path = Self::file_in(dir.as_ref());
        let text = std::fs::read_to_string(&path).map_err(|e| Error::Io {
            path: path.clone(),
            source: e,
        })?;
        let head: Head = serde_json::from_str(&text)
            .map_err(|e| bad(&path, format!("not a head file (format 1): {e}")))?;
        head.validate().map_err(|r| bad(&path, r))?;
        Ok(head)
    }

    /// The head file of a head folder (`dir/head.json`), or `dir` itself when it is a file.
    pub fn file_in(dir: &Path) -> PathBuf {
        if dir.is_dir() {
            dir.join(HEAD_FILE)
        } else {
            dir.to_path_buf()
        }
    }

    /// Checks sizes and values; the reason when something is off.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.format != 1 {
            return Err(format!(
                "format {} (this mstag reads format 1)",
                self.format
            ));
        }
        let (n, d) = (self.labels.len(), self.feature_dim);
        if n < 2 || d == 0 {
            return Err(format!("{n} labels of {d} features"));
        }
        if n > MAX_HEAD_LABELS {
            return Err(format!("{n} labels (at most {MAX_HEAD_LABELS})"));
        }
        if self.mean.len() != d || self.scale.len() != d {
            return Err("mean or scale is not feature_dim long".into());
        }
        if self.weights.len() != n
            || self.bias.len() != n
            || self.weights.iter().any(|w| w.len() != d)
        {
            return Err("weights or bias do not match the labels and feature_dim".into());
        }
        let finite = |v: &[f32]| v.iter().all(|x| x.is_finite());
        if !finite(&self.mean)
            || !finite(&self.bias)
            || !self.scale.iter().all(|&s| s.is_finite() && s > 0.0)
            || !self.weights.iter().all(|w| finite(w))
        {
            return Err("a value is not finite (or a scale not positive)".into());
        }
        Ok(())
    }

    /// Checks that the head was trained on `manifest`'s feature models.
    ///
    /// # Errors
    /// [`Error::Model`] naming the head and the model files whose checksums differ.
    pub fn check_models(&self, manifest: &Manifest, head_path: &Path) -> Result<()> {
        let now = FeatureModels::of(manifest);
        if self.feature_dim != manifest.feature_dim() {
            return Err(bad(
                head_path,
                format!(
                    "it reads {} features; the models of {} give {}",
                    self.feature_dim,
                    manifest.dir.display(),
                    manifest.feature_dim()
                ),
            ));
        }
        let differ: Vec<&str> = now
            .sha256
            .iter()
            .filter(|(f, sha)| self.feature_models.sha256.get(*f) != Some(*sha))
            .map(|(f, _)| f.as_str())
            .collect();
        if !differ.is_empty() {
            return Err(bad(
                head_path,
                format!(
                    "it was trained on other feature models ({}: {}); the models in use ({} in {}) differ in {}; train it again with `mstag learn`",
                    self.feature_models.manifest,
                    self.feature_models.sha256.keys().cloned().collect::<Vec<_>>().join(", "),
                    now.manifest,
                    manifest.dir.display(),
                    differ.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// The head's scores for one feature vector, in label order.
    pub fn scores(&self, features: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0; self.labels.len()];
        self.score_into(features, &mut out);
        out
    }

    /// Writes the head's scores for one feature vector into `out` (one per label), without
    /// allocating, straight from the file's numbers (the reference: the engine and `mstag tag`
    /// run [`HeadSet::score_into`], which folds the standardisation into the weights).
    /// Scores are in 0..1; a non-finite result (from non-finite features) becomes 0.
    pub fn score_into(&self, features: &[f32], out: &mut [f32]) {
        let mut z = [0.0f64; MAX_HEAD_LABELS];
        let n = self.labels.len().min(MAX_HEAD_LABELS).min(out.len());
        for ((zk, w), &b) in z[..n].iter_mut().zip(&self.weights).zip(&self.bias) {
            let dot: f64 = w
                .iter()
                .zip(features)
                .zip(self.mean.iter().zip(&self.scale))
                .map(|((&w, &x), (&m, &s))| w as f64 * ((x - m) / s) as f64)
                .sum();
            *zk = dot + b as f64;
        }
        activate(self.kind, &mut z[..n], &mut out[..n]);
    }

    /// Writes the head to `dir/head.json` (the folder is made), through a temporary file
    /// and a rename.
    ///
    /// # Errors
    /// [`Error::Output`] naming the folder when it cannot be written.
    pub fn save(&self, dir: &Path) -> Result<PathBuf> {
        let out_err = |reason: String| Error::Output {
            what: dir.display().to_string(),
            reason,
        };
        std::fs::create_dir_all(dir).map_err(|e| out_err(e.to_string()))?;
        let path = dir.join(HEAD_FILE);
        let text = serde_json::to_string_pretty(self).map_err(|e| out_err(e.to_string()))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| out_err(e.to_string()))?;
        use std::io::Write as _;
        tmp.write_all(text.as_bytes())
            .and_then(|_| tmp.flush())
            .map_err(|e| out_err(e.to_string()))?;
        // Readable by others, as files written without a temporary would be.
        use std::os::unix::fs::PermissionsExt as _;
        let _ = tmp
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644));
        tmp.persist(&path).map_err(|e| out_err(e.to_string()))?;
        Ok(path)
    }
}

/// The scores from the logits `z` (consumed): a softmax over them (`single`) or a sigmoid each
/// (`multi`); a non-finite result (from non-finite features) becomes 0.
fn activate(kind: HeadKind, z: &mut [f64], out: &mut [f32]) {
    match kind {
        HeadKind::Multi => {
            for (o, &v) in out.iter_mut().zip(z.iter()) {
                *o = (1.0 / (1.0 + (-v).exp())) as f32;
            }
        }
        HeadKind::Single => {
            let max = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let mut sum = 0.0;
            for v in z.iter_mut() {
                *v = (*v - max).exp();
                sum += *v;
            }
            for (o, &v) in out.iter_mut().zip(z.iter()) {
                *o = (v / sum) as f32;
            }
        }
    }
    for o in out.iter_mut() {
        if !o.is_finite() {
            *o = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn head(kind: HeadKind) -> Head {
        Head {
            format: 1,
            name: "t".into(),
            kind,
            labels: vec!["a".into(), "b".into()],
            feature_dim: 2,
            feature_models: FeatureModels {
                manifest: "m".into(),
                sha256: BTreeMap::new(),
            },
            mean: vec![1.0, 0.0],
            scale: vec![2.0, 1.0],
            weights: vec![vec![1.0, 0.0], vec![0.0, 1.0]],
            bias: vec![0.0, -1.0],
            training: serde_json::Value::Null,
        }
    }

    #[test]
    fn scores_standardise_then_softmax_or_sigmoid() {
        let x = [3.0, 1.0]; // standardised: [1.0, 1.0]; z = [1.0, 0.0]
        let s = head(HeadKind::Single).scores(&x);
        let e = 1.0f64.exp();
        assert!((s[0] as f64 - e / (e + 1.0)).abs() < 1e-6, "{s:?}");
        assert!((s.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        let m = head(HeadKind::Multi).scores(&x);
        assert!((m[0] as f64 - 1.0 / (1.0 + (-1.0f64).exp())).abs() < 1e-6);
        assert!((m[1] - 0.5).abs() < 1e-6);
    }

    #[test]
    fn broken_heads_are_refused_with_a_reason() {
        assert!(head(HeadKind::Single).validate().is_ok());
        let mut h = head(HeadKind::Single);
        h.weights[1].pop();
        assert!(h.validate().unwrap_err().contains("weights"));
        let mut h = head(HeadKind::Single);
        h.scale[0] = 0.0;
        assert!(h.validate().is_err());
        let mut h = head(HeadKind::Single);
        h.format = 2;
        assert!(h.validate().unwrap_err().contains("format 2"));
    }

    #[test]
    fn a_saved_head_loads_back_equal_and_garbage_does_not_load() {
        let dir = tempfile::tempdir().unwrap();
        let h = head(HeadKind::Multi);
        let p = h.save(dir.path()).unwrap();
        assert_eq!(p, dir.path().join(HEAD_FILE));
        assert_eq!(Head::load(dir.path()).unwrap(), h);
        std::fs::write(&p, "{\"format\": 1, \"name\": ").unwrap();
        let e = Head::load(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("not a head file") && e.contains("head.json"),
            "{e}"
        );
    }
}
