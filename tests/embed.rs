//! `mstag embed`: the song-level features of the paper's pipeline, equal to the Python
//! reference on the golden fixture and to the library's, in JSON lines, CSV and `.npy`, with
//! windows, and clear refusals.

mod common;

use std::process::{Command, Output};

fn mstag() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mstag"))
}

fn embed(args: &[&str]) -> Output {
    mstag()
        .arg("embed")
        .arg("--quiet")
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn the_golden_fixture_embeds_as_the_python_pipeline_and_the_library_do() {
    let golden = common::fixture("golden.wav");
    let out = embed(&[golden.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["file"], golden.display().to_string());
    assert!(v.get("windows").is_none());
    let features = common::f32s(&v["features"]);
    let reference = common::json(&common::fixture("golden.json"));
    let python = common::f32s(&reference["song_features"]);
    assert_eq!(features.len(), python.len());
    assert_eq!(features.len(), 960);
    // As the models' contract measures it: the largest difference against the largest value.
    let scale = python.iter().cloned().fold(1e-6f32, f32::max);
    let err = common::max_abs_err(&features, &python) / scale;
    assert!(err <= 1e-4, "error {err:e} against the Python pipeline");
    let library = common::tagger().tag_path(&golden).unwrap();
    assert!(common::max_abs_err(&features, library.features()) <= 1e-6);
    let d = v["duration_s"].as_f64().unwrap();
    assert!((d - library.duration_s()).abs() < 1e-3, "{d}");
}

#[test]
fn csv_npy_and_jsonl_hold_the_same_vectors_with_windows() {
    let dir = common::TempDir::new("embed");
    let demo = common::demo_clip();
    let golden = common::fixture("golden.wav");
    let files = [demo.to_str().unwrap(), golden.to_str().unwrap()];
    let csv_path = dir.path("e.csv");
    let npy_path = dir.path("e.npy");
    let jsonl_path = dir.path("e.jsonl");
    for p in [&csv_path, &npy_path, &jsonl_path] {
        let out = embed(
            &[
                &["--window", "10", "--out", p.to_str().unwrap()],
                &files[..],
            ]
            .concat(),
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    // JSON lines: the demo (30 s) has windows ending at 10, 20 and 30 s; the 2.6 s fixture none.
    let jsonl = std::fs::read_to_string(&jsonl_path).unwrap();
    let objs: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objs.len(), 2);
    let windows = objs[0]["windows"].as_array().unwrap();
    let ends: Vec<f64> = windows
        .iter()
        .map(|w| w["end_s"].as_f64().unwrap())
        .collect();
    assert_eq!(ends.len(), 3, "{ends:?}");
    for (e, want) in ends.iter().zip([10.0, 20.0, 30.0]) {
        assert!((e - want).abs() < 0.25, "{ends:?}");
    }
    assert_eq!(objs[0]["window_s"], 10.0);
    assert!(objs[1]["windows"].as_array().unwrap().is_empty());
    // CSV: a header naming every feature, then song, windows, song.
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        &header[..5],
        ["file", "kind", "start_s", "end_s", "s18/level0/0"]
    );
    assert_eq!(header.len(), 4 + 960);
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    let kinds: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(kinds, ["song", "window", "window", "window", "song"]);
    let csv_values: Vec<Vec<f32>> = rows
        .iter()
        .map(|r| r[4..].iter().map(|x| x.parse().unwrap()).collect())
        .collect();
    // .npy: the same matrix, and its rows named beside it.
    let m: ndarray::Array2<f32> = ndarray_npy::read_npy(&npy_path).unwrap();
    assert_eq!(m.shape(), [5, 960]);
    for (i, row) in csv_values.iter().enumerate() {
        assert_eq!(m.row(i).to_vec(), *row, "row {i}");
    }
    let index = std::fs::read_to_string(dir.path("e.rows.csv")).unwrap();
    assert!(
        index.starts_with("row,file,kind,start_s,end_s\n0,"),
        "{index}"
    );
    assert_eq!(index.lines().count(), 6);
    // All three agree with JSON lines.
    assert_eq!(common::f32s(&objs[0]["features"]), csv_values[0]);
    assert_eq!(common::f32s(&windows[1]["features"]), csv_values[2]);
    assert_eq!(common::f32s(&objs[1]["features"]), csv_values[4]);
}

#[test]
fn one_window_as_long_as_the_song_is_the_song() {
    let demo = common::demo_clip();
    let out = embed(&["--window", "30", demo.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    let windows = v["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 1, "{windows:?}");
    let err = common::max_abs_err(
        &common::f32s(&windows[0]["features"]),
        &common::f32s(&v["features"]),
    );
    assert!(err <= 1e-5, "{err}");
}

#[test]
fn bad_requests_are_refused_with_what_to_do_and_good_files_survive_bad_ones() {
    let dir = common::TempDir::new("embed-bad");
    let demo = common::demo_clip();
    let demo = demo.to_str().unwrap();
    let out = embed(&["--format", "npy", demo]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("add --out FILE.npy"),
        "{}",
        text(&out.stderr)
    );
    let txt = dir.path("e.txt");
    let out = embed(&["--out", txt.to_str().unwrap(), demo]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--format jsonl|csv|npy"),
        "{}",
        text(&out.stderr)
    );
    assert!(!txt.exists(), "nothing written");
    let out = embed(&["--window", "0", demo]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // A missing file: named on stderr, exit 1, the others written.
    let missing = dir.path("missing.wav");
    let jsonl = dir.path("ok.jsonl");
    let out = embed(&[
        "--out",
        jsonl.to_str().unwrap(),
        demo,
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert!(err.contains("1 of 2 files could not be embedded"), "{err}");
    assert_eq!(std::fs::read_to_string(&jsonl).unwrap().lines().count(), 1);
}
