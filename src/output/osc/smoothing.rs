//! Making scores safe to send, and smoothing them over send rounds.

use crate::engine::{MAX_HEAD_LABELS, MAX_TAGS};

/// Values a smoother follows at most: every tag and every head label.
pub const MAX_SMOOTHED: usize = MAX_TAGS + MAX_HEAD_LABELS;

/// A score made safe to send: not-a-number becomes 0, everything is clamped to 0..1.
pub fn clamp_unit(x: f32) -> f32 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(0.0, 1.0)
    }
}

/// One-pole low-pass over the sent values: `y += a (x - y)` once per send round, with
/// `a = 1 - exp(-1 / (rate · tau))`, so `tau` is the time constant in seconds. With `tau = 0`
/// the values pass through unchanged. The first values seen are taken as they are.
#[derive(Debug, Clone)]
pub struct Smoother {
    alpha: f32,
    state: [f32; MAX_SMOOTHED],
    primed: bool,
}

impl Smoother {
    /// A smoother with time constant `tau_s` seconds for `rate_hz` rounds per second; off
    /// (values pass through) when either is 0 or less.
    pub fn new(tau_s: f64, rate_hz: u32) -> Smoother {
        let alpha = if tau_s > 0.0 && rate_hz > 0 {
            (1.0 - (-1.0 / (rate_hz as f64 * tau_s)).exp()) as f32
        } else {
            1.0
        };
        Smoother {
            alpha,
            state: [0.0; MAX_SMOOTHED],
            primed: false,
        }
    }

    /// The per-round coefficient `a` (1 = off).
    pub fn alpha(&self) -> f32 {
        self.alpha
    }

    /// Smooths `values` in place (at most `MAX_SMOOTHED` of them: the tags, then the head
    /// labels).
    pub fn apply(&mut self, values: &mut [f32]) {
        let n = values.len().min(MAX_SMOOTHED);
        if self.alpha >= 1.0 {
            return;
        }
        if !self.primed {
            self.state[..n].copy_from_slice(&values[..n]);
            self.primed = true;
            return;
        }
        for (y, x) in self.state[..n].iter_mut().zip(values[..n].iter_mut()) {
            *y += self.alpha * (*x - *y);
            *x = *y;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamp_and_smooth() {
        assert_eq!(clamp_unit(f32::NAN), 0.0);
        assert_eq!(clamp_unit(-0.5), 0.0);
        assert_eq!(clamp_unit(1.5), 1.0);
        assert_eq!(clamp_unit(f32::INFINITY), 1.0);
        assert_eq!(clamp_unit(0.3), 0.3);

        // Off: exact pass-through.
        let mut s = Smoother::new(0.0, 30);
        let mut v = [0.1f32, 0.3];
        s.apply(&mut v);
        let mut v = [0.3f32, 0.1];
        s.apply(&mut v);
        assert_eq!(v, [0.3, 0.1]);

        // On: a step reaches 1 - 1/e after tau seconds of rounds.
        let mut s = Smoother::new(0.5, 30);
        assert!((s.alpha() - (1.0 - (-1.0f32 / 15.0).exp())).abs() < 1e-6);
        let mut v = [0.0f32];
        s.apply(&mut v);
        for _ in 0..15 {
            v[0] = 1.0;
            s.apply(&mut v);
        }
        assert!((v[0] - (1.0 - (-1.0f32).exp())).abs() < 1e-3, "{}", v[0]);
    }
}
