"""Shared fixtures: the demo clip, its samples, a tagger, and the `mstag` program's output."""

import json
import os
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

import mstag

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "models" / "demo" / "demo.wav"
MANIFEST = ROOT / "models" / "manifest.json"


def max_abs_diff(a, b) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def scores_of(result: dict, names) -> np.ndarray:
    """A result's tag scores in the order of `names`."""
    return np.array([result["tags"][n] for n in names])


@pytest.fixture(scope="session")
def tagger() -> mstag.Tagger:
    return mstag.Tagger()


@pytest.fixture(scope="session")
def demo_i16():
    """The demo clip's samples (16-bit mono WAV) and rate, read with the standard library."""
    with wave.open(str(DEMO)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        rate = w.getframerate()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)
    return data, rate


@pytest.fixture(scope="session")
def demo_tags(tagger) -> dict:
    return tagger.tag(str(DEMO))


@pytest.fixture(scope="session")
def manifest() -> dict:
    return json.loads(MANIFEST.read_text())


def _cli() -> Path:
    exe = os.environ.get("MSTAG_CLI")
    return Path(exe) if exe else ROOT / "target" / "release" / "mstag"


def cli_process(*args: str) -> subprocess.CompletedProcess:
    """Runs the `mstag` program (`$MSTAG_CLI`, else target/release/mstag) on the ONNX Runtime
    this package loaded. Without MSTAG_CLI a missing program skips the comparison (a developer
    who only built the package); with it set (as `cargo xtask test` does) it is a failure."""
    exe = _cli()
    if not exe.is_file():
        if os.environ.get("MSTAG_CLI"):
            pytest.fail(f"MSTAG_CLI={exe} does not exist")
        pytest.skip(f"{exe} not built (cargo build --release), or set MSTAG_CLI")
    env = dict(os.environ)
    env.setdefault("ORT_DYLIB_PATH", str(mstag.onnxruntime_library()))
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, env=env, timeout=600
    )


def run_cli(*args: str) -> str:
    """The `mstag` program's standard output; it must succeed."""
    out = cli_process(*args)
    assert out.returncode == 0, out.stderr
    return out.stdout
