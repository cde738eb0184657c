"""The distillation study: does AT-KL from a Uformer teacher make Distil-DCCRN better?

One command regenerates every number and figure of the study::

    python -m recipes.DNS.study DATA_DIR [--work-dir results/study] [--budget small|full]
                                [--device cpu|cuda] [--seeds 3] [--dry-run]

``DATA_DIR`` is a corpus folder with ``clean/``, ``noise/`` and ``rir/`` (or
``impulse_responses/``) sub-folders, such as the shared corpus
``../shared/data/corpus`` (``../shared/data`` itself is accepted too).
Nothing is copied from it: the study data holds symbolic links and the mixed
test set.

What it does
------------
1. **Split** the corpus by speaker and by noise recording (:func:`study_data.split_corpus`,
   rule in :func:`study_data.speaker_of`): the test set has speakers and noises never
   seen in training. Room responses all go to training (the test set has no
   reverberation).
2. **Build** ``<work-dir>/data`` in the DNS-2020 layout
   (:func:`study_data.build_study_data`): ``datasets/{clean,noise,impulse_responses}``
   hold links to the training files, ``datasets/test_set/synthetic/no_reverb``
   a fixed test set mixed with the recipe's ``mix_at_snr`` at -5, 0, 5, 10 and
   15 dB (as many items per SNR), saved with ``save_audio`` as
   ``clean/clean_fileid_N.wav`` and ``noisy/<noise>_snrS_fileid_N.wav``.
   ``split.json`` lists the split and every test item. ``train.py`` prepares
   it unchanged (``prepare_dns``, layout ``dns2020``), holding out its
   validation files from the training files only; the study checks this
   after the first run (:func:`study_data.check_prepared`, ``data_check.json``).
3. **Train** every system with ``train.py`` and the recipe's YAML files, the
   same data, steps and seeds (:data:`study_plan.SYSTEMS`): the teacher (Uformer-light),
   DCCRN-E, Distil-DCCRN alone and with AT-KL, and five ablations of AT-KL
   (output-only distillation, attention transfer without KL, KL without
   attention transfer, time-only, channel-only). Then the fixes the ablations
   pointed to: AT-KL with the KL at temperature 8, the same from a teacher
   trained 4x as many steps, and last the key comparison again with teacher
   and students all at 4x the steps. The key comparisons (student alone, with
   AT-KL and with each fix) run with every seed (1986, 1987, ...), the others
   with the first. A run whose ``test_metrics.json`` exists is skipped, so an
   interrupted study resumes (an interrupted run resumes from its checkpoint).
4. **Collect** (:func:`study_report.write_results`) ``results_table.md`` and
   ``results.json`` (test metrics, mean ± std over seeds, the last epoch's
   validation SI-SNR, SI-SNR improvement per input SNR, paired differences,
   parameters and GMAC/s of the trained models) and the figures
   ``valid_curves.png`` (validation SI-SNR and PESQ against training step,
   the student alone vs distilled) and ``spectrograms.png`` (one test
   utterance: noisy, clean, the teachers and the students), written to
   ``<work-dir>/figures`` and to ``recipes/DNS/figures``.

The code is in five files: ``study_data.py`` (split and test set),
``study_plan.py`` (budgets, systems, commands), ``study_results.py`` (training
logs, results table), ``study_report.py`` (figures, writing the results) and
this command-line script.

Budgets (per run; every run of a budget uses the same values)
-------------------------------------------------------------
=========  ======  ==========  =====  =======  =====  ===========================
budget     epochs  epoch_size  batch  segment  valid  test set
=========  ======  ==========  =====  =======  =====  ===========================
small      5       112         8      2.0 s    20     20 items (4 per SNR), <= 6 s
full       8       160         8      3.0 s    40     40 items (8 per SNR), <= 8 s
=========  ======  ==========  =====  =======  =====  ===========================

The study prints its estimate of the wall time before it starts
(:func:`study_plan.estimate_seconds`: each system's single-thread CPU cost
of a training step, the scoring of the test items and each run's start-up,
on an idle 2-core CPU; ``full`` is a GPU job) and records each run's wall
and CPU time in ``timings.json``. The estimates per budget and what the
runs took: ``recipes/DNS/README.md``. On a machine busy with other work,
``--threads 1`` avoids thread over-subscription (runs side by side each
asking for every core).

Authors
 * speechbrain-atkl developers 2026
"""

import argparse
import json
import math
import os
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch

from recipes.DNS.study_data import StudyError, build_study_data, check_prepared, corpus_root
from recipes.DNS.study_plan import (
    BUDGETS,
    REPO,
    SYSTEM_NAMES,
    estimate_seconds,
    plan_runs,
    select_systems,
    train_command,
)
from recipes.DNS.study_report import write_results
from recipes.DNS.study_results import parse_train_log
from speechbrain_atkl.data.atomic import write_text_atomically
from speechbrain_atkl.training.children import die_with_parent

COMMITTED_FIGURES = REPO / "recipes" / "DNS" / "figures"
FIRST_SEED = 1986
STUDY_RECORD = "study.json"


# ---------------------------------------------------------------------- running
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
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
        )
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


def has_trained_runs(results_root):
    """Whether a run under ``results_root`` (``<system>/<seed>/``) holds a checkpoint or test results.

    Example
    -------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> has_trained_runs(root)
    False
    >>> (root / "uformer" / "1986" / "save" / "CKPT+2026").mkdir(parents=True)
    >>> has_trained_runs(root)
    True
    """
    root = Path(results_root)
    return any(root.glob("*/*/save/CKPT+*")) or any(root.glob("*/*/test_metrics.json"))


def check_work_record(work_dir, name, record, what, replaceable=False):
    """Refuses to mix settings in one work folder: ``<work_dir>/<name>`` must hold ``record``.

    The first run writes the record; a later run with another record is an
    error, unless ``replaceable`` (nothing was trained under the old record:
    a start that failed early), which replaces it. Used by this study and
    ``release.py``.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> check_work_record(folder, "r.json", {"budget": "small"}, "study")
    >>> check_work_record(folder, "r.json", {"budget": "full"}, "study")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    recipes.DNS.study_data.StudyError: ... holds a study of {'budget': 'small'}; this one is {'budget': 'full'}. ...
    >>> check_work_record(folder, "r.json", {"budget": "full"}, "study", replaceable=True)
    >>> json.loads((folder / "r.json").read_text())
    {'budget': 'full'}
    """
    path = work_dir / name
    previous = json.loads(path.read_text()) if path.is_file() else None
    if previous == record:
        return
    if previous is not None and not replaceable:
        raise StudyError(f"{work_dir} holds a {what} of {previous}; this one is {record}. Use another --work-dir.")
    write_text_atomically(path, json.dumps(record, indent=2))


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

    record = {"budget": args.budget, "data_dir": str(corpus_root(args.data_dir))}
    check_work_record(work_dir, STUDY_RECORD, record, "study", replaceable=not has_trained_runs(results_root))
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
            write_text_atomically(timings_path, json.dumps(timings, indent=2))
            metrics = json.loads((run.output(results_root) / "test_metrics.json").read_text())["enhanced"]
            print(
                f"    done in {_duration(timings[run.key]['wall_s'])} "
                f"(CPU {_duration(timings[run.key]['cpu_s'])}): test PESQ-WB {metrics.get('pesq_wb', math.nan):.3f}, "
                f"SI-SNR {metrics.get('si_snr', math.nan):.2f} dB",
                flush=True,
            )
        if not checked:
            check = check_prepared(results_root / "prepared", split)
            write_text_atomically(work_dir / "data_check.json", json.dumps(check, indent=2))
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
