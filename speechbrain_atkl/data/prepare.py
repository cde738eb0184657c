"""Data preparation: SpeechBrain JSON manifests for DNS-style corpora.

It recognises the layouts described in :mod:`speechbrain_atkl.data.layouts`
(``"dns2020"``, ``"dns_fullband"``, ``"pairs"``); the files of a folder are
read by :mod:`speechbrain_atkl.data.scan`.

The two DNS layouts are trained by dynamic mixing: their manifests list clean
speech, noise and RIR files, and a held-out set of clean and noise files
(seeded; by file or by speaker, optionally balanced across sources of speech:
:mod:`~speechbrain_atkl.data.holdout`) is mixed **once** into a fixed
validation set written as WAV files under ``save_folder``. When the corpus has no paired test set, a
fixed test set is mixed the same way from another held-out set.

Files in ``save_folder``:

* dynamic mixing: ``train_clean.json``, ``train_noise.json``,
  ``train_rir.json`` (``{id: {"wav", "duration", "sample_rate", "channels"}}``);
* pairs: ``train.json``;
* always: ``valid.json`` and ``test.json`` (``{id: {"noisy_wav",
  "clean_wav", "duration", ...}}``), the mixed sets under ``valid_mixtures/``
  and ``test_mixtures/`` (``noisy/`` and ``clean/``),
  ``preparation_report.json`` and ``preparation_report.txt`` (skipped files,
  unpaired files, files resampled or mixed to mono at load time) and
  ``preparation.json`` (options, detected layout, manifest paths, and a
  fingerprint of the corpus: every audio file's path, size and modification
  time), written last: preparation is skipped when it exists with the same
  options and the same corpus files, and done again (saying why) otherwise,
  unless another running process uses the folder (below);
* ``sample_checks.json``: every file's samples are read once to find NaN or
  infinite values (which a header does not show); the verdicts are cached by
  path, size and modification time, so preparing again re-reads only the
  files that changed. Unusable files are skipped and listed in the report.

A process that prepared or found prepared data holds a shared lock on
``save_folder/.in_use.lock`` until it ends: its validation and test sets are
read from the folder while it trains. Preparing the folder again (other
options, a changed corpus) while another process holds it raises
:class:`PreparedDataInUse` instead of rewriting the mixtures under it.

Authors
 * speechbrain-atkl developers 2026
"""

import hashlib
import logging
import os
import shutil
from pathlib import Path

from speechbrain_atkl.data.atomic import exclusive_lock, shared_lock, write_text_atomically
from speechbrain_atkl.data.audio import AUDIO_EXTENSIONS
from speechbrain_atkl.data.checks import SampleChecks
from speechbrain_atkl.data.holdout import VALID_BALANCES, split_off  # noqa: F401 - split_off: re-exported
from speechbrain_atkl.data.layouts import (  # noqa: F401 - FILEID, RIR_FOLDERS: re-exported
    FILEID,
    LAYOUTS,
    RIR_FOLDERS,
    TEST_SUBSETS,
    detect_layout,
    prepare_dynamic,
    prepare_pairs,
)
from speechbrain_atkl.data.manifest import read_manifest, write_json
from speechbrain_atkl.data.scan import (  # noqa: F401 - REPORT_EXAMPLES, SCAN_THREADS: re-exported
    REPORT_EXAMPLES,
    SCAN_THREADS,
    ScanReport,
    report_text,
    require_dir,
)
from speechbrain_atkl.value_checks import is_number, is_range

logger = logging.getLogger(__name__)

VALID_SPLITS = ("files", "speakers")
PREPARATION_FILE = "preparation.json"
PREPARE_LOCK = ".prepare.lock"
#: Shared by every process that reads a prepared folder (see the module docstring).
IN_USE_LOCK = ".in_use.lock"
#: This process's shared locks on the folders it reads: {resolved save folder: open lock file}.
_IN_USE = {}
SAMPLE_CHECKS_FILE = "sample_checks.json"
MIXED_SETS = ("valid", "test")
MANIFESTS = ("train", "train_clean", "train_noise", "train_rir", "valid", "test")
#: Options added since folders were first prepared, with their defaults: a record without
#: one was prepared as that default prepares, so it is not prepared again for it.
LATER_OPTIONS = {"valid_balance": "none", "valid_noise_count": None, "valid_snr_range": None}


class PreparedDataInUse(RuntimeError):
    """The prepared folder would be prepared again while another running process reads it."""


def corpus_fingerprint(data_folder, exclude=None):
    """A digest of every audio file's relative path, size and mtime under ``data_folder``.

    Arguments
    ---------
    data_folder : str or pathlib.Path
        Corpus root.
    exclude : str or pathlib.Path, optional
        A folder inside it to leave out (e.g. the preparation's own output).

    Returns
    -------
    dict
        ``{"files": count, "digest": hex}``.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / "a.wav").write_bytes(b"x")
    1
    >>> before = corpus_fingerprint(folder)
    >>> (folder / "b.flac").write_bytes(b"y")
    1
    >>> before["files"], corpus_fingerprint(folder)["files"], before == corpus_fingerprint(folder)
    (1, 2, False)
    """
    exclude = None if exclude is None else os.path.abspath(exclude)
    lines = []
    for root, folders, files in os.walk(data_folder):
        if exclude is not None:
            folders[:] = [f for f in folders if os.path.join(root, f) != exclude]
        for name in files:
            if os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS:
                stat = os.stat(os.path.join(root, name))
                relative = os.path.relpath(os.path.join(root, name), data_folder)
                lines.append(f"{os.fsencode(relative).hex()} {stat.st_size} {stat.st_mtime_ns}")
    digest = hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()
    return {"files": len(lines), "digest": digest}


def read_preparation(save_folder):
    """Reads what :func:`prepare_dns` recorded in ``save_folder``.

    Arguments
    ---------
    save_folder : str or pathlib.Path
        The folder given to :func:`prepare_dns`.

    Returns
    -------
    dict
        ``options`` (the arguments used), ``layout`` (detected),
        ``training`` (``"dynamic_mixing"`` or ``"paired"``) and
        ``manifests`` (``{name: path}``).
    """
    path = Path(save_folder) / PREPARATION_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; run prepare_dns first.")
    return read_manifest(path)


def prepare_dns(
    data_folder,
    save_folder,
    layout="auto",
    test_subsets=("no_reverb",),
    clean_subsets=None,
    valid_count=200,
    valid_seconds=4.0,
    valid_fraction=0.05,
    valid_split="files",
    valid_balance="none",
    valid_noise_count=None,
    valid_snr_range=None,
    test_count=150,
    test_seconds=10.0,
    test_fraction=0.05,
    snr_range=(-5.0, 20.0),
    level_range_db=(-35.0, -15.0),
    reverb_prob=0.0,
    reverberant_target="early",
    seed=1234,
    sample_rate=16000,
):
    """Writes the manifests (and fixed validation set) of a corpus.

    Idempotent: when ``save_folder/preparation.json`` holds the same options
    and the same corpus fingerprint (audio files, sizes, modification times)
    and its manifests exist, nothing is redone. Safe to call through
    ``speechbrain.utils.distributed.run_on_main`` (every file is written
    atomically and ``preparation.json`` last), and from processes sharing
    ``save_folder`` (two runs of one results folder): one prepares while the
    others wait on ``save_folder/.prepare.lock``, then find it prepared.

    Arguments
    ---------
    data_folder : str or pathlib.Path
        Corpus root (see the module docstring for the layouts).
    save_folder : str or pathlib.Path
        Where manifests, mixed sets and reports go.
    layout : str
        ``"auto"``, ``"dns2020"``, ``"dns_fullband"`` or ``"pairs"``.
    test_subsets : str or sequence of str
        DNS test subsets to use: ``"no_reverb"`` and/or ``"with_reverb"``.
    clean_subsets : sequence of str or None
        Dynamic-mixing layouts: use only these sub-folders of the clean
        folder (e.g. ``["read_speech"]`` of ``clean_fullband``); ``None``
        walks all of it.
    valid_count : int
        Number of fixed validation mixtures (dynamic-mixing layouts).
    valid_seconds : float
        Length of each validation mixture.
    valid_fraction : float
        Fraction of clean and of noise files (pairs: of training pairs)
        held out for validation; at least one file (noise: unless
        ``valid_noise_count`` is given).
    valid_split : str
        Dynamic-mixing layouts: ``"files"`` holds out a fraction of the clean
        files, ``"speakers"`` a fraction of the speakers (read from the file
        names, :func:`~speechbrain_atkl.data.speakers.speaker_of`) with all
        their files, so no validation speaker is heard in training.
    valid_balance : str
        Dynamic-mixing layouts: ``"none"`` holds out clean files (or
        speakers) of the whole clean folder; ``"subfolders"`` takes each
        top-level subfolder of the clean folder (and the files directly in
        it) as a source of speech, holds out ``valid_fraction`` within each
        source and mixes an equal share of the ``valid_count`` validation
        mixtures from each (:mod:`~speechbrain_atkl.data.holdout`), so that
        the largest source does not make the validation its own.
    valid_noise_count : int or None
        Dynamic-mixing layouts: noise files held out for validation; None
        holds out ``valid_fraction`` of them.
    valid_snr_range : tuple of float or None
        Dynamic-mixing layouts: SNR range (dB) of the validation mixtures;
        None: ``snr_range``.
    test_count : int
        Number of test mixtures when the corpus has no paired test set.
    test_seconds : float
        Length of those test mixtures.
    test_fraction : float
        Fraction held out for such a test set (or, for pairs without a test
        folder, of training pairs).
    snr_range : tuple of float
        SNR range (dB) of the mixed test set (and of the validation
        mixtures unless ``valid_snr_range`` is given).
    level_range_db : tuple of float
        Mixture RMS range (dBFS) of the mixed sets.
    reverb_prob : float
        Probability of reverberation in the mixed sets.
    reverberant_target : str
        Target of reverberated mixtures (see DynamicMixingDataset).
    seed : int
        Seed of the held-out split and of the mixed sets.
    sample_rate : int
        Sample rate of the mixed sets and of training.

    Returns
    -------
    dict
        The record also written to ``preparation.json`` (see
        :func:`read_preparation`).
    """
    data_folder = Path(data_folder).resolve()
    save_folder = Path(save_folder).resolve()
    if isinstance(test_subsets, str):
        test_subsets = (test_subsets,)
    for subset in test_subsets:
        if subset not in TEST_SUBSETS:
            raise ValueError(f"Unknown test subset {subset!r}; expected {TEST_SUBSETS}.")
    if valid_split not in VALID_SPLITS:
        raise ValueError(f"Unknown valid_split {valid_split!r}; expected one of {VALID_SPLITS}.")
    if valid_balance not in VALID_BALANCES:
        raise ValueError(f"Unknown valid_balance {valid_balance!r}; expected one of {VALID_BALANCES}.")
    if valid_noise_count is not None and not is_number(valid_noise_count, 1, integer=True):
        raise ValueError(
            f"valid_noise_count must be None (valid_fraction of the noise files) or an integer >= 1, "
            f"got {valid_noise_count!r}."
        )
    if valid_snr_range is not None and not is_range(valid_snr_range):
        raise ValueError(
            f"valid_snr_range must be None (the snr_range) or [low, high] in dB with low <= high, "
            f"got {valid_snr_range!r}."
        )
    if layout not in ("auto",) + LAYOUTS:
        raise ValueError(f"Unknown layout {layout!r}; expected 'auto' or one of {LAYOUTS}.")
    options = {
        "data_folder": str(data_folder),
        "layout": layout,
        "test_subsets": list(test_subsets),
        "clean_subsets": None if clean_subsets is None else list(clean_subsets),
        "valid_count": int(valid_count),
        "valid_seconds": float(valid_seconds),
        "valid_fraction": float(valid_fraction),
        "valid_split": valid_split,
        "valid_balance": valid_balance,
        "valid_noise_count": None if valid_noise_count is None else int(valid_noise_count),
        "valid_snr_range": None if valid_snr_range is None else [float(x) for x in valid_snr_range],
        "test_count": int(test_count),
        "test_seconds": float(test_seconds),
        "test_fraction": float(test_fraction),
        "snr_range": [float(x) for x in snr_range],
        "level_range_db": [float(x) for x in level_range_db],
        "reverb_prob": float(reverb_prob),
        "reverberant_target": reverberant_target,
        "seed": int(seed),
        "sample_rate": int(sample_rate),
    }
    require_dir(data_folder, "a corpus folder")
    with exclusive_lock(save_folder / PREPARE_LOCK):
        record = _prepare(data_folder, save_folder, options)
        if save_folder not in _IN_USE:  # taken under the preparation lock: no one prepares in between
            _IN_USE[save_folder] = shared_lock(save_folder / IN_USE_LOCK)
        return record


def _claim_for_preparation(save_folder, reason):
    """Raises :class:`PreparedDataInUse` when another process reads ``save_folder``; ``reason``: why prepare."""
    own = _IN_USE.pop(save_folder, None)
    if own is not None:
        own.close()
    try:
        with exclusive_lock(save_folder / IN_USE_LOCK, wait=False):
            pass
    except BlockingIOError:
        raise PreparedDataInUse(
            f"{save_folder}: {reason}, but another running process (a train.py, or a script that prepared "
            "it) reads its validation and test mixtures; preparing it again would rewrite them under that "
            "run. Give this run its own prepare_folder, or wait until the other one ends."
        ) from None


def _prepare(data_folder, save_folder, options):
    """:func:`prepare_dns` once the options are checked and the save folder is locked."""
    record_path = save_folder / PREPARATION_FILE
    sources = corpus_fingerprint(data_folder, exclude=save_folder)
    if record_path.is_file():
        record = read_manifest(record_path)
        missing = [path for path in record["manifests"].values() if not Path(path).is_file()]
        old_options = {**LATER_OPTIONS, **(record.get("options") or {})}
        if old_options != options:
            changed = sorted(key for key in options if old_options.get(key) != options[key])
            reason = f"preparation options changed ({', '.join(changed)})"
        elif record.get("sources") != sources:
            old = (record.get("sources") or {}).get("files", "?")
            reason = (f"the corpus changed ({old} audio files before, {sources['files']} now, "
                      f"or some were modified: {data_folder})")
        elif missing:
            reason = f"manifest {missing[0]} is missing"
        else:
            logger.info("%s: data already prepared with these options, skipping.", save_folder)
            return record
        _claim_for_preparation(save_folder, reason)
        logger.info("%s: %s, preparing again.", save_folder, reason)

    layout = options["layout"]
    detected = detect_layout(data_folder) if layout == "auto" else layout
    save_folder.mkdir(parents=True, exist_ok=True)
    record_path.unlink(missing_ok=True)
    for name in MANIFESTS:
        (save_folder / f"{name}.json").unlink(missing_ok=True)
    for name in MIXED_SETS:
        shutil.rmtree(save_folder / f"{name}_mixtures", ignore_errors=True)

    report = ScanReport(options["sample_rate"], SampleChecks(save_folder / SAMPLE_CHECKS_FILE))
    if detected == "pairs":
        manifests = prepare_pairs(data_folder, options, report)
    else:
        manifests = prepare_dynamic(data_folder, detected, options, report, save_folder)
    report.checks.save()
    logger.info("%s: samples of %d new or changed files checked.", data_folder, report.checks.scanned)

    paths = {}
    for name, manifest in manifests.items():
        paths[name] = str(save_folder / f"{name}.json")
        write_json(paths[name], manifest)
    report_dict = report.as_dict(manifests)
    write_json(save_folder / "preparation_report.json", report_dict)
    write_text_atomically(save_folder / "preparation_report.txt", report_text(report_dict))
    record = {
        "options": options,
        "layout": detected,
        "training": "paired" if detected == "pairs" else "dynamic_mixing",
        "manifests": paths,
        "sources": sources,
    }
    write_json(record_path, record)
    logger.info(
        "%s prepared (%s layout): %s",
        data_folder,
        detected,
        ", ".join(f"{k}={len(v)}" for k, v in manifests.items()),
    )
    return record
