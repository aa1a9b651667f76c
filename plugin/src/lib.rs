//! mstag as a CLAP and VST3 plugin (nice-plug): an analyzer that passes audio through
//! untouched and tags what it hears, live.
//!
//! * `process()` leaves the buffer as the host gave it (bit-exact pass-through, mono or
//!   stereo) and copies a mono mix into the engine's lock-free ring ([`feed::AudioFeed`]): no
//!   allocation, lock, log or system call. (Only in offline rendering, where the host is not
//!   a real-time thread, does a push wait for room in the ring instead of dropping.)
//! * Each instance owns one inference thread ([`mstag::engine::Engine`]), started at the first
//!   activation with the host's sample rate (the models are loaded once per instance, ONNX
//!   Runtime with one thread per session) and stopped when the instance is destroyed.
//! * The running averages survive `reset()`, start/stop of processing, re-activation for a new
//!   buffer size and transport jumps; a new sample rate only rebuilds the resampler
//!   ([`mstag::engine::Engine::set_input_rate`]). Only the editor's reset button forgets the
//!   session.
//! * The editor ([`editor`], resizable) reads scores from the inference thread's `Latest`;
//!   read-only meter parameters ([`params`]) and OSC ([`mstag::output::OscSender`]) give them
//!   to the host and to other programs. Its settings and size are saved with the project
//!   ([`settings`]); a new window or EMA length reconfigures the running engine
//!   ([`mstag::engine::Engine::set_view_lengths`]), keeping the session.
//! * With MIDI on, `process()` also sends the calibrated scores of the best N or chosen tags as
//!   MIDI CCs ([`midi`], docs/MIDI.md): at most 30 rounds a second of audio time, a CC only
//!   when its value changed, the scores and settings read from triple buffers (wait-free),
//!   nothing allocated.
//! * Models and ONNX Runtime are found beside the plugin binary ([`locate`]); when they are
//!   missing the editor and the log say so and audio still passes through.
//! * Once an instance has existed, the library stays loaded until the host exits ([`pin`]):
//!   unloading it would leave the host's threads with destructors whose code is gone.

use std::num::NonZeroU32;
use std::sync::Arc;

use nice_plug::prelude::*;

pub mod bars;
pub mod editor;
pub mod feed;
pub mod instance;
pub mod locate;
pub mod midi;
pub mod midi_row;
pub mod params;
pub mod pin;
pub mod settings;

use feed::AudioFeed;
use instance::Shared;
use midi::MidiOut;
use params::MstagParams;

pub struct Mstag {
    params: Arc<MstagParams>,
    shared: Arc<Shared>,
    /// The audio side of the engine's ring (exists once the engine runs).
    feed: Option<AudioFeed>,
    /// Whether the engine runs at the current sample rate.
    analyse: bool,
    /// MIDI CC output (the audio thread's side).
    midi: MidiOut,
}

impl Default for Mstag {
    fn default() -> Self {
        // Before any of our code runs on the host's threads for this instance.
        pin::pin_library();
        let (shared, midi) = Shared::new();
        Mstag {
            params: shared.params.clone(),
            shared,
            feed: None,
            analyse: false,
            midi,
        }
    }
}

impl Mstag {
    /// The instance's engine, OSC and status (for tests and the editor).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The real-time part of `process()`, on plain channel slices.
    #[inline]
    pub fn analyse(&mut self, channels: &[&mut [f32]]) {
        if let (Some(feed), true) = (self.feed.as_mut(), self.analyse) {
            feed.push_planar(channels);
        }
    }

    /// The MIDI part of `process()`: `send` gets each CC to send (timing within the block,
    /// channel 0-15, CC number, value 0-127) and says whether it went out.
    #[inline]
    pub fn send_midi(&mut self, frames: usize, send: impl FnMut(midi::CcMessage) -> bool) {
        self.midi.process(frames, send);
    }
}

impl Plugin for Mstag {
    const NAME: &'static str = "mstag";
    const VENDOR: &'static str = "mstag";
    // No public home page or contact address yet.
    const URL: &'static str = "";
    const EMAIL: &'static str = "";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(1),
            main_output_channels: NonZeroU32::new(1),
            ..AudioIOLayout::const_default()
        },
    ];

    // The calibrated scores as MIDI CCs (off unless enabled in the editor).
    const MIDI_OUTPUT: MidiConfig = MidiConfig::MidiCCs;

    type Editor = editor::MstagEditor;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(self.shared.clone())
    }

    fn activate(
        &mut self,
        _audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        _context: &mut impl ActivateContext<Self>,
    ) -> bool {
        let rate = buffer_config.sample_rate.round() as u32;
        let activation = self.shared.activate(rate);
        if let Some(feed) = activation.feed {
            self.feed = Some(feed);
        }
        self.analyse = activation.analyse;
        self.midi
            .activate(buffer_config.sample_rate, activation.calibration);
        if let Some(feed) = self.feed.as_mut() {
            // A bounce runs faster than real time: wait for the engine rather than drop.
            feed.set_wait_when_full(buffer_config.process_mode == ProcessMode::Offline);
        }
        // Even without models the plugin activates: it then passes audio through and says why
        // it does not analyse.
        true
    }

    /// Nothing to clear: the session (running averages) deliberately survives `reset()`, which
    /// some hosts call around every block. Real-time safe (does nothing).
    fn reset(&mut self) {}

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        // The host's input is already in `buffer` (nice-plug copies it there when the host
        // does not process in place); it is only read, so the output equals the input.
        self.analyse(buffer.as_slice_immutable());
        self.send_midi(buffer.samples(), |m| {
            let event = NoteEvent::MidiCC {
                timing: m.timing,
                channel: m.channel,
                cc: m.cc,
                value: m.value as f32 / 127.0,
            };
            context.try_send_event(event).is_ok()
        });
        ProcessStatus::Normal
    }
}

impl Drop for Mstag {
    fn drop(&mut self) {
        // The producer goes first, then the engine's thread is stopped and joined.
        self.feed = None;
        self.shared.shutdown();
    }
}

impl ClapPlugin for Mstag {
    const CLAP_ID: &'static str = "org.mstag.analyzer";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Live music auto-tagging (50 tags: instruments, genres, moods); audio passes through");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Analyzer,
        ClapFeature::Utility,
        ClapFeature::Stereo,
        ClapFeature::Mono,
    ];
}

impl Vst3Plugin for Mstag {
    const VST3_CLASS_ID: [u8; 16] = *b"mstagAnalyzer001";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Analyzer];
}

nice_export_clap!(Mstag);
nice_export_vst3!(Mstag);
