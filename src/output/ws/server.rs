//! The WebSocket server's threads: one accepts connections (and refuses them when full), one
//! per client ([`super::client`]), and the broadcaster, which reads the scores at the rate,
//! builds each message once per subscription and offers it to every client's queue.

use std::collections::HashMap;
use std::fmt;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use parking_lot::Mutex;
use serde_json::Value;
use tungstenite::Utf8Bytes;

use super::client::{serve, ClientContext};
use super::message::{cue_value, hello_value, scores_text, subscribed, Greeting, Names};
use super::{Subscription, WsConfig};
use crate::calibration::Scale;
use crate::engine::{HeadLabels, Scores};
use crate::error::{Error, Result};
use crate::output::cues::Cues;
use crate::output::ScoreSource;

/// How often the acceptor looks for a stop.
const ACCEPT_POLL: Duration = Duration::from_millis(25);

/// One client as the broadcaster sees it.
pub(super) struct Slot {
    pub tx: Sender<Utf8Bytes>,
    pub sub: Arc<AtomicU32>,
    pub control: bool,
    pub greeted: bool,
    pub alive: Arc<AtomicBool>,
}

/// The server's counters, updated by every thread.
#[derive(Default)]
pub(super) struct Counters {
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
    /// Messages dropped because a client's queue was full (it did not keep up).
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
    slots: Arc<Mutex<Vec<Slot>>>,
    ctx: Arc<ClientContext>,
    commands: Sender<Command>,
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
        listener.set_nonblocking(true).map_err(|e| Error::Output {
            what: format!("WebSocket server on {local}"),
            reason: e.to_string(),
        })?;
        let counters = Arc::new(Counters::default());
        let slots = Arc::new(Mutex::new(Vec::new()));
        let (device_tx, devices) = crossbeam_channel::bounded(4);
        let ctx = Arc::new(ClientContext {
            control_origins: parking_lot::RwLock::new(cfg.control_origins.clone()),
            max_control_bytes: cfg.max_control_bytes,
            controls_per_s: cfg.controls_per_s,
            queue: cfg.queue,
            counters: counters.clone(),
            slots: slots.clone(),
            devices: device_tx,
        });
        let stopping = Arc::new(AtomicBool::new(false));
        let spawn_err = |e: std::io::Error| Error::Output {
            what: "WebSocket server".into(),
            reason: format!("cannot start a thread: {e}"),
        };
        let acceptor = {
            let (stopping, max, ctx) = (stopping.clone(), cfg.max_clients, ctx.clone());
            std::thread::Builder::new()
                .name("mstag-ws-accept".into())
                .spawn(move || accept(listener, ctx, max, &stopping))
                .map_err(spawn_err)?
        };
        let (commands, command_rx) = crossbeam_channel::bounded(16);
        let broadcaster = Broadcaster {
            names: (tags.to_vec(), heads.to_vec(), cfg.scale),
            greeting,
            cfg,
            cues,
            source,
            slots: slots.clone(),
            counters: counters.clone(),
        };
        let broadcaster = std::thread::Builder::new()
            .name("mstag-ws".into())
            .spawn(move || broadcaster.run(command_rx))
            .map_err(spawn_err)?;
        Ok(WsServer {
            local,
            counters,
            slots,
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
            clients: self
                .slots
                .lock()
                .iter()
                .filter(|s| s.alive.load(Ordering::Acquire))
                .count(),
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

/// Accepts connections until `stopping`; returns the client threads to join.
fn accept(
    listener: TcpListener,
    ctx: Arc<ClientContext>,
    max_clients: usize,
    stopping: &AtomicBool,
) -> Vec<JoinHandle<()>> {
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    while !stopping.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((stream, _)) => {
                threads.retain(|t| !t.is_finished());
                if threads.len() >= max_clients {
                    refuse(stream);
                    ctx.counters.refused_full.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let _ = stream.set_nonblocking(false);
                let ctx = ctx.clone();
                match std::thread::Builder::new()
                    .name("mstag-ws-client".into())
                    .spawn(move || serve(stream, ctx))
                {
                    Ok(t) => threads.push(t),
                    Err(_) => continue,
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(ACCEPT_POLL),
            Err(_) => std::thread::sleep(ACCEPT_POLL),
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
    slots: Arc<Mutex<Vec<Slot>>>,
    counters: Arc<Counters>,
}

impl Broadcaster {
    fn run(mut self, commands: Receiver<Command>) {
        let period = Duration::from_secs_f64(1.0 / f64::from(self.cfg.rate_hz));
        let mut next = Instant::now();
        let mut events = Vec::new();
        let mut values = Vec::new();
        loop {
            let scores = (self.source)();
            self.greet();
            if scores.seq > 0 {
                let mut texts = vec![];
                values.clear();
                values.extend_from_slice(scores.view(self.cfg.cue_view));
                values.extend_from_slice(scores.head_view(self.cfg.cue_view));
                self.cues.update(&values, Instant::now(), &mut events);
                for e in events.drain(..) {
                    texts.push(Utf8Bytes::from(
                        cue_value(&self.cues, e, scores.t).to_string(),
                    ));
                }
                self.send_scores(&scores, false, &texts);
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
                    self.offer_all(|_| Some(text.clone()));
                }
                Ok(Command::Stop(final_scores)) => {
                    self.greet();
                    if let Some(s) = (*final_scores).filter(|s| s.seq > 0) {
                        self.send_scores(&s, true, &[]);
                    }
                    // Dropping the queues' senders tells each client thread to close.
                    self.slots.lock().clear();
                    return;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.slots.lock().clear();
                    return;
                }
            }
        }
    }

    fn names(&self) -> Names<'_> {
        Names {
            tags: &self.names.0,
            heads: &self.names.1,
            scale: self.names.2,
        }
    }

    /// `hello` to the clients that have not had it; forgets clients that are gone.
    fn greet(&mut self) {
        let mut slots = self.slots.lock();
        slots.retain(|s| s.alive.load(Ordering::Acquire));
        for s in slots.iter_mut().filter(|s| !s.greeted) {
            let n = Names {
                tags: &self.names.0,
                heads: &self.names.1,
                scale: self.names.2,
            };
            let hello = hello_value(&n, &self.greeting, self.cfg.rate_hz, s.control, &self.cues);
            s.greeted = true;
            self.counters.connections.fetch_add(1, Ordering::Relaxed);
            offer(&self.counters, s, Utf8Bytes::from(hello.to_string()));
        }
    }

    /// The scores, as each client subscribed, then `extra` (cue events) to everyone.
    fn send_scores(&self, s: &Scores, is_final: bool, extra: &[Utf8Bytes]) {
        let names = self.names();
        let full = Utf8Bytes::from(scores_text(&names, s, is_final));
        // Parsed (shortest forms kept) only when some client subscribed to a part.
        let mut parsed: Option<Value> = None;
        let mut texts: HashMap<u32, Utf8Bytes> = HashMap::new();
        self.offer_all(|sub| {
            if sub.is_everything() {
                return Some(full.clone());
            }
            let text = texts.entry(sub.pack()).or_insert_with(|| {
                let value = parsed.get_or_insert_with(|| {
                    serde_json::from_str(full.as_str()).unwrap_or(Value::Null)
                });
                Utf8Bytes::from(subscribed(value, &names, s, sub).to_string())
            });
            Some(text.clone())
        });
        for t in extra {
            self.offer_all(|_| Some(t.clone()));
        }
    }

    fn offer_all(&self, mut text: impl FnMut(Subscription) -> Option<Utf8Bytes>) {
        let slots = self.slots.lock();
        for s in slots.iter().filter(|s| s.greeted) {
            let sub = Subscription::unpack(s.sub.load(Ordering::Acquire));
            if let Some(t) = text(sub) {
                offer(&self.counters, s, t);
            }
        }
    }
}

/// Puts `text` in the client's queue; a full queue drops it (counted).
fn offer(c: &Counters, s: &Slot, text: Utf8Bytes) {
    match s.tx.try_send(text) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            c.dropped.fetch_add(1, Ordering::Relaxed);
        }
        Err(TrySendError::Disconnected(_)) => {}
    }
}
