"""The checkpoint to publish: a training folder's best one by a validation value.

Authors
 * speechbrain-atkl developers 2026
"""

from pathlib import Path

from speechbrain_atkl.loading import load_trained_model, records
from speechbrain_atkl.publishing.errors import PublishError


def load_best_model(train_dir, key="valid_pesq"):
    """Rebuilds a training folder's model from its best checkpoint by ``key``.

    Uses :func:`speechbrain_atkl.loading.load_trained_model`
    (``key`` is maximised for PESQ, STOI, SI-SNR and DNSMOS, else minimised),
    but refuses to fall back on a checkpoint that does not record ``key``.

    Arguments
    ---------
    train_dir : str or pathlib.Path
        Training output folder (see :mod:`speechbrain_atkl.publishing.assembly`).
    key : str
        ``CKPTINFO.yaml`` meta key ranking the checkpoints.

    Returns
    -------
    model : torch.nn.Module
        In eval mode, with the checkpoint's weights.
    checkpoint : speechbrain.utils.checkpoints.Checkpoint
        The chosen checkpoint.

    Raises
    ------
    PublishError
        When the folder, its checkpoints or ``key`` are missing.

    Example
    -------
    >>> import tempfile
    >>> load_best_model(Path(tempfile.mkdtemp()) / "nowhere")
    Traceback (most recent call last):
    ...
    speechbrain_atkl.publishing.errors.PublishError: .../nowhere: training output folder not found.
    """
    train_dir = Path(train_dir)
    if not train_dir.is_dir():
        raise PublishError(f"{train_dir}: training output folder not found.")
    try:
        model, checkpoint = load_trained_model(train_dir, key)
    except (FileNotFoundError, ValueError) as error:
        raise PublishError(f"{train_dir}: {error}") from error
    if not records(checkpoint, key):
        raise PublishError(
            f"{train_dir / 'save'}: no checkpoint records {key!r} as a finite number (the latest has "
            f"{sorted(k for k in checkpoint.meta if k != 'unixtime')}); pass another --checkpoint-key."
        )
    return model, checkpoint
