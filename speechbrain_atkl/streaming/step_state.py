"""The state of a streaming hop: its tensors' names and shapes, and its update.

A :class:`~speechbrain_atkl.streaming.step.StreamingStep` keeps its state as
explicit tensors, each with the batch on axis 0 and zeros at the start, in
the order :func:`state_shapes` lists them:

* ``stft_context`` ``(batch, win_length - hop_length)``: the last input samples;
* ``encoder{i}``: the previous input frames of encoder block ``i``;
* ``rnn_h``, ``rnn_c``: LSTM states, ``(batch, layers, units)`` for a real
  LSTM, ``(batch, layers, 2, 2, units / 2)`` for a complex one (axis 2:
  applied to the real or imaginary input; axis 3: the LSTM of the real or
  imaginary weights);
* ``decoder{j}``: the previous input frames of decoder block ``j`` (0 is
  the deepest);
* ``skip{j}``: the encoder outputs waiting for decoder block ``j`` (only
  where that block is ``lag > 0`` frames late);
* ``spectrum``: the noisy spectrum waiting for its mask, and
  ``valid_history`` ``(batch, lookahead_frames)``: the recent ``valid``
  flags (both only with look-ahead);
* ``overlap`` ``(batch, win_length - hop_length)``: overlap-add partial sums.

The frames' layout depends on the step's form. Matrix steps keep them
rows-first (:mod:`~speechbrain_atkl.streaming.row_steps`):
``encoder{i}``/``decoder{j}`` ``(batch, kernel_time - 1, padded freq,
channels)``, ``skip{j}`` ``(batch, lag, freq, channels)``, ``spectrum``
``(batch, lookahead_frames, n_fft // 2 + 1, 2)``. Convolution steps
(:mod:`~speechbrain_atkl.streaming.frame_steps`) keep the model's layout:
``encoder{i}`` ``(batch, channels, freq, kernel_time - 1)``, ``decoder{j}``
``(batch, (kernel_time - 1) * channels, freq, 1)`` (the frames on the channel
axis, as the one-frame transposed convolution reads them; the input channels
are ``[x | skip]``, each ``[real | imag]``), ``(batch, lag, channels, freq)``
and ``(batch, lookahead_frames, 2, n_fft // 2 + 1)``.

Authors
 * speechbrain-atkl developers 2026
"""

import torch


def state_shapes(model, layer_shapes, decoder_lags, rows_first):
    """The state tensors of a hop, by name, in the order a step takes them.

    Arguments
    ---------
    model : speechbrain_atkl.models.dccrn.DCCRN
        The model.
    layer_shapes : dict
        ``encoder{i}`` and ``decoder{j}``: the shape of each layer's past
        frames, batch left out (they depend on the form).
    decoder_lags : list of int
        How many frames each decoder block's input lags behind the encoder.
    rows_first : bool
        The matrix form's frame layout, or the model's (see the module docstring).

    Returns
    -------
    dict
        ``{name: shape}``, each shape without the batch axis.

    Example
    -------
    >>> from speechbrain_atkl.models.dccrn import DCCRN
    >>> model = DCCRN(channels=[8] * 6, rnn_units=16, lookahead=0).eval()
    >>> layers = {f"{part}{i}": (1,) for part in ("encoder", "decoder") for i in range(6)}
    >>> shapes = state_shapes(model, layers, [0] * 6, rows_first=True)
    >>> shapes["stft_context"], shapes["rnn_h"], "spectrum" in shapes
    ((300,), (2, 16), False)
    """
    cfg = model.config
    context = model.stft.win_length - model.stft.hop_length
    bins = cfg["n_fft"] // 2
    widths = [2] + list(cfg["channels"])
    shapes = {"stft_context": (context,)}
    for i in range(len(model.encoder)):
        shapes[f"encoder{i}"] = layer_shapes[f"encoder{i}"]
    layers, units = cfg["rnn_layers"], cfg["rnn_units"]
    rnn = (layers, units) if cfg["rnn_type"] == "real" else (layers, 2, 2, units // 2)
    shapes["rnn_h"] = shapes["rnn_c"] = rnn
    depth = len(model.decoder)
    for j, lag in enumerate(decoder_lags):
        level = depth - 1 - j  # the encoder block whose output is skipped to decoder j
        shapes[f"decoder{j}"] = layer_shapes[f"decoder{j}"]
        if lag:
            frame = (widths[level + 1], bins >> (level + 1))
            shapes[f"skip{j}"] = (lag, *(frame[::-1] if rows_first else frame))
    if model.lookahead_frames:
        frame = (bins + 1, 2) if rows_first else (2, bins + 1)
        shapes["spectrum"] = (model.lookahead_frames, *frame)
        shapes["valid_history"] = (model.lookahead_frames,)
    shapes["overlap"] = (context,)
    return shapes


class StateUpdate:
    """The old state of a hop by name, and the new state as it is built.

    Arguments
    ---------
    names : list of str
        The state tensors' names, in order.
    state : sequence of torch.Tensor
        The old state, in ``names`` order.

    Example
    -------
    >>> update = StateUpdate(["context", "frames"], [torch.zeros(1, 2), torch.zeros(1, 1, 3)])
    >>> update.window("context", torch.ones(1, 3)).tolist()
    [[0.0, 0.0, 1.0, 1.0, 1.0]]
    >>> update.delay("frames", torch.ones(1, 1, 3), 1).tolist()  # the frame of one step ago
    [[[0.0, 0.0, 0.0]]]
    >>> [update.new[name].shape[1] for name in ("context", "frames")]
    [2, 1]
    """

    def __init__(self, names, state):
        self.old = dict(zip(names, state))
        self.new = {}

    def window(self, name, value):
        """The history ``name`` ``(batch, context)`` followed by ``value`` ``(batch, n)``; the history moves on."""
        joined = torch.cat([self.old[name], value], -1)
        self.new[name] = joined[:, value.shape[-1] :]
        return joined

    def delay(self, name, value, frames):
        """``value`` ``(batch, 1, ...)`` as it was ``frames`` steps ago (itself for 0).

        The history ``name`` ``(batch, frames, ...)`` keeps the frames on
        axis 1: moving on copies blocks.
        """
        if not frames:
            return value
        history = self.old[name]
        self.new[name] = value if frames == 1 else torch.cat([history[:, 1:], value], 1)
        return history[:, :1]
