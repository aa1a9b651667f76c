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
