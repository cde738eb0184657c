"""Saving and rebuilding a model's architecture (class and constructor arguments).

A training run writes ``save/model_config.yaml`` next to its checkpoints so
that the trained weights can be loaded, published or exported without the
training YAML.

Authors
 * speechbrain-atkl developers 2026
"""

import importlib
from pathlib import Path

import yaml


def model_spec(model):
    """The ``{"class_path": ..., "config": {...}}`` description of a model.

    Example
    -------
    >>> from speechbrain_atkl.models.dccrn import DCCRN
    >>> spec = model_spec(DCCRN.from_preset("Distil-DCCRN"))
    >>> spec["class_path"], spec["config"]["rnn_type"]
    ('speechbrain_atkl.models.dccrn.DCCRN', 'complex')
    """
    if not hasattr(model, "config"):
        raise TypeError(f"{type(model).__name__} has no `config` attribute; cannot describe it.")
    cls = type(model)
    return {"class_path": f"{cls.__module__}.{cls.__qualname__}", "config": dict(model.config)}


def build_model(spec):
    """Builds a model from :func:`model_spec`'s description.

    Example
    -------
    >>> from speechbrain_atkl.models.dccrn import DCCRN
    >>> model = build_model(model_spec(DCCRN(channels=[8] * 6, rnn_units=16)))
    >>> model.config["channels"]
    [8, 8, 8, 8, 8, 8]
    """
    module_name, _, class_name = spec["class_path"].rpartition(".")
    if not module_name.startswith("speechbrain_atkl."):
        raise ValueError(f"refusing to build {spec['class_path']!r}: not a speechbrain_atkl model.")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(**spec["config"])


def save_model_config(model, path):
    """Writes :func:`model_spec` of ``model`` to the YAML file ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump(model_spec(model), sort_keys=False))
    tmp.replace(path)


def load_model_config(path):
    """Reads a file written by :func:`save_model_config` (returns the spec dict)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model config {path} not found (expected save/model_config.yaml of a training run).")
    spec = yaml.safe_load(path.read_text())
    if not isinstance(spec, dict) or "class_path" not in spec or "config" not in spec:
        raise ValueError(f"{path} is not a model config: expected keys 'class_path' and 'config'.")
    return spec
