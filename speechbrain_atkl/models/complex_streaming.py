"""One-frame (streaming) steps of the complex layers as matrix products.

Streaming computes one output frame per call. As a convolution over a
one-frame window, PyTorch runs it with its slow non-oneDNN kernels and a
few dozen tensor operations; here each step is a gather of the input values
each output needs (``im2col``, one indexed read) and one matrix product
against a kernel matrix assembled once (the layers' ``step_matrix`` methods
in :mod:`~speechbrain_atkl.models.complex_nn` give it).
:class:`~speechbrain_atkl.inference.streaming.StreamingStep` runs these steps,
folds batch normalisation into the matrices (:func:`fold_batch_norm`) and
steps the LSTMs with :func:`lstm_step`. (onnxruntime runs the gathers slower
than its one-frame convolutions: the ONNX graph keeps the latter.)

Authors
 * speechbrain-atkl developers 2026
"""

import torch
import torch.nn.functional as F
from torch import nn


def _window_index(rows, in_channels, freq, kernel_time):
    # Gather index, (outputs, rows.shape[1] * kernel_time * in_channels), of the values each output
    # reads from flattened (in_channels, freq, kernel_time) frames with one zero appended: input rows
    # `rows` (outputs, taps), out-of-range rows reading the zero.
    inside = (rows >= 0) & (rows < freq)
    position = rows[:, :, None, None] * kernel_time + torch.arange(kernel_time)[:, None]
    position = position + freq * kernel_time * torch.arange(in_channels)
    zero = in_channels * freq * kernel_time
    return torch.where(inside[:, :, None, None], position, zero).flatten()


def _gather_columns(frames, index, width):
    # The (batch * outputs, width) matrix of the values each output reads (im2col), in one gather.
    x = F.pad(frames.flatten(1), (0, 1))
    return x.index_select(1, index).view(-1, width)


def conv_step_kernel(weight, bias, freq, stride, freq_pad):
    """The kernel of :func:`conv_step` for a causal 2-D convolution.

    Arguments
    ---------
    weight : torch.Tensor
        ``(out_channels, in_channels, kernel_freq, kernel_time)``, as for ``F.conv2d``.
    bias : torch.Tensor
        ``(out_channels,)``.
    freq : int
        Input frequency bins.
    stride : int
        Frequency stride.
    freq_pad : int
        Zero bins added on each side of the frequency axis.

    Returns
    -------
    tuple
        ``(matrix, bias, index)``: ``matrix`` ``(kernel_freq * kernel_time *
        in_channels, out_channels)``, ``bias`` ``(out_channels,)`` and the
        gather ``index`` of the input values.
    """
    out_channels, in_channels, kernel_freq, kernel_time = weight.shape
    out_freq = (freq + 2 * freq_pad - kernel_freq) // stride + 1
    rows = stride * torch.arange(out_freq)[:, None] + torch.arange(kernel_freq) - freq_pad
    matrix = weight.permute(2, 3, 1, 0).reshape(-1, out_channels)
    return matrix, bias, _window_index(rows, in_channels, freq, kernel_time)


def conv_step(frames, kernel):
    """The newest output frame of a causal convolution, as one matrix product.

    Arguments
    ---------
    frames : torch.Tensor
        ``(batch, in_channels, freq, kernel_time)``: the last input frames, oldest first.
    kernel : tuple
        :func:`conv_step_kernel`'s result.

    Returns
    -------
    torch.Tensor
        ``(batch, out_channels, out_freq, 1)``.

    Example
    -------
    >>> weight, bias, x = torch.randn(4, 3, 5, 2), torch.randn(4), torch.randn(1, 3, 16, 2)
    >>> out = conv_step(x, conv_step_kernel(weight, bias, 16, 2, 2))
    >>> torch.allclose(out, F.conv2d(F.pad(x, (0, 0, 2, 2)), weight, bias, (2, 1)), atol=1e-5)
    True
    """
    matrix, bias, index = kernel
    columns = _gather_columns(frames, index, matrix.shape[0])
    # Sizes other than the batch come from the kernel (an ONNX graph keeps the batch dynamic).
    outputs = index.shape[0] // matrix.shape[0]
    return torch.addmm(bias, columns, matrix).view(-1, outputs, matrix.shape[1], 1).transpose(1, 2)


def conv_transpose_step_kernel(weight, bias, freq, stride, freq_crop):
    """The kernel of :func:`conv_transpose_step` for a transposed convolution over frequency.

    The output row ``r = stride * m + p`` of a transposed convolution sums
    input rows ``m - j`` against the taps ``stride * j + p``: for each output
    phase ``p`` an ordinary convolution over a window of ``ceil(kernel_freq /
    stride)`` input rows. The matrix holds all phases, for the input frames
    oldest first against the time-reversed taps.

    Arguments
    ---------
    weight : torch.Tensor
        ``(in_channels, out_channels, kernel_freq, kernel_time)``, as for ``F.conv_transpose2d``.
    bias : torch.Tensor
        ``(out_channels,)``.
    freq : int
        Input frequency bins.
    stride : int
        Frequency stride (upsampling factor).
    freq_crop : int
        Output rows dropped in front; ``stride * freq`` rows are kept.

    Returns
    -------
    tuple
        ``(matrix, bias, index, stride, first_row)``: ``matrix`` ``(window *
        kernel_time * in_channels, stride * out_channels)``, ``bias``
        ``(stride * out_channels,)``, the gather ``index`` of the input
        values, the stride and the first kept row of the product's output.
    """
    in_channels, out_channels, kernel_freq, kernel_time = weight.shape
    window = -(-kernel_freq // stride)
    first, end = freq_crop // stride, -(-(freq_crop + stride * freq) // stride)
    taps = F.pad(weight, (0, 0, 0, window * stride - kernel_freq)).flip(-1)  # oldest frame first
    # (in, out, window j, phase p, time) -> rows (j, time, in), columns (p, out).
    taps = taps.view(in_channels, out_channels, window, stride, kernel_time)
    matrix = taps.permute(2, 4, 0, 3, 1).reshape(-1, stride * out_channels)
    rows = torch.arange(first, end)[:, None] - torch.arange(window)  # output group m reads rows m - j
    index = _window_index(rows, in_channels, freq, kernel_time)
    return matrix, bias.repeat(stride), index, stride, freq_crop % stride


def conv_transpose_step(frames, kernel):
    """The output frame of a transposed convolution for its last input frames, as one matrix product.

    Arguments
    ---------
    frames : torch.Tensor
        ``(batch, in_channels, freq, kernel_time)``: the last input frames, oldest first.
    kernel : tuple
        :func:`conv_transpose_step_kernel`'s result.

    Returns
    -------
    torch.Tensor
        ``(batch, out_channels, stride * freq, 1)``.

    Example
    -------
    >>> weight, bias, x = torch.randn(3, 4, 5, 1), torch.randn(4), torch.randn(1, 3, 8, 1)
    >>> out = conv_transpose_step(x, conv_transpose_step_kernel(weight, bias, 8, 2, 2))
    >>> torch.allclose(out, F.conv_transpose2d(x, weight, bias, (2, 1))[:, :, 2:18], atol=1e-5)
    True
    """
    matrix, bias, index, stride, first_row = kernel
    freq = frames.shape[2]
    columns = _gather_columns(frames, index, matrix.shape[0])
    # Columns (phase, channel): the output rows stride * m + phase follow each other.
    rows = stride * index.shape[0] // matrix.shape[0]
    out = torch.addmm(bias, columns, matrix).view(-1, rows, matrix.shape[1] // stride)
    return out[:, first_row : first_row + stride * freq].transpose(1, 2)[..., None]
def fold_batch_norm(matrix, bias, norm):
    """Folds an eval-mode ``nn.BatchNorm2d`` after a step into its matrix and bias.

    Arguments
    ---------
    matrix, bias : torch.Tensor
        ``(inputs, columns)`` and ``(columns,)``, the output channel varying
        fastest along the columns (``columns`` a multiple of the channels).
    norm : torch.nn.Module
        The normalisation that follows.

    Returns
    -------
    tuple
        ``(matrix, bias, rest)``: the folded matrix and bias and the module
        still to apply (``nn.Identity`` once folded; ``norm`` itself when it is
        not a ``BatchNorm2d``, e.g. the complex one, which mixes channels).

    Example
    -------
    >>> norm = nn.BatchNorm2d(2).eval()
    >>> _ = norm.running_mean.fill_(1.0)
    >>> matrix, bias, rest = fold_batch_norm(torch.eye(2), torch.zeros(2), norm)
    >>> [round(b, 4) for b in bias.tolist()], type(rest).__name__
    ([-1.0, -1.0], 'Identity')
    """
    if not isinstance(norm, nn.BatchNorm2d):
        return matrix, bias, norm
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    shift = norm.bias - norm.running_mean * scale
    repeat = matrix.shape[1] // scale.shape[0]
    scale, shift = scale.repeat(repeat), shift.repeat(repeat)
    return matrix * scale, bias * scale + shift, nn.Identity()


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
