//! The log-mel front end. Must give the same numbers as `models/train/frontend.py`
//! (golden-vector test in `tests/frontend_parity.rs`).
//!
//! Frame `i` covers resampled samples `[i*hop, i*hop + n_fft)`: no centring and no padding,
//! so a stream cut anywhere gives the same frames as the whole file. Periodic Hann window,
//! power spectrum, Slaney-scale mel filterbank with Slaney area normalisation, then
//! `log10(1 + log_c * mel)`. Computed in `f64` up to the mel energies; the logarithm is
//! taken in `f32`, the precision the frames are emitted in (see `compress`).

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};
use serde::Deserialize;

use crate::error::{Error, Result};

/// Front-end parameters, read from the model manifest.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct FrontendConfig {
    /// FFT size and frame length, in samples at the models' rate (16 to 65,536).
    pub n_fft: usize,
    /// Samples between the starts of consecutive frames (1 to `n_fft`).
    pub hop: usize,
    /// Mel bands per frame (1 to 1,024).
    pub n_mels: usize,
    /// Lowest filterbank frequency, Hz (0 up to below Nyquist).
    pub f_min: f64,
    /// Highest filterbank frequency, Hz (above `f_min`, at most Nyquist).
    pub f_max: f64,
    /// Analysis window; only `hann_periodic` is supported.
    pub window: String,
    /// Exponent of the magnitude spectrum; only 2 (power) is supported.
    pub power: f64,
    /// Whether frames are centred on padded samples; only `false` is supported (uncentred frames
    /// stream exactly).
    pub center: bool,
    /// Mel scale of the filterbank's centre frequencies; only `slaney` is supported.
    pub mel_scale: String,
    /// Filter normalisation; only `slaney` (area normalisation) is supported.
    pub mel_norm: String,
    /// Compression constant in `log10(1 + log_c * mel)`; must be above 0.
    pub log_c: f64,
}

impl FrontendConfig {
    /// Checks that this implementation computes what the manifest describes.
    pub fn validate(&self, sample_rate: u32) -> std::result::Result<(), String> {
        if self.window != "hann_periodic" {
            return Err(format!(
                "window {:?} (supported: hann_periodic)",
                self.window
            ));
        }
        if self.mel_scale != "slaney" || self.mel_norm != "slaney" {
            return Err(format!(
                "mel scale {:?} / norm {:?} (supported: slaney / slaney)",
                self.mel_scale, self.mel_norm
            ));
        }
        if self.center {
            return Err("center = true (only uncentred frames stream exactly)".into());
        }
        if self.power != 2.0 {
            return Err(format!("power {} (supported: 2)", self.power));
        }
        if self.n_fft < 16 || self.n_fft > 65536 || self.hop == 0 || self.hop > self.n_fft {
            return Err(format!("n_fft {} / hop {}", self.n_fft, self.hop));
        }
        if self.n_mels == 0 || self.n_mels > 1024 {
            return Err(format!("n_mels {}", self.n_mels));
        }
        let nyquist = sample_rate as f64 / 2.0;
        if !(0.0..nyquist).contains(&self.f_min) || self.f_max <= self.f_min || self.f_max > nyquist
        {
            return Err(format!(
                "f_min {} / f_max {} at {} Hz",
                self.f_min, self.f_max, sample_rate
            ));
        }
        if self.log_c.is_nan() || self.log_c <= 0.0 {
            return Err(format!("log_c {}", self.log_c));
        }
        Ok(())
    }
}

fn hz_to_mel(f: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if f >= min_log_hz {
        min_log_mel + (f / min_log_hz).ln() / logstep
    } else {
        f / f_sp
    }
}

fn mel_to_hz(m: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if m >= min_log_mel {
        min_log_hz * (logstep * (m - min_log_mel)).exp()
    } else {
        f_sp * m
    }
}

/// One triangular filter, stored sparsely.
#[derive(Debug, Clone)]
struct Filter {
    first_bin: usize,
    weights: Vec<f64>,
}

/// Slaney mel filterbank (equal to librosa's `filters.mel(htk=False, norm="slaney")`).
fn filterbank(sample_rate: u32, cfg: &FrontendConfig) -> Vec<Filter> {
    let n_bins = cfg.n_fft / 2 + 1;
    let sr = sample_rate as f64;
    let fft_freqs: Vec<f64> = (0..n_bins)
        .map(|k| k as f64 * sr / cfg.n_fft as f64)
        .collect();
    let (m_lo, m_hi) = (hz_to_mel(cfg.f_min), hz_to_mel(cfg.f_max));
    let n_pts = cfg.n_mels + 2;
    let hz_pts: Vec<f64> = (0..n_pts)
        .map(|i| mel_to_hz(m_lo + (m_hi - m_lo) * i as f64 / (n_pts - 1) as f64))
        .collect();
    (0..cfg.n_mels)
        .map(|i| {
            let (lo, mid, hi) = (hz_pts[i], hz_pts[i + 1], hz_pts[i + 2]);
            let enorm = 2.0 / (hi - lo);
            let w: Vec<f64> = fft_freqs
                .iter()
                .map(|&f| {
                    let lower = (f - lo) / (mid - lo);
                    let upper = (hi - f) / (hi - mid);
                    lower.min(upper).max(0.0) * enorm
                })
                .collect();
            let first = w.iter().position(|&v| v > 0.0).unwrap_or(0);
            let last = w.iter().rposition(|&v| v > 0.0).map_or(first, |p| p + 1);
            Filter {
                first_bin: first,
                weights: w[first..last.max(first)].to_vec(),
            }
        })
        .collect()
}

/// Streaming log-mel front end: push samples at the model rate, get frames as they complete.
pub struct MelFrontEnd {
    cfg: FrontendConfig,
    window: Vec<f64>,
    filters: Vec<Filter>,
    fft: Arc<dyn RealToComplex<f64>>,
    frame: Vec<f64>,
    spectrum: Vec<Complex<f64>>,
    power: Vec<f64>,
    scratch: Vec<Complex<f64>>,
    pending: Vec<f64>,
    start: usize,
    frames_out: u64,
}

impl MelFrontEnd {
    /// A front end for audio at `sample_rate` Hz (the models' rate: resample first).
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] (named `frontend`) when `cfg` describes something this
    /// implementation does not compute (see [`FrontendConfig::validate`]).
    pub fn new(sample_rate: u32, cfg: &FrontendConfig) -> Result<Self> {
        cfg.validate(sample_rate)
            .map_err(|reason| Error::InvalidSetting {
                name: "frontend",
                value: format!("{cfg:?}"),
                reason,
            })?;
        let n = cfg.n_fft;
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n);
        let window = (0..n)
            .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos())
            .collect();
        Ok(MelFrontEnd {
            filters: filterbank(sample_rate, cfg),
            spectrum: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            frame: vec![0.0; n],
            power: vec![0.0; n / 2 + 1],
            pending: Vec::with_capacity(4 * n),
            start: 0,
            frames_out: 0,
            window,
            fft,
            cfg: cfg.clone(),
        })
    }

    /// Mel bands per emitted frame.
    pub fn n_mels(&self) -> usize {
        self.cfg.n_mels
    }

    /// Input samples per emitted frame (the frame hop).
    pub fn hop(&self) -> usize {
        self.cfg.hop
    }

    /// Frames emitted so far.
    pub fn frames_out(&self) -> u64 {
        self.frames_out
    }

    /// Samples still to push until `count` more frames have been emitted (0 for `count` 0).
    pub fn samples_until_frames(&self, count: u64) -> u64 {
        if count == 0 {
            return 0;
        }
        let (n, hop) = (self.cfg.n_fft as u64, self.cfg.hop as u64);
        let buffered = (self.pending.len() - self.start) as u64;
        (n + (count - 1) * hop).saturating_sub(buffered)
    }

    /// Pushes mono samples; appends each completed frame (`n_mels` values) to `frames`.
    /// Returns the number of new frames.
    pub fn push(&mut self, samples: &[f32], frames: &mut Vec<f32>) -> usize {
        let (n, hop) = (self.cfg.n_fft, self.cfg.hop);
        if self.start > 0 && self.pending.len() + samples.len() > self.pending.capacity() {
            self.pending.drain(..self.start);
            self.start = 0;
        }
        self.pending.extend(samples.iter().map(|&s| s as f64));
        let mut made = 0;
        while self.pending.len() - self.start >= n {
            let s = self.start;
            for ((f, &x), &w) in self
                .frame
                .iter_mut()
                .zip(&self.pending[s..s + n])
                .zip(&self.window)
            {
                *f = x * w;
            }
            self.emit_frame(frames);
            self.start += hop;
            made += 1;
        }
        made
    }

    fn emit_frame(&mut self, frames: &mut Vec<f32>) {
        // realfft only fails on wrong buffer lengths, which are fixed at construction.
        if self
            .fft
            .process_with_scratch(&mut self.frame, &mut self.spectrum, &mut self.scratch)
            .is_err()
        {
            frames.extend(std::iter::repeat_n(0.0, self.cfg.n_mels));
            return;
        }
        for (p, c) in self.power.iter_mut().zip(&self.spectrum) {
            *p = c.norm_sqr();
        }
        let c = self.cfg.log_c;
        for f in &self.filters {
            let e: f64 = f
                .weights
                .iter()
                .zip(&self.power[f.first_bin..])
                .map(|(w, p)| w * p)
                .sum();
            frames.push(compress(c, e));
        }
        self.frames_out += 1;
    }

    /// Forgets buffered samples (frames already emitted stay emitted).
    pub fn reset(&mut self) {
        self.pending.clear();
        self.start = 0;
        self.frames_out = 0;
    }
}

/// `log10(1 + c · e)` as an `f32` frame value: the argument in `f64`, the logarithm in `f32`
/// (`ln · log10(e)`). Within two `f32` steps of the `f64` `log10` (unit-tested), at 40% of
/// its cost (2.1% of `mstag tag`'s profile against 5.3%); song-level scores moved by 5e-7 at
/// most over 1,100 files (BENCHMARKS.md).
#[inline]
fn compress(c: f64, e: f64) -> f32 {
    ((1.0 + c * e) as f32).ln() * std::f32::consts::LOG10_E
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn cfg() -> FrontendConfig {
        FrontendConfig {
            n_fft: 1024,
            hop: 512,
            n_mels: 128,
            f_min: 0.0,
            f_max: 11025.0,
            window: "hann_periodic".into(),
            power: 2.0,
            center: false,
            mel_scale: "slaney".into(),
            mel_norm: "slaney".into(),
            log_c: 10000.0,
        }
    }

    #[test]
    fn streaming_in_odd_chunks_equals_one_push() {
        let sig: Vec<f32> = (0..22050)
            .map(|i| ((i as f32) * 0.05).sin() * 0.5)
            .collect();
        let mut a = MelFrontEnd::new(22050, &cfg()).unwrap();
        let mut fa = Vec::new();
        a.push(&sig, &mut fa);
        let mut b = MelFrontEnd::new(22050, &cfg()).unwrap();
        let mut fb = Vec::new();
        for chunk in sig.chunks(333) {
            b.push(chunk, &mut fb);
        }
        assert_eq!(fa.len(), (1 + (22050 - 1024) / 512) * 128);
        assert_eq!(fa, fb);
    }

    #[test]
    fn a_sine_lights_the_right_band() {
        let f0 = 1000.0;
        let sig: Vec<f32> = (0..4096)
            .map(|i| (2.0 * std::f32::consts::PI * f0 * i as f32 / 22050.0).sin())
            .collect();
        let mut m = MelFrontEnd::new(22050, &cfg()).unwrap();
        let mut fr = Vec::new();
        m.push(&sig, &mut fr);
        let first = &fr[..128];
        let best = (0..128)
            .max_by(|&a, &b| first[a].total_cmp(&first[b]))
            .unwrap();
        // Slaney scale: 1000 Hz is mel 15; the bands are ~(hz_to_mel(11025)/129) wide.
        let centre = |i: usize| mel_to_hz(hz_to_mel(11025.0) * (i + 1) as f64 / 129.0);
        assert!(
            (centre(best) - f0 as f64).abs() < 60.0,
            "band {best} at {} Hz",
            centre(best)
        );
    }

    #[test]
    fn rejects_what_it_cannot_compute() {
        let mut c = cfg();
        c.mel_scale = "htk".into();
        assert!(MelFrontEnd::new(22050, &c).is_err());
        let mut c = cfg();
        c.f_max = 20000.0;
        assert!(MelFrontEnd::new(22050, &c).is_err());
    }

    #[test]
    fn compress_is_within_two_f32_steps_of_the_f64_log10() {
        let mut worst = 0.0f64;
        // Mel energies from far below the silence floor to far above full scale.
        for k in 0..200_000 {
            let e = 10f64.powf(-14.0 + 20.0 * k as f64 / 200_000.0);
            let want = (1.0 + 1e4 * e).log10();
            let got = f64::from(compress(1e4, e));
            // One f32 step at `want`, and 3e-8 near 0 (where the f64 argument `1 + c·e`
            // loses its last digits to f32 before the logarithm).
            let step = f64::from(f32::EPSILON) * want.abs().max(0.25);
            worst = worst.max((got - want).abs() / step);
        }
        assert!(worst <= 2.0, "worst difference {worst} f32 steps");
        assert_eq!(compress(1e4, 0.0), 0.0);
    }
}
