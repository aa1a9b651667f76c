//! Live capture from a sound-card input through cpal.
//!
//! [`open_input`] picks a device, builds a ring sized for it and starts a cpal input stream in
//! the device's own default configuration (any channel count, any rate): resampling and
//! down-mixing happen later, off the audio thread. The stream's data callback is
//! [`capture_callback`], which only copies (or converts) the samples into the ring's producer:
//! it never allocates, locks, logs or makes a system call. When the ring is full the frames that
//! do not fit are dropped and counted in the ring's [`RingStats`](crate::stream::RingStats).
//!
//! Stream errors reported by cpal are recorded in a lock-free [`StreamHealth`] that the owner
//! polls through [`InputStream::failed`] and [`InputStream::errors`].

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use std::sync::Arc;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{ErrorKind, SampleFormat, SizedSample};

use crate::error::{Error, Result};
use crate::stream::{ring, RingConsumer, RingProducer};

/// One input device as the default host reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Stable identifier, `host:device` (for example `alsa:hw:CARD=PCH,DEV=0`); accepted by
    /// [`open_input`].
    pub id: String,
    /// Human-readable name (the first line of the device's description).
    pub name: String,
    /// Whether this is the host's default input device.
    pub is_default: bool,
    /// The device's default input configuration, e.g. `"2 ch, 48000 Hz, f32"`, if it has one.
    pub default_config: Option<String>,
}

/// What an input device is, for listing real capture devices first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeviceKind {
    /// A sound card, the default route or a sound server (PulseAudio, PipeWire, JACK):
    /// something that delivers audio from outside.
    Capture,
    /// An ALSA plugin that is not a source on its own: rate converters, up/down-mixers,
    /// effects, OSS emulation, the `null` test device.
    Plugin,
}

/// ALSA device names (before any `:ARGS`) that capture real audio.
const ALSA_CAPTURE: &[&str] = &[
    "default",
    "sysdefault",
    "hw",
    "plughw",
    "front",
    "dsnoop",
    "pulse",
    "pipewire",
    "jack",
];

impl DeviceInfo {
    /// Whether this is a real capture device or an ALSA plugin; decided from the id (any
    /// device of a host other than ALSA, and any ALSA device on a card, is a capture device).
    pub fn kind(&self) -> DeviceKind {
        let Some(alsa) = self.id.strip_prefix("alsa:") else {
            return DeviceKind::Capture;
        };
        let base = alsa.split(':').next().unwrap_or_default();
        if ALSA_CAPTURE.contains(&base) || alsa.contains("CARD=") {
            DeviceKind::Capture
        } else {
            DeviceKind::Plugin
        }
    }
}

impl std::fmt::Display for DeviceInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}  \"{}\"", self.id, self.name)?;
        if let Some(cfg) = &self.default_config {
            write!(f, "  [{cfg}]")?;
        }
        if self.is_default {
            f.write_str("  (default)")?;
        }
        Ok(())
    }
}

/// Lists the input devices of cpal's default host: the default device first, then the
/// other capture devices, then ALSA plugins ([`DeviceInfo::kind`]), each group in the
/// host's order.
///
/// ALSA and JACK print diagnostics to stderr while devices are probed (a machine without a
/// sound card gets a screenful); they are harmless. `mstag devices` hides them.
///
/// # Errors
/// [`Error::Device`] if the host cannot enumerate its devices.
pub fn list_input_devices() -> Result<Vec<DeviceInfo>> {
    let host = cpal::default_host();
    let default = host.default_input_device();
    let default_id = default.as_ref().map(|d| describe(d).id);
    let devices = host.input_devices().map_err(|e| Error::Device {
        reason: format!("cannot list input devices of host {}", host.id().name()),
        source: Some(Box::new(e)),
    })?;
    let mut all: Vec<cpal::Device> = devices.collect();
    // Some hosts (ALSA) do not enumerate their default device; show it anyway, first, since
    // it is what "mic" opens.
    if let (Some(d), Some(id)) = (default, default_id.as_deref()) {
        if !all.iter().any(|x| describe(x).id == id) {
            all.insert(0, d);
        }
    }
    let mut list: Vec<DeviceInfo> = all
        .iter()
        .map(|d| {
            let info = describe(d);
            DeviceInfo {
                is_default: default_id.as_deref() == Some(info.id.as_str()),
                default_config: d.default_input_config().ok().map(|c| {
                    format!(
                        "{} ch, {} Hz, {}",
                        c.channels(),
                        c.sample_rate(),
                        c.sample_format()
                    )
                }),
                ..info
            }
        })
        .collect();
    // A stable sort keeps the host's order within each group.
    list.sort_by_key(|d| (!d.is_default, d.kind()));
    Ok(list)
}

/// Id and name of a device, without probing its configuration.
fn describe(d: &cpal::Device) -> DeviceInfo {
    let id = d
        .id()
        .map(|id| id.to_string())
        .unwrap_or_else(|_| d.to_string());
    let name = d
        .description()
        .map(|desc| desc.name().to_string())
        .unwrap_or_else(|_| d.to_string());
    DeviceInfo {
        id,
        name,
        is_default: false,
        default_config: None,
    }
}

/// A sample type a device may deliver, and how it becomes `f32` in `[-1, 1]`.
///
/// Integer types are scaled by `1 / 2^(bits-1)` (unsigned ones are centred first), matching
/// the scaling the file decoder uses, so a live stream and a file of the same audio agree.
pub trait CaptureSample: Copy + Send + 'static {
    /// Converts one sample.
    fn to_f32(self) -> f32;

    /// Pushes interleaved samples into the ring, converting as needed; returns frames pushed
    /// (the rest are dropped and counted). Real-time safe.
    #[inline]
    fn push_into(producer: &mut RingProducer, data: &[Self]) -> usize {
        producer.push_converted(data, Self::to_f32)
    }
}

impl CaptureSample for f32 {
    #[inline]
    fn to_f32(self) -> f32 {
        self
    }
    /// `f32` needs no conversion: a straight copy.
    #[inline]
    fn push_into(producer: &mut RingProducer, data: &[f32]) -> usize {
        producer.push_interleaved(data)
    }
}

impl CaptureSample for f64 {
    #[inline]
    fn to_f32(self) -> f32 {
        self as f32
    }
}

impl CaptureSample for i8 {
    #[inline]
    fn to_f32(self) -> f32 {
        self as f32 * (1.0 / 128.0)
    }
}

impl CaptureSample for i16 {
    #[inline]
    fn to_f32(self) -> f32 {
        self as f32 * (1.0 / 32_768.0)
    }
}

impl CaptureSample for i32 {
    #[inline]
    fn to_f32(self) -> f32 {
        self as f32 * (1.0 / 2_147_483_648.0)
    }
}

impl CaptureSample for u8 {
    #[inline]
    fn to_f32(self) -> f32 {
        (self as f32 - 128.0) * (1.0 / 128.0)
    }
}

impl CaptureSample for u16 {
    #[inline]
    fn to_f32(self) -> f32 {
        (self as f32 - 32_768.0) * (1.0 / 32_768.0)
    }
}

impl CaptureSample for u32 {
    #[inline]
    fn to_f32(self) -> f32 {
        ((self as f64 - 2_147_483_648.0) * (1.0 / 2_147_483_648.0)) as f32
    }
}

/// The body of the cpal data callback: pushes one buffer of interleaved device samples into
/// the ring. Returns the frames accepted; frames that do not fit are dropped and counted.
///
/// Real-time safe: no allocation, lock, logging or system call (see
/// `tests/audio_thread_alloc.rs`).
#[inline]
pub fn capture_callback<T: CaptureSample>(producer: &mut RingProducer, data: &[T]) -> usize {
    T::push_into(producer, data)
}

/// Error kinds in the order they are encoded in [`StreamHealth`] (index + 1; 0 = none).
const KINDS: [ErrorKind; 14] = [
    ErrorKind::DeviceBusy,
    ErrorKind::DeviceChanged,
    ErrorKind::DeviceNotAvailable,
    ErrorKind::HostUnavailable,
    ErrorKind::InvalidInput,
    ErrorKind::PermissionDenied,
    ErrorKind::RealtimeDenied,
    ErrorKind::ResourceExhausted,
    ErrorKind::StreamInvalidated,
    ErrorKind::UnsupportedConfig,
    ErrorKind::UnsupportedOperation,
    ErrorKind::Xrun,
    ErrorKind::BackendError,
    // Kept last: any kind cpal adds later is recorded as `Other`.
    ErrorKind::Other,
];

/// What the stream's error callback has seen, shared lock-free with the owner.
///
/// Written from cpal's audio/error thread with relaxed atomics only; read from anywhere.
#[derive(Debug, Default)]
pub struct StreamHealth {
    failed: AtomicBool,
    errors: AtomicU32,
    last_kind: AtomicU8,
}

impl StreamHealth {
    /// Records one stream error. Errors that end the stream (the device went away, the
    /// stream was invalidated, the host vanished) also set [`failed`](Self::failed). Lock- and
    /// allocation-free.
    #[inline]
    pub fn record(&self, kind: ErrorKind) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let code = KINDS
            .iter()
            .position(|k| *k == kind)
            .unwrap_or(KINDS.len() - 1)
            + 1;
        self.last_kind.store(code as u8, Ordering::Relaxed);
        if Self::is_fatal(kind) {
            self.failed.store(true, Ordering::Release);
        }
    }

    /// Whether an error of this kind means the stream delivers no more audio.
    pub fn is_fatal(kind: ErrorKind) -> bool {
        matches!(
            kind,
            ErrorKind::DeviceNotAvailable
                | ErrorKind::StreamInvalidated
                | ErrorKind::HostUnavailable
        )
    }

    /// The device was lost or the stream can no longer run; it must be reopened.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// Stream errors reported so far (including harmless ones such as overruns).
    pub fn errors(&self) -> u32 {
        self.errors.load(Ordering::Relaxed)
    }

    /// The kind of the most recent error, if any.
    pub fn last_error(&self) -> Option<ErrorKind> {
        match self.last_kind.load(Ordering::Relaxed) {
            0 => None,
            code => KINDS.get(code as usize - 1).copied(),
        }
    }
}

/// A running input stream. Keeps the cpal stream alive; dropping it stops capture (and drops
/// the ring's producer, so [`RingConsumer::producer_alive`] turns false).
pub struct InputStream {
    // Field order: the stream (which owns the producer) goes first.
    _stream: cpal::Stream,
    health: Arc<StreamHealth>,
    sample_rate: u32,
    channels: usize,
    sample_format: SampleFormat,
    device_name: String,
    device_id: String,
}

impl std::fmt::Debug for InputStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InputStream")
            .field("device_id", &self.device_id)
            .field("device_name", &self.device_name)
            .field("sample_rate", &self.sample_rate)
            .field("channels", &self.channels)
            .field("sample_format", &self.sample_format)
            .field("health", &self.health)
            .finish_non_exhaustive()
    }
}

impl InputStream {
    /// The device's sample rate in Hz (the rate of the samples in the ring).
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Interleaved channels per frame in the ring.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The device's sample format before conversion to `f32`.
    pub fn sample_format(&self) -> SampleFormat {
        self.sample_format
    }

    /// Human-readable device name.
    pub fn device_name(&self) -> &str {
        &self.device_name
    }

    /// The device's id (`host:device`).
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// The device was lost or the stream died: no more audio will arrive.
    pub fn failed(&self) -> bool {
        self.health.failed()
    }

    /// Stream errors reported by cpal so far (overruns included).
    pub fn errors(&self) -> u32 {
        self.health.errors()
    }

    /// The kind of the most recent stream error, if any.
    pub fn last_error(&self) -> Option<ErrorKind> {
        self.health.last_error()
    }

    /// The shared health record, for a thread that does not own the stream.
    pub fn health(&self) -> Arc<StreamHealth> {
        self.health.clone()
    }
}

/// Opens and starts capture from an input device.
///
/// `selector` is `"mic"` or `"default"` for the host's default input device, or a device id
/// (as listed by [`list_input_devices`], with or without the `host:` prefix) or name: an exact
/// match wins, then a case-insensitive exact match, then a unique case-insensitive substring
/// of the id or name.
///
/// The ring holds `ring_capacity_s` seconds at the device's rate and channel count.
///
/// # Errors
/// [`Error::InvalidSetting`] for a non-positive capacity; [`Error::Device`] (listing the
/// available devices) when nothing or more than one device matches, or when the device cannot
/// be configured or started; [`Error::AudioFormat`] when it only offers a sample format this
/// crate does not convert (24-bit packed or DSD).
pub fn open_input(selector: &str, ring_capacity_s: f64) -> Result<(InputStream, RingConsumer)> {
    if !(ring_capacity_s.is_finite() && ring_capacity_s > 0.0) {
        return Err(Error::InvalidSetting {
            name: "ring_capacity_s",
            value: ring_capacity_s.to_string(),
            reason: "must be a positive number of seconds".into(),
        });
    }
    let host = cpal::default_host();
    let device = select_device(&host, selector)?;
    let info = describe(&device);
    let dev_err = |what: &str, e: cpal::Error| Error::Device {
        reason: format!("{} ({}): {what}", info.name, info.id),
        source: Some(Box::new(e)),
    };

    let supported = device.default_input_config().map_err(|e| Error::Device {
        reason: format!(
            "{} ({}): no usable input configuration{}",
            info.name,
            info.id,
            available_list(&host)
        ),
        source: Some(Box::new(e)),
    })?;
    let config = supported.config();
    let sample_rate = config.sample_rate;
    let channels = usize::from(config.channels);
    if sample_rate == 0 || channels == 0 {
        return Err(Error::Device {
            reason: format!(
                "{} ({}): default input configuration has {channels} channels at {sample_rate} Hz",
                info.name, info.id
            ),
            source: None,
        });
    }
    let capacity_frames = (ring_capacity_s * sample_rate as f64).ceil().max(1.0) as usize;
    let (producer, consumer) = ring(channels, capacity_frames);
    let health = Arc::new(StreamHealth::default());

    let sample_format = supported.sample_format();
    let stream = match sample_format {
        SampleFormat::F32 => build::<f32>(&device, config, producer, &health),
        SampleFormat::I16 => build::<i16>(&device, config, producer, &health),
        SampleFormat::I32 => build::<i32>(&device, config, producer, &health),
        SampleFormat::U8 => build::<u8>(&device, config, producer, &health),
        SampleFormat::U16 => build::<u16>(&device, config, producer, &health),
        SampleFormat::I8 => build::<i8>(&device, config, producer, &health),
        SampleFormat::U32 => build::<u32>(&device, config, producer, &health),
        SampleFormat::F64 => build::<f64>(&device, config, producer, &health),
        other => {
            return Err(Error::AudioFormat {
                reason: format!(
                    "input device {} ({}) delivers {other} samples; supported: f32, f64, i8, i16, i32, u8, u16, u32",
                    info.name, info.id
                ),
            })
        }
    }
    .map_err(|e| dev_err("cannot open input stream", e))?;
    stream
        .play()
        .map_err(|e| dev_err("cannot start input stream", e))?;

    Ok((
        InputStream {
            _stream: stream,
            health,
            sample_rate,
            channels,
            sample_format,
            device_name: info.name,
            device_id: info.id,
        },
        consumer,
    ))
}

/// Builds the cpal input stream for sample type `T`. The data callback owns the producer and
/// does nothing but [`capture_callback`]; the error callback only touches atomics.
fn build<T: CaptureSample + SizedSample>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    mut producer: RingProducer,
    health: &Arc<StreamHealth>,
) -> std::result::Result<cpal::Stream, cpal::Error> {
    let health = health.clone();
    device.build_input_stream::<T, _, _>(
        config,
        move |data: &[T], _: &cpal::InputCallbackInfo| {
            capture_callback(&mut producer, data);
        },
        move |err: cpal::Error| health.record(err.kind()),
        None,
    )
}

/// Resolves a selector to a device (see [`open_input`]).
fn select_device(host: &cpal::Host, selector: &str) -> Result<cpal::Device> {
    let sel = selector.trim();
    if sel.eq_ignore_ascii_case("mic") || sel.eq_ignore_ascii_case("default") {
        return host.default_input_device().ok_or_else(|| Error::Device {
            reason: format!(
                "no default input device on host {}{}",
                host.id().name(),
                available_list(host)
            ),
            source: None,
        });
    }
    if sel.is_empty() {
        return Err(Error::Device {
            reason: format!("empty device selector{}", available_list(host)),
            source: None,
        });
    }

    let mut devices: Vec<(cpal::Device, DeviceInfo)> = host
        .input_devices()
        .map_err(|e| Error::Device {
            reason: format!("cannot list input devices of host {}", host.id().name()),
            source: Some(Box::new(e)),
        })?
        .map(|d| {
            let info = describe(&d);
            (d, info)
        })
        .collect();
    let infos: Vec<&DeviceInfo> = devices.iter().map(|(_, i)| i).collect();
    let index = match match_device(&infos, sel) {
        Ok(i) => i,
        Err(hits) if hits.is_empty() => {
            return Err(Error::Device {
                reason: format!(
                    "no input device matches \"{sel}\"{}",
                    format_list(infos.iter().copied())
                ),
                source: None,
            })
        }
        Err(hits) => {
            return Err(Error::Device {
                reason: format!(
                    "\"{sel}\" matches {} input devices; give the full id{}",
                    hits.len(),
                    format_list(hits.iter().map(|&i| infos[i]))
                ),
                source: None,
            })
        }
    };
    Ok(devices.swap_remove(index).0)
}

/// Finds the device a selector names: exact id (with or without the `host:` prefix) or name,
/// then the same case-insensitively, then a unique case-insensitive substring of id or name.
/// On failure returns the indices of the substring matches (empty: none; several: ambiguous).
fn match_device(infos: &[&DeviceInfo], sel: &str) -> std::result::Result<usize, Vec<usize>> {
    // The id without its "host:" prefix, as ALSA users know it ("hw:0,0").
    let local = |id: &str| {
        id.split_once(':')
            .map_or(id.to_string(), |(_, rest)| rest.to_string())
    };
    if let Some(i) = infos
        .iter()
        .position(|d| d.id == sel || local(&d.id) == sel || d.name == sel)
    {
        return Ok(i);
    }
    let lower = sel.to_lowercase();
    if let Some(i) = infos.iter().position(|d| {
        d.id.to_lowercase() == lower
            || local(&d.id).to_lowercase() == lower
            || d.name.to_lowercase() == lower
    }) {
        return Ok(i);
    }
    let hits: Vec<usize> = (0..infos.len())
        .filter(|&i| {
            infos[i].id.to_lowercase().contains(&lower)
                || infos[i].name.to_lowercase().contains(&lower)
        })
        .collect();
    match hits.as_slice() {
        [i] => Ok(*i),
        _ => Err(hits),
    }
}

/// "\n  available input devices: ..." for an error message.
fn available_list(host: &cpal::Host) -> String {
    match host.input_devices() {
        Ok(devs) => {
            let infos: Vec<DeviceInfo> = devs.map(|d| describe(&d)).collect();
            format_list(infos.iter())
        }
        Err(e) => format!("\n  (cannot list input devices: {e})"),
    }
}

fn format_list<'a>(infos: impl Iterator<Item = &'a DeviceInfo>) -> String {
    let lines: Vec<String> = infos
        .map(|i| format!("\n    {}  \"{}\"", i.id, i.name))
        .collect();
    if lines.is_empty() {
        "\n  (this host has no input devices)".to_string()
    } else {
        format!("\n  available input devices:{}", lines.concat())
    }
}

#[cfg(test)]
mod tests;
