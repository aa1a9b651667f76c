"""Stage 5: the bundled demo clip and its reference tags.

A 30 s excerpt of "Rock" from Debian's hedgewars-data (GPL-2, Hedgewars Project), a track of
the held-out test split, at the models' rate so that no resampling stands between the Python
reference and the Rust engine. Its reference tags come from export.OnnxTagger (the exported
ONNX models, the paper's aggregation).
"""
import json
import shutil

import numpy as np
import soundfile as sf

from config import CACHE, MODELS, SAMPLE_RATE, TAGS
from export import OnnxTagger

SOURCE = "hedgewars-data/Rock"
START_S, LENGTH_S = 30.0, 30.0


def main():
    tracks = {t["id"]: t for t in json.loads((CACHE / "tracks.json").read_text())}
    t = tracks[SOURCE]
    assert t["split"] == "test", "the demo clip must come from the held-out test split"
    y, sr = sf.read(str(CACHE / t["path"]), dtype="int16")
    assert sr == SAMPLE_RATE
    clip = y[int(START_S * sr): int((START_S + LENGTH_S) * sr)]
    out = MODELS / "demo"
    out.mkdir(parents=True, exist_ok=True)
    sf.write(str(out / "demo.wav"), clip, sr, subtype="PCM_16")
    yf, _ = sf.read(str(out / "demo.wav"), dtype="float64")
    scores, feats, per, mel = OnnxTagger().tag_audio(yf)
    order = np.argsort(-scores, kind="stable")
    ref = {
        "file": "demo.wav",
        "source": f"{SOURCE} ({START_S:.0f}-{START_S + LENGTH_S:.0f} s), Debian package hedgewars-data",
        "duration_s": len(yf) / sr,
        "segments": {s["name"]: int(len(p)) for s, p in zip(OnnxTagger().manifest["scales"], per)},
        "tags": {TAGS[i]: float(scores[i]) for i in range(len(TAGS))},
        "top5": [TAGS[i] for i in order[:5]],
    }
    (out / "reference.json").write_text(json.dumps(ref, indent=1) + "\n")
    gpl = "/usr/share/common-licenses/GPL-2"
    shutil.copy(gpl, out / "GPL-2.txt")
    (out / "LICENSE.md").write_text(
        "# demo.wav\n\n"
        f"A {LENGTH_S:.0f} s excerpt ({START_S:.0f} s to {START_S + LENGTH_S:.0f} s), downmixed to mono "
        f"at {SAMPLE_RATE} Hz, of `Data/Music/Rock.ogg` from the Debian package `hedgewars-data` "
        "(Hedgewars, a turn-based strategy game).\n\n"
        "Copyright 2004-2018 Andrey Korotaev, 2006-2008 Igor Ulyanov, 2004-2015 Hedgewars Project.\n"
        "License: GPL-2 (Debian's copyright file for hedgewars-data, `Files: *`); the licence text "
        "is in `GPL-2.txt` beside this file.\n\n"
        "The excerpt is made by `models/train/demo.py` from the package, so anyone can check it.\n")
    print("  demo top5:", ref["top5"])


if __name__ == "__main__":
    main()
