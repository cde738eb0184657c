"""Folder throughput of ``speechbrain-atkl-enhance`` for several ``--jobs`` and ``--threads``.

Enhances one folder with the command line, once per configuration and round
(rounds interleaved, so that a change of the machine's load hits every
configuration alike), each run a fresh process as a user would start it
(model loading and worker start-up included), and prints for each
configuration the wall time, the audio seconds enhanced per wall second and
the CPU seconds of the run (the command and its workers)::

    nice -n 10 python benchmarks/enhance_jobs.py                          # 72 files x 9 s, 1x1 1x2 2x1
    python benchmarks/enhance_jobs.py --files 2 --seconds 1 --repeats 1   # a quick look that it runs

The folder is ``--input`` (any audio folder), or ``--files`` white-noise
16 kHz WAV files of ``--seconds`` each written to a temporary folder. A
configuration ``JxT`` is ``--jobs J --threads T``.

Authors
 * speechbrain-atkl developers 2026
"""

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 16000


def write_noise_folder(folder, files, seconds):
    """``files`` white-noise 16 kHz PCM-16 WAV files of ``seconds`` each."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(files):
        noise = 0.1 * rng.standard_normal(int(seconds * RATE))
        sf.write(str(folder / f"noise_{index:03d}.wav"), noise, RATE, subtype="PCM_16")


def audio_seconds(folder):
    """Total duration of the audio files under ``folder`` (s)."""
    from speechbrain_atkl.data.audio import AUDIO_EXTENSIONS

    return sum(sf.info(str(p)).duration for p in folder.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)


def run_once(source, output, model, jobs, threads):
    """Wall and CPU seconds of one command-line run (CPU: the command and its worker processes)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    command = [sys.executable, "-m", "speechbrain_atkl.inference.cli", str(source), str(output), "--model", str(model),
               "--jobs", str(jobs), "--threads", str(threads), "--overwrite", "--no-progress"]
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def parse_config(text):
    """``"2x1"`` -> ``(2, 1)``: jobs and threads per job."""
    try:
        jobs, threads = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected JOBSxTHREADS such as 2x1, got {text!r}") from None
    if jobs < 1 or threads < 1:
        raise argparse.ArgumentTypeError(f"jobs and threads must be at least 1, got {text!r}")
    return jobs, threads


def main():
    """Runs every configuration and prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="pretrained/distil-dccrn-shared16k", help="published model folder")
    parser.add_argument("--input", type=Path, help="audio folder to enhance (default: white noise, see --files)")
    parser.add_argument("--files", type=int, default=72, help="white-noise files written when no --input")
    parser.add_argument("--seconds", type=float, default=9.0, help="length of each white-noise file")
    parser.add_argument("--configs", type=parse_config, nargs="+", default=[(1, 1), (1, 2), (2, 1)],
                        help="JOBSxTHREADS runs (default: 1x1 1x2 2x1)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        source = args.input
        if source is None:
            source = scratch / "noisy"
            write_noise_folder(source, args.files, args.seconds)
        total = audio_seconds(source)
        runs = {config: [] for config in args.configs}
        for _ in range(args.repeats):
            for jobs, threads in args.configs:
                runs[jobs, threads].append(run_once(source, scratch / "enhanced", args.model, jobs, threads))
    print(f"{source if args.input else f'{args.files} white-noise files'}: {total:.1f} s of audio, "
          f"model {args.model}, {args.repeats} interleaved round(s); median [range]")
    print("| jobs x threads | wall s | audio-s per wall-s | CPU s |")
    print("|---|---:|---:|---:|")
    for (jobs, threads), results in runs.items():
        walls = [wall for wall, _ in results]
        cpu = statistics.median(c for _, c in results)
        print(f"| {jobs} x {threads} | {statistics.median(walls):.1f} [{min(walls):.1f}-{max(walls):.1f}] | "
              f"{total / statistics.median(walls):.1f} [{total / max(walls):.1f}-{total / min(walls):.1f}] | "
              f"{cpu:.1f} |")


if __name__ == "__main__":
    main()
