"""The corpus layouts that :func:`~speechbrain_atkl.data.prepare.prepare_dns` recognises.

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

The two DNS layouts are trained by dynamic mixing (held-out clean and noise
files mixed once into fixed validation and test sets, see
:mod:`speechbrain_atkl.data.prepare`), pairs as they are.

:func:`detect_layout` tells the layout of a folder; :func:`prepare_dynamic`
and :func:`prepare_pairs` make each layout's manifests.

Authors
 * speechbrain-atkl developers 2026
"""

import re
from pathlib import Path

import numpy as np

from speechbrain_atkl.data.audio_writer import save_audio
from speechbrain_atkl.data.mixing import DynamicMixingDataset
from speechbrain_atkl.data.scan import list_audio, pair_entries, require_dir, single_manifest
from speechbrain_atkl.data.speakers import group_by_speaker

LAYOUTS = ("dns2020", "dns_fullband", "pairs")
TEST_SUBSETS = ("no_reverb", "with_reverb")
RIR_FOLDERS = ("impulse_responses", "rir", "rirs")
FILEID = re.compile(r"fileid_(\d+)$")


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
        folder = require_dir(synthetic / subset, expected)
        clean_folder = require_dir(folder / "clean", "clean_fileid_N.wav files")
        noisy_folder = require_dir(folder / "noisy", "noisy ..._fileid_N.wav files")
        clean = _by_fileid(list_audio(clean_folder, "clean_fileid_N.wav files"), report)
        noisy = _by_fileid(list_audio(noisy_folder, "noisy ..._fileid_N.wav files"), report)
        for number in sorted(set(clean) ^ set(noisy)):
            report.unpaired.append(str(clean.get(number) or noisy.get(number)))
        for number in sorted(set(clean) & set(noisy)):
            pairs[f"{subset}_fileid_{number}"] = (noisy[number], clean[number], {"subset": subset})
    manifest = pair_entries(pairs, report)
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
    data_folder = require_dir(data_folder, "a corpus folder")
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


def _split_clean(ids, options, rng, fraction_key="valid_fraction"):
    """Holds ``options[fraction_key]`` of the clean files out, by file or by speaker.

    With ``options["valid_split"] == "speakers"`` the fraction is of the
    speakers (:func:`~speechbrain_atkl.data.speakers.speaker_of`), and every
    file of a held-out speaker is held out; ``"files"`` holds out files.

    Example
    -------
    >>> ids = [f"vctk_p{s}_{u:03d}" for s in (225, 226, 227, 228) for u in range(3)]
    >>> kept, held = _split_clean(ids, {"valid_split": "speakers", "valid_fraction": 0.25}, np.random.default_rng(0))
    >>> len(kept), len(held), len({i.split("_")[1] for i in held})
    (9, 3, 1)
    """
    fraction = options[fraction_key]
    if options.get("valid_split", "files") == "files":
        return split_off(ids, fraction, rng, "clean files")
    groups = group_by_speaker(ids)
    kept, held = split_off(groups, fraction, rng, "clean speakers")
    return sorted(i for s in kept for i in groups[s]), sorted(i for s in held for i in groups[s])


def _mix_fixed_set(name, clean, noise, rir, seed, options, save_folder):
    """Mixes the fixed set ``name`` (``options[name + "_count"]`` items) once, writes it, returns its manifest."""
    count, seconds = options[f"{name}_count"], options[f"{name}_seconds"]
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


def prepare_dynamic(data_folder, layout, options, report, save_folder):
    """Manifests of the dynamic-mixing layouts (DNS-2020 and fullband)."""
    root = _dns_root(data_folder, layout)
    if layout == "dns2020":
        clean_dir, noise_dir = root / "clean", root / "noise"
    else:
        clean_dir, noise_dir = root / "clean_fullband", root / "noise_fullband"
    require_dir(clean_dir, "a folder of clean speech audio files")
    require_dir(noise_dir, "a folder of noise audio files")
    clean = single_manifest(
        clean_dir, "clean speech audio files", report, options["clean_subsets"]
    )
    noise = single_manifest(noise_dir, "noise audio files", report)
    rir_dir = next((root / n for n in RIR_FOLDERS if (root / n).is_dir()), root / RIR_FOLDERS[0])
    rir = single_manifest(rir_dir, "room impulse responses", report, required=False)
    if not rir:
        report.notes.append(f"No room impulse responses found under {root}.")

    seed = options["seed"]
    clean_rng, noise_rng = np.random.default_rng([seed, 0]), np.random.default_rng([seed, 1])
    clean_ids, valid_clean = _split_clean(clean, options, clean_rng)
    noise_ids, valid_noise = split_off(noise, options["valid_fraction"], noise_rng, "noise files")

    test = _dns_test_set(root, options["test_subsets"], report)
    if test is None:
        report.notes.append(
            f"{root}: no test_set/synthetic folder; a fixed test set was mixed from "
            "held-out clean and noise files."
        )
        clean_ids, test_clean = _split_clean(clean_ids, options, clean_rng, "test_fraction")
        noise_ids, test_noise = split_off(noise_ids, options["test_fraction"], noise_rng, "noise files")
        test = _mix_fixed_set(
            "test", {k: clean[k] for k in test_clean}, {k: noise[k] for k in test_noise},
            rir, seed + 1, options, save_folder,
        )
    valid = _mix_fixed_set(
        "valid", {k: clean[k] for k in valid_clean}, {k: noise[k] for k in valid_noise},
        rir, seed, options, save_folder,
    )
    return {
        "train_clean": {k: clean[k] for k in clean_ids},
        "train_noise": {k: noise[k] for k in noise_ids},
        "train_rir": rir,
        "valid": valid,
        "test": test,
    }


def prepare_pairs(data_folder, options, report):
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
        noisy = {p.relative_to(noisy_dir): p for p in list_audio(noisy_dir, expected)}
        clean_expected = f"audio files paired by name with {noisy_dir}"
        clean = {p.relative_to(clean_dir): p for p in list_audio(clean_dir, clean_expected)}
        for name in sorted(set(noisy) ^ set(clean)):
            report.unpaired.append(str(noisy.get(name) or clean.get(name)))
        pool = pools["train" if split == "all" else split]
        pairs = {}
        for name in sorted(set(noisy) & set(clean)):
            utt_id = name.with_suffix("").as_posix().replace("/", "__")
            if utt_id in pool:
                utt_id = f"{noisy_dir.name}__{utt_id}"
            pairs[utt_id] = (noisy[name], clean[name], {})
        pool.update(pair_entries(pairs, report))
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
