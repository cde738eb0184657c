"""One-frame (streaming) steps of the complex layers as matrix products.

The matrix form of a hop. As a convolution over a one-frame window
(:mod:`~speechbrain_atkl.streaming.frame_steps`), PyTorch runs a layer's step
with its slow non-oneDNN kernels and a few dozen tensor operations; here each
step is one matrix product of the windows each output reads (``im2col``)
against a kernel matrix assembled once (:func:`matrix_kernel`), with batch
normalisation folded into its columns (:func:`fold_batch_norm`).

The frames are kept **rows-first**: ``(batch, freq, channels)``, the stacked
``[real | imag]`` channels last, and a layer keeps its past input frames
zero-padded along frequency, ``(batch, past frames, padded freq,
channels)``. Each output's window (its input rows, past frames and newest
frame, every channel) is then a strided view of the frames, copied by the
matrix product's reshape, rather than a gather of single values.
:class:`~speechbrain_atkl.streaming.step.StreamingStep` runs these steps.
(onnxruntime runs the matrix form slower than the one-frame convolutions: the
ONNX graph keeps the latter.)

Authors
 * speechbrain-atkl developers 2026
"""

import torch
import torch.nn.functional as F
from torch import nn

from speechbrain_atkl.models.complex_nn import ComplexConvTranspose2d
from speechbrain_atkl.streaming.frame_steps import batch_norm_map


def _matrix_kernel(real, imag, real_bias, imag_bias, geometry, split, sources):
    # The kernel of `row_step` from the real and imaginary weights as matrices (window, in, phase,
    # out): window positions (frame, row) and the halves' channels; see `row_step` for the forms.
    windows, half_in, phases, half_out = real.shape
    if half_in % sources:
        raise ValueError(f"{half_in} input channels per part do not split into {sources} equal sources.")
    shift = torch.stack([real_bias - imag_bias, real_bias + imag_bias])  # (2, half_out)
    if split:
        matrix = torch.cat([real, imag], 2).reshape(windows * half_in, -1)  # columns (weight, phase, out)
        signs = torch.tensor([-1.0, 1.0]).to(real).view(2, 1, 1)
        return matrix, shift[:, None], torch.ones_like(shift[:, None]), signs, geometry + (sources,)
    # Rows (window, source, input part, channel), columns (phase, output part, channel):
    # real out = Wr xr - Wi xi, imag out = Wi xr + Wr xi.
    from_real, from_imag = torch.stack([real, imag], 3), torch.stack([-imag, real], 3)
    matrix = torch.stack([from_real, from_imag], 1).unflatten(2, (sources, -1)).transpose(1, 2)
    return matrix.reshape(windows * 2 * half_in, -1), shift.flatten().repeat(phases), None, None, geometry + (sources,)


def matrix_kernel(layer, freq, split=False, sources=1):
    """The kernel of :func:`row_step` for a complex (transposed) convolution.

    Arguments
    ---------
    layer : ComplexConv2d or ComplexConvTranspose2d
        The layer (:mod:`~speechbrain_atkl.models.complex_nn`).
    freq : int
        Input frequency bins.
    split : bool
        The form of the product (see :func:`row_step`).
    sources : int
        How many stacked complex tensors of equal channels the input frame
        joins (see :func:`conv_matrix_kernel`).

    Returns
    -------
    tuple
        :func:`conv_matrix_kernel`'s or :func:`conv_transpose_matrix_kernel`'s result.

    Example
    -------
    >>> from speechbrain_atkl.models.complex_nn import ComplexConv2d
    >>> matrix, shift, scale, signs, geometry = matrix_kernel(ComplexConv2d(2, 4), 16)
    >>> tuple(matrix.shape), scale is None
    ((20, 4), True)
    """
    if isinstance(layer, ComplexConvTranspose2d):
        return conv_transpose_matrix_kernel(layer, freq, split, sources)
    return conv_matrix_kernel(layer, freq, split, sources)


def conv_matrix_kernel(conv, freq, split=False, sources=1):
    """The kernel of :func:`row_step` for a complex causal convolution.

    Arguments
    ---------
    conv : speechbrain_atkl.models.complex_nn.ComplexConv2d
        The layer.
    freq : int
        Input frequency bins.
    split : bool
        The form of the product (see :func:`row_step`).
    sources : int
        How many stacked complex tensors of equal channels the input frame
        joins (each ``[real | imag]``: the input is ``torch.cat(sources,
        -1)``, not :func:`~speechbrain_atkl.models.complex_nn.complex_cat`).

    Returns
    -------
    tuple
        ``(matrix, shift, scale, signs, geometry)``: the matrix, rows ordered
        (frame, window row, channel); the output map; the ints of the
        windows' geometry.
    """
    real, imag, freq_pad = conv.real, conv.imag, conv.freq_pad
    half_out, half_in, kernel_freq, kernel_time = real.weight.shape
    stride = real.stride[0]
    units = (freq + 2 * freq_pad - kernel_freq) // stride + 1
    back = max(0, stride * (units - 1) + kernel_freq - freq - freq_pad)
    weights = [w.permute(3, 2, 1, 0).reshape(-1, half_in, 1, half_out) for w in (real.weight, imag.weight)]
    geometry = (freq_pad, back, 0, kernel_freq, stride, units, 2 * half_out, 0, units)
    return _matrix_kernel(*weights, real.bias, imag.bias, geometry, split, sources)


def conv_transpose_matrix_kernel(deconv, freq, split=False, sources=1):
    """The kernel of :func:`row_step` for a complex transposed convolution over frequency.

    The output row ``r = stride * m + p`` of a transposed convolution sums
    input rows ``m - j`` against the taps ``stride * j + p``: for each output
    phase ``p`` an ordinary convolution over a window of ``ceil(kernel_freq /
    stride)`` input rows. The matrix holds all phases, for the input frames
    oldest first against the time-reversed taps; output frame ``t`` of a
    causal layer, ``t - kernel_time + 1`` of a look-ahead one.

    Arguments
    ---------
    deconv : speechbrain_atkl.models.complex_nn.ComplexConvTranspose2d
        The layer; the output rows it drops in front (``freq_crop``) are
        dropped here too, ``stride * freq`` rows are kept.
    freq : int
        Input frequency bins.
    split : bool
        The form of the product (see :func:`row_step`).
    sources : int
        See :func:`conv_matrix_kernel`.

    Returns
    -------
    tuple
        As :func:`conv_matrix_kernel`.
    """
    real, imag, freq_crop = deconv.real, deconv.imag, deconv.freq_crop
    half_in, half_out, kernel_freq, kernel_time = real.weight.shape
    stride = real.stride[0]
    window = -(-kernel_freq // stride)
    first, end = freq_crop // stride, -(-(freq_crop + stride * freq) // stride)
    weights = []
    for weight in (real.weight, imag.weight):
        taps = F.pad(weight, (0, 0, 0, window * stride - kernel_freq)).flip(-1)  # oldest frame first
        # (in, out, window j, phase p, time) -> (time, input row m - j ascending, in, phase, out).
        taps = taps.view(half_in, half_out, window, stride, kernel_time).flip(2)
        weights.append(taps.permute(4, 2, 0, 3, 1).reshape(-1, half_in, stride, half_out))
    # Output group m reads input rows m - window + 1 ... m: padded so that every group's rows exist.
    front = max(0, window - 1 - first)
    geometry = (front, max(0, end - freq), first - window + 1 + front, window, 1, end - first, 2 * half_out)
    geometry += (freq_crop % stride, stride * freq)
    return _matrix_kernel(*weights, real.bias, imag.bias, geometry, split, sources)


def row_step(history, frame, kernel):
    """The newest output frame of a complex (transposed) convolution, as one matrix product.

    Two forms of the product give the same values. Block (``split=False``
    kernels): each window, both parts, against the 2x2 block of real and
    imaginary weights, batch norm folded into the columns: one product and
    nothing else. Split: each part's window is a row of its own, against the
    real and imaginary weights side by side, each read once (half the bytes:
    the large layers are memory-bound at one frame), then combined as a
    complex product and the output map.

    Arguments
    ---------
    history : torch.Tensor
        ``(batch, kernel_time - 1, padded_freq, in_channels)``: the previous
        input frames, oldest first, zero-padded along frequency (what the
        previous step returned; zeros at the start).
    frame : torch.Tensor
        ``(batch, 1, freq, in_channels)``: the newest input frame.
    kernel : tuple
        :func:`matrix_kernel`'s result.

    Returns
    -------
    out : torch.Tensor
        ``(batch, 1, out_freq, out_channels)``.
    history : torch.Tensor
        The history for the next step.

    Example
    -------
    >>> from speechbrain_atkl.models.complex_nn import ComplexConv2d
    >>> from speechbrain_atkl.streaming.frame_steps import conv_frame_step
    >>> conv, x = ComplexConv2d(6, 8, init="pytorch"), torch.randn(1, 6, 16, 2)
    >>> rows = x.permute(0, 3, 2, 1)  # (batch, frames, freq, channels)
    >>> for split in (False, True):
    ...     kernel = matrix_kernel(conv, 16, split)
    ...     front, back = kernel[-1][:2]
    ...     history = torch.nn.functional.pad(rows[:, :1], (0, 0, front, back))
    ...     out, history = row_step(history, rows[:, 1:], kernel)
    ...     print(torch.allclose(out[:, 0], conv_frame_step(conv, x)[..., 0].transpose(1, 2), atol=1e-5))
    True
    True
    """
    matrix, shift, scale, signs, geometry = kernel
    front, back, offset, window, step, units, out_channels, first_row, rows, sources = geometry
    # (Slices that would keep everything are skipped: every operation has a fixed cost here.)
    padded = F.pad(frame, (0, 0, front, back))
    frames = torch.cat([history, padded], 1)
    batch, channels = frames.shape[0], frames.shape[3]
    flat = frames.flatten(2)
    if offset:
        flat = flat[..., offset * channels :]
    windows = flat.unfold(2, window * channels, step * channels)  # (batch, time, unit, window)
    if windows.shape[2] != units:
        windows = windows[:, :, :units]
    if scale is None:
        out = torch.addmm(shift, windows.transpose(1, 2).reshape(-1, matrix.shape[0]), matrix)
    else:
        # Windows (batch, unit, input part, time, window row, source, channel), then the complex product.
        windows = windows.unflatten(3, (window, sources, 2, -1)).permute(0, 2, 5, 1, 3, 4, 6)
        out = torch.mm(windows.reshape(-1, matrix.shape[0]), matrix)
        real_in, imag_in = out.view(batch, units, 2, 2, -1, out_channels // 2).unbind(2)
        out = torch.addcmul(shift, torch.addcmul(real_in, imag_in.flip(2), signs), scale)
        out = out.transpose(2, 3)  # (batch, unit, phase, output part, channel)
    out = out.reshape(batch, 1, -1, out_channels)
    if first_row or out.shape[2] != rows:
        out = out[:, :, first_row : first_row + rows]
    return out, (padded if frames.shape[1] == 2 else frames[:, 1:])


def fold_batch_norm(kernel, norm):
    """Folds an eval-mode ``nn.BatchNorm2d`` after a step into its kernel.

    Arguments
    ---------
    kernel : tuple
        :func:`matrix_kernel`'s result.
    norm : torch.nn.Module
        The normalisation that follows.

    Returns
    -------
    tuple
        ``(kernel, rest)``: the folded kernel and the module still to apply
        (``nn.Identity`` once folded; ``norm`` itself, kernel unchanged, when
        it is not a ``BatchNorm2d``, e.g. the complex one, which mixes real
        and imaginary parts).

    Example
    -------
    >>> from speechbrain_atkl.models.complex_nn import ComplexConv2d
    >>> norm = nn.BatchNorm2d(2).eval()
    >>> _ = norm.running_mean.fill_(1.0)
    >>> kernel, rest = fold_batch_norm(matrix_kernel(ComplexConv2d(2, 2, init="reference"), 4), norm)
    >>> [round(b, 4) for b in kernel[1].tolist()], type(rest).__name__
    ([-1.0, -1.0], 'Identity')
    """
    if not isinstance(norm, nn.BatchNorm2d):
        return kernel, norm
    matrix, shift, scale, signs, geometry = kernel
    norm_scale, norm_shift = batch_norm_map(norm)
    if scale is None:  # block form: every column, phases first
        phases = shift.shape[0] // norm_scale.shape[0]
        norm_scale, norm_shift = norm_scale.repeat(phases), norm_shift.repeat(phases)
        return (matrix * norm_scale, shift * norm_scale + norm_shift, None, None, geometry), nn.Identity()
    norm_scale, norm_shift = norm_scale.view(scale.shape), norm_shift.view(scale.shape)
    return (matrix, shift * norm_scale + norm_shift, scale * norm_scale, signs, geometry), nn.Identity()
