//! `mstag tag --write-tags` on WAV, FLAC, Ogg Vorbis and MP3 files made by pedalboard (PyPI),
//! read back by mutagen (PyPI), an independent tag reader: the values are the song's best
//! tags, other tags survive, a second run replaces the field, the decoded audio is
//! bit-identical, and read-only, changed or untaggable files are refused and left untouched.
//! With `--genre-field` and `--mood-field` the files' own genre and mood fields get the names
//! the table models/tag_fields.json gives the best genre and mood tags.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn mstag(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mstag"))
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 with pedalboard and mutagen (cargo xtask test installs them)");
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// The first four seconds of the demo clip (argv[1]) in each format (the other arguments),
/// with a title set by mutagen. Real music, so that some tags pass the thresholds below.
const MAKE: &str = r#"
import sys, numpy as np, mutagen
from pedalboard.io import AudioFile
with AudioFile(sys.argv[1]) as f:
    sr = int(f.samplerate)
    x = f.read(sr * 4).mean(axis=0, keepdims=True).astype(np.float32)
for path in sys.argv[2:]:
    with AudioFile(path, "w", samplerate=sr, num_channels=1) as f:
        f.write(x)
    m = mutagen.File(path)
    if m.tags is None:
        m.add_tags()
    if path.endswith((".mp3", ".wav")):
        from mutagen.id3 import TIT2
        m.tags.add(TIT2(encoding=3, text="a title of mine"))
    else:
        m["title"] = "a title of mine"
    m.save()
"#;

/// `{path: {"mstag": [values], "title": [..], "genre": [..], "mood": [..]}}` as mutagen reads
/// them (ID3 `TCON`/`TMOO` or Vorbis `GENRE`/`MOOD`).
const READ: &str = r#"
import sys, json, mutagen
out = {}
for path in sys.argv[1:]:
    m = mutagen.File(path)
    tags = m.tags or {}
    got = {"mstag": [], "title": [], "genre": [], "mood": []}
    for k in tags.keys():
        v = tags[k]
        text = [str(s) for s in (list(getattr(v, "text", v)) if not isinstance(v, str) else [v])]
        key = k.upper()
        if "MSTAG_TAGS" in key:
            got["mstag"] += text
        if key in ("TITLE", "TIT2"):
            got["title"] += text
        if key in ("GENRE", "TCON"):
            got["genre"] += text
        if key in ("MOOD", "TMOO"):
            got["mood"] += text
    out[path] = got
print(json.dumps(out))
"#;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn read_tags(files: &[PathBuf]) -> Value {
    let args: Vec<&str> = files.iter().map(|p| s(p)).collect();
    serde_json::from_str(&python(READ, &args)).unwrap()
}

/// The bundled models' tag names.
fn model_tags() -> Vec<String> {
    common::json(&common::manifest_path())["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

/// Decoded audio as bits, with its rate and channel count.
type Decoded = (Vec<u32>, u32, usize);

/// MAKE's song as WAV, FLAC, Ogg and MP3 in `dir`, and their decoded audio.
fn four_songs(dir: &common::TempDir) -> (Vec<PathBuf>, Vec<Decoded>) {
    let files: Vec<PathBuf> = ["wav", "flac", "ogg", "mp3"]
        .iter()
        .map(|e| dir.path(&format!("song.{e}")))
        .collect();
    let demo = common::demo_clip();
    let mut args = vec![s(&demo)];
    args.extend(files.iter().map(|p| s(p)));
    python(MAKE, &args);
    let before = files.iter().map(|f| decoded(f)).collect();
    (files, before)
}

fn decoded(p: &Path) -> Decoded {
    let (x, rate, ch) = mstag::decode::decode_all(p).unwrap();
    (x.iter().map(|v| v.to_bits()).collect(), rate, ch)
}

#[test]
fn tags_go_into_four_formats_and_the_audio_stays_bit_identical() {
    let dir = common::TempDir::new("write-tags");
    let (files, before) = four_songs(&dir);
    let names: Vec<&str> = files.iter().map(|p| s(p)).collect();
    let tag_names = model_tags();

    // A dry run changes nothing.
    let bytes: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let mut args = vec!["tag", "-q", "--write-tags", "--dry-run", "--format", "json"];
    args.extend(&names);
    let out = mstag(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr)
            .matches("would write MSTAG_TAGS = ")
            .count(),
        4
    );
    for (f, b) in files.iter().zip(&bytes) {
        assert_eq!(&std::fs::read(f).unwrap(), b, "{}", f.display());
    }

    for threshold in ["0.05", "0.2"] {
        let mut args = vec!["tag", "-q", "--format", "json", "--write-tags"];
        args.extend(["--tag-threshold", threshold, "--tag-top", "4"]);
        args.extend(&names);
        let out = mstag(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let results: Value = serde_json::from_slice(&out.stdout).unwrap();
        let read = read_tags(&files);
        for (i, f) in files.iter().enumerate() {
            let scores: Vec<f32> = tag_names
                .iter()
                .map(|n| results[i]["tags"][n].as_f64().unwrap() as f32)
                .collect();
            let want =
                mstag::metadata::tag_values(&tag_names, &scores, threshold.parse().unwrap(), 4);
            assert!(
                !want.is_empty(),
                "{}: nothing above {threshold}",
                f.display()
            );
            let got = &read[s(f)];
            assert_eq!(got["mstag"], serde_json::json!(want), "{}", f.display());
            assert_eq!(
                got["title"],
                serde_json::json!(["a title of mine"]),
                "{}",
                f.display()
            );
            // mstag reads back what it wrote, too.
            assert_eq!(mstag::metadata::read_values(f).unwrap(), want);
        }
        for (f, b) in files.iter().zip(&before) {
            assert_eq!(&decoded(f), b, "{}: the audio changed", f.display());
        }
    }
}

#[test]
fn read_only_changed_and_untaggable_files_are_left_untouched() {
    let dir = common::TempDir::new("write-tags-refused");
    let wav = dir.path("locked.wav");
    let tone: Vec<f32> = (0..3 * 22_050)
        .map(|i| 0.3 * (i as f32 * 0.05).sin())
        .collect();
    common::write_wav(&wav, &tone, 22_050, 1);
    let bytes = std::fs::read(&wav).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&wav, std::fs::Permissions::from_mode(0o444)).unwrap();
    let out = mstag(&["tag", "-q", "--write-tags", "--tag-threshold", "0", s(&wav)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("read-only"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read(&wav).unwrap(), bytes);
    std::fs::set_permissions(&wav, std::fs::Permissions::from_mode(0o644)).unwrap();

    // Changed after it was analysed: the stamp it was analysed at no longer matches.
    let stale = mstag::output::FileStamp {
        size: bytes.len() as u64 + 1,
        mtime_ns: 1,
    };
    let e = mstag::metadata::write_values(&wav, &["rock:0.5".into()], Some(stale)).unwrap_err();
    assert!(
        e.to_string().contains("changed after it was analysed"),
        "{e}"
    );
    assert_eq!(std::fs::read(&wav).unwrap(), bytes);

    // Not a format that can hold the field (nor audio at all).
    let txt = dir.path("notes.wav");
    std::fs::write(&txt, "just text").unwrap();
    assert!(mstag::metadata::write_values(&txt, &["rock:0.5".into()], None).is_err());
    assert_eq!(std::fs::read(&txt).unwrap(), b"just text");
    // No temporary file is left behind.
    let left: Vec<_> = std::fs::read_dir(dir.path(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".mstag-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Every tag the genre/mood table names is one of the bundled models' tags.
#[test]
fn the_genre_and_mood_table_names_only_the_models_tags() {
    let tags = model_tags();
    let table = mstag::metadata::FieldTable::bundled();
    assert!(
        table.genre.len() >= 10 && table.mood.len() >= 5,
        "{table:?}"
    );
    for tag in table.genre.keys().chain(table.mood.keys()) {
        assert!(
            tags.contains(tag),
            "{tag:?} is not a tag of the bundled models"
        );
    }
}

#[test]
fn genre_and_mood_fields_get_the_tables_names_and_nothing_else_changes() {
    use mstag::metadata::{Field, FieldTable};
    let dir = common::TempDir::new("write-genre");
    let (files, before) = four_songs(&dir);
    let names: Vec<&str> = files.iter().map(|p| s(p)).collect();
    let tag_names = model_tags();
    let mut args = vec![
        "tag",
        "-q",
        "--format",
        "json",
        "--write-tags",
        "--genre-field",
    ];
    args.extend(["--mood-field", "--tag-threshold", "0"]);
    args.extend(&names);
    let out = mstag(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let results: Value = serde_json::from_slice(&out.stdout).unwrap();
    let read = read_tags(&files);
    let table = FieldTable::bundled();
    for (i, f) in files.iter().enumerate() {
        let scores: Vec<f32> = tag_names
            .iter()
            .map(|n| results[i]["tags"][n].as_f64().unwrap() as f32)
            .collect();
        let genre = table.values(Field::Genre, &tag_names, &scores, 0.0);
        let mood = table.values(Field::Mood, &tag_names, &scores, 0.0);
        assert_eq!(genre.len(), 3, "three genres above 0: {genre:?}");
        assert!(!mood.is_empty());
        let got = &read[s(f)];
        assert_eq!(got["genre"], serde_json::json!(genre), "{}", f.display());
        assert_eq!(got["mood"], serde_json::json!(mood), "{}", f.display());
        assert_eq!(got["title"], serde_json::json!(["a title of mine"]));
        assert!(!got["mstag"].as_array().unwrap().is_empty());
        assert_eq!(mstag::metadata::read_field(f, Field::Genre).unwrap(), genre);
        assert_eq!(
            &decoded(f),
            &before[i],
            "{}: the audio changed",
            f.display()
        );
    }
    // Nothing strong enough: the genre already there stays.
    let mut args = vec![
        "tag",
        "-q",
        "--write-tags",
        "--genre-field",
        "--tag-threshold",
        "1",
    ];
    args.push(names[1]);
    assert!(mstag(&args).status.success());
    assert_eq!(
        read_tags(&files[1..2])[names[1]]["genre"],
        read[names[1]]["genre"]
    );
}
