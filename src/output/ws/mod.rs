//! Scores over a WebSocket, and a page for the browser, for tools that cannot receive OSC
//! over UDP (Hydra, p5.js, three.js, cables.gl): `mstag-live --ws 127.0.0.1:8765 --http
//! 127.0.0.1:8080`.
//!
//! * **Messages.** A client receives `{"hello": {...}}` first (tag and head names, scale,
//!   rate, input, devices, and whether its controls are accepted), then one scores message
//!   per round at [`WsConfig::rate_hz`] (the schema of `mstag-live --json` lines), cue events
//!   (`{"cue": TAG, "on": bool, "t": s}`, `{"top_changed": TAG, "t": s}`) and notices
//!   (`{"input": ...}` after a device switch, `{"error": ...}`). The session ends with the
//!   song-level scores (`"final": true`) and a close frame.
//! * **Controls.** A client may send `{"view": "window"|"session"|"ema"|"all", "top": N}`
//!   (what *it* receives, see [`Subscription`]) or `{"device": NAME}` (switch the input).
//!   They are accepted only from the origins in [`WsConfig::control_origins`] (the page's
//!   own: a web page elsewhere in the user's browser can open a WebSocket to localhost, and
//!   browsers always send its `Origin`), at most [`WsConfig::controls_per_s`] a second and
//!   [`WsConfig::max_control_bytes`] long (a longer message closes the connection); anything
//!   else is dropped and counted ([`WsStats`]). Clients from other origins, and programs that
//!   send no `Origin`, still receive the scores: that is what the p5.js and Hydra snippets in
//!   online editors need.
//! * **Nobody slows the engine.** The scores are read from the engine's `Latest` (never
//!   waited for); one thread writes to every client's non-blocking socket, whose buffers are
//!   bounded (64 KiB in the system, 64 KiB more in tungstenite): a client that does not keep
//!   up loses messages (counted), not the others or the engine. At most
//!   [`WsConfig::max_clients`] at once (handshakes included); one more gets `503`.
//! * **Nobody else gets in.** Both servers bind to 127.0.0.1 unless told otherwise; the page
//!   server answers only requests whose `Host` is the address it was asked to serve on (no
//!   DNS rebinding) ([`page`]).
//!
//! Files: `control` (what clients may send), `message` (what is sent), `server` (threads and
//! counters), `client` (one connection: handshake, writes, controls), `page` (the HTTP server
//! and the embedded page).

mod client;
mod control;
mod message;
pub mod page;
mod server;

use std::net::{SocketAddr, ToSocketAddrs};

pub use control::{Control, Subscription};
pub use message::Greeting;
pub use page::{PageServer, PAGE_HTML, PAGE_JS};
pub use server::{WsServer, WsStats};

use crate::calibration::Scale;
use crate::engine::View;
use crate::error::{Error, Result};
use crate::output::cues::Trigger;

/// `--ws` without an address.
pub const DEFAULT_WS_ADDR: &str = "127.0.0.1:8765";
/// `--http` without an address.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";

/// The WebSocket server's settings.
///
/// # Examples
/// ```
/// use mstag::output::ws::WsConfig;
/// let cfg = WsConfig::new(WsConfig::parse_addr("127.0.0.1:0", "ws address")?);
/// assert_eq!((cfg.rate_hz, cfg.max_clients), (30, 16));
/// assert!(cfg.validate().is_ok());
/// assert!(WsConfig::parse_addr("nowhere", "ws address").is_err());
/// # Ok::<(), mstag::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct WsConfig {
    /// Where to listen.
    pub bind: SocketAddr,
    /// Scores messages per second, 1 to 120.
    pub rate_hz: u32,
    /// Clients at once, 1 to 256.
    pub max_clients: usize,
    /// Origins (`http://127.0.0.1:8080`) whose controls are accepted.
    pub control_origins: Vec<String>,
    /// Longest control message, bytes.
    pub max_control_bytes: usize,
    /// Controls a client may send per second (a burst of as many).
    pub controls_per_s: u32,
    /// The view cue triggers and the top tag are watched in.
    pub cue_view: View,
    /// Cue triggers (`{"cue": TAG, "on": bool}`).
    pub triggers: Vec<Trigger>,
    /// Seconds a new top tag must stay on top before `{"top_changed": TAG}`; `None`: never.
    pub hold_s: Option<f64>,
    /// Whether the source's tag values are calibrated (said in each message).
    pub scale: Scale,
}

impl WsConfig {
    /// The defaults for a server on `bind`.
    pub fn new(bind: SocketAddr) -> WsConfig {
        WsConfig {
            bind,
            rate_hz: 30,
            max_clients: 16,
            control_origins: Vec::new(),
            max_control_bytes: 1024,
            controls_per_s: 10,
            cue_view: View::Window,
            triggers: Vec::new(),
            hold_s: None,
            scale: Scale::Raw,
        }
    }

    /// `HOST:PORT` (an IP address, or a name such as `localhost` that resolves) as the
    /// address to listen on; `setting` names it in the error.
    pub fn parse_addr(s: &str, setting: &'static str) -> Result<SocketAddr> {
        let bad = |reason: String| Error::InvalidSetting {
            name: setting,
            value: s.to_string(),
            reason,
        };
        let mut addrs = s
            .to_socket_addrs()
            .map_err(|e| bad(format!("not HOST:PORT ({e})")))?;
        addrs
            .next()
            .ok_or_else(|| bad("the name resolves to no address".into()))
    }

    /// Checks the settings ([`Error::InvalidSetting`] naming the one that is off).
    pub fn validate(&self) -> Result<()> {
        let bad = |name: &'static str, value: String, reason: &str| {
            Err(Error::InvalidSetting {
                name,
                value,
                reason: reason.into(),
            })
        };
        if !(1..=120).contains(&self.rate_hz) {
            return bad("ws rate", self.rate_hz.to_string(), "1 to 120 Hz");
        }
        if !(1..=256).contains(&self.max_clients) {
            return bad("ws max clients", self.max_clients.to_string(), "1 to 256");
        }
        if !(16..=65536).contains(&self.max_control_bytes) {
            return bad(
                "ws control size",
                self.max_control_bytes.to_string(),
                "16 to 65536 bytes",
            );
        }
        if !(1..=1000).contains(&self.controls_per_s) {
            return bad(
                "ws control rate",
                self.controls_per_s.to_string(),
                "1 to 1000 a second",
            );
        }
        Ok(())
    }
}

/// The origins a page served at `http` has in a browser: `http://HOST:PORT` with the address
/// itself, and for a loopback address also `localhost` and the other loopback spelling.
///
/// # Examples
/// ```
/// use mstag::output::ws::page_origins;
/// let o = page_origins("127.0.0.1:8080".parse().unwrap());
/// assert!(o.contains(&"http://localhost:8080".to_string()));
/// assert!(o.contains(&"http://127.0.0.1:8080".to_string()));
/// ```
pub fn page_origins(http: SocketAddr) -> Vec<String> {
    let port = http.port();
    let mut out = vec![format!("http://{http}")];
    if http.ip().is_loopback() {
        for host in ["localhost", "127.0.0.1", "[::1]"] {
            let o = format!("http://{host}:{port}");
            if !out.contains(&o) {
                out.push(o);
            }
        }
    }
    out
}
