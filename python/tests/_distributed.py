"""What test_ray.py and test_spark.py share: a few audio files made from the demo clip (one
that is not audio), the `mstag tag` / `mstag embed` output for them, and the checks of a
table of rows (mstag.distributed's columns) against that output."""

import json
import shutil
import wave
from pathlib import Path

import numpy as np

from conftest import DEMO, cli_process, max_abs_diff


def make_files(folder: Path) -> dict:
    """{name: path}: the demo clip, a copy of it, a 22.05 kHz stereo version (different
    channels), its first 10 s at 48 kHz, and a file that is not audio. Written with `wave`."""
    folder.mkdir(parents=True, exist_ok=True)
    with wave.open(str(DEMO)) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)

    def write(path, samples, rate):
        samples = np.clip(np.round(samples), -32768, 32767).astype("<i2")
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1 if samples.ndim == 1 else samples.shape[1])
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(samples.tobytes())

    def resample(x, old, new):
        n = int(round(len(x) * new / old))
        return np.interp(np.arange(n) * (old / new), np.arange(len(x)), x)

    files = {"demo": folder / "demo.wav", "copy": folder / "copy of demo.wav"}
    shutil.copyfile(DEMO, files["demo"])
    shutil.copyfile(DEMO, files["copy"])
    low = resample(x, rate, 22050)
    files["stereo"] = folder / "stereo_22050.wav"
    write(files["stereo"], np.stack([low, 0.5 * low], axis=1), 22050)
    files["short"] = folder / "short_48000.wav"
    write(files["short"], resample(x[: 10 * rate], rate, 48000), 48000)
    files["bad"] = folder / "bad.wav"
    files["bad"].write_bytes(b"RIFF, but not a WAV file at all")
    return {k: str(v) for k, v in files.items()}


def run_cli_lines(*args: str) -> dict:
    """The `mstag` program's JSON lines, by file. Exit status 1 is accepted when a line
    reports an error (a file that could not be tagged)."""
    out = cli_process(*args)
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    failed = any("error" in r for r in rows)
    assert out.returncode == (1 if failed else 0), out.stderr
    return {r["file"]: r for r in rows}


def check_rows(table, files: dict, tags, *, features: bool = False) -> float:
    """Checks a pyarrow Table of rows against `mstag tag` (and `mstag embed` with features):
    one row per file, every score within 1e-5, durations, the error row. Returns the largest
    score (or feature) difference."""
    paths = list(files.values())
    cli = run_cli_lines("tag", "--format", "jsonl", *paths)
    assert sorted(cli) == sorted(paths)
    names = list(tags)
    expected = ["file", "duration_s", *names, *(["features"] if features else []), "error"]
    assert table.column_names == expected
    assert table.num_rows == len(paths)
    rows = table.to_pylist()
    by_file = {r["file"]: r for r in rows}
    assert len(by_file) == len(rows) and sorted(by_file) == sorted(paths)  # each once

    worst = 0.0
    for name, path in files.items():
        row, want = by_file[path], cli[path]
        if name == "bad":
            assert row["error"] == want["error"]
            assert "not a recognised audio file" in row["error"]
            assert row["duration_s"] is None
            assert all(row[n] is None for n in names)
            if features:
                assert row["features"] is None
            continue
        assert row["error"] is None, row["error"]
        assert abs(row["duration_s"] - want["duration_s"]) < 1e-9
        diff = max_abs_diff([row[n] for n in names], [want["tags"][n] for n in names])
        assert diff <= 1e-5, (name, diff)
        worst = max(worst, diff)
    durations = {k: by_file[p]["duration_s"] for k, p in files.items() if k != "bad"}
    assert abs(durations["demo"] - 30.0) < 0.05 and durations["copy"] == durations["demo"]
    assert abs(durations["stereo"] - 30.0) < 0.05
    assert abs(durations["short"] - 10.0) < 0.05

    if features:
        good = [p for k, p in files.items() if k != "bad"]
        emb = run_cli_lines("embed", *good)
        for p in good:
            diff = max_abs_diff(by_file[p]["features"], emb[p]["features"])
            assert diff <= 1e-5, (p, diff)
            worst = max(worst, diff)
    return worst
