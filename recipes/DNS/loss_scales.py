"""How large is each AT-KL term, layer by layer, between a teacher and a student?

The study's ablations showed every variant with the channel-dimension KL
ending about 1 dB SI-SNR below the others. This script measures why: it runs
a teacher and a student (``train.py`` output folders, or preset names for
untrained models) on a few noisy files and prints, for every linked layer
pair and attention dimension, the attention transfer distance, the KL
divergence at each requested temperature, and how concentrated the teacher's
softmax is at temperature 1 (its largest bin's share of the mass and its
effective number of bins, ``exp(entropy)``)::

    python -m recipes.DNS.loss_scales \\
        --teacher results/study/runs/uformer/1986 \\
        --student results/study/runs/distil_dccrn/1986 \\
        --audio results/study/data/datasets/test_set/synthetic/no_reverb/noisy/*.wav \\
        --temperatures 1 4 8

``--energy`` and ``--time-map`` choose the loss's options; ``--noise`` mixes
each (clean) audio file with a noise file at ``--snr`` dB; ``--checks`` adds a
table of every time-map form on the same features: a channel-permuted copy of
the teacher's features, a permuted random half of its channels, the teacher
on other inputs, and the real student (see :func:`time_map_checks`)::

    python -m recipes.DNS.loss_scales --teacher Uformer-light --student Distil-DCCRN \\
        --audio ../shared/data/corpus/clean/*.wav --noise ../shared/data/corpus/noise/*.wav --checks

Authors
 * speechbrain-atkl developers 2026
"""

import argparse
import sys
from pathlib import Path

import torch

from speechbrain_atkl.data.audio import load_audio
from speechbrain_atkl.data.mixing import mix_at_snr
from speechbrain_atkl.losses import ATKLLoss
from speechbrain_atkl.losses.atkl import DEFAULT_LAYERS
from speechbrain_atkl.losses.attention_maps import ENERGY_MODES, TIME_MAPS, softmax_concentration

SAMPLE_RATE = 16000


def term_scales(student, teacher, noisy, temperatures=(1.0, 4.0, 8.0), layers=DEFAULT_LAYERS, **options):
    """AT and KL terms of every layer pair and dimension, and the teacher softmax's concentration.

    Arguments
    ---------
    student, teacher : torch.nn.Module
        Models called as ``model(noisy, return_features=True)``.
    noisy : torch.Tensor
        ``(batch, time)`` waveforms.
    temperatures : sequence of float
        KL temperatures to measure.
    layers : list of str
        Layer names linked in both models (``"encoder.0"`` ...).
    **options
        :class:`ATKLLoss` arguments (``energy``, ``time_map``, ``p`` ...).

    Returns
    -------
    list of dict
        One row per layer and dimension: ``layer``, ``dim``, ``student_shape``
        ``(channels, freq, frames)``, ``at``, ``kl`` (``{temperature: value}``),
        ``bins`` (softmax size), ``max_share`` and ``effective_bins`` of the
        teacher's softmax at temperature 1 (batch means).

    Example
    -------
    >>> from speechbrain_atkl.models import DCCRN
    >>> torch.manual_seed(0) and None
    >>> small = dict(channels=[8, 8, 8, 8, 8, 8], rnn_units=8)
    >>> student, teacher = DCCRN(**small).eval(), DCCRN(**small).eval()
    >>> rows = term_scales(student, teacher, torch.randn(1, 3200), temperatures=[1.0], layers=["encoder.0"])
    >>> [(row["layer"], row["dim"]) for row in rows]
    [('encoder.0', 'time'), ('encoder.0', 'channel')]
    >>> all(row["at"] > 0 and row["kl"][1.0] > 0 and 1 < row["effective_bins"] <= row["bins"] for row in rows)
    True
    """
    student_features, teacher_features = _features(student, teacher, noisy)
    rows = []
    for layer in layers:
        group, _, index = layer.partition(".")
        shape = tuple(student_features[group][int(index)].shape[1:])
        for dim in ("time", "channel"):
            kl = {}
            for temperature in temperatures:
                loss = ATKLLoss(dims=[dim], at_weight=0.0, temperature=temperature, **options)
                kl[temperature] = float(loss.terms(student_features, teacher_features, layers=[layer])[f"kl_{dim}"])
            at_loss = ATKLLoss(dims=[dim], kl_weight=0.0, **options)
            at = float(at_loss.terms(student_features, teacher_features, layers=[layer])[f"at_{dim}"])
            _, teacher_flat, _ = at_loss.flat_maps(
                _lookup(student_features, layer), _lookup(teacher_features, layer)
            )[dim]
            share, bins = softmax_concentration(at_loss.logits(teacher_flat))
            rows.append(
                {
                    "layer": layer,
                    "dim": dim,
                    "student_shape": shape,
                    "at": at,
                    "kl": kl,
                    "bins": teacher_flat.shape[1],
                    "max_share": float(share.mean()),
                    "effective_bins": float(bins.mean()),
                }
            )
    return rows


def _features(student, teacher, noisy):
    with torch.no_grad():
        _, student_features = student(noisy, return_features=True)
        _, teacher_features = teacher(noisy, return_features=True)
    return student_features, teacher_features


def _lookup(features, layer):
    group, _, index = layer.partition(".")
    return features[group][int(index)]


def _complex_channels(features, index):
    """Picks complex channels ``index`` of every ``(batch, 2 * half, freq, frames)`` map."""
    picked = {}
    for group, maps in features.items():
        picked[group] = []
        for x in maps:
            half = x.shape[1] // 2
            chosen = index(half)
            picked[group].append(x[:, torch.cat([chosen, chosen + half])])
    return picked


def time_map_checks(student, teacher, noisy, layers=DEFAULT_LAYERS, seed=0, **options):
    """Time-dimension AT and KL of every time-map form, against four kinds of student.

    The kinds: ``permuted``, the teacher's own features with their complex
    channels permuted (must score 0); ``half``, a random half of the
    teacher's complex channels, permuted (a narrower network holding the same
    features: should score near 0); ``other_input``, the teacher's features
    of other noisy files (the batch rolled by one: a map that carries
    information about its input scores clearly above ``half``); ``student``,
    the student's features.

    Arguments
    ---------
    student, teacher : torch.nn.Module
        Models called as ``model(noisy, return_features=True)``.
    noisy : torch.Tensor
        ``(batch, time)`` waveforms, batch of at least 2.
    layers : list of str
        Layer names linked in both models.
    seed : int
        Seed of the permutations.
    **options
        Further :class:`ATKLLoss` arguments (``energy`` ...).

    Returns
    -------
    dict
        ``{time_map: {kind: {"at": value, "kl": value}}}``, means over layers.

    Example
    -------
    >>> from speechbrain_atkl.models import DCCRN
    >>> torch.manual_seed(0) and None
    >>> small = dict(channels=[8, 8, 8, 8, 8, 8], rnn_units=8)
    >>> checks = time_map_checks(
    ...     DCCRN(**small).eval(), DCCRN(**small).eval(), torch.randn(2, 3200), layers=["encoder.1"]
    ... )
    >>> checks["sorted"]["permuted"]["kl"] < 1e-6 < checks["index"]["permuted"]["kl"]
    True
    """
    student_features, teacher_features = _features(student, teacher, noisy)
    with torch.no_grad():
        _, other_features = teacher(noisy.roll(1, 0), return_features=True)
    generator = torch.Generator().manual_seed(seed)
    kinds = {
        "permuted": _complex_channels(teacher_features, lambda n: torch.randperm(n, generator=generator)),
        "half": _complex_channels(teacher_features, lambda n: torch.randperm(n, generator=generator)[: max(1, n // 2)]),
        "other_input": other_features,
        "student": student_features,
    }
    checks = {}
    for time_map in TIME_MAPS:
        loss = ATKLLoss(dims=["time"], time_map=time_map, layers=layers, **options)
        checks[time_map] = {}
        for kind, features in kinds.items():
            terms = loss.terms(features, teacher_features)
            checks[time_map][kind] = {"at": float(terms["at_time"]), "kl": float(terms["kl_time"])}
    return checks


def format_checks(checks):
    """A Markdown table of :func:`time_map_checks` (AT / KL per kind)."""
    kinds = list(next(iter(checks.values())))
    lines = ["| time map | " + " | ".join(f"{kind} AT / KL" for kind in kinds) + " |"]
    lines.append("|---|" + "---:|" * len(kinds))
    for time_map, row in checks.items():
        cells = [f"{row[kind]['at']:.3f} / {row[kind]['kl']:.3f}" for kind in kinds]
        lines.append(f"| {time_map} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_scales(rows):
    """A Markdown table of :func:`term_scales` rows with the mean of each dimension."""
    temperatures = list(rows[0]["kl"])
    header = ["layer", "dim", "student map"] + ["AT"] + [f"KL (T={t:g})" for t in temperatures]
    header += ["teacher max share", "teacher eff. bins"]
    lines = ["| " + " | ".join(header) + " |", "|---|---|---|" + "---:|" * (len(header) - 3)]
    for row in rows:
        channels, freq, frames = row["student_shape"]
        size = f"{freq}x{frames}" if row["dim"] == "channel" else f"{channels}x{freq}"
        values = [f"{row['at']:.2f}"] + [f"{row['kl'][t]:.2f}" for t in temperatures]
        values += [f"{row['max_share']:.3f}", f"{row['effective_bins']:.0f} / {row['bins']}"]
        lines.append(f"| {row['layer']} | {row['dim']} | {size} | " + " | ".join(values) + " |")
    for dim in ("time", "channel"):
        chosen = [row for row in rows if row["dim"] == dim]
        means = [sum(row["at"] for row in chosen) / len(chosen)]
        means += [sum(row["kl"][t] for row in chosen) / len(chosen) for t in temperatures]
        means += [sum(row["max_share"] for row in chosen) / len(chosen)]
        ratio = sum(row["effective_bins"] / row["bins"] for row in chosen) / len(chosen)
        cells = [f"**{value:.2f}**" for value in means[:-1]] + [f"**{means[-1]:.3f}**", f"**{ratio:.1%} of bins**"]
        lines.append(f"| mean | {dim} | | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def load_batch(paths, seconds):
    """The first ``seconds`` of each file, zero-padded, as a ``(batch, time)`` tensor."""
    length = round(seconds * SAMPLE_RATE)
    batch = torch.zeros(len(paths), length)
    for row, path in enumerate(paths):
        wav = load_audio(path, SAMPLE_RATE)[:length]
        batch[row, : wav.shape[-1]] = wav
    return batch


def load_model(source, seed=0):
    """A ``train.py`` output folder's trained model, or an untrained preset.

    An untrained preset (``"Uformer-light"``, ``"Distil-DCCRN"`` ...) is
    built with ``seed`` and left in train mode, so that its normalisation
    layers use batch statistics, as during distillation; a trained model is
    in eval mode.
    """
    if Path(source).is_dir():
        from speechbrain_atkl.loading import load_trained_model

        return load_trained_model(source)[0]
    from speechbrain_atkl.models.dccrn import DCCRN, DCCRN_PRESETS

    torch.manual_seed(seed)
    if source in DCCRN_PRESETS:
        return DCCRN.from_preset(source).train()
    if source.startswith("Uformer"):
        from speechbrain_atkl.models.uformer import Uformer

        return Uformer.from_preset(source).train()
    raise ValueError(f"{source!r} is neither a train.py output folder nor a DCCRN/Uformer preset name.")


def load_mixtures(paths, seconds, noise_paths=None, snr=5.0):
    """:func:`load_batch` of ``paths``, each mixed with a noise file at ``snr`` dB if ``noise_paths``."""
    batch = load_batch(paths, seconds)
    if not noise_paths:
        return batch
    noise = load_batch([noise_paths[row % len(noise_paths)] for row in range(len(paths))], seconds)
    return mix_at_snr(batch, noise, snr)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", required=True, help="train.py output folder of the teacher, or a preset name")
    parser.add_argument("--student", required=True, help="train.py output folder of the student, or a preset name")
    parser.add_argument("--audio", nargs="+", required=True, help="noisy (or, with --noise, clean) audio files, 16 kHz")
    parser.add_argument("--noise", nargs="+", help="noise files mixed into the audio files at --snr")
    parser.add_argument("--snr", type=float, default=5.0, help="SNR of the --noise mixtures (default: %(default)s dB)")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds of each file (default: %(default)s)")
    parser.add_argument("--files", type=int, default=8, help="at most this many files (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of untrained presets and permutations")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 4.0, 8.0])
    parser.add_argument("--energy", choices=ENERGY_MODES, default="log", help="ATKLLoss energy (default: %(default)s)")
    parser.add_argument(
        "--time-map", choices=TIME_MAPS, default="sorted", help="ATKLLoss time_map (default: %(default)s)"
    )
    parser.add_argument("--checks", action="store_true", help="also print the time-map checks table")
    args = parser.parse_args(argv)

    teacher = load_model(args.teacher, args.seed)
    student = load_model(args.student, args.seed + 1)
    noise = sorted(args.noise)[: args.files] if args.noise else None
    noisy = load_mixtures(sorted(args.audio)[: args.files], args.seconds, noise, args.snr)
    options = dict(energy=args.energy, time_map=args.time_map)
    print(format_scales(term_scales(student, teacher, noisy, args.temperatures, **options)))
    if args.checks:
        print()
        print(format_checks(time_map_checks(student, teacher, noisy, seed=args.seed, energy=args.energy)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
