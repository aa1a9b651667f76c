//! MIDI CC output through `process()`, driven like a host does (a fake context whose output
//! queue keeps the events), under `assert_no_alloc`: with chosen tags and then the best N, the
//! CC values are `round(127 × calibrated score)` of the scores the engine published (the
//! manifest's calibration), on the chosen channel and CC numbers, at most 30 rounds a second
//! of audio time, and a CC is sent again only when its value changed. An unknown tag name is
//! reported, and its CC never sent.

mod common;

use std::collections::BTreeMap;

use common::*;
use mstag::calibration::Calibration;
use mstag::engine::{Scores, View};
use mstag::model::Manifest;
use mstag_plugin::settings::{MidiMode, ViewChoice};
use mstag_plugin::Mstag;
use nice_plug::prelude::*;

#[global_allocator]
static A: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

const RATE: u32 = 48_000;

/// One CC as sent: (frame of the stream, channel 0-15, CC number, value 0-127).
type Cc = (u64, u8, u8, u8);

fn ccs(sent: &[(u64, PluginNoteEvent<Mstag>)]) -> Vec<Cc> {
    sent.iter()
        .map(|(at, e)| match e {
            NoteEvent::MidiCC {
                channel, cc, value, ..
            } => {
                let v = value * 127.0;
                assert_eq!(v, v.round(), "a value of 127 steps: {value}");
                (*at, *channel, *cc, v as u8)
            }
            other => panic!("only CCs expected, got {other:?}"),
        })
        .collect()
}

/// The last value sent per (channel, CC).
fn last_values(log: &[Cc]) -> BTreeMap<(u8, u8), u8> {
    log.iter().map(|&(_, ch, cc, v)| ((ch, cc), v)).collect()
}

/// Per CC: consecutive messages at least 1/30 s apart, each with a new value.
fn assert_rate_limited_and_changes_only(log: &[Cc]) {
    let mut per_cc: BTreeMap<(u8, u8), Vec<(u64, u8)>> = BTreeMap::new();
    for &(at, ch, cc, v) in log {
        per_cc.entry((ch, cc)).or_default().push((at, v));
    }
    for (key, msgs) in per_cc {
        for w in msgs.windows(2) {
            assert!(
                w[1].0 - w[0].0 >= (RATE / 30) as u64,
                "{key:?}: {w:?} closer than 1/30 s"
            );
            assert_ne!(w[1].1, w[0].1, "{key:?}: the same value sent twice");
        }
    }
}

fn calibration() -> (Calibration, Vec<String>) {
    let m = Manifest::load(&root().join("models/manifest.json")).unwrap();
    (
        m.calibration().expect("the bundled manifest is calibrated"),
        m.tags,
    )
}

fn expected(cal: &Calibration, s: &Scores, tag: usize) -> u8 {
    (127.0 * cal.value(tag, s.view(View::Window)[tag])).round() as u8
}

/// Plays silence (the engine holds its scores over silence) until the audio thread has seen
/// the latest scores: the scores are the same before and after.
fn settle(p: &mut Mstag, ctx: &mut Ctx, clip_s: f64) -> Scores {
    let silence = vec![0.0f32; RATE as usize / 5];
    for _ in 0..20 {
        let before = wait_for(p, clip_s);
        play_with(p, ctx, &[&silence, &silence], 512, 0);
        let after = scores(p).expect("scores");
        if after.view(View::Window) == before.view(View::Window) {
            return after;
        }
    }
    panic!("the scores never settled");
}

#[test]
fn ccs_follow_the_calibrated_scores_without_allocating() {
    use_source_tree_data();
    let (cal, tags) = calibration();
    let chosen = [
        "rock", "kazoo", "guitar", "piano", "drums", "techno", "vocal",
    ];
    let mut p = Mstag::default();
    p.shared().params.settings.update(|s| {
        s.view = ViewChoice::Window;
        s.midi_enabled = true;
        s.midi_channel = 3;
        s.midi_first_cc = 40;
        s.midi_mode = MidiMode::Tags;
        s.midi_tags = chosen.map(String::from).to_vec();
    });
    activate(&mut p, 2, RATE as f32, 512);
    let snap = p.shared().snapshot();
    assert_eq!(snap.midi_unknown, ["kazoo"]);
    assert!(snap
        .midi
        .starts_with("CC 40-46 on channel 3: rock, (unknown), guitar"));

    let (l, r) = demo_stereo(RATE);
    let clip_s = l.len() as f64 / RATE as f64;
    let mut ctx = Ctx::new(RATE as f32);
    // In parts the engine keeps up with (the ring holds about 22 s; nothing is dropped).
    let part = 8 * RATE as usize;
    for start in (0..l.len()).step_by(part) {
        let end = (start + part).min(l.len());
        play_with(&mut p, &mut ctx, &[&l[start..end], &r[start..end]], 512, 0);
        wait_for(&p, end as f64 / RATE as f64);
    }
    let last = settle(&mut p, &mut ctx, clip_s);
    let log = ccs(&ctx.sent);
    assert!(log.len() > chosen.len(), "{log:?}");
    assert!(log
        .iter()
        .all(|&(_, ch, cc, v)| ch == 2 && (40..47).contains(&cc) && cc != 41 && v <= 127));
    assert_rate_limited_and_changes_only(&log);
    let got = last_values(&log);
    for (k, name) in chosen.iter().enumerate() {
        let cc = 40 + k as u8;
        let Some(tag) = tags.iter().position(|t| t == name) else {
            assert!(!got.contains_key(&(2, cc)), "{name}: unknown, never sent");
            continue;
        };
        assert_eq!(
            got[&(2, cc)],
            expected(&cal, &last, tag),
            "CC {cc} ({name})"
        );
    }
    eprintln!("chosen tags: {got:?}");

    // The best 5 on channel 16 from CC 100: the five highest calibrated values, best first.
    p.shared().params.settings.update(|s| {
        s.midi_channel = 16;
        s.midi_first_cc = 100;
        s.midi_mode = MidiMode::Top;
        s.midi_top_n = 5;
    });
    let start = ctx.sent.len();
    let last = settle(&mut p, &mut ctx, clip_s);
    let log = ccs(&ctx.sent[start..]);
    assert!(log
        .iter()
        .all(|&(_, ch, cc, _)| ch == 15 && (100..105).contains(&cc)));
    let mut want: Vec<u8> = (0..tags.len()).map(|i| expected(&cal, &last, i)).collect();
    want.sort_unstable_by(|a, b| b.cmp(a));
    let got: Vec<u8> = (100..105).map(|cc| last_values(&log)[&(15, cc)]).collect();
    assert_eq!(got, want[..5], "the best 5");
    eprintln!("best 5: {got:?}");

    // Off: nothing more is sent.
    p.shared()
        .params
        .settings
        .update(|s| s.midi_enabled = false);
    let start = ctx.sent.len();
    let silence = vec![0.0f32; RATE as usize / 2];
    play_with(&mut p, &mut ctx, &[&silence, &silence], 512, 0);
    assert_eq!(ctx.sent.len(), start);
}
