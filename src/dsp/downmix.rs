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
        let scale = 1.0 / channels as f32;
        for frame in interleaved.chunks_exact(channels) {
            let mut acc = 0.0f32;
            for &s in frame {
                if s.is_finite() {
                    acc += s;
                } else {
                    self.non_finite += 1;
                }
            }
            out.push(acc * scale);
        }
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
    }
}
