//! Recording what the live engine analyses to WAV (`mstag-live --record FILE`), on the
//! inference thread through the engine's tap.
//!
//! A live session can outlast its device: after a reconnect the input may come back at
//! another sample rate or channel count, which one WAV file cannot hold. The recording then
//! goes on in a new file beside the first (`take.wav`, `take.2.wav`, ...), so every sample
//! the engine analysed is kept, each file in its own format.

use std::path::{Path, PathBuf};

use crate::engine::InputFormat;
use crate::error::{Error, Result};

/// Writes blocks of interleaved samples to 32-bit float WAV files, starting a new file
/// whenever the format changes. Write errors stop the recording (analysis goes on) and are
/// kept for [`Recorder::error`].
pub struct Recorder {
    first: PathBuf,
    files: Vec<(PathBuf, InputFormat)>,
    writer: Option<hound::WavWriter<std::io::BufWriter<std::fs::File>>>,
    error: Option<String>,
}

impl Recorder {
    /// Creates `path` for input in `format` now, so that a path that cannot be written is
    /// reported before the session starts.
    pub fn create(path: &Path, format: InputFormat) -> Result<Recorder> {
        let mut r = Recorder {
            first: path.to_path_buf(),
            files: Vec::new(),
            writer: None,
            error: None,
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
        let spec = hound::WavSpec {
            channels,
            sample_rate: format.rate,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let writer = hound::WavWriter::create(&path, spec).map_err(|e| Error::Output {
            what: format!("recording {}", path.display()),
            reason: e.to_string(),
        })?;
        self.writer = Some(writer);
        self.files.push((path, format));
        Ok(())
    }

    /// Appends one block of interleaved samples in `format`.
    pub fn write(&mut self, block: &[f32], format: InputFormat) {
        if self.error.is_some() {
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
        let Some(w) = self.writer.as_mut() else {
            return;
        };
        let result = block
            .iter()
            .try_for_each(|&s| w.write_sample(s))
            .and_then(|()| w.flush());
        if let Err(e) = result {
            let path = self.files.last().map(|(p, _)| p.display().to_string());
            self.error = Some(format!("{}: {e}", path.unwrap_or_default()));
            self.writer = None;
        }
    }

    /// Finalises the current file (its header gets the final length).
    fn finish_file(&mut self) {
        if let Some(w) = self.writer.take() {
            if let Err(e) = w.finalize() {
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
