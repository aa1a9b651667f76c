//! The sender: its thread's start and stop, the events it reports and the sockets it sends
//! through.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::engine::Latest;
use crate::error::{Error, Result};

use super::stats::Shared;
use super::worker::Worker;
use super::{OscConfig, OscMessages, OscStats, OscTarget};
use crate::engine::HeadLabels;

/// What the sender reports through its log hook (at most once per change of state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OscEvent {
    /// Sending to a receiver failed (refused, would block, …); it is still tried every round.
    Unreachable {
        /// The receiver, as [`OscTarget`] displays it.
        receiver: String,
        /// The first send error of the outage.
        error: String,
    },
    /// A receiver that was unreachable has taken packets without error for a while.
    Back {
        /// The receiver, as [`OscTarget`] displays it.
        receiver: String,
        /// The receiver's failed sends since the start.
        failed_sends: u64,
    },
    /// A round could not be encoded (should not happen: sizes are checked at start).
    Failed {
        /// Why, as the encoding error says it.
        reason: String,
    },
}

impl fmt::Display for OscEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OscEvent::Unreachable { receiver, error } => write!(
                f,
                "OSC receiver {receiver} unreachable ({error}); still sending, failures are counted"
            ),
            OscEvent::Back {
                receiver,
                failed_sends,
            } => write!(
                f,
                "OSC receiver {receiver} back ({failed_sends} failed sends so far)"
            ),
            OscEvent::Failed { reason } => write!(f, "OSC: {reason}"),
        }
    }
}

/// The hook that receives [`OscEvent`]s, on the sender thread.
pub type OscLog = Box<dyn FnMut(&OscEvent) + Send>;

pub use crate::output::ScoreSource;

/// A running OSC sender thread. [`OscSender::stop`] or dropping it stops and joins the thread.
pub struct OscSender {
    thread: Option<JoinHandle<()>>,
    stop: Option<crate::output::mailbox::Post<()>>,
    shared: Arc<Shared>,
}

impl OscSender {
    /// Starts sending the scores published by an engine (`engine.latest()`); `tags` are the
    /// manifest's tag names.
    pub fn start(
        cfg: OscConfig,
        tags: &[String],
        latest: Latest,
        log: OscLog,
    ) -> Result<OscSender> {
        Self::start_with_source(cfg, tags, Box::new(move || latest.get()), log)
    }

    /// Like [`OscSender::start`], with any source of scores (the plugin, tests). Scores with
    /// `seq == 0` (nothing published yet) are not sent.
    pub fn start_with_source(
        cfg: OscConfig,
        tags: &[String],
        source: ScoreSource,
        log: OscLog,
    ) -> Result<OscSender> {
        Self::start_with_heads(cfg, tags, &[], source, log)
    }

    /// Like [`OscSender::start_with_source`], sending the scores of heads of your own too
    /// (`<prefix>/<head>/top` and `<prefix>/<head>/<label>`; see
    /// [`OscMessages::with_heads`]), from [`Scores::heads`](crate::engine::Scores::heads).
    pub fn start_with_heads(
        cfg: OscConfig,
        tags: &[String],
        heads: &[HeadLabels],
        source: ScoreSource,
        log: OscLog,
    ) -> Result<OscSender> {
        let (worker, shared) = Self::worker(&cfg, tags, heads, source, log)?;
        let (stop_tx, stop_rx) = crate::output::mailbox::mailbox::<()>(1);
        let thread = std::thread::Builder::new()
            .name("mstag-osc".into())
            .spawn(move || worker.run(stop_rx))
            .map_err(|e| Error::Output {
                what: "OSC".into(),
                reason: format!("cannot start the sender thread: {e}"),
            })?;
        Ok(OscSender {
            thread: Some(thread),
            stop: Some(stop_tx),
            shared,
        })
    }

    /// Like [`OscSender::start_with_heads`], without a thread of its own: the returned
    /// [`OscRider`] sends a round each time another output's thread calls
    /// [`Rider::round`](crate::output::Rider::round) (that thread must run at `cfg.rate_hz`:
    /// the smoothing and the cue hold count in its rounds). The sender counts and reports as
    /// usual; [`OscSender::stop`] only reads the counters, so stop the host first.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use mstag::output::ws::{Greeting, WsConfig, WsServer};
    /// use mstag::output::{OscConfig, OscSender, OscTarget, Rider};
    /// # fn main() -> mstag::Result<()> {
    /// let tags = vec!["rock".to_string()];
    /// let osc = OscConfig::new(vec![OscTarget::parse("127.0.0.1:7700")?]);
    /// let source = || Box::new(mstag::engine::Scores::default) as mstag::output::ScoreSource;
    /// let (sender, rider) = OscSender::start_riding(osc, &tags, &[], source(), Box::new(|_| ()))?;
    /// let ws = WsConfig::new(WsConfig::parse_addr("127.0.0.1:0", "ws address")?);
    /// let riders: Vec<Box<dyn Rider>> = vec![Box::new(rider)];
    /// let server = WsServer::start_with_riders(ws, &tags, &[], Greeting::default(), source(), riders)?;
    /// // ... later: the host first, then the rider's counters.
    /// server.stop(None);
    /// println!("{}", sender.stop());
    /// # Ok(()) }
    /// ```
    pub fn start_riding(
        cfg: OscConfig,
        tags: &[String],
        heads: &[HeadLabels],
        source: ScoreSource,
        log: OscLog,
    ) -> Result<(OscSender, OscRider)> {
        let (worker, shared) = Self::worker(&cfg, tags, heads, source, log)?;
        let sender = OscSender {
            thread: None,
            stop: None,
            shared,
        };
        Ok((sender, OscRider(worker)))
    }

    /// The sockets and the state of a sender for `cfg`, checked.
    fn worker(
        cfg: &OscConfig,
        tags: &[String],
        heads: &[HeadLabels],
        source: ScoreSource,
        log: OscLog,
    ) -> Result<(Worker, Arc<Shared>)> {
        cfg.validate()?;
        let messages = OscMessages::new(&cfg.prefix, tags)?.with_heads(heads)?;
        let cues = super::Cues::new(
            tags,
            heads,
            &cfg.triggers,
            cfg.hold_s
                .map(|h| std::time::Duration::from_secs_f64(h.clamp(0.0, 3600.0))),
        )?;
        let mut sockets = Vec::with_capacity(cfg.targets.len());
        for t in &cfg.targets {
            sockets.push(open_socket(t)?);
        }
        let shared = Arc::new(Shared::new(&cfg.targets));
        let worker = Worker::new(cfg, messages, sockets, shared.clone(), source, log, cues);
        Ok((worker, shared))
    }

    /// The counters so far.
    pub fn stats(&self) -> OscStats {
        self.shared.snapshot()
    }

    /// Stops the thread, waits for it, and returns the final counters.
    pub fn stop(mut self) -> OscStats {
        self.stop_and_join();
        self.shared.snapshot()
    }

    fn stop_and_join(&mut self) {
        // Dropping the post closes the mailbox, which wakes the thread at once.
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An OSC sender's rounds, for another output's thread to run (see
/// [`OscSender::start_riding`]).
pub struct OscRider(Worker);

impl crate::output::Rider for OscRider {
    fn round(&mut self) {
        self.0.round();
    }
}

impl Drop for OscSender {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// A non-blocking UDP socket on an ephemeral port, connected to the receiver (so that a
/// refusal comes back as an error on this socket).
fn open_socket(t: &OscTarget) -> Result<UdpSocket> {
    let err = |what: &str, e: io::Error| Error::Output {
        what: format!("OSC receiver {}", t.spec),
        reason: format!("{what}: {e}"),
    };
    let local = if t.addr.is_ipv4() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
    } else {
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
    };
    let socket = UdpSocket::bind(local).map_err(|e| err("cannot open a UDP socket", e))?;
    if t.addr.is_ipv4() {
        // Lighting networks often use a broadcast address; harmless for unicast.
        let _ = socket.set_broadcast(true);
    }
    socket
        .connect(t.addr)
        .map_err(|e| err("cannot address the receiver", e))?;
    socket
        .set_nonblocking(true)
        .map_err(|e| err("cannot make the socket non-blocking", e))?;
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use rosc::decoder::decode_udp;
    use rosc::OscType;

    use super::super::test_support::{flatten, tags};
    use super::*;
    use crate::engine::Scores;

    #[test]
    fn events_read_well() {
        let e = OscEvent::Unreachable {
            receiver: "127.0.0.1:9000".into(),
            error: "Connection refused".into(),
        };
        assert!(e.to_string().contains("127.0.0.1:9000 unreachable"));
        let e = OscEvent::Back {
            receiver: "localhost:9000 (127.0.0.1:9000)".into(),
            failed_sends: 3,
        };
        assert!(e.to_string().contains("back"));
    }

    /// A configuration error is reported before any socket or thread is made.
    #[test]
    fn an_invalid_config_is_refused_at_start() {
        let mut cfg = OscConfig::new(vec![OscTarget::parse("127.0.0.1:9").unwrap()]);
        cfg.rate_hz = 0;
        let e = OscSender::start_with_source(
            cfg,
            &tags(&["guitar"]),
            Box::new(Scores::default),
            Box::new(|e| panic!("unexpected event {e}")),
        )
        .err()
        .expect("rate 0 refused");
        assert!(matches!(
            e,
            Error::InvalidSetting {
                name: "osc rate",
                ..
            }
        ));
    }

    /// The thread in-process against a local socket: values arrive, stop joins promptly.
    #[test]
    fn sender_thread_sends_and_stops() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let target = OscTarget::parse(&rx.local_addr().unwrap().to_string()).unwrap();
        let mut cfg = OscConfig::new(vec![target]);
        cfg.rate_hz = 100;
        let names = tags(&["guitar", "no vocals"]);
        let mut scores = Scores {
            n_tags: 2,
            seq: 1,
            ..Scores::default()
        };
        scores.window[0] = 0.125;
        scores.window[1] = 0.625;
        let sender = OscSender::start_with_source(
            cfg,
            &names,
            Box::new(move || scores),
            Box::new(|e| panic!("unexpected event {e}")),
        )
        .unwrap();
        let mut buf = [0u8; 2048];
        let n = rx.recv(&mut buf).unwrap();
        let mut msgs = Vec::new();
        flatten(decode_udp(&buf[..n]).unwrap().1, &mut msgs, &mut Vec::new());
        let find = |a: &str| msgs.iter().find(|m| m.addr == a).unwrap().args.clone();
        assert_eq!(find("/mstag/tag/no_vocals"), [OscType::Float(0.625)]);
        assert_eq!(find("/mstag/window"), [OscType::String("window".into())]);
        let t0 = Instant::now();
        let stats = sender.stop();
        assert!(t0.elapsed() < Duration::from_millis(200));
        assert!(stats.packets_sent >= 1);
        assert_eq!(stats.receivers[0].send_errors, 0);
        assert!(stats.bytes_sent >= n as u64);
    }

    /// IPv6 receivers work the same (skipped where the machine has no IPv6 loopback).
    #[test]
    fn ipv6_receiver() {
        let Ok(rx) = UdpSocket::bind("[::1]:0") else {
            eprintln!("no IPv6 loopback here: IPv6 send test skipped");
            return;
        };
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let port = rx.local_addr().unwrap().port();
        let target = OscTarget::parse(&format!("[::1]:{port}")).unwrap();
        let names = tags(&["guitar"]);
        let scores = Scores {
            n_tags: 1,
            seq: 1,
            ..Scores::default()
        };
        let sender = OscSender::start_with_source(
            OscConfig::new(vec![target]),
            &names,
            Box::new(move || scores),
            Box::new(|_| {}),
        )
        .unwrap();
        let mut buf = [0u8; 2048];
        let n = rx.recv(&mut buf).unwrap();
        let mut msgs = Vec::new();
        flatten(decode_udp(&buf[..n]).unwrap().1, &mut msgs, &mut Vec::new());
        assert!(msgs.iter().any(|m| m.addr == "/mstag/tag/guitar"));
        assert_eq!(sender.stop().send_errors, 0);
    }
}
