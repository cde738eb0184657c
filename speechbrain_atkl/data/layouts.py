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
:mod:`speechbrain_atkl.data.prepare`; which files are held out, and how the
validation is shared between sources of speech, see
:mod:`speechbrain_atkl.data.holdout`), pairs as they are.

:func:`detect_layout` tells the layout of a folder; :func:`prepare_dynamic`
and :func:`prepare_pairs` make each layout's manifests.

Authors
 * speechbrain-atkl developers 2026
"""

import re
from pathlib import Path

import numpy as np

from speechbrain_atkl.data.audio_writer import save_audio
from speechbrain_atkl.data.holdout import (
    TOP_LEVEL,
    clean_sources,
    shares,
    split_clean,
    split_clean_by_source,
    split_off,
)
from speechbrain_atkl.data.mixing import DynamicMixingDataset
from speechbrain_atkl.data.scan import list_audio, pair_entries, require_dir, single_manifest

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


def _mix_fixed_set(name, parts, noise, rir, seed, options, save_folder, snr_range):
    """Mixes the fixed set ``name`` once, writes it, returns its manifest.

    ``parts`` is a list of ``(clean manifest, count)``: part ``k`` gives
    ``count`` mixtures of its clean files, drawn as the items of epoch ``k``
    of a :class:`DynamicMixingDataset` (so a set of one part is drawn as it
    always was); the ids run on across parts.
    """
    folder = Path(save_folder) / f"{name}_mixtures"
    manifest = {}
    for part, (clean, count) in enumerate(parts):
        dataset = DynamicMixingDataset(
            clean,
            noise,
            rir,
            segment_seconds=options[f"{name}_seconds"],
            snr_range=snr_range,
            level_range_db=options["level_range_db"],
            reverb_prob=options["reverb_prob"] if rir else 0.0,
            reverberant_target=options["reverberant_target"],
            epoch_size=count,
            seed=seed,
            sample_rate=options["sample_rate"],
        )
        dataset.set_epoch(part)
        for index in range(count):
            mixture = dataset.get_mixture(index)
            utt_id = f"{name}_{len(manifest):05d}"
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


def _valid_sources(clean, clean_dir, options):
    """``{source: [ids]}`` that validation balances (:mod:`~speechbrain_atkl.data.holdout`); one for ``none``."""
    if options["valid_balance"] == "none":
        return {TOP_LEVEL: list(clean)}
    sources = clean_sources(clean, clean_dir)
    if options["valid_count"] < len(sources):
        raise ValueError(
            f"valid_balance: subfolders gives each of the {len(sources)} sources of {clean_dir} "
            f"({', '.join(sources)}) a share of the validation mixtures; valid_count must be at least "
            f"{len(sources)}, got {options['valid_count']}."
        )
    return sources


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
    clean_ids, valid_clean = split_clean_by_source(_valid_sources(clean, clean_dir, options), options, clean_rng)
    noise_ids, valid_noise = split_off(
        noise, options["valid_fraction"], noise_rng, "noise files", count=options["valid_noise_count"]
    )
    counts = shares(options["valid_count"], len(valid_clean))
    if options["valid_balance"] != "none":
        report.notes.append("Validation balanced across the sources of speech: " + "; ".join(
            f"{name}: {len(ids)} clean files held out, {count} mixtures"
            for (name, ids), count in zip(valid_clean.items(), counts)
        ))

    test = _dns_test_set(root, options["test_subsets"], report)
    if test is None:
        report.notes.append(
            f"{root}: no test_set/synthetic folder; a fixed test set was mixed from "
            "held-out clean and noise files."
        )
        clean_ids, test_clean = split_clean(clean_ids, options, clean_rng, "test_fraction")
        noise_ids, test_noise = split_off(noise_ids, options["test_fraction"], noise_rng, "noise files")
        test = _mix_fixed_set(
            "test", [({k: clean[k] for k in test_clean}, options["test_count"])], {k: noise[k] for k in test_noise},
            rir, seed + 1, options, save_folder, options["snr_range"],
        )
    valid = _mix_fixed_set(
        "valid", [({k: clean[k] for k in ids}, count) for ids, count in zip(valid_clean.values(), counts)],
        {k: noise[k] for k in valid_noise}, rir, seed, options, save_folder,
        options["valid_snr_range"] or options["snr_range"],
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
