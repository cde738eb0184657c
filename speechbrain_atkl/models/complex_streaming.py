"""One-frame (streaming) steps of the complex layers as matrix products.

Streaming computes one output frame per call. As a convolution over a
one-frame window, PyTorch runs it with its slow non-oneDNN kernels and a
few dozen tensor operations; here each step is a gather of the input values
each output needs (``im2col``, one indexed read) and one matrix product
against a kernel matrix assembled once (the layers' ``step_matrix`` methods
in :mod:`~speechbrain_atkl.models.complex_nn` give it). The matrix holds the
real and imaginary weights side by side, each once: the real and imaginary
input parts are rows of the product, combined afterwards as a complex
product, so a hop reads half the bytes of the stacked 2x2 block weight (the
large layers are memory-bound at one frame).
:class:`~speechbrain_atkl.inference.streaming.StreamingStep` runs these steps,
folds batch normalisation into their output scale and shift
(:func:`fold_batch_norm`) and steps the LSTMs with :func:`lstm_step`.
(onnxruntime runs the gathers slower than its one-frame convolutions: the
ONNX graph keeps the latter.)

Authors
 * speechbrain-atkl developers 2026
"""

import torch
import torch.nn.functional as F
from torch import nn


def _window_index(rows, channels, freq, kernel_time):
    # Gather index, (parts, outputs, taps, kernel_time, channels) flattened, of the values each
    # output reads from the flat input [history, frame, 0]: the history (2 * channels, freq,
    # kernel_time - 1) and the newest frame (2 * channels, freq), each flattened, and one zero.
    # For each part (real, imaginary) of the input, input rows `rows` (outputs, taps);
    # out-of-range rows read the zero.
    inside = ((rows >= 0) & (rows < freq))[:, :, None, None]
    rows, time = rows[:, :, None, None], torch.arange(kernel_time)[:, None]
    history = 2 * channels * freq * (kernel_time - 1)
    parts = []
    for part in range(2):
        channel = torch.arange(part * channels, (part + 1) * channels)
        past = (channel * freq + rows) * (kernel_time - 1) + time
        newest = history + channel * freq + rows
        parts.append(torch.where(inside, torch.where(time < kernel_time - 1, past, newest), history + 2 * channels * freq))
    return torch.stack(parts).flatten()


def _complex_product(history, frame, kernel, rows, phases):
    # One matrix product for both parts of the input against both weights (each weight read once),
    # combined as a complex product: real = Wr xr - Wi xi, imag = Wi xr + Wr xi, then the affine
    # output map (bias, folded batch norm). Returns (batch, rows, phases, 2 * channels).
    # (The window is read straight from the history and the new frame: concatenating them along
    # the time axis, innermost, would interleave every value.)
    matrix, scale, shift, signs, index = kernel[:5]
    flat = torch.cat([history.flatten(1), frame.flatten(1), frame.new_zeros(frame.shape[0], 1)], 1)
    x = flat.index_select(1, index).view(-1, matrix.shape[0])
    # Sizes other than the batch come from the kernel (an ONNX graph keeps the batch dynamic).
    real_in, imag_in = torch.mm(x, matrix).view(-1, 2, rows, phases, 2, scale.shape[1]).unbind(1)
    out = torch.addcmul(real_in, imag_in.flip(-2), signs)  # (batch, rows, phases, weight, channels)
    return torch.addcmul(shift, out, scale).flatten(-2)


def _output_map(real_bias, imag_bias):
    # (scale, shift, signs) of a complex layer's output: scale ones and shift [br - bi, br + bi],
    # (2, channels); the signs (2, 1) of the imaginary input's terms: -Wi xi (real), +Wr xi (imag).
    shift = torch.stack([real_bias - imag_bias, real_bias + imag_bias])
    return torch.ones_like(shift), shift, torch.tensor([[-1.0], [1.0]]).to(shift)


def conv_step_kernel(real, imag, freq, freq_pad):
    """The kernel of :func:`conv_step` for a complex causal convolution.

    Arguments
    ---------
    real, imag : torch.nn.Conv2d
        The convolutions of the real and imaginary weights
        (:class:`~speechbrain_atkl.models.complex_nn.ComplexConv2d`).
    freq : int
        Input frequency bins.
    freq_pad : int
        Zero bins added on each side of the frequency axis.

    Returns
    -------
    tuple
        ``(matrix, scale, shift, signs, index, out_freq)``: ``matrix``
        ``(kernel_freq * kernel_time * in_channels / 2, out_channels)``, the
        real and imaginary weights side by side; the output map ``scale * y +
        shift`` (``(2, out_channels / 2)``, see :func:`fold_batch_norm`); the
        signs of the complex product; the gather ``index`` of the input
        values; the output bins.
    """
    half_out, half_in, kernel_freq, kernel_time = real.weight.shape
    stride = real.stride[0]
    out_freq = (freq + 2 * freq_pad - kernel_freq) // stride + 1
    rows = stride * torch.arange(out_freq)[:, None] + torch.arange(kernel_freq) - freq_pad
    weights = [w.permute(2, 3, 1, 0).reshape(-1, half_out) for w in (real.weight, imag.weight)]
    index = _window_index(rows, half_in, freq, kernel_time)
    return (torch.cat(weights, 1), *_output_map(real.bias, imag.bias), index, out_freq)


def conv_step(history, frame, kernel):
    """The newest output frame of a complex causal convolution, as one matrix product.

    Arguments
    ---------
    history : torch.Tensor
        ``(batch, in_channels, freq, kernel_time - 1)``: the previous input frames, oldest first.
    frame : torch.Tensor
        ``(batch, in_channels, freq, 1)``: the newest input frame.
    kernel : tuple
        :func:`conv_step_kernel`'s result.

    Returns
    -------
    torch.Tensor
        ``(batch, out_channels, out_freq, 1)``.

    Example
    -------
    >>> from speechbrain_atkl.models.complex_nn import ComplexConv2d
    >>> conv, x = ComplexConv2d(6, 8, init="pytorch"), torch.randn(1, 6, 16, 2)
    >>> step = conv_step(x[..., :1], x[..., 1:], conv.step_matrix(16))
    >>> torch.allclose(step, conv.step(x), atol=1e-5)
    True
    """
    out_freq = kernel[5]
    out = _complex_product(history, frame, kernel, out_freq, 1)
    return out.view(-1, out_freq, out.shape[-1], 1).transpose(1, 2)


def conv_transpose_step_kernel(real, imag, freq, freq_crop):
    """The kernel of :func:`conv_transpose_step` for a complex transposed convolution over frequency.

    The output row ``r = stride * m + p`` of a transposed convolution sums
    input rows ``m - j`` against the taps ``stride * j + p``: for each output
    phase ``p`` an ordinary convolution over a window of ``ceil(kernel_freq /
    stride)`` input rows. The matrix holds all phases, for the input frames
    oldest first against the time-reversed taps.

    Arguments
    ---------
    real, imag : torch.nn.ConvTranspose2d
        The transposed convolutions of the real and imaginary weights
        (:class:`~speechbrain_atkl.models.complex_nn.ComplexConvTranspose2d`).
    freq : int
        Input frequency bins.
    freq_crop : int
        Output rows dropped in front; ``stride * freq`` rows are kept.

    Returns
    -------
    tuple
        ``(matrix, scale, shift, signs, index, groups, stride, first_row)``:
        ``matrix`` ``(window * kernel_time * in_channels / 2, stride *
        out_channels)``, columns (phase, weight, channel); the output map,
        signs and gather index as in :func:`conv_step_kernel`; the output
        groups of ``stride`` rows, the stride and the first kept row.
    """
    half_in, half_out, kernel_freq, kernel_time = real.weight.shape
    stride = real.stride[0]
    window = -(-kernel_freq // stride)
    first, end = freq_crop // stride, -(-(freq_crop + stride * freq) // stride)
    weights = []
    for weight in (real.weight, imag.weight):
        taps = F.pad(weight, (0, 0, 0, window * stride - kernel_freq)).flip(-1)  # oldest frame first
        # (in, out, window j, phase p, time) -> rows (j, time, in), columns (p, out).
        weights.append(taps.view(half_in, half_out, window, stride, kernel_time).permute(2, 4, 0, 3, 1))
    matrix = torch.stack(weights, -2).reshape(window * kernel_time * half_in, -1)
    rows = torch.arange(first, end)[:, None] - torch.arange(window)  # output group m reads rows m - j
    index = _window_index(rows, half_in, freq, kernel_time)
    return (matrix, *_output_map(real.bias, imag.bias), index, end - first, stride, freq_crop % stride)


def conv_transpose_step(history, frame, kernel):
    """The output frame of a complex transposed convolution for its last input frames, as one matrix product.

    Arguments
    ---------
    history : torch.Tensor
        ``(batch, in_channels, freq, kernel_time - 1)``: the previous input frames, oldest first.
    frame : torch.Tensor
        ``(batch, in_channels, freq, 1)``: the newest input frame.
    kernel : tuple
        :func:`conv_transpose_step_kernel`'s result.

    Returns
    -------
    torch.Tensor
        ``(batch, out_channels, stride * freq, 1)``.

    Example
    -------
    >>> from speechbrain_atkl.models.complex_nn import ComplexConvTranspose2d
    >>> deconv, x = ComplexConvTranspose2d(6, 4, init="pytorch"), torch.randn(1, 6, 8, 2)
    >>> step = conv_transpose_step(x[..., :1], x[..., 1:], deconv.step_matrix(8))
    >>> torch.allclose(step, deconv.step(x), atol=1e-5)
    True
    """
    groups, stride, first_row = kernel[5:]
    out = _complex_product(history, frame, kernel, groups, stride)  # rows stride * group + phase
    out = out.view(-1, groups * stride, out.shape[-1])[:, first_row : first_row + stride * frame.shape[2]]
    return out.transpose(1, 2)[..., None]


def fold_batch_norm(scale, shift, norm):
    """Folds an eval-mode ``nn.BatchNorm2d`` after a step into its output map ``scale * y + shift``.

    Arguments
    ---------
    scale, shift : torch.Tensor
        ``(2, channels / 2)``: the map of the stacked ``[real | imag]`` output channels.
    norm : torch.nn.Module
        The normalisation that follows.

    Returns
    -------
    tuple
        ``(scale, shift, rest)``: the folded map and the module still to
        apply (``nn.Identity`` once folded; ``norm`` itself when it is not a
        ``BatchNorm2d``, e.g. the complex one, which mixes real and imaginary
        parts).

    Example
    -------
    >>> norm = nn.BatchNorm2d(2).eval()
    >>> _ = norm.running_mean.fill_(1.0)
    >>> scale, shift, rest = fold_batch_norm(torch.ones(2, 1), torch.zeros(2, 1), norm)
    >>> [round(b, 4) for b in shift.flatten().tolist()], type(rest).__name__
    ([-1.0, -1.0], 'Identity')
    """
    if not isinstance(norm, nn.BatchNorm2d):
        return scale, shift, norm
    norm_scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    norm_shift = norm.bias - norm.running_mean * norm_scale
    norm_scale, norm_shift = norm_scale.view(scale.shape), norm_shift.view(scale.shape)
    return scale * norm_scale, shift * norm_scale + norm_shift, nn.Identity()


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
