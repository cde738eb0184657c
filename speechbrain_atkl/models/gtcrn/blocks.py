"""Convolution blocks of GTCRN: subband features, temporal attention, grouped temporal convolution.

Every block works on feature maps ``(batch, channels, frames, freq)``: GTCRN
keeps time before frequency, and its kernels are ``(time, freq)``. Attribute
names (``conv``, ``bn``, ``point_conv1``, ``tra.att_gru``, ...) are those of
the published checkpoints, so that their state dicts load unchanged.

Authors
 * speechbrain-atkl developers 2026
"""

import torch
import torch.nn.functional as F
from torch import nn


class SubbandFeatures(nn.Module):
    """Subband feature extraction (SFE): each bin gets its neighbours' values as extra channels.

    Output channel ``c * kernel_size + k`` holds input channel ``c`` at bin
    ``f + k - kernel_size // 2`` (zero outside the spectrum). No parameters.

    Arguments
    ---------
    kernel_size : int
        Odd number of neighbouring bins stacked (3 in GTCRN).

    Example
    -------
    >>> x = torch.arange(4.0).view(1, 1, 1, 4)
    >>> SubbandFeatures(3)(x)[0, :, 0]
    tensor([[0., 0., 1., 2.],
            [0., 1., 2., 3.],
            [1., 2., 3., 0.]])
    """

    def __init__(self, kernel_size=3):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}.")
        self.kernel_size = kernel_size

    def forward(self, x):
        """``(batch, C, frames, freq)`` -> ``(batch, C * kernel_size, frames, freq)``."""
        half = self.kernel_size // 2
        bins = x.shape[-1]
        padded = F.pad(x, (half, half))
        shifted = [padded[..., k : k + bins] for k in range(self.kernel_size)]
        return torch.stack(shifted, 2).flatten(1, 2)


class ConvBlock(nn.Module):
    """Convolution (or transposed convolution), batch norm and PReLU (Tanh for the last block).

    Arguments
    ---------
    in_channels, out_channels : int
        Channels in and out.
    kernel_size, stride, padding : tuple
        ``(time, freq)`` convolution geometry.
    groups : int
        Convolution groups.
    transposed : bool
        Use a transposed convolution (decoder: ``stride`` upsamples).
    last : bool
        End with Tanh (the mask layer) instead of PReLU.

    Example
    -------
    >>> block = ConvBlock(9, 16, (1, 5), stride=(1, 2), padding=(0, 2))
    >>> block(torch.randn(2, 9, 10, 129)).shape
    torch.Size([2, 16, 10, 65])
    """

    def __init__(
        self, in_channels, out_channels, kernel_size, stride=1, padding=0, groups=1, transposed=False, last=False
    ):
        super().__init__()
        conv = nn.ConvTranspose2d if transposed else nn.Conv2d
        self.conv = conv(in_channels, out_channels, kernel_size, stride, padding, groups=groups)
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = nn.Tanh() if last else nn.PReLU()

    def forward(self, x):
        """``(batch, in_channels, frames, freq)`` -> ``(batch, out_channels, frames, freq')``."""
        return self.act(self.bn(self.conv(x)))


class TemporalRecurrentAttention(nn.Module):
    """Temporal recurrent attention (TRA): a GRU over frame energies gates each channel and frame.

    The energy of each channel and frame (mean square over frequency) runs
    through a causal GRU; a linear layer and a sigmoid turn its state into
    one weight per channel and frame, which scales the input.

    Arguments
    ---------
    channels : int
        Feature channels (the GRU has ``2 * channels`` units).

    Example
    -------
    >>> tra = TemporalRecurrentAttention(8)
    >>> tra(torch.randn(2, 8, 10, 33)).shape
    torch.Size([2, 8, 10, 33])
    """

    def __init__(self, channels):
        super().__init__()
        self.att_gru = nn.GRU(channels, 2 * channels, batch_first=True)
        self.att_fc = nn.Linear(2 * channels, channels)

    def forward(self, x):
        """``(batch, C, frames, freq)`` -> the same shape, scaled by the attention."""
        energy = x.pow(2).mean(-1).transpose(1, 2)  # (batch, frames, C)
        state, _ = self.att_gru(energy)
        weights = torch.sigmoid(self.att_fc(state))
        return x * weights.transpose(1, 2)[..., None]


def interleave_channels(first, second):
    """Channel shuffle of two groups: ``first[0], second[0], first[1], second[1], ...``.

    Example
    -------
    >>> a, b = torch.zeros(1, 2, 1, 1), torch.ones(1, 2, 1, 1)
    >>> interleave_channels(a, b).flatten().tolist()
    [0.0, 1.0, 0.0, 1.0]
    """
    return torch.stack([first, second], 2).flatten(1, 2)


class GroupedTemporalConvBlock(nn.Module):
    """GT-Conv: a grouped, dilated, causal temporal convolution block with SFE and TRA.

    The channels are split in two groups. The first goes through subband
    feature extraction, a point-wise convolution, a depth-wise ``(3, 3)``
    convolution dilated in time and causal (padded on the past side only), a
    point-wise convolution back to its width and temporal recurrent attention;
    the second is passed on unchanged. The two groups are then interleaved
    (channel shuffle), so the next block processes the other half.

    Arguments
    ---------
    channels : int
        Input and output channels (even).
    hidden_channels : int
        Channels of the depth-wise convolution.
    kernel_size : tuple
        ``(time, freq)`` kernel of the depth-wise convolution.
    dilation : int
        Time dilation of the depth-wise convolution.
    transposed : bool
        Transposed convolutions (decoder), mirroring the encoder's.

    Example
    -------
    >>> block = GroupedTemporalConvBlock(16, 16, dilation=2)
    >>> block(torch.randn(2, 16, 10, 33)).shape
    torch.Size([2, 16, 10, 33])
    """

    def __init__(self, channels, hidden_channels, kernel_size=(3, 3), dilation=1, transposed=False):
        super().__init__()
        if channels % 2:
            raise ValueError(f"channels must be even (two groups), got {channels}.")
        group = channels // 2
        conv = nn.ConvTranspose2d if transposed else nn.Conv2d
        self.past_frames = (kernel_size[0] - 1) * dilation
        # A transposed convolution's padding trims its output: trimming the past padding
        # again keeps the frame count, as the ordinary convolution without time padding does.
        time_padding = self.past_frames if transposed else 0
        self.sfe = SubbandFeatures(3)
        self.point_conv1 = conv(3 * group, hidden_channels, 1)
        self.point_bn1 = nn.BatchNorm2d(hidden_channels)
        self.point_act = nn.PReLU()
        self.depth_conv = conv(
            hidden_channels,
            hidden_channels,
            kernel_size,
            padding=(time_padding, kernel_size[1] // 2),
            dilation=(dilation, 1),
            groups=hidden_channels,
        )
        self.depth_bn = nn.BatchNorm2d(hidden_channels)
        self.depth_act = nn.PReLU()
        self.point_conv2 = conv(hidden_channels, group, 1)
        self.point_bn2 = nn.BatchNorm2d(group)
        self.tra = TemporalRecurrentAttention(group)

    def forward(self, x):
        """``(batch, channels, frames, freq)`` -> the same shape."""
        processed, passed = x.chunk(2, 1)
        h = self.point_act(self.point_bn1(self.point_conv1(self.sfe(processed))))
        h = F.pad(h, (0, 0, self.past_frames, 0))
        h = self.depth_act(self.depth_bn(self.depth_conv(h)))
        h = self.tra(self.point_bn2(self.point_conv2(h)))
        return interleave_channels(h, passed)
