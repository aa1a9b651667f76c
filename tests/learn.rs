//! `mstag learn` and `mstag tag --head`: a head trained from a few labelled files tags new
//! files of the same kinds, in every output format, with the labels and probabilities
//! scikit-learn gives on the same rows; `mstag-live --head` scores it live (JSON lines and a
//! real OSC receiver); bad labels files and foreign or corrupt heads are refused with the row
//! or file named, and nothing half-written is left.

mod common;
/// Not in `common`: it needs rosc, which the core's tests (`--no-default-features`) lack.
#[path = "common/oscdump.rs"]
mod oscdump;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mstag(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mstag"))
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const RATE: u32 = 22_050;

/// 4 s of a kind of sound: a tone, noise or a click train, varied by `k`.
fn sound(kind: &str, k: u32) -> Vec<f32> {
    let n = 4 * RATE as usize;
    let mut x = 12_345u32.wrapping_mul(k + 1);
    (0..n)
        .map(|i| {
            let t = i as f32 / RATE as f32;
            match kind {
                "tone" => 0.3 * (t * (200.0 + 90.0 * k as f32) * std::f32::consts::TAU).sin(),
                "noise" => {
                    x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    0.25 * ((x >> 8) as f32 / (1u32 << 24) as f32 - 0.5)
                }
                _ => {
                    if i % (RATE as usize / (2 + k as usize)) == 0 {
                        0.9
                    } else {
                        0.0
                    }
                }
            }
        })
        .collect()
}

/// Writes `files` (name, kind, variant) into `dir` and a LABELS.csv of `rows` (name, label).
fn labelled(dir: &common::TempDir, files: &[(&str, &str, u32)], rows: &[(&str, &str)]) -> PathBuf {
    for (name, kind, k) in files {
        common::write_wav(&dir.path(name), &sound(kind, *k), RATE, 1);
    }
    let mut csv = String::from("file,label\n");
    for (f, l) in rows {
        csv.push_str(&format!("{f},{l}\n"));
    }
    let p = dir.path("labels.csv");
    std::fs::write(&p, csv).unwrap();
    p
}

/// Four files each of tones, noise and click trains (`tone0.wav` ... `clicks3.wav`), variants
/// 0, 3, 6 and 9 of [`sound`]: tones from 200 to 1,010 Hz, 2 to 11 clicks a second, so new
/// files can fall between the examples rather than beyond them.
fn three_kinds(dir: &common::TempDir) -> PathBuf {
    let mut files = Vec::new();
    let mut rows = Vec::new();
    let names: Vec<String> = ["tone", "noise", "clicks"]
        .iter()
        .flat_map(|k| (0..4).map(move |i| format!("{k}{i}.wav")))
        .collect();
    for (j, kind) in ["tone", "noise", "clicks"].iter().enumerate() {
        for i in 0..4 {
            let name = names[j * 4 + i].as_str();
            files.push((name, *kind, 3 * i as u32));
            rows.push((name, *kind));
        }
    }
    labelled(dir, &files, &rows)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_head_learned_from_a_few_files_tags_new_ones_everywhere() {
    let dir = common::TempDir::new("learn");
    let labels = three_kinds(&dir);
    let head = dir.path("kinds");
    let out = mstag(&["learn", s(&labels), "--out", s(&head), "--quiet"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(
        report.starts_with("cross-validated over 12 files (4 folds by file"),
        "{report}"
    );
    assert!(report.contains("confusion"), "{report}");
    for l in ["tone", "noise", "clicks"] {
        assert!(report.contains(&format!("  {l}")), "{report}");
    }
    let h: serde_json::Value = common::json(&head.join("head.json"));
    assert_eq!(h["name"], "kinds");
    assert_eq!(h["kind"], "single");
    assert_eq!(h["labels"], serde_json::json!(["clicks", "noise", "tone"]));
    assert_eq!(h["feature_dim"], 960);
    let sha = &h["feature_models"]["sha256"];
    assert_eq!(sha.as_object().unwrap().len(), 3);

    // New files of each kind, never seen: the head names their kind.
    for (kind, k) in [("tone", 7), ("noise", 10), ("clicks", 7)] {
        let f = dir.path(&format!("new-{kind}.wav"));
        common::write_wav(&f, &sound(kind, k), RATE, 1);
    }
    let new: Vec<PathBuf> = ["tone", "noise", "clicks"]
        .iter()
        .map(|k| dir.path(&format!("new-{k}.wav")))
        .collect();
    let mut args = vec!["tag", "--quiet", "--format", "json", "--head", s(&head)];
    args.extend(new.iter().map(|p| s(p)));
    let out = mstag(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for (i, kind) in ["tone", "noise", "clicks"].iter().enumerate() {
        let scores = v[i]["heads"]["kinds"].as_object().expect("head scores");
        let best = scores
            .iter()
            .max_by(|a, b| a.1.as_f64().unwrap().total_cmp(&b.1.as_f64().unwrap()))
            .unwrap()
            .0;
        assert_eq!(best, kind, "{}", v[i]);
        let sum: f64 = scores.values().map(|x| x.as_f64().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-5, "one label per file: {sum}");
        assert_eq!(v[i]["tags"].as_object().unwrap().len(), 50, "the tags stay");
    }
    // CSV columns and the table line.
    let out = mstag(&[
        "tag",
        "--quiet",
        "--format",
        "csv",
        "--head",
        s(&head),
        s(&new[0]),
    ]);
    let csv = text(&out.stdout);
    let header = csv.lines().next().unwrap();
    assert!(
        header.ends_with(",kinds/clicks,kinds/noise,kinds/tone"),
        "{header}"
    );
    let out = mstag(&["tag", "--quiet", "--head", s(&head), s(&new[0])]);
    assert!(
        text(&out.stdout).contains("  [kinds] tone "),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn several_labels_per_file_make_a_multi_label_head() {
    let dir = common::TempDir::new("learn-multi");
    let files = [
        ("a0.wav", "tone", 0),
        ("a1.wav", "tone", 3),
        ("b0.wav", "noise", 0),
        ("b1.wav", "noise", 1),
        ("c0.wav", "clicks", 0),
        ("c1.wav", "clicks", 2),
    ];
    let rows = [
        ("a0.wav", "pitched"),
        ("a1.wav", "pitched"),
        ("a1.wav", "steady"),
        ("b0.wav", "steady"),
        ("b1.wav", "steady"),
        ("c0.wav", "pitched"),
        ("c1.wav", "sparse"),
        ("c0.wav", "sparse"),
    ];
    let labels = labelled(&dir, &files, &rows);
    let head = dir.path("multi");
    let out = mstag(&["learn", s(&labels), "--out", s(&head), "--quiet"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let h = common::json(&head.join("head.json"));
    assert_eq!(h["kind"], "multi");
    let out = mstag(&[
        "tag",
        "--quiet",
        "--format",
        "json",
        "--head",
        s(&head),
        s(&dir.path("b0.wav")),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let scores = v[0]["heads"]["multi"].as_object().unwrap();
    assert_eq!(scores.len(), 3);
    assert!(scores
        .values()
        .all(|x| (0.0..=1.0).contains(&x.as_f64().unwrap())));
}

#[test]
fn bad_labels_are_refused_naming_the_row_and_nothing_is_written() {
    let dir = common::TempDir::new("learn-bad");
    let files = [
        ("a.wav", "tone", 0),
        ("b.wav", "tone", 1),
        ("c.wav", "noise", 0),
        ("d.wav", "noise", 1),
    ];
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[
                ("a.wav", "x"),
                ("b.wav", "x"),
                ("gone.wav", "y"),
                ("d.wav", "y"),
            ],
            "row 4: ",
        ),
        (
            &[("a.wav", "x"), ("b.wav", "x")],
            "1 label found; a head needs at least two",
        ),
        (
            &[("a.wav", "x"), ("b.wav", "x"), ("c.wav", "y")],
            "label \"y\" has 1 example; every label needs at least 2 files",
        ),
        (
            &[
                ("a.wav", "x"),
                ("b.wav", "x"),
                ("c.wav", "y"),
                ("d.wav", "y"),
                ("b.wav", "x"),
            ],
            "row 6 repeats row 3 (b.wav, x)",
        ),
    ];
    for (rows, want) in cases {
        let labels = labelled(&dir, &files, rows);
        let head = dir.path("h");
        let out = mstag(&["learn", s(&labels), "--out", s(&head), "--quiet"]);
        assert_eq!(out.status.code(), Some(1), "{want}");
        let err = text(&out.stderr);
        assert!(err.contains(want), "{want}\nnot in\n{err}");
        assert!(
            !head.join("head.json").exists(),
            "nothing written for {want}"
        );
    }
    let gone = dir.path("gone.wav");
    let labels = labelled(
        &dir,
        &files,
        &[
            ("a.wav", "x"),
            ("b.wav", "x"),
            ("gone.wav", "y"),
            ("d.wav", "y"),
        ],
    );
    let out = mstag(&["learn", s(&labels), "--out", s(&dir.path("h")), "--quiet"]);
    assert!(
        text(&out.stderr).contains(&gone.display().to_string()),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn foreign_and_corrupt_heads_are_refused_before_any_tagging() {
    let dir = common::TempDir::new("head-bad");
    let labels = three_kinds(&dir);
    let head = dir.path("kinds");
    assert!(mstag(&["learn", s(&labels), "--out", s(&head), "--quiet"])
        .status
        .success());
    let path = head.join("head.json");
    let good = std::fs::read_to_string(&path).unwrap();
    let demo = common::demo_clip();
    // Trained on other feature models: a checksum that differs.
    let mut h: serde_json::Value = serde_json::from_str(&good).unwrap();
    h["feature_models"]["sha256"]["s27.onnx"] = "00".repeat(32).into();
    std::fs::write(&path, serde_json::to_string(&h).unwrap()).unwrap();
    let out = mstag(&["tag", "--quiet", "--head", s(&head), s(&demo)]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("trained on other feature models") && err.contains("differ in s27.onnx"),
        "{err}"
    );
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(out.stdout.is_empty());
    // Cut short.
    std::fs::write(&path, &good[..good.len() / 2]).unwrap();
    let out = mstag(&["tag", "--quiet", "--head", s(&head), s(&demo)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not a head file"),
        "{}",
        text(&out.stderr)
    );
    // Two heads of one name.
    std::fs::write(&path, &good).unwrap();
    let out = mstag(&[
        "tag",
        "--quiet",
        "--head",
        s(&head),
        "--head",
        s(&head),
        s(&demo),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("two heads are named \"kinds\""),
        "{}",
        text(&out.stderr)
    );
}

/// `mstag-live --head` on a file: the head's scores are in every `--json` line's views, the
/// last (song-level) line's equal `mstag tag --head` on the same file, and a real OSC
/// receiver (liblo's `oscdump`) gets `/mstag/<head>/<label>` and `/mstag/<head>/top`.
#[test]
fn a_head_runs_live_in_json_lines_and_over_osc() {
    let dir = common::TempDir::new("learn-live");
    let labels = three_kinds(&dir);
    let head = dir.path("kinds");
    let out = mstag(&["learn", s(&labels), "--out", s(&head), "--quiet"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // 12 s of noise, never seen.
    let noise: Vec<f32> = (0..3).flat_map(|k| sound("noise", 11 + k)).collect();
    let file = dir.path("live-noise.wav");
    common::write_wav(&file, &noise, RATE, 1);

    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dump = oscdump::OscDump::start(port);
    let out = Command::new(env!("CARGO_BIN_EXE_mstag-live"))
        .args(["--input", s(&file), "--json", "--head", s(&head)])
        .args([
            "--osc",
            &format!("127.0.0.1:{port}"),
            "--osc-view",
            "session",
        ])
        .output()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let msgs = dump.stop();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() > 5, "{} updates", lines.len());
    let labels = ["clicks", "noise", "tone"];
    let mut published = Vec::new();
    for l in &lines {
        for view in ["session", "window", "ema"] {
            let h = l["heads"][view]["kinds"].as_object().expect("head scores");
            assert_eq!(h.keys().collect::<Vec<_>>(), labels, "{l}");
            let sum: f64 = h.values().map(|x| x.as_f64().unwrap()).sum();
            assert!((sum - 1.0).abs() < 1e-5, "softmax: {sum} in {l}");
        }
        published.push(labels.map(|k| l["heads"]["session"]["kinds"][k].as_f64().unwrap()));
    }
    let last = lines.last().unwrap();
    assert_eq!(last["final"], true);
    // The song-level head scores are the offline ones.
    let out = mstag(&[
        "tag",
        "--quiet",
        "--format",
        "json",
        "--head",
        s(&head),
        s(&file),
    ]);
    let offline: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for k in labels {
        let (a, b) = (
            last["heads"]["session"]["kinds"][k].as_f64().unwrap(),
            offline[0]["heads"]["kinds"][k].as_f64().unwrap(),
        );
        assert!((a - b).abs() < 1e-5, "{k}: live {a}, offline {b}");
    }
    assert!(
        last["heads"]["session"]["kinds"]["noise"].as_f64().unwrap() > 0.5,
        "{last}"
    );

    // The receiver: every label's address, the top message, values that were published.
    for k in labels {
        let addr = format!("/mstag/kinds/{k}");
        let got: Vec<f64> = msgs
            .iter()
            .filter(|m| m.addr == addr)
            .map(|m| m.args[0].f())
            .collect();
        assert!(got.len() > 10, "{addr}: {} messages", got.len());
        let i = labels.iter().position(|l| *l == k).unwrap();
        for v in &got {
            let near = published
                .iter()
                .map(|p| (p[i] - v).abs())
                .fold(f64::INFINITY, f64::min);
            assert!(
                near < 2e-6,
                "{addr} {v}: not a published score (off by {near})"
            );
        }
    }
    let tops: Vec<&oscdump::Msg> = msgs
        .iter()
        .filter(|m| m.addr == "/mstag/kinds/top")
        .collect();
    assert!(!tops.is_empty());
    let last_top = tops.last().unwrap();
    assert_eq!(
        last_top.args[0],
        oscdump::Arg::S("noise".into()),
        "{last_top:?}"
    );
    // The tags are still sent beside the head.
    assert!(msgs.iter().any(|m| m.addr == "/mstag/tag/guitar"));
}

/// scikit-learn, fitted on the same rows (`mstag embed --window 5`: each file's song vector
/// and its 5 s windows) with the regularisation `mstag learn` chose (its L2 `alpha` is
/// scikit-learn's `1 / C`), labels new files as `mstag tag --head` does, with nearly the same
/// probabilities (both solve the same convex problem; they stop at different tolerances).
const SKLEARN_REFERENCE: &str = r#"
import csv, json, sys
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
train_csv, labels_csv, new_csv, alpha = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
label_of = {r["file"]: r["label"] for r in csv.DictReader(open(labels_csv))}
def rows(path):
    out = []
    for r in csv.reader(open(path)):
        if r[0] == "file":
            continue
        out.append((r[0].split("/")[-1], r[1], np.array(r[4:], dtype=np.float64)))
    return out
train = rows(train_csv)
x = np.stack([f for _, _, f in train])
y = [label_of[name] for name, _, _ in train]
scaler = StandardScaler().fit(x)
model = LogisticRegression(C=1.0 / alpha, max_iter=20000, tol=1e-10).fit(scaler.transform(x), y)
new = [(n, f) for n, kind, f in rows(new_csv) if kind == "song"]
p = model.predict_proba(scaler.transform(np.stack([f for _, f in new])))
print(json.dumps({n: dict(zip(model.classes_.tolist(), map(float, q))) for (n, _), q in zip(new, p)}))
"#;

#[test]
fn learned_heads_agree_with_scikit_learn_on_the_same_rows() {
    let dir = common::TempDir::new("learn-sklearn");
    let labels = three_kinds(&dir);
    let head = dir.path("kinds");
    let out = mstag(&["learn", s(&labels), "--out", s(&head), "--quiet"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let alpha = common::json(&head.join("head.json"))["training"]["alpha"]
        .as_f64()
        .expect("alpha recorded");

    let train: Vec<PathBuf> = ["tone", "noise", "clicks"]
        .iter()
        .flat_map(|k| (0..4).map(move |i| format!("{k}{i}.wav")))
        .map(|n| dir.path(&n))
        .collect();
    let train_csv = dir.path("train.csv");
    let mut args = vec!["embed", "--window", "5", "--out", s(&train_csv)];
    args.extend(train.iter().map(|p| s(p)));
    assert!(mstag(&args).status.success());
    // New files, between the kinds' variants seen in training.
    let new: Vec<PathBuf> = [("tone", 5), ("noise", 7), ("clicks", 5), ("tone", 8)]
        .iter()
        .map(|(kind, k)| {
            let p = dir.path(&format!("ref-{kind}-{k}.wav"));
            common::write_wav(&p, &sound(kind, *k), RATE, 1);
            p
        })
        .collect();
    let new_csv = dir.path("new.csv");
    let mut args = vec!["embed", "--out", s(&new_csv)];
    args.extend(new.iter().map(|p| s(p)));
    assert!(mstag(&args).status.success());

    let script = dir.path("reference.py");
    std::fs::write(&script, SKLEARN_REFERENCE).unwrap();
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .args([s(&script), s(&train_csv), s(&labels), s(&new_csv)])
        .arg(alpha.to_string())
        .output()
        .expect("python3 with scikit-learn (cargo xtask test installs it)");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let reference: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    let mut args = vec!["tag", "--quiet", "--format", "json", "--head", s(&head)];
    args.extend(new.iter().map(|p| s(p)));
    let out = mstag(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ours: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let best = |m: &serde_json::Map<String, serde_json::Value>| {
        m.iter()
            .max_by(|a, b| a.1.as_f64().unwrap().total_cmp(&b.1.as_f64().unwrap()))
            .map(|(k, _)| k.clone())
            .unwrap()
    };
    let mut worst = 0.0f64;
    for (i, p) in new.iter().enumerate() {
        let name = p.file_name().unwrap().to_str().unwrap();
        let theirs = reference[name].as_object().expect("reference scores");
        let mine = ours[i]["heads"]["kinds"].as_object().expect("head scores");
        assert_eq!(
            best(mine),
            best(theirs),
            "{name}: ours {mine:?}, sklearn {theirs:?}"
        );
        for (label, v) in theirs {
            worst = worst.max((v.as_f64().unwrap() - mine[label].as_f64().unwrap()).abs());
        }
    }
    eprintln!("largest probability difference to scikit-learn: {worst:.2e}");
    assert!(worst < 1e-3, "probabilities differ by up to {worst}");
}
