//! `mstag-live`: live tags from a microphone, an input device or a file.

mod common;

use clap::Parser;

/// Live music auto-tagging: audio in, tag scores out, as the music plays.
#[derive(Parser, Debug)]
#[command(name = "mstag-live", version)]
struct Cli {
    #[command(flatten)]
    live: common::LiveArgs,
}

fn main() -> std::process::ExitCode {
    // Before any thread starts: it sets an environment variable (see the function).
    common::keep_ort_telemetry_off();
    let cli = Cli::parse();
    match common::run_live(&cli.live) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mstag-live: {}", common::messages::describe_chain(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
