//! The live runner of `mstag-live` (and `mstag live`): input, engine, outputs, Ctrl-C.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::LiveArgs;
use mstag::calibration::{Calibration, Scale};
use mstag::capture::file::{FilePlayer, Pace};
use mstag::capture::{InputEvent, Supervisor};
use mstag::engine::{Delivery, Engine, EngineConfig, HeadLabels, InputFormat, Scores};
use mstag::head::HeadSet;
use mstag::model::ModelSet;
use mstag::output::{OscSender, Recorder, Rider, TerminalView};
use mstag::stream::RingConsumer;

enum Source {
    Device(Supervisor),
    File(FilePlayer),
}

impl Source {
    fn rate(&self) -> u32 {
        match self {
            Source::Device(d) => d.sample_rate(),
            Source::File(f) => f.sample_rate(),
        }
    }
    fn describe(&self) -> String {
        match self {
            Source::Device(d) => Source::describe_device(d),
            Source::File(f) => format!("file ({} Hz, {} ch)", f.sample_rate(), f.channels()),
        }
    }

    fn describe_device(d: &Supervisor) -> String {
        match d.stream() {
            Some(s) => format!(
                "device {} ({} Hz, {} ch)",
                s.device_name(),
                s.sample_rate(),
                s.channels()
            ),
            None => "device".to_string(),
        }
    }

    /// Stops the input on Ctrl-C. Dropping it drops the ring's producer: the engine drains
    /// what is left, publishes the final session scores and ends. A dead device may never let
    /// go of its stream (and so of the producer): then the engine is stopped instead.
    fn stop(mut self, engine: &Engine) {
        match &mut self {
            Source::File(f) => f.stop(),
            Source::Device(d) if d.is_lost() => engine.request_stop(),
            Source::Device(_) => {}
        }
        self.release();
    }

    /// Lets go of the input; a lost device's stream is released on a thread of its own.
    fn release(self) {
        if let Source::Device(d) = self {
            if let Some(event) = d.release() {
                report(&event);
            }
        }
    }
}

/// Says on stderr what happened to a live input device.
fn report(event: &InputEvent) {
    match event {
        InputEvent::Lost { device, why } => eprintln!(
            "mstag-live: input device {device} lost ({why}); keeping the last scores, reconnecting"
        ),
        InputEvent::Reconnected {
            device,
            rate,
            channels,
        } => eprintln!("mstag-live: reconnected to {device} ({rate} Hz, {channels} ch)"),
        InputEvent::Switched {
            device,
            rate,
            channels,
        } => eprintln!("mstag-live: switched to {device} ({rate} Hz, {channels} ch)"),
        // One line for the first failure and every tenth after it.
        InputEvent::RetryFailed { error, attempts } if attempts % 10 == 1 => {
            eprintln!("mstag-live: cannot reopen the input yet ({error}); retrying")
        }
        InputEvent::RetryFailed { .. } => {}
        InputEvent::ReleaseFailed { error } => {
            eprintln!("mstag-live: cannot release the old input ({error}); leaving it open")
        }
        other => eprintln!("mstag-live: {other:?}"),
    }
}

fn looks_like_file(input: &str) -> bool {
    let p = Path::new(input);
    p.exists()
        || p.extension().is_some_and(|e| {
            matches!(
                e.to_string_lossy().to_ascii_lowercase().as_str(),
                "wav"
                    | "flac"
                    | "ogg"
                    | "oga"
                    | "mp3"
                    | "m4a"
                    | "aif"
                    | "aiff"
                    | "caf"
                    | "mkv"
                    | "webm"
            )
        })
}

/// One `mstag-live --json` line; `is_final` marks the last one (the song-level result).
pub fn json_line(
    tags: &[String],
    heads: &[HeadLabels],
    s: &Scores,
    is_final: bool,
    scale: Scale,
) -> String {
    mstag::output::json::LiveLine::new(tags, s, is_final)
        .with_heads(heads)
        .with_scale(scale)
        .to_json()
}

/// `s` with the tags of every view calibrated (`--scale calibrated`), or as it is.
pub fn scaled(s: &Scores, calibration: Option<&Calibration>) -> Scores {
    let mut out = *s;
    if let Some(c) = calibration {
        let n = s.n_tags;
        c.apply(&s.session[..n], &mut out.session[..n]);
        c.apply(&s.window[..n], &mut out.window[..n]);
        c.apply(&s.ema[..n], &mut out.ema[..n]);
    }
    out
}

/// Frames a device callback is assumed to deliver at most when `--ring` is checked (the
/// period is only known once audio flows; ALSA's default is 512).
const DEVICE_CALLBACK_FRAMES: usize = 2048;

/// Updates the engine may queue for the terminal, JSON or OSC output before it skips some
/// (the output thread reads them every 50 ms at most).
const UPDATES_CAPACITY: usize = 4096;

/// Refuses a `--ring` too small to hold one callback of the source plus what the engine
/// needs ([`mstag::engine::min_ring_seconds`]): in real time it would drop most of the input.
fn check_ring(args: &LiveArgs, source: &Source, cfg: &EngineConfig) -> Result<()> {
    let (callback, real_time, needs) = match source {
        Source::Device(_) => (
            DEVICE_CALLBACK_FRAMES,
            true,
            format!("a device callback of up to {DEVICE_CALLBACK_FRAMES} frames, "),
        ),
        Source::File(_) if args.fast => (0, false, String::new()),
        Source::File(_) => {
            let block = mstag::capture::file::REALTIME_BLOCK_FRAMES;
            (
                block,
                true,
                format!("the file player's block of {block} frames, "),
            )
        }
    };
    let min = mstag::engine::min_ring_seconds(source.rate(), callback, cfg, real_time);
    if args.ring < min {
        bail!(
            "--ring {}: too small for {} at {} Hz; at least {:.3} s are needed ({needs}\
             the inference thread's {}-frame block{})",
            args.ring,
            source.describe(),
            source.rate(),
            (min * 1000.0).ceil() / 1000.0,
            cfg.block_frames,
            if real_time {
                " and the longest it sleeps between segments"
            } else {
                ""
            }
        );
    }
    Ok(())
}

/// Runs the live path until the input ends, `--duration` is reached, or Ctrl-C.
pub fn run_live(args: &LiveArgs) -> Result<()> {
    args.osc
        .check_used(args.web.ws.is_some() || args.web.http.is_some())?;
    let osc_config = args.osc.config()?;
    let models = args.model.load(1)?;
    let tags = models.manifest.tags.clone();
    let heads = mstag::head::HeadSet::load(&args.heads, &models.manifest)?;
    let head_labels = heads.labels();
    let calibration = match args.scale {
        super::ScaleArg::Raw => None,
        super::ScaleArg::Calibrated => Some(models.manifest.calibration().with_context(|| {
            format!(
                "--scale calibrated: the models of {} have no calibration (per-tag quantiles in the manifest)",
                models.manifest.path.display()
            )
        })?),
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
            .context("installing the Ctrl-C handler")?;
    }
    let (source, ring) = open_source(args)?;
    let (engine, updates, recording) = start_engine(args, models, heads, &source, ring)?;
    // With the WebSocket on too, OSC rides on its thread (the same rate): one wake-up a round
    // for both.
    let mut riders: Vec<Box<dyn Rider>> = Vec::new();
    let osc = match osc_config {
        Some(c) => {
            let latest = engine.latest();
            let cal = calibration.clone();
            let source = Box::new(move || scaled(&latest.get(), cal.as_ref()));
            let log = Box::new(|e: &mstag::output::OscEvent| eprintln!("mstag-live: {e}"));
            if args.web.serves() {
                let (sender, rider) = OscSender::start_riding(c, &tags, &head_labels, source, log)?;
                riders.push(Box::new(rider));
                Some(sender)
            } else {
                Some(OscSender::start_with_heads(
                    c,
                    &tags,
                    &head_labels,
                    source,
                    log,
                )?)
            }
        }
        None => None,
    };
    let web = super::web::Web::start(
        args,
        &engine,
        &tags,
        &head_labels,
        calibration.as_ref(),
        super::web::greeting(source.describe(), matches!(source, Source::Device(_))),
        riders,
    )?;
    if !args.json {
        eprintln!(
            "mstag-live: {} → {} tags; Ctrl-C to stop",
            source.describe(),
            tags.len()
        );
    }
    let mut printer = Printer::new(args, tags, head_labels, calibration.clone());
    follow(
        &engine,
        &updates,
        source,
        &interrupted,
        &mut printer,
        web.as_ref(),
    )?;
    let summary = engine.join()?;
    // The WebSocket first: OSC may ride on its thread.
    if let Some(web) = web {
        let last = summary
            .final_scores
            .as_ref()
            .map(|f| scaled(f, calibration.as_ref()));
        web.stop(last);
    }
    if let Some(osc) = osc {
        eprintln!("mstag-live: {}", osc.stop());
    }
    // The last line or frame is always the final (song-level) scores, drawn whatever the
    // throttle skipped before.
    if let Some(f) = summary.final_scores {
        printer.print_final(&f)?;
    }
    if let Some(rec) = &recording {
        finish_recording(rec);
    }
    eprintln!(
        "mstag-live: {:.1} s of audio, {} segments ({} silent), {} frames dropped, {} updates skipped",
        summary.seconds, summary.segments, summary.silent_segments, summary.dropped_frames, summary.skipped_updates
    );
    if let Some(reason) = summary.no_scores_reason {
        // The same message and exit code as `mstag tag` for input that yields no scores.
        return Err(mstag::Error::NoScores {
            path: Some(args.input.clone().into()),
            reason,
        }
        .into());
    }
    Ok(())
}

/// Opens `--input`: a file played through the ring, or a device under a [`Supervisor`].
fn open_source(args: &LiveArgs) -> Result<(Source, RingConsumer)> {
    let is_file = looks_like_file(&args.input) && !matches!(args.input.as_str(), "mic" | "default");
    if args.fast && !is_file {
        bail!(
            "--fast only applies to a file input (got --input {})",
            args.input
        );
    }
    if is_file {
        let pace = if args.fast {
            Pace::Fast
        } else {
            Pace::RealTime
        };
        let (p, ring) = FilePlayer::start(Path::new(&args.input), pace, args.ring)
            .with_context(|| format!("opening {}", args.input))?;
        Ok((Source::File(p), ring))
    } else {
        let (s, ring) = Supervisor::open(&args.input, args.ring)?;
        Ok((Source::Device(s), ring))
    }
}

/// Starts the engine on `ring` (with the `--record` tap when asked for); returns it, its
/// updates, and the recording.
fn start_engine(
    args: &LiveArgs,
    models: ModelSet,
    heads: HeadSet,
    source: &Source,
    ring: RingConsumer,
) -> Result<(Engine, Receiver<Scores>, Option<Recording>)> {
    let rate = source.rate();
    let cfg = EngineConfig {
        pipeline: args.model.pipeline(),
        delivery: if args.fast {
            Delivery::Lossless
        } else {
            Delivery::Lossy
        },
        max_input_s: args.duration,
        ..EngineConfig::default()
    };
    check_ring(args, source, &cfg)?;
    let channels = ring.channels();
    let mut builder = Engine::builder(models, ring, rate)
        .config(cfg)
        .heads(heads)
        .updates(UPDATES_CAPACITY);
    let recording = match &args.record {
        Some(path) => {
            let (tap, rec) = recorder(path, InputFormat { rate, channels })?;
            builder = builder.tap(tap);
            Some(rec)
        }
        None => None,
    };
    let engine = builder.start()?;
    let updates = engine
        .updates()
        .context("the engine was started without its updates channel")?
        .clone();
    Ok((engine, updates, recording))
}

/// How long the main thread waits for an update before it looks at Ctrl-C, the device and
/// the page's requests again. Each look costs a wake-up and crossbeam's spin before it
/// sleeps again (about 14-20 µs of CPU on a virtual machine), so it is not shorter than a
/// person notices.
const FOLLOW_LOOK: Duration = Duration::from_millis(200);

/// Prints updates until the engine ends: watches the device, and on Ctrl-C lets go of the
/// input so that the engine drains what is left and publishes the final scores.
fn follow(
    engine: &Engine,
    updates: &Receiver<Scores>,
    source: Source,
    interrupted: &AtomicBool,
    printer: &mut Printer,
    web: Option<&super::web::Web>,
) -> Result<()> {
    let mut source = Some(source);
    loop {
        if let Some(name) = web.and_then(super::web::Web::device_request) {
            switch_device(&name, source.as_mut(), engine, web);
        }
        match updates.recv_timeout(FOLLOW_LOOK) {
            Ok(s) => printer.print(&s)?,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if let Some(Source::Device(d)) = source.as_mut() {
            if let Some(event) = d.poll(engine) {
                report(&event);
            }
        }
        // `--duration` is the engine's own limit (exact in seconds analysed, whatever the pace).
        if interrupted.load(Ordering::SeqCst) {
            if let Some(s) = source.take() {
                s.stop(engine);
            }
        }
    }
    // The engine may have ended by itself (`--duration`).
    if let Some(s) = source.take() {
        s.release();
    }
    Ok(())
}

/// A client of the page asked for another input device: switch (keeping the session) and
/// tell every client how it went.
fn switch_device(
    name: &str,
    source: Option<&mut Source>,
    engine: &Engine,
    web: Option<&super::web::Web>,
) {
    let result = match source {
        Some(Source::Device(d)) => match d.switch(name, engine) {
            Ok(event) => {
                report(&event);
                Ok(Source::describe_device(d))
            }
            Err(e) => Err(format!(
                "cannot switch to {name:?}: {}",
                mstag::error::report(&e)
            )),
        },
        Some(Source::File(_)) => Err("the input is a file: there is no device to switch".into()),
        None => Err("the input has already stopped".into()),
    };
    if let Err(e) = &result {
        eprintln!("mstag-live: {e}");
    }
    if let Some(w) = web {
        w.input_changed(result);
    }
}

/// Where updates go: one JSON line each, or the terminal view (redrawn at most every 100 ms).
struct Printer {
    json: bool,
    tags: Vec<String>,
    heads: Vec<HeadLabels>,
    calibration: Option<Calibration>,
    view: TerminalView,
    last_draw: Instant,
}

impl Printer {
    fn new(
        args: &LiveArgs,
        tags: Vec<String>,
        heads: Vec<HeadLabels>,
        calibration: Option<Calibration>,
    ) -> Printer {
        let view = TerminalView::new(
            tags.clone(),
            args.top as usize,
            args.view.into(),
            std::io::IsTerminal::is_terminal(&std::io::stdout()),
        )
        .with_all_tags(args.all_tags)
        .with_heads(heads.clone());
        Printer {
            json: args.json,
            tags,
            heads,
            calibration,
            view,
            last_draw: Instant::now() - Duration::from_secs(1),
        }
    }

    fn scale(&self) -> Scale {
        if self.calibration.is_some() {
            Scale::Calibrated
        } else {
            Scale::Raw
        }
    }

    fn print(&mut self, s: &Scores) -> Result<()> {
        let s = &scaled(s, self.calibration.as_ref());
        let mut out = std::io::stdout().lock();
        if self.json {
            writeln!(
                out,
                "{}",
                json_line(&self.tags, &self.heads, s, false, self.scale())
            )?;
        } else if self.last_draw.elapsed() >= Duration::from_millis(100) {
            self.view.draw(&mut out, s, "")?;
            self.last_draw = Instant::now();
        }
        Ok(())
    }

    /// The last line or frame: the song-level scores.
    fn print_final(&mut self, s: &Scores) -> Result<()> {
        let s = &scaled(s, self.calibration.as_ref());
        let mut out = std::io::stdout().lock();
        if self.json {
            writeln!(
                out,
                "{}",
                json_line(&self.tags, &self.heads, s, true, self.scale())
            )?;
        } else {
            self.view.draw(&mut out, s, "final")?;
        }
        Ok(())
    }
}

/// The recording behind `--record`: written by the engine's tap on the inference thread
/// (a new file if a reconnected device comes back in another format), read at the end.
type Recording = Arc<parking_lot::Mutex<Option<Recorder>>>;

/// Creates the recording (so a bad path fails before the session starts) and the tap that
/// feeds it.
fn recorder(path: &Path, format: InputFormat) -> Result<(mstag::engine::Tap, Recording)> {
    let recording: Recording = Arc::new(parking_lot::Mutex::new(Some(Recorder::create(
        path, format,
    )?)));
    let rec = recording.clone();
    let tap: mstag::engine::Tap = Box::new(move |block: &[f32], format: InputFormat| {
        if let Some(r) = rec.lock().as_mut() {
            r.write(block, format);
        }
    });
    Ok((tap, recording))
}

/// Finalises the recording and says where it went (and why it stopped, if it did).
fn finish_recording(recording: &Recording) {
    let Some(r) = recording.lock().take() else {
        return;
    };
    let (files, error) = r.finish();
    if files.len() > 1 {
        let list: Vec<String> = files
            .iter()
            .map(|(p, f)| format!("{} ({} Hz, {} ch)", p.display(), f.rate, f.channels))
            .collect();
        eprintln!(
            "mstag-live: the input changed format during the session; recorded to {}",
            list.join(", ")
        );
    }
    if let Some(err) = error {
        eprintln!("mstag-live: recording failed: {err}");
    }
}
