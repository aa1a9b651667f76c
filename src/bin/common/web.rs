//! `mstag-live --ws` and `--http`: the WebSocket server and the page, started beside the
//! engine and stopped with the final scores.

use anyhow::Result;

use super::LiveArgs;
use mstag::calibration::{Calibration, Scale};
use mstag::engine::{Engine, HeadLabels, Scores};
use mstag::output::ws::{page_origins, Greeting, PageServer, WsConfig, WsServer, DEFAULT_WS_ADDR};
use mstag::output::Rider;

/// The running WebSocket server and page server.
pub struct Web {
    ws: WsServer,
    page: Option<PageServer>,
}

impl Web {
    /// Starts what `args` asks for (`--http` alone starts the WebSocket on its default
    /// address too), with `riders` on the broadcaster's thread; `None` when neither is asked
    /// (then `riders` must be empty).
    pub fn start(
        args: &LiveArgs,
        engine: &Engine,
        tags: &[String],
        heads: &[HeadLabels],
        calibration: Option<&Calibration>,
        greeting: Greeting,
        riders: Vec<Box<dyn Rider>>,
    ) -> Result<Option<Web>> {
        if !args.web.serves() {
            return Ok(None);
        }
        let ws_addr = args.web.ws.as_deref().unwrap_or(DEFAULT_WS_ADDR);
        let mut cfg = WsConfig::new(WsConfig::parse_addr(ws_addr, "ws address")?);
        cfg.rate_hz = args.osc.rate();
        cfg.max_clients = usize::from(args.web.ws_max_clients);
        cfg.cue_view = args.osc.view();
        cfg.triggers = args.osc.triggers.clone();
        cfg.hold_s = args.osc.hold;
        cfg.scale = if calibration.is_some() {
            Scale::Calibrated
        } else {
            Scale::Raw
        };
        let http = match &args.web.http {
            Some(a) => Some(WsConfig::parse_addr(a, "http address")?),
            None => None,
        };
        cfg.control_origins = args.web.ws_allow_origin.clone();
        let latest = engine.latest();
        let cal = calibration.cloned();
        let ws = WsServer::start_with_riders(
            cfg,
            tags,
            heads,
            greeting,
            Box::new(move || super::live::scaled(&latest.get(), cal.as_ref())),
            riders,
        )?;
        let page = match http {
            Some(h) => Some(PageServer::start(h, ws.local_addr())?),
            None => None,
        };
        // The page's origins (known once it listens, port 0 chosen) may send controls; so may
        // those the user names.
        if let Some(p) = &page {
            let mut origins = page_origins(p.local_addr());
            origins.extend(args.web.ws_allow_origin.iter().cloned());
            ws.set_control_origins(origins);
        }
        let url = match &page {
            Some(p) => format!("; page on http://{}/", p.local_addr()),
            None => String::new(),
        };
        eprintln!("mstag-live: WebSocket on ws://{}{url}", ws.local_addr());
        Ok(Some(Web { ws, page }))
    }

    /// A device a client asked for, if any.
    pub fn device_request(&self) -> Option<String> {
        self.ws.device_requests().try_recv().ok()
    }

    /// Tells every client the input now analysed, or why a switch failed.
    pub fn input_changed(&self, result: std::result::Result<String, String>) {
        match result {
            Ok(input) => self
                .ws
                .notify(serde_json::json!({ "input": input }), Some(input)),
            Err(e) => self.ws.notify(serde_json::json!({ "error": e }), None),
        }
    }

    /// Sends the final scores, closes the clients, and says what was done on stderr.
    pub fn stop(self, final_scores: Option<Scores>) {
        let stats = self.ws.stop(final_scores);
        eprintln!("mstag-live: {stats}");
        if let Some(p) = self.page {
            let (served, refused) = p.counts();
            eprintln!("mstag-live: page: {served} requests served, {refused} refused");
            p.stop();
        }
    }
}

/// `--ws`/`--http` options.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "WebSocket and browser page (see docs/BROWSER.md)")]
pub struct WebArgs {
    /// Serve the scores over a WebSocket on HOST:PORT (default 127.0.0.1:8765): one JSON
    /// message per round at --osc-rate (the --json schema), plus cue events
    #[arg(long, value_name = "HOST:PORT", num_args = 0..=1, default_missing_value = DEFAULT_WS_ADDR)]
    pub ws: Option<String>,
    /// Serve a page with live bars, a timeline and snippets on HOST:PORT (default
    /// 127.0.0.1:8080); starts the WebSocket too
    #[arg(long, value_name = "HOST:PORT", num_args = 0..=1,
          default_missing_value = mstag::output::ws::DEFAULT_HTTP_ADDR)]
    pub http: Option<String>,
    /// Clients connected at once (1 to 256); one more is refused
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub ws_max_clients: u16,
    /// Another origin (e.g. `http://192.168.1.20:8080`) whose controls (view, top N, device)
    /// are accepted besides the page's own; repeatable
    #[arg(long, value_name = "ORIGIN")]
    pub ws_allow_origin: Vec<String>,
}

impl WebArgs {
    /// Whether the WebSocket runs (`--ws`, or `--http`, which needs it).
    pub fn serves(&self) -> bool {
        self.ws.is_some() || self.http.is_some()
    }
}

/// What a client is told about the input when it connects: with a device as input, the
/// capture devices that can be opened now (ALSA plugins and unusable devices left out).
pub fn greeting(input: String, devices: bool) -> Greeting {
    use mstag::capture::device::{list_input_devices, DeviceKind};
    let devices = if devices {
        list_input_devices()
            .map(|all| {
                all.into_iter()
                    .filter(|d| d.kind() == DeviceKind::Capture && d.default_config.is_some())
                    .map(|d| (d.id, d.name))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    Greeting { input, devices }
}
