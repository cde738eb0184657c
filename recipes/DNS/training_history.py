"""A published model's training history: ``training_history.json``, one entry per stage that trained it.

The release starts the history of each model it publishes with one
``release`` entry (:mod:`recipes.DNS.release_publication`); each campaign
stage published in place of the shipped student appends its own
(:mod:`recipes.DNS.campaign`), and the campaign reads from it the
audio-hours the model has seen (:func:`audio_hours_seen`). Both make their
entries with :func:`history_entry` and write the file with :func:`json_text`
into the model folder as it is published (``publish(...,
extra_files={HISTORY: json_text(history)})``), so a folder is never in place
without its history.

An entry holds ``stage``, ``date``, ``steps``, ``batch`` (``"8 x 3 s"``),
``audio_hours`` (steps x batch size x segment seconds / 3600),
``method``, ``recipe`` (the run's recorded :data:`RECIPE_KEYS`),
``training_speech``, ``valid`` (mean validation SI-SNR and PESQ-WB), what
the caller adds (the campaign: ``valid_previous``), ``test`` (the test-set
means) and ``by_snr`` (the :data:`BY_SNR` metrics by input SNR).

Authors
 * speechbrain-atkl developers 2026
"""

import json
from datetime import date
from pathlib import Path

from recipes.DNS.study_results import snr_breakdown
from speechbrain_atkl.publishing.card import read_test_metrics
from speechbrain_atkl.training.run_records import read_run_record

#: The history's file in a published model folder.
HISTORY = "training_history.json"
#: Test metrics an entry gives by input SNR.
BY_SNR = ("si_snr_i", "pesq_wb")
#: Recorded hyper-parameters an entry's ``recipe`` names, when the run has them.
RECIPE_KEYS = (
    "lr", "lr_schedule", "spectral_weight", "teacher_weight", "feature_weight", "max_grad_norm", "precision",
    "noise_augment_prob", "average_checkpoints",
)


def json_text(value):
    """``value`` as histories and ledgers are written: indented JSON with a final newline.

    Example
    -------
    >>> json_text({"stage": 1})
    '{\\n  "stage": 1\\n}\\n'
    """
    return json.dumps(value, indent=2) + "\n"


def audio_hours(steps, batch_size, segment_seconds):
    """Audio-hours of ``steps`` optimiser steps of ``batch_size`` segments of ``segment_seconds``, to 3 decimals.

    Example
    -------
    >>> audio_hours(1600, 8, 3.0)
    10.667
    """
    return round(steps * batch_size * segment_seconds / 3600, 3)


def audio_hours_seen(history):
    """Audio-hours of all the stages of a model's training history.

    Example
    -------
    >>> audio_hours_seen([{"audio_hours": 10.5}, {"audio_hours": 4.0}])
    14.5
    """
    return round(sum(stage["audio_hours"] for stage in history), 3)


def history_entry(stage, output, split, steps, batch_size, segment_seconds, method, valid, **more):
    """The history entry of a stage trained by the run in ``output``, dated today.

    Arguments
    ---------
    stage : str
        The stage's name (``release``, ``student-alone-stage1``...).
    output : pathlib.Path
        The stage's finished ``train.py`` folder: its ``hyperparams.yaml``
        gives ``recipe``, its ``test_metrics.json`` ``test`` and its
        per-utterance scores ``by_snr`` (empty without them).
    split : dict
        The study split the run trained on (``study_data.build_study_data``).
    steps, batch_size : int
        Optimiser steps of the stage and segments per step.
    segment_seconds : float
        Seconds of each training segment.
    method : str
        How the stage trained (the model, and the teacher it was distilled from).
    valid : dict
        Mean validation scores of the published model, ``{"si_snr": dB, "pesq": PESQ-WB}``.
    **more
        Further fields, placed after ``valid``.

    Returns
    -------
    dict
        The entry, as :mod:`json` writes it (SNR keys are strings).

    Example
    -------
    >>> import tempfile
    >>> run = Path(tempfile.mkdtemp())
    >>> _ = (run / "hyperparams.yaml").write_text("lr: 0.001\\nseed: 1986\\nprecision: bf16\\n")
    >>> _ = (run / "test_metrics.json").write_text('{"enhanced": {"si_snr_i": {"mean": 2.5}}}')
    >>> split = {"train_clean": ["a.wav", "b.wav"], "train_speakers": ["a"], "test_items": []}
    >>> entry = history_entry("release", run, split, 1600, 8, 3.0, "Distil-DCCRN alone", {"si_snr": 10.2})
    >>> entry["batch"], entry["audio_hours"], entry["recipe"], entry["training_speech"], entry["test"]
    ('8 x 3 s', 10.667, 'lr: 0.001, precision: bf16', '2 files of 1 speakers', {'si_snr_i': 2.5})
    """
    output = Path(output)
    record = read_run_record(output)
    metrics = read_test_metrics(output / "test_metrics.json") or {}
    return {
        "stage": stage,
        "date": date.today().isoformat(),
        "steps": steps,
        "batch": f"{batch_size} x {segment_seconds:g} s",
        "audio_hours": audio_hours(steps, batch_size, segment_seconds),
        "method": method,
        "recipe": ", ".join(f"{key}: {record[key]}" for key in RECIPE_KEYS if key in record),
        "training_speech": f"{len(split['train_clean'])} files of {len(split['train_speakers'])} speakers",
        "valid": valid,
        **more,
        "test": metrics.get("enhanced", {}),
        "by_snr": {m: {str(k): v for k, v in snr_breakdown(output, split, m).items()} for m in BY_SNR},
    }
