use super::colormap::{colormap_f, hex};
use super::layout::*;
use super::svg::{num, xml_escape};
use super::*;

fn sample(n_frames: usize) -> Timeline {
    let tag_names: Vec<String> = (0..30).map(|t| format!("tag <{t}> & co")).collect();
    let frames = (0..n_frames)
        .map(|i| {
            (0..30)
                .map(|t| {
                    let phase = i as f32 / n_frames.max(1) as f32;
                    (((t as f32 * 0.37 + phase * 6.0).sin() + 1.0) / 2.0) * (t as f32 / 30.0)
                })
                .collect()
        })
        .collect();
    Timeline {
        hop_s: 0.5,
        tag_names,
        frames,
        subtitle: None,
    }
}

fn decode(bytes: &[u8]) -> (::png::OutputInfo, Vec<u8>) {
    let decoder = ::png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("buffer size")];
    let info = reader.next_frame(&mut buf).expect("PNG frame");
    (info, buf)
}

/// Relative luminance (linear light) of an sRGB colour given in 0..255.
fn luminance(c: [f32; 3]) -> f32 {
    let lin = |v: f32| {
        let v = v / 255.0;
        if v <= 0.04045 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2])
}

/// Text ink: the dark grey of [`INK`] and the anti-aliased edges of glyphs drawn with it
/// (dark and without colour, unlike any colour of the colormap).
fn is_ink(c: &[u8]) -> bool {
    let (lo, hi) = (c.iter().min(), c.iter().max());
    matches!((lo, hi), (Some(&lo), Some(&hi)) if hi < 128 && hi - lo < 8)
}

#[test]
fn colormap_endpoints() {
    assert_eq!(colormap(0.0), [68, 1, 84]);
    assert_eq!(colormap(1.0), [253, 231, 37]);
    assert_eq!(colormap(-5.0), colormap(0.0));
    assert_eq!(colormap(7.0), colormap(1.0));
    assert_eq!(colormap(f32::INFINITY), colormap(1.0));
    assert_eq!(colormap(f32::NAN), NO_DATA);
}

#[test]
fn colormap_luminance_is_monotonic() {
    let mut prev = -1.0f32;
    for k in 0..=1000 {
        let l = luminance(colormap_f(k as f32 / 1000.0));
        assert!(
            l > prev,
            "luminance drops at {}: {l} <= {prev}",
            k as f32 / 1000.0
        );
        prev = l;
    }
    // The 8-bit colours rise too, up to rounding.
    let mut prev = -1.0f32;
    for k in 0..=255 {
        let c = colormap(k as f32 / 255.0);
        let l = luminance([f32::from(c[0]), f32::from(c[1]), f32::from(c[2])]);
        assert!(l >= prev - 1e-3, "at {k}");
        prev = prev.max(l);
    }
}

#[test]
fn rows_pick_highest_max_sorted_by_mean() {
    let tl = Timeline {
        hop_s: 1.0,
        tag_names: ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect(),
        frames: vec![
            vec![0.1, 0.9, 0.5, 0.0],
            vec![0.1, 0.0, 0.5, f32::NAN],
            vec![0.95, 0.0, 0.5, 0.2],
        ],
        subtitle: None,
    };
    // max: a .95, b .9, c .5, d .2 -> top 3 = a, b, c; means: a .383, b .3, c .5.
    assert_eq!(tl.rows(Some(3)).expect("rows"), vec![2, 0, 1]);
    assert_eq!(tl.rows(None).expect("rows").len(), 4);
    assert!(tl.rows(Some(0)).is_err());
}

#[test]
fn default_is_top_20() {
    assert_eq!(sample(10).rows(None).expect("rows").len(), DEFAULT_TOP);
}

#[test]
fn svg_has_one_rect_per_cell_and_labels() {
    let tl = sample(37);
    let svg = tl.to_svg(Some(5)).expect("svg");
    assert!(svg.starts_with("<svg"));
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<rect class=\"cell\"").count(), 5 * 37);
    for &t in &tl.rows(Some(5)).expect("rows") {
        let escaped = xml_escape(&tl.tag_names[t]);
        assert!(
            svg.contains(&format!(">{escaped}</text>")),
            "label of tag {t}"
        );
    }
    assert!(!svg.contains("<0>"), "names are escaped");
    assert!(svg.contains("time (s)"));
    assert!(svg.contains("linearGradient"));
    // Balanced tags, roughly: every opened <g> and <text> is closed.
    assert_eq!(svg.matches("<g ").count(), svg.matches("</g>").count());
    assert_eq!(
        svg.matches("<text ").count(),
        svg.matches("</text>").count()
    );
    assert!(!svg.contains("NaN") && !svg.contains("inf"));
}

#[test]
fn long_timelines_use_mm_ss_ticks() {
    let tl = sample(600); // 300 s
    let svg = tl.to_svg(Some(3)).expect("svg");
    assert!(svg.contains("time (m:ss)"));
    assert!(
        svg.contains(">1:00</text>") || svg.contains(">2:00</text>"),
        "tick labels"
    );
    let (ticks, _) = time_ticks(300.0, 0, 1200);
    assert!(ticks.len() >= 3 && ticks.len() <= 30, "{ticks:?}");
    assert_eq!(ticks[0].1, "0:00");
}

#[test]
fn png_decodes_with_expected_size_and_heat_map_pixels() {
    let tl = sample(50);
    let bytes = tl.to_png(Some(6)).expect("png");
    let plot = Plot::new(&tl, Some(6)).expect("layout");
    let (info, buf) = decode(&bytes);
    assert_eq!(info.width as usize, plot.width);
    assert_eq!(info.height as usize, plot.height);
    assert_eq!(info.color_type, ::png::ColorType::Rgb);
    assert_eq!(plot.hh, 6 * ROW_H);
    assert_eq!(plot.hw, 50 * 24);

    let pixel = |x: usize, y: usize| {
        let o = (y * plot.width + x) * 3;
        [buf[o], buf[o + 1], buf[o + 2]]
    };
    // Every heat-map pixel is painted, and with the colour of its cell.
    for y in (plot.hy..plot.hy + plot.hh).step_by(5) {
        for x in (plot.hx..plot.hx + plot.hw).step_by(7) {
            assert_ne!(pixel(x, y), BACKGROUND, "({x},{y})");
        }
    }
    let rows = tl.rows(Some(6)).expect("rows");
    let (x, y) = (plot.hx + 24 * 10 + 3, plot.hy + ROW_H * 2 + 4);
    assert_eq!(pixel(x, y), colormap(tl.value(10, rows[2])));
    // Labels drew ink left of the heat map.
    let ink = (plot.hy..plot.hy + plot.hh)
        .flat_map(|y| (MARGIN..plot.hx).map(move |x| (x, y)))
        .filter(|&(x, y)| is_ink(&pixel(x, y)))
        .count();
    assert!(ink > 50, "row labels drawn ({ink} ink pixels)");
}

#[test]
fn long_png_is_averaged_down() {
    let tl = sample(5000);
    let plot = Plot::new(&tl, Some(2)).expect("layout");
    assert_eq!(plot.hw, MAX_W);
    let (info, buf) = decode(&tl.to_png(Some(2)).expect("png"));
    assert_eq!(info.width as usize, plot.width);
    // Each pixel column shows the mean of the steps it covers (5000 steps in 2400 px).
    let rows = tl.rows(Some(2)).expect("rows");
    for px in [0, 1, 777, MAX_W - 1] {
        let i0 = px * 5000 / MAX_W;
        let i1 = ((px + 1) * 5000 / MAX_W).max(i0 + 1);
        let (x, y) = (plot.hx + px, plot.hy + ROW_H + ROW_H / 2);
        let o = (y * plot.width + x) * 3;
        let want = colormap(tl.mean_value(i0..i1, rows[1]));
        assert_eq!(buf[o..o + 3], want, "pixel column {px}");
    }
}

#[test]
fn subtitle_says_what_the_columns_are_in_svg_and_png() {
    let mut tl = sample(4);
    let (plain_info, _) = decode(&tl.to_png(None).expect("png"));
    let sub = "each column: mean of the last 10 s (--window), every 0.5 s; a long line indeed";
    tl.subtitle = Some(sub.to_string());
    let svg = tl.to_svg(None).expect("svg");
    assert!(
        svg.contains(&format!(r#"<text class="subtitle" x="{MARGIN}""#)),
        "{svg}"
    );
    assert!(svg.contains(&xml_escape(sub)));
    let plot = Plot::new(&tl, None).expect("layout");
    assert!(plot.width >= 2 * MARGIN + text_width(sub, FONT_PX));
    let (info, px) = decode(&tl.to_png(None).expect("png"));
    assert_eq!(info.height, plain_info.height + SUBTITLE_H as u32);
    // The subtitle's line has ink.
    let row_bytes = info.width as usize * 3;
    let ink = (MARGIN + TITLE_H..MARGIN + TITLE_H + TEXT_H)
        .flat_map(|y| px[y * row_bytes..(y + 1) * row_bytes].chunks(3))
        .filter(|c| is_ink(c))
        .count();
    assert!(ink > 100, "{ink} ink pixels in the subtitle line");
}

#[test]
fn write_leaves_no_temporary_file_and_replaces_the_old_one() {
    let dir = std::env::temp_dir().join(format!("mstag-tl-atomic-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("t.svg");
    std::fs::write(&path, "old").expect("old file");
    sample(3).write(&path, None).expect("write");
    let names: Vec<_> = std::fs::read_dir(&dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["t.svg"]);
    assert!(std::fs::read_to_string(&path).unwrap().starts_with("<svg"));
    assert!(check_output_path(&path).is_ok());
    let e = check_output_path(&dir.join("missing/t.svg")).expect_err("no folder");
    assert!(e.to_string().contains("does not exist"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn write_chooses_format_by_extension() {
    let dir = std::env::temp_dir().join(format!("mstag-timeline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let tl = sample(20);
    let svg = dir.join("t.SVG");
    let png_path = dir.join("t.png");
    tl.write(&svg, Some(4)).expect("write svg");
    tl.write(&png_path, None).expect("write png");
    let svg_text = std::fs::read_to_string(&svg).expect("read svg");
    assert!(svg_text.starts_with("<svg"));
    let png_bytes = std::fs::read(&png_path).expect("read png");
    assert_eq!(&png_bytes[..8], b"\x89PNG\r\n\x1a\n");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_extension_is_a_clear_error() {
    let tl = sample(5);
    for p in ["out/timeline.jpg", "timeline"] {
        let err = tl.write(Path::new(p), None).expect_err("must fail");
        let msg = err.to_string();
        assert!(msg.contains(p), "{msg}");
        assert!(msg.contains(".svg") && msg.contains(".png"), "{msg}");
    }
    assert!(!Path::new("out/timeline.jpg").exists());
}

#[test]
fn write_failure_names_the_path() {
    let tl = sample(5);
    let p = Path::new("/nonexistent-dir-mstag/x.svg");
    let msg = tl.write(p, None).expect_err("must fail").to_string();
    assert!(msg.contains("/nonexistent-dir-mstag/x.svg"), "{msg}");
}

#[test]
fn empty_or_invalid_timelines_are_errors() {
    let mut tl = sample(0);
    assert!(tl.to_svg(None).is_err());
    tl = sample(3);
    tl.hop_s = 0.0;
    assert!(tl.to_png(None).is_err());
    tl.hop_s = f64::NAN;
    assert!(tl.to_svg(None).is_err());
    tl = sample(3);
    tl.tag_names.clear();
    assert!(tl.to_svg(None).is_err());
}

#[test]
fn ragged_frames_and_nan_draw_as_no_data() {
    let tl = Timeline {
        hop_s: 1.0,
        tag_names: vec!["x".into(), "y".into()],
        frames: vec![vec![0.5, 0.5], vec![f32::NAN], vec![0.1, 0.9, 0.3]],
        subtitle: None,
    };
    let svg = tl.to_svg(None).expect("svg");
    assert_eq!(svg.matches("<rect class=\"cell\"").count(), 6);
    assert!(svg.contains(&hex(NO_DATA)));
    let (info, buf) = decode(&tl.to_png(None).expect("png"));
    assert!(info.width > 0);
    // Step 1 has no score for either tag: grey in both rows of the PNG too.
    let plot = Plot::new(&tl, None).expect("layout");
    let cw = plot.hw / 3;
    for r in 0..2 {
        let (x, y) = (plot.hx + cw + cw / 2, plot.hy + r * ROW_H + ROW_H / 2);
        let o = (y * plot.width + x) * 3;
        assert_eq!(buf[o..o + 3], NO_DATA, "row {r}");
    }
}

#[test]
fn num_formatting() {
    assert_eq!(num(12.0), "12");
    assert_eq!(num(0.48), "0.48");
    assert_eq!(num(1.23456), "1.235");
    assert_eq!(num(-0.0), "0");
}

/// The value of attribute `name` in one line of SVG.
fn attr<'a>(line: &'a str, name: &str) -> &'a str {
    let key = format!(" {name}=\"");
    let start = line.find(&key).map(|k| k + key.len()).expect("attribute");
    let len = line[start..].find('"').expect("closing quote");
    &line[start..start + len]
}

fn attr_f(line: &str, name: &str) -> f64 {
    attr(line, name).parse().expect("a number")
}

#[test]
fn png_shows_every_svg_cell_in_its_colour_and_place() {
    let mut tl = sample(23);
    tl.frames[4][7] = f32::NAN;
    let svg = tl.to_svg(Some(8)).expect("svg");
    let (info, buf) = decode(&tl.to_png(Some(8)).expect("png"));
    let head = svg.lines().next().expect("svg element");
    assert_eq!(f64::from(info.width), attr_f(head, "width"));
    assert_eq!(f64::from(info.height), attr_f(head, "height"));
    let pixel = |x: f64, y: f64| {
        let o = (y as usize * info.width as usize + x as usize) * 3;
        [buf[o], buf[o + 1], buf[o + 2]]
    };
    let cells: Vec<&str> = svg
        .lines()
        .filter(|l| l.starts_with("<rect class=\"cell\""))
        .collect();
    assert_eq!(cells.len(), 8 * 23);
    for cell in &cells {
        let (x, y) = (attr_f(cell, "x"), attr_f(cell, "y"));
        let (w, h) = (attr_f(cell, "width"), attr_f(cell, "height"));
        let fill = attr(cell, "fill");
        // Corners (one pixel in) and centre of the cell carry its colour.
        for (px, py) in [
            (x + 1.0, y + 1.0),
            (x + w / 2.0, y + h / 2.0),
            (x + w - 1.0, y + h - 1.0),
        ] {
            assert_eq!(hex(pixel(px, py)), fill, "{cell} at ({px},{py})");
        }
    }
    // The cells are the known scores in the known rows: row 2, step 9.
    let plot = Plot::new(&tl, Some(8)).expect("layout");
    let rows = tl.rows(Some(8)).expect("rows");
    let cw = (plot.hw / 23) as f64;
    let (x, y) = (
        plot.hx as f64 + 9.5 * cw,
        (plot.hy + 2 * ROW_H + ROW_H / 2) as f64,
    );
    assert_eq!(pixel(x, y), colormap(tl.frames[9][rows[2]]));
}

#[test]
fn png_draws_labels_axis_and_legend_of_the_svg() {
    let tl = sample(30); // 15 s
    let (info, buf) = decode(&tl.to_png(Some(4)).expect("png"));
    let plot = Plot::new(&tl, Some(4)).expect("layout");
    let width = info.width as usize;
    let pixel = |x: usize, y: usize| {
        let o = (y * width + x) * 3;
        [buf[o], buf[o + 1], buf[o + 2]]
    };
    let ink_in = |xs: std::ops::Range<usize>, ys: std::ops::Range<usize>| {
        ys.flat_map(|y| xs.clone().map(move |x| (x, y)))
            .filter(|&(x, y)| is_ink(&pixel(x, y)))
            .count()
    };
    // Every row label, in its own row.
    for r in 0..4 {
        let ys = plot.hy + r * ROW_H..plot.hy + (r + 1) * ROW_H;
        assert!(ink_in(MARGIN..plot.hx, ys) > 20, "label of row {r}");
    }
    // The title.
    assert!(ink_in(MARGIN..plot.width / 2, MARGIN..MARGIN + TITLE_H) > 100);
    // The time axis: a line under the heat map, then each tick's label below its tick.
    let ay = plot.hy + plot.hh;
    for x in plot.hx..plot.hx + plot.hw {
        assert_eq!(pixel(x, ay), AXIS, "axis line at x={x}");
    }
    assert!(plot.ticks.len() >= 3, "{:?}", plot.ticks);
    for (x, text) in &plot.ticks {
        assert_eq!(pixel(*x, ay + TICK_LEN), AXIS, "tick {text}");
        let xs = x.saturating_sub(12)..x + 12;
        let ink = ink_in(xs, ay + TICK_LEN + 1..ay + TICK_LEN + 4 + TEXT_H);
        assert!(ink >= 4 * text.len(), "label {text}: {ink} ink pixels");
    }
    assert!(
        ink_in(
            plot.hx..plot.hx + plot.hw,
            ay + AXIS_H - TEXT_H..ay + AXIS_H
        ) > 30
    );
    // The legend bar follows the colormap, 1 at the top.
    let lx = plot.lx + LEGEND_W / 2;
    for y in [plot.ly + 1, plot.ly + plot.lh / 3, plot.ly + plot.lh - 2] {
        let v = 1.0 - ((y - plot.ly) as f32 + 0.5) / plot.lh as f32;
        let (got, want) = (pixel(lx, y), colormap(v));
        for k in 0..3 {
            assert!(
                got[k].abs_diff(want[k]) <= 3,
                "legend at y={y}: {got:?} vs {want:?}"
            );
        }
    }
    let right = plot.lx + LEGEND_W + TICK_LEN..plot.width;
    assert!(
        ink_in(right, plot.ly..plot.ly + plot.lh) > 40,
        "legend tick labels"
    );
}

#[test]
fn png_without_fonts_is_an_error_not_a_blank() {
    let svg = Plot::new(&sample(5), None)
        .expect("layout")
        .svg(&sample(5), true);
    let empty = std::sync::Arc::new(resvg::usvg::fontdb::Database::new());
    let msg = png::render(&svg, &empty).expect_err("no fonts").to_string();
    assert!(
        msg.contains("timeline PNG") && msg.contains("no fonts"),
        "{msg}"
    );
    assert!(
        msg.contains("fonts-dejavu") && msg.contains(".svg"),
        "{msg}"
    );
}

#[test]
fn png_labels_fall_back_to_any_font() {
    // Only proportional fonts: none of the families asked for is there.
    let mut db = (*png::system_fonts()).clone();
    let mono: Vec<_> = db.faces().filter(|f| f.monospaced).map(|f| f.id).collect();
    for id in mono {
        db.remove_face(id);
    }
    assert!(
        !db.is_empty(),
        "the test needs a proportional font (fonts-dejavu-core)"
    );
    db.set_monospace_family("no such family");
    png::choose_monospace(&mut db);
    let tl = sample(6);
    let plot = Plot::new(&tl, Some(3)).expect("layout");
    let bytes = png::render(&plot.svg(&tl, true), &std::sync::Arc::new(db)).expect("png");
    let (info, buf) = decode(&bytes);
    let row_bytes = info.width as usize * 3;
    let ink = (plot.hy..plot.hy + plot.hh)
        .flat_map(|y| buf[y * row_bytes..y * row_bytes + plot.hx * 3].chunks(3))
        .filter(|c| is_ink(c))
        .count();
    assert!(ink > 50, "row labels drawn ({ink} ink pixels)");
}
