"""Reading audio files for scoring: mono, float, 16 kHz.

Authors
 * speechbrain-atkl developers 2026
"""

import math

import numpy as np
import soundfile
from scipy.signal import resample_poly

from speechbrain_atkl.evaluation.metrics import SAMPLE_RATE


def load_audio(path, sample_rate=SAMPLE_RATE):
    """Reads an audio file as a mono float64 waveform at ``sample_rate``.

    Channels are averaged; other sample rates are converted with a polyphase
    resampler.

    Arguments
    ---------
    path : str or pathlib.Path
        Any file ``soundfile`` reads (WAV, FLAC, OGG...).
    sample_rate : int
        Sample rate of the returned waveform in Hz.

    Returns
    -------
    numpy.ndarray
        Waveform with samples in [-1, 1] for integer formats, shape ``(time,)``.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "stereo.wav")
    >>> soundfile.write(path, np.full((8000, 2), 0.5), 8000)
    >>> wav = load_audio(path)
    >>> wav.shape, round(float(wav[8000]), 3)
    ((16000,), 0.5)
    """
    wav, file_rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    wav = wav.mean(axis=1)
    if file_rate != sample_rate:
        common = math.gcd(file_rate, sample_rate)
        wav = resample_poly(wav, sample_rate // common, file_rate // common)
    return wav
