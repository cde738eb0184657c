#!/usr/bin/env python3
"""Benchmark: how fast a DCCRN learns from each initialisation, on fixed batches.

Mixes a few batches of noisy speech once (``--data``: a folder with ``clean/``
and ``noise/`` WAV files, by default ``../shared/data/corpus`` beside the
repository; ``--demo``: the synthetic demo corpus), then trains the model from
the DCCRN authors' initialisation (``init="reference"``: complex conv weights
N(0, 0.05), zero biases) and from PyTorch's default (``init="pytorch"``) on
exactly those batches, cycled, for each seed. The two models of a seed share
every other parameter (LSTM, linear, norms), so only the convolutions'
initialisation differs. Prints, per seed and init, the untrained mask and
output statistics and the SI-SNR of the output on all fixed batches (train
mode, as the loss sees it) at the report steps::

    nice -n 10 python benchmarks/learning_speed.py --steps 100 --seeds 1 2 --threads 1

``--precision bf16`` runs the forward pass and the loss under CPU autocast
(bfloat16), to check that bf16 training learns as well as fp32.

Authors
 * speechbrain-atkl developers 2026
"""

import argparse
import copy
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from speechbrain_atkl.data.audio import audio_info
from speechbrain_atkl.data.mixing import DynamicMixingDataset
from speechbrain_atkl.losses import si_snr
from speechbrain_atkl.models.complex_nn import (
    INIT_MODES,
    ComplexConv2d,
    ComplexConvTranspose2d,
    init_complex_layers,
)
from speechbrain_atkl.models.dccrn import DCCRN, DCCRN_PRESETS

#: ``--model`` choices: the DCCRN presets, and a few-channel DCCRN for smoke tests.
MODELS = {**DCCRN_PRESETS, "tiny": dict(channels=[8, 8, 16, 16, 16, 16], rnn_units=16)}
DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "corpus"
SAMPLE_RATE = 16000


def folder_manifest(folder):
    """``{stem: {"wav": path, "duration": s}}`` of the WAV files in ``folder``."""
    paths = sorted(Path(folder).glob("*.wav"))
    if not paths:
        raise FileNotFoundError(f"no .wav files in {folder}")
    return {path.stem: {"wav": str(path), "duration": audio_info(path).duration} for path in paths}


def fixed_batches(data, count, batch_size, segment_seconds, seed=0):
    """Mixes ``count`` batches of noisy/clean pairs once (dynamic mixing, fixed seed).

    Arguments
    ---------
    data : str or pathlib.Path
        Folder holding ``clean/`` and ``noise/`` WAV files.
    count, batch_size : int
        Number of batches and items per batch.
    segment_seconds : float
        Length of every item.
    seed : int
        Mixing seed (SNR -5...20 dB, level -35...-15 dBFS, as the recipes).

    Returns
    -------
    list of tuple
        ``(noisy, clean)`` pairs of ``(batch, time)`` tensors.
    """
    data = Path(data)
    dataset = DynamicMixingDataset(
        folder_manifest(data / "clean"),
        folder_manifest(data / "noise"),
        segment_seconds=segment_seconds,
        epoch_size=count * batch_size,
        seed=seed,
    )
    items = [dataset[i] for i in range(count * batch_size)]
    return [
        tuple(
            torch.stack([item[key] for item in items[b * batch_size : (b + 1) * batch_size]])
            for key in ("noisy_sig", "clean_sig")
        )
        for b in range(count)
    ]


def build_pair(config, seed):
    """The ``{"reference": model, "pytorch": model}`` of one seed, equal but for the conv init."""
    torch.manual_seed(seed)
    models = {"pytorch": DCCRN(**config, init="pytorch")}
    models["reference"] = copy.deepcopy(models["pytorch"])
    convs = [m for m in models["reference"].modules() if isinstance(m, (ComplexConv2d, ComplexConvTranspose2d))]
    torch.manual_seed(seed)
    init_complex_layers([layer for conv in convs for layer in (conv.real, conv.imag)], "reference")
    models["reference"].config["init"] = "reference"
    return models


def autocast(precision):
    """The forward-pass context of a precision: fp32 (none) or CPU bf16 autocast."""
    if precision == "fp32":
        return nullcontext()
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}.")


def probe(model, batches, precision):
    """Mean output SI-SNR (dB) over the batches and the mask/output statistics.

    Runs a copy in train mode (batch-statistics normalisation, as the loss
    sees the model) so that the trained model's running statistics stay as
    training leaves them.
    """
    model = copy.deepcopy(model).train()
    scores, mask_rms, gains = [], [], []
    with torch.no_grad(), autocast(precision):
        for noisy, clean in batches:
            spec = model.stft(noisy)
            mask, _, _ = model.estimate_mask(spec[:, :, 1:])
            enhanced = model(noisy).float()
            mask_rms.append(mask.float().pow(2).mean().sqrt().item())
            gains.append((enhanced.pow(2).mean() / noisy.pow(2).mean()).sqrt().item())
            scores.append(si_snr(enhanced, clean).mean().item())
    return {"si_snr": statistics.mean(scores), "mask_rms": statistics.mean(mask_rms), "gain": statistics.mean(gains)}


def learning_curve(model, batches, steps, report_steps, lr=1e-3, max_grad_norm=5.0, precision="fp32"):
    """Trains ``model`` on the batches, cycled, and probes it at ``report_steps``.

    Arguments
    ---------
    model : torch.nn.Module
        ``(batch, time) -> (batch, time)`` enhancement model (trained in place).
    batches : list of tuple
        ``(noisy, clean)`` pairs from :func:`fixed_batches`.
    steps : int
        Adam steps (SI-SNR loss, gradient norm clipped to ``max_grad_norm``).
    report_steps : sequence of int
        After how many steps to probe (0: untrained).
    lr, max_grad_norm : float
        The recipes' optimiser settings.
    precision : str
        ``"fp32"`` or ``"bf16"`` (forward and loss under CPU autocast).

    Returns
    -------
    dict
        ``{step: probe(...)}`` and ``"seconds"`` per step (median).

    Example
    -------
    >>> torch.manual_seed(0) and None
    >>> model = DCCRN(**MODELS["tiny"])
    >>> batches = [(torch.randn(2, 1600), torch.randn(2, 1600))]
    >>> curve = learning_curve(model, batches, steps=1, report_steps=[0, 1])
    >>> sorted(k for k in curve if k != "seconds"), curve[0]["si_snr"] != curve[1]["si_snr"]
    ([0, 1], True)
    """
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    curve, times = {}, []
    model.train()
    for step in range(steps + 1):
        if step in report_steps:
            curve[step] = probe(model, batches, precision)
        if step == steps:
            break
        noisy, clean = batches[step % len(batches)]
        start = time.perf_counter()
        with autocast(precision):
            enhanced = model(noisy)
        loss = -si_snr(enhanced.float(), clean).mean()
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimiser.step()
        times.append(time.perf_counter() - start)
    curve["seconds"] = statistics.median(times) if times else 0.0
    return curve


def format_results(results, report_steps, input_si_snr):
    """A Markdown table: one row per (seed, init), then the mean over seeds per init."""
    header = ["seed", "init", "mask RMS (step 0)", "output/input RMS (step 0)"]
    header += [f"SI-SNR @{step}" for step in report_steps] + ["s/step"]
    lines = [f"Unprocessed input SI-SNR: {input_si_snr:.2f} dB", "", "| " + " | ".join(header) + " |"]
    lines.append("|---|---|" + "---:|" * (len(header) - 2))
    for (seed, init), curve in results.items():
        cells = [str(seed), init, f"{curve[0]['mask_rms']:.3f}", f"{curve[0]['gain']:.3f}"]
        cells += [f"{curve[step]['si_snr']:.2f}" for step in report_steps] + [f"{curve['seconds']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    for init in dict.fromkeys(init for _, init in results):
        curves = [curve for (_, name), curve in results.items() if name == init]
        cells = ["mean", init, f"{statistics.mean(c[0]['mask_rms'] for c in curves):.3f}"]
        cells += [f"{statistics.mean(c[0]['gain'] for c in curves):.3f}"]
        cells += [f"**{statistics.mean(c[step]['si_snr'] for c in curves):.2f}**" for step in report_steps]
        cells += [f"{statistics.mean(c['seconds'] for c in curves):.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="DCCRN-E")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--segment-seconds", type=float, default=1.0)
    parser.add_argument("--batches", type=int, default=4, help="fixed batches, cycled (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--inits", nargs="+", choices=INIT_MODES, default=list(INIT_MODES))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with clean/ and noise/ WAV files")
    parser.add_argument("--demo", action="store_true", help="use the synthetic demo corpus instead of --data")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    report_steps = sorted({step for step in (0, 25, 50, 100, args.steps) if step <= args.steps})
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if args.demo:
            from speechbrain_atkl.data.demo import create_demo_corpus

            create_demo_corpus(tmp, n_clean=8, n_noise=4, n_rir=0, n_test=0)
            data = Path(tmp) / "datasets"
        elif not (data / "clean").is_dir() or not (data / "noise").is_dir():
            parser.error(f"--data {data} must hold clean/ and noise/ WAV folders (or pass --demo).")
        batches = fixed_batches(data, args.batches, args.batch_size, args.segment_seconds)
    input_si_snr = statistics.mean(si_snr(noisy, clean).mean().item() for noisy, clean in batches)
    print(
        f"# {args.model}, {args.batches} fixed batches of {args.batch_size} x {args.segment_seconds:g} s "
        f"from {'the demo corpus' if args.demo else data}, {args.steps} steps, {args.precision}, "
        f"{args.threads} thread(s)",
        flush=True,
    )
    results = {}
    for seed in args.seeds:
        models = build_pair(MODELS[args.model], seed)
        for init in args.inits:
            results[(seed, init)] = learning_curve(
                models[init], batches, args.steps, report_steps, precision=args.precision
            )
            print(f"seed {seed} {init}: " + ", ".join(
                f"@{step} {results[(seed, init)][step]['si_snr']:.2f} dB" for step in report_steps
            ), flush=True)
    print(format_results(results, report_steps, input_si_snr))
    return 0


if __name__ == "__main__":
    sys.exit(main())
