"""The release run: train, evaluate and publish the shipped models on real speech.

One resumable command::

    python -m recipes.DNS.release --data-dir ../shared/data [--work-dir results/release]
        [--teacher-steps N] [--student-steps N] [--batch-size 8] [--segment-seconds 3]
        [--valid-every 200] [--device cpu|cuda] [--precision fp32|bf16|fp16]
        [--num-workers 0] [--threads T] [--jobs 1|2] [--seed 1986] [--publish-dir pretrained] [--dry-run]

It uses the distillation study's data and plumbing (``study_data.py``,
``study_plan.py``, ``study_report.py``): the speaker- and noise-disjoint
split of the corpus and its fixed test set mixed at -5 to 15 dB, and
``train.py`` with the recipe's YAML files. In order it trains

1. the teacher, Uformer-light (``hparams/uformer.yaml``), ``--teacher-steps``;
2. the student, Distil-DCCRN, with AT-KL from that teacher
   (``hparams/distil_dccrn_atkl.yaml``), ``--student-steps``;
3. the student alone (``hparams/distil_dccrn.yaml``), the same steps
   (with ``--jobs 2`` beside the teacher, or beside the distilled student when
   the teacher is already trained; ``--threads`` split between them).

Validation (and an end-of-epoch checkpoint) comes every ``--valid-every``
steps: an "epoch" is ``valid_every x batch_size`` dynamically mixed items.
Every run also checkpoints within epochs (``--ckpt-minutes``), so a killed
release resumes where it stopped: a run tested with its planned steps is
skipped, an unfinished one resumes from its last checkpoint, and a finished
one given more ``--teacher-steps``/``--student-steps`` trains on from its
last checkpoint and is tested again (fewer steps are refused). Each run ends
with the recipe's evaluation of its best checkpoint on the held-out test
set. Then the command writes ``release_results.md`` and
``release_results.json`` (every metric overall and by input SNR, the noisy
input too), ``spectrograms.png`` (a held-out 0 dB item: noisy, clean, the
shipped student) and publishes the teacher into
``<publish-dir>/uformer-light-shared16k`` and the student with the better
validation ``--ckpt-key`` (the distilled one on a tie; never chosen on the
test set) into ``<publish-dir>/distil-dccrn-shared16k``, their model cards
extended with the training data, steps, audio-hours, results, licences and,
for the student, the choice, and each with a new ``training_history.json``
of one ``release`` entry (replacing the campaign's history of an earlier
student). This module plans and runs the trainings;
:mod:`recipes.DNS.release_publication` collects the results and publishes,
:mod:`recipes.DNS.release_report` writes the tables and card sections.

The options are checked before anything is written. The work folder's
``release.json`` records the settings the release depends on (corpus, batch,
segments, validation and test sets, seed, test metrics, checkpoint key,
device, precision); a later command with other settings is refused, unless
no run has trained yet (then the record is replaced), and
``release_results.json`` reports that record. ``published.json`` records what
each published folder was made from (the run, digests of its test results
and of the card and history written), so a folder is published again
exactly when its run changed or the folder was replaced.

Authors
 * speechbrain-atkl developers 2026
"""

import argparse
import json
import math
import os
import shlex
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from recipes.DNS.release_publication import collect, publish_models
from recipes.DNS.release_report import ALL_METRICS, results_markdown
from recipes.DNS.study import check_work_record, execute, has_trained_runs
from recipes.DNS.study_data import TEST_SNRS, StudyError, build_study_data, check_prepared, corpus_root
from recipes.DNS.study_plan import (
    STUDENT_ALONE,
    STUDENT_ATKL,
    SYSTEMS,
    TEACHER,
    Budget,
    Run,
    estimate_seconds,
    train_command,
)
from recipes.DNS.study_report import plot_spectrograms
from speechbrain_atkl.data.atomic import FileWriteError, check_writable, write_text_atomically
from speechbrain_atkl.training.run_records import read_run_record

RECORD = "release.json"
SYSTEM_OF = {system.name: system for system in SYSTEMS}


# ---------------------------------------------------------------------- the plan
def budgets(args):
    """``{system name: study_plan.Budget}`` of the teacher and the two students."""
    extra = (
        ("test_metrics", "[" + ", ".join(args.metrics) + "]"),
        ("ckpt_interval_minutes", str(args.ckpt_minutes)),
    )
    common = dict(
        epoch_size=args.valid_every * args.batch_size,
        batch_size=args.batch_size,
        segment_seconds=args.segment_seconds,
        valid_count=args.valid_count,
        test_count=args.test_count,
        test_seconds=args.test_seconds,
        num_workers=args.num_workers,
        eval_num_workers=args.eval_num_workers,
        extra=extra,
    )
    epochs = {TEACHER: math.ceil(args.teacher_steps / args.valid_every)}
    epochs[STUDENT_ATKL] = epochs[STUDENT_ALONE] = math.ceil(args.student_steps / args.valid_every)
    return {name: Budget(number_of_epochs=count, **common) for name, count in epochs.items()}


def plan(args):
    """The three runs in training order with their budgets and ``train.py`` commands."""
    runs = [Run(SYSTEM_OF[name], args.seed) for name in (TEACHER, STUDENT_ATKL, STUDENT_ALONE)]
    budget_of = budgets(args)
    work = args.work_dir.resolve()
    entries = []
    for run in runs:
        budget = budget_of[run.system.name]
        command = train_command(run, budget, work / "data", work / "runs", args.seed, args.device)
        if args.precision:
            command.append(f"--precision={args.precision}")
        command.append(f"--ckpt_key={args.ckpt_key}")
        if run.system.distilled:
            command.append(f"--teacher_ckpt_key={args.ckpt_key}")
        steps = budget.number_of_epochs * budget.steps_per_epoch()
        entries.append(
            {
                "run": run,
                "budget": budget,
                "command": command,
                "steps": steps,
                "audio_hours": steps * budget.batch_size * budget.segment_seconds / 3600,
            }
        )
    return entries


def describe_plan(entries, device):
    """The plan's lines: steps, audio-hours and (on CPU) estimated time of each model."""
    lines = []
    for entry in entries:
        run, budget = entry["run"], entry["budget"]
        line = (
            f"- {run.system.label}: {entry['steps']} steps of {budget.batch_size} x "
            f"{budget.segment_seconds:g} s ({entry['audio_hours']:.2f} audio-hours), validation every "
            f"{budget.steps_per_epoch()} steps"
        )
        if device == "cpu":
            low, high = (seconds / 60 for seconds in estimate_seconds([run], budget))
            line += f"; about {low:.0f}-{high:.0f} min on an idle 2-core CPU"
        lines.append(line)
    return lines


def done(entry, results_root):
    """Whether a run is tested with at least the planned steps (more steps: it trains on).

    The test must be newer than the run's record (``hyperparams.yaml``, which
    ``train.py`` rewrites when a run starts): an extension cut off before its
    test leaves the earlier, shorter run's test behind.

    Example
    -------
    >>> import os, tempfile
    >>> from types import SimpleNamespace
    >>> from recipes.DNS.study_plan import Run
    >>> root = Path(tempfile.mkdtemp())
    >>> run = Run(SYSTEM_OF[STUDENT_ALONE], 1986)
    >>> entry = {"run": run, "budget": SimpleNamespace(number_of_epochs=4)}
    >>> run.output(root).mkdir(parents=True)
    >>> _ = (run.output(root) / "hyperparams.yaml").write_text("number_of_epochs: 4\\n")
    >>> _ = (run.output(root) / "test_metrics.json").write_text("{}")
    >>> done(entry, root), done({**entry, "budget": SimpleNamespace(number_of_epochs=8)}, root)
    (True, False)
    >>> os.utime(run.output(root) / "test_metrics.json", (0, 0))  # tested before the record
    >>> done(entry, root)
    False
    """
    run = entry["run"]
    if not run.finished(results_root):
        return False
    output = run.output(results_root)
    record = output / "hyperparams.yaml"
    if record.is_file() and (output / "test_metrics.json").stat().st_mtime < record.stat().st_mtime:
        return False
    recorded = read_run_record(output).get("number_of_epochs")
    planned = entry["budget"].number_of_epochs * run.system.steps_factor
    return recorded is None or recorded >= planned


#: The options a release depends on, recorded in ``release.json`` (the steps may grow).
RECORDED = (
    "batch_size", "segment_seconds", "valid_every", "valid_count", "test_count", "test_seconds", "seed",
    "metrics", "ckpt_key", "device", "precision",
)


def check_arguments(args):
    """Raises StudyError naming every option that cannot work, before anything is written.

    Example
    -------
    >>> args = build_parser().parse_args(["--data-dir", "corpus", "--test-count", "7", "--metrics", "pesq"])
    >>> check_arguments(args)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    recipes.DNS.study_data.StudyError: Bad options:
      --test-count 7: expected a positive multiple of 5 (one item per test SNR)
      --metrics: unknown pesq; expected names from pesq_wb, ...
    """
    problems = [
        f"--{name.replace('_', '-')} {getattr(args, name)}: expected an integer >= {low}"
        for name, low in (("teacher_steps", 1), ("student_steps", 1), ("valid_every", 1), ("batch_size", 1),
                          ("jobs", 1), ("valid_count", 1), ("ckpt_minutes", 0), ("num_workers", 0),
                          ("eval_num_workers", 0), ("threads", 1))
        if getattr(args, name) is not None and getattr(args, name) < low
    ]
    for name in ("segment_seconds", "test_seconds"):
        value = getattr(args, name)
        if not 0 < value < math.inf:
            problems.append(f"--{name.replace('_', '-')} {value}: expected a finite number of seconds > 0")
    if args.test_count < 1 or args.test_count % len(TEST_SNRS):
        problems.append(
            f"--test-count {args.test_count}: expected a positive multiple of {len(TEST_SNRS)} (one item per test SNR)"
        )
    unknown = [metric for metric in args.metrics if metric not in ALL_METRICS]
    if unknown or not args.metrics:
        problems.append(f"--metrics: unknown {', '.join(unknown) or '(none given)'}; expected names from "
                        f"{', '.join(ALL_METRICS)}")
    if problems:
        raise StudyError("Bad options:\n  " + "\n  ".join(problems))


def release_record(args):
    """The settings of ``args`` that the release depends on (:data:`RECORDED`), with the corpus folder."""
    return {"data_dir": str(corpus_root(args.data_dir)), **{key: getattr(args, key) for key in RECORDED}}


def waves(entries, jobs, teacher_done=False):
    """Groups the runs into waves that train at the same time.

    The student alone needs no teacher, so with ``jobs >= 2`` it trains
    beside the teacher; the distilled student waits for the teacher, or
    trains beside the student alone once the teacher is done (an extended
    release).

    Example
    -------
    >>> waves(["teacher", "atkl", "alone"], 1)
    [['teacher'], ['atkl'], ['alone']]
    >>> waves(["teacher", "atkl", "alone"], 2)
    [['teacher', 'alone'], ['atkl']]
    >>> waves(["teacher", "atkl", "alone"], 2, teacher_done=True)
    [['teacher'], ['atkl', 'alone']]
    """
    teacher, distilled, alone = entries
    if jobs >= 2:
        return [[teacher], [distilled, alone]] if teacher_done else [[teacher, alone], [distilled]]
    return [[teacher], [distilled], [alone]]


def add_timing(previous, measured, concurrent_runs, threads):
    """A run's timing record: a resumed or extended run adds its times to the earlier sessions'.

    Example
    -------
    >>> first = add_timing(None, {"wall_s": 60.0, "cpu_s": 100.0}, 2, "1")
    >>> add_timing(first, {"wall_s": 30.0, "cpu_s": 50.0}, 1, "2")
    {'wall_s': 90.0, 'cpu_s': 150.0, 'sessions': 2, 'concurrent_runs': 1, 'threads': '2'}
    """
    record = {"wall_s": measured["wall_s"], "cpu_s": measured.get("cpu_s"), "sessions": 1}
    if previous:
        record["wall_s"] = round(previous["wall_s"] + measured["wall_s"], 1)
        both = previous.get("cpu_s") is not None and measured.get("cpu_s") is not None
        record["cpu_s"] = round(previous["cpu_s"] + measured["cpu_s"], 1) if both else None
        record["sessions"] = previous.get("sessions", 1) + 1
    return dict(record, concurrent_runs=concurrent_runs, threads=threads)


def run_environment(threads, concurrent_runs):
    """Environment of the ``train.py`` processes: ``threads`` shared by the concurrent runs.

    This process's environment, unbuffered; with a thread count or several
    concurrent runs, ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` are each
    run's share (at least 1); otherwise they are left as they are.

    Example
    -------
    >>> run_environment(2, 2)["OMP_NUM_THREADS"]
    '1'
    >>> env = run_environment(None, 1)  # one run, no thread count: the caller's setting, or none
    >>> env.get("OMP_NUM_THREADS") == os.environ.get("OMP_NUM_THREADS"), env["PYTHONUNBUFFERED"]
    (True, '1')
    """
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if threads or concurrent_runs > 1:
        per_run = str(max(1, (threads or os.cpu_count() or 1) // concurrent_runs))
        env.update(OMP_NUM_THREADS=per_run, MKL_NUM_THREADS=per_run)
    return env


# ---------------------------------------------------------------------- main
def build_parser():
    parser = argparse.ArgumentParser(description="Train, evaluate and publish the release models.")
    add = parser.add_argument
    add("--data-dir", type=Path, required=True, help="corpus folder with clean/, noise/ and rir/ (or its corpus/)")
    add("--work-dir", type=Path, default=Path("results/release"), help="release folder (default: %(default)s)")
    add("--teacher-steps", type=int, default=400, help="teacher optimiser steps (default: %(default)s)")
    add("--student-steps", type=int, default=400, help="steps of each student (default: %(default)s)")
    add("--batch-size", type=int, default=8)
    add("--segment-seconds", type=float, default=3.0)
    add("--valid-every", type=int, default=100, help="steps between validations/checkpoints (default: %(default)s)")
    add("--valid-count", type=int, default=40, help="validation mixtures (default: %(default)s)")
    add("--test-count", type=int, default=40, help="test mixtures, a multiple of 5 (default: %(default)s)")
    add("--test-seconds", type=float, default=8.0, help="longest test mixture (default: %(default)s)")
    add("--metrics", type=lambda text: text.split(","), default=list(ALL_METRICS), help="test metrics, comma-separated")
    add("--ckpt-minutes", type=int, default=10, help="intra-epoch checkpoint interval (default: %(default)s)")
    add("--ckpt-key", choices=("valid_si_snr", "valid_pesq", "valid_loss"), default="valid_si_snr",
        help="validation metric that selects each model's checkpoint (default: %(default)s)")
    add("--device", choices=("cpu", "cuda"), default="cpu")
    add("--precision", choices=("fp32", "bf16", "fp16"),
        help="every model's training precision (default: each recipe's: fp32 teacher, bf16 students)")
    add("--num-workers", type=int, default=0, help="DataLoader workers per run (default: %(default)s)")
    add("--eval-num-workers", type=int, default=2, help="test-scoring processes per run (default: %(default)s)")
    add("--threads", type=int, help="torch threads in all, shared by concurrent runs (OMP_NUM_THREADS)")
    add("--jobs", type=int, default=1, help="2: train two runs at once (default: %(default)s)")
    add("--seed", type=int, default=1986)
    add("--publish-dir", type=Path, default=Path("pretrained"), help="published folders (default: %(default)s)")
    add("--dry-run", action="store_true", help="print the plan and commands, run nothing")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    check_arguments(args)
    work_dir = args.work_dir.resolve()
    results_root = work_dir / "runs"
    entries = plan(args)
    print("Release plan:\n" + "\n".join(describe_plan(entries, args.device)), flush=True)
    if args.dry_run:
        for index, entry in enumerate(entries, 1):
            state = " (finished: skipped)" if done(entry, results_root) else ""
            print(f"# [{index}/{len(entries)}] {entry['run'].key}{state}\n{shlex.join(entry['command'])}")
        return 0

    try:
        check_writable(args.publish_dir)  # published at the very end
    except FileWriteError as error:
        raise StudyError(f"--publish-dir: {error}") from error
    record = release_record(args)
    check_work_record(work_dir, RECORD, record, "release", replaceable=not has_trained_runs(results_root))
    split = build_study_data(args.data_dir, work_dir / "data", args.test_count, args.test_seconds)
    if args.threads:
        torch.set_num_threads(args.threads)
    timings_path = work_dir / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
    for wave in waves(entries, args.jobs, done(entries[0], results_root)):
        pending = [entry for entry in wave if not done(entry, results_root)]
        for entry in wave:
            run = entry["run"]
            index = entries.index(entry) + 1
            if entry not in pending:
                print(f"[{index}/{len(entries)}] {run.key}: finished earlier, skipped", flush=True)
                continue
            resumed = " (resuming from its checkpoint)" if (run.output(results_root) / "save").is_dir() else ""
            print(f"[{index}/{len(entries)}] {run.key}: training {run.system.label}{resumed}", flush=True)
        if not pending:
            continue
        env = run_environment(args.threads, len(pending))
        with ThreadPoolExecutor(max_workers=len(pending)) as pool:
            futures = {
                entry["run"].key: pool.submit(
                    execute, entry["run"], entry["command"], results_root, work_dir / "logs", env
                )
                for entry in pending
            }
            for key, future in futures.items():
                timings[key] = add_timing(timings.get(key), future.result(), len(pending), env.get("OMP_NUM_THREADS"))
                write_text_atomically(timings_path, json.dumps(timings, indent=2))
    data_check = check_prepared(results_root / "prepared", split)
    write_text_atomically(work_dir / "data_check.json", json.dumps(data_check, indent=2))

    results = collect(entries, results_root, split, timings)
    results["training"] = record
    write_text_atomically(work_dir / "release_results.json", json.dumps(results, indent=2, default=str))
    table = results_markdown(results, split, args.device, args.precision)
    write_text_atomically(work_dir / "release_results.md", table)
    item = next((i for i in split["test_items"] if i["snr_db"] == 0), split["test_items"][0])
    published, student = publish_models(results, split, work_dir, args)
    enhanced = [(f"enhanced by {student['label']}", Path(student["output"]))]
    plot_spectrograms(item, enhanced, work_dir / "spectrograms.png", checkpoint_key=args.ckpt_key)
    print("\n" + table)
    written = [work_dir / "release_results.md", work_dir / "spectrograms.png", *published]
    print("Written: " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except StudyError as error:
        sys.exit(f"release.py: error: {error}")
