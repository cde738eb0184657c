"""Grouped dual-path RNN (DPGRNN): GTCRN's bottleneck.

A dual-path block models a ``(frames, freq)`` feature map twice: along
frequency within each frame (intra, bidirectional) and along time for each
frequency (inter, causal), each followed by a linear layer, layer norm over
``(freq, channels)`` and a residual connection. "Grouped": each RNN is two
smaller GRUs, one per half of the channels, which halves its weights.

Authors
 * speechbrain-atkl developers 2026
"""

import torch
from torch import nn


class GroupedGRU(nn.Module):
    """Two GRUs side by side, each on one half of the features.

    Arguments
    ---------
    input_size : int
        Features in (even).
    hidden_size : int
        Features out, both groups and directions together.
    bidirectional : bool
        Bidirectional GRUs (each direction gets half of a group's units).

    Example
    -------
    >>> GroupedGRU(16, 16, bidirectional=True)(torch.randn(4, 33, 16)).shape
    torch.Size([4, 33, 16])
    """

    def __init__(self, input_size, hidden_size, bidirectional=False):
        super().__init__()
        units = hidden_size // 2 // (2 if bidirectional else 1)
        if input_size % 2 or units * 2 * (2 if bidirectional else 1) != hidden_size:
            raise ValueError(
                f"input_size ({input_size}) must be even and hidden_size ({hidden_size}) divisible by "
                f"{4 if bidirectional else 2} (two groups{', two directions' if bidirectional else ''})."
            )
        self.rnn1 = nn.GRU(input_size // 2, units, batch_first=True, bidirectional=bidirectional)
        self.rnn2 = nn.GRU(input_size // 2, units, batch_first=True, bidirectional=bidirectional)

    def forward(self, x):
        """``(batch, length, input_size)`` -> ``(batch, length, hidden_size)``."""
        first, second = x.chunk(2, -1)
        return torch.cat([self.rnn1(first)[0], self.rnn2(second)[0]], -1)


class GroupedDualPathRNN(nn.Module):
    """One dual-path block: intra-frame (frequency) then inter-frame (time) grouped GRUs.

    Arguments
    ---------
    channels : int
        Feature channels, in and out.
    bins : int
        Frequency bins of the feature map (the layer norms' shape).
    hidden_size : int
        Output features of each grouped GRU.

    Example
    -------
    >>> block = GroupedDualPathRNN(16, 33, 16)
    >>> block(torch.randn(2, 16, 10, 33)).shape  # (batch, channels, frames, freq)
    torch.Size([2, 16, 10, 33])
    """

    def __init__(self, channels, bins, hidden_size):
        super().__init__()
        self.intra_rnn = GroupedGRU(channels, hidden_size, bidirectional=True)
        self.intra_fc = nn.Linear(hidden_size, channels)
        self.intra_ln = nn.LayerNorm((bins, channels), eps=1e-8)
        self.inter_rnn = GroupedGRU(channels, hidden_size, bidirectional=False)
        self.inter_fc = nn.Linear(hidden_size, channels)
        self.inter_ln = nn.LayerNorm((bins, channels), eps=1e-8)

    def forward(self, x):
        """``(batch, channels, frames, freq)`` -> the same shape."""
        batch, channels, frames, bins = x.shape
        x = x.permute(0, 2, 3, 1)  # (batch, frames, freq, channels)
        along_freq = self.intra_fc(self.intra_rnn(x.reshape(batch * frames, bins, channels)))
        x = x + self.intra_ln(along_freq.view(batch, frames, bins, channels))
        by_bin = x.transpose(1, 2).reshape(batch * bins, frames, channels)
        along_time = self.inter_fc(self.inter_rnn(by_bin)).view(batch, bins, frames, channels)
        x = x + self.inter_ln(along_time.transpose(1, 2))
        return x.permute(0, 3, 1, 2)
