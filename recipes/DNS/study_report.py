"""The distillation study's report: the figures, written with the results table.

Part of ``recipes/DNS/study.py`` (see its docstring): :func:`write_results`
collects the finished runs (:mod:`study_results`) into ``results_table.md``,
``results.json``, ``valid_curves.png`` and ``spectrograms.png``.


Authors
 * speechbrain-atkl developers 2026
"""

import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

from recipes.DNS.study_data import SAMPLE_RATE
from recipes.DNS.study_plan import (
    LONG_TEACHER,
    STUDENT_ALONE,
    STUDENT_ALONE_4X,
    STUDENT_ATKL,
    STUDENT_FIXED,
    STUDENT_FIXED_4X,
    SYSTEMS,
    TEACHER,
)
from recipes.DNS.study_results import collect_results, format_table, parse_train_log
from speechbrain_atkl.data.audio import load_audio


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
    """Validation SI-SNR and PESQ against training step: the student alone vs distilled (finished runs).

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
            if run.system.name == name and run.finished(results_root)
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


def enhance_file(output, noisy, checkpoint_key="valid_pesq"):
    """Enhances ``noisy`` ``(time,)`` with the trained model of a run folder (its best ``checkpoint_key``)."""
    from speechbrain_atkl.loading import load_trained_model

    model, _ = load_trained_model(output, key=checkpoint_key)
    with torch.no_grad():
        return model(noisy[None])[0]


def plot_spectrograms(item, outputs, path, checkpoint_key="valid_pesq"):
    """Spectrograms of one test item: noisy, clean and each system's output.

    Arguments
    ---------
    item : dict
        A ``test_items`` entry of ``split.json``.
    outputs : list of (str, pathlib.Path)
        ``(label, run output folder)`` of the systems to show.
    path : pathlib.Path
        The PNG to write.
    checkpoint_key : str
        The checkpoint meta key that chose each run's best checkpoint (the
        one published: the release's ``--ckpt-key``; the recipes' ``ckpt_key``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    noisy = load_audio(item["noisy"], SAMPLE_RATE)
    title = f"noisy: {item['speaker']} + {Path(item['noise_source']).stem} at {item['snr_db']} dB SNR"
    panels = [(title, noisy), ("clean", load_audio(item["clean"], SAMPLE_RATE))]
    panels += [(label, enhance_file(output, noisy, checkpoint_key)) for label, output in outputs]
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


def write_figures(runs, results_root, budget, split, folders, valid_noisy=None):
    """Writes ``valid_curves.png`` and ``spectrograms.png`` into each of ``folders``.

    ``valid_noisy`` (:func:`noisy_validation_scores`) marks the unprocessed input on the curves.
    """
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
    written = []
    for folder in folders:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        plot_validation_curves(runs, results_root, budget.steps_per_epoch(), folder / "valid_curves.png", valid_noisy)
        plot_spectrograms(item, shown, folder / "spectrograms.png")
        written += [folder / "valid_curves.png", folder / "spectrograms.png"]
    return written


def write_results(runs, results_root, work_dir, budget_name, budget, split, figure_folders):
    """Collects the runs into ``results_table.md``, ``results.json`` and the figures.

    The unprocessed validation mixtures (``<results_root>/prepared``) are
    scored once, for the table and for the validation curves.
    """
    valid_noisy = noisy_validation_scores(Path(results_root) / "prepared")
    results = collect_results(runs, results_root, split, valid_noisy)
    table = format_table(results, budget_name, budget, split)
    (work_dir / "results_table.md").write_text(table, encoding="utf-8")
    (work_dir / "results.json").write_text(
        json.dumps({"budget": budget_name, "budget_values": dataclasses.asdict(budget), **results}, indent=2)
    )
    figures = write_figures(runs, results_root, budget, split, figure_folders, valid_noisy)
    return table, figures


