"""Stage 6: evaluation on the held-out test split, written to models/EVAL.md.

* The paper's ablation (one scale last layer / + multi-level / + multi-scale), classifiers
  trained with paired seeds on the exported models' features, with bootstrap intervals over
  test tracks for the difference that matters (multi-level + multi-scale minus one scale).
* Every tag the test split can judge: against ground truth (instruments from MIDI programs,
  MMA genres, sung or not, tempo and loudness of generated pieces) and, for the rest, against
  the teacher. v2 (shipped), v1 (git history) and the teacher side by side.
* The instrument test on the held-out soundfont; non-music signals; pipeline timings.
"""
import json
import os
import time

import numpy as np

from config import MODELS, WORK, TAGS, SCALES, SEED
from evaluation import bootstrap_diff, macro_auc, per_tag_auc, rank_of, song_scores, truth_matrix, v1_models
from export import OnnxTagger
from report import write_report
from sources.midi_render import INSTRUMENT_TAGS
from sources.nonmusic import KINDS, signal
from teacher import PATCH_SECONDS
from train import FRAME_S, clip_label, clip_windows, load_tracks, train_classifier
import frontend

V1_COMMIT = "4224ae4"      # the last commit that shipped the v1 models
SEEDS = int(os.environ.get("MSTAG_EVAL_SEEDS", "3"))
# The paper's three rows always run; "multi-scale, last layers only" and each other scale's
# last layer alone double the ablation's time, so they run only when asked for.
EXTRA_ROWS = os.environ.get("MSTAG_EVAL_EXTRA_ROWS", "0") == "1"
NOT_MUSIC = ("nonmusic", "speech", "instrument_test")
GENRE_TAGS = ["rock", "pop", "country", "dance", "techno", "electronic", "metal", "classical"]


def clip_sets(tracks, per_track, seed):
    """Clips (windows of 10/20/30 s and whole tracks): features, teacher labels, training
    targets, track index, and whether the clip is the whole track."""
    rng = np.random.default_rng(seed)
    X, Yt, Yl, G, W = [], [], [], [], []
    for ti, (t, segs) in enumerate(zip(tracks, per_track)):
        for k, (a, b) in enumerate(clip_windows(len(t["mel"]), rng)):
            parts = []
            for s, f in zip(SCALES, segs):
                F, H = s["frames"], s["hop_frames"]
                first, last = -(-a // H), (b - F) // H
                if last < first or len(f) == 0:
                    parts = None
                    break
                parts.append(f[first:min(last + 1, len(f))].astype(np.float64).mean(axis=0))
            if parts is None:
                continue
            X.append(np.concatenate(parts).astype(np.float32))
            lab = clip_label(t, a, b)
            pa = int(a * FRAME_S / PATCH_SECONDS)
            Yt.append(t["taggram"][pa:max(pa + 1, int(np.ceil(b * FRAME_S / PATCH_SECONDS)))].mean(axis=0))
            Yl.append(lab)
            G.append(ti)
            W.append(k == 0)
    return np.array(X), np.array(Yt), np.array(Yl), np.array(G), np.array(W, bool)


def ablation(v2, split):
    feats = {s: [v2.segment_features(t["mel"], batched=True, gate=False) for t in split[s]] for s in split}
    sets = {s: clip_sets(split[s], feats[s], SEED + 7 + i) for i, s in enumerate(split)}
    widths = [sum(lv["width"] for lv in s["levels"]) for s in v2.manifest["scales"]]
    offs = np.cumsum([0] + widths)
    last = [s["levels"][-1]["width"] for s in v2.manifest["scales"]]
    names = [s["name"] for s in SCALES]
    k27 = names.index("s27")
    configs = {
        "1": ("one scale (27 frames), last layer", np.arange(offs[k27 + 1] - last[k27], offs[k27 + 1])),
        "2": ("one scale (27 frames), multi-level", np.arange(offs[k27], offs[k27 + 1])),
        "3": ("multi-level + multi-scale (as shipped)", np.arange(offs[-1])),
    }
    if EXTRA_ROWS:
        configs["ms"] = ("multi-scale, last layers only",
                         np.concatenate([np.arange(offs[k + 1] - last[k], offs[k + 1]) for k in range(len(names))]))
        for k, s in enumerate(SCALES):
            if s["name"] != "s27":
                configs[f"1{s['name']}"] = (f"one scale ({s['frames']} frames), last layer",
                                            np.arange(offs[k + 1] - last[k], offs[k + 1]))
    Xtr, _, Ltr, _, _ = sets["train"]
    Xva, _, Lva, _, _ = sets["val"]
    Xte, Yte, _, Gte, Wte = sets["test"]
    music = np.array([split["test"][g]["source"] not in NOT_MUSIC for g in Gte])
    teacher_bin = np.where(music[:, None], (Yte >= 0.5).astype(float), np.nan)
    gt_tracks = truth_matrix(split["test"])
    gt_clips = gt_tracks[Gte]
    rows, preds = {}, {}
    for key, (name, cols) in configs.items():
        runs, ps = [], []
        for k in range(SEEDS):
            clf, mu, sd = train_classifier(Xtr[:, cols], Ltr, Xva[:, cols], Lva, seed=SEED + k)
            p = clf.predict((Xte[:, cols] - mu) / sd, verbose=0, batch_size=1024)
            ps.append(p)
            rt, used_t = macro_auc(teacher_bin, p)
            rg, used_g = macro_auc(gt_clips[Wte], p[Wte])
            runs.append((rt, rg))
        r = np.array(runs)
        rows[key] = {"name": name, "dim": len(cols), "runs": r.tolist(), "mean": r.mean(0).tolist(),
                     "sd": r.std(0).tolist(), "tags_teacher": len(used_t), "tags_gt": len(used_g)}
        preds[key] = np.mean(ps, axis=0)
        print(f"  {key}: {name}: teacher {r[:, 0].mean():.4f}±{r[:, 0].std():.4f}, "
              f"ground truth {r[:, 1].mean():.4f}±{r[:, 1].std():.4f}", flush=True)
    paired = np.array(rows["3"]["runs"]) - np.array(rows["1"]["runs"])
    ci_t = bootstrap_diff(teacher_bin, preds["3"], preds["1"], Gte, seed=1)
    ci_g = bootstrap_diff(gt_clips[Wte], preds["3"][Wte], preds["1"][Wte], Gte[Wte], seed=2)
    return {"rows": rows, "paired": paired.tolist(), "ci_teacher": ci_t, "ci_gt": ci_g,
            "clips": {s: int(len(sets[s][0])) for s in sets}}


def tag_table(test, S2, S1, T):
    """Per tag: AUC on test tracks against ground truth where known, else against the teacher
    (ensemble track mean >= 0.5, music tracks only)."""
    gt = truth_matrix(test)
    music = np.array([t["source"] not in NOT_MUSIC for t in test])
    tb = np.where(music[:, None], (T >= 0.5).astype(float), np.nan)
    out = {}
    g2, g1, gT = per_tag_auc(gt, S2), per_tag_auc(gt, S1), per_tag_auc(gt, T)
    t2, t1 = per_tag_auc(tb, S2), per_tag_auc(tb, S1)
    for j, tag in enumerate(TAGS):
        if tag in g2:
            yt = gt[:, j][~np.isnan(gt[:, j])]
            out[tag] = {"truth": "ground truth", "pos": int(yt.sum()), "neg": int(len(yt) - yt.sum()),
                        "v2": g2[tag], "v1": g1.get(tag), "teacher": gT.get(tag)}
        elif tag in t2:
            yt = tb[:, j][~np.isnan(tb[:, j])]
            out[tag] = {"truth": "teacher", "pos": int(yt.sum()), "neg": int(len(yt) - yt.sum()),
                        "v2": t2[tag], "v1": t1.get(tag), "teacher": None}
    return out


def instrument_test(test, S2, S1, T):
    rows = []
    among = [t for t in INSTRUMENT_TAGS if t != "drums"]
    for t, s2, s1, tt in zip(test, S2, S1, T):
        if t["source"] != "instrument_test":
            continue
        inst = t["instrument"]
        rows.append({"id": t["id"], "instrument": inst, "v2": rank_of(s2, inst, among),
                     "v1": rank_of(s1, inst, among), "teacher": rank_of(tt, inst, among),
                     "v2_all": rank_of(s2, inst), "v1_all": rank_of(s1, inst), "teacher_all": rank_of(tt, inst)})
    return rows


def nonmusic_check(v2, v1, teacher, music_max):
    """Highest tag score on fresh non-music signals (other seeds than training's)."""
    rows = []
    rng = np.random.default_rng(SEED + 99991)
    for kind in KINDS:
        for _ in range(3):
            y = signal(kind, 20.0, rng)
            mel = frontend.logmel(y)
            out = {"kind": kind}
            for name, tg in (("v2", v2), ("v1", v1)):
                s, _ = song_scores(tg, [{"mel": mel}])
                out[name] = (float(s[0].max()), TAGS[int(s[0].argmax())])
            tt = teacher.label(y)["taggram"].mean(axis=0)
            out["teacher"] = (float(tt.max()), TAGS[int(tt.argmax())])
            rows.append(out)
    return {"rows": rows, "music_max": music_max}


def main():
    t0 = time.time()
    tracks = load_tracks(augmented=False)
    split = {s: [t for t in tracks if t["split"] == s] for s in ("train", "val", "test")}
    test = split["test"]
    v2 = OnnxTagger()
    v1 = OnnxTagger(v1_models(V1_COMMIT))
    S2, _ = song_scores(v2, test)
    S1, _ = song_scores(v1, test)
    T = np.array([t["taggram"].mean(axis=0) if len(t["taggram"]) else np.zeros(len(TAGS)) for t in test])
    Tm = np.array([t["mtt"].mean(axis=0) if len(t["mtt"]) else np.zeros(len(TAGS)) for t in test])
    gt = truth_matrix(test)
    result = {
        "tags": tag_table(test, S2, S1, Tm),
        "gt_macro": {name: macro_auc(gt, S) for name, S in (("v2", S2), ("v1", S1), ("teacher (MTT models)", Tm),
                                                            ("teacher (ensemble)", T))},
        "instruments": instrument_test(test, S2, S1, Tm),
        "genre": {name: per_tag_auc(gt, S, mask=np.array([t["source"] in ("mma", "sung") for t in test]))
                  for name, S in (("v2", S2), ("v1", S1), ("teacher", Tm))},
    }
    result["ablation"] = ablation(v2, split)
    # Last: the teacher switches TensorFlow to graph mode for the rest of the process.
    music = [i for i, t in enumerate(test) if t["source"] not in NOT_MUSIC]
    from teacher import Teacher
    result["nonmusic"] = nonmusic_check(v2, v1, Teacher(), {"v2": float(np.median(S2[music].max(axis=1))),
                                                            "v1": float(np.median(S1[music].max(axis=1)))})
    timings = json.loads((WORK / "timings.json").read_text()) if (WORK / "timings.json").exists() else {}
    timings["eval"] = round(time.time() - t0, 1)
    (WORK / "eval.json").write_text(json.dumps(result, indent=1))
    write_report(tracks, split, result, timings)


if __name__ == "__main__":
    main()
