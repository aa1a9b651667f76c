//! The sender thread's loop: read scores, build and encode a round, send it to every
//! receiver, and report outages and recoveries.

use std::io;
use std::net::UdpSocket;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;

use crate::engine::View;

use super::messages::sanitize_tag;
use super::smoothing::MAX_SMOOTHED;
use super::stats::Shared;
use super::{clamp_unit, Framing, OscEvent, OscLog, OscMessages, PacketWriter, ScoreSource};
use super::{normalize_prefix, CueEvent, Cues, OscConfig, Smoother};
use rosc::{OscMessage, OscPacket, OscType};

/// How long a receiver that was unreachable must take packets without a single send error
/// before it is reported back (ICMP errors may arrive only every other packet, or be
/// rate-limited by the network stack, so one clean packet proves nothing).
const RECOVERY_TIME: Duration = Duration::from_secs(2);
/// ... and for at least this many consecutive send rounds.
const RECOVERY_ROUNDS: u32 = 3;

/// One receiver's socket and where it stands between outage and recovery.
struct ReceiverState {
    socket: UdpSocket,
    down: bool,
    clean_since: Option<Instant>,
    clean_rounds: u32,
}

impl ReceiverState {
    fn new(socket: UdpSocket) -> ReceiverState {
        ReceiverState {
            socket,
            down: false,
            clean_since: None,
            clean_rounds: 0,
        }
    }
}

/// The addresses of cue events.
struct CueAddresses {
    /// `<prefix>/cue/<tag>` (or `.../<head>/<label>`) of each trigger.
    cues: Vec<String>,
    /// `<prefix>/top/changed`.
    changed: String,
}

impl CueAddresses {
    /// `<prefix>/cue/<tag> i 1|0` or `<prefix>/top/changed s`.
    fn packet(&self, cues: &Cues, e: CueEvent) -> OscPacket {
        let (addr, arg) = match e {
            CueEvent::Cue { trigger, on } => {
                (self.cues[trigger].clone(), OscType::Int(i32::from(on)))
            }
            CueEvent::TopChanged { tag } => (
                self.changed.clone(),
                OscType::String(cues.tag(tag).to_string()),
            ),
        };
        OscPacket::Message(OscMessage {
            addr,
            args: vec![arg],
        })
    }
}

/// What the sender thread owns.
pub(super) struct Worker {
    period: Duration,
    view: View,
    framing: Framing,
    smoother: Smoother,
    messages: OscMessages,
    writer: PacketWriter,
    receivers: Vec<ReceiverState>,
    shared: Arc<Shared>,
    source: ScoreSource,
    log: OscLog,
    cues: Cues,
    /// Where cue events go.
    cue_addrs: CueAddresses,
    /// The head labels' count (after the tags in `values`).
    n_head: usize,
    /// This round's values (tags, then head labels).
    values: [f32; MAX_SMOOTHED],
    /// The values whose packets the writer holds (when `encoded`).
    sent: [f32; MAX_SMOOTHED],
    encoded: bool,
    encode_failed: bool,
    events: Vec<CueEvent>,
    packets: Vec<OscPacket>,
}

impl Worker {
    /// A worker for `cfg` (already validated), with one connected socket per target, in
    /// the order of `cfg.targets` and of `shared.receivers`.
    pub(super) fn new(
        cfg: &OscConfig,
        messages: OscMessages,
        sockets: Vec<UdpSocket>,
        shared: Arc<Shared>,
        source: ScoreSource,
        log: OscLog,
        cues: Cues,
    ) -> Worker {
        // The prefix was checked by `cfg.validate()`.
        let prefix = normalize_prefix(&cfg.prefix).unwrap_or_default();
        let cue_addrs = (0..cues.len())
            .map(|k| {
                let parts: Vec<String> = cues.path(k).iter().map(|p| sanitize_tag(p)).collect();
                format!("{prefix}/cue/{}", parts.join("/"))
            })
            .collect();
        let n_head = messages.heads().iter().map(|h| h.labels.len()).sum();
        Worker {
            n_head,
            values: [0.0; MAX_SMOOTHED],
            sent: [0.0; MAX_SMOOTHED],
            encoded: false,
            encode_failed: false,
            events: Vec::new(),
            packets: Vec::new(),
            cue_addrs: CueAddresses {
                cues: cue_addrs,
                changed: format!("{prefix}/top/changed"),
            },
            period: Duration::from_secs_f64(1.0 / cfg.rate_hz as f64),
            view: cfg.view,
            framing: cfg.framing,
            smoother: Smoother::new(cfg.smooth_s, cfg.rate_hz),
            messages,
            writer: PacketWriter::new(),
            receivers: sockets.into_iter().map(ReceiverState::new).collect(),
            shared,
            source,
            log,
            cues,
        }
    }

    /// Sends a round every period until `stop` receives or is closed.
    pub(super) fn run(mut self, stop: crate::output::mailbox::Mailbox<()>) {
        let mut next = Instant::now();
        loop {
            self.round();
            next += self.period;
            let now = Instant::now();
            if now > next + self.period {
                // Far behind (the machine stalled): skip the missed rounds instead of bursting.
                next = now;
            }
            match stop.recv_deadline(next) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
            }
        }
    }

    /// One round: read the scores, encode them (unless they are the ones last encoded),
    /// send them and any cue events to every receiver.
    pub(super) fn round(&mut self) {
        let scores = (self.source)();
        if scores.seq > 0 {
            let n = self.messages.n_tags();
            let m = n + self.n_head;
            let v = scores.view(self.view);
            let h = scores.head_view(self.view);
            for (i, x) in self.values[..m].iter_mut().enumerate() {
                let raw = if i < n { v.get(i) } else { h.get(i - n) };
                *x = clamp_unit(raw.copied().unwrap_or(0.0));
            }
            self.smoother.apply(&mut self.values[..m]);
            self.cues
                .update(&self.values[..m], Instant::now(), &mut self.events);
            // Between model updates (and without smoothing) the values do not change: the
            // packets already encoded go out again.
            let same = self.encoded && self.values[..m] == self.sent[..m];
            if same {
                self.send_round();
            } else {
                let (tags, heads) = self.values[..m].split_at(n);
                self.messages.set_with_heads(tags, heads, self.view);
                match self.writer.write(self.messages.messages(), self.framing) {
                    Ok(_) => {
                        self.sent[..m].copy_from_slice(&self.values[..m]);
                        self.encoded = true;
                        self.send_round()
                    }
                    Err(e) => {
                        self.encoded = false;
                        if !self.encode_failed {
                            (self.log)(&OscEvent::Failed {
                                reason: e.to_string(),
                            });
                            self.encode_failed = true;
                        }
                    }
                }
            }
            // Cue events go out after the round's values, in packets of their own.
            if !self.events.is_empty() {
                let (addrs, cues) = (&self.cue_addrs, &self.cues);
                self.packets
                    .extend(self.events.drain(..).map(|e| addrs.packet(cues, e)));
                if self.writer.write(&self.packets, self.framing).is_ok() {
                    self.send_round();
                }
                self.packets.clear();
                // The writer now holds the cue packets, not the values'.
                self.encoded = false;
            }
        }
        self.shared.rounds.fetch_add(1, Ordering::Relaxed);
    }

    fn send_round(&mut self) {
        let now = Instant::now();
        for (r, (target, counters)) in self.receivers.iter_mut().zip(&self.shared.receivers) {
            let mut first_error: Option<io::Error> = None;
            let (mut packets, mut bytes, mut errors) = (0u64, 0u64, 0u64);
            for p in self.writer.packets() {
                match r.socket.send(p) {
                    Ok(n) => {
                        packets += 1;
                        bytes += n as u64;
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            counters.packets.fetch_add(packets, Ordering::Relaxed);
            counters.bytes.fetch_add(bytes, Ordering::Relaxed);
            counters.errors.fetch_add(errors, Ordering::Relaxed);
            match first_error {
                Some(e) => {
                    r.clean_since = None;
                    r.clean_rounds = 0;
                    if !r.down {
                        r.down = true;
                        counters.down.store(true, Ordering::Relaxed);
                        (self.log)(&OscEvent::Unreachable {
                            receiver: target.to_string(),
                            error: e.to_string(),
                        });
                    }
                }
                None if r.down => {
                    r.clean_rounds += 1;
                    let since = *r.clean_since.get_or_insert(now);
                    if r.clean_rounds >= RECOVERY_ROUNDS && now - since >= RECOVERY_TIME {
                        r.down = false;
                        r.clean_since = None;
                        r.clean_rounds = 0;
                        counters.down.store(false, Ordering::Relaxed);
                        (self.log)(&OscEvent::Back {
                            receiver: target.to_string(),
                            failed_sends: counters.errors.load(Ordering::Relaxed),
                        });
                    }
                }
                None => {}
            }
        }
    }
}
