"""A synthetic music library for `mstag tag` throughput (BENCHMARKS.md, "A synthetic library").

    python3 benches/make_library.py OUT_DIR

1,000 short files (10-30 s; FLAC, WAV, Ogg Vorbis; 44.1/48 kHz stereo) and 100 full-length
tracks (3-5 min FLAC, each a concatenation of six test-split tracks), cut and converted with
sox from the training cache's test split (`models/train/cache/audio`, made by
`models/train/run.sh gather`). Random choices come from seed 7; files already there are kept.
"""
import json, random, subprocess, os, sys
from pathlib import Path
root = Path(__file__).resolve().parent.parent / 'models' / 'train'
test = json.load(open(root / 'split.json'))['test']
srcs = [root / 'cache/audio' / (t + '.wav') for t in test]
srcs = [s for s in srcs if s.exists()]
out = Path(sys.argv[1]); rng = random.Random(7)
def dur(p): return float(subprocess.run(['soxi', '-D', str(p)], capture_output=True, text=True).stdout)
durs = {s: dur(s) for s in srcs}
jobs = []
fmts = [('flac', 44100), ('flac', 48000), ('wav', 44100), ('ogg', 44100), ('wav', 48000)]
for i in range(1000):
    s = rng.choice(srcs); ext, rate = rng.choice(fmts); length = rng.uniform(10, 30)
    start = max(0.0, rng.uniform(0, max(0.0, durs[s] - length)))
    jobs.append((s, out / 'short' / f'{i // 100:02d}' / f'clip{i:04d}.{ext}', rate, start, length))
for i in range(100):
    length = rng.uniform(180, 300); ext, rate = rng.choice([('flac', 44100), ('flac', 48000)])
    parts = rng.sample(srcs, 6)
    jobs.append((parts, out / 'full' / f'track{i:03d}.{ext}', rate, 0, length))
for src, dst, rate, start, length in jobs:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists(): continue
    ins = [str(p) for p in (src if isinstance(src, list) else [src])]
    subprocess.run(['sox', *ins, '-r', str(rate), '-c', '2', '-b', '16', str(dst), 'trim', f'{start:.2f}', f'{length:.2f}', 'rate', '-h', str(rate)], check=True, capture_output=True)
print('done', len(jobs))
