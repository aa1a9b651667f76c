//! Running aggregates of per-segment features (each segment already max-pooled over time
//! per level by its scale's model).
//!
//! Three views, all updated incrementally as segments complete:
//! * **session**: the arithmetic mean over every segment so far — at the end of a song this
//!   is exactly the paper's song-level feature (sums kept in `f64`, divided once);
//! * **window**: the mean over segments that ended within the last `window_s` seconds;
//! * **EMA**: an exponential moving average with time constant `ema_tau_s`.
//!
//! Nothing here allocates after construction, except a change of the window's length
//! ([`ScaleAggregate::set_lengths`]).

use crate::scores::View;

/// Aggregates for one scale.
#[derive(Debug, Clone)]
pub struct ScaleAggregate {
    dim: usize,
    sum: Vec<f64>,
    count: u64,
    // Sliding window: a ring of (end time, features).
    win_t: Vec<f64>,
    win_x: Vec<f32>,
    win_head: usize,
    win_len: usize,
    window_s: f64,
    ema: Vec<f64>,
    ema_alpha: f64,
    /// Holds a segment made by looping a clip shorter than the segment.
    looped: bool,
    /// Seconds between segments of this scale.
    hop_s: f64,
}

impl ScaleAggregate {
    /// `segment_hop_s`: seconds between segments of this scale (sizes the window ring and
    /// turns the EMA time constant into a per-segment weight).
    pub fn new(dim: usize, segment_hop_s: f64, window_s: f64, ema_tau_s: f64) -> Self {
        let cap = window_capacity(window_s, segment_hop_s);
        ScaleAggregate {
            dim,
            sum: vec![0.0; dim],
            count: 0,
            win_t: vec![0.0; cap],
            win_x: vec![0.0; cap * dim],
            win_head: 0,
            win_len: 0,
            window_s,
            ema: vec![0.0; dim],
            ema_alpha: ema_alpha(segment_hop_s, ema_tau_s),
            hop_s: segment_hop_s,
            looped: false,
        }
    }

    /// Changes the window length and the EMA time constant, keeping the session: the session
    /// mean and the EMA's state carry on (the EMA follows the new time constant from the next
    /// segment), and the window keeps the segments that ended within the new `window_s` of
    /// the latest one (a longer window fills up as segments arrive). Allocates when the
    /// window's ring changes size, so call it off the audio thread.
    pub fn set_lengths(&mut self, window_s: f64, ema_tau_s: f64) {
        self.ema_alpha = ema_alpha(self.hop_s, ema_tau_s);
        self.window_s = window_s;
        let cap = window_capacity(window_s, self.hop_s);
        if cap != self.win_t.len() {
            // The newest entries that fit, oldest first, in a ring of the new size.
            let keep = self.win_len.min(cap);
            let old_cap = self.win_t.len();
            let mut win_t = vec![0.0; cap];
            let mut win_x = vec![0.0; cap * self.dim];
            for (k, t) in win_t.iter_mut().enumerate().take(keep) {
                let slot = (self.win_head + self.win_len - keep + k) % old_cap;
                *t = self.win_t[slot];
                win_x[k * self.dim..(k + 1) * self.dim]
                    .copy_from_slice(&self.win_x[slot * self.dim..(slot + 1) * self.dim]);
            }
            self.win_t = win_t;
            self.win_x = win_x;
            self.win_head = 0;
            self.win_len = keep;
        }
        if self.win_len > 0 {
            let cap = self.win_t.len();
            let newest = self.win_t[(self.win_head + self.win_len - 1) % cap];
            self.expire(newest);
        }
    }

    /// Length of this scale's feature vector (all its levels' activations, concatenated).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Segments aggregated in the session view.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Marks the aggregate as holding a segment filled by looping a clip shorter than the
    /// segment (see [`crate::engine::FeaturePipeline::finish`]); [`Self::reset`] clears it.
    pub fn mark_looped(&mut self) {
        self.looped = true;
    }

    /// Whether a segment made by looping a short clip is part of the aggregate.
    pub fn is_looped(&self) -> bool {
        self.looped
    }

    /// Adds one segment's features; `end_t` is the segment's end in seconds of audio.
    pub fn add(&mut self, features: &[f32], end_t: f64) {
        debug_assert_eq!(features.len(), self.dim);
        for (s, &x) in self.sum.iter_mut().zip(features) {
            *s += x as f64;
        }
        if self.count == 0 {
            for (e, &x) in self.ema.iter_mut().zip(features) {
                *e = x as f64;
            }
        } else {
            let a = self.ema_alpha;
            for (e, &x) in self.ema.iter_mut().zip(features) {
                *e += a * (x as f64 - *e);
            }
        }
        self.count += 1;
        // Window ring: expire old entries, then append (overwriting the oldest if full).
        self.expire(end_t);
        let cap = self.win_t.len();
        if self.win_len == cap {
            self.win_head = (self.win_head + 1) % cap;
            self.win_len -= 1;
        }
        let slot = (self.win_head + self.win_len) % cap;
        self.win_t[slot] = end_t;
        self.win_x[slot * self.dim..(slot + 1) * self.dim].copy_from_slice(features);
        self.win_len += 1;
    }

    fn expire(&mut self, now_t: f64) {
        let cap = self.win_t.len();
        while self.win_len > 0 && self.win_t[self.win_head] <= now_t - self.window_s {
            self.win_head = (self.win_head + 1) % cap;
            self.win_len -= 1;
        }
    }

    /// Writes the chosen view into `out`; false (and `out` untouched) when empty.
    pub fn write(&self, view: View, out: &mut [f32]) -> bool {
        if self.count == 0 {
            return false;
        }
        match view {
            View::Session => {
                let n = self.count as f64;
                for (o, s) in out.iter_mut().zip(&self.sum) {
                    *o = (s / n) as f32;
                }
            }
            View::Ema => {
                for (o, e) in out.iter_mut().zip(&self.ema) {
                    *o = *e as f32;
                }
            }
            View::Window => {
                // Recomputed from the ring each time: exact, no drift from add/subtract.
                // Row by row into f64 accumulators, a block of columns at a time: the same
                // additions in the same order per value as a column-by-column sum, but
                // contiguous and vectorisable, which striding per column is not (criterion's
                // `aggregate/write_window_view` measures it; figures in BENCHMARKS.md).
                const BLOCK: usize = 64;
                let cap = self.win_t.len();
                let n = self.win_len.max(1) as f64;
                let dim = self.dim.min(out.len());
                let mut j0 = 0;
                while j0 < dim {
                    let w = BLOCK.min(dim - j0);
                    let mut acc = [0.0f64; BLOCK];
                    for k in 0..self.win_len {
                        let slot = (self.win_head + k) % cap;
                        let row = &self.win_x[slot * self.dim + j0..slot * self.dim + j0 + w];
                        for (a, &x) in acc[..w].iter_mut().zip(row) {
                            *a += x as f64;
                        }
                    }
                    for (o, a) in out[j0..j0 + w].iter_mut().zip(&acc[..w]) {
                        *o = (a / n) as f32;
                    }
                    j0 += w;
                }
            }
        }
        true
    }

    /// Forgets everything (no allocation).
    pub fn reset(&mut self) {
        self.sum.iter_mut().for_each(|s| *s = 0.0);
        self.ema.iter_mut().for_each(|s| *s = 0.0);
        self.count = 0;
        self.win_head = 0;
        self.win_len = 0;
        self.looped = false;
    }
}

/// Window ring slots for `window_s` at one segment every `hop_s` seconds.
fn window_capacity(window_s: f64, hop_s: f64) -> usize {
    (window_s / hop_s).ceil() as usize + 2
}

/// The EMA's per-segment weight for time constant `tau_s`.
fn ema_alpha(hop_s: f64, tau_s: f64) -> f64 {
    1.0 - (-hop_s / tau_s.max(1e-6)).exp()
}

/// The aggregates of all scales; writes the classifier's input (levels and scales
/// concatenated in manifest order) for each view.
#[derive(Debug, Clone)]
pub struct Aggregates {
    /// One aggregate per scale, in manifest order.
    pub scales: Vec<ScaleAggregate>,
}

impl Aggregates {
    /// The aggregates of `scales`, given in manifest order.
    pub fn new(scales: Vec<ScaleAggregate>) -> Self {
        Aggregates { scales }
    }

    /// Total feature dimension.
    pub fn dim(&self) -> usize {
        self.scales.iter().map(|s| s.dim).sum()
    }

    /// True once every scale has at least one segment.
    pub fn ready(&self) -> bool {
        self.scales.iter().all(|s| s.count > 0)
    }

    /// Concatenated features of one view; false until every scale has a segment.
    pub fn write(&self, view: View, out: &mut [f32]) -> bool {
        if !self.ready() {
            return false;
        }
        let mut off = 0;
        for s in &self.scales {
            s.write(view, &mut out[off..off + s.dim]);
            off += s.dim;
        }
        true
    }

    /// Whether some scale holds a segment made by looping a short clip.
    pub fn looped(&self) -> bool {
        self.scales.iter().any(ScaleAggregate::is_looped)
    }

    /// Empties every scale's aggregates: a new session (see [`ScaleAggregate::reset`]).
    pub fn reset(&mut self) {
        self.scales.iter_mut().for_each(ScaleAggregate::reset);
    }

    /// [`ScaleAggregate::set_lengths`] for every scale.
    pub fn set_lengths(&mut self, window_s: f64, ema_tau_s: f64) {
        for s in &mut self.scales {
            s.set_lengths(window_s, ema_tau_s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_mean_equals_batch_mean_exactly() {
        let mut a = ScaleAggregate::new(3, 0.5, 10.0, 5.0);
        let segs: Vec<[f32; 3]> = (0..1000)
            .map(|i| [i as f32 * 0.001, (i as f32).sin(), 1.0 / (1.0 + i as f32)])
            .collect();
        for (i, s) in segs.iter().enumerate() {
            a.add(s, i as f64 * 0.5 + 0.5);
        }
        let mut got = [0f32; 3];
        assert!(a.write(View::Session, &mut got));
        for j in 0..3 {
            let want = (segs.iter().map(|s| s[j] as f64).sum::<f64>() / segs.len() as f64) as f32;
            assert_eq!(got[j], want);
        }
    }

    #[test]
    fn window_keeps_only_recent_segments_and_ema_tracks() {
        let mut a = ScaleAggregate::new(1, 1.0, 3.0, 1.0);
        for i in 0..10 {
            a.add(&[i as f32], (i + 1) as f64);
        }
        let mut w = [0f32];
        a.write(View::Window, &mut w);
        // Ends 8, 9, 10 are within (10 - 3, 10]: mean of 7, 8, 9.
        assert_eq!(w[0], 8.0);
        let mut e = [0f32];
        a.write(View::Ema, &mut e);
        assert!(e[0] > 8.0 && e[0] < 9.0, "{}", e[0]);
        a.reset();
        assert!(!a.write(View::Session, &mut w));
    }

    #[test]
    fn changing_lengths_keeps_the_session_and_the_newest_window_entries() {
        // Segment i (value i) ends at i + 1 s; window 3 s, EMA 1 s, then changed.
        let mut a = ScaleAggregate::new(1, 1.0, 3.0, 1.0);
        for i in 0..10 {
            a.add(&[i as f32], (i + 1) as f64);
        }
        let (mut before, mut after) = ([0f32], [0f32]);
        a.write(View::Session, &mut before);
        let mut ema_before = [0f32];
        a.write(View::Ema, &mut ema_before);

        // Longer window: only the 3 s kept so far are there (7, 8, 9), then it fills up.
        a.set_lengths(6.0, 4.0);
        a.write(View::Session, &mut after);
        assert_eq!(after, before, "the session goes on");
        let mut w = [0f32];
        a.write(View::Window, &mut w);
        assert_eq!(w[0], 8.0);
        let mut e = [0f32];
        a.write(View::Ema, &mut e);
        assert_eq!(e, ema_before, "the EMA's state is kept");
        for i in 10..14 {
            a.add(&[i as f32], (i + 1) as f64);
        }
        a.write(View::Window, &mut w);
        // Ends 9..=14 are within (14 - 6, 14]: mean of 8..=13.
        assert_eq!(w[0], 10.5);
        // The new time constant weighs a new segment less than the old one did.
        let mut slow = a.clone();
        let mut fast = a.clone();
        fast.set_lengths(6.0, 1.0);
        slow.add(&[100.0], 15.0);
        fast.add(&[100.0], 15.0);
        let (mut es, mut ef) = ([0f32], [0f32]);
        slow.write(View::Ema, &mut es);
        fast.write(View::Ema, &mut ef);
        assert!(es[0] < ef[0], "{} vs {}", es[0], ef[0]);

        // Shorter window: at once only the newest 2 s (ends 14 and 13, values 13 and 12).
        a.set_lengths(2.0, 4.0);
        a.write(View::Window, &mut w);
        assert_eq!(w[0], 12.5);
        a.write(View::Session, &mut after);
        let all: f64 = (0..14).map(f64::from).sum::<f64>() / 14.0;
        assert_eq!(after[0], all as f32);
    }

    #[test]
    fn not_ready_until_every_scale_has_a_segment() {
        let mut ag = Aggregates::new(vec![
            ScaleAggregate::new(2, 0.4, 10.0, 5.0),
            ScaleAggregate::new(1, 1.2, 10.0, 5.0),
        ]);
        let mut out = [0f32; 3];
        ag.scales[0].add(&[1.0, 2.0], 0.4);
        assert!(!ag.write(View::Session, &mut out));
        ag.scales[1].add(&[3.0], 1.2);
        assert!(ag.write(View::Session, &mut out));
        assert_eq!(out, [1.0, 2.0, 3.0]);
    }

    #[test]
    fn the_looped_mark_lasts_until_reset() {
        let mut ag = Aggregates::new(vec![
            ScaleAggregate::new(1, 0.4, 10.0, 5.0),
            ScaleAggregate::new(1, 1.2, 10.0, 5.0),
        ]);
        assert!(!ag.looped());
        ag.scales[1].add(&[3.0], 0.6);
        ag.scales[1].mark_looped();
        assert!(ag.looped() && ag.scales[1].is_looped() && !ag.scales[0].is_looped());
        ag.reset();
        assert!(!ag.looped());
    }
}
