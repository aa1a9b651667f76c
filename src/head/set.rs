//! Several heads scored together, as the engine, the live outputs and the plugin use them.

use std::ops::Range;
use std::path::{Path, PathBuf};

use super::{Head, HEAD_FILE};
use crate::error::{Error, Result};
use crate::model::Manifest;
use crate::scores::{HeadLabels, MAX_HEAD_LABELS};

/// Heads of your own applied side by side to one feature vector: their labels are laid out one
/// head after another (the layout of [`crate::scores::Scores::heads`]). Names differ, and all
/// labels together are at most [`MAX_HEAD_LABELS`].
///
/// # Examples
/// ```no_run
/// use mstag::head::HeadSet;
/// use mstag::model::{default_manifest_path, Manifest};
///
/// # fn main() -> mstag::Result<()> {
/// let manifest = Manifest::load(&default_manifest_path())?;
/// let heads = HeadSet::load(&["heads/genre", "heads/cues"], &manifest)?;
/// for h in heads.labels() {
///     println!("{}: {}", h.name, h.labels.join(", "));
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeadSet {
    heads: Vec<Head>,
    /// Where each head's labels start in the combined layout; one more entry for the end.
    starts: Vec<usize>,
    /// Every label's weights with the standardisation folded in (`w / scale`), label after
    /// label, `feature_dim` each: one dot product per label, no division per feature.
    folded_w: Vec<f32>,
    /// Every label's bias with the standardisation folded in (`b - Σ w·mean/scale`).
    folded_b: Vec<f64>,
}

fn refused(value: String, reason: String) -> Error {
    Error::InvalidSetting {
        name: "head",
        value,
        reason,
    }
}

impl HeadSet {
    /// The heads given, checked to go together (each one whole, names distinct, the same
    /// feature length, at most [`MAX_HEAD_LABELS`] labels in all).
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] naming the head that does not fit.
    pub fn new(heads: Vec<Head>) -> Result<HeadSet> {
        let mut starts = vec![0];
        for (i, h) in heads.iter().enumerate() {
            h.validate()
                .map_err(|r| refused(h.name.clone(), format!("a broken head: {r}")))?;
            if heads[..i].iter().any(|o| o.name == h.name) {
                return Err(refused(
                    h.name.clone(),
                    "two heads have this name; give one another with `mstag learn --name`".into(),
                ));
            }
            if h.feature_dim != heads[0].feature_dim {
                return Err(refused(
                    h.name.clone(),
                    format!(
                        "it reads {} features, head {:?} {}: they were trained on different models",
                        h.feature_dim, heads[0].name, heads[0].feature_dim
                    ),
                ));
            }
            let end = starts[i] + h.labels.len();
            if end > MAX_HEAD_LABELS {
                return Err(refused(
                    h.name.clone(),
                    format!("{end} labels in all heads together; at most {MAX_HEAD_LABELS}"),
                ));
            }
            starts.push(end);
        }
        let (mut folded_w, mut folded_b) = (Vec::new(), Vec::new());
        for h in &heads {
            for (w, &b) in h.weights.iter().zip(&h.bias) {
                let mut shift = 0.0f64;
                for ((&w, &m), &s) in w.iter().zip(&h.mean).zip(&h.scale) {
                    let ws = w as f64 / s as f64;
                    folded_w.push(ws as f32);
                    shift += ws * m as f64;
                }
                folded_b.push(b as f64 - shift);
            }
        }
        Ok(HeadSet {
            heads,
            starts,
            folded_w,
            folded_b,
        })
    }

    /// Loads each head folder in `dirs` (or `head.json` file) and checks it was trained on
    /// `manifest`'s feature models.
    ///
    /// # Errors
    /// [`Error::Io`] / [`Error::Model`] naming the head file that cannot be read, is corrupt
    /// or was trained on other models, and [`HeadSet::new`]'s errors.
    pub fn load(dirs: &[impl AsRef<Path>], manifest: &Manifest) -> Result<HeadSet> {
        let mut heads: Vec<Head> = Vec::with_capacity(dirs.len());
        for (i, d) in dirs.iter().enumerate() {
            let d = d.as_ref();
            let h = Head::load(d)?;
            h.check_models(manifest, &Head::file_in(d))?;
            if let Some(j) = heads.iter().position(|o| o.name == h.name) {
                return Err(refused(
                    h.name.clone(),
                    format!(
                        "two heads are named {:?} ({} and {}); give one another name with `mstag learn --name`",
                        h.name,
                        dirs[j].as_ref().display(),
                        dirs[i].as_ref().display()
                    ),
                ));
            }
            heads.push(h);
        }
        HeadSet::new(heads)
    }

    /// The heads in one folder, as the plugin's editor chooses it: the folder itself when it
    /// holds a `head.json`, otherwise every sub-folder that holds one (by name).
    ///
    /// # Errors
    /// [`Error::Io`] when the folder cannot be read, [`Error::InvalidSetting`] when it holds
    /// no head, and [`HeadSet::load`]'s errors.
    pub fn load_folder(dir: &Path, manifest: &Manifest) -> Result<HeadSet> {
        HeadSet::load(&Self::folders_in(dir)?, manifest)
    }

    /// The head folders [`HeadSet::load_folder`] would load.
    ///
    /// # Errors
    /// As [`HeadSet::load_folder`], before reading any head.
    pub fn folders_in(dir: &Path) -> Result<Vec<PathBuf>> {
        if dir.join(HEAD_FILE).is_file() {
            return Ok(vec![dir.to_path_buf()]);
        }
        let io = |e| Error::Io {
            path: dir.to_path_buf(),
            source: e,
        };
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.join(HEAD_FILE).is_file() {
                found.push(path);
            }
        }
        if found.is_empty() {
            return Err(refused(
                dir.display().to_string(),
                format!("no {HEAD_FILE} in this folder or its sub-folders (make one with `mstag learn`)"),
            ));
        }
        found.sort();
        Ok(found)
    }

    /// True without heads.
    pub fn is_empty(&self) -> bool {
        self.heads.is_empty()
    }

    /// The heads, in order.
    pub fn heads(&self) -> &[Head] {
        &self.heads
    }

    /// Labels of all heads together.
    pub fn n_labels(&self) -> usize {
        self.starts.last().copied().unwrap_or(0)
    }

    /// The feature length the heads read (None without heads).
    pub fn feature_dim(&self) -> Option<usize> {
        self.heads.first().map(|h| h.feature_dim)
    }

    /// Where head `i`'s scores are in the combined layout.
    pub fn range(&self, i: usize) -> Range<usize> {
        self.starts[i]..self.starts[i + 1]
    }

    /// Each head's name and labels, for outputs.
    pub fn labels(&self) -> Vec<HeadLabels> {
        self.heads
            .iter()
            .map(|h| HeadLabels {
                name: h.name.clone(),
                labels: h.labels.clone(),
            })
            .collect()
    }

    /// Writes every head's scores for `features` into `out` (at least [`Self::n_labels`]
    /// long), without allocating: what the engine runs on the inference thread after the
    /// classifier. Equal to each [`Head::score_into`] up to rounding (about 1e-6): the
    /// standardisation is folded into the weights once, in [`HeadSet::new`].
    pub fn score_into(&self, features: &[f32], out: &mut [f32]) {
        let Some(d) = self.feature_dim() else {
            return;
        };
        let mut z = [0.0f64; MAX_HEAD_LABELS];
        let n = self.n_labels().min(out.len());
        for (k, zk) in z[..n].iter_mut().enumerate() {
            *zk = dot(&self.folded_w[k * d..(k + 1) * d], features) + self.folded_b[k];
        }
        for (i, h) in self.heads.iter().enumerate() {
            let r = self.range(i);
            if r.end <= n {
                super::activate(h.kind, &mut z[r.clone()], &mut out[r]);
            }
        }
    }
}

/// `Σ a·b` in eight f32 lanes (which the compiler vectorises), summed in f64.
fn dot(a: &[f32], b: &[f32]) -> f64 {
    let mut lanes = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| x as f64 * y as f64)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().map(|&v| v as f64).sum::<f64>() + tail
}

#[cfg(test)]
mod tests {
    use super::super::tests::head;
    use super::super::HeadKind;
    use super::*;

    #[test]
    fn labels_are_laid_out_head_after_head() {
        let mut a = head(HeadKind::Single);
        a.name = "a".into();
        let mut b = head(HeadKind::Multi);
        b.name = "b".into();
        let set = HeadSet::new(vec![a.clone(), b.clone()]).unwrap();
        assert_eq!(set.n_labels(), 4);
        assert_eq!(set.range(1), 2..4);
        let x = [3.0, 1.0];
        let mut out = [9.0f32; 4];
        set.score_into(&x, &mut out);
        let want: Vec<f32> = [a.scores(&x), b.scores(&x)].concat();
        for (o, w) in out.iter().zip(&want) {
            assert!((o - w).abs() < 1e-6, "{out:?} vs {want:?}");
        }
        assert_eq!(set.labels()[1].name, "b");
    }

    #[test]
    fn heads_that_do_not_go_together_are_refused() {
        let a = head(HeadKind::Single);
        let e = HeadSet::new(vec![a.clone(), a.clone()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("two heads have this name"), "{e}");
        let mut wide = head(HeadKind::Single);
        wide.name = "wide".into();
        wide.feature_dim = 3;
        wide.mean.push(0.0);
        wide.scale.push(1.0);
        wide.weights.iter_mut().for_each(|w| w.push(0.0));
        let e = HeadSet::new(vec![a, wide]).unwrap_err().to_string();
        assert!(e.contains("reads 3 features"), "{e}");
        let many: Vec<Head> = (0..33)
            .map(|i| {
                let mut h = head(HeadKind::Multi);
                h.name = format!("h{i}");
                h
            })
            .collect();
        let e = HeadSet::new(many).unwrap_err().to_string();
        assert!(e.contains("66 labels") && e.contains("at most 64"), "{e}");
    }

    #[test]
    fn a_folder_is_one_head_or_holds_several() {
        let dir = tempfile::tempdir().unwrap();
        let e = HeadSet::folders_in(dir.path()).unwrap_err().to_string();
        assert!(e.contains("no head.json"), "{e}");
        for n in ["b", "a"] {
            let mut h = head(HeadKind::Single);
            h.name = n.into();
            h.save(&dir.path().join(n)).unwrap();
        }
        std::fs::create_dir(dir.path().join("not-a-head")).unwrap();
        let found = HeadSet::folders_in(dir.path()).unwrap();
        assert_eq!(found, vec![dir.path().join("a"), dir.path().join("b")]);
        let one = HeadSet::folders_in(&dir.path().join("b")).unwrap();
        assert_eq!(one, vec![dir.path().join("b")]);
    }
}
