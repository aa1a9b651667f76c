"""mstag: music auto-tagging in Rust, after Lee & Nam (2017).

Three CNNs read log-mel segments of 18, 27 and 54 frames; their activations are pooled per
segment and averaged over the song; a small classifier turns the average into scores in
0..1 for 50 MagnaTagATune tags::

    import mstag
    tagger = mstag.Tagger()                       # device="cpu", the bundled models
    song = tagger.tag("song.mp3")
    song["tags"]["rock"], song["duration_s"]

``Tagger.tag`` and ``Tagger.tag_array`` return the object ``mstag tag --format json`` prints
for a file: ``{"file" (tag only), "duration_s", "segments", "silent_segments",
"looped_scales", "device", "tags": {tag: score}}``, tags in manifest order.

On import the package points the Rust library at ONNX Runtime inside the installed
``onnxruntime`` wheel (unless ``ORT_DYLIB_PATH`` names another), and turns ONNX Runtime's
telemetry off (``ORT_DISABLE_TELEMETRY=1``) unless that variable is set.
"""

import importlib.util
import os
from pathlib import Path
from typing import List, Optional

from ._errors import (
    AudioFormatError,
    DecodeError,
    DeviceError,
    Error,
    InferenceError,
    InvalidSettingError,
    ModelError,
    NoScoresError,
    OnnxRuntimeError,
    ReadError,
)
from ._mstag import (
    ORT_VERSION,
    Stream,
    Tagger,
    __version__,
    _set_onnxruntime_library,
    onnxruntime_library,
)

__all__ = [
    "Tagger",
    "Stream",
    "ORT_VERSION",
    "onnxruntime_library",
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

_HERE = Path(__file__).resolve().parent


def _package_dirs(name: str) -> List[Path]:
    """The folders of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    return [Path(d) for d in spec.submodule_search_locations]


def _onnxruntime_wheel_library() -> Optional[Path]:
    """``libonnxruntime.so.<ORT_VERSION>`` in the installed ``onnxruntime`` (or
    ``onnxruntime-gpu``) wheel, if it is there."""
    for d in _package_dirs("onnxruntime"):
        lib = d / "capi" / f"libonnxruntime.so.{ORT_VERSION}"
        if lib.is_file():
            return lib
    return None


def _nvidia_wheel_lib_dirs() -> List[Path]:
    """``nvidia/*/lib`` of PyPI's CUDA wheels (for ``device="cuda"``)."""
    dirs: List[Path] = []
    for d in _package_dirs("nvidia"):
        dirs.extend(sorted(p for p in d.glob("*/lib") if p.is_dir()))
    return dirs


def _default_models() -> str:
    """The manifest ``Tagger(models=None)`` loads: ``$MSTAG_MODELS/manifest.json``, else the
    models inside this package, else (a development install) the source tree's ``models/``."""
    env = os.environ.get("MSTAG_MODELS")
    if env:
        return str(Path(env) / "manifest.json")
    bundled = _HERE / "models" / "manifest.json"
    if bundled.is_file():
        return str(bundled)
    source_tree = _HERE.parent.parent / "models" / "manifest.json"
    if source_tree.is_file():
        return str(source_tree)
    return str(bundled)


def _setup() -> None:
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    lib = _onnxruntime_wheel_library()
    if lib is not None:
        _set_onnxruntime_library(str(lib))
    if "MSTAG_CUDA_LIBS" not in os.environ:
        cuda = _nvidia_wheel_lib_dirs()
        if cuda:
            os.environ["MSTAG_CUDA_LIBS"] = os.pathsep.join(str(d) for d in cuda)


_setup()
