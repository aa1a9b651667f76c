//! `mstag-live --scale calibrated`: every tag value of every view goes through the manifest's
//! per-tag quantiles (the library's `Calibration`), stays in 0..1, keeps each view's ranking,
//! and is marked `"scale": "calibrated"`; raw values are unchanged by the option's existence.

mod common;

use std::process::Command;

use serde_json::Value;

fn live(args: &[&str]) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_mstag-live"))
        .arg("--input")
        .arg(common::demo_clip())
        .args(["--fast", "--json"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn calibrated_values_are_the_quantile_map_of_the_raw_ones() {
    let manifest = mstag::model::Manifest::load(&common::manifest_path()).unwrap();
    let cal = manifest
        .calibration()
        .expect("the bundled manifest has a calibration");
    let raw = live(&[]);
    let calibrated = live(&["--scale", "calibrated"]);
    // Lines of the same update (the same `t`; --fast analyses the same segments each run,
    // but a busy machine may skip different updates in the printing of the two runs).
    let pairs: Vec<(&Value, &Value)> = raw
        .iter()
        .filter_map(|r| calibrated.iter().find(|c| c["t"] == r["t"]).map(|c| (r, c)))
        .collect();
    // Ten common updates are plenty for the check below; how many of the ~90 both runs print
    // depends on the machine's load (11 under the full test suite once), not on the option.
    assert!(
        pairs.len() >= 10,
        "{} of {} updates in both runs",
        pairs.len(),
        raw.len()
    );
    assert_eq!(
        raw.last().unwrap()["t"],
        calibrated.last().unwrap()["t"],
        "the same song"
    );
    for (r, c) in pairs {
        assert!(r.get("scale").is_none(), "raw lines have no scale key");
        assert_eq!(c["scale"], "calibrated");
        for view in ["session", "window", "ema"] {
            for (i, tag) in manifest.tags.iter().enumerate() {
                let x = r[view][tag].as_f64().unwrap() as f32;
                let y = c[view][tag].as_f64().unwrap() as f32;
                assert!((0.0..=1.0).contains(&y), "{view} {tag}: {y}");
                assert!(
                    (y - cal.value(i, x)).abs() < 1e-6,
                    "{view} {tag}: {x} -> {y}"
                );
            }
        }
    }
    // The song's top tag (raw) reads much higher calibrated than raw.
    let last_raw = raw.last().unwrap();
    let last_cal = calibrated.last().unwrap();
    let (best, x) = manifest
        .tags
        .iter()
        .map(|t| (t, last_raw["session"][t].as_f64().unwrap()))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    let y = last_cal["session"][best].as_f64().unwrap();
    eprintln!("demo clip: top tag {best:?} raw {x:.3}, calibrated {y:.3}");
    assert!(y > x, "{best}: raw {x}, calibrated {y}");

    // No calibration in the manifest: a clear refusal.
    let dir = common::TempDir::new("calibrated");
    let mut m: Value = common::json(&common::manifest_path());
    m.as_object_mut().unwrap().remove("calibration");
    for file in ["s18.onnx", "s27.onnx", "s54.onnx", "classifier.onnx"] {
        std::fs::copy(common::root().join("models").join(file), dir.path(file)).unwrap();
    }
    let path = dir.path("manifest.json");
    std::fs::write(&path, m.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mstag-live"))
        .arg("--input")
        .arg(common::demo_clip())
        .args(["--fast", "--json", "--scale", "calibrated", "--models"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("have no calibration"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
