//! Inputs kept from fuzzing (`fuzz/`, `cargo fuzz run manifest|decode`) and hand-made hostile
//! files: each must give a result or a clear error, never a panic or a hang.

mod common;

use std::path::PathBuf;

use mstag::model::Manifest;

fn files(kind: &str) -> Vec<PathBuf> {
    let dir = common::root().join("fuzz").join("regressions").join(kind);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no regression inputs in {}", dir.display());
    v
}

#[test]
fn manifest_regressions_are_refused_with_a_reason() {
    for f in files("manifest") {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        let r = Manifest::parse(&text, &f);
        let e = r
            .err()
            .unwrap_or_else(|| panic!("{} should be refused", f.display()))
            .to_string();
        assert!(
            e.contains(&f.display().to_string()),
            "error names the manifest: {e}"
        );
    }
}

#[test]
fn decode_regressions_fail_cleanly_through_the_offline_path() {
    for f in files("decode") {
        let r = common::tagger().tag_path(&f);
        match r {
            Ok(tags) => assert!(tags.scores().iter().all(|s| s.is_finite())),
            Err(e) => {
                let e = e.to_string();
                assert!(
                    e.contains(&f.display().to_string()),
                    "error names the file: {e}"
                );
            }
        }
    }
}
