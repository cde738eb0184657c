"""One way to load a model, whatever it comes from: :func:`load_model` and :func:`load_weights_into`.

A model source is one of

* a **training output folder** (a folder with ``save/``): the model of
  ``save/model_config.yaml`` with its best checkpoint;
* a **published model folder** (a folder with ``hyperparams.yaml``) or a
  **Hub id** ``user/name``: the folder's ``enhance_model``;
* a **weights file** (``.ckpt``), which names no architecture: it is loaded
  into the model the caller gives;
* a **preset** name such as ``Distil-DCCRN``, with untrained weights, where
  the caller accepts that (speed tests, ONNX export).

Authors
 * speechbrain-atkl developers 2026
"""

import logging
from pathlib import Path

from speechbrain_atkl.loading.fetching import ModelFiles, is_hub_id
from speechbrain_atkl.loading.model_folder import load_model_folder
from speechbrain_atkl.loading.recipes import PRESETS
from speechbrain_atkl.loading.run_folder import best_model_weights, load_trained_model
from speechbrain_atkl.loading.weights import load_state_dict

logger = logging.getLogger(__name__)

RUN_FOLDER = "training output folder"
MODEL_FOLDER = "published model folder"
WEIGHTS_FILE = "weights file"
HUB_ID = "Hub id"
PRESET = "preset"


def source_kind(source, presets=False):
    """Which kind of model source ``source`` is (see the module docstring).

    Arguments
    ---------
    source : str or pathlib.Path
        The source.
    presets : bool
        Whether a preset name is a source.

    Raises
    ------
    FileNotFoundError
        If it is none of them, listing what was expected.

    Example
    -------
    >>> source_kind("user/model"), source_kind("Distil-DCCRN", presets=True)
    ('Hub id', 'preset')
    >>> source_kind("Distil-DCCRN")
    Traceback (most recent call last):
    ...
    FileNotFoundError: Distil-DCCRN: not found; expected a published model folder (hyperparams.yaml), ...
    """
    path = Path(source)
    if path.is_dir() and (path / "save").is_dir():
        return RUN_FOLDER
    if path.is_dir() and (path / "hyperparams.yaml").exists():
        return MODEL_FOLDER
    if path.exists() and not path.is_dir():
        return WEIGHTS_FILE
    if not path.exists():
        if presets and str(source) in PRESETS:
            return PRESET
        if is_hub_id(source):
            return HUB_ID
    expected = "a published model folder (hyperparams.yaml), a training output folder (save/), a weights file"
    expected += f", a preset name {sorted(PRESETS)}" if presets else ""
    found = "not a model source" if path.exists() else "not found"
    raise FileNotFoundError(f"{source}: {found}; expected {expected} or a Hub id (user/name).")


def load_model(
    source,
    model=None,
    key="valid_pesq",
    savedir=None,
    trust_remote_code=False,
    fetch_config=None,
    untrained_presets=False,
):
    """Loads a model from any source (see the module docstring), ready for inference.

    Arguments
    ---------
    source : str or pathlib.Path
        The model source.
    model : torch.nn.Module or None
        The architecture a weights file is loaded into (a weights file names
        none); other sources build their own.
    key : str
        Selects the best checkpoint of a training output folder.
    savedir : str or pathlib.Path or None
        Where a model folder's or Hub model's files are linked or downloaded
        (see :class:`~speechbrain_atkl.loading.fetching.ModelFiles`).
    trust_remote_code : bool
        Read a model folder's ``hyperparams.yaml`` with HyperPyYAML, which
        runs any code its tags name (see
        :mod:`~speechbrain_atkl.loading.hyperparams`).
    fetch_config : speechbrain.utils.fetching.FetchConfig or None
        Hub token and revision.
    untrained_presets : bool
        Accept a preset name, built with untrained weights (with a warning).

    Returns
    -------
    torch.nn.Module
        The model in eval mode.

    Example
    -------
    >>> load_model("Distil-DCCRN", untrained_presets=True).config["rnn_type"]
    'complex'
    """
    kind = source_kind(source, presets=untrained_presets)
    if kind == RUN_FOLDER:
        model, checkpoint = load_trained_model(source, key)
        logger.info("Loaded %s from %s", type(model).__name__, checkpoint.path)
    elif kind in (MODEL_FOLDER, HUB_ID):
        hparams = load_model_folder(
            source, savedir=savedir, trust_remote_code=trust_remote_code, fetch_config=fetch_config
        )
        model = hparams["modules"]["enhance_model"]
    elif kind == WEIGHTS_FILE:
        if model is None:
            raise ValueError(f"{source} is a weights file, which names no architecture: give the model to fill.")
        load_state_dict(model, source, what="weights file")
    else:
        logger.warning("Using the %s preset with untrained weights.", source)
        model = PRESETS[str(source)].from_preset(str(source))
    return model.eval()


def load_weights_into(model, source, key="valid_pesq", savedir=None, fetch_config=None, what="weights"):
    """Loads the weights of a source into ``model``, strictly (its architecture must fit them).

    Arguments
    ---------
    model : torch.nn.Module
        The model to fill.
    source : str or pathlib.Path
        A published model folder (its ``enhance_model.ckpt``), a training
        output folder (its best checkpoint by ``key``), a weights file or a
        Hub id of a published model.
    key : str
        Selects the best checkpoint of a training output folder.
    savedir : str or pathlib.Path or None
        Where a Hub model's weights are downloaded; None: the Hub's cache,
        which keeps each model id apart.
    fetch_config : speechbrain.utils.fetching.FetchConfig or None
        Hub token and revision.
    what : str
        What the weights are for, in error messages.

    Returns
    -------
    pathlib.Path
        The weights file read.

    Example
    -------
    >>> import tempfile, torch
    >>> trained, fresh = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    >>> path = Path(tempfile.mkdtemp()) / "model.ckpt"
    >>> torch.save(trained.state_dict(), path)
    >>> _ = load_weights_into(fresh, path)
    >>> torch.equal(fresh.weight, trained.weight)
    True
    """
    kind = source_kind(source)
    if kind == RUN_FOLDER:
        _, weights = best_model_weights(Path(source) / "save", key)
    elif kind in (MODEL_FOLDER, HUB_ID):
        weights = ModelFiles(source, savedir, fetch_config=fetch_config).fetch("enhance_model.ckpt")
    else:
        weights = Path(source)
    load_state_dict(model, weights, what=what)
    return weights
