"""Stage 1: gather training audio from the package registries only.

One module per kind of source under sources/: Debian game soundtracks and tracker modules,
MIDI files from Debian packages, MMA grooves (genre ground truth), music21 scores and
generated pieces (instrument ground truth, several soundfonts), synthesised pieces (a NumPy
synthesiser with a new patch per piece), sung melodies (pysinsy) and
speech (espeak-ng), non-music signals, LMMS demos, and the instrument test on the held-out
soundfont. Everything becomes SAMPLE_RATE mono 16-bit WAV under cache/audio/, listed in
cache/tracks.json with its source, licence and ground truth. Every job's result is cached
beside its WAV, so a killed run resumes where it stopped.

The split is by group (a piece rendered twice stays in one split) and is kept in the repo:
models/train/split.json. Ids already in it keep their split; new ones are drawn by hash.
"""
import argparse
import json
import os
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor

from config import CACHE, ROOT
from sources import debian_music, midi_files, mma_styles, nonmusic, scores, synth, voice
from sources.common import stable_hash

SPLIT_FILE = ROOT / "split.json"
MIN_SECONDS = {"default": 20.0, "nonmusic": 10.0, "speech": 10.0, "generated": 8.0, "synth": 8.0, "music21": 8.0,
               "instrument_test": 8.0}


def stages(a):
    """(name, jobs, worker) in the order they run."""
    return [
        ("debian soundtracks", debian_music.soundtrack_jobs, debian_music.decode),
        ("tracker modules", debian_music.tracker_jobs, debian_music.render_module),
        ("lmms demos", debian_music.lmms_jobs, debian_music.render_lmms),
        ("MIDI files", midi_files.midi_jobs, midi_files.render_midi_file),
        ("MMA grooves", mma_styles.mma_jobs, mma_styles.render_mma),
        ("music21 scores", lambda: scores.music21_jobs(a.music21), scores.render_music21),
        ("generated pieces", lambda: scores.generated_jobs(a.generated), scores.render_generated),
        ("synthesised pieces", lambda: synth.synth_jobs(a.synth), synth.render_synth_piece),
        ("sung melodies", lambda: voice.sung_jobs(a.sung), voice.render_sung),
        ("speech", lambda: voice.speech_jobs(a.speech), voice.render_speech),
        ("non-music", lambda: nonmusic.nonmusic_jobs(a.nonmusic), nonmusic.render_nonmusic),
        ("instrument test (held-out soundfont)", lambda: scores.instrument_test_jobs(a.instrument_test),
         scores.render_instrument_test),
    ]


ALIASES = [("female", ["woman", "female vocal", "female voice"]), ("male", ["man", "male vocal", "male voice"]),
           ("no vocals", ["no vocal", "no voice"]), ("vocal", ["vocals"]), ("choir", ["choral"])]


def complete_gt(gt):
    """MTT has several names for one thing (female / woman / female vocal ...): a known value
    of one is the value of all; an instrumental piece is neither female nor male."""
    if not gt:
        return gt
    for tag, names in ALIASES:
        for name in [tag] + names:
            if name in gt:
                for other in [tag] + names:
                    gt.setdefault(other, gt[name])
                break
    if gt.get("no vocals") == 1:
        for tag, names in ALIASES[:2]:
            for name in [tag] + names:
                gt.setdefault(name, 0)
    return gt


def split_of(group):
    h = stable_hash(group)
    return "train" if h < 70 else ("val" if h < 85 else "test")


def assign_splits(tracks):
    known = {}
    if SPLIT_FILE.exists():
        for s, ids in json.loads(SPLIT_FILE.read_text()).items():
            known.update({i: s for i in ids})
    by_group = {}
    for t in tracks:
        if t.get("split") == "test":        # the instrument test is test only
            continue
        if t["id"] in known:
            by_group.setdefault(t["group"], known[t["id"]])
    for t in tracks:
        if t.get("split") != "test":
            t["split"] = by_group.setdefault(t["group"], split_of(t["group"]))
    out = defaultdict(list)
    for t in sorted(tracks, key=lambda t: t["id"]):
        out[t["split"]].append(t["id"])
    tmp = SPLIT_FILE.with_name(SPLIT_FILE.name + ".partial")
    tmp.write_text(json.dumps({s: out[s] for s in ("train", "val", "test")}, indent=1) + "\n")
    tmp.rename(SPLIT_FILE)


def source_summary(tracks):
    """Per source: tracks, hours per split, and licences (committed as sources.json)."""
    out = {}
    for t in tracks:
        key = t["source"].split(":")[-1]
        s = out.setdefault(key, {"tracks": 0, "hours": {"train": 0.0, "val": 0.0, "test": 0.0},
                                 "licences": set()})
        s["tracks"] += 1
        s["hours"][t["split"]] += t["duration"] / 3600
        s["licences"].add(t["licence"].split("; rendered")[0])
    for s in out.values():
        s["hours"] = {k: round(v, 3) for k, v in s["hours"].items()}
        s["licences"] = sorted(s["licences"])[:3]
    return dict(sorted(out.items()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--music21", type=int, default=200)
    ap.add_argument("--generated", type=int, default=300)
    ap.add_argument("--synth", type=int, default=160)
    ap.add_argument("--sung", type=int, default=160)
    ap.add_argument("--speech", type=int, default=30)
    ap.add_argument("--nonmusic", type=int, default=240)
    ap.add_argument("--instrument-test", type=int, default=4, help="test pieces per instrument")
    ap.add_argument("--only", default="", help="comma-separated stage-name prefixes to run")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    a = ap.parse_args()
    tracks, errors = [], []
    timings = {}
    with ProcessPoolExecutor(a.jobs) as ex:
        for name, jobs_of, worker in stages(a):
            if a.only and not any(name.startswith(p) for p in a.only.split(",")):
                continue
            t0 = time.time()
            jobs = jobs_of()
            print(f"{name}: {len(jobs)} jobs", flush=True)
            for r in ex.map(worker, jobs, chunksize=1):
                (errors if "error" in r else tracks).append(r)
            timings[name] = round(time.time() - t0, 1)
            print(f"  {timings[name]:.0f} s", flush=True)
    tracks = [t for t in tracks
              if t["duration"] >= MIN_SECONDS.get(t["source"], MIN_SECONDS["default"])]
    for t in tracks:
        complete_gt(t.get("gt"))
    assign_splits(tracks)
    (CACHE / "tracks.json").write_text(json.dumps(tracks, indent=1))
    summary = source_summary(tracks)
    (ROOT / "sources.json").write_text(json.dumps(summary, indent=1) + "\n")
    (CACHE / "gather_timings.json").write_text(json.dumps(timings, indent=1))
    hours = sum(t["duration"] for t in tracks) / 3600
    print(f"{len(tracks)} tracks, {hours:.2f} h; {len(errors)} skipped")
    for e in errors[:30]:
        print("  skipped:", e["id"], e["error"][:200])


if __name__ == "__main__":
    sys.exit(main())
