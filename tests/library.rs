//! `mstag tag` on a library: folders (`--recursive`), JSON lines streamed as files finish, and
//! `--resume`: a run killed half-way and resumed ends with every file exactly once, with the
//! scores a single uninterrupted run gives.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const RATE: u32 = 22_050;

fn mstag(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mstag"))
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `seconds` of a tone whose pitch and loudness depend on `k`, with a little noise.
fn piece(k: u32, seconds: usize) -> Vec<f32> {
    let mut x = 99_991u32.wrapping_mul(k + 1);
    (0..seconds * RATE as usize)
        .map(|i| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let t = i as f32 / RATE as f32;
            let f = 110.0 * (1.0 + k as f32 * 0.37);
            0.3 * (t * f * std::f32::consts::TAU).sin()
                + 0.05 * ((x >> 8) as f32 / (1u32 << 24) as f32 - 0.5)
        })
        .collect()
}

/// The lines of a JSON-lines file by their `file`, each parsed; panics on a line that is
/// not JSON.
fn lines_by_file(text: &str) -> BTreeMap<String, Vec<Value>> {
    let mut by = BTreeMap::<String, Vec<Value>>::new();
    for l in text.lines() {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        by.entry(v["file"].as_str().unwrap().to_string())
            .or_default()
            .push(v);
    }
    by
}

#[test]
fn folders_need_recursive_and_give_their_audio_files_only() {
    let dir = common::TempDir::new("library-walk");
    let root = dir.path("music");
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    common::write_wav(&root.join("a/x.wav"), &piece(1, 3), RATE, 1);
    common::write_wav(&root.join("a/b/Y.WAV"), &piece(2, 3), RATE, 1);
    std::fs::write(root.join("a/notes.txt"), "not audio").unwrap();
    std::fs::write(root.join("a/._x.wav"), "a macOS resource fork").unwrap();
    std::fs::write(root.join("a/b/broken.mp3"), "not an mp3 either").unwrap();

    let out = mstag(&["tag", "--quiet", s(&root)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("is a folder: add --recursive"),
        "{}",
        text(&out.stderr)
    );

    let out = mstag(&["tag", "-q", "-r", "--format", "jsonl", s(&root)]);
    assert_eq!(out.status.code(), Some(1), "one file is broken");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("2 tagged, 1 failed, 2 skipped (not audio)"),
        "{stderr}"
    );
    let by = lines_by_file(&text(&out.stdout));
    let names: Vec<&str> = by.keys().map(String::as_str).collect();
    let want: Vec<String> = ["a/b/Y.WAV", "a/b/broken.mp3", "a/x.wav"]
        .iter()
        .map(|p| root.join(p).display().to_string())
        .collect();
    assert_eq!(names, want);
    assert!(by[&want[1]][0]["error"]
        .as_str()
        .unwrap()
        .contains("not a recognised audio file"));
    // Each line is the `--format json` object of the file, plus its size and time.
    let out = mstag(&["tag", "-q", "--format", "json", &want[0], &want[2]]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    for (i, f) in [&want[0], &want[2]].into_iter().enumerate() {
        let mut line = by[f][0].clone();
        let size = line.as_object_mut().unwrap().remove("size").unwrap();
        assert!(line.as_object_mut().unwrap().remove("mtime_ns").is_some());
        assert_eq!(size, std::fs::metadata(f).unwrap().len());
        assert_eq!(line, json[i], "{f}");
    }
}

/// A line cut short is what a kill while writing leaves; `keep` whole lines are kept.
fn cut(text: &str, keep: usize) -> String {
    let mut out: String = text.lines().take(keep).map(|l| format!("{l}\n")).collect();
    if let Some(next) = text.lines().nth(keep) {
        out.push_str(&next[..next.len() / 2]);
    }
    out
}

#[test]
fn a_killed_run_resumed_has_every_file_exactly_once() {
    let dir = common::TempDir::new("library-resume");
    let root = dir.path("lib");
    std::fs::create_dir_all(&root).unwrap();
    let n = 40;
    for k in 0..n {
        let sub = root.join(format!("disc{}", k % 3));
        std::fs::create_dir_all(&sub).unwrap();
        common::write_wav(
            &sub.join(format!("track{k:02}.wav")),
            &piece(k, 20),
            RATE,
            1,
        );
    }
    // The reference: one run, uninterrupted.
    let out = mstag(&["tag", "-q", "-r", "--format", "jsonl", s(&root)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let reference = lines_by_file(&text(&out.stdout));
    assert_eq!(reference.len(), n as usize);

    // A run killed as soon as it has written a few lines.
    let jsonl = dir.path("tags.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mstag"))
        .args([
            "tag",
            "-q",
            "-r",
            "-j",
            "1",
            "--resume",
            s(&jsonl),
            s(&root),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let written = std::fs::read_to_string(&jsonl).unwrap_or_default();
        if written.lines().count() >= 3 || Instant::now() > deadline {
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill();
    let _ = child.wait();
    let killed = std::fs::read_to_string(&jsonl).unwrap();
    let whole = killed
        .lines()
        .filter(|l| serde_json::from_str::<Value>(l).is_ok());
    eprintln!(
        "killed after {} of {n} files (a cut line: {})",
        whole.count(),
        !killed.is_empty() && !killed.ends_with('\n')
    );
    // Whatever the kill left, and then the worst it can leave: a line cut in half.
    std::fs::write(
        &jsonl,
        cut(&killed, killed.lines().count().min(5).saturating_sub(1)),
    )
    .unwrap();
    let out = mstag(&["tag", "-q", "-r", "--resume", s(&jsonl), s(&root)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("already in"),
        "{}",
        text(&out.stderr)
    );
    let resumed = lines_by_file(&std::fs::read_to_string(&jsonl).unwrap());
    assert_eq!(resumed.len(), n as usize);
    for (file, lines) in &resumed {
        assert_eq!(
            lines.len(),
            1,
            "{file} is in the output {} times",
            lines.len()
        );
        assert_eq!(lines[0]["tags"], reference[file][0]["tags"], "{file}");
    }

    // Nothing left to do: nothing written; a file changed since is tagged again, once.
    let before = std::fs::read_to_string(&jsonl).unwrap();
    let out = mstag(&["tag", "-q", "-r", "--resume", s(&jsonl), s(&root)]);
    assert!(out.status.success());
    assert!(text(&out.stderr).contains(&format!(
        "0 tagged, 0 failed, 0 skipped (not audio), {n} already in"
    )));
    assert_eq!(std::fs::read_to_string(&jsonl).unwrap(), before);
    let changed: PathBuf = root.join("disc1/track01.wav");
    common::write_wav(&changed, &piece(77, 5), RATE, 1);
    let out = mstag(&["tag", "-q", "-r", "--resume", s(&jsonl), s(&root)]);
    assert!(out.status.success());
    let after = lines_by_file(&std::fs::read_to_string(&jsonl).unwrap());
    let name = changed.display().to_string();
    assert_eq!(after.len(), n as usize);
    assert_eq!(after[&name].len(), 1);
    assert_eq!(after[&name][0]["duration_s"], 5.0);

    // A file that is not mstag's JSON lines is refused and left as it is.
    let other = dir.path("notes.jsonl");
    std::fs::write(&other, "{\"hello\": 1}\nplain text\n").unwrap();
    let out = mstag(&["tag", "-q", "-r", "--resume", s(&other), s(&root)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("line 1 is not a line of `mstag tag --format jsonl`"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&other).unwrap(),
        "{\"hello\": 1}\nplain text\n"
    );
}
