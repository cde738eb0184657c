"""Training-time augmentation of noise segments: few noise files, many noises.

:class:`NoiseAugmentation` turns a dynamically mixed noise segment into a new
noise before it is mixed with the speech
(:class:`~speechbrain_atkl.data.mixing.DynamicMixingDataset`, argument
``noise_augmentation``). It may play the segment faster or slower (pitch and
tempo together), add a second noise segment of the corpus, a
synthetic coloured noise and synthetic tonal events
(:mod:`~speechbrain_atkl.data.tonal_events`), then reshapes the spectrum with a smooth random gain
curve. All its randomness comes from the ``numpy.random.Generator`` it is given,
so an item stays a pure function of the dataset's seed, epoch and index.

Authors
 * speechbrain-atkl developers 2026
"""

import math

import numpy as np
import torch
from scipy.fft import next_fast_len

from speechbrain_atkl.data.mixing import mix_at_snr
from speechbrain_atkl.data.tonal_events import TonalEvents
from speechbrain_atkl.value_checks import check_probability, check_range, is_number

# Coloured noise keeps a flat spectrum below this share of the Nyquist frequency
# (62.5 Hz at 16 kHz), so that a steep slope does not put all its power in inaudible rumble.
SLOPE_FLOOR = 2.0**-7


def _normalised_frequencies(length):
    """Frequencies of the rFFT bins of ``length`` samples, as shares of the Nyquist frequency."""
    return np.arange(length // 2 + 1) * 2.0 / length


class NoiseAugmentation:
    """Makes a new noise out of a noise segment ``(time,)``.

    With probability ``prob`` a segment is augmented; an augmented segment, in
    this order:

    0. with probability ``speed_prob``, is played at a speed drawn
       log-uniformly in ``speed_range`` (pitch and tempo together: 2.0 an
       octave up, twice as fast; see :meth:`change_speed`; no random draw at
       all when ``speed_prob`` is 0, so outputs stay those without this step);
    1. with probability ``second_noise_prob``, gets another noise segment of
       the corpus (from ``draw_noise``) added at a level uniform in
       ``second_noise_level_db`` relative to it;
    2. with probability ``coloured_noise_prob``, gets a Gaussian noise added
       whose power spectrum goes as ``f ** slope`` (``slope`` uniform in
       ``coloured_slope_range``: -2 brown, -1 pink, 0 white, +1 blue; flat
       below 1/128 of the Nyquist frequency), at a level uniform in
       ``coloured_noise_level_db`` relative to it (at +10 dB the coloured
       noise makes 91 % of the power);
    2b. with probability ``tonal_prob``, gets tonal events added (short
       harmonic sounds with a gliding pitch: hoots, calls, beeps, sirens; see
       :class:`~speechbrain_atkl.data.tonal_events.TonalEvents`) at a level
       uniform in ``tonal_level_db`` relative to it (no random draw at all
       when ``tonal_prob`` is 0, so outputs stay those without this step);
    3. with probability ``shaping_prob``, has its rFFT multiplied by a smooth
       random gain curve (see :meth:`shape`).

    The result has the length and the RMS of the input segment; the SNR is
    set afterwards, on the result.

    Arguments
    ---------
    prob : float
        Probability of augmenting a segment; 0 returns every segment unchanged.
    shaping_prob : float
        Probability of the random spectral shaping.
    max_gain_db : float
        The shaping's gains are uniform in ``[-max_gain_db, max_gain_db]`` dB.
    anchor_count : int
        Number of shaping gains, at anchor frequencies one octave apart, the
        highest at the Nyquist frequency (8 at 16 kHz: 62.5 Hz to 8 kHz);
        the gain in dB is linear in log-frequency between anchors.
    second_noise_prob : float
        Probability of adding a second noise segment.
    second_noise_level_db : tuple of float
        Level range of the second noise, in dB relative to the segment.
    coloured_noise_prob : float
        Probability of adding a coloured noise.
    coloured_slope_range : tuple of float
        Range of the coloured noise's spectral slope (power ∝ ``f ** slope``).
    coloured_noise_level_db : tuple of float
        Level range of the coloured noise, in dB relative to the segment.
    tonal_prob : float
        Probability of adding tonal events.
    tonal_level_db : tuple of float
        Level range of the tonal events, in dB relative to the segment.
    sample_rate : int
        Sample rate of the segments in Hz (the tonal events' frequencies are in Hz).
    speed_prob : float
        Probability of changing the segment's speed.
    speed_range : tuple of float
        Range of the speed factor (both > 0), drawn log-uniformly.

    Example
    -------
    >>> augment = NoiseAugmentation(second_noise_prob=1.0)
    >>> noise = torch.randn(48000)
    >>> def augmented(seed):
    ...     rng = np.random.default_rng(seed)
    ...     def draw_noise(length):  # the dataset reads another noise segment, with the same rng
    ...         return torch.from_numpy(rng.standard_normal(length)).float()
    ...     return augment(noise, rng, draw_noise)
    >>> new = augmented(0)
    >>> new.shape, bool(torch.isclose(new.pow(2).mean(), noise.pow(2).mean()))
    (torch.Size([48000]), True)
    >>> torch.equal(new, augmented(0)), torch.equal(new, augmented(1))
    (True, False)
    """

    def __init__(
        self,
        prob=1.0,
        shaping_prob=1.0,
        max_gain_db=6.0,
        anchor_count=8,
        second_noise_prob=0.5,
        second_noise_level_db=(-10.0, 0.0),
        coloured_noise_prob=0.2,
        coloured_slope_range=(-2.0, 1.0),
        coloured_noise_level_db=(-10.0, 10.0),
        tonal_prob=0.0,
        tonal_level_db=(-5.0, 10.0),
        sample_rate=16000,
        speed_prob=0.0,
        speed_range=(0.5, 2.0),
    ):
        for name, value in (
            ("prob", prob),
            ("shaping_prob", shaping_prob),
            ("second_noise_prob", second_noise_prob),
            ("coloured_noise_prob", coloured_noise_prob),
            ("tonal_prob", tonal_prob),
            ("speed_prob", speed_prob),
        ):
            check_probability(name, value)
        if not is_number(max_gain_db, 0.0):
            raise ValueError(f"max_gain_db must be a number of dB >= 0, got {max_gain_db!r}.")
        if isinstance(anchor_count, bool) or not isinstance(anchor_count, int) or anchor_count < 2:
            raise ValueError(f"anchor_count must be an integer >= 2, got {anchor_count!r}.")
        if not is_number(sample_rate, 0, integer=True, low_open=True):
            raise ValueError(f"sample_rate must be a positive integer number of Hz, got {sample_rate!r}.")
        self.prob = float(prob)
        self.shaping_prob = float(shaping_prob)
        self.max_gain_db = float(max_gain_db)
        self.anchor_count = anchor_count
        self.second_noise_prob = float(second_noise_prob)
        self.second_noise_level_db = check_range("second_noise_level_db", second_noise_level_db)
        self.coloured_noise_prob = float(coloured_noise_prob)
        self.coloured_slope_range = check_range("coloured_slope_range", coloured_slope_range)
        self.coloured_noise_level_db = check_range("coloured_noise_level_db", coloured_noise_level_db)
        self.tonal_prob = float(tonal_prob)
        self.tonal_level_db = check_range("tonal_level_db", tonal_level_db)
        self.sample_rate = int(sample_rate)
        self.speed_prob = float(speed_prob)
        self.speed_range = check_range("speed_range", speed_range)
        if self.speed_range[0] <= 0:
            raise ValueError(f"speed_range must hold speed factors > 0, got {speed_range!r}.")
        self.tonal_events = TonalEvents()

    def __call__(self, noise, rng, draw_noise):
        """Returns the augmented segment.

        Arguments
        ---------
        noise : torch.Tensor
            A noise segment (CPU), shape ``(time,)``, not silent.
        rng : numpy.random.Generator
            Source of all the randomness (``draw_noise`` should use it too).
        draw_noise : callable
            ``draw_noise(length)`` returns another noise segment, shape
            ``(length,)``, not silent.

        Returns
        -------
        torch.Tensor
            The new noise, shape ``(time,)``, with the RMS of ``noise``
            (``noise`` itself when not augmented).
        """
        if rng.random() >= self.prob:
            return noise
        length = noise.shape[-1]
        rms = noise.pow(2).mean().sqrt()
        new = noise
        if self.speed_prob > 0 and rng.random() < self.speed_prob:  # no draw when off: outputs as without it
            new = self.change_speed(new, rng)
        if rng.random() < self.second_noise_prob:
            level_db = rng.uniform(*self.second_noise_level_db)
            new = mix_at_snr(new, draw_noise(length), -level_db)  # the other noise at level_db relative to it
        if rng.random() < self.coloured_noise_prob:
            level_db = rng.uniform(*self.coloured_noise_level_db)
            new = mix_at_snr(new, self.coloured_noise(length, rng).to(new.dtype), -level_db)
        if self.tonal_prob > 0 and rng.random() < self.tonal_prob:  # no draw when off: outputs as without it
            level_db = rng.uniform(*self.tonal_level_db)
            new = mix_at_snr(new, self.tonal_events(length, self.sample_rate, rng).to(new.dtype), -level_db)
        if rng.random() < self.shaping_prob:
            new = self.shape(new, rng)
        return new * (rms / new.pow(2).mean().sqrt())

    def shape(self, noise, rng):
        """Multiplies the segment's rFFT by a smooth random gain curve, keeping its RMS.

        Arguments
        ---------
        noise : torch.Tensor
            Segment (CPU), shape ``(time,)``, not silent.
        rng : numpy.random.Generator
            Draws the ``anchor_count`` gains.

        Returns
        -------
        torch.Tensor
            The shaped segment, shape ``(time,)``, same RMS.

        Example
        -------
        >>> noise = torch.randn(16000)
        >>> shaped = NoiseAugmentation(max_gain_db=12.0).shape(noise, np.random.default_rng(0))
        >>> shaped.shape, bool(torch.isclose(shaped.pow(2).mean(), noise.pow(2).mean()))
        (torch.Size([16000]), True)
        >>> flat = NoiseAugmentation(max_gain_db=0.0).shape(noise, np.random.default_rng(0))
        >>> torch.allclose(flat, noise, atol=1e-5)
        True
        """
        length = noise.shape[-1]
        anchors = np.arange(1 - self.anchor_count, 1)  # log2 of the anchor frequencies / Nyquist
        log_gains = rng.uniform(-self.max_gain_db, self.max_gain_db, self.anchor_count) * math.log(10) / 20
        octaves = np.log2(np.maximum(_normalised_frequencies(length), 2.0 ** anchors[0]))
        gains = np.exp(np.interp(octaves, anchors, log_gains))
        # numpy's FFT: several times faster than torch's on one CPU thread for such lengths
        shaped = torch.from_numpy(np.fft.irfft(np.fft.rfft(noise.numpy()) * gains, n=length)).to(noise.dtype)
        return shaped * (noise.pow(2).mean().sqrt() / shaped.pow(2).mean().sqrt())

    def change_speed(self, noise, rng):
        """Plays the segment ``factor`` times as fast, ``factor`` drawn log-uniformly in ``speed_range``.

        Pitch and tempo change together, as a recording played at another
        rate: the first ``length * factor`` samples of the segment (rounded up
        to a length whose FFT is fast; looped when the segment is shorter, as
        the dataset loops short noise files) are resampled to ``length``
        samples by truncating or zero-padding their spectrum, which removes
        what a faster play would fold above the Nyquist frequency.

        Arguments
        ---------
        noise : torch.Tensor
            Segment (CPU), shape ``(time,)``.
        rng : numpy.random.Generator
            Draws the factor.

        Returns
        -------
        torch.Tensor
            The segment at its new speed, shape ``(time,)`` (its level is set by the caller).

        Example
        -------
        >>> tone = torch.sin(2 * math.pi * 1000 * torch.arange(16000) / 16000)
        >>> octave_up = NoiseAugmentation(speed_range=(2.0, 2.0)).change_speed(tone, np.random.default_rng(0))
        >>> octave_up.shape, int(torch.fft.rfft(octave_up).abs().argmax())  # 1 kHz -> 2 kHz (1 Hz bins)
        (torch.Size([16000]), 2000)
        """
        length = noise.shape[-1]
        # a length whose FFT is fast (a prime length is ~50x slower); the factor moves by < 1 %
        source = next_fast_len(max(2, round(length * self._draw_factor(rng))), real=True)
        played = noise.repeat(math.ceil(source / length))[:source]
        if not bool(played.abs().max() > 0):  # a silent stretch of the segment: kept as it is, not divided by 0
            return noise
        spectrum = np.fft.rfft(played.numpy())
        bins = length // 2 + 1
        spectrum = spectrum[:bins] if spectrum.shape[0] >= bins else np.pad(spectrum, (0, bins - spectrum.shape[0]))
        return torch.from_numpy(np.fft.irfft(spectrum, n=length)).to(noise.dtype)

    def _draw_factor(self, rng):
        """A speed factor, log-uniform in ``speed_range``."""
        low, high = self.speed_range
        return math.exp(rng.uniform(math.log(low), math.log(high)))

    def coloured_noise(self, length, rng):
        """A Gaussian noise whose power spectrum goes as ``f ** slope``, ``slope`` drawn in ``coloured_slope_range``.

        Arguments
        ---------
        length : int
            Number of samples.
        rng : numpy.random.Generator
            Draws the slope and the noise.

        Returns
        -------
        torch.Tensor
            The noise, shape ``(length,)``, float32, zero mean, unit RMS.

        Example
        -------
        >>> brown = NoiseAugmentation(coloured_slope_range=(-2.0, -2.0)).coloured_noise(16000, np.random.default_rng(0))
        >>> power = torch.fft.rfft(brown).abs().pow(2)
        >>> brown.shape, bool(power[100:1000].sum() > 10 * power[7000:].sum())
        (torch.Size([16000]), True)
        """
        slope = rng.uniform(*self.coloured_slope_range)
        amplitude = np.maximum(_normalised_frequencies(length), SLOPE_FLOOR) ** (slope / 2)
        amplitude[0] = 0.0  # no DC
        bins = amplitude.shape[0]
        spectrum = (rng.standard_normal(bins, np.float32) + 1j * rng.standard_normal(bins, np.float32)) * amplitude
        noise = torch.from_numpy(np.fft.irfft(spectrum, n=length)).float()
        return noise / noise.pow(2).mean().sqrt()
