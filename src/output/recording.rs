//! Recording what the live engine analyses to WAV (`mstag-live --record FILE`), on the
//! inference thread through the engine's tap.
//!
//! A live session can outlast its device: after a reconnect the input may come back at
//! another sample rate or channel count, which one WAV file cannot hold. The recording then
//! goes on in a new file beside the first (`take.wav`, `take.2.wav`, ...), so every sample
//! the engine analysed is kept, each file in its own format. A WAV file holds at most 4 GiB
//! of audio (its sizes are 32-bit): a longer recording goes on in the next file the same way.
//!
//! The files are 32-bit float WAV as SoX and libsndfile write it: `WAVE_FORMAT_IEEE_FLOAT`
//! with an 18-byte `fmt ` chunk and a `fact` chunk, for any number of channels. (hound writes
//! float as `WAVE_FORMAT_EXTENSIBLE`, which is valid, but SoX reads every such file with the
//! warning "wave header missing extended part of fmt chunk".) The recording's channels are
//! the device's inputs, not loudspeaker positions, so the extensible format's channel mask
//! would have nothing true to say.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::engine::InputFormat;
use crate::error::{Error, Result};

/// Bytes before the samples: RIFF header (12), `fmt ` chunk (8 + 18), `fact` chunk (8 + 4)
/// and the `data` chunk's header (8).
const HEADER_BYTES: u32 = 58;
/// Most sample bytes one file holds: the RIFF size field counts them and the 50 header bytes
/// after it.
const MAX_DATA_BYTES: u64 = (u32::MAX - (HEADER_BYTES - 8)) as u64;

/// One 32-bit float WAV file being written. Its sizes are brought up to date at every
/// [`FloatWav::flush`], so the file is complete up to the last flushed block even if the
/// process dies.
struct FloatWav {
    out: BufWriter<File>,
    channels: u16,
    /// Whole frames written.
    frames: u64,
    /// Most frames this file takes.
    max_frames: u64,
}

impl FloatWav {
    fn create(path: &Path, channels: u16, rate: u32, max_data_bytes: u64) -> std::io::Result<Self> {
        let block_align = u32::from(channels) * 4;
        let mut out = BufWriter::new(File::create(path)?);
        let mut h = Vec::with_capacity(HEADER_BYTES as usize);
        h.extend_from_slice(b"RIFF");
        h.extend_from_slice(&(HEADER_BYTES - 8).to_le_bytes());
        h.extend_from_slice(b"WAVEfmt ");
        h.extend_from_slice(&18u32.to_le_bytes());
        h.extend_from_slice(&3u16.to_le_bytes()); // WAVE_FORMAT_IEEE_FLOAT
        h.extend_from_slice(&channels.to_le_bytes());
        h.extend_from_slice(&rate.to_le_bytes());
        h.extend_from_slice(&rate.saturating_mul(block_align).to_le_bytes());
        h.extend_from_slice(&(block_align as u16).to_le_bytes());
        h.extend_from_slice(&32u16.to_le_bytes()); // bits per sample
        h.extend_from_slice(&0u16.to_le_bytes()); // cbSize: no extension
        h.extend_from_slice(b"fact");
        h.extend_from_slice(&4u32.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes()); // frames, updated by `flush`
        h.extend_from_slice(b"data");
        h.extend_from_slice(&0u32.to_le_bytes()); // bytes, updated by `flush`
        debug_assert_eq!(h.len(), HEADER_BYTES as usize);
        out.write_all(&h)?;
        Ok(FloatWav {
            out,
            channels,
            frames: 0,
            // At least one frame, so that every file makes progress (a real limit holds
            // thousands of the largest frames).
            max_frames: (max_data_bytes / u64::from(block_align)).max(1),
        })
    }

    /// Frames this file still takes.
    fn room(&self) -> u64 {
        self.max_frames - self.frames
    }

    /// Appends whole frames (at most [`FloatWav::room`]).
    fn write(&mut self, frames: &[f32]) -> std::io::Result<()> {
        for s in frames {
            self.out.write_all(&s.to_le_bytes())?;
        }
        self.frames += (frames.len() / usize::from(self.channels)) as u64;
        Ok(())
    }

    /// Writes the sizes into the header and everything to the file.
    fn flush(&mut self) -> std::io::Result<()> {
        // Both fit in u32: `max_frames` keeps the data within `MAX_DATA_BYTES`.
        let data = (self.frames * u64::from(self.channels) * 4) as u32;
        let end = self.out.stream_position()?;
        for (at, value) in [
            (4, data + HEADER_BYTES - 8),
            (46, self.frames as u32),
            (54, data),
        ] {
            self.out.seek(SeekFrom::Start(at))?;
            self.out.write_all(&value.to_le_bytes())?;
        }
        self.out.seek(SeekFrom::Start(end))?;
        self.out.flush()
    }
}

/// Writes blocks of interleaved samples to 32-bit float WAV files, starting a new file
/// whenever the format changes or a file is full. Write errors stop the recording (analysis
/// goes on) and are kept for [`Recorder::error`].
pub struct Recorder {
    first: PathBuf,
    files: Vec<(PathBuf, InputFormat)>,
    writer: Option<FloatWav>,
    error: Option<String>,
    max_data_bytes: u64,
}

impl Recorder {
    /// Creates `path` for input in `format` now, so that a path that cannot be written is
    /// reported before the session starts.
    pub fn create(path: &Path, format: InputFormat) -> Result<Recorder> {
        Self::with_limit(path, format, MAX_DATA_BYTES)
    }

    /// [`Recorder::create`] with files of at most `max_data_bytes` of samples.
    fn with_limit(path: &Path, format: InputFormat, max_data_bytes: u64) -> Result<Recorder> {
        let mut r = Recorder {
            first: path.to_path_buf(),
            files: Vec::new(),
            writer: None,
            error: None,
            max_data_bytes: max_data_bytes.min(MAX_DATA_BYTES),
        };
        r.open(format)?;
        Ok(r)
    }

    /// The files written so far, each with its format.
    pub fn files(&self) -> &[(PathBuf, InputFormat)] {
        &self.files
    }

    /// Why the recording stopped, if it did.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// The path of the `k`-th file (1-based): `take.wav`, `take.2.wav`, `take.3.wav`, ...
    fn nth_path(&self, k: usize) -> PathBuf {
        if k == 1 {
            return self.first.clone();
        }
        let stem = self
            .first
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "recording".into());
        let name = match self.first.extension() {
            Some(ext) => format!("{stem}.{k}.{}", ext.to_string_lossy()),
            None => format!("{stem}.{k}"),
        };
        self.first.with_file_name(name)
    }

    fn open(&mut self, format: InputFormat) -> Result<()> {
        let path = self.nth_path(self.files.len() + 1);
        let channels = u16::try_from(format.channels)
            .ok()
            .filter(|&c| c > 0)
            .ok_or_else(|| Error::AudioFormat {
                reason: format!("{} channels cannot be recorded to WAV", format.channels),
            })?;
        let writer = FloatWav::create(&path, channels, format.rate, self.max_data_bytes)
            .and_then(|mut w| w.flush().map(|()| w))
            .map_err(|e| Error::Output {
                what: format!("recording {}", path.display()),
                reason: e.to_string(),
            })?;
        self.writer = Some(writer);
        self.files.push((path, format));
        Ok(())
    }

    /// Appends one block of interleaved samples in `format` (whole frames; a partial frame
    /// at the end is dropped).
    pub fn write(&mut self, block: &[f32], format: InputFormat) {
        if self.error.is_some() || format.channels == 0 {
            return;
        }
        // The current file's format is the last one opened.
        if self.files.last().map(|(_, f)| *f) != Some(format) {
            self.finish_file();
            if let Err(e) = self.open(format) {
                self.error = Some(e.to_string());
                return;
            }
        }
        let mut rest = &block[..block.len() - block.len() % format.channels];
        while !rest.is_empty() {
            if self.writer.as_ref().is_some_and(|w| w.room() == 0) {
                self.finish_file();
                if let Err(e) = self.open(format) {
                    self.error = Some(e.to_string());
                    return;
                }
            }
            let Some(w) = self.writer.as_mut() else {
                return;
            };
            let frames = (rest.len() / format.channels).min(w.room() as usize);
            let (now, later) = rest.split_at(frames * format.channels);
            if let Err(e) = w.write(now).and_then(|()| w.flush()) {
                let path = self.files.last().map(|(p, _)| p.display().to_string());
                self.error = Some(format!("{}: {e}", path.unwrap_or_default()));
                self.writer = None;
                return;
            }
            rest = later;
        }
    }

    /// Finalises the current file (its header gets the final length).
    fn finish_file(&mut self) {
        if let Some(mut w) = self.writer.take() {
            if let Err(e) = w.flush() {
                if self.error.is_none() {
                    let path = self.files.last().map(|(p, _)| p.display().to_string());
                    self.error = Some(format!("{}: {e}", path.unwrap_or_default()));
                }
            }
        }
    }

    /// Finalises the last file; returns the files written and the error, if any.
    pub fn finish(mut self) -> (Vec<(PathBuf, InputFormat)>, Option<String>) {
        self.finish_file();
        (std::mem::take(&mut self.files), self.error.take())
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.finish_file();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path) -> (hound::WavSpec, Vec<f32>) {
        let mut r = hound::WavReader::open(path).expect("a WAV file");
        let spec = r.spec();
        (spec, r.samples::<f32>().map(|s| s.unwrap()).collect())
    }

    #[test]
    fn a_format_change_continues_in_a_new_file_and_keeps_every_sample() {
        let dir = std::env::temp_dir().join(format!("mstag-rec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("take.wav");
        let a = InputFormat {
            rate: 48_000,
            channels: 2,
        };
        let b = InputFormat {
            rate: 44_100,
            channels: 1,
        };
        let mut r = Recorder::create(&path, a).unwrap();
        r.write(&[0.1, 0.2, 0.3, 0.4], a);
        r.write(&[0.5, 0.6], a);
        r.write(&[0.7, 0.8, 0.9], b);
        r.write(&[1.0, 1.1], a);
        let (files, err) = r.finish();
        assert_eq!(err, None);
        let names: Vec<_> = files
            .iter()
            .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["take.wav", "take.2.wav", "take.3.wav"]);
        let (spec, s) = read(&files[0].0);
        assert_eq!((spec.sample_rate, spec.channels), (48_000, 2));
        assert_eq!(s, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
        let (spec, s) = read(&files[1].0);
        assert_eq!((spec.sample_rate, spec.channels), (44_100, 1));
        assert_eq!(s, [0.7, 0.8, 0.9]);
        let (_, s) = read(&files[2].0);
        assert_eq!(s, [1.0, 1.1]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// What SoX (an independent reader) makes of a file: its `soxi` report and the samples
    /// it decodes; fails on any warning.
    fn sox_read(path: &Path) -> (String, Vec<f32>) {
        let run = |cmd: &mut std::process::Command| {
            let out = cmd.output().unwrap_or_else(|e| {
                panic!("{cmd:?}: {e} (install Debian's `sox`, as .ci/run does)")
            });
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(out.status.success() && err.is_empty(), "{cmd:?}: {err}");
            out.stdout
        };
        let info = run(std::process::Command::new("soxi").arg(path));
        let raw = run(std::process::Command::new("sox").arg(path).args([
            "-t",
            "raw",
            "-e",
            "floating-point",
            "-b",
            "32",
            "-",
        ]));
        let samples = raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        (String::from_utf8_lossy(&info).into_owned(), samples)
    }

    #[test]
    fn multichannel_float_recordings_read_cleanly_in_sox() {
        let dir = std::env::temp_dir().join(format!("mstag-rec-sox-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for channels in [1, 2, 6] {
            let path = dir.join(format!("take{channels}.wav"));
            let f = InputFormat {
                rate: 48_000,
                channels,
            };
            let samples: Vec<f32> = (0..channels * 100)
                .map(|i| ((i as f32) * 0.01).sin() * 0.9)
                .collect();
            let mut r = Recorder::create(&path, f).unwrap();
            r.write(&samples[..channels * 40], f);
            r.write(&samples[channels * 40..], f);
            assert_eq!(r.finish().1, None);
            let (info, decoded) = sox_read(&path);
            let field = |name: &str| {
                info.lines()
                    .find(|l| l.starts_with(name))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v)
                    .map(|v| v.trim().to_string())
                    .unwrap_or_default()
            };
            assert_eq!(field("Channels"), channels.to_string(), "{info}");
            assert_eq!(field("Sample Rate"), "48000", "{info}");
            assert_eq!(
                field("Sample Encoding"),
                "32-bit Floating Point PCM",
                "{info}"
            );
            assert!(field("Duration").contains("= 100 samples"), "{info}");
            // SoX works in 32-bit integers: 25 bits of a float survive.
            assert_eq!(decoded.len(), samples.len());
            for (d, s) in decoded.iter().zip(&samples) {
                assert!((d - s).abs() < 1e-6, "{channels} channels: {d} vs {s}");
            }
            // And our own decoder (symphonia) reads it back the same.
            let (ours, rate, ch) = crate::decode::decode_all(&path).unwrap();
            assert_eq!((rate, ch), (48_000, channels));
            assert_eq!(ours, samples);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_full_file_continues_in_the_next_and_each_is_valid() {
        let dir = std::env::temp_dir().join(format!("mstag-rec-full-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("long.wav");
        let f = InputFormat {
            rate: 8_000,
            channels: 2,
        };
        // Room for 5 stereo frames (40 bytes) per file; 3 bytes over do not make a frame.
        let mut r = Recorder::with_limit(&path, f, 43).unwrap();
        let samples: Vec<f32> = (0..24).map(|i| i as f32 / 32.0).collect();
        r.write(&samples[..6], f);
        r.write(&samples[6..], f);
        r.write(&[0.5], f); // half a frame: dropped
        let (files, err) = r.finish();
        assert_eq!(err, None);
        let names: Vec<_> = files
            .iter()
            .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["long.wav", "long.2.wav", "long.3.wav"]);
        let mut all = Vec::new();
        for (p, _) in &files {
            let (spec, s) = read(p);
            assert_eq!((spec.sample_rate, spec.channels), (8_000, 2));
            assert!(s.len() <= 10);
            assert_eq!(std::fs::metadata(p).unwrap().len(), 58 + 4 * s.len() as u64);
            all.extend(s);
        }
        assert_eq!(all, samples);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unwritable_path_is_an_error_at_creation() {
        let path = std::env::temp_dir().join("mstag-no-such-dir-xyz/take.wav");
        let f = InputFormat {
            rate: 48_000,
            channels: 2,
        };
        let e = Recorder::create(&path, f).err().expect("an error");
        assert!(e.to_string().contains("mstag-no-such-dir-xyz"), "{e}");
    }
}
