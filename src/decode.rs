//! Streaming audio-file decoding (WAV, FLAC, OGG/Vorbis, MP3 and whatever else symphonia's
//! `all-formats`/`all-codecs` features bring) into interleaved `f32` samples.
//!
//! [`AudioFile`] decodes one packet at a time, so memory use does not grow with the file's
//! length. Every error names the file and says what is wrong with it:
//!
//! * a missing or unreadable file is [`Error::Io`];
//! * a directory, an empty file, an unrecognised container, an unsupported codec, a file
//!   without an audio track, or corrupt data that cannot be skipped is [`Error::Decode`].
//!
//! Damaged files are handled as leniently as is safe: a packet the codec reports as malformed
//! (symphonia's recoverable `DecodeError`) is skipped and counted (see
//! [`AudioFile::skipped_packets`]), and a file that is cut short ends cleanly after the last
//! complete packet.

use std::fs::File;
use std::io::ErrorKind as IoErrorKind;
use std::path::{Path, PathBuf};

use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use crate::error::{Error, Result};

/// File name extensions (lower case) of the formats the decoder reads: what
/// `mstag tag --recursive` takes from a folder ([`is_audio_path`]).
pub const AUDIO_EXTENSIONS: &[&str] = &[
    "wav", "wave", "flac", "ogg", "oga", "opus", "mp3", "mp2", "mp1", "m4a", "m4b", "mp4", "aac",
    "aif", "aiff", "aifc", "caf", "mka", "mkv", "webm",
];

/// True for a file the decoder should read by its name: one of [`AUDIO_EXTENSIONS`] (any
/// letter case), and not a macOS resource fork (`._song.mp3`, which holds no audio).
///
/// # Examples
/// ```
/// use mstag::decode::is_audio_path;
/// use std::path::Path;
/// assert!(is_audio_path(Path::new("music/Song.FLAC")));
/// assert!(!is_audio_path(Path::new("music/cover.jpg")));
/// assert!(!is_audio_path(Path::new("music/._Song.flac")));
/// ```
pub fn is_audio_path(path: &Path) -> bool {
    let fork = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("._"));
    !fork
        && path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// After this many malformed packets in a row the data is declared unusable instead of being
/// skipped forever (a file of garbage that happens to pass the probe would otherwise spin).
const MAX_CONSECUTIVE_BAD_PACKETS: u32 = 64;

/// An audio file opened for streaming decoding.
///
/// Only the first (default) audio track is decoded. Samples come out interleaved as `f32` in
/// `[-1, 1]` (integer formats are scaled by `1 / 2^(bits-1)`, so an `i16` sample `s` becomes
/// `s / 32768`).
pub struct AudioFile {
    path: PathBuf,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    sample_rate: u32,
    channels: usize,
    duration_s: Option<f64>,
    /// Samples decoded while discovering the stream layout at open time, handed out first.
    pending: Option<Vec<f32>>,
    frames_read: u64,
    skipped_packets: u64,
    consecutive_bad: u32,
    /// End of stream reached (or an error returned): `read` returns 0 from now on.
    done: bool,
}

impl std::fmt::Debug for AudioFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioFile")
            .field("path", &self.path)
            .field("sample_rate", &self.sample_rate)
            .field("channels", &self.channels)
            .field("duration_s", &self.duration_s)
            .field("frames_read", &self.frames_read)
            .finish_non_exhaustive()
    }
}

/// What a packet read produced.
enum Step {
    /// Decoded samples were written to the output vector (this many frames, > 0).
    Frames(usize),
    /// Nothing more to decode.
    End,
}

impl AudioFile {
    /// Opens `path`, detects its container and codec, and prepares a decoder for its first
    /// audio track. Nothing beyond the headers (and, rarely, the first packet) is read.
    ///
    /// # Errors
    /// [`Error::Io`] if the file is missing or unreadable; [`Error::Decode`] naming the file if
    /// it is a directory, empty, not a recognised audio container, has no audio track, or uses
    /// an unsupported codec.
    pub fn open(path: &Path) -> Result<AudioFile> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if meta.is_dir() {
            return Err(decode_err(path, "is a directory, not an audio file"));
        }
        if meta.len() == 0 {
            return Err(decode_err(path, "file is empty (0 bytes)"));
        }
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mss = MediaSourceStream::new(Box::new(file), Default::default());

        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }

        let format = symphonia::default::get_probe()
            .probe(&hint, mss, FormatOptions::default(), MetadataOptions::default())
            .map_err(|e| match e {
                SymError::Unsupported(what) if what.contains("no suitable format reader") => {
                    decode_err(path, "not a recognised audio file (unknown container format)")
                }
                SymError::Unsupported(what) => {
                    decode_err(path, format!("unsupported audio format ({what})"))
                }
                SymError::IoError(ref io) if io.kind() == IoErrorKind::UnexpectedEof => {
                    decode_err(
                        path,
                        "unexpected end of file while reading the container headers (truncated or corrupt)",
                    )
                }
                SymError::IoError(io) => Error::io(path, io),
                other => symphonia_err(path, "cannot read container", other),
            })?;
        let container = format.format_info().short_name;

        let track = format
            .default_track(TrackType::Audio)
            .ok_or_else(|| decode_err(path, format!("{container} file has no audio track")))?;
        let track_id = track.id;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .ok_or_else(|| {
                decode_err(
                    path,
                    format!("{container} audio track has no codec parameters"),
                )
            })?
            .clone();

        let decoder = symphonia::default::get_codecs()
            .make_audio_decoder(&params, &AudioDecoderOptions::default())
            .map_err(|e| match e {
                SymError::Unsupported(what) => decode_err(
                    path,
                    format!(
                        "unsupported audio codec (id {}) in {container} file: {what}",
                        params.codec
                    ),
                ),
                other => decode_err(path, format!("cannot set up the audio decoder: {other}")),
            })?;

        // Stream layout from the container, falling back to what the decoder knows.
        let dec_params = decoder.codec_params();
        let sample_rate = params.sample_rate.or(dec_params.sample_rate);
        let channels = params
            .channels
            .as_ref()
            .or(dec_params.channels.as_ref())
            .map(|c| c.count());

        let duration_s = match (track.num_frames, sample_rate) {
            (Some(n), Some(sr)) if sr > 0 => Some(n as f64 / sr as f64),
            _ => match (track.time_base, track.duration) {
                (Some(tb), Some(d)) => tb.calc_duration(d).map(|t| t.as_secs_f64()),
                _ => None,
            },
        };

        let mut file = AudioFile {
            path: path.to_path_buf(),
            format,
            decoder,
            track_id,
            sample_rate: sample_rate.unwrap_or(0),
            channels: channels.unwrap_or(0),
            duration_s,
            pending: None,
            frames_read: 0,
            skipped_packets: 0,
            consecutive_bad: 0,
            done: false,
        };

        // Rare: the container does not state the rate or channel count. Decode the first
        // packet to learn them and keep its samples for the first `read`.
        if file.sample_rate == 0 || file.channels == 0 {
            let mut first = Vec::new();
            match file.next_packet(&mut first)? {
                Step::Frames(_) => file.pending = Some(first),
                Step::End => {
                    return Err(decode_err(
                        path,
                        "no decodable audio (cannot determine sample rate and channel count)",
                    ))
                }
            }
        }
        if file.sample_rate == 0 || file.channels == 0 {
            return Err(decode_err(
                path,
                "audio stream has no sample rate or no channels",
            ));
        }
        Ok(file)
    }

    /// The file this decodes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sample rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Number of interleaved channels in each frame.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Duration in seconds as stated by the container, if it states one.
    pub fn duration_s(&self) -> Option<f64> {
        self.duration_s
    }

    /// Frames handed out by [`read`](Self::read) so far.
    pub fn frames_read(&self) -> u64 {
        self.frames_read
    }

    /// Malformed packets that were skipped (recoverable decode errors).
    pub fn skipped_packets(&self) -> u64 {
        self.skipped_packets
    }

    /// Clears `out` and fills it with the next decoded packet as interleaved `f32` samples.
    /// Returns the number of frames (`out.len() / channels()`), or 0 at the end of the stream
    /// (and on every later call).
    ///
    /// A file that is cut short ends cleanly after its last complete packet; malformed packets
    /// are skipped.
    ///
    /// # Errors
    /// [`Error::Decode`] naming the file when the data cannot be decoded any further (for
    /// example the container itself is corrupt, or the codec hits an unsupported feature).
    /// After an error, `read` returns `Ok(0)`.
    pub fn read(&mut self, out: &mut Vec<f32>) -> Result<usize> {
        out.clear();
        if let Some(first) = self.pending.take() {
            *out = first;
            let frames = out.len() / self.channels.max(1);
            self.frames_read += frames as u64;
            return Ok(frames);
        }
        if self.done {
            return Ok(0);
        }
        match self.next_packet(out) {
            Ok(Step::Frames(frames)) => {
                self.frames_read += frames as u64;
                Ok(frames)
            }
            Ok(Step::End) => {
                self.done = true;
                out.clear();
                Ok(0)
            }
            Err(e) => {
                self.done = true;
                out.clear();
                Err(e)
            }
        }
    }

    /// Demuxes and decodes packets until one yields audio for our track.
    fn next_packet(&mut self, out: &mut Vec<f32>) -> Result<Step> {
        loop {
            let packet = match self.format.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(Step::End),
                // A new chained stream (e.g. concatenated OGG files) starts: we decode only
                // the first one, like a single file.
                Err(SymError::ResetRequired) => return Ok(Step::End),
                // Truncated file: stop after what was decoded.
                Err(SymError::IoError(ref e)) if e.kind() == IoErrorKind::UnexpectedEof => {
                    return Ok(Step::End)
                }
                Err(e) => {
                    self.done = true;
                    return Err(symphonia_err(&self.path, "corrupt container data", e));
                }
            };
            if packet.track_id != self.track_id {
                continue;
            }
            match self.decoder.decode(&packet) {
                Ok(buf) => {
                    self.consecutive_bad = 0;
                    if buf.frames() == 0 {
                        continue;
                    }
                    let spec = buf.spec();
                    let (rate, chans) = (spec.rate(), spec.channels().count());
                    if self.sample_rate == 0 {
                        self.sample_rate = rate;
                    }
                    if self.channels == 0 {
                        self.channels = chans;
                    }
                    if chans != self.channels || rate != self.sample_rate {
                        let msg = format!(
                            "stream layout changed mid-file from {} ch @ {} Hz to {chans} ch @ {rate} Hz",
                            self.channels, self.sample_rate
                        );
                        return Err(self.fail(msg));
                    }
                    let frames = buf.frames();
                    buf.copy_to_vec_interleaved(out);
                    return Ok(Step::Frames(frames));
                }
                // Malformed packet (DecodeError) or a packet cut short (IoError): symphonia
                // says these are recoverable, so skip the packet.
                Err(SymError::DecodeError(_)) | Err(SymError::IoError(_)) => {
                    self.skipped_packets += 1;
                    self.consecutive_bad += 1;
                    if self.consecutive_bad >= MAX_CONSECUTIVE_BAD_PACKETS {
                        let msg = format!(
                            "corrupt audio data: {} malformed packets in a row after {} decoded frames",
                            self.consecutive_bad, self.frames_read
                        );
                        return Err(self.fail(msg));
                    }
                }
                Err(SymError::ResetRequired) => self.decoder.reset(),
                Err(e) => {
                    self.done = true;
                    let doing = format!("decoding failed after {} frames", self.frames_read);
                    return Err(symphonia_err(&self.path, &doing, e));
                }
            }
        }
    }

    fn fail(&mut self, reason: String) -> Error {
        self.done = true;
        decode_err(&self.path, reason)
    }
}

/// Decodes the whole of `path` into memory: `(interleaved samples, sample rate, channels)`.
/// Convenient for tests and short clips; prefer [`AudioFile::read`] for anything long.
///
/// # Errors
/// Those of [`AudioFile::open`] and [`AudioFile::read`].
pub fn decode_all(path: &Path) -> Result<(Vec<f32>, u32, usize)> {
    let mut file = AudioFile::open(path)?;
    let (rate, channels) = (file.sample_rate(), file.channels());
    let mut all = Vec::new();
    if let Some(d) = file.duration_s() {
        // A hint only: a lying header must not make us allocate absurd amounts.
        let expected = (d * rate as f64) as usize * channels;
        all.reserve(expected.min(1 << 26));
    }
    let mut block = Vec::new();
    while file.read(&mut block)? > 0 {
        all.extend_from_slice(&block);
    }
    Ok((all, rate, channels))
}

fn decode_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::Decode {
        path: path.to_path_buf(),
        reason: reason.into(),
        source: None,
    }
}

/// The decoder (symphonia) failed on `path` while `doing` something; its error is the source.
fn symphonia_err(path: &Path, doing: &str, e: SymError) -> Error {
    Error::Decode {
        path: path.to_path_buf(),
        reason: doing.to_string(),
        source: Some(Box::new(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh directory under the system temp dir, removed on drop.
    pub(crate) struct TempDir(PathBuf);

    impl TempDir {
        pub(crate) fn new(tag: &str) -> TempDir {
            static N: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "mstag-{tag}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).expect("create temp dir");
            TempDir(dir)
        }
        pub(crate) fn path(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn write_i16_stereo(path: &Path, frames: usize) -> Vec<i16> {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 44_100,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        let mut samples = Vec::with_capacity(frames * 2);
        for i in 0..frames {
            let l = ((i * 37) % 65536) as i32 - 32768;
            let r = -((i as i32 * 11) % 30000);
            samples.push(l as i16);
            samples.push(r as i16);
        }
        for &s in &samples {
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();
        samples
    }

    #[test]
    fn decodes_i16_stereo_44k1_exactly() {
        let dir = TempDir::new("dec");
        let path = dir.path("stereo.wav");
        let frames = 10_000;
        let want = write_i16_stereo(&path, frames);

        let mut f = AudioFile::open(&path).unwrap();
        assert_eq!(f.sample_rate(), 44_100);
        assert_eq!(f.channels(), 2);
        let d = f.duration_s().expect("WAV states its length");
        assert!((d - frames as f64 / 44_100.0).abs() < 1e-6, "duration {d}");

        // Streaming: several reads, each a whole number of frames.
        let mut got = Vec::new();
        let mut block = Vec::new();
        let mut reads = 0;
        loop {
            let n = f.read(&mut block).unwrap();
            if n == 0 {
                break;
            }
            assert_eq!(block.len(), n * 2);
            got.extend_from_slice(&block);
            reads += 1;
        }
        assert!(
            reads > 1,
            "expected packet-by-packet decoding, got {reads} read(s)"
        );
        assert_eq!(f.read(&mut block).unwrap(), 0, "stays at end");
        assert_eq!(f.frames_read(), frames as u64);
        assert_eq!(got.len(), want.len());
        for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w as f32 / 32768.0, "sample {i}");
        }
    }

    #[test]
    fn decodes_f32_mono_22k05_exactly() {
        let dir = TempDir::new("dec");
        let path = dir.path("mono.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 22_050,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let want: Vec<f32> = (0..5000).map(|i| (i as f32 * 0.01).sin() * 0.9).collect();
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for &s in &want {
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();

        let (got, rate, ch) = decode_all(&path).unwrap();
        assert_eq!((rate, ch), (22_050, 1));
        assert_eq!(got, want);
    }

    #[test]
    fn missing_file_error_names_the_path() {
        let dir = TempDir::new("dec");
        let path = dir.path("does-not-exist.flac");
        let err = AudioFile::open(&path).unwrap_err();
        // What a person sees: the message and its source (the operating system's words).
        let msg = crate::error::report(&err);
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
        assert!(msg.contains(&*path.to_string_lossy()), "{msg}");
        assert!(msg.to_lowercase().contains("no such file"), "{msg}");
    }

    #[test]
    fn directory_is_rejected() {
        let dir = TempDir::new("dec");
        let sub = dir.path("a-dir.wav");
        std::fs::create_dir(&sub).unwrap();
        let msg = AudioFile::open(&sub).unwrap_err().to_string();
        assert!(msg.contains(&*sub.to_string_lossy()), "{msg}");
        assert!(msg.contains("directory"), "{msg}");
    }

    #[test]
    fn empty_file_is_rejected() {
        let dir = TempDir::new("dec");
        let path = dir.path("empty.wav");
        std::fs::write(&path, b"").unwrap();
        let msg = AudioFile::open(&path).unwrap_err().to_string();
        assert!(msg.contains(&*path.to_string_lossy()), "{msg}");
        assert!(msg.contains("empty"), "{msg}");
    }

    /// Deterministic pseudo-random bytes.
    fn noise(len: usize, seed: u32) -> Vec<u8> {
        let mut x = seed;
        (0..len)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (x >> 16) as u8
            })
            .collect()
    }

    /// Opens and decodes `path` to the end; returns the error message it must produce.
    fn decode_error_message(path: &Path) -> String {
        let mut f = match AudioFile::open(path) {
            Err(e) => return e.to_string(),
            Ok(f) => f,
        };
        let mut out = Vec::new();
        loop {
            match f.read(&mut out) {
                Ok(0) => panic!("{}: garbage decoded without an error", path.display()),
                Ok(_) => {}
                Err(e) => return e.to_string(),
            }
        }
    }

    #[test]
    fn garbage_is_rejected() {
        let dir = TempDir::new("dec");
        let path = dir.path("noise.mp3");
        std::fs::write(&path, noise(200_000, 12_345)).unwrap();
        let msg = decode_error_message(&path);
        assert!(msg.contains(&*path.to_string_lossy()), "{msg}");

        // Valid-looking MP3 frame headers with garbage payloads: the demuxer accepts it, every
        // packet fails to decode, and the decoder gives up with an error instead of spinning.
        let path = dir.path("fake-frames.mp3");
        let payload = noise(413 * 300, 777);
        let mut bytes = Vec::new();
        for chunk in payload.chunks(413) {
            bytes.extend_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
            bytes.extend_from_slice(chunk);
        }
        std::fs::write(&path, &bytes).unwrap();
        let msg = decode_error_message(&path);
        assert!(msg.contains(&*path.to_string_lossy()), "{msg}");
    }

    #[test]
    fn text_file_is_not_audio() {
        let dir = TempDir::new("dec");
        let path = dir.path("notes.txt");
        std::fs::write(
            &path,
            "just some text, certainly not a RIFF header\n".repeat(50),
        )
        .unwrap();
        let err = AudioFile::open(&path).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::Decode { .. }), "{err:?}");
        assert!(msg.contains("not a recognised audio file"), "{msg}");
    }

    #[test]
    fn truncated_wav_decodes_its_first_part() {
        let dir = TempDir::new("dec");
        let full = dir.path("full.wav");
        let frames = 20_000;
        let want = write_i16_stereo(&full, frames);
        let bytes = std::fs::read(&full).unwrap();
        // Cut in the middle of the data, and off a frame boundary.
        let cut = 44 + (frames * 4) / 2 + 3;
        let path = dir.path("cut.wav");
        std::fs::write(&path, &bytes[..cut]).unwrap();

        let (got, rate, ch) = decode_all(&path).unwrap();
        assert_eq!((rate, ch), (44_100, 2));
        assert!(!got.is_empty());
        assert!(got.len() <= (cut - 44) / 2, "got {} samples", got.len());
        assert!(
            got.len() >= (frames / 2 - 4096) * 2,
            "only {} of ~{} samples before the cut",
            got.len(),
            frames
        );
        for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w as f32 / 32768.0, "sample {i}");
        }
    }

    #[test]
    fn header_only_wav_is_an_error() {
        let dir = TempDir::new("dec");
        let full = dir.path("full.wav");
        write_i16_stereo(&full, 1000);
        let bytes = std::fs::read(&full).unwrap();
        let path = dir.path("hdr.wav");
        std::fs::write(&path, &bytes[..20]).unwrap();
        let msg = AudioFile::open(&path).unwrap_err().to_string();
        assert!(msg.contains(&*path.to_string_lossy()), "{msg}");
    }
}
