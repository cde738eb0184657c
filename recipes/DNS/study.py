#!/usr/bin/env python3
"""The distillation study: does AT-KL from a Uformer teacher make Distil-DCCRN better?

One command regenerates every number and figure of the study::

    python recipes/DNS/study.py DATA_DIR [--work-dir results/study] [--budget small|full]
                                [--device cpu|cuda] [--seeds 3] [--dry-run]

``DATA_DIR`` is a corpus folder with ``clean/``, ``noise/`` and ``rir/`` (or
``impulse_responses/``) sub-folders, such as the shared corpus
``../shared/data/corpus`` (``../shared/data`` itself is accepted too).
Nothing is copied from it: the study data holds symbolic links and the mixed
test set.

What it does
------------
1. **Split** the corpus by speaker and by noise recording (:func:`split_corpus`,
   rule in :func:`speaker_of`): the test set has speakers and noises never
   seen in training. Room responses all go to training (the test set has no
   reverberation).
2. **Build** ``<work-dir>/data`` in the DNS-2020 layout
   (:func:`build_study_data`): ``datasets/{clean,noise,impulse_responses}``
   hold links to the training files, ``datasets/test_set/synthetic/no_reverb``
   a fixed test set mixed with the recipe's ``mix_at_snr`` at -5, 0, 5, 10 and
   15 dB (as many items per SNR), saved with ``save_audio`` as
   ``clean/clean_fileid_N.wav`` and ``noisy/<noise>_snrS_fileid_N.wav``.
   ``split.json`` lists the split and every test item. ``train.py`` prepares
   it unchanged (``prepare_dns``, layout ``dns2020``), holding out its
   validation files from the training files only; the study checks this
   after the first run (:func:`check_prepared`, ``data_check.json``).
3. **Train** every system with ``train.py`` and the recipe's YAML files, the
   same data, steps and seeds (:data:`SYSTEMS`): the teacher (Uformer-light),
   DCCRN-E, Distil-DCCRN alone and with AT-KL, and five ablations of AT-KL
   (output-only distillation, attention transfer without KL, KL without
   attention transfer, time-only, channel-only). Then the fixes the ablations
   pointed to: AT-KL with the KL at temperature 8, the same from a teacher
   trained 4x as many steps, and last the key comparison again with teacher
   and students all at 4x the steps. The key comparisons (student alone, with
   AT-KL and with each fix) run with every seed (1986, 1987, ...), the others
   with the first. A run whose
   ``test_metrics.json`` exists is skipped, so an interrupted study resumes
   (an interrupted run resumes from its checkpoint).
4. **Collect** ``results_table.md`` and ``results.json`` (test metrics, mean
   ± std over seeds, parameters and GMAC/s of the trained models) and the
   figures ``valid_curves.png`` (validation SI-SNR and PESQ against training
   step, student alone vs with AT-KL) and ``spectrograms.png`` (one test
   utterance: noisy, clean, teacher, student alone, student with AT-KL),
   written to ``<work-dir>/figures`` and to ``recipes/DNS/figures``.

Budgets (per run; every run of a budget uses the same values)
-------------------------------------------------------------
=========  ======  ==========  =====  =======  =====  ===========================
budget     epochs  epoch_size  batch  segment  valid  test set
=========  ======  ==========  =====  =======  =====  ===========================
small      5       112         8      2.0 s    20     20 items (4 per SNR), <= 6 s
full       8       160         8      3.0 s    40     40 items (8 per SNR), <= 8 s
=========  ======  ==========  =====  =======  =====  ===========================

Estimated time with ``--seeds 3`` (26 runs) on an idle 2-core CPU, from the
single-thread CPU time of a training step (batch 8 x 2 s) measured per
system (CPU-seconds per second of training audio: student 0.19, AT-KL 0.35,
output-only distillation 0.31, DCCRN-E 0.33, Uformer-light 0.41), the
scoring of a test item (about 3 CPU-seconds, DNSMOS of noisy and enhanced
included) and about 10 s of start-up per run: ``small`` about 3.5-5 h,
``full`` about 12-17 h (a GPU job); the range is the unknown gain of the second thread
(none to 1.5x). Measured: the first 13 ``small`` runs took 63 min. On a machine busy with other work, ``--threads 1`` avoids
thread over-subscription (measured 2-4x slower than one thread there).

Authors
 * speechbrain-atkl developers 2026
"""

import argparse
import csv
import dataclasses
import json
import math
import os
import re
import resource
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from speechbrain_atkl.data.audio import AUDIO_EXTENSIONS, load_audio, save_audio
from speechbrain_atkl.data.mixing import mix_at_snr
from speechbrain_atkl.data.prepare import split_off

REPO = Path(__file__).resolve().parents[2]
COMMITTED_FIGURES = REPO / "recipes" / "DNS" / "figures"
SAMPLE_RATE = 16000
TEST_SNRS = (-5, 0, 5, 10, 15)
FIRST_SEED = 1986
DATA_MARKER = "study_data.json"
STUDY_RECORD = "study.json"
RIR_FOLDERS = ("rir", "impulse_responses", "rirs")


class StudyError(RuntimeError):
    """The study cannot go on (bad corpus, failed run, leaking split...)."""


# ---------------------------------------------------------------------- budgets
@dataclasses.dataclass(frozen=True)
class Budget:
    """How much each run trains and how large the test set is.

    Arguments
    ---------
    number_of_epochs, epoch_size, batch_size, segment_seconds, valid_count :
        Passed to every ``train.py`` run (``epoch_size`` dynamically mixed
        items of ``segment_seconds`` per epoch; ``valid_count`` fixed
        validation mixtures).
    test_count : int
        Test items, spread evenly over :data:`TEST_SNRS`.
    test_seconds : float
        Longest test item (longer utterances are cut to a seeded window).
    num_workers, eval_num_workers : int
        DataLoader and scoring processes of each run.
    extra : tuple of (str, str)
        Further ``train.py`` overrides.
    """

    number_of_epochs: int
    epoch_size: int
    batch_size: int
    segment_seconds: float
    valid_count: int
    test_count: int
    test_seconds: float
    num_workers: int = 0
    eval_num_workers: int = 2
    extra: tuple = ()

    def overrides(self):
        """The ``train.py`` overrides shared by every run of this budget."""
        keys = ("number_of_epochs", "epoch_size", "batch_size", "segment_seconds", "valid_count")
        keys += ("num_workers", "eval_num_workers")
        return tuple((key, str(getattr(self, key))) for key in keys) + self.extra

    def steps_per_epoch(self):
        """Optimiser steps per epoch (one process)."""
        return math.ceil(self.epoch_size / self.batch_size)

    def describe(self):
        """One line stating what every run does."""
        return (
            f"{self.number_of_epochs} epochs x {self.epoch_size} items "
            f"({self.steps_per_epoch()} steps of batch {self.batch_size}) of "
            f"{self.segment_seconds:g} s segments, {self.valid_count} validation mixtures, "
            f"{self.test_count} test items of <= {self.test_seconds:g} s"
        )


BUDGETS = {
    "small": Budget(5, 112, 8, 2.0, 20, 20, 6.0),
    "full": Budget(8, 160, 8, 3.0, 40, 40, 8.0),
    # Hidden: proves the pipeline in seconds (tests).
    "micro": Budget(
        1,
        4,
        2,
        0.5,
        2,
        5,
        1.0,
        eval_num_workers=0,
        extra=(("test_metrics", "[pesq_wb, stoi, si_snr, si_snr_i]"), ("ckpt_interval_minutes", "0")),
    ),
}


# ---------------------------------------------------------------------- systems
@dataclasses.dataclass(frozen=True)
class System:
    """One trained system of the study.

    Arguments
    ---------
    name : str
        ``experiment_name`` of its runs (their folder under the results root).
    label : str
        Its row in the results table.
    yaml : str
        Recipe YAML under ``hparams/``.
    overrides : tuple of (str, str)
        Extra ``train.py`` overrides (the ablation).
    teacher : str or None
        Name of the system whose first-seed run is its teacher (distilled
        systems only).
    steps_factor : int
        Multiplies the budget's epochs (the 4x-steps group).
    every_seed : bool
        Runs with every seed (the key comparisons), else with the first.
    paired_with : str or None
        The system it is compared with seed by seed (below the table).
    cost : float
        Measured single-thread CPU-seconds of training per second of audio
        (batch 8 x 2 s steps), for :func:`estimate_seconds`.
    """

    name: str
    label: str
    yaml: str
    overrides: tuple = ()
    teacher: str = None
    steps_factor: int = 1
    every_seed: bool = False
    paired_with: str = None
    cost: float = 0.35

    @property
    def distilled(self):
        return self.teacher is not None


TEACHER = "uformer"
STUDENT_ALONE = "distil_dccrn"
STUDENT_ATKL = "distil_dccrn_atkl"
STUDENT_ATKL_T8 = "atkl_t8"
LONG_TEACHER = "uformer_long"
STUDENT_FIXED = "atkl_t8_long_teacher"
STUDENT_ALONE_4X = "distil_dccrn_4x"
STUDENT_FIXED_4X = "atkl_t8_4x"
SYSTEMS = (
    System(TEACHER, "Uformer-light (teacher)", "uformer.yaml", cost=0.41),
    System("dccrn", "DCCRN-E", "dccrn.yaml", cost=0.33),
    System(STUDENT_ALONE, "Distil-DCCRN alone", "distil_dccrn.yaml", every_seed=True, cost=0.19),
    System(
        STUDENT_ATKL,
        "Distil-DCCRN + AT-KL",
        "distil_dccrn_atkl.yaml",
        teacher=TEACHER,
        every_seed=True,
        paired_with=STUDENT_ALONE,
    ),
    System(
        "atkl_output_only",
        "ablation: output-only distillation (no AT-KL)",
        "distil_dccrn_atkl.yaml",
        (("feature_weight", "0.0"),),
        teacher=TEACHER,
        cost=0.31,
    ),
    System(
        "atkl_no_kl",
        "ablation: attention transfer without KL",
        "distil_dccrn_atkl.yaml",
        (("atkl_kl_weight", "0.0"),),
        teacher=TEACHER,
    ),
    System(
        "atkl_no_at",
        "ablation: KL without attention transfer",
        "distil_dccrn_atkl.yaml",
        (("atkl_at_weight", "0.0"),),
        teacher=TEACHER,
    ),
    System(
        "atkl_time_only",
        "ablation: time-dimension AT-KL only",
        "distil_dccrn_atkl.yaml",
        (("atkl_dims", "[time]"),),
        teacher=TEACHER,
    ),
    System(
        "atkl_channel_only",
        "ablation: channel-dimension AT-KL only",
        "distil_dccrn_atkl.yaml",
        (("atkl_dims", "[channel]"),),
        teacher=TEACHER,
    ),
    # Fixes tried after the ablations (README, "Why AT-KL did not help"): the channel-dimension KL
    # on the large early/late maps is 15-30 nats at temperature 1 and swamps every other term;
    # at temperature 8 it is 0.3-1.6, the scale of the attention-transfer terms.
    System(
        STUDENT_ATKL_T8,
        "fix: AT-KL with KL temperature 8",
        "distil_dccrn_atkl.yaml",
        (("atkl_temperature", "8.0"),),
        teacher=TEACHER,
        every_seed=True,
        paired_with=STUDENT_ALONE,
    ),
    # The teacher barely beats its input after the budget's steps: train one 4x as long ...
    System(LONG_TEACHER, "Uformer-light, 4x the steps (stronger teacher)", "uformer.yaml", steps_factor=4, cost=0.41),
    # ... and distil the student (same budget as every student) from it, with the temperature fix.
    System(
        STUDENT_FIXED,
        "fix: AT-KL with KL temperature 8, from the 4x-steps teacher",
        "distil_dccrn_atkl.yaml",
        (("atkl_temperature", "8.0"),),
        teacher=LONG_TEACHER,
        every_seed=True,
        paired_with=STUDENT_ALONE,
    ),
    # Last, the key comparison again with teacher and students all at 4x the steps.
    System(
        STUDENT_ALONE_4X,
        "Distil-DCCRN alone, 4x the steps",
        "distil_dccrn.yaml",
        steps_factor=4,
        every_seed=True,
        cost=0.19,
    ),
    System(
        STUDENT_FIXED_4X,
        "fix: AT-KL with KL temperature 8, teacher and student at 4x the steps",
        "distil_dccrn_atkl.yaml",
        (("atkl_temperature", "8.0"),),
        teacher=LONG_TEACHER,
        steps_factor=4,
        every_seed=True,
        paired_with=STUDENT_ALONE_4X,
    ),
)
SYSTEM_NAMES = tuple(system.name for system in SYSTEMS)


@dataclasses.dataclass(frozen=True)
class Run:
    """One ``train.py`` run: a system and a seed."""

    system: System
    seed: int

    @property
    def key(self):
        return f"{self.system.name}/{self.seed}"

    def output(self, results_root):
        """The run's output folder (the YAML's ``<results_root>/<experiment_name>/<seed>``)."""
        return Path(results_root) / self.system.name / str(self.seed)

    def finished(self, results_root):
        return (self.output(results_root) / "test_metrics.json").is_file()


def select_systems(names=None):
    """The systems to run, in study order; the teacher joins any distilled system.

    Example
    -------
    >>> [s.name for s in select_systems(["distil_dccrn_atkl"])]
    ['uformer', 'distil_dccrn_atkl']
    >>> [s.name for s in select_systems(["atkl_t8_long_teacher"])]
    ['uformer_long', 'atkl_t8_long_teacher']
    """
    if not names:
        return SYSTEMS
    unknown = sorted(set(names) - set(SYSTEM_NAMES))
    if unknown:
        raise StudyError(f"Unknown system(s) {unknown}; choose from {list(SYSTEM_NAMES)}.")
    wanted = set(names)
    wanted |= {system.teacher for system in SYSTEMS if system.name in wanted and system.distilled}
    return tuple(system for system in SYSTEMS if system.name in wanted)


def plan_runs(systems, seeds):
    """Every run, teacher first: key systems with each seed, the others with the first.

    Example
    -------
    >>> runs = plan_runs(SYSTEMS, [1986, 1987, 1988])
    >>> len(runs), runs[0].key
    (26, 'uformer/1986')
    """
    if not seeds:
        raise StudyError("At least one seed is needed.")
    return [Run(system, seed) for system in systems for seed in (seeds if system.every_seed else seeds[:1])]


# Start-up of a run (imports, environment record, model building), seconds.
STARTUP_SECONDS = 10.0
# CPU-seconds to score one test item for noisy and enhanced: DNSMOS 2 x 1.4, the rest 0.2.
SCORE_SECONDS = {"dnsmos": 3.0, "other": 0.3}
# Speed-up of a second torch thread on an idle 2-core CPU: unknown, between none and 1.5x.
THREAD_GAIN = (1.5, 1.0)


def estimate_seconds(runs, budget):
    """Estimated wall time of ``runs`` on an idle 2-core CPU: ``(low, high)`` seconds.

    Training and validation scale with the measured :attr:`System.cost`
    (a forward pass costs a third of a training step); scoring runs on
    ``eval_num_workers`` processes.

    Example
    -------
    >>> low, high = estimate_seconds(plan_runs(SYSTEMS, [1986, 1987, 1988]), BUDGETS["small"])
    >>> round(low / 60), round(high / 60)  # minutes
    (211, 307)
    """
    scoring = SCORE_SECONDS[
        "dnsmos" if "dnsmos" in dict(budget.extra).get("test_metrics", "dnsmos") else "other"
    ]
    totals = []
    for gain in THREAD_GAIN:
        total = 0.0
        for run in runs:
            cost = run.system.cost
            epochs = budget.number_of_epochs * run.system.steps_factor
            train = epochs * budget.epoch_size * budget.segment_seconds * cost
            valid = epochs * budget.valid_count * (budget.segment_seconds * cost / 3 + 0.05)
            test = budget.test_count * (budget.test_seconds * cost / 3 + scoring)
            total += STARTUP_SECONDS + (train + valid) / gain + test / max(1, budget.eval_num_workers)
        totals.append(total)
    return tuple(totals)


def train_command(run, budget, data_folder, results_root, teacher_seed, device="cpu"):
    """The ``train.py`` command line of a run (a list of arguments).

    A distilled run learns from the ``teacher_seed`` run of its teacher system.
    """
    options = dict(budget.overrides())
    options["number_of_epochs"] = str(budget.number_of_epochs * run.system.steps_factor)
    options.update(
        data_folder=str(data_folder),
        layout="dns2020",
        results_root=str(results_root),
        experiment_name=run.system.name,
        seed=str(run.seed),
    )
    options.update(run.system.overrides)
    if run.system.distilled:
        options["teacher_checkpoint"] = str(Path(results_root) / run.system.teacher / str(teacher_seed))
    return [
        sys.executable,
        str(REPO / "train.py"),
        str(REPO / "hparams" / run.system.yaml),
        *(f"--{key}={value}" for key, value in options.items()),
        f"--device={device}",
        "--noprogressbar",
    ]


# ---------------------------------------------------------------------- the split
LIBRISPEECH = re.compile(r"(\d+)-\d+-\d+$")
VCTK = re.compile(r"(?:^|_)(p\d{3})_\d+$")
ARCTIC = re.compile(r"arctic_([a-z]+)_[ab]\d{4}$")
READER = re.compile(r"reader_(\d+)_utt_\d+$")
SPEAKER_RULE = (
    "LibriSpeech SPEAKER-CHAPTER-UTT -> librispeech-SPEAKER; VCTK _pNNN_MMM -> vctk-pNNN; "
    "CMU ARCTIC arctic_XXX_aNNNN -> arctic-XXX; demo reader_NN_utt_MMM -> reader-NN; "
    "any other file is its own speaker"
)


def speaker_of(name):
    """The speaker of a clean speech file, from its name.

    Rules, first match wins (``name`` is a file name or stem):

    1. ``...SPEAKER-CHAPTER-UTTERANCE`` (LibriSpeech): ``librispeech-SPEAKER``,
       whatever the prefix, so one reader is one speaker across sources;
    2. ``..._pNNN_MMM`` (VCTK): ``vctk-pNNN``;
    3. ``...arctic_XXX_aNNNN`` (CMU ARCTIC): ``arctic-XXX``;
    4. ``..._reader_NN_utt_MMM`` (the synthetic demo corpus): ``reader-NN``;
    5. anything else is its own speaker (the file's stem). In the shared
       corpus that is one file, ``spatialaudio_xmas`` (one freesound voice,
       see its ``SOURCES.md``).

    Example
    -------
    >>> speaker_of("resemblyzer-ls-test-other_1688-142285-0003.wav")
    'librispeech-1688'
    >>> speaker_of("audiomentations-vctk_p286_011"), speaker_of("pyroomacoustics-cmuarctic_aew_a0002")
    ('vctk-p286', 'arctic-aew')
    >>> speaker_of("spatialaudio_xmas.wav")
    'spatialaudio_xmas'
    """
    stem = Path(name).stem if Path(name).suffix.lower() in AUDIO_EXTENSIONS else str(name)
    for pattern, prefix in (
        (LIBRISPEECH, "librispeech"),
        (VCTK, "vctk"),
        (ARCTIC, "arctic"),
        (READER, "reader"),
    ):
        match = pattern.search(stem)
        if match:
            return f"{prefix}-{match.group(1)}"
    return stem


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


def build_study_data(
    data_dir,
    data_folder,
    test_count=20,
    test_seconds=6.0,
    snrs=TEST_SNRS,
    test_speaker_fraction=0.15,
    test_noise_fraction=0.2,
    seed=0,
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
    marker = data_folder / DATA_MARKER
    if marker.is_file() and json.loads(marker.read_text())["options"] == options:
        return json.loads((data_folder / "split.json").read_text())
    datasets = data_folder / "datasets"
    if datasets.exists() and not marker.exists() and not (data_folder / "split.json").exists():
        raise StudyError(f"{datasets}: exists and was not made by the study; choose another work folder.")
    marker.unlink(missing_ok=True)
    shutil.rmtree(datasets, ignore_errors=True)

    split = split_corpus(data_dir, test_speaker_fraction, test_noise_fraction, seed)
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
    (data_folder / "split.json").write_text(json.dumps(record, indent=2))
    marker.write_text(json.dumps({"options": options}, indent=2))
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


# ---------------------------------------------------------------------- running
EPOCH_LINE = re.compile(r"^epoch: (\d+),")
NUMBER = r"(-?[\d.]+(?:e[+-]?\d+)?|nan|inf)"


def parse_train_log(path):
    """Validation metrics per epoch from a ``train_log.txt``.

    Lines look like ``epoch: N, lr: ... - train loss: ... - valid loss: ...,
    valid si_snr: X, valid pesq: Y``; a repeated epoch (a resumed run) keeps
    its last line.

    Returns
    -------
    dict
        ``{epoch: {"si_snr": float, "pesq": float, ...}}`` in epoch order.

    Example
    -------
    >>> import tempfile
    >>> log = Path(tempfile.mkdtemp()) / "train_log.txt"
    >>> _ = log.write_text("epoch: 1, lr: 1.00e-03 - train loss: -2.10 - valid loss: -3.00, "
    ...                    "valid si_snr: 3.00, valid pesq: 1.25\\n")
    >>> parse_train_log(log)
    {1: {'loss': -3.0, 'si_snr': 3.0, 'pesq': 1.25}}
    """
    epochs = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        match = EPOCH_LINE.match(line)
        if not match:
            continue
        values = {name: float(value) for name, value in re.findall(r"valid (\w+): " + NUMBER, line)}
        epochs[int(match.group(1))] = values
    return dict(sorted(epochs.items()))


def _duration(seconds):
    """``42 s`` or ``3.5 min``."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _describe_epoch(epoch, values):
    parts = [f"valid si_snr {values['si_snr']:.2f} dB" if "si_snr" in values else ""]
    parts.append(f"pesq {values['pesq']:.3f}" if "pesq" in values else "")
    return f"epoch {epoch}: " + ", ".join(part for part in parts if part)


def execute(run, command, results_root, log_folder, env, poll_seconds=5.0):
    """Runs one ``train.py`` command, echoing each validated epoch.

    Returns
    -------
    dict
        ``wall_s`` and ``cpu_s`` (CPU time of the run and its children).
    """
    log_path = Path(log_folder) / f"{run.system.name}_{run.seed}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    train_log = run.output(results_root) / "train_log.txt"
    shown = set(parse_train_log(train_log)) if train_log.is_file() else set()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(log_path, "a", encoding="utf-8") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        while True:
            try:
                process.wait(timeout=poll_seconds)
                finished = True
            except subprocess.TimeoutExpired:
                finished = False
            if train_log.is_file():
                for epoch, values in parse_train_log(train_log).items():
                    if epoch not in shown:
                        shown.add(epoch)
                        print(f"    {_describe_epoch(epoch, values)}", flush=True)
            if finished:
                break
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0 or not run.finished(results_root):
        tail = "".join(log_path.read_text(encoding="utf-8", errors="replace").splitlines(True)[-30:])
        raise StudyError(f"{run.key} failed (exit status {process.returncode}); full log: {log_path}\n{tail}")
    return {
        "wall_s": round(time.perf_counter() - start, 1),
        "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1),
    }


# ---------------------------------------------------------------------- results
METRIC_COLUMNS = (
    ("pesq_wb", "PESQ-WB", 3),
    ("stoi", "STOI", 3),
    ("si_snr", "SI-SNR (dB)", 2),
    ("si_snr_i", "SI-SNR-i (dB)", 2),
    ("dnsmos_ovrl", "DNSMOS OVRL", 3),
    # Not a test metric: the validation SI-SNR of the last epoch, free of checkpoint selection.
    ("valid_si_snr_last", "valid SI-SNR, last epoch (dB)", 2),
)


def _model_figures(output):
    """Parameters and GMAC per second of audio of a run's trained model."""
    from speechbrain_atkl.report import count_macs, count_parameters
    from speechbrain_atkl.training import load_trained_model

    model, _ = load_trained_model(output)
    return {"params": count_parameters(model), "gmacs": count_macs(model, seconds=1.0) / 1e9}


def snr_breakdown(output, split, metric="si_snr_i"):
    """Mean ``metric`` of a run's enhanced test items per input SNR.

    Arguments
    ---------
    output : pathlib.Path
        A finished run's folder (its ``test_results/per_utterance.csv``).
    split : dict
        The study split (its ``test_items`` give each file id's SNR).
    metric : str
        A column of ``per_utterance.csv``.

    Returns
    -------
    dict
        ``{snr_db: mean}``, empty when the run has no per-utterance scores.
    """
    path = Path(output) / "test_results" / "per_utterance.csv"
    if not path.is_file():
        return {}
    snr_of = {item["fileid"]: item["snr_db"] for item in split["test_items"]}
    values = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            match = re.search(r"fileid_(\d+)$", row["id"])
            if row["system"] == "enhanced" and match and row.get(metric) not in (None, ""):
                values.setdefault(snr_of[int(match.group(1))], []).append(float(row[metric]))
    return {snr: float(np.mean(scores)) for snr, scores in sorted(values.items())}


def collect_results(runs, results_root, split=None):
    """Test metrics, size and compute of every finished run.

    With ``split``, each run also gets ``by_snr``: its SI-SNR improvement per
    input SNR (:func:`snr_breakdown`). Each run's ``valid_si_snr_last`` is its
    last epoch's validation SI-SNR, and the noisy input's is that of the
    unprocessed validation mixtures.

    Returns
    -------
    dict
        ``{"noisy": {metric: value}, "systems": [{"name", "label",
        "params", "gmacs", "runs": [{"seed", metric: value...}]}]}``; systems
        without a finished run are left out.
    """
    noisy, systems = None, {}
    for run in runs:
        if not run.finished(results_root):
            continue
        output = run.output(results_root)
        record = json.loads((output / "test_metrics.json").read_text())
        noisy = noisy or record.get("noisy")
        entry = systems.get(run.system.name)
        if entry is None:
            entry = systems[run.system.name] = {
                "name": run.system.name,
                "label": run.system.label,
                **_model_figures(output),
                "runs": [],
            }
        entry["runs"].append({"seed": run.seed, "output": str(output), **record.get("enhanced", {})})
        if split is not None:
            entry["runs"][-1]["by_snr"] = snr_breakdown(output, split)
        log = output / "train_log.txt"
        epochs = parse_train_log(log) if log.is_file() else {}
        if epochs:
            entry["runs"][-1]["valid_si_snr_last"] = epochs[max(epochs)].get("si_snr")
    noisy = dict(noisy or {})
    valid_noisy = noisy_validation_scores(Path(results_root) / "prepared")
    if "si_snr" in valid_noisy:
        noisy["valid_si_snr_last"] = valid_noisy["si_snr"]
    return {"noisy": noisy, "systems": list(systems.values())}


def _stats(values):
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return None
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else None


def _cell(values, digits):
    stats = _stats(values)
    if stats is None:
        return "-"
    mean, std = stats
    return f"{mean:.{digits}f}" if std is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


def paired_differences(
    results, name=STUDENT_ATKL, baseline=STUDENT_ALONE, metric_names=("pesq_wb", "si_snr", "valid_si_snr_last")
):
    """System ``name`` minus ``baseline``, per seed run by both: ``{metric: (mean, std or None, n)}``."""
    by_name = {system["name"]: system for system in results["systems"]}
    if baseline not in by_name or name not in by_name:
        return {}
    alone = {run["seed"]: run for run in by_name[baseline]["runs"]}
    atkl = {run["seed"]: run for run in by_name[name]["runs"]}
    seeds = sorted(set(alone) & set(atkl))
    differences = {}
    for metric in metric_names:
        deltas = [
            atkl[s][metric] - alone[s][metric] for s in seeds if metric in atkl[s] and metric in alone[s]
        ]
        if deltas:
            mean, std = _stats(deltas)
            differences[metric] = (mean, std, len(deltas))
    return differences


def format_table(results, budget_name, budget, split):
    """``results_table.md``: one row per system (mean ± std over seeds) and the noisy input."""
    header = ["system", "seeds", "params", "GMAC/s"] + [title for _, title, _ in METRIC_COLUMNS]
    lines = [
        f"# Distillation study ({budget_name} budget)",
        "",
        f"Every run: {budget.describe()}.",
        *sorted(
            {
                f"Rows with {s.steps_factor}x the steps: {s.steps_factor * budget.number_of_epochs} epochs "
                f"({s.steps_factor * budget.number_of_epochs * budget.steps_per_epoch()} steps)."
                for s in SYSTEMS
                if s.steps_factor > 1 and s.name in {system["name"] for system in results["systems"]}
            }
        ),
        f"Test set: {len(split['test_items'])} mixtures at SNR {', '.join(map(str, TEST_SNRS))} dB drawn from "
        f"{len(split['test_speakers'])} held-out speakers and {len(split['test_noise'])} held-out noise "
        "recordings (none seen in training or validation). Cells: mean ± std over seeds (sample std), "
        "a plain number for one seed.",
        "",
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(header) - 1),
    ]
    noisy = results["noisy"]
    lines.append(
        "| noisy input | - | - | - | "
        + " | ".join(_cell([noisy.get(key)], digits) for key, _, digits in METRIC_COLUMNS)
        + " |"
    )
    for system in results["systems"]:
        cells = [
            system["label"],
            str(len(system["runs"])),
            f"{system['params'] / 1e6:.2f} M",
            f"{system['gmacs']:.2f}",
            *(_cell([run.get(key) for run in system["runs"]], digits) for key, _, digits in METRIC_COLUMNS),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    snrs = sorted({snr for system in results["systems"] for run in system["runs"] for snr in run.get("by_snr", {})})
    if snrs:
        lines += [
            "",
            "SI-SNR improvement (dB) by input SNR (mean over seeds):",
            "",
            "| system | " + " | ".join(f"{snr} dB" for snr in snrs) + " |",
            "|---|" + "---:|" * len(snrs),
        ]
        for system in results["systems"]:
            cells = []
            for snr in snrs:
                stats = _stats([run.get("by_snr", {}).get(snr) for run in system["runs"]])
                cells.append("-" if stats is None else f"{stats[0]:+.2f}")
            lines.append(f"| {system['label']} | " + " | ".join(cells) + " |")
    labels = {system.name: system.label for system in SYSTEMS}
    for system in SYSTEMS:
        differences = paired_differences(results, system.name, system.paired_with) if system.paired_with else {}
        if differences:
            lines += ["", f"{system.label} minus {labels[system.paired_with]}, paired by seed:"]
            for metric, (mean, std, count) in differences.items():
                spread = "" if std is None else f" ± {std:.3f}"
                lines.append(f"- {metric}: {mean:+.3f}{spread} ({count} seed{'s' * (count > 1)})")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- figures
def noisy_validation_scores(prepare_folder):
    """Mean SI-SNR and PESQ-WB of the unprocessed validation mixtures, or ``{}`` if there are none.

    The same scores the Brain logs for the enhanced validation set, so the
    curves can be read against doing nothing.
    """
    from speechbrain_atkl.evaluation.metrics import UnscorableError, pesq_wb
    from speechbrain_atkl.losses.si_snr import si_snr

    manifest = Path(prepare_folder) / "valid.json"
    if not manifest.is_file():
        return {}
    scores = {"si_snr": [], "pesq": []}
    for item in json.loads(manifest.read_text()).values():
        noisy, clean = load_audio(item["noisy_wav"], SAMPLE_RATE), load_audio(item["clean_wav"], SAMPLE_RATE)
        scores["si_snr"].append(float(si_snr(noisy[None], clean[None])))
        try:
            scores["pesq"].append(pesq_wb(noisy.numpy(), clean.numpy()))
        except UnscorableError:
            pass
    return {metric: float(np.mean(values)) for metric, values in scores.items() if values}


def plot_validation_curves(runs, results_root, steps_per_epoch, path, noisy=None):
    """Validation SI-SNR and PESQ against training step: the student alone vs distilled (every seed).

    ``noisy`` (:func:`noisy_validation_scores`) draws the unprocessed input's level.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(12, 5))
    curves = (
        (STUDENT_ALONE, "tab:blue", "-"),
        (STUDENT_ATKL, "tab:red", "-"),
        (STUDENT_FIXED, "tab:green", "-"),
        (STUDENT_ALONE_4X, "tab:blue", "--"),
        (STUDENT_FIXED_4X, "tab:green", "--"),
    )
    for name, colour, style in curves:
        logs = [
            parse_train_log(run.output(results_root) / "train_log.txt")
            for run in runs
            if run.system.name == name and (run.output(results_root) / "train_log.txt").is_file()
        ]
        logs = [log for log in logs if log]
        if not logs:
            continue
        label = next(system.label for system in SYSTEMS if system.name == name)
        for axis, metric in zip(axes, ("si_snr", "pesq")):
            epochs = sorted(set.intersection(*(set(log) for log in logs)))
            epochs = [e for e in epochs if all(metric in log[e] for log in logs)]
            if not epochs:
                continue
            steps = np.array(epochs) * steps_per_epoch
            values = np.array([[log[e][metric] for e in epochs] for log in logs])
            for row in values:
                axis.plot(steps, row, color=colour, linestyle=style, alpha=0.3, linewidth=0.8)
            seeds = f"{len(logs)} seed" + "s" * (len(logs) > 1)
            axis.plot(
                steps, values.mean(0), color=colour, linestyle=style, marker="o", markersize=3,
                label=f"{label} (mean of {seeds})",
            )
    for axis, metric in zip(axes, ("si_snr", "pesq")):
        if noisy and metric in noisy:
            axis.axhline(noisy[metric], color="grey", linestyle=":", label="noisy input")
    for axis, title in zip(axes, ("validation SI-SNR (dB)", "validation PESQ-WB")):
        axis.set_xlabel("training step")
        axis.set_title(title)
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _log_spectrogram(wav):
    window = torch.hann_window(512)
    spec = torch.stft(wav, 512, 128, window=window, return_complex=True).abs()
    return 20 * torch.log10(spec + 1e-8)


def enhance_file(output, noisy):
    """Enhances ``noisy`` ``(time,)`` with the trained model of a run folder."""
    from speechbrain_atkl.training import load_trained_model

    model, _ = load_trained_model(output)
    with torch.no_grad():
        return model(noisy[None])[0]


def plot_spectrograms(item, outputs, path):
    """Spectrograms of one test item: noisy, clean and each system's output.

    Arguments
    ---------
    item : dict
        A ``test_items`` entry of ``split.json``.
    outputs : list of (str, pathlib.Path)
        ``(label, run output folder)`` of the systems to show.
    path : pathlib.Path
        The PNG to write.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    noisy = load_audio(item["noisy"], SAMPLE_RATE)
    title = f"noisy: {item['speaker']} + {Path(item['noise_source']).stem} at {item['snr_db']} dB SNR"
    panels = [(title, noisy), ("clean", load_audio(item["clean"], SAMPLE_RATE))]
    panels += [(label, enhance_file(output, noisy)) for label, output in outputs]
    spectrograms = [(label, _log_spectrogram(wav)) for label, wav in panels]
    top = float(spectrograms[1][1].max())
    seconds = noisy.shape[-1] / SAMPLE_RATE
    figure, axes = plt.subplots(
        len(panels), 1, figsize=(8, 1.6 * len(panels)), sharex=True, constrained_layout=True
    )
    for axis, (label, spec) in zip(axes, spectrograms):
        image = axis.imshow(
            spec.numpy(),
            origin="lower",
            aspect="auto",
            cmap="magma",
            vmin=top - 80,
            vmax=top,
            extent=(0, seconds, 0, SAMPLE_RATE / 2000),
        )
        axis.set_title(label, fontsize=9)
        axis.set_ylabel("kHz")
    axes[-1].set_xlabel("time (s)")
    figure.colorbar(image, ax=list(axes), label="dB", shrink=0.6)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_figures(runs, results_root, budget, split, folders):
    """Writes ``valid_curves.png`` and ``spectrograms.png`` into each of ``folders``."""
    first = {}
    for run in runs:
        if run.finished(results_root) and run.system.name not in first:
            first[run.system.name] = run.output(results_root)
    shown = [
        (system.label, first[system.name])
        for system in SYSTEMS
        if system.name in (TEACHER, STUDENT_ALONE, STUDENT_ATKL, LONG_TEACHER, STUDENT_FIXED) and system.name in first
    ]
    item = next((i for i in split["test_items"] if i["snr_db"] == 0), split["test_items"][0])
    noisy = noisy_validation_scores(Path(results_root) / "prepared")
    written = []
    for folder in folders:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        plot_validation_curves(runs, results_root, budget.steps_per_epoch(), folder / "valid_curves.png", noisy)
        plot_spectrograms(item, shown, folder / "spectrograms.png")
        written += [folder / "valid_curves.png", folder / "spectrograms.png"]
    return written


def write_results(runs, results_root, work_dir, budget_name, budget, split, figure_folders):
    """Collects the runs into ``results_table.md``, ``results.json`` and the figures."""
    results = collect_results(runs, results_root, split)
    table = format_table(results, budget_name, budget, split)
    (work_dir / "results_table.md").write_text(table, encoding="utf-8")
    (work_dir / "results.json").write_text(
        json.dumps({"budget": budget_name, "budget_values": dataclasses.asdict(budget), **results}, indent=2)
    )
    figures = write_figures(runs, results_root, budget, split, figure_folders)
    return table, figures


# ---------------------------------------------------------------------- main
def build_parser():
    parser = argparse.ArgumentParser(
        description="Distillation study: teacher, DCCRN-E, Distil-DCCRN alone and with AT-KL, ablations.",
    )
    parser.add_argument(
        "data_dir", type=Path, help="corpus folder with clean/, noise/, rir/ (e.g. ../shared/data)"
    )
    parser.add_argument(
        "--work-dir", type=Path, default=Path("results/study"), help="study folder (default: %(default)s)"
    )
    parser.add_argument(
        "--budget",
        choices=sorted(BUDGETS),
        default="small",
        metavar="{small,full}",
        help="training budget of every run (default: %(default)s)",
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: %(default)s)")
    parser.add_argument(
        "--seeds", type=int, default=3, help="seeds of the key comparison (default: %(default)s)"
    )
    parser.add_argument(
        "--systems", help=f"comma-separated subset of {','.join(SYSTEM_NAMES)} (default: all)"
    )
    parser.add_argument(
        "--threads", type=int, help="torch threads per run (OMP_NUM_THREADS); 1 on a loaded CPU"
    )
    parser.add_argument(
        "--figures-dir",
        type=Path,
        help="second folder for the figures (default: recipes/DNS/figures; none for the micro budget)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan and commands, run nothing")
    return parser


def _study_record(work_dir, budget_name, data_dir):
    """Refuses to mix budgets or corpora in one work folder."""
    path = work_dir / STUDY_RECORD
    record = {"budget": budget_name, "data_dir": str(corpus_root(data_dir))}
    if path.is_file():
        previous = json.loads(path.read_text())
        if previous != record:
            raise StudyError(
                f"{work_dir} holds a study of {previous}; this one is {record}. Use another --work-dir."
            )
    else:
        work_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2))


def main(argv=None):
    args = build_parser().parse_args(argv)
    budget = BUDGETS[args.budget]
    if args.seeds < 1:
        raise StudyError(f"--seeds must be at least 1, got {args.seeds}.")
    seeds = [FIRST_SEED + i for i in range(args.seeds)]
    runs = plan_runs(select_systems(args.systems.split(",") if args.systems else None), seeds)
    work_dir = args.work_dir.resolve()
    data_folder, results_root = work_dir / "data", work_dir / "runs"
    figure_folders = [work_dir / "figures"]
    extra_figures = args.figures_dir or (COMMITTED_FIGURES if args.budget != "micro" else None)
    if extra_figures is not None:
        figure_folders.append(extra_figures.resolve())

    low, high = (seconds / 60 for seconds in estimate_seconds(runs, budget))
    print(
        f"Study: {len(runs)} runs, budget '{args.budget}': {budget.describe()}; seeds {seeds}; "
        f"about {low:.0f}-{high:.0f} min on an idle 2-core CPU",
        flush=True,
    )
    commands = [
        train_command(run, budget, data_folder, results_root, seeds[0], args.device) for run in runs
    ]
    if args.dry_run:
        print(f"# data: split {corpus_root(args.data_dir)} and build {data_folder}")
        for index, (run, command) in enumerate(zip(runs, commands), 1):
            state = " (finished: skipped)" if run.finished(results_root) else ""
            print(f"# [{index}/{len(runs)}] {run.key}{state}\n{shlex.join(command)}")
        return 0

    _study_record(work_dir, args.budget, args.data_dir)
    split = build_study_data(args.data_dir, data_folder, budget.test_count, budget.test_seconds)
    print(
        f"Data: {len(split['train_clean'])} training / {len(split['test_clean'])} test clean files "
        f"({len(split['train_speakers'])} / {len(split['test_speakers'])} speakers), "
        f"{len(split['train_noise'])} / {len(split['test_noise'])} noises, {len(split['rir'])} RIRs, "
        f"{len(split['test_items'])} test mixtures -> {data_folder}",
        flush=True,
    )
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if args.threads:
        env.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
        torch.set_num_threads(args.threads)
    timings_path = work_dir / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
    checked = False
    for index, (run, command) in enumerate(zip(runs, commands), 1):
        if run.finished(results_root):
            print(f"[{index}/{len(runs)}] {run.key}: finished earlier, skipped", flush=True)
        else:
            print(f"[{index}/{len(runs)}] {run.key}: training ({run.system.label})", flush=True)
            timings[run.key] = execute(run, command, results_root, work_dir / "logs", env)
            timings_path.write_text(json.dumps(timings, indent=2))
            metrics = json.loads((run.output(results_root) / "test_metrics.json").read_text())["enhanced"]
            print(
                f"    done in {_duration(timings[run.key]['wall_s'])} "
                f"(CPU {_duration(timings[run.key]['cpu_s'])}): test PESQ-WB {metrics.get('pesq_wb', math.nan):.3f}, "
                f"SI-SNR {metrics.get('si_snr', math.nan):.2f} dB",
                flush=True,
            )
        if not checked:
            check = check_prepared(results_root / "prepared", split)
            (work_dir / "data_check.json").write_text(json.dumps(check, indent=2))
            print(
                f"    prepared data checked: {check['valid_items']} validation mixtures from "
                f"{len(check['valid_speakers'])} training speakers and {len(check['valid_noises'])} training noises",
                flush=True,
            )
            checked = True

    table, figures = write_results(runs, results_root, work_dir, args.budget, budget, split, figure_folders)
    print("\n" + table)
    print(
        "Written: "
        + ", ".join(str(p) for p in [work_dir / "results_table.md", work_dir / "results.json", *figures])
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except StudyError as error:
        sys.exit(f"study.py: error: {error}")
