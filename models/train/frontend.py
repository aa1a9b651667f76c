"""The mel front end shared (in behaviour) with the Rust engine, src/dsp/.

Frame i covers resampled samples [i*HOP, i*HOP + N_FFT) (no centring, no padding),
so a stream and a whole file give the same frames. Periodic Hann window, power
spectrum, Slaney-scale mel filterbank with Slaney area normalisation (librosa's
defaults), then log10(1 + LOG_C * mel). Computed in float64, stored as float32.
"""
import numpy as np

from config import SAMPLE_RATE, N_FFT, HOP, N_MELS, F_MIN, F_MAX, LOG_C


def hz_to_mel(f):
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-12) / min_log_hz) / logstep, mels)


def mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * m
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), freqs)


def mel_filterbank(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=F_MIN, fmax=F_MAX):
    """[n_mels, n_fft//2+1] triangular filters; equals librosa.filters.mel(htk=False, norm='slaney')."""
    n_bins = n_fft // 2 + 1
    fft_freqs = np.arange(n_bins, dtype=np.float64) * sr / n_fft
    mel_pts = np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2)
    hz_pts = mel_to_hz(mel_pts)
    fdiff = np.diff(hz_pts)
    ramps = hz_pts[:, None] - fft_freqs[None, :]
    weights = np.zeros((n_mels, n_bins))
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    enorm = 2.0 / (hz_pts[2:n_mels + 2] - hz_pts[:n_mels])
    return weights * enorm[:, None]


_WINDOW = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann
_FB = mel_filterbank()


def n_frames(n_samples):
    return 0 if n_samples < N_FFT else 1 + (n_samples - N_FFT) // HOP


def logmel(y):
    """y: mono float signal at SAMPLE_RATE -> [frames, N_MELS] float32."""
    y = np.asarray(y, dtype=np.float64)
    n = n_frames(len(y))
    if n == 0:
        return np.zeros((0, N_MELS), dtype=np.float32)
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n)[:, None]
    out = np.empty((n, N_MELS), dtype=np.float32)
    step = 4096
    for s in range(0, n, step):
        fr = y[idx[s:s + step]] * _WINDOW
        spec = np.abs(np.fft.rfft(fr, axis=1)) ** 2
        out[s:s + step] = np.log10(1.0 + LOG_C * (spec @ _FB.T))
    return out


def segments(mel, frames, hop_frames):
    """All complete segments, from frame 0, every hop_frames: [n, frames, N_MELS]."""
    n = 0 if len(mel) < frames else 1 + (len(mel) - frames) // hop_frames
    if n == 0:
        return np.zeros((0, frames, mel.shape[1]), dtype=np.float32)
    idx = np.arange(frames)[None, :] + hop_frames * np.arange(n)[:, None]
    return mel[idx]
