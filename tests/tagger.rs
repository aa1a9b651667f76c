//! The library facade: `Tagger` and `StreamTagger` give the same song-level result for the
//! same audio however it arrives, keep their models across failures, and say why when there
//! is nothing to tag.

mod common;

use mstag::decode::decode_all;
use mstag::engine::NoScores;
use mstag::scores::View;
use mstag::{Error, StreamTagger, TaggerConfig};

#[test]
fn a_file_in_memory_and_pushed_in_pieces_give_the_files_scores() {
    let mut tagger = common::tagger();
    let demo = common::demo_clip();
    let from_file = tagger.tag_path(&demo).expect("demo tags");
    assert_eq!(from_file.scores().len(), tagger.tags().len());
    assert_eq!(from_file.names(), tagger.tags());
    assert_eq!(from_file.features().len(), tagger.feature_dim());
    assert!(from_file.features().iter().all(|x| x.is_finite()));
    assert!(
        (from_file.duration_s() - 30.0).abs() < 0.05,
        "{}",
        from_file.duration_s()
    );

    let (samples, rate, channels) = decode_all(&demo).expect("decode");
    let in_memory = tagger.tag_samples(&samples, rate, channels).expect("tags");
    assert!(common::max_abs_err(in_memory.scores(), from_file.scores()) <= 1e-6);
    assert!(common::max_abs_err(in_memory.features(), from_file.features()) <= 1e-6);

    // Odd-sized pieces, scores as they come, then the song-level result.
    let mut stream = tagger.stream(rate, channels).expect("stream");
    let mut updates = 0;
    let mut last_t = 0.0;
    for piece in samples.chunks(777 * channels) {
        if let Some(s) = stream.push(piece).expect("push") {
            assert!(s.t > last_t, "time goes forward");
            last_t = s.t;
            assert!(s.view(View::Window).iter().all(|x| (0.0..=1.0).contains(x)));
            updates += 1;
        }
    }
    assert!(updates > 30, "{updates} updates for 30 s: several a second");
    assert_eq!(stream.latest().map(|s| s.seq), Some(updates));
    let streamed = stream.finish().expect("finish");
    assert!(common::max_abs_err(streamed.scores(), from_file.scores()) <= 1e-5);

    // The top tags are the file's best, best first.
    let top = from_file.top(5);
    assert_eq!(top.len(), 5);
    assert!(top.windows(2).all(|w| w[0].1 >= w[1].1), "{top:?}");
    assert_eq!(from_file.score(top[0].0), Some(top[0].1));
}

#[test]
fn a_tagger_keeps_working_after_files_that_fail() {
    let dir = common::TempDir::new("tagger-facade");
    let mut tagger = common::tagger();
    let not_audio = dir.path("notes.wav");
    std::fs::write(&not_audio, b"certainly not a wave file").unwrap();
    let e = tagger.tag_path(&not_audio).expect_err("not audio");
    assert!(e.to_string().contains("notes.wav"), "{e}");

    let short = dir.path("click.wav");
    common::write_wav(&short, &[0.5; 2_000], 22_050, 1);
    match tagger.tag_path(&short) {
        Err(Error::NoScores {
            path: Some(p),
            reason: NoScores::TooShort { needed_s, .. },
        }) => {
            assert_eq!(p, short);
            assert!(needed_s > 0.4 && needed_s < 0.5, "{needed_s}");
        }
        other => panic!("expected a too-short error, got {other:?}"),
    }
    let silence = vec![0.0; 22_050 * 5];
    assert!(matches!(
        tagger.tag_samples(&silence, 22_050, 1),
        Err(Error::NoScores {
            path: None,
            reason: NoScores::AllSilent
        })
    ));
    // And the same tagger still tags.
    assert!(tagger.tag_path(common::demo_clip()).is_ok());
}

#[test]
fn bad_settings_and_formats_are_refused_before_any_audio() {
    let e = mstag::Tagger::new(TaggerConfig {
        manifest: common::manifest_path(),
        pipeline: mstag::engine::PipelineConfig {
            window_s: 0.0,
            ..Default::default()
        },
        ..TaggerConfig::default()
    })
    .err()
    .expect("window 0 is refused");
    assert!(
        matches!(e, Error::InvalidSetting { name: "window", .. }),
        "{e}"
    );
    let e = StreamTagger::new(common::models(), 44_100, 0, Default::default())
        .err()
        .expect("0 channels");
    assert!(matches!(e, Error::AudioFormat { .. }), "{e}");
}

/// The same song-level result within float rounding (1e-5), analysed the same way.
fn assert_same_song(a: &mstag::SongTags, b: &mstag::SongTags, what: &str) {
    assert!(
        common::max_abs_err(a.scores(), b.scores()) <= 1e-5,
        "{what}"
    );
    assert!(
        common::max_abs_err(a.features(), b.features()) <= 1e-5,
        "{what}"
    );
    assert_eq!(a.segments(), b.segments(), "{what}");
    assert_eq!(a.silent_segments(), b.silent_segments(), "{what}");
    assert_eq!(a.looped_scales(), b.looped_scales(), "{what}");
    assert!((a.duration_s() - b.duration_s()).abs() < 1e-9, "{what}");
}

/// A tagger over the bundled models with `batch` segments per model call.
fn batched(batch: usize) -> mstag::Tagger {
    mstag::Tagger::new(TaggerConfig {
        manifest: common::manifest_path(),
        batch,
        ..TaggerConfig::default()
    })
    .expect("bundled models load")
}

#[test]
fn batched_inference_gives_the_scores_of_one_segment_at_a_time() {
    let dir = common::TempDir::new("batch");
    // A 44.1 kHz stereo file with a silent middle (gated segments between batches), and a
    // clip shorter than the longest segment (looped), beside the demo and the golden fixture.
    let rate = 44_100;
    let mut stereo = Vec::new();
    for i in 0..(12 * rate) {
        let t = i as f32 / rate as f32;
        let on = !(4.0..6.0).contains(&t);
        let x = if on {
            (t * 330.0 * std::f32::consts::TAU).sin() * 0.3
        } else {
            0.0
        };
        stereo.extend([x, 0.5 * x]);
    }
    let stereo_path = dir.path("stereo.wav");
    common::write_wav(&stereo_path, &stereo, rate as u32, 2);
    let short_path = dir.path("short.wav");
    common::write_wav(&short_path, &stereo[..2 * rate], rate as u32, 2);
    let files = [
        common::demo_clip(),
        common::fixture("golden.wav"),
        stereo_path,
        short_path,
    ];
    let mut one = batched(1);
    for batch in [7, 64, mstag::engine::pipeline::MAX_BATCH] {
        let mut many = batched(batch);
        for f in &files {
            let a = one.tag_path(f).expect("batch 1");
            let b = many.tag_path(f).expect("batched");
            assert_same_song(&a, &b, &format!("{} at batch {batch}", f.display()));
        }
    }
    // The gap and the short clip did what they are there for.
    let s = one.tag_path(&files[2]).unwrap();
    assert!(s.silent_segments() > 0);
    assert!(!one.tag_path(&files[3]).unwrap().looped_scales().is_empty());
}

#[test]
fn a_batch_outside_1_to_max_is_refused() {
    for batch in [0, mstag::engine::pipeline::MAX_BATCH + 1] {
        let e = mstag::Tagger::new(TaggerConfig {
            manifest: common::manifest_path(),
            batch,
            ..TaggerConfig::default()
        })
        .err()
        .expect("refused");
        assert!(
            matches!(e, Error::InvalidSetting { name: "batch", .. }),
            "{e}"
        );
    }
}

#[test]
fn device_auto_runs_somewhere_and_says_where() {
    let mut tagger = mstag::Tagger::new(TaggerConfig {
        manifest: common::manifest_path(),
        device: mstag::model::Device::Auto,
        ..TaggerConfig::default()
    })
    .expect("auto always loads");
    let p = tagger.placement().clone();
    assert_eq!(p.requested, mstag::model::Device::Auto);
    let song = tagger.tag_path(common::demo_clip()).unwrap();
    assert_eq!(song.device(), p.device_name());
    match p.device {
        mstag::model::Device::Cpu => {
            let why = p.fallback.as_deref().expect("a fallback says why");
            assert!(!why.is_empty());
            assert!(p.describe().contains(why));
            // Asking for CUDA itself is an error with the same reason.
            let e = mstag::Tagger::new(TaggerConfig {
                manifest: common::manifest_path(),
                device: mstag::model::Device::Cuda,
                ..TaggerConfig::default()
            })
            .err()
            .expect("no CUDA here");
            assert!(matches!(e, Error::ExecutionProvider { .. }), "{e}");
            assert!(e.to_string().contains(why), "{e}\n{why}");
        }
        mstag::model::Device::Cuda => assert!(p.fallback.is_none()),
        mstag::model::Device::Auto => panic!("auto is always resolved"),
    }
}

#[test]
fn many_files_batched_together_give_each_files_own_result() {
    let dir = common::TempDir::new("many");
    let rate = 44_100u32;
    let tone: Vec<f32> = (0..(3 * rate) as usize)
        .flat_map(|i| {
            let x = (i as f32 * 523.25 * std::f32::consts::TAU / rate as f32).sin() * 0.3;
            [x, 0.5 * x]
        })
        .collect();
    let short = dir.path("short.wav"); // under one 54-frame segment: looped
    common::write_wav(&short, &tone[..2 * rate as usize / 2], rate, 2);
    let stereo = dir.path("stereo.wav");
    common::write_wav(&stereo, &tone, rate, 2);
    let silent = dir.path("silent.wav");
    common::write_wav(&silent, &vec![0.0; 5 * 22_050], 22_050, 1);
    let not_audio = dir.path("not-audio.wav");
    std::fs::write(&not_audio, b"RIFF nonsense").unwrap();
    let files = vec![
        common::demo_clip(),
        short,
        dir.path("missing.flac"),
        common::fixture("golden.wav"),
        silent,
        stereo.clone(),
        not_audio,
        common::demo_clip(),
        stereo.clone(),
        stereo,
        common::fixture("golden.wav"),
    ];
    let mut one = batched(1);
    let mut many = batched(64);
    let mut seen = Vec::new();
    let together = many.tag_paths(&files, |p| seen.push(p.to_path_buf()));
    assert_eq!(together.len(), files.len());
    seen.sort();
    let mut want = files.clone();
    want.sort();
    assert_eq!(seen, want, "progress once per file");
    for (f, got) in files.iter().zip(&together) {
        let alone = one.tag_path(f);
        match (alone, got) {
            (Ok(a), Ok(b)) => assert_same_song(&a, b, &f.display().to_string()),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            (a, b) => panic!(
                "{}: alone {:?}, together {:?}",
                f.display(),
                a.is_ok(),
                b.is_ok()
            ),
        }
    }
    let failed: Vec<String> = together
        .iter()
        .filter_map(|r| r.as_ref().err().map(|e| e.to_string()))
        .collect();
    assert_eq!(failed.len(), 3, "{failed:#?}");
    // The tagger has its models back.
    assert!(many.tag_path(common::demo_clip()).is_ok());
}
