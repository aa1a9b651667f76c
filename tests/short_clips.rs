//! One-shots and loops shorter than the longest segment (issue 12, item 5): tagged with the
//! scales whose segment they fill plus looped segments for the others, marked as looped,
//! the same offline and live; refused only below one segment of the shortest scale.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use mstag::engine::min_duration_s;
use mstag::engine::View;
use mstag::model::Manifest;

/// `seconds` of the demo clip from 10 s in (music throughout), as a WAV in `dir`.
fn clip(dir: &common::TempDir, seconds: f64) -> PathBuf {
    let (x, rate, channels) = mstag::decode::decode_all(&common::demo_clip()).unwrap();
    assert_eq!(channels, 1);
    let start = rate as usize * 10;
    let n = (seconds * rate as f64).round() as usize;
    let path = dir.path(&format!("clip-{seconds}.wav"));
    common::write_wav(&path, &x[start..start + n], rate, 1);
    path
}

fn tag(path: &Path) -> mstag::Result<mstag::SongTags> {
    common::tagger().tag_path(path)
}

fn assert_bounded(s: &[f32]) {
    assert_eq!(s.len(), 50);
    assert!(s.iter().all(|x| (0.0..=1.0).contains(x)), "{s:?}");
}

#[test]
fn clips_shorter_than_the_longest_segment_are_tagged_and_marked() {
    let dir = common::TempDir::new("short-clips");
    // 0.6 s holds one 18-frame segment; 1.0 s one of 18 and one of 27; 1.3 s all three.
    for (seconds, looped) in [(0.6, vec![27, 54]), (1.0, vec![54]), (1.3, vec![])] {
        let t = tag(&clip(&dir, seconds)).unwrap_or_else(|e| panic!("{seconds} s: {e}"));
        assert_eq!(t.looped_scales(), looped, "{seconds} s");
        assert_bounded(t.scores());
        assert!(
            (t.duration_s() - seconds).abs() < 1e-3,
            "{}",
            t.duration_s()
        );
    }
}

#[test]
fn the_minimum_is_one_segment_of_the_shortest_scale() {
    let manifest = Manifest::load(&common::manifest_path()).unwrap();
    let shortest = manifest.min_segment_frames();
    assert_eq!(shortest, 18);
    // 18 frames of 1024 samples every 512: 9728 samples at 22,050 Hz.
    let exact = (shortest - 1) * manifest.frontend.hop + manifest.frontend.n_fft;
    assert_eq!(min_duration_s(&manifest), 0.45, "0.4412 s rounded up");
    let (x, rate, _) = mstag::decode::decode_all(&common::demo_clip()).unwrap();
    assert_eq!(rate, manifest.sample_rate);
    let dir = common::TempDir::new("short-min");
    let at = |n: usize| {
        let p = dir.path(&format!("{n}.wav"));
        common::write_wav(&p, &x[rate as usize * 10..][..n], rate, 1);
        tag(&p)
    };
    let t = at(exact).expect("one 18-frame segment is enough");
    assert_eq!(t.looped_scales(), vec![27, 54]);
    let e = at(exact - 1)
        .expect_err("one sample less is refused")
        .to_string();
    assert!(e.contains("too short") && e.contains("0.45 s"), "{e}");

    // A 0.6 s clip of digital silence is refused for its silence, not its length.
    let silent = dir.path("silent.wav");
    common::write_wav(&silent, &vec![0.0; rate as usize * 6 / 10], rate, 1);
    let e = tag(&silent).expect_err("silence refused").to_string();
    assert!(e.contains("digital silence from start to end"), "{e}");
    // 2 s of silence, then 0.3 s of music: long enough, but the only complete 54-frame
    // segment is silent; the message says so instead of calling 2.3 s too short.
    let late = dir.path("late.wav");
    let mut x2 = vec![0.0; rate as usize * 2];
    x2.extend(&x[rate as usize * 10..][..rate as usize * 3 / 10]);
    common::write_wav(&late, &x2, rate, 1);
    let e = tag(&late)
        .expect_err("no sound in a 54-frame segment")
        .to_string();
    assert!(
        e.contains("54-frame scale is digital silence") && !e.contains("too short"),
        "{e}"
    );
}

#[test]
fn other_rates_and_channels_loop_the_same_way() {
    let dir = common::TempDir::new("short-44k");
    let (x, rate, _) = mstag::decode::decode_all(&common::demo_clip()).unwrap();
    // 0.6 s at 44.1 kHz stereo: each sample twice in time, on both channels.
    let src = &x[rate as usize * 10..][..rate as usize * 6 / 10];
    let stereo: Vec<f32> = src.iter().flat_map(|&s| [s, s, s, s]).collect();
    let p = dir.path("stereo44k.wav");
    common::write_wav(&p, &stereo, rate * 2, 2);
    let t = tag(&p).unwrap();
    assert_eq!(t.looped_scales(), vec![27, 54]);
    assert_bounded(t.scores());
}

#[test]
fn the_live_path_loops_short_clips_like_mstag_tag() {
    let dir = common::TempDir::new("short-live");
    for seconds in [0.6, 1.0] {
        let path = clip(&dir, seconds);
        let offline = tag(&path).unwrap();
        let (_, summary, _) = common::live_fast(&path);
        let last = summary
            .final_scores
            .expect("a short clip gets final scores live");
        assert!(last.looped, "{seconds} s: marked as looped");
        let err = common::max_abs_err(last.view(View::Session), offline.scores());
        assert!(err <= 1e-6, "{seconds} s: live vs offline {err:e}");
    }
}

#[test]
fn the_binaries_tag_short_clips_and_refuse_below_the_minimum() {
    let dir = common::TempDir::new("short-cli");
    let (c03, c06, c10) = (clip(&dir, 0.3), clip(&dir, 0.6), clip(&dir, 1.0));
    let out = Command::new(env!("CARGO_BIN_EXE_mstag"))
        .args(["tag", "--format", "json", "--quiet"])
        .args([&c03, &c06, &c10])
        .output()
        .unwrap();
    assert!(!out.status.success(), "the 0.3 s clip fails the run");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let e = v[0]["error"].as_str().expect("0.3 s refused");
    assert!(
        e.contains("0.30 s of audio") && e.contains("at least 0.45 s"),
        "{e}"
    );
    assert_eq!(v[1]["looped_scales"], serde_json::json!([27, 54]));
    assert_eq!(v[2]["looped_scales"], serde_json::json!([54]));
    for (i, p) in [(1, &c06), (2, &c10)] {
        let tags = v[i]["tags"]
            .as_object()
            .unwrap_or_else(|| panic!("{}", v[i]));
        assert_eq!(tags.len(), 50);
        let want = tag(p).unwrap().scores().to_vec();
        let got: Vec<f32> = tags.values().map(|s| s.as_f64().unwrap() as f32).collect();
        assert_eq!(
            got, want,
            "manifest order, shortest decimal form of each f32"
        );
    }

    // mstag-live --fast ends with the same song-level scores as mstag tag.
    let live = Command::new(env!("CARGO_BIN_EXE_mstag-live"))
        .arg("--input")
        .arg(&c06)
        .args(["--fast", "--json"])
        .output()
        .unwrap();
    assert!(
        live.status.success(),
        "{}",
        String::from_utf8_lossy(&live.stderr)
    );
    let text = String::from_utf8(live.stdout).unwrap();
    let last: serde_json::Value =
        serde_json::from_str(text.lines().last().expect("a JSON line")).unwrap();
    assert_eq!(last["looped"], true);
    assert_eq!(last["final"], true);
    let live_session = last["session"].as_object().expect("session scores");
    for (name, s) in live_session {
        let want = v[1]["tags"][name].as_f64().unwrap();
        assert!(
            (s.as_f64().unwrap() - want).abs() <= 1e-6,
            "{name}: {s} vs {want}"
        );
    }
    assert_eq!(live_session.len(), 50);
}
