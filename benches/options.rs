//! What-if benchmarks for proposed performance changes (criterion):
//! `cargo bench --bench options`. Nothing here is used by mstag itself.
//!
//! * `option_resampler/*`: 48 kHz → 22.05 kHz, one second of audio, with the parameters
//!   `src/dsp/resample.rs` uses today (`sinc128_nearest_os512`), those it used before
//!   (`sinc128_linear`, then `sinc128_cubic`: slower for the same output) and other rubato
//!   settings; sinc resamplers run in `StreamResampler`'s chunks, the FFT one in 1,024 frames. Before
//!   timing, each is compared with a reference resampler (sinc 512, cubic, oversampling 512)
//!   on the log-mel frames of broadband audio (a 50 Hz–24 kHz sweep plus noise) and on the
//!   final song-level tag scores of real music; the differences are printed.
//! * `option_cnn/*`: each scale's CNN at batch 1, 8 and 32 (time per segment): what batching
//!   segments would save in offline tagging, which runs batch 1 today.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Async, Fft, FixedAsync, FixedSync, Resampler, SincInterpolationParameters,
    SincInterpolationType, WindowFunction,
};

use mstag::dsp::MelFrontEnd;
use mstag::engine::{FeaturePipeline, PipelineConfig, Scorer, Scores, View};
use mstag::model::Manifest;

use common::{as_device, demo, load_models, manifest_path};

/// Input frames per call of the FFT resampler, and the tail pushed to flush every resampler.
const CHUNK: usize = 1024;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Sinc {
        len: usize,
        interp: SincInterpolationType,
        oversampling: usize,
    },
    Fft,
}

/// The first entry is what `src/dsp/resample.rs` uses; the second what it used before.
const OPTIONS: [(&str, Kind); 5] = [
    (
        "sinc128_nearest_os512 (today)",
        Kind::Sinc {
            len: 128,
            interp: SincInterpolationType::Nearest,
            oversampling: 512,
        },
    ),
    (
        "sinc128_linear (before)",
        Kind::Sinc {
            len: 128,
            interp: SincInterpolationType::Linear,
            oversampling: 128,
        },
    ),
    (
        "sinc128_cubic (before that)",
        Kind::Sinc {
            len: 128,
            interp: SincInterpolationType::Cubic,
            oversampling: 128,
        },
    ),
    (
        "sinc64_linear",
        Kind::Sinc {
            len: 64,
            interp: SincInterpolationType::Linear,
            oversampling: 128,
        },
    ),
    ("fft_sync", Kind::Fft),
];

/// A streaming mono resampler with the delay trimmed (like `StreamResampler`).
struct Stream {
    r: Box<dyn Resampler<f32>>,
    input: Vec<f32>,
    output: Vec<f32>,
    skip: usize,
}

impl Stream {
    fn new(kind: Kind, from: u32, to: u32) -> Stream {
        let r: Box<dyn Resampler<f32>> = match kind {
            Kind::Sinc {
                len,
                interp,
                oversampling,
            } => {
                let p = SincInterpolationParameters {
                    sinc_len: len,
                    f_cutoff: None,
                    interpolation: interp,
                    oversampling_factor: oversampling,
                    window: WindowFunction::BlackmanHarris2,
                };
                Box::new(
                    Async::<f32>::new_sinc(
                        to as f64 / from as f64,
                        1.0,
                        &p,
                        // The chunk `StreamResampler` uses (~1 ms of input).
                        mstag::dsp::resample::chunk_frames(from),
                        1,
                        FixedAsync::Input,
                    )
                    .expect("sinc"),
                )
            }
            Kind::Fft => Box::new(
                Fft::<f32>::new(from as usize, to as usize, CHUNK, 1, FixedSync::Input)
                    .expect("fft"),
            ),
        };
        let out_max = r.output_frames_max();
        Stream {
            skip: r.output_delay(),
            input: Vec::with_capacity(4 * CHUNK),
            output: vec![0.0; out_max],
            r,
        }
    }

    fn push(&mut self, samples: &[f32], out: &mut Vec<f32>) {
        self.input.extend_from_slice(samples);
        let mut start = 0;
        loop {
            let need = self.r.input_frames_next();
            if self.input.len() - start < need {
                break;
            }
            let inp = InterleavedSlice::new(&self.input[start..start + need], 1, need).expect("in");
            let n_out = self.output.len();
            let mut o = InterleavedSlice::new_mut(&mut self.output[..], 1, n_out).expect("out");
            let (_, produced) = self
                .r
                .process_into_buffer(&inp, &mut o, None)
                .expect("process");
            let skip = self.skip.min(produced);
            self.skip -= skip;
            out.extend_from_slice(&self.output[skip..produced]);
            start += need;
        }
        self.input.drain(..start);
    }
}

fn resample_all(kind: Kind, x: &[f32], from: u32, to: u32) -> Vec<f32> {
    let mut s = Stream::new(kind, from, to);
    let mut out = Vec::new();
    s.push(x, &mut out);
    s.push(&vec![0.0; 8 * CHUNK], &mut out);
    out.truncate((x.len() as f64 * to as f64 / from as f64) as usize);
    out
}

fn reference(x: &[f32], from: u32, to: u32) -> Vec<f32> {
    resample_all(
        Kind::Sinc {
            len: 512,
            interp: SincInterpolationType::Cubic,
            oversampling: 512,
        },
        x,
        from,
        to,
    )
}

fn mel_frames(m: &Manifest, x: &[f32]) -> Vec<f32> {
    let mut mel = MelFrontEnd::new(m.sample_rate, &m.frontend).expect("mel");
    let mut f = Vec::new();
    mel.push(x, &mut f);
    f
}

/// Song-level (session) scores of model-rate mono audio.
fn song_scores(x: &[f32]) -> Vec<f32> {
    let set = load_models();
    let sr = set.manifest.sample_rate;
    let mut p = FeaturePipeline::new(&set.manifest, set.scales, sr, 1, PipelineConfig::default())
        .expect("pipeline");
    let mut t = Scorer::new(set.classifier);
    p.push(x).expect("push");
    p.finish().expect("finish");
    let mut s = Scores::default();
    t.score(&p.aggregates, &mut s).expect("score");
    s.view(View::Session).to_vec()
}

/// Broadband test audio at 48 kHz: a log sweep 50 Hz → 24 kHz plus white noise.
fn broadband(secs: f64) -> Vec<f32> {
    let rate = 48_000.0;
    let n = (secs * rate) as usize;
    let (f0, f1) = (50.0f64, 23_900.0f64);
    let k = (f1 / f0).ln() / secs;
    let mut seed = 0x2545F4914F6CDD1Du64;
    (0..n)
        .map(|i| {
            let t = i as f64 / rate;
            let phase = 2.0 * std::f64::consts::PI * f0 * ((k * t).exp() - 1.0) / k;
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let noise = (seed >> 40) as f64 / (1u64 << 24) as f64 - 0.5;
            (0.4 * phase.sin() + 0.1 * noise) as f32
        })
        .collect()
}

/// Mean and max |a − b| over whole frames, leaving out `edge` frames at each end (where the
/// resamplers' start-up and flush differ), and the mean over the top 16 bands.
fn diff(a: &[f32], b: &[f32], n_mels: usize, edge: usize) -> (f32, f32, f32) {
    let frames = a.len().min(b.len()) / n_mels;
    let (lo, hi) = (edge.min(frames), frames.saturating_sub(edge));
    let (mut sum, mut max, mut top, mut n, mut nt) = (0.0f64, 0.0f32, 0.0f64, 0usize, 0usize);
    for f in lo..hi {
        for m in 0..n_mels {
            let d = (a[f * n_mels + m] - b[f * n_mels + m]).abs();
            sum += d as f64;
            n += 1;
            max = max.max(d);
            if m >= n_mels - 16 {
                top += d as f64;
                nt += 1;
            }
        }
    }
    (
        (sum / n.max(1) as f64) as f32,
        max,
        (top / nt.max(1) as f64) as f32,
    )
}

fn quality_report() {
    let m = Manifest::load(&manifest_path()).expect("manifest");
    let sr = m.sample_rate;
    let n_mels = m.frontend.n_mels;
    let sweep = broadband(10.0);
    let ref_mel = mel_frames(&m, &reference(&sweep, 48_000, sr));
    let today_mel = mel_frames(&m, &resample_all(OPTIONS[0].1, &sweep, 48_000, sr));
    let music48: Vec<f32> = as_device(&demo(), 48_000, 1).samples;
    let ref_tags = song_scores(&reference(&music48, 48_000, sr));
    let today_tags = song_scores(&resample_all(OPTIONS[0].1, &music48, 48_000, sr));
    let mut md = String::from(
        "| resampler | log-mel \u{2223}\u{394}\u{2223} vs reference: mean / max / top-16-band mean | vs today: mean / max | song scores max \u{2223}\u{394}\u{2223} vs reference / vs today |\n|---|---|---|---|\n",
    );
    for (name, kind) in OPTIONS {
        let mel = mel_frames(&m, &resample_all(kind, &sweep, 48_000, sr));
        let (rm, rx, rt) = diff(&mel, &ref_mel, n_mels, 20);
        let (tm, tx, _) = diff(&mel, &today_mel, n_mels, 20);
        let tags = song_scores(&resample_all(kind, &music48, 48_000, sr));
        let dmax = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max)
        };
        md.push_str(&format!(
            "| {name} | {rm:.5} / {rx:.4} / {rt:.5} | {tm:.5} / {tx:.4} | {:.5} / {:.5} |\n",
            dmax(&tags, &ref_tags),
            dmax(&tags, &today_tags)
        ));
    }
    eprintln!(
        "resampler options: log-mel |Δ| on 10 s of broadband audio (50 Hz–24 kHz sweep + noise; \
         20 frames at each end left out) against a reference (sinc 512, cubic, oversampling 512) \
         and against today's; song-level scores of the demo clip (as 48 kHz): max |Δ| over the \
         50 tags\n{md}"
    );
    let dir = common::root().join("target").join("bench");
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join("resampler-quality.md"), &md);
    }
}

fn resamplers(c: &mut Criterion) {
    quality_report();
    let m = Manifest::load(&manifest_path()).expect("manifest");
    let music48: Vec<f32> = as_device(&demo(), 48_000, 1).samples;
    let mut g = c.benchmark_group("option_resampler");
    for (name, kind) in OPTIONS {
        let mut s = Stream::new(kind, 48_000, m.sample_rate);
        let mut out = Vec::with_capacity(48_000);
        let mut pos = 0usize;
        let id = format!("{}/1s_audio", name.split(' ').next().unwrap_or(name));
        g.bench_function(id, |b| {
            b.iter(|| {
                if pos + 48_000 > music48.len() {
                    pos = 0;
                }
                out.clear();
                s.push(black_box(&music48[pos..pos + 48_000]), &mut out);
                pos += 48_000;
                black_box(out.len())
            })
        });
    }
    g.finish();
}

/// Offline tagging runs each scale's CNN one segment at a time; the same segments in batches
/// (time per segment).
fn cnn_batches(c: &mut Criterion) {
    let clip = demo();
    let set = load_models();
    let m = set.manifest.clone();
    let n_mels = m.frontend.n_mels;
    let mono: Vec<f32> = clip
        .samples
        .chunks_exact(clip.channels)
        .map(|f| f[0])
        .collect();
    let frames = mel_frames(&m, &mono);
    let mut g = c.benchmark_group("option_cnn");
    for mut model in set.scales {
        let per = model.frames * n_mels;
        for batch in [1usize, 8, 32] {
            // Real frames, wrapping around the clip's end for the largest batches.
            let segs: Vec<f32> = (0..batch * per).map(|i| frames[i % frames.len()]).collect();
            let mut out = vec![0.0f32; batch * model.feature_dim()];
            g.bench_function(format!("{}_batch{batch}/per_segment", model.name), |b| {
                b.iter_custom(|iters| {
                    let t = Instant::now();
                    for _ in 0..iters {
                        model
                            .extract(black_box(&segs), batch, &mut out)
                            .expect("extract");
                    }
                    t.elapsed() / batch as u32
                })
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = resamplers, cnn_batches
}
criterion_main!(benches);
