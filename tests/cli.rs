//! The `mstag` and `mstag-live` binaries as a user runs them.

mod common;

use std::process::Command;

fn mstag() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mstag"))
}

#[test]
fn tag_json_reports_each_file_in_order_and_fails_only_the_bad_one() {
    let dir = common::TempDir::new("cli-json");
    let bad = dir.path("not-audio.wav");
    std::fs::write(&bad, b"this is not a wav file").unwrap();
    let missing = dir.path("missing.flac");
    let demo = common::demo_clip();
    let out = mstag()
        .arg("tag")
        .arg(&demo)
        .arg(&bad)
        .arg(&missing)
        .arg(&demo)
        .args(["--format", "json", "--quiet"])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a failed file makes the exit code non-zero"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 4);
    assert_eq!(arr[0]["file"], demo.display().to_string());
    assert!((arr[0]["duration_s"].as_f64().unwrap() - 30.0).abs() < 0.01);
    let tags = arr[0]["tags"].as_object().unwrap();
    assert_eq!(tags.len(), 50);
    assert_eq!(
        tags.keys().next().map(String::as_str),
        Some("guitar"),
        "manifest order"
    );
    assert!(tags
        .values()
        .all(|s| (0.0..=1.0).contains(&s.as_f64().unwrap())));
    for (i, name) in [(1, &bad), (2, &missing)] {
        assert_eq!(arr[i]["file"], name.display().to_string());
        let err = arr[i]["error"].as_str().expect("error message");
        assert!(
            err.contains(&name.display().to_string()),
            "error names the file: {err}"
        );
        assert!(arr[i].get("tags").is_none());
    }
    assert_eq!(arr[3]["tags"], arr[0]["tags"], "same file, same tags");
    // Song-level tags equal the Python reference on the demo clip.
    let reference = common::json(&common::root().join("models/demo/reference.json"));
    for (tag, s) in tags {
        let want = reference["tags"][tag].as_f64().unwrap();
        assert!((s.as_f64().unwrap() - want).abs() < 1e-4, "{tag}");
    }
}

#[test]
fn tag_csv_table_and_timeline() {
    let dir = common::TempDir::new("cli-csv");
    let png = dir.path("timeline.png");
    let csv = succeeds(
        mstag()
            .arg("tag")
            .arg(common::demo_clip())
            .args(["--format", "csv", "--quiet", "--timeline"])
            .arg(&png),
    );
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("file,duration_s,error,guitar,"));
    assert_eq!(header.split(',').count(), 53);
    assert_eq!(lines.count(), 1);
    let bytes = std::fs::read(&png).expect("timeline written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");

    let svg = dir.path("timeline.svg");
    let table = succeeds(
        mstag()
            .arg("tag")
            .arg(common::demo_clip())
            .arg("--timeline")
            .arg(&svg)
            .arg("--quiet"),
    );
    let reference = common::json(&common::root().join("models/demo/reference.json"));
    let top1 = reference["top5"][0].as_str().unwrap();
    assert!(
        table.contains(top1),
        "table lists the top tag {top1}:\n{table}"
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") || text.starts_with("<?xml"));
    assert!(text.contains(top1));
}

/// Runs a command that must succeed; returns its stdout as text.
fn succeeds(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Runs a command that must fail; returns its stderr, which must not be a panic.
fn fails(mut cmd: Command) -> String {
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "{cmd:?} should fail");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn bad_arguments_get_clear_messages() {
    let live = || Command::new(env!("CARGO_BIN_EXE_mstag-live"));
    let cases: Vec<(Command, &[&str], &str)> = vec![
        (mstag(), &["tag", "x.wav", "--window=-3"], "--window"),
        (mstag(), &["tag", "x.wav", "--timeline", "out.jpg"], ".svg"),
        (mstag(), &["tag", "x.wav", "--timeline", "out.jpg"], ".png"),
        (
            live(),
            &["--input", "no such device", "--duration", "1"],
            "no such device",
        ),
        (
            mstag(),
            &["tag", "x.wav", "--models", "/nonexistent/manifest.json"],
            "/nonexistent/manifest.json",
        ),
        (live(), &["--input", "mic", "--osc", "localhost"], "--osc"),
        (live(), &["--input", "mic", "--top", "0"], "--top"),
    ];
    for (mut cmd, args, needle) in cases {
        cmd.args(args);
        let err = fails(cmd);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn live_json_lines_from_a_file_end_with_the_song_level_scores() {
    let text = succeeds(
        Command::new(env!("CARGO_BIN_EXE_mstag-live"))
            .arg("--input")
            .arg(common::demo_clip())
            .args(["--fast", "--json"]),
    );
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert!(lines.len() > 50);
    for l in &lines {
        for k in ["t", "session", "window", "ema", "dropped"] {
            assert!(l.get(k).is_some(), "{k} in {l}");
        }
        assert_eq!(l["session"].as_object().unwrap().len(), 50);
    }
    let last = lines.last().unwrap();
    assert!((last["t"].as_f64().unwrap() - 30.0).abs() < 0.01);
    assert_eq!(last["dropped"], 0);
    let reference = common::json(&common::root().join("models/demo/reference.json"));
    for (tag, s) in last["session"].as_object().unwrap() {
        let want = reference["tags"][tag].as_f64().unwrap();
        assert!(
            (s.as_f64().unwrap() - want).abs() < 1e-4,
            "{tag}: {s} vs {want}"
        );
    }
}

/// ONNX Runtime (1.29+) starts a telemetry uploader when it loads unless
/// `ORT_DISABLE_TELEMETRY` is set before: it writes a device id under
/// `$HOME/.cache/Microsoft/` and starts short-lived threads every few seconds (their exits
/// interrupt every core the process runs on, the audio thread's included). mstag sets the
/// variable unless the user has. The second run, where the user asks for telemetry, shows
/// that this test would see the uploader if it started.
#[test]
fn onnxruntime_telemetry_stays_off_unless_the_user_turns_it_on() {
    let demo = common::demo_clip();
    let run = |home: &std::path::Path, user_value: Option<&str>| {
        let mut cmd = mstag();
        // No CI markers (ONNX Runtime keeps quiet under CI on its own) and a private home.
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .args(["tag", "--quiet", "--format", "json"])
            .arg(&demo);
        if let Some(v) = user_value {
            cmd.env("ORT_DISABLE_TELEMETRY", v);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        home.join(".cache/Microsoft").exists()
    };
    let dir = common::TempDir::new("cli-telemetry");
    let (quiet, asked) = (dir.path("quiet-home"), dir.path("asked-home"));
    std::fs::create_dir_all(&quiet).unwrap();
    std::fs::create_dir_all(&asked).unwrap();
    assert!(
        !run(&quiet, None),
        "ONNX Runtime's telemetry store was created although the user did not ask for it"
    );
    assert!(
        run(&asked, Some("0")),
        "with ORT_DISABLE_TELEMETRY=0 ONNX Runtime should start its telemetry (else this test sees nothing)"
    );
}
