//! Exact rational resampling for the rates music comes at (48 kHz, 44.1 kHz, 96 kHz, ... to
//! the models' 22.05 kHz): a polyphase windowed-sinc filter with one phase per distinct
//! output position, stepped with integers.
//!
//! From `from` Hz to `to` Hz with `g = gcd(from, to)`, output sample `n` lies at input
//! position `n · M / L` (`L = to / g`, `M = from / g`), whose fraction is always one of the
//! `L` values `p / L`. The filter therefore needs exactly `L` phases (147 for 48 kHz →
//! 22.05 kHz, 1 for 44.1 kHz), and each output sample is one dot product of [`TAPS`] input
//! samples with a precomputed phase: no nearest-phase rounding, no per-sample floating-point
//! position, no chunking. rubato builds the phases and computes the dot products (its
//! windowed sinc with the same length, window and cutoff as the asynchronous resampler, on
//! AVX, SSE or NEON as the CPU allows); this module only walks the positions.
//!
//! The output is time-aligned with the input by construction (sample `n` is centred on input
//! position `n · M / L`; the input before the first sample counts as silence), and it does
//! not depend on how the input is cut into pushes. It lags the input by `TAPS / 2 + 2` input
//! samples (1.4 ms at 48 kHz): [`Polyphase::lag_input`].

use rubato::sinc_interpolator::{make_interpolator, AnyInterpolator, SincInterpolator};
use rubato::WindowFunction;

/// Filter length in input samples (for upsampling, in input samples too): the same 128-tap
/// Blackman-Harris² sinc the asynchronous path uses. rubato's cutoff for this length is
/// 0.895 of the lower Nyquist frequency (9.9 kHz at 22.05 kHz). The first v2 models read the
/// band this cuts off (9.9-10.4 kHz) as a different sound and needed 256 taps (cutoff 0.947);
/// the models since v2.1 are trained with random low-pass filtering and score 44.1 and 48 kHz
/// files the same with either length, so the shorter, half-price filter is back
/// (BENCHMARKS.md, "Resampler passband").
pub const TAPS: usize = 128;

/// Most phases (the reduced `to`) a filter may have: 1,024 phases of [`TAPS`] taps are
/// 512 KiB. Every common rate needs far fewer (48 kHz → 22.05 kHz: 147; 8 kHz: 441); an
/// unusual rate (44,056 Hz, say) is left to the asynchronous resampler.
pub const MAX_PHASES: u64 = 1024;

/// Input samples kept before being dropped from the history (amortises the shift).
const COMPACT_AT: usize = 8192;

/// The filter phases for one pair of rates; immutable, so a spare one is reused as is.
pub struct PolyphaseFilter {
    interp: AnyInterpolator<f32>,
    up: u64,
    down: u64,
}

impl PolyphaseFilter {
    /// The filter for `from` → `to` Hz, or `None` when the reduced ratio has more than
    /// [`MAX_PHASES`] phases.
    pub fn new(from: u32, to: u32) -> Option<Self> {
        let g = gcd(u64::from(from), u64::from(to));
        let (up, down) = (u64::from(to) / g, u64::from(from) / g);
        if up > MAX_PHASES {
            return None;
        }
        let interp = make_interpolator(
            TAPS,
            to as f64 / from as f64,
            None,
            up as usize,
            WindowFunction::BlackmanHarris2,
        );
        Some(PolyphaseFilter { interp, up, down })
    }
}

/// Streaming state over a [`PolyphaseFilter`]: the input history and the next output's
/// position.
pub struct Polyphase {
    filter: PolyphaseFilter,
    /// Input samples from absolute index `base` on (negative indices are the leading silence).
    history: Vec<f32>,
    base: i64,
    /// Next output's position: `whole + phase / up` input samples.
    whole: i64,
    phase: u64,
    total_in: u64,
}

impl Polyphase {
    /// A stream over `filter`, at its start.
    pub fn new(filter: PolyphaseFilter) -> Self {
        let half = (TAPS / 2) as i64;
        let mut history = Vec::with_capacity(COMPACT_AT * 2);
        history.resize(TAPS / 2, 0.0);
        Polyphase {
            filter,
            history,
            base: -half,
            whole: 0,
            phase: 0,
            total_in: 0,
        }
    }

    /// Gives the filter back (for a later stream of the same rates).
    pub fn into_filter(self) -> PolyphaseFilter {
        self.filter
    }

    /// How far the output lags the input, in input samples: an output sample is made once
    /// the input reaches this far past its position.
    pub fn lag_input() -> u64 {
        (TAPS / 2 + 2) as u64
    }

    /// Input samples still to push until output sample `index` (counted from the stream's
    /// start) can be made. Exact: pushing that many makes it.
    pub fn input_until(&self, index: u64) -> u64 {
        let pos = u128::from(index) * u128::from(self.filter.down);
        let whole = (pos / u128::from(self.filter.up)) as u64;
        let phase = (pos % u128::from(self.filter.up)) as u64;
        let needed = whole + Self::reach(phase);
        needed.saturating_sub(self.total_in)
    }

    /// Input samples needed past an output's whole position: the filter's right half, and
    /// the one sample rubato's bounds check asks for beyond the taps.
    fn reach(phase: u64) -> u64 {
        (TAPS / 2) as u64 + if phase == 0 { 1 } else { 2 }
    }

    /// Appends the output `samples` complete to `out`. A long push is taken in pieces, so
    /// the history never holds more than about 16,500 samples.
    pub fn push(&mut self, samples: &[f32], out: &mut Vec<f32>) {
        for piece in samples.chunks(COMPACT_AT) {
            self.total_in += piece.len() as u64;
            self.history.extend_from_slice(piece);
            self.run(self.total_in, usize::MAX, out);
        }
    }

    /// Ends the stream: the input is followed by silence until `wanted` output samples in
    /// all have been made (`emitted` so far).
    pub fn finish(&mut self, emitted: u64, wanted: u64, out: &mut Vec<f32>) {
        let pad = TAPS + 4;
        self.history.resize(self.history.len() + pad, 0.0);
        let left = wanted.saturating_sub(emitted) as usize;
        self.run(self.total_in + pad as u64, left, out);
    }

    /// Makes every output sample whose input reaches below absolute index `end`, at most
    /// `limit` of them.
    fn run(&mut self, end: u64, limit: usize, out: &mut Vec<f32>) {
        let (up, down) = (self.filter.up, self.filter.down);
        let (step_whole, step_phase) = ((down / up) as i64, down % up);
        let half = (TAPS / 2) as i64;
        let coming = (end as i64 - self.whole).max(0) as u64 * up / down + 1;
        out.reserve((coming as usize).min(limit));
        let mut made = 0;
        while made < limit && self.whole + Self::reach(self.phase) as i64 <= end as i64 {
            // Row `phase - 1` of rubato's table is centred `phase / up` past the sample
            // `TAPS / 2 - 1` after its start; row `up - 1` on the sample `TAPS / 2` after it.
            let (row, first) = if self.phase == 0 {
                (up as usize - 1, self.whole - half)
            } else {
                (self.phase as usize - 1, self.whole - half + 1)
            };
            let at = (first - self.base) as usize;
            out.push(
                self.filter
                    .interp
                    .get_sinc_interpolated(&self.history, at, row),
            );
            made += 1;
            self.whole += step_whole;
            self.phase += step_phase;
            if self.phase >= up {
                self.phase -= up;
                self.whole += 1;
            }
        }
        // Drop the history no later output reaches back to.
        let keep_from = self.whole - half;
        let drop = (keep_from - self.base).max(0) as usize;
        if drop >= COMPACT_AT {
            self.history.drain(..drop);
            self.base += drop as i64;
        }
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook definition, in f64: a windowed sinc centred on each output's exact
    /// position, normalised like rubato's table.
    fn direct(input: &[f32], from: u32, to: u32, n_out: usize) -> Vec<f64> {
        let filter = PolyphaseFilter::new(from, to).expect("filter");
        let sincs = filter.interp.get_sincs();
        let up = filter.up as usize;
        (0..n_out)
            .map(|n| {
                let pos = n as u64 * filter.down;
                let (whole, phase) = ((pos / filter.up) as i64, (pos % filter.up) as usize);
                let half = (TAPS / 2) as i64;
                let (row, first) = if phase == 0 {
                    (up - 1, whole - half)
                } else {
                    (phase - 1, whole - half + 1)
                };
                (0..TAPS)
                    .map(|k| {
                        let j = first + k as i64;
                        let x = if j < 0 || j as usize >= input.len() {
                            0.0
                        } else {
                            f64::from(input[j as usize])
                        };
                        x * f64::from(sincs[row][k])
                    })
                    .sum()
            })
            .collect()
    }

    fn sine(rate: u32, f: f64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * std::f64::consts::PI * f * i as f64 / f64::from(rate)).sin() as f32)
            .collect()
    }

    #[test]
    fn common_rates_get_exact_filters_and_odd_ones_none() {
        for (from, phases) in [
            (48_000, 147),
            (44_100, 1),
            (96_000, 147),
            (8_000, 441),
            (32_000, 441),
        ] {
            let f = PolyphaseFilter::new(from, 22_050).expect("filter");
            assert_eq!(f.up, phases, "{from} Hz");
            assert_eq!(f.interp.nbr_sincs(), phases as usize);
        }
        assert!(PolyphaseFilter::new(44_056, 22_050).is_none());
    }

    /// Each output is the dot product at its exact position, whatever the push sizes, and
    /// finishing makes exactly the requested count.
    #[test]
    fn matches_the_direct_sum_in_any_pieces() {
        for (from, to) in [(48_000, 22_050), (44_100, 22_050), (16_000, 22_050)] {
            let input = sine(from, 997.0, 40_000);
            let wanted = (input.len() as f64 * f64::from(to) / f64::from(from)).round() as usize;
            let reference = direct(&input, from, to, wanted);
            for piece in [1, 37, 4096, 40_000] {
                // (All 40,000 in one push: taken in pieces inside `push`; the history is
                // compacted several times on the way.)
                let mut p = Polyphase::new(PolyphaseFilter::new(from, to).unwrap());
                let mut out = Vec::new();
                for c in input.chunks(piece) {
                    p.push(c, &mut out);
                    assert!(
                        p.history.len() <= 2 * COMPACT_AT + TAPS + 8,
                        "history kept short"
                    );
                }
                let emitted = out.len() as u64;
                p.finish(emitted, wanted as u64, &mut out);
                assert_eq!(out.len(), wanted, "{from}->{to} in pieces of {piece}");
                let worst = out
                    .iter()
                    .zip(&reference)
                    .map(|(a, b)| (f64::from(*a) - b).abs())
                    .fold(0.0, f64::max);
                assert!(worst < 1e-5, "{from}->{to} pieces {piece}: {worst}");
            }
        }
    }

    /// Output sample `n` is the input at time `n / to`: a resampled sine equals the sine
    /// sampled at the output rate (the filter's passband ripple aside).
    #[test]
    fn is_time_aligned_with_the_input() {
        for from in [48_000, 44_100, 96_000, 16_000, 8_000] {
            let input = sine(from, 440.0, from as usize / 2);
            let mut p = Polyphase::new(PolyphaseFilter::new(from, 22_050).unwrap());
            let mut out = Vec::new();
            p.push(&input, &mut out);
            let ideal = sine(22_050, 440.0, out.len());
            let worst = out[200..out.len() - 200]
                .iter()
                .zip(&ideal[200..])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(worst < 1e-3, "{from} Hz: {worst}");
        }
    }

    /// `input_until` is exact: one sample less does not make the output, that many does.
    #[test]
    fn input_until_is_exact() {
        let mut p = Polyphase::new(PolyphaseFilter::new(48_000, 22_050).unwrap());
        let mut out = Vec::new();
        let sig = sine(48_000, 440.0, 5_000);
        let mut fed = 0;
        for target in [0u64, 1, 2, 10, 147, 1_000] {
            let need = p.input_until(target) as usize;
            if need > 0 {
                p.push(&sig[fed..fed + need - 1], &mut out);
                assert!((out.len() as u64) <= target, "made {target} a sample early");
                p.push(&sig[fed + need - 1..fed + need], &mut out);
                fed += need;
            }
            assert!(out.len() as u64 > target, "output {target} after {fed} in");
        }
    }
}
