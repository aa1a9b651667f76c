"""Stage 4: export the trained models to ONNX, write the manifest and the golden fixtures.

ONNX graphs are written op by op with onnx.helper (batch-norm folded into the convolutions,
standardisation folded into the graphs), then checked against the Keras models with
onnxruntime. Outputs:
  models/s18.onnx, s27.onnx, s54.onnx   segment [N, frames, 128] -> level0..2 [N, width]
  models/classifier.onnx                features [N, D] -> scores [N, 50]
  models/manifest.json                  everything the Rust engine needs, with SHA-256s
  tests/fixtures/golden.json (+ .wav)   front end, features and scores for the Rust tests
"""
import hashlib
import json
import os
import sys

import numpy as np
import onnx

# ONNX Runtime (1.29+) starts a telemetry uploader on import unless this is set first.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
import onnxruntime as ort  # noqa: E402
import soundfile as sf
from onnx import TensorProto, helper, numpy_helper

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from config import (FIXTURES, MODELS, WORK, TAGS, SCALES, KERNEL, HIDDEN, N_MELS, SAMPLE_RATE, N_FFT,  # noqa: E402
                    HOP, F_MIN, F_MAX, LOG_C, SILENCE_GATE)
import frontend  # noqa: E402

OPSET = 17


def bn_fold(conv, bn):
    k, b = conv.get_weights()                       # k: [K, Cin, Cout]
    gamma, beta, mean, var = bn.get_weights()
    scale = gamma / np.sqrt(var + bn.epsilon)
    w = np.transpose(k, (2, 1, 0)) * scale[:, None, None]   # [Cout, Cin, K]
    return w.astype(np.float32), ((b - mean) * scale + beta).astype(np.float32)


def cnn_to_onnx(scale, keras_model, mu, sigma, path):
    nodes, inits = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    F = scale["frames"]
    nodes.append(helper.make_node("Sub", ["mel", const("mu", mu.astype(np.float32))], ["x_c"]))
    nodes.append(helper.make_node("Mul", ["x_c", const("inv_sigma", (1.0 / sigma).astype(np.float32))], ["x_s"]))
    nodes.append(helper.make_node("Transpose", ["x_s"], ["x0"], perm=[0, 2, 1]))
    cur = "x0"
    n = len(scale["widths"])
    outputs = []
    for i in range(n):
        w, b = bn_fold(keras_model.get_layer(f"conv{i}"), keras_model.get_layer(f"bn{i}"))
        nodes.append(helper.make_node("Conv", [cur, const(f"w{i}", w), const(f"b{i}", b)], [f"c{i}"],
                                      kernel_shape=[KERNEL], pads=[KERNEL // 2, KERNEL // 2]))
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"]))
        if i >= n - 3:
            name = f"level{i - (n - 3)}"
            nodes.append(helper.make_node("ReduceMax", [f"r{i}"], [name], axes=[2], keepdims=0))
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", scale["widths"][i]]))
        if i < n - 1:
            p = scale["pools"][i]
            nodes.append(helper.make_node("MaxPool", [f"r{i}"], [f"p{i}"], kernel_shape=[p], strides=[p]))
            cur = f"p{i}"
    graph = helper.make_graph(nodes, f"mstag_{scale['name']}",
                              [helper.make_tensor_value_info("mel", TensorProto.FLOAT, ["N", F, N_MELS])],
                              outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="mstag-train")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def classifier_to_onnx(clf, mu, sd, path):
    w1, b1 = clf.get_layer("fc1").get_weights()
    w2, b2 = clf.get_layer("fc2").get_weights()
    # Fold (x - mu) / sd into the first layer: W1' = W1 / sd, b1' = b1 - (mu / sd) @ W1.
    w1f = (w1 / sd[:, None]).astype(np.float32)
    b1f = (b1 - (mu / sd) @ w1).astype(np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in
             ((w1f, "w1"), (b1f, "b1"), (w2.astype(np.float32), "w2"), (b2.astype(np.float32), "b2"))]
    nodes = [helper.make_node("Gemm", ["features", "w1", "b1"], ["h1"]),
             helper.make_node("Relu", ["h1"], ["a1"]),
             helper.make_node("Gemm", ["a1", "w2", "b2"], ["logits"]),
             helper.make_node("Sigmoid", ["logits"], ["scores"])]
    D = w1.shape[0]
    graph = helper.make_graph(nodes, "mstag_classifier",
                              [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", D])],
                              [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", len(TAGS)])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="mstag-train")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


class OnnxTagger:
    """The reference implementation of song-level tagging, on the exported ONNX files."""

    def __init__(self, manifest_path=MODELS / "manifest.json"):
        self.manifest = json.loads(manifest_path.read_text())
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        d = manifest_path.parent
        self.scales = [(s, ort.InferenceSession(str(d / s["file"]), so)) for s in self.manifest["scales"]]
        self.clf = ort.InferenceSession(str(d / self.manifest["classifier"]["file"]), so)

    def segment_features(self, mel, batched=False, gate=True):
        """Per scale: [segments, dim], all complete segments, silent ones (all log-mel values
        below SILENCE_GATE) left out exactly as the Rust engine does."""
        out = []
        for s, sess in self.scales:
            segs = frontend.segments(mel, s["frames"], s["hop_frames"])
            if len(segs) and gate:
                segs = segs[segs.reshape(len(segs), -1).max(axis=1) >= SILENCE_GATE]
            if len(segs) == 0:
                out.append(np.zeros((0, sum(lv["width"] for lv in s["levels"])), np.float32))
                continue
            if batched:
                runs = [sess.run(None, {"mel": segs[i:i + 256]}) for i in range(0, len(segs), 256)]
            else:
                runs = [sess.run(None, {"mel": segs[i:i + 1]}) for i in range(len(segs))]
            lv = [np.concatenate(x) for x in zip(*runs)]
            out.append(np.concatenate(lv, axis=1))
        return out

    def song_features(self, mel):
        per = self.segment_features(mel)
        return np.concatenate([p.astype(np.float64).mean(axis=0) for p in per]).astype(np.float32), per

    def scores(self, feats):
        return self.clf.run(None, {"features": feats[None, :].astype(np.float32)})[0][0]

    def tag_audio(self, y):
        mel = frontend.logmel(y)
        feats, per = self.song_features(mel)
        return self.scores(feats), feats, per, mel


def golden_signal(seconds=2.6):
    """Deterministic test signal: a chirp, a two-note harmonic tone, a click train and noise."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    rng = np.random.default_rng(1234)
    chirp = 0.3 * np.sin(2 * np.pi * (100 * t + 0.5 * 1500 * t ** 2))
    f0 = np.where(t < seconds / 2, 220.0, 330.0)
    tone = sum(0.15 / k * np.sin(2 * np.pi * k * f0 * t) for k in range(1, 6))
    clicks = np.zeros_like(t)
    clicks[:: SAMPLE_RATE // 4] = 0.8
    y = chirp + tone + clicks + 0.02 * rng.standard_normal(len(t))
    y = np.clip(y, -0.99, 0.99)
    return np.round(y * 32767) / 32768.0     # exactly representable as 16-bit PCM


def main():
    import tensorflow as tf
    from train import build_cnn
    ckpt = WORK / "ckpt"
    MODELS.mkdir(parents=True, exist_ok=True)
    scales_manifest = []
    rng = np.random.default_rng(0)
    for scale in SCALES:
        norm = np.load(ckpt / f"{scale['name']}_norm.npz")
        model, feat = build_cnn(scale, norm["mu"], norm["sigma"])
        model.load_weights(str(ckpt / f"{scale['name']}.weights.h5"))
        path = MODELS / f"{scale['name']}.onnx"
        cnn_to_onnx(scale, model, norm["mu"], norm["sigma"], path)
        x = (rng.standard_normal((4, scale["frames"], N_MELS)) + 2).astype(np.float32)
        ref = feat.predict(x, verbose=0)
        got = ort.InferenceSession(str(path)).run(None, {"mel": x})
        err = max(float(np.abs(r - g).max() / (np.abs(r).max() + 1e-9)) for r, g in zip(ref, got))
        print(f"  {path.name}: ONNX vs Keras max rel err {err:.2e}")
        assert err < 1e-4, err
        n = len(scale["widths"])
        scales_manifest.append({
            "name": scale["name"], "frames": scale["frames"], "hop_frames": scale["hop_frames"],
            "file": path.name, "sha256": sha256(path), "input": "mel",
            "input_shape": [-1, scale["frames"], N_MELS],
            "conv_layers": n, "widths": scale["widths"], "pools": scale["pools"], "kernel": KERNEL,
            "levels": [{"output": f"level{j}", "layer": n - 3 + j, "width": scale["widths"][n - 3 + j]}
                       for j in range(3)],
        })
    cn = np.load(ckpt / "classifier_norm.npz")
    D = sum(lv["width"] for s in scales_manifest for lv in s["levels"])
    x_in = tf.keras.Input((D,), name="features")
    h = tf.keras.layers.Dense(HIDDEN, activation="relu", name="fc1")(x_in)
    y = tf.keras.layers.Dense(len(TAGS), activation="sigmoid", name="fc2")(h)
    clf = tf.keras.Model(x_in, y)
    clf.load_weights(str(ckpt / "classifier.weights.h5"), skip_mismatch=False, by_name=True)
    cpath = MODELS / "classifier.onnx"
    classifier_to_onnx(clf, cn["mu"], cn["sd"], cpath)
    xf = np.abs(rng.standard_normal((3, D))).astype(np.float32)
    ref = clf.predict((xf - cn["mu"]) / cn["sd"], verbose=0)
    got = ort.InferenceSession(str(cpath)).run(None, {"features": xf})[0]
    print(f"  classifier.onnx: ONNX vs Keras max abs err {np.abs(ref-got).max():.2e}")
    assert np.abs(ref - got).max() < 1e-4

    manifest = {
        "format": 1,
        "name": "mstag-leenam-mtt50",
        "description": "Lee & Nam 2017 multi-level, multi-scale CNN features; trained by models/train",
        "sample_rate": SAMPLE_RATE,
        "frontend": {
            "n_fft": N_FFT, "hop": HOP, "n_mels": N_MELS, "f_min": F_MIN, "f_max": F_MAX,
            "window": "hann_periodic", "power": 2.0, "center": False,
            "mel_scale": "slaney", "mel_norm": "slaney", "log_c": LOG_C,
            "formula": "frame i = samples [i*hop, i*hop+n_fft); X = rfft(window * frame); "
                       "mel = M @ |X|^2 (slaney mel scale, slaney area norm); out = log10(1 + log_c * mel)",
        },
        "scales": scales_manifest,
        "classifier": {"file": cpath.name, "sha256": sha256(cpath), "input": "features", "output": "scores",
                       "input_dim": D, "hidden": HIDDEN, "activation": "sigmoid"},
        "aggregation": "per segment: max over time of each level (in the scale model); "
                       "song: arithmetic mean over all complete segments; features concatenated "
                       "in feature_order",
        "feature_order": [f"{s['name']}/{lv['output']}" for s in scales_manifest for lv in s["levels"]],
        "tags": TAGS,
    }
    (MODELS / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum((MODELS / s["file"]).stat().st_size for s in scales_manifest) + cpath.stat().st_size
    print(f"  ONNX total {total/1e6:.2f} MB")

    # Golden fixtures for the Rust tests.
    FIXTURES.mkdir(parents=True, exist_ok=True)
    y = golden_signal()
    sf.write(str(FIXTURES / "golden.wav"), y, SAMPLE_RATE, subtype="PCM_16")
    y2, _ = sf.read(str(FIXTURES / "golden.wav"), dtype="float64")
    assert np.array_equal(y, y2)
    tagger = OnnxTagger()
    scores, feats, per, mel = tagger.tag_audio(y)
    golden = {
        "wav": "golden.wav", "sample_rate": SAMPLE_RATE, "n_samples": int(len(y)),
        "mel_frames": [[float(f"{v:.7g}") for v in row] for row in mel],
        "segment_features": {s["name"]: [[float(f"{v:.7g}") for v in r] for r in p]
                             for s, p in zip(manifest["scales"], per)},
        "song_features": [float(f"{v:.7g}") for v in feats],
        "scores": [float(f"{v:.7g}") for v in scores],
    }
    (FIXTURES / "golden.json").write_text(json.dumps(golden))
    print(f"  golden: {len(mel)} frames, top tag {TAGS[int(np.argmax(scores))]}")


if __name__ == "__main__":
    sys.exit(main())
