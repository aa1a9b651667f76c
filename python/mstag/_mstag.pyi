"""Type stubs of the extension module (re-exported by ``mstag``)."""

import os
from typing import Dict, List, Literal, Optional, Sequence, Tuple, TypedDict, Union, overload

import numpy as np
import numpy.typing as npt

ORT_VERSION: str
__version__: str

_PathLike = Union[str, "os.PathLike[str]"]
#: ``[frames]`` (mono) or ``[frames, channels]``; float32, float64 or int16 (scaled by 1/32768).
_Samples = npt.NDArray[Union[np.float32, np.float64, np.int16]]

class SongResult(TypedDict, total=False):
    """A song's result, the object ``mstag tag --format json`` prints for a file."""

    file: str  # only from Tagger.tag
    duration_s: float
    segments: int
    silent_segments: int
    looped_scales: List[int]
    device: str
    tags: Dict[str, float]

class StreamUpdate(TypedDict):
    """Scores after a segment, with the keys of ``mstag-live --json`` lines."""

    t: float
    segments: int
    silent: bool
    looped: bool
    session: Dict[str, float]
    window: Dict[str, float]
    ema: Dict[str, float]

def onnxruntime_library() -> str:
    """The ONNX Runtime library in use (loading it if need be)."""

def _set_onnxruntime_library(path: _PathLike) -> bool: ...

class Tagger:
    """Tags songs with one set of models, loaded once.

    ``device``: "cpu" (default), "cuda" or "auto". ``models``: a manifest.json or the folder
    holding one (default: ``$MSTAG_MODELS``, else the models inside the package).
    ``batch``: segments per model call (1 to 1024; hundreds suit a GPU). ``threads``: threads
    ONNX Runtime may use inside each model.

    Every call releases the GIL while it decodes and runs the models; calls from several
    threads take turns. A Tagger pickles as its arguments (the models load again).
    """

    def __init__(
        self,
        device: str = "cpu",
        models: Optional[_PathLike] = None,
        batch: int = 32,
        threads: int = 1,
    ) -> None: ...
    @property
    def tags(self) -> List[str]:
        """Tag names, in the order of every score array."""
    @property
    def device(self) -> str:
        """Where the models run: "cpu" or "cuda" (what "auto" resolved to)."""
    @property
    def models(self) -> str:
        """The manifest loaded."""
    @property
    def batch(self) -> int: ...
    @property
    def feature_dim(self) -> int:
        """Length of ``embed``'s vectors."""
    def tag(self, path: _PathLike) -> SongResult:
        """Decodes (WAV, FLAC, OGG, MP3, M4A, AIFF, ...) and tags a file.

        Raises ReadError, DecodeError, NoScoresError (too short or silent)."""
    def tag_array(self, samples: _Samples, sample_rate: int) -> SongResult:
        """Tags samples in memory (any rate: resampled to the models' rate).

        Raises TypeError (not an array, other dtype), ValueError (shape, non-finite values,
        rate), NoScoresError."""
    def embed(
        self, source: Union[_PathLike, _Samples], sample_rate: Optional[int] = None
    ) -> npt.NDArray[np.float32]:
        """The song-level feature vector (``feature_dim`` float32 values) of a file, or of
        samples (then ``sample_rate`` is needed)."""
    @overload
    def predict_batch(
        self,
        paths: Sequence[_PathLike],
        on_error: str = "raise",
        features: Literal[False] = False,
    ) -> Tuple[npt.NDArray[np.float32], npt.NDArray[np.float64]]: ...
    @overload
    def predict_batch(
        self, paths: Sequence[_PathLike], on_error: str = "raise", *, features: Literal[True]
    ) -> Tuple[npt.NDArray[np.float32], npt.NDArray[np.float64], npt.NDArray[np.float32]]:
        """Tags many files the fastest way for the device (on CUDA segments of several files
        in each model call, on the CPU file by file), for batch engines such as Ray Data's
        ``map_batches``. Returns ``(scores [n, tags], durations [n])``, and
        ``features [n, feature_dim]`` third with ``features=True`` (the same pass).
        ``on_error="raise"`` raises the first file's error; ``"nan"`` gives failed files
        NaN rows instead."""
    def stream(self, sample_rate: int, channels: int = 1) -> "Stream":
        """A Stream over this tagger's models."""

class Stream:
    """Audio pushed in pieces; scores after every segment. Finishing gives what
    ``Tagger.tag_array`` gives for the same audio (within 1e-5)."""

    def __init__(self, tagger: Tagger, sample_rate: int, channels: int = 1) -> None: ...
    def push(self, samples: _Samples) -> Optional[StreamUpdate]:
        """Feeds ``[frames]`` (mono) or ``[frames, channels]`` samples; returns the new
        scores when a segment completed, else None. Runs the models on this thread (GIL
        released)."""
    @property
    def latest(self) -> Optional[StreamUpdate]:
        """The last scores made, or None before the first."""
    @property
    def time_s(self) -> float:
        """Seconds of audio pushed."""
    @property
    def tags(self) -> List[str]: ...
    @property
    def sample_rate(self) -> int: ...
    @property
    def channels(self) -> int: ...
    def reset(self) -> None:
        """Starts a new session: the averages forget everything pushed so far."""
    def finish(self) -> SongResult:
        """Ends the stream; the song-level result. The stream cannot be used afterwards."""
