//! `mstag-live --trigger` end to end: the demo clip played in real time, a real OSC receiver
//! (liblo's `oscdump`) gets `/mstag/cue/<tag> i 1|0` exactly at the crossings of the values
//! it is sent (checked against the `--json` trace of the same run with the same hysteresis
//! rule, written here independently), and `/mstag/top/changed` once the top tag has held.

mod common;
#[path = "common/oscdump.rs"]
mod oscdump;

use std::process::Command;

use oscdump::{Arg, OscDump};
use serde_json::Value;

/// Crossings of `trace` by the rule: on above `on`, off below `off`.
fn crossings(trace: &[f64], on: f64, off: f64) -> Vec<i64> {
    let mut state = false;
    let mut out = Vec::new();
    for &v in trace {
        if !state && v > on {
            state = true;
            out.push(1);
        } else if state && v < off {
            state = false;
            out.push(0);
        }
    }
    out
}

#[test]
fn cues_follow_the_crossings_and_the_top_tag_is_announced() {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dump = OscDump::start(port);
    let out = Command::new(env!("CARGO_BIN_EXE_mstag-live"))
        .arg("--input")
        .arg(common::demo_clip())
        .args([
            "--json",
            "--duration",
            "13",
            "--osc",
            &format!("127.0.0.1:{port}"),
        ])
        .args([
            "--trigger",
            "guitar>0.275:0.27",
            "--trigger",
            "rock>0.24:0.235",
        ])
        .args(["--hold", "1"])
        .output()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let msgs = dump.stop();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &Value| v["final"] == false)
        .collect();
    let trace = |tag: &str| -> Vec<f64> {
        lines
            .iter()
            .map(|l| l["window"][tag].as_f64().unwrap())
            .collect()
    };
    for (tag, on, off) in [("guitar", 0.275, 0.27), ("rock", 0.24, 0.235)] {
        let want = crossings(&trace(tag), on, off);
        let got: Vec<i64> = msgs
            .iter()
            .filter(|m| m.addr == format!("/mstag/cue/{tag}"))
            .map(|m| m.args[0].f() as i64)
            .collect();
        eprintln!("{tag}: cues {got:?}");
        assert!(!want.is_empty(), "{tag}: the demo should cross {on}");
        assert_eq!(got, want, "{tag}");
    }
    let changed: Vec<&Arg> = msgs
        .iter()
        .filter(|m| m.addr == "/mstag/top/changed")
        .map(|m| &m.args[0])
        .collect();
    // The demo's window top: synth in the first seconds (racing guitar from 2.5 s), guitar
    // for good from about 4.6 s, rock only in the last half second (under the 1 s hold).
    assert_eq!(
        changed,
        [&Arg::S("synth".into()), &Arg::S("guitar".into())],
        "synth is on top from the start, then guitar"
    );
}
