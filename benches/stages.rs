//! Per-stage benchmarks (criterion): `cargo bench --bench stages`.
//!
//! * `capture_callback/*`: one 512-frame device callback into a ring with room (ns per call).
//! * `dsp/*`: downmix, resampling 48 kHz → 22.05 kHz and log-mel frames, per second of audio.
//! * `model/*`: each scale's CNN per segment and the classifier, batch 1 (and 3, what the live
//!   engine runs per update), one intra-op thread, as loaded by `ModelSet::load(.., Cpu, 1)`.
//! * `live_path/*`: the whole inference-thread path per second of audio: `FeaturePipeline::push`
//!   in the engine's 1024-frame blocks plus `Scorer::score` after every push that completed a
//!   segment (exactly what the live engine does, minus the ring and the publish); `+2_heads`
//!   with two heads of your own (8 and 6 labels, `mstag learn`'s shape) scored in every update.
//! * `heads/*`: scoring those two heads on the three views' features, once per update.
//!
//! Input is real music: the demo clip (22.05 kHz mono), and the same clip resampled to 48 kHz
//! stereo for the stages that see device-rate audio.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

use mstag::aggregate::{Aggregates, ScaleAggregate};
use mstag::capture::capture_callback;
use mstag::dsp::{Downmixer, MelFrontEnd, StreamResampler};
use mstag::engine::{FeaturePipeline, PipelineConfig, Scorer, Scores, View};
use mstag::head::{FeatureModels, Head, HeadKind, HeadSet};
use mstag::stream::ring;

use common::{as_device, demo, load_models, manifest_path, pipeline_for, Audio, Looper};

const CALLBACK_FRAMES: usize = 512;
/// Callbacks between two (untimed) drains of the ring: the ring always has room.
const CALLBACKS_PER_DRAIN: usize = 64;

/// Times `iters` callbacks of `data` (one device buffer) into a stereo ring that always has
/// room: the ring is drained, untimed, every [`CALLBACKS_PER_DRAIN`] callbacks.
fn time_callbacks<T: mstag::capture::CaptureSample>(data: &[T], iters: u64) -> Duration {
    let (mut prod, mut cons) = ring(2, CALLBACK_FRAMES * CALLBACKS_PER_DRAIN);
    let mut sink = vec![0.0f32; CALLBACK_FRAMES * CALLBACKS_PER_DRAIN * 2];
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(CALLBACKS_PER_DRAIN as u64);
        let t = Instant::now();
        for _ in 0..n {
            black_box(capture_callback(&mut prod, black_box(data)));
        }
        total += t.elapsed();
        cons.pop_frames(&mut sink);
        left -= n;
    }
    assert_eq!(prod.stats().dropped_frames(), 0, "the ring ran full");
    total
}

fn capture(c: &mut Criterion) {
    let dev = as_device(&demo(), 48_000, 2);
    let f32s: Vec<f32> = dev.samples[48_000 * 2..(48_000 + CALLBACK_FRAMES) * 2].to_vec();
    let i16s: Vec<i16> = f32s
        .iter()
        .map(|&s| (s * 32_767.0).round().clamp(-32_768.0, 32_767.0) as i16)
        .collect();
    let mut g = c.benchmark_group("capture_callback");
    g.bench_function("f32_stereo_512", |b| {
        b.iter_custom(|iters| time_callbacks(&f32s, iters))
    });
    g.bench_function("i16_stereo_512", |b| {
        b.iter_custom(|iters| time_callbacks(&i16s, iters))
    });
    g.finish();
}

fn dsp(c: &mut Criterion) {
    let clip = demo();
    let dev = as_device(&clip, 48_000, 2);
    let manifest = mstag::model::Manifest::load(&manifest_path()).expect("manifest");
    let sr = manifest.sample_rate;
    let mut g = c.benchmark_group("dsp");

    // Downmix of one second of 48 kHz stereo.
    let stereo = &dev.samples[..48_000 * 2];
    let mut down = Downmixer::new();
    let mut mono = Vec::with_capacity(48_000);
    g.bench_function("downmix_48k_stereo/1s_audio", |b| {
        b.iter(|| {
            mono.clear();
            down.process(black_box(stereo), 2, &mut mono);
            black_box(mono.len())
        })
    });

    // Resampling one second of 48 kHz mono to the model rate (streaming, state kept).
    let mono48: Vec<f32> = dev.samples.chunks_exact(2).map(|f| f[0]).collect();
    let mut rs = StreamResampler::new(48_000, sr).expect("resampler");
    let mut out = Vec::with_capacity(2 * sr as usize);
    let mut pos = 0usize;
    g.bench_function("resample_48k_to_22k/1s_audio", |b| {
        b.iter(|| {
            if pos + 48_000 > mono48.len() {
                pos = 0;
            }
            out.clear();
            rs.push(black_box(&mono48[pos..pos + 48_000]), &mut out)
                .expect("resample");
            pos += 48_000;
            black_box(out.len())
        })
    });

    // Log-mel frames of one second of model-rate audio (streaming, state kept).
    let mono22: Vec<f32> = clip
        .samples
        .chunks_exact(clip.channels)
        .map(|f| f[0])
        .collect();
    let mut mel = MelFrontEnd::new(sr, &manifest.frontend).expect("mel");
    let mut frames = Vec::with_capacity(64 * manifest.frontend.n_mels);
    let per_s = sr as usize;
    let mut pos = 0usize;
    g.bench_function("mel_frames/1s_audio", |b| {
        b.iter(|| {
            if pos + per_s > mono22.len() {
                pos = 0;
            }
            frames.clear();
            mel.push(black_box(&mono22[pos..pos + per_s]), &mut frames);
            pos += per_s;
            black_box(frames.len())
        })
    });
    g.finish();
}

fn models(c: &mut Criterion) {
    let clip = demo();
    let set = load_models();
    let manifest = set.manifest.clone();
    let n_mels = manifest.frontend.n_mels;
    // Real log-mel frames of the demo clip, from the middle of it.
    let mut mel = MelFrontEnd::new(manifest.sample_rate, &manifest.frontend).expect("mel");
    let mut frames = Vec::new();
    let mono: Vec<f32> = clip
        .samples
        .chunks_exact(clip.channels)
        .map(|f| f[0])
        .collect();
    mel.push(&mono, &mut frames);
    let mid = frames.len() / n_mels / 2;

    let mut g = c.benchmark_group("model");
    let mut scales = set.scales;
    for m in scales.iter_mut() {
        let seg = frames[mid * n_mels..(mid + m.frames) * n_mels].to_vec();
        let mut out = vec![0.0f32; m.feature_dim()];
        let name = format!("cnn_{}/segment_batch1", m.name);
        g.bench_function(name, |b| {
            b.iter(|| {
                m.extract(black_box(&seg), 1, &mut out).expect("extract");
                black_box(out[0])
            })
        });
    }
    let mut cls = set.classifier;
    let d = cls.input_dim;
    let t = cls.n_tags;
    let feats: Vec<f32> = (0..3 * d).map(|i| ((i * 37) % 101) as f32 / 50.0).collect();
    let mut out = vec![0.0f32; 3 * t];
    g.bench_function("classifier/batch1", |b| {
        b.iter(|| {
            cls.predict(black_box(&feats[..d]), 1, &mut out[..t])
                .expect("predict");
            black_box(out[0])
        })
    });
    g.bench_function("classifier/batch3", |b| {
        b.iter(|| {
            cls.predict(black_box(&feats), 3, &mut out)
                .expect("predict");
            black_box(out[0])
        })
    });
    g.finish();
}

/// The running aggregates as the live engine holds them (three scales, 10 s window, full
/// rings): writing the classifier's input for the three views, once per update.
fn aggregates(c: &mut Criterion) {
    let manifest = mstag::model::Manifest::load(&manifest_path()).expect("manifest");
    let fe = &manifest.frontend;
    let cfg = PipelineConfig::default();
    let mut scales: Vec<ScaleAggregate> = manifest
        .scales
        .iter()
        .map(|s| {
            let hop_s = (s.hop_frames * fe.hop) as f64 / manifest.sample_rate as f64;
            ScaleAggregate::new(s.feature_dim(), hop_s, cfg.window_s, cfg.ema_tau_s)
        })
        .collect();
    for (i, s) in manifest.scales.iter().enumerate() {
        let hop_s = (s.hop_frames * fe.hop) as f64 / manifest.sample_rate as f64;
        let dim = s.feature_dim();
        for k in 0..200 {
            let x: Vec<f32> = (0..dim)
                .map(|j| ((j * 7 + k * 13) % 29) as f32 * 0.1)
                .collect();
            scales[i].add(&x, (k + 1) as f64 * hop_s);
        }
    }
    let ag = Aggregates::new(scales);
    let mut out = vec![0.0f32; ag.dim()];
    let mut g = c.benchmark_group("aggregate");
    for (name, v) in [
        ("session", View::Session),
        ("window", View::Window),
        ("ema", View::Ema),
    ] {
        g.bench_function(format!("write_{name}_view/3_scales"), |b| {
            b.iter(|| black_box(ag.write(v, black_box(&mut out))))
        });
    }
    g.finish();
}

/// One second of `audio` through the live engine's per-block work.
fn live_second(
    pipeline: &mut FeaturePipeline,
    scorer: &mut Scorer,
    scores: &mut Scores,
    looper: &mut Looper,
    rate: usize,
) {
    let mut left = rate;
    while left > 0 {
        let block = looper.next(left.min(1024));
        left -= block.len() / pipeline.channels();
        if pipeline.push(block).expect("push") > 0 {
            black_box(scorer.score(&pipeline.aggregates, scores).expect("score"));
        }
    }
}

/// Two heads as `mstag learn` writes them for the bundled models (8 and 6 labels), with
/// fixed pseudo-random weights: the cost of scoring does not depend on the values.
fn two_heads() -> HeadSet {
    let manifest = mstag::model::Manifest::load(&manifest_path()).expect("manifest");
    let d = manifest.feature_dim();
    let mut x = 1u32;
    let mut next = move || {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (x >> 8) as f32 / (1u32 << 24) as f32 - 0.5
    };
    let mut head = |name: &str, n: usize, kind: HeadKind| Head {
        format: 1,
        name: name.into(),
        kind,
        labels: (0..n).map(|i| format!("{name}{i}")).collect(),
        feature_dim: d,
        feature_models: FeatureModels::of(&manifest),
        mean: (0..d).map(|_| next()).collect(),
        scale: (0..d).map(|_| 1.0 + next().abs()).collect(),
        weights: (0..n).map(|_| (0..d).map(|_| next()).collect()).collect(),
        bias: (0..n).map(|_| next()).collect(),
        training: serde_json::Value::Null,
    };
    let a = head("genre", 8, HeadKind::Single);
    let b = head("cue", 6, HeadKind::Multi);
    HeadSet::new(vec![a, b]).expect("heads")
}

/// Scoring two heads on the three views' features (what the engine adds per update).
fn heads(c: &mut Criterion) {
    let set = two_heads();
    let d = set.feature_dim().expect("heads");
    let features: Vec<f32> = (0..3 * d).map(|i| (i % 17) as f32 * 0.1).collect();
    let mut out = [[0.0f32; mstag::engine::MAX_HEAD_LABELS]; 3];
    let mut g = c.benchmark_group("heads");
    g.bench_function("score_3_views/8+6_labels", |b| {
        b.iter(|| {
            for (k, row) in out.iter_mut().enumerate() {
                set.score_into(black_box(&features[k * d..(k + 1) * d]), row);
            }
            black_box(&out);
        })
    });
    g.finish();
}

fn live(c: &mut Criterion) {
    let clip = demo();
    let dev = as_device(&clip, 48_000, 2);
    let mut g = c.benchmark_group("live_path");
    for (name, audio, with_heads) in [
        ("48k_stereo/1s_audio", &dev, false),
        ("48k_stereo/1s_audio+2_heads", &dev, true),
        ("22k_mono/1s_audio", &clip, false),
    ] {
        let audio: &Audio = audio;
        let (mut pipeline, classifier) = pipeline_for(audio);
        let mut scorer = Scorer::new(classifier);
        if with_heads {
            scorer.set_heads(two_heads()).expect("heads");
        }
        let mut scores = Scores::default();
        let mut looper = Looper::new(audio);
        // Past the first long segment, so every iteration scores.
        for _ in 0..2 {
            live_second(
                &mut pipeline,
                &mut scorer,
                &mut scores,
                &mut looper,
                audio.rate as usize,
            );
        }
        g.bench_function(name, |b| {
            b.iter(|| {
                live_second(
                    &mut pipeline,
                    &mut scorer,
                    &mut scores,
                    &mut looper,
                    audio.rate as usize,
                )
            })
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = capture, dsp, models, aggregates, heads, live
}
criterion_main!(benches);
