//! Shared by the benchmarks: where the models and the demo clip are, and test audio in the
//! formats a sound card delivers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use mstag::decode::decode_all;
use mstag::dsp::StreamResampler;
use mstag::engine::{FeaturePipeline, PipelineConfig};
use mstag::model::{Classifier, Device, ModelSet};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn manifest_path() -> PathBuf {
    std::env::var_os("MSTAG_BENCH_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("models").join("manifest.json"))
}

/// Where the benchmarks run the models: `MSTAG_BENCH_DEVICE` (cpu, cuda or auto; used by
/// `cargo xtask gpu-check`), the CPU by default.
pub fn device() -> Device {
    std::env::var("MSTAG_BENCH_DEVICE")
        .ok()
        .map(|d| {
            d.parse()
                .unwrap_or_else(|e| panic!("MSTAG_BENCH_DEVICE: {e}"))
        })
        .unwrap_or(Device::Cpu)
}

/// The bundled models, on the CPU unless `MSTAG_BENCH_DEVICE` says otherwise, one ONNX
/// Runtime thread per session (as benchmarked).
pub fn load_models() -> ModelSet {
    ModelSet::load(&manifest_path(), device(), 1).unwrap_or_else(|e| {
        panic!(
            "loading {}: {e} (run `cargo xtask setup` first)",
            manifest_path().display()
        )
    })
}

/// A fresh feature pipeline for `audio`'s rate and channels (default settings), and the
/// classifier that goes with it.
pub fn pipeline_for(audio: &Audio) -> (FeaturePipeline, Classifier) {
    let set = load_models();
    let p = FeaturePipeline::new(
        &set.manifest,
        set.scales,
        audio.rate,
        audio.channels,
        PipelineConfig::default(),
    )
    .expect("pipeline");
    (p, set.classifier)
}

pub fn demo_path() -> PathBuf {
    root().join("models").join("demo").join("demo.wav")
}

/// Interleaved samples, rate, channels.
pub struct Audio {
    pub samples: Vec<f32>,
    pub rate: u32,
    pub channels: usize,
}

impl Audio {
    pub fn frames(&self) -> usize {
        self.samples.len() / self.channels
    }
    pub fn seconds(&self) -> f64 {
        self.frames() as f64 / self.rate as f64
    }
}

pub fn load(path: &Path) -> Audio {
    let (samples, rate, channels) =
        decode_all(path).unwrap_or_else(|e| panic!("decoding {}: {e}", path.display()));
    Audio {
        samples,
        rate,
        channels,
    }
}

/// The demo clip (real music, 30 s, 22.05 kHz mono) as stored.
pub fn demo() -> Audio {
    load(&demo_path())
}

/// `audio` (mono or first channel) resampled to `rate` and duplicated to `channels`
/// interleaved channels: the demo clip as a 48 kHz stereo sound card would deliver it.
pub fn as_device(audio: &Audio, rate: u32, channels: usize) -> Audio {
    let mono: Vec<f32> = audio
        .samples
        .chunks_exact(audio.channels)
        .map(|f| f.iter().sum::<f32>() / audio.channels as f32)
        .collect();
    let mut out = Vec::with_capacity(mono.len() * rate as usize / audio.rate as usize + 4096);
    let mut r = StreamResampler::new(audio.rate, rate).expect("resampler");
    r.push(&mono, &mut out).expect("resample");
    r.finish(&mut out).expect("resample");
    let samples = out
        .iter()
        .flat_map(|&s| std::iter::repeat_n(s, channels))
        .collect();
    Audio {
        samples,
        rate,
        channels,
    }
}

/// Endless blocks of `frames` frames from `audio`, wrapping at its end.
pub struct Looper<'a> {
    audio: &'a Audio,
    pos: usize,
}

impl<'a> Looper<'a> {
    pub fn new(audio: &'a Audio) -> Self {
        Looper { audio, pos: 0 }
    }

    /// The next block of at most `frames` frames (shorter at the wrap point).
    pub fn next(&mut self, frames: usize) -> &'a [f32] {
        let ch = self.audio.channels;
        let total = self.audio.frames();
        if self.pos >= total {
            self.pos = 0;
        }
        let n = frames.min(total - self.pos);
        let s = &self.audio.samples[self.pos * ch..(self.pos + n) * ch];
        self.pos += n;
        s
    }
}
