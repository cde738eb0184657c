"""Checks a training run makes before its work: its hyper-parameters, its folder's lock, its paths, a checkpoint.

* :func:`validate_hparams`: every known key of the recipe YAML has a value
  of the right kind (``--lr abc`` fails at once, naming the key);
* :func:`run_lock`: one process at a time trains a run folder (a second one
  is refused, naming the holder's pid); the lock dies with its process, so a
  killed run resumes;
* :func:`check_paths`: the data folder exists, and the folders and the
  noisy-score cache that the final test writes are usable, before any work;
* :func:`require_checkpoint`: testing needs a trained checkpoint.

What a run folder recorded of an earlier start (its configuration and data)
is compared with this one by :mod:`~speechbrain_atkl.training.run_records`.

Authors
 * speechbrain-atkl developers 2026
"""

import contextlib
import os
from pathlib import Path

from speechbrain_atkl.data.atomic import FileWriteError, check_writable, exclusive_lock
from speechbrain_atkl.data.holdout import VALID_BALANCES
from speechbrain_atkl.evaluation.noisy_cache import NoisyScoreCache
from speechbrain_atkl.evaluation.utterance_scorer import METRICS
from speechbrain_atkl.loading import is_maximised
from speechbrain_atkl.value_checks import is_number, is_range

CKPT_KEYS = ("valid_pesq", "valid_si_snr", "valid_loss")
#: Held by the process training the run folder; holds its pid.
LOCK_FILE = ".train.lock"


class ConfigurationError(ValueError):
    """A hyper-parameter or run configuration that cannot work; the message says why."""


#: ``key: (test, what is expected)``; keys absent from the YAML are not checked.
RULES = {
    "lr": (lambda v: is_number(v, 0, low_open=True), "a positive number"),
    "segment_seconds": (lambda v: is_number(v, 0, low_open=True), "a positive number of seconds"),
    "valid_seconds": (lambda v: v is None or is_number(v, 0, low_open=True), "null or a positive number of seconds"),
    "max_grad_norm": (lambda v: is_number(v, 0, low_open=True), "a positive number"),
    "batch_size": (lambda v: is_number(v, 1, integer=True), "an integer >= 1"),
    "epoch_size": (lambda v: is_number(v, 1, integer=True), "an integer >= 1"),
    "valid_count": (lambda v: is_number(v, 1, integer=True), "an integer >= 1"),
    "number_of_epochs": (lambda v: is_number(v, 0, integer=True), "an integer >= 0"),
    "num_workers": (lambda v: is_number(v, 0, integer=True), "an integer >= 0"),
    "eval_num_workers": (lambda v: is_number(v, 0, integer=True), "an integer >= 0"),
    "keep_checkpoints": (lambda v: is_number(v, 1, integer=True), "an integer >= 1"),
    "average_checkpoints": (lambda v: is_number(v, 0, integer=True) and v != 1, "0 (off) or an integer >= 2"),
    "max_bad_files": (lambda v: is_number(v, 0, integer=True), "an integer >= 0"),
    "seed": (lambda v: is_number(v, 0, integer=True), "an integer >= 0"),
    "data_seed": (lambda v: is_number(v, 0, integer=True), "an integer >= 0"),
    "sample_rate": (lambda v: is_number(v, 1, integer=True), "a sample rate in Hz"),
    "ckpt_interval_minutes": (lambda v: is_number(v, 0), "a number of minutes >= 0"),
    "valid_fraction": (lambda v: is_number(v, 0, 1, low_open=True) and v < 1, "a fraction in (0, 1)"),
    "reverb_prob": (lambda v: is_number(v, 0, 1), "a probability in [0, 1]"),
    "feature_weight": (lambda v: is_number(v, 0), "a number >= 0"),
    "teacher_weight": (lambda v: is_number(v, 0, 1), "a weight in [0, 1]"),
    "snr_range": (is_range, "[low, high] in dB with low <= high"),
    "valid_snr_range": (lambda v: v is None or is_range(v), "null (snr_range) or [low, high] in dB with low <= high"),
    "valid_noise_count": (
        lambda v: v is None or is_number(v, 1, integer=True),
        "null (valid_fraction of the noise files) or an integer >= 1",
    ),
    "valid_balance": (lambda v: v in VALID_BALANCES, f"one of {', '.join(VALID_BALANCES)}"),
    "level_range_db": (is_range, "[low, high] in dBFS with low <= high"),
    "valid_pesq": (lambda v: isinstance(v, bool), "true or false"),
    "save_enhanced": (lambda v: isinstance(v, bool), "true or false"),
    "use_tensorboard": (lambda v: isinstance(v, bool), "true or false"),
    "ckpt_key": (lambda v: v in CKPT_KEYS, f"one of {', '.join(CKPT_KEYS)}"),
    "test_metrics": (
        lambda v: isinstance(v, (list, tuple)) and bool(v) and all(m in METRICS for m in v),
        f"a non-empty list from {', '.join(METRICS)}",
    ),
}


def validate_hparams(hparams):
    """Raises ConfigurationError naming every bad key, before any data work.

    Arguments
    ---------
    hparams : dict
        The loaded recipe hyper-parameters.

    Example
    -------
    >>> validate_hparams({"lr": 0.001, "ckpt_key": "valid_si_snr", "valid_pesq": False})
    >>> validate_hparams({"lr": "abc", "ckpt_key": "valid_pesq", "valid_pesq": False})
    Traceback (most recent call last):
    ...
    speechbrain_atkl.training.run_checks.ConfigurationError: Bad hyper-parameters:
      lr: expected a positive number, got 'abc' (str)
      ckpt_key: valid_pesq selects checkpoints by validation PESQ, which valid_pesq: false turns off;
      use ckpt_key: valid_si_snr or valid_loss, or valid_pesq: true
    """
    problems = [
        f"{key}: expected {expected}, got {hparams[key]!r} ({type(hparams[key]).__name__})"
        for key, (test, expected) in RULES.items()
        if key in hparams and not test(hparams[key])
    ]
    if hparams.get("ckpt_key") == "valid_pesq" and hparams.get("valid_pesq") is False:
        problems.append(
            "ckpt_key: valid_pesq selects checkpoints by validation PESQ, which valid_pesq: false "
            "turns off; use ckpt_key: valid_si_snr or valid_loss, or valid_pesq: true"
        )
    if problems:
        raise ConfigurationError("Bad hyper-parameters:\n  " + "\n  ".join(problems))


@contextlib.contextmanager
def run_lock(output_folder):
    """Holds an exclusive lock on a run folder while the block runs.

    The lock is an ``flock`` on :data:`LOCK_FILE` in the folder (created if
    needed), so it is released when the block ends and, whatever ends the
    process (SIGKILL included), when the process does.

    Arguments
    ---------
    output_folder : str or pathlib.Path
        The run folder.

    Raises
    ------
    ConfigurationError
        If another process holds it, naming the folder and that process's pid.

    Example
    -------
    >>> import tempfile
    >>> run = Path(tempfile.mkdtemp())
    >>> with run_lock(run):
    ...     with run_lock(run):  # doctest: +ELLIPSIS
    ...         pass
    Traceback (most recent call last):
    ...
    speechbrain_atkl.training.run_checks.ConfigurationError: ... is being trained by process ... (lock file ...)...
    >>> with run_lock(run):  # released
    ...     pass
    """
    folder = Path(output_folder)
    path = folder / LOCK_FILE
    with contextlib.ExitStack() as stack:
        try:
            handle = stack.enter_context(exclusive_lock(path, wait=False))
        except BlockingIOError:
            holder = path.read_text(encoding="utf-8").strip() or "unknown"
            raise ConfigurationError(
                f"{folder} is being trained by process {holder} (lock file {path}): two trainers would "
                "mix their logs and checkpoints. Wait for it to end or stop it, or use another output folder."
            ) from None
        except OSError as error:
            raise ConfigurationError(f"{folder}: cannot create the run folder's lock file {path}: {error}") from error
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        yield


def check_paths(hparams):
    """Checks, before any work, the data folder and what the final test writes.

    Arguments
    ---------
    hparams : dict
        The recipe hyper-parameters: ``data_folder`` (None: the demo corpus),
        ``output_folder``, ``test_results_folder`` and, when set,
        ``enhanced_folder`` with ``save_enhanced`` and ``noisy_score_cache``.

    Raises
    ------
    ConfigurationError
        Naming the folder or file that cannot be used.

    Example
    -------
    >>> import tempfile
    >>> run = Path(tempfile.mkdtemp())
    >>> check_paths({"data_folder": run / "DNS-Challnge", "output_folder": run / "out"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    speechbrain_atkl.training.run_checks.ConfigurationError: data_folder: .../DNS-Challnge is not a folder.
    """
    data_folder = hparams.get("data_folder")
    if data_folder is not None and not Path(data_folder).is_dir():
        raise ConfigurationError(f"data_folder: {data_folder} is not a folder.")
    folders = [hparams["output_folder"], hparams.get("test_results_folder")]
    if hparams.get("save_enhanced"):
        folders.append(hparams.get("enhanced_folder"))
    try:
        for folder in filter(None, folders):
            check_writable(folder)
        if hparams.get("noisy_score_cache"):
            NoisyScoreCache(hparams["noisy_score_cache"])
    except (FileWriteError, ValueError) as error:
        raise ConfigurationError(f"the test stage could not write its results: {error}") from error


def require_checkpoint(checkpointer, key):
    """Raises ConfigurationError unless a checkpoint with metric ``key`` exists.

    Arguments
    ---------
    checkpointer : speechbrain.utils.checkpoints.Checkpointer
        The run's checkpointer.
    key : str
        The ``ckpt_key`` that selects the checkpoint to test.
    """
    best = {"max_key": key} if is_maximised(key) else {"min_key": key}
    if checkpointer.find_checkpoint(**best) is None:
        raise ConfigurationError(
            f"No checkpoint with {key!r} in {checkpointer.checkpoints_dir}: there is no trained "
            "model to test (number_of_epochs: 0 on a new run, or its checkpoints were deleted). "
            "Train at least one epoch (--number_of_epochs 1 or more)."
        )
