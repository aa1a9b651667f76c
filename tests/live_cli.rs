//! `mstag-live` end to end as a new user runs it (issue 12, items 1-4 and 15): the ring-size
//! check, the last frame, `--duration`, input without scores, and the final JSON line.

mod common;

use std::process::{Command, Output};

fn live() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mstag-live"))
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("mstag-live runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Four seconds of a two-tone chord at 22.05 kHz, stereo.
fn chord(dir: &common::TempDir, name: &str, seconds: f32) -> std::path::PathBuf {
    let rate = 22_050u32;
    let x: Vec<f32> = (0..(seconds * rate as f32) as usize)
        .flat_map(|i| {
            let t = i as f32 / rate as f32;
            let v = 0.3 * (2.0 * std::f32::consts::PI * 220.0 * t).sin()
                + 0.2 * (2.0 * std::f32::consts::PI * 277.0 * t).sin();
            [v, v]
        })
        .collect();
    let p = dir.path(name);
    common::write_wav(&p, &x, rate, 2);
    p
}

#[test]
fn a_ring_too_small_for_real_time_input_is_refused_with_the_minimum() {
    let demo = common::demo_clip();
    let o = run(live()
        .arg("--input")
        .arg(&demo)
        .args(["--ring", "0.01", "--json"]));
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("--ring 0.01: too small"), "{err}");
    assert!(err.contains("at least 0.3"), "{err}");
    assert!(o.stdout.is_empty(), "nothing analysed");
    // With --fast the player waits for room: a few milliseconds of ring are enough.
    let o = run(live().arg("--input").arg(&demo).args([
        "--ring",
        "0.05",
        "--fast",
        "--json",
        "--duration",
        "3",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn duration_means_seconds_analysed_with_and_without_fast() {
    let demo = common::demo_clip();
    for (d, fast) in [(1.5, true), (3.0, true), (10.0, true), (3.0, false)] {
        let mut cmd = live();
        cmd.arg("--input").arg(&demo).arg("--json");
        cmd.args(["--duration", &d.to_string()]);
        if fast {
            cmd.arg("--fast");
        }
        let o = run(&mut cmd);
        assert!(o.status.success(), "{d} s: {}", stderr(&o));
        let lines = json_lines(&o);
        let last = lines.last().expect("a final line");
        assert_eq!(last["final"], true);
        let t = last["t"].as_f64().unwrap();
        assert!(
            (t - d).abs() < 1e-3,
            "--duration {d} (fast {fast}): analysed {t} s"
        );
        assert!(
            stderr(&o).contains(&format!("{d:.1} s of audio")),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn the_last_json_line_is_marked_final_and_only_it() {
    let o = run(live()
        .arg("--input")
        .arg(common::demo_clip())
        .args(["--fast", "--json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = json_lines(&o);
    let (last, rest) = lines.split_last().unwrap();
    assert_eq!(last["final"], true);
    assert!(rest.iter().all(|l| l["final"] == false));
    assert!(rest.iter().all(|l| l["silent"].is_boolean()));
    assert!((last["t"].as_f64().unwrap() - 30.0).abs() < 0.01);
}

#[test]
fn the_last_terminal_frame_shows_the_final_scores() {
    // Piped (not a terminal): the frames are throttled to 10 a second, but the last one must
    // be the final scores at the end of the file, not the last frame the throttle let by.
    let o = run(live()
        .arg("--input")
        .arg(common::demo_clip())
        .args(["--fast", "--top", "3"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    let last_header = text
        .lines()
        .rfind(|l| l.contains("| view "))
        .expect("frames");
    assert!(last_header.contains("t 00:30.0"), "{last_header}");
    assert!(last_header.contains("final"), "{last_header}");
}

#[test]
fn silence_and_short_input_get_the_same_message_and_exit_code_as_tag() {
    let dir = common::TempDir::new("live-cli-silence");
    let silence = dir.path("silence.wav");
    common::write_wav(&silence, &vec![0.0; 22_050 * 4], 22_050, 1);
    let short = chord(&dir, "short.wav", 0.3);
    for (file, needle) in [
        (&silence, "digital silence from start to end"),
        (&short, "too short to tag"),
    ] {
        let live_out = run(live().arg("--input").arg(file).args(["--fast", "--json"]));
        let tag_out = run(Command::new(env!("CARGO_BIN_EXE_mstag"))
            .args(["tag", "--quiet", "--format", "json"])
            .arg(file));
        assert_eq!(live_out.status.code(), Some(1), "{}", stderr(&live_out));
        assert_eq!(tag_out.status.code(), Some(1), "{}", stderr(&tag_out));
        assert!(stderr(&live_out).contains(needle), "{}", stderr(&live_out));
        let tagged: serde_json::Value = serde_json::from_slice(&tag_out.stdout).unwrap();
        assert!(
            tagged[0]["error"].as_str().unwrap().contains(needle),
            "{tagged}"
        );
        assert!(live_out.stdout.is_empty(), "no scores, no lines");
    }
}
