"""Errors: mstag's errors as exceptions of their own classes with the Rust messages; bad
arrays as TypeError / ValueError."""

import errno

import numpy as np
import pytest

import mstag
from conftest import DEMO, ROOT


def test_a_missing_file_is_a_read_error_naming_it(tagger, tmp_path):
    missing = tmp_path / "no-such-song.wav"
    with pytest.raises(mstag.ReadError) as info:
        tagger.tag(str(missing))
    e = info.value
    assert isinstance(e, mstag.Error) and isinstance(e, OSError)
    # The Rust message (`cannot read PATH`) and its cause, as `mstag tag` prints them.
    assert str(e).startswith(f"cannot read {missing}: ")
    assert "No such file or directory" in str(e)
    assert e.path == str(missing)
    assert e.errno == errno.ENOENT
    with pytest.raises(mstag.ReadError, match="no-such-song.wav"):
        tagger.embed(missing)


def test_a_file_that_is_not_audio_is_a_decode_error(tagger, tmp_path):
    notes = tmp_path / "notes.wav"
    notes.write_text("these are not samples\n" * 100)
    with pytest.raises(mstag.DecodeError) as info:
        tagger.tag(notes)
    assert str(info.value).startswith(f"{notes}: ")
    assert info.value.path == str(notes)
    # The tagger still works afterwards.
    assert tagger.tag(str(DEMO))["duration_s"] > 29


def test_silence_and_nothing_give_no_scores(tagger):
    with pytest.raises(mstag.NoScoresError) as info:
        tagger.tag_array(np.zeros(22050 * 5, dtype=np.float32), 22050)
    assert "silence" in str(info.value)
    assert info.value.path is None
    with pytest.raises(mstag.NoScoresError):
        tagger.tag_array(np.zeros(0, dtype=np.int16), 22050)


def test_a_short_clip_is_looped(tagger):
    # 0.8 s: more than one segment of the shortest scale (0.45 s), less than the longest
    # (1.28 s), which is then made by looping the clip.
    t = np.arange(int(0.8 * 22050)) / 22050
    song = tagger.tag_array(np.sin(2 * np.pi * 440 * t).astype(np.float32) * 0.3, 22050)
    assert song["looped_scales"] == [54]
    assert all(0.0 <= s <= 1.0 for s in song["tags"].values())


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros(1000, dtype=np.int32),
        np.zeros(1000, dtype=np.complex64),
        np.zeros(1000, dtype=">f4"),  # not native byte order
        [0.0] * 1000,
        "not samples",
    ],
)
def test_wrong_types_are_type_errors(tagger, bad):
    with pytest.raises(TypeError):
        tagger.tag_array(bad, 22050)


def test_wrong_shapes_and_values_are_value_errors(tagger):
    with pytest.raises(ValueError, match=r"\[frames\]"):
        tagger.tag_array(np.zeros((10, 2, 2), dtype=np.float32), 22050)
    with pytest.raises(ValueError, match=r"samples\.T"):
        tagger.tag_array(np.zeros((2, 22050), dtype=np.float32), 22050)
    with pytest.raises(ValueError, match="channels"):
        tagger.tag_array(np.zeros((22050, 0), dtype=np.float32), 22050)
    x = np.zeros(22050, dtype=np.float32)
    x[100] = np.nan
    with pytest.raises(ValueError, match="finite"):
        tagger.tag_array(x, 22050)
    for rate in (0, -44100):
        with pytest.raises(ValueError, match="sample_rate"):
            tagger.tag_array(np.zeros(22050, dtype=np.float32), rate)


def test_bad_settings(tmp_path):
    with pytest.raises(mstag.InvalidSettingError, match="device") as info:
        mstag.Tagger(device="tpu")
    assert isinstance(info.value, ValueError)
    with pytest.raises(mstag.InvalidSettingError, match="batch"):
        mstag.Tagger(batch=0)
    with pytest.raises(mstag.InvalidSettingError, match="threads"):
        mstag.Tagger(threads=0)
    with pytest.raises(mstag.ReadError) as info:
        mstag.Tagger(models=tmp_path)
    assert str(info.value).startswith(f"cannot read {tmp_path / 'manifest.json'}: ")
    (tmp_path / "manifest.json").write_text("{")
    with pytest.raises(mstag.ModelError) as info:
        mstag.Tagger(models=tmp_path)
    assert str(info.value).startswith(f"model manifest {tmp_path / 'manifest.json'}: ")
    with pytest.raises(mstag.NoScoresError, match="too short"):
        mstag.Tagger().tag_array(np.zeros(100, dtype=np.float32) + 0.1, 22050)


def test_models_by_folder_or_manifest():
    a = mstag.Tagger(models=ROOT / "models")
    b = mstag.Tagger(models=str(ROOT / "models" / "manifest.json"))
    assert a.models == b.models
    assert a.tags == b.tags
