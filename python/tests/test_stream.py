"""mstag.Stream: scores as pieces arrive; finishing gives what tag_array gives."""

import numpy as np
import pytest

import mstag
from conftest import max_abs_diff, scores_of


def push_all(stream, x, frames):
    updates = []
    for i in range(0, len(x), frames):
        u = stream.push(x[i : i + frames])
        if u is not None:
            updates.append(u)
    return updates


def test_stream_updates_then_finishes_as_tag_array(tagger, demo_i16):
    samples, rate = demo_i16
    offline = tagger.tag_array(samples, rate)
    stream = tagger.stream(rate)
    assert stream.latest is None and stream.time_s == 0.0
    updates = push_all(stream, samples, 777)  # odd-sized pieces, as tests/tagger.rs
    assert len(updates) > 30, "several updates a second"
    ts = [u["t"] for u in updates]
    assert all(b > a for a, b in zip(ts, ts[1:]))
    for u in updates:
        assert set(u) == {"t", "segments", "silent", "looped", "session", "window", "ema"}
        for view in ("session", "window", "ema"):
            assert list(u[view]) == tagger.tags
            assert all(0.0 <= s <= 1.0 for s in u[view].values())
    assert stream.latest == updates[-1]
    assert abs(stream.time_s - offline["duration_s"]) < 1e-9
    # The running session mean is the song-level result but for the last partial segments.
    assert max_abs_diff(
        scores_of({"tags": updates[-1]["session"]}, tagger.tags), scores_of(offline, tagger.tags)
    ) < 0.05
    final = stream.finish()
    diff = max_abs_diff(scores_of(final, tagger.tags), scores_of(offline, tagger.tags))
    assert diff <= 1e-5
    assert final["segments"] == offline["segments"]
    with pytest.raises(mstag.Error, match="finished"):
        stream.push(samples[:100])
    with pytest.raises(mstag.Error, match="finished"):
        stream.finish()


def test_stereo_stream_and_the_class_constructor(tagger, demo_i16):
    samples, rate = demo_i16
    x = samples.astype(np.float32) / 32768.0
    stereo = np.stack([x, x], axis=1)
    stream = mstag.Stream(tagger, rate, channels=2)
    assert (stream.sample_rate, stream.channels) == (rate, 2)
    push_all(stream, stereo, 4096)
    final = stream.finish()
    offline = tagger.tag_array(x, rate)
    assert max_abs_diff(scores_of(final, tagger.tags), scores_of(offline, tagger.tags)) <= 1e-5


def test_stream_reset_forgets(tagger, demo_i16):
    samples, rate = demo_i16
    stream = tagger.stream(rate)
    push_all(stream, np.zeros(rate * 3, dtype=np.float32) + 0.0, 4096)
    push_all(stream, samples[: rate * 10], 4096)
    stream.reset()
    assert stream.latest is None
    push_all(stream, samples, 4096)
    final = stream.finish()
    offline = tagger.tag_array(samples, rate)
    # After a reset the session holds only what came after it: the whole clip.
    assert max_abs_diff(scores_of(final, tagger.tags), scores_of(offline, tagger.tags)) < 0.05


def test_stream_refuses_other_shapes(tagger):
    stream = tagger.stream(22050, channels=2)
    with pytest.raises(ValueError, match="channel"):
        stream.push(np.zeros(1000, dtype=np.float32))
    with pytest.raises(ValueError, match="channel"):
        stream.push(np.zeros((1000, 3), dtype=np.float32))
    with pytest.raises(TypeError, match="dtype"):
        stream.push(np.zeros((1000, 2), dtype=np.int32))
    with pytest.raises(ValueError, match="channels"):
        tagger.stream(22050, channels=0)
    with pytest.raises(ValueError, match="sample_rate"):
        tagger.stream(0)
