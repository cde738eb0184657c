"""The streaming ONNX graph: what it holds, and :class:`OnnxStreamingEnhancer`, which drives it.

``export_onnx(model, path, streaming=True)``
(:func:`~speechbrain_atkl.inference.onnx_export.export_onnx`) writes one STFT
hop of a DCCRN-family model, the model state passed in and out as one tensor
(:func:`streaming_graph`: a :class:`~speechbrain_atkl.streaming.checked_step.CheckedStep`
with ``packed=True`` around the convolution form of
:class:`~speechbrain_atkl.streaming.step.StreamingStep`):

* inputs: ``audio`` ``(batch, hop_length)``, the next input samples;
  ``valid`` ``(batch,)``, 1.0 for frames of the signal and 0.0 for the
  ``lookahead_frames`` drain steps after its end; ``state`` ``(batch,
  state_size)``, zeros at the start;
* outputs: ``enhanced`` ``(batch, hop_length)``; ``finite``, a 0-d bool,
  whether the hop's output and new state are all finite (a stream can refuse
  a hop that overflowed, keeping its old state); ``next_state``, to feed back
  at the next call.

The state packs the step's tensors (STFT context, each layer's past frames,
LSTM states, skip frames, overlap-add buffer, see
:mod:`~speechbrain_atkl.streaming.step_state`) flattened and side by side; the
metadata's ``state_layout`` lists their names and shapes. One tensor instead
of two dozen makes each call cheaper for onnxruntime to bind
(``docs/benchmarks.md``, "Streaming and ONNX speed").

All axes are fixed except the batch (axis 0 of every tensor; fixed too with
``batch_size``, which makes a hop faster). The state shapes are in the
graph's input list, and the graph's metadata holds ``hop_length``,
``win_length``, ``lookahead_frames``, ``sample_rate``, ``latency_samples``
and, when one is built in, ``atten_lim_db``.

To drive the graph yourself: call ``s`` takes input samples
``[s * hop, (s + 1) * hop)`` and returns output samples
``[(s - lookahead_frames) * hop - (win_length - hop), ... + hop)`` of the
offline output (drop the negative positions, before the signal). To end a
signal of ``L`` samples, zero-pad the last hop and feed zero hops with
``valid = 1`` until ``(win_length - hop + L - 1) // hop + 1`` calls are made,
then ``lookahead_frames`` zero hops with ``valid = 0``.
:class:`OnnxStreamingEnhancer` does all this with onnxruntime and takes
chunks of any size, like
:class:`~speechbrain_atkl.streaming.enhancer.StreamingEnhancer`.

Authors
 * speechbrain-atkl developers 2026
"""

import json

import numpy as np
import torch

from speechbrain_atkl.streaming.checked_step import CheckedStep
from speechbrain_atkl.streaming.hop_streamer import HopStreamer
from speechbrain_atkl.streaming.step import StreamingStep

#: The streaming graph's inputs and outputs, in order.
STREAMING_INPUTS = ("audio", "valid", "state")
STREAMING_OUTPUTS = ("enhanced", "finite", "next_state")
#: Outputs of the same shape as an input, ``(output, input)``.
STREAMING_SAME_SHAPES = (("enhanced", "audio"), ("next_state", "state"))


def streaming_graph(model, batch_size=None, atten_lim_db=None):
    """What the streaming graph of ``model`` holds: the module to trace, its example inputs and metadata.

    The layers' one-frame convolutions: the matrix-product steps PyTorch
    prefers hold FFTs the exporter cannot write, and with DFT matrices and
    sliced windows they ran no faster in onnxruntime (``docs/benchmarks.md``).

    Arguments
    ---------
    model : speechbrain_atkl.models.dccrn.DCCRN
        In eval mode.
    batch_size : int or None
        A fixed batch size, or None for a dynamic batch axis.
    atten_lim_db : float or None
        Attenuation limit in dB built into the graph; None: no limit.

    Returns
    -------
    tuple
        ``(module, inputs, dynamic_axes, metadata)``: the packed
        :class:`CheckedStep`, example ``(audio, valid, state)``, the dynamic
        axes by name (none for a fixed batch) and the metadata (graph, STFT,
        look-ahead and state layout).

    Example
    -------
    >>> from speechbrain_atkl.models.dccrn import DCCRN
    >>> module, inputs, axes, metadata = streaming_graph(DCCRN(channels=[8] * 6, rnn_units=16).eval())
    >>> [tuple(x.shape)[0] for x in inputs], sorted(axes) == sorted(STREAMING_INPUTS + ("enhanced", "next_state"))
    ([2, 2, 2], True)
    >>> metadata["graph"], metadata["hop_length"], metadata["lookahead_frames"]
    ('streaming', 100, 6)
    """
    module = CheckedStep(StreamingStep(model, matrix_steps=False, atten_lim_db=atten_lim_db), packed=True)
    step, batch = module.step, batch_size or 2
    inputs = (torch.randn(batch, step.hop_length), torch.ones(batch), module.initial_state(batch))
    batched = [name for name in STREAMING_INPUTS + STREAMING_OUTPUTS if name != "finite"]
    dynamic_axes = {} if batch_size else {name: {0: "batch"} for name in batched}
    metadata = dict(
        graph="streaming",
        hop_length=step.hop_length,
        win_length=step.win_length,
        lookahead_frames=step.lookahead_frames,
        state_layout=json.dumps([[name, list(shape)] for name, shape in step.state_shapes.items()]),
    )
    return module, inputs, dynamic_axes, metadata


def onnx_session(path, num_threads=1):
    """An onnxruntime CPU session for ``path`` with ``num_threads`` intra-op threads.

    Arguments
    ---------
    path : str or pathlib.Path
        An ONNX file.
    num_threads : int
        Intra-op threads (inter-op: 1).

    Returns
    -------
    onnxruntime.InferenceSession

    Example
    -------
    >>> import os, tempfile
    >>> from speechbrain_atkl.inference.onnx_export import export_onnx
    >>> from speechbrain_atkl.models.dccrn import DCCRN
    >>> path = export_onnx(DCCRN(channels=[8] * 6, rnn_units=16), os.path.join(tempfile.mkdtemp(), "m.onnx"))
    >>> onnx_session(path).run(None, {"noisy": np.zeros((1, 800), np.float32)})[0].shape
    (1, 800)
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxStreamingEnhancer(HopStreamer):
    """Streaming enhancement with a streaming ONNX graph and onnxruntime.

    Same interface and output as
    :class:`~speechbrain_atkl.streaming.enhancer.StreamingEnhancer`: chunks
    of any size ``(time,)`` or ``(batch, time)`` (numpy arrays or tensors) go
    to :meth:`process`, which returns as many samples (a ``torch.Tensor``)
    delayed by :attr:`latency_samples`; :meth:`flush` returns the rest.

    Arguments
    ---------
    path : str or pathlib.Path
        A file written by ``export_onnx(model, path, streaming=True)``.
    num_threads : int
        onnxruntime intra-op threads (one hop is small: 1 is usually fastest).

    Example
    -------
    >>> import os, tempfile
    >>> from speechbrain_atkl.inference.onnx_export import export_onnx
    >>> from speechbrain_atkl.models.dccrn import DCCRN
    >>> model = DCCRN(channels=[8] * 6, rnn_units=16, lookahead=0).eval()
    >>> path = export_onnx(model, os.path.join(tempfile.mkdtemp(), "step.onnx"), streaming=True)
    >>> streamer = OnnxStreamingEnhancer(path)
    >>> streamer.latency_samples
    399
    >>> wav = torch.randn(1000)
    >>> stream = torch.cat([streamer.process(wav[:250]), streamer.process(wav[250:]), streamer.flush()])
    >>> torch.allclose(stream[399:], model(wav[None])[0], atol=1e-4)
    True
    """

    def __init__(self, path, num_threads=1):
        self.session = onnx_session(path, num_threads)
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("graph") != "streaming":
            raise ValueError(
                f"{path} is not a streaming graph: write it with export_onnx(model, path, streaming=True)."
            )
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if [node.name for node in inputs] != list(STREAMING_INPUTS) or [
            node.name for node in outputs
        ] != list(STREAMING_OUTPUTS):
            raise ValueError(
                f"{path} has inputs {[node.name for node in inputs][:4]}... and outputs "
                f"{[node.name for node in outputs][:4]}..., not {list(STREAMING_INPUTS)} -> "
                f"{list(STREAMING_OUTPUTS)} (an older export): export it again with "
                "export_onnx(model, path, streaming=True)."
            )
        self._state_input = inputs[2]
        #: The attenuation limit built into the graph (dB), or None.
        self.atten_lim_db = float(meta["atten_lim_db"]) if "atten_lim_db" in meta else None
        super().__init__(
            int(meta["hop_length"]),
            int(meta["win_length"]),
            int(meta["lookahead_frames"]),
            int(meta["sample_rate"]),
        )

    def _start(self, batch_size):
        fixed, state_size = self._state_input.shape
        if isinstance(fixed, int) and fixed != batch_size:
            raise ValueError(
                f"this streaming graph was exported for batch_size={fixed}, got a stream of {batch_size}: "
                "export it with another batch_size (None for any)."
            )
        self._state = np.zeros((batch_size, state_size), np.float32)
        self._valid = {flag: np.full(batch_size, flag, np.float32) for flag in (0.0, 1.0)}

    def _step(self, audio, valid):
        feeds = {"audio": audio.numpy(), "valid": self._valid[valid], "state": self._state}
        out, finite, self._state = self.session.run(None, feeds)
        return torch.from_numpy(out), finite
