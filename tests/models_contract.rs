//! The contract between the training pipeline and the engine: every ONNX model loads, its
//! shapes match the manifest, and features and scores match the Python pipeline's.

mod common;

use mstag::engine::pipeline::{FeaturePipeline, PipelineConfig, Scorer};
use mstag::model::Manifest;
use mstag::scores::{Scores, View};

#[test]
fn manifest_checksums_and_size_budget() {
    let m = Manifest::load(&common::manifest_path()).unwrap();
    m.verify_files().unwrap();
    let total: u64 = m
        .scales
        .iter()
        .map(|s| s.file.clone())
        .chain(std::iter::once(m.classifier.file.clone()))
        .map(|f| std::fs::metadata(m.file_path(&f)).unwrap().len())
        .sum();
    assert!(total < 10_000_000, "ONNX files total {total} bytes");
    assert_eq!(m.tags.len(), 50);
    assert_eq!(
        m.scales.iter().map(|s| s.frames).collect::<Vec<_>>(),
        vec![18, 27, 54]
    );
    assert!(
        m.scales.iter().all(|s| s.levels.len() == 3),
        "top three layers per scale"
    );
}

#[test]
fn segment_features_and_scores_match_python_on_the_golden_signal() {
    let golden = common::json(&common::fixture("golden.json"));
    let mut models = common::models();
    let n_mels = models.manifest.frontend.n_mels;
    let frames: Vec<f32> = golden["mel_frames"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(common::f32s)
        .collect();
    // Each scale's model on the golden segments (Python's frames, so only the model is tested).
    for scale in models.scales.iter_mut() {
        let want: Vec<Vec<f32>> = golden["segment_features"][&scale.name]
            .as_array()
            .unwrap()
            .iter()
            .map(common::f32s)
            .collect();
        assert!(
            !want.is_empty(),
            "golden signal has segments of {}",
            scale.name
        );
        let dim = scale.feature_dim();
        let mut got = vec![0.0f32; dim];
        for (k, w) in want.iter().enumerate() {
            let a = k * scale.hop_frames * n_mels;
            scale
                .extract(&frames[a..a + scale.frames * n_mels], 1, &mut got)
                .unwrap();
            let err = common::max_abs_err(&got, w);
            let scale_max = w.iter().cloned().fold(1e-6f32, f32::max);
            assert!(
                err / scale_max <= 1e-4,
                "{} segment {k}: err {err:e}",
                scale.name
            );
        }
    }
    // Classifier on the Python song-level feature.
    let feats = common::f32s(&golden["song_features"]);
    let want = common::f32s(&golden["scores"]);
    let mut got = vec![0.0f32; want.len()];
    let mut scorer = Scorer::new(models.classifier);
    scorer.score_features(&feats, &mut got).unwrap();
    let err = common::max_abs_err(&got, &want);
    assert!(err <= 1e-4, "classifier scores differ by {err:e}");
}

#[test]
fn whole_pipeline_on_the_golden_wav_matches_python() {
    let golden = common::json(&common::fixture("golden.json"));
    let models = common::models();
    let manifest = models.manifest.clone();
    let (samples, rate, ch) = mstag::decode::decode_all(&common::fixture("golden.wav")).unwrap();
    let mut p = FeaturePipeline::new(
        &manifest,
        models.scales,
        rate,
        ch,
        PipelineConfig::default(),
    )
    .unwrap();
    p.push(&samples).unwrap();
    p.finish().unwrap();
    let mut feats = vec![0.0f32; manifest.feature_dim()];
    assert!(p.aggregates.write(View::Session, &mut feats));
    let want_feats = common::f32s(&golden["song_features"]);
    let scale = want_feats.iter().cloned().fold(1e-6f32, f32::max);
    assert!(common::max_abs_err(&feats, &want_feats) / scale <= 1e-4);
    let mut scorer = Scorer::new(models.classifier);
    let mut s = Scores::default();
    assert!(scorer.score(&p.aggregates, &mut s).unwrap());
    let err = common::max_abs_err(s.view(View::Session), &common::f32s(&golden["scores"]));
    assert!(err <= 1e-4, "scores differ by {err:e}");
}
