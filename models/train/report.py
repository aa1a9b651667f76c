"""models/EVAL.md from eval.py's results (also kept whole in work/eval.json)."""
import json
import platform

import numpy as np

from config import MODELS, ROOT
from train import FRAME_S

PAPER = {"1": 0.8981, "2": 0.9002, "3": 0.9017}


def f4(x):
    return "—" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.4f}"


def data_section(tracks, split):
    hours = {}
    for t in tracks:
        key = t["source"].split(":")[-1]
        hours.setdefault(key, {}).setdefault(t["split"], 0.0)
        hours[key][t["split"]] += len(t["mel"]) * FRAME_S / 3600
    sources = json.loads((ROOT / "sources.json").read_text()) if (ROOT / "sources.json").exists() else {}
    L = ["## Data", "", "Only Debian and PyPI packages (listed with their licences in "
         "`models/train/sources.json`). Split by group (a piece rendered with two soundfonts stays in one "
         "split), kept in `models/train/split.json`.", "",
         "| source | train h | val h | test h | licence (debian/copyright) |", "|---|---|---|---|---|"]
    tot = {"train": 0.0, "val": 0.0, "test": 0.0}
    for src, h in sorted(hours.items()):
        lic = "; ".join(sources.get(src, {}).get("licences", []))[:90]
        L.append(f"| {src} | {h.get('train', 0):.2f} | {h.get('val', 0):.2f} | {h.get('test', 0):.2f} | {lic} |")
        for k in tot:
            tot[k] += h.get(k, 0)
    L.append(f"| **total** | **{tot['train']:.2f}** | **{tot['val']:.2f}** | **{tot['test']:.2f}** | |")
    return L


def ablation_section(ab):
    rows = ab["rows"]
    L = ["## Ablation (Lee & Nam 2017, Table 2)", "",
         f"Macro ROC-AUC, mean ± SD over {len(rows['3']['runs'])} classifiers per feature set (paired seeds: "
         "seed k of every row starts from the same initialisation state). Features: the exported v2 ONNX "
         "models. *Teacher*: test clips (10/20/30 s windows and whole tracks) of music tracks, labels = "
         "ensemble clip mean >= 0.5. *Ground truth*: whole test tracks, every tag the pipeline knows.", "",
         "| features | inputs | ROC-AUC (teacher) | ROC-AUC (ground truth) | paper (MTAT) |", "|---|---|---|---|---|"]
    for key, r in rows.items():
        m, d = r["mean"], r["sd"]
        L.append(f"| {r['name']} | {r['dim']} | {m[0]:.4f} ± {d[0]:.4f} | {m[1]:.4f} ± {d[1]:.4f} | "
                 f"{PAPER.get(key, '')} |")
    p = np.array(ab["paired"])
    L += ["", f"Tags judged: {rows['3']['tags_teacher']} against the teacher, {rows['3']['tags_gt']} against "
          "ground truth.", "",
          "**Multi-level + multi-scale minus one scale (27 frames), last layer**, paired by seed: "
          f"teacher {p[:, 0].mean():+.4f} (per seed: {', '.join(f'{x:+.4f}' for x in p[:, 0])}; "
          f"bootstrap 95% interval over test tracks {ab['ci_teacher'][0]:+.4f} to {ab['ci_teacher'][1]:+.4f}), "
          f"ground truth {p[:, 1].mean():+.4f} (per seed: {', '.join(f'{x:+.4f}' for x in p[:, 1])}; "
          f"interval {ab['ci_gt'][0]:+.4f} to {ab['ci_gt'][1]:+.4f}).", ""]
    for j, (truth, ci) in enumerate((("the teacher", ab["ci_teacher"]), ("ground truth", ab["ci_gt"]))):
        noise = max(max(r["sd"][j] for r in rows.values()), 1e-9)
        wins = p[:, j].mean() > noise and ci[0] > 0
        L.append(f"- Against {truth}: multi-level + multi-scale "
                 + ("**beats**" if wins else "does **not** beat")
                 + f" the single-scale last-layer model by more than the seed-to-seed noise (largest SD "
                 f"{noise:.4f}" + (", and the bootstrap interval is above zero)." if wins else ")."))
    L += ["", "The teacher's labels are what every row is trained toward, and the teacher judges only tags it "
          "is sure of on music tracks, so its ceiling is its own view; ground truth (instruments, genres, "
          "voice, tempo and loudness the pipeline knows) is the independent judge."]
    return L


def tags_section(res):
    tags = res["tags"]
    gm = res["gt_macro"]
    L = ["## All tags", "",
         f"{len(tags)} of 50 tags can be judged on the test split; {sum(1 for v in tags.values() if v['truth'] == 'ground truth')} "
         "of them against ground truth. Song-level scores (the engine's aggregation) of whole test tracks.", "",
         "Macro ROC-AUC against ground truth, same tracks and tags for every model: " +
         ", ".join(f"{k} {f4(v[0])}" for k, v in gm.items()) + f" ({len(gm['v2'][1])} tags).", "",
         "| tag | judged by | positives / negatives | v2 | v1 | teacher (MTT models) |", "|---|---|---|---|---|---|"]
    for tag, r in tags.items():
        L.append(f"| {tag} | {r['truth']} | {r['pos']} / {r['neg']} | {f4(r['v2'])} | {f4(r['v1'])} | {f4(r['teacher'])} |")
    return L


def instrument_section(rows):
    if not rows:
        return []
    n = len(rows)
    hit = {k: sum(r[k] <= 3 for r in rows) for k in ("v2", "v1", "teacher")}
    L = ["## Instruments on the held-out soundfont", "",
         "Generated pieces, one instrument each (sometimes with drums), rendered only with GeneralUser "
         "(minuet-data), which no training audio used. Hit: the true instrument is among the 3 highest of "
         "the 10 instrument tags (piano, harpsichord, guitar, violin, cello, strings, harp, flute, sitar, synth; "
         "for violin and cello, `strings` is not counted against).", "",
         f"Top-3 hits: **v2 {hit['v2']}/{n} ({100 * hit['v2'] / n:.0f}%)**, v1 {hit['v1']}/{n}, "
         f"teacher {hit['teacher']}/{n}.", "",
         "| instrument | pieces | v2 top-3 | v1 top-3 | teacher top-3 | v2 median rank of 50 |", "|---|---|---|---|---|---|"]
    for inst in sorted({r["instrument"] for r in rows}):
        rs = [r for r in rows if r["instrument"] == inst]
        L.append(f"| {inst} | {len(rs)} | {sum(r['v2'] <= 3 for r in rs)} | {sum(r['v1'] <= 3 for r in rs)} | "
                 f"{sum(r['teacher'] <= 3 for r in rs)} | {int(np.median([r['v2_all'] for r in rs]))} |")
    return L


def genre_section(genre):
    L = ["## Genres (MMA grooves and sung songs, ground truth from the groove's style)", "",
         "| tag | v2 | v1 | teacher |", "|---|---|---|---|"]
    for tag in sorted(set(genre["v2"]) | set(genre["teacher"])):
        L.append(f"| {tag} | {f4(genre['v2'].get(tag))} | {f4(genre['v1'].get(tag))} | {f4(genre['teacher'].get(tag))} |")
    return L


def nonmusic_section(nm):
    L = ["## Non-music signals", "",
         "Highest of the 50 song-level scores on fresh signals (seeds not used in training), 20 s each. "
         f"For comparison, the median highest score on test music tracks: v2 {nm['music_max']['v2']:.3f}, "
         f"v1 {nm['music_max']['v1']:.3f}.", "", "| signal | v2 | v1 | teacher |", "|---|---|---|---|"]
    for r in nm["rows"]:
        L.append(f"| {r['kind']} | {r['v2'][0]:.3f} ({r['v2'][1]}) | {r['v1'][0]:.3f} ({r['v1'][1]}) | "
                 f"{r['teacher'][0]:.3f} ({r['teacher'][1]}) |")
    worst = max(r["v2"][0] for r in nm["rows"])
    L += ["", f"Highest v2 score on any of them: {worst:.3f}."]
    return L


def write_report(tracks, split, res, timings):
    L = ["# mstag models: evaluation", "",
         "Written by `models/train/eval.py` (`cargo xtask train`); every figure is on the test split "
         "(tracks never used in training), and the raw results are in `work/eval.json`. v1: the models "
         "shipped before models v2 (from git history); teacher: PyPI musicnn 0.1.0.", ""]
    L += data_section(tracks, split) + [""]
    L += tags_section(res) + [""]
    L += instrument_section(res["instruments"]) + [""]
    L += genre_section(res["genre"]) + [""]
    L += nonmusic_section(res["nonmusic"]) + [""]
    L += ablation_section(res["ablation"]) + [""]
    extra = ROOT / "EVAL_NOTES.md"
    if extra.exists():
        L += [extra.read_text().strip(), ""]
    L += ["## Pipeline run", "", f"Machine: {platform.machine()}, 2 cores, CPU only.", "",
          "| stage | seconds |", "|---|---|"]
    for k, v in timings.items():
        L.append(f"| {k} | {v:.0f} |")
    L.append(f"| **total** | {sum(timings.values()):.0f} |")
    (MODELS / "EVAL.md").write_text("\n".join(L) + "\n")
    print((MODELS / "EVAL.md").read_text())
