#!/usr/bin/env python3
"""Helpers for `cargo xtask bench` (BENCHMARKS.md). Every subcommand writes `key=value` lines.

  measure --out F [--stdout F] [--mark S [--mark-end E]] -- CMD...
      Runs CMD and reports its wall time, its CPU time (user + system, from wait4's rusage,
      i.e. getrusage of the child, all threads), its peak RSS (rusage ru_maxrss and the last
      VmHWM read from /proc/<pid>/status while it ran) and, with --mark S [--mark-end E], its
      CPU use from S seconds after the start to E (or to the last sample while all threads
      seen at S are alive), as the sum of /proc/<pid>/task/*/schedstat sampled every 20 ms,
      in total and per thread name: the steady state without start-up. Standard library only.

  musicnn --out F [--threads 1|0] FILE...
      The peer: PyPI musicnn 0.1.0, `musicnn.extractor.extractor(file, model='MTT_musicnn',
      input_length=3)` per file in one process, exactly as a user would call it. --threads 1
      pins TensorFlow to one intra-op and one inter-op thread (every tf.compat.v1.Session
      musicnn opens gets that ConfigProto); 0 leaves TensorFlow's defaults (all cores).
      Needs the training venv (tensorflow-cpu 2.15.1, librosa, musicnn --no-deps).

  matmul --out F
      float32 matrix multiply with numpy (OpenBLAS sgemm) on one thread: the machine's
      practical single-core multiply-accumulate rate.

  convert --rate R --channels C IN OUT
      Resamples a WAV (soundfile + scipy's polyphase resampler) to 16-bit R Hz, C channels:
      the fallback when sox is missing.
"""

import os
import sys
import time


def write(out, kv):
    text = "".join(f"{k}={v}\n" for k, v in kv.items())
    if out:
        with open(out, "w") as f:
            f.write(text)
    sys.stdout.write(text)


def task_cpu(pid):
    """{tid: (thread name, CPU ns)} of the live threads of pid (schedstat's first field)."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns = int(f.read().split()[0])
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            out[tid] = (name, ns)
        except (OSError, ValueError, IndexError):
            pass
    return out


def vm_hwm_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cmd_measure(argv):
    import subprocess

    out = stdout = None
    mark = mark_end = None
    while argv and argv[0] != "--":
        a = argv.pop(0)
        if a == "--out":
            out = argv.pop(0)
        elif a == "--stdout":
            stdout = argv.pop(0)
        elif a == "--mark":
            mark = float(argv.pop(0))
        elif a == "--mark-end":
            mark_end = float(argv.pop(0))
        else:
            sys.exit(f"measure: unknown option {a}")
    if not argv or argv[0] != "--" or len(argv) < 2:
        sys.exit("measure: -- CMD... needed")
    cmd = argv[1:]
    so = open(stdout, "wb") if stdout else subprocess.DEVNULL
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=so)
    hwm = 0
    at_mark = None  # (t, {tid: (name, ns)})
    last = None
    while True:
        r = os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if r is not None:
            break
        h = vm_hwm_kb(p.pid)
        if h:
            hwm = max(hwm, h)
        now = time.monotonic() - t0
        if mark is not None and (mark_end is None or now <= mark_end):
            c = task_cpu(p.pid)
            if c:
                if at_mark is None and now >= mark:
                    at_mark = (now, c)
                elif at_mark is not None:
                    # The window ends while every thread seen at the mark is still alive
                    # (a thread that ended takes its CPU time out of the sum).
                    if set(at_mark[1]) <= set(c):
                        last = (now, c)
                    else:
                        mark_end = now
        time.sleep(0.02)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    code = os.waitstatus_to_exitcode(status)
    kv = {
        "cmd": " ".join(cmd),
        "exit_code": code,
        "wall_s": f"{wall:.4f}",
        "user_s": f"{ru.ru_utime:.4f}",
        "sys_s": f"{ru.ru_stime:.4f}",
        "cpu_s": f"{ru.ru_utime + ru.ru_stime:.4f}",
        "maxrss_kb": ru.ru_maxrss,
        "vmhwm_kb": hwm,
    }
    if at_mark and last and last[0] > at_mark[0]:
        span = last[0] - at_mark[0]
        per = {}
        for tid, (name, ns) in at_mark[1].items():
            d = last[1][tid][1] - ns
            per[name] = per.get(name, 0) + d
        total = sum(per.values())
        kv["steady_from_s"] = f"{at_mark[0]:.3f}"
        kv["steady_to_s"] = f"{last[0]:.3f}"
        kv["steady_cpu_s"] = f"{total * 1e-9:.4f}"
        kv["steady_cpu_pct"] = f"{100 * total * 1e-9 / span:.3f}"
        for name, ns in sorted(per.items(), key=lambda x: -x[1]):
            kv[f"steady_thread.{name}_pct"] = f"{100 * ns * 1e-9 / span:.3f}"
    write(out, kv)
    sys.exit(0 if code == 0 else 1)


def cmd_musicnn(argv):
    out = None
    threads = 0
    files = []
    while argv:
        a = argv.pop(0)
        if a == "--out":
            out = argv.pop(0)
        elif a == "--threads":
            threads = int(argv.pop(0))
        else:
            files.append(a)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if threads:
        for v in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS",
                  "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
            os.environ[v] = str(threads)
    t_import = time.monotonic()
    import tensorflow as tf

    if threads:
        orig = tf.compat.v1.Session
        cfg = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads,
                                       inter_op_parallelism_threads=threads)

        def session(*a, **k):
            k.setdefault("config", cfg)
            return orig(*a, **k)

        tf.compat.v1.Session = session
    import soundfile
    from musicnn.extractor import extractor

    t_import = time.monotonic() - t_import
    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # musicnn prints progress
    per_file = []
    audio_s = 0.0
    t_all = time.monotonic()
    for f in files:
        d = soundfile.info(f).duration
        t = time.monotonic()
        taggram, tags, _features = extractor(f, model="MTT_musicnn", input_length=3)
        el = time.monotonic() - t
        mean = taggram.mean(axis=0)
        top = [tags[i] for i in mean.argsort()[::-1][:3]]
        per_file.append((os.path.basename(f), d, el, top))
        audio_s += d
    t_all = time.monotonic() - t_all
    sys.stdout = real_stdout
    import resource

    kv = {
        "peer": "musicnn 0.1.0 MTT_musicnn extractor(input_length=3)",
        "tensorflow": tf.__version__,
        "threads": threads or "default",
        "files": len(files),
        "audio_s": f"{audio_s:.2f}",
        "import_s": f"{t_import:.3f}",
        "tagging_s": f"{t_all:.3f}",
        "x_realtime_tagging": f"{audio_s / t_all:.2f}",
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    for i, (name, d, el, top) in enumerate(per_file):
        kv[f"file{i}"] = f"{name} {d:.1f}s {el:.3f}s top={'|'.join(top)}"
    write(out, kv)


def cmd_matmul(argv):
    out = argv[argv.index("--out") + 1] if "--out" in argv else None
    for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[v] = "1"
    import numpy as np

    kv = {"numpy": np.__version__}
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        kv["blas"] = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # older numpy: no dict mode
        kv["blas"] = "?"
    rng = np.random.default_rng(0)
    for n in (256, 1024):
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        c = a @ b
        best = float("inf")
        reps = 50 if n <= 256 else 8
        for _ in range(reps):
            t = time.perf_counter()
            c = a @ b
            best = min(best, time.perf_counter() - t)
        kv[f"sgemm_{n}_gflops"] = f"{2 * n ** 3 / best / 1e9:.2f}"
    write(out, kv)


def cmd_convert(argv):
    rate = int(argv[argv.index("--rate") + 1])
    channels = int(argv[argv.index("--channels") + 1])
    src, dst = argv[-2], argv[-1]
    from math import gcd

    import numpy as np
    import soundfile
    from scipy.signal import resample_poly

    x, sr = soundfile.read(src, dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    g = gcd(rate, sr)
    y = resample_poly(x, rate // g, sr // g).astype(np.float32)
    y = np.repeat(y[:, None], channels, axis=1)
    soundfile.write(dst, np.clip(y, -1, 1), rate, subtype="PCM_16")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, argv = sys.argv[1], sys.argv[2:]
    {"measure": cmd_measure, "musicnn": cmd_musicnn, "matmul": cmd_matmul,
     "convert": cmd_convert}.get(cmd, lambda _: sys.exit(__doc__))(argv)


if __name__ == "__main__":
    main()
