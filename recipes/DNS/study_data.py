"""The distillation study's data: a speaker- and noise-disjoint split and a fixed test set.

Part of ``recipes/DNS/study.py`` (see its docstring): :func:`split_corpus`
splits a corpus folder, :func:`build_study_data` lays it out for
``prepare_dns`` with a test set mixed at -5 to 15 dB
(:mod:`recipes.DNS.study_test_set`), and :func:`check_prepared` verifies
what the recipe made of it.

Authors
 * speechbrain-atkl developers 2026
"""

import json
import shutil
from pathlib import Path

import numpy as np

from recipes.DNS.study_test_set import (  # noqa: F401 - SAMPLE_RATE, mix_test_item: re-exported for the study
    SAMPLE_RATE,
    TEST_SNRS,
    copy_test_set,
    mix_test_item,
    mix_test_set,
)
from speechbrain_atkl.data.atomic import write_text_atomically
from speechbrain_atkl.data.audio import AUDIO_EXTENSIONS
from speechbrain_atkl.data.holdout import split_off
from speechbrain_atkl.data.speakers import SPEAKER_RULE, speaker_of  # noqa: F401 - re-exported for the study

DATA_MARKER = "study_data.json"
#: The options of build_study_data that define its test set.
TEST_OPTIONS = ("data_dir", "test_count", "test_seconds", "snrs", "test_speaker_fraction", "test_noise_fraction",
                "seed")
RIR_FOLDERS = ("rir", "impulse_responses", "rirs")


class StudyError(RuntimeError):
    """The study cannot go on (bad corpus, failed run, leaking split...)."""


# ---------------------------------------------------------------------- the split
def _audio_files(folder, expected):
    """Sorted audio files directly in ``folder``; a clear error when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise StudyError(f"{folder}: missing folder; expected {expected}.")
    files = sorted(
        path
        for path in folder.iterdir()
        if path.suffix.lower() in AUDIO_EXTENSIONS and path.is_file() and not path.name.startswith(".")
    )
    if not files:
        raise StudyError(f"{folder}: no audio files; expected {expected}.")
    return files


def corpus_root(data_dir):
    """The folder holding ``clean/`` and ``noise/`` (``data_dir`` or its ``corpus/``)."""
    data_dir = Path(data_dir).resolve()
    for root in (data_dir, data_dir / "corpus"):
        if (root / "clean").is_dir() and (root / "noise").is_dir():
            return root
    raise StudyError(
        f"{data_dir}: expected a corpus folder with clean/, noise/ and optionally rir/ "
        "(such as ../shared/data/corpus), or a folder holding it as corpus/."
    )


def split_corpus(data_dir, test_speaker_fraction=0.15, test_noise_fraction=0.2, seed=0):
    """Splits a corpus by speaker and by noise recording.

    Arguments
    ---------
    data_dir : str or pathlib.Path
        Corpus folder (see :func:`corpus_root`).
    test_speaker_fraction : float
        Fraction of speakers (rule: :func:`speaker_of`) whose every file
        goes to the test set.
    test_noise_fraction : float
        Fraction of noise recordings kept for the test set.
    seed : int
        Seed of both choices.

    Returns
    -------
    dict
        ``root``; ``train_clean``, ``test_clean``, ``train_noise``,
        ``test_noise``, ``rir`` (file paths as strings); ``train_speakers``,
        ``test_speakers`` (sorted ids); ``speaker_of_file`` (stem -> speaker).
    """
    root = corpus_root(data_dir)
    clean = _audio_files(root / "clean", "clean speech recordings")
    noise = _audio_files(root / "noise", "noise recordings")
    rir_dir = next((root / name for name in RIR_FOLDERS if (root / name).is_dir()), None)
    rir = _audio_files(rir_dir, "room impulse responses") if rir_dir else []
    speakers = {path.stem: speaker_of(path.stem) for path in clean}
    rng = np.random.default_rng([seed, 5])
    try:
        _, test_speakers = split_off(set(speakers.values()), test_speaker_fraction, rng, "speakers")
        _, test_noise = split_off([path.name for path in noise], test_noise_fraction, rng, "noise recordings")
    except ValueError as error:
        raise StudyError(f"test split: {error}") from error
    return {
        "root": str(root),
        "train_clean": [str(p) for p in clean if speakers[p.stem] not in test_speakers],
        "test_clean": [str(p) for p in clean if speakers[p.stem] in test_speakers],
        "train_noise": [str(p) for p in noise if p.name not in test_noise],
        "test_noise": [str(p) for p in noise if p.name in test_noise],
        "rir": [str(p) for p in rir],
        "train_speakers": sorted(set(speakers.values()) - set(test_speakers)),
        "test_speakers": test_speakers,
        "speaker_of_file": speakers,
    }


# ---------------------------------------------------------------------- the layout
def _link(target, link):
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(Path(target).resolve())


def _add_extra_clean(split, folders):
    """Adds the files of ``folders`` to the split's training speech; refuses test speakers.

    Returns ``{folder: [files]}``.
    """
    added = {}
    for folder in folders:
        files = _audio_files(folder, "clean speech recordings")
        speakers = {path.stem: speaker_of(path.stem) for path in files}
        leaking = sorted(set(speakers.values()) & set(split["test_speakers"]))
        if leaking:
            raise StudyError(f"{folder}: holds test speakers of the corpus ({', '.join(leaking)}); remove them.")
        clash = sorted(p.name for p in files if any(Path(q).name == p.name for q in split["train_clean"]))
        if clash:
            raise StudyError(f"{folder}: file names already in the corpus: {', '.join(clash[:5])}")
        split["train_clean"] += [str(path) for path in files]
        split["train_speakers"] = sorted(set(split["train_speakers"]) | set(speakers.values()))
        split["speaker_of_file"].update(speakers)
        added[Path(folder)] = files
    return added


def _source_folders(added):
    """``{subfolder name: folder}`` of the added folders laid by source; two folders of one name are an error."""
    names = {}
    for folder in added:
        if folder.name in names:
            raise StudyError(
                f"{folder} and {names[folder.name]}: two extra-clean folders named {folder.name!r} cannot each "
                "have their subfolder of datasets/clean; rename one."
            )
        names[folder.name] = str(folder.resolve())
    return names


def _reusable_test_items(folder, options, split):
    """The test items of the study folder ``folder``, if it has this split's test set; else a StudyError."""
    folder = Path(folder)
    marker, record = folder / DATA_MARKER, folder / "split.json"
    if not (marker.is_file() and record.is_file()):
        raise StudyError(f"{folder}: no {DATA_MARKER} and split.json; not a study folder to take the test set from.")
    theirs, record = json.loads(marker.read_text())["options"], json.loads(record.read_text())
    changed = [key for key in TEST_OPTIONS if theirs.get(key) != options[key]]
    changed += [key for key in ("test_clean", "test_noise") if record[key] != split[key]]
    if changed:
        raise StudyError(f"{folder}: its test set is not this one (other {', '.join(changed)}); lay it without it.")
    return record["test_items"]


def build_study_data(
    data_dir,
    data_folder,
    test_count=20,
    test_seconds=6.0,
    snrs=TEST_SNRS,
    test_speaker_fraction=0.15,
    test_noise_fraction=0.2,
    seed=0,
    extra_clean=(),
    by_source=False,
    test_set_from=None,
):
    """Writes the study corpus in the DNS-2020 layout (see the module docstring).

    Idempotent: when ``data_folder/study_data.json`` (written last) holds the
    same options, the recorded split is returned at once; otherwise the
    folder's ``datasets`` is made again. A ``datasets`` folder not made by
    this function is never touched.

    Arguments
    ---------
    data_dir : str or pathlib.Path
        Source corpus (see :func:`corpus_root`).
    data_folder : str or pathlib.Path
        The study corpus to write (give it to ``train.py --data_folder``).
    test_count : int
        Test items; must be a multiple of ``len(snrs)`` (as many per SNR).
    test_seconds : float
        Longest test item.
    snrs : sequence of int
        Test SNRs in dB, used in turn.
    test_speaker_fraction, test_noise_fraction, seed :
        See :func:`split_corpus`; ``seed`` also seeds the test mixtures.
    extra_clean : sequence of str or pathlib.Path
        More folders of clean speech for training (and validation) only: the
        test split and the test set are those of the corpus alone, whatever is
        added. A file whose speaker is a test speaker is an error.
    by_source : bool
        Lay each ``extra_clean`` folder's files in their own subfolder of
        ``datasets/clean`` (named as the folder; the corpus's own files stay
        directly in it), so that ``prepare_dns(valid_balance="subfolders")``
        balances the validation between the corpus and each added folder.
        The split then records ``source_folders`` (``{subfolder: folder}``).
        False lays every file directly in ``datasets/clean``.
    test_set_from : str or pathlib.Path, optional
        A study data folder made from the same corpus with the same test
        options (``test_count``, ``test_seconds``, ``snrs``, the split's
        fractions and ``seed``) whose test files are copied instead of mixed
        again (:func:`~recipes.DNS.study_test_set.copy_test_set`): the same
        test set byte for byte. Not recorded among the options: the test set
        is the one they define.

    Returns
    -------
    dict
        The split (:func:`split_corpus`) with ``test_items``: one
        ``{"fileid", "snr_db", "clean_source", "speaker", "noise_source",
        "clean", "noisy", "seconds"}`` per item. Also in ``split.json``.
    """
    data_folder = Path(data_folder).resolve()
    snrs = [int(snr) for snr in snrs]
    if test_count <= 0 or test_count % len(snrs):
        raise StudyError(
            f"test_count must be a positive multiple of {len(snrs)} (one per SNR), got {test_count}."
        )
    options = {
        "data_dir": str(corpus_root(data_dir)),
        "test_count": int(test_count),
        "test_seconds": float(test_seconds),
        "snrs": snrs,
        "test_speaker_fraction": float(test_speaker_fraction),
        "test_noise_fraction": float(test_noise_fraction),
        "seed": int(seed),
    }
    if extra_clean:
        options["extra_clean"] = [str(Path(folder).resolve()) for folder in extra_clean]
    if by_source:  # recorded only when set: folders laid before the option are not laid again
        options["by_source"] = True
    marker = data_folder / DATA_MARKER
    if marker.is_file() and json.loads(marker.read_text())["options"] == options:
        return json.loads((data_folder / "split.json").read_text())
    datasets = data_folder / "datasets"
    if datasets.exists() and not marker.exists() and not (data_folder / "split.json").exists():
        raise StudyError(f"{datasets}: exists and was not made by the study; choose another work folder.")
    marker.unlink(missing_ok=True)
    shutil.rmtree(datasets, ignore_errors=True)

    split = split_corpus(data_dir, test_speaker_fraction, test_noise_fraction, seed)
    corpus_clean = list(split["train_clean"])
    added = _add_extra_clean(split, extra_clean)
    if by_source:
        split["source_folders"] = _source_folders(added)
    for path in corpus_clean:
        _link(path, datasets / "clean" / Path(path).name)
    for folder, files in added.items():
        for path in files:
            _link(path, datasets / "clean" / (folder.name if by_source else "") / path.name)
    for key, folder in (("train_noise", "noise"), ("rir", "impulse_responses")):
        for path in split[key]:
            _link(path, datasets / folder / Path(path).name)

    test_folder = datasets / "test_set" / "synthetic" / "no_reverb"
    if test_set_from is None:
        items = mix_test_set(split, test_folder, test_count, test_seconds, snrs, seed)
    else:
        items = copy_test_set(_reusable_test_items(test_set_from, options, split), test_folder)
    record = {
        "speaker_rule": SPEAKER_RULE,
        **split,
        "test_items": items,
    }
    write_text_atomically(data_folder / "split.json", json.dumps(record, indent=2))
    write_text_atomically(marker, json.dumps({"options": options}, indent=2))
    return record


def check_prepared(prepare_folder, split):
    """Checks what ``prepare_dns`` made of the study corpus; raises on any leak.

    The validation mixtures must come from training speakers and training
    noises only, the training manifests must hold no test speaker or noise,
    and the test manifest must be the study's test set. The corpus may be
    laid by source (``build_study_data(by_source=True)``).

    Returns
    -------
    dict
        Counts and the validation speakers and noises (``data_check.json``).
    """
    folder = Path(prepare_folder)
    manifests = {}
    for name in ("train_clean", "train_noise", "valid", "test"):
        path = folder / f"{name}.json"
        if not path.is_file():
            raise StudyError(f"{path}: missing; the data was not prepared by train.py.")
        manifests[name] = json.loads(path.read_text())
    train_speakers, train_noises = set(split["train_speakers"]), {Path(p).stem for p in split["train_noise"]}
    problems = []
    for utt_id, entry in manifests["train_clean"].items():
        if speaker_of(Path(entry["wav"]).stem) not in train_speakers:
            problems.append(f"training clean file {utt_id} is not from a training speaker")
    for utt_id, entry in manifests["train_noise"].items():
        if Path(entry["wav"]).stem not in train_noises:
            problems.append(f"training noise {utt_id} is not a training noise")
    valid_speakers, valid_noises = set(), set()
    # A file laid by source has the id <subfolder>__<stem> (by_source of build_study_data).
    prefixes = [f"{name}__" for name in split.get("source_folders", {})]
    for utt_id, entry in manifests["valid"].items():
        source = entry["clean_source"]
        speaker = speaker_of(next((source[len(p):] for p in prefixes if source.startswith(p)), source))
        valid_speakers.add(speaker)
        valid_noises.add(entry["noise_source"])
        if speaker not in train_speakers:
            problems.append(f"validation item {utt_id} uses speaker {speaker}, not a training speaker")
        if entry["noise_source"] not in train_noises:
            problems.append(
                f"validation item {utt_id} uses noise {entry['noise_source']}, not a training noise"
            )
    if len(manifests["test"]) != len(split["test_items"]):
        problems.append(
            f"test manifest has {len(manifests['test'])} items, the study built {len(split['test_items'])}"
        )
    if problems:
        raise StudyError(f"{folder}: the prepared data leaks across the split:\n  " + "\n  ".join(problems))
    return {
        "train_clean_files": len(manifests["train_clean"]),
        "train_noise_files": len(manifests["train_noise"]),
        "valid_items": len(manifests["valid"]),
        "valid_speakers": sorted(valid_speakers),
        "valid_noises": sorted(valid_noises),
        "test_items": len(manifests["test"]),
        "valid_from_training_only": True,
    }


