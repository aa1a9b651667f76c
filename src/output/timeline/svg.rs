//! The drawing, written as an SVG document; the PNG is this document rendered.
//!
//! Lines one pixel wide are drawn as rectangles on whole pixels with `crispEdges`, so that
//! they render as exactly one sharp row or column of pixels.

use std::fmt::Write as _;

use super::colormap::{colormap, hex, LEGEND_STOPS};
use super::layout::{
    Plot, AXIS, AXIS_H, BACKGROUND, FONT_PX, INK, LEGEND_W, MARGIN, ROW_H, TEXT_H, TICK_LEN,
    TITLE_H, TITLE_PX,
};
use super::Timeline;

/// Font families of all text, best first; `png` makes sure the last one, the generic
/// `monospace`, names a font that exists.
pub(super) const FONT_FAMILIES: &str = "DejaVu Sans Mono, Menlo, Consolas, monospace";

// `write!` into a String cannot fail: the results below are ignored on purpose.

impl Plot {
    /// The whole drawing as an SVG document. `per_pixel`: see [`Plot::columns`].
    pub(super) fn svg(&self, tl: &Timeline, per_pixel: bool) -> String {
        let mut s = String::with_capacity(4096 + self.rows.len() * self.n_frames * 90);
        self.svg_head(&mut s);
        self.svg_labels(&mut s);
        self.svg_cells(&mut s, tl, per_pixel);
        self.svg_time_axis(&mut s);
        self.svg_legend(&mut s);
        s.push_str("</svg>\n");
        s
    }

    /// The `<svg>` element, background, title and subtitle.
    fn svg_head(&self, s: &mut String) {
        let (w, h) = (self.width, self.height);
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="{FONT_FAMILIES}" font-size="{FONT_PX}">"#
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
            r#"<text class="title" x="{MARGIN}" y="{}" fill="{ink}" font-size="{TITLE_PX}">{}</text>"#,
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
    }

    /// Row labels, right-aligned against the heat map.
    fn svg_labels(&self, s: &mut String) {
        let _ = writeln!(
            s,
            r#"<g class="labels" text-anchor="end" fill="{}">"#,
            hex(INK)
        );
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
    }

    /// One `<rect class="cell">` per row and column.
    fn svg_cells(&self, s: &mut String, tl: &Timeline, per_pixel: bool) {
        let columns = self.columns(per_pixel);
        let _ = writeln!(s, r#"<g class="heatmap" shape-rendering="crispEdges">"#);
        for (r, &t) in self.rows.iter().enumerate() {
            let y = self.hy + r * ROW_H;
            for c in &columns {
                let _ = writeln!(
                    s,
                    r#"<rect class="cell" x="{}" y="{y}" width="{}" height="{ROW_H}" fill="{}"/>"#,
                    num(c.x),
                    num(c.w),
                    hex(colormap(tl.mean_value(c.steps.clone(), t)))
                );
            }
        }
        s.push_str("</g>\n");
    }

    /// The axis line under the heat map, its ticks and labels, and the axis title.
    fn svg_time_axis(&self, s: &mut String) {
        let ay = self.hy + self.hh;
        let _ = writeln!(
            s,
            r#"<g class="time-axis" fill="{}" text-anchor="middle">"#,
            hex(INK)
        );
        let axis = hex(AXIS);
        let _ = writeln!(
            s,
            r#"<rect class="axis-line" x="{}" y="{ay}" width="{}" height="1" fill="{axis}" shape-rendering="crispEdges"/>"#,
            self.hx,
            self.hw + 1
        );
        for (x, text) in &self.ticks {
            let _ = writeln!(
                s,
                r#"<rect class="tick" x="{x}" y="{ay}" width="1" height="{}" fill="{axis}" shape-rendering="crispEdges"/><text x="{}" y="{}">{}</text>"#,
                TICK_LEN + 1,
                num(*x as f64 + 0.5),
                ay + TICK_LEN + 4 + TEXT_H - 2,
                xml_escape(text),
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}">{}</text>"#,
            num(self.hx as f64 + self.hw as f64 / 2.0),
            ay + AXIS_H - 2,
            self.axis_title
        );
        s.push_str("</g>\n");
    }

    /// The colour legend: a vertical gradient (1 at the top) in a frame, with ticks.
    fn svg_legend(&self, s: &mut String) {
        s.push_str(r#"<defs><linearGradient id="score-ramp" x1="0" y1="1" x2="0" y2="0">"#);
        s.push('\n');
        for k in 0..=LEGEND_STOPS {
            let v = k as f32 / LEGEND_STOPS as f32;
            let _ = writeln!(
                s,
                r#"<stop offset="{}" stop-color="{}"/>"#,
                num(f64::from(v)),
                hex(colormap(v))
            );
        }
        s.push_str("</linearGradient></defs>\n");
        let axis = hex(AXIS);
        let _ = writeln!(
            s,
            r#"<g class="legend" fill="{}"><text x="{}" y="{}">score</text>"#,
            hex(INK),
            self.lx,
            self.ly - 12
        );
        // A one-pixel frame: a rectangle behind the bar, one pixel larger all round.
        let _ = writeln!(
            s,
            r#"<rect class="legend-frame" x="{}" y="{}" width="{}" height="{}" fill="{axis}" shape-rendering="crispEdges"/>"#,
            self.lx - 1,
            self.ly - 1,
            LEGEND_W + 2,
            self.lh + 2
        );
        let _ = writeln!(
            s,
            r##"<rect class="legend-bar" x="{}" y="{}" width="{LEGEND_W}" height="{}" fill="url(#score-ramp)" shape-rendering="crispEdges"/>"##,
            self.lx, self.ly, self.lh
        );
        let tx = self.lx + LEGEND_W;
        for (v, y) in self.legend_ticks() {
            let _ = writeln!(
                s,
                r#"<rect class="tick" x="{tx}" y="{y}" width="{TICK_LEN}" height="1" fill="{axis}" shape-rendering="crispEdges"/><text x="{}" y="{}">{v:.2}</text>"#,
                tx + TICK_LEN + 4,
                y + 5,
            );
        }
        s.push_str("</g>\n");
    }
}

/// A coordinate with at most 3 decimals and no trailing zeros.
pub(super) fn num(x: f64) -> String {
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// `s` as XML text: markup characters escaped, control characters (not allowed in
/// XML 1.0) replaced by spaces.
pub(super) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}
