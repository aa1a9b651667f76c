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
        // Issue 12 item 11: the same checks in both binaries, negative numbers included,
        // each naming the allowed range.
        (mstag(), &["tag", "x.wav", "--top", "0"], "1..=64"),
        (live(), &["--top", "0"], "1..=64"),
        (mstag(), &["tag", "x.wav", "--top", "-1"], "1..=64"),
        (live(), &["--top", "-1"], "1..=64"),
        (mstag(), &["tag", "x.wav", "--window", "-1"], "more than 0"),
        (live(), &["--window", "-1"], "more than 0"),
        (mstag(), &["tag", "x.wav", "--ema", "-1"], "more than 0"),
        (live(), &["--ema", "-1"], "more than 0"),
        (live(), &["--ring", "-1"], "more than 0"),
        (live(), &["--duration", "-1"], "positive"),
        (mstag(), &["tag", "x.wav", "--jobs", "-1"], "0..=1024"),
        (
            mstag(),
            &[
                "tag",
                "x.wav",
                "--timeline",
                "t.svg",
                "--timeline-step",
                "-1",
            ],
            "more than 0",
        ),
        (
            live(),
            &["--osc", "127.0.0.1:9", "--osc-rate", "-5"],
            "1..=120",
        ),
        (
            live(),
            &["--osc", "127.0.0.1:9", "--osc-smooth", "-1"],
            "0 (off) to 3600",
        ),
    ];
    for (mut cmd, args, needle) in cases {
        cmd.args(args);
        let err = fails(cmd);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("unexpected argument"), "{args:?}: {err}");
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

/// A short clip (the demo's first `seconds`) as a WAV file.
fn short_clip(path: &std::path::Path, seconds: usize) {
    let (x, rate, ch) = mstag::decode::decode_all(&common::demo_clip()).unwrap();
    common::write_wav(path, &x[..rate as usize * ch * seconds], rate, ch as u16);
}

/// Runs a command; returns (success, stdout, stderr) as text.
fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// Issue 12 item 6: files with the same name get timelines of their own, and a timeline
/// path that cannot be written is refused before any work (here: before ONNX Runtime is
/// even looked for).
#[test]
fn timelines_never_overwrite_each_other_and_bad_paths_fail_first() {
    let dir = common::TempDir::new("cli-tl-names");
    std::fs::create_dir(dir.path("sub")).unwrap();
    let (a, b) = (dir.path("t.wav"), dir.path("sub/t.wav"));
    short_clip(&a, 4);
    short_clip(&b, 3);
    succeeds(
        mstag()
            .arg("tag")
            .args([&a, &b])
            .arg("--timeline")
            .arg(dir.path("tl.svg"))
            .args(["--quiet", "--format", "json"]),
    );
    let ticks = |name: &str| {
        let svg = std::fs::read_to_string(dir.path(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        svg.matches("<rect class=\"cell\"").count()
    };
    // One column per second per row: 4 s and 3 s of audio, different images.
    let (first, second) = (ticks("tl-t.svg"), ticks("tl-t-2.svg"));
    assert!(first > second && second > 0, "{first} vs {second}");

    let cases: [(&str, &str); 3] = [
        ("missing-folder/tl.png", "does not exist"),
        ("tl.jpg", "use .svg or .png"),
        ("sub", "is a folder"),
    ];
    for (out, needle) in cases {
        let (ok, _, err) = run(mstag()
            .arg("tag")
            .args([&a, &b])
            .arg("--timeline")
            .arg(dir.path(out))
            .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so.1.31.1"));
        assert!(!ok, "{out}");
        assert!(err.contains(needle) && err.contains(out), "{out}: {err}");
        assert!(
            !err.contains("ONNX Runtime"),
            "checked after loading: {err}"
        );
    }
}

/// Issue 12 item 8: `--ema` means something for `mstag tag` (the timeline's EMA view) and is
/// refused where it would change nothing; the timeline says what its columns are.
#[test]
fn timeline_views_are_labelled_and_ema_matters() {
    let dir = common::TempDir::new("cli-tl-view");
    let clip = dir.path("clip.wav");
    short_clip(&clip, 8);
    let draw = |out: &str, extra: &[&str]| {
        succeeds(
            mstag()
                .arg("tag")
                .arg(&clip)
                .arg("--timeline")
                .arg(dir.path(out))
                .arg("--quiet")
                .args(extra),
        );
        std::fs::read_to_string(dir.path(out)).unwrap()
    };
    let window = draw("w.svg", &["--window", "4"]);
    assert!(
        window.contains("each column: tags of the last 4 s (--window), every 1 s"),
        "{window}"
    );
    let fast = draw("fast.svg", &["--timeline-view", "ema", "--ema", "0.5"]);
    let slow = draw("slow.svg", &["--timeline-view", "ema", "--ema", "60"]);
    assert!(fast.contains("time constant 0.5 s (--ema)"), "{fast}");
    assert!(slow.contains("time constant 60 s (--ema)"), "{slow}");
    let cells = |svg: &str| -> Vec<String> {
        svg.lines()
            .filter(|l| l.starts_with("<rect class=\"cell\""))
            .map(String::from)
            .collect()
    };
    assert_eq!(cells(&fast).len(), cells(&slow).len());
    assert_ne!(cells(&fast), cells(&slow), "--ema changes the EMA timeline");

    let refused: [(&[&str], &str); 4] = [
        (&["--ema", "3"], "--timeline-view ema"),
        (&["--window", "3"], "--timeline"),
        (
            &["--timeline", "x.svg", "--ema", "3"],
            "--timeline-view ema",
        ),
        (&["--timeline-view", "ema"], "--timeline"),
    ];
    for (args, needle) in refused {
        let (ok, _, err) = run(mstag().arg("tag").arg(&clip).args(args));
        assert!(!ok, "{args:?}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

/// Issue 12 item 9: every error once. A chain of contexts prints the I/O error once; a
/// failed file's error is in the output only (its row or JSON object), and stderr gets one
/// summary line in every format.
#[test]
fn each_error_is_printed_once_and_failures_are_summed_up() {
    let (ok, _, err) =
        run(mstag().args(["tag", "x.wav", "--models", "/nonexistent/manifest.json"]));
    assert!(!ok);
    // What the OS says of a missing file (ENOENT).
    let cause = std::io::Error::from_raw_os_error(2).to_string();
    assert_eq!(err.matches(&cause).count(), 1, "{err}");

    let dir = common::TempDir::new("cli-errors-once");
    let clip = dir.path("ok.wav");
    short_clip(&clip, 3);
    let missing = dir.path("missing.flac");
    let bad = dir.path("bad.wav");
    std::fs::write(&bad, b"not audio at all").unwrap();
    for format in ["table", "json", "csv"] {
        let (ok, out, err) = run(mstag()
            .arg("tag")
            .args([&clip, &missing, &bad])
            .args(["--quiet", "--format", format]));
        assert!(!ok, "{format}");
        assert_eq!(out.matches(&cause).count(), 1, "{format}: {out}");
        assert!(!err.contains(&cause), "{format}: the error twice: {err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{format}: {err}");
        assert!(
            lines[0].starts_with("mstag: 2 of 3 files could not be tagged: ")
                && lines[0].contains(&missing.display().to_string())
                && lines[0].contains(&bad.display().to_string()),
            "{format}: {err}"
        );
    }
}

/// Issue 12 item 10: `mstag devices` prints no library noise, and lists real capture
/// devices before the ALSA plugins, which are marked.
#[test]
fn devices_are_listed_quietly_capture_devices_first() {
    let (ok, out, err) = run(mstag().arg("devices"));
    assert!(ok, "{err}");
    assert_eq!(err, "", "nothing but the list");
    let plugins = [
        "lavrate",
        "samplerate",
        "speexrate",
        "upmix",
        "vdownmix",
        "speex",
        "null",
        "oss",
    ];
    let is_plugin = |line: &str| {
        let id = line[2..].split('\t').next().unwrap_or_default();
        plugins.iter().any(|p| id == format!("alsa:{p}"))
    };
    let mut marked = false;
    for line in out.lines() {
        if line.starts_with("not capture devices") {
            marked = true;
        } else if line.starts_with("  ") || line.starts_with("* ") {
            assert_eq!(is_plugin(line), marked, "{line:?} in\n{out}");
        }
    }
}

/// Issue 12 item 13: the table groups synonyms unless `--all-tags`; JSON keeps every tag.
#[test]
fn the_table_groups_synonyms_unless_all_tags() {
    let dir = common::TempDir::new("cli-synonyms");
    let clip = dir.path("clip.wav");
    short_clip(&clip, 3);
    let table = |extra: &[&str]| {
        let text = succeeds(
            mstag()
                .arg("tag")
                .arg(&clip)
                .args(["--quiet", "--top", "64"])
                .args(extra),
        );
        text.lines()
            .skip(1)
            .map(|l| l.split("  ").nth(1).unwrap_or_default().to_string())
            .collect::<Vec<String>>()
    };
    let grouped = table(&[]);
    let all = table(&["--all-tags"]);
    assert_eq!(all.len(), 50);
    assert_eq!(grouped.len(), 36, "{grouped:?}");
    for hidden in [
        "no vocal", "no voice", "classic", "vocal", "female", "male", "beat",
    ] {
        assert!(
            !grouped.contains(&hidden.to_string()),
            "{hidden}: {grouped:?}"
        );
        assert!(all.contains(&hidden.to_string()), "{hidden}");
    }
    let json = succeeds(
        mstag()
            .arg("tag")
            .arg(&clip)
            .args(["--quiet", "--format", "json"]),
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["tags"].as_object().unwrap().len(), 50);
}
