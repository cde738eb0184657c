"""Inference: the :class:`EnhanceBatch` interface, ONNX export and the command-line enhancer.

Streaming (chunk by chunk, with state) is :mod:`speechbrain_atkl.streaming`.

Names are imported on first access, so that importing a submodule (for
instance the command-line entry point) stays light.

>>> from speechbrain_atkl.inference import EnhanceBatch
>>> EnhanceBatch.__module__
'speechbrain_atkl.inference.enhance'
"""

import importlib

_LAZY = {
    "EnhanceBatch": "speechbrain_atkl.inference.enhance",
    "enhance_in_chunks": "speechbrain_atkl.inference.chunking",
    "enhance_stream": "speechbrain_atkl.inference.chunking",
    "write_enhanced": "speechbrain_atkl.inference.enhanced_output",
    "export_onnx": "speechbrain_atkl.inference.onnx_export",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
