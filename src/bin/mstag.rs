//! `mstag`: offline tagging of files, device listing, and the live runner.

mod common;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use common::ViewArg;
use mstag::capture::device::DeviceKind;

use mstag::model::Manifest;
use mstag::offline::tag_files;
use mstag::output::{self, FileResult, Timeline};
use mstag::{TaggerConfig, TimelineOptions};

/// Streaming music auto-tagging after Lee & Nam (2017): multi-level, multi-scale CNN features.
#[derive(Parser, Debug)]
#[command(name = "mstag", version)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Song-level tags of audio files (all segments, per-segment max, mean: the paper's aggregate)
    Tag(TagArgs),
    /// List audio input devices (use the id or name with `mstag-live --input`)
    Devices {
        /// Also show what the audio libraries (ALSA, JACK) print while probing the devices
        #[arg(long, short)]
        verbose: bool,
    },
    /// Live tags (same as `mstag-live`)
    Live(common::LiveArgs),
    /// Song-level feature vectors of audio files (the paper's aggregate: per-segment max per
    /// level, mean over segments, all levels and scales), for heads and embeddings of your own
    Embed(common::embed::EmbedArgs),
    /// Train a head of your own labels on the song-level features (LABELS.csv: file,label)
    Learn(common::learn::LearnArgs),
    /// Check what inference needs: ONNX Runtime, its execution providers, and for CUDA each
    /// library and the driver, with the command that installs what is missing
    Doctor {
        #[arg(long, value_name = "PATH")]
        models: Option<PathBuf>,
    },
    /// Show the bundled models' manifest and check their files
    Info {
        #[arg(long, value_name = "PATH")]
        models: Option<PathBuf>,
    },
}

#[derive(Args, Debug)]
struct TagArgs {
    /// Audio files (WAV, FLAC, OGG, MP3)
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Entries listed per file in the table format (1 to 64)
    #[arg(long, default_value_t = 10, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    top: u16,
    /// Table format: list every tag. By default synonyms (no vocal, no vocals, no voice;
    /// classic, classical; ...) share one entry, shown under the group's first name with the
    /// group's highest score. JSON and CSV always have every tag
    #[arg(long)]
    all_tags: bool,
    /// Draw tag scores over time as a heat map (.png or .svg). With several files each gets
    /// its own, named after OUT and the file (tl.png, song.mp3: tl-song.png; -2, -3, ... are
    /// added when names repeat)
    #[arg(long, value_name = "OUT")]
    timeline: Option<PathBuf>,
    /// What a timeline column shows: the tags of the last `--window` seconds (window), of an
    /// exponential moving average with time constant `--ema` (ema), or of everything from the
    /// start (session)
    #[arg(long, value_enum, default_value = "window", requires = "timeline")]
    timeline_view: common::ViewArg,
    /// Seconds between timeline columns
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true,
          value_parser = common::positive_seconds, requires = "timeline")]
    timeline_step: f64,
    /// Files tagged in parallel (0 = all cores; at most 1024)
    #[arg(long, short, default_value_t = 0, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u16).range(0..=1024))]
    jobs: u16,
    /// No progress bar
    #[arg(long, short)]
    quiet: bool,
    /// A head of your own (a folder made by `mstag learn`), its scores beside the tags;
    /// repeat for several
    #[arg(long = "head", value_name = "DIR")]
    heads: Vec<PathBuf>,
    /// Segments of a scale run in one model call (1 to 1024): hundreds suit a GPU; scores
    /// equal those of one segment at a time within 1e-5
    #[arg(long, default_value_t = mstag::DEFAULT_BATCH as u16, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    batch: u16,
    #[command(flatten)]
    model: common::ModelArgs,
}

fn main() -> ExitCode {
    // Before any thread starts: it sets an environment variable (see the function).
    common::keep_ort_telemetry_off();
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let r = match cli.cmd {
        Cmd::Tag(args) => {
            if let Some(m) = matches.subcommand_matches("tag") {
                if let Err(msg) = check_view_options(&args, m) {
                    usage_error("tag", msg);
                }
            }
            tag(&args)
        }
        Cmd::Embed(args) => common::embed::run(&args),
        Cmd::Learn(args) => common::learn::run(&args),
        Cmd::Devices { verbose } => devices(verbose).map(|_| true),
        Cmd::Live(args) => common::run_live(&args).map(|_| true),
        Cmd::Info { models } => info(models).map(|_| true),
        Cmd::Doctor { models } => {
            let manifest = models.unwrap_or_else(mstag::model::default_manifest_path);
            let (text, _cuda) = common::doctor::report(&manifest);
            print!("{text}");
            Ok(true)
        }
    };
    match r {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("mstag: {}", common::messages::describe_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// Exits like clap does for a bad command line (usage, exit code 2).
fn usage_error(subcommand: &str, msg: String) -> ! {
    let mut cmd = Cli::command();
    cmd.build();
    let kind = clap::error::ErrorKind::ArgumentConflict;
    match cmd.find_subcommand_mut(subcommand) {
        Some(sub) => sub.error(kind, msg).exit(),
        None => cmd.error(kind, msg).exit(),
    }
}

/// `--window` and `--ema` shape views that `mstag tag` shows only in a timeline: refuse them
/// where they would change nothing.
fn check_view_options(a: &TagArgs, m: &ArgMatches) -> Result<(), String> {
    let given = |id: &str| m.value_source(id) == Some(ValueSource::CommandLine);
    let shown = a.timeline.as_ref().map(|_| a.timeline_view);
    let song = "(the song-level tags are the mean over the whole file, whatever the views)";
    if given("ema_tau") && shown != Some(ViewArg::Ema) {
        return Err(format!(
            "--ema sets the time constant of the EMA view, which `mstag tag` draws only in a \
             timeline: add `--timeline OUT.png --timeline-view ema` {song}"
        ));
    }
    if given("window") && shown != Some(ViewArg::Window) {
        return Err(format!(
            "--window sets the length of the sliding-window view, which `mstag tag` draws only \
             in a timeline: add `--timeline OUT.png` (its columns are that view unless \
             `--timeline-view` says otherwise) {song}"
        ));
    }
    Ok(())
}

/// The timeline's line under the title: what each column shows.
fn timeline_subtitle(a: &TagArgs) -> String {
    let what = match a.timeline_view {
        ViewArg::Window => format!("tags of the last {} s (--window)", a.model.window),
        ViewArg::Ema => format!(
            "tags of an exponential moving average, time constant {} s (--ema)",
            a.model.ema_tau
        ),
        ViewArg::Session => "tags of everything from the start (session)".to_string(),
    };
    format!("each column: {what}, every {} s", a.timeline_step)
}

/// The message for a file that failed, naming it once.
fn file_error(e: &mstag::Error, name: &str) -> String {
    let msg = common::messages::describe(e);
    // Errors name the file already when they come from decoding.
    if msg.contains(name) {
        msg
    } else {
        format!("{name}: {msg}")
    }
}

/// One line for stderr about the files that failed (their errors are in the output).
fn failure_summary(failed: &[String], total: usize) -> Option<String> {
    const SHOWN: usize = 5;
    if failed.is_empty() {
        return None;
    }
    let mut names = failed
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if failed.len() > SHOWN {
        names.push_str(&format!(" and {} more", failed.len() - SHOWN));
    }
    Some(format!(
        "{} of {total} file{} could not be tagged: {names} (the reasons are in the output)",
        failed.len(),
        if total == 1 { "" } else { "s" }
    ))
}

/// Each head's scores for a song's features (as the engine scores them live).
fn head_scores(heads: &mstag::head::HeadSet, features: &[f32]) -> Vec<output::HeadScores> {
    let mut all = vec![0.0; heads.n_labels()];
    heads.score_into(features, &mut all);
    heads
        .heads()
        .iter()
        .enumerate()
        .map(|(i, h)| output::HeadScores {
            name: h.name.clone(),
            labels: h.labels.clone(),
            scores: all[heads.range(i)].to_vec(),
        })
        .collect()
}

/// Returns Ok(false) when some file or timeline failed (the others are still reported).
fn tag(a: &TagArgs) -> Result<bool> {
    // Every output path is checked before any work.
    let timelines = match &a.timeline {
        Some(base) => Some(mstag::offline::timeline_paths(base, &a.files)?),
        None => None,
    };
    let manifest_path = a.model.manifest_path();
    let manifest = Manifest::load(&manifest_path)?;
    manifest.verify_files()?;
    let heads = mstag::head::HeadSet::load(&a.heads, &manifest)?;
    let config = TaggerConfig {
        manifest: manifest_path.clone(),
        device: a.model.device(),
        intra_threads: 1,
        pipeline: a.model.pipeline(),
        timeline: a.timeline.as_ref().map(|_| TimelineOptions {
            step_s: a.timeline_step,
            view: a.timeline_view.into(),
        }),
        windows: None,
        batch: a.batch.into(),
    };
    let bar = common::progress_bar(a.files.len(), a.quiet, "tagging");
    let tagger = mstag::Tagger::new(config)
        .with_context(|| format!("loading the models of {}", manifest_path.display()))?;
    common::say_placement(tagger.placement());
    let results = tag_files(tagger, &a.files, a.jobs.into(), &|_| bar.inc(1))?;
    bar.finish_and_clear();
    let subtitle = timeline_subtitle(a);
    let mut failed = Vec::new();
    let mut timelines_ok = true;
    let mut rows = Vec::new();
    for (k, (path, r)) in a.files.iter().zip(results).enumerate() {
        let name = path.display().to_string();
        match r {
            Ok(t) => {
                if let Some(out) = timelines.as_ref().and_then(|v| v.get(k)) {
                    let tl = Timeline {
                        hop_s: a.timeline_step,
                        tag_names: manifest.tags.clone(),
                        frames: t.timeline().iter().map(|(_, s)| s.clone()).collect(),
                        subtitle: Some(subtitle.clone()),
                    };
                    if tl.frames.is_empty() {
                        eprintln!("mstag: {name}: too short for a timeline");
                    } else if let Err(e) = tl.write(out, None) {
                        eprintln!("mstag: {e}");
                        timelines_ok = false;
                    } else if !a.quiet {
                        eprintln!("mstag: timeline of {name} written to {}", out.display());
                    }
                }
                rows.push(
                    FileResult::ok(name, Some(t.duration_s()), t.scores().to_vec())
                        .with_looped_scales(t.looped_scales().to_vec())
                        .with_device(t.device())
                        .with_heads(head_scores(&heads, t.features())),
                );
            }
            Err(e) => {
                rows.push(FileResult::failed(name.clone(), file_error(&e, &name)));
                failed.push(name);
            }
        }
    }
    let text = match a.format {
        Format::Table => output::to_table(&rows, &manifest.tags, a.top.into(), !a.all_tags),
        Format::Json => output::to_json(&rows, &manifest.tags),
        Format::Csv => output::to_csv(&rows, &manifest.tags),
    };
    print!("{text}");
    if let Some(line) = failure_summary(&failed, a.files.len()) {
        eprintln!("mstag: {line}");
    }
    Ok(failed.is_empty() && timelines_ok)
}

fn devices(verbose: bool) -> Result<()> {
    let list = {
        // ALSA and JACK report every device they fail to probe on stderr (a screenful on a
        // machine without a sound card); hide that while listing unless asked for.
        let _quiet = if verbose {
            None
        } else {
            gag::Gag::stderr().ok()
        };
        mstag::capture::device::list_input_devices()
    }?;
    let line = |d: &mstag::capture::DeviceInfo| {
        println!(
            "{}{}\t{}\t{}",
            if d.is_default { "* " } else { "  " },
            d.id,
            d.name,
            d.default_config
                .as_deref()
                .unwrap_or("(cannot be opened now)")
        )
    };
    let (capture, plugins): (Vec<_>, Vec<_>) =
        list.iter().partition(|d| d.kind() == DeviceKind::Capture);
    if capture.is_empty() {
        println!("no audio capture devices found");
    }
    capture.into_iter().for_each(line);
    if !plugins.is_empty() {
        println!();
        println!("not capture devices on their own (ALSA plugins: rate converters, mixers, effects, test devices):");
        plugins.into_iter().for_each(line);
    }
    Ok(())
}

fn info(models: Option<PathBuf>) -> Result<()> {
    let path = models.unwrap_or_else(mstag::model::default_manifest_path);
    let m = Manifest::load(&path)?;
    println!("manifest   {}", path.display());
    println!("name       {}", m.name);
    println!(
        "audio      {} Hz, FFT {}, hop {}, {} mel bands",
        m.sample_rate, m.frontend.n_fft, m.frontend.hop, m.frontend.n_mels
    );
    for s in &m.scales {
        println!(
            "scale      {}: {} frames every {}, levels {:?} ({})",
            s.name,
            s.frames,
            s.hop_frames,
            s.levels.iter().map(|l| l.width).collect::<Vec<_>>(),
            s.file
        );
    }
    println!(
        "classifier {} features -> {} tags ({})",
        m.classifier.input_dim,
        m.tags.len(),
        m.classifier.file
    );
    match m.verify_files() {
        Ok(()) => println!("checksums  ok"),
        Err(e) => println!("checksums  FAILED: {e}"),
    }
    match mstag::model::runtime::library_path() {
        Ok(p) => println!("runtime    {}", p.display()),
        Err(e) => println!("runtime    {e}"),
    }
    Ok(())
}
