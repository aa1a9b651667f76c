//! `mstag`: offline tagging of files, device listing, and the live runner.

mod common;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use common::tag::{check_view_options, tag, TagArgs};
use mstag::capture::device::DeviceKind;
use mstag::model::Manifest;

/// Streaming music auto-tagging after Lee & Nam (2017): multi-level, multi-scale CNN features.
#[derive(Parser, Debug)]
#[command(name = "mstag", version)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Song-level tags of audio files and folders (all segments, per-segment max, mean: the
    /// paper's aggregate)
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
