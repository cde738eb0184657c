"""Times a training step of each release model and sizes the release to a time budget.

Used by ``recipes/DNS/gpu_run.sh`` before training::

    python -m recipes.DNS.gpu_calibrate --device cuda --precision bf16 --batch-size 32 \\
        --segment-seconds 4 --train-seconds 330 --output calibration.json

Each Brain is built from its recipe YAML exactly as ``train.py`` builds it
(no data: random audio), warmed up, then ``--repeats`` calls of
``Brain.fit_batch`` (forward, loss, backward, optimiser step) are timed. The
teacher, the AT-KL student and the student alone share ``--train-seconds``
of pure training time in the ratio 1 : 1 : 1 of their steps (the students
get the same steps, as in the release), so::

    steps = train_seconds / (t_teacher + t_atkl + t_alone)

The JSON holds per model the median step time, the training throughput in
audio-seconds per second and the peak GPU memory (``torch.cuda.max_memory_allocated``),
and the proposed ``steps``.

Authors
 * speechbrain-atkl developers 2026
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml

from recipes.DNS.study_plan import REPO, STUDENT_ALONE, STUDENT_ATKL, SYSTEMS, TEACHER
from speechbrain_atkl.data.atomic import write_text_atomically

SYSTEM_OF = {system.name: system for system in SYSTEMS}


def make_brain(yaml_name, device, precision):
    """The recipe's Brain for ``hparams/<yaml_name>``, ready for ``fit_batch`` (no data, no checkpointer)."""
    hparams = load_hyperpyyaml((REPO / "hparams" / yaml_name).read_text(encoding="utf-8"))
    brain = hparams["brain_class"](
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts={"device": device, "precision": precision, "noprogressbar": True},
    )
    brain.on_fit_start()
    brain.on_stage_start(sb.Stage.TRAIN, epoch=1)
    brain.modules.train()
    return brain


def time_step(brain, batch, repeats, device):
    """Median seconds of ``repeats`` ``fit_batch`` calls after two warm-up calls."""

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    for _ in range(2):
        brain.fit_batch(batch)
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        brain.fit_batch(batch)
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def calibrate(device, precision, batch_size, segment_seconds, repeats, train_seconds):
    """``{"models": {name: {...}}, "steps": int}`` (see the module docstring)."""
    length = int(segment_seconds * 16000)
    generator = torch.Generator().manual_seed(0)
    batch = SimpleNamespace(
        id=[str(i) for i in range(batch_size)],
        noisy_sig=(0.1 * torch.randn(batch_size, length, generator=generator), torch.ones(batch_size)),
        clean_sig=(0.1 * torch.randn(batch_size, length, generator=generator), torch.ones(batch_size)),
    )
    models = {}
    for name in (TEACHER, STUDENT_ATKL, STUDENT_ALONE):
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        brain = make_brain(SYSTEM_OF[name].yaml, device, precision)
        seconds = time_step(brain, batch, repeats, device)
        models[name] = {
            "label": SYSTEM_OF[name].label,
            "step_s": round(seconds, 4),
            "audio_s_per_s": round(batch_size * segment_seconds / seconds, 2),
            "peak_memory_gib": (
                round(torch.cuda.max_memory_allocated() / 2**30, 2) if device.startswith("cuda") else None
            ),
        }
        del brain
    steps = max(1, int(train_seconds / sum(model["step_s"] for model in models.values())))
    return {
        "device": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
        "precision": precision,
        "batch_size": batch_size,
        "segment_seconds": segment_seconds,
        "train_seconds": train_seconds,
        "models": models,
        "steps": steps,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="bf16")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--segment-seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train-seconds", type=float, default=330.0, help="pure training time of all three")
    parser.add_argument("--output", type=Path, required=True, help="JSON to write")
    args = parser.parse_args(argv)
    result = calibrate(
        args.device, args.precision, args.batch_size, args.segment_seconds, args.repeats, args.train_seconds
    )
    write_text_atomically(args.output, json.dumps(result, indent=2))  # whole or absent: gpu_run.sh reuses it
    for model in result["models"].values():
        memory = "" if model["peak_memory_gib"] is None else f", peak {model['peak_memory_gib']} GiB"
        print(f"{model['label']}: {model['step_s'] * 1000:.0f} ms/step, {model['audio_s_per_s']} audio-s/s{memory}")
    print(f"steps per model for {args.train_seconds:g} s of training: {result['steps']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
