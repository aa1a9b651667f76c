//! Streaming resampling of mono audio to the models' rate.
//!
//! Two engines behind one type: for the rates music comes at (48 kHz, 44.1 kHz, 96 kHz, ...:
//! whenever the reduced ratio has at most [`super::polyphase::MAX_PHASES`] phases) an exact
//! polyphase filter ([`super::polyphase`]); for any other rate rubato's asynchronous sinc
//! resampler with a fixed input chunk of about 1 ms ([`chunk_frames`]). Both use the same
//! 128-tap windowed sinc ([`super::polyphase::TAPS`]).
//!
//! The output does not depend on how the input is cut into pushes (the asynchronous engine
//! gathers samples into fixed chunks before rubato sees them), and it is time-aligned with
//! the input (the polyphase engine centres each output on its exact input position; the
//! asynchronous one has its delay, [`StreamResampler::output_delay`], trimmed from the
//! front). That is what makes a stream and a whole file give the same frames.

use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Async, FixedAsync, Indexing, Resampler, SincInterpolationParameters, SincInterpolationType,
    WindowFunction,
};

use super::polyphase::{Polyphase, PolyphaseFilter};
use crate::error::{Error, Result};

/// Lowest sample rate accepted, Hz, for the input and the models alike.
pub const MIN_RATE: u32 = 8_000;
/// Highest sample rate accepted, Hz, for the input and the models alike.
pub const MAX_RATE: u32 = 192_000;

/// Input frames the asynchronous engine (rates without an exact polyphase filter) resamples
/// at a time: about 1 ms of input (16 to 256 frames). Output comes a whole chunk at a time,
/// so besides the filter delay ([`StreamResampler::output_delay`]) this is how long that
/// engine can hold a sample back, and live latency is counted from the audio's last sample.
/// Per second of audio the cost depends little on the chunk size (criterion
/// `dsp/resample_48k_to_22k`, see BENCHMARKS.md), while 1,024-frame chunks at 48 kHz held a
/// segment's end back by a whole chunk (21 ms).
pub fn chunk_frames(input_rate: u32) -> usize {
    (input_rate as usize / 1000).clamp(16, 256)
}

/// A filter kept for the next resampler of the same rates.
enum Filter {
    Exact(PolyphaseFilter),
    Async(Box<Async<f32>>),
}

/// Filters of dropped resamplers, by (from, to), for the next resampler of the same rates:
/// building one computes a windowed sinc table of up to 65,536 values (a millisecond or
/// more), which `mstag tag` would otherwise pay for every file. Taken and given back on the
/// inference or worker threads only, when a stream starts and ends.
static SPARE: parking_lot::Mutex<Vec<(u32, u32, Filter)>> = parking_lot::Mutex::new(Vec::new());

/// Filters kept at most in [`SPARE`].
const MAX_SPARE: usize = 16;

/// A spare filter for `from` → `to`, reset to its initial state, if one is kept.
fn take_spare(from: u32, to: u32) -> Option<Filter> {
    let mut spare = SPARE.lock();
    let i = spare.iter().position(|(f, t, _)| (*f, *t) == (from, to))?;
    let (_, _, mut r) = spare.swap_remove(i);
    if let Filter::Async(a) = &mut r {
        a.reset();
    }
    Some(r)
}

/// The engine for `from` → `to`: exact polyphase where the ratio allows, else rubato's.
fn build(from: u32, to: u32, chunk: usize) -> Result<Filter> {
    match PolyphaseFilter::new(from, to) {
        Some(f) => Ok(Filter::Exact(f)),
        None => Ok(Filter::Async(Box::new(build_filter(from, to, chunk)?))),
    }
}

/// rubato's resampler for `from` → `to`, built afresh.
fn build_filter(from: u32, to: u32, chunk: usize) -> Result<Async<f32>> {
    // The polyphase path's sinc, the nearest of 512 precomputed sub-sample phases: one dot
    // product per output sample (linear interpolation between 128 phases needs two), so
    // faster than that, for song-level scores as close to a sinc-512 reference (the figures
    // are in BENCHMARKS.md, from `cargo bench --bench options`).
    let params = SincInterpolationParameters {
        sinc_len: super::polyphase::TAPS,
        f_cutoff: None,
        interpolation: SincInterpolationType::Nearest,
        oversampling_factor: 512,
        window: WindowFunction::BlackmanHarris2,
    };
    Async::<f32>::new_sinc(
        to as f64 / from as f64,
        1.0,
        &params,
        chunk,
        1,
        FixedAsync::Input,
    )
    .map_err(|e| Error::Resample {
        reason: format!("cannot resample {from} Hz to {to} Hz"),
        source: Some(Box::new(e)),
    })
}

/// The running engine of a [`StreamResampler`].
enum Engine {
    Same,
    Exact(Box<Polyphase>),
    Async(Box<Async<f32>>),
}

/// Resamples a mono stream from one rate to another, pushed in pieces of any size, with the
/// same output whatever the cut (see the module documentation). Equal rates pass samples
/// through unchanged.
pub struct StreamResampler {
    inner: Engine,
    from: u32,
    to: u32,
    chunk: usize,
    input: Vec<f32>,
    output: Vec<f32>,
    skip: usize,
    delay: usize,
    total_in: u64,
    total_out: u64,
}

impl Drop for StreamResampler {
    fn drop(&mut self) {
        let filter = match std::mem::replace(&mut self.inner, Engine::Same) {
            Engine::Same => return,
            Engine::Exact(p) => Filter::Exact(p.into_filter()),
            Engine::Async(a) => Filter::Async(a),
        };
        let mut spare = SPARE.lock();
        if spare.len() < MAX_SPARE {
            spare.push((self.from, self.to, filter));
        }
    }
}

impl StreamResampler {
    /// A resampler from `from` Hz to `to` Hz.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] when either rate is outside [`MIN_RATE`]..=[`MAX_RATE`];
    /// [`Error::Resample`] when rubato cannot build the filter for the ratio.
    pub fn new(from: u32, to: u32) -> Result<Self> {
        for (name, rate) in [("input sample rate", from), ("model sample rate", to)] {
            if !(MIN_RATE..=MAX_RATE).contains(&rate) {
                return Err(Error::InvalidSetting {
                    name: if name.starts_with("input") {
                        "input sample rate"
                    } else {
                        "model sample rate"
                    },
                    value: rate.to_string(),
                    reason: format!("supported rates are {MIN_RATE} to {MAX_RATE} Hz"),
                });
            }
        }
        let chunk = chunk_frames(from);
        let filter = if from == to {
            None
        } else {
            Some(take_spare(from, to).map_or_else(|| build(from, to, chunk), Ok)?)
        };
        Ok(Self::with_filter(from, to, filter))
    }

    /// A resampler over `filter` (`None`: equal rates, samples pass through).
    fn with_filter(from: u32, to: u32, filter: Option<Filter>) -> Self {
        let inner = match filter {
            None => Engine::Same,
            Some(Filter::Exact(f)) => Engine::Exact(Box::new(Polyphase::new(f))),
            Some(Filter::Async(a)) => Engine::Async(a),
        };
        let (delay, skip, out_max) = match &inner {
            Engine::Same => (0, 0, 0),
            // Nothing to trim: outputs sit on their exact input positions, made once the
            // input reaches the filter's right half past them.
            Engine::Exact(_) => {
                let lag = Polyphase::lag_input() * u64::from(to);
                (lag.div_ceil(u64::from(from)) as usize, 0, 0)
            }
            Engine::Async(a) => (a.output_delay(), a.output_delay(), a.output_frames_max()),
        };
        let chunk = match inner {
            Engine::Async(_) => chunk_frames(from),
            _ => 0,
        };
        StreamResampler {
            inner,
            from,
            to,
            chunk,
            input: Vec::with_capacity(chunk),
            output: vec![0.0; out_max],
            skip,
            delay,
            total_in: 0,
            total_out: 0,
        }
    }

    /// The rate samples are pushed at, Hz.
    pub fn input_rate(&self) -> u32 {
        self.from
    }
    /// The rate samples come out at (the models' rate), Hz.
    pub fn output_rate(&self) -> u32 {
        self.to
    }

    /// Latency of the resampler in output frames: how far its output lags its input (for
    /// the asynchronous engine, the delay trimmed from the stream's start).
    pub fn output_delay(&self) -> usize {
        self.delay
    }

    /// Input samples still to push until at least `out` more output samples have come out.
    /// It is never more than needed, so a caller that sleeps for this long never sleeps past
    /// the output: exact for the polyphase engine; for the asynchronous one, whose output
    /// appears a whole input chunk at a time, the end of the chunk that will complete them
    /// (rounding towards the earlier chunk).
    pub fn input_until_output(&self, out: u64) -> u64 {
        if out == 0 {
            return 0;
        }
        match &self.inner {
            Engine::Same => return out,
            Engine::Exact(p) => return p.input_until(self.total_out + out - 1),
            Engine::Async(_) => {}
        }
        let chunk = self.chunk as u64;
        let per_chunk = chunk as f64 * self.to as f64 / self.from as f64;
        // Cumulative output (before trimming the delay) needed, and the chunks that give it;
        // rubato's per-chunk output is its ratio ± 1 sample, hence the 2-sample allowance.
        let wanted = (self.total_out + out + self.delay as u64) as f64 - 2.0;
        let chunks = (wanted / per_chunk).ceil().max(0.0) as u64;
        let done = self.total_in - self.total_in % chunk;
        let next = done + chunk;
        (chunks * chunk).max(next) - self.total_in
    }

    /// Resamples `samples`, appending what is ready to `out`.
    pub fn push(&mut self, samples: &[f32], out: &mut Vec<f32>) -> Result<()> {
        self.total_in += samples.len() as u64;
        match &mut self.inner {
            Engine::Same => {
                out.extend_from_slice(samples);
                self.total_out += samples.len() as u64;
                return Ok(());
            }
            Engine::Exact(p) => {
                let before = out.len();
                p.push(samples, out);
                self.total_out += (out.len() - before) as u64;
                return Ok(());
            }
            Engine::Async(_) => {}
        }
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (self.chunk - self.input.len()).min(rest.len());
            self.input.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.input.len() == self.chunk {
                self.run_chunk(None, out)?;
                self.input.clear();
            }
        }
        Ok(())
    }

    /// Flushes the buffered input and the resampler's delay line. The total output length
    /// is then `round(total_in * to / from)`.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<()> {
        let expected = (self.total_in as f64 * self.to as f64 / self.from as f64).round() as u64;
        match &mut self.inner {
            Engine::Same => return Ok(()),
            Engine::Exact(p) => {
                let before = out.len();
                p.finish(self.total_out, expected, out);
                self.total_out += (out.len() - before) as u64;
                return Ok(());
            }
            Engine::Async(_) => {}
        }
        let partial = self.input.len();
        self.input.resize(self.chunk, 0.0);
        self.run_chunk(Some(partial), out)?;
        self.input.clear();
        let mut guard = 0;
        // The delay line flushes in about delay * from / to input frames; twice that, plus a
        // few chunks, bounds the loop.
        let flush_chunks =
            4 + 2 * (self.delay * self.from as usize / self.to as usize) / self.chunk;
        while self.total_out < expected && guard < flush_chunks {
            self.input.resize(self.chunk, 0.0);
            self.run_chunk(Some(0), out)?;
            self.input.clear();
            guard += 1;
        }
        if self.total_out > expected {
            let extra = (self.total_out - expected) as usize;
            out.truncate(out.len().saturating_sub(extra));
            self.total_out = expected;
        }
        Ok(())
    }

    fn run_chunk(&mut self, partial: Option<usize>, out: &mut Vec<f32>) -> Result<()> {
        let Engine::Async(r) = &mut self.inner else {
            return Ok(());
        };
        let input = InterleavedSlice::new(&self.input[..], 1, self.chunk).map_err(resample_err)?;
        let n_out = self.output.len();
        let mut output =
            InterleavedSlice::new_mut(&mut self.output[..], 1, n_out).map_err(resample_err)?;
        let indexing = Indexing {
            input_offset: 0,
            output_offset: 0,
            partial_len: partial,
            active_channels_mask: None,
        };
        let (_, produced) = r
            .process_into_buffer(&input, &mut output, Some(&indexing))
            .map_err(resample_err)?;
        let skip = self.skip.min(produced);
        self.skip -= skip;
        out.extend_from_slice(&self.output[skip..produced]);
        self.total_out += (produced - skip) as u64;
        Ok(())
    }
}

/// A resampling step that failed (rubato's error kept as the source).
fn resample_err(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Resample {
        reason: "resampling a block failed".into(),
        source: Some(Box::new(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, f: f64, secs: f64) -> Vec<f32> {
        (0..(rate as f64 * secs) as usize)
            .map(|i| (2.0 * std::f64::consts::PI * f * i as f64 / rate as f64).sin() as f32 * 0.5)
            .collect()
    }

    /// Frequency by zero crossings over the steady middle of the signal.
    fn freq(sig: &[f32], rate: u32) -> f64 {
        let s = &sig[sig.len() / 10..sig.len() * 9 / 10];
        let mut first = None;
        let mut last = 0;
        let mut n = 0;
        for i in 1..s.len() {
            if s[i - 1] <= 0.0 && s[i] > 0.0 {
                if first.is_none() {
                    first = Some(i);
                } else {
                    n += 1;
                }
                last = i;
            }
        }
        n as f64 * rate as f64 / (last - first.unwrap_or(0)) as f64
    }

    /// A filter reused from a dropped resampler (after other audio) gives exactly what a
    /// freshly built one gives.
    #[test]
    fn a_reused_filter_is_as_good_as_new() {
        let run = |r: &mut StreamResampler, sig: &[f32]| {
            let mut out = Vec::new();
            for c in sig.chunks(333) {
                r.push(c, &mut out).unwrap();
            }
            r.finish(&mut out).unwrap();
            out
        };
        // An odd rate: the asynchronous engine, whose filter keeps state to reset.
        let (from, to) = (44_056, 16_000);
        let sig = sine(from, 523.0, 0.7);
        let fresh = || {
            let a = build_filter(from, to, chunk_frames(from)).unwrap();
            StreamResampler::with_filter(from, to, Some(Filter::Async(Box::new(a))))
        };
        assert!(matches!(fresh().inner, Engine::Async(_)));
        let mut a = fresh();
        let want = run(&mut a, &sig);
        drop(a);
        SPARE.lock().clear();
        let mut used = fresh();
        run(&mut used, &sine(from, 97.0, 1.3));
        drop(used);
        let mut b = StreamResampler::new(from, to).unwrap();
        assert!(matches!(b.inner, Engine::Async(_)));
        assert_eq!(run(&mut b, &sig), want);
        // The exact engine's filter is stateless; its stream state starts afresh.
        let sig = sine(48_000, 523.0, 0.7);
        let want = run(&mut StreamResampler::new(48_000, 22_050).unwrap(), &sig);
        run(
            &mut StreamResampler::new(48_000, 22_050).unwrap(),
            &sine(48_000, 97.0, 1.3),
        );
        let mut b = StreamResampler::new(48_000, 22_050).unwrap();
        assert!(matches!(b.inner, Engine::Exact(_)));
        assert_eq!(run(&mut b, &sig), want);
    }

    #[test]
    fn keeps_a_sines_frequency_within_1_hz() {
        for rate in [8_000u32, 44_100, 48_000, 96_000, 192_000] {
            let sig = sine(rate, 440.0, 2.0);
            let mut r = StreamResampler::new(rate, 22_050).unwrap();
            let mut out = Vec::new();
            for c in sig.chunks(500) {
                r.push(c, &mut out).unwrap();
            }
            r.finish(&mut out).unwrap();
            let expected = (sig.len() as f64 * 22_050.0 / rate as f64).round() as usize;
            assert_eq!(out.len(), expected, "length at {rate}");
            let f = freq(&out, 22_050);
            assert!((f - 440.0).abs() < 1.0, "{rate} Hz -> {f}");
        }
    }

    #[test]
    fn output_is_independent_of_push_sizes_and_time_aligned() {
        let sig = sine(48_000, 300.0, 1.0);
        let run = |chunk: usize| {
            let mut r = StreamResampler::new(48_000, 22_050).unwrap();
            let mut out = Vec::new();
            for c in sig.chunks(chunk) {
                r.push(c, &mut out).unwrap();
            }
            r.finish(&mut out).unwrap();
            out
        };
        let a = run(48_000);
        assert_eq!(a, run(77));
        assert_eq!(a, run(512));
        // Delay trimmed: the resampled sine is in phase with the ideal one to within one
        // output sample (the slope of this sine is 0.043 per sample).
        let ideal = sine(22_050, 300.0, 1.0);
        let err: f32 = a[2000..20000]
            .iter()
            .zip(&ideal[2000..20000])
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(err < 0.043, "max deviation {err}");
    }

    /// Live latency rests on this: at any moment the output lags the input by at most one
    /// chunk (~1 ms) plus the filter's delay, whatever the push sizes.
    #[test]
    fn holds_back_at_most_a_chunk_and_the_filter_delay() {
        for rate in [8_000u32, 44_100, 48_000, 96_000, 192_000] {
            let sig = sine(rate, 440.0, 0.5);
            let mut r = StreamResampler::new(rate, 22_050).unwrap();
            let chunk = chunk_frames(rate) as f64;
            assert!(
                chunk <= rate as f64 / 1000.0 + 16.0,
                "{rate} Hz: chunk {chunk}"
            );
            let delay_in = r.output_delay() as f64 * rate as f64 / 22_050.0;
            let mut out = Vec::new();
            let mut pushed = 0usize;
            for c in sig.chunks(37) {
                r.push(c, &mut out).unwrap();
                pushed += c.len();
                // Allowance: the delay is given in whole output samples (up to one more, in
                // input samples rate / 22050), and rubato's positions in whole input samples.
                let slack = rate as f64 / 22_050.0 + 2.0;
                let due = (pushed as f64 - chunk - delay_in - slack) * 22_050.0 / rate as f64;
                assert!(
                    out.len() as f64 >= due,
                    "{rate} Hz: {pushed} in, {} out, {due:.0} due",
                    out.len()
                );
            }
        }
    }

    #[test]
    fn same_rate_passes_through_and_bad_rates_are_refused() {
        let mut r = StreamResampler::new(22_050, 22_050).unwrap();
        let mut out = Vec::new();
        r.push(&[0.1, 0.2], &mut out).unwrap();
        r.finish(&mut out).unwrap();
        assert_eq!(out, vec![0.1, 0.2]);
        let e = StreamResampler::new(4_000, 22_050)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("4000") && e.contains("8000"), "{e}");
    }
}
