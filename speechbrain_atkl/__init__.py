"""SpeechBrain plug-in for DCCRN, Uformer, Distil-DCCRN and the AT-KL distillation loss.

Importing the package is light: :class:`EnhanceBatch` (which imports
SpeechBrain's inference machinery) is loaded on first access.

>>> from speechbrain_atkl import EnhanceBatch
>>> EnhanceBatch.MODULES_NEEDED
['enhance_model']
"""

import importlib

__version__ = "0.1.0"

_LAZY = {"EnhanceBatch": "speechbrain_atkl.inference.enhance"}

__all__ = ["EnhanceBatch", "__version__"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
