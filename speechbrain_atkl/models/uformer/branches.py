"""The Uformer's branches: causal encoder/decoder layers and the fusion between branches.

Channel convention: ``channels`` counts real and imaginary parts together, as
DCCRN and :mod:`speechbrain_atkl.models.complex_nn` do. Encoder and decoder
convolutions are causal in time (the attention is global, so the model as a
whole is not causal; a teacher need not be).

Fusion (:class:`BranchFusion`): after a layer, the complex map gets
``sigmoid(m)`` added to its real and to its imaginary parts, and the
magnitude map gets ``sigmoid(|c|)`` added, both computed from the pre-fusion
maps. Where the complex and magnitude channel counts differ, the added term
goes through a learnt 1x1 convolution to the receiving branch's channel
count (with the default channel lists they never differ).

Authors
 * speechbrain-atkl developers 2026
"""

import torch
import torch.nn.functional as F
from torch import nn

from speechbrain_atkl.models.complex_nn import (
    ComplexConv2d,
    ComplexConvTranspose2d,
    complex_cat,
    complex_magnitude,
    cropped_conv_transpose2d,
    init_complex_layers,
)
from speechbrain_atkl.models.complex_norm import ComplexBatchNorm2d
from speechbrain_atkl.models.uformer.attention import SkipAttention


class CausalConv2d(nn.Conv2d):
    """Real 2-D convolution with the padding of :class:`ComplexConv2d`.

    Example
    -------
    >>> CausalConv2d(1, 8, (5, 2), (2, 1))(torch.randn(2, 1, 256, 10)).shape
    torch.Size([2, 8, 128, 10])
    """

    def forward(self, x):
        """Convolves ``x`` of shape ``(batch, in_channels, freq, frames)``."""
        kf, kt = self.kernel_size
        return super().forward(F.pad(x, (kt - 1, 0, kf // 2, kf // 2)))


class CausalConvTranspose2d(nn.ConvTranspose2d):
    """Real causal transposed 2-D convolution cropped like :class:`ComplexConvTranspose2d`
    (:func:`~speechbrain_atkl.models.complex_nn.cropped_conv_transpose2d`).

    Example
    -------
    >>> CausalConvTranspose2d(16, 1, (5, 2), (2, 1))(torch.randn(2, 16, 128, 10)).shape
    torch.Size([2, 1, 256, 10])
    """

    def forward(self, x):
        """Upsamples ``x`` of shape ``(batch, in_channels, freq, frames)``."""
        return cropped_conv_transpose2d(x, self.weight, self.bias, self.stride)


class ConvLayer(nn.Module):
    """Encoder or decoder layer of one branch: convolution, norm, PReLU.

    Arguments
    ---------
    in_channels : int
        Input channels (real and imaginary together if complex).
    out_channels : int
        Output channels.
    kernel_size : tuple
        ``(freq, time)`` kernel size.
    stride : tuple
        ``(freq, time)`` stride.
    is_complex : bool
        Complex or real layers.
    transposed : bool
        Upsample (decoder) instead of downsample (encoder) the frequency axis.
    output_layer : bool
        Leave out the norm and activation (the decoder's last layer).
    init : str
        Initialisation of the convolution: ``"reference"`` (weights
        N(0, 0.05), zero biases, as the DCCRN authors) or ``"pytorch"``
        (see :func:`~speechbrain_atkl.models.complex_nn.init_complex_layers`).

    Example
    -------
    >>> layer = ConvLayer(2, 16, (5, 2), (2, 1), is_complex=True)
    >>> layer(torch.randn(2, 2, 256, 10)).shape
    torch.Size([2, 16, 128, 10])
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size=(5, 2),
        stride=(2, 1),
        is_complex=False,
        transposed=False,
        output_layer=False,
        init="reference",
    ):
        super().__init__()
        kernel_size, stride = tuple(kernel_size), tuple(stride)
        if is_complex:
            conv = ComplexConvTranspose2d if transposed else ComplexConv2d
            layers = [conv(in_channels, out_channels, kernel_size, stride, init=init)]
            norm = ComplexBatchNorm2d
        else:
            conv = CausalConvTranspose2d if transposed else CausalConv2d
            layers = [conv(in_channels, out_channels, kernel_size, stride)]
            init_complex_layers(layers, init)
            norm = nn.BatchNorm2d
        if not output_layer:
            layers += [norm(out_channels), nn.PReLU(out_channels)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        """Applies the layer to ``x`` of shape ``(batch, in_channels, freq, frames)``."""
        return self.net(x)


class BranchFusion(nn.Module):
    """Exchanges information between the complex and the magnitude branch.

    ``c + sigmoid(m)`` (added to real and imaginary parts) and
    ``m + sigmoid(|c|)``; a learnt 1x1 convolution adapts the added term's
    channels where the two branches' channel counts differ.

    Arguments
    ---------
    complex_channels : int
        Channels of the complex map, real and imaginary together.
    magnitude_channels : int
        Channels of the magnitude map.

    Example
    -------
    >>> fusion = BranchFusion(16, 8)
    >>> c, m = fusion(torch.randn(2, 16, 4, 5), torch.randn(2, 8, 4, 5))
    >>> c.shape, m.shape
    (torch.Size([2, 16, 4, 5]), torch.Size([2, 8, 4, 5]))
    """

    def __init__(self, complex_channels, magnitude_channels):
        super().__init__()
        half = complex_channels // 2
        self.to_complex = None
        self.to_magnitude = None
        if half != magnitude_channels:
            self.to_complex = nn.Conv2d(magnitude_channels, half, 1)
            self.to_magnitude = nn.Conv2d(half, magnitude_channels, 1)

    def forward(self, c, m):
        """Fuses ``c`` ``(batch, 2*C, F, T)`` and ``m`` ``(batch, M, F, T)``."""
        from_m = torch.sigmoid(m if self.to_complex is None else self.to_complex(m))
        from_c = torch.sigmoid(complex_magnitude(c))
        if self.to_magnitude is not None:
            from_c = self.to_magnitude(from_c)
        c = (c.unflatten(1, (2, -1)) + from_m[:, None]).flatten(1, 2)
        return c, m + from_c


class Branch(nn.Module):
    """The layers of one branch: encoder, decoder and skip attention.

    The branches are run layer by layer by :class:`~.model.Uformer`, which
    fuses them in between, so this module only holds the layers; the
    bottleneck (:class:`~.conformer.DualStreamConformerBlock`) holds both
    branches' conformer blocks.

    Arguments
    ---------
    in_channels : int
        Input channels (2 for the complex spectrum, 1 for the magnitude).
    channels : list of int
        Encoder output channels; the decoder mirrors them.
    out_channels : int
        Channels of the mask.
    kernel_size, stride : tuple
        Convolution kernel and stride, ``(freq, time)``.
    encoder_decoder_attention : bool
        Whether the skips go through :class:`SkipAttention`.
    dropout : float
        Dropout probability.
    is_complex : bool
        Complex or magnitude branch.
    init : str
        Initialisation of the encoder and decoder convolutions (see :class:`ConvLayer`).

    Example
    -------
    >>> branch = Branch(2, [4, 4, 4, 4, 4, 4], 2, (5, 2), (2, 1), False, 0.0, is_complex=True)
    >>> len(branch.encoder), len(branch.decoder), branch.skip_attention is None
    (6, 6, True)
    """

    def __init__(
        self,
        in_channels,
        channels,
        out_channels,
        kernel_size,
        stride,
        encoder_decoder_attention,
        dropout,
        is_complex,
        init="reference",
    ):
        super().__init__()
        conv = dict(kernel_size=kernel_size, stride=stride, is_complex=is_complex, init=init)
        ins = [in_channels] + channels[:-1]
        self.encoder = nn.ModuleList(ConvLayer(i, o, **conv) for i, o in zip(ins, channels))
        outs = channels[-2::-1] + [out_channels]
        self.decoder = nn.ModuleList(
            ConvLayer(2 * i, o, transposed=True, output_layer=n == len(outs) - 1, **conv)
            for n, (i, o) in enumerate(zip(channels[::-1], outs))
        )
        self.skip_attention = None
        if encoder_decoder_attention:
            self.skip_attention = nn.ModuleList(
                SkipAttention(c, dropout, is_complex) for c in channels[::-1]
            )
        self.is_complex = is_complex

    def decoder_input(self, layer, x, skip):
        """Joins decoder input ``x`` and encoder ``skip`` for decoder ``layer``."""
        if self.skip_attention is not None:
            skip = self.skip_attention[layer](x, skip)
        if self.is_complex:
            return complex_cat([x, skip])
        return torch.cat([x, skip], 1)
