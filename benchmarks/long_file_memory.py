"""Peak memory of enhancing long files with ``EnhanceBatch.enhance_file``.

Writes test files of the given lengths (white noise; 16 kHz mono and 48 kHz
stereo by default) block by block into a temporary folder, then enhances each
in a fresh Python process (the path the command-line enhancer takes: output
written as it is produced, ``return_signal=False``) and prints that process's
peak resident memory (``ru_maxrss``), before and after enhancing::

    nice -n 10 python benchmarks/long_file_memory.py                       # 10 and 60 min, Distil-DCCRN
    python benchmarks/long_file_memory.py --minutes 2 --model tiny         # quick look at the pipeline

``--model`` is a DCCRN preset name (untrained weights: memory does not depend
on them) or ``tiny`` (a 6 x 8-channel DCCRN: same reading, resampling,
chunking and writing, far less compute, for a busy machine).

Authors
 * speechbrain-atkl developers 2026
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = """
import json, resource, sys, time
import torch
from speechbrain_atkl.inference.enhance import EnhanceBatch
from speechbrain_atkl.models.dccrn import DCCRN
torch.set_num_threads(1)
source, target, model_name, chunk_seconds = sys.argv[1:5]
model = DCCRN(channels=[8] * 6, rnn_units=16) if model_name == "tiny" else DCCRN.from_preset(model_name)
enhancer = EnhanceBatch(modules={"enhance_model": model.eval()}, hparams={"sample_rate": 16000},
                        run_opts={"device": "cpu"})
enhancer.enhance_batch(torch.zeros(1, 16000))  # warm up
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
enhancer.enhance_file(source, target, chunk_seconds=float(chunk_seconds), return_signal=False)
print(json.dumps({"before_mb": before, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "seconds": time.perf_counter() - start}))
"""


def write_noise(path, minutes, rate, channels, block_seconds=60):
    """A ``minutes``-long PCM-16 WAV of white noise, written block by block."""
    from speechbrain_atkl.data.audio_writer import AudioWriter

    rng = np.random.default_rng(0)
    total = int(minutes * 60 * rate)
    with AudioWriter(path, rate, channels, subtype="PCM_16") as writer:
        for start in range(0, total, block_seconds * rate):
            frames = min(block_seconds * rate, total - start)
            writer.write((0.1 * rng.standard_normal((channels, frames))).astype(np.float32))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 60])
    parser.add_argument("--model", default="Distil-DCCRN", help="DCCRN preset name or 'tiny'")
    parser.add_argument("--chunk-seconds", type=float, default=20.0, help="enhance_file's chunk_seconds")
    parser.add_argument(
        "--formats", nargs="+", default=["16000x1", "48000x2"], help="RATExCHANNELS of the input files"
    )
    args = parser.parse_args(argv)
    print(
        f"model {args.model}, chunks of {args.chunk_seconds:g} s, 1 torch thread; "
        "peak RSS of a fresh process per file"
    )
    print("| input | minutes | RSS before (MB) | peak RSS (MB) | seconds |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for spec in args.formats:
            rate, channels = (int(x) for x in spec.split("x"))
            for minutes in args.minutes:
                source = Path(folder) / f"noisy_{spec}_{minutes}.wav"
                write_noise(source, minutes, rate, channels)
                result = subprocess.run(
                    [sys.executable, "-c", CHILD, str(source), str(Path(folder) / "out.wav"), args.model,
                     str(args.chunk_seconds)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                measured = json.loads(result.stdout.strip().splitlines()[-1])
                source.unlink()
                print(
                    f"| {rate} Hz x {channels} | {minutes:g} | {measured['before_mb']:.0f} | "
                    f"{measured['peak_mb']:.0f} | {measured['seconds']:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    started = time.time()
    main()
    print(f"total {time.time() - started:.0f} s")
