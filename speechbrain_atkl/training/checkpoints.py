"""Finding and loading trained models: training output folders, checkpoint files, teachers.

A training run (``train.py``) leaves in its output folder:

* ``save/model_config.yaml``: the model's class and constructor arguments;
* ``save/CKPT+<time>/model.ckpt``: the weights of each checkpoint, with
  ``CKPTINFO.yaml`` holding validation metrics such as ``valid_pesq``.

Authors
 * speechbrain-atkl developers 2026
"""

import logging
import shutil
from pathlib import Path

import torch
from speechbrain.utils.checkpoints import METAFNAME, Checkpoint, Checkpointer
from speechbrain.utils.distributed import if_main_process

from speechbrain_atkl.models.config import build_model, load_model_config

logger = logging.getLogger(__name__)

MODEL_CONFIG = "model_config.yaml"
PENDING_META = "CKPTINFO.pending"
#: Validation metrics where larger is better; everything else (losses) is minimised.
MAXIMISED = ("pesq", "stoi", "si_snr", "dnsmos")


class AtomicCheckpointer(Checkpointer):
    """A SpeechBrain ``Checkpointer`` whose checkpoints appear only when complete.

    SpeechBrain writes a checkpoint's ``CKPTINFO.yaml`` before its parameter
    files, so a run killed while saving leaves a folder that looks like a
    checkpoint but misses files, and resuming from it fails. This class writes
    the metadata under a pending name and renames it once every file is on
    disk; unfinished checkpoint folders are removed at the next save.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> checkpointer = AtomicCheckpointer(folder, {"layer": torch.nn.Linear(2, 2)})
    >>> checkpoint = checkpointer.save_checkpoint(meta={"valid_loss": 1.0})
    >>> [c.meta["valid_loss"] for c in checkpointer.list_checkpoints()]
    [1.0]
    """

    def _save_checkpoint_metafile(self, fpath, meta_to_include={}, end_of_epoch=True):
        pending = Path(fpath).with_name(PENDING_META)
        return super()._save_checkpoint_metafile(pending, meta_to_include, end_of_epoch)

    def save_checkpoint(self, meta={}, end_of_epoch=True, name=None, verbosity=logging.INFO):
        """Saves a checkpoint (see SpeechBrain's ``Checkpointer.save_checkpoint``)."""
        if if_main_process():
            self._remove_unfinished()
        checkpoint = super().save_checkpoint(meta, end_of_epoch, name, verbosity)
        if checkpoint is None:  # not the main process
            return None
        (Path(checkpoint.path) / PENDING_META).replace(Path(checkpoint.path) / METAFNAME)
        return Checkpoint(checkpoint.path, checkpoint.meta, checkpoint.paramfiles)

    def _remove_unfinished(self):
        if not self.checkpoints_dir.is_dir():
            return
        for folder in self.checkpoints_dir.iterdir():
            if (folder / PENDING_META).exists() and not (folder / METAFNAME).exists():
                logger.warning("Removing unfinished checkpoint %s", folder)
                shutil.rmtree(folder, ignore_errors=True)


def is_maximised(key):
    """Whether a larger value of the metric ``key`` is better.

    Example
    -------
    >>> is_maximised("valid_pesq"), is_maximised("valid_loss")
    (True, False)
    """
    return any(name in key for name in MAXIMISED)


def best_checkpoint(save_folder, key="valid_pesq"):
    """The checkpoint with the best ``key`` in its metadata.

    Checkpoints without ``key`` (intra-epoch ones) are ignored unless there is
    no other; then the most recent is returned.

    Arguments
    ---------
    save_folder : str or pathlib.Path
        A Checkpointer folder (``<output_folder>/save``).
    key : str
        Metadata key; maximised for PESQ/STOI/SI-SNR/DNSMOS, else minimised.

    Returns
    -------
    speechbrain.utils.checkpoints.Checkpoint
    """
    checkpoints = Checkpointer(save_folder).list_checkpoints()
    if not checkpoints:
        raise FileNotFoundError(f"no checkpoint (CKPT+* folder) found in {save_folder}.")
    scored = [c for c in checkpoints if key in c.meta]
    if not scored:
        logger.warning("No checkpoint in %s has %r; using the most recent.", save_folder, key)
        return max(checkpoints, key=lambda c: c.meta.get("unixtime", 0))
    sign = 1 if is_maximised(key) else -1
    return max(scored, key=lambda c: sign * c.meta[key])


def load_weights(path, what="checkpoint"):
    """Reads a state dict file safely: tensors only, never pickled code.

    ``torch.load`` runs with ``weights_only=True`` whatever torch's default,
    so a file holding other Python objects (a pickle payload) is refused
    before anything in it runs.

    Arguments
    ---------
    path : str or pathlib.Path
        A file written by ``torch.save(model.state_dict(), path)``.
    what : str
        What the file is, for error messages.

    Returns
    -------
    dict
        Parameter name -> ``torch.Tensor``, on the CPU.

    Raises
    ------
    ValueError
        Naming the file when it is not such a file (corrupt, empty, not
        PyTorch, or holding anything but tensors).

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "w.ckpt")
    >>> torch.save(torch.nn.Linear(2, 1).state_dict(), path)
    >>> sorted(load_weights(path))
    ['bias', 'weight']
    >>> with open(path, "wb") as file:
    ...     _ = file.write(b"not torch")
    >>> load_weights(path)
    Traceback (most recent call last):
    ...
    ValueError: checkpoint ...w.ckpt is not a PyTorch weights file that loads safely (tensors only): ...
    """
    prefix = f"{what} {path} is not a PyTorch weights file that loads safely (tensors only)"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as error:  # noqa: BLE001 - corrupt files raise anything (IndexError, EOFError, ...)
        # torch's message suggests weights_only=False, i.e. running the file's code: leave that out.
        lines = [line for line in str(error).splitlines() if line.strip() and "weights_only" not in line]
        reason = " ".join(lines[:2]) or "the file is empty or truncated"
        raise ValueError(f"{prefix}: {type(error).__name__}: {reason}") from None
    if not isinstance(state, dict) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items()
    ):
        raise ValueError(f"{prefix}: it holds a {type(state).__name__}, not a mapping of names to tensors.")
    return state


def load_state_dict(model, path, what="checkpoint"):
    """Loads a state dict file into ``model``, strictly, with an error that says what differs.

    Every parameter and buffer of ``model`` must be in the file and every
    tensor of the file must belong to ``model`` (see :func:`load_weights` for
    how the file is read).
    """
    state = load_weights(path, what)
    try:
        result = model.load_state_dict(state, strict=False)
        missing, unexpected = result.missing_keys, result.unexpected_keys
    except RuntimeError as error:  # shape mismatches
        raise ValueError(
            f"{what} {path} does not fit a {type(model).__name__} with this configuration: {error}"
        ) from None
    if missing or unexpected:
        raise ValueError(
            f"{what} {path} does not fit a {type(model).__name__} with this configuration: "
            f"{len(missing)} of the model's tensors missing {_names(missing)}, "
            f"{len(unexpected)} unexpected {_names(unexpected)}."
        )
    return model


def _names(keys, shown=8):
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return f"({', '.join(keys[:shown])}{more})" if keys else ""


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
    """
    save_folder = Path(output_folder) / "save"
    model = build_model(load_model_config(save_folder / MODEL_CONFIG))
    checkpoint, weights = best_model_weights(save_folder, key)
    load_state_dict(model, weights)
    return model.eval(), checkpoint


def best_model_weights(save_folder, key="valid_pesq"):
    """The best checkpoint of ``save_folder`` by ``key`` and its ``model.ckpt`` path."""
    checkpoint = best_checkpoint(save_folder, key)
    if "model" not in checkpoint.paramfiles:
        raise FileNotFoundError(f"{checkpoint.path} has no model.ckpt.")
    return checkpoint, checkpoint.paramfiles["model"]


def load_teacher(source, teacher=None, key="valid_pesq", savedir=None, allow_other_architecture=False):
    """Loads a frozen teacher for distillation.

    Arguments
    ---------
    source : str or pathlib.Path
        A training output folder (with ``save/model_config.yaml``), a
        checkpoint file (``.ckpt``, loaded into ``teacher``), or a published
        model (a local folder with ``hyperparams.yaml`` or a Hugging Face Hub id).
    teacher : torch.nn.Module or None
        The architecture described in the YAML; needed for a bare checkpoint
        file, and checked against the others.
    key : str
        Selects the best checkpoint of a training folder.
    savedir : str or None
        Where a published model is fetched to.
    allow_other_architecture : bool
        Accept a teacher whose class differs from ``teacher``'s (the YAML key
        ``teacher_any_architecture``); by default that is an error, since it
        usually means the wrong folder (e.g. a student's run) was given.

    Returns
    -------
    torch.nn.Module
        The teacher in eval mode with ``requires_grad`` off.
    """
    how_to = (
        "Train a teacher first (`python train.py hparams/uformer.yaml`) and point "
        "`teacher_checkpoint` at its output folder, a model.ckpt file, or a published model."
    )
    if not source:
        raise ValueError(f"teacher_checkpoint is empty. {how_to}")
    path = Path(source)
    if path.is_dir() and (path / "save").is_dir():
        if not (path / "save" / MODEL_CONFIG).is_file():
            raise FileNotFoundError(
                f"teacher_checkpoint {path} has no save/{MODEL_CONFIG}: did the teacher's training fail? {how_to}"
            )
        model, checkpoint = load_trained_model(path, key)
        logger.info("Teacher: %s from %s", type(model).__name__, checkpoint.path)
    elif path.is_file():
        if teacher is None:
            raise ValueError(f"teacher_checkpoint {path} is a weights file: the YAML must define `teacher`.")
        model = load_state_dict(teacher, path, what="teacher checkpoint")
    elif (path.is_dir() and (path / "hyperparams.yaml").is_file()) or (
        not path.exists() and _looks_like_hub_id(source)
    ):
        from speechbrain_atkl.inference import EnhanceBatch

        model = EnhanceBatch.from_hparams(source=str(source), savedir=savedir).mods.enhance_model
    else:
        raise FileNotFoundError(f"teacher_checkpoint {source} not found. {how_to}")
    if teacher is not None and type(model) is not type(teacher):
        mismatch = (
            f"teacher_checkpoint {source} holds a {type(model).__name__}, "
            f"the YAML's teacher is a {type(teacher).__name__}"
        )
        if not allow_other_architecture:
            raise ValueError(
                f"{mismatch}. Was a student's run given as the teacher? {how_to} To distil from "
                "another architecture on purpose, set teacher_any_architecture: true."
            )
        logger.warning("%s: using the checkpoint's (teacher_any_architecture).", mismatch)
    model.eval()
    model.requires_grad_(False)
    return model


def _looks_like_hub_id(source):
    parts = str(source).split("/")
    return len(parts) == 2 and all(parts) and not str(source).startswith((".", "/"))


def init_from_pretrained(model, source, checkpointer=None, key="valid_pesq", savedir=None):
    """Starts ``model`` from trained weights (fine-tuning), unless the run resumes.

    Arguments
    ---------
    model : torch.nn.Module
        The model of the YAML; its architecture must match the weights'.
    source : str or pathlib.Path
        A published model folder (``enhance_model.ckpt``, written by
        :mod:`speechbrain_atkl.publish`), a training output folder (its best
        checkpoint by ``key``), a ``.ckpt`` state-dict file, or a Hugging Face
        Hub id of a published model.
    checkpointer : speechbrain.utils.checkpoints.Checkpointer or None
        The run's checkpointer: when it already holds a checkpoint the run is
        resumed and keeps its own weights (nothing is loaded).
    key : str
        Selects the best checkpoint of a training folder.
    savedir : str or None
        Where a Hub model's weights are fetched to.

    Returns
    -------
    bool
        Whether the weights were loaded.

    Example
    -------
    >>> import tempfile
    >>> trained, fresh = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    >>> path = Path(tempfile.mkdtemp()) / "model.ckpt"
    >>> torch.save(trained.state_dict(), path)
    >>> init_from_pretrained(fresh, path), torch.equal(fresh.weight, trained.weight)
    (True, True)
    >>> init_from_pretrained(torch.nn.Linear(3, 2), path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: init_from ... does not fit a Linear with this configuration: ...
    """
    if checkpointer is not None and checkpointer.find_checkpoint() is not None:
        logger.info("init_from %s ignored: the run resumes from its own checkpoint.", source)
        return False
    path = Path(source)
    if path.is_dir() and (path / "enhance_model.ckpt").is_file():
        weights = path / "enhance_model.ckpt"
    elif path.is_dir() and (path / "save").is_dir():
        _, weights = best_model_weights(path / "save", key)
    elif path.is_file():
        weights = path
    elif not path.exists() and _looks_like_hub_id(source):
        from speechbrain.utils.fetching import fetch

        weights = fetch("enhance_model.ckpt", source=str(source), savedir=savedir or f"pretrained_models/{path.name}")
    else:
        raise FileNotFoundError(
            f"init_from {source}: not a published model folder (enhance_model.ckpt), a training output "
            "folder (save/), a .ckpt file or a Hub id."
        )
    load_state_dict(model, weights, what="init_from")
    logger.info("Initialised %s from %s", type(model).__name__, weights)
    return True
