#!/usr/bin/env python3
"""Benchmark: the cost of every model preset: parameters, multiply-accumulates per second, CPU speed.

Prints a Markdown table, one row per preset (untrained weights, batch 1,
offline forward pass; the real-time factor is the fastest of 3 runs at 1
thread and at every core); the model tables of ``README.md``,
``docs/method.md`` and ``docs/benchmarks.md`` come from it::

    python benchmarks/model_cost.py [--seconds 10] [--models Distil-DCCRN DCCRN-E]

:func:`count_parameters` and :func:`count_macs` also give the model columns of
the distillation study's results (``recipes/DNS/study_results.py``).

Multiply-accumulates are counted with :class:`torch.utils.flop_counter.FlopCounterMode`
(convolutions, matrix products, attention), plus the LSTMs, which that counter
does not see: ``4 * hidden * (input + hidden)`` per layer and frame.

Authors
 * speechbrain-atkl developers 2026
"""

import argparse
import os
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

SAMPLE_RATE = 16000


def count_parameters(model):
    """Number of trainable parameters.

    Example
    -------
    >>> count_parameters(torch.nn.Linear(3, 2))
    8
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _lstm_macs(module, inputs, output):
    x = inputs[0]
    steps = x.shape[0] * x.shape[1]
    macs = 0
    size = module.input_size
    directions = 2 if module.bidirectional else 1
    for _ in range(module.num_layers):
        macs += 4 * module.hidden_size * (size + module.hidden_size) * directions
        size = module.hidden_size * directions
    module._macs += macs * steps


def count_macs(model, seconds=1.0):
    """Multiply-accumulates of one forward pass over ``seconds`` of 16 kHz audio.

    Arguments
    ---------
    model : torch.nn.Module
        Maps ``(batch, time)`` to ``(batch, time)``.
    seconds : float
        Length of the (single) input.

    Returns
    -------
    int
        Multiply-accumulates.

    Example
    -------
    >>> lstm_model = torch.nn.Sequential(torch.nn.Unflatten(1, (-1, 10)), torch.nn.LSTM(10, 4))
    >>> count_macs(lstm_model, seconds=0.01)  # 16 steps x 4 gates x 4 x (10 + 4)
    3584
    """
    lstms = [m for m in model.modules() if isinstance(m, nn.LSTM)]
    handles = [m.register_forward_hook(_lstm_macs) for m in lstms]
    for m in lstms:
        m._macs = 0
    try:
        was_training = model.training
        model.eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.randn(1, int(seconds * SAMPLE_RATE)))
        model.train(was_training)
    finally:
        for h in handles:
            h.remove()
    return counter.get_total_flops() // 2 + sum(m._macs for m in lstms)


def real_time_factor(model, seconds=10.0, threads=1, repeats=3):
    """CPU real-time factor: processing time divided by audio duration.

    Arguments
    ---------
    model : torch.nn.Module
        Maps ``(batch, time)`` to ``(batch, time)``.
    seconds : float
        Audio length.
    threads : int
        ``torch.set_num_threads`` during the measurement.
    repeats : int
        Timed runs after one warm-up; the fastest counts.

    Returns
    -------
    float
        Below 1 means faster than real time.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    model.eval()
    wav = torch.randn(1, int(seconds * SAMPLE_RATE))
    try:
        with torch.inference_mode():
            model(wav)
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                model(wav)
                best = min(best, time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)
    return best / seconds


def preset_models():
    """All named presets, as ``{name: model}``."""
    from speechbrain_atkl.models.dccrn import DCCRN, DCCRN_PRESETS
    from speechbrain_atkl.models.uformer import UFORMER_PRESETS, Uformer

    models = {name: DCCRN.from_preset(name) for name in DCCRN_PRESETS}
    models.update({name: Uformer.from_preset(name) for name in UFORMER_PRESETS})
    return models


def main(argv=None):
    """Prints the Markdown table of every preset."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="audio length for the speed test")
    parser.add_argument("--models", nargs="*", help="preset names (default: all)")
    args = parser.parse_args(argv)
    models = preset_models()
    names = args.models or list(models)
    unknown = sorted(set(names) - set(models))
    if unknown:
        parser.error(f"unknown preset(s) {unknown}; choose from {sorted(models)}")
    all_threads = os.cpu_count()
    print(
        f"| model | parameters | GMAC/s | RTF 1 thread | RTF {all_threads} threads |\n"
        "|---|---:|---:|---:|---:|"
    )
    for name in names:
        model = models[name]
        print(
            f"| {name} | {count_parameters(model):,} | {count_macs(model) / 1e9:.2f} | "
            f"{real_time_factor(model, args.seconds, 1):.3f} | "
            f"{real_time_factor(model, args.seconds, all_threads):.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
