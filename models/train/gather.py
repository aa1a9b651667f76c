"""Stage 1: gather training audio from the package registries only.

Sources (see config.py / EVAL.md): Debian game soundtracks (apt-get download + dpkg -x),
LMMS demo projects rendered headless, music21 corpus scores and generated pieces rendered
with fluidsynth + FluidR3_GM, and espeak-ng voice mixed over some generated pieces.
Everything is converted to SAMPLE_RATE mono 16-bit WAV under cache/audio/ and listed in
cache/tracks.json with its source, licence note and (where known) ground-truth tags.
"""
import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

from config import CACHE, SAMPLE_RATE, SEED

DEBS = {
    # package: (folder pattern inside the package, licence note from its debian/copyright)
    "wesnoth-1.16-music": ("music", "GPL-2+ (Battle for Wesnoth music)"),
    "hedgewars-data": ("Music", "GPL-2 / CC (Hedgewars data)"),
    "supertuxkart-data": ("music", "CC-BY-SA / GPL (SuperTuxKart data)"),
    "freedroidrpg-data": ("music", "GPL-2+ (FreedroidRPG data)"),
    "frozen-bubble-data": ("snd", "GPL-2+ (Frozen Bubble data)"),
}
AUDIO_EXT = {".ogg", ".opus", ".mp3", ".wav", ".flac"}
MIN_SECONDS = 15.0
MAX_SECONDS = 300.0
SF2 = "/usr/share/sounds/sf2/FluidR3_GM.sf2"

AUDIO = CACHE / "audio"


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)


def to_wav(src, dst, max_seconds=MAX_SECONDS):
    """Decode any audio file, downmix, resample to SAMPLE_RATE, write 16-bit mono WAV."""
    import librosa
    y, sr = sf.read(str(src), dtype="float32", always_2d=True)
    y = y.mean(axis=1)
    if sr != SAMPLE_RATE:
        y = librosa.resample(y, orig_sr=sr, target_sr=SAMPLE_RATE, res_type="soxr_hq")
    y = y[: int(max_seconds * SAMPLE_RATE)]
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    if peak > 1.0:
        y = y / peak
    dst.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(dst), y, SAMPLE_RATE, subtype="PCM_16")
    return len(y) / SAMPLE_RATE


def gather_debs():
    debdir = CACHE / "debs"
    debdir.mkdir(parents=True, exist_ok=True)
    jobs = []
    for pkg, (folder, lic) in DEBS.items():
        target = debdir / pkg
        if not target.exists():
            if not list(debdir.glob(f"{pkg}_*.deb")):
                print(f"  apt-get download {pkg}", flush=True)
                run(["apt-get", "download", pkg], cwd=debdir)
            deb = sorted(debdir.glob(f"{pkg}_*.deb"))[-1]
            run(["dpkg", "-x", str(deb), str(target)])
        for f in sorted(target.rglob("*")):
            if f.suffix.lower() in AUDIO_EXT and folder.lower() in [p.lower() for p in f.parts]:
                tid = f"{pkg}/{f.stem}"
                jobs.append((tid, f, AUDIO / pkg / f"{f.stem}.wav", lic, pkg))
    return jobs


def convert(job):
    tid, src, dst, lic, source = job
    try:
        if dst.exists():
            dur = sf.info(str(dst)).duration
        else:
            dur = to_wav(src, dst)
    except Exception as e:  # unreadable file: skip it, say so
        return {"id": tid, "error": f"{src}: {e}"}
    return {"id": tid, "source": source, "path": str(dst.relative_to(CACHE)), "duration": dur,
            "licence": lic, "gt": None}


def render_lmms(job):
    tid, src, dst = job
    if not dst.exists():
        tmp = dst.with_suffix(".raw.wav")
        dst.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
        try:
            run(["lmms", "--allowroot", "--render", str(src), "--output", str(tmp), "--format", "wav"],
                env=env, timeout=900)
            to_wav(tmp, dst)
        except Exception as e:
            return {"id": tid, "error": f"{src}: {e}"}
        finally:
            tmp.unlink(missing_ok=True)
    return {"id": tid, "source": "lmms", "path": str(dst.relative_to(CACHE)),
            "duration": sf.info(str(dst)).duration, "licence": "LMMS demo project (lmms-common, GPL-2+/CC)",
            "gt": {"electronic": 1}}


def gather_lmms():
    demos = Path("/usr/share/lmms/projects/demos")
    if not demos.exists():
        print("  lmms-common not installed; run: apt-get install lmms", file=sys.stderr)
        return []
    return [(f"lmms/{p.stem}", p, AUDIO / "lmms" / f"{p.stem}.wav") for p in sorted(demos.rglob("*.mmp*"))]


# ---------------------------------------------------------------- MIDI
# General MIDI programs and the MTT tags they stand for (ground truth).
ENSEMBLES = [
    ("piano", [0], {"piano": 1}),
    ("piano_duo", [0, 0], {"piano": 1}),
    ("string_quartet", [40, 40, 41, 42], {"strings": 1, "violin": 1, "cello": 1, "classical": 1}),
    ("strings", [48, 48, 48, 48], {"strings": 1, "classical": 1}),
    ("violin_solo", [40], {"violin": 1, "strings": 1, "solo": 1}),
    ("cello_solo", [42], {"cello": 1, "strings": 1, "solo": 1}),
    ("flute_harp", [73, 46], {"flute": 1, "harp": 1}),
    ("flute_piano", [73, 0], {"flute": 1, "piano": 1}),
    ("harpsichord", [6], {"harpsichord": 1, "classical": 1}),
    ("harp", [46], {"harp": 1}),
    ("guitar", [24], {"guitar": 1}),
    ("guitar_duo", [24, 25], {"guitar": 1}),
    ("organ_choir", [19, 52], {"choir": 1}),
    ("choir", [52, 52, 53], {"choir": 1, "choral": 1}),
    ("synth", [81, 89], {"synth": 1, "electronic": 1}),
]
NO_TAGS = ["piano", "strings", "violin", "cello", "flute", "harp", "harpsichord", "guitar", "drums",
           "synth", "sitar"]


def full_gt(present):
    gt = {t: 0 for t in NO_TAGS}
    gt.update(present)
    return gt


def render_midi(mid, wav, gain=0.6):
    raw = wav.with_suffix(".raw.wav")
    wav.parent.mkdir(parents=True, exist_ok=True)
    run(["fluidsynth", "-ni", "-q", "-F", str(raw), "-r", str(SAMPLE_RATE), "-g", str(gain), SF2, str(mid)],
        timeout=600)
    to_wav(raw, wav, max_seconds=60)
    raw.unlink(missing_ok=True)


def music21_job(args):
    tid, path, ens_i = args
    wav = AUDIO / "music21" / f"{tid.split('/')[-1]}.wav"
    name, programs, tags = ENSEMBLES[ens_i]
    if not wav.exists():
        try:
            import music21
            import pretty_midi
            score = music21.converter.parse(str(path))
            if score.duration.quarterLength > 160:
                score = score.measures(0, 40) or score
            mid = wav.with_suffix(".mid")
            mid.parent.mkdir(parents=True, exist_ok=True)
            score.write("midi", fp=str(mid))
            pm = pretty_midi.PrettyMIDI(str(mid))
            insts = [i for i in pm.instruments if not i.is_drum and i.notes]
            if not insts:
                return {"id": tid, "error": "no notes"}
            for k, inst in enumerate(insts):
                inst.program = programs[k % len(programs)]
            pm.instruments = insts
            pm.write(str(mid))
            render_midi(mid, wav)
            mid.unlink(missing_ok=True)
        except Exception as e:
            return {"id": tid, "error": f"{path}: {e}"}
    dur = sf.info(str(wav)).duration
    if dur < 8:
        return {"id": tid, "error": "too short"}
    return {"id": tid, "source": "music21", "path": str(wav.relative_to(CACHE)), "duration": dur,
            "licence": "music21 corpus score (public domain / BSD), FluidR3_GM (MIT)",
            "gt": full_gt(dict(tags, ensemble=name))}


# Generated pieces: known instruments, tempo and loudness.
GEN_PALETTE = [
    ("piano", 0, "piano"), ("bright_piano", 1, "piano"), ("nylon_guitar", 24, "guitar"),
    ("steel_guitar", 25, "guitar"), ("clean_guitar", 27, "guitar"), ("overdrive_guitar", 29, "guitar"),
    ("distortion_guitar", 30, "guitar"), ("violin", 40, "violin"), ("cello", 42, "cello"),
    ("strings", 48, "strings"), ("flute", 73, "flute"), ("harp", 46, "harp"),
    ("harpsichord", 6, "harpsichord"), ("sitar", 104, "sitar"), ("saw_lead", 81, "synth"),
    ("synth_pad", 89, "synth"),
]


def gen_piece(i, rng):
    import pretty_midi
    tempo = float(rng.choice([60, 70, 80, 100, 120, 140, 160, 175]))
    loud = rng.random() < 0.5
    vel = int(rng.integers(95, 120)) if loud else int(rng.integers(35, 60))
    n_lead = 1 if rng.random() < 0.6 else 2
    picks = rng.choice(len(GEN_PALETTE), size=n_lead, replace=False)
    drums = rng.random() < 0.5
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    beat = 60.0 / tempo
    key = int(rng.integers(0, 12))
    scale = [0, 2, 4, 5, 7, 9, 11] if rng.random() < 0.6 else [0, 2, 3, 5, 7, 8, 10]
    prog = [0, 5, 3, 4] if rng.random() < 0.5 else [0, 3, 4, 4]
    length_beats = int(24 / beat) + 1
    present = {}
    for j, p in enumerate(picks):
        name, program, tag = GEN_PALETTE[p]
        present[tag] = 1
        if tag in ("violin", "cello"):
            present["strings"] = 1
        inst = pretty_midi.Instrument(program=program)
        t = 0.0
        octave = 60 if j == 0 else 48
        while t < length_beats * beat:
            chord_root = scale[prog[int(t / (4 * beat)) % 4] % 7]
            if j == 0:
                dur = beat * float(rng.choice([0.5, 1, 1, 2]))
                pitch = key + octave + scale[int(rng.integers(0, 7))]
                inst.notes.append(pretty_midi.Note(vel, pitch, t, t + dur * 0.95))
            else:
                dur = 4 * beat
                for iv in (0, 2, 4):
                    pitch = key + octave + scale[(prog[int(t / (4 * beat)) % 4] + iv) % 7]
                    inst.notes.append(pretty_midi.Note(max(vel - 15, 20), pitch, t, t + dur * 0.95))
            t += dur
            _ = chord_root
        pm.instruments.append(inst)
    if drums:
        present["drums"] = 1
        d = pretty_midi.Instrument(program=0, is_drum=True)
        t = 0.0
        k = 0
        while t < length_beats * beat:
            d.notes.append(pretty_midi.Note(vel, 42, t, t + 0.1))
            if k % 2 == 0:
                d.notes.append(pretty_midi.Note(vel, 36 if k % 4 == 0 else 38, t, t + 0.1))
            t += beat / 2
            k += 1
        pm.instruments.append(d)
    gt = full_gt(present)
    gt["fast"] = int(tempo >= 140)
    gt["slow"] = int(tempo <= 80)
    gt["loud"] = int(loud)
    gt["quiet"] = int(not loud)
    return pm, gt, tempo


def generated_job(i):
    rng = np.random.default_rng(SEED + i)
    pm, gt, tempo = gen_piece(i, rng)
    tid = f"generated/gen{i:04d}"
    wav = AUDIO / "generated" / f"gen{i:04d}.wav"
    voice = None
    if i % 5 == 0:  # sung-like synthetic voice over some pieces, see EVAL.md
        voice = "f" if (i // 5) % 2 == 0 else "m"
    if not wav.exists():
        try:
            mid = wav.with_suffix(".mid")
            mid.parent.mkdir(parents=True, exist_ok=True)
            pm.write(str(mid))
            render_midi(mid, wav)
            mid.unlink(missing_ok=True)
            if voice:
                mix_voice(wav, voice, rng)
        except Exception as e:
            return {"id": tid, "error": str(e)}
    if voice:
        gt.update({"vocal": 1, "vocals": 1, "voice": 1, "singing": 1, "no vocals": 0, "no vocal": 0,
                   "no voice": 0, "female": int(voice == "f"), "male": int(voice == "m")})
    else:
        gt.update({"no vocals": 1, "no vocal": 1, "no voice": 1, "vocal": 0, "vocals": 0, "voice": 0})
    return {"id": tid, "source": "generated", "path": str(wav.relative_to(CACHE)),
            "duration": sf.info(str(wav)).duration, "licence": "generated by this pipeline; FluidR3_GM (MIT)",
            "gt": gt, "tempo": tempo}


LYRICS = ["la la la, the night is long and the lights are low",
          "oh oh oh, carry me home across the river",
          "hey hey, we are dancing in the summer rain",
          "ooh, I will wait for you, I will wait for you"]


def mix_voice(wav, voice, rng):
    import librosa
    y, _ = sf.read(str(wav), dtype="float32")
    spoken = wav.with_suffix(".voice.wav")
    variant = "en+f3" if voice == "f" else "en+m3"
    text = " ".join(rng.choice(LYRICS, size=4))
    run(["espeak-ng", "-v", variant, "-s", "110", "-p", str(int(rng.integers(30, 80))), "-w", str(spoken), text])
    v, vsr = sf.read(str(spoken), dtype="float32")
    spoken.unlink(missing_ok=True)
    v = librosa.resample(v, orig_sr=vsr, target_sr=SAMPLE_RATE)
    reps = int(np.ceil(len(y) / max(len(v), 1)))
    v = np.tile(v, reps)[: len(y)]
    mix = 0.6 * y / (np.abs(y).max() + 1e-9) + 0.5 * v / (np.abs(v).max() + 1e-9)
    mix /= max(1.0, np.abs(mix).max())
    sf.write(str(wav), mix, SAMPLE_RATE, subtype="PCM_16")


def gather_music21(n):
    import music21
    paths = [p for p in music21.corpus.getPaths() if p.suffix in (".mxl", ".xml", ".krn")
             and p.stat().st_size < 150_000]
    rng = random.Random(SEED)
    rng.shuffle(paths)
    jobs = []
    for k, p in enumerate(paths[:n]):
        rel = p.relative_to(Path(music21.__file__).parent / "corpus")
        tid = "music21/" + hashlib.sha1(str(rel).encode()).hexdigest()[:10] + "_" + p.stem[:30]
        jobs.append((tid, p, k % len(ENSEMBLES)))
    return jobs


def split_of(tid):
    h = int(hashlib.sha1(tid.encode()).hexdigest()[:8], 16) % 100
    return "train" if h < 70 else ("val" if h < 85 else "test")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--music21", type=int, default=150)
    ap.add_argument("--generated", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    a = ap.parse_args()
    AUDIO.mkdir(parents=True, exist_ok=True)
    tracks, errors = [], []
    with ProcessPoolExecutor(a.jobs) as ex:
        print("debian soundtracks", flush=True)
        for r in ex.map(convert, gather_debs()):
            (errors if "error" in r else tracks).append(r)
        print("lmms demos", flush=True)
        for r in ex.map(render_lmms, gather_lmms()):
            (errors if "error" in r else tracks).append(r)
        print("music21 scores", flush=True)
        for r in ex.map(music21_job, gather_music21(a.music21)):
            (errors if "error" in r else tracks).append(r)
        print("generated pieces", flush=True)
        for r in ex.map(generated_job, range(a.generated)):
            (errors if "error" in r else tracks).append(r)
    tracks = [t for t in tracks if t["duration"] >= (MIN_SECONDS if t["source"] not in ("music21", "generated") else 8)]
    for t in tracks:
        t["split"] = split_of(t["id"])
    (CACHE / "tracks.json").write_text(json.dumps(tracks, indent=1))
    hours = sum(t["duration"] for t in tracks) / 3600
    print(f"{len(tracks)} tracks, {hours:.2f} h; {len(errors)} skipped")
    for e in errors[:20]:
        print("  skipped:", e["id"], e["error"][:160])


if __name__ == "__main__":
    main()
