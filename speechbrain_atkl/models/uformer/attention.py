"""Complex and real building blocks of the Uformer: linear maps, layer norms, attention.

Complex features are stored with real and imaginary parts stacked on the last
axis, ``[real | imag]`` (``features`` counts both parts).

Complex attention: with queries ``Q``, keys ``K`` and values ``V`` complex, the
output is the complex product expansion of ``Q K V`` with one softmax
attention per (query part, key part) pair:
``real = A(Qr,Kr)Vr - A(Qr,Ki)Vi - A(Qi,Kr)Vi - A(Qi,Ki)Vr`` and
``imag = A(Qr,Kr)Vi + A(Qr,Ki)Vr + A(Qi,Kr)Vr - A(Qi,Ki)Vi``, with
``A(q, k) v = softmax(q k^T / sqrt(d)) v``. The four attentions run as one
batched call.

Encoder-decoder attention (:class:`SkipAttention`): the decoder input (queries)
attends along time, per frequency bin and with one head, to the encoder skip
(keys and values); the result is added to the skip.

Authors
 * speechbrain-atkl developers 2026
"""

import torch
import torch.nn.functional as F
from torch import nn


def num_parts(is_complex):
    """Number of stacked parts of a feature: 2 (real, imaginary) or 1.

    Example
    -------
    >>> num_parts(True), num_parts(False)
    (2, 1)
    """
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


def linear_layer(in_features, out_features, is_complex):
    """A complex or a real linear layer.

    Arguments
    ---------
    in_features, out_features : int
        Features in and out (for a complex layer: real and imaginary together).
    is_complex : bool
        :class:`ComplexLinear` if true, else ``torch.nn.Linear``.

    Returns
    -------
    torch.nn.Module

    Example
    -------
    >>> type(linear_layer(8, 6, True)).__name__, type(linear_layer(8, 6, False)).__name__
    ('ComplexLinear', 'Linear')
    """
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
        self.parts = num_parts(is_complex)
        part_size = features // self.parts
        if part_size % heads:
            raise ValueError(
                f"attention heads ({heads}) must divide the per-part features ({part_size})."
            )
        self.heads = heads
        self.head_size = part_size // heads
        self.query = linear_layer(features, features, is_complex)
        self.key_value = linear_layer(features, 2 * features, is_complex)
        self.out = linear_layer(features, features, is_complex)

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
        self.norm = PartLayerNorm(features, num_parts(is_complex))
        self.attention = MultiHeadAttention(features, heads, is_complex)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        """Applies attention to ``x`` of shape ``(N, L, features)``."""
        x = self.norm(x)
        return self.dropout(self.attention(x, x))


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
        parts = num_parts(is_complex)
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
