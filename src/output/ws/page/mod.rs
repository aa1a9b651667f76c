//! The page for the browser (`mstag-live --http 127.0.0.1:8080`): live bars, a scrolling tag
//! timeline, view/top-N/device selectors, cue events and copy-paste snippets for p5.js and
//! Hydra. The HTML and script are embedded in the binary (no CDN, no network); the page
//! finds the WebSocket through `config.json`.
//!
//! Served by tiny_http on a thread of its own. Only `GET`/`HEAD` of `/`, `/index.html`,
//! `/app.js` and `/config.json` are answered; on a loopback address a request whose `Host` is
//! not that address (a DNS-rebinding page) gets `421`. Responses carry a strict
//! Content-Security-Policy: the page loads nothing from elsewhere.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use tiny_http::{Header, Method, Request, Response, Server};

use crate::error::{Error, Result};

/// The page.
pub const PAGE_HTML: &str = include_str!("index.html");
/// Its script.
pub const PAGE_JS: &str = include_str!("app.js");

const CSP: &str = "default-src 'self'; connect-src 'self' ws: wss:; style-src 'self' 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// A running page server; [`PageServer::stop`] (or dropping it) ends it.
///
/// # Examples
/// ```no_run
/// use mstag::output::ws::PageServer;
/// let page = PageServer::start("127.0.0.1:8080".parse().unwrap(), "127.0.0.1:8765".parse().unwrap())?;
/// println!("open http://{}/", page.local_addr());
/// # Ok::<(), mstag::Error>(())
/// ```
pub struct PageServer {
    local: SocketAddr,
    server: Arc<Server>,
    stopping: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl PageServer {
    /// Serves the page on `bind`; the page connects to the WebSocket server at `ws` (an
    /// unspecified host such as `0.0.0.0` means "the host the page came from").
    ///
    /// # Errors
    /// [`Error::Output`] when the address cannot be listened on.
    pub fn start(bind: SocketAddr, ws: SocketAddr) -> Result<PageServer> {
        let server = Server::http(bind).map_err(|e| Error::Output {
            what: format!("page server on {bind}"),
            reason: format!("cannot listen: {e}"),
        })?;
        let local = server.server_addr().to_ip().unwrap_or(bind);
        let server = Arc::new(server);
        let stopping = Arc::new(AtomicBool::new(false));
        let (served, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let ws_host = (!ws.ip().is_unspecified()).then(|| ws.ip().to_string());
        let config = serde_json::json!({"ws_host": ws_host, "ws_port": ws.port()}).to_string();
        let hosts = allowed_hosts(local);
        let thread = {
            let (server, stopping) = (server.clone(), stopping.clone());
            let (served, refused) = (served.clone(), refused.clone());
            std::thread::Builder::new()
                .name("mstag-http".into())
                .spawn(move || {
                    // recv() waits for a request; stop() unblocks it.
                    while !stopping.load(Ordering::Acquire) {
                        match server.recv() {
                            Ok(rq) => {
                                let ok = answer(rq, &config, hosts.as_deref());
                                let n = if ok { &served } else { &refused };
                                n.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(_) => break,
                        }
                    }
                })
                .map_err(|e| Error::Output {
                    what: "page server".into(),
                    reason: format!("cannot start its thread: {e}"),
                })?
        };
        Ok(PageServer {
            local,
            server,
            stopping,
            served,
            refused,
            thread: Some(thread),
        })
    }

    /// The address served on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Requests answered with the page, its script or its configuration; and refused.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.served.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }

    /// Stops serving.
    pub fn stop(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        self.stopping.store(true, Ordering::Release);
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.shut();
    }
}

/// The `Host` values a request may carry: on a loopback address its loopback spellings;
/// `None` (any) when the user chose to serve on another address.
fn allowed_hosts(local: SocketAddr) -> Option<Vec<String>> {
    if !local.ip().is_loopback() {
        return None;
    }
    let p = local.port();
    Some(vec![
        format!("127.0.0.1:{p}"),
        format!("localhost:{p}"),
        format!("[::1]:{p}"),
    ])
}

fn header(name: &str, value: &str) -> Header {
    // Names and values here are ASCII constants.
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("ASCII header")
}

/// Answers one request; true when it was served.
fn answer(rq: Request, config: &str, hosts: Option<&[String]>) -> bool {
    let host_ok = hosts.is_none_or(|hosts| {
        rq.headers()
            .iter()
            .find(|h| h.field.equiv("Host"))
            .is_some_and(|h| {
                hosts
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(h.value.as_str()))
            })
    });
    let (status, body, kind): (u16, &str, &str) = if !host_ok {
        (
            421,
            "this server answers only on its own address\n",
            "text/plain; charset=utf-8",
        )
    } else if !matches!(rq.method(), Method::Get | Method::Head) {
        (405, "only GET\n", "text/plain; charset=utf-8")
    } else {
        match rq.url().split(['?', '#']).next().unwrap_or("") {
            "/" | "/index.html" => (200, PAGE_HTML, "text/html; charset=utf-8"),
            "/app.js" => (200, PAGE_JS, "text/javascript; charset=utf-8"),
            "/config.json" => (200, config, "application/json"),
            _ => (404, "not found\n", "text/plain; charset=utf-8"),
        }
    };
    let response = Response::from_string(body)
        .with_status_code(status)
        .with_header(header("Content-Type", kind))
        .with_header(header("Cache-Control", "no-store"))
        .with_header(header("X-Content-Type-Options", "nosniff"))
        .with_header(header("Referrer-Policy", "no-referrer"))
        .with_header(header("Content-Security-Policy", CSP));
    let _ = rq.respond(response);
    status == 200
}
