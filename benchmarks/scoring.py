#!/usr/bin/env python3
"""Benchmark: scoring N x 10 s noisy/enhanced/clean triples with the evaluation CLI.

Builds ``--count`` triples from the real corpus of ``--data`` (clean speech
tiled to ``--seconds``, a noise recording mixed in at 5 dB for the "noisy"
file and at 19 dB for the "enhanced" one), then times the evaluation command
(``python -m speechbrain_atkl.evaluation ... --num-workers 2``: all metrics,
noisy and enhanced systems) as a subprocess and prints

* wall time and CPU time (user + system of the command and its workers),
  with the load average before each run;
* per-metric shares of the scoring CPU, from a cProfile (CPU clock) of the
  first ``--profile-items`` items scored in one process with one thread per
  math library, as in a worker; what the command spends per item beyond an
  unprofiled in-process run of those items is start-up and inter-process
  traffic;
* with ``--noisy-cache``, two more runs sharing one noisy-score cache: the
  first system evaluated on a test set (cache empty) and the next one (the
  noisy side's scores reused), and whether the scores equal the uncached run's;
* with ``--compare-with DIR`` (another checkout of the package, e.g.
  ``git worktree add /tmp/old <commit>``), the same for that code, run
  interleaved round by round, the ratio new/old of the medians, and whether
  both wrote the same scores (``per_utterance.csv``, ``summary.md``).

    python benchmarks/scoring.py [--count 150] [--seconds 10] [--num-workers 2] \\
        [--rounds 1] [--compare-with /tmp/old] [--noisy-cache] [--profile-items 10]
"""

import argparse
import cProfile
import csv
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
SAMPLE_RATE = 16000
NOISY_SNR_DB, ENHANCED_SNR_DB = 5.0, 19.0
#: Profiled functions: (label, file suffix, function name).
PROFILED = [
    ("DNSMOS", "evaluation/dnsmos.py", "__call__"),
    ("PESQ-WB", "evaluation/metrics.py", "pesq_wb"),
    ("STOI", "evaluation/metrics.py", "stoi"),
    ("eSTOI", "evaluation/metrics.py", "estoi"),
    ("SI-SNR(i)", "evaluation/metrics.py", "si_snr"),
    ("reading", "evaluation/utterance_scorer.py", "_load"),
]


def build_triples(data, folder, count, seconds, seed=0):
    """Writes ``count`` clean/noisy/enhanced 16-bit WAV triples of ``seconds`` each.

    Arguments
    ---------
    data : pathlib.Path
        The shared data folder (``corpus/clean`` and ``corpus/noise`` inside).
    folder : pathlib.Path
        Gets ``clean/``, ``noisy/`` and ``enhanced/`` with ``u0000.wav``, ...
    count : int
        Number of triples.
    seconds : float
        Length of each file.
    seed : int
        Seed of the noise offsets.
    """
    clean_files = sorted((data / "corpus" / "clean").glob("*.wav"))
    noise_files = sorted((data / "corpus" / "noise").glob("*.wav"))
    if not clean_files or not noise_files:
        raise SystemExit(f"no WAV files in {data}/corpus/clean or {data}/corpus/noise")
    rng = np.random.default_rng(seed)
    length = int(seconds * SAMPLE_RATE)
    for name in ("clean", "noisy", "enhanced"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    for index in range(count):
        clean = np.resize(sf.read(clean_files[index % len(clean_files)])[0], length)
        noise = sf.read(noise_files[index % len(noise_files)])[0]
        start = rng.integers(0, max(1, noise.size - length))
        noise = np.resize(noise[start:], length)
        noise *= np.sqrt(np.mean(clean**2) / (np.mean(noise**2) + 1e-12))
        noisy = clean + noise * 10 ** (-NOISY_SNR_DB / 20)
        enhanced = clean + noise * 10 ** (-ENHANCED_SNR_DB / 20)
        scale = 0.9 / max(np.abs(noisy).max(), np.abs(enhanced).max(), 1.0)
        for name, wav in (("clean", clean), ("noisy", noisy), ("enhanced", enhanced)):
            sf.write(folder / name / f"u{index:04d}.wav", wav * scale, SAMPLE_RATE, "PCM_16")


def run_cli(package_root, triples, output, num_workers, noisy_cache=None):
    """Runs the evaluation command on the triples; returns (wall s, CPU s, load)."""
    env = {**os.environ, "PYTHONPATH": str(package_root)}
    command = [
        sys.executable, "-m", "speechbrain_atkl.evaluation",
        "--enhanced", str(triples / "enhanced"), "--clean", str(triples / "clean"),
        "--noisy", str(triples / "noisy"), "--output", str(output),
        "--num-workers", str(num_workers), "--no-progress",
    ]  # fmt: skip
    if noisy_cache:
        command += ["--noisy-cache", str(noisy_cache)]
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, cwd=output.parent)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, load


def profile_in_process(triples, items):
    """CPU seconds per profiled function over the first ``items`` triples (child mode).

    ``"unprofiled"`` is the CPU time of scoring them without the profiler.
    """
    from speechbrain_atkl.evaluation.pairing import pair_folders
    from speechbrain_atkl.evaluation.scoring import score_utterances

    pairing = pair_folders(triples / "enhanced", triples / "clean", triples / "noisy")
    start = time.process_time()
    score_utterances(pairing.items[:items], num_workers=0, progress=False)
    seconds = {"unprofiled": time.process_time() - start, "total": 0.0}
    profiler = cProfile.Profile(time.process_time)
    profiler.runcall(score_utterances, pairing.items[:items], num_workers=0, progress=False)
    stats = pstats.Stats(profiler).stats
    for (filename, _, function), (_, _, _, cumulative, _) in stats.items():
        if function == "score_utterances" and filename.endswith("evaluation/scoring.py"):
            seconds["total"] = cumulative
        for label, suffix, name in PROFILED:
            if function == name and filename.endswith(suffix):
                seconds[label] = seconds.get(label, 0.0) + cumulative
    return seconds


def profile(package_root, triples, items, thread_env):
    """Runs :func:`profile_in_process` in a fresh process with ``thread_env``."""
    env = {**os.environ, **thread_env, "PYTHONPATH": str(package_root)}
    command = [sys.executable, __file__, "--profile-child", str(triples), str(items)]
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return json.loads(output.stdout.splitlines()[-1])


def read_scores(output):
    """``{(id, system): {metric: float}}`` from a report's per_utterance.csv."""
    with open(output / "per_utterance.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    skip = {"id", "system", "failed"}
    return {
        (row["id"], row["system"]): {k: float(v) for k, v in row.items() if k not in skip}
        for row in rows
    }


def compare_reports(new, old):
    """``{metric: largest absolute difference}`` and whether summary.md is the same text."""
    new_scores, old_scores = read_scores(new), read_scores(old)
    if new_scores.keys() != old_scores.keys():
        return {"rows": float("inf")}, False
    largest = {}
    for key, scores in new_scores.items():
        for metric, value in scores.items():
            difference = abs(value - old_scores[key][metric])
            largest[metric] = max(largest.get(metric, 0.0), difference)
    same_summary = (new / "summary.md").read_text() == (old / "summary.md").read_text()
    return largest, same_summary


def spread(values):
    """``median [min-max]`` of a list of seconds."""
    return f"{statistics.median(values):.1f} [{min(values):.1f}-{max(values):.1f}]"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--count", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--compare-with", type=Path, metavar="DIR",
                        help="another checkout of the package to run interleaved")
    parser.add_argument("--noisy-cache", action="store_true",
                        help="also time a second system on the same test set, the noisy "
                             "scores reused from the first (--noisy-cache of the command)")
    parser.add_argument("--profile-items", type=int, default=10,
                        help="items profiled in process for the per-metric shares (0: none)")
    parser.add_argument("--profile-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.profile_child:
        triples, items = args.profile_child
        print(json.dumps(profile_in_process(Path(triples), int(items))))
        return
    from speechbrain_atkl.evaluation.scoring import WORKER_THREADS_ENV

    variants = {"new": REPO}
    if args.compare_with:
        variants["old"] = args.compare_with.resolve()
    with tempfile.TemporaryDirectory(prefix="scoring_bench_") as tmp:
        tmp = Path(tmp)
        build_triples(args.data, tmp / "triples", args.count, args.seconds)
        print(f"{args.count} x {args.seconds:g} s triples, {args.num_workers} workers, "
              f"{os.cpu_count()} CPUs; load average before the run in each row")
        times = {name: {"wall": [], "cpu": []} for name in variants}
        for round_index in range(args.rounds):
            for name, root in variants.items():
                output = tmp / f"{name}_{round_index}"
                wall, cpu, load = run_cli(root, tmp / "triples", output, args.num_workers)
                times[name]["wall"].append(wall)
                times[name]["cpu"].append(cpu)
                print(f"round {round_index} {name}: wall {wall:.1f} s, CPU {cpu:.1f} s "
                      f"({cpu / args.count:.2f} CPU-s per item), load {load:.1f}", flush=True)
        for name in variants:
            print(f"{name}: wall {spread(times[name]['wall'])} s, "
                  f"CPU {spread(times[name]['cpu'])} s (median [range])")
        if "old" in variants:
            for clock in ("wall", "cpu"):
                new, old = (statistics.median(times[name][clock]) for name in ("new", "old"))
                print(f"new/old {clock}: {new / old:.2f}")
            largest, same_summary = compare_reports(tmp / "new_0", tmp / "old_0")
            differing = {k: f"{v:.2g}" for k, v in largest.items() if v} or "none"
            print(f"scores new vs old, metrics that differ (largest difference): {differing}; "
                  f"summary.md {'identical' if same_summary else 'DIFFERENT'}")
        if args.noisy_cache:
            cache = tmp / "noisy_scores.sqlite"
            for label in ("first system, cache empty", "second system, noisy scores cached"):
                output = tmp / ("cache_" + label.split(",")[0].replace(" ", "_"))
                wall, cpu, load = run_cli(REPO, tmp / "triples", output, args.num_workers, cache)
                print(f"--noisy-cache, {label}: wall {wall:.1f} s, CPU {cpu:.1f} s, load {load:.1f}", flush=True)
            largest, same_summary = compare_reports(output, tmp / "new_0")
            differing = {k: f"{v:.2g}" for k, v in largest.items() if v} or "none"
            print(f"cached vs uncached scores, metrics that differ: {differing}; "
                  f"summary.md {'identical' if same_summary else 'DIFFERENT'}")
        if args.profile_items:
            for name, root in variants.items():
                seconds = profile(root, tmp / "triples", args.profile_items, WORKER_THREADS_ENV)
                total, unprofiled = seconds.pop("total"), seconds.pop("unprofiled")
                shares = ", ".join(f"{k} {100 * v / total:.0f} %" for k, v in seconds.items())
                per_item = unprofiled / args.profile_items
                command = statistics.median(times[name]["cpu"]) / args.count
                print(f"{name} in process: {per_item:.2f} CPU-s per item (the command "
                      f"{command:.2f}, {command - per_item:+.2f} for start-up and transfers); "
                      f"profiled shares: {shares}")


if __name__ == "__main__":
    main()
