"""ONNX export of DCCRN-family models: one offline graph and one streaming graph.

Usage::

    python -m speechbrain_atkl.inference.onnx_export --model SOURCE --output model.onnx \\
        [--streaming [--batch-size 1]] [--atten-lim-db 12]

``SOURCE`` is a published model folder (``hyperparams.yaml`` and
``enhance_model.ckpt``, see :mod:`speechbrain_atkl.publishing`) or its Hub id, a
training output folder (``save/model_config.yaml`` and
``save/CKPT+*/model.ckpt``; the checkpoint with the best ``valid_pesq`` is
used), or a preset name such as ``Distil-DCCRN`` (untrained weights, for speed
tests), loaded by :func:`speechbrain_atkl.loading.load_model`.

**Offline graph** (``streaming=False``): input ``noisy`` ``(batch, time)``,
output ``enhanced`` ``(batch, time)``, both axes dynamic; float32, 16 kHz.

**Streaming graph** (``streaming=True``): one STFT hop per call, the model
state passed in and out as one tensor; its interface, and
:class:`~speechbrain_atkl.streaming.onnx_stream.OnnxStreamingEnhancer`, which
drives it with onnxruntime, are in :mod:`speechbrain_atkl.streaming.onnx_stream`.
Both graphs' metadata hold ``sample_rate`` and ``latency_samples``.

An attenuation limit (``atten_lim_db``, see
:mod:`~speechbrain_atkl.models.attenuation`) is an export option: the graph
holds it as a constant (both graphs; the metadata's ``atten_lim_db`` says
which), and its output is ``model(wav, atten_lim_db=...)``'s.

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
import logging
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from speechbrain_atkl.data.atomic import atomic_temporary, check_writable, naming_the_file
from speechbrain_atkl.loading import load_model
from speechbrain_atkl.models.attenuation import attenuation_floor
from speechbrain_atkl.models.dccrn import DCCRN
from speechbrain_atkl.streaming.onnx_stream import (
    STREAMING_INPUTS,
    STREAMING_OUTPUTS,
    STREAMING_SAME_SHAPES,
    streaming_graph,
)

OPSET_VERSION = 17
#: The oldest opset holding every operation of both graphs (unflatten, pads of computed sizes).
MIN_OPSET_VERSION = 13


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
    >>> import os, tempfile, numpy as np, onnxruntime
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
            module, inputs, dynamic_axes, metadata = streaming_graph(model, batch_size, atten_lim_db)
            input_names, output_names = list(STREAMING_INPUTS), list(STREAMING_OUTPUTS)
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
            same_shapes = STREAMING_SAME_SHAPES if streaming else ()
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
