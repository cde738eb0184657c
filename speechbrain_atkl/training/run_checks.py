"""Checks a training run makes before any data work: hyper-parameters, a changed configuration, checkpoints.

* :func:`validate_hparams`: every known key of the recipe YAML has a value
  of the right kind (``--lr abc`` fails at once, naming the key);
* :func:`check_configuration`: re-running into an existing output folder with
  other hyper-parameters is refused (it would resume a run trained with
  the old ones and rewrite its record), except a larger ``number_of_epochs``,
  which continues training;
* :func:`require_checkpoint`: testing needs a trained checkpoint.

Authors
 * speechbrain-atkl developers 2026
"""

import datetime
import logging
import math
import shutil
from pathlib import Path

import yaml
from hyperpyyaml import resolve_references

from speechbrain_atkl.evaluation.utterance_scorer import METRICS
from speechbrain_atkl.loading import is_maximised

logger = logging.getLogger(__name__)

CKPT_KEYS = ("valid_pesq", "valid_si_snr", "valid_loss")
HPARAMS_RECORD = "hyperparams.yaml"
# Keys that may grow between runs of one output folder: training continues.
EXTENSIBLE = "number_of_epochs"


class ConfigurationError(ValueError):
    """A hyper-parameter or run configuration that cannot work; the message says why."""


def _number(value, low=-math.inf, high=math.inf, integer=False, low_open=False):
    """True if ``value`` is a finite (integer) number in the range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if integer and not float(value).is_integer():
        return False
    return math.isfinite(value) and (value > low if low_open else value >= low) and value <= high


def _range(value):
    return (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(_number(v) for v in value)
        and value[0] <= value[1]
    )


#: ``key: (test, what is expected)``; keys absent from the YAML are not checked.
RULES = {
    "lr": (lambda v: _number(v, 0, low_open=True), "a positive number"),
    "segment_seconds": (lambda v: _number(v, 0, low_open=True), "a positive number of seconds"),
    "max_grad_norm": (lambda v: _number(v, 0, low_open=True), "a positive number"),
    "batch_size": (lambda v: _number(v, 1, integer=True), "an integer >= 1"),
    "epoch_size": (lambda v: _number(v, 1, integer=True), "an integer >= 1"),
    "valid_count": (lambda v: _number(v, 1, integer=True), "an integer >= 1"),
    "number_of_epochs": (lambda v: _number(v, 0, integer=True), "an integer >= 0"),
    "num_workers": (lambda v: _number(v, 0, integer=True), "an integer >= 0"),
    "eval_num_workers": (lambda v: _number(v, 0, integer=True), "an integer >= 0"),
    "keep_checkpoints": (lambda v: _number(v, 1, integer=True), "an integer >= 1"),
    "max_bad_files": (lambda v: _number(v, 0, integer=True), "an integer >= 0"),
    "seed": (lambda v: _number(v, 0, integer=True), "an integer >= 0"),
    "data_seed": (lambda v: _number(v, 0, integer=True), "an integer >= 0"),
    "sample_rate": (lambda v: _number(v, 1, integer=True), "a sample rate in Hz"),
    "ckpt_interval_minutes": (lambda v: _number(v, 0), "a number of minutes >= 0"),
    "valid_fraction": (lambda v: _number(v, 0, 1, low_open=True) and v < 1, "a fraction in (0, 1)"),
    "reverb_prob": (lambda v: _number(v, 0, 1), "a probability in [0, 1]"),
    "feature_weight": (lambda v: _number(v, 0), "a number >= 0"),
    "teacher_weight": (lambda v: _number(v, 0, 1), "a weight in [0, 1]"),
    "snr_range": (_range, "[low, high] in dB with low <= high"),
    "level_range_db": (_range, "[low, high] in dBFS with low <= high"),
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
      ckpt_key: valid_pesq selects checkpoints by validation PESQ, which valid_pesq: false turns off; use ckpt_key: valid_si_snr or valid_loss, or valid_pesq: true
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


class _TagTolerantLoader(yaml.SafeLoader):
    """Reads HyperPyYAML as plain data: a tagged node becomes ``[tag, value]``."""


def _tagged(loader, suffix, node):
    if isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_scalar(node)
    return ["!" + suffix, value]


_TagTolerantLoader.add_multi_constructor("!", _tagged)


def read_run_record(output_folder):
    """A run's recorded hyper-parameters (its ``hyperparams.yaml``) as plain data; ``{}`` if it has none.

    Tags stay readable without running anything: a tagged node becomes ``[tag, value]``.

    Example
    -------
    >>> import tempfile
    >>> run = Path(tempfile.mkdtemp())
    >>> read_run_record(run)
    {}
    >>> _ = (run / HPARAMS_RECORD).write_text("ckpt_key: valid_si_snr  # comment\\nteacher: !new:a.B\\n")
    >>> read_run_record(run)
    {'ckpt_key': 'valid_si_snr', 'teacher': ['!new:a.B', '']}
    """
    record = Path(output_folder) / HPARAMS_RECORD
    if not record.is_file():
        return {}
    return yaml.load(record.read_text(encoding="utf-8"), _TagTolerantLoader) or {}


def _resolved(hparams_text, overrides):
    """The YAML as SpeechBrain records it (references resolved), read as plain data."""
    return yaml.load(resolve_references(hparams_text, overrides).getvalue(), _TagTolerantLoader)


def check_configuration(output_folder, hparams_file, overrides, allow_change=False):
    """Refuses to run into an output folder recorded with other hyper-parameters.

    SpeechBrain resumes from the folder's checkpoints and rewrites its
    ``hyperparams.yaml``, so a changed ``--lr`` would train nothing new and
    make the record lie. Only a larger ``number_of_epochs`` is accepted
    (training continues). With ``allow_change`` the run goes on and the old
    record is kept as ``hyperparams.<time>.yaml``.

    Arguments
    ---------
    output_folder : str or pathlib.Path
        The run's output folder.
    hparams_file : str or pathlib.Path
        The recipe YAML.
    overrides : str or dict
        Command-line overrides (YAML text or dict).
    allow_change : bool
        Accept a changed configuration (``--allow_config_change``).

    Raises
    ------
    ConfigurationError
        Listing the changed keys, old and new values.
    """
    record = Path(output_folder) / HPARAMS_RECORD
    if not record.is_file():
        return
    old = read_run_record(output_folder)
    text = Path(hparams_file).read_text(encoding="utf-8")
    overrides = yaml.safe_load(overrides) if isinstance(overrides, str) else dict(overrides or {})
    new = _resolved(text, overrides)
    epochs = (old.get(EXTENSIBLE), new.get(EXTENSIBLE))
    if EXTENSIBLE in old and _number(epochs[0]) and _number(epochs[1]) and epochs[1] > epochs[0]:
        # Compare everything else as if the epochs were unchanged (the epoch counter refers to them).
        new = _resolved(text, {**(overrides or {}), EXTENSIBLE: epochs[0]})
    added = sorted(set(new) - set(old))
    if added:  # keys the YAML gained since the run was recorded: the run never had them
        logger.info("%s: keys not in the run's record, not compared: %s", output_folder, added)
    changed = sorted(key for key in old if old.get(key) != new.get(key))
    if not changed:
        if epochs[0] != epochs[1]:
            logger.info("%s: number_of_epochs %s -> %s: training continues.", output_folder, *epochs)
        return
    lines = "\n  ".join(f"{key}: {old.get(key)!r} -> {new.get(key)!r}" for key in changed)
    if not allow_change:
        raise ConfigurationError(
            f"{output_folder} holds a run made with other hyper-parameters ({record}):\n  {lines}\n"
            "Resuming would continue that run and rewrite its record. Use another output folder "
            "(e.g. --seed or --results_root), or pass --allow_config_change to continue it with "
            "the new values anyway (number_of_epochs may grow without it)."
        )
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    kept = record.with_name(f"hyperparams.{stamp}.yaml")
    shutil.copy2(record, kept)
    logger.warning("--allow_config_change: continuing %s with changed values:\n  %s\n"
                   "(previous record kept as %s)", output_folder, lines, kept)


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
