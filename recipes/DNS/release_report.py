"""The release's reports: the results table and the model cards' release section.

``release.py`` trains and evaluates, ``release_publication.py`` publishes;
this module turns the collected results (:func:`release_publication.collect`)
into ``release_results.md`` (:func:`results_markdown`) and into the section
appended to each published model card (:func:`card_section`), with the
training audio's licences counted from the corpus's ``SOURCES.md``
(:func:`licence_summary`).

Authors
 * speechbrain-atkl developers 2026
"""

import re
from pathlib import Path

CAVEAT = "not a DNS-scale model; for demonstration and fine-tuning"
ALL_METRICS = (
    "pesq_wb", "stoi", "estoi", "si_snr", "si_snr_i", "dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808"
)
BY_SNR_METRICS = ("si_snr_i", "pesq_wb", "stoi")


def _number(value, digits):
    value = value.get("mean") if isinstance(value, dict) else value
    return "-" if value is None else f"{value:.{digits}f}"


def precision_label(precision):
    """How the models were trained: ``--precision`` or the recipes' defaults.

    Example
    -------
    >>> precision_label(None), precision_label("bf16")
    ("fp32 teacher, bf16 students: the recipes' defaults", 'bf16')
    """
    return precision or "fp32 teacher, bf16 students: the recipes' defaults"


def results_markdown(results, split, device, precision):
    """``release_results.md``: overall table, by-SNR tables, what each model saw."""
    rows = [results["noisy"], *results["systems"]]
    metrics = [m for m in ALL_METRICS if any(m in row["metrics"] for row in rows)]
    lines = [
        "# Release results",
        "",
        f"Test set: {results['test_items']} mixtures of {len(split['test_speakers'])} held-out speakers and "
        f"{len(split['test_noise'])} held-out noise recordings (none seen in training or validation), "
        "scored by the recipe's evaluation of each run's best checkpoint. "
        f"Trained on {device} ({precision_label(precision)}).",
        "",
        "| system | steps | audio-hours | " + " | ".join(metrics) + " |",
        "|---|---:|---:|" + "---:|" * len(metrics),
    ]
    for row in rows:
        cells = [row["label"], str(row.get("steps", "-")), _number(row.get("audio_hours"), 2)]
        cells += [_number(row["metrics"].get(m), 2 if "si_snr" in m else 3) for m in metrics]
        lines.append("| " + " | ".join(cells) + " |")
    for metric in BY_SNR_METRICS:
        snrs = sorted({snr for row in rows for snr in row["by_snr"].get(metric, {})})
        if not snrs:
            continue
        lines += ["", f"{metric} by input SNR:", "", "| system | " + " | ".join(f"{s} dB" for s in snrs) + " |"]
        lines.append("|---|" + "---:|" * len(snrs))
        for row in rows:
            values = row["by_snr"].get(metric, {})
            lines.append(f"| {row['label']} | " + " | ".join(_number(values.get(s), 2) for s in snrs) + " |")
    lines += ["", "Wall time of each run (training, validation and test scoring):", ""]
    for row in results["systems"]:
        speed = f", {row['audio_s_per_s']} audio-s trained per s" if row["audio_s_per_s"] else ""
        wall = "finished earlier" if row["wall_s"] is None else f"{row['wall_s'] / 60:.1f} min"
        shared = row.get("concurrent_runs") or 1
        conditions = f" ({row['threads']} thread(s), beside {shared - 1} other run)" if shared > 1 else ""
        if (row.get("sessions") or 1) > 1:
            conditions += f" (in {row['sessions']} sessions; the last with {row['threads']} thread(s))"
        lines.append(f"- {row['label']}: {wall}{speed}{conditions}")
    return "\n".join(lines) + "\n"


def licence_summary(sources_md):
    """Licences of the corpus files, counted per folder from ``SOURCES.md``'s per-file tables.

    Example
    -------
    >>> import tempfile
    >>> md = Path(tempfile.mkdtemp()) / "SOURCES.md"
    >>> _ = md.write_text("## Files: clean/\\n\\n| file | origin | licence |\\n|---|---|---|\\n"
    ...                   "| a.wav | x | CC BY 4.0 |\\n| b.wav | y | CC BY 4.0 |\\n\\nObligations: attribute.\\n")
    >>> licence_summary(md)
    ['- clean/: CC BY 4.0 (2 files)', '', 'Obligations: attribute.']
    """
    text = Path(sources_md).read_text(encoding="utf-8")
    lines = []
    for folder, body in _sections(text):
        header, *rows = [line for line in body.splitlines() if line.startswith("|") and not line.startswith("|---")]
        column = [cell.strip() for cell in header.strip("|").split("|")].index("licence")
        counts = {}
        for row in rows:
            licence = row.strip("|").split("|")[column].strip()
            counts[licence] = counts.get(licence, 0) + 1
        by_count = sorted(counts.items(), key=lambda kv: -kv[1])
        parts = [f"{name} ({count} file{'s' * (count > 1)})" for name, count in by_count]
        lines.append(f"- {folder}: " + "; ".join(parts))
    lines += ["", *(line for line in text.splitlines() if line.startswith("Obligations:"))]
    return lines


def _sections(text):
    """``(folder, body)`` of each ``## Files: folder`` section of ``SOURCES.md``."""
    parts = re.split(r"^## Files: (\S+)\s*$", text, flags=re.MULTILINE)
    return [(parts[i], parts[i + 1].split("\n## ")[0]) for i in range(1, len(parts) - 1, 2)]


def card_section(system, results, split, data_dir, args):
    """The release section appended to a published model card."""
    noisy = results["noisy"]
    lines = [
        "",
        "## This release",
        "",
        f"**Note: {CAVEAT}.** {system['label']}, trained by `recipes/DNS/release.py` of speechbrain-atkl.",
        "",
        f"- Training: {system['steps']} steps of batch {args.batch_size} x {args.segment_seconds:g} s dynamically "
        f"mixed segments ({system['audio_hours']:.2f} audio-hours), "
        f"on {args.device} ({precision_label(args.precision)}).",
        "- Data: a small openly licensed corpus of real 16 kHz recordings (read speech, mostly LibriSpeech; "
        "nature, city, transport, machine, music and babble noise; measured room responses), split by speaker and "
        f"by noise recording: {len(split['train_speakers'])} training / {len(split['test_speakers'])} test speakers, "
        f"{len(split['train_noise'])} / {len(split['test_noise'])} noises; SNR -5 to 20 dB in training.",
        f"- Test: {results['test_items']} held-out mixtures at -5 to 15 dB "
        "(speakers and noises never seen in training).",
        "",
        "| input SNR | " + " | ".join(f"{s} dB" for s in sorted(system["by_snr"].get("si_snr_i", {}))) + " |",
        "|---|" + "---:|" * len(system["by_snr"].get("si_snr_i", {})),
    ]
    for metric, label in (("si_snr_i", "SI-SNR-i (dB)"), ("pesq_wb", "PESQ-WB, noisy -> enhanced")):
        values = system["by_snr"].get(metric, {})
        if metric == "si_snr_i":
            cells = [_number(values[s], 2) for s in sorted(values)]
        else:
            before = noisy["by_snr"].get(metric, {})
            cells = [f"{_number(before.get(s), 2)} -> {_number(values[s], 2)}" for s in sorted(values)]
        if values:
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    sources = Path(data_dir) / "SOURCES.md"
    if sources.is_file():
        lines += ["", "### Licences of the training audio", "", *licence_summary(sources)]
        lines += ["", "Every file's origin and licence: the corpus's `SOURCES.md`."]
    lines += ["", "`example.wav` is synthetic (a harmonic signal in white noise): no audio of the corpus is "
              "shipped. `recipes/DNS/release.py` rebuilds the held-out test mixtures from the corpus."]
    return "\n".join(lines) + "\n"
