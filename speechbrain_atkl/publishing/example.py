"""The example a model folder ships: ``example.wav``, a recording or a synthetic signal.

Authors
 * speechbrain-atkl developers 2026
"""

import math

import torch

#: Longest example kept in the model folder (seconds).
MAX_EXAMPLE_SECONDS = 30.0


def synthetic_example(seconds=3.0, sample_rate=16000, snr_db=5.0, seed=0):
    """A deterministic noisy example: a voiced-like harmonic signal in white noise.

    Used when no ``--example`` recording is given. It is not speech; it only
    shows that the model runs and what it removes.

    Arguments
    ---------
    seconds : float
        Length.
    sample_rate : int
        Sample rate.
    snr_db : float
        Signal-to-noise ratio of the mixture.
    seed : int
        Seed of the noise.

    Returns
    -------
    torch.Tensor
        ``(time,)``, peak 0.5.

    Example
    -------
    >>> wav = synthetic_example(seconds=0.5)
    >>> wav.shape, bool(wav.abs().max() <= 1)
    (torch.Size([8000]), True)
    """
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    pitch = 140 + 30 * torch.sin(2 * math.pi * 0.7 * t)
    phase = 2 * math.pi * torch.cumsum(pitch, 0) / sample_rate
    voiced = sum(torch.sin(h * phase) / h for h in range(1, 12))
    syllables = torch.sin(math.pi * 3.0 * t).clamp_min(0) ** 2
    clean = voiced * syllables
    noise = torch.randn(t.shape, generator=generator)
    noise = noise * (clean.pow(2).mean() / noise.pow(2).mean() / 10 ** (snr_db / 10)).sqrt()
    noisy = clean + noise
    return 0.5 * noisy / noisy.abs().max()


def example_input(example, sample_rate):
    """The noisy example to ship: the first :data:`MAX_EXAMPLE_SECONDS` of ``example``, else a synthetic one.

    Arguments
    ---------
    example : str or pathlib.Path or None
        A noisy recording (any format and rate; read as mono at ``sample_rate``),
        or ``None`` for :func:`synthetic_example`.
    sample_rate : int
        The model's sample rate.

    Returns
    -------
    torch.Tensor
        ``(time,)``.

    Example
    -------
    >>> example_input(None, 16000).shape
    torch.Size([48000])
    """
    if example is None:
        return synthetic_example(sample_rate=sample_rate)
    from speechbrain_atkl.data.audio import load_audio

    return load_audio(example, sample_rate, frames=int(MAX_EXAMPLE_SECONDS * sample_rate))
