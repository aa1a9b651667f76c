//! liblo's `oscdump` (Debian `liblo-tools`) as an independent OSC receiver for the tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One OSC message as a receiver saw it.
#[derive(Debug, Clone)]
pub struct Msg {
    /// Seconds, on the receiver's own clock.
    pub t: f64,
    pub addr: String,
    pub args: Vec<Arg>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    F(f64),
    S(String),
}

impl Arg {
    pub fn f(&self) -> f64 {
        match self {
            Arg::F(x) => *x,
            Arg::S(s) => panic!("expected a float, got string {s:?}"),
        }
    }
}

// liblo oscdump

/// liblo's `oscdump -L PORT`: one line per message, `[timetag] /addr types args…`.
pub struct OscDump {
    child: Child,
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    t0: Instant,
}

impl OscDump {
    pub fn start(port: u16) -> OscDump {
        let mut child = Command::new("oscdump")
            .args(["-L", &port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("oscdump (apt-get install liblo-tools, see .ci/run)");
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push((Instant::now(), line));
            }
        });
        let d = OscDump {
            child,
            lines,
            reader: Some(reader),
            t0: Instant::now(),
        };
        // oscdump prints nothing when it is ready: probe until it echoes a message.
        let probe = UdpSocket::bind("127.0.0.1:0").expect("probe socket");
        let packet = rosc::encoder::encode(&rosc::OscPacket::Message(rosc::OscMessage {
            addr: "/probe".into(),
            args: vec![],
        }))
        .expect("encode probe");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let _ = probe.send_to(&packet, ("127.0.0.1", port));
            std::thread::sleep(Duration::from_millis(50));
            if d.lines
                .lock()
                .unwrap()
                .iter()
                .any(|(_, l)| l.contains("/probe"))
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "oscdump did not start on port {port}"
            );
        }
        d
    }

    pub fn stop(mut self) -> Vec<Msg> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let lines = std::mem::take(&mut *self.lines.lock().unwrap());
        lines
            .iter()
            .filter_map(|(t, l)| {
                parse_oscdump(l).map(|(addr, args)| Msg {
                    t: t.duration_since(self.t0).as_secs_f64(),
                    addr,
                    args,
                })
            })
            .filter(|m| m.addr != "/probe")
            .collect()
    }
}

impl Drop for OscDump {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `eeb149d9.e37110e3 /top sf "no vocals" 0.500000` → (`/top`, [S("no vocals"), F(0.5)]).
pub fn parse_oscdump(line: &str) -> Option<(String, Vec<Arg>)> {
    let rest = line.trim_start();
    let rest = if rest.starts_with('/') {
        rest
    } else {
        rest.split_once(' ')?.1.trim_start()
    };
    let (addr, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let rest = rest.trim_start();
    let (types, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let mut args = Vec::new();
    for ty in types.chars() {
        rest = rest.trim_start();
        match ty {
            'f' | 'd' | 'i' => {
                let (tok, r) = rest.split_once(' ').unwrap_or((rest, ""));
                args.push(Arg::F(tok.parse().ok()?));
                rest = r;
            }
            's' => {
                let body = rest.strip_prefix('"')?;
                let end = body.find('"')?;
                args.push(Arg::S(body[..end].to_string()));
                rest = &body[end + 1..];
            }
            _ => return None,
        }
    }
    Some((addr.to_string(), args))
}
