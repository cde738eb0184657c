"""A streaming hop that also tells whether what it produced is all finite.

:class:`CheckedStep` wraps a :class:`~speechbrain_atkl.streaming.step.StreamingStep`
for both of its callers: :class:`~speechbrain_atkl.streaming.enhancer.StreamingEnhancer`
(the state as the step's separate tensors) and the streaming ONNX graph (the
state packed in one tensor, ``packed=True``, see
:mod:`~speechbrain_atkl.streaming.onnx_stream`). A stream refuses a hop whose
output or new state is not all finite and keeps its old state.

Authors
 * speechbrain-atkl developers 2026
"""

import math

import torch
from torch import nn


def all_finite(tensors):
    """Whether every value of ``tensors`` is finite, as a 0-d bool tensor (True for none).

    One pass: the least and greatest values, which NaN and infinities reach,
    are finite (cheaper than ``isfinite(...).all()`` on the same values;
    ``docs/benchmarks.md``, "Streaming and ONNX speed").

    Arguments
    ---------
    tensors : sequence of torch.Tensor
        Tensors of any shapes.

    Returns
    -------
    torch.Tensor
        A 0-d bool tensor.

    Example
    -------
    >>> bool(all_finite([torch.zeros(2, 3), torch.ones(4)])), bool(all_finite([torch.tensor([1.0, float("nan")])]))
    (True, False)
    """
    flat = torch.cat([t.flatten() for t in tensors])
    if flat.numel() == 0:
        return torch.tensor(True)
    return torch.isfinite(torch.stack(torch.aminmax(flat))).all()


class CheckedStep(nn.Module):
    """A :class:`~speechbrain_atkl.streaming.step.StreamingStep` that also tells whether
    its output and new state are all finite.

    One reduction over the values the hop produced (fused into the step when
    compiled), in place of a pass over the whole state after it. The state
    travels either as the step's tensors or packed: flattened and side by side
    in one ``(batch, state_size)`` tensor, in :attr:`StreamingStep.state_shapes
    <speechbrain_atkl.streaming.step.StreamingStep.state_shapes>` order (the
    streaming ONNX graph's interface: one input to bind instead of two dozen).

    Arguments
    ---------
    step : StreamingStep
        The hop to run.
    packed : bool
        Pass the state as one ``(batch, state_size)`` tensor instead of the
        step's tensors.

    Example
    -------
    >>> from speechbrain_atkl.models.dccrn import DCCRN
    >>> from speechbrain_atkl.streaming.step import StreamingStep
    >>> step = StreamingStep(DCCRN(channels=[8] * 6, rnn_units=16).eval())
    >>> checked = CheckedStep(step)
    >>> out, finite, *state = checked(torch.randn(1, 100), torch.ones(1), *checked.initial_state(1))
    >>> bool(finite), out.shape, len(state) == len(step.state_shapes)
    (True, torch.Size([1, 100]), True)
    >>> packed = CheckedStep(step, packed=True)
    >>> out, finite, state = packed(torch.randn(1, 100), torch.ones(1), packed.initial_state(1))
    >>> bool(finite), state.shape == (1, packed.state_size)
    (True, True)
    """

    def __init__(self, step, packed=False):
        super().__init__()
        self.step = step
        self.packed = packed
        self.shapes = list(step.state_shapes.values())
        self.sizes = [math.prod(shape) for shape in self.shapes]
        #: Values per stream in the state, packed or not.
        self.state_size = sum(self.sizes)

    def initial_state(self, batch_size):
        """The zero state of ``batch_size`` streams: the step's tensors, or ``(batch_size, state_size)`` packed."""
        state = self.step.initial_state(batch_size)
        return torch.cat([t.flatten(1) for t in state], 1) if self.packed else state

    def forward(self, audio, valid, *state):
        """Enhances one hop.

        Arguments
        ---------
        audio : torch.Tensor
            ``(batch, hop_length)``: the next input samples.
        valid : torch.Tensor
            ``(batch,)``: see :meth:`StreamingStep.forward
            <speechbrain_atkl.streaming.step.StreamingStep.forward>`.
        *state : torch.Tensor
            The step's state tensors, or the one packed ``(batch, state_size)`` tensor.

        Returns
        -------
        enhanced : torch.Tensor
            ``(batch, hop_length)`` completed output samples.
        finite : torch.Tensor
            0-d bool: whether ``enhanced`` and the new state are all finite.
        *state : torch.Tensor
            The new state, as it came in.
        """
        if not self.packed:
            out, *state = self.step(audio, valid, *state)
            return (out, all_finite([out, *state]), *state)
        # (Batch sizes are written -1, so that the ONNX graph keeps them dynamic.)
        parts = [part.reshape(-1, *shape) for part, shape in zip(state[0].split(self.sizes, 1), self.shapes)]
        out, *parts = self.step(audio, valid, *parts)
        packed = torch.cat([part.reshape(-1, size) for part, size in zip(parts, self.sizes)], 1)
        # Two reductions rather than one over [out, state]: no copy of the state to join them.
        return out, all_finite([out]) & all_finite([packed]), packed
