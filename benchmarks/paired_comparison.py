#!/usr/bin/env python3
"""Is model B better than model A? Their paired differences per mixture, on validation and on the test set.

Two models trained from the same start with one option changed differ by
tenths of a dB; whether that is more than the draw of mixtures shows in the
difference *per mixture*: its mean, its standard error and the number of
mixtures where B wins. This script scores two published model folders on the
campaign's fixed validation mixtures (the measure its stages are published
on: :func:`recipes.DNS.campaign.mixture_scores`) and on the study's fixed
held-out test set (:mod:`benchmarks.test_breakdown`'s items and scoring), and
prints one Markdown row per measure.

::

    python -m speechbrain_atkl.publishing RUN_FOLDER --output /tmp/candidate --checkpoint-key valid_si_snr
    nice -n 10 python benchmarks/paired_comparison.py pretrained/distil-dccrn-shared16k /tmp/candidate
    python benchmarks/paired_comparison.py A B --no-test --no-pesq     # validation SI-SNR only: quicker

The validation mixtures default to the campaign's (``<work dir>/runs/prepared_by_source/valid.json``),
the test set to :func:`benchmarks.test_breakdown.default_split`'s split.

Authors
 * speechbrain-atkl developers 2026
"""

import argparse
import math
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: the repository root, home of the recipes package

from benchmarks.test_breakdown import (  # noqa: E402
    BreakdownError,
    default_split,
    load_published,
    load_signals,
    read_test_items,
    score_system,
    system_names,
)
from recipes.DNS.campaign import PREPARED, default_work_dir, mixture_scores  # noqa: E402
from recipes.DNS.study_data import StudyError  # noqa: E402


def default_valid_manifest(work_dir=None):
    """The campaign's fixed validation mixtures: ``<work dir>/runs/prepared_by_source/valid.json``.

    Example
    -------
    >>> default_valid_manifest("/work/campaign").as_posix()
    '/work/campaign/runs/prepared_by_source/valid.json'
    """
    work = default_work_dir() if work_dir is None else Path(work_dir)
    return work / "runs" / PREPARED / "valid.json"


def paired_difference(a, b):
    """The paired difference ``b - a`` over the items both score.

    Arguments
    ---------
    a, b : dict
        ``{item: score}`` of the two systems.

    Returns
    -------
    dict
        ``items`` (how many both score), ``a`` and ``b`` (their means on those
        items), ``difference`` (the mean of ``b - a``), ``standard_error`` (of
        that mean; NaN with one item) and ``b_better`` (items where ``b > a``).

    Raises
    ------
    ValueError
        If no item is scored by both.

    Example
    -------
    >>> result = paired_difference({"x": 1.0, "y": 2.0, "z": 3.0}, {"x": 1.5, "y": 2.5, "z": 2.0, "w": 9.0})
    >>> result["items"], result["difference"], result["b_better"]
    (3, 0.0, 2)
    >>> round(result["standard_error"], 3)
    0.5
    """
    items = sorted(set(a) & set(b), key=str)
    if not items:
        raise ValueError("the two systems score no item in common; expected scores of the same mixtures")
    differences = [b[item] - a[item] for item in items]
    count = len(items)
    mean = sum(differences) / count
    spread = math.sqrt(sum((d - mean) ** 2 for d in differences) / (count - 1)) if count > 1 else math.nan
    return {
        "items": count,
        "a": sum(a[item] for item in items) / count,
        "b": sum(b[item] for item in items) / count,
        "difference": mean,
        "standard_error": spread / math.sqrt(count),
        "b_better": sum(d > 0 for d in differences),
    }


def table(rows, names):
    """Markdown table of ``{measure: paired_difference(...)}``, the systems named in its header.

    Example
    -------
    >>> print(table({"m": paired_difference({1: 1.0, 2: 2.0}, {1: 2.0, 2: 2.5})}, ["old", "new"]))
    | measure | items | A: old | B: new | B - A | SE | B better on |
    |---|---:|---:|---:|---:|---:|---:|
    | m | 2 | 1.500 | 2.250 | +0.750 | 0.250 | 2 of 2 |
    """
    lines = [
        f"| measure | items | A: {names[0]} | B: {names[1]} | B - A | SE | B better on |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for measure, row in rows.items():
        lines.append(
            f"| {measure} | {row['items']} | {row['a']:.3f} | {row['b']:.3f} | {row['difference']:+.3f} | "
            f"{row['standard_error']:.3f} | {row['b_better']} of {row['items']} |"
        )
    return "\n".join(lines)


def validation_rows(enhancers, valid_manifest, pesq, progress):
    """``{measure: paired_difference}`` of the two enhancers on the validation mixtures."""
    a, b = (mixture_scores(lambda wav, enhance=enhance: enhance(wav[0])[None], valid_manifest, progress)
            for enhance in enhancers)
    rows = {"validation SI-SNR (dB)": paired_difference(*({k: s["si_snr"] for k, s in x.items()} for x in (a, b)))}
    if pesq:
        rows["validation PESQ-WB"] = paired_difference(*({k: s["pesq"] for k, s in x.items()} for x in (a, b)))
    return rows


def held_out_test_rows(enhancers, split, pesq, progress):
    """``{measure: paired_difference}`` of the two enhancers on the fixed test set."""
    signals = load_signals(read_test_items(split))
    a, b = (score_system(enhance, signals, pesq, name, progress) for name, enhance in zip("AB", enhancers))
    rows = {"test SI-SNR-i (dB)": paired_difference(a["si_snr_i"], b["si_snr_i"])}
    if pesq:
        rows["test PESQ-WB"] = paired_difference(a["pesq_wb"], b["pesq_wb"])
    rows["test transparency (dB)"] = paired_difference(a["transparency"], b["transparency"])
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_a", type=Path, help="published model folder A (the reference)")
    parser.add_argument("model_b", type=Path, help="published model folder B (the candidate)")
    parser.add_argument("--valid", type=Path, default=default_valid_manifest(),
                        help="validation manifest (train.py's valid.json; default: %(default)s)")
    parser.add_argument("--split", type=Path, default=default_split(), help="the study split (default: %(default)s)")
    parser.add_argument("--no-valid", dest="valid_set", action="store_false", help="skip the validation mixtures")
    parser.add_argument("--no-test", dest="test_set", action="store_false", help="skip the test set")
    parser.add_argument("--no-pesq", dest="pesq", action="store_false", help="skip wide-band PESQ")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    parser.add_argument("--noprogressbar", dest="progress", action="store_false", help="no progress bars")
    args = parser.parse_args(argv)
    if not (args.valid_set or args.test_set):
        parser.error("--no-valid and --no-test leave nothing to compare")

    import torch

    torch.set_num_threads(args.threads)
    rows = {}
    try:
        with tempfile.TemporaryDirectory(prefix="paired_comparison-") as links:
            enhancers = [load_published(folder, Path(links) / name, "cpu")
                         for name, folder in zip("AB", (args.model_a, args.model_b))]
            if args.valid_set:
                rows.update(validation_rows(enhancers, args.valid, args.pesq, args.progress))
            if args.test_set:
                rows.update(held_out_test_rows(enhancers, args.split, args.pesq, args.progress))
    except (BreakdownError, StudyError) as error:
        sys.exit(f"paired_comparison.py: {error}")
    print(table(rows, system_names([args.model_a, args.model_b])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
