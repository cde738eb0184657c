"""ERB band merging and splitting: GTCRN's fixed frequency compression.

GTCRN keeps the low FFT bins as they are and merges the bins above them into
bands equally spaced on the ERB-rate scale (Glasberg & Moore), with
triangular filters that sum to one in every bin. The inverse spreads each
band back over the bins it covers with the same (transposed) filters.

Authors
 * speechbrain-atkl developers 2026
"""

import math

import torch
from torch import nn


def hz_to_erb(hz):
    """ERB-rate of a frequency: ``21.4 log10(1 + 0.00437 f)``.

    Example
    -------
    >>> round(hz_to_erb(1000.0), 2)
    15.62
    """
    return 21.4 * math.log10(1.0 + 0.00437 * hz)


def erb_to_hz(erb):
    """Inverse of :func:`hz_to_erb` (works on floats and tensors).

    Example
    -------
    >>> round(erb_to_hz(hz_to_erb(1000.0)), 6)
    1000.0
    """
    return (10 ** (erb / 21.4) - 1.0) / 0.00437


def band_centre_bins(low_bins=65, bands=64, n_fft=512, sample_rate=16000):
    """The FFT bin at the centre of each ERB band (float64, counted from bin 0).

    ``bands`` points equally spaced in ERB-rate from the frequency of bin
    ``low_bins`` to the Nyquist frequency, rounded to FFT bins.

    Example
    -------
    >>> centres = band_centre_bins()
    >>> int(centres[0]), int(centres[-1]), len(centres)
    (65, 256, 64)
    """
    bin_hz = sample_rate / n_fft
    cpu = dict(dtype=torch.float64, device="cpu")  # fixed values, computed alike under any default device
    erb = torch.linspace(hz_to_erb(low_bins * bin_hz), hz_to_erb(sample_rate / 2), bands, **cpu)
    centres = torch.round(erb_to_hz(erb) / bin_hz)
    if (centres.diff() <= 0).any():
        raise ValueError(
            f"{bands} ERB bands above bin {low_bins} of a {n_fft}-point FFT put two band centres on one bin; "
            "use fewer bands or more low bins."
        )
    return centres


def erb_filterbank(low_bins=65, bands=64, n_fft=512, sample_rate=16000):
    """Triangular filters that merge the FFT bins above ``low_bins`` into ERB bands.

    The band centres ``c_k`` are those of :func:`band_centre_bins`. Band
    ``k`` weighs bin ``b`` by ``1 - |b - c_k| / (c_{k+-1} - c_k)`` between its
    neighbours' centres (zero beyond); the first band is flat below its
    centre and the last above, so the weights of every bin sum to 1.

    Arguments
    ---------
    low_bins : int
        Bins ``0 ... low_bins - 1`` are kept as they are.
    bands : int
        Number of ERB bands for the other bins.
    n_fft : int
        FFT size (``n_fft // 2 + 1`` bins).
    sample_rate : int
        Sampling rate (Hz).

    Returns
    -------
    torch.Tensor
        ``(bands, n_fft // 2 + 1 - low_bins)``.

    Example
    -------
    >>> filters = erb_filterbank()
    >>> filters.shape, torch.allclose(filters.sum(0), torch.ones(192))
    (torch.Size([64, 192]), True)
    """
    high_bins = n_fft // 2 + 1 - low_bins
    if not 2 <= bands <= high_bins:
        raise ValueError(f"bands must be in [2, {high_bins}] (the bins above low_bins={low_bins}), got {bands}.")
    centres = band_centre_bins(low_bins, bands, n_fft, sample_rate) - low_bins
    cpu = dict(dtype=torch.float64, device="cpu")  # fixed filters, computed alike under any default device
    bins = torch.arange(high_bins, **cpu)
    filters = torch.zeros(bands, high_bins, **cpu)
    for k in range(bands):
        if k > 0:  # rising edge from the previous centre
            rising = (bins - centres[k - 1]) / (centres[k] - centres[k - 1])
            filters[k] = torch.where(bins <= centres[k], rising, filters[k])
        if k < bands - 1:  # falling edge to the next centre
            falling = (centres[k + 1] - bins) / (centres[k + 1] - centres[k])
            filters[k] = torch.where(bins >= centres[k], falling, filters[k])
    filters[0, bins < centres[0]] = 1.0
    filters[-1, bins > centres[-1]] = 1.0
    return filters.clamp(0.0, 1.0).float()


class ERBBands(nn.Module):
    """Merges spectra to ``low_bins + bands`` frequencies and splits them back.

    The filters are fixed (no gradient); they are stored as the weights of
    two bias-free linear layers, ``erb_fc`` (merge) and ``ierb_fc`` (split),
    the names of the published GTCRN checkpoints.

    Arguments
    ---------
    low_bins, bands, n_fft, sample_rate
        See :func:`erb_filterbank`.

    Example
    -------
    >>> erb = ERBBands()
    >>> merged = erb.merge(torch.randn(2, 3, 10, 257))  # (..., frequency) last
    >>> merged.shape, erb.split(merged).shape
    (torch.Size([2, 3, 10, 129]), torch.Size([2, 3, 10, 257]))
    """

    def __init__(self, low_bins=65, bands=64, n_fft=512, sample_rate=16000):
        super().__init__()
        self.low_bins = low_bins
        bin_hz = sample_rate / n_fft
        low = torch.arange(low_bins, dtype=torch.float64)
        self._frequencies = (torch.cat([low, band_centre_bins(low_bins, bands, n_fft, sample_rate)]) * bin_hz).float()
        filters = erb_filterbank(low_bins, bands, n_fft, sample_rate)
        self.erb_fc = nn.Linear(filters.shape[1], bands, bias=False)
        self.ierb_fc = nn.Linear(bands, filters.shape[1], bias=False)
        with torch.no_grad():
            self.erb_fc.weight.copy_(filters)
            self.ierb_fc.weight.copy_(filters.T)
        self.requires_grad_(False)

    @property
    def frequencies(self):
        """The centre (Hz) of each merged frequency ``(low_bins + bands,)``: FFT bins, then band centres.

        Example
        -------
        >>> hz = ERBBands().frequencies
        >>> hz.shape, hz[64].item(), hz[-1].item()
        (torch.Size([129]), 2000.0, 8000.0)
        """
        return self._frequencies

    def merge(self, x):
        """``(..., n_fft // 2 + 1)`` -> ``(..., low_bins + bands)``."""
        low, high = x[..., : self.low_bins], x[..., self.low_bins :]
        return torch.cat([low, self.erb_fc(high)], -1)

    def split(self, x):
        """``(..., low_bins + bands)`` -> ``(..., n_fft // 2 + 1)``."""
        low, high = x[..., : self.low_bins], x[..., self.low_bins :]
        return torch.cat([low, self.ierb_fc(high)], -1)
