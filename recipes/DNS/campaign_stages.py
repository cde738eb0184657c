"""What a campaign stage is: its command line, its number, its length and its ``train.py`` commands.

A stage (:mod:`recipes.DNS.campaign`) trains the shipped student on for a
number of audio-hours with one ``--recipe``; with ``--variant KEY=VALUE ...``
a *variant* of it trains beside it: the same command (same start, seeds and
mixtures) with those ``train.py`` overrides, so that each stage tries two
settings on the two halves of the machine and keeps the better one.

Authors
 * speechbrain-atkl developers 2026
"""

import argparse
import os
import re
import sys
from pathlib import Path

from recipes.DNS.campaign_card import ALONE
from speechbrain_atkl.data.holdout import VALID_BALANCES

REPO = Path(__file__).resolve().parents[2]
#: The preparation of new stages (their validation mixtures), under ``<work>/runs``.
PREPARED = "prepared_by_source"
#: Stage ``n`` mixes its training items with ``mixing_seed = DATA_SEED + n - 1``.
DATA_SEED = 1234
#: ``--recipe`` -> (its YAML under ``hparams/``, how the card describes the training).
RECIPES = {
    "alone": ("distil_dccrn.yaml", ALONE),
    "atkl_gtcrn": (
        "distil_dccrn_atkl_gtcrn.yaml",
        "Distil-DCCRN distilled by AT-KL from GTCRN's published DNS3 weights (Rong et al., ICASSP 2024; MIT licence)",
    ),
}
#: What a stage's ``train.py`` scores on the test set.
TEST_METRICS = "[pesq_wb, stoi, estoi, si_snr, si_snr_i, dnsmos_sig, dnsmos_bak, dnsmos_ovrl, dnsmos_p808]"


def default_work_dir(name="campaign"):
    """``$SPEECHBRAIN_ATKL_WORK/<name>``, else ``~/.cache/speechbrain-atkl/<name>``: outside any checkout.

    Example
    -------
    >>> os.environ["SPEECHBRAIN_ATKL_WORK"] = "/data/work"
    >>> str(default_work_dir()), str(default_work_dir("ablation"))
    ('/data/work/campaign', '/data/work/ablation')
    >>> del os.environ["SPEECHBRAIN_ATKL_WORK"]
    """
    root = os.environ.get("SPEECHBRAIN_ATKL_WORK") or Path.home() / ".cache" / "speechbrain-atkl"
    return Path(root) / name


def stage_steps(hours, batch_size, segment_seconds, valid_every):
    """Optimiser steps of a stage of ``hours`` audio-hours, a whole number of validation periods.

    Example
    -------
    >>> stage_steps(16, 8, 3.0, 300)
    2400
    """
    steps = hours * 3600 / (batch_size * segment_seconds)
    return max(1, round(steps / valid_every)) * valid_every


def next_stage_index(ledger, history):
    """The number of the next stage: after every stage named in the work folder's ledger or the shipped history.

    A lost work folder (a fresh machine) must not restart the count, and a
    stage that was not published (in the ledger, not in the history) must not
    be numbered again: the new stage would take the name, the run folder and
    the mixing seed of one already trained.

    >>> next_stage_index({"stages": []}, [{"stage": "release"}, {"stage": "student-atkl_gtcrn-stage5"}])
    6
    >>> next_stage_index({"stages": [{"name": "student-alone-stage6"}]}, [{"stage": "student-alone-stage5"}])
    7
    >>> next_stage_index({"stages": []}, [{"stage": "release"}])
    1
    """
    names = [stage["name"] for stage in ledger["stages"]] + [entry.get("stage", "") for entry in history]
    numbers = [int(match.group(1)) for name in names if (match := re.fullmatch(r"student-\w+-stage(\d+)", name))]
    return max(numbers, default=0) + 1


def train_command(args, name, mixing_seed, data_folder, runs, init_from, extra=()):
    """The ``train.py`` command of a stage (a list of arguments).

    ``extra``: ``KEY=VALUE`` overrides applied after ``--override``'s (a variant's).
    """
    epochs = stage_steps(args.stage_hours, args.batch_size, args.segment_seconds, args.valid_every) // args.valid_every
    options = {
        "data_folder": data_folder,
        "layout": "dns2020",
        "results_root": runs,
        "experiment_name": name,
        "seed": 1986,
        "mixing_seed": mixing_seed,
        "number_of_epochs": epochs,
        "epoch_size": args.valid_every * args.batch_size,
        "batch_size": args.batch_size,
        "segment_seconds": args.segment_seconds,
        "valid_seconds": args.valid_seconds,
        "prepare_folder": Path(runs) / PREPARED,
        "valid_count": args.valid_count,
        "valid_fraction": args.valid_fraction,
        "valid_balance": args.valid_balance,
        "valid_noise_count": args.valid_noise_count,
        "valid_snr_range": f"[{args.valid_snr_range[0]:g}, {args.valid_snr_range[1]:g}]",
        "num_workers": 0,
        "eval_num_workers": 1,
        "ckpt_interval_minutes": 10,
        "ckpt_key": "valid_si_snr",
        "average_checkpoints": epochs if epochs >= 2 else 0,  # one epoch: nothing to average
        "init_from": init_from,
        "test_metrics": TEST_METRICS,
        **({"teacher_checkpoint": args.teacher} if args.recipe != "alone" else {}),
        **dict(item.split("=", 1) for item in [*args.override, *extra]),
    }
    return [
        sys.executable, str(REPO / "train.py"), str(REPO / "hparams" / RECIPES[args.recipe][0]),
        *(f"--{key}={value}" for key, value in options.items()),
        f"--device={args.device}", "--noprogressbar",
    ]


#: The ledger key of a stage's variant, and the suffix of its run's name.
VARIANT = "variant"
#: The arm of a stage trained as ``--recipe`` and the overrides say (the other: :data:`VARIANT`).
STAGE = "stage"


def stage_recipe(name):
    """The ``--recipe`` a stage was recorded with, read from its name (``student-<recipe>-stage<n>``).

    A resumed stage trains with its recorded command whatever ``--recipe``
    says now, so its card must name the recipe it was recorded with.

    Example
    -------
    >>> stage_recipe("student-atkl_gtcrn-stage12")
    'atkl_gtcrn'
    >>> stage_recipe("release")
    Traceback (most recent call last):
    ValueError: release: not a campaign stage's name (student-<recipe>-stage<n>, recipe one of ['alone', 'atkl_gtcrn'])
    """
    match = re.fullmatch(r"student-(\w+)-stage\d+", name)
    if match is None or match.group(1) not in RECIPES:
        raise ValueError(
            f"{name}: not a campaign stage's name (student-<recipe>-stage<n>, recipe one of {sorted(RECIPES)})"
        )
    return match.group(1)


def stage_arms(stage):
    """``[(arm, run name, train.py command)]`` of a ledger stage: the stage, then its variant if it has one.

    Example
    -------
    >>> stage = {"name": "student-alone-stage3", "command": ["a"],
    ...          "variant": {"name": "student-alone-stage3-variant", "overrides": ["lr=1"], "command": ["b"]}}
    >>> stage_arms(stage)
    [('stage', 'student-alone-stage3', ['a']), ('variant', 'student-alone-stage3-variant', ['b'])]
    >>> stage_arms({"name": "student-alone-stage4", "command": ["c"]})
    [('stage', 'student-alone-stage4', ['c'])]
    """
    arms = [(STAGE, stage["name"], stage["command"])]
    if VARIANT in stage:
        arms.append((VARIANT, stage[VARIANT]["name"], stage[VARIANT]["command"]))
    return arms


def variant_record(args, name, mixing_seed, data_folder, runs, init_from):
    """The ledger record of stage ``name``'s variant (``--variant``), or None without one.

    Its run is ``<name>-variant``; its command is the stage's
    (:func:`train_command`, same seeds and start) with ``--variant``'s
    overrides after ``--override``'s.
    """
    if not args.variant:
        return None
    run = f"{name}-{VARIANT}"
    return {
        "name": run,
        "overrides": list(args.variant),
        "command": train_command(args, run, mixing_seed, data_folder, runs, init_from, extra=args.variant),
    }



def parse_args(argv=None):
    """The campaign's command line (``argv``: its arguments, default ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(description="Train the shipped student on, stage after stage.")
    add = parser.add_argument
    add("--data-dir", type=Path, default=REPO.parent / "shared" / "data", help="corpus (default: %(default)s)")
    add("--extra-clean", type=Path, nargs="*", help="more training speech (default: the corpus's clean_extra/)")
    add("--work-dir", type=Path, default=default_work_dir(), help="campaign folder (default: %(default)s)")
    add("--publish-dir", type=Path, default=REPO / "pretrained", help="shipped models (default: %(default)s)")
    add("--stage-hours", type=float, default=16.0, help="audio-hours per stage (default: %(default)s)")
    add("--batch-size", type=int, default=8)
    add("--segment-seconds", type=float, default=3.0)
    add("--valid-seconds", type=float, default=3.0,
        help="length of the validation mixtures, whatever --segment-seconds is (default: %(default)s)")
    add("--valid-every", type=int, default=300, help="steps between validations (default: %(default)s)")
    add("--valid-count", type=int, default=100)
    add("--valid-fraction", type=float, default=0.1, help="share of speakers held out (default: %(default)s)")
    add("--valid-balance", choices=VALID_BALANCES, default="subfolders",
        help="subfolders: as many validation speakers and mixtures from the corpus as from each --extra-clean "
             "folder (default: %(default)s)")
    add("--valid-noise-count", type=int, default=4, help="noise files held out for validation (default: %(default)s)")
    add("--valid-snr-range", type=float, nargs=2, default=[-5.0, 15.0], metavar=("LOW", "HIGH"),
        help="SNRs (dB) of the validation mixtures (default: the test set's, %(default)s)")
    add("--override", nargs="*", default=[], metavar="KEY=VALUE", help="further train.py overrides")
    add("--threads", type=int, help="torch threads of the trainer")
    add("--device", choices=("cpu", "cuda"), default="cpu")
    add("--stages", type=int, default=1, help="stages to run in this call (default: %(default)s)")
    add("--recipe", choices=sorted(RECIPES), default="alone", help="how new stages train (default: %(default)s)")
    add("--teacher", type=Path, help="GTCRN's published weights (gtcrn_dns3.pt), for --recipe atkl_gtcrn")
    add("--variant", nargs="*", default=[], metavar="KEY=VALUE",
        help="also train a variant of each new stage beside it: its command with these train.py overrides (same "
             "start, seeds and mixtures); the better of the two on validation is the stage's candidate")
    return parser.parse_args(argv)


def stages_left(argv, count):
    """``argv`` with ``--stages`` set to ``count``: what a restarted campaign has left to run.

    >>> stages_left(["--stages", "3", "--threads", "1"], 2)
    ['--threads', '1', '--stages', '2']
    >>> stages_left(["--stages=3"], 1)
    ['--stages', '1']
    """
    kept, skip = [], False
    for item in argv:
        if skip or item.startswith("--stages="):
            skip = False
            continue
        skip = item == "--stages"
        if not skip:
            kept.append(item)
    return [*kept, "--stages", str(count)]


