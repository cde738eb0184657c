"""A small synthetic corpus in the DNS-2020 layout, to prove the pipeline.

:func:`create_demo_corpus` writes procedurally generated, speech-like signals
and noises, so that data preparation, dynamic mixing, training, evaluation
and export can be exercised end to end in minutes on a laptop CPU, without
downloading anything. The signals are *not* speech: a model trained on them
learns nothing about real speech, and scores measured on them only show that
the pipeline runs.

* Speech-like signals: a voiced harmonic source whose pitch glides within
  and across syllables, shaped by three formant-like resonances that glide
  between vowel targets, a syllable-rate amplitude envelope, unvoiced noise
  bursts at some syllable onsets, and pauses between words.
* Noises: coloured noise (spectral slope 1/f^a), mains hum with harmonics,
  babble (sums of the speech generator) and intermittent clicks over a
  quiet noise floor.
* Room impulse responses: a direct path, a few early reflections and an
  exponentially decaying, low-passed noise tail.

Authors
 * speechbrain-atkl developers 2026
"""

import json
import shutil
from pathlib import Path

import numpy as np
import torch

from speechbrain_atkl.data.audio_writer import save_audio
from speechbrain_atkl.data.manifest import write_json
from speechbrain_atkl.data.mixing import mix_at_snr

NOISE_TYPES = ("coloured", "hum", "babble", "clicks")

# Vowel targets (F1, F2, F3) in Hz for an adult voice.
VOWELS = np.array(
    [
        [730.0, 1090.0, 2440.0],
        [270.0, 2290.0, 3010.0],
        [300.0, 870.0, 2240.0],
        [530.0, 1840.0, 2480.0],
        [570.0, 840.0, 2410.0],
        [660.0, 1720.0, 2410.0],
    ]
)
FORMANT_BANDWIDTHS = np.array([90.0, 110.0, 170.0])
SPEAKERS = 8
# Samples between two updates of the harmonic gains.
CONTROL_HOP = 32
STARTED_MARKER = ".demo_corpus_started"
COMPLETE_MARKER = ".demo_corpus_complete"


def _rms_normalise(signal, level_db):
    """Scales ``signal`` to an RMS of ``level_db`` dBFS."""
    rms = np.sqrt(np.mean(signal**2)) + 1e-12
    return signal * (10 ** (level_db / 20) / rms)


def _smooth_track(values, times, total, sample_rate):
    """Piecewise-linear glide through ``values`` placed at ``times`` (s)."""
    return np.interp(np.arange(total) / sample_rate, times, values)


def speech_like(seconds, rng, speaker=0, sample_rate=16000):
    """Generates a speech-like signal (not speech; see the module docstring).

    Arguments
    ---------
    seconds : float
        Length of the signal.
    rng : numpy.random.Generator
        Source of randomness (the output is a function of its state).
    speaker : int
        Voice index; sets the mean pitch and the vocal-tract scaling.
    sample_rate : int
        Sample rate in Hz.

    Returns
    -------
    numpy.ndarray
        The signal, shape ``(time,)``, float32, RMS -25 dBFS.

    Example
    -------
    >>> wav = speech_like(1.0, np.random.default_rng(0))
    >>> wav.shape, wav.dtype
    ((16000,), dtype('float32'))
    """
    total = int(seconds * sample_rate)
    voice = np.random.default_rng([speaker, 7])
    mean_f0 = voice.uniform(95.0, 230.0)
    tract = voice.uniform(0.9, 1.2)

    # Syllable plan: (start, duration) in seconds, pauses between words.
    syllables, t = [], rng.uniform(0.05, 0.3)
    while t < seconds - 0.15:
        for _ in range(rng.integers(1, 5)):
            duration = rng.uniform(0.12, 0.3)
            syllables.append((t, duration))
            t += duration + rng.uniform(0.0, 0.03)
        t += rng.uniform(0.15, 0.45) if rng.random() < 0.35 else rng.uniform(0.03, 0.08)
    if not syllables:
        syllables.append((0.0, seconds))

    centres = np.array([start + duration / 2 for start, duration in syllables])
    times = np.concatenate([[0.0], centres, [seconds]])
    pitch = mean_f0 * rng.uniform(0.85, 1.2, len(syllables)) * np.linspace(1.1, 0.9, len(syllables))
    pitch = np.concatenate([pitch[:1], pitch, pitch[-1:]])
    f0 = _smooth_track(pitch, times, total, sample_rate)
    f0 *= 1 + 0.01 * np.sin(2 * np.pi * 5.0 * np.arange(total) / sample_rate)
    vowels = VOWELS[rng.integers(len(VOWELS), size=len(syllables))] * tract
    vowels = np.concatenate([vowels[:1], vowels, vowels[-1:]])
    formants = [_smooth_track(vowels[:, i], times, total, sample_rate) for i in range(3)]

    envelope = np.zeros(total)
    unvoiced = np.zeros(total)
    for start, duration in syllables:
        first, count = int(start * sample_rate), int(duration * sample_rate)
        count = min(count, total - first)
        if count <= 0:
            continue
        envelope[first : first + count] += rng.uniform(0.5, 1.0) * np.hanning(count)
        if rng.random() < 0.45:
            burst = min(int(rng.uniform(0.03, 0.09) * sample_rate), total - first)
            unvoiced[first : first + burst] += np.exp(-np.linspace(0, 4, burst))

    # Harmonic source, each harmonic weighted by the formant resonances at
    # its (time-varying) frequency, with a spectral tilt. Gains are computed
    # every CONTROL_HOP samples; sin(k * phase) by the Chebyshev recursion.
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    cosine2 = 2 * np.cos(phase)
    previous, current = np.zeros(total), np.sin(phase)
    f0_control = f0[::CONTROL_HOP]
    formants_control = [track[::CONTROL_HOP] for track in formants]
    voiced = np.zeros(total)
    for k in range(1, int(4000 / mean_f0 * 1.2) + 1):
        frequency = k * f0_control
        gain = sum(
            1.0 / (1.0 + ((frequency - formants_control[i]) / FORMANT_BANDWIDTHS[i]) ** 2) / (i + 1)
            for i in range(3)
        )
        gain *= (frequency < 0.45 * sample_rate) / k**0.5
        voiced += np.repeat(gain, CONTROL_HOP)[:total] * current
        previous, current = current, cosine2 * current - previous
    hiss = np.diff(rng.standard_normal(total + 1))
    signal = voiced * envelope + 0.15 * hiss * unvoiced
    return _rms_normalise(signal, -25.0).astype(np.float32)


def _coloured(seconds, rng, sample_rate, slope=None):
    """Noise with a 1/f^slope power spectrum."""
    total = int(seconds * sample_rate)
    slope = rng.uniform(0.0, 2.0) if slope is None else slope
    spectrum = np.fft.rfft(rng.standard_normal(total))
    frequency = np.fft.rfftfreq(total, 1 / sample_rate)
    spectrum /= np.maximum(frequency, 20.0) ** (slope / 2)
    return np.fft.irfft(spectrum, total)


def noise_like(kind, seconds, rng, sample_rate=16000):
    """Generates one of the demo noises.

    Arguments
    ---------
    kind : str
        ``"coloured"``, ``"hum"``, ``"babble"`` or ``"clicks"``.
    seconds : float
        Length of the noise.
    rng : numpy.random.Generator
        Source of randomness.
    sample_rate : int
        Sample rate in Hz.

    Returns
    -------
    numpy.ndarray
        The noise, shape ``(time,)``, float32, RMS -30 dBFS.

    Example
    -------
    >>> noise_like("hum", 0.5, np.random.default_rng(0)).shape
    (8000,)
    """
    total = int(seconds * sample_rate)
    t = np.arange(total) / sample_rate
    if kind == "coloured":
        noise = _coloured(seconds, rng, sample_rate)
        noise *= 1 + 0.3 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t)
    elif kind == "hum":
        mains = rng.choice([50.0, 60.0])
        noise = sum(
            np.sin(2 * np.pi * k * mains * t + rng.uniform(0, 2 * np.pi)) / k**1.2
            for k in range(1, 12)
        )
        noise = _rms_normalise(noise, 0.0) + _rms_normalise(
            _coloured(seconds, rng, sample_rate, 1.0), -20.0
        )
    elif kind == "babble":
        noise = sum(
            speech_like(seconds, rng, speaker=int(rng.integers(100, 1000)), sample_rate=sample_rate)
            for _ in range(rng.integers(4, 7))
        )
    elif kind == "clicks":
        noise = _rms_normalise(_coloured(seconds, rng, sample_rate), -20.0)
        click = int(0.01 * sample_rate)
        decay = np.exp(-np.arange(click) / (0.002 * sample_rate))
        for start in rng.integers(0, total - click, size=max(1, int(rng.uniform(2, 8) * seconds))):
            ring = np.sin(2 * np.pi * rng.uniform(1000, 4000) * np.arange(click) / sample_rate)
            noise[start : start + click] += rng.uniform(2, 6) * decay * ring
    else:
        raise ValueError(f"Unknown noise kind {kind!r}; expected one of {NOISE_TYPES}.")
    return _rms_normalise(noise, -30.0).astype(np.float32)


def room_impulse_response(rng, sample_rate=16000):
    """Generates an exponentially decaying synthetic room impulse response.

    Arguments
    ---------
    rng : numpy.random.Generator
        Source of randomness (T60 is uniform in 0.2-0.8 s).
    sample_rate : int
        Sample rate in Hz.

    Returns
    -------
    numpy.ndarray
        The response, shape ``(time,)``, float32, peak (direct path) 1.

    Example
    -------
    >>> rir = room_impulse_response(np.random.default_rng(0))
    >>> float(np.abs(rir).max())
    1.0
    """
    t60 = rng.uniform(0.2, 0.8)
    total = int(min(1.0, 1.2 * t60) * sample_rate)
    direct = int(rng.uniform(0.001, 0.005) * sample_rate)
    t = np.arange(total) / sample_rate
    tail = rng.standard_normal(total) * np.exp(-6.9 * t / t60)
    tail = np.convolve(tail, [0.5, 0.5])[:total]  # mild air absorption
    tail[: direct + 1] = 0.0
    rir = rng.uniform(0.1, 0.3) * tail / np.abs(tail).max()
    for delay in rng.uniform(0.003, 0.03, size=4):
        rir[direct + int(delay * sample_rate)] += rng.uniform(-0.5, 0.5)
    rir[direct] = 1.0
    return (rir / np.abs(rir).max()).astype(np.float32)


def create_demo_corpus(
    folder,
    seed=0,
    n_clean=40,
    clean_seconds=(3.0, 6.0),
    n_noise=10,
    noise_seconds=8.0,
    n_rir=4,
    n_test=12,
    test_seconds=4.0,
    test_snr_range=(-5.0, 15.0),
    sample_rate=16000,
):
    """Writes a small synthetic corpus in the DNS-2020 layout.

    It only proves the pipeline (see the module docstring): the signals are
    speech-like, not speech. Layout under ``folder``::

        datasets/clean/demo_reader_RR_utt_NNN.wav
        datasets/noise/demo_noise_NN_<kind>.wav
        datasets/impulse_responses/demo_rir_NN.wav
        datasets/test_set/synthetic/no_reverb/clean/clean_fileid_N.wav
        datasets/test_set/synthetic/no_reverb/noisy/demo_<kind>_snrS_tlL_fileid_N.wav

    Deterministic for a seed. Idempotent: returns at once when the
    completion marker (written last) holds the same options; an interrupted
    or differently configured corpus is deleted and made again. A
    ``datasets`` folder not made by this function is never touched.

    Arguments
    ---------
    folder : str or pathlib.Path
        Corpus root (give it to ``prepare_dns`` as ``data_folder``).
    seed : int
        Non-negative seed.
    n_clean : int
        Number of clean training files.
    clean_seconds : tuple of float
        Range of their lengths (uniform).
    n_noise : int
        Number of noise files (kinds taken in turn).
    noise_seconds : float
        Length of each noise file.
    n_rir : int
        Number of room impulse responses.
    n_test : int
        Number of noisy/clean test pairs.
    test_seconds : float
        Length of each test pair.
    test_snr_range : tuple of float
        Test SNRs are evenly spread over this range (rounded to 1 dB).
    sample_rate : int
        Sample rate of every file.

    Returns
    -------
    pathlib.Path
        ``folder``.

    Example
    -------
    >>> import tempfile
    >>> root = create_demo_corpus(tempfile.mkdtemp(), n_clean=2, n_noise=1,
    ...                           n_rir=1, n_test=1, noise_seconds=1.0)
    >>> sorted(p.name for p in (root / "datasets").iterdir())
    ['clean', 'impulse_responses', 'noise', 'test_set']
    """
    folder = Path(folder)
    options = {
        "seed": seed,
        "n_clean": n_clean,
        "clean_seconds": list(clean_seconds),
        "n_noise": n_noise,
        "noise_seconds": noise_seconds,
        "n_rir": n_rir,
        "n_test": n_test,
        "test_seconds": test_seconds,
        "test_snr_range": list(test_snr_range),
        "sample_rate": sample_rate,
    }
    complete, started = folder / COMPLETE_MARKER, folder / STARTED_MARKER
    if complete.is_file() and json.loads(complete.read_text()) == options:
        return folder
    datasets = folder / "datasets"
    if datasets.exists() and not (complete.exists() or started.exists()):
        raise FileExistsError(
            f"{datasets}: already exists and was not made by create_demo_corpus; "
            "choose an empty folder."
        )
    folder.mkdir(parents=True, exist_ok=True)
    started.touch()
    complete.unlink(missing_ok=True)
    shutil.rmtree(datasets, ignore_errors=True)

    def write(path, signal):
        save_audio(path, torch.from_numpy(signal), sample_rate)

    for index in range(n_clean):
        rng = np.random.default_rng([seed, 0, index])
        speaker = index % SPEAKERS
        seconds = rng.uniform(*clean_seconds)
        write(
            datasets / "clean" / f"demo_reader_{speaker:02d}_utt_{index:03d}.wav",
            speech_like(seconds, rng, speaker=speaker, sample_rate=sample_rate),
        )
    for index in range(n_noise):
        rng = np.random.default_rng([seed, 1, index])
        kind = NOISE_TYPES[index % len(NOISE_TYPES)]
        write(
            datasets / "noise" / f"demo_noise_{index:02d}_{kind}.wav",
            noise_like(kind, noise_seconds, rng, sample_rate),
        )
    for index in range(n_rir):
        rng = np.random.default_rng([seed, 2, index])
        write(
            datasets / "impulse_responses" / f"demo_rir_{index:02d}.wav",
            room_impulse_response(rng, sample_rate),
        )
    test = datasets / "test_set" / "synthetic" / "no_reverb"
    snrs = np.round(np.linspace(*test_snr_range, n_test)).astype(int)
    for index in range(n_test):
        rng = np.random.default_rng([seed, 3, index])
        kind = NOISE_TYPES[index % len(NOISE_TYPES)]
        clean = torch.from_numpy(
            speech_like(test_seconds, rng, speaker=SPEAKERS + index, sample_rate=sample_rate)
        )
        noise = torch.from_numpy(noise_like(kind, test_seconds, rng, sample_rate))
        noisy = mix_at_snr(clean, noise, float(snrs[index]))
        level = int(rng.integers(-35, -14))
        gain = 10 ** (level / 20) / noisy.pow(2).mean().sqrt()
        gain = min(gain, 0.99 / max(noisy.abs().max(), clean.abs().max()))
        save_audio(test / "clean" / f"clean_fileid_{index}.wav", clean * gain, sample_rate)
        save_audio(
            test / "noisy" / f"demo_{kind}_snr{snrs[index]}_tl{level}_fileid_{index}.wav",
            noisy * gain,
            sample_rate,
        )
    write_json(complete, options)
    started.unlink()
    return folder
