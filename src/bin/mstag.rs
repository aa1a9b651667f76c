//! `mstag`: offline tagging of files, device listing, and the live runner.

mod common;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use mstag::model::Manifest;
use mstag::offline::{tag_files, TagOptions};
use mstag::output::{self, FileResult, Timeline};

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
    Tag {
        /// Audio files (WAV, FLAC, OGG, MP3)
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Tags listed per file in the table format
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Draw tag scores over time as a heat map (.png or .svg); with several files the
        /// file's name is added before the extension
        #[arg(long, value_name = "OUT")]
        timeline: Option<PathBuf>,
        /// Seconds between timeline columns
        #[arg(long, default_value_t = 1.0, value_parser = common::positive_seconds)]
        timeline_step: f64,
        /// Files tagged in parallel (default: all cores)
        #[arg(long, short, default_value_t = 0)]
        jobs: usize,
        /// No progress bar
        #[arg(long, short)]
        quiet: bool,
        #[command(flatten)]
        model: common::ModelArgs,
    },
    /// List audio input devices (use the id or name with `mstag-live --input`)
    Devices,
    /// Live tags (same as `mstag-live`)
    Live(common::LiveArgs),
    /// Show the bundled models' manifest and check their files
    Info {
        #[arg(long, value_name = "PATH")]
        models: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    // Before any thread starts: it sets an environment variable (see the function).
    mstag::model::runtime::opt_out_of_telemetry();
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Tag {
            files,
            format,
            top,
            timeline,
            timeline_step,
            jobs,
            quiet,
            model,
        } => tag(
            &files,
            format,
            top,
            timeline.as_deref(),
            timeline_step,
            jobs,
            quiet,
            &model,
        ),
        Cmd::Devices => devices().map(|_| true),
        Cmd::Live(args) => common::run_live(&args).map(|_| true),
        Cmd::Info { models } => info(models).map(|_| true),
    };
    match r {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("mstag: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn timeline_path(base: &Path, file: &Path, several: bool) -> PathBuf {
    if !several {
        return base.to_path_buf();
    }
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = base
        .extension()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    base.with_file_name(format!("{stem}-{name}.{ext}"))
}

/// Returns Ok(false) when some file failed (the others are still reported).
#[allow(clippy::too_many_arguments)]
fn tag(
    files: &[PathBuf],
    format: Format,
    top: usize,
    timeline: Option<&Path>,
    timeline_step: f64,
    jobs: usize,
    quiet: bool,
    model: &common::ModelArgs,
) -> Result<bool> {
    if let Some(t) = timeline {
        output::timeline::ImageFormat::from_path(t)?;
    }
    let manifest_path = model.manifest_path();
    let manifest = Manifest::load(&manifest_path)?;
    manifest.verify_files()?;
    let opts = TagOptions {
        pipeline: model.pipeline(),
        timeline_step_s: timeline.map(|_| timeline_step),
        device: model.device(),
        jobs,
    };
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new(files.len() as u64);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} tagging [{bar:30}] {pos}/{len} files {elapsed_precise} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        b
    };
    let results = tag_files(&manifest, files, &opts, &|_| bar.inc(1))
        .with_context(|| format!("loading the models of {}", manifest_path.display()))?;
    bar.finish_and_clear();
    let mut ok = true;
    let mut rows = Vec::new();
    for (path, r) in files.iter().zip(results) {
        let name = path.display().to_string();
        match r {
            Ok(t) => {
                if let Some(base) = timeline {
                    let out = timeline_path(base, path, files.len() > 1);
                    let tl = Timeline {
                        hop_s: timeline_step,
                        tag_names: manifest.tags.clone(),
                        frames: t.timeline.iter().map(|(_, s)| s.clone()).collect(),
                    };
                    if tl.frames.is_empty() {
                        eprintln!("mstag: {name}: too short for a timeline");
                    } else if let Err(e) = tl.write(&out, None) {
                        eprintln!("mstag: {e}");
                        ok = false;
                    } else if !quiet {
                        eprintln!("mstag: timeline of {name} written to {}", out.display());
                    }
                }
                rows.push(FileResult::ok(name, Some(t.duration_s), t.scores));
            }
            Err(e) => {
                ok = false;
                let msg = e.to_string();
                // Errors name the file already when they come from decoding.
                let msg = if msg.contains(&name) {
                    msg
                } else {
                    format!("{name}: {msg}")
                };
                if format == Format::Table {
                    eprintln!("mstag: {msg}");
                }
                rows.push(FileResult::failed(name, msg));
            }
        }
    }
    let text = match format {
        Format::Table => output::to_table(&rows, &manifest.tags, top),
        Format::Json => output::to_json(&rows, &manifest.tags),
        Format::Csv => output::to_csv(&rows, &manifest.tags),
    };
    print!("{text}");
    Ok(ok)
}

fn devices() -> Result<()> {
    let list = mstag::capture::device::list_input_devices()?;
    if list.is_empty() {
        println!("no audio input devices found");
    }
    for d in list {
        println!(
            "{}{}\t{}\t{}",
            if d.is_default { "* " } else { "  " },
            d.id,
            d.name,
            d.default_config.unwrap_or_default()
        );
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
