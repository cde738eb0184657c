"""The dilated-convolution modules of the Uformer's conformer blocks.

Two forms, chosen by ``dilated_conv`` (:class:`~.model.Uformer`):

* ``"2d"`` (default, :class:`DilatedConv2dModule`): a few residual blocks of
  2-D (frequency x time) gated convolutions, 3 x 3 kernels with time
  dilations ``1, 2, 4, 8`` and frequency dilation 1; each block is a pre-norm
  (layer norm), a pointwise map to ``hidden`` channels, Swish, the dilated
  convolution to twice ``hidden`` channels, a GLU gate
  (``value * sigmoid(gate)``), and a pointwise map back. This is what the
  authors' public model does (``docs/method.md``, "Uformer dilated
  convolutions"): it mixes neighbouring frequency bins of the bottleneck
  (4 bins of 128 complex channels) and its receptive field (31 frames =
  0.3 s at hop 160) stays inside a 2-s training segment, where dilations up
  to 128 read mostly zero padding.
* ``"time"`` (as in :data:`~.model.PREVIOUS_TEACHER`,
  :class:`DilatedConvModule`): a pointwise map, one depthwise time-only
  gated unit ``tanh(w_f * x) * sigmoid(w_g * x)`` per dilation
  (``1 ... 128``), residual, and a pointwise map.

In the complex branch every map is complex (complex product of weights and
features), gates and activations act on real and imaginary parts separately
and layer norms normalise each part separately. Both modules take
``(batch, freq, frames, features)`` with ``[real | imag]`` features and
expose :meth:`residual_steps`, the residual sub-steps after which the
conformer fuses the two branches.

Authors
 * speechbrain-atkl developers 2026
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from speechbrain_atkl.models.uformer.attention import PartLayerNorm, linear_layer, num_parts


class GatedDilatedConv(nn.Module):
    """Residual gated unit ``x + tanh(w_f * x) * sigmoid(w_g * x)``.

    ``w_f`` and ``w_g`` are depthwise (per channel) dilated time
    convolutions, real or complex, with non-causal "same" padding. The input
    is channel-major: the ``parts`` values of each channel are adjacent
    (``r0, i0, r1, i1, ...`` for complex features), so that both
    convolutions of all channels run as one grouped convolution.

    Arguments
    ---------
    channels : int
        Channels (complex channels if complex).
    kernel_size : int
        Odd kernel size.
    dilation : int
        Dilation.
    is_complex : bool
        Complex or real weights.

    Example
    -------
    >>> unit = GatedDilatedConv(4, kernel_size=3, dilation=8, is_complex=True)
    >>> unit(torch.randn(2, 8, 10)).shape
    torch.Size([2, 8, 10])
    """

    def __init__(self, channels, kernel_size=3, dilation=1, is_complex=False):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"conv_kernel_size must be odd, got {kernel_size}.")
        self.parts = num_parts(is_complex)
        self.channels = channels
        self.dilation = dilation
        # Per channel and for the filter and the gate: real and imaginary weights.
        weight = torch.empty(channels, 2, self.parts, kernel_size)
        nn.init.kaiming_uniform_(weight.flatten(0, 2)[:, None], a=math.sqrt(5))
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(torch.zeros(channels, 2, self.parts))

    def _grouped_weight(self):
        """Weight of shape ``(channels * 2 * parts, parts, kernel)`` for ``conv1d``."""
        if self.parts == 1:
            return self.weight.flatten(0, 1)
        wr, wi = self.weight.unbind(2)
        # Output real part: [wr, -wi] . [xr, xi]; output imaginary part: [wi, wr].
        weight = torch.stack([torch.stack([wr, -wi], 2), torch.stack([wi, wr], 2)], 2)
        return weight.flatten(0, 2)

    def forward(self, x):
        """Applies the unit to ``x`` of shape ``(N, channels * parts, frames)``."""
        out = F.conv1d(
            x,
            self._grouped_weight(),
            self.bias.flatten(),
            padding=self.dilation * (self.weight.shape[-1] - 1) // 2,
            dilation=self.dilation,
            groups=self.channels,
        )
        filt, gate = out.unflatten(1, (self.channels, 2, self.parts)).unbind(2)
        return x + (torch.tanh(filt) * torch.sigmoid(gate)).flatten(1, 2)


class DilatedConvModule(nn.Module):
    """Time-only gated dilated-convolution module (``dilated_conv="time"``).

    Pre-norm, pointwise map, one :class:`GatedDilatedConv` per dilation, a
    pointwise map and dropout.

    Arguments
    ---------
    features : int
        Model features (real and imaginary together if complex).
    dilations : list of int
        Dilation of each gated unit, e.g. ``[1, 2, 4, 8]``.
    kernel_size : int
        Odd kernel size of the depthwise convolutions.
    dropout : float
        Dropout on the output.
    is_complex : bool
        Complex or real layers.

    Example
    -------
    >>> module = DilatedConvModule(8, dilations=[1, 2, 4], is_complex=True)
    >>> module(torch.randn(2, 3, 10, 8)).shape
    torch.Size([2, 3, 10, 8])
    """

    def __init__(self, features, dilations, kernel_size=3, dropout=0.1, is_complex=False):
        super().__init__()
        self.parts = num_parts(is_complex)
        self.norm = PartLayerNorm(features, self.parts)
        self.pointwise_in = linear_layer(features, features, is_complex)
        self.gated = nn.Sequential(
            *(
                GatedDilatedConv(features // self.parts, kernel_size, d, is_complex)
                for d in dilations
            )
        )
        self.pointwise_out = linear_layer(features, features, is_complex)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        """Maps ``x`` ``(batch, freq, frames, features)`` to the residual branch's output."""
        y = self.pointwise_in(self.norm(x.flatten(0, 1)))
        # [real | imag] features -> channel-major (N, channels * parts, frames).
        y = y.unflatten(-1, (self.parts, -1)).permute(0, 3, 2, 1).flatten(1, 2)
        y = self.gated(y)
        y = y.unflatten(1, (-1, self.parts)).permute(0, 3, 2, 1).flatten(2)
        return self.dropout(self.pointwise_out(y)).view_as(x)

    def residual_steps(self):
        """The module as one residual step ``x -> x + module(x)`` (see the conformer)."""
        return [lambda x: x + self(x)]


class ComplexConv2dSame(nn.Module):
    """2-D convolution, complex or real, with "same" padding and a time dilation.

    For complex maps (``[real | imag]`` on the channel axis) the weight acts
    as a complex product: ``real = Wr*Xr - Wi*Xi``, ``imag = Wi*Xr + Wr*Xi``.

    Arguments
    ---------
    in_channels, out_channels : int
        Channels, real and imaginary together if complex.
    kernel_size : int
        Odd kernel size in frequency and in time.
    dilation : int
        Dilation along time.
    is_complex : bool
        Complex or real weights.

    Example
    -------
    >>> conv = ComplexConv2dSame(4, 6, kernel_size=3, dilation=2, is_complex=True)
    >>> conv(torch.randn(2, 4, 5, 9)).shape
    torch.Size([2, 6, 5, 9])
    """

    def __init__(self, in_channels, out_channels, kernel_size=3, dilation=1, is_complex=False):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"conv_kernel_size must be odd, got {kernel_size}.")
        self.parts = num_parts(is_complex)
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if value % self.parts:
                raise ValueError(f"complex {name} must be even (real and imaginary), got {value}.")
        shape = (self.parts, out_channels // self.parts, in_channels // self.parts)
        weight = torch.empty(*shape, kernel_size, kernel_size)
        for part in weight:
            nn.init.kaiming_uniform_(part, a=math.sqrt(5))
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.dilation = dilation
        self.padding = (kernel_size // 2, dilation * (kernel_size // 2))

    def forward(self, x):
        """Convolves ``x`` of shape ``(batch, in_channels, freq, frames)``."""
        if self.parts == 1:
            weight = self.weight[0]
        else:
            wr, wi = self.weight
            weight = torch.cat([torch.cat([wr, -wi], 1), torch.cat([wi, wr], 1)], 0)
        return F.conv2d(x, weight, self.bias, padding=self.padding, dilation=(1, self.dilation))


class GatedDilatedBlock2d(nn.Module):
    """One residual block of :class:`DilatedConv2dModule` (see the module docstring).

    Arguments
    ---------
    features : int
        Model features (real and imaginary together if complex).
    hidden : int
        Hidden channels (real and imaginary together if complex).
    dilation : int
        Time dilation of the 2-D convolution.
    kernel_size : int
        Odd kernel size (frequency and time).
    dropout : float
        Dropout on the output.
    is_complex : bool
        Complex or real layers.

    Example
    -------
    >>> block = GatedDilatedBlock2d(8, 4, dilation=2, is_complex=True)
    >>> block(torch.randn(2, 3, 10, 8)).shape
    torch.Size([2, 3, 10, 8])
    """

    def __init__(self, features, hidden, dilation, kernel_size=3, dropout=0.1, is_complex=False):
        super().__init__()
        self.parts = num_parts(is_complex)
        self.norm = PartLayerNorm(features, self.parts)
        self.pointwise_in = linear_layer(features, hidden, is_complex)
        self.conv = ComplexConv2dSame(hidden, 2 * hidden, kernel_size, dilation, is_complex)
        self.pointwise_out = linear_layer(hidden, features, is_complex)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        """Maps ``x`` ``(batch, freq, frames, features)`` to the residual branch's output."""
        y = F.silu(self.pointwise_in(self.norm(x)))
        y = self.conv(y.permute(0, 3, 1, 2))
        # Per part: [value | gate] channels.
        value, gate = y.unflatten(1, (self.parts, 2, -1)).unbind(2)
        y = (value * torch.sigmoid(gate)).flatten(1, 2)
        return self.dropout(self.pointwise_out(y.permute(0, 2, 3, 1)))


class DilatedConv2dModule(nn.Module):
    """2-D gated dilated-convolution module (``dilated_conv="2d"``), one block per dilation.

    Arguments
    ---------
    features : int
        Model features (real and imaginary together if complex).
    hidden : int
        Hidden channels of each block (real and imaginary together if complex).
    dilations : list of int
        Time dilation of each block, e.g. ``[1, 2, 4, 8]``.
    kernel_size : int
        Odd kernel size (frequency and time).
    dropout : float
        Dropout probability.
    is_complex : bool
        Complex or real layers.

    Example
    -------
    >>> module = DilatedConv2dModule(8, 4, dilations=[1, 2], is_complex=True)
    >>> len(module.residual_steps())
    2
    >>> module(torch.randn(2, 3, 10, 8)).shape
    torch.Size([2, 3, 10, 8])
    """

    def __init__(self, features, hidden, dilations, kernel_size=3, dropout=0.1, is_complex=False):
        super().__init__()
        self.blocks = nn.ModuleList(
            GatedDilatedBlock2d(features, hidden, d, kernel_size, dropout, is_complex)
            for d in dilations
        )

    def forward(self, x):
        """Maps ``x`` ``(batch, freq, frames, features)`` to the residual branch's output."""
        out = x
        for step in self.residual_steps():
            out = step(out)
        return out - x

    def residual_steps(self):
        """One residual step ``x -> x + block(x)`` per block."""
        return [lambda x, block=block: x + block(x) for block in self.blocks]
