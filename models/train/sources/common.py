"""Shared pieces of the sources: Debian packages, decoding, MIDI rendering, track records."""
import hashlib
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

from config import CACHE, SAMPLE_RATE

AUDIO = CACHE / "audio"
DEBS = CACHE / "debs"
TREES = CACHE / "x"
MAX_SECONDS = 300.0


def run(cmd, **kw):
    """Run a command quietly; its stderr is kept in the exception when it fails."""
    return subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


def deb_tree(pkg):
    """Download (apt-get download) and unpack (dpkg -x) one Debian package; returns its tree.

    Gather's worker processes may ask for the same package at once (the first instrument-test
    pieces all need the held-out soundfont): one of them fetches it under a lock, the others
    wait and find it there. Without the lock, one worker's clean-up removed another's
    half-unpacked tree and a third of a cold run's instrument test was lost."""
    import fcntl
    target = TREES / pkg
    if target.exists():
        return target
    DEBS.mkdir(parents=True, exist_ok=True)
    TREES.mkdir(parents=True, exist_ok=True)     # dpkg -x makes the tree, not its parent
    with open(TREES / f".{pkg}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return target
        if not list(DEBS.glob(f"{pkg}_*.deb")):
            print(f"  apt-get download {pkg}", flush=True)
            run(["apt-get", "download", "-q", pkg], cwd=DEBS)
        deb = sorted(DEBS.glob(f"{pkg}_*.deb"))[-1]
        tmp = TREES / f".{pkg}.partial"
        run(["rm", "-rf", str(tmp)])
        run(["dpkg", "-x", str(deb), str(tmp)])
        tmp.rename(target)
    return target


def deb_version(pkg):
    """The version of a downloaded package, else of an installed one (mma, say), else None."""
    debs = sorted(DEBS.glob(f"{pkg}_*.deb"))
    if debs:
        return debs[-1].name.split("_")[1].replace("%3a", ":")
    q = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True)
    return q.stdout.strip() or None


def package_licence(pkg):
    """`"<pkg> <version>: <licences>"` of a Debian package. The package is fetched first, so
    that a cold run knows its version too."""
    names = licences(pkg)
    return f"{pkg} {deb_version(pkg) or '?'}: " + ", ".join(names)


def relicensed(r, wav, licence):
    """A cached record whose licence text is out of date, corrected (and its side file too)."""
    if r.get("licence") == licence:
        return r
    r = dict(r, licence=licence)
    _write_side(wav, r)
    return r


def licences(pkg):
    """The distinct `License:` short names in the package's debian/copyright."""
    f = deb_tree(pkg) / "usr" / "share" / "doc" / pkg / "copyright"
    if not f.exists():
        return []
    names = re.findall(r"^License:\s*(\S.*)$", f.read_text(errors="replace"), flags=re.M)
    return sorted({n.strip() for n in names})


def to_wav(src_or_array, dst, sr=None, max_seconds=MAX_SECONDS, offset_s=0.0):
    """Decode (or take) audio, downmix, resample to SAMPLE_RATE, write 16-bit mono WAV."""
    import librosa
    if isinstance(src_or_array, np.ndarray):
        y = src_or_array.astype(np.float32)
    else:
        y, sr = sf.read(str(src_or_array), dtype="float32", always_2d=True)
        y = y.mean(axis=1)
    if sr != SAMPLE_RATE:
        y = librosa.resample(y, orig_sr=sr, target_sr=SAMPLE_RATE, res_type="soxr_hq")
    start = int(offset_s * SAMPLE_RATE)
    y = y[start: start + int(max_seconds * SAMPLE_RATE)]
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    if peak > 1.0:
        y = y / peak
    write_wav(dst, y)
    return len(y) / SAMPLE_RATE


def write_wav(dst, y):
    """Write through a temporary file and a rename, so a killed run leaves no half file."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.stem + ".partial.wav")
    sf.write(str(tmp), np.clip(y, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16")
    tmp.rename(dst)


def read_wav(path):
    y, sr = sf.read(str(path), dtype="float32")
    assert sr == SAMPLE_RATE, path
    return y


def duration(path):
    return sf.info(str(path)).duration


def stable_hash(text, mod=100):
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16) % mod


def record(tid, source, wav, licence, gt=None, group=None, **extra):
    """A track's record; also kept beside its WAV (``.json``) so a resumed run reuses it."""
    r = dict({"id": tid, "group": group or tid, "source": source,
              "path": str(wav.relative_to(CACHE)), "duration": duration(wav),
              "licence": licence, "gt": gt}, **extra)
    _write_side(wav, r)
    return r


def _write_side(wav, r):
    """The record beside its WAV (`.json`), written through a temporary name."""
    side = Path(wav).with_suffix(".json")
    tmp = side.with_name(side.name + ".partial")
    tmp.write_text(json.dumps(r))
    tmp.rename(side)


def cached_record(wav):
    """The record written beside `wav` by an earlier run, or None."""
    side = Path(wav).with_suffix(".json")
    if Path(wav).exists() and side.exists():
        return json.loads(side.read_text())
    return None


def safe_name(text, n=40):
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text)[:n]
