//! Helpers for driving the plugin object like nice-plug's wrappers do.
#![allow(dead_code)]

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use assert_no_alloc::assert_no_alloc;
use mstag::engine::Scores;
use mstag_plugin::Mstag;
use nice_plug::prelude::*;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The test executable is not a bundle: point the plugin at the source tree's models and
/// ONNX Runtime (`cargo xtask setup`).
pub fn use_source_tree_data() {
    let lib = root().join(".ort/lib/libonnxruntime.so.1.31.1");
    assert!(
        lib.is_file(),
        "{} missing: run `cargo xtask setup`",
        lib.display()
    );
    // Edition 2021: set_var is safe; every test sets the same values.
    std::env::set_var("MSTAG_MODELS", root().join("models"));
    std::env::set_var("ORT_DYLIB_PATH", lib);
}

/// The demo clip (mono 22.05 kHz) as a stereo pair at `rate`, the right channel a little
/// quieter so that the channels differ.
pub fn demo_stereo(rate: u32) -> (Vec<f32>, Vec<f32>) {
    let (samples, sr, ch) =
        mstag::decode::decode_all(&root().join("models/demo/demo.wav")).unwrap();
    assert_eq!(ch, 1);
    let mut r = mstag::dsp::StreamResampler::new(sr, rate).unwrap();
    let mut out = Vec::new();
    r.push(&samples, &mut out).unwrap();
    r.finish(&mut out).unwrap();
    let right = out.iter().map(|x| x * 0.5).collect();
    (out, right)
}

/// Most events one [`Ctx`] keeps; more are refused as a full host queue would.
pub const EVENT_CAPACITY: usize = 1 << 16;

/// What `process()` is given: a transport, and an output event queue that keeps the events
/// (stamped with their frame in the whole stream) in room reserved up front, so that sending
/// never allocates.
pub struct Ctx {
    pub transport: Transport,
    /// The events the plugin sent: (frame of the stream, event).
    pub sent: Vec<(u64, PluginNoteEvent<Mstag>)>,
    /// The stream frame of the current block's first frame.
    pub block_start: u64,
}

impl Ctx {
    pub fn new(rate: f32) -> Ctx {
        Ctx {
            transport: Transport::new(rate),
            sent: Vec::with_capacity(EVENT_CAPACITY),
            block_start: 0,
        }
    }
}

impl ActivateContext<Mstag> for Ctx {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Clap
    }
    fn execute(&self, _task: ()) {}
    fn set_latency_samples(&self, _samples: u32) {}
    fn set_current_voice_capacity(&self, _capacity: u32) {}
}

impl ProcessContext<Mstag> for Ctx {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Clap
    }
    fn execute_background(&self, _task: ()) {}
    fn execute_gui(&self, _task: ()) {}
    fn transport(&self) -> &Transport {
        &self.transport
    }
    fn next_event(&mut self) -> Option<PluginNoteEvent<Mstag>> {
        None
    }
    fn try_send_event(
        &mut self,
        event: PluginNoteEvent<Mstag>,
    ) -> Result<
        (),
        (
            PluginNoteEvent<Mstag>,
            nice_plug::context::process::SendEventError,
        ),
    > {
        if self.sent.len() == self.sent.capacity() {
            return Err((
                event,
                nice_plug::context::process::SendEventError::HostBufferFull,
            ));
        }
        self.sent
            .push((self.block_start + event.timing() as u64, event));
        Ok(())
    }
    fn set_latency_samples(&self, _samples: u32) {}
    fn request_restart(&self) {}
    fn set_current_voice_capacity(&self, _capacity: u32) {}
}

pub fn layout(channels: u32) -> AudioIOLayout {
    AudioIOLayout {
        main_input_channels: NonZeroU32::new(channels),
        main_output_channels: NonZeroU32::new(channels),
        ..AudioIOLayout::const_default()
    }
}

pub fn activate(p: &mut Mstag, channels: u32, rate: f32, max_block: u32) {
    activate_mode(p, channels, rate, max_block, ProcessMode::Realtime)
}

pub fn activate_mode(p: &mut Mstag, channels: u32, rate: f32, max_block: u32, mode: ProcessMode) {
    let cfg = BufferConfig {
        sample_rate: rate,
        min_buffer_size: None,
        max_buffer_size: max_block,
        process_mode: mode,
    };
    let mut ctx = Ctx::new(rate);
    assert!(p.activate(&layout(channels), &cfg, &mut ctx));
    p.reset();
}

/// Runs `channels` through `process()` in blocks of `block` frames (with a `reset()` every
/// `reset_every` blocks, as some hosts do), asserting that nothing allocates and that the
/// output equals the input bit for bit.
pub fn play(p: &mut Mstag, channels: &[&[f32]], block: usize, reset_every: usize) {
    play_with(p, &mut Ctx::new(48_000.0), channels, block, reset_every);
}

/// [`play`] with the caller's context, which keeps what the plugin sends; its `block_start`
/// goes on from where it was.
pub fn play_with(
    p: &mut Mstag,
    ctx: &mut Ctx,
    channels: &[&[f32]],
    block: usize,
    reset_every: usize,
) {
    let mut work: Vec<Vec<f32>> = channels.iter().map(|_| vec![0.0; block.max(1)]).collect();
    let len = channels[0].len();
    let mut start = 0;
    let mut n_block = 0;
    while start < len {
        let n = block.min(len - start);
        for (w, c) in work.iter_mut().zip(channels) {
            w[..n].copy_from_slice(&c[start..start + n]);
        }
        {
            let slices: Vec<&mut [f32]> = work.iter_mut().map(|w| &mut w[..n]).collect();
            let mut buffer = Buffer::default();
            // SAFETY: the slices outlive `buffer`, which is dropped at the end of this block.
            unsafe { buffer.set_slices(n, |s| *s = slices) };
            let mut aux = AuxiliaryBuffers {
                inputs: &mut [],
                outputs: &mut [],
            };
            assert_no_alloc(|| {
                p.process(&mut buffer, &mut aux, ctx);
                if reset_every > 0 && n_block % reset_every == 0 {
                    p.reset();
                }
            });
        }
        for (w, c) in work.iter().zip(channels) {
            assert!(
                w[..n]
                    .iter()
                    .zip(&c[start..start + n])
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "output differs from input in block {n_block}"
            );
        }
        start += n;
        ctx.block_start += n as u64;
        n_block += 1;
    }
}

pub fn scores(p: &Mstag) -> Option<Scores> {
    p.shared().snapshot().scores
}

/// Waits until the engine has caught up with `t` seconds of audio: scores published for at
/// least `t - 0.6` s (a segment completes a few hundred ms before the end of what was fed, and
/// the resampler holds back up to one chunk) and no new update for 300 ms.
pub fn wait_for(p: &Mstag, t: f64) -> Scores {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last: Option<(Scores, Instant)> = None;
    loop {
        if let Some(s) = scores(p) {
            if s.t >= t - 0.6 {
                match &last {
                    Some((prev, since)) if prev.seq == s.seq => {
                        if since.elapsed() > Duration::from_millis(300) {
                            return s;
                        }
                    }
                    _ => last = Some((s, Instant::now())),
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "no scores for {t} s of audio: {:?}, last {:?}",
            p.shared().snapshot().state,
            scores(p).map(|s| s.t)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
