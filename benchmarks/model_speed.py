#!/usr/bin/env python3
"""Benchmark: offline forward speed of the DCCRN presets, against their FLOPs and a reference formulation.

For each preset (untrained weights: speed does not depend on them; 10 s of
noise, batch 1, eval mode, ``torch.inference_mode``) prints, measured in one
process with every variant run once per round, round after round (so that
load changes hit all variants alike), medians over ``--rounds`` with the
min-max range in brackets:

* (a) the forward time at 1 and 2 torch threads (wall clock; with 1 thread
  also CPU time, ``time.process_time``, which other processes on a busy
  machine disturb less), the student / teacher time ratio next to their
  MAC ratio (multiply-accumulates of convolutions, linear layers and LSTMs);
* (b) our formulation against the *reference formulation* of the same model
  (:class:`ReferenceDCCRN`, defined here and sharing our modules' weights: each
  complex convolution as four real convolutions combined, each transposed
  convolution computed in full and then cropped, each complex LSTM layer as
  two real LSTMs run separately on the real and imaginary inputs, the E mask
  through ``atan2``), with the ratio ours / reference per round (median,
  range); the two outputs are asserted to agree within 1e-4 first;
* (c) the achieved GFLOP/s of each model (2 x MACs / 1-thread CPU time) and
  its share of a plain 1-thread matrix product's rate on this CPU
  (1024 x 1024 float32 ``torch.mm``, 8 per run, same rounds);
* (d) with ``--blocks``: each block's 1-thread wall time (forward hooks, in
  separate rounds after the others), and for two presets the blocks they
  share (same parameter shapes) against the rest, which tells how far the
  student / teacher time ratio can go.

    nice -n 19 python benchmarks/model_speed.py [--rounds 7] [--seconds 10] [--threads 1 2] [--blocks]

On a loaded machine use ``--threads 1``: with 2 threads on 2 busy cores the OpenMP threads wait
for each other and wall times grow many times over (``docs/benchmarks.md``).

Authors
 * speechbrain-atkl developers 2026
"""

import argparse
import os
import platform
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from speechbrain_atkl.models.dccrn import DCCRN

from model_cost import count_macs

RATE = 16000
PRESETS = ("Distil-DCCRN", "DCCRN-E")
MATMUL_SIZE = 1024
MATMUL_CALLS = 8  # products per timed run of the matmul


def complex_conv(conv, x, op, **kwargs):
    """A complex (transposed) convolution as four real ones: ``(Wr*xr - Wi*xi) + i (Wi*xr + Wr*xi)``."""
    xr, xi = x.chunk(2, 1)

    def real_conv(layer, part):
        return op(part, layer.weight, layer.bias, layer.stride, **kwargs)

    real = real_conv(conv.real, xr) - real_conv(conv.imag, xi)
    imag = real_conv(conv.imag, xr) + real_conv(conv.real, xi)
    return torch.cat([real, imag], 1)


class ReferenceDCCRN(nn.Module):
    """The straightforward formulation of a :class:`DCCRN`, computed from its modules' weights.

    Arguments
    ---------
    model : DCCRN
        The model whose parameters (shared, not copied) this formulation uses.

    Example
    -------
    >>> model = DCCRN.from_preset("Distil-DCCRN").eval()
    >>> noisy = torch.randn(1, 4000)
    >>> with torch.inference_mode():
    ...     bool((ReferenceDCCRN(model)(noisy) - model(noisy)).abs().max() < 1e-4)
    True
    """

    def __init__(self, model):
        super().__init__()
        if model.config["norm"] != "batch" or model.masking_mode != "E":
            raise ValueError("ReferenceDCCRN covers the presets' real batch norm and E mask only.")
        self.model = model

    def forward(self, noisy):
        """``(batch, time)`` -> ``(batch, time)``."""
        model = self.model
        spec = model.stft(noisy)
        x, skips = spec[:, :, 1:], []
        for block in model.encoder:
            conv = block.conv
            x = F.pad(x, (conv.time_pad, 0, conv.freq_pad, conv.freq_pad))
            x = block.activation(block.norm(complex_conv(conv, x, F.conv2d)))
            skips.append(x)
        x = self.bottleneck(x)
        for block, skip in zip(model.decoder, reversed(skips)):
            (xr, xi), (sr, si) = x.chunk(2, 1), skip.chunk(2, 1)
            conv = block.conv
            full = complex_conv(conv, torch.cat([xr, sr, xi, si], 1), F.conv_transpose2d)
            first = conv.time_context if conv.lookahead else 0
            freq = x.shape[2] * conv.freq_stride
            x = full[:, :, conv.freq_crop : conv.freq_crop + freq, first : first + x.shape[3]]
            x = block.activation(block.norm(x))
        mask = F.pad(x, (0, 0, 1, 0))
        return model.stft.inverse(self.polar_mask(spec, mask), noisy.shape[-1])

    def bottleneck(self, x):
        """The LSTM bottleneck on ``(batch, channels, freq, frames)``."""
        rnn = self.model.bottleneck
        batch, channels, freq, frames = x.shape
        if rnn.rnn_type == "real":
            seq = x.permute(0, 3, 1, 2).reshape(batch, frames, channels * freq)
            out = rnn.projection(rnn.lstm(seq)[0])
            return out.reshape(batch, frames, channels, freq).permute(0, 2, 3, 1)
        real, imag = (p.permute(0, 3, 1, 2).reshape(batch, frames, -1) for p in x.chunk(2, 1))
        for lstm_r, lstm_i in zip(rnn.lstm.real, rnn.lstm.imag):
            r2r, i2r = lstm_r(real)[0], lstm_r(imag)[0]
            r2i, i2i = lstm_i(real)[0], lstm_i(imag)[0]
            real, imag = r2r - i2i, i2r + r2i
        real, imag = rnn.lstm.projection[0](real), rnn.lstm.projection[1](imag)
        half = (batch, frames, channels // 2, freq)
        return torch.cat([real.reshape(half), imag.reshape(half)], 2).permute(0, 2, 3, 1)

    @staticmethod
    def polar_mask(spec, mask):
        """The E mask in polar form: magnitude ``|S| tanh(|M|)``, phase ``angle(S) + angle(M)``."""
        sr, si, mr, mi = spec[:, 0], spec[:, 1], mask[:, 0], mask[:, 1]
        magnitude = torch.sqrt(sr**2 + si**2) * torch.tanh(torch.sqrt(mr**2 + mi**2))
        phase = torch.atan2(si, sr) + torch.atan2(mi, mr)
        return torch.stack([magnitude * torch.cos(phase), magnitude * torch.sin(phase)], 1)


def forward_macs(model, samples):
    """Multiply-accumulates of one forward over ``samples`` samples, by :func:`model_cost.count_macs`.

    Under the FLOP counter PyTorch runs LSTMs through a slow decomposition, so
    the count runs on 0.5 s and 1 s and is extended to ``samples`` along the
    number of STFT frames (every MAC count of a DCCRN is linear in it). The
    caller's random stream is left as it was (the counts draw their inputs
    from a fork of it), so seeded models and inputs made after are unchanged.

    Example
    -------
    >>> model = DCCRN.from_preset("Distil-DCCRN").eval()
    >>> forward_macs(model, RATE) == count_macs(model, seconds=1.0)
    True
    """
    frames = [model.stft.num_frames(n) for n in (RATE // 2, RATE, samples)]
    with torch.random.fork_rng(devices=[]):
        short, long = count_macs(model, seconds=0.5), count_macs(model, seconds=1.0)
    per_frame = (long - short) / (frames[1] - frames[0])
    return short + per_frame * (frames[2] - frames[0])


def summary(values, scale=1.0, digits=1):
    """``median [min-max]`` of ``values`` times ``scale``."""
    v = [x * scale for x in values]
    return f"{statistics.median(v):.{digits}f} [{min(v):.{digits}f}-{max(v):.{digits}f}]"


def timed(run, threads):
    """Wall and CPU seconds of one call of ``run`` with ``threads`` torch threads."""
    torch.set_num_threads(threads)
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--blocks", action="store_true", help="also time each block (d)")
    args = parser.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(1)  # the checks too: several threads on busy cores make LSTMs crawl
    noisy = torch.randn(1, int(args.seconds * RATE))
    runs, macs, models = {}, {}, {}
    with torch.inference_mode():
        for name in args.presets:
            model = models[name] = DCCRN.from_preset(name).eval()
            reference = ReferenceDCCRN(model)
            diff = (model(noisy) - reference(noisy)).abs().max().item()
            assert diff < 1e-4, f"{name}: ours and the reference formulation differ by {diff:.2e}"
            print(f"{name}: ours vs reference formulation, max |difference| {diff:.1e}")
            macs[name] = forward_macs(model, noisy.shape[-1])
            runs[name, "ours"] = lambda model=model: model(noisy)
            runs[name, "reference"] = lambda reference=reference: reference(noisy)
    a = torch.randn(MATMUL_SIZE, MATMUL_SIZE)
    runs["matmul", "1 thread"] = lambda: [torch.mm(a, a) for _ in range(MATMUL_CALLS)]

    wall = {(key, t): [] for key in runs for t in args.threads}
    cpu = {key: [] for key in runs}
    with torch.inference_mode():
        for round_ in range(args.rounds + 1):  # round 0 warms up
            for key, run in runs.items():
                for threads in [1] if key[0] == "matmul" else args.threads:
                    w, c = timed(run, threads)
                    if round_:
                        wall[key, threads].append(w)
                        if threads == 1:
                            cpu[key].append(c)

    print(
        f"\n{args.seconds:g} s input, batch 1, {args.rounds} rounds, torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
        + " ".join(f"{x:.1f}" for x in os.getloadavg())
    )
    print("\n(a, b) forward time, ms: median [min-max]")
    print("| preset | formulation | " + " | ".join(f"wall {t} thr" for t in args.threads) + " | CPU 1 thr |")
    print("|---|---|" + "---|" * (len(args.threads) + 1))
    for name in args.presets:
        for form in ("ours", "reference"):
            cells = [summary(wall[(name, form), t], 1e3, 0) for t in args.threads]
            print(f"| {name} | {form} | " + " | ".join(cells) + f" | {summary(cpu[name, form], 1e3, 0)} |")

    def ratios(num, den):
        return [n / d for n, d in zip(num, den)]

    print("\n(b) ours / reference formulation, per round: median [min-max]")
    for name in args.presets:
        cells = [f"{t} thr wall {summary(ratios(wall[(name, 'ours'), t], wall[(name, 'reference'), t]), digits=3)}"
                 for t in args.threads]
        cells.append(f"1 thr CPU {summary(ratios(cpu[name, 'ours'], cpu[name, 'reference']), digits=3)}")
        print(f"{name}: " + ", ".join(cells))

    if len(args.presets) == 2:
        student, teacher = args.presets
        print(f"\n(a) {student} / {teacher}: MAC ratio {macs[student] / macs[teacher]:.3f}; time ratio per round:")
        cells = [f"{t} thr wall {summary(ratios(wall[(student, 'ours'), t], wall[(teacher, 'ours'), t]), digits=3)}"
                 for t in args.threads]
        cells.append(f"1 thr CPU {summary(ratios(cpu[student, 'ours'], cpu[teacher, 'ours']), digits=3)}")
        print(", ".join(cells))

    matmul_rate = 2 * MATMUL_CALLS * MATMUL_SIZE**3 / statistics.median(cpu["matmul", "1 thread"]) / 1e9
    print(f"\n(c) 1-thread rates (CPU time): {MATMUL_SIZE}^3 matmul {matmul_rate:.1f} GFLOP/s")
    for name in args.presets:
        for form in ("ours", "reference"):
            rate = 2 * macs[name] / statistics.median(cpu[name, form]) / 1e9
            print(f"{name} {form}: {macs[name] / 1e9:.2f} GMAC, {rate:.1f} GFLOP/s = "
                  f"{100 * rate / matmul_rate:.0f} % of the matmul rate")
    if args.blocks:
        print_block_times(models, noisy, args.rounds)


def print_block_times(models, noisy, rounds):
    """(d): each block's and the whole forward's 1-thread wall time (median over ``rounds``
    interleaved rounds), in ms."""
    torch.set_num_threads(1)
    times = {name: {} for name in models}
    started = {}
    for name, model in models.items():
        for block, module in model.named_modules():
            if block == "stft" or (block.count(".") == 1 and block.split(".")[0] != "stft"):
                module.register_forward_pre_hook(
                    lambda m, a, key=(name, block): started.__setitem__(key, time.perf_counter())
                )
                module.register_forward_hook(
                    lambda m, a, o, key=(name, block): times[key[0]].setdefault(key[1], []).append(
                        time.perf_counter() - started[key]
                    )
                )
    with torch.inference_mode():
        for round_ in range(rounds + 1):
            for name, model in models.items():
                start = time.perf_counter()
                model(noisy)
                times[name].setdefault("whole forward", []).append(time.perf_counter() - start)
                if not round_:  # warm-up
                    times[name] = {}
    median = {name: {b: statistics.median(t) * 1e3 for b, t in blocks.items()} for name, blocks in times.items()}
    names = list(models)
    blocks = list(dict.fromkeys(b for name in names for b in median[name]))
    print(f"\n(d) time per block, ms, 1 thread, median of {rounds} rounds (forward hooks)")
    print("| block | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for block in blocks:
        print(f"| {block} | " + " | ".join(f"{median[n].get(block, 0.0):.1f}" for n in names) + " |")
    if len(names) == 2:
        def shapes(name, block):
            module = models[name].get_submodule(block)
            return [tuple(p.shape) for p in module.parameters()]

        blocks = [b for b in blocks if b != "whole forward"]
        shared = [
            b for b in blocks
            if b in median[names[0]] and b in median[names[1]] and shapes(names[0], b) == shapes(names[1], b)
        ]
        same = [sum(median[n][b] for b in shared) for n in names]
        # The rest: the other blocks and what runs between blocks (masking, inverse STFT, joins).
        rest = [median[n]["whole forward"] - same[i] for i, n in enumerate(names)]
        print(f"shared blocks ({', '.join(shared)}): {same[0]:.0f} / {same[1]:.0f} ms; the rest of the "
              f"forward: {rest[0]:.0f} / {rest[1]:.0f} ms, ratio {rest[0] / rest[1]:.3f}; a time ratio of 0.5 "
              f"needs the shared blocks at {max(0.0, rest[1] - 2 * rest[0]):.0f} ms")


if __name__ == "__main__":
    main()
