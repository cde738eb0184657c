"""Checkpoints while training, and the trained models a run starts from (teacher, fine-tuning).

Reading trained models (training output folders, model folders, weights
files, Hub ids) is :mod:`speechbrain_atkl.loading`'s job; this module says
what training does with them: a frozen teacher of the expected architecture,
or starting weights unless the run resumes.

Authors
 * speechbrain-atkl developers 2026
"""

import logging
import shutil
from pathlib import Path

from speechbrain.utils.checkpoints import METAFNAME, Checkpoint, Checkpointer
from speechbrain.utils.distributed import if_main_process

from speechbrain_atkl.loading import load_model, load_weights_into

logger = logging.getLogger(__name__)

PENDING_META = "CKPTINFO.pending"


class AtomicCheckpointer(Checkpointer):
    """A SpeechBrain ``Checkpointer`` whose checkpoints appear only when complete.

    SpeechBrain writes a checkpoint's ``CKPTINFO.yaml`` before its parameter
    files, so a run killed while saving leaves a folder that looks like a
    checkpoint but misses files, and resuming from it fails. This class writes
    the metadata under a pending name and renames it once every file is on
    disk; unfinished checkpoint folders are removed at the next save.

    Example
    -------
    >>> import tempfile, torch
    >>> folder = tempfile.mkdtemp()
    >>> checkpointer = AtomicCheckpointer(folder, {"layer": torch.nn.Linear(2, 2)})
    >>> checkpoint = checkpointer.save_checkpoint(meta={"valid_loss": 1.0})
    >>> [c.meta["valid_loss"] for c in checkpointer.list_checkpoints()]
    [1.0]
    """

    def _save_checkpoint_metafile(self, fpath, meta_to_include=None, end_of_epoch=True):
        pending = Path(fpath).with_name(PENDING_META)
        return super()._save_checkpoint_metafile(pending, meta_to_include or {}, end_of_epoch)

    def save_checkpoint(self, meta=None, end_of_epoch=True, name=None, verbosity=logging.INFO):
        """Saves a checkpoint (see SpeechBrain's ``Checkpointer.save_checkpoint``)."""
        if if_main_process():
            self._remove_unfinished()
        checkpoint = super().save_checkpoint(meta or {}, end_of_epoch, name, verbosity)
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
    try:
        model = load_model(source, model=teacher, key=key, savedir=savedir)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"teacher_checkpoint: {error} {how_to}") from None
    logger.info("Teacher: %s from %s", type(model).__name__, source)
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
    model.requires_grad_(False)
    return model


def init_from_pretrained(model, source, checkpointer=None, key="valid_pesq", savedir=None):
    """Starts ``model`` from trained weights (fine-tuning), unless the run resumes.

    Arguments
    ---------
    model : torch.nn.Module
        The model of the YAML; its architecture must match the weights'.
    source : str or pathlib.Path
        A published model folder (``enhance_model.ckpt``, written by
        :mod:`speechbrain_atkl.publishing`), a training output folder (its best
        checkpoint by ``key``), a ``.ckpt`` state-dict file, or a Hugging Face
        Hub id of a published model.
    checkpointer : speechbrain.utils.checkpoints.Checkpointer or None
        The run's checkpointer: when it already holds a checkpoint the run is
        resumed and keeps its own weights (nothing is loaded).
    key : str
        Selects the best checkpoint of a training folder.
    savedir : str or None
        Where a Hub model's weights are fetched to; None: the Hub's cache,
        which keeps each model id apart.

    Returns
    -------
    bool
        Whether the weights were loaded.

    Example
    -------
    >>> import tempfile, torch
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
    weights = load_weights_into(model, source, key=key, savedir=savedir, what="init_from")
    logger.info("Initialised %s from %s", type(model).__name__, weights)
    return True
