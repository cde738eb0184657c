#!/usr/bin/env python3
"""Benchmark: latency and CPU speed of streaming and ONNX inference, one thread.

For each DCCRN preset (untrained weights: speed does not depend on them),
prints a Markdown table with

* the algorithmic latency (ms): the stream is the offline output delayed by it;
* PyTorch streaming (:class:`StreamingEnhancer`, one hop per ``process`` call):
  compute time per hop (ms) and real-time factor (time per hop / hop duration);
* onnxruntime streaming (:class:`OnnxStreamingEnhancer`, same calls);
* offline real-time factors of PyTorch (``model(wav)``) and onnxruntime.

Times are the fastest of ``--repeats`` runs over ``--seconds`` of noise. By
default they are CPU times of this process (``--clock cpu``), which other
processes on a busy machine disturb far less than wall-clock times
(``--clock wall``); with one thread both agree on an idle machine.

    python benchmarks/streaming_onnx.py [--models Distil-DCCRN DCCRN-E] [--seconds 10] [--repeats 3] [--clock cpu]
"""

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import onnxruntime
import torch

from speechbrain_atkl.inference.onnx_export import OnnxStreamingEnhancer, export_onnx, onnx_session
from speechbrain_atkl.inference.streaming import StreamingEnhancer
from speechbrain_atkl.models.dccrn import DCCRN

CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def fastest(run, repeats, clock):
    """Seconds taken by the fastest of ``repeats`` calls of ``run`` (after one warm-up)."""
    run()
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        run()
        best = min(best, clock() - start)
    return best


def stream_seconds(enhancer, wav, hop, repeats, clock):
    """Time to stream ``wav`` through ``enhancer`` one hop per call (flush excluded)."""

    def run():
        for start in range(0, wav.shape[-1], hop):
            enhancer.process(wav[:, start : start + hop])
        enhancer.reset()

    with torch.inference_mode():
        return fastest(run, repeats, clock)


def measure(name, seconds, repeats, clock, folder):
    """One table row for the preset ``name``."""
    model = DCCRN.from_preset(name).eval()
    rate, hop = model.sample_rate, model.stft.hop_length
    wav = torch.randn(1, int(seconds * rate))
    hops = wav.shape[-1] // hop

    streamer = StreamingEnhancer(model)
    torch_stream = stream_seconds(streamer, wav, hop, repeats, clock)
    onnx_streamer = OnnxStreamingEnhancer(export_onnx(model, folder / f"{name}_step.onnx", streaming=True))
    onnx_stream = stream_seconds(onnx_streamer, wav, hop, repeats, clock)
    with torch.inference_mode():
        torch_offline = fastest(lambda: model(wav), repeats, clock)
    session = onnx_session(export_onnx(model, folder / f"{name}.onnx"), num_threads=1)
    onnx_offline = fastest(lambda: session.run(None, {"noisy": wav.numpy()}), repeats, clock)

    hop_ms = 1000.0 * hop / rate
    cells = [
        name,
        f"{streamer.latency_ms:.2f}",
        f"{1000 * torch_stream / hops:.2f}",
        f"{1000 * torch_stream / hops / hop_ms:.3f}",
        f"{1000 * onnx_stream / hops:.2f}",
        f"{1000 * onnx_stream / hops / hop_ms:.3f}",
        f"{torch_offline / seconds:.3f}",
        f"{onnx_offline / seconds:.3f}",
    ]
    return "| " + " | ".join(cells) + " |"


def main(argv=None):
    """Prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["Distil-DCCRN", "DCCRN-E"], help="DCCRN presets")
    parser.add_argument("--seconds", type=float, default=10.0, help="audio length per run")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (the fastest counts)")
    parser.add_argument(
        "--clock", choices=sorted(CLOCKS), default="cpu", help="process CPU time or wall-clock time"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(
        f"{platform.machine()} CPU ({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}), 1 thread, "
        f"{args.clock} time; torch {torch.__version__}, onnxruntime {onnxruntime.__version__}; "
        f"{args.seconds:g} s of audio, fastest of {args.repeats}; hop 100 samples = 6.25 ms at 16 kHz.\n"
    )
    print(
        "| model | latency (ms) | PyTorch stream ms/hop | PyTorch stream RTF | ONNX stream ms/hop "
        "| ONNX stream RTF | PyTorch offline RTF | ONNX offline RTF |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            print(measure(name, args.seconds, args.repeats, CLOCKS[args.clock], Path(folder)), flush=True)


if __name__ == "__main__":
    main()
