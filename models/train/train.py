"""Stage 3: train the three segment CNNs and the song-level DNN classifier.

* Each CNN sees one segment of 18, 27 or 54 log-mel frames and predicts the segment's tags
  (teacher soft labels, ground truth where the audio was rendered from MIDI).
* Features of a segment: for each of the CNN's top three layers, the max over time of its
  activations (one value per filter).
* The classifier sees the paper's song-level feature: per-segment max vectors averaged over
  all segments of a clip, concatenated over levels and scales.
"""
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

from config import CACHE, WORK, TAGS, SCALES, KERNEL, HIDDEN, N_MELS, SEED, HOP, SAMPLE_RATE, LOG_C  # noqa: E402
import frontend  # noqa: E402
from teacher import PATCH_SECONDS  # noqa: E402

FRAME_S = HOP / SAMPLE_RATE

# Band-limit augmentation: a share of the training segments pass through a random low-pass,
# applied to the mel band powers (exact for a filter that is flat within each band). Without
# it the models learned the faint 10-11 kHz band that resamplers, codecs and old recordings
# take away, and one clip's top tag turned from rock into drums when it went (BENCHMARKS.md,
# "Resampler passband").
LOWPASS_SHARE = float(os.environ.get("MSTAG_LOWPASS_SHARE", "0.35"))
LOWPASS_HZ = (5500.0, 11000.0)      # where the roll-off ends
ROLLOFF_HZ = (150.0, 2000.0)        # how wide it is
_MEL_HZ = None

# Random-EQ augmentation: a share of the training segments get a smooth random gain curve over
# frequency (a few bell-shaped boosts and cuts of up to +-EQ_DB on a log-frequency axis, and a
# tilt). A soundfont's instrument is one recording with its own spectral envelope; bending the
# envelope teaches the CNNs the instrument rather than that recording (the held-out soundfont's
# instruments, EVAL.md).
EQ_SHARE = float(os.environ.get("MSTAG_EQ_SHARE", "0.5"))
EQ_DB = 6.0


def mel_centres_hz():
    """Centre frequency of each mel band, Hz (the filterbank's peak)."""
    global _MEL_HZ
    if _MEL_HZ is None:
        fb = frontend.mel_filterbank()
        _MEL_HZ = (np.argmax(fb, axis=1) * SAMPLE_RATE / (2 * (fb.shape[1] - 1))).astype(np.float32)
    return _MEL_HZ


def band_gain(seg, gain):
    """`seg` [frames, mels] of log-mel values with each band's power multiplied by `gain`
    [mels] (exact for a filter that is flat within each band)."""
    power = (np.power(10.0, seg) - 1.0) / LOG_C
    return np.log10(1.0 + LOG_C * power * gain).astype(np.float32)


def lowpass_mel(seg, rng):
    """`seg` [frames, mels] of log-mel values through a random low-pass: band powers times the
    filter's response at each band's centre (a raised-cosine roll-off ending at the cutoff,
    down to -80 dB)."""
    end = rng.uniform(*LOWPASS_HZ)
    width = rng.uniform(*ROLLOFF_HZ)
    f = mel_centres_hz()
    x = np.clip((f - (end - width)) / width, 0.0, 1.0)
    gain = np.maximum(np.cos(0.5 * np.pi * x) ** 2, 1e-8).astype(np.float32)
    return band_gain(seg, gain)


def eq_mel(seg, rng):
    """`seg` [frames, mels] of log-mel values through a random smooth EQ curve (band powers
    times the curve's gain at each band's centre)."""
    octs = np.log2(np.maximum(mel_centres_hz(), 30.0) / 1000.0)
    db = rng.uniform(-0.5, 0.5) * EQ_DB * (octs - octs.mean()) / (np.ptp(octs) / 2)
    for _ in range(int(rng.integers(1, 4))):
        centre = rng.uniform(octs.min(), octs.max())
        width = rng.uniform(0.3, 1.5)
        db = db + rng.uniform(-EQ_DB, EQ_DB) * np.exp(-0.5 * ((octs - centre) / width) ** 2)
    return band_gain(seg, np.power(10.0, db / 10.0).astype(np.float32))


def load_tracks(augmented=True):
    """Tracks with their mel frames and ensemble taggram; with `augmented`, also the
    augmented copies of training tracks that label.py made (work/augmented.json)."""
    from label import npz_path
    tracks = json.loads((CACHE / "tracks.json").read_text())
    aug_file = WORK / "augmented.json"
    if augmented and aug_file.exists():
        tracks += json.loads(aug_file.read_text())
    out = []
    for t in tracks:
        f = npz_path(t["id"])
        if not f.exists():
            continue
        z = np.load(f)
        t = dict(t, mel=z["mel"].astype(np.float32), taggram=z["taggram"],
                 mtt=z["mtt"] if "mtt" in z else z["taggram"])
        if len(t["taggram"]) == 0 or len(t["mel"]) < 54:
            continue
        out.append(t)
    return out


def gt_vector(t):
    """Ground-truth overrides: (mask, values) over TAGS for tracks with known content."""
    mask = np.zeros(len(TAGS), np.float32)
    vals = np.zeros(len(TAGS), np.float32)
    for tag, v in (t.get("gt") or {}).items():
        if tag in TAGS:
            i = TAGS.index(tag)
            mask[i] = 1.0
            vals[i] = float(v)
    return mask, vals


def segment_labels(t, starts, frames):
    """Teacher patch covering each segment's centre, with ground truth applied."""
    centre = (starts + frames / 2.0) * FRAME_S + (1024 / 2) / SAMPLE_RATE
    idx = np.clip((centre / PATCH_SECONDS).astype(int), 0, len(t["taggram"]) - 1)
    y = t["taggram"][idx].copy()
    mask, vals = gt_vector(t)
    return y * (1 - mask) + vals * mask


def build_cnn(scale, mu, sigma):
    """Keras model: segment [frames, mels] -> (tag logits head, [level features])."""
    x_in = tf.keras.Input((scale["frames"], N_MELS), name="mel")
    x = tf.keras.layers.Lambda(lambda v: (v - mu) / sigma, name="standardise")(x_in)
    levels = []
    n = len(scale["widths"])
    for i, w in enumerate(scale["widths"]):
        x = tf.keras.layers.Conv1D(w, KERNEL, padding="same", name=f"conv{i}")(x)
        x = tf.keras.layers.BatchNormalization(name=f"bn{i}")(x)
        x = tf.keras.layers.ReLU(name=f"relu{i}")(x)
        levels.append(tf.keras.layers.GlobalMaxPooling1D(name=f"gmp{i}")(x))
        if i < n - 1:
            x = tf.keras.layers.MaxPooling1D(scale["pools"][i], name=f"pool{i}")(x)
    h = tf.keras.layers.Dropout(0.3)(levels[-1])
    y = tf.keras.layers.Dense(len(TAGS), activation="sigmoid", name="head")(h)
    train_model = tf.keras.Model(x_in, y)
    feat_model = tf.keras.Model(x_in, levels[-3:])
    return train_model, feat_model


def segments_of(t, frames, hop):
    mel = t["mel"]
    n = 0 if len(mel) < frames else 1 + (len(mel) - frames) // hop
    starts = np.arange(n) * hop
    return starts


def make_segment_set(tracks, scale, hop):
    xs, ys = [], []
    for t in tracks:
        starts = segments_of(t, scale["frames"], hop)
        if len(starts) == 0:
            continue
        xs.append(frontend.segments(t["mel"], scale["frames"], hop))
        ys.append(segment_labels(t, starts, scale["frames"]))
    return np.concatenate(xs), np.concatenate(ys)


class SegmentBatches(tf.keras.utils.Sequence):
    """Random segments of the training tracks, drawn anew each epoch.

    Sources are balanced: a track's chance to be drawn is proportional to its length divided
    by the square root of its source's total length, so ten hours of one game's music do not
    drown an hour of singing. Targets: the teacher patch covering the segment's centre, with
    ground truth applied (segment_labels)."""

    def __init__(self, tracks, scale, per_epoch, batch=256, seed=SEED, lowpass=LOWPASS_SHARE, eq=EQ_SHARE):
        super().__init__()
        self.lowpass = lowpass
        self.eq = eq
        self.tracks = [t for t in tracks if len(t["mel"]) >= scale["frames"]]
        self.F = scale["frames"]
        self.batch = batch
        self.per_epoch = per_epoch
        self.rng = np.random.default_rng(seed)
        src_len = {}
        for t in self.tracks:
            key = t["source"].split(":")[0]
            src_len[key] = src_len.get(key, 0) + len(t["mel"])
        w = np.array([len(t["mel"]) / np.sqrt(src_len[t["source"].split(":")[0]]) for t in self.tracks])
        self.p = w / w.sum()
        self.on_epoch_end()

    def on_epoch_end(self):
        ti = self.rng.choice(len(self.tracks), size=self.per_epoch, p=self.p)
        starts = [int(self.rng.integers(0, len(self.tracks[i]["mel"]) - self.F + 1)) for i in ti]
        self.index = list(zip(ti, starts))

    def __len__(self):
        return self.per_epoch // self.batch

    def __getitem__(self, k):
        pairs = self.index[k * self.batch:(k + 1) * self.batch]
        x = np.stack([self.tracks[i]["mel"][s:s + self.F] for i, s in pairs])
        for j in np.flatnonzero(self.rng.random(len(x)) < self.eq):
            x[j] = eq_mel(x[j], self.rng)
        for j in np.flatnonzero(self.rng.random(len(x)) < self.lowpass):
            x[j] = lowpass_mel(x[j], self.rng)
        y = np.stack([segment_labels(self.tracks[i], np.array([s]), self.F)[0] for i, s in pairs])
        return x, y


def train_cnn(scale, train, val, epochs, per_epoch=None, start_from=None):
    """One scale's CNN; with `start_from` (a checkpoint folder of an earlier run) it goes on
    from those weights and input normalisation at a lower learning rate (fine-tuning)."""
    tf.keras.utils.set_random_seed(SEED)
    per_epoch = per_epoch or int(os.environ.get("MSTAG_SEGMENTS_PER_EPOCH", "100000"))
    xva, yva = make_segment_set(val, scale, scale["frames"])
    if start_from:
        z = np.load(Path(start_from) / f"{scale['name']}_norm.npz")
        mu, sigma = z["mu"], z["sigma"]
    else:
        sample = np.concatenate([t["mel"][:: 7] for t in train])
        mu = sample.mean(axis=0).astype(np.float32)
        sigma = (sample.std(axis=0) + 1e-3).astype(np.float32)
    model, feat = build_cnn(scale, mu, sigma)
    if start_from:
        model.load_weights(str(Path(start_from) / f"{scale['name']}.weights.h5"))
    rate = 3e-4 if start_from else 1e-3
    model.compile(tf.keras.optimizers.AdamW(rate, weight_decay=1e-4), loss="binary_crossentropy",
                  metrics=[tf.keras.metrics.AUC(name="auc", multi_label=True, num_labels=len(TAGS))])
    stop = tf.keras.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    lr = tf.keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.3, patience=1)
    t0 = time.time()
    hist = model.fit(SegmentBatches(train, scale, per_epoch), epochs=epochs, validation_data=(xva, yva),
                     callbacks=[stop, lr], verbose=2)
    print(f"  {scale['name']}: {per_epoch} segments per epoch, {time.time()-t0:.0f} s", flush=True)
    return model, feat, mu, sigma, {k: [float(v) for v in vs] for k, vs in hist.history.items()}


def track_segment_features(feat_models, tracks, chunk=32768):
    """Per track, per scale: [n_segments, feature_dim] with non-overlapping segments (hop = manifest).

    Segments of many tracks go through the model together: Keras pays tens of milliseconds per
    `predict` call, which over thousands of tracks and three scales cost minutes."""
    out = [[None] * len(SCALES) for _ in tracks]
    for k, (scale, fm) in enumerate(zip(SCALES, feat_models)):
        pending, owners = [], []
        waiting = 0

        def flush():
            lv = fm.predict(np.concatenate(pending), batch_size=1024, verbose=0)
            f = np.concatenate(lv, axis=1).astype(np.float32)
            o = 0
            for i, n in owners:
                out[i][k] = f[o:o + n]
                o += n
            pending.clear()
            owners.clear()

        for i, t in enumerate(tracks):
            segs = frontend.segments(t["mel"], scale["frames"], scale["hop_frames"])
            pending.append(segs)
            owners.append((i, len(segs)))
            waiting += len(segs)
            if waiting >= chunk:
                flush()
                waiting = 0
        if pending:
            flush()
    return out


def clip_windows(n_frames, rng, lengths=(10.0, 20.0, 30.0), stride_s=5.0):
    """Clips (start_frame, end_frame) in a track: sliding windows plus the whole track."""
    clips = [(0, n_frames)]
    for L in lengths:
        lf = int(L / FRAME_S)
        if lf >= n_frames:
            continue
        off = int(rng.integers(0, int(stride_s / FRAME_S)))
        for s in range(off, n_frames - lf + 1, int(stride_s / FRAME_S) * 2):
            clips.append((s, s + lf))
    return clips


def clip_features(seg_feats, a, b):
    """Mean over all segments lying wholly within frames [a, b), per scale, concatenated."""
    parts = []
    for scale, f in zip(SCALES, seg_feats):
        F, H = scale["frames"], scale["hop_frames"]
        first = -(-a // H)
        last = (b - F) // H
        if last < first:
            return None
        parts.append(f[first:last + 1].mean(axis=0))
    return np.concatenate(parts)


def clip_label(t, a, b):
    ta, tb = a * FRAME_S, b * FRAME_S
    pa = int(ta / PATCH_SECONDS)
    pb = max(pa + 1, int(np.ceil(tb / PATCH_SECONDS)))
    y = t["taggram"][pa:pb].mean(axis=0)
    mask, vals = gt_vector(t)
    return y * (1 - mask) + vals * mask


def make_clip_set(tracks, feats, seed):
    rng = np.random.default_rng(seed)
    X, Y, meta = [], [], []
    for ti, (t, f) in enumerate(zip(tracks, feats)):
        for a, b in clip_windows(len(t["mel"]), rng):
            x = clip_features(f, a, b)
            if x is None:
                continue
            X.append(x)
            Y.append(clip_label(t, a, b))
            meta.append((ti, a, b))
    return np.array(X, np.float32), np.array(Y, np.float32), meta


def train_classifier(xtr, ytr, xva, yva, epochs=80, seed=SEED, wtr=None):
    """The song-level DNN: standardised inputs (every feature z-scored on the training clips,
    so every level and scale enters on the same scale), input dropout, one hidden layer with
    dropout and L2 weight decay, early stopping on the validation clips."""
    tf.keras.utils.set_random_seed(seed)
    mu = xtr.mean(axis=0)
    sd = xtr.std(axis=0) + 1e-3
    reg = tf.keras.regularizers.l2(1e-4)
    x_in = tf.keras.Input((xtr.shape[1],), name="features")
    h = tf.keras.layers.Dropout(0.2)(x_in)
    h = tf.keras.layers.Dense(HIDDEN, activation="relu", name="fc1", kernel_regularizer=reg)(h)
    h = tf.keras.layers.Dropout(0.5)(h)
    y = tf.keras.layers.Dense(len(TAGS), activation="sigmoid", name="fc2", kernel_regularizer=reg)(h)
    m = tf.keras.Model(x_in, y)
    m.compile(tf.keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    stop = tf.keras.callbacks.EarlyStopping(monitor="val_loss", patience=6, restore_best_weights=True)
    m.fit((xtr - mu) / sd, ytr, sample_weight=wtr, batch_size=128, epochs=epochs,
          validation_data=((xva - mu) / sd, yva), callbacks=[stop], verbose=0)
    return m, mu.astype(np.float32), sd.astype(np.float32)


def main():
    epochs = int(os.environ.get("MSTAG_EPOCHS", "10"))
    t_start = time.time()
    tracks = load_tracks()
    split = {s: [t for t in tracks if t["split"] == s] for s in ("train", "val", "test")}
    print({k: len(v) for k, v in split.items()}, "tracks;",
          {k: round(sum(len(t['mel']) for t in v) * FRAME_S / 3600, 2) for k, v in split.items()}, "hours",
          flush=True)
    ckpt = WORK / "ckpt"
    ckpt.mkdir(parents=True, exist_ok=True)
    feat_models, histories = [], {}
    log = ckpt / "train_log.json"
    if log.exists():
        histories = json.loads(log.read_text()).get("histories", {})
    for scale in SCALES:
        weights = ckpt / f"{scale['name']}.weights.h5"
        norm = ckpt / f"{scale['name']}_norm.npz"
        if weights.exists() and norm.exists() and scale["name"] in histories:
            z = np.load(norm)        # trained by an earlier, interrupted run: reuse it
            model, feat = build_cnn(scale, z["mu"], z["sigma"])
            model.load_weights(str(weights))
            print(f"  {scale['name']}: reusing {weights.name}", flush=True)
        else:
            model, feat, mu, sigma, hist = train_cnn(scale, split["train"], split["val"], epochs,
                                                     start_from=os.environ.get("MSTAG_FINETUNE_FROM"))
            np.savez(norm, mu=mu, sigma=sigma)
            model.save_weights(str(weights))
            histories[scale["name"]] = hist
            log.write_text(json.dumps({"histories": histories}, indent=1))
        feat_models.append(feat)
    feats = {s: track_segment_features(feat_models, split[s]) for s in split}
    sets = {s: make_clip_set(split[s], feats[s], SEED + i) for i, s in enumerate(split)}
    np.savez(ckpt / "clips.npz", **{f"{s}_{k}": v for s in sets for k, v in zip(("X", "Y"), sets[s][:2])})
    (ckpt / "clips_meta.json").write_text(json.dumps({s: sets[s][2] for s in sets}))
    clf, mu, sd = train_classifier(sets["train"][0], sets["train"][1], sets["val"][0], sets["val"][1])
    clf.save_weights(str(ckpt / "classifier.weights.h5"))
    np.savez(ckpt / "classifier_norm.npz", mu=mu, sd=sd)
    log.write_text(json.dumps({"histories": histories,
                                                     "seconds": time.time() - t_start}, indent=1))
    print(f"trained in {time.time()-t_start:.0f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
