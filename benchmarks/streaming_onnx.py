#!/usr/bin/env python3
"""Benchmark: latency and CPU speed of streaming and ONNX inference, one thread.

For each DCCRN preset (untrained weights: speed does not depend on them),
prints a Markdown table with

* the algorithmic latency (ms): the stream is the offline output delayed by it;
* PyTorch streaming (:class:`StreamingEnhancer`, one hop per ``process`` call):
  compute time per hop (ms) and real-time factor (time per hop / hop duration);
* the same with the reference formulation of the layer steps
  (``StreamingStep(model, matrix_steps=False)``: each layer's one-frame
  (transposed) convolution through PyTorch's convolution kernels, as the ONNX
  graph holds them) and the ratio fast / reference, measured run by run in one
  process;
* the fast form through ``torch.compile`` (the enhancer's checked step
  compiled, ``dynamic=False``; inductor needs its C++ compiler), with its
  one-off compilation time (wall-clock seconds, on the first chunk; skip it
  with ``--no-compile``);
* onnxruntime streaming (:class:`OnnxStreamingEnhancer`, same calls) with the
  graph exported for one stream (``batch_size=1``) and with the any-batch graph;
* offline real-time factors of PyTorch (``model(wav)``) and onnxruntime;
* the work of one hop (multiply-accumulates per STFT frame of the offline
  network, counted as in ``model_speed.py``) and the rate the ONNX stream
  computes it at: GFLOP/s and their share of a 1-thread 1024^3 matrix
  product's rate on this CPU (measured before each model's runs), which
  tells how far the stream is from what its FLOPs allow.

Streaming figures are medians over ``--repeats`` interleaved runs of
``--seconds`` of noise, with their range in brackets; offline ones the
fastest of ``--repeats``. By default times are CPU times of this process
(``--clock cpu``), which other processes on a busy machine disturb far less
than wall-clock times (``--clock wall``); with one thread both agree on an idle
machine. How long a run takes: ``docs/benchmarks.md``, "Streaming and ONNX speed".

    python benchmarks/streaming_onnx.py [--models Distil-DCCRN DCCRN-E] [--seconds 3] [--repeats 4] \\
        [--clock cpu] [--no-compile]
"""

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import onnxruntime
import torch

from speechbrain_atkl.inference.onnx_export import export_onnx
from speechbrain_atkl.models.dccrn import DCCRN
from speechbrain_atkl.streaming import (
    CheckedStep,
    OnnxStreamingEnhancer,
    StreamingEnhancer,
    StreamingStep,
    onnx_session,
)

from model_speed import MATMUL_CALLS, MATMUL_SIZE, forward_macs

CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def torch_streamer(model, matrix_steps=True, compile=False):
    """A :class:`StreamingEnhancer` whose hop runs in the given form.

    ``matrix_steps=False``: the layers' one-frame convolutions (the reference);
    ``compile``: the checked step through ``torch.compile``. The stream
    bookkeeping is the enhancer's own, so that only the hop differs.
    """
    enhancer = StreamingEnhancer(model)
    if not matrix_steps:
        enhancer.step = CheckedStep(StreamingStep(model, matrix_steps=False))
    if compile:
        enhancer.step = torch.compile(enhancer.step, dynamic=False)
    return enhancer


def fastest(run, repeats, clock):
    """Seconds taken by the fastest of ``repeats`` calls of ``run`` (after one warm-up)."""
    run()
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        run()
        best = min(best, clock() - start)
    return best


def stream_ms_per_hop(enhancers, wav, hop, repeats, clock):
    """Per enhancer, the ms per hop of ``repeats`` runs streaming ``wav`` one hop per call.

    The enhancers take turns run by run (after one warm-up run each), so that
    a change in the machine's load reaches all of them alike.
    """
    hops = wav.shape[-1] // hop

    def run(enhancer):
        start = clock()
        for begin in range(0, hops * hop, hop):
            enhancer.process(wav[:, begin : begin + hop])
        seconds = clock() - start
        enhancer.reset()
        return 1000.0 * seconds / hops

    times = {name: [] for name in enhancers}
    with torch.inference_mode():
        for enhancer in enhancers.values():
            run(enhancer)
        for _ in range(repeats):
            for name, enhancer in enhancers.items():
                times[name].append(run(enhancer))
    return times


def spread(values, digits=2):
    """``median [min-max]`` of ``values``."""
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


def matmul_gflops(clock, repeats=5):
    """1-thread rate of a 1024^3 float32 matrix product (GFLOP/s, fastest of ``repeats``)."""
    a = torch.randn(MATMUL_SIZE, MATMUL_SIZE)
    seconds = fastest(lambda: [torch.mm(a, a) for _ in range(MATMUL_CALLS)], repeats, clock)
    return 2 * MATMUL_CALLS * MATMUL_SIZE**3 / seconds / 1e9


def compile_seconds(enhancer, hop):
    """Wall-clock seconds of the first one-hop chunk, which compiles the step."""
    start = time.perf_counter()
    enhancer.process(torch.zeros(1, hop))
    enhancer.reset()
    return time.perf_counter() - start


def measure(name, seconds, repeats, clock, folder, compile_step=True):
    """One table row for the preset ``name``."""
    model = DCCRN.from_preset(name).eval()
    rate, hop = model.sample_rate, model.stft.hop_length
    wav = torch.randn(1, int(seconds * rate))
    macs_per_hop = forward_macs(model, rate) / model.stft.num_frames(rate)
    matmul_rate = matmul_gflops(clock)
    one_stream = export_onnx(model, folder / f"{name}_step1.onnx", streaming=True, batch_size=1)
    any_batch = export_onnx(model, folder / f"{name}_step.onnx", streaming=True)
    enhancers = {
        "torch": torch_streamer(model),
        "reference": torch_streamer(model, matrix_steps=False),
        "onnx": OnnxStreamingEnhancer(one_stream),
        "onnx_any_batch": OnnxStreamingEnhancer(any_batch),
    }
    compiled = "-"
    if compile_step:
        enhancers["compiled"] = torch_streamer(model, compile=True)
        compiled = f"{compile_seconds(enhancers['compiled'], hop):.0f}"
    times = stream_ms_per_hop(enhancers, wav, hop, repeats, clock)
    ratios = [fast / ref for fast, ref in zip(times["torch"], times["reference"])]
    with torch.inference_mode():
        torch_offline = fastest(lambda: model(wav), repeats, clock)
    session = onnx_session(export_onnx(model, folder / f"{name}.onnx"), num_threads=1)
    onnx_offline = fastest(lambda: session.run(None, {"noisy": wav.numpy()}), repeats, clock)

    hop_ms = 1000.0 * hop / rate
    onnx_rate = 2 * macs_per_hop / (statistics.median(times["onnx"]) / 1000.0) / 1e9
    cells = [
        name,
        f"{enhancers['torch'].latency_ms:.2f}",
        spread(times["torch"]),
        f"{statistics.median(times['torch']) / hop_ms:.3f}",
        spread(times["reference"]),
        spread(ratios, 3),
        spread(times["compiled"]) if compile_step else "-",
        compiled,
        spread(times["onnx"]),
        f"{statistics.median(times['onnx']) / hop_ms:.3f}",
        spread(times["onnx_any_batch"]),
        f"{torch_offline / seconds:.3f}",
        f"{onnx_offline / seconds:.3f}",
        f"{macs_per_hop / 1e6:.1f}",
        f"{onnx_rate:.1f} ({100 * onnx_rate / matmul_rate:.0f} % of {matmul_rate:.0f})",
    ]
    return "| " + " | ".join(cells) + " |"


def main(argv=None):
    """Prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["Distil-DCCRN", "DCCRN-E"], help="DCCRN presets")
    parser.add_argument("--seconds", type=float, default=3.0, help="audio length per run")
    parser.add_argument("--repeats", type=int, default=4, help="timed runs per figure")
    parser.add_argument(
        "--clock", choices=sorted(CLOCKS), default="cpu", help="process CPU time or wall-clock time"
    )
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile column")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(
        f"{platform.machine()} CPU ({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}), 1 thread, "
        f"{args.clock} time; torch {torch.__version__}, onnxruntime {onnxruntime.__version__}; "
        f"{args.seconds:g} s of audio per run; streaming: median [range] of {args.repeats} interleaved runs, "
        f"offline: fastest of {args.repeats}; hop 100 samples = 6.25 ms at 16 kHz.\n"
    )
    print(
        "| model | latency (ms) | PyTorch stream ms/hop | PyTorch stream RTF | PyTorch reference steps ms/hop "
        "| PyTorch / reference | PyTorch compiled ms/hop | compile s | ONNX stream ms/hop | ONNX stream RTF "
        "| ONNX any-batch graph ms/hop | PyTorch offline RTF | ONNX offline RTF | MMAC/hop "
        "| ONNX stream GFLOP/s (% of matmul GFLOP/s) |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            row = measure(name, args.seconds, args.repeats, CLOCKS[args.clock], Path(folder), not args.no_compile)
            print(row, flush=True)


if __name__ == "__main__":
    main()
