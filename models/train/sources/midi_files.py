"""MIDI files from Debian packages (freedoom's WAD music lumps, simutrans, openttd-openmsx),
rendered with the training soundfonts. Instrument ground truth comes from their programs."""
import io
import struct
from pathlib import Path

import numpy as np

from config import SEED
from .common import (AUDIO, TREES, cached_record, deb_tree, package_licence, record, relicensed, safe_name,
                     stable_hash)
from .midi_render import instrument_gt, pick_font, render_pm, vocal_gt

PACKAGES = ["freedoom", "simutrans-data", "openttd-openmsx"]
# A second rendering with another soundfont for this share of the pieces (same group).
SECOND_FONT = 0.35
MAX_SECONDS = 120.0


def wad_music(wad):
    """(name, MIDI bytes) of the D_* music lumps of a Doom WAD (freedoom's are Standard MIDI)."""
    b = Path(wad).read_bytes()
    _, n, off = struct.unpack("<4sii", b[:12])
    for i in range(n):
        pos, size, name = struct.unpack("<ii8s", b[off + 16 * i: off + 16 * i + 16])
        name = name.rstrip(b"\0").decode(errors="replace")
        data = b[pos: pos + size]
        if name.startswith("D_") and data[:4] == b"MThd":
            yield name, data


def midi_jobs():
    jobs = []
    for pkg in PACKAGES:
        lic = package_licence(pkg)
        tree = deb_tree(pkg)
        if pkg == "freedoom":
            out = TREES / "freedoom.mid"
            out.mkdir(exist_ok=True)
            for wad in sorted(tree.rglob("*.wad")):
                for name, data in wad_music(wad):
                    f = out / f"{wad.stem}_{name}.mid"
                    if not f.exists():
                        f.write_bytes(data)
            files = sorted(out.glob("*.mid"))
        else:
            files = sorted(f for f in tree.rglob("*") if f.suffix.lower() in (".mid", ".midi"))
        for f in files:
            group = f"{pkg}/{safe_name(f.stem)}"
            h = stable_hash(group, 1000)
            rng = np.random.default_rng(SEED + h)
            fonts = [pick_font(rng)]
            if rng.random() < SECOND_FONT:
                other = pick_font(rng)
                if other != fonts[0]:
                    fonts.append(other)
            for font in fonts:
                jobs.append((f"{group}@{font}", group, pkg, str(f), font, lic, int(SEED + h)))
    return jobs


def render_midi_file(job):
    import pretty_midi
    tid, group, pkg, src, font, lic, seed = job
    wav = AUDIO / "midi" / pkg / (tid.split("/", 1)[1].replace("@", "__") + ".wav")
    rng = np.random.default_rng(seed + len(font))
    done = cached_record(wav)
    if done:
        return relicensed(done, wav, lic + f"; rendered with {font}")
    try:
        pm = pretty_midi.PrettyMIDI(io.BytesIO(Path(src).read_bytes()))
        kit = render_pm(pm, wav, font, rng, drum_kit_p=0.3, max_seconds=MAX_SECONDS)
        gt = dict(instrument_gt(pm), **vocal_gt(pm))
        tempo = float(pm.get_tempo_changes()[1][0]) if len(pm.get_tempo_changes()[1]) else None
        r = record(tid, "midi:" + pkg, wav, lic + f"; rendered with {font}", gt=gt, group=group,
                   soundfont=font, drum_kit=kit, tempo=tempo)
    except Exception as e:
        return {"id": tid, "error": f"{src}: {e}"}
    return r if r["duration"] >= 15 else {"id": tid, "error": "shorter than 15 s"}
