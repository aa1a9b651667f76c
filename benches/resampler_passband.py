"""Does the engine's resampler change the tags? (BENCHMARKS.md, "Resampler passband")

    models/train/.venv/bin/python benches/resampler_passband.py MSTAG [N] [--rates 44100,48000]

For N test-split tracks with ground truth (default 120; the first 60 s of each, from the
training cache that `models/train/run.sh gather` makes), the 22.05 kHz file and the same audio
up-sampled with soxr (VHQ) to each rate as 16-bit stereo WAV, so the higher-rate file holds
everything the 22.05 kHz one does. `MSTAG tag` (the binary under test) tags them all; printed
per rate: how often the top tag is the same, the mean over tracks of the largest change of any
tag's score, and the macro ROC-AUC over the tags with ground truth at 22.05 kHz and at that
rate. Only the resampler differs between the two sides.
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "models" / "train"))
from config import CACHE  # noqa: E402
from evaluation import macro_auc, truth_matrix  # noqa: E402  (EVAL.md's measure, the same rule)


def tracks_with_truth(n):
    tracks = json.loads((CACHE / "tracks.json").read_text())
    picked = [t for t in tracks if t["split"] == "test" and t.get("gt") and t["source"] != "nonmusic"]
    picked.sort(key=lambda t: t["id"])
    step = max(1, len(picked) // n)
    return picked[::step][:n]


def tag_folder(binary, folder):
    out = subprocess.run([binary, "tag", "-q", "--format", "jsonl", "-r", str(folder)], check=True,
                         capture_output=True, text=True).stdout
    return {Path(r["file"]).stem: r["tags"] for r in map(json.loads, out.splitlines())}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mstag")
    ap.add_argument("n", type=int, nargs="?", default=120)
    ap.add_argument("--rates", default="44100,48000")
    a = ap.parse_args()
    tracks = tracks_with_truth(a.n)
    rates = [22050] + [int(r) for r in a.rates.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        for i, t in enumerate(tracks):
            y, sr = sf.read(str(CACHE / t["path"]), dtype="float64")
            y = y[: 60 * sr]
            for rate in rates:
                d = Path(tmp) / str(rate)
                d.mkdir(exist_ok=True)
                z = y if rate == sr else soxr.resample(y, sr, rate, quality="VHQ")
                z = np.clip(z, -1.0, 1.0)
                sf.write(str(d / f"t{i:04d}.wav"), np.stack([z, z], axis=1) if rate != sr else z, rate,
                         subtype="PCM_16")
        got = {rate: tag_folder(a.mstag, Path(tmp) / str(rate)) for rate in rates}
    names = list(next(iter(got[22050].values())).keys())
    keys = [f"t{i:04d}" for i in range(len(tracks))]
    S = {rate: np.array([[got[rate][k][n] for n in names] for k in keys]) for rate in rates}
    truth = truth_matrix(tracks, names)
    base_auc, evaluated = macro_auc(truth, S[22050], names)
    print(f"{len(tracks)} tracks, {len(evaluated)} tags with ground truth; 22.05 kHz macro ROC-AUC {base_auc:.4f}")
    for rate in rates[1:]:
        same = np.mean(S[rate].argmax(axis=1) == S[22050].argmax(axis=1))
        change = np.abs(S[rate] - S[22050]).max(axis=1)
        auc, _ = macro_auc(truth, S[rate], names)
        print(f"{rate} Hz: top tag the same {100 * same:.0f}%, mean largest change {change.mean():.3f} "
              f"(max {change.max():.3f}), macro ROC-AUC {auc:.4f}")


if __name__ == "__main__":
    main()
