#!/usr/bin/env python3
"""Benchmark: which recipe changes make the student learn more per step.

Trains Distil-DCCRN alone with ``train.py`` (``hparams/distil_dccrn.yaml``)
once per arm and seed, from scratch, for the same steps on the same data
(dynamic mixing with a fixed data seed, so every arm of a seed sees the same
mixtures when its batches are the same), validates every ``--valid-every``
steps and prints one table: validation SI-SNR and wide-band PESQ at the
budget (the last validation), their mean and spread over seeds, and the
share of wall time spent validating::

    nice -n 5 python benchmarks/recipe_ablation.py --data ../shared/data \\
        --extra-clean ../shared/data/corpus/clean_extra --steps 600 --seeds 1 2 \\
        --arms baseline spectral spectral_cosine --threads 1

Runs are resumable (re-run the same command: a finished run is read back,
an interrupted one resumes from its checkpoint). The work folder defaults to
``$SPEECHBRAIN_ATKL_WORK/ablation`` (``~/.cache/speechbrain-atkl/ablation``).

Authors
 * speechbrain-atkl developers 2026
"""

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: the repository root, home of the recipes package

from recipes.DNS.campaign import default_work_dir, enhancer_scores, teacher_scores  # noqa: E402
from recipes.DNS.study_data import build_study_data  # noqa: E402
from recipes.DNS.study_results import parse_train_log  # noqa: E402
from speechbrain_atkl.training.children import run_logged  # noqa: E402

#: The recipe defaults the arms were measured against (before noise augmentation
#: became a default of the student recipes): every arm pins them, so that a run
#: recorded earlier resumes and compares like with like.
BASELINE = {"spectral_weight": "0.0", "lr_schedule": "plateau", "noise_augment_prob": "0.0"}

#: Each arm's overrides of its recipe (``hparams``: the YAML, by default
#: ``distil_dccrn.yaml``; ``segment`` scales the release's batch at equal audio
#: per step; ``{gtcrn}`` and ``{uformer}`` stand for the teachers' paths).
#: Every arm but ``spectral_cosine`` changes one thing of ``baseline``
#: (``noise_augment_tonal``, ``noise_augment_tonal25``, ``noise_augment_speed``: one thing of
#: ``noise_augment``); the distillation arms differ from it by the loss only.
ARMS = {
    "baseline": BASELINE,
    "spectral": {**BASELINE, "spectral_weight": "10.0"},
    "cosine": {**BASELINE, "lr_schedule": "cosine"},
    "spectral_cosine": {**BASELINE, "spectral_weight": "10.0", "lr_schedule": "cosine"},
    "segment2": {**BASELINE, "segment": 2.0},
    "segment4": {**BASELINE, "segment": 4.0},
    "no_clipping": {**BASELINE, "max_grad_norm": "1e9"},
    "noise_augment": {**BASELINE, "noise_augment_prob": "1.0"},
    "noise_augment_tonal": {**BASELINE, "noise_augment_prob": "1.0", "noise_tonal_prob": "0.5"},
    "noise_augment_tonal25": {**BASELINE, "noise_augment_prob": "1.0", "noise_tonal_prob": "0.25"},
    "noise_augment_speed": {**BASELINE, "noise_augment_prob": "1.0", "noise_speed_prob": "0.5"},
    "atkl_gtcrn": {
        "hparams": "distil_dccrn_atkl_gtcrn.yaml",
        "teacher_checkpoint": "{gtcrn}",
        "noise_augment_prob": "0.0",
    },
    "output_gtcrn": {
        "hparams": "distil_dccrn_atkl_gtcrn.yaml",
        "teacher_checkpoint": "{gtcrn}",
        "feature_weight": "0.0",
        "noise_augment_prob": "0.0",
    },
    "atkl_uformer": {
        "hparams": "distil_dccrn_atkl.yaml",
        "teacher_checkpoint": "{uformer}",
        "noise_augment_prob": "0.0",
    },
}


def read_gates(work):
    """The teacher gates already decided (``teacher_gate.json``), by arm."""
    path = work / "teacher_gate.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def read_log(path):
    """Each epoch of a run's ``train_log.txt``: ``[{"epoch", "train": {...}, "valid": {...}}]``.

    Example
    -------
    >>> import tempfile
    >>> log = Path(tempfile.mkdtemp()) / "train_log.txt"
    >>> _ = log.write_text("epoch: 1, lr: 1.00e-03 - train loss: 4.0, train wall_s: 90.0 - "
    ...                    "valid loss: 0.1, valid wall_s: 10.0, valid si_snr: 1.2, valid pesq: 1.4\\n")
    >>> read_log(log)[0]["valid"]["si_snr"], read_log(log)[0]["train"]["wall_s"]
    (1.2, 90.0)
    """
    train = parse_train_log(path, "train")
    return [{"epoch": epoch, "train": train.get(epoch, {}), "valid": valid}
            for epoch, valid in parse_train_log(path).items()]


def command(arm, seed, args, data_folder, results_root):
    """The ``train.py`` command of one run."""
    overrides = dict(ARMS[arm])
    recipe = overrides.pop("hparams", "distil_dccrn.yaml")
    if "teacher_checkpoint" in overrides:
        overrides["teacher_checkpoint"] = str(teacher_source(arm, args))
    segment = float(overrides.pop("segment", args.segment_seconds))
    batch = max(1, round(args.batch_size * args.segment_seconds / segment))
    epochs = -(-args.steps // args.valid_every)
    overrides.update(
        data_folder=str(data_folder),
        layout="dns2020",
        results_root=str(results_root),
        experiment_name=arm,
        seed=str(seed),
        number_of_epochs=str(epochs),
        epoch_size=str(args.valid_every * batch),
        batch_size=str(batch),
        segment_seconds=str(segment),
        valid_seconds=str(args.segment_seconds),  # every arm validates on the same mixtures
        valid_count=str(args.valid_count),
        valid_fraction=str(args.valid_fraction),
        num_workers="0",
        eval_num_workers="1",
        ckpt_key="valid_si_snr",
        test_metrics="[si_snr_i]",
    )
    return [
        sys.executable, str(REPO / "train.py"), str(REPO / "hparams" / recipe),
        *(f"--{key}={value}" for key, value in overrides.items()),
        "--device=cpu", "--noprogressbar",
    ]


def teacher_source(arm, args):
    """The teacher checkpoint of a distillation arm, or None for an arm without a teacher."""
    template = ARMS[arm].get("teacher_checkpoint")
    return None if template is None else Path(template.format(gtcrn=args.gtcrn, uformer=args.uformer))


def teacher_gate(arm, args, work):
    """Validation scores of an arm's teacher and of the students trained alone (``baseline``), best checkpoints.

    Distilling only makes sense from a teacher that knows more than the
    student: the arm runs only if its teacher's validation SI-SNR beats the
    mean of the ``baseline`` students' of the seeds trained so far, all
    scored by the same code on the same validation mixtures.
    """
    import torch

    from speechbrain_atkl.loading import load_model

    manifest = work / "runs" / "prepared" / "valid.json"
    baselines = [seed for seed in args.seeds if finished_run(work, "baseline", seed) is not None]
    if not baselines:
        sys.exit(f"recipe_ablation.py: {arm} needs the baseline arm first (its teacher must beat it on validation)")
    torch.set_num_threads(args.threads)
    scores = {"teacher": teacher_scores(ARMS[arm]["hparams"], teacher_source(arm, args), work, manifest)}
    for seed in baselines:
        student = load_model(work / "runs" / "baseline" / str(seed), key="valid_si_snr").eval()
        scores[f"baseline seed {seed}"] = enhancer_scores(student, manifest)
    students = [scores[f"baseline seed {seed}"]["si_snr"] for seed in baselines]
    scores["passes"] = scores["teacher"]["si_snr"] > statistics.mean(students)
    return scores


def summarise(results, arms, seeds):
    """Markdown table: each arm's validation SI-SNR / PESQ at the budget over seeds, and the validation share."""
    lines = [
        "| arm | seeds | valid SI-SNR (dB), mean (per seed) | valid PESQ-WB, mean (per seed) "
        "| validation share of wall time |",
        "|---|---:|---:|---:|---:|",
    ]
    for arm in arms:
        runs = [results[(arm, seed)] for seed in seeds if (arm, seed) in results]
        if not runs:
            continue
        si_snr = [run[-1]["valid"]["si_snr"] for run in runs]
        pesq = [run[-1]["valid"].get("pesq", float("nan")) for run in runs]
        train_wall = sum(epoch["train"].get("wall_s", 0.0) for run in runs for epoch in run)
        valid_wall = sum(epoch["valid"].get("wall_s", 0.0) for run in runs for epoch in run)
        share = valid_wall / (train_wall + valid_wall) if train_wall + valid_wall else float("nan")
        lines.append(
            f"| {arm} | {len(runs)} | {statistics.mean(si_snr):.2f} ({', '.join(f'{v:.2f}' for v in si_snr)}) "
            f"| {statistics.mean(pesq):.3f} ({', '.join(f'{v:.3f}' for v in pesq)}) | {100 * share:.1f} % |"
        )
    return "\n".join(lines)


def finished_run(work, arm, seed):
    """``(last validation, test SI-SNR-i)`` of a finished run, or None."""
    output = work / "runs" / arm / str(seed)
    if not (output / "test_metrics.json").is_file():
        return None
    test = json.loads((output / "test_metrics.json").read_text())["enhanced"].get("si_snr_i", float("nan"))
    return read_log(output / "train_log.txt")[-1]["valid"], test


def paired_differences(work, arms, seeds, reference="baseline"):
    """Markdown table: each arm minus ``reference``, seed by seed (same seed: same data, batches and start).

    Example
    -------
    >>> import tempfile
    >>> work = Path(tempfile.mkdtemp())
    >>> for arm, si_snr, test in (("baseline", 10.0, 1.0), ("atkl_gtcrn", 10.5, 1.5)):
    ...     run = work / "runs" / arm / "1"
    ...     run.mkdir(parents=True)
    ...     _ = (run / "test_metrics.json").write_text(json.dumps({"enhanced": {"si_snr_i": test}}))
    ...     _ = (run / "train_log.txt").write_text(
    ...         f"epoch: 1, lr: 1e-3 - train loss: 1.0 - valid loss: 1.0, valid si_snr: {si_snr}, valid pesq: 1.5\\n")
    >>> print(paired_differences(work, ["baseline", "atkl_gtcrn"], [1]).splitlines()[-1])
    | atkl_gtcrn | 1 | +0.50 ± 0.00 (+0.50) | +0.000 ± 0.000 (+0.000) | +0.50 ± 0.00 (+0.50) |
    """

    def spread(values, digits):
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        listed = ", ".join(f"{v:+.{digits}f}" for v in values)
        return f"{statistics.mean(values):+.{digits}f} ± {sd:.{digits}f} ({listed})"

    lines = [
        f"| arm | seeds | Δ valid SI-SNR (dB) vs {reference}, mean ± sd (per seed) | Δ valid PESQ-WB "
        "| Δ test SI-SNR-i (dB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for arm in arms:
        if arm == reference:
            continue
        pairs = [(finished_run(work, arm, seed), finished_run(work, reference, seed)) for seed in seeds]
        pairs = [pair for pair in pairs if None not in pair]
        if not pairs:
            continue
        si_snr = [run[0]["si_snr"] - ref[0]["si_snr"] for run, ref in pairs]
        pesq = [run[0]["pesq"] - ref[0]["pesq"] for run, ref in pairs]
        test = [run[1] - ref[1] for run, ref in pairs]
        lines.append(f"| {arm} | {len(pairs)} | {spread(si_snr, 2)} | {spread(pesq, 3)} | {spread(test, 2)} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data", help="corpus folder")
    parser.add_argument("--extra-clean", type=Path, nargs="*", default=[], help="more training speech folders")
    parser.add_argument("--work-dir", type=Path, default=default_work_dir("ablation"))
    parser.add_argument("--arms", nargs="+", choices=sorted(ARMS), default=["baseline", "spectral", "spectral_cosine"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--valid-every", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--segment-seconds", type=float, default=3.0)
    parser.add_argument("--valid-count", type=int, default=100)
    parser.add_argument("--valid-fraction", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--gtcrn", type=Path, default=REPO.parent / "shared" / "peers" / "gtcrn" / "gtcrn_dns3.pt",
                        help="GTCRN's published weights (teacher of the *_gtcrn arms)")
    parser.add_argument("--uformer", type=Path, default=REPO / "pretrained" / "uformer-light-shared16k",
                        help="Uformer teacher (published folder or training folder) of the atkl_uformer arm")
    args = parser.parse_args(argv)

    work = args.work_dir.resolve()
    data_folder = work / "data"
    build_study_data(args.data, data_folder, test_count=40, test_seconds=8.0, extra_clean=args.extra_clean)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads), PYTHONUNBUFFERED="1")
    results, gates = {}, read_gates(work)
    (work / "logs").mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for arm in args.arms:
            if teacher_source(arm, args) is not None:
                if arm not in gates:
                    gates[arm] = teacher_gate(arm, args, work)
                    (work / "teacher_gate.json").write_text(json.dumps(gates, indent=2))
                print(f"{arm}: validation scores {gates[arm]}", flush=True)
                if not gates[arm]["passes"]:
                    print(f"{arm}: skipped, its teacher does not beat the student trained alone", flush=True)
                    continue
            output = work / "runs" / arm / str(seed)
            if not (output / "test_metrics.json").is_file():
                log = work / "logs" / f"{arm}-{seed}.log"
                print(f"training {arm}, seed {seed} (log: {log})", flush=True)
                status = run_logged(command(arm, seed, args, data_folder, work / "runs"), log, env=env, cwd=REPO)
                if status:
                    sys.exit(f"recipe_ablation.py: {arm} seed {seed} failed (exit {status}); see {log}")
            results[(arm, seed)] = read_log(output / "train_log.txt")
            print(summarise(results, args.arms, args.seeds), flush=True)
    (work / "ablation.json").write_text(
        json.dumps({f"{arm}/{seed}": epochs for (arm, seed), epochs in results.items()}, indent=2)
    )
    print(f"\n{args.steps} steps of {args.batch_size} x {args.segment_seconds:g} s per run, "
          f"validation every {args.valid_every} steps on {args.valid_count} mixtures\n")
    print(summarise(results, args.arms, args.seeds))
    print(f"\nPaired by seed, against baseline:\n\n{paired_differences(work, args.arms, args.seeds)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
