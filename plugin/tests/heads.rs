//! Heads of your own in the plugin: a folder chosen in the editor (a setting, so it is saved
//! with the project) is loaded into the running engine; the heads are scored from the same
//! views as the tags, their song-level scores equal `mstag tag --head`'s (the library's head on
//! the offline song features), and swapping, clearing or refusing heads while the host plays
//! never touches the audio thread (`process()` runs under `assert_no_alloc`).

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use mstag::engine::View;
use mstag::head::{FeatureModels, Head, HeadKind};
use mstag::model::Manifest;
use mstag_plugin::Mstag;

#[global_allocator]
static A: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mstag-plugin-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A head on the bundled models with fixed weights (a stand-in for `mstag learn`'s: the
/// training is tested in the CLI's tests; here what matters is what the plugin does with it).
fn head(manifest: &Manifest, name: &str, kind: HeadKind, labels: &[&str], seed: u32) -> Head {
    let d = manifest.feature_dim();
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let mut next = move || {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (x >> 8) as f32 / (1u32 << 24) as f32 - 0.5
    };
    Head {
        format: 1,
        name: name.into(),
        kind,
        labels: labels.iter().map(|l| l.to_string()).collect(),
        feature_dim: d,
        feature_models: FeatureModels::of(manifest),
        mean: vec![0.2; d],
        scale: vec![1.0; d],
        weights: labels
            .iter()
            .map(|_| (0..d).map(|_| next() * 0.2).collect())
            .collect(),
        bias: labels.iter().map(|_| next()).collect(),
        training: serde_json::Value::Null,
    }
}

fn set_folder(p: &Mstag, folder: &Path) {
    let folder = folder.display().to_string();
    p.shared()
        .params
        .settings
        .update(|s| s.heads_folder = folder.clone());
}

#[test]
fn heads_from_the_editors_folder_score_live_and_match_the_offline_song() {
    use_source_tree_data();
    let manifest = Manifest::load(&root().join("models/manifest.json")).unwrap();
    let dir = temp_dir("heads");
    let folder = dir.join("heads");
    let mood = head(
        &manifest,
        "mood",
        HeadKind::Single,
        &["calm", "tense", "bright"],
        1,
    );
    let cues = head(&manifest, "cues", HeadKind::Multi, &["drop", "verse"], 2);
    mood.save(&folder.join("mood")).unwrap();
    cues.save(&folder.join("cues")).unwrap();
    // A head trained on other feature models, and a corrupt one.
    let mut foreign = head(&manifest, "foreign", HeadKind::Single, &["a", "b"], 3);
    foreign
        .feature_models
        .sha256
        .values_mut()
        .for_each(|v| *v = "0".repeat(64));
    foreign.save(&dir.join("foreign")).unwrap();
    std::fs::create_dir_all(dir.join("corrupt")).unwrap();
    std::fs::write(dir.join("corrupt/head.json"), "{\"format\": 1, \"na").unwrap();

    let (l, r) = demo_stereo(48_000);
    let mut p = Mstag::default();
    // As a project saved with a heads folder: set before the host activates the plugin.
    set_folder(&p, &folder);
    activate(&mut p, 2, 48_000.0, 512);
    let half = 15 * 48_000;
    play(&mut p, &[&l[..half], &r[..half]], 512, 0);
    wait_for(&p, 15.0);
    let snap = p.shared().snapshot();
    assert_eq!(
        snap.heads_status,
        "scoring cues (2 labels), mood (3 labels)"
    );
    let names: Vec<&str> = snap.heads.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["cues", "mood"], "sub-folders by name");
    let s = snap.scores.expect("scores");
    assert_eq!(s.n_head, 5);
    for v in View::ALL {
        let h = s.head_view(v);
        assert!(h.iter().all(|x| (0.0..=1.0).contains(x)), "{v:?}: {h:?}");
        let softmax: f32 = h[2..].iter().sum();
        assert!((softmax - 1.0).abs() < 1e-5, "mood sums to {softmax}");
    }

    // While the rest plays, the editor swaps, clears and refuses heads again and again;
    // process() never allocates meanwhile (common::play runs it under assert_no_alloc).
    let swaps = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let editor = {
        let shared = p.shared().clone();
        let choices = [
            folder.join("mood"),
            PathBuf::new(),
            dir.join("foreign"),
            dir.join("no such folder"),
            folder.clone(),
        ];
        let (swaps, stop) = (swaps.clone(), stop.clone());
        std::thread::spawn(move || {
            // At least one whole round of choices, however quickly play() returns, and
            // always ending on the full folder.
            let mut k = 0;
            loop {
                let f = choices[k % choices.len()].display().to_string();
                shared
                    .params
                    .settings
                    .update(|s| s.heads_folder = f.clone());
                swaps.fetch_add(1, Ordering::Relaxed);
                k += 1;
                if k % choices.len() == 0 && stop.load(Ordering::Acquire) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        })
    };
    // The editor has begun swapping before the second half plays (on a loaded machine the
    // thread can otherwise start after play() is already done).
    while swaps.load(Ordering::Relaxed) == 0 {
        std::thread::yield_now();
    }
    play(&mut p, &[&l[half..], &r[half..]], 512, 0);
    stop.store(true, Ordering::Release);
    editor.join().unwrap();
    assert!(swaps.load(Ordering::Relaxed) >= 5);
    let s = wait_for(&p, l.len() as f64 / 48_000.0);
    assert_eq!(s.segments, 71 + 47 + 23, "every segment of the clip");
    let snap = p.shared().snapshot();
    assert_eq!(snap.heads.len(), 2, "{}", snap.heads_status);

    // The session's head scores are the song's: the library's heads on the offline song
    // features of the same (mixed-down) audio.
    let mono: Vec<f32> = l.iter().zip(&r).map(|(a, b)| (a + b) * 0.5).collect();
    let mut tagger = mstag::Tagger::from_manifest(root().join("models/manifest.json")).unwrap();
    let song = tagger.tag_samples(&mono, 48_000, 1).unwrap();
    let want: Vec<f32> = [&cues, &mood]
        .iter()
        .flat_map(|h| h.scores(song.features()))
        .collect();
    let got = s.head_view(View::Session);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!((g - w).abs() < 1e-4, "label {i}: plugin {g}, offline {w}");
    }

    // Refusals say why and keep the heads that were there.
    for (bad, why) in [
        (dir.join("foreign"), "trained on other feature models"),
        (dir.join("corrupt"), "not a head file"),
        (dir.join("no such folder"), "No such file or directory"),
    ] {
        set_folder(&p, &bad);
        let snap = p.shared().snapshot();
        assert!(
            snap.heads_status.starts_with("not loaded: ") && snap.heads_status.contains(why),
            "{}: {}",
            bad.display(),
            snap.heads_status
        );
        assert_eq!(snap.heads.len(), 2);
    }
    // Clearing the folder removes them from the next update on.
    set_folder(&p, Path::new(""));
    let snap = p.shared().snapshot();
    assert_eq!(snap.heads_status, "none");
    assert_eq!(snap.scores.expect("scores").n_head, 0);
    let _ = std::fs::remove_dir_all(&dir);
}
