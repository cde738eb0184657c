"""Complex-valued layers for spectrogram U-Nets (the complex LSTM is in
:mod:`~speechbrain_atkl.models.complex_lstm`, complex batch normalisation in
:mod:`~speechbrain_atkl.models.complex_norm`).

Convention used throughout the package: a complex feature map with ``C``
complex channels is stored as a real tensor of shape ``(batch, 2 * C, freq,
frames)`` whose first ``C`` channels are the real parts and last ``C`` the
imaginary parts. Channel arguments count real and imaginary parts together
(as in the DCCRN paper), so they must be even.

A complex weight ``W = Wr + i Wi`` applied to ``X = Xr + i Xi`` gives
``(Wr*Xr - Wi*Xi) + i (Wi*Xr + Wr*Xi)``. Each layer keeps ``Wr`` and ``Wi`` as
two real modules and runs them as one real operation on the stacked input.

Authors
 * speechbrain-atkl developers 2026
"""

import torch
import torch.nn.functional as F
from torch import nn


def _half(channels, name):
    if channels % 2:
        raise ValueError(
            f"{name}={channels} must be even: it counts real and imaginary channels together."
        )
    return channels // 2


#: Initialisations of the complex convolutions: ``"reference"`` is the DCCRN
#: authors' (weights N(0, 0.05), zero biases), ``"pytorch"`` keeps PyTorch's
#: default (kaiming-uniform weights, uniform biases).
INIT_MODES = ("reference", "pytorch")
REFERENCE_INIT_STD = 0.05


def init_complex_layers(layers, init):
    """Initialises the real and imaginary parts of a complex (transposed) convolution.

    Arguments
    ---------
    layers : sequence of torch.nn.Module
        Real convolutions with ``weight`` and ``bias``.
    init : str
        One of :data:`INIT_MODES`.

    Example
    -------
    >>> conv = nn.Conv2d(4, 8, (5, 2))
    >>> init_complex_layers([conv], "reference")
    >>> conv.bias.abs().max().item(), abs(conv.weight.std().item() - 0.05) < 0.01
    (0.0, True)
    """
    if init not in INIT_MODES:
        raise ValueError(f"init must be one of {INIT_MODES}, got {init!r}.")
    if init == "pytorch":
        return
    with torch.no_grad():
        for layer in layers:
            nn.init.normal_(layer.weight, 0.0, REFERENCE_INIT_STD)
            nn.init.zeros_(layer.bias)


def split_complex(x, dim=1):
    """Splits a stacked complex tensor into its real and imaginary halves.

    Example
    -------
    >>> real, imag = split_complex(torch.zeros(1, 6, 3, 2))
    >>> real.shape
    torch.Size([1, 3, 3, 2])
    """
    return x.chunk(2, dim=dim)


def complex_cat(tensors, dim=1, memory_format=torch.contiguous_format):
    """Concatenates stacked complex tensors, keeping real parts before imaginary ones.

    Arguments
    ---------
    tensors : sequence of torch.Tensor
        Stacked ``[real | imag]`` tensors.
    dim : int
        The stacked axis.
    memory_format : torch.memory_format
        Layout of the result (4-D tensors only for ``torch.channels_last``):
        without gradients the parts are copied straight into it.

    Example
    -------
    >>> a = torch.tensor([[1.0, 2.0]])  # 1 + 2i
    >>> b = torch.tensor([[3.0, 4.0]])  # 3 + 4i
    >>> complex_cat([a, b], dim=1)  # [real parts | imaginary parts]
    tensor([[1., 3., 2., 4.]])
    >>> x = complex_cat([torch.randn(1, 4, 3, 5), torch.randn(1, 2, 3, 5)], memory_format=torch.channels_last)
    >>> x.shape, x.is_contiguous(memory_format=torch.channels_last)
    (torch.Size([1, 6, 3, 5]), True)
    """
    parts = [split_complex(t, dim) for t in tensors]
    halves = [p[0] for p in parts] + [p[1] for p in parts]
    if memory_format is torch.contiguous_format:
        return torch.cat(halves, dim)
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return torch.cat(halves, dim).contiguous(memory_format=memory_format)  # `out=` has no gradient
    shape = list(halves[0].shape)
    shape[dim] = sum(t.shape[dim] for t in halves)
    out = torch.empty(shape, dtype=halves[0].dtype, device=halves[0].device, memory_format=memory_format)
    # One copy per part: `torch.cat(..., out=out)` is slower from the default layout (docs/benchmarks.md).
    start = 0
    for half in halves:
        out.narrow(dim, start, half.shape[dim]).copy_(half)
        start += half.shape[dim]
    return out


def complex_magnitude(x, dim=1, eps=1e-8):
    """Magnitude of a stacked complex tensor (halves the ``dim`` axis).

    Example
    -------
    >>> complex_magnitude(torch.tensor([[3.0, 4.0]]))
    tensor([[5.]])
    """
    real, imag = split_complex(x, dim)
    return torch.sqrt(real**2 + imag**2 + eps)


def cropped_conv_transpose2d(x, weight, bias, stride, first_frame=0):
    """A transposed convolution cropped to ``stride[0] * freq`` rows and ``frames`` frames.

    The rows kept start at ``kernel_size[0] // 2`` (the frequency axis grows
    exactly ``stride[0]`` times); the frames at ``first_frame`` (0: causal,
    ``kernel_size[1] - 1``: looking that many frames ahead). Padding
    ``(kf - 1) // 2`` and output padding ``stride[0] - 1`` ask oneDNN for
    (nearly) only the kept rows: the same values as cropping the full output,
    bit for bit, from a faster kernel; an even ``kf`` leaves one extra row in
    front to slice off.

    Arguments
    ---------
    x : torch.Tensor
        ``(batch, in_channels, freq, frames)``.
    weight, bias : torch.Tensor
        As for :func:`torch.nn.functional.conv_transpose2d`.
    stride : tuple
        ``(freq, time)`` stride; time stride 1.
    first_frame : int
        First output frame kept.

    Returns
    -------
    torch.Tensor
        ``(batch, out_channels, stride[0] * freq, frames)``.

    Example
    -------
    >>> x, weight = torch.randn(1, 4, 8, 6), torch.randn(4, 2, 5, 2)
    >>> full = F.conv_transpose2d(x, weight, None, (2, 1))
    >>> torch.equal(cropped_conv_transpose2d(x, weight, None, (2, 1)), full[:, :, 2:18, :6])
    True
    """
    kernel_freq = weight.shape[2]
    pad = (kernel_freq - 1) // 2
    out = F.conv_transpose2d(x, weight, bias, stride, padding=(pad, 0), output_padding=(stride[0] - 1, 0))
    first_row = kernel_freq // 2 - pad
    return out[
        :, :, first_row : first_row + x.shape[2] * stride[0], first_frame : first_frame + x.shape[3]
    ]


class ComplexConv2d(nn.Module):
    """Complex 2-D convolution over ``(freq, frames)``, causal in time.

    The time axis is padded with ``kernel_size[1] - 1`` frames on the left
    only, so output frame ``t`` sees input frames ``t - k + 1 ... t``. The
    frequency axis is padded symmetrically with ``kernel_size[0] // 2`` bins.

    Arguments
    ---------
    in_channels : int
        Input channels, real and imaginary together.
    out_channels : int
        Output channels, real and imaginary together.
    kernel_size : tuple
        ``(freq, time)`` kernel size.
    stride : tuple
        ``(freq, time)`` stride; time stride must be 1.
    init : str
        ``"reference"`` (weights N(0, 0.05), zero biases, as the DCCRN
        authors) or ``"pytorch"`` (PyTorch's default).

    Example
    -------
    >>> conv = ComplexConv2d(2, 16, kernel_size=(5, 2), stride=(2, 1))
    >>> conv(torch.randn(3, 2, 256, 40)).shape
    torch.Size([3, 16, 128, 40])
    """

    def __init__(self, in_channels, out_channels, kernel_size=(5, 2), stride=(2, 1), init="reference"):
        super().__init__()
        half_in = _half(in_channels, "in_channels")
        half_out = _half(out_channels, "out_channels")
        if stride[1] != 1:
            raise ValueError(f"time stride must be 1 for a causal layer, got {stride[1]}.")
        self.real = nn.Conv2d(half_in, half_out, kernel_size, stride)
        self.imag = nn.Conv2d(half_in, half_out, kernel_size, stride)
        init_complex_layers([self.real, self.imag], init)
        self.freq_pad = kernel_size[0] // 2
        self.time_pad = kernel_size[1] - 1

    def stacked_weight(self):
        """The real ``(weight, bias)`` acting on stacked ``[real | imag]`` channels."""
        wr, wi = self.real.weight, self.imag.weight
        weight = torch.cat([torch.cat([wr, -wi], 1), torch.cat([wi, wr], 1)], 0)
        br, bi = self.real.bias, self.imag.bias
        return weight, torch.cat([br - bi, br + bi])

    def forward(self, x):
        """Convolves ``x`` of shape ``(batch, in_channels, freq, frames)``."""
        weight, bias = self.stacked_weight()
        x = F.pad(x, (self.time_pad, 0, self.freq_pad, self.freq_pad))
        return F.conv2d(x, weight, bias, self.real.stride)


class ComplexConvTranspose2d(nn.Module):
    """Complex transposed 2-D convolution that upsamples frequency.

    With kernel ``(kf, kt)`` and frequency stride ``s`` the frequency axis grows
    ``s`` times. In time the layer either is causal (output frame ``t`` uses
    input frames ``t - kt + 1 ... t``) or looks ``kt - 1`` frames ahead (uses
    ``t ... t + kt - 1``), as each decoder layer of the reference DCCRN does.

    Arguments
    ---------
    in_channels : int
        Input channels, real and imaginary together.
    out_channels : int
        Output channels, real and imaginary together.
    kernel_size : tuple
        ``(freq, time)`` kernel size.
    stride : tuple
        ``(freq, time)`` stride; time stride must be 1.
    lookahead : bool
        Look ``kernel_size[1] - 1`` frames into the future instead of the past.
    init : str
        ``"reference"`` (weights N(0, 0.05), zero biases) or ``"pytorch"``.

    Example
    -------
    >>> deconv = ComplexConvTranspose2d(32, 2, kernel_size=(5, 2), stride=(2, 1))
    >>> deconv(torch.randn(3, 32, 128, 40)).shape
    torch.Size([3, 2, 256, 40])
    """

    def __init__(
        self, in_channels, out_channels, kernel_size=(5, 2), stride=(2, 1), lookahead=False, init="reference"
    ):
        super().__init__()
        half_in = _half(in_channels, "in_channels")
        half_out = _half(out_channels, "out_channels")
        if stride[1] != 1:
            raise ValueError(f"time stride must be 1, got {stride[1]}.")
        self.real = nn.ConvTranspose2d(half_in, half_out, kernel_size, stride)
        self.imag = nn.ConvTranspose2d(half_in, half_out, kernel_size, stride)
        init_complex_layers([self.real, self.imag], init)
        self.lookahead = lookahead
        self.time_context = kernel_size[1] - 1
        # Crop the transposed convolution's frequency output back to s * freq.
        self.freq_crop = kernel_size[0] // 2
        self.freq_stride = stride[0]

    def stacked_weight(self):
        """The real ``(weight, bias)`` acting on stacked ``[real | imag]`` channels."""
        wr, wi = self.real.weight, self.imag.weight
        weight = torch.cat([torch.cat([wr, wi], 1), torch.cat([-wi, wr], 1)], 0)
        br, bi = self.real.bias, self.imag.bias
        return weight, torch.cat([br - bi, br + bi])

    def forward(self, x):
        """Upsamples ``x`` of shape ``(batch, in_channels, freq, frames)``."""
        weight, bias = self.stacked_weight()
        first_frame = self.time_context if self.lookahead else 0
        return cropped_conv_transpose2d(x, weight, bias, self.real.stride, first_frame)
