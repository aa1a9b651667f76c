"""The teacher: an ensemble of the four models in PyPI musicnn 0.1.0.

* MTT_musicnn and MTT_vgg predict the 50 MagnaTagATune tags (our vocabulary): their logits
  are averaged.
* MSD_musicnn and MSD_vgg predict 50 Million Song Dataset tags: their probabilities are
  averaged and, where an MSD tag means the same as an MTT tag (metal/heavy metal -> metal,
  instrumental -> no vocals, female vocalists -> female ...), averaged in with equal weight.

Every graph is built once and fed 3 s patches (187 frames of 16 kHz / hop 256, as musicnn's
extractor) in batches, which is far faster than calling musicnn's extractor per file.
"""
import os

import numpy as np

from config import SAMPLE_RATE, TAGS

PATCH_FRAMES = 187
TEACHER_SR = 16000
TEACHER_HOP = 256
PATCH_SECONDS = PATCH_FRAMES * TEACHER_HOP / TEACHER_SR
MTT_MODELS = ["MTT_musicnn", "MTT_vgg"]
MSD_MODELS = ["MSD_musicnn", "MSD_vgg"]
MSD_EVERY = 4

# MTT tag <- MSD tags whose mean probability (max over the list) is evidence for it.
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


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


class _Graph:
    def __init__(self, name, n_out, threads):
        import tensorflow as tf
        import musicnn
        from musicnn import models, configuration
        self.graph = tf.Graph()
        with self.graph.as_default():
            with tf.name_scope("model"):
                self.x = tf.compat.v1.placeholder(tf.float32, [None, PATCH_FRAMES, configuration.N_MELS])
                self.is_training = tf.compat.v1.placeholder(tf.bool)
                self.logits = models.define_model(self.x, self.is_training, name, n_out)[0]
            self.sess = tf.compat.v1.Session(graph=self.graph, config=tf.compat.v1.ConfigProto(
                intra_op_parallelism_threads=threads, inter_op_parallelism_threads=1))
            self.sess.run(tf.compat.v1.global_variables_initializer())
            tf.compat.v1.train.Saver().restore(self.sess, os.path.dirname(musicnn.__file__) + f"/{name}/")

    def logits_of(self, batch):
        out = [self.sess.run(self.logits, {self.x: batch[i:i + 128], self.is_training: False})
               for i in range(0, len(batch), 128)]
        return np.concatenate(out).astype(np.float32)


class Teacher:
    def __init__(self, threads=2):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf
        tf.compat.v1.disable_eager_execution()
        from musicnn import configuration
        self.cfg = configuration
        assert list(configuration.MTT_LABELS) == TAGS, "tag vocabulary differs from musicnn's"
        self.msd_labels = list(configuration.MSD_LABELS)
        self.mtt = [_Graph(m, len(TAGS), threads) for m in MTT_MODELS]
        self.msd = [_Graph(m, len(self.msd_labels), threads) for m in MSD_MODELS]
        self.map = [(TAGS.index(t), [self.msd_labels.index(m) for m in ms]) for t, ms in MSD_FOR_MTT.items()]

    def patches(self, y22):
        import librosa
        audio = librosa.resample(y22, orig_sr=SAMPLE_RATE, target_sr=TEACHER_SR, res_type="soxr_hq")
        rep = librosa.feature.melspectrogram(y=audio, sr=TEACHER_SR, hop_length=TEACHER_HOP,
                                             n_fft=self.cfg.FFT_SIZE, n_mels=self.cfg.N_MELS).T
        rep = np.log10(10000 * rep.astype(np.float16) + 1)
        n = rep.shape[0] // PATCH_FRAMES
        return rep[: n * PATCH_FRAMES].reshape(n, PATCH_FRAMES, -1)

    def label(self, y22):
        """Mono audio at SAMPLE_RATE -> dict of per-patch arrays:
        `taggram` [patches, 50] (the ensemble, our training target), `mtt` [patches, 50]
        (MTT models only) and `msd` [patches, 50 MSD tags]."""
        batch = self.patches(y22)
        if len(batch) == 0:
            z = np.zeros((0, len(TAGS)), np.float32)
            return {"taggram": z, "mtt": z, "msd": np.zeros((0, len(self.msd_labels)), np.float32)}
        mtt = _sigmoid(np.mean([g.logits_of(batch) for g in self.mtt], axis=0))
        # MSD tags are genre and voice evidence that changes slowly: every MSD_EVERY-th patch,
        # held for the following ones, keeps the ensemble's cost near two models' instead of four.
        sub = batch[::MSD_EVERY]
        msd = np.mean([_sigmoid(g.logits_of(sub)) for g in self.msd], axis=0)
        msd = np.repeat(msd, MSD_EVERY, axis=0)[: len(batch)]
        ens = mtt.copy()
        for i, js in self.map:
            ens[:, i] = 0.5 * mtt[:, i] + 0.5 * msd[:, js].max(axis=1)
        return {"taggram": ens.astype(np.float32), "mtt": mtt.astype(np.float32), "msd": msd.astype(np.float32)}
