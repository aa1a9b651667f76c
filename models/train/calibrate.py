"""Per-tag quantiles of the song-level scores over reference music, written into the
manifest's `calibration` (what `--scale calibrated` maps scores through; see
src/calibration.rs).

Pipeline stage (no arguments): the quantiles over the training split's music tracks, scored
by export.OnnxTagger (the engine's aggregation) from the cached mel frames.

By hand (from the repository root, after `cargo build --release`), over any audio:
    python3 models/train/calibrate.py --source "what the audio is" AUDIO_FILE_OR_FOLDER ...
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
LEVELS = [0.5, 0.9, 0.99]


def write(manifest_path, manifest, scores, source):
    q = np.quantile(scores, LEVELS, axis=0)  # levels x tags
    q = np.maximum.accumulate(q, axis=0)
    manifest["calibration"] = {
        "source": f"{source} ({len(scores)} files)",
        "levels": LEVELS,
        "quantiles": {t: [round(float(v), 6) for v in q[:, i]] for i, t in enumerate(manifest["tags"])},
    }
    fd, tmp = tempfile.mkstemp(dir=manifest_path.parent, prefix=".manifest-")
    with os.fdopen(fd, "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, manifest_path)
    print(f"calibration over {len(scores)} files written to {manifest_path}", file=sys.stderr)


def from_training_tracks():
    """The pipeline's stage: training-split music tracks (not speech, not test signals)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from config import MODELS
    from evaluation import song_scores
    from export import OnnxTagger
    from train import load_tracks
    tracks = [t for t in load_tracks(augmented=False)
              if t["split"] == "train" and t["source"] not in ("nonmusic", "speech")]
    tagger = OnnxTagger()
    scores, _ = song_scores(tagger, tracks)
    path = MODELS / "manifest.json"
    write(path, json.loads(path.read_text()), scores.astype(np.float64),
          "song-level scores of the training split's music tracks (models/train/split.json)")


def main():
    if len(sys.argv) == 1:
        return from_training_tracks()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--source", required=True, help="what the reference audio is, for people")
    ap.add_argument("--models", type=Path, default=ROOT / "models" / "manifest.json")
    ap.add_argument("--mstag", type=Path, default=ROOT / "target" / "release" / "mstag")
    a = ap.parse_args()
    manifest = json.loads(a.models.read_text())
    r = subprocess.run([a.mstag, "tag", "-q", "-r", "--format", "jsonl", "--models", a.models, *a.inputs],
                       capture_output=True, text=True)
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    rows = [x for x in rows if "tags" in x]
    if len(rows) < 20:
        sys.exit(f"only {len(rows)} files tagged: too few for quantiles\n{r.stderr}")
    scores = np.array([[x["tags"][t] for t in manifest["tags"]] for x in rows], dtype=np.float64)
    write(a.models, manifest, scores, a.source)


if __name__ == "__main__":
    main()
