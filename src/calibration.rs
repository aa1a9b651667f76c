//! Calibrated scores: each tag mapped through its quantiles over reference music, so that
//! "as rock as typical rock" reads near 1 on a fader, whatever range that tag's raw
//! probability keeps to (a rare tag such as `metal` rarely passes 0.1 raw).
//!
//! The manifest's `calibration` gives, per tag, the song-level score at a few quantile levels
//! (e.g. the 50th, 90th and 99th percentile over the reference tracks). A score at or below
//! the lowest level's value maps to 0, at or above the highest's to 1, and in between linearly
//! through the levels, each placed at its rank: with levels 0.5, 0.9 and 0.99 the 90th
//! percentile maps to (0.9 − 0.5) / (0.99 − 0.5) ≈ 0.82. The map is monotone, so rankings stay
//! as they were; non-finite input maps to 0.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::scores::MAX_TAGS;

/// How values are given to outputs: as the model's probabilities, or calibrated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scale {
    /// The classifier's probabilities, unchanged.
    #[default]
    Raw,
    /// Through each tag's quantiles over reference music ([`Calibration`]).
    Calibrated,
}

impl Scale {
    /// `raw` or `calibrated`, as outputs name it.
    pub fn name(self) -> &'static str {
        match self {
            Scale::Raw => "raw",
            Scale::Calibrated => "calibrated",
        }
    }
}

/// The manifest's `calibration` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationSpec {
    /// What the quantiles were measured on, for people.
    pub source: String,
    /// Quantile levels, increasing, each in (0, 1), e.g. `[0.5, 0.9, 0.99]`.
    pub levels: Vec<f32>,
    /// Per tag, the song-level score at each level (non-decreasing).
    pub quantiles: BTreeMap<String, Vec<f32>>,
}

impl CalibrationSpec {
    /// Checks the spec against the manifest's tags; the reason when it does not fit.
    pub fn validate(&self, tags: &[String]) -> std::result::Result<(), String> {
        let l = &self.levels;
        if l.len() < 2 || l.windows(2).any(|w| w[0] >= w[1]) || l[0] <= 0.0 || l[l.len() - 1] >= 1.0
        {
            return Err(format!(
                "calibration levels {l:?}: at least two, increasing, inside (0, 1)"
            ));
        }
        for t in tags {
            let q = self
                .quantiles
                .get(t)
                .ok_or_else(|| format!("calibration has no quantiles for tag {t:?}"))?;
            if q.len() != l.len()
                || q.iter().any(|x| !x.is_finite())
                || q.windows(2).any(|w| w[0] > w[1])
            {
                return Err(format!(
                    "calibration of tag {t:?}: {} finite, non-decreasing values needed, got {q:?}",
                    l.len()
                ));
            }
        }
        Ok(())
    }
}

/// Most quantile levels a calibration may have.
pub const MAX_LEVELS: usize = 16;

/// A checked calibration, ready to map scores without allocating.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// Where each level lands on 0..1.
    targets: Vec<f32>,
    /// Per tag (manifest order), the score at each level.
    points: Vec<Vec<f32>>,
    source: String,
}

impl Calibration {
    /// The calibration of `spec` for `tags` (manifest order).
    ///
    /// # Errors
    /// The reason when the spec does not fit the tags ([`CalibrationSpec::validate`]), or has
    /// more than [`MAX_LEVELS`] levels.
    pub fn new(spec: &CalibrationSpec, tags: &[String]) -> std::result::Result<Self, String> {
        spec.validate(tags)?;
        if spec.levels.len() > MAX_LEVELS || tags.len() > MAX_TAGS {
            return Err(format!("at most {MAX_LEVELS} levels"));
        }
        let (lo, hi) = (spec.levels[0], spec.levels[spec.levels.len() - 1]);
        Ok(Calibration {
            targets: spec.levels.iter().map(|l| (l - lo) / (hi - lo)).collect(),
            points: tags.iter().map(|t| spec.quantiles[t].clone()).collect(),
            source: spec.source.clone(),
        })
    }

    /// What the quantiles were measured on.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// One tag's calibrated value of raw score `x`, in 0..1.
    ///
    /// # Examples
    /// ```
    /// use mstag::calibration::{Calibration, CalibrationSpec};
    /// let spec = CalibrationSpec {
    ///     source: "example".into(),
    ///     levels: vec![0.5, 0.9, 0.99],
    ///     quantiles: [("rock".to_string(), vec![0.05, 0.2, 0.4])].into(),
    /// };
    /// let c = Calibration::new(&spec, &["rock".to_string()]).unwrap();
    /// assert_eq!(c.value(0, 0.01), 0.0);
    /// assert!((c.value(0, 0.2) - 0.8163).abs() < 1e-3);
    /// assert_eq!(c.value(0, 0.5), 1.0);
    /// ```
    pub fn value(&self, tag: usize, x: f32) -> f32 {
        let Some(q) = self.points.get(tag) else {
            return 0.0;
        };
        if !x.is_finite() || x <= q[0] {
            return 0.0;
        }
        for k in 1..q.len() {
            if x < q[k] {
                let f = (x - q[k - 1]) / (q[k] - q[k - 1]);
                let y = self.targets[k - 1] + f * (self.targets[k] - self.targets[k - 1]);
                return y.clamp(0.0, 1.0);
            }
        }
        1.0
    }

    /// Calibrates `raw` (manifest order) into `out`, without allocating.
    pub fn apply(&self, raw: &[f32], out: &mut [f32]) {
        for (i, (o, &x)) in out.iter_mut().zip(raw).enumerate() {
            *o = self.value(i, x);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> (CalibrationSpec, Vec<String>) {
        let tags: Vec<String> = vec!["a".into(), "b".into()];
        let spec = CalibrationSpec {
            source: "t".into(),
            levels: vec![0.5, 0.9, 0.99],
            quantiles: [
                ("a".to_string(), vec![0.1, 0.3, 0.6]),
                ("b".to_string(), vec![0.2, 0.2, 0.5]),
            ]
            .into(),
        };
        (spec, tags)
    }

    #[test]
    fn the_map_is_monotone_bounded_and_hits_the_levels() {
        let (s, tags) = spec();
        let c = Calibration::new(&s, &tags).unwrap();
        let mut last = -1.0;
        for i in 0..=1000 {
            let x = i as f32 / 1000.0;
            let y = c.value(0, x);
            assert!((0.0..=1.0).contains(&y) && y >= last, "{x} -> {y}");
            last = y;
        }
        assert_eq!(c.value(0, 0.1), 0.0);
        assert!((c.value(0, 0.3) - 0.4 / 0.49).abs() < 1e-6);
        assert_eq!(c.value(0, 0.6), 1.0);
        // Equal quantiles: a step, never a division by zero.
        assert!((c.value(1, 0.2000001) - 0.4 / 0.49).abs() < 1e-3);
        // Hostile input.
        for x in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -5.0, 7.0] {
            let y = c.value(0, x);
            assert!((0.0..=1.0).contains(&y), "{x} -> {y}");
        }
        let mut out = [9.0; 2];
        c.apply(&[0.6, 0.1], &mut out);
        assert_eq!(out, [1.0, 0.0]);
    }

    #[test]
    fn specs_that_do_not_fit_are_refused() {
        let (mut s, tags) = spec();
        s.quantiles.remove("b");
        assert!(Calibration::new(&s, &tags).unwrap_err().contains("\"b\""));
        let (mut s, tags) = spec();
        s.levels = vec![0.9, 0.5, 0.99];
        assert!(Calibration::new(&s, &tags).is_err());
        let (mut s, tags) = spec();
        s.quantiles.insert("a".into(), vec![0.3, 0.1, 0.6]);
        assert!(Calibration::new(&s, &tags)
            .unwrap_err()
            .contains("non-decreasing"));
    }
}
