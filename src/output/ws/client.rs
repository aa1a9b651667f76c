//! One WebSocket connection, on a thread of its own: the handshake (origin noted, full
//! server refused), then the client's queue written out and its controls read, both without
//! ever blocking the broadcaster.

use std::io;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use tungstenite::handshake::server::{Request, Response};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, Utf8Bytes, WebSocket};

use super::control::{Control, RateLimit};
use super::server::{Counters, Slot};

/// The system's send buffer per client, bytes (Linux doubles it). Without a bound it grows
/// to megabytes for a client that does not read: seconds of messages that would arrive late
/// instead of being dropped.
const SEND_BUFFER: usize = 64 << 10;
/// How long a client has to finish the handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the client thread waits for a control before it looks at its queue again.
const POLL: Duration = Duration::from_millis(15);
/// How long one write may block on a client that does not read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(1);
/// Bytes waiting for a slow client (beyond what the system's socket buffer holds) before
/// messages are dropped: a few messages, so that a client that does not read loses them at
/// once instead of piling up memory.
const MAX_WRITE_BUFFER: usize = 64 << 10;

/// What every client thread shares.
pub(super) struct ClientContext {
    pub control_origins: parking_lot::RwLock<Vec<String>>,
    pub max_control_bytes: usize,
    pub controls_per_s: u32,
    pub queue: usize,
    pub counters: Arc<Counters>,
    pub slots: Arc<parking_lot::Mutex<Vec<Slot>>>,
    pub devices: Sender<String>,
}

fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Serves one accepted connection until it closes or the server stops.
pub(super) fn serve(stream: TcpStream, ctx: Arc<ClientContext>) {
    let c = &ctx.counters;
    let _ = stream.set_nodelay(true);
    let _ = socket2::SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER);
    if stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT)).is_err()
        || stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_err()
    {
        c.failed_handshakes.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let config = WebSocketConfig::default()
        .max_message_size(Some(ctx.max_control_bytes))
        .max_frame_size(Some(ctx.max_control_bytes))
        // Each message goes to the socket as it is written (and flushed per batch).
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER);
    let mut origin: Option<String> = None;
    // The callback's error type (an HTTP response) is tungstenite's; it is never returned here.
    #[allow(clippy::result_large_err)]
    let note_origin = |req: &Request, resp: Response| {
        origin = req
            .headers()
            .get("origin")
            .and_then(|o| o.to_str().ok())
            .map(str::to_string);
        Ok(resp)
    };
    let ws = match tungstenite::accept_hdr_with_config(stream, note_origin, Some(config)) {
        Ok(ws) => ws,
        Err(_) => {
            c.failed_handshakes.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let control = origin.as_ref().is_some_and(|o| {
        ctx.control_origins
            .read()
            .iter()
            .any(|a| a.eq_ignore_ascii_case(o))
    });
    if ws.get_ref().set_read_timeout(Some(POLL)).is_err() {
        return;
    }
    let (tx, rx) = crossbeam_channel::bounded::<Utf8Bytes>(ctx.queue);
    let sub = Arc::new(AtomicU32::new(0));
    let alive = Arc::new(AtomicBool::new(true));
    ctx.slots.lock().push(Slot {
        tx,
        sub: sub.clone(),
        control,
        greeted: false,
        alive: alive.clone(),
    });
    let mut conn = Connection {
        ws,
        ctx: &ctx,
        control,
        sub: &sub,
        rate: RateLimit::new(ctx.controls_per_s, Instant::now()),
    };
    conn.run(&rx);
    alive.store(false, Ordering::Release);
}

/// An open connection's state.
struct Connection<'a> {
    ws: WebSocket<TcpStream>,
    ctx: &'a ClientContext,
    control: bool,
    sub: &'a AtomicU32,
    rate: RateLimit,
}

impl Connection<'_> {
    /// Writes the queue and reads controls until the connection or the server ends.
    fn run(&mut self, rx: &Receiver<Utf8Bytes>) {
        loop {
            match self.write_queue(rx) {
                Ok(true) => {}
                Ok(false) => {
                    // The server stopped: say goodbye (the final scores are already queued).
                    let _ = self.ws.close(None);
                    let _ = self.ws.flush();
                    return;
                }
                Err(()) => return,
            }
            if self.read_one().is_err() {
                return;
            }
        }
    }

    /// Writes what is queued; `Ok(false)` once the server has let go of the queue.
    fn write_queue(&mut self, rx: &Receiver<Utf8Bytes>) -> Result<bool, ()> {
        let c = &self.ctx.counters;
        let mut wrote = false;
        let open = loop {
            match rx.try_recv() {
                Ok(text) => {
                    wrote = true;
                    match self.ws.write(Message::Text(text)) {
                        Ok(()) => {
                            c.sent.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(tungstenite::Error::WriteBufferFull(_)) => {
                            c.dropped.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(tungstenite::Error::Io(e)) if would_block(&e) => {
                            c.sent.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => return Err(()),
                    }
                }
                Err(TryRecvError::Empty) => break true,
                Err(TryRecvError::Disconnected) => break false,
            }
        };
        if wrote {
            match self.ws.flush() {
                Ok(()) => {}
                Err(tungstenite::Error::Io(e)) if would_block(&e) => {}
                Err(_) => return Err(()),
            }
        }
        Ok(open)
    }

    /// Waits up to [`POLL`] for one message from the client and handles it.
    fn read_one(&mut self) -> Result<(), ()> {
        let c = &self.ctx.counters;
        match self.ws.read() {
            Ok(Message::Text(text)) => self.control(text.as_str()),
            Ok(Message::Binary(_)) => {
                c.controls_malformed.fetch_add(1, Ordering::Relaxed);
            }
            // Pings are answered by tungstenite at the next write or flush.
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
            Ok(Message::Close(_)) => {
                let _ = self.ws.flush();
            }
            Err(tungstenite::Error::Io(e)) if would_block(&e) => {}
            Err(tungstenite::Error::Capacity(_)) => {
                c.controls_oversized.fetch_add(1, Ordering::Relaxed);
                return Err(());
            }
            Err(tungstenite::Error::Protocol(_) | tungstenite::Error::Utf8(_)) => {
                c.controls_malformed.fetch_add(1, Ordering::Relaxed);
                return Err(());
            }
            Err(_) => return Err(()),
        }
        Ok(())
    }

    /// One text from the client: accepted from the page's origin only, paced, checked.
    fn control(&mut self, text: &str) {
        let c = &self.ctx.counters;
        if !self.control {
            c.controls_foreign.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if !self.rate.allow(Instant::now()) {
            c.controls_rate_limited.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let reply = match Control::parse(text) {
            Err(_) => {
                c.controls_malformed.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Ok(Control::Subscribe(s)) => {
                self.sub.store(s.pack(), Ordering::Release);
                serde_json::json!({"subscribed": {
                    "view": s.view.map_or("all", |v| v.name()),
                    "top": s.top,
                }})
            }
            Ok(Control::Device(name)) => {
                if self.ctx.devices.try_send(name.clone()).is_err() {
                    c.controls_rate_limited.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                serde_json::json!({"device_requested": name})
            }
        };
        c.controls_accepted.fetch_add(1, Ordering::Relaxed);
        let _ = self.ws.write(Message::Text(reply.to_string().into()));
    }
}
