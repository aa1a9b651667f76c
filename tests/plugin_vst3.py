"""VST3 host check for mstag.vst3 with pedalboard (JUCE's VST3 hosting, from PyPI).

Run by tests/plugin_vst3.rs: python3 tests/plugin_vst3.py PATH/TO/mstag.vst3
Loads the bundle, checks its name, and plays 10 s of the demo clip (stereo, 48 kHz; the right
channel different from the left) through it in blocks of 64 and 512 frames, for both a stereo
and a mono layout, checking that the output equals the input bit for bit. Prints one line per
check and ends with 'N passed, N failed'.
"""

import sys
import wave

import numpy as np
import pedalboard

RATE = 48000


def demo(path, seconds):
    with wave.open(path) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        sr = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
    # Linear-interpolated to 48 kHz: any signal will do for a pass-through check.
    t = np.arange(int(seconds * RATE)) * (sr / RATE)
    t = t[t < len(x) - 1]
    return np.interp(t, np.arange(len(x)), x).astype(np.float32)


def main():
    bundle, clip = sys.argv[1], sys.argv[2]
    passed, failed = 0, 0

    def check(name, ok, detail=""):
        nonlocal passed, failed
        print(("ok   " if ok else "FAIL ") + name + (f" ({detail})" if detail else ""), flush=True)
        if ok:
            passed += 1
        else:
            failed += 1

    plugin = pedalboard.load_plugin(bundle)
    check("loads as a VST3 plugin", isinstance(plugin, pedalboard.VST3Plugin), type(plugin).__name__)
    check("is named mstag", plugin.name == "mstag", repr(plugin.name))
    check("is an effect, not an instrument", not plugin.is_instrument)

    left = demo(clip, 10.0)
    right = (left * -0.5 + 1e-3).astype(np.float32)
    for channels in (2, 1):
        audio = np.stack([left, right])[:channels].copy()
        for block in (64, 512):
            out = plugin.process(audio, RATE, buffer_size=block, reset=True)
            same = out.dtype == np.float32 and out.shape == audio.shape and np.array_equal(
                out.view(np.uint32), audio.view(np.uint32)
            )
            detail = f"{channels} ch, {block}-frame blocks, {audio.shape[1]} frames"
            if not same and out.shape == audio.shape:
                detail += f", max |diff| {np.max(np.abs(out - audio)):.3g}"
            check("bit-exact pass-through", same, detail)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
