//! Where everything goes, in pixels: the one layout that the SVG writer draws (and the PNG
//! renders from that SVG).

use std::ops::Range;

use super::Timeline;
use crate::error::{Error, Result};

/// Font size of the labels, in pixels.
pub(super) const FONT_PX: usize = 13;
/// Font size of the title, in pixels.
pub(super) const TITLE_PX: usize = 15;
/// Height of a line of text.
pub(super) const TEXT_H: usize = 18;
pub(super) const MARGIN: usize = 12;
pub(super) const TITLE_H: usize = TEXT_H + 14;
/// Height of the optional line under the title.
pub(super) const SUBTITLE_H: usize = TEXT_H + 6;
pub(super) const ROW_H: usize = 20;
/// Heat-map width aimed for (cells are whole pixels up to this many time steps).
const TARGET_W: usize = 1200;
/// Widest heat map; longer timelines are averaged down to this many pixel columns in PNG.
pub(super) const MAX_W: usize = 2400;
pub(super) const TICK_LEN: usize = 5;
/// Height of the time axis below the heat map: ticks, labels, axis title.
pub(super) const AXIS_H: usize = TICK_LEN + 4 + TEXT_H + 8 + TEXT_H;
const LEGEND_GAP: usize = 24;
pub(super) const LEGEND_W: usize = 18;
const LEGEND_MIN_H: usize = 140;
/// Longest tag label, in characters (longer names are shortened).
const MAX_LABEL: usize = 28;

pub(super) const BACKGROUND: [u8; 3] = [255, 255, 255];
pub(super) const INK: [u8; 3] = [30, 30, 30];
pub(super) const AXIS: [u8; 3] = [90, 90, 90];

/// The heat map's placement and everything drawn around it.
pub(super) struct Plot {
    /// Tag index of each row, top to bottom.
    pub rows: Vec<usize>,
    /// Row labels, in the order of `rows`.
    pub labels: Vec<String>,
    pub title: String,
    pub subtitle: Option<String>,
    pub n_frames: usize,
    /// Image size.
    pub width: usize,
    pub height: usize,
    /// Heat map: left, top, width, height.
    pub hx: usize,
    pub hy: usize,
    pub hw: usize,
    pub hh: usize,
    /// Time ticks: x position (a whole pixel column) and label.
    pub ticks: Vec<(usize, String)>,
    pub axis_title: &'static str,
    /// Legend bar: left, top, height.
    pub lx: usize,
    pub ly: usize,
    pub lh: usize,
}

/// One column of heat-map cells: its left edge and width in pixels, and the time steps
/// whose mean score it shows.
pub(super) struct Column {
    pub x: f64,
    pub w: f64,
    pub steps: Range<usize>,
}

impl Plot {
    /// Lays out `tl` with `top` rows (see [`Timeline::rows`]).
    pub(super) fn new(tl: &Timeline, top: Option<usize>) -> Result<Plot> {
        check_drawable(tl)?;
        let rows = tl.rows(top)?;
        let labels: Vec<String> = rows.iter().map(|&t| label(&tl.tag_names[t])).collect();
        let n_frames = tl.frames.len();
        let duration = tl.duration_s();

        let label_w = labels.iter().map(|l| text_width(l, FONT_PX)).max();
        let hx = MARGIN + label_w.unwrap_or(0) + 10;
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
        // Wide enough for the legend's tick labels ("0.25") and the title lines.
        let legend_right = lx + LEGEND_W + TICK_LEN + 4 + text_width("0.00", FONT_PX) + MARGIN;
        let width = [
            MARGIN + text_width(&title, TITLE_PX) + MARGIN,
            subtitle
                .as_ref()
                .map_or(0, |s| MARGIN + text_width(s, FONT_PX) + MARGIN),
        ]
        .into_iter()
        .fold(legend_right, usize::max);
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

    /// Legend tick values with the pixel row they mark.
    pub(super) fn legend_ticks(&self) -> Vec<(f32, usize)> {
        [0.0f32, 0.25, 0.5, 0.75, 1.0]
            .iter()
            .map(|&v| {
                let y = self.ly + ((1.0 - v) * (self.lh - 1) as f32).round() as usize;
                (v, y)
            })
            .collect()
    }

    /// The columns of cells, left to right: one per time step, or, with `per_pixel` and
    /// more time steps than pixel columns, one per pixel column showing the mean of the
    /// steps it covers (so that a raster shows every step instead of a sample of them).
    pub(super) fn columns(&self, per_pixel: bool) -> Vec<Column> {
        let (n, hw) = (self.n_frames, self.hw);
        if per_pixel && n > hw {
            (0..hw)
                .map(|px| {
                    let i0 = px * n / hw;
                    let i1 = ((px + 1) * n / hw).max(i0 + 1);
                    Column {
                        x: (self.hx + px) as f64,
                        w: 1.0,
                        steps: i0..i1,
                    }
                })
                .collect()
        } else {
            let cw = hw as f64 / n as f64;
            (0..n)
                .map(|i| Column {
                    x: self.hx as f64 + i as f64 * cw,
                    w: cw,
                    steps: i..i + 1,
                })
                .collect()
        }
    }
}

/// Refuses timelines that cannot be drawn, saying why.
fn check_drawable(tl: &Timeline) -> Result<()> {
    let invalid = |reason: String| {
        Err(Error::Output {
            what: "timeline".to_string(),
            reason,
        })
    };
    if !(tl.hop_s.is_finite() && tl.hop_s > 0.0) {
        return invalid(format!(
            "hop_s must be a positive number of seconds, got {}",
            tl.hop_s
        ));
    }
    if tl.frames.is_empty() {
        return invalid(
            "no time steps to draw (is the audio shorter than one analysis step?)".into(),
        );
    }
    if tl.tag_names.is_empty() {
        return invalid("no tag names to label the rows with".into());
    }
    Ok(())
}

/// Ticks along the time axis (x pixel column, label) and the axis title: seconds for
/// short timelines, `m:ss` from two minutes on; a "nice" step chosen so labels don't
/// overlap.
pub(super) fn time_ticks(
    duration: f64,
    hx: usize,
    hw: usize,
) -> (Vec<(usize, String)>, &'static str) {
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
    let min_gap = text_width(&"0".repeat(widest), FONT_PX) as f64;
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
        // Whole pixel columns, so that a 1-pixel tick line is drawn sharp.
        let x = (hx as f64 + t * px_per_s).round() as usize;
        ticks.push((x, fmt(t, step)));
        k += 1;
    }
    let title = if use_clock { "time (m:ss)" } else { "time (s)" };
    (ticks, title)
}

/// `m:ss` (decimals = 0) or `m:ss.s` (decimals = 1).
pub(super) fn clock(t: f64, decimals: u32) -> String {
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

/// Width in pixels that `s` takes at font size `px`, at most: the advance of a monospace
/// font (DejaVu Sans Mono's is 0.60 em) with a little to spare; proportional fonts that
/// stand in for it are narrower.
pub(super) fn text_width(s: &str, px: usize) -> usize {
    (s.chars().count() * px * 62).div_ceil(100)
}
