"""The Markdown tables of ``benchmarks/test_breakdown.py``: per-group and overall means of each system's scores.

The scores come from ``test_breakdown.input_scores`` and ``test_breakdown.score_system``
(``{fileid: score}`` per metric); this module only groups, averages and formats them.

Authors
 * speechbrain-atkl developers 2026
"""

import numpy as np

from recipes.DNS.study_results import group_scores

#: The groupings of the tables: (key of ``test_items``, its heading).
GROUPINGS = (("noise_source", "noise recording"), ("speaker", "speaker"), ("snr_db", "input SNR (dB)"))


def group_table(columns, items, key, heading, digits=2):
    """Markdown table: the mean of each column's per-item scores per group of ``key``, with the item count.

    Arguments
    ---------
    columns : dict
        ``{column name: {fileid: score}}``, every column scoring the same items.
    items : list of dict
        The split's ``test_items``.
    key : str
        The item field to group by (:func:`recipes.DNS.study_results.group_scores`).
    heading : str
        The first column's heading.
    digits : int
        Decimals shown.

    Returns
    -------
    str
        The table.

    Example
    -------
    >>> items = [{"fileid": 0, "speaker": "a"}, {"fileid": 1, "speaker": "b"}, {"fileid": 2, "speaker": "a"}]
    >>> print(group_table({"model": {0: 1.0, 1: 5.0, 2: 2.0}}, items, "speaker", "speaker"))
    | speaker | n | model |
    |---|---:|---:|
    | a | 2 | 1.50 |
    | b | 1 | 5.00 |
    | all | 3 | 2.67 |
    """
    grouped = {name: group_scores(scores, items, key) for name, scores in columns.items()}
    groups = next(iter(grouped.values()))
    lines = [f"| {heading} | n | {' | '.join(columns)} |", "|---|---:|" + "---:|" * len(columns)]
    for group, (_, count) in groups.items():
        cells = " | ".join(f"{grouped[name][group][0]:.{digits}f}" for name in columns)
        lines.append(f"| {group} | {count} | {cells} |")
    overall = " | ".join(f"{np.mean(list(scores.values())):.{digits}f}" for scores in columns.values())
    lines.append(f"| all | {len(next(iter(columns.values())))} | {overall} |")
    return "\n".join(lines)


def overall_table(inputs, systems):
    """Markdown table: each system's overall means (one row per system, the noisy input first).

    Example
    -------
    >>> print(overall_table({"si_snr": {0: 5.0}}, {"model": {"si_snr_i": {0: 2.0}, "transparency": {0: 30.0}}}))
    | system | n | SI-SNR (dB) | SI-SNR-i (dB) | PESQ-WB | transparency SI-SNR (dB) |
    |---|---:|---:|---:|---:|---:|
    | noisy input | 1 | 5.00 | 0.00 | - | - |
    | model | 1 | 7.00 | 2.00 | - | 30.00 |
    """

    def mean(scores, digits):
        return f"{np.mean(list(scores.values())):.{digits}f}" if scores else "-"

    n = len(inputs["si_snr"])
    noisy_si_snr = float(np.mean(list(inputs["si_snr"].values())))
    lines = [
        "| system | n | SI-SNR (dB) | SI-SNR-i (dB) | PESQ-WB | transparency SI-SNR (dB) |",
        "|---|---:|---:|---:|---:|---:|",
        f"| noisy input | {n} | {noisy_si_snr:.2f} | 0.00 | {mean(inputs.get('pesq_wb'), 3)} | - |",
    ]
    for name, scores in systems.items():
        si_snr_i = float(np.mean(list(scores["si_snr_i"].values())))
        lines.append(
            f"| {name} | {n} | {noisy_si_snr + si_snr_i:.2f} | {si_snr_i:.2f} "
            f"| {mean(scores.get('pesq_wb'), 3)} | {mean(scores['transparency'], 2)} |"
        )
    return "\n".join(lines)


def report(items, inputs, systems, split):
    """All the tables as one Markdown text, as ``benchmarks/test_breakdown.py``'s docstring lists them.

    Arguments
    ---------
    items : list of dict
        The split's ``test_items``.
    inputs : dict
        The noisy input's own scores (``test_breakdown.input_scores``).
    systems : dict
        ``{system name: its scores}`` (``test_breakdown.score_system``).
    split : str or pathlib.Path
        The split's path, named in the title.

    Example
    -------
    >>> items = [{"fileid": 0, "noise_source": "hum.wav", "speaker": "a", "snr_db": 5}]
    >>> systems = {"model": {"si_snr_i": {0: 2.0}, "transparency": {0: 30.0}}}
    >>> text = report(items, {"si_snr": {0: 5.0}}, systems, "split.json")
    >>> [line for line in text.splitlines() if line.startswith("#")]  # doctest: +NORMALIZE_WHITESPACE
    ['# Test set breakdown', '## SI-SNR-i (dB) by noise recording', '## SI-SNR-i (dB) by speaker',
     '## SI-SNR-i (dB) by input SNR (dB)', '## Transparency by speaker', '## Overall']
    """
    sections = [f"# Test set breakdown\n\n{len(items)} test items of {split}."]
    for key, heading in GROUPINGS:
        si_snr_i = {"input SI-SNR": inputs["si_snr"], **{name: s["si_snr_i"] for name, s in systems.items()}}
        sections.append(f"## SI-SNR-i (dB) by {heading}\n\n(input SI-SNR: the noisy input's own SI-SNR, dB)\n\n"
                        + group_table(si_snr_i, items, key, heading))
        if "pesq_wb" in inputs:
            pesq = {"input": inputs["pesq_wb"], **{name: s["pesq_wb"] for name, s in systems.items()}}
            sections.append(f"## PESQ-WB by {heading}\n\n" + group_table(pesq, items, key, heading, digits=3))
    sections.append(
        "## Transparency by speaker\n\nSI-SNR (dB) of each system's output when its input is the clean reference "
        "itself (higher: the model damages clean speech less)\n\n"
        + group_table({name: s["transparency"] for name, s in systems.items()}, items, "speaker", "speaker")
    )
    sections.append("## Overall\n\n" + overall_table(inputs, systems))
    return "\n\n".join(sections) + "\n"
