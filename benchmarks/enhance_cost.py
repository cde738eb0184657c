"""CPU cost of ``EnhanceBatch.enhance_file`` against the model's raw forward, with and without the allocator setting.

Prints, for one torch thread, in CPU seconds (``time.process_time``: the
figures hold on a busy machine better than wall time):

* the raw forward's cost per audio second on 10, 20 and 60 s inputs (each
  length run once to warm it up, then ``--repeats`` times; median and
  range), with its kernel (system) share and minor page faults;
* ``enhance_file`` on a ``--seconds`` long 16 kHz file (white noise,
  untrained weights: the cost does not depend on them), its CPU seconds per
  audio second divided by the 10 s forward's, twice: ``cold`` (first call,
  so the chunk shapes are new to oneDNN) and ``warm`` (the same file
  again); with the share spent inside the model and the *overlap floor*:
  the audio fed to the model per audio second of output (each 10 s chunk
  is computed with 2 s of past context), the ratio that a pipeline with no
  cost of its own reaches;

once in a fresh process with :func:`speechbrain_atkl.allocator.tune_allocator`
(what the commands do) and once with it off::

    nice -n 10 python benchmarks/enhance_cost.py            # the defaults (run time: docs/benchmarks.md)
    python benchmarks/enhance_cost.py --seconds 30 --lengths 10 20 --repeats 1   # quick look

Authors
 * speechbrain-atkl developers 2026
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RATE = 16000


def usage():
    """CPU seconds, system seconds and minor page faults of this process so far."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return np.array([time.process_time(), ru.ru_stime, ru.ru_minflt])


def measure(args):
    """The child process: prints one JSON line of figures."""
    import torch

    from speechbrain_atkl.allocator import tune_allocator
    from speechbrain_atkl.inference.enhance import EnhanceBatch
    from speechbrain_atkl.models.dccrn import DCCRN

    applied = tune_allocator()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = DCCRN.from_preset(args.model).eval()
    forward = {}
    with torch.no_grad():
        for seconds in args.lengths:
            wav = 0.1 * torch.randn(1, int(seconds * RATE))
            model(wav)  # warm-up: a new input shape
            runs = []
            for _ in range(args.repeats):
                before = usage()
                model(wav)
                runs.append((usage() - before) / [seconds, 1, 1])
            forward[seconds] = {
                "cpu_per_s": statistics.median(r[0] for r in runs),
                "range": [min(r[0] for r in runs), max(r[0] for r in runs)],
                "sys_share": statistics.median(r[1] / r[0] / seconds for r in runs),
                "faults": statistics.median(r[2] for r in runs),
            }
    inside = {"cpu": 0.0, "samples": 0}

    def start(module, inputs):
        inside["start"] = time.process_time()
        inside["samples"] += inputs[0].shape[-1]

    def stop(module, inputs, output):
        inside["cpu"] += time.process_time() - inside["start"]

    model.register_forward_pre_hook(start)
    model.register_forward_hook(stop)
    enhancer = EnhanceBatch(modules={"enhance_model": model}, hparams={"sample_rate": RATE}, run_opts={"device": "cpu"})
    files = {}
    for name in ("cold", "warm"):
        inside.update(cpu=0.0, samples=0)
        before = usage()
        enhancer.enhance_file(args.child, Path(args.child).with_suffix(".out.wav"), return_signal=False)
        cpu, system, faults = usage() - before
        files[name] = {"cpu_per_s": cpu / args.seconds, "in_model": inside["cpu"] / cpu, "sys_share": system / cpu,
                       "faults": faults, "floor": inside["samples"] / (args.seconds * RATE)}
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    record = {"applied": applied, "forward": forward, "files": files, "peak_mb": peak_mb, "seconds": args.seconds}
    print(json.dumps(record))


def report(name, result, lengths):
    """Prints the figures of one child."""
    forward = {float(k): v for k, v in result["forward"].items()}
    base = forward[min(lengths)]["cpu_per_s"]
    setting = "glibc defaults" if result["applied"] is None else f"thresholds {result['applied'] >> 20} MiB"
    print(f"\n## allocator {name} ({setting}); peak RSS {result['peak_mb']:.0f} MB")
    print("| raw forward | CPU-s per audio-s (median, range) | vs shortest | system share | minor faults per call |")
    print("|---|---:|---:|---:|---:|")
    for seconds in lengths:
        f = forward[float(seconds)]
        print(f"| {seconds:g} s | {f['cpu_per_s']:.4f} ({f['range'][0]:.4f}-{f['range'][1]:.4f}) | "
              f"{f['cpu_per_s'] / base:.2f} | {100 * f['sys_share']:.1f} % | {f['faults']:,.0f} |")
    print(f"| enhance_file, {result['seconds']:g} s | CPU-s per audio-s | / {min(lengths):g} s forward's | "
          "overlap floor | in the model | system share | minor faults |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for call, f in result["files"].items():
        print(f"| {call} | {f['cpu_per_s']:.4f} | {f['cpu_per_s'] / base:.3f} | {f['floor']:.3f} | "
              f"{100 * f['in_model']:.1f} % | {100 * f['sys_share']:.1f} % | {f['faults']:,.0f} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="Distil-DCCRN", help="DCCRN preset name")
    parser.add_argument("--seconds", type=float, default=120.0, help="length of the enhanced file")
    parser.add_argument("--lengths", type=float, nargs="+", default=[10.0, 20.0, 60.0], help="raw forward inputs (s)")
    parser.add_argument("--repeats", type=int, default=3, help="timed raw forwards per length")
    parser.add_argument("--allocator", nargs="+", choices=["tuned", "off"], default=["tuned", "off"])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return measure(args)
    print(f"{args.model}, untrained weights, 1 torch thread, CPU time (process_time); "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs at start")
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "noisy.wav"
        import soundfile

        noise = 0.1 * np.random.default_rng(0).standard_normal(int(args.seconds * RATE))
        soundfile.write(source, noise.astype(np.float32), RATE, subtype="PCM_16")
        for name in args.allocator:
            env = dict(os.environ, SPEECHBRAIN_ATKL_MALLOC_MIB="" if name == "tuned" else "off")
            command = [sys.executable, __file__, "--child", str(source), "--model", args.model, "--seconds",
                       str(args.seconds), "--repeats", str(args.repeats), "--lengths", *map(str, args.lengths)]
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"the {name} measurement failed:\n{done.stderr}")
            report(name, json.loads(done.stdout.strip().splitlines()[-1]), args.lengths)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
