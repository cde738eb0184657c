"""Data preparation: SpeechBrain JSON manifests for DNS-style corpora.

:func:`prepare_dns` recognises three layouts:

``"dns2020"``
    ``datasets/clean``, ``datasets/noise``, optional
    ``datasets/impulse_responses`` (also ``rir`` or ``rirs``), optional test set
    ``datasets/test_set/synthetic/{no_reverb,with_reverb}/{clean,noisy}``
    paired by the ``fileid_N`` suffix. The folders may also sit directly in
    ``data_folder`` (e.g. a plain ``clean/ noise/ rir/`` corpus).
``"dns_fullband"``
    ``datasets_fullband/clean_fullband/<language>/...``, ``noise_fullband``,
    ``impulse_responses``; any sample rate (resampled at load time).
``"pairs"``
    Pre-mixed data: ``noisy/`` and ``clean/`` folders (optionally inside
    ``train/``, ``valid/``, ``test/``), or VoiceBank-DEMAND style
    ``noisy_trainset_wav``/``clean_trainset_wav``, ``noisy_testset_wav``...;
    files are paired by identical relative path.

The two DNS layouts are trained by dynamic mixing: their manifests list clean
speech, noise and RIR files, and a held-out set of clean and noise files
(chosen by file, seeded) is mixed **once** into a fixed validation set written
as WAV files under ``save_folder``. When the corpus has no paired test set, a
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
  options and the same corpus files, and done again (saying why) otherwise;
* ``sample_checks.json``: every file's samples are read once to find NaN or
  infinite values (which a header does not show); the verdicts are cached by
  path, size and modification time, so preparing again re-reads only the
  files that changed. Unusable files are skipped and listed in the report.

Authors
 * speechbrain-atkl developers 2026
"""

import collections
import concurrent.futures
import hashlib
import logging
import os
import re
import shutil
from pathlib import Path

import numpy as np

from speechbrain_atkl.data.audio import AUDIO_EXTENSIONS, AudioError, audio_info, save_audio
from speechbrain_atkl.data.checks import SampleChecks
from speechbrain_atkl.data.manifest import read_manifest, write_json
from speechbrain_atkl.data.mixing import DynamicMixingDataset

logger = logging.getLogger(__name__)

LAYOUTS = ("dns2020", "dns_fullband", "pairs")
TEST_SUBSETS = ("no_reverb", "with_reverb")
RIR_FOLDERS = ("impulse_responses", "rir", "rirs")
PREPARATION_FILE = "preparation.json"
SAMPLE_CHECKS_FILE = "sample_checks.json"
MIXED_SETS = ("valid", "test")
MANIFESTS = ("train", "train_clean", "train_noise", "train_rir", "valid", "test")
FILEID = re.compile(r"fileid_(\d+)$")
# Threads reading file headers (I/O bound; helps on network storage).
SCAN_THREADS = 8
# Examples kept per list in the report (counts are always complete).
REPORT_EXAMPLES = 50


class _Report:
    """Collects what preparation skipped, could not pair or must convert."""

    def __init__(self, sample_rate, checks):
        self.sample_rate = sample_rate
        self.checks = checks
        self.skipped = []
        self.unpaired = []
        self.notes = []
        self.sample_rates = collections.Counter()
        self.channels = collections.Counter()
        self.converted = {"resampled": [], "mixed_to_mono": []}

    def skip(self, path, reason):
        logger.warning("Skipping %s: %s", path, reason)
        self.skipped.append({"file": str(path), "reason": reason})

    def inspect(self, paths):
        """AudioInfo of each file (read in parallel); None if unusable."""
        with concurrent.futures.ThreadPoolExecutor(SCAN_THREADS) as pool:
            headers = list(pool.map(self._read, paths))
        return [self._check(path, header) for path, header in zip(paths, headers)]

    def _check(self, path, info):
        """Records a file's header; returns None (and a report line) if unusable."""
        if isinstance(info, AudioError):
            self.skip(path, str(info))
            return None
        if info.frames == 0:
            self.skip(path, "zero-length audio (no samples)")
            return None
        self.sample_rates[info.sample_rate] += 1
        self.channels[info.channels] += 1
        if info.sample_rate != self.sample_rate:
            self.converted["resampled"].append(str(path))
        if info.channels > 1:
            self.converted["mixed_to_mono"].append(str(path))
        return info

    def as_dict(self, manifests):
        return {
            "manifests": {
                name: {"entries": len(data), "hours": _hours(data)}
                for name, data in manifests.items()
            },
            "skipped": self.skipped,
            "unpaired": self.unpaired,
            "resampled_at_load": {
                "count": len(self.converted["resampled"]),
                "target_sample_rate": self.sample_rate,
                "examples": self.converted["resampled"][:REPORT_EXAMPLES],
            },
            "mixed_to_mono_at_load": {
                "count": len(self.converted["mixed_to_mono"]),
                "examples": self.converted["mixed_to_mono"][:REPORT_EXAMPLES],
            },
            "sample_rates": {str(k): v for k, v in sorted(self.sample_rates.items())},
            "channels": {str(k): v for k, v in sorted(self.channels.items())},
            "notes": self.notes,
        }


    def _read(self, path):
        """The file's AudioInfo, or an AudioError if it is unreadable or holds non-finite samples."""
        try:
            info = audio_info(path)
        except AudioError as error:
            return error
        problem = self.checks.problem(path) if info.frames else None
        return AudioError(f"{path}: {problem}") if problem else info


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


def _hours(manifest):
    return round(sum(entry["duration"] for entry in manifest.values()) / 3600, 4)


def _report_text(report):
    """Human-readable version of the report dict."""
    lines = ["Data preparation report", ""]
    for name, stats in report["manifests"].items():
        lines.append(f"{name}: {stats['entries']} entries, {stats['hours']} h")
    lines.append("")
    resampled = report["resampled_at_load"]
    lines.append(
        f"Files resampled to {resampled['target_sample_rate']} Hz at load time: "
        f"{resampled['count']} (sample rates seen: {report['sample_rates']})"
    )
    lines.append(
        f"Files mixed to mono (channel average) at load time: "
        f"{report['mixed_to_mono_at_load']['count']} (channel counts seen: "
        f"{report['channels']})"
    )
    lines.append(f"Skipped files: {len(report['skipped'])}")
    lines += [f"  {item['file']}: {item['reason']}" for item in report["skipped"]]
    lines.append(f"Unpaired files: {len(report['unpaired'])}")
    lines += [f"  {path}" for path in report["unpaired"]]
    if report["notes"]:
        lines.append("Notes:")
        lines += [f"  {note}" for note in report["notes"]]
    return "\n".join(lines) + "\n"


def _require_dir(path, expected):
    """Raises a clear error unless ``path`` is a folder."""
    if not Path(path).is_dir():
        raise FileNotFoundError(f"{path}: missing folder; expected {expected}.")
    return Path(path)


def _list_audio(folder, expected):
    """Sorted audio files under ``folder`` (recursive); error if none."""
    folder = _require_dir(folder, expected)
    files = sorted(
        path
        for path in folder.rglob("*")
        if path.suffix.lower() in AUDIO_EXTENSIONS
        and not path.name.startswith(".")
        and path.is_file()
    )
    if not files:
        raise ValueError(
            f"{folder}: no audio files found (looked for "
            f"{', '.join(AUDIO_EXTENSIONS)}); expected {expected}."
        )
    return files


def _utt_id(path, root):
    """An id from a path relative to its folder: ``a/b/c.wav`` -> ``a__b__c``."""
    return Path(path).relative_to(root).with_suffix("").as_posix().replace("/", "__")


def _single_manifest(folder, expected, report, subfolders=None, required=True):
    """Manifest ``{id: {"wav", "duration", "sample_rate", "channels"}}``.

    Files are taken from ``folder`` or only from its ``subfolders``.
    """
    if not required and not Path(folder).is_dir():
        return {}
    if subfolders:
        paths = [path for sub in subfolders for path in _list_audio(folder / sub, expected)]
    else:
        paths = _list_audio(folder, expected)
    manifest = {}
    for path, info in zip(paths, report.inspect(paths)):
        if info is not None:
            manifest[_utt_id(path, folder)] = {
                "wav": str(path),
                "duration": info.duration,
                "sample_rate": info.sample_rate,
                "channels": info.channels,
            }
    if required and not manifest:
        raise ValueError(f"{folder}: every audio file was unusable; expected {expected}.")
    return manifest


def _pair_entries(pairs, report):
    """Paired manifest entries ``{id: {"noisy_wav", "clean_wav", "duration", ...}}``.

    ``pairs`` maps ids to ``(noisy_path, clean_path, extra_fields)``; a pair
    with an unusable file is left out.
    """
    ids = list(pairs)
    infos = report.inspect([pairs[i][0] for i in ids] + [pairs[i][1] for i in ids])
    entries = {}
    for utt_id, noisy_info, clean_info in zip(ids, infos[: len(ids)], infos[len(ids) :]):
        noisy, clean, extra = pairs[utt_id]
        if noisy_info is None or clean_info is None:
            continue
        if abs(noisy_info.duration - clean_info.duration) > 0.01:
            report.notes.append(
                f"{noisy} and {clean} differ in length ({noisy_info.duration:.3f} s "
                f"vs {clean_info.duration:.3f} s): trimmed to the shorter at load time"
            )
        entries[utt_id] = {
            "noisy_wav": str(noisy),
            "clean_wav": str(clean),
            "duration": min(noisy_info.duration, clean_info.duration),
            **extra,
        }
    return entries


def _by_fileid(paths, report):
    """Maps the ``N`` of ``..._fileid_N.wav`` names to their paths."""
    found = {}
    for path in paths:
        match = FILEID.search(path.stem)
        if match is None:
            report.unpaired.append(str(path))
        else:
            found[int(match.group(1))] = path
    return found


def _dns_test_set(root, subsets, report):
    """Paired DNS test manifest from ``test_set/synthetic``, or None if absent."""
    synthetic = root / "test_set" / "synthetic"
    if not synthetic.is_dir():
        return None
    pairs = {}
    for subset in subsets:
        expected = f"the DNS test subset '{subset}' with clean/ and noisy/ folders"
        folder = _require_dir(synthetic / subset, expected)
        clean_folder = _require_dir(folder / "clean", "clean_fileid_N.wav files")
        noisy_folder = _require_dir(folder / "noisy", "noisy ..._fileid_N.wav files")
        clean = _by_fileid(_list_audio(clean_folder, "clean_fileid_N.wav files"), report)
        noisy = _by_fileid(_list_audio(noisy_folder, "noisy ..._fileid_N.wav files"), report)
        for number in sorted(set(clean) ^ set(noisy)):
            report.unpaired.append(str(clean.get(number) or noisy.get(number)))
        for number in sorted(set(clean) & set(noisy)):
            pairs[f"{subset}_fileid_{number}"] = (noisy[number], clean[number], {"subset": subset})
    manifest = _pair_entries(pairs, report)
    if not manifest:
        raise ValueError(f"{synthetic}: no usable noisy/clean test pairs found.")
    return manifest


def _dns_root(data_folder, layout):
    """The folder holding the clean/noise folders of a DNS layout."""
    if layout == "dns2020":
        inner = data_folder / "datasets"
        return inner if (inner / "clean").is_dir() else data_folder
    inner = data_folder / "datasets_fullband"
    return inner if (inner / "clean_fullband").is_dir() else data_folder


def _clean_word(match):
    """``noisy`` -> ``clean`` keeping the case pattern (Noisy -> Clean...)."""
    word = match.group()
    if word.isupper():
        return "CLEAN"
    return "Clean" if word[0].isupper() else "clean"


def _pair_folders(data_folder):
    """Finds sibling noisy/clean folders; returns ``[(split, noisy, clean)]``.

    ``split`` is ``"train"``, ``"valid"``, ``"test"`` or ``"all"`` (taken from
    the folder name, e.g. ``noisy_testset_wav``, or from the parent's name for
    plain ``noisy``/``clean`` folders).
    """
    found = []
    parents = [data_folder] + sorted(p for p in data_folder.iterdir() if p.is_dir())
    for parent in parents:
        for noisy in sorted(p for p in parent.iterdir() if p.is_dir()):
            if "noisy" not in noisy.name.lower():
                continue
            clean = parent / re.sub("noisy", _clean_word, noisy.name, flags=re.IGNORECASE)
            if not clean.is_dir():
                continue
            name = noisy.name.lower()
            if name == "noisy":
                name = "" if parent == data_folder else parent.name.lower()
            if "train" in name:
                split = "train"
            elif "test" in name:
                split = "test"
            elif "valid" in name or "dev" in name or name in ("val", "cv"):
                split = "valid"
            else:
                split = "all"
            found.append((split, noisy, clean))
    return found


def detect_layout(data_folder):
    """Recognises the layout of a corpus folder.

    Arguments
    ---------
    data_folder : str or pathlib.Path
        Corpus root.

    Returns
    -------
    str
        ``"dns2020"``, ``"dns_fullband"`` or ``"pairs"``.

    Example
    -------
    >>> import os, tempfile
    >>> root = tempfile.mkdtemp()
    >>> for name in ("noisy", "clean"):
    ...     os.makedirs(os.path.join(root, name))
    >>> detect_layout(root)
    'pairs'
    """
    data_folder = _require_dir(data_folder, "a corpus folder")
    if (_dns_root(data_folder, "dns_fullband") / "clean_fullband").is_dir():
        return "dns_fullband"
    root = _dns_root(data_folder, "dns2020")
    if (root / "clean").is_dir() and (root / "noise").is_dir():
        return "dns2020"
    if _pair_folders(data_folder):
        return "pairs"
    raise ValueError(
        f"{data_folder}: unrecognised corpus layout; expected DNS-2020 "
        "(datasets/clean and datasets/noise), DNS fullband "
        "(datasets_fullband/clean_fullband and noise_fullband) or pairs "
        "(noisy/ and clean/ folders, or noisy_*/clean_* folders such as "
        "VoiceBank-DEMAND's noisy_trainset_wav/clean_trainset_wav)."
    )


def split_off(ids, fraction, rng, what):
    """Splits a seeded ``fraction`` (at least one, never all) off the sorted ``ids``.

    Arguments
    ---------
    ids : iterable of str
        Items to split (sorted first, so the result depends only on ``rng``).
    fraction : float
        Share of items to hold out.
    rng : numpy.random.Generator
        Random generator.
    what : str
        What the items are, for the error message (e.g. ``"clean files"``).

    Returns
    -------
    kept, held : list
        Both sorted.

    Example
    -------
    >>> split_off(["c", "a", "b", "d"], 0.25, np.random.default_rng(0), "files")
    (['a', 'b', 'd'], ['c'])
    """
    ids = sorted(ids)
    count = max(1, round(fraction * len(ids)))
    if count >= len(ids):
        raise ValueError(
            f"Cannot hold out {count} of {len(ids)} {what} and keep "
            "some for training; add files or lower the held-out fraction."
        )
    chosen = set(rng.permutation(len(ids))[:count].tolist())
    held = [utt for i, utt in enumerate(ids) if i in chosen]
    kept = [utt for i, utt in enumerate(ids) if i not in chosen]
    return kept, held


def _mix_fixed_set(name, clean, noise, rir, count, seconds, seed, options, save_folder):
    """Mixes a fixed noisy/clean set once, writes it, returns its manifest."""
    dataset = DynamicMixingDataset(
        clean,
        noise,
        rir,
        segment_seconds=seconds,
        snr_range=options["snr_range"],
        level_range_db=options["level_range_db"],
        reverb_prob=options["reverb_prob"] if rir else 0.0,
        reverberant_target=options["reverberant_target"],
        epoch_size=count,
        seed=seed,
        sample_rate=options["sample_rate"],
    )
    folder = Path(save_folder) / f"{name}_mixtures"
    manifest = {}
    for index in range(count):
        mixture = dataset.get_mixture(index)
        utt_id = f"{name}_{index:05d}"
        paths = {key: folder / key / f"{utt_id}.wav" for key in ("noisy", "clean")}
        save_audio(paths["noisy"], mixture["noisy_sig"], options["sample_rate"])
        save_audio(paths["clean"], mixture["clean_sig"], options["sample_rate"])
        manifest[utt_id] = {
            "noisy_wav": str(paths["noisy"]),
            "clean_wav": str(paths["clean"]),
            "duration": mixture["noisy_sig"].shape[-1] / options["sample_rate"],
            "snr_db": round(mixture["snr_db"], 3),
            "level_db": round(mixture["level_db"], 3),
            "clean_source": mixture["clean_source"],
            "noise_source": mixture["noise_source"],
            "rir_source": mixture["rir_source"],
        }
    return manifest


def _prepare_dynamic(data_folder, layout, options, report, save_folder):
    """Manifests of the dynamic-mixing layouts (DNS-2020 and fullband)."""
    root = _dns_root(data_folder, layout)
    if layout == "dns2020":
        clean_dir, noise_dir = root / "clean", root / "noise"
    else:
        clean_dir, noise_dir = root / "clean_fullband", root / "noise_fullband"
    _require_dir(clean_dir, "a folder of clean speech audio files")
    _require_dir(noise_dir, "a folder of noise audio files")
    clean = _single_manifest(
        clean_dir, "clean speech audio files", report, options["clean_subsets"]
    )
    noise = _single_manifest(noise_dir, "noise audio files", report)
    rir_dir = next((root / n for n in RIR_FOLDERS if (root / n).is_dir()), root / RIR_FOLDERS[0])
    rir = _single_manifest(rir_dir, "room impulse responses", report, required=False)
    if not rir:
        report.notes.append(f"No room impulse responses found under {root}.")

    seed = options["seed"]
    clean_rng, noise_rng = np.random.default_rng([seed, 0]), np.random.default_rng([seed, 1])
    clean_ids, valid_clean = split_off(clean, options["valid_fraction"], clean_rng, "clean files")
    noise_ids, valid_noise = split_off(noise, options["valid_fraction"], noise_rng, "noise files")

    test = _dns_test_set(root, options["test_subsets"], report)
    if test is None:
        report.notes.append(
            f"{root}: no test_set/synthetic folder; a fixed test set was mixed from "
            "held-out clean and noise files."
        )
        clean_ids, test_clean = split_off(clean_ids, options["test_fraction"], clean_rng, "clean files")
        noise_ids, test_noise = split_off(noise_ids, options["test_fraction"], noise_rng, "noise files")
        test = _mix_fixed_set(
            "test",
            {k: clean[k] for k in test_clean},
            {k: noise[k] for k in test_noise},
            rir,
            options["test_count"],
            options["test_seconds"],
            seed + 1,
            options,
            save_folder,
        )
    valid = _mix_fixed_set(
        "valid",
        {k: clean[k] for k in valid_clean},
        {k: noise[k] for k in valid_noise},
        rir,
        options["valid_count"],
        options["valid_seconds"],
        seed,
        options,
        save_folder,
    )
    return {
        "train_clean": {k: clean[k] for k in clean_ids},
        "train_noise": {k: noise[k] for k in noise_ids},
        "train_rir": rir,
        "valid": valid,
        "test": test,
    }


def _prepare_pairs(data_folder, options, report):
    """Manifests of a pre-mixed (noisy/clean pairs) corpus."""
    folders = _pair_folders(data_folder)
    if not folders:
        raise FileNotFoundError(
            f"{data_folder}: no noisy/clean folder pair found; expected noisy/ and "
            "clean/ folders (or noisy_<name>/clean_<name>)."
        )
    pools = {"train": {}, "valid": {}, "test": {}}
    for split, noisy_dir, clean_dir in folders:
        expected = f"audio files paired by name with {clean_dir}"
        noisy = {p.relative_to(noisy_dir): p for p in _list_audio(noisy_dir, expected)}
        clean_expected = f"audio files paired by name with {noisy_dir}"
        clean = {p.relative_to(clean_dir): p for p in _list_audio(clean_dir, clean_expected)}
        for name in sorted(set(noisy) ^ set(clean)):
            report.unpaired.append(str(noisy.get(name) or clean.get(name)))
        pool = pools["train" if split == "all" else split]
        pairs = {}
        for name in sorted(set(noisy) & set(clean)):
            utt_id = name.with_suffix("").as_posix().replace("/", "__")
            if utt_id in pool:
                utt_id = f"{noisy_dir.name}__{utt_id}"
            pairs[utt_id] = (noisy[name], clean[name], {})
        pool.update(_pair_entries(pairs, report))
    if not pools["train"]:
        raise ValueError(f"{data_folder}: no usable noisy/clean training pairs found.")
    rng = np.random.default_rng([options["seed"], 2])
    for split in ("valid", "test"):
        if not pools[split]:
            kept, held = split_off(
                pools["train"], options[f"{split}_fraction"], rng, "paired training files"
            )
            pools[split] = {k: pools["train"][k] for k in held}
            pools["train"] = {k: pools["train"][k] for k in kept}
            report.notes.append(
                f"No {split} folder: {len(held)} training pairs held out (by file, seeded)."
            )
    return pools


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
    atomically and ``preparation.json`` last).

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
        held out for validation; at least one file.
    test_count : int
        Number of test mixtures when the corpus has no paired test set.
    test_seconds : float
        Length of those test mixtures.
    test_fraction : float
        Fraction held out for such a test set (or, for pairs without a test
        folder, of training pairs).
    snr_range : tuple of float
        SNR range (dB) of the mixed sets.
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
    record_path = save_folder / PREPARATION_FILE
    _require_dir(data_folder, "a corpus folder")
    sources = corpus_fingerprint(data_folder, exclude=save_folder)
    if record_path.is_file():
        record = read_manifest(record_path)
        missing = [path for path in record["manifests"].values() if not Path(path).is_file()]
        if record.get("options") != options:
            logger.info("%s: preparation options changed, preparing again.", save_folder)
        elif record.get("sources") != sources:
            old = (record.get("sources") or {}).get("files", "?")
            logger.info(
                "%s: the corpus changed (%s audio files before, %d now, or some were modified), "
                "preparing again.", data_folder, old, sources["files"],
            )
        elif missing:
            logger.info("%s: manifest %s is missing, preparing again.", save_folder, missing[0])
        else:
            logger.info("%s: data already prepared with these options, skipping.", save_folder)
            return record

    detected = detect_layout(data_folder) if layout == "auto" else layout
    save_folder.mkdir(parents=True, exist_ok=True)
    record_path.unlink(missing_ok=True)
    for name in MANIFESTS:
        (save_folder / f"{name}.json").unlink(missing_ok=True)
    for name in MIXED_SETS:
        shutil.rmtree(save_folder / f"{name}_mixtures", ignore_errors=True)

    report = _Report(sample_rate, SampleChecks(save_folder / SAMPLE_CHECKS_FILE))
    if detected == "pairs":
        manifests = _prepare_pairs(data_folder, options, report)
    else:
        manifests = _prepare_dynamic(data_folder, detected, options, report, save_folder)
    report.checks.save()
    logger.info("%s: samples of %d new or changed files checked.", data_folder, report.checks.scanned)

    paths = {}
    for name, manifest in manifests.items():
        paths[name] = str(save_folder / f"{name}.json")
        write_json(paths[name], manifest)
    report_dict = report.as_dict(manifests)
    write_json(save_folder / "preparation_report.json", report_dict)
    (save_folder / "preparation_report.txt").write_text(_report_text(report_dict), encoding="utf-8")
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
