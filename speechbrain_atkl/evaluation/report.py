"""Summary tables and report files for scoring results.

Works on :class:`~speechbrain_atkl.evaluation.scoring.ScoringResults`.

:func:`write_report` writes, into one folder:

* ``per_utterance.csv``: ``id, system, <metrics...>, failed``, one row per
  scored utterance and system (``failed``: why the output got the worst
  score, empty when it did not fail);
* ``summary.csv``: ``system, metric, mean, std, count, failed`` (failed
  outputs are in the mean and the count, with their worst score);
* ``summary.md``: the summary as a markdown table, then the failed outputs,
  then the skipped and lost utterances;
* ``skipped.csv``: ``id, reason`` for every utterance left out of the means
  (reference data problems, unpaired files, items lost to a dead worker).

Each file is first written under a hidden ``.partial`` name and then renamed
(:func:`~speechbrain_atkl.data.atomic.write_text_atomically`), so an
interrupted run never leaves a file that looks complete, and a failed write
(a full disk) raises an ``OSError`` naming the file and leaves no temporary.
File names that are not valid UTF-8 (allowed on Linux) are written back byte
for byte.

Authors
 * speechbrain-atkl developers 2026
"""

import csv
import io
import math
from pathlib import Path

import numpy as np

from speechbrain_atkl.data.atomic import write_text_atomically


def summarise(results):
    """Mean, standard deviation and count of every metric, per system.

    The standard deviation is the sample one (``ddof=1``); it is NaN for fewer
    than two utterances.

    Arguments
    ---------
    results : ScoringResults
        Output of :func:`~speechbrain_atkl.evaluation.scoring.score_utterances`.

    Returns
    -------
    dict
        ``{system: {metric: {"mean": float, "std": float, "count": int,
        "failed": int}}}``; ``failed`` of the ``count`` utterances had the
        worst score because the output failed.

    Example
    -------
    >>> from speechbrain_atkl.evaluation.scoring import ScoringResults
    >>> results = ScoringResults(["si_snr"], ["enhanced"], rows=[
    ...     {"id": "a", "system": "enhanced", "si_snr": 10.0},
    ...     {"id": "b", "system": "enhanced", "si_snr": 12.0}])
    >>> summarise(results)["enhanced"]["si_snr"]
    {'mean': 11.0, 'std': 1.414..., 'count': 2, 'failed': 0}
    """
    summary = {}
    for system in results.systems:
        summary[system] = {}
        for metric in results.metrics:
            rows = [
                row for row in results.rows if row["system"] == system and metric in row
            ]
            values = np.array([row[metric] for row in rows], dtype=np.float64)
            count = int(values.size)
            summary[system][metric] = {
                "mean": float(values.mean()) if count else math.nan,
                "std": float(values.std(ddof=1)) if count > 1 else math.nan,
                "count": count,
                "failed": sum(metric in row.get("failed", {}) for row in rows),
            }
    return summary


def format_summary(summary, digits=3):
    """The summary as a markdown table: one row per metric, one column per system.

    Arguments
    ---------
    summary : dict
        Output of :func:`summarise`.
    digits : int
        Decimals shown.

    Returns
    -------
    str
        Markdown table with ``mean ± std`` cells (followed by ``(N failed)``
        when N outputs got the worst score) and a row of utterance counts.

    Example
    -------
    >>> summary = {"enhanced": {"pesq_wb": {"mean": 2.5, "std": 0.25, "count": 4, "failed": 1}}}
    >>> print(format_summary(summary))
    | metric | enhanced |
    |---|---|
    | pesq_wb | 2.500 ± 0.250 (1 failed) |
    | utterances | 4 |
    """
    systems = list(summary)
    metrics = list(summary[systems[0]]) if systems else []

    def cell(stats):
        if stats["count"] == 0:
            return "-"
        text = f"{stats['mean']:.{digits}f}"
        if not math.isnan(stats["std"]):
            text += f" ± {stats['std']:.{digits}f}"
        if stats.get("failed"):
            text += f" ({stats['failed']} failed)"
        return text

    lines = [
        "| metric | " + " | ".join(systems) + " |",
        "|---" * (len(systems) + 1) + "|",
    ]
    for metric in metrics:
        cells = [cell(summary[system][metric]) for system in systems]
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    counts = [
        str(max((s["count"] for s in summary[system].values()), default=0))
        for system in systems
    ]
    lines.append("| utterances | " + " | ".join(counts) + " |")
    return "\n".join(lines)


def _write(path, text):
    write_text_atomically(path, text, errors="surrogateescape")


def _failure_text(row):
    """The distinct reasons of a row's failed metrics, joined by ``; ``."""
    return "; ".join(dict.fromkeys(row.get("failed", {}).values()))


def _csv_text(header, rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_report(results, out_dir):
    """Writes the per-utterance, summary and skipped files; returns the summary.

    Arguments
    ---------
    results : ScoringResults
        Output of :func:`~speechbrain_atkl.evaluation.scoring.score_utterances`.
    out_dir : str or pathlib.Path
        Output folder, created if needed.

    Returns
    -------
    dict
        The summary from :func:`summarise`.

    Raises
    ------
    speechbrain_atkl.data.atomic.FileWriteError
        (an ``OSError``) naming the file that could not be written.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_atkl.evaluation.scoring import ScoringResults
    >>> results = ScoringResults(["si_snr"], ["enhanced"],
    ...     rows=[{"id": "a", "system": "enhanced", "si_snr": 10.0}],
    ...     skipped=[("b", "clean is silent")])
    >>> out_dir = Path(tempfile.mkdtemp())
    >>> write_report(results, out_dir)["enhanced"]["si_snr"]["mean"]
    10.0
    >>> sorted(p.name for p in out_dir.iterdir())
    ['per_utterance.csv', 'skipped.csv', 'summary.csv', 'summary.md']
    """
    out_dir = Path(out_dir)
    summary = summarise(results)

    per_utterance = [
        [
            row["id"],
            row["system"],
            *(row.get(m, "") for m in results.metrics),
            _failure_text(row),
        ]
        for row in results.rows
    ]
    _write(
        out_dir / "per_utterance.csv",
        _csv_text(["id", "system", *results.metrics, "failed"], per_utterance),
    )
    summary_rows = [
        [system, metric, stats["mean"], stats["std"], stats["count"], stats["failed"]]
        for system, by_metric in summary.items()
        for metric, stats in by_metric.items()
    ]
    _write(
        out_dir / "summary.csv",
        _csv_text(["system", "metric", "mean", "std", "count", "failed"], summary_rows),
    )
    left_out = list(results.skipped) + list(results.lost)
    _write(out_dir / "skipped.csv", _csv_text(["id", "reason"], left_out))
    failed_lines = [
        f"- `{row['id']}` ({row['system']}): {_failure_text(row)}"
        for row in results.rows
        if row.get("failed")
    ]
    markdown = [
        "# Scores",
        "",
        format_summary(summary),
        "",
        f"## Failed outputs, scored with the worst value ({len(failed_lines)})",
        "",
        *(failed_lines or ["None."]),
        "",
        f"## Skipped or lost utterances ({len(left_out)})",
        "",
        *([f"- `{utt_id}`: {reason}" for utt_id, reason in left_out] or ["None."]),
        "",
    ]
    _write(out_dir / "summary.md", "\n".join(markdown))
    return summary
