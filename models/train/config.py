"""Single source of truth for the pipeline's constants.

Everything the Rust engine needs from here is written into models/manifest.json
by export.py; nothing about the models is hard-coded on the Rust side.
"""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent.parent
# The three folders can be moved (a dry run on a few tracks, say) with MSTAG_TRAIN_CACHE,
# MSTAG_TRAIN_WORK and MSTAG_TRAIN_OUT; the last one takes models/*.onnx, the manifest, the
# demo, EVAL.md and the golden fixtures, which otherwise go where the Rust side reads them.
MODELS = Path(os.environ.get("MSTAG_TRAIN_OUT", REPO / "models"))
FIXTURES = Path(os.environ["MSTAG_TRAIN_OUT"]) / "fixtures" if "MSTAG_TRAIN_OUT" in os.environ \
    else REPO / "tests" / "fixtures"
CACHE = Path(os.environ.get("MSTAG_TRAIN_CACHE", ROOT / "cache"))   # downloads and audio (ignored by git)
WORK = Path(os.environ.get("MSTAG_TRAIN_WORK", ROOT / "work"))      # labels, features, checkpoints (ignored)

# Front end (Lee & Nam 2017: 22,050 Hz, ~23 ms frames).
SAMPLE_RATE = 22050
N_FFT = 1024
HOP = 512
N_MELS = 128
F_MIN = 0.0
F_MAX = 11025.0
LOG_C = 10000.0                  # log10(1 + LOG_C * mel_power)

# Scales: segment length in frames, hop between segments, conv widths, pools.
# The top three layers of each CNN are the feature levels.
SCALES = [
    {"name": "s18", "frames": 18, "hop_frames": 18, "widths": [96, 96, 128], "pools": [2, 2]},
    {"name": "s27", "frames": 27, "hop_frames": 27, "widths": [96, 96, 128], "pools": [3, 3]},
    {"name": "s54", "frames": 54, "hop_frames": 54, "widths": [64, 96, 96, 128], "pools": [3, 3, 2]},
]
KERNEL = 3
HIDDEN = 256                     # classifier hidden units

# MagnaTagATune top-50 vocabulary, in musicnn's MTT_musicnn output order.
TAGS = ["guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock",
        "fast", "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian",
        "opera", "male", "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet",
        "flute", "woman", "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man",
        "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal",
        "beats", "harp", "cello", "no voice", "weird", "country", "metal", "female voice",
        "choral"]

SEED = 20170317

# Segments whose log-mel values are all below this are digital silence and are left out of
# the song-level mean (the Rust engine's default gate, DEFAULT_SILENCE_GATE).
SILENCE_GATE = 1e-3
