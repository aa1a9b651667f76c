//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use mstag::model::{Device, ModelSet};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn manifest_path() -> PathBuf {
    root().join("models").join("manifest.json")
}

pub fn demo_clip() -> PathBuf {
    root().join("models").join("demo").join("demo.wav")
}

pub fn fixture(name: &str) -> PathBuf {
    root().join("tests").join("fixtures").join(name)
}

pub fn models() -> ModelSet {
    ModelSet::load(&manifest_path(), Device::Cpu, 1)
        .expect("bundled models load (run `cargo xtask setup` first)")
}

/// Plays `path` through the live engine as fast as it can be analysed, nothing dropped,
/// checking every update (time goes forward, scores in 0..=1); returns the final session
/// scores, the engine's summary and the number of updates.
#[allow(dead_code)]
pub fn live_fast(path: &Path) -> (Vec<f32>, mstag::engine::EngineSummary, usize) {
    use mstag::capture::file::{FilePlayer, Pace};
    use mstag::engine::{Delivery, Engine, EngineConfig, View};
    let (player, ring) = FilePlayer::start(path, Pace::Fast, 1.0).unwrap();
    let cfg = EngineConfig {
        delivery: Delivery::Lossless,
        ..EngineConfig::default()
    };
    let engine = Engine::builder(models(), ring, player.sample_rate())
        .config(cfg)
        .updates(4096)
        .start()
        .unwrap();
    let mut updates = 0;
    let mut last_t = 0.0;
    for s in engine.updates().expect("updates channel").iter() {
        assert!(s.t >= last_t, "time goes forward");
        last_t = s.t;
        for v in View::ALL {
            assert!(s
                .view(v)
                .iter()
                .all(|x| x.is_finite() && (0.0..=1.0).contains(x)));
        }
        updates += 1;
    }
    drop(player);
    let summary = engine.join().unwrap();
    let f = summary.final_scores.expect("final scores");
    (f.view(View::Session).to_vec(), summary, updates)
}

/// A tagger over the bundled models.
#[allow(dead_code)]
pub fn tagger() -> mstag::Tagger {
    mstag::Tagger::from_models(
        models(),
        mstag::TaggerConfig {
            manifest: manifest_path(),
            ..mstag::TaggerConfig::default()
        },
    )
}

pub fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn f32s(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

/// Largest |a - b| / max(|b|, floor) over two equal-length slices.
pub fn max_rel_err(a: &[f32], b: &[f32], floor: f32) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs().max(floor))
        .fold(0.0, f32::max)
}

pub fn max_abs_err(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Indices of the k best scores.
pub fn top(scores: &[f32], k: usize) -> Vec<usize> {
    mstag::scores::top_k(scores, k)
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "mstag-test-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes interleaved f32 samples as a 32-bit float WAV.
pub fn write_wav(path: &Path, samples: &[f32], rate: u32, channels: u16) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for &s in samples {
        w.write_sample(s).expect("write sample");
    }
    w.finalize().expect("finalize wav");
}

/// A `kB` field of /proc/self/status (e.g. "VmRSS", "VmHWM"); 0 where unavailable.
pub fn proc_status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
