"""Loading trained models: every way a model reaches the code goes through this package.

:func:`load_model` loads a model from a training output folder, a published
model folder, a Hub id, a weights file or (where asked) a preset name;
:func:`load_weights_into` starts a given model from the weights of any of
them. ``EnhanceBatch.from_hparams``, the ONNX export, ``publish``, teacher
loading and fine-tuning (``init_from``) all use it. Training and inference
both import this package; it imports neither.

Nothing a folder says is trusted:

* :mod:`~speechbrain_atkl.loading.files`: files are regular files of
  bounded size;
* :mod:`~speechbrain_atkl.loading.hyperparams`: YAML is read without
  running anything, within bounds on size, nesting, aliases and arithmetic;
* :mod:`~speechbrain_atkl.loading.recipes`: only the enhancement models are
  built;
* :mod:`~speechbrain_atkl.loading.weights`: weights are tensors only, loaded
  strictly;
* :mod:`~speechbrain_atkl.loading.fetching`: a savedir holds one model's
  files;
* :mod:`~speechbrain_atkl.loading.model_folder`: every module that runs is
  filled from a weights file, and the sample rate is checked;
* :mod:`~speechbrain_atkl.loading.run_folder` and
  :mod:`~speechbrain_atkl.loading.model_config`: training output folders,
  their checkpoints and ``save/model_config.yaml``.

>>> from speechbrain_atkl.loading import load_model
>>> type(load_model("Uformer-light", untrained_presets=True)).__name__
'Uformer'
"""

from speechbrain_atkl.loading.hyperparams import UnsafeHyperparamsError, check_hyperparams
from speechbrain_atkl.loading.model_config import build_model, load_model_config, model_spec, save_model_config
from speechbrain_atkl.loading.model_folder import load_model_folder
from speechbrain_atkl.loading.run_folder import (
    MODEL_CONFIG,
    best_checkpoint,
    best_model_weights,
    is_maximised,
    load_trained_model,
    records,
)
from speechbrain_atkl.loading.sources import load_model, load_weights_into
from speechbrain_atkl.loading.weights import load_state_dict, load_weights

__all__ = [
    "MODEL_CONFIG",
    "UnsafeHyperparamsError",
    "best_checkpoint",
    "best_model_weights",
    "build_model",
    "check_hyperparams",
    "is_maximised",
    "load_model",
    "load_model_config",
    "load_model_folder",
    "load_state_dict",
    "load_trained_model",
    "load_weights",
    "load_weights_into",
    "model_spec",
    "records",
    "save_model_config",
]
