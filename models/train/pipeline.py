"""Runs the training stages in order and records how long each took (work/timings.json)."""
import json
import subprocess
import sys
import time

from config import WORK

STAGES = ["gather", "label", "train", "export", "calibrate", "demo", "eval"]


def main(argv):
    stages = argv or STAGES
    for s in stages:
        if s not in STAGES:
            sys.exit(f"unknown stage {s!r}; stages: {' '.join(STAGES)}")
    WORK.mkdir(parents=True, exist_ok=True)
    tfile = WORK / "timings.json"
    timings = json.loads(tfile.read_text()) if tfile.exists() else {}
    for s in stages:
        print(f"== {s}", flush=True)
        t0 = time.time()
        subprocess.run([sys.executable, f"{s}.py"], check=True)
        timings[s] = round(time.time() - t0, 1)
        tfile.write_text(json.dumps(timings, indent=1))
        print(f"== {s}: {timings[s]:.0f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
