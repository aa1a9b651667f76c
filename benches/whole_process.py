"""Whole-process throughput of `mstag tag` on one core: issue 15's bar (BENCHMARKS.md,
"48 kHz stereo FLAC, whole process").

    python3 benches/whole_process.py [--mstag target/release/mstag] [--rounds 12] [--dir DIR]

Builds the stand-in set from the demo clip with sox, unless DIR has it already: six 20 s
pieces (piece i starts 2i s in and is pitch-moved by 40i - 100 cents), 48 kHz stereo, mixed
with white noise at -34 dB so that the whole band is filled, as 16-bit FLAC (s*.flac), as
16-bit WAV (w*.wav) and at 22.05 kHz mono (m*.wav); and the clip's first second (one.wav)
for start-up. Then it runs `taskset -c 0 MSTAG tag -j 1 -q --format jsonl` over each set in
turn, ROUNDS times, and prints the CPU time of each whole process (user + system, from
wait4, as `models/train/peer_bench.py measure` reports it for `cargo xtask bench`; what
`perf stat` calls task-clock) as quartiles and times real time. One run of each set per
round, so that a slow phase of the machine hits every set alike.
"""
import argparse, statistics, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / 'models' / 'demo' / 'demo.wav'
PEER_BENCH = ROOT / 'models' / 'train' / 'peer_bench.py'
# (what, file names in the set's folder, seconds of audio)
SETS = [('6 x 20 s FLAC, 48 kHz stereo', [f's{i}.flac' for i in range(6)], 120.0),
        ('6 x 20 s WAV, 48 kHz stereo', [f'w{i}.wav' for i in range(6)], 120.0),
        ('6 x 20 s WAV, 22.05 kHz mono', [f'm{i}.wav' for i in range(6)], 120.0),
        ('one 1 s WAV (start-up)', ['one.wav'], 1.0)]


def sox(*args):
    subprocess.run(['sox', *map(str, args)], check=True, capture_output=True)


def make_set(d: Path):
    d.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(6):
            if (d / f'm{i}.wav').exists():
                continue
            music, noise = Path(tmp) / 'music.wav', Path(tmp) / 'noise.wav'
            sox(DEMO, '-r', 48000, '-c', 2, music, 'trim', 2 * i, 20, 'pitch', 40 * i - 100,
                'rate', '-v', 48000)
            sox('-n', '-r', 48000, '-c', 2, noise, 'synth', 20, 'whitenoise', 'vol', '-34dB')
            sox('-m', music, noise, '-b', 16, d / f's{i}.flac')
            sox(d / f's{i}.flac', '-b', 16, d / f'w{i}.wav')
            sox(d / f's{i}.flac', '-r', 22050, '-c', 1, '-b', 16, d / f'm{i}.wav')
    if not (d / 'one.wav').exists():
        sox(DEMO, d / 'one.wav', 'trim', 0, 1)


def cpu_ms(mstag: str, paths) -> float:
    """CPU time of one whole `mstag tag` process on core 0, in ms."""
    cmd = ['taskset', '-c', '0', mstag, 'tag', '-j', '1', '-q', '--format', 'jsonl', *paths]
    with tempfile.NamedTemporaryFile('r', suffix='.txt') as out:
        r = subprocess.run([sys.executable, str(PEER_BENCH), 'measure', '--out', out.name,
                            '--', *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True)
        kv = dict(line.rstrip('\n').split('=', 1) for line in out if '=' in line)
    if r.returncode != 0:
        sys.exit(f'{" ".join(cmd)} failed (exit code {kv.get("exit_code", "?")}): '
                 f'{r.stderr.strip()}')
    return float(kv['cpu_s']) * 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--mstag', default=str(ROOT / 'target' / 'release' / 'mstag'))
    ap.add_argument('--rounds', type=int, default=12)
    ap.add_argument('--dir', type=Path, default=ROOT / 'target' / 'whole-process-set')
    a = ap.parse_args()
    if a.rounds < 1:
        sys.exit('--rounds: at least 1')
    if not Path(a.mstag).is_file():
        sys.exit(f'{a.mstag}: no such program (cargo build --release first, or --mstag PATH)')
    make_set(a.dir)
    times = {name: [] for name, *_ in SETS}
    for _ in range(a.rounds):
        for name, names, _ in SETS:
            times[name].append(cpu_ms(a.mstag, [str(a.dir / n) for n in names]))
    print(f'{a.mstag}, {a.rounds} rounds, CPU ms of the whole process on core 0')
    print('| set | min | quartile | median | quartile | max | x real time: median (best) |')
    print('|---|---|---|---|---|---|---|')
    for name, _, seconds in SETS:
        v = sorted(times[name])
        q = statistics.quantiles(v, n=4, method='inclusive') if len(v) > 1 else [v[0]] * 3
        ratio = ('' if seconds < 10 else
                 f'{seconds * 1000 / q[1]:,.0f}x ({seconds * 1000 / v[0]:,.0f}x)')
        print(f'| {name} | {v[0]:.0f} | {q[0]:.0f} | {q[1]:.0f} | {q[2]:.0f} | {v[-1]:.0f} | {ratio} |')


if __name__ == '__main__':
    main()
