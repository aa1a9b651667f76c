"""Vocals: sung melodies (PyPI pysinsy: the HTS female singer it ships, CC-BY-3.0; a male
variant by pitch-shifting a melody written a fifth higher down again) over MMA
accompaniment in the same key and tempo, and espeak-ng speech (alone, and over music)."""
import numpy as np

from config import SAMPLE_RATE, SEED
from .common import AUDIO, cached_record, read_wav, record, run, write_wav
from .midi_render import pick_font
from .mma_styles import GENRE_TAGS, GENRES, OTHER_TAGS, STDLIB, accompaniment, chart, grooves

KANA = list("あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもらりるれろやゆよわん")
NOTE_PC = {"C": 0, "Db": 1, "D": 2, "Eb": 3, "E": 4, "F": 5, "Gb": 6, "G": 7, "Ab": 8, "A": 9,
           "Bb": 10, "B": 11}
SUNG_GENRES = ["pop", "rock", "country", "folk", "soul", "blues", "jazz", "latin"]
SECONDS = 60.0
SING_LICENCE = ("pysinsy 0.0.5 (sinsy, Modified BSD) with nitech_jp_song070_f001.htsvoice "
                "(CC-BY-3.0, Nagoya Institute of Technology); melody and lyrics generated")
SPEECH_LICENCE = "espeak-ng (GPL-3+); text written for this pipeline"
VOICED = {"vocal": 1, "vocals": 1, "voice": 1, "no vocals": 0, "no vocal": 0, "no voice": 0}


FEMALE = ["female", "woman", "female vocal", "female voice"]
MALE = ["male", "man", "male vocal", "male voice"]


def sex_tags(voice):
    """The MTT tags for the singer's or speaker's sex: all four names of each."""
    return dict({t: int(voice == "f") for t in FEMALE}, **{t: int(voice == "m") for t in MALE})


def chord_pcs(name):
    root = name[:2] if len(name) > 1 and name[1] == "b" else name[:1]
    minor = name[len(root):].startswith("m") and not name[len(root):].startswith("maj")
    r = NOTE_PC[root]
    return [r, (r + (3 if minor else 4)) % 12, (r + 7) % 12]


def melody_xml(path, chords, tempo, rng, transpose=0):
    """A sung line over the chart: chord tones on the beat, phrases of 2 bars and a rest."""
    import music21
    s = music21.stream.Stream()
    s.append(music21.tempo.MetronomeMark(number=tempo))
    s.append(music21.meter.TimeSignature("4/4"))
    s.append(music21.note.Rest(quarterLength=4))  # sinsy wants a rest first; bar 1 is a lead-in
    for b, c in enumerate(chords[1:]):
        if b % 3 == 2:
            s.append(music21.note.Rest(quarterLength=4))
            continue
        beats = 0.0
        pcs = chord_pcs(c)
        while beats < 4:
            q = float(rng.choice([0.5, 1.0, 1.0, 1.5, 2.0]))
            q = min(q, 4 - beats)
            pc = int(rng.choice(pcs)) if beats in (0.0, 2.0) else int((rng.choice(pcs) + rng.choice([0, 2])) % 12)
            pitch = 60 + ((pc - 0) % 12) + transpose
            if pitch > 74 + transpose:
                pitch -= 12
            n = music21.note.Note(pitch, quarterLength=q)
            n.lyric = str(rng.choice(KANA))
            s.append(n)
            beats += q
    s.write("musicxml", fp=str(path))


def sing(xml):
    import pysinsy
    w, sr = pysinsy.synthesize(str(xml))
    return w.astype(np.float32), sr


def sung_jobs(n):
    styles = [(g, s) for g in SUNG_GENRES for s in GENRES[g].split() if (STDLIB / f"{s}.mma").exists()]
    return [(f"sung/song{i:04d}", styles[i % len(styles)], "m" if i % 3 == 2 else "f", SEED + 31 * i)
            for i in range(n)]


def render_sung(job):
    import librosa
    tid, (genre, style), voice, seed = job
    wav = AUDIO / "sung" / (tid.split("/", 1)[1] + ".wav")
    done = cached_record(wav)
    if done:
        return done
    rng = np.random.default_rng(seed)
    names = grooves(style)
    groove = names[int(rng.integers(0, len(names)))]
    text, tempo, chords = chart(style, groove, rng, genre)
    font = pick_font(rng)
    xml = wav.with_name(wav.stem + ".tmp.xml")
    try:
        pm, kit = accompaniment(text, wav, rng, font, seconds=SECONDS)
        band = read_wav(wav)
        # Male: written a fourth lower, sung, then shifted down a fifth (formants too): an
        # octave below the female line, in the same key.
        shift = -5 if voice == "m" else 0
        melody_xml(xml, chords, tempo, rng, transpose=shift)
        v, sr = sing(xml)
        v = librosa.resample(v, orig_sr=sr, target_sr=SAMPLE_RATE)
        if shift:
            v = librosa.effects.pitch_shift(v, sr=SAMPLE_RATE, n_steps=-7)
        v = np.pad(v, (0, max(0, len(band) - len(v))))[: len(band)]
        rms = lambda x: float(np.sqrt(np.mean(x ** 2)) + 1e-9)  # noqa: E731
        mix = band + v * (rms(band) / rms(v)) * float(rng.uniform(0.7, 1.6))
        write_wav(wav, mix * (0.9 / max(1e-9, float(np.abs(mix).max()))))
        gt = dict(VOICED, singing=1, **sex_tags(voice), **GENRE_TAGS.get(genre, OTHER_TAGS))
        return record(tid, "sung", wav, SING_LICENCE + f"; MMA {style}; rendered with {font}", gt=gt,
                      genre=genre, style=style, voice=voice, tempo=tempo, soundfont=font, drum_kit=kit)
    except Exception as e:
        wav.unlink(missing_ok=True)
        return {"id": tid, "error": f"{style}: {e}"}
    finally:
        xml.unlink(missing_ok=True)


LINES = ["the rain came down on the old town and nobody knew where the river would go",
         "tonight we drive until the morning, and the radio keeps playing our song",
         "in the beginning there was only the sea, and the wind, and a story",
         "ladies and gentlemen, welcome to the show, please take your seats",
         "this is the news at nine: markets are calm, and the weather stays mild",
         "one, two, three, four, and again from the top of the page"]


def speech_jobs(n):
    return [(f"speech/talk{i:03d}", "f" if i % 2 == 0 else "m", SEED + 17 * i) for i in range(n)]


def render_speech(job):
    """espeak-ng speech alone (voice tags, no instruments): speech is not music."""
    import librosa
    tid, voice, seed = job
    wav = AUDIO / "speech" / (tid.split("/", 1)[1] + ".wav")
    done = cached_record(wav)
    if done:
        return done
    rng = np.random.default_rng(seed)
    tmp = wav.with_name(wav.stem + ".tmp.wav")
    try:
        wav.parent.mkdir(parents=True, exist_ok=True)
        text = ". ".join(rng.choice(LINES, size=5))
        variant = ("en+f" if voice == "f" else "en+m") + str(int(rng.integers(1, 5)))
        run(["espeak-ng", "-v", variant, "-s", str(int(rng.integers(130, 180))), "-p",
             str(int(rng.integers(30, 70))), "-w", str(tmp), text])
        y, sr = librosa.load(str(tmp), sr=SAMPLE_RATE)
        write_wav(wav, y * (0.8 / max(1e-9, float(np.abs(y).max()))))
        gt = {t: 0 for t in ("piano", "guitar", "drums", "strings", "violin", "cello", "flute", "harp",
                             "harpsichord", "synth", "sitar", "singing", "choir", "choral", "opera",
                             "rock", "techno", "metal", "dance", "beat", "beats", "electronic")}
        gt.update(voice=1, **sex_tags(voice), **{"no voice": 0})
        return record(tid, "speech", wav, SPEECH_LICENCE, gt=gt, voice=voice)
    except Exception as e:
        return {"id": tid, "error": str(e)}
    finally:
        tmp.unlink(missing_ok=True)
