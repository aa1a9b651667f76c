//! Live terminal view for `mstag-live`: the top tags of one view as horizontal bars,
//! redrawn in place so the display updates without scrolling.
//!
//! [`TerminalView::render`] is pure (scores in, text out) and is what the tests look at;
//! [`TerminalView::draw`] adds the ANSI cursor movement that overwrites the previous frame.
//!
//! The frame fits the terminal: [`TerminalView::draw`] asks for the size of the terminal on
//! standard output at every draw, shows no more tags than fit under the header (the line
//! below the frame stays free for the cursor, so the terminal never scrolls) and narrows the
//! bars, then the names, so no line wraps. When the size changes it clears the screen and
//! draws the frame afresh: the terminal may have re-wrapped or scrolled the old one, and
//! overwriting it line by line would leave stale rows.
//!
//! Synonyms (`no vocal`, `no vocals`, `no voice`, ...) share one row, under the group's name
//! with its best member's score ([`crate::synonyms`]); [`TerminalView::with_all_tags`] shows
//! every tag on its own.
//!
//! Heads of your own ([`TerminalView::with_heads`]) follow the tags: a line with the head's
//! name, then each of its labels, best first, from the same view.

use std::io::{self, Write};

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::scores::{HeadLabels, Scores, View};
use crate::synonyms::SynonymGroups;

/// Default width of a bar, in terminal cells, for a score of 1.0.
pub const DEFAULT_BAR_WIDTH: usize = 40;

/// Tag names longer than this are shortened with an ellipsis so the bars stay aligned.
const MAX_NAME_WIDTH: usize = 24;

/// In a narrow terminal the bars shrink to this before the names do, and the names to
/// [`MIN_NAME_WIDTH`] before the bars go.
const MIN_BAR_WIDTH: usize = 8;
const MIN_NAME_WIDTH: usize = 8;

/// Cells of a tag line besides the name and the bar: two spaces and a 5-cell score.
const LINE_EXTRA: usize = 7;

/// Partial blocks for 1/8 .. 7/8 of a cell (index = eighths - 1).
const PARTIAL_BLOCKS: [char; 7] = ['▏', '▎', '▍', '▌', '▋', '▊', '▉'];
const FULL_BLOCK: char = '█';

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const BAR_COLOR: &str = "\x1b[36m";
const TOP_BAR_COLOR: &str = "\x1b[1;32m";
/// Clears the whole screen and puts the cursor at its top left corner.
const CLEAR_SCREEN: &str = "\x1b[2J\x1b[H";

/// A terminal's size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermSize {
    /// Width, character cells.
    pub cols: usize,
    /// Height, lines.
    pub rows: usize,
}

impl TermSize {
    /// The size of the terminal on standard output; `None` when it is not a terminal.
    pub fn of_stdout() -> Option<TermSize> {
        terminal_size::terminal_size_of(io::stdout()).map(|(w, h)| TermSize {
            cols: w.0 as usize,
            rows: h.0 as usize,
        })
    }

    /// Widest line that is drawn: one cell short of the width, so that no terminal wraps
    /// early at the last column.
    fn line_width(self) -> usize {
        self.cols.saturating_sub(1).max(1)
    }

    /// Most lines a frame may take: one short of the height, as the cursor rests on the
    /// line below the frame.
    fn frame_lines(self) -> usize {
        self.rows.saturating_sub(1).max(1)
    }
}

/// A live, redraw-in-place terminal display of the top tags of one [`View`].
///
/// ```text
/// t 01:23.4 | view session | dropped 0 | listening
/// rock          ████████████████████████████▋           0.718
/// guitar        ██████████████████████▎                 0.557
/// ```
#[derive(Debug, Clone)]
pub struct TerminalView {
    tag_names: Vec<String>,
    entries: SynonymGroups,
    heads: Vec<HeadLabels>,
    top_n: usize,
    view: View,
    color: bool,
    bar_width: usize,
    name_width: usize,
    /// Lines written by the last [`draw`](Self::draw) (0 before the first one).
    last_lines: usize,
    /// Terminal size at the last draw, when known.
    last_size: Option<TermSize>,
}

impl TerminalView {
    /// A view showing the `top_n` best tags of `view`, with ANSI colours when `color` is true.
    /// Synonyms share a row ([`Self::with_all_tags`] turns that off).
    ///
    /// `tag_names` are in manifest order; a score without a name is shown as `tag<i>`.
    pub fn new(tag_names: Vec<String>, top_n: usize, view: View, color: bool) -> Self {
        let entries = SynonymGroups::new(&tag_names);
        TerminalView {
            name_width: name_width(&entries),
            tag_names,
            entries,
            heads: Vec::new(),
            top_n,
            view,
            color,
            bar_width: DEFAULT_BAR_WIDTH,
            last_lines: 0,
            last_size: None,
        }
    }

    /// With `all` true every tag gets its own row, synonyms included (`--all-tags`).
    pub fn with_all_tags(mut self, all: bool) -> Self {
        self.entries = SynonymGroups::with(&self.tag_names, !all);
        self.name_width = name_width(&self.entries).max(head_label_width(&self.heads));
        self
    }

    /// Shows the scores of `heads` ([`Scores::heads`]) after the tags: each head's name, then
    /// all its labels, best first.
    pub fn with_heads(mut self, heads: Vec<HeadLabels>) -> Self {
        self.heads = heads;
        self.name_width = name_width(&self.entries).max(head_label_width(&self.heads));
        self
    }

    /// Sets the width of a full bar (score 1.0) in terminal cells (at least 1); a narrower
    /// terminal shortens it.
    pub fn with_bar_width(mut self, width: usize) -> Self {
        self.bar_width = width.max(1);
        self
    }

    /// The view whose scores are shown.
    pub fn view(&self) -> View {
        self.view
    }

    /// Switches to another view (e.g. on a key press); takes effect on the next draw.
    pub fn set_view(&mut self, view: View) {
        self.view = view;
    }

    /// Number of lines the last [`draw`](Self::draw) wrote (what the next one moves up over).
    pub fn lines_drawn(&self) -> usize {
        self.last_lines
    }

    /// Forgets the previous frame, so the next [`draw`](Self::draw) starts on a fresh line
    /// instead of overwriting (use after something else was printed to the terminal).
    pub fn reset(&mut self) {
        self.last_lines = 0;
    }

    /// The frame as text, whatever the terminal's size: [`Self::render_sized`] without one.
    pub fn render(&self, s: &Scores, status: &str) -> String {
        self.render_sized(s, status, None)
    }

    /// The frame as text: a header line, then one line per shown tag, each ending in `\n`;
    /// with a `size`, no more lines than fit above the cursor's line and none wider than
    /// the width less one cell.
    ///
    /// The header holds the audio time (`mm:ss.s`), the view name, the dropped-frame count,
    /// `silent` and `looped` marks, and `status` (control characters replaced by spaces so
    /// the line count stays right). Tags are the `top_n` best entries of the view (a
    /// synonym group counts once, with its best member's score), best first; non-finite
    /// scores rank last, draw an empty bar and print as `-.---`, never `NaN`.
    pub fn render_sized(&self, s: &Scores, status: &str, size: Option<TermSize>) -> String {
        let width = size.map(TermSize::line_width);
        let mut out = String::new();
        out.push_str(&self.paint(BOLD, &fit(&self.header(s, status), width)));
        out.push('\n');
        let rows = size.map_or(usize::MAX, |z| z.frame_lines() - 1);

        let scores = s.view(self.view);
        if scores.is_empty() || s.seq == 0 {
            if rows > 0 {
                let waiting = fit("  (waiting for the first scores)", width);
                out.push_str(&self.paint(DIM, &waiting));
                out.push('\n');
            }
            return out;
        }
        let (name_w, bar_w) = self.columns(width);
        let head_lines = self.head_lines(s);
        // Tags first; heads get what is left, but never push the tags under 3 rows.
        let tag_rows = rows.saturating_sub(head_lines.len()).max(rows.min(3));
        for (rank, (name, score)) in self.ranked(scores).into_iter().take(tag_rows).enumerate() {
            self.push_line(&mut out, &name, score, rank == 0, (name_w, bar_w), width);
        }
        let left = rows.saturating_sub(tag_rows.min(self.top_n));
        for (name, score) in head_lines.into_iter().take(left) {
            match score {
                None => {
                    out.push_str(&self.paint(DIM, &fit(&format!("[{name}]"), width)));
                    out.push('\n');
                }
                Some((score, top)) => {
                    self.push_line(&mut out, &name, score, top, (name_w, bar_w), width)
                }
            }
        }
        out
    }

    /// One name-bar-score line.
    fn push_line(
        &self,
        out: &mut String,
        name: &str,
        score: f32,
        top: bool,
        (name_w, bar_w): (usize, usize),
        width: Option<usize>,
    ) {
        let name = pad(&fit(name, Some(name_w)), name_w);
        let value = format_score(score);
        if bar_w == 0 {
            // Too narrow for a bar: the name and the score, cut to the width.
            out.push_str(&self.paint("", &fit(&format!("{name} {value}"), width)));
            out.push('\n');
            return;
        }
        let bar = bar(score, bar_w);
        if self.color {
            let (name_style, bar_style) = if top {
                (BOLD, TOP_BAR_COLOR)
            } else {
                ("", BAR_COLOR)
            };
            out.push_str(&format!(
                "{name_style}{name}{RESET} {bar_style}{bar}{RESET} {value}\n"
            ));
        } else {
            out.push_str(&format!("{name} {bar} {value}\n"));
        }
    }

    /// The heads' lines: a name line (no score), then each label with its score and whether
    /// it is the head's best, best first.
    fn head_lines(&self, s: &Scores) -> Vec<(String, Option<(f32, bool)>)> {
        let mut lines = Vec::new();
        for (h, mine) in crate::scores::per_head(&self.heads, s.head_view(self.view)) {
            lines.push((h.name.clone(), None));
            for (rank, i) in crate::scores::top_k(mine, mine.len())
                .into_iter()
                .enumerate()
            {
                lines.push((format!("  {}", h.labels[i]), Some((mine[i], rank == 0))));
            }
        }
        lines
    }

    /// Writes the frame over the previous one, sized to the terminal on standard output
    /// ([`TermSize::of_stdout`]; unsized when that is not a terminal).
    pub fn draw(&mut self, out: &mut impl Write, s: &Scores, status: &str) -> io::Result<()> {
        self.draw_sized(out, s, status, TermSize::of_stdout())
    }

    /// Writes the frame from [`render_sized`](Self::render_sized) over the previous one.
    ///
    /// On every draw after the first it moves the cursor up by the number of lines drawn
    /// last time (`ESC[<n>A`), clears and rewrites each line (`ESC[2K`), and clears below the
    /// new frame (`ESC[J`) in case it is shorter. When `size` differs from the last draw's
    /// it clears the screen instead (`ESC[2J ESC[H`) and draws the frame at the top. The
    /// writer is flushed. Call [`reset`](Self::reset) after printing anything else between
    /// two draws.
    pub fn draw_sized(
        &mut self,
        out: &mut impl Write,
        s: &Scores,
        status: &str,
        size: Option<TermSize>,
    ) -> io::Result<()> {
        let frame = self.render_sized(s, status, size);
        let mut buf = String::with_capacity(frame.len() + 16 * (self.last_lines + 2));
        if self.last_lines > 0 && size.is_some() && size != self.last_size {
            buf.push_str(CLEAR_SCREEN);
        } else if self.last_lines > 0 {
            buf.push_str(&format!("\r\x1b[{}A", self.last_lines));
        }
        let mut lines = 0;
        for line in frame.lines() {
            buf.push_str("\r\x1b[2K");
            buf.push_str(line);
            buf.push('\n');
            lines += 1;
        }
        buf.push_str("\x1b[J");
        out.write_all(buf.as_bytes())?;
        out.flush()?;
        self.last_lines = lines;
        self.last_size = size.or(self.last_size);
        Ok(())
    }

    /// Name and bar widths for a line of at most `width` cells: the bar shrinks first (to
    /// [`MIN_BAR_WIDTH`]), then the names (to [`MIN_NAME_WIDTH`]), then the bar goes.
    fn columns(&self, width: Option<usize>) -> (usize, usize) {
        let (mut name_w, bar_w) = (self.name_width, self.bar_width);
        let Some(w) = width else {
            return (name_w, bar_w);
        };
        if name_w + bar_w + LINE_EXTRA <= w {
            return (name_w, bar_w);
        }
        if name_w + MIN_BAR_WIDTH + LINE_EXTRA > w {
            name_w = name_w.min(
                w.saturating_sub(MIN_BAR_WIDTH + LINE_EXTRA)
                    .max(MIN_NAME_WIDTH),
            );
        }
        match w.checked_sub(name_w + LINE_EXTRA) {
            Some(b) if b > 0 => (name_w, b.min(bar_w)),
            // No room for a bar: "name score" in what is left.
            _ => (name_w.min(w.saturating_sub(LINE_EXTRA - 1)).max(1), 0),
        }
    }

    /// The entries (synonym groups or single tags) with their scores, best first; a group's
    /// score is its best member's. Unlike [`SynonymGroups::top`], which counts a non-finite
    /// score as 0, non-finite scores rank last here and are kept, so they print as `-.---`.
    fn ranked(&self, scores: &[f32]) -> Vec<(String, f32)> {
        let rank = |x: f32| if x.is_finite() { x } else { f32::NEG_INFINITY };
        let best = |members: &mut dyn Iterator<Item = usize>| {
            members
                .filter_map(|i| scores.get(i).copied())
                .reduce(|a, b| if rank(b) > rank(a) { b } else { a })
        };
        let mut list: Vec<(String, f32)> = self
            .entries
            .groups()
            .iter()
            .filter_map(|g| Some((g.name.clone(), best(&mut g.members.iter().copied())?)))
            .collect();
        // Scores beyond the names (a manifest with fewer names) are shown as `tag<i>`.
        list.extend((self.tag_names.len()..scores.len()).map(|i| (format!("tag{i}"), scores[i])));
        // Stable: ties keep manifest order.
        list.sort_by(|a, b| rank(b.1).total_cmp(&rank(a.1)));
        list.truncate(self.top_n);
        list
    }

    fn header(&self, s: &Scores, status: &str) -> String {
        let status: String = status
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let mut header = format!(
            "t {} | view {} | dropped {}",
            format_clock(s.t),
            self.view.name(),
            s.dropped
        );
        if s.silent {
            header.push_str(" | silent");
        }
        if s.looped {
            header.push_str(" | looped (short clip)");
        }
        if !status.trim().is_empty() {
            header.push_str(" | ");
            header.push_str(status.trim());
        }
        header
    }

    fn paint(&self, style: &str, text: &str) -> String {
        if self.color && !style.is_empty() {
            format!("{style}{text}{RESET}")
        } else {
            text.to_string()
        }
    }
}

/// Width of the name column: the longest shown name, 4 to [`MAX_NAME_WIDTH`] cells.
fn name_width(entries: &SynonymGroups) -> usize {
    entries
        .groups()
        .iter()
        .map(|g| g.name.width())
        .max()
        .unwrap_or(0)
        .clamp(4, MAX_NAME_WIDTH)
}

/// Width of the head labels' names (indented by two), at most [`MAX_NAME_WIDTH`] cells.
fn head_label_width(heads: &[HeadLabels]) -> usize {
    heads
        .iter()
        .flat_map(|h| h.labels.iter().map(|l| l.width() + 2))
        .max()
        .unwrap_or(0)
        .min(MAX_NAME_WIDTH)
}

/// `mm:ss.s` for a time in seconds (minutes keep counting past 59; negative or
/// non-finite times show as `00:00.0`).
pub fn format_clock(t: f64) -> String {
    let tenths = if t.is_finite() && t > 0.0 {
        (t * 10.0).round().min(u64::MAX as f64) as u64
    } else {
        0
    };
    format!(
        "{:02}:{:02}.{}",
        tenths / 600,
        (tenths % 600) / 10,
        tenths % 10
    )
}

/// A score with three decimals, or `-.---` when it is not finite.
fn format_score(x: f32) -> String {
    if x.is_finite() {
        format!("{x:.3}")
    } else {
        "-.---".to_string()
    }
}

/// A bar of exactly `width` cells: `score` (clamped to 0..1, non-finite = 0) of them filled
/// with block characters at 1/8-cell resolution, the rest spaces.
fn bar(score: f32, width: usize) -> String {
    let v = if score.is_finite() {
        score.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let eighths = (v as f64 * width as f64 * 8.0).round() as usize;
    let full = (eighths / 8).min(width);
    let part = eighths % 8;
    let mut s = String::with_capacity(width * 3);
    s.extend(std::iter::repeat_n(FULL_BLOCK, full));
    let mut used = full;
    if part > 0 && used < width {
        s.push(PARTIAL_BLOCKS[part - 1]);
        used += 1;
    }
    s.extend(std::iter::repeat_n(' ', width - used));
    s
}

/// `text` shortened to at most `width` cells with a trailing `…` when too long; unchanged
/// without a width.
fn fit(text: &str, width: Option<usize>) -> String {
    let Some(width) = width else {
        return text.to_string();
    };
    if text.width() <= width {
        return text.to_string();
    }
    let mut s = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        s.push(c);
        used += w;
    }
    if width > 0 {
        s.push('…');
    }
    s
}

/// `text` followed by spaces up to `width` cells.
fn pad(text: &str, width: usize) -> String {
    let mut s = text.to_string();
    s.extend(std::iter::repeat_n(' ', width.saturating_sub(text.width())));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["rock", "jazz", "guitar", "female vocals"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn scores(vals: &[f32]) -> Scores {
        let mut s = Scores {
            n_tags: vals.len(),
            t: 83.45,
            dropped: 3,
            seq: 7,
            ..Scores::default()
        };
        s.session[..vals.len()].copy_from_slice(vals);
        s.window[..vals.len()].copy_from_slice(vals);
        s.ema[..vals.len()].copy_from_slice(vals);
        s
    }

    /// True when `s` holds an ANSI cursor-up sequence `ESC [ <digits> A`.
    fn has_cursor_up(s: &str) -> bool {
        s.split("\x1b[").skip(1).any(|rest| {
            let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
            digits > 0 && rest[digits..].starts_with('A')
        })
    }

    fn blocks(line: &str) -> usize {
        line.chars().filter(|&c| c == FULL_BLOCK).count()
    }

    #[test]
    fn render_puts_top_tag_first() {
        let v = TerminalView::new(names(), 3, View::Session, false);
        let text = v.render(&scores(&[0.2, 0.9, 0.5, 0.1]), "listening");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "header + 3 tags:\n{text}");
        assert!(lines[1].starts_with("jazz"), "{text}");
        assert!(lines[2].starts_with("guitar"), "{text}");
        assert!(lines[3].starts_with("rock"), "{text}");
        assert!(lines[1].ends_with("0.900"), "{text}");
        assert!(!text.contains("female"));
    }

    #[test]
    fn header_has_time_view_dropped_and_status() {
        let v = TerminalView::new(names(), 2, View::Ema, false);
        let text = v.render(&scores(&[0.2, 0.9, 0.5, 0.1]), "mic: default\nok");
        let header = text.lines().next().unwrap_or_default();
        assert!(header.contains("01:23.5"), "{header}");
        assert!(header.contains("ema"), "{header}");
        assert!(header.contains("dropped 3"), "{header}");
        assert!(header.contains("mic: default ok"), "{header}");
        assert_eq!(text.lines().count(), 3);
    }

    #[test]
    fn bar_length_is_proportional_to_score() {
        let v = TerminalView::new(names(), 4, View::Window, false).with_bar_width(40);
        let text = v.render(&scores(&[1.0, 0.5, 0.0, 0.25]), "");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("rock"));
        assert_eq!(blocks(lines[1]), 40);
        assert_eq!(blocks(lines[2]), 20);
        assert_eq!(blocks(lines[3]), 10);
        assert_eq!(blocks(lines[4]), 0);
        // Bars are padded, so every line has the same width.
        let widths: Vec<usize> = lines[1..].iter().map(|l| l.chars().count()).collect();
        assert!(widths.iter().all(|&w| w == widths[0]), "{widths:?}");
    }

    #[test]
    fn bar_has_eighth_resolution() {
        assert_eq!(bar(1.0 / 80.0, 10), format!("▏{}", " ".repeat(9)));
        assert_eq!(bar(0.15, 10), format!("█▌{}", " ".repeat(8)));
        assert_eq!(bar(2.0, 4), "████");
        assert_eq!(bar(-1.0, 4), "    ");
    }

    #[test]
    fn formatting_is_nan_free() {
        let v = TerminalView::new(names(), 4, View::Session, false);
        let mut s = scores(&[f32::NAN, 0.3, f32::INFINITY, 0.6]);
        s.t = f64::NAN;
        let text = v.render(&s, "");
        assert!(!text.to_lowercase().contains("nan"), "{text}");
        assert!(!text.contains("inf"), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[1].starts_with("female vocals"),
            "finite scores first:\n{text}"
        );
        assert!(lines[3].ends_with("-.---"), "{text}");
        assert!(lines[0].contains("00:00.0"));
    }

    #[test]
    fn waiting_before_first_scores() {
        let v = TerminalView::new(names(), 4, View::Session, false);
        let text = v.render(&Scores::default(), "starting");
        assert!(text.contains("waiting"));
        assert_eq!(text.lines().count(), 2);
    }

    #[test]
    fn long_names_are_truncated_and_missing_names_numbered() {
        let long = "a".repeat(40);
        let v = TerminalView::new(vec![long], 2, View::Session, false);
        let text = v.render(&scores(&[0.1, 0.8]), "");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("tag1"), "{text}");
        assert!(lines[2].starts_with(&format!("{}…", "a".repeat(MAX_NAME_WIDTH - 1))));
    }

    #[test]
    fn color_mode_uses_ansi_and_resets() {
        let v = TerminalView::new(names(), 2, View::Session, true);
        let text = v.render(&scores(&[0.2, 0.9, 0.5, 0.1]), "");
        assert!(text.contains("\x1b["));
        assert!(text
            .lines()
            .all(|l| l.ends_with(RESET) || l.ends_with(|c: char| c.is_ascii_digit())));
    }

    #[test]
    fn second_draw_moves_cursor_up() {
        let mut v = TerminalView::new(names(), 3, View::Session, false);
        let s = scores(&[0.2, 0.9, 0.5, 0.1]);
        let mut first = Vec::new();
        v.draw(&mut first, &s, "a").expect("draw to Vec");
        let first = String::from_utf8(first).expect("utf-8");
        assert!(!has_cursor_up(&first), "{first:?}");
        assert_eq!(v.lines_drawn(), 4);

        let mut second = Vec::new();
        v.draw(&mut second, &s, "b").expect("draw to Vec");
        let second = String::from_utf8(second).expect("utf-8");
        assert!(second.starts_with("\r\x1b[4A"), "{second:?}");
        assert_eq!(second.matches("\x1b[2K").count(), 4);
        assert!(second.ends_with("\x1b[J"));

        v.reset();
        let mut third = Vec::new();
        v.draw(&mut third, &s, "c").expect("draw to Vec");
        assert!(!has_cursor_up(&String::from_utf8_lossy(&third)));
    }

    #[test]
    fn looped_clips_are_marked_in_the_header() {
        let v = TerminalView::new(names(), 2, View::Session, false);
        let mut s = scores(&[0.2, 0.9, 0.5, 0.1]);
        assert!(!v.render(&s, "").contains("looped"));
        s.looped = true;
        let text = v.render(&s, "");
        assert!(
            text.lines().next().unwrap_or_default().contains("looped"),
            "{text}"
        );
    }

    #[test]
    fn heads_follow_the_tags_best_label_first() {
        let heads = vec![HeadLabels {
            name: "cues".into(),
            labels: vec!["verse".into(), "drop".into()],
        }];
        let v = TerminalView::new(names(), 2, View::Window, false).with_heads(heads);
        let mut s = scores(&[0.9, 0.1, 0.5, 0.2]);
        s.n_head = 2;
        s.heads[View::Window.index()][..2].copy_from_slice(&[0.25, 0.75]);
        let text = v.render(&s, "");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + 2 + 3, "{text}");
        assert_eq!(lines[3], "[cues]");
        assert!(
            lines[4].starts_with("  drop") && lines[4].ends_with("0.750"),
            "{text}"
        );
        assert!(
            lines[5].starts_with("  verse") && lines[5].ends_with("0.250"),
            "{text}"
        );
        // A short terminal keeps 3 tag rows and cuts the heads.
        let small = v.render_sized(&s, "", Some(TermSize { cols: 80, rows: 5 }));
        assert_eq!(small.lines().count(), 4, "{small}");
    }

    #[test]
    fn clock_format() {
        assert_eq!(format_clock(0.0), "00:00.0");
        assert_eq!(format_clock(59.96), "01:00.0");
        assert_eq!(format_clock(3725.25), "62:05.3");
        assert_eq!(format_clock(-3.0), "00:00.0");
    }
}
