"""Checkpoint averaging: the mean of a run's last end-of-epoch weights, offered as one more checkpoint.

After training, :func:`add_averaged_checkpoint` averages the model weights of
the last ``count`` end-of-epoch checkpoints (SpeechBrain's
``average_checkpoints``), scores the average on the validation set exactly as
an epoch is scored, and saves it as a checkpoint with that validation meta and
``averaged_from`` (the names of its sources). The best checkpoint by the run's
``ckpt_key`` (the one tested and published) is then the average only when it
validates better than every epoch: averaging never replaces a better model.

The YAML's ``average_checkpoints`` (0: off) sets ``count``; the run keeps at
least that many end-of-epoch checkpoints. A run resumed after its average was
saved (killed during the test) does not average again unless its last
end-of-epoch checkpoints changed (a run extended by more epochs). The average
is the run's latest checkpoint, so a run extended by more epochs goes on
from the averaged weights.

Authors
 * speechbrain-atkl developers 2026
"""

import logging

import speechbrain as sb
import torch
from speechbrain.utils.checkpoints import average_checkpoints
from speechbrain.utils.distributed import ddp_barrier

logger = logging.getLogger(__name__)

#: Checkpoint meta key listing the checkpoints an averaged one was made from.
AVERAGED_FROM = "averaged_from"


def end_of_epoch_checkpoints(checkpointer):
    """The checkpointer's end-of-epoch checkpoints that are not averages, oldest first."""
    checkpoints = [
        checkpoint
        for checkpoint in checkpointer.list_checkpoints()
        if checkpoint.meta.get("end-of-epoch") and AVERAGED_FROM not in checkpoint.meta
    ]
    return sorted(checkpoints, key=lambda checkpoint: checkpoint.meta["unixtime"])


def add_averaged_checkpoint(brain, valid_set, count, loader_kwargs=None, recoverable="model"):
    """Saves the average of the last ``count`` end-of-epoch checkpoints, scored on ``valid_set``.

    Arguments
    ---------
    brain : speechbrain_atkl.training.brains.EnhancementBrain
        A trained Brain with its checkpointer; its model is left holding the
        averaged weights (the run's test then loads its best checkpoint).
    valid_set : torch.utils.data.Dataset
        The validation set the epochs were scored on.
    count : int
        How many of the last end-of-epoch checkpoints to average (>= 2).
    loader_kwargs : dict or None
        The validation DataLoader's options.
    recoverable : str
        The checkpointer's name for the model.

    Returns
    -------
    speechbrain.utils.checkpoints.Checkpoint or None
        The new checkpoint; None when fewer than two checkpoints exist or the
        average of the same checkpoints was saved already.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_atkl.training.brains import EnhancementBrain
    >>> from speechbrain_atkl.training.checkpoints import AtomicCheckpointer
    >>> from speechbrain_atkl.losses.si_snr import SISNRLoss
    >>> from speechbrain.dataio.dataset import DynamicItemDataset
    >>> model = torch.nn.Sequential(  # (batch, time) -> (batch, time), times one weight
    ...     torch.nn.Unflatten(1, (1, -1)), torch.nn.Conv1d(1, 1, 1, bias=False), torch.nn.Flatten())
    >>> checkpointer = AtomicCheckpointer(tempfile.mkdtemp(), {"model": model})
    >>> for weight in (1.0, 3.0):
    ...     _ = torch.nn.init.constant_(model[1].weight, weight)
    ...     _ = checkpointer.save_checkpoint(meta={"valid_si_snr": 0.0})
    >>> brain = EnhancementBrain(modules={"model": model}, checkpointer=checkpointer,
    ...     hparams={"loss": SISNRLoss(), "valid_pesq": False, "ckpt_key": "valid_si_snr"})
    >>> data = {"a": {"noisy_sig": torch.randn(800), "clean_sig": torch.randn(800)}}
    >>> valid = DynamicItemDataset(data, output_keys=["id", "noisy_sig", "clean_sig"])
    >>> average = add_averaged_checkpoint(brain, valid, count=2)
    >>> model[1].weight.item(), len(average.meta["averaged_from"])
    (2.0, 2)
    >>> add_averaged_checkpoint(brain, valid, count=2) is None  # done already
    True
    """
    if count < 2:
        raise ValueError(f"average_checkpoints must be 0 (off) or >= 2, got {count}.")
    checkpointer = brain.checkpointer
    sources = end_of_epoch_checkpoints(checkpointer)[-count:]
    if len(sources) < 2:
        logger.info("Checkpoint averaging skipped: %d end-of-epoch checkpoint(s).", len(sources))
        return None
    names = [checkpoint.path.name for checkpoint in sources]
    if any(checkpoint.meta.get(AVERAGED_FROM) == names for checkpoint in checkpointer.list_checkpoints()):
        logger.info("The average of %s is saved already.", names)
        return None
    model = checkpointer.recoverables[recoverable]
    model.load_state_dict(average_checkpoints(sources, recoverable))
    meta = {f"valid_{name}": value for name, value in _validation_scores(brain, valid_set, loader_kwargs).items()}
    checkpoint = checkpointer.save_checkpoint(meta={**meta, AVERAGED_FROM: names})  # by the main process
    ddp_barrier()  # under DDP, no process looks for the best checkpoint before the average is saved
    logger.info("Averaged %d checkpoints: %s", len(names), {k: round(v, 4) for k, v in meta.items()})
    return checkpoint


def _validation_scores(brain, valid_set, loader_kwargs):
    """Validation loss and metrics of the Brain's current weights (no scheduler step, no checkpoint)."""
    loader = brain.make_dataloader(valid_set, stage=sb.Stage.VALID, **(loader_kwargs or {}))
    brain.on_stage_start(sb.Stage.VALID)
    brain.modules.eval()
    losses = []
    with torch.no_grad():
        for batch in loader:
            losses.append(float(brain.evaluate_batch(batch, stage=sb.Stage.VALID)))
    if not losses:
        raise ValueError("checkpoint averaging: the validation set is empty.")
    return {"loss": sum(losses) / len(losses), **brain.valid_summary()}
