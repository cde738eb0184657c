"""Synthetic tonal events: the hoots, calls, beeps, whistles, alarms and sirens of real scenes.

:class:`TonalEvents` scatters short harmonic sounds with a gliding pitch over a
segment. :class:`~speechbrain_atkl.data.noise_augment.NoiseAugmentation` adds
them to training noise segments (argument ``tonal_prob``), so that a model
trained on few noise recordings also meets tonal, speech-like noises. All the
randomness comes from the ``numpy.random.Generator`` it is given.

Authors
 * speechbrain-atkl developers 2026
"""

import numpy as np
import torch

from speechbrain_atkl.value_checks import check_probability, check_range, is_number, is_range

#: The fundamental frequency is capped at this share of the sample rate (7.2 kHz at 16 kHz).
MAX_F0_SHARE = 0.45
#: Ranges of the attack and of the decay, as shares of the event's duration (raised-cosine ramps).
ATTACK_SHARE = (0.02, 0.3)
DECAY_SHARE = (0.1, 0.5)


class TonalEvents:
    """Draws a segment of tonal events: short harmonic sounds with a gliding pitch.

    Each event has a random onset (it lies wholly in the segment), a duration,
    a level, and a fundamental frequency that starts log-uniform in ``f0_hz``
    and glides by up to ``max_glide_octaves`` over the event, linearly in
    log-frequency or in frequency (equal odds), possibly with a vibrato. It
    has 1 to ``harmonic_count[1]`` harmonics whose amplitudes fall by a random
    number of dB per harmonic; harmonics that would reach the Nyquist
    frequency are dropped, and the fundamental is capped at 0.45 times the
    sample rate. The waveform comes from the accumulated phase (the cumulative
    sum of the instantaneous frequency), so glides are clean, and a smooth
    attack and decay shape it.

    Arguments
    ---------
    events_per_second : tuple of float
        Range of the event rate: a segment of ``s`` seconds gets a whole number
        of events uniform between ``round(low * s)`` and ``round(high * s)``,
        at least 1 (1 to 6 in 3 s by default).
    duration_s : tuple of float
        Range of an event's duration in seconds (uniform), cut to the segment's.
    f0_hz : tuple of float
        Range of the starting fundamental frequency in Hz (log-uniform).
    max_glide_octaves : float
        The pitch moves by a number of octaves uniform in
        ``[-max_glide_octaves, max_glide_octaves]`` over the event.
    vibrato_prob : float
        Probability that an event has a vibrato.
    vibrato_hz : tuple of float
        Range of the vibrato's rate in Hz.
    vibrato_semitones : tuple of float
        Range of the vibrato's depth (peak deviation) in semitones.
    harmonic_count : tuple of int
        Range of the number of harmonics, fundamental included.
    harmonic_slope_db : tuple of float
        Range of the amplitude change from one harmonic to the next, in dB.
    event_level_db : tuple of float
        Range of an event's level in dB (the events' relative loudness).

    Example
    -------
    >>> events = TonalEvents()
    >>> wav = events(48000, 16000, np.random.default_rng(0))
    >>> wav.shape, wav.dtype, round(float(wav.pow(2).mean()), 4)
    (torch.Size([48000]), torch.float32, 1.0)
    >>> torch.equal(wav, events(48000, 16000, np.random.default_rng(0)))
    True
    """

    def __init__(
        self,
        events_per_second=(1.0 / 3.0, 2.0),
        duration_s=(0.05, 1.0),
        f0_hz=(100.0, 3000.0),
        max_glide_octaves=1.0,
        vibrato_prob=0.3,
        vibrato_hz=(3.0, 10.0),
        vibrato_semitones=(0.2, 1.5),
        harmonic_count=(1, 6),
        harmonic_slope_db=(-12.0, -2.0),
        event_level_db=(-10.0, 0.0),
    ):
        for name, value, bound in (
            ("events_per_second", events_per_second, "0 <="),
            ("duration_s", duration_s, "0 <"),
            ("f0_hz", f0_hz, "0 <"),
            ("vibrato_hz", vibrato_hz, "0 <="),
            ("vibrato_semitones", vibrato_semitones, "0 <="),
            ("harmonic_count", harmonic_count, "1 <="),
        ):
            low, strict = float(bound.split()[0]), bound.endswith("<")
            if not is_range(value) or not is_number(value[0], low, low_open=strict):
                raise ValueError(f"{name} must be (low, high) with {bound} low <= high, got {value!r}.")
        if not all(is_number(count, integer=True) for count in harmonic_count):
            raise ValueError(f"harmonic_count must hold integers, got {harmonic_count!r}.")
        for name, value in (("harmonic_slope_db", harmonic_slope_db), ("event_level_db", event_level_db)):
            check_range(name, value)
        if not is_number(max_glide_octaves, 0.0):
            raise ValueError(f"max_glide_octaves must be a number of octaves >= 0, got {max_glide_octaves!r}.")
        check_probability("vibrato_prob", vibrato_prob)
        self.events_per_second = tuple(map(float, events_per_second))
        self.duration_s = tuple(map(float, duration_s))
        self.f0_hz = tuple(map(float, f0_hz))
        self.max_glide_octaves = float(max_glide_octaves)
        self.vibrato_prob = float(vibrato_prob)
        self.vibrato_hz = tuple(map(float, vibrato_hz))
        self.vibrato_semitones = tuple(map(float, vibrato_semitones))
        self.harmonic_count = tuple(map(int, harmonic_count))
        self.harmonic_slope_db = tuple(map(float, harmonic_slope_db))
        self.event_level_db = tuple(map(float, event_level_db))

    def __call__(self, length, sample_rate, rng):
        """Returns a segment of tonal events.

        Arguments
        ---------
        length : int
            Number of samples, >= 1.
        sample_rate : int
            Sample rate in Hz.
        rng : numpy.random.Generator
            Source of all the randomness.

        Returns
        -------
        torch.Tensor
            The events, shape ``(length,)``, float32, unit RMS.
        """
        seconds = length / sample_rate
        low, high = (max(1, round(rate * seconds)) for rate in self.events_per_second)
        wav = np.zeros(length)
        for _ in range(rng.integers(low, high + 1)):
            samples = min(length, max(1, round(rng.uniform(*self.duration_s) * sample_rate)))
            onset = rng.integers(0, length - samples + 1)
            level = 10 ** (rng.uniform(*self.event_level_db) / 20)
            wav[onset : onset + samples] += level * self.event(samples, sample_rate, rng)
        return torch.from_numpy(wav / np.sqrt(np.mean(wav**2))).float()

    def event(self, samples, sample_rate, rng):
        """One tonal event of ``samples`` samples, peak amplitude about 1, as a float64 numpy array.

        Example
        -------
        >>> beep = TonalEvents(f0_hz=(1000.0, 1000.0), max_glide_octaves=0.0, vibrato_prob=0.0,
        ...                    harmonic_count=(1, 1)).event(16000, 16000, np.random.default_rng(0))
        >>> int(np.argmax(np.abs(np.fft.rfft(beep))))  # Hz: 1-s event
        1000
        """
        progress = np.arange(samples) / samples
        start = 2.0 ** rng.uniform(*np.log2(self.f0_hz))
        end = start * 2.0 ** rng.uniform(-self.max_glide_octaves, self.max_glide_octaves)
        if rng.random() < 0.5:
            frequency = start * (end / start) ** progress  # linear in log-frequency
        else:
            frequency = start + (end - start) * progress  # linear in frequency
        if rng.random() < self.vibrato_prob:
            rate, depth = rng.uniform(*self.vibrato_hz), rng.uniform(*self.vibrato_semitones)
            wobble = np.sin(2 * np.pi * rate * np.arange(samples) / sample_rate + rng.uniform(0, 2 * np.pi))
            frequency = frequency * 2.0 ** (depth / 12 * wobble)
        frequency = np.minimum(frequency, MAX_F0_SHARE * sample_rate)
        phase = 2 * np.pi * np.cumsum(frequency) / sample_rate

        numbers = np.arange(1, rng.integers(self.harmonic_count[0], self.harmonic_count[1] + 1) + 1)
        amplitudes = 10 ** (rng.uniform(*self.harmonic_slope_db) * (numbers - 1) / 20)
        offsets = rng.uniform(0, 2 * np.pi, numbers.shape[0])
        kept = numbers * frequency.max() < sample_rate / 2  # the fundamental always is (capped)
        tone = amplitudes[kept] @ np.sin(numbers[kept, None] * phase + offsets[kept, None])

        envelope = np.ones(samples)
        for share, ramp in ((ATTACK_SHARE, slice(None)), (DECAY_SHARE, slice(None, None, -1))):
            ramp_samples = max(1, round(rng.uniform(*share) * samples))
            rise = np.sin(0.5 * np.pi * (np.arange(ramp_samples) + 0.5) / ramp_samples) ** 2  # never 0
            envelope[ramp][:ramp_samples] *= rise
        return envelope * tone / amplitudes[kept].sum()
