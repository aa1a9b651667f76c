"""Stage 2: teacher labels and front-end features for every gathered track.

The teacher is musicnn's MTT_musicnn (PyPI musicnn 0.1.0): soft labels for the 50 MTT tags
per 3 s patch (187 frames of 16 kHz / hop 256, non-overlapping, as musicnn's extractor).
Its graph is built once for all tracks. Our own log-mel frames (frontend.py) are cached
beside the taggram, so the training stage never decodes audio again.
"""
import json
import os
import sys
import time

import numpy as np
import soundfile as sf

from config import CACHE, WORK, TAGS, SAMPLE_RATE
import frontend

PATCH_FRAMES = 187
TEACHER_SR = 16000
TEACHER_HOP = 256
PATCH_SECONDS = PATCH_FRAMES * TEACHER_HOP / TEACHER_SR


class Teacher:
    def __init__(self, model="MTT_musicnn"):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf
        tf.compat.v1.disable_eager_execution()
        from musicnn import models, configuration
        self.cfg = configuration
        assert list(configuration.MTT_LABELS) == TAGS, "tag vocabulary differs from musicnn's"
        tf.compat.v1.reset_default_graph()
        with tf.name_scope("model"):
            self.x = tf.compat.v1.placeholder(tf.float32, [None, PATCH_FRAMES, configuration.N_MELS])
            self.is_training = tf.compat.v1.placeholder(tf.bool)
            y = models.define_model(self.x, self.is_training, model, len(TAGS))[0]
            self.y = tf.nn.sigmoid(y)
        self.sess = tf.compat.v1.Session(config=tf.compat.v1.ConfigProto(
            intra_op_parallelism_threads=2, inter_op_parallelism_threads=1))
        self.sess.run(tf.compat.v1.global_variables_initializer())
        import musicnn
        tf.compat.v1.train.Saver().restore(self.sess, os.path.dirname(musicnn.__file__) + f"/{model}/")

    def taggram(self, y22):
        """Mono audio at SAMPLE_RATE -> [patches, 50] teacher probabilities."""
        import librosa
        audio = librosa.resample(y22, orig_sr=SAMPLE_RATE, target_sr=TEACHER_SR, res_type="soxr_hq")
        rep = librosa.feature.melspectrogram(y=audio, sr=TEACHER_SR, hop_length=TEACHER_HOP,
                                             n_fft=self.cfg.FFT_SIZE, n_mels=self.cfg.N_MELS).T
        rep = np.log10(10000 * rep.astype(np.float16) + 1)
        n = rep.shape[0] // PATCH_FRAMES
        if n == 0:
            return np.zeros((0, len(TAGS)), np.float32)
        batch = rep[: n * PATCH_FRAMES].reshape(n, PATCH_FRAMES, -1)
        out = [self.sess.run(self.y, {self.x: batch[i:i + 64], self.is_training: False})
               for i in range(0, n, 64)]
        return np.concatenate(out).astype(np.float32)


def main():
    tracks = json.loads((CACHE / "tracks.json").read_text())
    out_dir = WORK / "tracks"
    out_dir.mkdir(parents=True, exist_ok=True)
    teacher = Teacher()
    t0 = time.time()
    secs = 0.0
    for k, t in enumerate(tracks):
        dst = out_dir / (t["id"].replace("/", "__") + ".npz")
        if dst.exists():
            continue
        y, sr = sf.read(str(CACHE / t["path"]), dtype="float32")
        assert sr == SAMPLE_RATE
        mel = frontend.logmel(y)
        tg = teacher.taggram(y)
        np.savez(dst, mel=mel.astype(np.float16), taggram=tg)
        secs += len(y) / sr
        if k % 20 == 0:
            el = time.time() - t0
            print(f"  {k}/{len(tracks)} tracks, {secs/3600:.2f} h audio, {secs/max(el,1e-9):.0f}x real time",
                  flush=True)
    print(f"labelled in {time.time()-t0:.0f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
