"""The teacher: an ensemble of the four models in PyPI musicnn 0.1.0, run with ONNX Runtime.

* MTT_musicnn and MTT_vgg predict the 50 MagnaTagATune tags (our vocabulary): their logits
  are averaged.
* MSD_musicnn and MSD_vgg predict 50 Million Song Dataset tags: their probabilities are
  averaged and, where an MSD tag means the same as an MTT tag (metal/heavy metal -> metal,
  instrumental -> no vocals, female vocalists -> female ...), averaged in with equal weight.

Speed decides what is affordable on two cores (measured on this machine, one core: musicnn
31x real time in ONNX Runtime, 14x in TensorFlow; the vgg models 56x). The checkpoints are
converted once (tf2onnx) to work/teacher/*.onnx. The MTT models see every MTT_EVERY-th 3 s
patch and the MSD models every MSD_EVERY-th; the patches between are interpolated. Tags
change slowly next to 3 s patches, and the classifier learns from 10-30 s clip means.
"""
import os

import numpy as np

from config import SAMPLE_RATE, TAGS, WORK

PATCH_FRAMES = 187
TEACHER_SR = 16000
TEACHER_HOP = 256
N_MELS = 96
FFT_SIZE = 512
PATCH_SECONDS = PATCH_FRAMES * TEACHER_HOP / TEACHER_SR
MTT_MODELS = ["MTT_musicnn", "MTT_vgg"]
MSD_MODELS = ["MSD_musicnn", "MSD_vgg"]
MTT_EVERY = 3
MSD_EVERY = 12
MSD_LABELS = ['rock', 'pop', 'alternative', 'indie', 'electronic', 'female vocalists', 'dance', '00s',
              'alternative rock', 'jazz', 'beautiful', 'metal', 'chillout', 'male vocalists', 'classic rock',
              'soul', 'indie rock', 'Mellow', 'electronica', '80s', 'folk', '90s', 'chill', 'instrumental',
              'punk', 'oldies', 'blues', 'hard rock', 'ambient', 'acoustic', 'experimental',
              'female vocalist', 'guitar', 'Hip-Hop', '70s', 'party', 'country', 'easy listening', 'sexy',
              'catchy', 'funk', 'electro', 'heavy metal', 'Progressive rock', '60s', 'rnb', 'indie pop',
              'sad', 'House', 'happy']

# MTT tag <- MSD tags whose probability (max over the list) is evidence for it.
MSD_FOR_MTT = {
    "metal": ["metal", "heavy metal"],
    "rock": ["rock", "hard rock", "classic rock"],
    "pop": ["pop", "indie pop"],
    "electronic": ["electronic", "electronica", "electro"],
    "dance": ["dance", "House"],
    "ambient": ["ambient", "chillout"],
    "country": ["country"],
    "guitar": ["guitar"],
    "female": ["female vocalists", "female vocalist"],
    "female vocal": ["female vocalists", "female vocalist"],
    "woman": ["female vocalists", "female vocalist"],
    "female voice": ["female vocalists", "female vocalist"],
    "male": ["male vocalists"],
    "male vocal": ["male vocalists"],
    "man": ["male vocalists"],
    "male voice": ["male vocalists"],
    "no vocals": ["instrumental"],
    "no vocal": ["instrumental"],
    "no voice": ["instrumental"],
}
ONNX_DIR = WORK / "teacher"


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def convert(name):
    """musicnn checkpoint `name` -> work/teacher/NAME.onnx (frozen graph through tf2onnx);
    checked against TensorFlow on random patches. Runs once; later calls find the file."""
    out = ONNX_DIR / f"{name}.onnx"
    if out.exists():
        return out
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    import tf2onnx
    import musicnn
    from musicnn import models
    import onnxruntime as ort
    tf.compat.v1.disable_eager_execution()
    n_out = len(TAGS) if name.startswith("MTT") else len(MSD_LABELS)
    g = tf.Graph()
    with g.as_default():
        with tf.name_scope("model"):
            x = tf.compat.v1.placeholder(tf.float32, [None, PATCH_FRAMES, N_MELS], name="x")
            logits = tf.identity(models.define_model(x, False, name, n_out)[0], name="logits")
        sess = tf.compat.v1.Session(graph=g)
        tf.compat.v1.train.Saver().restore(sess, os.path.dirname(musicnn.__file__) + f"/{name}/")
        frozen = tf.compat.v1.graph_util.convert_variables_to_constants(sess, g.as_graph_def(), ["model/logits"])
        probe = np.random.default_rng(0).random((4, PATCH_FRAMES, N_MELS)).astype(np.float32) * 3
        want = sess.run(logits, {x: probe})
    ONNX_DIR.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".partial.onnx")
    tf2onnx.convert.from_graph_def(frozen, input_names=["model/x:0"], output_names=["model/logits:0"],
                                   opset=17, output_path=str(tmp))
    got = ort.InferenceSession(str(tmp)).run(None, {"model/x:0": probe})[0]
    err = float(np.abs(got - want).max())
    assert err < 1e-3, f"{name}: ONNX differs from TensorFlow by {err}"
    tmp.rename(out)
    return out


def convert_all():
    for name in MTT_MODELS + MSD_MODELS:
        convert(name)


class _Model:
    def __init__(self, name, threads):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(str(convert(name)), so)

    def logits_of(self, batch):
        out = [self.sess.run(None, {"model/x:0": batch[i:i + 64]})[0] for i in range(0, len(batch), 64)]
        return np.concatenate(out).astype(np.float32)


def _every(n, step):
    """Patch indices a model sees: every step-th, and always the last one."""
    idx = np.arange(0, n, step)
    return idx if idx[-1] == n - 1 else np.append(idx, n - 1)


def _interp(idx, values, n):
    """Values known at patch indices idx -> all n patches, linearly in between."""
    if len(idx) == n:
        return values
    grid = np.arange(n)
    return np.stack([np.interp(grid, idx, values[:, j]) for j in range(values.shape[1])], axis=1)


class Teacher:
    def __init__(self, threads=1):
        self.mtt = [_Model(m, threads) for m in MTT_MODELS]
        self.msd = [_Model(m, threads) for m in MSD_MODELS]
        self.msd_labels = MSD_LABELS
        self.map = [(TAGS.index(t), [MSD_LABELS.index(m) for m in ms]) for t, ms in MSD_FOR_MTT.items()]

    @staticmethod
    def patches(y22):
        """musicnn's input: 16 kHz log-mel (96 bands, 512-point FFT, hop 256), 187-frame patches."""
        import librosa
        audio = librosa.resample(y22, orig_sr=SAMPLE_RATE, target_sr=TEACHER_SR, res_type="soxr_hq")
        rep = librosa.feature.melspectrogram(y=audio, sr=TEACHER_SR, hop_length=TEACHER_HOP,
                                             n_fft=FFT_SIZE, n_mels=N_MELS).T
        rep = np.log10(10000 * rep.astype(np.float16) + 1)
        n = rep.shape[0] // PATCH_FRAMES
        return rep[: n * PATCH_FRAMES].reshape(n, PATCH_FRAMES, -1).astype(np.float32)

    def label(self, y22):
        """Mono audio at SAMPLE_RATE -> dict of per-patch arrays:
        `taggram` [patches, 50] (the ensemble, our training target), `mtt` [patches, 50]
        (MTT models only) and `msd` [patches, 50 MSD tags]."""
        batch = self.patches(y22)
        n = len(batch)
        if n == 0:
            z = np.zeros((0, len(TAGS)), np.float32)
            return {"taggram": z, "mtt": z, "msd": np.zeros((0, len(MSD_LABELS)), np.float32)}
        i_mtt, i_msd = _every(n, MTT_EVERY), _every(n, MSD_EVERY)
        mtt = _sigmoid(np.mean([m.logits_of(batch[i_mtt]) for m in self.mtt], axis=0))
        msd = np.mean([_sigmoid(m.logits_of(batch[i_msd])) for m in self.msd], axis=0)
        mtt, msd = _interp(i_mtt, mtt, n), _interp(i_msd, msd, n)
        ens = mtt.copy()
        for i, js in self.map:
            ens[:, i] = 0.5 * mtt[:, i] + 0.5 * msd[:, js].max(axis=1)
        return {"taggram": ens.astype(np.float32), "mtt": mtt.astype(np.float32), "msd": msd.astype(np.float32)}
