#!/usr/bin/env python3
"""Benchmark: CPU time of one training step (4 s x batch 8 by default).

Times ``Brain.fit_batch`` (forward, loss, backward, Adam step) of the recipe's
own Brains for the student alone, each teacher preset alone, and a
distillation step (student with features + frozen teacher forward + AT-KL +
balanced SI-SNR) with each teacher preset. Prints a Markdown table.

    python benchmarks/training_step.py [--threads 2] [--batch 8] [--seconds 4] [--repeats 3]
"""

import argparse
import statistics
import time
from types import SimpleNamespace

import speechbrain as sb
import torch

from speechbrain_atkl.losses import ATKLLoss, BalancedSISNRLoss, SISNRLoss
from speechbrain_atkl.models.dccrn import DCCRN
from speechbrain_atkl.models.uformer import Uformer
from speechbrain_atkl.training import DistillationBrain, EnhancementBrain


def make_brain(model, teacher=None):
    """A Brain as train.py builds it, without data or checkpointer."""
    hparams = {"loss": SISNRLoss(), "max_grad_norm": 5.0}
    brain_class = EnhancementBrain
    if teacher is not None:
        brain_class = DistillationBrain
        hparams.update(
            teacher=teacher,
            balanced_loss=BalancedSISNRLoss(0.5),
            atkl_loss=ATKLLoss(),
            feature_weight=1.0,
        )
    brain = brain_class(
        modules={"model": model},
        opt_class=lambda params: torch.optim.Adam(params, lr=1e-3),
        hparams=hparams,
        run_opts={"device": "cpu"},
    )
    brain.on_fit_start()
    brain.on_stage_start(sb.Stage.TRAIN, epoch=1)
    brain.modules.train()
    return brain


def time_steps(brain, batch, repeats):
    """Median seconds of ``repeats`` steps after one warm-up step."""
    brain.fit_batch(batch)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        brain.fit_batch(batch)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    length = int(args.seconds * 16000)
    lengths = torch.ones(args.batch)
    batch = SimpleNamespace(
        id=[str(i) for i in range(args.batch)],
        noisy_sig=(torch.randn(args.batch, length) * 0.1, lengths),
        clean_sig=(torch.randn(args.batch, length) * 0.1, lengths),
    )
    presets = ("Uformer-light", "Uformer")
    runs = {"student alone (Distil-DCCRN)": make_brain(DCCRN.from_preset("Distil-DCCRN"))}
    for name in presets:
        runs[f"teacher alone ({name})"] = make_brain(Uformer.from_preset(name))
    for name in presets:
        runs[f"distillation step ({name} teacher)"] = make_brain(
            DCCRN.from_preset("Distil-DCCRN"), teacher=Uformer.from_preset(name)
        )

    print(f"CPU training step, batch {args.batch} x {args.seconds:g} s, {args.threads} threads, "
          f"median of {args.repeats}\n")
    print("| step | seconds | x student alone |\n|---|---:|---:|")
    student_time = None
    for name, brain in runs.items():
        seconds = time_steps(brain, batch, args.repeats)
        student_time = student_time or seconds
        print(f"| {name} | {seconds:.2f} | {seconds / student_time:.2f} |", flush=True)


if __name__ == "__main__":
    main()
