"""The distillation study's report: the results table and the figures.

Part of ``recipes/DNS/study.py`` (see its docstring): :func:`write_results`
collects the finished runs into ``results_table.md``, ``results.json``,
``valid_curves.png`` and ``spectrograms.png``.


Authors
 * speechbrain-atkl developers 2026
"""

import csv
import dataclasses
import json
import math
import re
from pathlib import Path

import numpy as np
import torch

from speechbrain_atkl.data.audio import load_audio
from study_data import SAMPLE_RATE, TEST_SNRS
from study_plan import (
    LONG_TEACHER,
    STUDENT_ALONE,
    STUDENT_ALONE_4X,
    STUDENT_ATKL,
    STUDENT_FIXED,
    STUDENT_FIXED_4X,
    SYSTEMS,
    TEACHER,
)

# ---------------------------------------------------------------------- training logs
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


def snr_breakdown(output, split, metric="si_snr_i", system="enhanced"):
    """Mean ``metric`` of a run's enhanced (or ``system``) test items per input SNR.

    Arguments
    ---------
    output : pathlib.Path
        A finished run's folder (its ``test_results/per_utterance.csv``).
    split : dict
        The study split (its ``test_items`` give each file id's SNR).
    metric : str
        A column of ``per_utterance.csv``.
    system : str
        ``enhanced`` or ``noisy`` (the unprocessed input's scores).

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
            if row["system"] == system and match and row.get(metric) not in (None, ""):
                values.setdefault(snr_of[int(match.group(1))], []).append(float(row[metric]))
    return {snr: float(np.mean(scores)) for snr, scores in sorted(values.items())}


def collect_results(runs, results_root, split=None, valid_noisy=None):
    """Test metrics, size and compute of every finished run.

    With ``split``, each run also gets ``by_snr``: its SI-SNR improvement per
    input SNR (:func:`snr_breakdown`). Each run's ``valid_si_snr_last`` is its
    last epoch's validation SI-SNR and ``valid_si_snr_mean`` its mean over
    every epoch (the whole curve); the noisy input's is taken from
    ``valid_noisy`` (:func:`noisy_validation_scores`) when given.

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
            entry["runs"][-1]["valid_si_snr_mean"] = _stats([values.get("si_snr") for values in epochs.values()])[0]
    noisy = dict(noisy or {})
    if valid_noisy and "si_snr" in valid_noisy:
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
    results,
    name=STUDENT_ATKL,
    baseline=STUDENT_ALONE,
    metric_names=("pesq_wb", "si_snr", "valid_si_snr_last", "valid_si_snr_mean"),
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


