//! Interleaved multi-channel audio to mono, with non-finite samples neutralised.

/// Averages the channels of interleaved audio. NaN and ±Inf samples become 0 (and are
/// counted), so one bad sample can never poison the running averages.
#[derive(Debug, Default)]
pub struct Downmixer {
    non_finite: u64,
}

impl Downmixer {
    /// A downmixer that has replaced no samples yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Samples replaced because they were NaN or infinite.
    pub fn non_finite(&self) -> u64 {
        self.non_finite
    }

    /// Appends one mono sample per whole frame of `interleaved` to `out`.
    pub fn process(&mut self, interleaved: &[f32], channels: usize, out: &mut Vec<f32>) {
        let channels = channels.max(1);
        let whole = &interleaved[..interleaved.len() / channels * channels];
        let start = out.len();
        out.resize(start + whole.len() / channels, 0.0);
        let mono = &mut out[start..];
        // Mono and stereo (nearly every file and device) branch-free over plain slices, so
        // they vectorise; the sums are the same as the general loop's, in the same order.
        match channels {
            1 => {
                for (m, &s) in mono.iter_mut().zip(whole) {
                    *m = 0.0 + finite_or_zero(s);
                }
            }
            2 => {
                for (m, f) in mono.iter_mut().zip(whole.chunks_exact(2)) {
                    *m = (0.0 + finite_or_zero(f[0]) + finite_or_zero(f[1])) * 0.5;
                }
            }
            _ => {
                let scale = 1.0 / channels as f32;
                for (m, frame) in mono.iter_mut().zip(whole.chunks_exact(channels)) {
                    *m = frame.iter().fold(0.0f32, |acc, &s| acc + finite_or_zero(s)) * scale;
                }
            }
        }
        self.non_finite += whole.iter().filter(|s| !s.is_finite()).count() as u64;
    }
}

/// `s`, or 0 where it is NaN or infinite.
#[inline]
fn finite_or_zero(s: f32) -> f32 {
    if s.is_finite() {
        s
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_channels_and_zeroes_non_finite() {
        let mut d = Downmixer::new();
        let mut out = Vec::new();
        d.process(
            &[
                1.0,
                0.0,
                0.5,
                0.5,
                f32::NAN,
                1.0,
                f32::INFINITY,
                f32::NEG_INFINITY,
            ],
            2,
            &mut out,
        );
        assert_eq!(out, vec![0.5, 0.5, 0.5, 0.0]);
        assert_eq!(d.non_finite(), 3);
        out.clear();
        d.process(&[0.3, 0.6, 0.9, 0.1, 0.2, 0.3], 6, &mut out);
        assert_eq!(out.len(), 1);
        assert!((out[0] - 0.4).abs() < 1e-6);
        // Mono passes finite samples through; a partial last frame is ignored.
        out.clear();
        d.process(&[0.25, f32::NAN, -1.0], 1, &mut out);
        assert_eq!(out, vec![0.25, 0.0, -1.0]);
        assert_eq!(d.non_finite(), 4);
        out.clear();
        d.process(&[0.25, 0.75, f32::NAN], 2, &mut out);
        assert_eq!(out, vec![0.5]);
        assert_eq!(d.non_finite(), 4);
    }
}
