"""One time step of the LSTM bottleneck as one matrix product.

The gates of one or several one-layer LSTMs that read the same input come
from one product of ``[input, h_1, h_2, ...]`` against a matrix assembled
once (:func:`lstm_step_weights`, :func:`lstm_layer_weights`), their gate
columns reordered so that the three sigmoid gates are contiguous.
:class:`~speechbrain_atkl.streaming.step.StreamingStep` steps the real LSTM's
layers one by one and the complex LSTM's real- and imaginary-weight LSTMs side
by side.

Authors
 * speechbrain-atkl developers 2026
"""

import torch


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

    Example
    -------
    >>> matrix, bias = lstm_step_weights([torch.nn.LSTM(3, 4), torch.nn.LSTM(3, 4)])
    >>> tuple(matrix.shape), tuple(bias.shape)
    ((11, 32), (32,))
    """
    return _stack_lstm_weights([(lstm, 0) for lstm in lstms])


def lstm_layer_weights(lstm, layer):
    """:func:`lstm_step_weights` of layer ``layer`` of a multi-layer ``nn.LSTM``.

    Example
    -------
    >>> matrix, bias = lstm_layer_weights(torch.nn.LSTM(3, 4, num_layers=2), 1)
    >>> tuple(matrix.shape)  # the second layer reads the first one's 4 outputs
    (8, 16)
    """
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
    >>> lstm = torch.nn.LSTM(3, 4, batch_first=True)
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
