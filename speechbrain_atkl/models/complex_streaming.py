"""One-frame (streaming) steps of the complex layers as matrix products.

Streaming computes one output frame per call. As a convolution over a
one-frame window, PyTorch runs it with its slow non-oneDNN kernels and a
few dozen tensor operations; here each step is one matrix product of the
windows each output reads (``im2col``) against a kernel matrix assembled
once (the layers' ``step_matrix`` methods in
:mod:`~speechbrain_atkl.models.complex_nn` give it), with batch
normalisation folded into its columns (:func:`fold_batch_norm`).

The frames are kept **rows-first**: ``(batch, freq, channels)``, the stacked
``[real | imag]`` channels last, and a layer keeps its past input frames
zero-padded along frequency, ``(batch, past frames, padded freq,
channels)``. Each output's window (its input rows, past frames and newest
frame, every channel) is then a strided view of the frames, copied by the
matrix product's reshape, rather than a gather of single values.
:class:`~speechbrain_atkl.inference.streaming_step.StreamingStep` runs these steps
and steps the LSTMs with :func:`lstm_step`. (onnxruntime runs the matrix
form slower than its one-frame convolutions: the ONNX graph keeps the
latter.)

Authors
 * speechbrain-atkl developers 2026
"""

import torch
import torch.nn.functional as F
from torch import nn


def _step_kernel(real, imag, real_bias, imag_bias, geometry, split, sources):
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


def conv_step_kernel(real, imag, freq, freq_pad, split=False, sources=1):
    """The kernel of :func:`row_step` for a complex causal convolution.

    Arguments
    ---------
    real, imag : torch.nn.Conv2d
        The convolutions of the real and imaginary weights
        (:class:`~speechbrain_atkl.models.complex_nn.ComplexConv2d`).
    freq : int
        Input frequency bins.
    freq_pad : int
        Zero bins on each side of the frequency axis.
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
    half_out, half_in, kernel_freq, kernel_time = real.weight.shape
    stride = real.stride[0]
    units = (freq + 2 * freq_pad - kernel_freq) // stride + 1
    back = max(0, stride * (units - 1) + kernel_freq - freq - freq_pad)
    weights = [w.permute(3, 2, 1, 0).reshape(-1, half_in, 1, half_out) for w in (real.weight, imag.weight)]
    geometry = (freq_pad, back, 0, kernel_freq, stride, units, 2 * half_out, 0, units)
    return _step_kernel(*weights, real.bias, imag.bias, geometry, split, sources)


def conv_transpose_step_kernel(real, imag, freq, freq_crop, split=False, sources=1):
    """The kernel of :func:`row_step` for a complex transposed convolution over frequency.

    The output row ``r = stride * m + p`` of a transposed convolution sums
    input rows ``m - j`` against the taps ``stride * j + p``: for each output
    phase ``p`` an ordinary convolution over a window of ``ceil(kernel_freq /
    stride)`` input rows. The matrix holds all phases, for the input frames
    oldest first against the time-reversed taps; output frame ``t`` of a
    causal layer, ``t - kernel_time + 1`` of a look-ahead one.

    Arguments
    ---------
    real, imag : torch.nn.ConvTranspose2d
        The transposed convolutions of the real and imaginary weights
        (:class:`~speechbrain_atkl.models.complex_nn.ComplexConvTranspose2d`).
    freq : int
        Input frequency bins.
    freq_crop : int
        Output rows dropped in front; ``stride * freq`` rows are kept.
    split : bool
        The form of the product (see :func:`row_step`).
    sources : int
        See :func:`conv_step_kernel`.

    Returns
    -------
    tuple
        As :func:`conv_step_kernel`.
    """
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
    return _step_kernel(*weights, real.bias, imag.bias, geometry, split, sources)


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
        :func:`conv_step_kernel`'s or :func:`conv_transpose_step_kernel`'s result.

    Returns
    -------
    out : torch.Tensor
        ``(batch, 1, out_freq, out_channels)``.
    history : torch.Tensor
        The history for the next step.

    Example
    -------
    >>> from speechbrain_atkl.models.complex_nn import ComplexConv2d
    >>> conv, x = ComplexConv2d(6, 8, init="pytorch"), torch.randn(1, 6, 16, 2)
    >>> rows = x.permute(0, 3, 2, 1)  # (batch, frames, freq, channels)
    >>> for split in (False, True):
    ...     kernel = conv.step_matrix(16, split)
    ...     front, back = kernel[-1][:2]
    ...     history = torch.nn.functional.pad(rows[:, :1], (0, 0, front, back))
    ...     out, history = row_step(history, rows[:, 1:], kernel)
    ...     print(torch.allclose(out[:, 0], conv.step(x)[..., 0].transpose(1, 2), atol=1e-5))
    True
    True
    """
    matrix, shift, scale, signs, geometry = kernel
    front, back, offset, window, step, units, out_channels, first_row, rows, sources = geometry
    # (Slices that would keep everything are skipped: each operation costs microseconds here.)
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
        :func:`conv_step_kernel`'s or :func:`conv_transpose_step_kernel`'s result.
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
    >>> kernel, rest = fold_batch_norm(ComplexConv2d(2, 2, init="reference").step_matrix(4), norm)
    >>> [round(b, 4) for b in kernel[1].tolist()], type(rest).__name__
    ([-1.0, -1.0], 'Identity')
    """
    if not isinstance(norm, nn.BatchNorm2d):
        return kernel, norm
    matrix, shift, scale, signs, geometry = kernel
    norm_scale, norm_shift = _batch_norm_map(norm)
    if scale is None:  # block form: every column, phases first
        phases = shift.shape[0] // norm_scale.shape[0]
        norm_scale, norm_shift = norm_scale.repeat(phases), norm_shift.repeat(phases)
        return (matrix * norm_scale, shift * norm_scale + norm_shift, None, None, geometry), nn.Identity()
    norm_scale, norm_shift = norm_scale.view(scale.shape), norm_shift.view(scale.shape)
    return (matrix, shift * norm_scale + norm_shift, scale * norm_scale, signs, geometry), nn.Identity()


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
        ``((weight, bias), rest)`` as for :func:`fold_batch_norm`.

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
    scale, shift = _batch_norm_map(norm)
    shape = [1] * weight.dim()
    shape[out_dim] = -1
    return (weight * scale.view(shape), bias * scale + shift), nn.Identity()


def _batch_norm_map(norm):
    # An eval-mode batch norm as scale * x + shift, per channel.
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    return scale, norm.bias - norm.running_mean * scale


def lstm_step_weights(lstms):
    """The matrix and bias of :func:`lstm_step` for LSTM layers that read the same input.

    Arguments
    ---------
    lstms : sequence of torch.nn.LSTM
        One-layer LSTMs of equal sizes; :func:`lstm_step` runs them side by side.

    Returns
    -------
    tuple
        ``(matrix, bias)``: ``matrix`` ``(inputs + len(lstms) * hidden,
        len(lstms) * 4 * hidden)`` acting on ``[input, h_1, h_2, ...]``, its
        gate columns ordered input, forget, output, cell per LSTM.
    """
    return _stack_lstm_weights([(lstm, 0) for lstm in lstms])


def lstm_layer_weights(lstm, layer):
    """:func:`lstm_step_weights` of layer ``layer`` of a multi-layer ``nn.LSTM``."""
    return _stack_lstm_weights([(lstm, layer)])


def _stack_lstm_weights(layers):
    hidden = layers[0][0].hidden_size
    count = len(layers)
    # PyTorch orders the gates input, forget, cell, output: put the cell gate last.
    order = torch.cat([torch.arange(2 * hidden), torch.arange(3 * hidden, 4 * hidden)])
    order = torch.cat([order, torch.arange(2 * hidden, 3 * hidden)])
    inputs, recurrent, biases = [], [], []
    for i, (lstm, layer) in enumerate(layers):
        w_ih, w_hh = getattr(lstm, f"weight_ih_l{layer}"), getattr(lstm, f"weight_hh_l{layer}")
        inputs.append(w_ih[order].T)
        block = w_hh.new_zeros(count * hidden, 4 * hidden)
        block[i * hidden : (i + 1) * hidden] = w_hh[order].T
        recurrent.append(block)
        biases.append((getattr(lstm, f"bias_ih_l{layer}") + getattr(lstm, f"bias_hh_l{layer}"))[order])
    return torch.cat([torch.cat(inputs, 1), torch.cat(recurrent, 1)]), torch.cat(biases)


def lstm_step(x, h, c, weights):
    """One time step of LSTMs that read the same input, as one matrix product.

    Arguments
    ---------
    x : torch.Tensor
        ``(rows, inputs)``.
    h, c : torch.Tensor
        ``(rows, count, hidden)``: the states of the ``count`` LSTMs.
    weights : tuple
        :func:`lstm_step_weights`' result.

    Returns
    -------
    tuple
        The new ``(h, c)``, ``(rows, count, hidden)``.

    Example
    -------
    >>> lstm = nn.LSTM(3, 4, batch_first=True)
    >>> x, h, c = torch.randn(2, 3), torch.randn(2, 1, 4), torch.randn(2, 1, 4)
    >>> new_h, new_c = lstm_step(x, h, c, lstm_step_weights([lstm]))
    >>> _, (ref_h, ref_c) = lstm(x[:, None], (h.transpose(0, 1), c.transpose(0, 1)))
    >>> torch.allclose(new_h, ref_h.transpose(0, 1), atol=1e-6)
    True
    """
    matrix, bias = weights
    gates = torch.addmm(bias, torch.cat([x, h.flatten(1)], 1), matrix).view(-1, c.shape[1], 4, c.shape[2])
    sigmoid = gates[:, :, :3].sigmoid()
    c = sigmoid[:, :, 1] * c + sigmoid[:, :, 0] * gates[:, :, 3].tanh()
    return sigmoid[:, :, 2] * c.tanh(), c
