"""What a run folder records of its start, compared with a new start: its configuration and its data.

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
* :func:`read_run_record`: the recorded hyper-parameters as plain data.

Authors
 * speechbrain-atkl developers 2026
"""

import datetime
import hashlib
import json
import logging
import shutil
from pathlib import Path

import yaml
from hyperpyyaml import resolve_references

from speechbrain_atkl.data.atomic import write_text_atomically
from speechbrain_atkl.data.manifest import read_manifest
from speechbrain_atkl.training.run_checks import ConfigurationError
from speechbrain_atkl.value_checks import is_number

logger = logging.getLogger(__name__)

HPARAMS_RECORD = "hyperparams.yaml"
#: The run's data: corpus fingerprint and split (see :func:`data_record`).
DATA_RECORD = "data_record.json"
TEST_METRICS = "test_metrics.json"
# Keys that may grow between runs of one output folder: training continues.
EXTENSIBLE = "number_of_epochs"


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
    if EXTENSIBLE in old and is_number(epochs[0]) and is_number(epochs[1]) and epochs[1] > epochs[0]:
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
