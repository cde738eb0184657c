#!/usr/bin/env python3
"""Benchmark: training throughput (audio-seconds trained per wall-second) on the CPU.

Times ``Brain.fit_batch`` (forward, loss, backward, gradient clipping, Adam
step) of the recipe's own Brains on one fixed batch of noise, for each model
alone (DCCRN-E, Distil-DCCRN, Uformer-light) and for the distillation step
(Distil-DCCRN with features, the frozen teacher's forward, balanced SI-SNR and
AT-KL), each in every asked variant: ``fp32``, ``bf16`` (SpeechBrain's
``precision: bf16``, CPU autocast) and ``compiled`` (``compile: true``,
``torch.compile`` of the trained model, fp32). Every (step, variant) runs once
per round, rounds interleave all of them, and the table gives per step the
median wall time with its range over the rounds, the median process CPU time,
audio-seconds per wall-second, and the ratio to the student's fp32 step.
The conditions (threads, batch, segment, torch version, CPU load average
before and after) are printed with it::

    nice -n 10 python benchmarks/training_step.py --threads 2 --batch 4 --seconds 2 --rounds 5

The paper-size teacher (``--teacher Uformer``) needs the most memory; the
default batch fits a 24 GB machine with either teacher (``docs/training.md``).
``--teacher-hparams hparams/distil_dccrn_atkl_gtcrn.yaml`` takes the teacher
and the distillation settings (hooked feature modules, AT-KL) from a training
YAML instead, e.g. GTCRN (untrained weights: the cost is the same).

Authors
 * speechbrain-atkl developers 2026
"""

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml

from speechbrain_atkl.losses import ATKLLoss, BalancedSISNRLoss, SISNRLoss
from speechbrain_atkl.models.dccrn import DCCRN
from speechbrain_atkl.models.uformer import Uformer
from speechbrain_atkl.training import DistillationBrain, EnhancementBrain

STEPS = ("DCCRN-E", "Distil-DCCRN", "Uformer-light", "distillation")
#: What the distillation step takes from a training YAML (``--teacher-hparams``).
DISTILLATION_KEYS = (
    "teacher",
    "balanced_loss",
    "atkl_loss",
    "feature_weight",
    "teacher_feature_modules",
    "teacher_feature_layout",
    "teacher_frame_timing",
)
#: Variant name -> SpeechBrain run options.
VARIANTS = {
    "fp32": {"precision": "fp32"},
    "bf16": {"precision": "bf16"},
    "compiled": {"precision": "fp32", "compile": True},
}


def build_model(name):
    """A preset by name: DCCRN presets and Uformer presets."""
    if name.startswith("Uformer"):
        return Uformer.from_preset(name)
    return DCCRN.from_preset(name)


def distillation_hparams(teacher="Uformer-light", teacher_hparams=None):
    """The distillation step's teacher and losses: a preset with AT-KL's defaults, or a training YAML's.

    Example
    -------
    >>> hparams = distillation_hparams(teacher_hparams="hparams/distil_dccrn_atkl_gtcrn.yaml")
    >>> type(hparams["teacher"]).__name__, hparams["atkl_loss"].time_alignment
    ('GTCRN', 'timestamps')
    """
    if teacher_hparams is None:
        return dict(
            teacher=build_model(teacher), balanced_loss=BalancedSISNRLoss(0.5), atkl_loss=ATKLLoss(), feature_weight=1.0
        )
    with tempfile.TemporaryDirectory() as results:
        recipe = load_hyperpyyaml(Path(teacher_hparams).read_text(), {"results_root": results})
    return {key: recipe[key] for key in DISTILLATION_KEYS if key in recipe}


def make_brain(step, variant, teacher="Uformer-light", student="Distil-DCCRN", teacher_hparams=None):
    """The recipe's Brain for ``step`` (a preset or ``"distillation"``) in ``variant``, fit-started.

    ``teacher`` and ``teacher_hparams`` choose the distillation step's teacher
    (see :func:`distillation_hparams`).

    Example
    -------
    >>> brain = make_brain("Distil-DCCRN", "bf16")
    >>> brain.precision, type(brain).__name__
    ('bf16', 'EnhancementBrain')
    """
    hparams = {"loss": SISNRLoss(), "max_grad_norm": 5.0}
    brain_class = EnhancementBrain
    model = build_model(student if step == "distillation" else step)
    if step == "distillation":
        brain_class = DistillationBrain
        hparams.update(distillation_hparams(teacher, teacher_hparams))
    brain = brain_class(
        modules={"model": model},
        opt_class=lambda params: torch.optim.Adam(params, lr=1e-3),
        hparams=hparams,
        run_opts={"device": "cpu", **VARIANTS[variant]},
    )
    brain.on_fit_start()
    brain.on_stage_start(sb.Stage.TRAIN, epoch=1)
    brain.modules.train()
    return brain


def noise_batch(batch_size, seconds, seed=0):
    """A training batch of noise: ``noisy_sig`` and ``clean_sig`` ``(batch, time)`` at 16 kHz."""
    generator = torch.Generator().manual_seed(seed)
    length = int(seconds * 16000)
    lengths = torch.ones(batch_size)
    return SimpleNamespace(
        id=[str(i) for i in range(batch_size)],
        noisy_sig=(torch.randn(batch_size, length, generator=generator) * 0.1, lengths),
        clean_sig=(torch.randn(batch_size, length, generator=generator) * 0.1, lengths),
    )


def timed_step(brain, batch):
    """``(wall seconds, process CPU seconds)`` of one ``fit_batch``."""
    wall, cpu = time.perf_counter(), time.process_time()
    brain.fit_batch(batch)
    return time.perf_counter() - wall, time.process_time() - cpu


def run_rounds(brains, batch, rounds, warmup=2):
    """Interleaved timings: ``{key: [(wall, cpu), ...]}``, one entry per round."""
    for brain in brains.values():
        for _ in range(warmup):  # first steps: allocations, Adam state, compilation
            brain.fit_batch(batch)
    times = {key: [] for key in brains}
    for _ in range(rounds):
        for key, brain in brains.items():
            times[key].append(timed_step(brain, batch))
    return times


def summarise(times, audio_seconds, reference):
    """Markdown rows: median wall (range), median CPU, audio-s per wall-s, ratio to ``reference``."""
    medians = {key: statistics.median(w for w, _ in values) for key, values in times.items()}
    rows = []
    for (step, variant), values in times.items():
        walls = [w for w, _ in values]
        cpu = statistics.median(c for _, c in values)
        wall = medians[(step, variant)]
        rows.append(
            f"| {step} | {variant} | {wall:.2f} ({min(walls):.2f}-{max(walls):.2f}) | {cpu:.2f} "
            f"| {audio_seconds / wall:.1f} | {wall / medians[reference]:.2f} |"
        )
    return rows


def round_ratios(times, reference_times):
    """``(min, median, max)`` over rounds of the wall-time ratio of two interleaved steps.

    Example
    -------
    >>> round_ratios([(2.0, 0), (3.0, 0), (4.0, 0)], [(1.0, 0), (2.0, 0), (2.0, 0)])
    (1.5, 2.0, 2.0)
    """
    ratios = [a / b for (a, _), (b, _) in zip(times, reference_times)]
    return min(ratios), statistics.median(ratios), max(ratios)


def conditions(args):
    """One line: what was measured, where, and how busy the machine was."""
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"batch {args.batch} x {args.seconds:g} s, {args.threads} torch threads, "
        f"{args.rounds} interleaved rounds after {args.warmup} warm-up steps; torch {torch.__version__}, "
        f"speechbrain {sb.__version__}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average (1, 5, 15 min) {load}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=2.0, help="segment length")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timed rounds")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per brain first")
    parser.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=["fp32", "bf16"])
    parser.add_argument("--teacher", default="Uformer-light", help="teacher preset of the distillation step")
    parser.add_argument(
        "--teacher-hparams",
        metavar="YAML",
        help="take the distillation step's teacher and losses from this training YAML instead of --teacher",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    batch = noise_batch(args.batch, args.seconds)
    brains = {
        (step, variant): make_brain(step, variant, args.teacher, teacher_hparams=args.teacher_hparams)
        for step in args.steps
        for variant in args.variants
    }
    print(f"Before: {conditions(args)}", flush=True)
    times = run_rounds(brains, batch, args.rounds, args.warmup)
    reference = next(iter(times))
    if ("Distil-DCCRN", "fp32") in times:
        reference = ("Distil-DCCRN", "fp32")
    print(f"After: {conditions(args)}\n")
    if "distillation" in args.steps:
        teacher = args.teacher_hparams or f"{args.teacher} teacher"
        print(f"distillation = Distil-DCCRN student + {teacher} + balanced SI-SNR + AT-KL\n")
    print(f"| step | variant | wall s, median (range) | CPU s | audio-s per wall-s | x {' '.join(reference)} |")
    print("|---|---|---:|---:|---:|---:|")
    print("\n".join(summarise(times, args.batch * args.seconds, reference)))
    for variant in args.variants:
        if {("distillation", variant), ("Distil-DCCRN", variant)} <= times.keys():
            low, median, high = round_ratios(times[("distillation", variant)], times[("Distil-DCCRN", variant)])
            print(f"\ndistillation / student step, {variant}, per round: median {median:.2f} "
                  f"(range {low:.2f}-{high:.2f})")


if __name__ == "__main__":
    main()
