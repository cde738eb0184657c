"""Saving and rebuilding a model's architecture: ``save/model_config.yaml``.

A training run writes ``save/model_config.yaml`` (the model's class and
constructor arguments) next to its checkpoints, so that the trained weights
can be loaded, published or exported without the training YAML. Reading it
back builds only the classes of
:data:`~speechbrain_atkl.loading.recipes.MODEL_CLASSES`.

Authors
 * speechbrain-atkl developers 2026
"""

from pathlib import Path

import yaml

from speechbrain_atkl.loading.files import read_text
from speechbrain_atkl.loading.hyperparams import read_yaml
from speechbrain_atkl.loading.recipes import ModelRecipe, model_class


def model_spec(model):
    """The ``{"class_path": ..., "config": {...}}`` description of a model.

    Example
    -------
    >>> from speechbrain_atkl.models import DCCRN
    >>> spec = model_spec(DCCRN.from_preset("Distil-DCCRN"))
    >>> spec["class_path"], spec["config"]["rnn_type"]
    ('speechbrain_atkl.models.dccrn.DCCRN', 'complex')
    """
    if not hasattr(model, "config"):
        raise TypeError(f"{type(model).__name__} has no `config` attribute; cannot describe it.")
    cls = type(model)
    return {"class_path": f"{cls.__module__}.{cls.__qualname__}", "config": dict(model.config)}


def build_model(spec, what="model config", state=None, state_what="weights"):
    """Builds a model from :func:`model_spec`'s description.

    With ``state``, the model is checked against those weights before it is
    built, and filled with them (see
    :meth:`~speechbrain_atkl.loading.recipes.ModelRecipe.build`).

    Example
    -------
    >>> from speechbrain_atkl.models import DCCRN
    >>> model = build_model(model_spec(DCCRN(channels=[8] * 6, rnn_units=16)))
    >>> model.config["channels"]
    [8, 8, 8, 8, 8, 8]
    """
    return ModelRecipe(spec["class_path"], kwargs=spec["config"]).build(what, state, state_what)


def save_model_config(model, path):
    """Writes :func:`model_spec` of ``model`` to the YAML file ``path`` (atomically).

    Arguments
    ---------
    model : torch.nn.Module
        A model with a ``config`` attribute (the package's models have one).
    path : str or pathlib.Path
        The YAML file; its folder is created if needed. Read it back with
        :func:`load_model_config` (example there).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump(model_spec(model), sort_keys=False))
    tmp.replace(path)


def load_model_config(path):
    """Reads a file written by :func:`save_model_config` (returns the spec dict).

    The file is read as plain data within bounds (see
    :func:`~speechbrain_atkl.loading.hyperparams.read_yaml`) and must name a
    class of :data:`MODEL_CLASSES` and a mapping of arguments.

    Example
    -------
    >>> import os, tempfile
    >>> from speechbrain_atkl.models import DCCRN
    >>> path = os.path.join(tempfile.mkdtemp(), "model_config.yaml")
    >>> save_model_config(DCCRN(channels=[8] * 6, rnn_units=16), path)
    >>> load_model_config(path)["config"]["rnn_units"]
    16
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model config {path} not found (expected save/model_config.yaml of a training run).")
    spec = read_yaml(read_text(path, "model config"), str(path), tags=False)
    if not isinstance(spec, dict) or set(spec) != {"class_path", "config"} or not isinstance(spec["config"], dict):
        raise ValueError(f"{path} is not a model config: expected the keys 'class_path' and 'config' (a mapping).")
    try:
        model_class(spec["class_path"])
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    return spec
