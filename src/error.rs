//! The library's error type: each variant says what went wrong and where.

use std::path::PathBuf;

/// Everything that can go wrong in mstag, with enough context for a person to act on it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The message includes the I/O error, which is therefore not also exposed as
    /// [`std::error::Error::source`]: printers that walk the chain (anyhow's `{:#}`) would
    /// otherwise show it twice.
    #[error("cannot read {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },

    #[error("model manifest {path}: {reason}")]
    Manifest { path: PathBuf, reason: String },

    #[error("model file {path}: {reason}")]
    Model { path: PathBuf, reason: String },

    #[error(
        "ONNX Runtime library not usable: {reason}\n  \
         run `cargo xtask setup` (it installs onnxruntime {version} from PyPI into .ort/lib), \
         or point ORT_DYLIB_PATH at libonnxruntime.so.{version}"
    )]
    Runtime {
        reason: String,
        version: &'static str,
    },

    #[error("execution provider {provider}: {reason}")]
    ExecutionProvider { provider: String, reason: String },

    #[error("inference failed in {stage}: {reason}")]
    Inference { stage: String, reason: String },

    #[error("{path}: {reason}")]
    Decode { path: PathBuf, reason: String },

    #[error("unsupported audio format: {reason}")]
    AudioFormat { reason: String },

    #[error("audio device: {reason}")]
    Device { reason: String },

    #[error("invalid setting {name} = {value}: {reason}")]
    InvalidSetting {
        name: &'static str,
        value: String,
        reason: String,
    },

    #[error("resampler: {0}")]
    Resample(String),

    #[error("output {what}: {reason}")]
    Output { what: String, reason: String },

    #[error("engine stopped: {0}")]
    EngineStopped(String),

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

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// This error as the failure of the file at `path`: errors that name their file already
    /// stay as they are, the others become [`Error::Decode`] naming it.
    pub(crate) fn for_file(self, path: &std::path::Path) -> Error {
        match self {
            e @ (Error::Decode { .. } | Error::Io { .. }) => e,
            Error::NoScores { path: None, reason } => Error::NoScores {
                path: Some(path.to_path_buf()),
                reason,
            },
            e @ Error::NoScores { .. } => e,
            other => Error::Decode {
                path: path.to_path_buf(),
                reason: other.to_string(),
            },
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            error,
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
        let plain = e().to_string();
        assert_eq!(plain, format!("cannot read nonexistent.wav: {cause}"));
        let chain = format!(
            "{:#}",
            anyhow::Error::from(e()).context("opening the input")
        );
        assert_eq!(chain.matches(&cause).count(), 1, "{chain}");
        assert_eq!(chain, format!("opening the input: {plain}"));
    }
}
