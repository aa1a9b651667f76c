"""Game soundtracks from Debian packages: decoded audio files, and tracker modules rendered
with openmpt123. Each package's debian/copyright licences are recorded with its tracks."""
import zipfile

from .common import (cached_record, AUDIO, TREES, deb_tree, package_licence, record, relicensed, run, safe_name,
                     to_wav)

# package: folders (parts of the path, lower case) whose audio files are music.
SOUNDTRACKS = {
    "wesnoth-1.16-music": ["music"],
    "hedgewars-data": ["music"],
    "supertuxkart-data": ["music"],
    "freedroidrpg-data": ["music"],
    "frozen-bubble-data": ["snd"],
    "naev-data": ["music"],
    "supertux-data": ["music"],
    "widelands-data": ["music"],
    "hyperrogue-music": ["music"],
    "drascula-music": ["audio"],
    "colobot-common-sounds": ["music"],
    "freeciv-data": ["stdmusic"],
    "berusky2-data": ["music"],
    "unknown-horizons": ["music"],
    "flare-game": ["music"],
    "megaglest-data": ["music"],
    "redeclipse-data": ["music"],
    "marsshooter-data": ["music"],
    "starfighter-data": ["music"],
    "planetblupi-music-ogg": ["music"],
    "singularity-music": ["music"],
    "warmux-data": ["music"],
    "plee-the-bear-data": ["music"],
    "ardentryst": ["music"],
    "freecol": ["music"],
    "openclonk-data": ["music.ocg"],
    "0ad-data": ["public.zip:audio/music"],
}
TRACKERS = ["ironseed-data", "pingus-data", "tecnoballz-data", "pekka-kana-2-data",
            "heroes-sound-tracks", "redeclipse-data"]
AUDIO_EXT = {".ogg", ".opus", ".mp3", ".wav", ".flac"}
MODULE_EXT = {".mod", ".xm", ".s3m", ".it"}
# Short jingles (frozen-bubble's snd/ holds sound effects too) are left out.
MIN_SECONDS = 20.0


def _files(pkg, folders, exts):
    tree = deb_tree(pkg)
    for f in sorted(tree.rglob("*")):
        if f.is_file() and f.suffix.lower() in exts and (
                folders is None or any(p.lower() in folders for p in f.parts)):
            yield f


def _zip_music(pkg, spec):
    """Music inside an archive in the package (0ad-data: public.zip, audio/music/)."""
    zname, inner = spec.split(":")
    out = TREES / f"{pkg}.zip-music"
    if not out.exists():
        zpath = next(deb_tree(pkg).rglob(zname))
        tmp = out.with_name(out.name + ".partial")
        run(["rm", "-rf", str(tmp)])
        with zipfile.ZipFile(zpath) as z:
            for n in z.namelist():
                if n.startswith(inner + "/") and n.lower().endswith(tuple(AUDIO_EXT)):
                    z.extract(n, tmp)
        tmp.rename(out)
    return sorted(f for f in out.rglob("*") if f.is_file())


def soundtrack_jobs():
    jobs = []
    for pkg, folders in SOUNDTRACKS.items():
        lic = package_licence(pkg)
        files = _zip_music(pkg, folders[0]) if ":" in folders[0] else _files(pkg, folders, AUDIO_EXT)
        for f in files:
            name = safe_name(f.stem)
            jobs.append((f"{pkg}/{name}", pkg, str(f), str(AUDIO / pkg / f"{name}.wav"), lic))
    return jobs


def tracker_jobs():
    jobs = []
    for pkg in TRACKERS:
        lic = package_licence(pkg)
        for f in _files(pkg, None, MODULE_EXT):
            name = safe_name(f.stem)
            jobs.append((f"modules/{pkg}/{name}", "modules:" + pkg, str(f),
                         str(AUDIO / "modules" / pkg / f"{name}.wav"), lic))
    return jobs


def _converted(job, make):
    """The record of job (tid, source, src, dst, licence) once `make(src, dst)` has written
    dst: cached from an earlier run, or made now; an error record when it fails or is short."""
    from pathlib import Path
    tid, source, src, dst, lic = job
    dst = Path(dst)
    r = cached_record(dst)
    if r is not None:
        r = relicensed(r, dst, lic)
    else:
        try:
            if not dst.exists():
                make(src, dst)
            r = record(tid, source, dst, lic)
        except Exception as e:  # an unreadable file is skipped and reported
            return {"id": tid, "error": f"{src}: {e}"}
    return r if r["duration"] >= MIN_SECONDS else {"id": tid, "error": f"shorter than {MIN_SECONDS} s"}


def decode(job):
    """An audio file of a package -> WAV."""
    from pathlib import Path
    return _converted(job, lambda src, dst: to_wav(Path(src), dst))


def _openmpt(src, dst):
    raw = dst.with_name(dst.stem + ".tmp.wav")
    dst.parent.mkdir(parents=True, exist_ok=True)
    # --end-time caps endless loops; modules loop forever in some players.
    run(["openmpt123", "--quiet", "--batch", "--force", "--no-float", "--samplerate", "22050",
         "--end-time", "300", "-o", str(raw), src], timeout=600)
    try:
        to_wav(raw, dst)
    finally:
        raw.unlink(missing_ok=True)


def render_module(job):
    """Tracker module -> WAV with openmpt123 (stereo at SAMPLE_RATE), then to_wav."""
    return _converted(job, _openmpt)


LMMS_DEMOS = "/usr/share/lmms/projects/demos"


def lmms_jobs():
    from pathlib import Path
    demos = Path(LMMS_DEMOS)
    if not demos.exists():
        raise SystemExit("lmms is not installed (apt-get install lmms): its demo projects are a source")
    return [(f"lmms/{safe_name(p.stem)}", str(p), str(AUDIO / "lmms" / f"{safe_name(p.stem)}.wav"))
            for p in sorted(demos.rglob("*.mmp*"))]


def render_lmms(job):
    """An LMMS demo project rendered headless (Debian lmms-common: GPL-2+ / CC projects)."""
    import os
    from pathlib import Path
    tid, src, dst = job
    dst = Path(dst)
    done = cached_record(dst)
    if done:
        return done
    tmp = dst.with_name(dst.stem + ".tmp.raw.wav")
    dst.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    try:
        run(["lmms", "--allowroot", "--render", src, "--output", str(tmp), "--format", "wav"],
            env=env, timeout=900)
        to_wav(tmp, dst)
        return record(tid, "lmms", dst, "LMMS demo project (lmms-common, GPL-2+/CC)", gt={"electronic": 1})
    except Exception as e:
        return {"id": tid, "error": f"{src}: {e}"}
    finally:
        tmp.unlink(missing_ok=True)
