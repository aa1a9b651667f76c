//! The live terminal view (issue 12, items 7 and 13): it fits the terminal (no scrolling,
//! no wrapped lines, a full redraw after a resize) and shows one row per synonym group
//! unless `--all-tags` is given.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use mstag::engine::{Scores, View};
use mstag::output::terminal::{TermSize, DEFAULT_BAR_WIDTH};
use mstag::output::TerminalView;
use mstag::synonyms::SynonymGroups;

const CLEAR_SCREEN: &str = "\x1b[2J";

fn mtt() -> Vec<String> {
    mstag::model::Manifest::load(&common::manifest_path())
        .unwrap()
        .tags
}

/// Pseudo-random scores below 0.5, with synonyms at the top: `no vocal` 0.95, `no vocals`
/// 0.94, `no voice` 0.93, `female` 0.92, `woman` 0.91.
fn mtt_scores(seed: u64) -> Scores {
    let tags = mtt();
    let mut x = seed | 1;
    let mut v: Vec<f32> = (0..tags.len())
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 24) as f32 * 0.5
        })
        .collect();
    for (k, name) in ["no vocal", "no vocals", "no voice", "female", "woman"]
        .iter()
        .enumerate()
    {
        let i = tags.iter().position(|t| t == name).unwrap();
        v[i] = 0.95 - k as f32 * 0.01;
    }
    let mut s = Scores {
        n_tags: v.len(),
        seq: 1,
        t: 12.3,
        ..Scores::default()
    };
    for view in [&mut s.session, &mut s.window, &mut s.ema] {
        view[..v.len()].copy_from_slice(&v);
    }
    s
}

/// The tag names of a frame rendered without colour with bars of `bar_w` cells.
fn shown_names(text: &str, bar_w: usize) -> Vec<String> {
    text.lines()
        .skip(1)
        .map(|l| {
            let c: Vec<char> = l.chars().collect();
            let name: String = c[..c.len() - bar_w - 7].iter().collect();
            name.trim_end().to_string()
        })
        .collect()
}

/// Index of the synonym group (or single tag) a shown name belongs to.
fn group_of(tags: &[String], name: &str) -> usize {
    SynonymGroups::new(tags)
        .groups()
        .iter()
        .position(|g| g.members.iter().any(|&m| tags[m] == name))
        .unwrap_or_else(|| panic!("{name:?} is not a tag"))
}

fn assert_one_name_per_group(tags: &[String], names: &[String]) {
    let mut groups: Vec<usize> = names.iter().map(|n| group_of(tags, n)).collect();
    groups.sort_unstable();
    groups.dedup();
    assert_eq!(
        groups.len(),
        names.len(),
        "two names of one group: {names:?}"
    );
}

#[test]
fn synonyms_share_a_row_unless_all_tags_are_asked_for() {
    let tags = mtt();
    for seed in 1..100u64 {
        let s = mtt_scores(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        for top in [5, 10, 36, 50] {
            let v = TerminalView::new(tags.clone(), top, View::Window, false);
            let names = shown_names(&v.render(&s, ""), DEFAULT_BAR_WIDTH);
            assert_eq!(names.len(), top.min(36), "50 tags make 36 entries");
            assert_one_name_per_group(&tags, &names);
        }
    }
    let s = mtt_scores(7);
    let text = TerminalView::new(tags.clone(), 3, View::Window, false).render(&s, "");
    let names = shown_names(&text, DEFAULT_BAR_WIDTH);
    assert_eq!(names[..2], ["no vocals", "female vocal"], "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[1].ends_with("0.950"),
        "the best member's score: {text}"
    );
    assert!(lines[2].ends_with("0.920"), "{text}");

    let all = TerminalView::new(tags.clone(), 50, View::Window, false).with_all_tags(true);
    let names = shown_names(&all.render(&s, ""), DEFAULT_BAR_WIDTH);
    assert_eq!(names.len(), 50);
    assert_eq!(
        names[..5],
        ["no vocal", "no vocals", "no voice", "female", "woman"]
    );
}

/// `s` without its ANSI escape sequences (`ESC [ ... letter`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn frames_fit_small_terminals() {
    let tags = mtt();
    let s = mtt_scores(3);
    let status = "mic: a long device name, 48000 Hz";
    for (cols, rows, top) in [
        (80, 8, 10),
        (40, 24, 10),
        (20, 5, 10),
        (80, 24, 10),
        (9, 3, 5),
    ] {
        for color in [false, true] {
            let v = TerminalView::new(tags.clone(), top, View::Session, color);
            let text = v.render_sized(&s, status, Some(TermSize { cols, rows }));
            let plain = strip_ansi(&text);
            let lines: Vec<&str> = plain.lines().collect();
            assert!(lines.len() < rows, "{cols}x{rows}:\n{plain}");
            assert_eq!(
                lines.len(),
                (rows - 1).min(top + 1),
                "{cols}x{rows}\n{plain}"
            );
            for l in &lines {
                assert!(l.chars().count() < cols, "{cols}x{rows}: {l:?}");
            }
            if cols >= 20 {
                assert!(lines[1].contains('█'), "bars are kept: {plain}");
            }
            if cols >= 40 {
                assert!(
                    lines[1].starts_with("no vocals "),
                    "names are kept: {plain}"
                );
            }
        }
    }
}

/// True when `s` holds an ANSI cursor-up sequence `ESC [ <digits> A`.
fn has_cursor_up(s: &str) -> bool {
    s.split("\x1b[").skip(1).any(|rest| {
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        digits > 0 && rest[digits..].starts_with('A')
    })
}

#[test]
fn a_resize_clears_the_screen_and_redraws_the_whole_frame() {
    let mut v = TerminalView::new(mtt(), 10, View::Window, false);
    let s = mtt_scores(5);
    let draw = |v: &mut TerminalView, size: Option<TermSize>| {
        let mut out = Vec::new();
        v.draw_sized(&mut out, &s, "", size).expect("draw to Vec");
        String::from_utf8(out).expect("utf-8")
    };
    let big = Some(TermSize { cols: 80, rows: 24 });
    let small = Some(TermSize { cols: 40, rows: 6 });
    let first = draw(&mut v, big);
    assert!(
        !first.contains(CLEAR_SCREEN) && !has_cursor_up(&first),
        "{first:?}"
    );
    let same = draw(&mut v, big);
    assert!(
        same.starts_with("\r\x1b[11A") && !same.contains(CLEAR_SCREEN),
        "{same:?}"
    );
    let resized = draw(&mut v, small);
    assert!(resized.starts_with(CLEAR_SCREEN), "{resized:?}");
    assert!(!has_cursor_up(&resized), "{resized:?}");
    assert_eq!(
        resized.matches("\x1b[2K").count(),
        5,
        "header and 4 tags in 6 rows"
    );
    assert_eq!(v.lines_drawn(), 5);
    let after = draw(&mut v, small);
    assert!(
        after.starts_with("\r\x1b[5A") && !after.contains(CLEAR_SCREEN),
        "{after:?}"
    );
    // Output that is not a terminal has no size: nothing is clipped or cleared.
    let piped = draw(&mut v, None);
    assert!(
        piped.starts_with("\r\x1b[5A") && !piped.contains(CLEAR_SCREEN),
        "{piped:?}"
    );
    assert_eq!(v.lines_drawn(), 11);
}

/// The tag rows of the last frame `mstag-live` drew (stdout not a terminal: no colours).
fn last_frame_names(stdout: &str) -> Vec<String> {
    let lines: Vec<&str> = stdout
        .split("\r\x1b[2K")
        .skip(1)
        .map(|piece| piece.split('\n').next().unwrap_or_default())
        .collect();
    let header = lines
        .iter()
        .rposition(|l| l.starts_with("t "))
        .expect("a frame was drawn");
    shown_names(&lines[header..].join("\n"), DEFAULT_BAR_WIDTH)
}

/// The name on a tag row as a terminal shows it: the row less its score and bar.
fn row_name(row: &str) -> String {
    let (rest, _score) = row.trim_end().rsplit_once(' ').unwrap_or_default();
    rest.trim_end_matches(|c: char| c == ' ' || ('\u{2588}'..='\u{258F}').contains(&c))
        .to_string()
}

#[test]
fn mstag_live_groups_synonyms_and_all_tags_shows_every_tag() {
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_mstag-live"))
            .arg("--input")
            .arg(common::demo_clip())
            .args(["--fast", "--top", "50"])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        last_frame_names(&String::from_utf8(out.stdout).expect("UTF-8"))
    };
    let tags = mtt();
    let grouped = run(&[]);
    assert_eq!(grouped.len(), 36, "{grouped:?}");
    assert_one_name_per_group(&tags, &grouped);
    let mut all = run(&["--all-tags"]);
    all.sort();
    let mut want = tags.clone();
    want.sort();
    assert_eq!(all, want);
}

/// A tmux server of its own, killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux runs (CI installs it: apt-get install tmux)");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// `mstag-live` in a real terminal of 80x8 (top 10 does not fit), resized to 40x6 while it
/// plays: the whole history holds one frame per size, never a scrolled-away or stale one.
#[test]
fn mstag_live_redraws_in_place_in_a_small_tmux_pane() {
    let dir = common::TempDir::new("tmux");
    let conf = dir.path("tmux.conf");
    std::fs::write(&conf, "set -g status off\nset -g remain-on-exit on\n").unwrap();
    let tmux = Tmux {
        socket: format!("mstag-test-{}", std::process::id()),
    };
    let live = Path::new(env!("CARGO_BIN_EXE_mstag-live"));
    // The shell writes the exit status to a file: tmux 3.3 can mark a pane dead and then not
    // reap its process (a zombie, `pane_dead_status` empty) until something else wakes it.
    let status_file = dir.path("status");
    let command = format!(
        "'{}' --input '{}' --duration 4 --top 10; echo $? > '{}.tmp'; mv '{}.tmp' '{}'",
        live.display(),
        common::demo_clip().display(),
        status_file.display(),
        status_file.display(),
        status_file.display()
    );
    let conf = conf.display().to_string();
    tmux.cmd(&[
        "-f",
        &conf,
        "new-session",
        "-d",
        "-x",
        "80",
        "-y",
        "8",
        "-s",
        "t",
        &command,
    ]);
    let exit_status = || {
        std::fs::read_to_string(&status_file)
            .ok()
            .map(|s| s.trim().to_string())
    };
    let started = Instant::now();
    let mut resized = false;
    let status = loop {
        if let Some(status) = exit_status() {
            break status;
        }
        if !resized && started.elapsed() > Duration::from_secs(2) {
            tmux.cmd(&["resize-window", "-t", "t", "-x", "40", "-y", "6"]);
            resized = true;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "mstag-live did not end"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let history = tmux.cmd(&["capture-pane", "-p", "-J", "-t", "t", "-S", "-", "-E", "-"]);
    assert_eq!(status, "0", "exit status:\n{history}");
    let headers = history.lines().filter(|l| l.starts_with("t 00:")).count();
    assert!(
        (1..=1 + resized as usize).contains(&headers),
        "{headers} frame headers in the history:\n{history}"
    );
    assert!(
        history.contains("segments"),
        "the run ended normally:\n{history}"
    );
    // The last frame: its header, then tag rows, one per synonym group, up to the summary.
    let lines: Vec<&str> = history.lines().collect();
    let header = lines
        .iter()
        .rposition(|l| l.starts_with("t 00:"))
        .unwrap_or(0);
    let names: Vec<String> = lines[header + 1..]
        .iter()
        .take_while(|l| !l.starts_with("mstag-live:") && !l.trim().is_empty())
        .map(|l| row_name(l))
        .collect();
    assert!(
        !names.is_empty() && names.len() <= 4,
        "40x6 holds 4 tags: {names:?}\n{history}"
    );
    assert_one_name_per_group(&mtt(), &names);
}
