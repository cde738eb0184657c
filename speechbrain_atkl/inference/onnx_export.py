"""ONNX export of DCCRN-family models: one offline graph and one streaming graph.

Usage::

    python -m speechbrain_atkl.inference.onnx_export --model SOURCE --output model.onnx \\
        [--streaming [--batch-size 1]] [--atten-lim-db 12]

``SOURCE`` is a published model folder (``hyperparams.yaml`` and
``enhance_model.ckpt``, see :mod:`speechbrain_atkl.publish`) or its Hub id, a
training output folder (``save/model_config.yaml`` and
``save/CKPT+*/model.ckpt``; the checkpoint with the best ``valid_pesq`` is
used), or a preset name such as ``Distil-DCCRN`` (untrained weights, for speed
tests), loaded by :func:`speechbrain_atkl.loading.load_model`.

**Offline graph** (``streaming=False``): input ``noisy`` ``(batch, time)``,
output ``enhanced`` ``(batch, time)``, both axes dynamic; float32, 16 kHz.

**Streaming graph** (``streaming=True``): one STFT hop per call, the model
state passed in and out as one tensor (:class:`PackedStep`):

* inputs: ``audio`` ``(batch, hop_length)``, the next input samples;
  ``valid`` ``(batch,)``, 1.0 for frames of the signal and 0.0 for the
  ``lookahead_frames`` drain steps after its end; ``state`` ``(batch,
  state_size)``, zeros at the start;
* outputs: ``enhanced`` ``(batch, hop_length)``; ``finite``, a 0-d bool,
  whether the hop's output and new state are all finite (a stream can refuse
  a hop that overflowed, keeping its old state); ``next_state``, to feed back
  at the next call.

The state packs the tensors of
:class:`~speechbrain_atkl.inference.streaming_step.StreamingStep` (STFT
context, each layer's past frames, LSTM states, skip frames, overlap-add
buffer) flattened and side by side; the metadata's ``state_layout`` lists
their names and shapes. One tensor instead of two dozen makes each call
cheaper for onnxruntime to bind (``docs/benchmarks.md``, "Streaming and ONNX
speed").

All axes are fixed except the batch (axis 0 of every tensor; fixed too with
``batch_size``, which makes a hop faster). The state
shapes are in the graph's input list, and the graph's metadata holds
``hop_length``, ``win_length``, ``lookahead_frames``, ``sample_rate`` and
``latency_samples``.

An attenuation limit (``atten_lim_db``, see
:mod:`~speechbrain_atkl.models.attenuation`) is an export option: the graph
holds it as a constant (both graphs; the metadata's ``atten_lim_db`` says
which), and its output is ``model(wav, atten_lim_db=...)``'s.
:class:`OnnxStreamingEnhancer` drives the graph with
onnxruntime; it takes chunks of any size like
:class:`~speechbrain_atkl.inference.streaming.StreamingEnhancer`.

To drive the graph yourself: call ``s`` takes input samples
``[s * hop, (s + 1) * hop)`` and returns output samples
``[(s - lookahead_frames) * hop - (win_length - hop), ... + hop)`` of the
offline output (drop the negative positions, before the signal). To end a
signal of ``L`` samples, zero-pad the last hop and feed zero hops with
``valid = 1`` until ``(win_length - hop + L - 1) // hop + 1`` calls are made,
then ``lookahead_frames`` zero hops with ``valid = 0``.

The legacy TorchScript exporter is used (``dynamo=False``): it needs no
extra package and handles the LSTMs with explicit states.

The output is checked before any work (an ``.onnx`` name, not a folder, in a
folder that can be written; a supported opset) and written under a temporary
name renamed when complete, so an existing file is replaced whole or not at
all, and a model folder's other files (``enhance_model.ckpt``...) are never
overwritten.

Authors
 * speechbrain-atkl developers 2026
"""

import argparse
import json
import logging
import math
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from speechbrain_atkl.data.atomic import atomic_temporary, check_writable, naming_the_file
from speechbrain_atkl.inference.hop_streamer import HopStreamer, all_finite
from speechbrain_atkl.inference.streaming_step import StreamingStep
from speechbrain_atkl.loading import load_model
from speechbrain_atkl.models.attenuation import attenuation_floor
from speechbrain_atkl.models.dccrn import DCCRN

OPSET_VERSION = 17
#: The oldest opset holding every operation of both graphs (unflatten, pads of computed sizes).
MIN_OPSET_VERSION = 13

#: The streaming graph's inputs and outputs, in order.
STREAMING_INPUTS = ("audio", "valid", "state")
STREAMING_OUTPUTS = ("enhanced", "finite", "next_state")


def export_onnx(model, path, streaming=False, opset_version=OPSET_VERSION, batch_size=None, atten_lim_db=None):
    """Writes a DCCRN-family model as an ONNX file.

    Arguments
    ---------
    model : speechbrain_atkl.models.dccrn.DCCRN
        The model; exported in eval mode (its mode is restored afterwards).
    path : str or pathlib.Path
        Output ``.onnx`` file (parent folders are created), checked by
        :func:`check_output` before the export; replaced whole or not at all.
    streaming : bool
        Write the one-hop streaming graph instead of the offline one (see
        the module docstring for both interfaces).
    opset_version : int
        ONNX opset, at least :data:`MIN_OPSET_VERSION`.
    batch_size : int or None
        Streaming graph only: fix the batch size (1 for one live stream).
        The graph then computes no tensor shapes at run time, which makes a
        hop faster in onnxruntime; None keeps the batch axis dynamic.
    atten_lim_db : float or None
        Attenuation limit in dB built into the graph (as the model's
        ``forward`` takes it); None: no limit.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    ValueError
        For a bad output name, opset or option (before any work).
    speechbrain_atkl.data.atomic.FileWriteError
        (an ``OSError``) naming the output when it cannot be written.

    Example
    -------
    >>> import os, tempfile, onnxruntime
    >>> model = DCCRN(channels=[8] * 6, rnn_units=16)
    >>> path = export_onnx(model, os.path.join(tempfile.mkdtemp(), "dccrn.onnx"))
    >>> session = onnxruntime.InferenceSession(path)
    >>> session.run(None, {"noisy": np.zeros((3, 1000), np.float32)})[0].shape
    (3, 1000)
    """
    if batch_size is not None and (not streaming or batch_size < 1):
        raise ValueError(f"batch_size={batch_size!r}: a fixed batch size (>= 1) is for the streaming graph only.")
    if not isinstance(model, DCCRN):
        raise TypeError(f"export_onnx supports the DCCRN family, got {type(model).__name__}.")
    attenuation_floor(atten_lim_db)  # a bad value fails before anything is written
    path = check_output(path, opset_version)
    was_training = model.training
    model.eval()
    try:
        if streaming:
            # The layers' one-frame convolutions: the matrix-product steps PyTorch prefers hold
            # FFTs the exporter cannot write, and with DFT matrices and sliced windows they ran
            # no faster in onnxruntime (docs/benchmarks.md).
            module = PackedStep(StreamingStep(model, matrix_steps=False, atten_lim_db=atten_lim_db))
            batch = batch_size or 2
            inputs = (torch.randn(batch, module.step.hop_length), torch.ones(batch), module.initial_state(batch))
            input_names, output_names = list(STREAMING_INPUTS), list(STREAMING_OUTPUTS)
            batched = [name for name in input_names + output_names if name != "finite"]
            dynamic_axes = {} if batch_size else {name: {0: "batch"} for name in batched}
            metadata = dict(
                graph="streaming",
                hop_length=module.step.hop_length,
                win_length=module.step.win_length,
                lookahead_frames=module.step.lookahead_frames,
                state_layout=json.dumps([[name, list(shape)] for name, shape in module.step.state_shapes.items()]),
            )
        else:
            module = OfflineGraph(model, atten_lim_db)
            inputs = (torch.randn(2, 1601),)
            input_names, output_names = ["noisy"], ["enhanced"]
            dynamic_axes = {name: {0: "batch", 1: "time"} for name in input_names + output_names}
            metadata = dict(graph="offline")
        metadata.update(sample_rate=model.sample_rate, latency_samples=model.lookahead_samples)
        if atten_lim_db is not None:
            metadata.update(atten_lim_db=float(atten_lim_db))
        with naming_the_file(path), atomic_temporary(path) as temporary:
            path.parent.mkdir(parents=True, exist_ok=True)
            with warnings.catch_warnings():
                # The legacy exporter announces its deprecation, and the tracer flags
                # Python-level branches on arguments, which are constant here.
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                warnings.filterwarnings("ignore", message=".*(Constant folding|batch_size other than 1).*")
                try:
                    torch.onnx.export(
                        module,
                        inputs,
                        str(temporary),
                        input_names=input_names,
                        output_names=output_names,
                        dynamic_axes=dynamic_axes,
                        opset_version=opset_version,
                        dynamo=False,
                    )
                except RuntimeError as error:
                    if opset_version <= OPSET_VERSION:
                        raise
                    raise ValueError(
                        f"opset {opset_version}: this torch cannot export it ({error}); the default is {OPSET_VERSION}."
                    ) from error
            same_shapes = [("enhanced", "audio"), ("next_state", "state")] if streaming else []
            _write_metadata(temporary, metadata, same_shapes)
            os.replace(temporary, path)
    finally:
        model.train(was_training)
    return path


def check_output(path, opset_version=OPSET_VERSION):
    """Checks, before an export, that ``path`` can receive an ONNX graph of ``opset_version``.

    Arguments
    ---------
    path : str or pathlib.Path
        The ``.onnx`` file to write; its folder is created.
    opset_version : int
        The ONNX opset asked for.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If ``path`` does not end in ``.onnx`` (so that a model folder's
        weights or YAML are never replaced), is a folder, or the opset is
        older than :data:`MIN_OPSET_VERSION`.
    speechbrain_atkl.data.atomic.FileWriteError
        If its folder cannot be created or written (under a file, read-only).

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> check_output(folder / "model.onnx") == folder / "model.onnx"
    True
    >>> check_output(folder / "enhance_model.ckpt")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: .../enhance_model.ckpt: the output must be an .onnx file;
    refusing to replace a file of another kind (a model folder's weights, its YAML...).
    """
    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise ValueError(
            f"{path}: the output must be an .onnx file; refusing to replace a file of another kind "
            "(a model folder's weights, its YAML...)."
        )
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give the .onnx file to write.")
    if isinstance(opset_version, bool) or not isinstance(opset_version, int) or opset_version < MIN_OPSET_VERSION:
        raise ValueError(
            f"opset {opset_version!r}: the graphs need ONNX opset {MIN_OPSET_VERSION} or newer "
            f"(default {OPSET_VERSION})."
        )
    check_writable(path.parent)
    return path


class OfflineGraph(nn.Module):
    """What the offline graph computes: the model's ``forward`` with a fixed attenuation limit.

    Arguments
    ---------
    model : speechbrain_atkl.models.dccrn.DCCRN
        The model.
    atten_lim_db : float or None
        The limit passed to every call.

    Example
    -------
    >>> model = DCCRN(channels=[8] * 6, rnn_units=16).eval()
    >>> wav = torch.randn(1, 800)
    >>> torch.equal(OfflineGraph(model, 6.0)(wav), model(wav, atten_lim_db=6.0))
    True
    """

    def __init__(self, model, atten_lim_db=None):
        super().__init__()
        self.model = model
        self.atten_lim_db = atten_lim_db

    def forward(self, noisy):
        """``(batch, time)`` -> ``(batch, time)``."""
        return self.model(noisy, atten_lim_db=self.atten_lim_db)


class PackedStep(nn.Module):
    """A :class:`~speechbrain_atkl.inference.streaming_step.StreamingStep` with its state in one tensor.

    The step's state tensors travel flattened and side by side in one
    ``(batch, state_size)`` tensor (the streaming graph's interface, see the
    module docstring), and the hop also tells whether its output and new
    state are all finite.

    Arguments
    ---------
    step : StreamingStep
        The hop to run.

    Example
    -------
    >>> step = PackedStep(StreamingStep(DCCRN(channels=[8] * 6, rnn_units=16).eval()))
    >>> out, finite, state = step(torch.randn(1, 100), torch.ones(1), step.initial_state(1))
    >>> out.shape, bool(finite), state.shape == (1, step.state_size)
    (torch.Size([1, 100]), True, True)
    """

    def __init__(self, step):
        super().__init__()
        self.step = step
        self.shapes = list(step.state_shapes.values())
        self.sizes = [math.prod(shape) for shape in self.shapes]
        self.state_size = sum(self.sizes)

    def initial_state(self, batch_size):
        """The zero state of ``batch_size`` streams, ``(batch_size, state_size)``."""
        return torch.cat([t.flatten(1) for t in self.step.initial_state(batch_size)], 1)

    def forward(self, audio, valid, state):
        """``(enhanced, finite, next_state)`` for one hop; see the module docstring."""
        # (Batch sizes are written -1, so that the graph keeps them dynamic.)
        parts = [part.reshape(-1, *shape) for part, shape in zip(state.split(self.sizes, 1), self.shapes)]
        out, *parts = self.step(audio, valid, *parts)
        state = torch.cat([part.reshape(-1, size) for part, size in zip(parts, self.sizes)], 1)
        # Two reductions rather than one over [out, state]: no copy of the state to join them.
        return out, all_finite([out]) & all_finite([state]), state


def _write_metadata(path, metadata, same_shapes=()):
    # Also declares each output of `same_shapes` (output, input) with its input's shape: the
    # exporter's shape inference can lose a fixed axis that the interface guarantees.
    import onnx

    proto = onnx.load(str(path))
    inputs = {node.name: node for node in proto.graph.input}
    for node in proto.graph.output:
        for output, source in same_shapes:
            if node.name == output:
                node.type.tensor_type.shape.CopyFrom(inputs[source].type.tensor_type.shape)
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(proto, str(path))


def onnx_session(path, num_threads=1):
    """An onnxruntime CPU session for ``path`` with ``num_threads`` intra-op threads."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxStreamingEnhancer(HopStreamer):
    """Streaming enhancement with a streaming ONNX graph and onnxruntime.

    Same interface and output as
    :class:`~speechbrain_atkl.inference.streaming.StreamingEnhancer`: chunks
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


def main(argv=None):
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description="Export a DCCRN-family model to ONNX.")
    parser.add_argument(
        "--model", required=True, help="published folder or Hub id, training output folder or preset name"
    )
    parser.add_argument("--output", required=True, help="the .onnx file to write")
    parser.add_argument("--streaming", action="store_true", help="write the one-hop streaming graph")
    parser.add_argument("--opset", type=int, default=OPSET_VERSION, help="ONNX opset version")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="streaming graph: fixed batch size (faster), default any"
    )
    parser.add_argument(
        "--atten-lim-db",
        type=float,
        default=None,
        help="attenuation limit built into the graph: every bin keeps >= 10^(-dB/20) of its input (default none)",
    )
    parser.add_argument(
        "--trust-remote-code", action="store_true", help="skip the safety check of a published hyperparams.yaml"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        check_output(args.output, args.opset)
        model = load_model(args.model, trust_remote_code=args.trust_remote_code, untrained_presets=True)
        path = export_onnx(
            model,
            args.output,
            streaming=args.streaming,
            opset_version=args.opset,
            batch_size=args.batch_size,
            atten_lim_db=args.atten_lim_db,
        )
    except (OSError, ValueError, TypeError) as error:
        parser.error(str(error))
    kind = "streaming" if args.streaming else "offline"
    limit = "" if args.atten_lim_db is None else f", attenuation limit {args.atten_lim_db:g} dB"
    print(
        f"wrote the {kind} graph of {type(model).__name__} to {path} "
        f"(latency {model.lookahead_samples} samples{limit})"
    )


if __name__ == "__main__":
    main()
