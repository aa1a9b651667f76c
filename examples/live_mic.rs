//! Live tags from the default microphone, printed as they change; Ctrl-C to stop.
//!
//! ```sh
//! cargo run --release --example live_mic            # the default input device
//! cargo run --release --example live_mic -- "USB"   # a device by name (see `mstag devices`)
//! ```
//!
//! The device is watched by a [`Supervisor`]: when it is unplugged or its server dies, the
//! last scores stay, and it is reopened when it comes back.

use std::time::Duration;

use mstag::capture::Supervisor;
use mstag::engine::{Engine, EngineConfig, View};
use mstag::model::{default_manifest_path, Device, ModelSet};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let device = std::env::args().nth(1).unwrap_or_else(|| "mic".to_string());
    let models = ModelSet::load(&default_manifest_path(), Device::Cpu, 1)?;
    let tags = models.manifest.tags.clone();
    let (mut input, ring) = Supervisor::open(&device, 4.0)?;
    let engine = Engine::builder(models, ring, input.sample_rate())
        .config(EngineConfig::default())
        .updates(64)
        .start()?;
    let updates = engine.updates().ok_or("asked for updates")?.clone();
    eprintln!("listening to {device}; Ctrl-C to stop");
    loop {
        if let Some(event) = input.poll(&engine) {
            eprintln!("input: {event:?}");
        }
        match updates.recv_timeout(Duration::from_millis(50)) {
            Ok(scores) => {
                let top: Vec<String> = scores
                    .top(View::Window, 3)
                    .into_iter()
                    .map(|i| format!("{} {:.2}", tags[i], scores.view(View::Window)[i]))
                    .collect();
                println!("{:7.1} s  {}", scores.t, top.join("  "));
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        }
    }
    input.release();
    Ok(())
}
