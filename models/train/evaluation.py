"""Measures for EVAL.md: macro ROC-AUC with the tags it could use, paired differences with
bootstrap confidence intervals over test tracks, top-k instrument hits, and the feature
extractors (the shipped v2 ONNX models, and v1's from git history)."""
import json
import subprocess

import numpy as np
from sklearn.metrics import roc_auc_score

from config import REPO, WORK, TAGS

MIN_POS = 3  # a tag is evaluated when it has at least this many positives and negatives


def per_tag_auc(y_true, y_score, tags=TAGS, mask=None):
    """{tag: ROC-AUC} for every tag with enough positives and negatives.
    y_true may hold NaN where a tag's truth is unknown for an item."""
    out = {}
    for j, t in enumerate(tags):
        yt = y_true[:, j]
        ok = ~np.isnan(yt) if mask is None else (~np.isnan(yt) & mask)
        yt = yt[ok]
        if yt.sum() < MIN_POS or (1 - yt).sum() < MIN_POS:
            continue
        out[t] = float(roc_auc_score(yt, y_score[ok, j]))
    return out


def macro_auc(y_true, y_score, tags=TAGS):
    d = per_tag_auc(y_true, y_score, tags)
    return (float(np.mean(list(d.values()))) if d else float("nan")), sorted(d)


def bootstrap_diff(y_true, a, b, groups, n=300, seed=0, tags=TAGS):
    """95% interval of macro-AUC(a) - macro-AUC(b), resampling test tracks (groups) with
    replacement; both score sets are judged on the same resamples (paired)."""
    rng = np.random.default_rng(seed)
    uniq = np.unique(groups)
    idx_of = {g: np.flatnonzero(groups == g) for g in uniq}
    diffs = []
    for _ in range(n):
        pick = np.concatenate([idx_of[g] for g in rng.choice(uniq, size=len(uniq))])
        da, _ = macro_auc(y_true[pick], a[pick], tags)
        db, _ = macro_auc(y_true[pick], b[pick], tags)
        if not (np.isnan(da) or np.isnan(db)):
            diffs.append(da - db)
    return (float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))) if diffs else (np.nan, np.nan)


def truth_matrix(tracks, tags=TAGS):
    """[tracks, tags] ground truth: 1/0 where the pipeline knows it, NaN elsewhere."""
    Y = np.full((len(tracks), len(tags)), np.nan)
    for i, t in enumerate(tracks):
        for tag, v in (t.get("gt") or {}).items():
            if tag in tags:
                Y[i, tags.index(tag)] = float(v)
    return Y


def rank_of(scores, tag, among=TAGS):
    cols = [TAGS.index(t) for t in among]
    order = [among[k] for k in np.argsort(-scores[cols], kind="stable")]
    return order.index(tag) + 1


def v1_models(commit):
    """The v1 models (manifest and ONNX files) as shipped at `commit`, under work/v1/."""
    out = WORK / "v1"
    out.mkdir(parents=True, exist_ok=True)
    manifest = json.loads(subprocess.run(["git", "-C", str(REPO), "show", f"{commit}:models/manifest.json"],
                                         check=True, capture_output=True).stdout)
    files = [s["file"] for s in manifest["scales"]] + [manifest["classifier"]["file"]]
    for f in files:
        data = subprocess.run(["git", "-C", str(REPO), "show", f"{commit}:models/{f}"], check=True,
                              capture_output=True).stdout
        (out / f).write_bytes(data)
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out / "manifest.json"


def song_scores(tagger, tracks):
    """Song-level scores and features of each track with an OnnxTagger (the Rust engine's
    aggregation: silent segments gated, mean over segments)."""
    S, F = [], []
    for t in tracks:
        per = tagger.segment_features(t["mel"], batched=True)
        if any(len(p) == 0 for p in per):
            per = tagger.segment_features(t["mel"], batched=True, gate=False)
        f = np.concatenate([p.astype(np.float64).mean(axis=0) for p in per]).astype(np.float32)
        F.append(f)
        S.append(tagger.scores(f))
    return np.array(S), np.array(F)
