"""DNSMOS P.835 (SIG, BAK, OVRL) and P.808 quality estimates, computed offline.

DNSMOS is Microsoft's non-intrusive speech quality predictor from the Deep
Noise Suppression challenges. Two ONNX networks are run on 16 kHz audio:

* ``sig_bak_ovr.onnx`` (P.835) takes the raw waveform of a 9.01 s segment,
  shape ``(batch, 144160)``, and predicts raw SIG, BAK and OVRL scores that a
  fixed quadratic polynomial per score maps to the MOS scale;
* ``model_v8.onnx`` (P.808) takes a log-mel spectrogram of the same segment
  less its last 10 ms, shape ``(batch, 900, 120)``, and predicts the P.808 MOS.

Clips shorter than a segment are repeated (doubled until long enough); longer
clips are cut into 9.01 s segments starting every second, and the per-segment
scores are averaged. The ONNX files are those shipped inside the ``speechmos``
wheel (MIT licence), so nothing is downloaded. The feature extraction and
calibration below are our own implementation of what the models expect; the
mel filterbank follows the Slaney mel scale with Slaney area normalisation.

Authors
 * speechbrain-atkl developers 2026
"""

import importlib.resources
from pathlib import Path

import numpy as np
import onnxruntime

SAMPLE_RATE = 16000
SEGMENT_SAMPLES = 144160  # 9.01 s, the P.835 model's input length
SEGMENT_HOP = SAMPLE_RATE  # a new segment every second
MEL_N_FFT = 321
MEL_HOP = 160
MEL_N_BANDS = 120

# Quadratic maps from the P.835 network's raw outputs to MOS (highest power first).
P835_CALIBRATION = {
    "sig": (-0.08397278, 1.22083953, 0.0052439),
    "bak": (-0.13166888, 1.60915514, -0.39604546),
    "ovrl": (-0.06766283, 1.11546468, 0.04602535),
}


def default_model_dir():
    """Folder of the DNSMOS ONNX models inside the installed ``speechmos`` wheel.

    Returns
    -------
    pathlib.Path
        The folder holding ``sig_bak_ovr.onnx`` and ``model_v8.onnx``.

    Example
    -------
    >>> (default_model_dir() / "model_v8.onnx").is_file()
    True
    """
    return Path(str(importlib.resources.files("speechmos") / "dnsmos_models"))


def hz_to_mel(freq):
    """Slaney mel scale: linear below 1 kHz, logarithmic above.

    Arguments
    ---------
    freq : float or numpy.ndarray
        Frequencies in Hz.

    Returns
    -------
    numpy.ndarray
        Mels (1 kHz is 15 mel).

    Example
    -------
    >>> float(hz_to_mel(1000.0))
    15.0
    """
    freq = np.asarray(freq, dtype=np.float64)
    linear = freq * 3 / 200
    log_step = np.log(6.4) / 27
    logarithmic = 15 + np.log(np.maximum(freq, 1e-10) / 1000) / log_step
    return np.where(freq >= 1000, logarithmic, linear)


def mel_to_hz(mel):
    """Inverse of :func:`hz_to_mel`.

    Arguments
    ---------
    mel : float or numpy.ndarray
        Mels.

    Returns
    -------
    numpy.ndarray
        Frequencies in Hz.

    Example
    -------
    >>> float(mel_to_hz(hz_to_mel(4000.0)))
    4000.0...
    """
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * 200 / 3
    log_step = np.log(6.4) / 27
    logarithmic = 1000 * np.exp(log_step * (mel - 15))
    return np.where(mel >= 15, logarithmic, linear)


def mel_filterbank(sample_rate=SAMPLE_RATE, n_fft=MEL_N_FFT, n_mels=MEL_N_BANDS):
    """Triangular Slaney-style mel filterbank with area (Slaney) normalisation.

    Arguments
    ---------
    sample_rate : int
        Sample rate in Hz; bands span 0 Hz to the Nyquist frequency.
    n_fft : int
        FFT size; the filterbank covers its ``n_fft // 2 + 1`` bins.
    n_mels : int
        Number of mel bands.

    Returns
    -------
    numpy.ndarray
        Weights, shape ``(n_mels, n_fft // 2 + 1)``.

    Example
    -------
    >>> mel_filterbank().shape
    (120, 161)
    """
    bin_freqs = np.fft.rfftfreq(n_fft, d=1 / sample_rate)
    edges = mel_to_hz(np.linspace(0, hz_to_mel(sample_rate / 2), n_mels + 2))
    widths = np.diff(edges)
    distance = edges[:, None] - bin_freqs[None, :]
    rising = -distance[:-2] / widths[:-1, None]
    falling = distance[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(rising, falling))
    return weights * (2 / (edges[2:] - edges[:-2]))[:, None]


def log_mel_features(segment, filterbank, pad_mode="reflect"):
    """P.808 model input: max-referenced log-mel power spectrogram, rescaled.

    Centred frames (``MEL_N_FFT // 2`` samples of padding on each side) with a
    periodic Hann window of ``MEL_N_FFT`` samples and a hop of ``MEL_HOP``; the
    mel power in dB relative to its maximum, floored 80 dB below it, then mapped
    by ``(dB + 40) / 40``.

    Arguments
    ---------
    segment : numpy.ndarray
        Waveform, shape ``(time,)``.
    filterbank : numpy.ndarray
        Mel weights from :func:`mel_filterbank`, shape ``(n_mels, MEL_N_FFT // 2 + 1)``.
    pad_mode : str
        ``numpy.pad`` mode for the centring padding: ``"reflect"`` (librosa
        before 0.10, as in the original DNSMOS script) or ``"constant"``
        (librosa 0.10 and later). They differ by about 1e-4 in P.808.

    Returns
    -------
    numpy.ndarray
        Features, float32, shape ``(1 + (time - 1) // MEL_HOP, n_mels)``.

    Example
    -------
    >>> wav = np.random.default_rng(0).standard_normal(144000)
    >>> log_mel_features(wav, mel_filterbank()).shape
    (900, 120)
    """
    half = MEL_N_FFT // 2
    padded = np.pad(segment, (half, half), mode=pad_mode)
    n_frames = 1 + (padded.size - MEL_N_FFT) // MEL_HOP
    index = np.arange(MEL_N_FFT)[None, :] + MEL_HOP * np.arange(n_frames)[:, None]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(MEL_N_FFT) / MEL_N_FFT)
    power = np.abs(np.fft.rfft(padded[index] * window, axis=1)) ** 2
    mel_db = 10 * np.log10(np.maximum(power @ filterbank.T, 1e-10))
    mel_db -= mel_db.max()
    mel_db = np.maximum(mel_db, -80.0)
    return ((mel_db + 40) / 40).astype(np.float32)


def split_segments(waveform):
    """Cuts a clip into the 9.01 s segments DNSMOS scores.

    A clip shorter than one segment is doubled until it is long enough. Then
    one segment starts at every whole second ``k`` for which ``k + 10`` seconds
    still lie inside the clip (at least one segment), as in the reference
    DNSMOS script.

    Arguments
    ---------
    waveform : numpy.ndarray
        16 kHz waveform, shape ``(time,)``.

    Returns
    -------
    numpy.ndarray
        Segments, shape ``(n_segments, SEGMENT_SAMPLES)``.

    Example
    -------
    >>> split_segments(np.ones(3 * 16000)).shape  # doubled to 12 s
    (3, 144160)
    >>> split_segments(np.ones(10 * 16000)).shape
    (1, 144160)
    """
    while waveform.size < SEGMENT_SAMPLES:
        waveform = np.concatenate([waveform, waveform])
    n_segments = max(waveform.size // SAMPLE_RATE - 9, 1)
    starts = SEGMENT_HOP * np.arange(n_segments)
    return np.stack([waveform[s : s + SEGMENT_SAMPLES] for s in starts])


class DNSMOS:
    """DNSMOS P.835 and P.808 scorer holding its two ONNX Runtime sessions.

    Create one per process and reuse it: loading the models is the slow part.

    Arguments
    ---------
    model_dir : str or pathlib.Path, optional
        Folder with ``sig_bak_ovr.onnx`` and ``model_v8.onnx``; defaults to the
        copies inside the installed ``speechmos`` package.
    num_threads : int, optional
        Intra-op threads per ONNX session; ``None`` lets ONNX Runtime choose
        (all cores). Use 1 when several processes score in parallel.
    pad_mode : str
        Padding of the P.808 spectrogram frames (see :func:`log_mel_features`).

    Example
    -------
    >>> dnsmos = DNSMOS(num_threads=1)
    >>> wav = 0.1 * np.random.default_rng(0).standard_normal(SEGMENT_SAMPLES)
    >>> sorted(dnsmos(wav))
    ['bak', 'ovrl', 'p808', 'sig']
    """

    def __init__(self, model_dir=None, num_threads=None, pad_mode="reflect"):
        model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1
        if num_threads is not None:
            options.intra_op_num_threads = num_threads
        self.p835 = self._session(model_dir / "sig_bak_ovr.onnx", options)
        self.p808 = self._session(model_dir / "model_v8.onnx", options)
        self.filterbank = mel_filterbank()
        self.pad_mode = pad_mode

    @staticmethod
    def _session(path, options):
        if not path.is_file():
            raise FileNotFoundError(f"DNSMOS model not found: {path}")
        return onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )

    def __call__(self, waveform):
        """Scores one clip.

        Arguments
        ---------
        waveform : numpy.ndarray
            16 kHz waveform with samples in [-1, 1], shape ``(time,)``.

        Returns
        -------
        dict
            ``{"sig", "bak", "ovrl", "p808"}``: scores averaged over segments.
        """
        segments = split_segments(np.asarray(waveform, dtype=np.float32))
        raw = self.p835.run(None, {"input_1": segments})[0]
        features = np.stack(
            [
                log_mel_features(s[:-MEL_HOP], self.filterbank, self.pad_mode)
                for s in segments
            ]
        )
        p808 = self.p808.run(None, {"input_1": features})[0][:, 0]
        scores = {
            name: float(np.polyval(P835_CALIBRATION[name], raw[:, k]).mean())
            for k, name in enumerate(("sig", "bak", "ovrl"))
        }
        scores["p808"] = float(p808.mean())
        return scores
