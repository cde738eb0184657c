"""The Uformer's bottleneck: dilated dual-path conformer blocks, complex and real.

A block (:class:`DualPathConformerBlock`) works on ``(batch, freq, frames,
features)`` maps and chains residual sub-modules: half-step feed-forward,
time self-attention (per frequency bin), frequency self-attention (per
frame), the dilated-convolution module (one step, or one step per block for
the 2-D module), half-step feed-forward, then a layer norm. Pre-norm
sub-layers, no positional encoding (the convolutions carry position).

:class:`DualStreamConformerBlock` holds the complex and the magnitude
branch's blocks of one depth and runs them in lockstep; with ``fusion`` the
two streams are fused (:class:`~.branches.BranchFusion`) after every residual
sub-module, as between the encoder and decoder layers.

Authors
 * speechbrain-atkl developers 2026
"""

from torch import nn

from speechbrain_atkl.models.uformer.attention import (
    PartLayerNorm,
    SelfAttention,
    linear_layer,
    num_parts,
)
from speechbrain_atkl.models.uformer.branches import BranchFusion
from speechbrain_atkl.models.uformer.dilated import DilatedConv2dModule, DilatedConvModule

DILATED_CONV = ("2d", "time")


class FeedForward(nn.Module):
    """Pre-norm feed-forward module: norm, linear, SiLU, dropout, linear, dropout.

    Arguments
    ---------
    features : int
        Input and output features (real and imaginary together if complex).
    hidden : int
        Hidden features (counted the same way).
    dropout : float
        Dropout probability.
    is_complex : bool
        Complex linear maps and per-part norm, or real ones.

    Example
    -------
    >>> import torch
    >>> ff = FeedForward(8, 16, dropout=0.0, is_complex=True)
    >>> ff(torch.randn(2, 5, 8)).shape
    torch.Size([2, 5, 8])
    """

    def __init__(self, features, hidden, dropout=0.1, is_complex=False):
        super().__init__()
        self.net = nn.Sequential(
            PartLayerNorm(features, num_parts(is_complex)),
            linear_layer(features, hidden, is_complex),
            nn.SiLU(),
            nn.Dropout(dropout),
            linear_layer(hidden, features, is_complex),
            nn.Dropout(dropout),
        )

    def forward(self, x):
        """Applies the module to ``x`` of shape ``(..., features)``."""
        return self.net(x)


class DualPathConformerBlock(nn.Module):
    """Dilated dual-path conformer block over ``(freq, frames)`` maps (see the module docstring).

    Arguments
    ---------
    features : int
        Model features (real and imaginary together if complex).
    heads : int
        Attention heads.
    ff_size : int
        Feed-forward hidden features.
    dilations : list of int
        Dilations of the dilated-convolution module.
    conv_kernel_size : int
        Kernel size of its convolutions (odd).
    dropout : float
        Dropout probability.
    is_complex : bool
        Complex or real block.
    dilated_conv : str
        ``"2d"`` (:class:`~.dilated.DilatedConv2dModule`) or ``"time"``
        (:class:`~.dilated.DilatedConvModule`).
    conv_channels : int
        Hidden channels of the 2-D module (real and imaginary together if complex).

    Example
    -------
    >>> import torch
    >>> block = DualPathConformerBlock(8, 2, 16, [1, 2], is_complex=True, conv_channels=4)
    >>> block(torch.randn(2, 4, 10, 8)).shape
    torch.Size([2, 4, 10, 8])
    >>> len(block.residual_steps())  # ff, time, freq, 2 dilated blocks, ff
    6
    """

    def __init__(
        self,
        features,
        heads,
        ff_size,
        dilations,
        conv_kernel_size=3,
        dropout=0.1,
        is_complex=False,
        dilated_conv="2d",
        conv_channels=32,
    ):
        super().__init__()
        if dilated_conv not in DILATED_CONV:
            raise ValueError(f"dilated_conv must be one of {DILATED_CONV}, got {dilated_conv!r}.")
        self.ff_in = FeedForward(features, ff_size, dropout, is_complex)
        self.time_attention = SelfAttention(features, heads, dropout, is_complex)
        self.freq_attention = SelfAttention(features, heads, dropout, is_complex)
        if dilated_conv == "time":
            self.conv = DilatedConvModule(features, dilations, conv_kernel_size, dropout, is_complex)
        else:
            self.conv = DilatedConv2dModule(
                features, conv_channels, dilations, conv_kernel_size, dropout, is_complex
            )
        self.ff_out = FeedForward(features, ff_size, dropout, is_complex)
        self.norm = PartLayerNorm(features, num_parts(is_complex))

    def _time(self, x):
        return x + self.time_attention(x.flatten(0, 1)).view_as(x)

    def _freq(self, x):
        batch, freq, frames, features = x.shape
        by_frame = self.freq_attention(x.transpose(1, 2).flatten(0, 1))
        return x + by_frame.view(batch, frames, freq, features).transpose(1, 2)

    def residual_steps(self):
        """The residual sub-modules in order, each mapping ``(batch, freq, frames, features)`` to the same shape."""
        return [
            lambda x: x + 0.5 * self.ff_in(x),
            self._time,
            self._freq,
            *self.conv.residual_steps(),
            lambda x: x + 0.5 * self.ff_out(x),
        ]

    def forward(self, x):
        """Applies the block to ``x`` of shape ``(batch, freq, frames, features)``."""
        for step in self.residual_steps():
            x = step(x)
        return self.norm(x)


class DualStreamConformerBlock(nn.Module):
    """The complex and the magnitude branch's conformer blocks of one depth, run in lockstep.

    Arguments
    ---------
    complex_features, magnitude_features : int
        Features of the complex (real and imaginary together) and magnitude streams.
    complex_ff_size, magnitude_ff_size : int
        Their feed-forward hidden features.
    fusion : bool
        Fuse the streams after every residual sub-module; False runs them independently.
    **block_options
        ``heads``, ``dilations``, ``conv_kernel_size``, ``dropout``,
        ``dilated_conv`` and ``conv_channels`` (the complex stream's; the
        magnitude stream has half the hidden channels) of
        :class:`DualPathConformerBlock`.

    Example
    -------
    >>> import torch
    >>> block = DualStreamConformerBlock(8, 4, 16, 8, fusion=True, heads=2, dilations=[1, 2], conv_channels=4)
    >>> c, m = block(torch.randn(2, 8, 4, 10), torch.randn(2, 4, 4, 10))
    >>> c.shape, m.shape
    (torch.Size([2, 8, 4, 10]), torch.Size([2, 4, 4, 10]))
    """

    def __init__(
        self,
        complex_features,
        magnitude_features,
        complex_ff_size,
        magnitude_ff_size,
        fusion=True,
        **block_options,
    ):
        super().__init__()
        conv_channels = block_options.pop("conv_channels", 32)
        self.complex = DualPathConformerBlock(
            complex_features, ff_size=complex_ff_size, is_complex=True,
            conv_channels=conv_channels, **block_options,
        )
        self.magnitude = DualPathConformerBlock(
            magnitude_features, ff_size=magnitude_ff_size, is_complex=False,
            conv_channels=max(1, conv_channels // 2), **block_options,
        )
        self.fusion = None
        if fusion:
            steps = len(self.complex.residual_steps())
            self.fusion = nn.ModuleList(
                BranchFusion(complex_features, magnitude_features) for _ in range(steps)
            )

    def forward(self, c, m):
        """Runs both streams on ``c`` ``(batch, 2*C, freq, frames)`` and ``m`` ``(batch, M, freq, frames)``."""
        c, m = c.permute(0, 2, 3, 1), m.permute(0, 2, 3, 1)
        if self.fusion is None:
            c, m = self.complex(c), self.magnitude(m)
        else:
            steps = zip(self.complex.residual_steps(), self.magnitude.residual_steps(), self.fusion)
            for c_step, m_step, fuse in steps:
                c, m = fuse(c_step(c).permute(0, 3, 1, 2), m_step(m).permute(0, 3, 1, 2))
                c, m = c.permute(0, 2, 3, 1), m.permute(0, 2, 3, 1)
            c, m = self.complex.norm(c), self.magnitude.norm(m)
        return c.permute(0, 3, 1, 2), m.permute(0, 3, 1, 2)
