//! The MIDI core without a host: rate limit, changes only, top N, chosen tags, channel and CC
//! bounds, and the plan's and scores' trip to the audio side.

use super::*;
use crate::settings::ViewChoice;
use mstag::calibration::CalibrationSpec;

const TAGS: [&str; 4] = ["rock", "piano", "guitar", "techno"];

fn tags() -> Vec<String> {
    TAGS.map(String::from).to_vec()
}

/// Levels 0.5 and 0.99: each tag maps linearly from its first quantile (0) to its second (1).
fn calibration() -> Calibration {
    let spec = CalibrationSpec {
        source: "test".into(),
        levels: vec![0.5, 0.99],
        quantiles: [
            ("rock".to_string(), vec![0.0, 0.5]),
            ("piano".to_string(), vec![0.0, 1.0]),
            ("guitar".to_string(), vec![0.1, 0.2]),
            ("techno".to_string(), vec![0.0, 0.25]),
        ]
        .into(),
    };
    Calibration::new(&spec, &tags()).unwrap()
}

/// Scores with `window` as the window view (and `seq` 1).
fn scores(window: [f32; 4]) -> Scores {
    let mut s = Scores {
        n_tags: 4,
        seq: 1,
        ..Scores::default()
    };
    s.window[..4].copy_from_slice(&window);
    s
}

fn sender() -> CcSender {
    let mut s = CcSender::new(48_000.0);
    s.set_calibration(Some(calibration()));
    s
}

fn settings(mode: MidiMode) -> Settings {
    Settings {
        midi_enabled: true,
        midi_mode: mode,
        midi_top_n: 2,
        midi_tags: vec!["techno".into(), "rock".into()],
        view: ViewChoice::Window,
        ..Settings::default()
    }
    .sanitized()
}

fn plan(mode: MidiMode) -> CcPlan {
    CcPlan::of(&settings(mode), &tags()).0
}

/// One tick: the messages it sends.
fn tick(s: &mut CcSender, plan: &CcPlan, scores: &Scores, frames: usize) -> Vec<CcMessage> {
    let mut sent = Vec::new();
    s.tick(plan, scores, frames, |m| {
        sent.push(m);
        true
    });
    sent
}

fn values(sent: &[CcMessage]) -> Vec<(u8, u8)> {
    sent.iter().map(|m| (m.cc, m.value)).collect()
}

#[test]
fn chosen_tags_send_round_127_times_their_calibrated_values() {
    let mut s = sender();
    let p = plan(MidiMode::Tags);
    // techno 0.2 -> 0.8 -> 101.6 -> 102; rock 0.3 -> 0.6 -> 76.2 -> 76.
    let sent = tick(&mut s, &p, &scores([0.3, 0.9, 0.15, 0.2]), 64);
    assert_eq!(values(&sent), [(20, 102), (21, 76)]);
    assert!(sent.iter().all(|m| m.channel == 0 && m.timing == 0));
    let cal = calibration();
    assert_eq!(sent[0].value, (127.0 * cal.value(3, 0.2)).round() as u8);
}

#[test]
fn the_best_tags_are_ranked_by_calibrated_value() {
    let mut s = sender();
    let p = plan(MidiMode::Top);
    // Calibrated: rock 0.4, piano 0.9, guitar 0.5, techno 0.4 (raw: piano, rock, guitar, ...).
    let sent = tick(&mut s, &p, &scores([0.2, 0.9, 0.15, 0.1]), 64);
    assert_eq!(values(&sent), [(20, cc_value(0.9)), (21, cc_value(0.5))]);
    // Ties at 1.0 (saturated): the higher raw score first; then manifest order.
    let mut s = sender();
    let p = CcPlan::of(
        &Settings {
            midi_top_n: 4,
            ..settings(MidiMode::Top)
        },
        &tags(),
    )
    .0;
    let sent = tick(&mut s, &p, &scores([0.6, 0.0, 0.3, 0.6]), 64);
    assert_eq!(values(&sent), [(20, 127), (21, 127), (22, 127), (23, 0)]);
    s.rank(&[0.6, 0.0, 0.3, 0.6], 4);
    assert_eq!(s.order[..4], [0, 3, 2, 1]);
}

#[test]
fn at_most_30_rounds_a_second_and_only_changes() {
    let mut s = sender();
    assert_eq!(s.interval(), 1600);
    let p = plan(MidiMode::Tags);
    let mut sc = scores([0.3, 0.0, 0.0, 0.2]);
    let mut log = Vec::new(); // (frame, cc, value)
    let mut pos = 0u64;
    for block in 0..600 {
        // The scores change every 10 blocks; blocks of 100 frames.
        if block % 10 == 0 {
            sc.window[0] = (block % 70) as f32 / 140.0;
            sc.seq += 1;
        }
        for m in tick(&mut s, &p, &sc, 100) {
            log.push((pos + m.timing as u64, m.cc, m.value));
        }
        pos += 100;
    }
    for cc in [20, 21] {
        let mine: Vec<_> = log.iter().filter(|l| l.1 == cc).collect();
        for w in mine.windows(2) {
            assert!(w[1].0 - w[0].0 >= 1600, "{cc}: {w:?} closer than 1/30 s");
            assert_ne!(w[1].2, w[0].2, "{cc}: the same value sent twice");
        }
    }
    // techno never changes: sent once.
    assert_eq!(log.iter().filter(|l| l.1 == 20).count(), 1);
    assert!(log.iter().filter(|l| l.1 == 21).count() > 5);
    // A round falls due inside a block: the event is placed at that frame.
    let mut s = sender();
    assert_eq!(tick(&mut s, &p, &sc, 1000).len(), 2);
    sc.window[3] = 0.1;
    let sent = tick(&mut s, &p, &sc, 1000);
    assert_eq!(values(&sent), [(20, cc_value(0.4))]);
    assert_eq!(sent[0].timing, 600);
    // Blocks longer than the interval: one round per block.
    let mut s = sender();
    assert_eq!(tick(&mut s, &p, &sc, 8192).len(), 2);
    sc.window[3] = 0.05;
    assert_eq!(tick(&mut s, &p, &sc, 8192).len(), 1);
}

#[test]
fn nothing_without_calibration_scores_or_enabling() {
    let p = plan(MidiMode::Tags);
    let sc = scores([0.3, 0.0, 0.0, 0.2]);
    let mut s = CcSender::new(44_100.0);
    assert!(tick(&mut s, &p, &sc, 64).is_empty(), "no calibration");
    let mut s = sender();
    let none = Scores { seq: 0, ..sc };
    assert!(tick(&mut s, &p, &none, 64).is_empty(), "nothing published");
    let off = CcPlan {
        enabled: false,
        ..p
    };
    let mut s = sender();
    assert!(tick(&mut s, &off, &sc, 64).is_empty(), "off");
    // Turned on: everything is sent afresh.
    assert_eq!(tick(&mut s, &p, &sc, 2000).len(), 2);
    // A full host queue: the value is tried again next round.
    let mut s = sender();
    s.tick(&p, &sc, 2000, |_| false);
    assert_eq!(tick(&mut s, &p, &sc, 2000).len(), 2);
}

#[test]
fn a_new_channel_or_cc_sends_everything_again() {
    let mut s = sender();
    let p = plan(MidiMode::Tags);
    let sc = scores([0.3, 0.0, 0.0, 0.2]);
    assert_eq!(tick(&mut s, &p, &sc, 2000).len(), 2);
    assert!(tick(&mut s, &p, &sc, 2000).is_empty());
    let mut moved = settings(MidiMode::Tags);
    moved.midi_channel = 16;
    moved.midi_first_cc = 118;
    let p = CcPlan::of(&moved.sanitized(), &tags()).0;
    let sent = tick(&mut s, &p, &sc, 2000);
    assert_eq!(values(&sent), [(118, 102), (119, 76)]);
    assert!(sent.iter().all(|m| m.channel == 15));
}

#[test]
fn ccs_stay_within_1_to_119_and_unknown_tags_are_skipped() {
    let s = Settings {
        midi_mode: MidiMode::Tags,
        midi_tags: vec!["Rock".into(), "kazoo".into(), " piano ".into()],
        ..settings(MidiMode::Tags)
    };
    let (p, unknown) = CcPlan::of(&s, &tags());
    assert_eq!(unknown, ["kazoo"]);
    assert_eq!(
        p.source,
        CcSource::Tags {
            count: 3,
            tags: {
                let mut t = [NO_TAG; MAX_MIDI_CCS];
                t[..3].copy_from_slice(&[0, NO_TAG, 1]);
                t
            }
        }
    );
    assert_eq!(
        p.describe(&tags()),
        "CC 20-22 on channel 1: rock, (unknown), piano, calibrated (window view)"
    );
    let mut sender = sender();
    let sent = tick(&mut sender, &p, &scores([0.5, 0.5, 0.0, 0.0]), 64);
    assert_eq!(values(&sent), [(20, 127), (22, 64)]);
    // Before the models load every name is unresolved but none is reported.
    assert!(CcPlan::of(&s, &[]).1.is_empty());
    // A plan that would run past 119 (not reachable through sanitized settings) stops there.
    let p = CcPlan {
        first_cc: 118,
        source: CcSource::Top(4),
        ..p
    };
    assert_eq!((p.cc(0), p.cc(1), p.cc(2)), (Some(118), Some(119), None));
    let sent = tick(&mut sender, &p, &scores([0.5, 0.5, 0.2, 0.2]), 2000);
    assert_eq!(sent.iter().map(|m| m.cc).collect::<Vec<_>>(), [118, 119]);
    assert_eq!(CcPlan { first_cc: 0, ..p }.cc(0), None);
    for v in [f32::NAN, -1.0, 0.0, 0.5, 1.0, 7.0] {
        assert!(cc_value(v) <= 127);
    }
    assert_eq!(cc_value(0.5), 64);
}

#[test]
fn plans_and_scores_reach_the_audio_side_whole() {
    let (inputs, mut out) = midi_channel();
    let mut sent = Vec::new();
    out.activate(48_000.0, Some(calibration()));
    // Nothing before a plan.
    out.process(512, |m| {
        sent.push(m);
        true
    });
    assert!(sent.is_empty());
    let p = CcPlan::of(&settings(MidiMode::Top).sanitized(), &tags()).0;
    let s = scores([0.9, 0.1, 0.5, 0.2]);
    // Written from other threads, as the publish hook and the editor do.
    std::thread::scope(|t| {
        t.spawn(|| inputs.publish_plan(&p));
        t.spawn(|| inputs.publish_scores(&s));
    });
    // The next round is due within these frames (one every 1600 at 48 kHz).
    out.process(2000, |m| {
        sent.push(m);
        true
    });
    let want = tick(&mut sender(), &p, &s, 512);
    assert!(!want.is_empty());
    assert_eq!(values(&sent), values(&want));
    assert!(sent.iter().all(|m| m.timing == 1600 - 512), "{sent:?}");
}
