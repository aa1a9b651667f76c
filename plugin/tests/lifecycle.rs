//! The plugin object driven directly, the way nice-plug's wrappers drive it: bit-exact
//! pass-through, no allocation in `process()` / `reset()` (checked by `assert_no_alloc`, which
//! aborts the test process on any allocation, in release builds too), the session surviving
//! `reset()`, re-activation and a sample-rate change, and independent instances.

mod common;

use std::time::Duration;

use common::*;
use mstag::engine::View;
use mstag_plugin::instance::EngineState;
use mstag_plugin::Mstag;
use nice_plug::prelude::Plugin;

#[global_allocator]
static A: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

#[test]
fn session_survives_reset_reactivation_and_a_sample_rate_change() {
    use_source_tree_data();
    let (l, r) = demo_stereo(48_000);
    let mut p = Mstag::default();
    activate(&mut p, 2, 48_000.0, 512);
    assert_eq!(
        p.shared().snapshot().state,
        EngineState::Running { rate: 48_000 }
    );

    let ten_s = 10 * 48_000;
    play(&mut p, &[&l[..ten_s], &r[..ten_s]], 64, 7);
    let first = wait_for(&p, 10.0);
    assert!(first.segments > 0 && first.seq > 0);
    assert_eq!(first.dropped, 0);

    // The host stops, changes the block size and comes back: same session.
    p.deactivate();
    activate(&mut p, 2, 48_000.0, 2048);
    play(
        &mut p,
        &[&l[ten_s..2 * ten_s], &r[ten_s..2 * ten_s]],
        2048,
        0,
    );
    let second = wait_for(&p, 20.0);
    assert!(second.segments > first.segments, "the session went on");

    // New sample rate: the resampler is rebuilt, the session and time line carry on.
    p.deactivate();
    let (l44, r44) = demo_stereo(44_100);
    activate(&mut p, 2, 44_100.0, 512);
    assert_eq!(
        p.shared().snapshot().state,
        EngineState::Running { rate: 44_100 }
    );
    let from = 20 * 44_100;
    play(&mut p, &[&l44[from..], &r44[from..]], 512, 0);
    let third = wait_for(&p, 30.0);
    assert!(third.segments > second.segments);
    // 10 + 10 + 10 s of the clip, each part once: as many segments as the whole clip offline,
    // give or take the ones that straddle the two rate switches and the unflushed end.
    let offline = 71 + 47 + 23;
    assert!(
        (third.segments as i64 - offline).abs() <= 6,
        "{} segments after 30 s (offline: {offline})",
        third.segments
    );
    // The song-level view still describes the whole clip: its top tag is the one the library
    // gives the same 48 kHz stereo audio offline (the last third came at 44.1 kHz).
    let offline_best = {
        let mut tagger = mstag::Tagger::from_manifest(root().join("models/manifest.json")).unwrap();
        let interleaved: Vec<f32> = l.iter().zip(&r).flat_map(|(a, b)| [*a, *b]).collect();
        let song = tagger.tag_samples(&interleaved, 48_000, 2).unwrap();
        song.top(1)[0].0.to_string()
    };
    let names = p.shared().snapshot().tags;
    let best = mstag::scores::top_k(third.view(View::Session), 1)[0];
    assert_eq!(names[best], offline_best);
    // The meters follow the selected view (window by default).
    let best_window = mstag::scores::top_k(third.view(View::Window), 1)[0];
    assert_eq!(p.shared().params.top1_tag.value(), best_window as i32);

    // Only the reset button forgets the session.
    p.shared().reset_session();
    play(&mut p, &[&l44[..3 * 44_100], &r44[..3 * 44_100]], 512, 0);
    let after = wait_for(&p, 33.0);
    assert_ne!(after.session[..after.n_tags], third.session[..third.n_tags]);
    drop(p); // stops and joins the inference thread
}

#[test]
fn instances_are_independent_and_mono_works() {
    use_source_tree_data();
    let (l, _) = demo_stereo(48_000);
    let silence = vec![0.0f32; 5 * 48_000];
    let mut a = Mstag::default();
    let mut b = Mstag::default();
    activate(&mut a, 1, 48_000.0, 512);
    activate(&mut b, 1, 48_000.0, 512);
    play(&mut a, &[&l[..5 * 48_000]], 512, 0);
    play(&mut b, &[&silence[..]], 512, 0);
    let sa = wait_for(&a, 5.0);
    assert!(sa.seq > 0);
    // Digital silence is gated out of the averages: b has nothing to say, a is unaffected.
    std::thread::sleep(Duration::from_millis(300));
    assert!(scores(&b).is_none(), "silence produced scores");
    drop(b);
    play(&mut a, &[&l[5 * 48_000..6 * 48_000]], 64, 1);
    assert!(wait_for(&a, 6.0).seq > sa.seq);
}

#[test]
fn an_offline_bounce_is_analysed_whole() {
    use_source_tree_data();
    // 30 s pushed as fast as the host can: far more than the ring holds.
    let (l, r) = demo_stereo(48_000);
    let mut p = Mstag::default();
    activate_mode(
        &mut p,
        2,
        48_000.0,
        4096,
        nice_plug::prelude::ProcessMode::Offline,
    );
    play(&mut p, &[&l[..], &r[..]], 4096, 0);
    let s = wait_for(&p, l.len() as f64 / 48_000.0);
    assert_eq!(s.dropped, 0, "frames dropped in offline rendering");
    assert_eq!(s.segments, 71 + 47 + 23, "every segment of the clip");
}

#[test]
fn a_sample_rate_the_engine_refuses_stops_analysis_but_not_audio() {
    use_source_tree_data();
    let (l, _) = demo_stereo(48_000);
    let mut p = Mstag::default();
    activate(&mut p, 1, 48_000.0, 512);
    play(&mut p, &[&l[..3 * 48_000]], 512, 0);
    let before = wait_for(&p, 3.0);
    p.deactivate();
    activate(&mut p, 1, 384_000.0, 512); // above the resampler's 192 kHz
    match p.shared().snapshot().state {
        EngineState::Failed(msg) => assert!(msg.contains("384000"), "{msg}"),
        s => panic!("expected a refusal, got {s:?}"),
    }
    play(&mut p, &[&l[..]], 512, 0); // passes through, not analysed at the wrong rate
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(scores(&p).unwrap().seq, before.seq);
    // Back to a usable rate: analysis resumes with the session intact.
    p.deactivate();
    activate(&mut p, 1, 48_000.0, 512);
    assert_eq!(
        p.shared().snapshot().state,
        EngineState::Running { rate: 48_000 }
    );
    play(&mut p, &[&l[3 * 48_000..6 * 48_000]], 512, 0);
    assert!(wait_for(&p, 6.0).segments > before.segments);
}
