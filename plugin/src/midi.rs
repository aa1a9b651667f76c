//! MIDI CC output: the calibrated scores of chosen tags, or of the best N tags, as control
//! changes on one channel (docs/MIDI.md).
//!
//! * The settings ([`crate::settings::Settings`]) become a small `Copy` [`CcPlan`] (tag names
//!   resolved to indices) on the main or GUI thread; it reaches the audio thread through a
//!   triple buffer, as the scores do ([`midi_channel`]: the writers' side, [`MidiInputs`],
//!   stays with the instance, the reader's, [`MidiOut`], with the plugin object).
//! * In `process()`, [`MidiOut`] looks at most 30 times a second of audio time (every
//!   `ceil(rate / 30)` frames) and sends a CC only when its value (0-127) differs from the last
//!   one sent on it. Values are `round(127 × calibrated score)` ([`mstag::calibration`]): a
//!   controller uses its whole range, where raw probabilities rarely pass 0.35 (about 45 of
//!   127). Models without calibration send nothing.
//! * Nothing here allocates or locks after construction.

use mstag::calibration::Calibration;
use mstag::engine::{Scores, View, MAX_TAGS};

use crate::settings::{MidiMode, Settings};
use std::sync::Mutex;

/// Most CCs sent (top N, or chosen tags).
pub const MAX_MIDI_CCS: usize = 16;
/// Most rounds of CCs per second of audio.
pub const MAX_SENDS_PER_S: u32 = 30;
/// Lowest CC number used: 0 is bank select.
pub const LOWEST_CC: u32 = 1;
/// Highest CC number used: 120-127 are channel mode messages.
pub const HIGHEST_CC: u32 = 119;
/// A chosen tag that is not one of the model's tags: its CC is never sent.
pub const NO_TAG: u8 = u8::MAX;

/// Where the CC values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CcSource {
    /// CC `first + i` carries the calibrated value of the `i`-th best tag (by calibrated
    /// value, ties by raw score, then manifest order), for `i < n`.
    Top(u8),
    /// CC `first + i` carries tag `tags[i]` (a manifest index, or [`NO_TAG`]), for `i < count`.
    Tags { count: u8, tags: [u8; MAX_MIDI_CCS] },
}

/// What the audio thread sends: the MIDI settings with tag names resolved (`Copy`, so that it
/// crosses to the audio thread through atomics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CcPlan {
    pub enabled: bool,
    /// MIDI channel, 0-15 (shown as 1-16).
    pub channel: u8,
    /// The CC number of the first value.
    pub first_cc: u8,
    /// The view the values come from (the bars' view).
    pub view: View,
    pub source: CcSource,
}

impl CcPlan {
    /// Sends nothing.
    pub const OFF: CcPlan = CcPlan {
        enabled: false,
        channel: 0,
        first_cc: 20,
        view: View::Window,
        source: CcSource::Top(0),
    };

    /// Number of CCs the plan fills.
    pub fn count(&self) -> usize {
        match self.source {
            CcSource::Top(n) => (n as usize).min(MAX_MIDI_CCS),
            CcSource::Tags { count, .. } => (count as usize).min(MAX_MIDI_CCS),
        }
    }

    /// The CC number of value `i`, if it is within [`LOWEST_CC`]..=[`HIGHEST_CC`].
    pub fn cc(&self, i: usize) -> Option<u8> {
        let cc = self.first_cc as usize + i;
        (i < self.count() && (LOWEST_CC as usize..=HIGHEST_CC as usize).contains(&cc))
            .then_some(cc as u8)
    }

    /// The plan of `s` for the model's `tags` (manifest order; empty before the models load),
    /// and the chosen names that are not tags (their CCs are never sent).
    pub fn of(s: &Settings, tags: &[String]) -> (CcPlan, Vec<String>) {
        let mut unknown = Vec::new();
        let source = match s.midi_mode {
            MidiMode::Top => CcSource::Top(s.midi_top_n.min(MAX_MIDI_CCS) as u8),
            MidiMode::Tags => {
                let mut chosen = [NO_TAG; MAX_MIDI_CCS];
                for (slot, name) in chosen.iter_mut().zip(&s.midi_tags) {
                    match tags
                        .iter()
                        .position(|t| t.eq_ignore_ascii_case(name.trim()))
                    {
                        Some(i) if i < NO_TAG as usize => *slot = i as u8,
                        _ if !tags.is_empty() => unknown.push(name.clone()),
                        _ => {}
                    }
                }
                CcSource::Tags {
                    count: s.midi_tags.len().min(MAX_MIDI_CCS) as u8,
                    tags: chosen,
                }
            }
        };
        let plan = CcPlan {
            enabled: s.midi_enabled,
            channel: (s.midi_channel.clamp(1, 16) - 1) as u8,
            first_cc: s.midi_first_cc.clamp(LOWEST_CC, HIGHEST_CC) as u8,
            view: s.view.view(),
            source,
        };
        (plan, unknown)
    }

    /// What the plan sends, in the editor's words, e.g. "CC 20-23 on channel 1: the 4 best
    /// tags, calibrated (window view)"; `tags` are the model's (manifest order).
    pub fn describe(&self, tags: &[String]) -> String {
        let n = self.count();
        let (Some(first), Some(last)) = (self.cc(0), n.checked_sub(1).and_then(|i| self.cc(i)))
        else {
            return "no tags chosen".into();
        };
        let ccs = if first == last {
            format!("CC {first}")
        } else {
            format!("CC {first}-{last}")
        };
        let what = match self.source {
            CcSource::Top(1) => "the best tag".to_string(),
            CcSource::Top(n) => format!("the {n} best tags"),
            CcSource::Tags { tags: chosen, .. } => chosen[..n]
                .iter()
                .map(|&i| tags.get(i as usize).map_or("(unknown)", String::as_str))
                .collect::<Vec<_>>()
                .join(", "),
        };
        format!(
            "{ccs} on channel {}: {what}, calibrated ({} view)",
            self.channel + 1,
            self.view.name()
        )
    }
}

/// One control change to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CcMessage {
    /// Frame within the current block.
    pub timing: u32,
    /// 0-15.
    pub channel: u8,
    pub cc: u8,
    /// 0-127.
    pub value: u8,
}

/// The rate limit and the memory of sent values: the host-independent core of MIDI output.
pub struct CcSender {
    calibration: Option<Calibration>,
    /// Frames between two rounds.
    interval: u64,
    /// Frames until the next round (0: at the start of the next block).
    due_in: u64,
    /// The last value sent per CC number, -1 for none since the plan last changed.
    last: [i8; 128],
    /// The plan of the last round: a different one forgets the sent values.
    plan: CcPlan,
    calibrated: [f32; MAX_TAGS],
    order: [u8; MAX_TAGS],
}

impl CcSender {
    /// Sends nothing until it has a calibration ([`CcSender::set_calibration`]).
    pub fn new(sample_rate: f32) -> CcSender {
        let mut s = CcSender {
            calibration: None,
            interval: 1,
            due_in: 0,
            last: [-1; 128],
            plan: CcPlan::OFF,
            calibrated: [0.0; MAX_TAGS],
            order: [0; MAX_TAGS],
        };
        s.set_sample_rate(sample_rate);
        s
    }

    /// The calibration of the models' tags (`None`: models missing or without one, nothing is
    /// sent). Not on the audio thread (it drops the old one). The same calibration again (a
    /// re-activation) keeps the memory of sent values: a CC is still sent only on a change.
    pub fn set_calibration(&mut self, calibration: Option<Calibration>) {
        if self.calibration != calibration {
            self.calibration = calibration;
            self.last = [-1; 128];
        }
    }

    /// Rounds at most [`MAX_SENDS_PER_S`] times a second at this rate.
    pub fn set_sample_rate(&mut self, rate: f32) {
        let rate = if rate.is_finite() {
            rate.max(1.0)
        } else {
            48_000.0
        };
        self.interval = (rate as f64 / MAX_SENDS_PER_S as f64).ceil().max(1.0) as u64;
        self.due_in = self.due_in.min(self.interval);
    }

    /// Frames between two rounds.
    pub fn interval(&self) -> u64 {
        self.interval
    }

    /// One block of `frames` frames: when a round falls due in it, sends (through `out`, at
    /// that frame) each CC of `plan` whose value differs from the last one sent on it. `out`
    /// returns whether the message went out (a full host queue: it is tried again next round).
    /// Rounds are at least [`CcSender::interval`] frames apart. No allocation.
    pub fn tick(
        &mut self,
        plan: &CcPlan,
        scores: &Scores,
        frames: usize,
        mut out: impl FnMut(CcMessage) -> bool,
    ) {
        let frames = frames as u64;
        if self.due_in >= frames {
            self.due_in -= frames;
            return;
        }
        let timing = self.due_in;
        self.due_in = (timing + self.interval).saturating_sub(frames);
        if *plan != self.plan {
            self.plan = *plan;
            self.last = [-1; 128];
        }
        let Some(cal) = self.calibration.as_ref() else {
            return;
        };
        if !plan.enabled || scores.seq == 0 {
            return;
        }
        let raw = scores.view(plan.view);
        cal.apply(raw, &mut self.calibrated[..raw.len()]);
        if let CcSource::Top(n) = plan.source {
            self.rank(raw, n as usize);
        }
        for i in 0..plan.count() {
            let Some(cc) = plan.cc(i) else {
                break;
            };
            let tag = match plan.source {
                CcSource::Top(_) => self.order[i] as usize,
                CcSource::Tags { tags, .. } => tags[i] as usize,
            };
            if tag >= raw.len() {
                continue;
            }
            let value = cc_value(self.calibrated[tag]);
            let sent = &mut self.last[cc as usize];
            if *sent != value as i8
                && out(CcMessage {
                    timing: timing as u32,
                    channel: plan.channel,
                    cc,
                    value,
                })
            {
                *sent = value as i8;
            }
        }
    }

    /// Puts the `n` best tags first in `order`: by calibrated value, then raw score, then
    /// manifest order (a partial selection sort, no allocation).
    fn rank(&mut self, raw: &[f32], n: usize) {
        let len = raw.len();
        for (i, o) in self.order[..len].iter_mut().enumerate() {
            *o = i as u8;
        }
        let cal = &self.calibrated;
        let better = |a: usize, b: usize| {
            cal[a]
                .total_cmp(&cal[b])
                .then(raw[a].total_cmp(&raw[b]))
                .then(b.cmp(&a))
                .is_gt()
        };
        for i in 0..n.min(len) {
            let mut best = i;
            for j in i + 1..len {
                if better(self.order[j] as usize, self.order[best] as usize) {
                    best = j;
                }
            }
            self.order.swap(i, best);
        }
    }
}

/// A calibrated value (0..1) as a CC value: `round(127 × v)`, clamped to 0-127.
pub fn cc_value(v: f32) -> u8 {
    if v.is_finite() {
        (v.clamp(0.0, 1.0) * 127.0).round() as u8
    } else {
        0
    }
}

/// The writers' side of the MIDI hand-off (kept by the instance): the inference thread's
/// publish hook writes the scores, the settings' side the plan. Each input has a mutex for
/// its writers; the audio thread never takes it.
pub struct MidiInputs {
    scores: Mutex<triple_buffer::Input<Scores>>,
    plan: Mutex<triple_buffer::Input<CcPlan>>,
}

impl MidiInputs {
    /// Publishes the engine's latest scores (inference thread).
    pub fn publish_scores(&self, s: &Scores) {
        self.scores
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write(*s);
    }

    /// Publishes a new plan (main or GUI thread).
    pub fn publish_plan(&self, plan: &CcPlan) {
        self.plan
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write(*plan);
    }
}

/// The two ends of the MIDI hand-off: nothing sent ([`CcPlan::OFF`]), no scores yet.
pub fn midi_channel() -> (MidiInputs, MidiOut) {
    let (scores_in, scores_out) = triple_buffer::triple_buffer(&Scores::default());
    let (plan_in, plan_out) = triple_buffer::triple_buffer(&CcPlan::OFF);
    let inputs = MidiInputs {
        scores: Mutex::new(scores_in),
        plan: Mutex::new(plan_in),
    };
    let out = MidiOut {
        sender: CcSender::new(48_000.0),
        scores: scores_out,
        plan: plan_out,
    };
    (inputs, out)
}

/// The audio thread's MIDI state: the reading ends of the scores and the plan, and the sender.
pub struct MidiOut {
    sender: CcSender,
    scores: triple_buffer::Output<Scores>,
    plan: triple_buffer::Output<CcPlan>,
}

impl MidiOut {
    /// At activation (not on the audio thread): the host's rate and the models' calibration.
    pub fn activate(&mut self, sample_rate: f32, calibration: Option<Calibration>) {
        self.sender.set_sample_rate(sample_rate);
        self.sender.set_calibration(calibration);
    }

    /// One block of `process()`: the latest scores and plan (wait-free: a triple buffer's
    /// reader only swaps an index), then [`CcSender::tick`].
    pub fn process(&mut self, frames: usize, out: impl FnMut(CcMessage) -> bool) {
        let plan = *self.plan.read();
        self.sender.tick(&plan, self.scores.read(), frames, out);
    }
}

#[cfg(test)]
mod tests;
