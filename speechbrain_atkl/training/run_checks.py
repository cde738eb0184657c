"""Checks a training run makes before its work: hyper-parameters, its folder, its configuration and data.

* :func:`validate_hparams`: every known key of the recipe YAML has a value
  of the right kind (``--lr abc`` fails at once, naming the key);
* :func:`run_lock`: one process at a time trains a run folder (a second one
  is refused, naming the holder's pid); the lock dies with its process, so a
  killed run resumes;
* :func:`check_configuration`: re-running into an existing output folder with
  other hyper-parameters is refused (it would resume a run trained with
  the old ones and rewrite its record), except a larger ``number_of_epochs``,
  which continues training; the record of a start that left no checkpoint
  and no test results (a typo in ``--data_folder``...) is replaced instead;
* :func:`check_data`: the run's data record (:data:`DATA_RECORD`: the corpus
  fingerprint and a digest of each manifest of the split) is compared like
  the configuration, so that a run is never resumed or re-tested on another
  split (a changed corpus re-splits it: test items may then have been
  trained on);
* :func:`check_paths`: the data folder exists, and the folders and the
  noisy-score cache that the final test writes are usable, before any work;
* :func:`require_checkpoint`: testing needs a trained checkpoint.

Authors
 * speechbrain-atkl developers 2026
"""

import contextlib
import datetime
import hashlib
import json
import logging
import math
import os
import shutil
from pathlib import Path

import yaml
from hyperpyyaml import resolve_references

from speechbrain_atkl.data.atomic import FileWriteError, check_writable, exclusive_lock, write_text_atomically
from speechbrain_atkl.data.manifest import read_manifest
from speechbrain_atkl.evaluation.noisy_cache import NoisyScoreCache
from speechbrain_atkl.evaluation.utterance_scorer import METRICS
from speechbrain_atkl.loading import is_maximised

logger = logging.getLogger(__name__)

CKPT_KEYS = ("valid_pesq", "valid_si_snr", "valid_loss")
HPARAMS_RECORD = "hyperparams.yaml"
#: The run's data: corpus fingerprint and split (see :func:`data_record`).
DATA_RECORD = "data_record.json"
#: Held by the process training the run folder; holds its pid.
LOCK_FILE = ".train.lock"
TEST_METRICS = "test_metrics.json"
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


def has_results(output_folder, checkpointer):
    """Whether a run folder holds what training or testing made: a checkpoint or ``test_metrics.json``.

    Arguments
    ---------
    output_folder : str or pathlib.Path
        The run folder.
    checkpointer : speechbrain.utils.checkpoints.Checkpointer
        The run's checkpointer.
    """
    return bool(checkpointer.list_checkpoints()) or (Path(output_folder) / TEST_METRICS).is_file()


def check_configuration(output_folder, hparams_file, overrides, allow_change=False, trained=True):
    """Refuses to run into an output folder recorded with other hyper-parameters.

    SpeechBrain resumes from the folder's checkpoints and rewrites its
    ``hyperparams.yaml``, so a changed ``--lr`` would train nothing new and
    make the record lie. Only a larger ``number_of_epochs`` is accepted
    (training continues). With ``allow_change`` the run goes on and the old
    record is kept as ``hyperparams.<time>.yaml``. A record left by a start
    that failed before any checkpoint or test (``trained=False``) binds
    nothing: it is replaced.

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
    trained : bool
        Whether the folder holds a checkpoint or test results
        (:func:`has_results`).

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
    if not trained:
        logger.info("%s: the record of a start that left no checkpoint is replaced:\n  %s", output_folder, lines)
        return
    if not allow_change:
        raise ConfigurationError(
            f"{output_folder} holds a run made with other hyper-parameters ({record}):\n  {lines}\n"
            "Resuming would continue that run and rewrite its record. Use another output folder "
            "(e.g. --seed or --results_root), or pass --allow_config_change to continue it with "
            "the new values anyway (number_of_epochs may grow without it)."
        )
    kept = _keep(record)
    logger.warning("--allow_config_change: continuing %s with changed values:\n  %s\n"
                   "(previous record kept as %s)", output_folder, lines, kept)


def _keep(record):
    """Copies a record to ``<name>.<time><suffix>`` beside it; returns the copy."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    kept = record.with_name(f"{record.stem}.{stamp}{record.suffix}")
    shutil.copy2(record, kept)
    return kept


def data_record(preparation):
    """What a run's data is: the corpus fingerprint and, per manifest, its item count and a digest.

    Arguments
    ---------
    preparation : dict
        The record of :func:`~speechbrain_atkl.data.prepare.prepare_dns`
        (``sources``: the corpus fingerprint, ``manifests``: their paths).

    Returns
    -------
    dict
        ``{"corpus": {"files", "digest"}, "split": {manifest: {"items", "digest"}}}``;
        a digest covers every entry of the manifest (ids, files, durations,
        mixing parameters), so another split of the same files differs.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_atkl.data.manifest import write_json
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_json(folder / "test.json", {"fileid_0": {"noisy_wav": "a.wav", "clean_wav": "b.wav"}})
    >>> manifests = {"test": str(folder / "test.json")}
    >>> record = data_record({"sources": {"files": 2, "digest": "ab12"}, "manifests": manifests})
    >>> record["split"]["test"]["items"], len(record["split"]["test"]["digest"])
    (1, 64)
    """
    split = {}
    for name, path in sorted(preparation["manifests"].items()):
        manifest = read_manifest(path)
        text = json.dumps(manifest, sort_keys=True)
        split[name] = {"items": len(manifest), "digest": hashlib.sha256(text.encode()).hexdigest()}
    return {"corpus": preparation.get("sources"), "split": split}


def check_data(output_folder, record, trained, allow_change=False, write=True):
    """Refuses a run whose data split changed since it trained; then records the data.

    A changed corpus (files added, removed or modified) makes the
    preparation split it again, by index: resuming or re-testing the run
    would then test it on items it may have trained on, and overwrite its
    ``test_metrics.json``. The split is compared like the configuration (see
    :func:`check_configuration`); a corpus that changed without changing the
    split (files touched) is only logged.

    Arguments
    ---------
    output_folder : str or pathlib.Path
        The run folder (the record is its :data:`DATA_RECORD`).
    record : dict
        :func:`data_record` of this start's preparation.
    trained : bool
        Whether the folder holds a checkpoint or test results: a run that
        never trained may take another split.
    allow_change : bool
        Go on with the new split anyway (``--allow_config_change``); the old
        record is kept as ``data_record.<time>.json``.
    write : bool
        Write the record (the main process).

    Raises
    ------
    ConfigurationError
        Naming the manifests whose items changed.

    Example
    -------
    >>> import tempfile
    >>> run = Path(tempfile.mkdtemp())
    >>> first = {"corpus": {"files": 3, "digest": "a"}, "split": {"test": {"items": 2, "digest": "b"}}}
    >>> check_data(run, first, trained=False)
    >>> check_data(run, {**first, "split": {"test": {"items": 3, "digest": "c"}}}, trained=True)
    Traceback (most recent call last):
    ...
    speechbrain_atkl.training.run_checks.ConfigurationError: ... was trained on another split of its data (...):
      test: 2 items -> 3 items, other items
    ...
    """
    path = Path(output_folder) / DATA_RECORD
    old = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    if old is not None and old.get("split") != record["split"]:
        before, after = old.get("split") or {}, record["split"]
        lines = "\n  ".join(
            f"{name}: {(before.get(name) or {}).get('items', 0)} items -> "
            f"{(after.get(name) or {}).get('items', 0)} items, other items"
            for name in sorted(set(before) | set(after))
            if before.get(name) != after.get(name)
        )
        if trained and not allow_change:
            raise ConfigurationError(
                f"{output_folder} was trained on another split of its data ({path}):\n  {lines}\n"
                f"The corpus changed since (audio files {(old.get('corpus') or {}).get('files', '?')} -> "
                f"{(record.get('corpus') or {}).get('files', '?')}, or some were modified), and the "
                "preparation split it again: resuming or testing this run would test it on items it may "
                "have trained on. Restore the corpus, or train a new run (another --results_root or "
                "--seed), or pass --allow_config_change to go on with the new split anyway."
            )
        if trained and write:
            logger.warning("--allow_config_change: %s goes on with another data split:\n  %s\n(previous record "
                           "kept as %s)", output_folder, lines, _keep(path))
    elif old is not None and old.get("corpus") != record["corpus"]:
        logger.info("%s: the corpus changed but not the split; the record is updated.", output_folder)
    if write:
        write_text_atomically(path, json.dumps(record, indent=2))


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
