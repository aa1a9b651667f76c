//! Tag-over-time heat maps for people who'd rather look than read, as SVG or PNG.
//!
//! Rows are tags, columns are time steps, colour is the score (0..1) on a viridis-like
//! perceptual colormap; a time axis and a colour legend come with it.
//!
//! There is one drawing: `layout` places everything, `svg` writes it as an SVG
//! document, and `png` renders that same document to pixels with `resvg`, using a font
//! found on the system (an error says so when there is none).

use std::path::Path;

use crate::error::{Error, Result};
use crate::scores::top_k;

mod colormap;
mod layout;
mod png;
mod svg;

pub use colormap::{colormap, NO_DATA};
use layout::Plot;

/// Number of rows drawn when no `top` is given.
pub const DEFAULT_TOP: usize = 20;

/// Tag scores over time, ready to draw.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    /// Seconds between consecutive time steps (column `i` covers `i*hop_s .. (i+1)*hop_s`).
    pub hop_s: f64,
    /// Tag names in manifest order; one row candidate per name.
    pub tag_names: Vec<String>,
    /// One score vector per time step, in manifest tag order. Missing or non-finite
    /// scores are drawn in grey ("no data"); scores beyond `tag_names` are ignored.
    pub frames: Vec<Vec<f32>>,
    /// A line under the title saying what a column shows (which aggregate, over what time),
    /// e.g. `each column: mean of the last 10 s (--window), every 1 s`.
    pub subtitle: Option<String>,
}

/// The image formats [`Timeline::write`] can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// An SVG document with real `<text>` labels and one `<rect>` per cell.
    Svg,
    /// The same drawing rendered to an 8-bit RGB PNG.
    Png,
}

/// The folder `path` is written into (`.` for a bare file name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A new, empty temporary file in `path`'s folder (so that renaming it onto `path` is
/// atomic), readable by others like a file created the usual way.
fn temp_file_beside(path: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let mut b = tempfile::Builder::new();
    b.prefix(".mstag-").suffix(".tmp");
    #[cfg(unix)]
    b.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    b.tempfile_in(folder_of(path))
}

/// Checks that an image can be written to `path`, before the work that produces it: `path`
/// is not a folder and its folder exists and takes new files (a temporary file is created
/// there and removed).
///
/// # Errors
/// [`Error::Output`] naming `path` and what is wrong.
pub fn check_output_path(path: &Path) -> Result<()> {
    let fail = |reason: String| Error::Output {
        what: format!("timeline {}", path.display()),
        reason,
    };
    if path.is_dir() {
        return Err(fail(
            "is a folder; give a file name ending in .svg or .png".into(),
        ));
    }
    let dir = folder_of(path);
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(fail(format!("{} is not a folder", dir.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(fail(format!("folder {} does not exist", dir.display())))
        }
        Err(e) => return Err(fail(format!("cannot use folder {}: {e}", dir.display()))),
    }
    temp_file_beside(path)
        .map(drop)
        .map_err(|e| fail(format!("cannot create files in {}: {e}", dir.display())))
}

impl ImageFormat {
    /// The format named by `path`'s extension (`.svg` or `.png`, any case).
    ///
    /// Useful to reject a bad output path before spending time on the audio.
    pub fn from_path(path: &Path) -> Result<ImageFormat> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("svg") => Ok(ImageFormat::Svg),
            Some("png") => Ok(ImageFormat::Png),
            other => Err(Error::Output {
                what: format!("timeline {}", path.display()),
                reason: match other {
                    Some(e) => format!("unsupported extension \".{e}\"; use .svg or .png"),
                    None => "no file extension; use .svg or .png".to_string(),
                },
            }),
        }
    }
}

impl Timeline {
    /// Writes the heat map to `path` as SVG or PNG, chosen by the extension
    /// (`.svg`/`.png`, any case; anything else is an error naming the path).
    ///
    /// `top` is the number of rows: the tags whose maximum over time is highest, listed
    /// by mean score (highest first). `None` means [`DEFAULT_TOP`]; it is capped at the
    /// number of tags, and `Some(0)` is an error.
    ///
    /// The file is written beside `path` under a temporary name and renamed into place, so
    /// `path` is never left half-written.
    pub fn write(&self, path: &Path, top: Option<usize>) -> Result<()> {
        let bytes = match ImageFormat::from_path(path)? {
            ImageFormat::Svg => self.to_svg(top)?.into_bytes(),
            ImageFormat::Png => self.to_png(top)?,
        };
        let failed = |e: std::io::Error| Error::Output {
            what: format!("timeline {}", path.display()),
            reason: format!("cannot write the file: {e}"),
        };
        let mut tmp = temp_file_beside(path).map_err(failed)?;
        std::io::Write::write_all(&mut tmp, &bytes).map_err(failed)?;
        tmp.persist(path).map_err(|e| failed(e.error))?;
        Ok(())
    }

    /// The heat map as an SVG document (one `<rect class="cell">` per row and time step).
    ///
    /// # Errors
    /// [`Error::Output`] when there is nothing to draw (no time steps, no tag names, a
    /// `hop_s` that is not a positive number); [`Error::InvalidSetting`] for `top == Some(0)`.
    pub fn to_svg(&self, top: Option<usize>) -> Result<String> {
        Ok(Plot::new(self, top)?.svg(self, false))
    }

    /// The heat map as PNG file bytes (8-bit RGB): the drawing of [`Timeline::to_svg`]
    /// rendered by `resvg`, its labels in a system font (DejaVu Sans Mono or another
    /// monospace font when there is one, else any font found). Timelines with more time
    /// steps than pixel columns show in each column the mean of the steps it covers.
    ///
    /// # Errors
    /// Those of [`Timeline::to_svg`], and [`Error::Output`] when no font is found for the
    /// labels or the image cannot be rendered.
    pub fn to_png(&self, top: Option<usize>) -> Result<Vec<u8>> {
        let svg = Plot::new(self, top)?.svg(self, true);
        png::render(&svg, &png::system_fonts())
    }

    /// Seconds covered by the frames.
    pub fn duration_s(&self) -> f64 {
        self.frames.len() as f64 * self.hop_s
    }

    /// The tag indices drawn as rows, top to bottom: the `top` (default [`DEFAULT_TOP`])
    /// tags with the highest maximum over time, ordered by mean score, best first
    /// (ties keep manifest order). Non-finite scores are ignored.
    pub fn rows(&self, top: Option<usize>) -> Result<Vec<usize>> {
        let n = match top {
            Some(0) => {
                return Err(Error::InvalidSetting {
                    name: "top",
                    value: "0".to_string(),
                    reason: "the timeline needs at least one row".to_string(),
                })
            }
            Some(n) => n,
            None => DEFAULT_TOP,
        };
        let n_tags = self.tag_names.len();
        let mut max = vec![f32::NEG_INFINITY; n_tags];
        let mut sum = vec![0.0f64; n_tags];
        let mut count = vec![0usize; n_tags];
        for frame in &self.frames {
            for (t, &x) in frame.iter().take(n_tags).enumerate() {
                if x.is_finite() {
                    max[t] = max[t].max(x);
                    sum[t] += f64::from(x);
                    count[t] += 1;
                }
            }
        }
        let mean: Vec<f64> = (0..n_tags)
            .map(|t| {
                if count[t] > 0 {
                    sum[t] / count[t] as f64
                } else {
                    f64::NEG_INFINITY
                }
            })
            .collect();
        let mut rows = top_k(&max, n);
        rows.sort_by(|&a, &b| mean[b].total_cmp(&mean[a]).then(a.cmp(&b)));
        Ok(rows)
    }

    /// Score of tag `t` at step `i`, NaN when missing or not finite.
    fn value(&self, i: usize, t: usize) -> f32 {
        match self.frames.get(i).and_then(|f| f.get(t)) {
            Some(&x) if x.is_finite() => x,
            _ => f32::NAN,
        }
    }

    /// Mean of the finite scores of tag `t` over steps `i0..i1`, NaN when there are none.
    fn mean_value(&self, steps: std::ops::Range<usize>, t: usize) -> f32 {
        let (mut sum, mut n) = (0.0f32, 0u32);
        for i in steps {
            let x = self.value(i, t);
            if x.is_finite() {
                sum += x;
                n += 1;
            }
        }
        if n == 0 {
            f32::NAN
        } else {
            sum / n as f32
        }
    }
}

#[cfg(test)]
mod tests;
