"""Stage 2: teacher labels and front-end features for every gathered track, and for
augmented copies of some training tracks (labelled by the teacher on the augmented audio).

Per track, work/tracks/<id>.npz holds our log-mel frames (frontend.py, float16), the
ensemble taggram (teacher.py: the training target), the MTT-only taggram and the MSD
taggram. Augmented copies (gain, EQ, pitch shift, time stretch, a mix of two tracks) are
listed in work/augmented.json with their ground truth. Each file is written through a
temporary name, so a killed run resumes where it stopped.
"""
import json
import sys
import time

import numpy as np
import soundfile as sf

from config import CACHE, WORK, SAMPLE_RATE, SEED, TAGS
import frontend
from sources.common import stable_hash
from teacher import Teacher, convert_all

AUGMENT_SHARE = 20          # percent of training tracks that get one augmented copy
AUGMENT_SECONDS = 60.0      # augmented copies are cut to this length
AUG_KINDS = ["gain", "eq", "pitch", "stretch", "mix"]


def npz_path(tid):
    return WORK / "tracks" / (tid.replace("/", "__").replace("#", "--") + ".npz")


def save(dst, y, teacher):
    lab = teacher.label(y)
    tmp = dst.with_name(dst.stem + ".partial.npz")
    np.savez(tmp, mel=frontend.logmel(y).astype(np.float16), **lab)
    tmp.rename(dst)


def mix_gt(a, b):
    """Ground truth of a mix: a tag is present if present in either, absent if absent in both."""
    a, b = a or {}, b or {}
    out = {}
    for t in set(a) | set(b):
        va, vb = a.get(t), b.get(t)
        if va == 1 or vb == 1:
            out[t] = 1
        elif va == 0 and vb == 0:
            out[t] = 0
    return out


def augment(t, tracks_by_id, train_ids, rng):
    """(audio, kind, gt) of one augmented copy of track t."""
    import librosa
    import scipy.signal as sps
    y, _ = sf.read(str(CACHE / t["path"]), dtype="float32")
    y = y[: int(AUGMENT_SECONDS * SAMPLE_RATE)]
    kind = AUG_KINDS[int(rng.integers(0, len(AUG_KINDS)))]
    gt = dict(t.get("gt") or {})
    if kind == "gain":
        y = y * float(10 ** rng.uniform(-1.5, 0.3))
    elif kind == "eq":
        lo, hi = float(rng.uniform(40, 400)), float(rng.uniform(2500, 10000))
        sos = sps.butter(2, [lo, hi], btype="bandpass", fs=SAMPLE_RATE, output="sos")
        y = sps.sosfilt(sos, y).astype(np.float32)
    elif kind == "pitch":
        y = librosa.effects.pitch_shift(y, sr=SAMPLE_RATE, n_steps=float(rng.choice([-3, -2, -1, 1, 2, 3])))
    elif kind == "stretch":
        rate = float(rng.uniform(0.85, 1.15))
        y = librosa.effects.time_stretch(y, rate=rate)
        for tag in ("fast", "slow"):
            gt.pop(tag, None)
    else:
        other = tracks_by_id[train_ids[int(rng.integers(0, len(train_ids)))]]
        z, _ = sf.read(str(CACHE / other["path"]), dtype="float32")
        z = z[: len(y)]
        z = np.pad(z, (0, len(y) - len(z)))
        r = float(rng.uniform(0.3, 1.0))
        y = y / (np.abs(y).max() + 1e-9) + r * z / (np.abs(z).max() + 1e-9)
        gt = mix_gt(t.get("gt"), other.get("gt"))
        kind = f"mix:{other['id']}"
    peak = float(np.abs(y).max())
    if peak > 1.0:
        y = y / peak
    return y.astype(np.float32), kind, gt


def aug_ids(tracks):
    train_ids = sorted(t["id"] for t in tracks if t["split"] == "train" and t["source"] != "nonmusic")
    return train_ids, [tid for tid in train_ids if stable_hash("aug:" + tid) < AUGMENT_SHARE]


def shard(k, n):
    """Label every n-th track (from the k-th) and every n-th augmented copy, in this process
    (one TensorFlow thread each: two processes use two cores better than one with two threads)."""
    tracks = json.loads((CACHE / "tracks.json").read_text())
    by_id = {t["id"]: t for t in tracks}
    train_ids, to_augment = aug_ids(tracks)
    teacher = Teacher(threads=1)
    t0, secs = time.time(), 0.0
    mine = tracks[k::n]
    for i, t in enumerate(mine):
        dst = npz_path(t["id"])
        if dst.exists():
            continue
        y, sr = sf.read(str(CACHE / t["path"]), dtype="float32")
        assert sr == SAMPLE_RATE
        save(dst, y, teacher)
        secs += len(y) / sr
        if i % 25 == 0:
            el = time.time() - t0
            print(f"  [{k}] {i}/{len(mine)} tracks, {secs/3600:.2f} h audio, "
                  f"{secs/max(el,1e-9):.0f}x real time", flush=True)
    for tid in to_augment[k::n]:
        aid = tid + "#aug"
        dst = npz_path(aid)
        meta = dst.with_suffix(".json")
        if dst.exists() and meta.exists():
            continue
        rng = np.random.default_rng(SEED + stable_hash(aid, 1 << 30))
        y, kind, gt = augment(by_id[tid], by_id, train_ids, rng)
        save(dst, y, teacher)
        tmp = meta.with_name(meta.name + ".partial")
        tmp.write_text(json.dumps({"kind": kind, "gt": gt, "duration": len(y) / SAMPLE_RATE}))
        tmp.rename(meta)
    print(f"  [{k}] done in {time.time()-t0:.0f} s", flush=True)


def main(jobs=2):
    import multiprocessing as mp
    tracks = json.loads((CACHE / "tracks.json").read_text())
    (WORK / "tracks").mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    convert_all()       # once, before the workers load the ONNX files
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=shard, args=(k, jobs)) for k in range(jobs)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    if any(p.exitcode != 0 for p in procs):
        sys.exit("a labelling process failed; run again to resume")
    by_id = {t["id"]: t for t in tracks}
    _, to_augment = aug_ids(tracks)
    aug = []
    for tid in to_augment:
        aid = tid + "#aug"
        m = json.loads(npz_path(aid).with_suffix(".json").read_text())
        aug.append(dict(by_id[tid], id=aid, base=tid, augment=m["kind"], gt=m["gt"], duration=m["duration"],
                        split="train", path=None))
    (WORK / "augmented.json").write_text(json.dumps(aug, indent=1))
    print(f"labelled {len(tracks)} tracks and {len(aug)} augmented copies in {time.time()-t0:.0f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
