//! The WebSocket server's threads: one accepts connections (and refuses them when full), a
//! short-lived one per handshake ([`super::client`]), and the broadcaster, which owns every
//! connected client: each round it reads the scores, builds each message once per
//! subscription, writes it to every client's non-blocking socket and reads their controls.
//! One thread wakes per round, however many clients there are.

use std::collections::HashMap;
use std::fmt;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use serde_json::Value;
use tungstenite::Utf8Bytes;

use super::client::{Client, ClientContext};
use super::message::{cue_value, hello_value, scores_text, subscribed_text, Greeting, Names};
use super::{Subscription, WsConfig};
use crate::calibration::Scale;
use crate::engine::{HeadLabels, Scores};
use crate::error::{Error, Result};
use crate::output::cues::Cues;
use crate::output::mailbox::{mailbox, Mailbox, Post};
use crate::output::{Rider, ScoreSource};

/// How long the acceptor rests after a failed accept (e.g. out of file descriptors).
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// How often the clients' sockets are read for controls (each read is a system call per
/// client; a control waits at most this long).
const CONTROL_POLL: Duration = Duration::from_millis(100);
/// How long the goodbye (final scores and close frames) may take at the end.
const GOODBYE: Duration = Duration::from_secs(1);

/// The server's counters, updated by every thread.
#[derive(Default)]
pub(super) struct Counters {
    /// Connections handshaking or connected (the cap counts these).
    pub open: AtomicUsize,
    /// Clients connected now.
    pub connected: AtomicUsize,
    pub connections: AtomicU64,
    pub refused_full: AtomicU64,
    pub failed_handshakes: AtomicU64,
    pub sent: AtomicU64,
    pub dropped: AtomicU64,
    pub controls_accepted: AtomicU64,
    pub controls_foreign: AtomicU64,
    pub controls_malformed: AtomicU64,
    pub controls_rate_limited: AtomicU64,
    pub controls_oversized: AtomicU64,
    pub rounds: AtomicU64,
}

/// What the WebSocket server has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WsStats {
    /// Clients connected now.
    pub clients: usize,
    /// Connections accepted since the start.
    pub connections: u64,
    /// Connections refused because [`WsConfig::max_clients`] were connected.
    pub refused_full: u64,
    /// Connections that never completed the WebSocket handshake.
    pub failed_handshakes: u64,
    /// Messages written to clients.
    pub sent: u64,
    /// Messages dropped because a client's buffers were full (it did not keep up).
    pub dropped: u64,
    /// Controls accepted.
    pub controls_accepted: u64,
    /// Controls dropped because the client's origin is not the page's.
    pub controls_foreign: u64,
    /// Controls dropped as malformed (not JSON, unknown keys or values, binary).
    pub controls_malformed: u64,
    /// Controls dropped because the client sent too many.
    pub controls_rate_limited: u64,
    /// Connections closed because a message was longer than the cap.
    pub controls_oversized: u64,
    /// Broadcast rounds.
    pub rounds: u64,
}

impl fmt::Display for WsStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dropped_controls = self.controls_foreign
            + self.controls_malformed
            + self.controls_rate_limited
            + self.controls_oversized;
        write!(
            f,
            "WebSocket: {} messages sent to {} connections, {} dropped for slow clients, {} refused (full); controls: {} accepted, {} dropped ({} other origin, {} malformed, {} too many, {} too long)",
            self.sent,
            self.connections,
            self.dropped,
            self.refused_full,
            self.controls_accepted,
            dropped_controls,
            self.controls_foreign,
            self.controls_malformed,
            self.controls_rate_limited,
            self.controls_oversized
        )
    }
}

/// What the broadcaster is told besides time passing.
enum Command {
    /// A notice for every client; with `input`, the input changed.
    Notice { text: Value, input: Option<String> },
    /// Send these final scores, close every client, end.
    Stop(Box<Option<Scores>>),
}

/// A running WebSocket server. [`WsServer::stop`] (or dropping it) ends it.
///
/// # Examples
/// ```no_run
/// # fn main() -> mstag::Result<()> {
/// use mstag::output::ws::{Greeting, WsConfig, WsServer};
/// let models = mstag::model::ModelSet::load(
///     &mstag::model::default_manifest_path(), mstag::model::Device::Cpu, 1)?;
/// let tags = models.manifest.tags.clone();
/// let (mut input, ring) = mstag::capture::Supervisor::open("mic", 4.0)?;
/// let engine = mstag::engine::Engine::builder(models, ring, input.sample_rate()).start()?;
/// let latest = engine.latest();
/// let cfg = WsConfig::new(WsConfig::parse_addr("127.0.0.1:8765", "ws address")?);
/// let server = WsServer::start(cfg, &tags, &[], Greeting::default(), Box::new(move || latest.get()))?;
/// // ... later
/// eprintln!("{}", server.stop(None));
/// # Ok(()) }
/// ```
pub struct WsServer {
    local: SocketAddr,
    counters: Arc<Counters>,
    ctx: Arc<ClientContext>,
    commands: Post<Command>,
    devices: Receiver<String>,
    stopping: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<Vec<JoinHandle<()>>>>,
    broadcaster: Option<JoinHandle<()>>,
}

impl WsServer {
    /// Listens on `cfg.bind` and starts sending the scores `source` gives (`seq == 0`:
    /// nothing yet, nothing sent). `tags` and `heads` name the values.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for a setting out of range or an unknown trigger;
    /// [`Error::Output`] when the address cannot be listened on (in use, not this machine's).
    pub fn start(
        cfg: WsConfig,
        tags: &[String],
        heads: &[HeadLabels],
        greeting: Greeting,
        source: ScoreSource,
    ) -> Result<WsServer> {
        Self::start_with_riders(cfg, tags, heads, greeting, source, Vec::new())
    }

    /// Like [`WsServer::start`], and the broadcaster's thread also runs `riders` (other
    /// outputs at the same rate, e.g. [`OscSender::start_riding`](crate::output::OscSender::start_riding)),
    /// one round each after its own: one wake-up a round serves them all. They stop with
    /// the server (after its final round).
    ///
    /// # Errors
    /// As [`WsServer::start`].
    pub fn start_with_riders(
        cfg: WsConfig,
        tags: &[String],
        heads: &[HeadLabels],
        greeting: Greeting,
        source: ScoreSource,
        riders: Vec<Box<dyn Rider>>,
    ) -> Result<WsServer> {
        cfg.validate()?;
        let hold = cfg
            .hold_s
            .map(|h| Duration::from_secs_f64(h.clamp(0.0, 3600.0)));
        let cues = Cues::new(tags, heads, &cfg.triggers, hold)?;
        let listener = TcpListener::bind(cfg.bind).map_err(|e| Error::Output {
            what: format!("WebSocket server on {}", cfg.bind),
            reason: format!("cannot listen: {e}"),
        })?;
        let local = listener.local_addr().unwrap_or(cfg.bind);
        let counters = Arc::new(Counters::default());
        let (device_tx, devices) = crossbeam_channel::bounded(4);
        let ctx = Arc::new(ClientContext {
            control_origins: parking_lot::RwLock::new(cfg.control_origins.clone()),
            max_control_bytes: cfg.max_control_bytes,
            controls_per_s: cfg.controls_per_s,
            counters: counters.clone(),
            devices: device_tx,
        });
        let (joins, joined) = crossbeam_channel::unbounded();
        let stopping = Arc::new(AtomicBool::new(false));
        let spawn_err = |e: std::io::Error| Error::Output {
            what: "WebSocket server".into(),
            reason: format!("cannot start a thread: {e}"),
        };
        let acceptor = {
            let (stopping, max, ctx) = (stopping.clone(), cfg.max_clients, ctx.clone());
            std::thread::Builder::new()
                .name("mstag-ws-accept".into())
                .spawn(move || accept(listener, ctx, max, &stopping, &joins))
                .map_err(spawn_err)?
        };
        let (commands, command_rx) = mailbox(16);
        let broadcaster = Broadcaster {
            names: (tags.to_vec(), heads.to_vec(), cfg.scale),
            greeting,
            cfg,
            cues,
            source,
            clients: Vec::new(),
            joined,
            ctx: ctx.clone(),
            counters: counters.clone(),
            texts: ((0, false), HashMap::new()),
            riders,
        };
        let broadcaster = std::thread::Builder::new()
            .name("mstag-ws".into())
            .spawn(move || broadcaster.run(command_rx))
            .map_err(spawn_err)?;
        Ok(WsServer {
            local,
            counters,
            ctx,
            commands,
            devices,
            stopping,
            acceptor: Some(acceptor),
            broadcaster: Some(broadcaster),
        })
    }

    /// The address the server listens on (with the port the system chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Replaces the origins whose controls are accepted (for clients that connect from now
    /// on): e.g. the page's, once its server knows its port.
    pub fn set_control_origins(&self, origins: Vec<String>) {
        *self.ctx.control_origins.write() = origins;
    }

    /// Device names clients asked to switch to (the program owns the input and decides).
    pub fn device_requests(&self) -> &Receiver<String> {
        &self.devices
    }

    /// Sends `notice` (a JSON object) to every client; with `input`, new clients are greeted
    /// with it from now on. Never blocks: when the broadcaster is far behind it is dropped.
    pub fn notify(&self, notice: Value, input: Option<String>) {
        let _ = self.commands.try_send(Command::Notice {
            text: notice,
            input,
        });
    }

    /// The counters so far.
    pub fn stats(&self) -> WsStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        WsStats {
            clients: c.connected.load(Ordering::Relaxed),
            connections: get(&c.connections),
            refused_full: get(&c.refused_full),
            failed_handshakes: get(&c.failed_handshakes),
            sent: get(&c.sent),
            dropped: get(&c.dropped),
            controls_accepted: get(&c.controls_accepted),
            controls_foreign: get(&c.controls_foreign),
            controls_malformed: get(&c.controls_malformed),
            controls_rate_limited: get(&c.controls_rate_limited),
            controls_oversized: get(&c.controls_oversized),
            rounds: get(&c.rounds),
        }
    }

    /// Sends `final_scores` (the song-level result) to every client, closes them, stops
    /// every thread and returns the final counters.
    pub fn stop(mut self, final_scores: Option<Scores>) -> WsStats {
        self.shut(final_scores);
        self.stats()
    }

    fn shut(&mut self, final_scores: Option<Scores>) {
        let Some(b) = self.broadcaster.take() else {
            return;
        };
        // The broadcaster may be mid-round; a blocking send waits at most one round.
        let _ = self.commands.send(Command::Stop(Box::new(final_scores)));
        let _ = b.join();
        self.stopping.store(true, Ordering::Release);
        // The acceptor waits in accept(): a connection of our own wakes it to see the stop.
        let mut wake = self.local;
        if wake.ip().is_unspecified() {
            wake.set_ip(if wake.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        if let Some(a) = self.acceptor.take() {
            for client in a.join().unwrap_or_default() {
                let _ = client.join();
            }
        }
    }
}

impl Drop for WsServer {
    fn drop(&mut self) {
        self.shut(None);
    }
}

/// Accepts connections until `stopping` (checked after each one: the server connects to
/// itself to stop it); each handshake runs on a thread of its own and hands the client to the
/// broadcaster through `joins`. Returns the handshake threads to join.
fn accept(
    listener: TcpListener,
    ctx: Arc<ClientContext>,
    max_clients: usize,
    stopping: &AtomicBool,
    joins: &Sender<Client>,
) -> Vec<JoinHandle<()>> {
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    let open = &ctx.counters.open;
    loop {
        let accepted = listener.accept();
        if stopping.load(Ordering::Acquire) {
            break;
        }
        let Ok((stream, _)) = accepted else {
            // E.g. out of file descriptors: rest a moment.
            std::thread::sleep(ACCEPT_RETRY);
            continue;
        };
        threads.retain(|t| !t.is_finished());
        if open.load(Ordering::Acquire) >= max_clients {
            refuse(stream);
            ctx.counters.refused_full.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        open.fetch_add(1, Ordering::AcqRel);
        let (ctx, joins) = (ctx.clone(), joins.clone());
        let spawned = std::thread::Builder::new()
            .name("mstag-ws-handshake".into())
            .spawn(move || match Client::handshake(stream, &ctx) {
                Some(client) => {
                    if joins.send(client).is_err() {
                        ctx.counters.open.fetch_sub(1, Ordering::AcqRel);
                    }
                }
                None => {
                    ctx.counters.open.fetch_sub(1, Ordering::AcqRel);
                }
            });
        match spawned {
            Ok(t) => threads.push(t),
            Err(_) => {
                open.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
    threads
}

/// `503` to a client over the cap, without reading its request (so it cannot hold the
/// acceptor).
fn refuse(mut stream: TcpStream) {
    use std::io::Write;
    let _ = stream.set_nonblocking(true);
    let _ = stream.write_all(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 27\r\nConnection: close\r\n\r\ntoo many clients connected\n",
    );
}

/// The broadcaster thread's state.
struct Broadcaster {
    names: (Vec<String>, Vec<HeadLabels>, Scale),
    greeting: Greeting,
    cfg: WsConfig,
    cues: Cues,
    source: ScoreSource,
    /// Connected clients (greeted or about to be).
    clients: Vec<Client>,
    /// Clients whose handshake is done.
    joined: Receiver<Client>,
    ctx: Arc<ClientContext>,
    counters: Arc<Counters>,
    /// The texts of the scores last sent (`seq`, final), per subscription.
    texts: ((u64, bool), HashMap<u32, Utf8Bytes>),
    /// Other outputs run on this thread, a round each after ours.
    riders: Vec<Box<dyn Rider>>,
}

impl Broadcaster {
    fn run(mut self, commands: Mailbox<Command>) {
        let period = Duration::from_secs_f64(1.0 / f64::from(self.cfg.rate_hz));
        let mut next = Instant::now();
        let mut events = Vec::new();
        let mut values = Vec::new();
        let mut looked = Instant::now();
        loop {
            self.admit();
            let scores = (self.source)();
            if scores.seq > 0 {
                let mut texts = vec![];
                values.clear();
                values.extend_from_slice(scores.view(self.cfg.cue_view));
                values.extend_from_slice(scores.head_view(self.cfg.cue_view));
                self.cues.update(&values, Instant::now(), &mut events);
                for e in events.drain(..) {
                    let cue = cue_value(&self.cues, e, scores.t).to_string();
                    texts.push(Utf8Bytes::from(cue));
                }
                self.send_scores(&scores, false, &texts);
            }
            for r in &mut self.riders {
                r.round();
            }
            if looked.elapsed() >= CONTROL_POLL {
                looked = Instant::now();
                self.read_controls();
            }
            self.counters.rounds.fetch_add(1, Ordering::Relaxed);
            next += period;
            let now = Instant::now();
            if now > next + period {
                next = now;
            }
            match commands.recv_deadline(next) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(Command::Notice { text, input }) => {
                    if let Some(i) = input {
                        self.greeting.input = i;
                    }
                    let text = Utf8Bytes::from(text.to_string());
                    self.send_each(|_| text.clone());
                }
                Ok(Command::Stop(final_scores)) => {
                    self.admit();
                    if let Some(s) = (*final_scores).filter(|s| s.seq > 0) {
                        self.send_scores(&s, true, &[]);
                    }
                    return self.goodbye();
                }
                Err(RecvTimeoutError::Disconnected) => return self.goodbye(),
            }
        }
    }

    /// Takes the clients whose handshake is done and greets them.
    fn admit(&mut self) {
        while let Ok(mut client) = self.joined.try_recv() {
            let n = Names {
                tags: &self.names.0,
                heads: &self.names.1,
                scale: self.names.2,
            };
            let hello = hello_value(
                &n,
                &self.greeting,
                self.cfg.rate_hz,
                client.control,
                &self.cues,
            );
            client.greeted = true;
            self.counters.connections.fetch_add(1, Ordering::Relaxed);
            if client
                .send(Utf8Bytes::from(hello.to_string()), &self.counters)
                .is_ok()
                && client.flush().is_ok()
            {
                self.clients.push(client);
            } else {
                self.counters.open.fetch_sub(1, Ordering::AcqRel);
            }
        }
        self.counters
            .connected
            .store(self.clients.len(), Ordering::Relaxed);
    }

    /// The scores, as each client subscribed, then `extra` (cue events), to every client.
    /// Between model updates the scores are the same: their texts are kept and sent again,
    /// not rebuilt.
    fn send_scores(&mut self, s: &Scores, is_final: bool, extra: &[Utf8Bytes]) {
        let key = (s.seq, is_final);
        if self.texts.0 != key {
            self.texts = (key, HashMap::new());
        }
        let names = Names {
            tags: &self.names.0,
            heads: &self.names.1,
            scale: self.names.2,
        };
        let texts = &mut self.texts.1;
        let c = &self.counters;
        self.clients.retain_mut(|client| {
            let sub = client.sub;
            let text = texts.entry(sub.pack()).or_insert_with(|| {
                Utf8Bytes::from(if sub.is_everything() {
                    scores_text(&names, s, is_final)
                } else {
                    subscribed_text(&names, s, is_final, sub)
                })
            });
            let ok = client.send(text.clone(), c).is_ok()
                && extra.iter().all(|t| client.send(t.clone(), c).is_ok())
                && client.flush().is_ok();
            if !ok {
                c.open.fetch_sub(1, Ordering::AcqRel);
            }
            ok
        });
        c.connected.store(self.clients.len(), Ordering::Relaxed);
    }

    /// `text(client's subscription)` to every client; forgets those that are gone.
    fn send_each(&mut self, text: impl Fn(Subscription) -> Utf8Bytes) {
        let c = &self.counters;
        self.clients.retain_mut(|client| {
            let ok = client.send(text(client.sub), c).is_ok() && client.flush().is_ok();
            if !ok {
                c.open.fetch_sub(1, Ordering::AcqRel);
            }
            ok
        });
        c.connected.store(self.clients.len(), Ordering::Relaxed);
    }

    /// What the clients sent since the last round; forgets those that are gone.
    fn read_controls(&mut self) {
        let (ctx, c) = (&self.ctx, &self.counters);
        self.clients.retain_mut(|client| {
            let ok = client.read_controls(ctx).is_ok() && client.flush().is_ok();
            if !ok {
                c.open.fetch_sub(1, Ordering::AcqRel);
            }
            ok
        });
        c.connected.store(self.clients.len(), Ordering::Relaxed);
    }

    /// Close frames to everyone, pushed out for [`GOODBYE`] at most, then let go.
    fn goodbye(&mut self) {
        let until = Instant::now() + GOODBYE;
        for client in &mut self.clients {
            client.goodbye(until);
        }
        self.counters
            .open
            .fetch_sub(self.clients.len(), Ordering::AcqRel);
        self.clients.clear();
        self.counters.connected.store(0, Ordering::Relaxed);
    }
}
