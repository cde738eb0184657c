"""The distillation study's results: training logs, the finished runs' scores and the table.

Part of ``recipes/DNS/study.py`` (see its docstring): :func:`parse_train_log`
reads a run's validation curve, :func:`collect_results` gathers the finished
runs' test metrics, size and compute, and :func:`format_table` writes them as
``results_table.md`` (:func:`study_report.write_results` writes it with the
figures).


Authors
 * speechbrain-atkl developers 2026
"""

import csv
import json
import math
import re
from pathlib import Path

import numpy as np

from recipes.DNS.study_data import TEST_SNRS
from recipes.DNS.study_plan import STUDENT_ALONE, STUDENT_ATKL, SYSTEMS

# ---------------------------------------------------------------------- training logs
EPOCH_LINE = re.compile(r"^epoch: (\d+),")
NUMBER = r"(-?[\d.]+(?:e[+-]?\d+)?|nan|inf)"


def parse_train_log(path, stage="valid"):
    """Validation (or ``stage``'s) figures per epoch from a ``train_log.txt``.

    Lines look like ``epoch: N, lr: ... - train loss: ... - valid loss: ...,
    valid si_snr: X, valid pesq: Y``; a repeated epoch (a resumed run) keeps
    its last line.

    Arguments
    ---------
    path : str or pathlib.Path
        The log.
    stage : str
        ``"valid"`` (metrics, loss, wall time) or ``"train"`` (loss, wall and step time).

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
    >>> parse_train_log(log, "train")
    {1: {'loss': -2.1}}
    """
    epochs = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        match = EPOCH_LINE.match(line)
        if not match:
            continue
        values = {name: float(value) for name, value in re.findall(rf"{stage} (\w+): " + NUMBER, line)}
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
    from benchmarks.model_cost import count_macs, count_parameters
    from speechbrain_atkl.loading import load_trained_model

    model, _ = load_trained_model(output)
    return {"params": count_parameters(model), "gmacs": count_macs(model, seconds=1.0) / 1e9}


def group_scores(scores, items, key):
    """Mean and count of per-item scores grouped by one key of the split's ``test_items``.

    Arguments
    ---------
    scores : iterable of (int, float) or dict
        ``(fileid, score)`` pairs (a ``{fileid: score}`` dict is read as its
        items); a file id may come more than once, each score counts.
    items : list of dict
        The split's ``test_items`` (each with ``fileid`` and ``key``).
    key : str
        The item field to group by: ``snr_db``, ``speaker``, ``noise_source``...

    Returns
    -------
    dict
        ``{group: (mean, count)}`` sorted by group; groups without scores are left out.

    Raises
    ------
    KeyError
        If a score's file id is not among the items, or an item lacks ``key``.

    Example
    -------
    >>> items = [{"fileid": 0, "snr_db": 5}, {"fileid": 1, "snr_db": -5}, {"fileid": 2, "snr_db": 5}]
    >>> group_scores({0: 1.0, 1: 4.0, 2: 2.0}, items, "snr_db")
    {-5: (4.0, 1), 5: (1.5, 2)}
    """
    group_of = {item["fileid"]: item[key] for item in items}
    values = {}
    for fileid, score in scores.items() if isinstance(scores, dict) else scores:
        if fileid not in group_of:
            raise KeyError(f"file id {fileid!r} is not a test item (the split has {len(group_of)})")
        values.setdefault(group_of[fileid], []).append(float(score))
    return {group: (float(np.mean(v)), len(v)) for group, v in sorted(values.items())}


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
        ``{snr_db: mean}``, empty when the run has no per-utterance scores
        (:func:`group_scores` groups them).
    """
    path = Path(output) / "test_results" / "per_utterance.csv"
    if not path.is_file():
        return {}
    scores = []
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            match = re.search(r"fileid_(\d+)$", row["id"])
            if row["system"] == system and match and row.get(metric) not in (None, ""):
                scores.append((int(match.group(1)), row[metric]))
    return {snr: mean for snr, (mean, _) in group_scores(scores, split["test_items"], "snr_db").items()}


def collect_results(runs, results_root, split=None, valid_noisy=None):
    """Test metrics, size and compute of every finished run.

    With ``split``, each run also gets ``by_snr``: its SI-SNR improvement per
    input SNR (:func:`snr_breakdown`). Each run's ``valid_si_snr_last`` is its
    last epoch's validation SI-SNR and ``valid_si_snr_mean`` its mean over
    every epoch (the whole curve); the noisy input's is taken from
    ``valid_noisy`` (:func:`study_report.noisy_validation_scores`) when given.

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
