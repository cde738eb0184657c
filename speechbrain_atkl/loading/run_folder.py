"""Training output folders: their checkpoints, the best one, and the model they trained.

A training run (``train.py``) leaves in its output folder:

* ``save/model_config.yaml``: the model's class and constructor arguments
  (:mod:`~speechbrain_atkl.loading.model_config`);
* ``save/CKPT+<time>/model.ckpt``: the weights of each checkpoint, with
  ``CKPTINFO.yaml`` holding validation metrics such as ``valid_pesq``.

Every file is read within bounds (:mod:`~speechbrain_atkl.loading.files`);
checkpoints whose metric is not a finite number are not ranked.

Authors
 * speechbrain-atkl developers 2026
"""

import logging
from pathlib import Path

from speechbrain.utils.checkpoints import CKPT_PREFIX, METAFNAME, Checkpoint

from speechbrain_atkl.loading.files import read_text, regular_file
from speechbrain_atkl.loading.hyperparams import read_yaml
from speechbrain_atkl.loading.model_config import build_model, load_model_config
from speechbrain_atkl.loading.weights import load_weights
from speechbrain_atkl.value_checks import is_number

logger = logging.getLogger(__name__)

MODEL_CONFIG = "model_config.yaml"
#: Validation metrics where larger is better; everything else (losses) is minimised.
MAXIMISED = ("pesq", "stoi", "si_snr", "dnsmos")


def is_maximised(key):
    """Whether a larger value of the metric ``key`` is better.

    Example
    -------
    >>> is_maximised("valid_pesq"), is_maximised("valid_loss")
    (True, False)
    """
    return any(name in key for name in MAXIMISED)


def list_checkpoints(save_folder):
    """The checkpoints of a Checkpointer folder, their metadata read as plain data.

    Arguments
    ---------
    save_folder : str or pathlib.Path
        A Checkpointer folder (``<output_folder>/save``).

    Returns
    -------
    list of speechbrain.utils.checkpoints.Checkpoint
        One per ``CKPT+*`` folder holding a ``CKPTINFO.yaml``.

    Example
    -------
    >>> import tempfile, torch
    >>> from speechbrain.utils.checkpoints import Checkpointer
    >>> folder = tempfile.mkdtemp()
    >>> _ = Checkpointer(folder, {"model": torch.nn.Linear(2, 2)}).save_checkpoint(meta={"valid_pesq": 2.5})
    >>> [(c.meta["valid_pesq"], sorted(c.paramfiles)) for c in list_checkpoints(folder)]
    [(2.5, ['model'])]
    """
    save_folder = Path(save_folder)
    if not save_folder.is_dir():
        return []
    checkpoints = []
    for folder in sorted(save_folder.iterdir()):
        if not (folder.name.startswith(CKPT_PREFIX) and folder.is_dir() and (folder / METAFNAME).exists()):
            continue
        meta_file = folder / METAFNAME
        meta = read_yaml(read_text(meta_file, "checkpoint metadata"), str(meta_file), tags=False)
        if not isinstance(meta, dict):
            raise ValueError(f"{meta_file} is not a checkpoint's metadata (a mapping of names to values).")
        paramfiles = {path.stem: path for path in folder.iterdir() if path.suffix == ".ckpt"}
        checkpoints.append(Checkpoint(folder, meta, paramfiles))
    return checkpoints


def best_checkpoint(save_folder, key="valid_pesq"):
    """The checkpoint with the best ``key`` in its metadata.

    Checkpoints without ``key`` (intra-epoch ones), or whose value is not a
    finite number, are ignored unless there is no other; then the most
    recent is returned.

    Arguments
    ---------
    save_folder : str or pathlib.Path
        A Checkpointer folder (``<output_folder>/save``).
    key : str
        Metadata key; maximised for PESQ/STOI/SI-SNR/DNSMOS, else minimised.

    Returns
    -------
    speechbrain.utils.checkpoints.Checkpoint

    Example
    -------
    >>> import tempfile, torch
    >>> from speechbrain.utils.checkpoints import Checkpointer
    >>> folder = tempfile.mkdtemp()
    >>> checkpointer = Checkpointer(folder, {"model": torch.nn.Linear(2, 2)})
    >>> for pesq in (2.5, 3.0, float("nan")):
    ...     _ = checkpointer.save_checkpoint(meta={"valid_pesq": pesq}, name=str(pesq))
    >>> best_checkpoint(folder).meta["valid_pesq"]
    3.0
    """
    checkpoints = list_checkpoints(save_folder)
    if not checkpoints:
        raise FileNotFoundError(f"no checkpoint (CKPT+* folder) found in {save_folder}.")
    scored = [c for c in checkpoints if records(c, key)]
    if not scored:
        logger.warning("No checkpoint in %s has a finite %r; using the most recent.", save_folder, key)
        return max(checkpoints, key=lambda c: c.meta["unixtime"] if records(c, "unixtime") else 0)
    sign = 1 if is_maximised(key) else -1
    return max(scored, key=lambda c: sign * c.meta[key])


def records(checkpoint, key):
    """Whether ``checkpoint``'s metadata holds ``key`` as a finite number (a NaN loss ranks nothing).

    Example
    -------
    >>> from speechbrain.utils.checkpoints import Checkpoint
    >>> [records(Checkpoint("CKPT+1", {"valid_pesq": value}, {}), "valid_pesq") for value in (2.1, "2.1", float("nan"))]
    [True, False, False]
    """
    return is_number(checkpoint.meta.get(key))


def best_model_weights(save_folder, key="valid_pesq"):
    """The best checkpoint of ``save_folder`` by ``key`` and its ``model.ckpt`` path."""
    checkpoint = best_checkpoint(save_folder, key)
    if "model" not in checkpoint.paramfiles:
        raise FileNotFoundError(f"{checkpoint.path} has no model.ckpt.")
    return checkpoint, regular_file(checkpoint.paramfiles["model"], "checkpoint")


def load_trained_model(output_folder, key="valid_pesq"):
    """Rebuilds the model of a training output folder with its best weights.

    Arguments
    ---------
    output_folder : str or pathlib.Path
        The ``output_folder`` of a ``train.py`` run.
    key : str
        Checkpoint metadata key that selects the best checkpoint.

    Returns
    -------
    model : torch.nn.Module
        In eval mode.
    checkpoint : speechbrain.utils.checkpoints.Checkpoint
        The checkpoint used (its ``meta`` holds the validation metrics).

    Example
    -------
    >>> import tempfile
    >>> from speechbrain.utils.checkpoints import Checkpointer
    >>> from speechbrain_atkl.loading.model_config import save_model_config
    >>> from speechbrain_atkl.models import DCCRN
    >>> run = Path(tempfile.mkdtemp())
    >>> trained = DCCRN(channels=[8] * 6, rnn_units=16)
    >>> save_model_config(trained, run / "save" / MODEL_CONFIG)
    >>> _ = Checkpointer(run / "save", {"model": trained}).save_checkpoint(meta={"valid_pesq": 2.0})
    >>> model, checkpoint = load_trained_model(run)
    >>> type(model).__name__, checkpoint.meta["valid_pesq"], model.training
    ('DCCRN', 2.0, False)
    """
    save_folder = Path(output_folder) / "save"
    config = save_folder / MODEL_CONFIG
    spec = load_model_config(config)
    checkpoint, weights = best_model_weights(save_folder, key)
    state = load_weights(weights, "checkpoint")
    model = build_model(spec, what=str(config), state=state, state_what=f"checkpoint {weights}")
    return model.eval(), checkpoint
