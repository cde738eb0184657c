"""Uformer: a U-Net with a dilated complex & real dual-path conformer.

The teacher model of Distil-DCCRN, written from the description in
Fu et al., "Uformer: A Unet based dilated complex & real dual-path conformer
network for simultaneous speech enhancement and dereverberation" (ICASSP 2022).

Overview (``C`` complex channels, ``M`` magnitude channels, ``F`` frequency,
``T`` frames)::

    noisy (batch, time)
      -> STFT (window 400, hop 160, FFT 512, sqrt-Hann), DC bin dropped: 256 bins
      -> power-law compression: Xc = |X|^p e^{j angle X}  (p = 0.5)
      -> complex branch on Xc (2 channels) | magnitude branch on |Xc| (1 channel)
      -> 6 encoder layers per branch (frequency 128, 64, 32, 16, 8, 4),
         the branches fused after every layer
      -> dual-path conformer bottleneck per branch (complex / real)
      -> 6 decoder layers per branch (frequency 8, 16, ..., 256) with U-Net
         skips, optionally through encoder-decoder attention, fused after
         every layer
      -> complex mask and magnitude mask -> enhanced spectrum
      -> expansion |S|^(1/p), DC bin set to zero, inverse STFT

Choices the paper leaves open (ours, exposed as arguments where useful):

* Channel convention: ``channels`` counts real and imaginary parts together,
  as DCCRN and :mod:`speechbrain_atkl.models.complex_nn` do, so
  ``[16, 32, 64, 128, 256, 256]`` has 8, 16, ..., 128 complex channels (the
  light public variant's ``[8, 16, 32, 64, 128, 128]`` counted per part).
  ``magnitude_channels`` defaults to half of ``channels`` (one real channel per
  complex channel).
* Fusion (:class:`BranchFusion`): after a layer, the complex map gets
  ``sigmoid(m)`` added to its real and to its imaginary parts, and the
  magnitude map gets ``sigmoid(|c|)`` added, both computed from the pre-fusion
  maps. Where a layer's complex and magnitude channel counts differ, the added
  term goes through a learnt 1x1 convolution to the receiving branch's channel
  count (with the default channel lists they never differ).
* Conformer: pre-norm sub-layers without positional encoding (the
  convolutions carry position); the dilated-convolution module is a pointwise
  layer, a stack of gated (``tanh * sigmoid``) depthwise time convolutions
  with dilations ``dilations`` and residual connections, and a pointwise
  layer. In the complex branch every linear map is complex, activations and
  gates act on real and imaginary parts separately, and layer norms normalise
  the real and the imaginary parts separately.
* Complex attention: with queries ``Q``, keys ``K`` and values ``V`` complex,
  the output is the complex product expansion of ``Q K V`` with one softmax
  attention per (query part, key part) pair:
  ``real = A(Qr,Kr)Vr - A(Qr,Ki)Vi - A(Qi,Kr)Vi - A(Qi,Ki)Vr`` and
  ``imag = A(Qr,Kr)Vi + A(Qr,Ki)Vr + A(Qi,Kr)Vr - A(Qi,Ki)Vi``,
  ``A(q, k) v = softmax(q k^T / sqrt(d)) v``. The four attentions run as one
  batched call.
* Encoder-decoder attention (:class:`SkipAttention`): the decoder input
  (queries) attends along time, per frequency bin and with one head, to the
  encoder skip (keys and values); the result is added to the skip, which is
  then concatenated with the decoder input.
* Output: the complex mask ``Mc`` is bounded like DCCRN-E,
  ``tanh(|Mc|) Mc / |Mc|``, the magnitude mask is ``sigmoid(Mm)``. The
  compressed estimate is the mean of the complex-branch estimate
  ``Xc * Mc`` (complex product) and the magnitude-branch estimate
  ``sigmoid(Mm) |Xc|`` with the noisy phase.
* Encoder and decoder convolutions are causal in time; the attention is
  global, so the model as a whole is not causal (a teacher need not be).

Authors
 * speechbrain-atkl developers 2026
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from speechbrain_atkl.models.complex_nn import (
    ComplexBatchNorm2d,
    ComplexConv2d,
    ComplexConvTranspose2d,
    complex_cat,
    complex_magnitude,
    split_complex,
)
from speechbrain_atkl.models.stft import STFT

UFORMER_PRESETS = {
    # The paper's size (9.46 M) with encoder-decoder attention: 9,504,195 parameters.
    "Uformer": dict(
        channels=[16, 32, 64, 128, 256, 256],
        num_blocks=5,
        attention_heads=4,
        ff_size=1024,
        encoder_decoder_attention=True,
    ),
    # The light public variant's size (about 3.3 M), no encoder-decoder attention:
    # 3,382,659 parameters, about 3.7 GMAC per second of audio.
    "Uformer-light": dict(
        channels=[16, 32, 64, 128, 256, 256],
        num_blocks=1,
        attention_heads=4,
        ff_size=512,
        encoder_decoder_attention=False,
    ),
}


def _parts(is_complex):
    """Number of stacked parts of a feature: 2 (real, imaginary) or 1."""
    return 2 if is_complex else 1


class ComplexLinear(nn.Module):
    """Complex affine map on the last axis, stored as ``[real | imag]``.

    Arguments
    ---------
    in_features : int
        Input features, real and imaginary together.
    out_features : int
        Output features, real and imaginary together.

    Example
    -------
    >>> layer = ComplexLinear(8, 6)
    >>> layer(torch.randn(2, 5, 8)).shape
    torch.Size([2, 5, 6])
    """

    def __init__(self, in_features, out_features):
        super().__init__()
        if in_features % 2 or out_features % 2:
            raise ValueError(
                f"ComplexLinear features must be even (real and imaginary together), "
                f"got in_features={in_features}, out_features={out_features}."
            )
        self.real = nn.Linear(in_features // 2, out_features // 2, bias=False)
        self.imag = nn.Linear(in_features // 2, out_features // 2, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_features))

    def forward(self, x):
        """Maps ``x`` of shape ``(..., in_features)`` to ``(..., out_features)``."""
        wr, wi = self.real.weight, self.imag.weight
        weight = torch.cat([torch.cat([wr, -wi], 1), torch.cat([wi, wr], 1)], 0)
        return F.linear(x, weight, self.bias)


def _linear(in_features, out_features, is_complex):
    """A complex or a real linear layer."""
    if is_complex:
        return ComplexLinear(in_features, out_features)
    return nn.Linear(in_features, out_features)


class PartLayerNorm(nn.Module):
    """Layer norm of the last axis applied to each stacked part separately.

    Arguments
    ---------
    features : int
        Size of the last axis (all parts together).
    parts : int
        Number of equal parts (2 for ``[real | imag]``, 1 for real features).

    Example
    -------
    >>> norm = PartLayerNorm(8, parts=2)
    >>> out = norm(torch.randn(3, 8) * 5)
    >>> torch.allclose(out[:, :4].mean(-1), torch.zeros(3), atol=1e-5)
    True
    """

    def __init__(self, features, parts=1):
        super().__init__()
        self.parts = parts
        self.size = features // parts
        self.weight = nn.Parameter(torch.ones(parts, self.size))
        self.bias = nn.Parameter(torch.zeros(parts, self.size))

    def forward(self, x):
        """Normalises ``x`` of shape ``(..., features)``."""
        x = x.unflatten(-1, (self.parts, self.size))
        x = F.layer_norm(x, (self.size,)) * self.weight + self.bias
        return x.flatten(-2)


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
    >>> ff = FeedForward(8, 16, dropout=0.0, is_complex=True)
    >>> ff(torch.randn(2, 5, 8)).shape
    torch.Size([2, 5, 8])
    """

    def __init__(self, features, hidden, dropout=0.1, is_complex=False):
        super().__init__()
        self.net = nn.Sequential(
            PartLayerNorm(features, _parts(is_complex)),
            _linear(features, hidden, is_complex),
            nn.SiLU(),
            nn.Dropout(dropout),
            _linear(hidden, features, is_complex),
            nn.Dropout(dropout),
        )

    def forward(self, x):
        """Applies the module to ``x`` of shape ``(..., features)``."""
        return self.net(x)


class MultiHeadAttention(nn.Module):
    """Multi-head attention, real or complex (see the module docstring).

    Arguments
    ---------
    features : int
        Model features (real and imaginary together if complex).
    heads : int
        Number of heads; must divide ``features // parts``.
    is_complex : bool
        Complex projections and complex-product attention, or real ones.

    Example
    -------
    >>> attention = MultiHeadAttention(16, heads=2, is_complex=True)
    >>> query, memory = torch.randn(3, 7, 16), torch.randn(3, 9, 16)
    >>> attention(query, memory).shape
    torch.Size([3, 7, 16])
    """

    def __init__(self, features, heads=4, is_complex=False):
        super().__init__()
        self.parts = _parts(is_complex)
        part_size = features // self.parts
        if part_size % heads:
            raise ValueError(
                f"attention heads ({heads}) must divide the per-part features ({part_size})."
            )
        self.heads = heads
        self.head_size = part_size // heads
        self.query = _linear(features, features, is_complex)
        self.key_value = _linear(features, 2 * features, is_complex)
        self.out = _linear(features, features, is_complex)

    def _split_heads(self, x):
        # (N, L, parts * heads * head) -> (parts, N, heads, L, head)
        x = x.unflatten(-1, (self.parts, self.heads, self.head_size))
        return x.permute(2, 0, 3, 1, 4)

    def forward(self, query, memory):
        """Attends from ``query`` ``(N, L, features)`` to ``memory`` ``(N, S, features)``.

        Returns
        -------
        torch.Tensor
            Shape ``(N, L, features)``.
        """
        q = self._split_heads(self.query(query))
        # Complex layout of key_value: [k_real, v_real | k_imag, v_imag].
        kv = self.key_value(memory).unflatten(-1, (self.parts, 2, -1))
        k = self._split_heads(kv[..., 0, :].flatten(-2))
        v = self._split_heads(kv[..., 1, :].flatten(-2))
        if self.parts == 1:
            out = F.scaled_dot_product_attention(q[0], k[0], v[0])
            return self.out(out.transpose(1, 2).flatten(2))
        # One batched call for the four (query part, key part) pairs, each
        # applied to the real and imaginary values stacked on the last axis.
        # Queries and keys are zero-padded to the values' size, which leaves
        # the scores unchanged and lets the fused (flash) kernel run.
        qs = F.pad(torch.stack([q[0], q[0], q[1], q[1]]), (0, self.head_size))
        ks = F.pad(torch.stack([k[0], k[1], k[0], k[1]]), (0, self.head_size))
        vs = torch.cat([v[0], v[1]], -1).expand(4, -1, -1, -1, -1)
        out = F.scaled_dot_product_attention(
            qs.flatten(0, 1),
            ks.flatten(0, 1),
            vs.flatten(0, 1),
            scale=self.head_size**-0.5,
        )
        rr, ri, ir, ii = out.unflatten(0, (4, -1)).unbind(0)
        d = self.head_size
        real = rr[..., :d] - ri[..., d:] - ir[..., d:] - ii[..., :d]
        imag = rr[..., d:] + ri[..., :d] + ir[..., :d] - ii[..., d:]
        out = torch.stack([real, imag])  # (2, N, heads, L, head)
        return self.out(out.permute(1, 3, 0, 2, 4).flatten(2))


class SelfAttention(nn.Module):
    """Pre-norm self-attention sub-layer over the second-to-last axis.

    Arguments
    ---------
    features : int
        Model features (real and imaginary together if complex).
    heads : int
        Number of heads.
    dropout : float
        Dropout on the output.
    is_complex : bool
        Complex or real attention.

    Example
    -------
    >>> attention = SelfAttention(8, heads=2, dropout=0.0)
    >>> attention(torch.randn(3, 5, 8)).shape
    torch.Size([3, 5, 8])
    """

    def __init__(self, features, heads=4, dropout=0.1, is_complex=False):
        super().__init__()
        self.norm = PartLayerNorm(features, _parts(is_complex))
        self.attention = MultiHeadAttention(features, heads, is_complex)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        """Applies attention to ``x`` of shape ``(N, L, features)``."""
        x = self.norm(x)
        return self.dropout(self.attention(x, x))


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
        self.parts = _parts(is_complex)
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
    """Gated dilated-convolution module replacing the conformer's convolution.

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
    >>> module(torch.randn(2, 10, 8)).shape
    torch.Size([2, 10, 8])
    """

    def __init__(self, features, dilations, kernel_size=3, dropout=0.1, is_complex=False):
        super().__init__()
        self.parts = _parts(is_complex)
        self.norm = PartLayerNorm(features, self.parts)
        self.pointwise_in = _linear(features, features, is_complex)
        self.gated = nn.Sequential(
            *(
                GatedDilatedConv(features // self.parts, kernel_size, d, is_complex)
                for d in dilations
            )
        )
        self.pointwise_out = _linear(features, features, is_complex)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        """Applies the module to ``x`` of shape ``(N, frames, features)``."""
        x = self.pointwise_in(self.norm(x))
        # [real | imag] features -> channel-major (N, channels * parts, frames).
        x = x.unflatten(-1, (self.parts, -1)).permute(0, 3, 2, 1).flatten(1, 2)
        x = self.gated(x)
        x = x.unflatten(1, (-1, self.parts)).permute(0, 3, 2, 1).flatten(2)
        return self.dropout(self.pointwise_out(x))


class DualPathConformerBlock(nn.Module):
    """Dilated dual-path conformer block over ``(freq, frames)`` maps.

    Half-step feed-forward, time self-attention, frequency self-attention,
    dilated-convolution module (over time), half-step feed-forward, layer
    norm; every sub-layer is residual.

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
        Kernel size of its depthwise convolutions.
    dropout : float
        Dropout probability.
    is_complex : bool
        Complex or real block.

    Example
    -------
    >>> block = DualPathConformerBlock(8, 2, 16, [1, 2], is_complex=True)
    >>> block(torch.randn(2, 4, 10, 8)).shape
    torch.Size([2, 4, 10, 8])
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
    ):
        super().__init__()
        self.ff_in = FeedForward(features, ff_size, dropout, is_complex)
        self.time_attention = SelfAttention(features, heads, dropout, is_complex)
        self.freq_attention = SelfAttention(features, heads, dropout, is_complex)
        self.conv = DilatedConvModule(features, dilations, conv_kernel_size, dropout, is_complex)
        self.ff_out = FeedForward(features, ff_size, dropout, is_complex)
        self.norm = PartLayerNorm(features, _parts(is_complex))

    def forward(self, x):
        """Applies the block to ``x`` of shape ``(batch, freq, frames, features)``."""
        batch, freq, frames, features = x.shape
        x = x + 0.5 * self.ff_in(x)
        x = x + self.time_attention(x.flatten(0, 1)).view_as(x)
        by_frame = x.transpose(1, 2).flatten(0, 1)
        x = x + self.freq_attention(by_frame).view(batch, frames, freq, features).transpose(1, 2)
        x = x + self.conv(x.flatten(0, 1)).view_as(x)
        x = x + 0.5 * self.ff_out(x)
        return self.norm(x)


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
    """Real transposed 2-D convolution cropped like :class:`ComplexConvTranspose2d`.

    Example
    -------
    >>> CausalConvTranspose2d(16, 1, (5, 2), (2, 1))(torch.randn(2, 16, 128, 10)).shape
    torch.Size([2, 1, 256, 10])
    """

    def forward(self, x):
        """Upsamples ``x`` of shape ``(batch, in_channels, freq, frames)``."""
        out = super().forward(x)
        crop = self.kernel_size[0] // 2
        freq = x.shape[2] * self.stride[0]
        return out[:, :, crop : crop + freq, : x.shape[3]]


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
    ):
        super().__init__()
        kernel_size, stride = tuple(kernel_size), tuple(stride)
        if is_complex:
            conv = ComplexConvTranspose2d if transposed else ComplexConv2d
            norm = ComplexBatchNorm2d
        else:
            conv = CausalConvTranspose2d if transposed else CausalConv2d
            norm = nn.BatchNorm2d
        layers = [conv(in_channels, out_channels, kernel_size, stride)]
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


class SkipAttention(nn.Module):
    """Encoder-decoder attention on a U-Net skip path.

    The decoder input attends along time (per frequency bin, one head) to the
    encoder skip; the result is added to the skip.

    Arguments
    ---------
    channels : int
        Channels of both maps (real and imaginary together if complex).
    dropout : float
        Dropout probability.
    is_complex : bool
        Complex or real attention.

    Example
    -------
    >>> attention = SkipAttention(8, is_complex=True)
    >>> decoder, skip = torch.randn(2, 8, 4, 6), torch.randn(2, 8, 4, 6)
    >>> attention(decoder, skip).shape
    torch.Size([2, 8, 4, 6])
    """

    def __init__(self, channels, dropout=0.1, is_complex=False):
        super().__init__()
        parts = _parts(is_complex)
        self.query_norm = PartLayerNorm(channels, parts)
        self.memory_norm = PartLayerNorm(channels, parts)
        self.attention = MultiHeadAttention(channels, 1, is_complex)
        self.dropout = nn.Dropout(dropout)

    def forward(self, decoder, skip):
        """Returns the attended skip, shape ``(batch, channels, freq, frames)``."""
        batch, channels, freq, frames = skip.shape
        query = self.query_norm(decoder.permute(0, 2, 3, 1).flatten(0, 1))
        memory = self.memory_norm(skip.permute(0, 2, 3, 1).flatten(0, 1))
        out = self.dropout(self.attention(query, memory))
        return skip + out.view(batch, freq, frames, channels).permute(0, 3, 1, 2)


class Branch(nn.Module):
    """The layers of one branch: encoder, bottleneck, decoder, skip attention.

    The branches are run layer by layer by :class:`Uformer`, which fuses them
    in between, so this module only holds the layers.

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
    num_blocks, heads, ff_size, dilations, conv_kernel_size : see :class:`Uformer`.
    encoder_decoder_attention : bool
        Whether the skips go through :class:`SkipAttention`.
    dropout : float
        Dropout probability.
    is_complex : bool
        Complex or magnitude branch.
    """

    def __init__(
        self,
        in_channels,
        channels,
        out_channels,
        kernel_size,
        stride,
        num_blocks,
        heads,
        ff_size,
        dilations,
        conv_kernel_size,
        encoder_decoder_attention,
        dropout,
        is_complex,
    ):
        super().__init__()
        conv = dict(kernel_size=kernel_size, stride=stride, is_complex=is_complex)
        ins = [in_channels] + channels[:-1]
        self.encoder = nn.ModuleList(ConvLayer(i, o, **conv) for i, o in zip(ins, channels))
        self.bottleneck = nn.Sequential(
            *(
                DualPathConformerBlock(
                    channels[-1], heads, ff_size, dilations, conv_kernel_size, dropout, is_complex
                )
                for _ in range(num_blocks)
            )
        )
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

    def run_bottleneck(self, x):
        """Runs the conformer on ``x`` of shape ``(batch, channels, freq, frames)``."""
        return self.bottleneck(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    def decoder_input(self, layer, x, skip):
        """Joins decoder input ``x`` and encoder ``skip`` for decoder ``layer``."""
        if self.skip_attention is not None:
            skip = self.skip_attention[layer](x, skip)
        if self.is_complex:
            return complex_cat([x, skip])
        return torch.cat([x, skip], 1)


class Uformer(nn.Module):
    """Uformer speech enhancement model (see the module docstring).

    Arguments
    ---------
    channels : list of int
        Complex-branch encoder channels, real and imaginary counted together
        (``[16, 32, 64, 128, 256, 256]`` = 8 ... 128 complex channels). The
        decoder mirrors them. Each must be even.
    magnitude_channels : list of int or None
        Magnitude-branch encoder channels; None for half of ``channels``.
    kernel_size : tuple
        ``(freq, time)`` convolution kernel.
    stride : tuple
        ``(freq, time)`` stride; time stride 1.
    win_length, hop_length, n_fft : int
        STFT window, hop and FFT size in samples.
    window : str
        STFT window name (see :func:`speechbrain_atkl.models.stft.make_window`).
    compression : float
        Power-law exponent ``p``: the network sees ``|X|^p`` (phase kept) and
        the output is expanded by ``1 / p``.
    num_blocks : int
        Conformer blocks in each branch's bottleneck.
    attention_heads : int
        Heads of the bottleneck attention (must divide the per-part features).
    ff_size : int
        Complex-branch feed-forward hidden size, real and imaginary together.
    magnitude_ff_size : int or None
        Magnitude-branch feed-forward hidden size; None for ``ff_size // 2``.
    dilations : list of int
        Dilations of the gated units in each dilated-convolution module.
    conv_kernel_size : int
        Kernel size of those depthwise convolutions (odd).
    encoder_decoder_attention : bool
        Route each skip through encoder-decoder attention.
    dropout : float
        Dropout probability in the conformer and the skip attention.

    Example
    -------
    >>> model = Uformer(channels=[4, 4, 4, 4, 4, 4], attention_heads=1, ff_size=8, dilations=[1])
    >>> model(torch.randn(2, 1000)).shape
    torch.Size([2, 1000])
    >>> enhanced, features = model(torch.randn(2, 1000), return_features=True)
    >>> [f.shape[2] for f in features["encoder"]], [f.shape[2] for f in features["decoder"]]
    ([128, 64, 32, 16, 8, 4], [8, 16, 32, 64, 128, 256])
    """

    def __init__(
        self,
        channels=(16, 32, 64, 128, 256, 256),
        magnitude_channels=None,
        kernel_size=(5, 2),
        stride=(2, 1),
        win_length=400,
        hop_length=160,
        n_fft=512,
        window="sqrt_hann",
        compression=0.5,
        num_blocks=1,
        attention_heads=4,
        ff_size=512,
        magnitude_ff_size=None,
        dilations=(1, 2, 4, 8, 16, 32, 64, 128),
        conv_kernel_size=3,
        encoder_decoder_attention=False,
        dropout=0.1,
    ):
        super().__init__()
        channels = list(channels)
        for c in channels:
            if c <= 0 or c % 2:
                raise ValueError(
                    f"channels must be positive and even (real and imaginary together), "
                    f"got {channels}."
                )
        if magnitude_channels is None:
            magnitude_channels = [c // 2 for c in channels]
        magnitude_channels = list(magnitude_channels)
        #: Constructor arguments, enough to rebuild the model (used when publishing).
        self.config = dict(
            channels=channels,
            magnitude_channels=magnitude_channels,
            kernel_size=list(kernel_size),
            stride=list(stride),
            win_length=win_length,
            hop_length=hop_length,
            n_fft=n_fft,
            window=window,
            compression=compression,
            num_blocks=num_blocks,
            attention_heads=attention_heads,
            ff_size=ff_size,
            magnitude_ff_size=magnitude_ff_size,
            dilations=list(dilations),
            conv_kernel_size=conv_kernel_size,
            encoder_decoder_attention=encoder_decoder_attention,
            dropout=dropout,
        )
        if len(magnitude_channels) != len(channels):
            raise ValueError(
                f"magnitude_channels ({magnitude_channels}) must have one entry per "
                f"encoder layer, like channels ({channels})."
            )
        bins = n_fft // 2
        if bins % stride[0] ** len(channels):
            raise ValueError(
                f"n_fft // 2 = {bins} frequency bins (DC dropped) must be divisible by "
                f"stride[0] ** len(channels) = {stride[0] ** len(channels)}."
            )
        if not compression > 0:
            raise ValueError(f"compression must be > 0, got {compression}.")
        self.compression = compression
        self.stft = STFT(win_length, hop_length, n_fft, window)
        common = dict(
            kernel_size=kernel_size,
            stride=stride,
            num_blocks=num_blocks,
            heads=attention_heads,
            dilations=list(dilations),
            conv_kernel_size=conv_kernel_size,
            encoder_decoder_attention=encoder_decoder_attention,
            dropout=dropout,
        )
        if magnitude_ff_size is None:
            magnitude_ff_size = ff_size // 2
        self.complex_branch = Branch(2, channels, 2, ff_size=ff_size, is_complex=True, **common)
        self.magnitude_branch = Branch(
            1, magnitude_channels, 1, ff_size=magnitude_ff_size, is_complex=False, **common
        )
        self.encoder_fusion = nn.ModuleList(
            BranchFusion(c, m) for c, m in zip(channels, magnitude_channels)
        )
        decoder_pairs = zip(channels[-2::-1] + [2], magnitude_channels[-2::-1] + [1])
        self.decoder_fusion = nn.ModuleList(BranchFusion(c, m) for c, m in decoder_pairs)

    @classmethod
    def from_preset(cls, name, **overrides):
        """Builds a model from :data:`UFORMER_PRESETS`, with arguments overridden.

        Example
        -------
        >>> model = Uformer.from_preset("Uformer-light", num_blocks=0)
        >>> model.stft.hop_length
        160
        """
        if name not in UFORMER_PRESETS:
            raise ValueError(
                f"Unknown Uformer preset {name!r}; expected one of {sorted(UFORMER_PRESETS)}."
            )
        return cls(**{**UFORMER_PRESETS[name], **overrides})

    def _compress(self, spec):
        """Returns ``|X|^p e^{j angle X}`` and ``|X|^p`` of ``spec`` ``(B, 2, F, T)``."""
        magnitude = complex_magnitude(spec)
        compressed = magnitude**self.compression
        return spec * (compressed / magnitude), compressed

    def _expand(self, spec):
        """Undoes :meth:`_compress` on a complex spectrum ``(B, 2, F, T)``."""
        magnitude = complex_magnitude(spec)
        return spec * magnitude ** (1.0 / self.compression - 1.0)

    def _apply_masks(self, spec, complex_mask, magnitude_mask):
        """Combines both masks with the compressed spectrum (see the module docstring)."""
        mask_magnitude = complex_magnitude(complex_mask)
        complex_mask = complex_mask * (torch.tanh(mask_magnitude) / mask_magnitude)
        sr, si = split_complex(spec)
        mr, mi = split_complex(complex_mask)
        by_complex = torch.cat([sr * mr - si * mi, sr * mi + si * mr], 1)
        by_magnitude = spec * torch.sigmoid(magnitude_mask)
        return 0.5 * (by_complex + by_magnitude)

    def forward(self, noisy, return_features=False):
        """Enhances ``noisy`` speech.

        Arguments
        ---------
        noisy : torch.Tensor
            Waveform, shape ``(batch, time)``.
        return_features : bool
            Also return the complex branch's fused encoder and decoder outputs.

        Returns
        -------
        enhanced : torch.Tensor
            Shape ``(batch, time)``, the input's length.
        features : dict
            Only with ``return_features``: ``"encoder"`` and ``"decoder"``, each
            a list of 6 tensors ``(batch, 2*C, freq, frames)``, real half first.
        """
        if noisy.dim() != 2:
            raise ValueError(f"Uformer expects (batch, time), got shape {tuple(noisy.shape)}.")
        length = noisy.shape[-1]
        spec = self.stft(noisy)
        dc, spec = spec[:, :, :1], spec[:, :, 1:]
        c, m = self._compress(spec)
        spec_compressed = c
        cb, mb = self.complex_branch, self.magnitude_branch
        skips = []
        encoder_features, decoder_features = [], []
        for c_layer, m_layer, fuse in zip(cb.encoder, mb.encoder, self.encoder_fusion):
            c, m = fuse(c_layer(c), m_layer(m))
            skips.append((c, m))
            if return_features:
                encoder_features.append(c)
        c, m = cb.run_bottleneck(c), mb.run_bottleneck(m)
        layers = zip(cb.decoder, mb.decoder, self.decoder_fusion, reversed(skips))
        for n, (c_layer, m_layer, fuse, (c_skip, m_skip)) in enumerate(layers):
            c = c_layer(cb.decoder_input(n, c, c_skip))
            m = m_layer(mb.decoder_input(n, m, m_skip))
            c, m = fuse(c, m)
            if return_features:
                decoder_features.append(c)
        estimate = self._expand(self._apply_masks(spec_compressed, c, m))
        estimate = torch.cat([torch.zeros_like(dc), estimate], 2)
        enhanced = self.stft.inverse(estimate, length)
        if return_features:
            return enhanced, {"encoder": encoder_features, "decoder": decoder_features}
        return enhanced
