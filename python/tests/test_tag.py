"""Tagger.tag and Tagger.tag_array: the scores the `mstag` program gives, for files and for
arrays of every accepted dtype and layout."""

import json
from pathlib import Path

import numpy as np
import pytest

import mstag
from conftest import DEMO, ROOT, max_abs_diff, run_cli, scores_of


def test_tag_gives_the_cli_json_object(tagger, demo_tags):
    assert list(demo_tags) == [
        "file",
        "duration_s",
        "segments",
        "silent_segments",
        "looped_scales",
        "device",
        "tags",
    ]
    assert demo_tags["file"] == str(DEMO)
    assert abs(demo_tags["duration_s"] - 30.0) < 0.05
    assert demo_tags["device"] == "cpu"
    assert demo_tags["looped_scales"] == []
    assert demo_tags["silent_segments"] == 0
    assert demo_tags["segments"] == 71 + 47 + 23
    assert list(demo_tags["tags"]) == tagger.tags
    assert len(tagger.tags) == 50
    assert all(0.0 <= s <= 1.0 for s in demo_tags["tags"].values())


def test_tag_equals_the_program_within_1e_5(tagger, demo_tags):
    line = run_cli("tag", "--format", "jsonl", "--quiet", str(DEMO)).strip().splitlines()
    assert len(line) == 1
    cli = json.loads(line[0])
    assert list(cli["tags"]) == tagger.tags
    diff = max_abs_diff(scores_of(demo_tags, tagger.tags), scores_of(cli, tagger.tags))
    print(f"max |python - cli| = {diff:.3g}")
    assert diff <= 1e-5
    assert abs(cli["duration_s"] - demo_tags["duration_s"]) < 1e-4
    assert cli["device"] == demo_tags["device"]


def test_tag_equals_the_python_reference_within_1e_4(tagger, demo_tags):
    reference = json.loads((ROOT / "models" / "demo" / "reference.json").read_text())
    for tag, want in reference["tags"].items():
        assert abs(demo_tags["tags"][tag] - want) < 1e-4, tag


def test_tag_takes_path_objects(tagger, demo_tags):
    again = tagger.tag(Path(DEMO))
    assert again["file"] == str(DEMO)
    assert again["tags"] == demo_tags["tags"]


def test_tag_array_of_int16_equals_tag(tagger, demo_i16, demo_tags):
    samples, rate = demo_i16
    song = tagger.tag_array(samples, rate)
    assert "file" not in song
    assert list(song["tags"]) == tagger.tags
    assert max_abs_diff(scores_of(song, tagger.tags), scores_of(demo_tags, tagger.tags)) <= 1e-6
    assert abs(song["duration_s"] - demo_tags["duration_s"]) < 1e-9
    assert song["segments"] == demo_tags["segments"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tag_array_of_floats_equals_tag(tagger, demo_i16, demo_tags, dtype):
    samples, rate = demo_i16
    x = (samples.astype(np.float64) / 32768.0).astype(dtype)
    song = tagger.tag_array(x, rate)
    assert max_abs_diff(scores_of(song, tagger.tags), scores_of(demo_tags, tagger.tags)) <= 1e-6


def test_stereo_and_strided_arrays(tagger, demo_i16, demo_tags):
    samples, rate = demo_i16
    want = scores_of(demo_tags, tagger.tags)
    x = samples.astype(np.float32) / 32768.0
    stereo = np.stack([x, x], axis=1)  # [frames, 2]: the downmix is x again
    for arr in (stereo, np.asfortranarray(stereo), x[:, None]):
        song = tagger.tag_array(arr, rate)
        assert max_abs_diff(scores_of(song, tagger.tags), want) <= 1e-6
    # A strided view of one channel reads in logical order.
    wide = np.stack([x, np.zeros_like(x)], axis=1)
    song = tagger.tag_array(wide[:, 0], rate)
    assert max_abs_diff(scores_of(song, tagger.tags), want) <= 1e-6


def test_left_right_differences_change_the_scores(tagger, demo_i16, demo_tags):
    samples, rate = demo_i16
    x = samples.astype(np.float32) / 32768.0
    half = tagger.tag_array(np.stack([x, np.zeros_like(x)], axis=1), rate)
    # The downmix is x / 2: quieter, not the same song-level input.
    assert max_abs_diff(scores_of(half, tagger.tags), scores_of(demo_tags, tagger.tags)) > 1e-6


def test_resampled_input_is_close(tagger, demo_i16, demo_tags):
    samples, rate = demo_i16
    x = samples.astype(np.float64) / 32768.0
    # Low-passed at 9.5 kHz first, as tests/parity.rs does: the models read the clip's faint
    # 10-11 kHz band strongly, and that band is where resamplers differ; this test is about
    # the package taking other rates, not about a filter's edge.
    spectrum = np.fft.rfft(x)
    spectrum[np.fft.rfftfreq(len(x), 1.0 / rate) > 9_500.0] = 0.0
    base = tagger.tag_array(np.fft.irfft(spectrum, n=len(x)).astype(np.float32), rate)
    # Band-limited 2x upsampling (zero-padded spectrum): the same music at 44.1 kHz, which
    # the pipeline resamples back to the models' 22.05 kHz.
    up = np.fft.irfft(spectrum, n=2 * len(x)) * 2
    song = tagger.tag_array(up.astype(np.float32), rate * 2)
    assert abs(song["duration_s"] - demo_tags["duration_s"]) < 1e-6
    # As tests/parity.rs checks other rates: the same top 3 tags, scores within 0.1.
    got, want = scores_of(song, tagger.tags), scores_of(base, tagger.tags)
    assert list(np.argsort(-got)[:3]) == list(np.argsort(-want)[:3])
    assert max_abs_diff(got, want) < 0.1


def test_tagger_properties(tagger, manifest):
    assert tagger.tags == manifest["tags"]
    assert tagger.device == "cpu"
    assert tagger.batch == 32
    assert Path(tagger.models).name == "manifest.json"
    assert Path(tagger.models).is_file()
    assert "mstag.Tagger(device=\"cpu\"" in repr(tagger)


def test_onnxruntime_comes_from_the_onnxruntime_wheel():
    import os

    lib = Path(mstag.onnxruntime_library())
    assert lib.name == f"libonnxruntime.so.{mstag.ORT_VERSION}"
    if not os.environ.get("ORT_DYLIB_PATH"):
        assert lib.parent.name == "capi" and lib.parent.parent.name == "onnxruntime"
