//! A plugin installed without its `mstag-data/` folder: it still activates and passes audio
//! through bit for bit, without allocating, and says what is missing; with MIDI on it sends
//! nothing (no calibration without models).

mod common;

use common::*;
use mstag_plugin::instance::EngineState;
use mstag_plugin::Mstag;

#[global_allocator]
static A: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

#[test]
fn without_models_audio_still_passes_and_the_editor_says_why() {
    // This test executable has no mstag-data beside it; make sure no override points elsewhere.
    for v in ["MSTAG_MODELS", "ORT_DYLIB_PATH", "MSTAG_PLUGIN_DATA"] {
        std::env::remove_var(v);
    }
    let mut p = Mstag::default();
    p.shared().params.settings.update(|s| s.midi_enabled = true);
    activate(&mut p, 2, 48_000.0, 512);
    match p.shared().snapshot().state {
        EngineState::Failed(msg) => {
            assert!(msg.contains("missing"), "{msg}");
            assert!(msg.contains("cargo xtask bundle"), "{msg}");
        }
        s => panic!("expected a failure, got {s:?}"),
    }
    let x: Vec<f32> = (0..4096).map(|i| (i as f32 * 0.01).sin()).collect();
    let y: Vec<f32> = x.iter().map(|v| -v).collect();
    play(&mut p, &[&x[..], &y[..]], 512, 1);
    let mut ctx = Ctx::new(48_000.0);
    play_with(&mut p, &mut ctx, &[&x[..], &y[..]], 100, 0);
    assert!(ctx.sent.is_empty(), "MIDI without models: {:?}", ctx.sent);
    let midi = p.shared().snapshot().midi;
    assert!(midi.contains("waiting for the engine"), "{midi}");
}
