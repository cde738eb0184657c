"""Resampling at a bounded cost for any pair of rates, whole or block by block.

torchaudio's sinc resampler builds a ``new x orig`` kernel from the reduced
ratio of the two rates, so two coprime rates (a header claiming 31249 Hz
against 16000 Hz) would cost gigabytes and minutes. :func:`resampling_ratio`
keeps the ratio's terms small, :func:`resample` resamples a whole signal and
:class:`StreamResampler` one that arrives in blocks, with the same result.

Authors
 * speechbrain-atkl developers 2026
"""

import functools
from fractions import Fraction

import torch
import torchaudio

#: Largest numerator and denominator of the resampling ratio; the exact ratio
#: is used when it reduces to terms this small (every common rate does), else
#: the closest such fraction (rate error below 1e-6 for rates up to 384 kHz).
MAX_RATIO_TERM = 1000


def resampling_ratio(orig_rate, new_rate):
    """The rates ``(orig, new)`` handed to torchaudio: small terms, same ratio.

    torchaudio's resampler builds a ``new x orig`` kernel from the reduced
    ratio, so two coprime rates (31249 and 16000 Hz) would cost gigabytes.
    The exact ratio is kept when both its terms are at most
    :data:`MAX_RATIO_TERM`, else the closest fraction with terms that small.

    Example
    -------
    >>> resampling_ratio(44100, 16000), resampling_ratio(48000, 16000)
    ((441, 160), (3, 1))
    >>> orig, new = resampling_ratio(31249, 16000)
    >>> max(orig, new) <= MAX_RATIO_TERM, abs(orig / new / (31249 / 16000) - 1) < 1e-6
    (True, True)
    """
    ratio = Fraction(orig_rate, new_rate)
    limit = max(1, min(MAX_RATIO_TERM, int(MAX_RATIO_TERM / ratio)))
    while max(ratio.numerator, ratio.denominator) > MAX_RATIO_TERM:
        ratio = Fraction(orig_rate, new_rate).limit_denominator(limit)
        limit -= 1
    return ratio.numerator, ratio.denominator


def resampled_length(frames, orig_rate, new_rate):
    """Samples that ``frames`` samples at ``orig_rate`` become at ``new_rate`` (rounded up).

    >>> resampled_length(44101, 44100, 16000)
    16001
    """
    return -(-frames * new_rate // orig_rate)


def resample(wav, orig_rate, new_rate):
    """Resamples ``(..., time)`` at a bounded cost for any pair of rates.

    Uses :func:`torchaudio.functional.resample` with :func:`resampling_ratio`;
    the output has :func:`resampled_length` samples.

    Example
    -------
    >>> resample(torch.ones(31249), 31249, 16000).shape
    torch.Size([16000])
    """
    if orig_rate == new_rate:
        return wav
    orig, new = resampling_ratio(orig_rate, new_rate)
    return _fit(_apply(wav, orig, new), resampled_length(wav.shape[-1], orig_rate, new_rate))


@functools.lru_cache(maxsize=4)
def _kernel(orig, new, dtype):
    """torchaudio's sinc kernel for a reduced ratio, and its half-width in input samples."""
    return torchaudio.functional.functional._get_sinc_resample_kernel(orig, new, 1, dtype=dtype)


def _apply(wav, orig, new):
    """``torchaudio.functional.resample(wav, orig, new)`` with the kernel built once per ratio."""
    kernel, width = _kernel(orig, new, wav.dtype)
    return torchaudio.functional.functional._apply_sinc_resample_kernel(wav, orig, new, 1, kernel, width)


def _fit(wav, length):
    """``wav`` cut or zero-padded to ``length`` samples on its last axis."""
    return torch.nn.functional.pad(wav, (0, length - wav.shape[-1])) if wav.shape[-1] < length else wav[..., :length]


class StreamResampler:
    """Resamples a signal that arrives in blocks, exactly as :func:`resample` would do it whole.

    torchaudio maps each group of ``orig`` input samples to ``new`` output
    samples with a kernel reaching ``width`` samples either side; keeping
    that much input context across blocks (cut at group boundaries) makes
    the concatenated outputs equal the one-pass output (to float rounding).

    Arguments
    ---------
    orig_rate, new_rate : int
        Sampling rates (Hz).

    Example
    -------
    >>> wav = torch.randn(10000)
    >>> stream = StreamResampler(44100, 16000)
    >>> pieces = [stream.push(block) for block in wav.split(777)] + [stream.finish()]
    >>> torch.allclose(torch.cat(pieces), resample(wav, 44100, 16000), atol=1e-6)
    True
    """

    def __init__(self, orig_rate, new_rate):
        self.rates = (orig_rate, new_rate)
        self.orig, self.new = resampling_ratio(orig_rate, new_rate)
        # torchaudio's kernel half-width, in input samples, rounded up to whole groups.
        width = _kernel(self.orig, self.new, torch.float32)[1]
        self.context = _round_up(width, self.orig) + self.orig
        self.buffer = torch.zeros(0)
        self.base = 0  # input index of buffer[0], a multiple of orig
        self.done = 0  # output groups returned so far
        self.frames = 0  # input samples received

    def push(self, block):
        """Takes the next ``(time,)`` input samples; returns the output samples now complete."""
        self.buffer = torch.cat([self.buffer, block])
        self.frames += block.shape[0]
        if self.rates[0] == self.rates[1]:
            out, self.buffer = self.buffer, self.buffer[:0]
            return out
        ready = max(self.frames - self.context, 0) // self.orig  # groups whose input is all here
        if ready <= self.done:
            return self.buffer[:0]
        return self._run(ready, end=ready * self.orig + self.context)

    def finish(self):
        """Returns the rest of the output (the signal has ended)."""
        if self.rates[0] == self.rates[1]:
            return self.buffer
        remaining = resampled_length(self.frames, *self.rates) - self.done * self.new
        return self._run(self.done + -(-remaining // self.new), end=self.frames)[:remaining]

    def _run(self, groups, end):
        start = max(self.done * self.orig - self.context, 0)  # a multiple of orig
        segment = self.buffer[start - self.base : end - self.base]
        out = _apply(segment, self.orig, self.new)
        out = out[(self.done - start // self.orig) * self.new : (groups - start // self.orig) * self.new]
        self.done = groups
        keep = max(self.done * self.orig - self.context, 0)
        self.buffer, self.base = self.buffer[keep - self.base :], keep
        return out


def _round_up(value, multiple):
    return -(-value // multiple) * multiple
