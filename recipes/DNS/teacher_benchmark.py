#!/usr/bin/env python3
"""Teacher benchmark: the Uformer-light teacher before and after its rework, and DCCRN-E, on equal terms.

The rework made the Uformer follow the authors' public model (magnitude output,
conformer fusion, 2-D dilated blocks, reference initialisation) and added the
compressed spectral loss to its training (``docs/method.md``, "Choices the
papers leave open").

::

    python recipes/DNS/teacher_benchmark.py DATA_DIR [--work-dir results/teacher_benchmark]
        [--seeds 3] [--systems uformer_before,uformer_after,...] [--steps 300]
        [--batch-size 4] [--segment-seconds 2.0] [--threads N] [--device cpu]
        [--precision fp32] [--dry-run]

``DATA_DIR`` is the shared corpus (``../shared/data`` or ``../shared/data/corpus``).
It reuses the distillation study's machinery (``study_data.py``, ``study_plan.py``,
``study.py``): the same speaker- and noise-disjoint split and fixed test set
(mixed at -5 ... 15 dB from held-out speakers and noises), every system
trained by ``train.py`` with its recipe YAML for the same steps, batches
(same ``data_seed``, so the same dynamically mixed batches for every system
and seed) and seeds (1986, 1987, ...), validated each epoch on the same
mixtures, the best checkpoint (validation PESQ) scored on the test set for
PESQ-WB, SI-SNR and SI-SNRi. Systems (:data:`SYSTEMS`):

* ``uformer_before``: ``uformer.yaml`` with the overrides that rebuild the
  teacher before the rework (:data:`PREVIOUS_TEACHER`: complex-mean output, no conformer fusion,
  time-only dilated units 1 ... 128, SI-SNR loss only);
* ``uformer_after``: ``uformer.yaml``'s new structure (magnitude output, conformer
  fusion, 2-D dilated blocks, reference init), SI-SNR + :data:`SPECTRAL_WEIGHT` x the
  compressed spectral loss;
* ``uformer_after_sisnr``: the same with ``spectral_weight 0`` (the structure's
  effect alone);
* ``dccrn_e``: ``dccrn.yaml`` (DCCRN-E);
* ``distil_dccrn`` and ``distil_dccrn_atkl``: the study's key comparison on the
  same data and budget, the student alone and distilled with AT-KL (the
  YAML's defaults) from ``uformer_after``'s first-seed run; below the table,
  their difference paired by seed.

A run whose ``test_metrics.json`` exists is skipped (an interrupted run
resumes from its checkpoint). The table (mean ± sample std over seeds, then
every seed) is printed and written to ``<work-dir>/results_table.md`` and
``results.json``.

Default budget per run: 300 steps (5 epochs of 60) of batch 4 x 2 s
segments, 20 validation mixtures, 20 test items of at most 6 s.

Authors
 * speechbrain-atkl developers 2026
"""

import argparse
import json
import math
import os
import shlex
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # recipes/DNS is not a package
from study import check_work_record, execute, has_trained_runs  # noqa: E402
from study_data import StudyError, build_study_data, check_prepared, corpus_root  # noqa: E402
from study_plan import Budget, Run, System, train_command  # noqa: E402

FIRST_SEED = 1986
RECORD = "benchmark.json"
TEST_METRICS = "[pesq_wb, si_snr, si_snr_i]"
#: ``train.py`` overrides of ``uformer.yaml`` that give the teacher before its rework.
PREVIOUS_TEACHER = (
    ("output_combination", "complex_mean"),
    ("conformer_fusion", "False"),
    ("dilated_conv", "time"),
    ("dilations", "[1,2,4,8,16,32,64,128]"),
    ("init", "pytorch"),
    ("spectral_weight", "0.0"),
)
#: The spectral weight of the new teacher's loss (``spectral_weight`` in ``uformer.yaml``).
SPECTRAL_WEIGHT = "10.0"
SYSTEMS = (
    System("uformer_before", "Uformer-light before (previous teacher, SI-SNR)", "uformer.yaml", PREVIOUS_TEACHER),
    System(
        "uformer_after",
        f"Uformer-light after (SI-SNR + {float(SPECTRAL_WEIGHT):g} x spectral loss)",
        "uformer.yaml",
        (("spectral_weight", SPECTRAL_WEIGHT),),
    ),
    System("uformer_after_sisnr", "Uformer-light after, SI-SNR only", "uformer.yaml", (("spectral_weight", "0.0"),)),
    System("dccrn_e", "DCCRN-E", "dccrn.yaml"),
    # The study's key comparison on the same data and budget, distilled from the new teacher.
    System("distil_dccrn", "Distil-DCCRN alone", "distil_dccrn.yaml"),
    System(
        "distil_dccrn_atkl",
        "Distil-DCCRN + AT-KL from the new teacher",
        "distil_dccrn_atkl.yaml",
        teacher="uformer_after",
        paired_with="distil_dccrn",
    ),
)
DEFAULT_SYSTEMS = tuple(system.name for system in SYSTEMS)
COLUMNS = (("si_snr_i", "SI-SNRi (dB)", 2), ("pesq_wb", "PESQ-WB", 3), ("si_snr", "SI-SNR (dB)", 2))


def make_budget(steps, batch_size, segment_seconds, valid_count=20, test_count=20, test_seconds=6.0,
                epochs=5, eval_num_workers=2, precision="fp32"):
    """A study :class:`~study_plan.Budget` of at least ``steps`` optimiser steps in up to ``epochs`` epochs.

    Example
    -------
    >>> budget = make_budget(300, 4, 2.0)
    >>> budget.number_of_epochs * budget.steps_per_epoch(), budget.epoch_size
    (300, 240)
    """
    if steps < 1 or batch_size < 1 or segment_seconds <= 0:
        raise StudyError(
            f"--steps and --batch-size must be >= 1 and --segment-seconds > 0, got "
            f"{steps}, {batch_size}, {segment_seconds}."
        )
    epochs = min(epochs, steps)
    return Budget(
        epochs,
        math.ceil(steps / epochs) * batch_size,
        batch_size,
        segment_seconds,
        valid_count,
        test_count,
        test_seconds,
        eval_num_workers=eval_num_workers,
        extra=(("test_metrics", TEST_METRICS), ("precision", precision)),
    )


def select(names):
    """The systems named (comma-separated), in :data:`SYSTEMS` order; the default four without names."""
    wanted = names.split(",") if names else DEFAULT_SYSTEMS
    known = [system.name for system in SYSTEMS]
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise StudyError(f"Unknown system(s) {unknown}; choose from {known}.")
    return [system for system in SYSTEMS if system.name in wanted]


def _cell(values, digits):
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def results_table(runs, results_root, budget):
    """The Markdown table and the results dict of the finished ``runs``."""
    results = {"budget": budget.describe(), "noisy": None, "systems": {}}
    for run in runs:
        if not run.finished(results_root):
            continue
        record = json.loads((run.output(results_root) / "test_metrics.json").read_text())
        results["noisy"] = results["noisy"] or record.get("noisy")
        entry = results["systems"].setdefault(run.system.name, {"label": run.system.label, "seeds": {}})
        entry["seeds"][str(run.seed)] = record.get("enhanced", {})
    header = "| system | seeds | " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    lines = [
        f"Teacher benchmark: {budget.describe()}. Held-out test set (unseen speakers and noises); "
        "mean ± sample std over seeds, then each seed.",
        "",
        header,
        "|---|---|" + "---:|" * len(COLUMNS),
    ]
    noisy = results["noisy"] or {}
    lines.append("| noisy input | - | " + " | ".join(_cell([noisy.get(k)], d) for k, _, d in COLUMNS) + " |")
    for entry in results["systems"].values():
        seeds = entry["seeds"]
        cells = [_cell([m.get(k) for m in seeds.values()], d) for k, _, d in COLUMNS]
        lines.append(f"| {entry['label']} | {len(seeds)} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| system | seed | " + " | ".join(t for _, t, _ in COLUMNS) + " |",
        "|---|---|" + "---:|" * len(COLUMNS),
    ]
    for entry in results["systems"].values():
        for seed, metrics in entry["seeds"].items():
            cells = [_cell([metrics.get(k)], d) for k, _, d in COLUMNS]
            lines.append(f"| {entry['label']} | {seed} | " + " | ".join(cells) + " |")
    lines += _paired_lines(runs, results)
    return "\n".join(lines) + "\n", results


def _paired_lines(runs, results):
    """``system minus paired_with``, seed by seed, for every system that names a partner."""
    lines = []
    systems = {run.system.name: run.system for run in runs}
    for name, entry in results["systems"].items():
        partner = systems[name].paired_with
        if partner not in results["systems"]:
            continue
        mine, theirs = entry["seeds"], results["systems"][partner]["seeds"]
        seeds = sorted(set(mine) & set(theirs))
        lines += ["", f"{entry['label']} minus {results['systems'][partner]['label']}, paired by seed:"]
        for key, title, digits in COLUMNS:
            diffs = [mine[s][key] - theirs[s][key] for s in seeds if key in mine[s] and key in theirs[s]]
            if diffs:
                spread = f" ± {statistics.stdev(diffs):.{digits}f}" if len(diffs) > 1 else ""
                lines.append(f"- {title}: {statistics.mean(diffs):+.{digits}f}{spread} ({len(diffs)} seeds)")
    return lines


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", type=Path, help="corpus folder with clean/, noise/, rir/ (e.g. ../shared/data)")
    parser.add_argument("--work-dir", type=Path, default=Path("results/teacher_benchmark"),
                        help="benchmark folder (default: %(default)s)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per system, from 1986 (default: %(default)s)")
    parser.add_argument("--systems", help=f"comma-separated subset of {','.join(s.name for s in SYSTEMS)} "
                        f"(default: {','.join(DEFAULT_SYSTEMS)})")
    parser.add_argument("--steps", type=int, default=300, help="training steps per run (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=4, help="default: %(default)s")
    parser.add_argument("--segment-seconds", type=float, default=2.0, help="default: %(default)s")
    parser.add_argument("--valid-count", type=int, default=20, help="validation mixtures (default: %(default)s)")
    parser.add_argument("--test-count", type=int, default=20, help="test items (default: %(default)s)")
    parser.add_argument("--test-seconds", type=float, default=6.0, help="longest test item (default: %(default)s)")
    parser.add_argument("--threads", type=int, help="torch threads per run (OMP_NUM_THREADS)")
    parser.add_argument("--eval-workers", type=int, default=2, help="scoring processes per run (default: %(default)s)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: %(default)s)")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"],
                        help="training precision of every run, pinned so that all runs match (default: %(default)s)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and commands, run nothing")
    parser.add_argument("--report-only", action="store_true",
                        help="write the table of the runs finished so far, train nothing")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.seeds < 1:
        raise StudyError(f"--seeds must be at least 1, got {args.seeds}.")
    budget = make_budget(args.steps, args.batch_size, args.segment_seconds, args.valid_count, args.test_count,
                         args.test_seconds, eval_num_workers=args.eval_workers, precision=args.precision)
    seeds = [FIRST_SEED + i for i in range(args.seeds)]
    runs = [Run(system, seed) for system in select(args.systems) for seed in seeds]
    work_dir = args.work_dir.resolve()
    data_folder, results_root = work_dir / "data", work_dir / "runs"
    commands = [train_command(run, budget, data_folder, results_root, seeds[0], args.device) for run in runs]
    print(f"Teacher benchmark: {len(runs)} runs; {budget.describe()}; seeds {seeds}", flush=True)
    if args.dry_run:
        print(f"# data: split {corpus_root(args.data_dir)} and build {data_folder}")
        for index, (run, command) in enumerate(zip(runs, commands), 1):
            state = " (finished: skipped)" if run.finished(results_root) else ""
            print(f"# [{index}/{len(runs)}] {run.key}{state}\n{shlex.join(command)}")
        return 0

    record = {"budget": budget.describe(), "data_dir": str(corpus_root(args.data_dir))}
    check_work_record(work_dir, RECORD, record, "benchmark", replaceable=not has_trained_runs(results_root))
    split = build_study_data(args.data_dir, data_folder, budget.test_count, budget.test_seconds)
    if args.report_only:
        runs, commands = [run for run in runs if run.finished(results_root)], []
        if not runs:
            raise StudyError(f"No finished run in {results_root} to report.")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if args.threads:
        env.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
        torch.set_num_threads(args.threads)
    for index, (run, command) in enumerate(zip(runs, commands), 1):
        if run.finished(results_root):
            print(f"[{index}/{len(runs)}] {run.key}: finished earlier, skipped", flush=True)
            continue
        print(f"[{index}/{len(runs)}] {run.key}: training ({run.system.label})", flush=True)
        timing = execute(run, command, results_root, work_dir / "logs", env)
        print(f"    done in {timing['wall_s']:.0f} s (CPU {timing['cpu_s']:.0f} s)", flush=True)
    check = check_prepared(results_root / "prepared", split)  # validation from training files only
    (work_dir / "data_check.json").write_text(json.dumps(check, indent=2))
    table, results = results_table(runs, results_root, budget)
    (work_dir / "results_table.md").write_text(table)
    (work_dir / "results.json").write_text(json.dumps(results, indent=2))
    print("\n" + table + f"\nWritten: {work_dir / 'results_table.md'}, {work_dir / 'results.json'}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except StudyError as error:
        sys.exit(f"teacher_benchmark.py: error: {error}")
