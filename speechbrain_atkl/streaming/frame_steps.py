"""One-frame (streaming) steps of the complex layers as convolutions over a one-frame window.

The convolution form of a hop: each layer of
:mod:`~speechbrain_atkl.models.complex_nn` computes its newest output frame
from its last ``kernel_size[1]`` input frames with PyTorch's convolution
kernels, batch normalisation folded into the weights
(:func:`fold_batch_norm_into_conv`). It is the form the streaming ONNX graph
holds (onnxruntime runs it faster than the matrix form of
:mod:`~speechbrain_atkl.streaming.row_steps`, which PyTorch prefers).

Authors
 * speechbrain-atkl developers 2026
"""

import torch
import torch.nn.functional as F
from torch import nn

from speechbrain_atkl.models.complex_nn import ComplexConvTranspose2d


def frame_kernel(layer):
    """The ``(weight, bias)`` of a layer's one-frame step, to compute once for many steps.

    Arguments
    ---------
    layer : ComplexConv2d or ComplexConvTranspose2d
        The layer (:mod:`~speechbrain_atkl.models.complex_nn`).

    Returns
    -------
    tuple
        ``(weight, bias)`` for :func:`conv_frame_step` (the layer's stacked
        weight) or :func:`conv_transpose_frame_step_channels` (the frames on
        the input-channel axis, against the time-reversed taps, as one
        one-frame kernel).

    Example
    -------
    >>> deconv = ComplexConvTranspose2d(4, 2, kernel_size=(5, 2))
    >>> [tuple(t.shape) for t in frame_kernel(deconv)]
    [(8, 2, 5, 1), (2,)]
    """
    weight, bias = layer.stacked_weight()
    if not isinstance(layer, ComplexConvTranspose2d):
        return weight, bias
    out_channels, kernel_freq = weight.shape[1:3]
    # Output frame u is sum_k W[..., k] x[u - k]: the frames go on the channel axis, against the
    # time-reversed taps, for a one-frame kernel.
    weight = weight.flip(-1).permute(3, 0, 1, 2).reshape(-1, out_channels, kernel_freq, 1)
    return weight, bias


def conv_frame_step(conv, frames, kernel=None):
    """The output frame of a complex convolution at the newest of its input frames.

    Arguments
    ---------
    conv : speechbrain_atkl.models.complex_nn.ComplexConv2d
        The layer.
    frames : torch.Tensor
        The last ``kernel_size[1]`` input frames, oldest first,
        ``(batch, in_channels, freq, kernel_size[1])``; before the start of a
        signal the missing frames are zeros, as in the layer's ``forward``.
    kernel : tuple or None
        :func:`frame_kernel`'s result, if already computed.

    Returns
    -------
    torch.Tensor
        ``(batch, out_channels, freq / stride, 1)``, the frame the layer's
        ``forward`` gives at the newest input frame.

    Example
    -------
    >>> from speechbrain_atkl.models.complex_nn import ComplexConv2d
    >>> conv = ComplexConv2d(2, 4)
    >>> x = torch.randn(1, 2, 16, 5)
    >>> torch.allclose(conv_frame_step(conv, x[..., 2:4]), conv(x)[..., 3:4], atol=1e-6)
    True
    """
    weight, bias = frame_kernel(conv) if kernel is None else kernel
    x = F.pad(frames, (0, 0, conv.freq_pad, conv.freq_pad))
    return F.conv2d(x, weight, bias, conv.real.stride)


def conv_transpose_frame_step(deconv, frames, kernel=None):
    """The output frame of a complex transposed convolution completed by the newest input frame.

    A causal layer gives output frame ``t`` when input frame ``t`` arrives;
    a look-ahead layer gives frame ``t - kernel_size[1] + 1`` (the one whose
    future is now complete). Past the end of a signal, feed zero frames to
    get the last frames of the layer's ``forward``.

    Arguments
    ---------
    deconv : speechbrain_atkl.models.complex_nn.ComplexConvTranspose2d
        The layer.
    frames : torch.Tensor
        The last ``kernel_size[1]`` input frames, oldest first,
        ``(batch, in_channels, freq, kernel_size[1])``.
    kernel : tuple or None
        :func:`frame_kernel`'s result, if already computed.

    Returns
    -------
    torch.Tensor
        ``(batch, out_channels, stride * freq, 1)``.

    Example
    -------
    >>> deconv = ComplexConvTranspose2d(4, 2, lookahead=True)
    >>> x = torch.randn(1, 4, 8, 5)
    >>> torch.allclose(conv_transpose_frame_step(deconv, x[..., 2:4]), deconv(x)[..., 2:3], atol=1e-6)
    True
    """
    return conv_transpose_frame_step_channels(deconv, frames.permute(0, 3, 1, 2).flatten(1, 2)[..., None], kernel)


def conv_transpose_frame_step_channels(deconv, frames, kernel=None):
    """:func:`conv_transpose_frame_step` on frames stacked on the channel axis (no reordering).

    Arguments
    ---------
    deconv : speechbrain_atkl.models.complex_nn.ComplexConvTranspose2d
        The layer.
    frames : torch.Tensor
        ``(batch, kernel_size[1] * in_channels, freq, 1)``: the input frames,
        oldest first, each ``in_channels`` wide.
    kernel : tuple or None
        :func:`frame_kernel`'s result, if already computed.

    Returns
    -------
    torch.Tensor
        ``(batch, out_channels, stride * freq, 1)``.

    Example
    -------
    >>> deconv = ComplexConvTranspose2d(4, 2)
    >>> conv_transpose_frame_step_channels(deconv, torch.randn(1, 8, 8, 1)).shape
    torch.Size([1, 2, 16, 1])
    """
    weight, bias = frame_kernel(deconv) if kernel is None else kernel
    out = F.conv_transpose2d(frames, weight, bias, (deconv.freq_stride, 1))
    # Crop the frequency output back to stride * freq.
    return out[:, :, deconv.freq_crop : deconv.freq_crop + frames.shape[2] * deconv.freq_stride]


def batch_norm_map(norm):
    """An eval-mode ``nn.BatchNorm2d`` as ``scale * x + shift`` per channel.

    Arguments
    ---------
    norm : torch.nn.BatchNorm2d
        The normalisation, its running statistics used.

    Returns
    -------
    tuple
        ``(scale, shift)``, each ``(channels,)``.

    Example
    -------
    >>> norm = nn.BatchNorm2d(2, eps=0.0).eval()
    >>> _ = norm.running_var.fill_(4.0)
    >>> [t.tolist() for t in batch_norm_map(norm)]
    [[0.5, 0.5], [0.0, 0.0]]
    """
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    return scale, norm.bias - norm.running_mean * scale


def fold_batch_norm_into_conv(weight, bias, norm, out_dim):
    """Folds an eval-mode ``nn.BatchNorm2d`` after a convolution into its weight and bias.

    Arguments
    ---------
    weight, bias : torch.Tensor
        The (transposed) convolution's.
    norm : torch.nn.Module
        The normalisation that follows.
    out_dim : int
        The weight's output-channel axis (0 for a convolution, 1 for a transposed one).

    Returns
    -------
    tuple
        ``((weight, bias), rest)``: the folded weight and bias, and the module
        still to apply (``nn.Identity`` once folded; ``norm`` itself, weight
        and bias unchanged, when it is not a ``BatchNorm2d``, e.g. the complex
        one, which mixes real and imaginary parts).

    Example
    -------
    >>> conv, norm = nn.Conv2d(3, 2, 1), nn.BatchNorm2d(2).eval()
    >>> _ = norm.running_var.fill_(4.0)
    >>> (weight, bias), rest = fold_batch_norm_into_conv(conv.weight, conv.bias, norm, 0)
    >>> x = torch.randn(1, 3, 4, 4)
    >>> torch.allclose(torch.nn.functional.conv2d(x, weight, bias), norm(conv(x)), atol=1e-6)
    True
    """
    if not isinstance(norm, nn.BatchNorm2d):
        return (weight, bias), norm
    scale, shift = batch_norm_map(norm)
    shape = [1] * weight.dim()
    shape[out_dim] = -1
    return (weight * scale.view(shape), bias * scale + shift), nn.Identity()
