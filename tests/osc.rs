//! OSC output against real, independent receivers on loopback: a python-osc server
//! (`pip install python-osc`) and liblo's `oscdump` (Debian `liblo-tools`), plus a raw UDP
//! socket that looks at the datagrams themselves. Both are installed by `.ci/run`.
//!
//! * the sender in-process against scores we publish ourselves: exact values, rate, packet
//!   sizes, bundles with "immediately" time tags, plain mode, smoothing;
//! * a receiver killed and restarted mid-run: no crash, errors counted and reported once,
//!   sending resumes;
//! * `mstag-live --osc … --osc …` end to end on the demo clip: the values received are the
//!   `window` scores it prints with `--json`, at the configured rate;
//! * bad `--osc` arguments: clear errors, never a panic.
//!
//! Every test binds loopback ports only and is bounded in time. The tests that measure rates
//! run one at a time.

mod common;
/// Not in `common`: it needs rosc, which the core's tests (`--no-default-features`) lack.
#[path = "common/oscdump.rs"]
mod oscdump;

use oscdump::{Arg, Msg, OscDump};

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use mstag::engine::{Scores, View};
use mstag::output::osc::{
    tag_address_parts, Framing, OscConfig, OscEvent, OscSender, OscTarget, MAX_PACKET_BYTES,
};

/// The 50 MagnaTagATune tags, as the manifest lists them.
const MTAT: [&str; 50] = [
    "guitar",
    "classical",
    "slow",
    "techno",
    "strings",
    "drums",
    "electronic",
    "rock",
    "fast",
    "piano",
    "ambient",
    "beat",
    "violin",
    "vocal",
    "synth",
    "female",
    "indian",
    "opera",
    "male",
    "singing",
    "vocals",
    "no vocals",
    "harpsichord",
    "loud",
    "quiet",
    "flute",
    "woman",
    "male vocal",
    "no vocal",
    "pop",
    "soft",
    "sitar",
    "solo",
    "man",
    "classic",
    "choir",
    "voice",
    "new age",
    "dance",
    "male voice",
    "female vocal",
    "beats",
    "harp",
    "cello",
    "no voice",
    "weird",
    "country",
    "metal",
    "female voice",
    "choral",
];

/// The rate tests measure arrival times: run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn free_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    s.local_addr().expect("local addr").port()
}

fn target(port: u16) -> OscTarget {
    OscTarget::parse(&format!("127.0.0.1:{port}")).expect("loopback target")
}

fn tag_names() -> Vec<String> {
    MTAT.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// python-osc

const PY_RECEIVER: &str = r##"
import json, sys, time
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import BlockingOSCUDPServer

port, duration = int(sys.argv[1]), float(sys.argv[2])
out = sys.stdout

def record(address, *args):
    out.write(json.dumps({"t": time.monotonic(), "addr": address, "args": list(args)}) + "\n")

class Server(BlockingOSCUDPServer):
    def verify_request(self, request, client_address):
        data = request[0]
        out.write(json.dumps({
            "t": time.monotonic(),
            "datagram": len(data),
            "bundle": data[:8] == b"#bundle\x00",
            "immediate": data[8:16] == b"\x00\x00\x00\x00\x00\x00\x00\x01",
        }) + "\n")
        return True

dispatcher = Dispatcher()
dispatcher.set_default_handler(record)
server = Server(("127.0.0.1", port), dispatcher)
server.timeout = 0.05
out.write(json.dumps({"ready": port}) + "\n")
out.flush()
end = time.monotonic() + duration
while time.monotonic() < end:
    server.handle_request()
out.flush()
"##;

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// A python-osc `BlockingOSCUDPServer` printing every message (address, arguments, arrival
/// time) and every datagram (size, bundle, time tag) as JSON lines.
struct PyReceiver {
    child: Child,
    lines: Arc<Mutex<Vec<Value>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl PyReceiver {
    fn start(dir: &common::TempDir, port: u16, seconds: f64) -> PyReceiver {
        let script = dir.path("receiver.py");
        std::fs::write(&script, PY_RECEIVER).expect("write receiver.py");
        let mut child = Command::new(python())
            .arg(&script)
            .arg(port.to_string())
            .arg(seconds.to_string())
            .env("PYTHONUNBUFFERED", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e} (python 3 is needed)", python()));
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if v.get("ready").is_some() {
                    let _ = ready_tx.send(());
                } else {
                    sink.lock().unwrap().push(v);
                }
            }
        });
        if ready_rx.recv_timeout(Duration::from_secs(20)).is_err() {
            let _ = child.kill();
            let out = child.wait_with_output().expect("python output");
            panic!(
                "the python-osc receiver did not start (pip install python-osc==1.10.2, see \
                 .ci/run): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        PyReceiver {
            child,
            lines,
            reader: Some(reader),
        }
    }

    /// Kills the receiver (SIGKILL) and returns what it printed.
    fn kill(mut self) -> (Vec<Msg>, Vec<Value>) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let lines = std::mem::take(&mut *self.lines.lock().unwrap());
        let mut msgs = Vec::new();
        let mut datagrams = Vec::new();
        for v in lines {
            if v.get("datagram").is_some() {
                datagrams.push(v);
                continue;
            }
            let args = v["args"]
                .as_array()
                .expect("args")
                .iter()
                .map(|a| match a {
                    Value::String(s) => Arg::S(s.clone()),
                    // OSC floats are f32: round away the JSON round trip's last-bit noise.
                    other => Arg::F(other.as_f64().expect("a number") as f32 as f64),
                })
                .collect();
            msgs.push(Msg {
                t: v["t"].as_f64().expect("t"),
                addr: v["addr"].as_str().expect("addr").to_string(),
                args,
            });
        }
        (msgs, datagrams)
    }
}

impl Drop for PyReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// A raw UDP receiver: the datagrams themselves

struct RawReceiver {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<Vec<u8>>>>,
}

impl RawReceiver {
    fn start() -> RawReceiver {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let port = socket.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut buf = vec![0u8; 65536];
            while !flag.load(Ordering::Relaxed) {
                if let Ok(n) = socket.recv(&mut buf) {
                    got.push(buf[..n].to_vec());
                }
            }
            while let Ok(n) = socket.recv(&mut buf) {
                got.push(buf[..n].to_vec());
            }
            got
        });
        RawReceiver {
            port,
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> Vec<Vec<u8>> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .expect("running")
            .join()
            .expect("raw receiver")
    }
}

/// Decodes a datagram into its messages; checks bundles carry the "immediately" time tag.
fn decode(datagram: &[u8]) -> (bool, Vec<rosc::OscMessage>) {
    fn flatten(p: rosc::OscPacket, out: &mut Vec<rosc::OscMessage>) {
        match p {
            rosc::OscPacket::Message(m) => out.push(m),
            rosc::OscPacket::Bundle(b) => {
                assert_eq!(
                    (b.timetag.seconds, b.timetag.fractional),
                    (0, 1),
                    "time tag is not 'immediately'"
                );
                for c in b.content {
                    flatten(c, out);
                }
            }
        }
    }
    let (rest, packet) = rosc::decoder::decode_udp(datagram).expect("a valid OSC packet");
    assert!(rest.is_empty(), "trailing bytes in a datagram");
    let bundle = matches!(packet, rosc::OscPacket::Bundle(_));
    let mut out = Vec::new();
    flatten(packet, &mut out);
    (bundle, out)
}

// ---------------------------------------------------------------------------------------------
// Checks shared by the tests

/// Every `/mstag/tag/<part>` address arrives `rate × 5 s` times (±10%) in the 5 s after its
/// first arrival, with values in [0, 1].
fn check_rate_and_range(who: &str, msgs: &[Msg], parts: &[String], rate: f64) {
    let mut by_addr: BTreeMap<&str, Vec<&Msg>> = BTreeMap::new();
    for m in msgs {
        by_addr.entry(m.addr.as_str()).or_default().push(m);
    }
    let want = rate * 5.0;
    for part in parts {
        let addr = format!("/mstag/tag/{part}");
        let got = by_addr.get(addr.as_str()).unwrap_or_else(|| {
            panic!(
                "{who}: no {addr}; got {:?}",
                by_addr.keys().collect::<Vec<_>>()
            )
        });
        for m in got {
            assert_eq!(m.args.len(), 1, "{who}: {addr} has one argument");
            let v = m.args[0].f();
            assert!((0.0..=1.0).contains(&v), "{who}: {addr} = {v}");
        }
        let t0 = got[0].t;
        let n = got.iter().filter(|m| m.t - t0 < 5.0).count() as f64;
        assert!(
            (n - want).abs() <= 0.1 * want,
            "{who}: {addr} arrived {n} times in 5 s, expected {want} ± 10%"
        );
    }
}

/// `/window` names the view; `/top` is the best tag of the `/tags` it came with (same value).
fn check_summary_messages(who: &str, msgs: &[Msg], names: &[String], view: &str) {
    let windows: Vec<&Msg> = msgs.iter().filter(|m| m.addr == "/mstag/window").collect();
    assert!(!windows.is_empty(), "{who}: no /mstag/window");
    for m in &windows {
        assert_eq!(m.args, [Arg::S(view.into())], "{who}: /mstag/window");
    }
    let tops: Vec<&Msg> = msgs.iter().filter(|m| m.addr == "/mstag/top").collect();
    assert!(!tops.is_empty(), "{who}: no /mstag/top");
    for m in &tops {
        match m.args.as_slice() {
            [Arg::S(name), Arg::F(v)] => {
                assert!(names.contains(name), "{who}: /mstag/top names {name:?}");
                assert!((0.0..=1.0).contains(v));
            }
            other => panic!("{who}: /mstag/top args {other:?}"),
        }
    }
    for m in msgs.iter().filter(|m| m.addr == "/mstag/tags") {
        assert_eq!(
            m.args.len(),
            names.len(),
            "{who}: /mstag/tags has one float per tag"
        );
    }
}

/// Index of the closest vector in `published` to `got`, and the largest difference.
fn closest(got: &[f64], published: &[Vec<f64>]) -> (usize, f64) {
    published
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let d = got
                .iter()
                .zip(p)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            (i, d)
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("something published")
}

/// Every `/tags` vector received is one of the published vectors, every `/tag/<part>` value is
/// that tag's value in one of them, and `/top` is consistent with one of them; within `tol`.
fn check_values(
    who: &str,
    msgs: &[Msg],
    parts: &[String],
    names: &[String],
    published: &[Vec<f64>],
    tol: f64,
) {
    let mut n_tags = 0;
    for m in msgs.iter().filter(|m| m.addr == "/mstag/tags") {
        let got: Vec<f64> = m.args.iter().map(Arg::f).collect();
        let (i, d) = closest(&got, published);
        assert!(
            d <= tol,
            "{who}: /mstag/tags {got:?} is {d} from the nearest published scores {:?}",
            published[i]
        );
        n_tags += 1;
    }
    assert!(n_tags > 0, "{who}: no /mstag/tags");
    for (k, part) in parts.iter().enumerate() {
        let addr = format!("/mstag/tag/{part}");
        for m in msgs.iter().filter(|m| m.addr == addr) {
            let v = m.args[0].f();
            let d = published
                .iter()
                .map(|p| (p[k] - v).abs())
                .fold(f64::INFINITY, f64::min);
            assert!(
                d <= tol,
                "{who}: {addr} = {v} was never published (nearest {d} away)"
            );
        }
    }
    for m in msgs.iter().filter(|m| m.addr == "/mstag/top") {
        let (name, v) = match m.args.as_slice() {
            [Arg::S(n), Arg::F(v)] => (n, *v),
            other => panic!("{who}: /mstag/top {other:?}"),
        };
        let k = names.iter().position(|n| n == name).expect("a tag name");
        let ok = published.iter().any(|p| {
            let best = p.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            (p[k] - v).abs() <= tol && (best - v).abs() <= tol
        });
        assert!(
            ok,
            "{who}: /mstag/top {name} {v} is not the top of any published scores"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// A score source we control

/// Publishes pseudo-random scores (exact f32 values, 0 and 1 included) every `every`, and keeps
/// every vector it published.
struct Publisher {
    scores: Arc<Mutex<Scores>>,
    history: Arc<Mutex<Vec<Vec<f32>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Publisher {
    fn start(n: usize, every: Duration) -> Publisher {
        let scores = Arc::new(Mutex::new(Scores::default()));
        let history = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, h, f) = (scores.clone(), history.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
            let mut seq = 0;
            while !f.load(Ordering::Relaxed) {
                let mut next = Scores {
                    n_tags: n,
                    ..Scores::default()
                };
                for i in 0..n {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    next.window[i] = ((state >> 40) % 1_000_001) as f32 / 1_000_000.0;
                    next.session[i] = 0.5;
                    next.ema[i] = 1.0 - next.window[i];
                }
                next.window[0] = if seq % 2 == 0 { 0.0 } else { 1.0 };
                seq += 1;
                next.seq = seq;
                h.lock().unwrap().push(next.window[..n].to_vec());
                *s.lock().unwrap() = next;
                std::thread::sleep(every);
            }
        });
        Publisher {
            scores,
            history,
            stop,
            thread: Some(thread),
        }
    }

    fn source(&self) -> mstag::output::osc::ScoreSource {
        let s = self.scores.clone();
        Box::new(move || *s.lock().unwrap())
    }

    fn stop(mut self) -> Vec<Vec<f64>> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("publisher");
        }
        self.history
            .lock()
            .unwrap()
            .iter()
            .map(|v| v.iter().map(|&x| x as f64).collect())
            .collect()
    }
}

fn events_hook() -> (Arc<Mutex<Vec<OscEvent>>>, mstag::output::osc::OscLog) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    (
        events,
        Box::new(move |e: &OscEvent| sink.lock().unwrap().push(e.clone())),
    )
}

// ---------------------------------------------------------------------------------------------
// Tests

/// python-osc, oscdump and a raw socket receive the scores we publish, exactly, at 30 Hz, in
/// bundles with "immediately" time tags, no datagram over 1,400 bytes.
#[test]
fn receivers_get_exact_scores_at_the_configured_rate() {
    let _serial = serial();
    let dir = common::TempDir::new("osc-inproc");
    let names = tag_names();
    let parts = tag_address_parts(&names);
    assert_eq!(parts[21], "no_vocals");
    assert_eq!(parts[37], "new_age");
    let (p_py, p_dump) = (free_udp_port(), free_udp_port());
    let py = PyReceiver::start(&dir, p_py, 20.0);
    let dump = OscDump::start(p_dump);
    let raw = RawReceiver::start();
    let publisher = Publisher::start(names.len(), Duration::from_millis(200));

    let mut cfg = OscConfig::new(vec![target(p_py), target(p_dump), target(raw.port)]);
    cfg.rate_hz = 30;
    let (events, log) = events_hook();
    let sender = OscSender::start_with_source(cfg, &names, publisher.source(), log).expect("start");
    std::thread::sleep(Duration::from_millis(6000));
    let stats = sender.stop();
    std::thread::sleep(Duration::from_millis(300));
    let published = publisher.stop();
    let (py_msgs, py_datagrams) = py.kill();
    let dump_msgs = dump.stop();
    let raw_datagrams = raw.stop();

    assert!(
        events.lock().unwrap().is_empty(),
        "events: {:?}",
        events.lock().unwrap()
    );
    assert_eq!(stats.send_errors, 0, "{stats:?}");
    assert!(
        (175..=185).contains(&stats.rounds),
        "rounds in 6 s at 30 Hz: {}",
        stats.rounds
    );

    // python-osc: exact values (f32 → Python float is exact).
    check_rate_and_range("python-osc", &py_msgs, &parts, 30.0);
    check_summary_messages("python-osc", &py_msgs, &names, "window");
    check_values("python-osc", &py_msgs, &parts, &names, &published, 0.0);
    assert!(!py_datagrams.is_empty());
    for d in &py_datagrams {
        let size = d["datagram"].as_u64().unwrap() as usize;
        assert!(
            size < MAX_PACKET_BYTES,
            "python-osc got a datagram of {size} bytes"
        );
        assert_eq!(d["bundle"], true, "a bundle");
        assert_eq!(d["immediate"], true, "time tag 'immediately'");
    }
    // 53 messages of the 50 MTAT tags do not fit in one packet: several bundles per round.
    let per_round = py_datagrams.len() as f64
        / py_msgs.iter().filter(|m| m.addr == "/mstag/tags").count() as f64;
    assert!(per_round >= 2.0, "{per_round} datagrams per round");

    // oscdump prints floats with 6 decimals.
    check_rate_and_range("oscdump", &dump_msgs, &parts, 30.0);
    check_summary_messages("oscdump", &dump_msgs, &names, "window");
    check_values("oscdump", &dump_msgs, &parts, &names, &published, 5.1e-7);

    // Raw datagrams: sizes, framing, and what the sender counted.
    let r = &stats.receivers[2];
    assert_eq!(r.packets_sent, raw_datagrams.len() as u64);
    assert_eq!(
        r.bytes_sent,
        raw_datagrams.iter().map(|d| d.len() as u64).sum::<u64>()
    );
    let mut addrs = BTreeSet::new();
    for d in &raw_datagrams {
        assert!(d.len() < MAX_PACKET_BYTES, "datagram of {} bytes", d.len());
        let (bundle, msgs) = decode(d);
        assert!(bundle);
        addrs.extend(msgs.into_iter().map(|m| m.addr));
    }
    assert_eq!(addrs.len(), 53, "{addrs:?}");
    assert_eq!(stats.receivers[0].packets_sent, r.packets_sent);
}

/// OSC riding on the WebSocket server's thread (`mstag-live` with both on): the same exact
/// values at the same rate as a sender of its own, and no OSC thread.
#[test]
fn a_sender_riding_on_the_websocket_thread_sends_the_same_rounds() {
    use mstag::output::ws::{Greeting, WsConfig, WsServer};
    use mstag::output::Rider;
    let _serial = serial();
    let dir = common::TempDir::new("osc-riding");
    let names = tag_names();
    let parts = tag_address_parts(&names);
    let p_py = free_udp_port();
    let py = PyReceiver::start(&dir, p_py, 20.0);
    let raw = RawReceiver::start();
    let publisher = Publisher::start(names.len(), Duration::from_millis(200));

    let mut cfg = OscConfig::new(vec![target(p_py), target(raw.port)]);
    cfg.rate_hz = 30;
    let (events, log) = events_hook();
    let (sender, rider) =
        OscSender::start_riding(cfg, &names, &[], publisher.source(), log).expect("riding");
    let mut ws = WsConfig::new(WsConfig::parse_addr("127.0.0.1:0", "ws").unwrap());
    ws.rate_hz = 30;
    let riders: Vec<Box<dyn Rider>> = vec![Box::new(rider)];
    let server = WsServer::start_with_riders(
        ws,
        &names,
        &[],
        Greeting::default(),
        publisher.source(),
        riders,
    )
    .expect("WebSocket server");
    std::thread::sleep(Duration::from_millis(6000));
    let threads: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|c| c.trim().to_string())
        .collect();
    let ws_stats = server.stop(None);
    let stats = sender.stop();
    std::thread::sleep(Duration::from_millis(300));
    let published = publisher.stop();
    let (py_msgs, _) = py.kill();
    let raw_datagrams = raw.stop();

    assert!(threads.iter().any(|t| t == "mstag-ws"), "{threads:?}");
    assert!(!threads.iter().any(|t| t == "mstag-osc"), "{threads:?}");
    assert!(events.lock().unwrap().is_empty());
    assert_eq!(stats.send_errors, 0, "{stats:?}");
    // One OSC round per broadcaster round.
    assert!(
        (175..=185).contains(&stats.rounds) && stats.rounds.abs_diff(ws_stats.rounds) <= 1,
        "rounds in 6 s at 30 Hz: OSC {}, WebSocket {}",
        stats.rounds,
        ws_stats.rounds
    );
    check_rate_and_range("python-osc", &py_msgs, &parts, 30.0);
    check_summary_messages("python-osc", &py_msgs, &names, "window");
    check_values("python-osc", &py_msgs, &parts, &names, &published, 0.0);
    assert_eq!(stats.receivers[1].packets_sent, raw_datagrams.len() as u64);
}

/// `--osc-plain`: one message per packet; the ema view; smoothing moves values gradually.
#[test]
fn plain_messages_ema_view_and_smoothing() {
    let _serial = serial();
    let names = tag_names();
    let raw = RawReceiver::start();
    let dump_port = free_udp_port();
    let dump = OscDump::start(dump_port);
    // Scores that step from 0 to 1 on every tag after 0.5 s.
    let t0 = Instant::now();
    let source: mstag::output::osc::ScoreSource = Box::new(move || {
        let mut s = Scores {
            n_tags: 50,
            seq: 1,
            ..Scores::default()
        };
        let v = if t0.elapsed() < Duration::from_millis(500) {
            0.0
        } else {
            1.0
        };
        s.ema[..50].fill(v);
        s
    });
    let mut cfg = OscConfig::new(vec![target(raw.port), target(dump_port)]);
    cfg.rate_hz = 60;
    cfg.view = View::Ema;
    cfg.smooth_s = 0.5;
    cfg.framing = Framing::Plain;
    cfg.prefix = "/mstag/".into();
    let (_events, log) = events_hook();
    let sender = OscSender::start_with_source(cfg, &names, source, log).expect("start");
    std::thread::sleep(Duration::from_millis(2500));
    let stats = sender.stop();
    let datagrams = raw.stop();
    let dump_msgs = dump.stop();
    assert_eq!(stats.send_errors, 0);

    let mut guitar = Vec::new();
    for d in &datagrams {
        assert!(d.len() < MAX_PACKET_BYTES);
        let (bundle, msgs) = decode(d);
        assert!(!bundle, "--osc-plain sent a bundle");
        assert_eq!(msgs.len(), 1);
        let m = &msgs[0];
        if m.addr == "/mstag/window" {
            assert_eq!(m.args, [rosc::OscType::String("ema".into())]);
        }
        if m.addr == "/mstag/tag/guitar" {
            guitar.push(m.args[0].clone().float().expect("a float"));
        }
    }
    assert_eq!(datagrams.len() as u64, stats.receivers[0].packets_sent);
    assert_eq!(datagrams.len() % 53, 0, "whole rounds of 53 messages");
    // 0 for 0.5 s, then a one-pole rise with tau = 0.5 s: after 1 s about 1 - e^-2.
    let rounds = guitar.len();
    assert!(
        (140..=160).contains(&rounds),
        "{rounds} rounds in 2.5 s at 60 Hz"
    );
    assert_eq!(guitar[0], 0.0);
    assert!(guitar.windows(2).all(|w| w[1] >= w[0]), "monotonic rise");
    let after_1s = guitar[90];
    assert!(
        (0.75..0.97).contains(&after_1s),
        "value 1 s after the step: {after_1s}"
    );
    assert!(*guitar.last().unwrap() < 1.0 && *guitar.last().unwrap() > 0.9);

    // liblo takes plain messages too.
    assert!(dump_msgs.iter().any(|m| m.addr == "/mstag/tag/no_vocals"));
    assert!(dump_msgs
        .iter()
        .any(|m| m.addr == "/mstag/window" && m.args == [Arg::S("ema".into())]));
}

/// A receiver killed and restarted mid-run: the sender goes on, counts the errors, reports
/// the outage once and the return once; the restarted receiver gets messages again; the
/// other receiver never notices.
#[test]
fn a_receiver_killed_and_restarted_mid_run() {
    let _serial = serial();
    let dir = common::TempDir::new("osc-restart");
    let names = tag_names();
    let port = free_udp_port();
    let first = PyReceiver::start(&dir, port, 30.0);
    let raw = RawReceiver::start();
    let publisher = Publisher::start(names.len(), Duration::from_millis(100));
    let mut cfg = OscConfig::new(vec![target(port), target(raw.port)]);
    cfg.rate_hz = 30;
    let (events, log) = events_hook();
    let sender = OscSender::start_with_source(cfg, &names, publisher.source(), log).expect("start");

    std::thread::sleep(Duration::from_millis(1500));
    let (before, _) = first.kill();
    assert!(
        before
            .iter()
            .filter(|m| m.addr == "/mstag/tag/guitar")
            .count()
            > 30
    );
    std::thread::sleep(Duration::from_millis(2000));
    let during = sender.stats();
    assert!(
        during.receivers[0].send_errors > 0,
        "errors counted: {during:?}"
    );
    assert!(!during.receivers[0].reachable);
    assert_eq!(during.receivers[1].send_errors, 0);
    assert!(during.receivers[1].reachable);
    {
        let ev = events.lock().unwrap();
        assert_eq!(ev.len(), 1, "reported once, not per packet: {ev:?}");
        match &ev[0] {
            OscEvent::Unreachable { receiver, error } => {
                assert_eq!(receiver, &format!("127.0.0.1:{port}"));
                assert!(!error.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }

    let restarted = PyReceiver::start(&dir, port, 30.0);
    std::thread::sleep(Duration::from_millis(3500));
    let stats = sender.stop();
    let (after, _) = restarted.kill();
    publisher.stop();
    let raw_datagrams = raw.stop();

    let resumed = after
        .iter()
        .filter(|m| m.addr == "/mstag/tag/guitar")
        .count();
    assert!(resumed > 60, "messages after the restart: {resumed}");
    let ev = events.lock().unwrap().clone();
    assert_eq!(ev.len(), 2, "{ev:?}");
    match &ev[1] {
        OscEvent::Back {
            receiver,
            failed_sends,
        } => {
            assert_eq!(receiver, &format!("127.0.0.1:{port}"));
            assert!(*failed_sends > 0);
        }
        other => panic!("{other:?}"),
    }
    assert!(stats.receivers[0].reachable);
    assert!(stats.receivers[0].send_errors >= during.receivers[0].send_errors);
    assert_eq!(stats.receivers[1].send_errors, 0);
    assert_eq!(stats.receivers[1].packets_sent, raw_datagrams.len() as u64);
    assert!(ev[0].to_string().contains("unreachable") && ev[1].to_string().contains("back"));
}

/// The real binary on the demo clip, two receivers: the values received are the `window`
/// scores it prints with `--json`, at 30 Hz, and it reports what it sent.
#[test]
fn mstag_live_sends_its_window_scores_to_two_receivers() {
    let _serial = serial();
    let dir = common::TempDir::new("osc-e2e");
    let manifest = common::json(&common::manifest_path());
    let names: Vec<String> = manifest["tags"]
        .as_array()
        .expect("manifest tags")
        .iter()
        .map(|t| t.as_str().expect("tag name").to_string())
        .collect();
    let parts = tag_address_parts(&names);
    let (p_py, p_dump) = (free_udp_port(), free_udp_port());
    let py = PyReceiver::start(&dir, p_py, 60.0);
    let dump = OscDump::start(p_dump);
    let out = Command::new(env!("CARGO_BIN_EXE_mstag-live"))
        .arg("--input")
        .arg(common::demo_clip())
        .args(["--osc", &format!("127.0.0.1:{p_py}")])
        .args(["--osc", &format!("localhost:{p_dump}")])
        .args(["--osc-rate", "30", "--json", "--duration", "8"])
        .output()
        .expect("run mstag-live");
    std::thread::sleep(Duration::from_millis(300));
    let (py_msgs, py_datagrams) = py.kill();
    let dump_msgs = dump.stop();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "mstag-live failed: {stderr}");
    assert!(stderr.contains("OSC: "), "OSC summary on stderr: {stderr}");
    assert!(!stderr.contains("unreachable"), "{stderr}");

    let published: Vec<Vec<f64>> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("JSON line");
            names
                .iter()
                .map(|n| v["window"][n].as_f64().expect("window score"))
                .collect()
        })
        .collect();
    assert!(published.len() > 5, "updates printed: {}", published.len());

    // JSON scores are rounded to 6 decimals; oscdump prints 6 decimals too.
    check_rate_and_range("python-osc", &py_msgs, &parts, 30.0);
    check_summary_messages("python-osc", &py_msgs, &names, "window");
    check_values("python-osc", &py_msgs, &parts, &names, &published, 1e-6);
    check_rate_and_range("oscdump", &dump_msgs, &parts, 30.0);
    check_summary_messages("oscdump", &dump_msgs, &names, "window");
    check_values("oscdump", &dump_msgs, &parts, &names, &published, 1.5e-6);
    assert!(py_msgs.iter().any(|m| m.addr == "/mstag/tag/no_vocals"));
    for d in &py_datagrams {
        assert!((d["datagram"].as_u64().unwrap() as usize) < MAX_PACKET_BYTES);
        assert_eq!(d["bundle"], true);
    }
}

/// Bad `--osc` values and OSC options: a clear message naming the option and the expected
/// form, a failure exit code, never a panic. (Checked before the models load.)
#[test]
fn bad_osc_arguments_are_clear_errors() {
    let dir = common::TempDir::new("osc-args");
    let clip = dir.path("none.wav");
    for (bad, why) in [
        ("localhost", "no port"),
        ("127.0.0.1:0", "out of range"),
        ("127.0.0.1:65536", "out of range"),
        ("::1:9000", "brackets"),
        ("[::1]", "no port"),
        ("no-such-host.invalid:9000", "cannot resolve"),
        (":7000", "no host"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_mstag-live"))
            .arg("--input")
            .arg(&clip)
            .args(["--osc", "127.0.0.1:9000", "--osc", bad])
            .output()
            .expect("run mstag-live");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "--osc {bad} accepted");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            stderr.contains("--osc") && stderr.contains(bad),
            "names the argument: {stderr}"
        );
        assert!(
            stderr.contains("HOST:PORT"),
            "gives the expected form: {stderr}"
        );
        assert!(stderr.contains(why), "{bad}: {stderr}");
    }
    for args in [
        &["--osc", "127.0.0.1:9000", "--osc-rate", "0"][..],
        &["--osc", "127.0.0.1:9000", "--osc-rate", "121"],
        &["--osc", "127.0.0.1:9000", "--osc-smooth=-1"],
        &["--osc", "127.0.0.1:9000", "--osc-prefix", "mstag"],
        &["--osc", "127.0.0.1:9000", "--osc-view", "median"],
        &["--osc-rate", "30"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_mstag-live"))
            .arg("--input")
            .arg(&clip)
            .args(args)
            .output()
            .expect("run mstag-live");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} accepted");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(stderr.contains("--osc"), "{args:?}: {stderr}");
    }
    assert!(Path::new(env!("CARGO_BIN_EXE_mstag-live")).exists());
}

#[test]
fn oscdump_lines_parse() {
    use oscdump::parse_oscdump;
    assert_eq!(
        parse_oscdump("eeb149d9.e37110e3 /top sf \"no vocals\" 0.500000"),
        Some(("/top".into(), vec![Arg::S("no vocals".into()), Arg::F(0.5)]))
    );
    assert_eq!(
        parse_oscdump("/mstag/tags ff 0.250000 1.000000"),
        Some(("/mstag/tags".into(), vec![Arg::F(0.25), Arg::F(1.0)]))
    );
}
