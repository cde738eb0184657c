"""The distillation study's data: a speaker- and noise-disjoint split and a fixed test set.

Part of ``recipes/DNS/study.py`` (see its docstring): :func:`split_corpus`
splits a corpus folder, :func:`build_study_data` lays it out for
``prepare_dns`` with a test set mixed at -5 to 15 dB, and
:func:`check_prepared` verifies what the recipe made of it.


Authors
 * speechbrain-atkl developers 2026
"""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import torch

from speechbrain_atkl.data.atomic import write_text_atomically
from speechbrain_atkl.data.audio import AUDIO_EXTENSIONS, load_audio
from speechbrain_atkl.data.audio_writer import save_audio
from speechbrain_atkl.data.mixing import mix_at_snr
from speechbrain_atkl.data.prepare import split_off
from speechbrain_atkl.data.speakers import SPEAKER_RULE, speaker_of  # noqa: F401 - re-exported for the study

SAMPLE_RATE = 16000
TEST_SNRS = (-5, 0, 5, 10, 15)
DATA_MARKER = "study_data.json"
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


# ---------------------------------------------------------------------- the test set
def _segment(wav, length, rng):
    """A seeded window of ``length`` samples (the whole signal if shorter)."""
    if wav.shape[-1] <= length:
        return wav
    start = int(rng.integers(0, wav.shape[-1] - length + 1))
    return wav[start : start + length]


def _noise_for(noise, length, rng):
    """A seeded noise excerpt of ``length`` samples, looped if the recording is shorter."""
    noise = torch.roll(noise, -int(rng.integers(noise.shape[-1])))
    return noise.repeat(math.ceil(length / noise.shape[-1]))[:length]


def mix_test_item(clean, noise, snr_db, rng, level_range_db=(-35.0, -15.0), peak_limit=0.99):
    """Mixes one test pair: noise at ``snr_db``, then a seeded overall level.

    Arguments
    ---------
    clean : torch.Tensor
        Speech, shape ``(time,)``.
    noise : torch.Tensor
        Noise recording, shape ``(time,)``, any length.
    snr_db : float
        SNR of the mixture (recipe's :func:`mix_at_snr`).
    rng : numpy.random.Generator
        Chooses the noise excerpt and the level.
    level_range_db : tuple of float
        The mixture's RMS is uniform in this range (dBFS), lowered if a peak
        would exceed ``peak_limit``.

    Returns
    -------
    tuple of torch.Tensor
        ``(clean, noisy)``, both scaled by the same gain, shape ``(time,)``.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> clean, noisy = mix_test_item(torch.randn(8000), torch.randn(3000), 5.0, rng)
    >>> snr = 10 * torch.log10(clean.pow(2).sum() / (noisy - clean).pow(2).sum())
    >>> round(float(snr), 3)
    5.0
    """
    noisy = mix_at_snr(clean, _noise_for(noise, clean.shape[-1], rng), float(snr_db))
    level = float(rng.uniform(*level_range_db))
    gain = 10 ** (level / 20) / noisy.pow(2).mean().sqrt()
    peak = gain * torch.maximum(noisy.abs().max(), clean.abs().max())
    if peak > peak_limit:
        gain = gain * peak_limit / peak
    return clean * gain, noisy * gain


def _link(target, link):
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(Path(target).resolve())


def _add_extra_clean(split, folders):
    """Adds the files of ``folders`` to the split's training speech; refuses test speakers."""
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
    marker = data_folder / DATA_MARKER
    if marker.is_file() and json.loads(marker.read_text())["options"] == options:
        return json.loads((data_folder / "split.json").read_text())
    datasets = data_folder / "datasets"
    if datasets.exists() and not marker.exists() and not (data_folder / "split.json").exists():
        raise StudyError(f"{datasets}: exists and was not made by the study; choose another work folder.")
    marker.unlink(missing_ok=True)
    shutil.rmtree(datasets, ignore_errors=True)

    split = split_corpus(data_dir, test_speaker_fraction, test_noise_fraction, seed)
    _add_extra_clean(split, extra_clean)
    for key, folder in (("train_clean", "clean"), ("train_noise", "noise"), ("rir", "impulse_responses")):
        for path in split[key]:
            _link(path, datasets / folder / Path(path).name)

    test_folder = datasets / "test_set" / "synthetic" / "no_reverb"
    order_rng = np.random.default_rng([seed, 6])
    clean_order = [split["test_clean"][i] for i in order_rng.permutation(len(split["test_clean"]))]
    noise_order = [split["test_noise"][i] for i in order_rng.permutation(len(split["test_noise"]))]
    items = []
    for fileid in range(test_count):
        rng = np.random.default_rng([seed, 7, fileid])
        clean_path = Path(clean_order[fileid % len(clean_order)])
        noise_path = Path(noise_order[fileid % len(noise_order)])
        snr = snrs[fileid % len(snrs)]
        speech = _segment(load_audio(clean_path, SAMPLE_RATE), round(test_seconds * SAMPLE_RATE), rng)
        clean, noisy = mix_test_item(speech, load_audio(noise_path, SAMPLE_RATE), snr, rng)
        paths = {
            "clean": test_folder / "clean" / f"clean_fileid_{fileid}.wav",
            "noisy": test_folder / "noisy" / f"{noise_path.stem}_snr{snr}_fileid_{fileid}.wav",
        }
        save_audio(paths["clean"], clean, SAMPLE_RATE)
        save_audio(paths["noisy"], noisy, SAMPLE_RATE)
        items.append(
            {
                "fileid": fileid,
                "snr_db": snr,
                "clean_source": clean_path.name,
                "speaker": speaker_of(clean_path.stem),
                "noise_source": noise_path.name,
                "clean": str(paths["clean"]),
                "noisy": str(paths["noisy"]),
                "seconds": round(clean.shape[-1] / SAMPLE_RATE, 3),
            }
        )
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
    and the test manifest must be the study's test set.

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
    for utt_id, entry in manifests["valid"].items():
        speaker = speaker_of(entry["clean_source"])
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


