"""Tagger.embed, Tagger.predict_batch (the call for batch engines such as Ray Data's
map_batches), pickling and threads."""

import json
import pickle
import threading

import numpy as np
import pytest

import mstag
from conftest import DEMO, max_abs_diff, run_cli, scores_of


def feature_dim(manifest) -> int:
    widths = {
        f"{s['name']}/{lvl['output']}": lvl["width"]
        for s in manifest["scales"]
        for lvl in s["levels"]
    }
    return sum(widths[k] for k in manifest["feature_order"])


def test_embed_has_the_manifest_dimension(tagger, manifest):
    v = tagger.embed(str(DEMO))
    assert isinstance(v, np.ndarray)
    assert v.dtype == np.float32
    assert v.shape == (feature_dim(manifest),) == (manifest["classifier"]["input_dim"],)
    assert tagger.feature_dim == v.shape[0]
    assert np.all(np.isfinite(v))
    assert np.any(v != 0)


def test_embed_equals_the_program_within_1e_5(tagger):
    out = run_cli("embed", str(DEMO)).strip().splitlines()
    assert len(out) == 1
    cli = json.loads(out[0])
    v = tagger.embed(str(DEMO))
    diff = max_abs_diff(v, cli["features"])
    print(f"max |python - cli| features = {diff:.3g}")
    assert diff <= 1e-5


def test_embed_of_samples_equals_embed_of_the_file(tagger, demo_i16):
    samples, rate = demo_i16
    from_file = tagger.embed(DEMO)
    assert max_abs_diff(tagger.embed(samples, sample_rate=rate), from_file) <= 1e-6
    assert max_abs_diff(tagger.embed(samples.astype(np.float64) / 32768.0, rate), from_file) <= 1e-6


def test_embed_needs_a_rate_for_samples_only(tagger, demo_i16):
    samples, rate = demo_i16
    with pytest.raises(TypeError, match="sample_rate"):
        tagger.embed(samples)
    with pytest.raises(TypeError, match="sample_rate"):
        tagger.embed(str(DEMO), sample_rate=rate)


def test_predict_batch_shapes_and_values(tagger, demo_tags):
    scores, durations = tagger.predict_batch([str(DEMO), DEMO, str(DEMO)])
    assert scores.dtype == np.float32 and scores.shape == (3, len(tagger.tags))
    assert durations.dtype == np.float64 and durations.shape == (3,)
    want = scores_of(demo_tags, tagger.tags)
    for row in scores:
        assert max_abs_diff(row, want) <= 1e-5
    assert np.all(np.abs(durations - demo_tags["duration_s"]) < 1e-9)


def test_predict_batch_gives_the_features_of_the_same_pass(tagger, tmp_path):
    missing = tmp_path / "missing.wav"
    scores, durations, feats = tagger.predict_batch(
        [str(DEMO), str(missing)], on_error="nan", features=True
    )
    assert feats.dtype == np.float32 and feats.shape == (2, tagger.feature_dim)
    assert max_abs_diff(feats[0], tagger.embed(str(DEMO))) == 0.0
    assert np.all(np.isnan(feats[1])) and np.isnan(durations[1])
    plain = tagger.predict_batch([str(DEMO)])
    assert len(plain) == 2 and max_abs_diff(plain[0][0], scores[0]) == 0.0


def test_predict_batch_takes_numpy_arrays_of_paths(tagger):
    # What Ray Data's map_batches hands over: a column as a NumPy array of strings.
    scores, durations = tagger.predict_batch(np.array([str(DEMO), str(DEMO)]))
    assert scores.shape == (2, len(tagger.tags))
    assert max_abs_diff(scores[0], scores[1]) == 0.0
    empty, none = tagger.predict_batch([])
    assert empty.shape == (0, len(tagger.tags)) and none.shape == (0,)


def test_predict_batch_errors(tagger, tmp_path):
    missing = tmp_path / "missing.wav"
    with pytest.raises(mstag.ReadError, match="missing.wav"):
        tagger.predict_batch([str(DEMO), str(missing)])
    scores, durations = tagger.predict_batch([str(DEMO), str(missing)], on_error="nan")
    assert np.all(np.isnan(scores[1])) and np.isnan(durations[1])
    assert np.all(np.isfinite(scores[0])) and abs(durations[0] - 30.0) < 0.05
    with pytest.raises(ValueError, match="on_error"):
        tagger.predict_batch([str(DEMO)], on_error="skip")
    with pytest.raises(TypeError, match="list of paths"):
        tagger.predict_batch(str(DEMO))
    # The tagger still works after failures.
    assert tagger.predict_batch([str(DEMO)])[0].shape == (1, len(tagger.tags))


def test_a_tagger_pickles_as_its_arguments(tagger, demo_tags):
    copy = pickle.loads(pickle.dumps(tagger))
    assert copy.tags == tagger.tags and copy.models == tagger.models
    assert copy.tag(str(DEMO))["tags"] == demo_tags["tags"]


def test_threads_share_a_tagger(tagger, demo_tags):
    results = [None] * 3
    errors = []

    def work(i):
        try:
            results[i] = tagger.tag(str(DEMO))
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for r in results:
        assert r["tags"] == demo_tags["tags"]
