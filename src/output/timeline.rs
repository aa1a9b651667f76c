//! Tag-over-time heat maps for people who'd rather look than read, as SVG or PNG.
//!
//! Rows are tags, columns are time steps, colour is the score (0..1) on a viridis-like
//! perceptual colormap; a time axis and a colour legend come with it. The SVG has real
//! `<text>` labels; the PNG draws the same labels with a small built-in 5×7 bitmap font
//! (no system fonts needed).

use std::fmt::Write as _;
use std::path::Path;

use crate::error::{Error, Result};
use crate::scores::top_k;

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
    Svg,
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
    pub fn to_svg(&self, top: Option<usize>) -> Result<String> {
        Ok(Plot::new(self, top)?.svg(self))
    }

    /// The heat map as PNG file bytes (8-bit RGB).
    pub fn to_png(&self, top: Option<usize>) -> Result<Vec<u8>> {
        Plot::new(self, top)?.png(self)
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
    fn mean_value(&self, i0: usize, i1: usize, t: usize) -> f32 {
        let (mut sum, mut n) = (0.0f32, 0u32);
        for i in i0..i1 {
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

// ---------------------------------------------------------------------------------------
// Colormap
// ---------------------------------------------------------------------------------------

/// Control points of the colormap (sRGB, evenly spaced over 0..1): a viridis-like ramp
/// from dark purple through blue and green to yellow, with steadily rising lightness.
const CONTROL: [[f32; 3]; 9] = [
    [68.0, 1.0, 84.0],
    [72.0, 40.0, 120.0],
    [62.0, 73.0, 137.0],
    [49.0, 104.0, 142.0],
    [38.0, 130.0, 142.0],
    [31.0, 158.0, 137.0],
    [53.0, 183.0, 121.0],
    [110.0, 206.0, 88.0],
    [253.0, 231.0, 37.0],
];

/// Colour for missing / non-finite scores (a neutral grey the colormap never produces).
pub const NO_DATA: [u8; 3] = [150, 150, 150];

/// The colormap in floating point (sRGB components 0..255) for `v` clamped to 0..1.
fn colormap_f(v: f32) -> [f32; 3] {
    let v = v.clamp(0.0, 1.0);
    let pos = v * (CONTROL.len() - 1) as f32;
    let i = (pos.floor() as usize).min(CONTROL.len() - 2);
    let f = pos - i as f32;
    let (a, b) = (CONTROL[i], CONTROL[i + 1]);
    [
        a[0] + (b[0] - a[0]) * f,
        a[1] + (b[1] - a[1]) * f,
        a[2] + (b[2] - a[2]) * f,
    ]
}

/// sRGB colour of a score: `v` is clamped to 0..1 and interpolated piecewise-linearly
/// between the control points; NaN gives [`NO_DATA`].
pub fn colormap(v: f32) -> [u8; 3] {
    if v.is_nan() {
        return NO_DATA;
    }
    let c = colormap_f(v);
    [c[0].round() as u8, c[1].round() as u8, c[2].round() as u8]
}

fn hex(c: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

// ---------------------------------------------------------------------------------------
// Layout (shared by SVG and PNG, in pixels)
// ---------------------------------------------------------------------------------------

/// Bitmap font scale in the PNG (5×9 glyph cells drawn 2× → 10×18 pixels).
const SCALE: usize = 2;
/// Horizontal advance of one character (glyph + 1 column of spacing, scaled).
const ADV: usize = (font::W + 1) * SCALE;
/// Height of a line of text.
const TEXT_H: usize = font::H * SCALE;
/// Height of capitals and digits (no descender), for centring text vertically.
const BODY_H: usize = font::BODY * SCALE;
const MARGIN: usize = 12;
const TITLE_H: usize = TEXT_H + 14;
/// Height of the optional line under the title.
const SUBTITLE_H: usize = TEXT_H + 6;
const ROW_H: usize = 20;
/// Heat-map width aimed for (cells are whole pixels up to this many time steps).
const TARGET_W: usize = 1200;
/// Widest heat map; longer timelines are averaged down to this many pixel columns.
const MAX_W: usize = 2400;
const TICK_LEN: usize = 5;
/// Height of the time axis below the heat map: ticks, labels, axis title.
const AXIS_H: usize = TICK_LEN + 4 + TEXT_H + 8 + TEXT_H;
const LEGEND_GAP: usize = 24;
const LEGEND_W: usize = 18;
const LEGEND_MIN_H: usize = 140;
/// Longest tag label, in characters (longer names are shortened).
const MAX_LABEL: usize = 28;

const BACKGROUND: [u8; 3] = [255, 255, 255];
const INK: [u8; 3] = [30, 30, 30];
const AXIS: [u8; 3] = [90, 90, 90];

struct Plot {
    rows: Vec<usize>,
    labels: Vec<String>,
    title: String,
    subtitle: Option<String>,
    n_frames: usize,
    width: usize,
    height: usize,
    /// Heat map: left, top, width, height.
    hx: usize,
    hy: usize,
    hw: usize,
    hh: usize,
    /// Time ticks: x position and label.
    ticks: Vec<(f64, String)>,
    axis_title: &'static str,
    /// Legend bar: left, top, height.
    lx: usize,
    ly: usize,
    lh: usize,
}

impl Plot {
    fn new(tl: &Timeline, top: Option<usize>) -> Result<Plot> {
        let invalid = |reason: String| Error::Output {
            what: "timeline".to_string(),
            reason,
        };
        if !(tl.hop_s.is_finite() && tl.hop_s > 0.0) {
            return Err(invalid(format!(
                "hop_s must be a positive number of seconds, got {}",
                tl.hop_s
            )));
        }
        if tl.frames.is_empty() {
            return Err(invalid(
                "no time steps to draw (is the audio shorter than one analysis step?)".into(),
            ));
        }
        if tl.tag_names.is_empty() {
            return Err(invalid("no tag names to label the rows with".into()));
        }
        let rows = tl.rows(top)?;
        let labels: Vec<String> = rows.iter().map(|&t| label(&tl.tag_names[t])).collect();
        let n_frames = tl.frames.len();
        let duration = tl.duration_s();

        let label_chars = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
        let hx = MARGIN + label_chars * ADV + 10;
        let subtitle = tl.subtitle.clone().filter(|s| !s.is_empty());
        let hy = MARGIN + TITLE_H + subtitle.as_ref().map_or(0, |_| SUBTITLE_H);
        let hw = if n_frames <= MAX_W {
            n_frames * (TARGET_W / n_frames).max(1)
        } else {
            MAX_W
        };
        let hh = rows.len() * ROW_H;
        let lx = hx + hw + LEGEND_GAP;
        let lh = hh.max(LEGEND_MIN_H);
        let height = hy + lh.max(hh + AXIS_H) + MARGIN;

        let (ticks, axis_title) = time_ticks(duration, hx, hw);
        let shown = if rows.len() < tl.tag_names.len() {
            format!("top {} of {} tags", rows.len(), tl.tag_names.len())
        } else {
            format!("{} tags", rows.len())
        };
        let title = format!("tag scores over time ({shown}, {})", clock(duration, 1));
        // Wide enough for the title lines too.
        let width = [Some(&title), subtitle.as_ref()]
            .into_iter()
            .flatten()
            .map(|t| MARGIN + text_width(t) + MARGIN)
            .fold(lx + LEGEND_W + 4 + TICK_LEN + 4 * ADV + MARGIN, usize::max);
        Ok(Plot {
            rows,
            labels,
            title,
            subtitle,
            n_frames,
            width,
            height,
            hx,
            hy,
            hw,
            hh,
            ticks,
            axis_title,
            lx,
            ly: hy,
            lh,
        })
    }

    /// Legend tick values with their y position.
    fn legend_ticks(&self) -> Vec<(f32, usize)> {
        [0.0f32, 0.25, 0.5, 0.75, 1.0]
            .iter()
            .map(|&v| {
                let y = self.ly + ((1.0 - v) * (self.lh - 1) as f32).round() as usize;
                (v, y)
            })
            .collect()
    }

    fn svg(&self, tl: &Timeline) -> String {
        let mut s = String::with_capacity(256 + self.rows.len() * self.n_frames * 90);
        let (w, h) = (self.width, self.height);
        // `write!` into a String cannot fail; the results are ignored on purpose.
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="13">"#
        );
        let _ = writeln!(s, "<title>{}</title>", xml_escape(&self.title));
        let _ = writeln!(
            s,
            r#"<rect class="background" x="0" y="0" width="{w}" height="{h}" fill="{}"/>"#,
            hex(BACKGROUND)
        );
        let ink = hex(INK);
        let _ = writeln!(
            s,
            r#"<text x="{MARGIN}" y="{}" fill="{ink}" font-size="15">{}</text>"#,
            MARGIN + TEXT_H,
            xml_escape(&self.title)
        );
        if let Some(sub) = &self.subtitle {
            let _ = writeln!(
                s,
                r#"<text class="subtitle" x="{MARGIN}" y="{}" fill="{ink}">{}</text>"#,
                MARGIN + TITLE_H + TEXT_H - 4,
                xml_escape(sub)
            );
        }

        // Row labels, right-aligned against the heat map.
        let _ = writeln!(s, r#"<g class="labels" text-anchor="end" fill="{ink}">"#);
        for (r, name) in self.labels.iter().enumerate() {
            let y = self.hy + r * ROW_H + ROW_H / 2 + 5;
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{y}">{}</text>"#,
                self.hx - 6,
                xml_escape(name)
            );
        }
        s.push_str("</g>\n");

        // Cells.
        let cw = self.hw as f64 / self.n_frames as f64;
        let _ = writeln!(s, r#"<g class="heatmap" shape-rendering="crispEdges">"#);
        for (r, &t) in self.rows.iter().enumerate() {
            let y = self.hy + r * ROW_H;
            for i in 0..self.n_frames {
                let x = self.hx as f64 + i as f64 * cw;
                let _ = writeln!(
                    s,
                    r#"<rect class="cell" x="{}" y="{y}" width="{}" height="{ROW_H}" fill="{}"/>"#,
                    num(x),
                    num(cw),
                    hex(colormap(tl.value(i, t)))
                );
            }
        }
        s.push_str("</g>\n");

        // Time axis.
        let axis = hex(AXIS);
        let ay = self.hy + self.hh;
        let _ = writeln!(
            s,
            r#"<g class="time-axis" stroke="{axis}" fill="{ink}" text-anchor="middle">"#
        );
        let _ = writeln!(
            s,
            r#"<line x1="{}" y1="{ay}" x2="{}" y2="{ay}"/>"#,
            self.hx,
            self.hx + self.hw
        );
        for (x, text) in &self.ticks {
            let _ = writeln!(
                s,
                r#"<line x1="{x}" y1="{ay}" x2="{x}" y2="{}"/><text x="{x}" y="{}" stroke="none">{}</text>"#,
                ay + TICK_LEN,
                ay + TICK_LEN + 4 + TEXT_H - 2,
                xml_escape(text),
                x = num(*x)
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" stroke="none">{}</text>"#,
            num(self.hx as f64 + self.hw as f64 / 2.0),
            ay + AXIS_H - 2,
            self.axis_title
        );
        s.push_str("</g>\n");

        // Colour legend: a vertical gradient, 1 at the top.
        s.push_str(r#"<defs><linearGradient id="score-ramp" x1="0" y1="1" x2="0" y2="0">"#);
        s.push('\n');
        for k in 0..=16 {
            let v = k as f32 / 16.0;
            let _ = writeln!(
                s,
                r#"<stop offset="{}" stop-color="{}"/>"#,
                num(f64::from(v)),
                hex(colormap(v))
            );
        }
        s.push_str("</linearGradient></defs>\n");
        let _ = writeln!(
            s,
            r#"<g class="legend" fill="{ink}"><text x="{}" y="{}">score</text>"#,
            self.lx,
            self.ly - 12
        );
        let _ = writeln!(
            s,
            r##"<rect class="legend-bar" x="{}" y="{}" width="{LEGEND_W}" height="{}" fill="url(#score-ramp)" stroke="{axis}"/>"##,
            self.lx, self.ly, self.lh
        );
        let tx = self.lx + LEGEND_W;
        for (v, y) in self.legend_ticks() {
            let _ = writeln!(
                s,
                r#"<line x1="{tx}" y1="{y}" x2="{}" y2="{y}" stroke="{axis}"/><text x="{}" y="{}">{v:.2}</text>"#,
                tx + TICK_LEN,
                tx + TICK_LEN + 4,
                y + 5
            );
        }
        s.push_str("</g>\n</svg>\n");
        s
    }

    fn png(&self, tl: &Timeline) -> Result<Vec<u8>> {
        let mut c = Canvas::new(self.width, self.height, BACKGROUND);
        c.text(MARGIN, MARGIN + 2, &self.title, INK);
        if let Some(sub) = &self.subtitle {
            c.text(MARGIN, MARGIN + TITLE_H, sub, INK);
        }

        for (r, name) in self.labels.iter().enumerate() {
            let y = self.hy + r * ROW_H + (ROW_H - BODY_H) / 2;
            let x = (self.hx - 6).saturating_sub(text_width(name));
            c.text(x, y, name, INK);
        }

        // Cells: each pixel column averages the time steps it covers.
        for px in 0..self.hw {
            let i0 = px * self.n_frames / self.hw;
            let i1 = ((px + 1) * self.n_frames / self.hw).max(i0 + 1);
            for (r, &t) in self.rows.iter().enumerate() {
                let col = colormap(tl.mean_value(i0, i1, t));
                c.fill_rect(self.hx + px, self.hy + r * ROW_H, 1, ROW_H, col);
            }
        }

        // Time axis.
        let ay = self.hy + self.hh;
        c.fill_rect(self.hx, ay, self.hw + 1, 1, AXIS);
        for (x, text) in &self.ticks {
            let x = x.round() as usize;
            c.fill_rect(x, ay, 1, TICK_LEN + 1, AXIS);
            let tw = text_width(text);
            c.text(x.saturating_sub(tw / 2), ay + TICK_LEN + 4, text, INK);
        }
        let tw = text_width(self.axis_title);
        c.text(
            (self.hx + self.hw / 2).saturating_sub(tw / 2),
            ay + AXIS_H - TEXT_H,
            self.axis_title,
            INK,
        );

        // Legend.
        c.text(self.lx, self.ly - TEXT_H - 8, "score", INK);
        for y in 0..self.lh {
            let v = 1.0 - (y as f32 + 0.5) / self.lh as f32;
            c.fill_rect(self.lx, self.ly + y, LEGEND_W, 1, colormap(v));
        }
        let tx = self.lx + LEGEND_W;
        for (v, y) in self.legend_ticks() {
            c.fill_rect(tx, y, TICK_LEN, 1, AXIS);
            let text = format!("{v:.2}");
            c.text(tx + TICK_LEN + 4, y.saturating_sub(BODY_H / 2), &text, INK);
        }

        c.encode()
    }
}

/// Ticks along the time axis (x position, label) and the axis title: seconds for short
/// timelines, `m:ss` from two minutes on; a "nice" step chosen so labels don't overlap.
fn time_ticks(duration: f64, hx: usize, hw: usize) -> (Vec<(f64, String)>, &'static str) {
    const STEPS: [f64; 20] = [
        0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0,
        1200.0, 1800.0, 3600.0, 7200.0, 14400.0,
    ];
    let use_clock = duration >= 120.0;
    let fmt = |t: f64, step: f64| -> String {
        if use_clock {
            clock(t, 0)
        } else if step < 1.0 {
            format!("{t:.1}")
        } else {
            format!("{t:.0}")
        }
    };
    let widest = fmt(duration, 1.0).chars().count().max(3) + 2;
    let min_gap = (widest * ADV) as f64;
    let px_per_s = hw as f64 / duration;
    let step = STEPS
        .iter()
        .copied()
        .find(|&s| s * px_per_s >= min_gap && (!use_clock || s >= 1.0))
        .unwrap_or(STEPS[STEPS.len() - 1]);
    let mut ticks = Vec::new();
    let mut k = 0u32;
    loop {
        let t = f64::from(k) * step;
        if t > duration + 1e-9 {
            break;
        }
        ticks.push((hx as f64 + t * px_per_s, fmt(t, step)));
        k += 1;
    }
    let title = if use_clock { "time (m:ss)" } else { "time (s)" };
    (ticks, title)
}

/// `m:ss` (decimals = 0) or `m:ss.s` (decimals = 1).
fn clock(t: f64, decimals: u32) -> String {
    let t = if t.is_finite() { t.max(0.0) } else { 0.0 };
    if decimals == 0 {
        let s = t.round() as u64;
        format!("{}:{:02}", s / 60, s % 60)
    } else {
        let d = (t * 10.0).round() as u64;
        format!("{}:{:02}.{}", d / 600, (d % 600) / 10, d % 10)
    }
}

/// A row label: the tag name, shortened to [`MAX_LABEL`] characters with `..`.
fn label(name: &str) -> String {
    let name = name.trim();
    if name.chars().count() <= MAX_LABEL {
        name.to_string()
    } else {
        let mut s: String = name.chars().take(MAX_LABEL - 2).collect();
        s.push_str("..");
        s
    }
}

/// A coordinate with at most 3 decimals and no trailing zeros.
fn num(x: f64) -> String {
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0.
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Width in pixels of `s` drawn with the bitmap font.
fn text_width(s: &str) -> usize {
    (s.chars().count() * ADV).saturating_sub(SCALE)
}

// ---------------------------------------------------------------------------------------
// PNG canvas
// ---------------------------------------------------------------------------------------

/// An 8-bit RGB raster; drawing outside it is clipped.
struct Canvas {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

impl Canvas {
    fn new(w: usize, h: usize, bg: [u8; 3]) -> Canvas {
        let mut px = Vec::with_capacity(w * h * 3);
        for _ in 0..w * h {
            px.extend_from_slice(&bg);
        }
        Canvas { w, h, px }
    }

    fn fill_rect(&mut self, x: usize, y: usize, w: usize, h: usize, c: [u8; 3]) {
        let (x1, y1) = ((x + w).min(self.w), (y + h).min(self.h));
        for yy in y.min(self.h)..y1 {
            for xx in x.min(self.w)..x1 {
                let o = (yy * self.w + xx) * 3;
                self.px[o..o + 3].copy_from_slice(&c);
            }
        }
    }

    /// Draws `s` with its top-left corner at (x, y); characters outside printable ASCII
    /// are drawn as `?`.
    fn text(&mut self, x: usize, y: usize, s: &str, c: [u8; 3]) {
        for (k, ch) in s.chars().enumerate() {
            let rows = font::glyph(ch);
            let gx = x + k * ADV;
            for (ry, bits) in rows.iter().enumerate() {
                for rx in 0..font::W {
                    if bits & (1 << (font::W - 1 - rx)) != 0 {
                        self.fill_rect(gx + rx * SCALE, y + ry * SCALE, SCALE, SCALE, c);
                    }
                }
            }
        }
    }

    fn encode(&self) -> Result<Vec<u8>> {
        let err = |e: png::EncodingError| Error::Output {
            what: "timeline PNG".to_string(),
            reason: e.to_string(),
        };
        let (w, h) = match (u32::try_from(self.w), u32::try_from(self.h)) {
            (Ok(w), Ok(h)) => (w, h),
            _ => {
                return Err(Error::Output {
                    what: "timeline PNG".to_string(),
                    reason: format!("image too large ({}x{})", self.w, self.h),
                })
            }
        };
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, w, h);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut writer = enc.write_header().map_err(err)?;
            writer.write_image_data(&self.px).map_err(err)?;
            writer.finish().map_err(err)?;
        }
        Ok(out)
    }
}

/// A 5×7 bitmap font for printable ASCII (32..=126), drawn for this module: glyphs sit
/// in rows 0..7 of a 5×9 cell, and rows 7..9 hold the descenders of `g j p q y`.
mod font;

#[cfg(test)]
mod tests;
