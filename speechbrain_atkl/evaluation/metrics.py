"""Per-utterance speech enhancement metrics on 16 kHz waveforms.

Every metric takes 1-D waveforms ``(time,)`` (numpy arrays or torch tensors)
sampled at 16 kHz and returns a Python float:

* :func:`pesq_wb`: wide-band PESQ (ITU-T P.862.2, MOS-LQO) from the ``pesq``
  package. Narrow-band PESQ (P.862) gives other numbers and is deliberately not
  offered here, so the two can never be mixed in one table.
* :func:`stoi` and :func:`estoi`: (extended) short-time objective
  intelligibility from ``pystoi``; a caller scoring several pairs can resample
  each signal to pystoi's rate once (:func:`stoi_resample`) and share it.
* :func:`si_snr` and :func:`si_snr_improvement`: scale-invariant SNR in dB and
  its improvement over the noisy input.

Inputs that cannot be scored meaningfully (NaN or Inf samples, a silent signal,
less than 0.25 s of audio, estimate and reference of different lengths) raise
:class:`UnscorableError` with a human-readable reason instead of the assorted
exceptions, warnings or degenerate values the underlying packages produce.

Authors
 * speechbrain-atkl developers 2026
"""

import warnings

import numpy as np
import pesq as pesq_package
import pystoi
from pystoi import utils as pystoi_utils

SAMPLE_RATE = 16000
#: pystoi's internal sampling rate (``pystoi.stoi.FS``): it resamples to this.
STOI_RATE = 10000
MIN_DURATION = 0.25
SILENCE_PEAK = 1e-5

#: Score given to an output that failed (NaN, silent, too short, wrong length,
#: unreadable, or a metric that fails on it but not on the reference): the
#: bottom of each metric's scale (PESQ and DNSMOS MOS 1, (e)STOI 0), and for
#: SI-SNR -50 dB, below white noise at the reference's level (about
#: ``-10 log10(samples)`` dB, -42 dB for one second). ``si_snr_i`` is then
#: ``WORST_SCORES["si_snr"]`` minus the noisy input's SI-SNR.
WORST_SCORES = {
    "pesq_wb": 1.0,
    "stoi": 0.0,
    "estoi": 0.0,
    "si_snr": -50.0,
    "dnsmos_sig": 1.0,
    "dnsmos_bak": 1.0,
    "dnsmos_ovrl": 1.0,
    "dnsmos_p808": 1.0,
}


class UnscorableError(ValueError):
    """An utterance that cannot be scored; the message says why.

    Example
    -------
    >>> try:
    ...     check_signal(np.zeros(16000), "clean")
    ... except UnscorableError as err:
    ...     print(err)
    clean is silent (peak amplitude 0 <= 1e-05)
    """


def as_waveform(signal, name="signal"):
    """Converts a 1-D floating-point numpy array or torch tensor to a float64 numpy array.

    Arguments
    ---------
    signal : array-like or torch.Tensor
        Waveform, shape ``(time,)``.
    name : str
        Name used in the error message.

    Returns
    -------
    numpy.ndarray
        The waveform as float64, shape ``(time,)``.

    Raises
    ------
    ValueError
        If the signal is not one-dimensional.
    TypeError
        If its samples are not floating-point: integer PCM (int16...) is not
        in [-1, 1], and some metrics (DNSMOS) depend on the level.

    Example
    -------
    >>> as_waveform([0.0, 0.5, -0.5]).dtype
    dtype('float64')
    >>> as_waveform(np.zeros(3, np.int16), "enhanced")
    Traceback (most recent call last):
    ...
    TypeError: enhanced: expected floating-point samples in [-1, 1], got int16; scale integer PCM first (x / 32768).
    """
    if hasattr(signal, "detach"):
        signal = signal.detach().cpu()
        signal = (signal.double() if signal.is_floating_point() else signal).numpy()
    wav = np.asarray(signal)
    if wav.dtype.kind != "f":
        raise TypeError(
            f"{name}: expected floating-point samples in [-1, 1], got {wav.dtype}; scale integer PCM first (x / 32768)."
        )
    wav = wav.astype(np.float64, copy=False)
    if wav.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D waveform of shape (time,), got shape {wav.shape}."
        )
    return wav


def check_signal(
    signal, name="signal", min_duration=MIN_DURATION, silence_peak=SILENCE_PEAK
):
    """Returns the signal as float64 if it can be scored, else raises.

    Arguments
    ---------
    signal : array-like or torch.Tensor
        Waveform at 16 kHz, shape ``(time,)``.
    name : str
        Name used in the reason (e.g. ``"clean"``, ``"enhanced"``).
    min_duration : float
        Shortest scorable duration in seconds (PESQ needs 0.25 s).
    silence_peak : float
        A signal whose peak absolute amplitude is at most this is silent.

    Returns
    -------
    numpy.ndarray
        The waveform as float64, shape ``(time,)``.

    Raises
    ------
    UnscorableError
        On NaN/Inf samples, a too short or a silent signal.

    Example
    -------
    >>> check_signal(np.ones(16000)).shape
    (16000,)
    >>> check_signal(np.ones(800), "enhanced")
    Traceback (most recent call last):
    ...
    speechbrain_atkl.evaluation.metrics.UnscorableError: enhanced is too short: 0.050 s < 0.25 s
    """
    wav = as_waveform(signal, name)
    if not np.isfinite(wav).all():
        raise UnscorableError(f"{name} contains NaN or Inf samples")
    if wav.size < min_duration * SAMPLE_RATE:
        raise UnscorableError(
            f"{name} is too short: {wav.size / SAMPLE_RATE:.3f} s < {min_duration} s"
        )
    peak = np.abs(wav).max()
    if peak <= silence_peak:
        raise UnscorableError(
            f"{name} is silent (peak amplitude {peak:.3g} <= {silence_peak:g})"
        )
    return wav


def check_pair(
    estimate, reference, estimate_name="estimate", reference_name="reference"
):
    """Checks both signals with :func:`check_signal` and that their lengths match.

    Arguments
    ---------
    estimate : array-like or torch.Tensor
        Degraded or enhanced waveform, shape ``(time,)``.
    reference : array-like or torch.Tensor
        Clean reference waveform, shape ``(time,)``.
    estimate_name : str
        Name of the estimate in the reason.
    reference_name : str
        Name of the reference in the reason.

    Returns
    -------
    tuple of numpy.ndarray
        ``(estimate, reference)`` as float64.

    Example
    -------
    >>> check_pair(np.ones(8000), np.ones(8001))
    Traceback (most recent call last):
    ...
    speechbrain_atkl.evaluation.metrics.UnscorableError: length mismatch: estimate has 8000 samples, reference 8001
    """
    ref = check_signal(reference, reference_name)
    est = check_signal(estimate, estimate_name)
    if est.size != ref.size:
        raise UnscorableError(
            f"length mismatch: {estimate_name} has {est.size} samples, "
            f"{reference_name} {ref.size}"
        )
    return est, ref


def pesq_wb(estimate, reference):
    """Wide-band PESQ (ITU-T P.862.2) of a 16 kHz estimate against its reference.

    Arguments
    ---------
    estimate : array-like or torch.Tensor
        Degraded or enhanced waveform, shape ``(time,)``.
    reference : array-like or torch.Tensor
        Clean reference waveform, shape ``(time,)``.

    Returns
    -------
    float
        MOS-LQO, between about 1.04 and 4.64.

    Raises
    ------
    UnscorableError
        If the pair fails :func:`check_pair` or PESQ finds no utterance in it.

    Example
    -------
    >>> t = np.arange(16000) / 16000
    >>> speech_like = np.sin(2 * np.pi * 440 * t) * np.sin(2 * np.pi * 3 * t)
    >>> round(pesq_wb(speech_like, speech_like), 2)
    4.64
    """
    est, ref = check_pair(estimate, reference)
    try:
        return float(pesq_package.pesq(SAMPLE_RATE, ref, est, "wb"))
    except (pesq_package.PesqError, ValueError) as err:
        raise UnscorableError(f"PESQ failed: {type(err).__name__}: {err}") from err


def stoi_resample(wav):
    """The 10 kHz signal pystoi scores, made by pystoi's own resampler.

    ``pystoi.stoi`` resamples both signals with this function before anything
    else, so scoring the resampled pair at :data:`STOI_RATE` gives the same
    bits; resampling each signal once lets STOI and eSTOI, and the noisy and
    enhanced systems, share the clean reference's resampling.

    Arguments
    ---------
    wav : numpy.ndarray
        16 kHz waveform, shape ``(time,)``.

    Returns
    -------
    numpy.ndarray
        10 kHz waveform, shape ``(ceil(time * 5 / 8),)``.

    Example
    -------
    >>> stoi_resample(np.ones(16000)).shape
    (10000,)
    """
    return pystoi_utils.resample_oct(wav, STOI_RATE, SAMPLE_RATE)


def _pystoi(estimate, reference, extended, resample):
    """Runs pystoi, turning its too-little-speech warning into UnscorableError."""
    est, ref = check_pair(estimate, reference)
    est, ref = resample(est), resample(ref)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        score = pystoi.stoi(ref, est, STOI_RATE, extended=extended)
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        raise UnscorableError(
            "too little speech for STOI: fewer than 30 frames remain after "
            "pystoi removes silent frames"
        )
    return float(score)


def stoi(estimate, reference, resample=stoi_resample):
    """Short-time objective intelligibility (STOI) of a 16 kHz estimate.

    Arguments
    ---------
    estimate : array-like or torch.Tensor
        Degraded or enhanced waveform, shape ``(time,)``.
    reference : array-like or torch.Tensor
        Clean reference waveform, shape ``(time,)``.
    resample : callable
        Maps each checked float64 16 kHz signal to what :func:`stoi_resample`
        returns for it (e.g. a cached version of it).

    Returns
    -------
    float
        STOI, at most 1.

    Example
    -------
    >>> wav = np.random.default_rng(0).standard_normal(16000)
    >>> round(stoi(wav, wav), 4)
    1.0
    """
    return _pystoi(estimate, reference, extended=False, resample=resample)


def estoi(estimate, reference, resample=stoi_resample):
    """Extended STOI (eSTOI) of a 16 kHz estimate against its reference.

    Arguments
    ---------
    estimate : array-like or torch.Tensor
        Degraded or enhanced waveform, shape ``(time,)``.
    reference : array-like or torch.Tensor
        Clean reference waveform, shape ``(time,)``.
    resample : callable
        As for :func:`stoi`.

    Returns
    -------
    float
        eSTOI, at most 1.

    Example
    -------
    >>> wav = np.random.default_rng(0).standard_normal(16000)
    >>> round(estoi(wav, wav), 4)
    1.0
    """
    return _pystoi(estimate, reference, extended=True, resample=resample)


def si_snr(estimate, reference, eps=1e-8):
    """Scale-invariant signal-to-noise ratio in dB.

    Both signals are made zero-mean; the estimate is split into its projection
    on the reference (the target) and the rest (the noise).

    Arguments
    ---------
    estimate : array-like or torch.Tensor
        Estimated waveform, shape ``(time,)``.
    reference : array-like or torch.Tensor
        Clean reference waveform, shape ``(time,)``.
    eps : float
        Added to energies to keep the ratio finite.

    Returns
    -------
    float
        SI-SNR in dB.

    Example
    -------
    >>> clean = np.random.default_rng(0).standard_normal(16000)
    >>> noise = np.random.default_rng(1).standard_normal(16000)
    >>> round(si_snr(clean + 0.1 * noise, clean), 1)
    20.0
    """
    est, ref = check_pair(estimate, reference)
    est = est - est.mean()
    ref = ref - ref.mean()
    target = (est @ ref) / (ref @ ref + eps) * ref
    noise = est - target
    return float(10 * np.log10((target @ target + eps) / (noise @ noise + eps)))


def si_snr_improvement(estimate, reference, noisy, eps=1e-8):
    """SI-SNR of the estimate minus SI-SNR of the noisy input, in dB.

    Arguments
    ---------
    estimate : array-like or torch.Tensor
        Enhanced waveform, shape ``(time,)``.
    reference : array-like or torch.Tensor
        Clean reference waveform, shape ``(time,)``.
    noisy : array-like or torch.Tensor
        The noisy input the estimate was made from, shape ``(time,)``.
    eps : float
        Passed to :func:`si_snr`.

    Returns
    -------
    float
        SI-SNR improvement in dB (positive when the estimate is better).

    Example
    -------
    >>> clean = np.random.default_rng(0).standard_normal(16000)
    >>> noise = np.random.default_rng(1).standard_normal(16000)
    >>> round(si_snr_improvement(clean + 0.1 * noise, clean, clean + noise), 1)
    20.1
    """
    return si_snr(estimate, reference, eps) - si_snr(noisy, reference, eps)
