//! A minimal CLAP host (clack-host), shared by the examples and by `tests/plugin_clap.rs`:
//! load mstag from a `.clap` bundle, and play stereo audio through a started instance in
//! blocks, out of place, with every buffer allocated up front.

#![allow(dead_code)] // each user takes what it needs

use std::ffi::CString;
use std::path::Path;

use clack_host::prelude::*;

/// mstag's CLAP id.
pub const PLUGIN_ID: &[u8] = b"org.mstag.analyzer";

/// Loads the bundle at `clap` and finds mstag in it: the entry, mstag's id and its name.
pub fn load(clap: &Path) -> Result<(PluginEntry, CString, String), String> {
    // SAFETY: loading a plugin runs its code; this is our own plugin, loaded once per call.
    let entry = unsafe { PluginEntry::load(clap) }
        .map_err(|e| format!("{}: cannot load the bundle: {e}", clap.display()))?;
    let factory = entry
        .get_plugin_factory()
        .ok_or_else(|| format!("{}: no plugin factory", clap.display()))?;
    let descriptor = factory
        .plugin_descriptors()
        .find(|d| d.id().is_some_and(|id| id.to_bytes() == PLUGIN_ID))
        .ok_or_else(|| format!("{}: mstag is not in the bundle", clap.display()))?;
    let id = CString::from(descriptor.id().expect("checked above"));
    let name = descriptor
        .name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok((entry, id, name))
}

/// The host's own description.
pub fn host_info(name: &str) -> HostInfo {
    HostInfo::new(name, "mstag", "https://example.invalid", "1.0").expect("no NUL in the names")
}

/// Buffers for playing stereo audio through a started plugin one block at a time.
pub struct Player {
    in_l: Vec<f32>,
    in_r: Vec<f32>,
    out_l: Vec<f32>,
    out_r: Vec<f32>,
    inputs: AudioPorts,
    outputs: AudioPorts,
    events: EventBuffer,
    out_events: EventBuffer,
}

impl Player {
    /// For blocks of up to `max_block` frames.
    pub fn new(max_block: usize) -> Player {
        Player {
            in_l: vec![0.0; max_block],
            in_r: vec![0.0; max_block],
            out_l: vec![0.0; max_block],
            out_r: vec![0.0; max_block],
            inputs: AudioPorts::with_capacity(2, 1),
            outputs: AudioPorts::with_capacity(2, 1),
            events: EventBuffer::new(),
            out_events: EventBuffer::new(),
        }
    }

    /// One `process()` call with `left` and `right` (equal lengths, at most the block size)
    /// as the input; the outputs are first filled with NaN, so [`Player::output`] shows only
    /// what the plugin wrote. `steady_time` is the position of the block's first frame.
    pub fn process<H: HostHandlers>(
        &mut self,
        processor: &mut StartedPluginAudioProcessor<H>,
        left: &[f32],
        right: &[f32],
        steady_time: u64,
    ) -> Result<ProcessStatus, PluginInstanceError> {
        let n = left.len();
        assert!(
            n == right.len() && n <= self.in_l.len(),
            "block of {n} frames"
        );
        self.in_l[..n].copy_from_slice(left);
        self.in_r[..n].copy_from_slice(right);
        self.out_l[..n].fill(f32::NAN);
        self.out_r[..n].fill(f32::NAN);
        let inputs = self.inputs.with_input_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_input_only(
                [&mut self.in_l[..n], &mut self.in_r[..n]]
                    .into_iter()
                    .map(InputChannel::variable),
            ),
        }]);
        let mut outputs = self.outputs.with_output_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_output_only(
                [&mut self.out_l[..n], &mut self.out_r[..n]].into_iter(),
            ),
        }]);
        self.out_events.clear();
        processor.process(
            &inputs,
            &mut outputs,
            &InputEvents::from_buffer(&self.events),
            &mut OutputEvents::from_buffer(&mut self.out_events),
            Some(steady_time),
            None,
        )
    }

    /// The MIDI messages the plugin sent in the last block: (frame within the block, the three
    /// bytes).
    pub fn midi_out(&self) -> impl Iterator<Item = (u32, [u8; 3])> + '_ {
        self.out_events.iter().filter_map(|e| {
            let m = e.as_event::<clack_host::events::event_types::MidiEvent>()?;
            Some((m.header().time(), m.data()))
        })
    }

    /// The first `n` frames of the last block's output, left and right.
    pub fn output(&self, n: usize) -> (&[f32], &[f32]) {
        (&self.out_l[..n], &self.out_r[..n])
    }
}
