"""Streaming enhancement with the DCCRN family: chunks in, chunks out, the model state kept.

Every streaming name is imported from here:

>>> from speechbrain_atkl.streaming import StreamingEnhancer
>>> StreamingEnhancer.__module__
'speechbrain_atkl.streaming.enhancer'

The modules, from the stream down to the layers:

* :mod:`.enhancer`: :class:`StreamingEnhancer`, chunks of any size through
  PyTorch (latency and exactness are explained there);
* :mod:`.onnx_stream`: the streaming ONNX graph's interface and
  :class:`OnnxStreamingEnhancer`, which drives it with onnxruntime (the graph
  is written by :func:`speechbrain_atkl.inference.onnx_export.export_onnx`);
* :mod:`.hop_streamer`: :class:`HopStreamer`, the chunk bookkeeping both
  enhancers share (buffering, delay, end of stream, rejected chunks);
* :mod:`.checked_step`: :class:`CheckedStep`, a hop that also tells whether
  its output and new state are all finite, its state separate or packed;
* :mod:`.step`: :class:`StreamingStep`, one STFT hop of a DCCRN as a pure
  function of explicit state tensors, in two forms;
* :mod:`.step_state`: the names, shapes and layouts of those state tensors;
* :mod:`.row_steps`: the layers' one-frame steps as matrix products on
  rows-first frames (the form PyTorch runs faster);
* :mod:`.frame_steps`: the layers' one-frame steps as convolutions (the form
  the ONNX graph holds);
* :mod:`.lstm_steps`: one LSTM time step as one matrix product.

Authors
 * speechbrain-atkl developers 2026
"""

from speechbrain_atkl.streaming.checked_step import CheckedStep, all_finite
from speechbrain_atkl.streaming.enhancer import StreamingEnhancer
from speechbrain_atkl.streaming.hop_streamer import HopStreamer
from speechbrain_atkl.streaming.onnx_stream import OnnxStreamingEnhancer, onnx_session
from speechbrain_atkl.streaming.step import StreamingStep

__all__ = [
    "CheckedStep",
    "HopStreamer",
    "OnnxStreamingEnhancer",
    "StreamingEnhancer",
    "StreamingStep",
    "all_finite",
    "onnx_session",
]
