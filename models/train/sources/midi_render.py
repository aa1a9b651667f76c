"""Soundfonts, General MIDI programs as tags, and rendering MIDI to audio with fluidsynth.

Instruments are learned across timbres: every MIDI piece is rendered with one of several
training soundfonts (and its drums, sometimes, with an acoustic drum-kit soundfont). One
soundfont, GeneralUser (minuet-data), is kept out of training; only the instrument test
renders with it, so EVAL.md can show how the models do on a timbre they never heard.
TimGM6mb stays out too: the transfer-learning evaluation tests on it.
"""
import numpy as np

from config import SAMPLE_RATE
from .common import deb_tree, run, to_wav, read_wav, write_wav

# name: (Debian package, path inside it, role)
SOUNDFONTS = {
    "FluidR3_GM": ("fluid-soundfont-gm", "usr/share/sounds/sf2/FluidR3_GM.sf2", "train"),
    "MuseScore_General": ("musescore-general-soundfont", "usr/share/sounds/sf3/MuseScore_General_Full.sf3", "train"),
    "OPL3_FM": ("opl3-soundfont", "usr/share/sounds/sf2/OPL-3_FM_128M.sf2", "train"),
    "csound_GMbank": ("csound-soundfont", "usr/share/sounds/sf2/sf_GMbank.sf2", "train"),
    "GeneralUser": ("minuet-data", "usr/share/minuet/soundfonts/GeneralUser-v1.47.sf2", "heldout"),
}
# Training fonts are drawn with these weights: the FM font is one timbre family, keep it rarer.
TRAIN_WEIGHTS = {"FluidR3_GM": 0.35, "MuseScore_General": 0.35, "OPL3_FM": 0.1, "csound_GMbank": 0.2}
DRUM_KITS = [("avldrums.lv2-soundfont", "usr/share/sounds/sf2/Black_Pearl_4_LV2.sf2"),
             ("avldrums.lv2-soundfont", "usr/share/sounds/sf2/Red_Zeppelin_4_LV2.sf2")]

# General MIDI program ranges -> MTT instrument tags (ground truth for rendered MIDI).
INSTRUMENT_TAGS = ["piano", "harpsichord", "guitar", "violin", "cello", "strings", "harp", "flute",
                   "sitar", "synth", "drums"]


def program_tags(program):
    tags = []
    if program in (0, 1, 2, 3, 4, 5, 7):
        tags.append("piano")
    if program == 6:
        tags.append("harpsichord")
    if 24 <= program <= 31:
        tags.append("guitar")
    if program in (40, 110):
        tags.append("violin")
    if program == 42:
        tags.append("cello")
    if 40 <= program <= 51 and program != 46:
        tags.append("strings")
    if program == 46:
        tags.append("harp")
    if 72 <= program <= 75:
        tags.append("flute")
    if program == 104:
        tags.append("sitar")
    if 80 <= program <= 95:
        tags.append("synth")
    return tags


def instrument_gt(pm, min_share=0.08, min_notes=12):
    """Instrument tags present in a PrettyMIDI (each tag's notes >= min_share of all notes),
    and 0 for the instrument tags that are absent. Drums count from the drum channel."""
    counts = {}
    total = 0
    for inst in pm.instruments:
        n = len(inst.notes)
        total += n
        for tag in (["drums"] if inst.is_drum else program_tags(inst.program)):
            counts[tag] = counts.get(tag, 0) + n
    gt = {}
    for tag in INSTRUMENT_TAGS:
        n = counts.get(tag, 0)
        if n >= min_notes and n >= min_share * max(total, 1):
            gt[tag] = 1
        elif n == 0:
            gt[tag] = 0
    return gt  # a tag with a few notes only is left to the teacher


def font_path(name):
    pkg, rel, _ = SOUNDFONTS[name]
    return deb_tree(pkg) / rel


def pick_font(rng):
    names = list(TRAIN_WEIGHTS)
    p = np.array([TRAIN_WEIGHTS[n] for n in names])
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def render_pm(pm, wav, font, rng=None, drum_kit_p=0.0, max_seconds=90.0, gain=0.5):
    """Render a PrettyMIDI with soundfont `font` (a SOUNDFONTS name) into `wav`.

    With probability drum_kit_p the drum part is rendered with an acoustic kit soundfont
    instead (moved to a melodic channel, program 0, where those kits sit)."""
    import copy
    pm = clip_pm(pm, max_seconds + 1.0)
    kit = None
    if rng is not None and drum_kit_p > 0 and any(i.is_drum and i.notes for i in pm.instruments) \
            and rng.random() < drum_kit_p:
        kit = DRUM_KITS[int(rng.integers(0, len(DRUM_KITS)))]
    if kit is None:
        y = _fluidsynth(pm, wav, font_path(font), gain)
    else:
        melodic = copy.deepcopy(pm)
        melodic.instruments = [i for i in pm.instruments if not i.is_drum]
        drums = copy.deepcopy(pm)
        drums.instruments = [i for i in pm.instruments if i.is_drum]
        for d in drums.instruments:
            d.is_drum = False
            d.program = 0
        y = _fluidsynth(melodic, wav, font_path(font), gain) if melodic.instruments else None
        yd = _fluidsynth(drums, wav, deb_tree(kit[0]) / kit[1], gain)
        if y is None:
            y = yd
        else:
            n = max(len(y), len(yd))
            y = np.pad(y, (0, n - len(y))) + 0.8 * np.pad(yd, (0, n - len(yd)))
    y = y[: int(max_seconds * SAMPLE_RATE)]
    peak = float(np.abs(y).max()) if len(y) else 0.0
    if peak > 0:
        y = y * (0.9 / peak) * float(rng.uniform(0.3, 1.0) if rng is not None else 1.0)
    write_wav(wav, y)
    return kit[1].split("/")[-1].split(".")[0] if kit else None


def clip_pm(pm, seconds):
    """A copy of the piece that stops at `seconds` (rendering the rest would be thrown away)."""
    import copy
    pm = copy.deepcopy(pm)
    for inst in pm.instruments:
        inst.notes = [n for n in inst.notes if n.start < seconds]
        for n in inst.notes:
            n.end = min(n.end, seconds + 0.5)
        inst.control_changes = [c for c in inst.control_changes if c.time < seconds]
        inst.pitch_bends = [b for b in inst.pitch_bends if b.time < seconds]
    return pm


INSTRUMENTAL = {"no vocals": 1, "no vocal": 1, "no voice": 1, "vocal": 0, "vocals": 0, "voice": 0,
                "singing": 0, "choir": 0, "choral": 0, "opera": 0,
                **{t: 0 for t in ("female", "woman", "female vocal", "female voice",
                                  "male", "man", "male vocal", "male voice")}}


def vocal_gt(pm):
    """Rendered MIDI is instrumental unless it uses the choir/voice programs (52-54): then
    the voice tags are left to the teacher."""
    if any(52 <= i.program <= 54 and not i.is_drum and i.notes for i in pm.instruments):
        return {}
    return dict(INSTRUMENTAL)


def _fluidsynth(pm, wav, font, gain):
    mid = wav.with_name(wav.stem + ".tmp.mid")
    raw = wav.with_name(wav.stem + ".tmp.raw.wav")
    mid.parent.mkdir(parents=True, exist_ok=True)
    pm.write(str(mid))
    try:
        # Dynamic sample loading reads only the samples the piece plays: 2x faster on large fonts.
        run(["fluidsynth", "-ni", "-q", "-o", "synth.dynamic-sample-loading=1", "-F", str(raw),
             "-r", str(SAMPLE_RATE), "-g", str(gain),
             str(font), str(mid)], timeout=900)
        to_wav(raw, raw.with_name(raw.stem + ".mono.wav"), max_seconds=600)
        return read_wav(raw.with_name(raw.stem + ".mono.wav"))
    finally:
        for f in (mid, raw, raw.with_name(raw.stem + ".mono.wav")):
            f.unlink(missing_ok=True)
