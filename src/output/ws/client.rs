//! One WebSocket connection: the handshake (on a short-lived thread of its own, origin
//! noted), then a non-blocking socket that the broadcaster writes to and reads controls from
//! each round. A client that does not read fills its (bounded) buffers and loses messages;
//! nothing ever waits for it.

use std::io;
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use tungstenite::handshake::server::{Request, Response};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, Utf8Bytes, WebSocket};

use super::control::{Control, RateLimit, Subscription};
use super::server::Counters;

/// The system's send buffer per client, bytes (Linux doubles it). Without a bound it grows
/// to megabytes for a client that does not read: seconds of messages that would arrive late
/// instead of being dropped.
const SEND_BUFFER: usize = 64 << 10;
/// How long a client has to finish the handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes waiting for a slow client beyond the system's send buffer before messages are
/// dropped: a few messages, so that a client that does not read loses them at once instead of
/// piling up memory.
const MAX_WRITE_BUFFER: usize = 64 << 10;

/// What the handshake and the controls need.
pub(super) struct ClientContext {
    pub control_origins: parking_lot::RwLock<Vec<String>>,
    pub max_control_bytes: usize,
    pub controls_per_s: u32,
    pub counters: std::sync::Arc<Counters>,
    pub devices: Sender<String>,
}

fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// A connected client, owned by the broadcaster.
pub(super) struct Client {
    ws: WebSocket<TcpStream>,
    /// Whether its controls are accepted (its origin is the page's).
    pub control: bool,
    /// What it receives.
    pub sub: Subscription,
    /// Whether it has had its `hello`.
    pub greeted: bool,
    rate: RateLimit,
}

impl Client {
    /// The WebSocket handshake on `stream` (blocking, at most [`HANDSHAKE_TIMEOUT`]); the
    /// client, its socket non-blocking from now on, or `None` (counted) when it failed.
    pub(super) fn handshake(stream: TcpStream, ctx: &ClientContext) -> Option<Client> {
        let failed = || {
            ctx.counters
                .failed_handshakes
                .fetch_add(1, Ordering::Relaxed);
            None
        };
        let _ = stream.set_nodelay(true);
        let _ = socket2::SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER);
        if stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT)).is_err()
            || stream.set_write_timeout(Some(HANDSHAKE_TIMEOUT)).is_err()
        {
            return failed();
        }
        let config = WebSocketConfig::default()
            .max_message_size(Some(ctx.max_control_bytes))
            .max_frame_size(Some(ctx.max_control_bytes))
            // Each message goes to the socket as it is written.
            .write_buffer_size(0)
            .max_write_buffer_size(MAX_WRITE_BUFFER);
        let mut origin: Option<String> = None;
        // The callback's error type (an HTTP response) is tungstenite's; never returned here.
        #[allow(clippy::result_large_err)]
        let note_origin = |req: &Request, resp: Response| {
            origin = req
                .headers()
                .get("origin")
                .and_then(|o| o.to_str().ok())
                .map(str::to_string);
            Ok(resp)
        };
        let Ok(ws) = tungstenite::accept_hdr_with_config(stream, note_origin, Some(config)) else {
            return failed();
        };
        if ws.get_ref().set_nonblocking(true).is_err() {
            return failed();
        }
        let control = origin.as_ref().is_some_and(|o| {
            ctx.control_origins
                .read()
                .iter()
                .any(|a| a.eq_ignore_ascii_case(o))
        });
        Some(Client {
            ws,
            control,
            sub: Subscription::default(),
            greeted: false,
            rate: RateLimit::new(ctx.controls_per_s, Instant::now()),
        })
    }

    /// Writes one message; a client whose buffers are full loses it (counted). `Err` when
    /// the connection is gone.
    pub(super) fn send(&mut self, text: Utf8Bytes, c: &Counters) -> Result<(), ()> {
        match self.ws.write(Message::Text(text)) {
            // Written, or waiting in the buffer for the socket to take it.
            Ok(()) => {}
            Err(tungstenite::Error::Io(e)) if would_block(&e) => {}
            Err(tungstenite::Error::WriteBufferFull(_)) => {
                c.dropped.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Err(_) => return Err(()),
        }
        c.sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Pushes what is buffered towards the socket, as far as it takes it now.
    pub(super) fn flush(&mut self) -> Result<(), ()> {
        match self.ws.flush() {
            Ok(()) => Ok(()),
            Err(tungstenite::Error::Io(e)) if would_block(&e) => Ok(()),
            Err(_) => Err(()),
        }
    }

    /// Reads and handles whatever the client has sent; `Err` when the connection is gone (or
    /// closed for a message over the size cap).
    pub(super) fn read_controls(&mut self, ctx: &ClientContext) -> Result<(), ()> {
        let c = &ctx.counters;
        loop {
            match self.ws.read() {
                Ok(Message::Text(text)) => self.control(text.as_str(), ctx),
                Ok(Message::Binary(_)) => {
                    c.controls_malformed.fetch_add(1, Ordering::Relaxed);
                }
                // Pings are answered by tungstenite at the next write or flush.
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
                Ok(Message::Close(_)) => {
                    let _ = self.ws.flush();
                }
                Err(tungstenite::Error::Io(e)) if would_block(&e) => return Ok(()),
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
        }
    }

    /// One text from the client: accepted from the page's origin only, paced, checked.
    fn control(&mut self, text: &str, ctx: &ClientContext) {
        let c = &ctx.counters;
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
                self.sub = s;
                serde_json::json!({"subscribed": {
                    "view": s.view.map_or("all", |v| v.name()),
                    "top": s.top,
                }})
            }
            Ok(Control::Device(name)) => {
                if ctx.devices.try_send(name.clone()).is_err() {
                    c.controls_rate_limited.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                serde_json::json!({"device_requested": name})
            }
        };
        c.controls_accepted.fetch_add(1, Ordering::Relaxed);
        let _ = self.ws.write(Message::Text(reply.to_string().into()));
    }

    /// The server stops: a close frame after what was written, pushed out until `until`.
    pub(super) fn goodbye(&mut self, until: Instant) {
        let _ = self.ws.close(None);
        while Instant::now() < until {
            match self.ws.flush() {
                Err(tungstenite::Error::Io(e)) if would_block(&e) => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => return,
            }
        }
    }
}
