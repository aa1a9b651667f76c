//! Bad audio, bad files and bad models: clear errors, bounded scores, nothing lost.

mod common;

use std::path::Path;
use std::process::Command;

use mstag::engine::pipeline::{FeaturePipeline, PipelineConfig, Scorer};
use mstag::model::{Device, Manifest, ModelSet};
use mstag::scores::{Scores, View};

/// Runs interleaved audio through the shared pipeline; returns the session scores (if any)
/// and the number of silent segments.
fn run(samples: &[f32], rate: u32, channels: usize) -> (Option<Vec<f32>>, u64) {
    let models = common::models();
    let m = models.manifest.clone();
    let mut p =
        FeaturePipeline::new(&m, models.scales, rate, channels, PipelineConfig::default()).unwrap();
    let mut scorer = Scorer::new(models.classifier);
    let mut s = Scores::default();
    for chunk in samples.chunks(4096 * channels) {
        p.push(chunk).unwrap();
        if scorer.score(&p.aggregates, &mut s).unwrap() {
            for v in View::ALL {
                assert!(
                    s.view(v)
                        .iter()
                        .all(|x| x.is_finite() && (0.0..=1.0).contains(x)),
                    "{v:?}"
                );
            }
        }
    }
    p.finish().unwrap();
    let ok = scorer.score(&p.aggregates, &mut s).unwrap();
    (
        ok.then(|| s.view(View::Session).to_vec()),
        p.silent_segments(),
    )
}

fn demo(rate_out: u32) -> (Vec<f32>, u32) {
    let (x, rate, _) = mstag::decode::decode_all(&common::demo_clip()).unwrap();
    assert_eq!(rate_out, rate);
    (x[..rate as usize * 6].to_vec(), rate)
}

fn assert_bounded(s: &[f32]) {
    assert_eq!(s.len(), 50);
    assert!(
        s.iter().all(|x| x.is_finite() && (0.0..=1.0).contains(x)),
        "{s:?}"
    );
}

#[test]
fn hostile_samples_give_finite_bounded_scores() {
    let (music, rate) = demo(22_050);
    let n = music.len();
    let mut rng = 0x2545F4914F6CDD1Du64;
    let mut noise = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    };
    let cases: Vec<(&str, Vec<f32>)> = vec![
        (
            "NaN and Inf sprinkled",
            music
                .iter()
                .enumerate()
                .map(|(i, &x)| match i % 97 {
                    0 => f32::NAN,
                    1 => f32::INFINITY,
                    2 => f32::NEG_INFINITY,
                    _ => x,
                })
                .collect(),
        ),
        ("denormals", vec![1e-40f32; n]),
        (
            "full-scale clipping",
            music.iter().map(|x| (x * 40.0).clamp(-1.0, 1.0)).collect(),
        ),
        ("DC offset", music.iter().map(|x| x * 0.5 + 0.5).collect()),
        ("white noise", (0..n).map(|_| noise()).collect()),
        ("huge values", music.iter().map(|x| x * 1e30).collect()),
        (
            "a single click",
            (0..n).map(|i| if i == n / 2 { 1.0 } else { 0.0 }).collect(),
        ),
    ];
    for (name, x) in cases {
        let (s, _) = run(&x, rate, 1);
        if let Some(s) = s {
            assert_bounded(&s);
        } else {
            // Only inputs that are (almost) all silence may produce nothing.
            assert!(
                name == "denormals" || name == "a single click",
                "{name}: no scores"
            );
        }
    }
}

#[test]
fn digital_silence_is_gated_and_scores_hold() {
    let (music, rate) = demo(22_050);
    let silence = vec![0.0f32; rate as usize * 5];
    let (only_silence, silent) = run(&silence, rate, 1);
    assert!(only_silence.is_none(), "silence alone gives no scores");
    assert!(silent > 0);
    // Music then silence: once every segment straddling the end of the music is complete
    // (1.5 s > the longest segment), more silence changes nothing: the scores hold.
    let mut a_in = music.clone();
    a_in.extend(&silence[..rate as usize * 3 / 2]);
    let (a, _) = run(&a_in, rate, 1);
    let mut b_in = music.clone();
    b_in.extend(&silence);
    let (b, silent) = run(&b_in, rate, 1);
    assert!(silent > 0);
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b, "silence changed the scores");
}

#[test]
fn one_to_eight_channels_and_8k_to_192k() {
    let (music, rate) = demo(22_050);
    for channels in 1..=8usize {
        let x: Vec<f32> = music
            .iter()
            .flat_map(|&s| std::iter::repeat_n(s, channels))
            .collect();
        let (s, _) = run(&x, rate, channels);
        let s = s.expect("scores");
        assert_bounded(&s);
        if channels > 1 {
            let (mono, _) = run(&music, rate, 1);
            assert!(
                common::max_abs_err(&s, &mono.unwrap()) < 1e-5,
                "{channels} identical channels = mono"
            );
        }
    }
    for r in [
        8_000u32, 11_025, 16_000, 32_000, 44_100, 48_000, 88_200, 96_000, 176_400, 192_000,
    ] {
        let n = r as usize * 3;
        let x: Vec<f32> = (0..n)
            .map(|i| (i as f32 * 440.0 * std::f32::consts::TAU / r as f32).sin() * 0.3)
            .collect();
        let (s, _) = run(&x, r, 1);
        assert_bounded(&s.expect("scores"));
    }
    let models = common::models();
    let m = models.manifest.clone();
    for bad in [4_000u32, 384_000] {
        let e = FeaturePipeline::new(
            &m,
            common::models().scales,
            bad,
            2,
            PipelineConfig::default(),
        )
        .err()
        .expect("rate refused")
        .to_string();
        assert!(e.contains(&bad.to_string()) && e.contains("8000"), "{e}");
    }
    let e = FeaturePipeline::new(&m, models.scales, 48_000, 0, PipelineConfig::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("channels"), "{e}");
}

/// A copy of the bundled models in a temp dir, to break on purpose.
fn model_copy(tag: &str) -> common::TempDir {
    let dir = common::TempDir::new(tag);
    for e in std::fs::read_dir(common::root().join("models")).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, dir.path(p.file_name().unwrap().to_str().unwrap())).unwrap();
        }
    }
    dir
}

fn load_err(dir: &common::TempDir) -> String {
    ModelSet::load(&dir.path("manifest.json"), Device::Cpu, 1)
        .err()
        .expect("loading must fail")
        .to_string()
}

fn edit_manifest(dir: &common::TempDir, f: impl FnOnce(&mut serde_json::Value)) {
    let p = dir.path("manifest.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&p, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

#[test]
fn broken_models_fail_at_start_up_naming_the_file() {
    // Missing ONNX file.
    let d = model_copy("missing");
    std::fs::remove_file(d.path("s27.onnx")).unwrap();
    let e = load_err(&d);
    assert!(e.contains("s27.onnx"), "{e}");

    // Truncated ONNX file (checksum mismatch).
    let d = model_copy("truncated");
    let bytes = std::fs::read(d.path("s54.onnx")).unwrap();
    std::fs::write(d.path("s54.onnx"), &bytes[..bytes.len() / 2]).unwrap();
    let e = load_err(&d);
    assert!(e.contains("s54.onnx") && e.contains("SHA-256"), "{e}");

    // Truncated ONNX file whose checksum was "fixed": ONNX Runtime refuses it, clearly.
    let d = model_copy("truncated-sum");
    std::fs::write(d.path("s54.onnx"), &bytes[..bytes.len() / 2]).unwrap();
    let sum = sha256(&d.path("s54.onnx"));
    edit_manifest(&d, |v| v["scales"][2]["sha256"] = sum.into());
    let e = load_err(&d);
    assert!(e.contains("s54.onnx"), "{e}");

    // Wrong shape: a scale model swapped for another scale's (18 vs 27 frames).
    let d = model_copy("shape");
    std::fs::copy(d.path("s18.onnx"), d.path("s27.onnx")).unwrap();
    let sum = sha256(&d.path("s27.onnx"));
    edit_manifest(&d, |v| v["scales"][1]["sha256"] = sum.into());
    let e = load_err(&d);
    assert!(e.contains("s27.onnx") && e.contains("shape"), "{e}");

    // Manifest that does not match its files: tag count, dimensions.
    let d = model_copy("tags");
    edit_manifest(&d, |v| {
        v["tags"].as_array_mut().unwrap().pop();
    });
    let e = load_err(&d);
    assert!(e.contains("classifier.onnx") && e.contains("49"), "{e}");
    let d = model_copy("dims");
    edit_manifest(&d, |v| v["classifier"]["input_dim"] = 7.into());
    let e = load_err(&d);
    assert!(
        e.contains("manifest.json") && e.contains("input_dim"),
        "{e}"
    );

    // Not JSON at all; a path that escapes the models folder.
    let d = model_copy("json");
    std::fs::write(d.path("manifest.json"), "{ not json").unwrap();
    let e = load_err(&d);
    assert!(e.contains("manifest.json"), "{e}");
    let d = model_copy("escape");
    edit_manifest(&d, |v| v["classifier"]["file"] = "../../etc/passwd".into());
    let e = load_err(&d);
    assert!(e.contains("plain relative path"), "{e}");

    // The real manifest still loads and checks out.
    Manifest::load(&common::manifest_path())
        .unwrap()
        .verify_files()
        .unwrap();
}

fn sha256(p: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(p).unwrap()))
}

#[test]
fn missing_onnx_runtime_is_a_clear_error_naming_what_to_run() {
    let out = Command::new(env!("CARGO_BIN_EXE_mstag"))
        .arg("tag")
        .arg(common::demo_clip())
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so.1.31.1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/libonnxruntime.so.1.31.1"),
        "{err}"
    );
    assert!(err.contains("cargo xtask setup"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_files_are_reported_and_the_others_still_tagged() {
    let dir = common::TempDir::new("badfiles");
    let demo = common::demo_clip();
    let wav = std::fs::read(&demo).unwrap();
    let truncated = dir.path("truncated.wav");
    std::fs::write(&truncated, &wav[..wav.len() / 3]).unwrap();
    let corrupt = dir.path("corrupt.wav");
    let mut c = wav.clone();
    for b in c.iter_mut().skip(44).step_by(7) {
        *b = b.wrapping_mul(31).wrapping_add(7);
    }
    std::fs::write(&corrupt, &c).unwrap();
    let empty = dir.path("empty.wav");
    std::fs::write(&empty, b"").unwrap();
    let zero = dir.path("zero-length.wav");
    common::write_wav(&zero, &[], 44_100, 2);
    let text = dir.path("notes.mp3");
    std::fs::write(&text, "not an mp3").unwrap();
    let sub = dir.path("a-directory");
    std::fs::create_dir(&sub).unwrap();
    let missing = dir.path("missing.ogg");
    let files = [
        &demo, &truncated, &corrupt, &empty, &zero, &text, &sub, &missing, &demo,
    ];
    let out = Command::new(env!("CARGO_BIN_EXE_mstag"))
        .arg("tag")
        .args(files.iter().map(|p| p.as_os_str()))
        .args(["--format", "json", "--quiet"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), files.len());
    // Good, truncated (first part) and corrupt-but-decodable files are tagged.
    for i in [0, 1, 2, 8] {
        let tags = arr[i]["tags"]
            .as_object()
            .unwrap_or_else(|| panic!("{} tagged: {}", files[i].display(), arr[i]));
        assert!(tags
            .values()
            .all(|s| (0.0..=1.0).contains(&s.as_f64().unwrap())));
    }
    assert!((arr[1]["duration_s"].as_f64().unwrap() - 10.0).abs() < 0.1);
    for i in 3..8 {
        let e = arr[i]["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{} fails: {}", files[i].display(), arr[i]));
        assert!(e.contains(&files[i].display().to_string()), "{e}");
    }
    assert!(
        arr[4]["error"].as_str().unwrap().contains("short"),
        "{}",
        arr[4]
    );
    assert!(
        arr[6]["error"].as_str().unwrap().contains("directory"),
        "{}",
        arr[6]
    );
}

fn vm_hwm_kb() -> u64 {
    common::proc_status_kb("VmHWM")
}

/// A 10-hour file is streamed, never loaded whole: a sparse 16-bit WAV of digital silence
/// (1.6 GB as a file, nothing on disk) goes through decoding, the front end and the silence
/// gate with the process's peak memory growing by far less than the file's size.
#[test]
fn a_ten_hour_file_is_streamed() {
    use std::io::{Seek, SeekFrom, Write};
    let dir = common::TempDir::new("tenhours");
    let path = dir.path("ten-hours.wav");
    let rate = 22_050u32;
    let data_bytes: u32 = rate * 2 * 3600 * 10;
    let mut f = std::fs::File::create(&path).unwrap();
    let mut h = Vec::new();
    h.extend(b"RIFF");
    h.extend((36 + data_bytes).to_le_bytes());
    h.extend(b"WAVEfmt ");
    h.extend(16u32.to_le_bytes());
    h.extend(1u16.to_le_bytes()); // PCM
    h.extend(1u16.to_le_bytes()); // mono
    h.extend(rate.to_le_bytes());
    h.extend((rate * 2).to_le_bytes());
    h.extend(2u16.to_le_bytes());
    h.extend(16u16.to_le_bytes());
    h.extend(b"data");
    h.extend(data_bytes.to_le_bytes());
    f.write_all(&h).unwrap();
    f.seek(SeekFrom::Start(44 + data_bytes as u64 - 2)).unwrap();
    f.write_all(&[0, 0]).unwrap();
    drop(f);
    let before = vm_hwm_kb();
    let err = common::tagger()
        .tag_path(&path)
        .expect_err("ten hours of silence give nothing to tag")
        .to_string();
    let grown_mb = (vm_hwm_kb().saturating_sub(before)) / 1024;
    assert!(err.contains("digital silence"), "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(
        grown_mb < 100,
        "peak memory grew by {grown_mb} MB for a 1,588 MB file"
    );
}
