//! The library's error type: each variant says what went wrong and where.

use std::path::PathBuf;

/// An underlying error from another library (ONNX Runtime, symphonia, rubato, cpal), kept
/// as the [`source`](std::error::Error::source) of an [`Error`] so that callers can
/// downcast it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in mstag, with enough context for a person to act on it.
///
/// Each message says what went wrong and where; the underlying error, when there is one,
/// is not repeated in the message but kept as [`source`](std::error::Error::source) (so
/// printers that walk the chain, such as anyhow's `{:#}` or [`report`], show it once).
///
/// # Examples
/// ```
/// let e = mstag::decode::AudioFile::open("no-such-file.wav".as_ref()).err().unwrap();
/// assert!(matches!(e, mstag::Error::Io { .. }));
/// assert!(mstag::error::report(&e).starts_with("cannot read no-such-file.wav: "));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// The model manifest is missing, malformed, or names files that do not match it.
    #[error("model manifest {path}: {reason}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A model file could not be loaded, or does not have the inputs and outputs the manifest
    /// declares.
    #[error("model file {path}: {reason}")]
    Model {
        /// The model file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
        /// ONNX Runtime's error, when it refused the file.
        #[source]
        source: Option<BoxError>,
    },

    /// The ONNX Runtime library cannot be found or loaded.
    #[error(
        "ONNX Runtime library not usable: {reason}\n  \
         run `cargo xtask setup` (it installs onnxruntime {version} from PyPI into .ort/lib), \
         or point ORT_DYLIB_PATH at libonnxruntime.so.{version}"
    )]
    Runtime {
        /// What failed (the library's error included: it only exists as text).
        reason: String,
        /// The ONNX Runtime release mstag is built against.
        version: &'static str,
    },

    /// An execution provider (CUDA) was asked for and is not available.
    #[error("execution provider {provider}: {reason}")]
    ExecutionProvider {
        /// The provider, e.g. `CUDA`.
        provider: String,
        /// Why it cannot be used.
        reason: String,
    },

    /// A model failed while running.
    #[error("inference failed in {stage}: {reason}")]
    Inference {
        /// Which model or step: a scale, or the classifier.
        stage: String,
        /// What failed.
        reason: String,
        /// ONNX Runtime's error, when it is the one that failed.
        #[source]
        source: Option<BoxError>,
    },

    /// A file is not audio the decoder can read (or was corrupt past recovery).
    #[error("{path}: {reason}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
        /// The decoder's (symphonia's) error, when there is one.
        #[source]
        source: Option<BoxError>,
    },

    /// Audio in a format the pipeline cannot take (channel count, sample rate).
    #[error("unsupported audio format: {reason}")]
    AudioFormat {
        /// What is unsupported, and what is.
        reason: String,
    },

    /// A sound device could not be listed, opened or started.
    #[error("audio device: {reason}")]
    Device {
        /// What failed, naming the device.
        reason: String,
        /// The audio library's (cpal's) error, when there is one.
        #[source]
        source: Option<BoxError>,
    },

    /// A setting out of its range. `name` is the library's name for it (`window`,
    /// `osc rate`); front ends translate it to their own (a flag, a knob).
    #[error("invalid setting {name} = {value}: {reason}")]
    InvalidSetting {
        /// The setting.
        name: &'static str,
        /// The value given.
        value: String,
        /// What is allowed.
        reason: String,
    },

    /// The resampler could not be made or failed.
    #[error("resampler: {reason}")]
    Resample {
        /// What failed (the rates involved).
        reason: String,
        /// rubato's error.
        #[source]
        source: Option<BoxError>,
    },

    /// An output (a file, a socket) could not be written.
    #[error("output {what}: {reason}")]
    Output {
        /// Which output, naming the file or receiver.
        what: String,
        /// What failed.
        reason: String,
    },

    /// The live engine's thread is gone, or refused a request.
    #[error("engine stopped: {0}")]
    EngineStopped(String),

    /// Something went wrong while tagging the file at `path` (the source says what).
    #[error("{path}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: Box<Error>,
    },

    /// The audio was analysed but gave no scores: too short, or digital silence. `path` is
    /// the file, when the audio came from one.
    #[error("{}{reason}", path.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default())]
    NoScores {
        /// The file, when the audio came from one.
        path: Option<PathBuf>,
        /// Why there are no scores.
        reason: crate::engine::NoScores,
    },
}

/// `Result` with mstag's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error and its sources in one line, `: `-separated (`cannot read a.wav: No such file or
/// directory (os error 2)`): how to show an [`Error`] to a person.
pub fn report(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl Error {
    /// This error as the failure of the file at `path`: errors that name their file already
    /// stay as they are, the others are wrapped in [`Error::File`] naming it.
    pub(crate) fn for_file(self, path: &std::path::Path) -> Error {
        match self {
            e @ (Error::Decode { .. } | Error::Io { .. }) => e,
            Error::NoScores { path: None, reason } => Error::NoScores {
                path: Some(path.to_path_buf()),
                reason,
            },
            e @ Error::NoScores { .. } => e,
            other => Error::File {
                path: path.to_path_buf(),
                source: Box::new(other),
            },
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source: error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message says each thing once, however it is printed: alone, or as an anyhow
    /// chain with context (how the binaries print errors).
    #[test]
    fn io_errors_say_their_cause_once_in_every_printer() {
        let e = || {
            Error::io(
                "nonexistent.wav",
                std::io::Error::from(std::io::ErrorKind::NotFound),
            )
        };
        let cause = std::io::Error::from(std::io::ErrorKind::NotFound).to_string();
        // The message names the file; the operating system's words are the source.
        let plain = e().to_string();
        assert_eq!(plain, "cannot read nonexistent.wav");
        let err = e();
        let source = std::error::Error::source(&err).expect("the io::Error is the source");
        assert_eq!(source.to_string(), cause);
        let reported = report(&e());
        assert_eq!(reported, format!("{plain}: {cause}"));
        let chain = format!(
            "{:#}",
            anyhow::Error::from(e()).context("opening the input")
        );
        assert_eq!(chain.matches(&cause).count(), 1, "{chain}");
        assert_eq!(chain, format!("opening the input: {reported}"));
    }
}
