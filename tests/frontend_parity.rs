//! One front end: the Rust log-mel frames equal the Python pipeline's golden vectors.

mod common;

use mstag::decode::decode_all;
use mstag::dsp::MelFrontEnd;
use mstag::model::Manifest;

#[test]
fn rust_mel_frames_match_the_python_golden_vectors() {
    let golden = common::json(&common::fixture("golden.json"));
    let manifest = Manifest::load(&common::manifest_path()).unwrap();
    let (samples, rate, channels) = decode_all(&common::fixture("golden.wav")).unwrap();
    assert_eq!((rate, channels), (manifest.sample_rate, 1));
    assert_eq!(samples.len() as u64, golden["n_samples"].as_u64().unwrap());

    let mut fe = MelFrontEnd::new(manifest.sample_rate, &manifest.frontend).unwrap();
    let mut frames = Vec::new();
    // Pushed in uneven pieces, as audio arrives live.
    for chunk in samples.chunks(777) {
        fe.push(chunk, &mut frames);
    }
    let want: Vec<Vec<f32>> = golden["mel_frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(common::f32s)
        .collect();
    let n_mels = manifest.frontend.n_mels;
    assert_eq!(frames.len(), want.len() * n_mels, "frame count");
    let flat: Vec<f32> = want.concat();
    // Relative error, with a floor of 1e-3 for values near zero (log10(1 + 1e4 x) ~ 0).
    let err = common::max_rel_err(&frames, &flat, 1e-3);
    assert!(err <= 1e-4, "max relative error {err:e}");
    let peak = flat.iter().cloned().fold(0.0f32, f32::max);
    assert!(
        peak > 1.0,
        "golden signal is not silent (peak log-mel {peak})"
    );
}
