"""mstag's exceptions: one class per kind of failure of the Rust library (``mstag::Error``).

Every exception's message is the Rust error's message followed by its causes (what the
``mstag`` program prints), and ``path`` is the file it is about, or None.
"""

from typing import Optional

__all__ = [
    "Error",
    "ReadError",
    "DecodeError",
    "AudioFormatError",
    "NoScoresError",
    "ModelError",
    "OnnxRuntimeError",
    "DeviceError",
    "InferenceError",
    "InvalidSettingError",
]


class Error(Exception):
    """Base class of every mstag error."""

    #: The file the error is about, when there is one.
    path: Optional[str] = None


class ReadError(Error, OSError):
    """A file could not be read (missing, no permission); ``errno`` is the system's number."""


class DecodeError(Error):
    """A file is not audio the decoder can read, or is corrupt."""


class AudioFormatError(Error, ValueError):
    """Audio in a format the pipeline cannot take (channel count, sample rate)."""


class NoScoresError(Error):
    """The audio was analysed but gave no scores: too short, or digital silence."""


class ModelError(Error):
    """The model manifest or a model file is missing, malformed or does not match."""


class OnnxRuntimeError(Error):
    """The ONNX Runtime library cannot be found or loaded (``pip install onnxruntime==1.31.1``)."""


class DeviceError(Error):
    """The device asked for (CUDA) cannot be used."""


class InferenceError(Error):
    """A model, or the resampler, failed while running."""


class InvalidSettingError(Error, ValueError):
    """A setting out of its range (device, batch, threads)."""


# Shown and pickled as mstag.<Name>, where users import them from.
for _cls in (
    Error,
    ReadError,
    DecodeError,
    AudioFormatError,
    NoScoresError,
    ModelError,
    OnnxRuntimeError,
    DeviceError,
    InferenceError,
    InvalidSettingError,
):
    _cls.__module__ = "mstag"
del _cls
