"""The distillation study's plan: budgets, systems, runs and their ``train.py`` commands.

Part of ``recipes/DNS/study.py`` (see its docstring).


Authors
 * speechbrain-atkl developers 2026
"""

import dataclasses
import math
import sys
from pathlib import Path

from recipes.DNS.study_data import StudyError

REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------- budgets
@dataclasses.dataclass(frozen=True)
class Budget:
    """How much each run trains and how large the test set is.

    Arguments
    ---------
    number_of_epochs, epoch_size, batch_size, segment_seconds, valid_count :
        Passed to every ``train.py`` run (``epoch_size`` dynamically mixed
        items of ``segment_seconds`` per epoch; ``valid_count`` fixed
        validation mixtures).
    test_count : int
        Test items, spread evenly over :data:`study_data.TEST_SNRS`.
    test_seconds : float
        Longest test item (longer utterances are cut to a seeded window).
    num_workers, eval_num_workers : int
        DataLoader and scoring processes of each run.
    extra : tuple of (str, str)
        Further ``train.py`` overrides.
    """

    number_of_epochs: int
    epoch_size: int
    batch_size: int
    segment_seconds: float
    valid_count: int
    test_count: int
    test_seconds: float
    num_workers: int = 0
    eval_num_workers: int = 2
    extra: tuple = ()

    def overrides(self):
        """The ``train.py`` overrides shared by every run of this budget."""
        keys = ("number_of_epochs", "epoch_size", "batch_size", "segment_seconds", "valid_count")
        keys += ("num_workers", "eval_num_workers")
        return tuple((key, str(getattr(self, key))) for key in keys) + self.extra

    def steps_per_epoch(self):
        """Optimiser steps per epoch (one process)."""
        return math.ceil(self.epoch_size / self.batch_size)

    def describe(self):
        """One line stating what every run does."""
        return (
            f"{self.number_of_epochs} epochs x {self.epoch_size} items "
            f"({self.steps_per_epoch()} steps of batch {self.batch_size}) of "
            f"{self.segment_seconds:g} s segments, {self.valid_count} validation mixtures, "
            f"{self.test_count} test items of <= {self.test_seconds:g} s"
        )


BUDGETS = {
    "small": Budget(5, 112, 8, 2.0, 20, 20, 6.0),
    "full": Budget(8, 160, 8, 3.0, 40, 40, 8.0),
    # Hidden: proves the pipeline in seconds (tests).
    "micro": Budget(
        1,
        4,
        2,
        0.5,
        2,
        5,
        1.0,
        eval_num_workers=0,
        extra=(("test_metrics", "[pesq_wb, stoi, si_snr, si_snr_i]"), ("ckpt_interval_minutes", "0")),
    ),
}


# ---------------------------------------------------------------------- systems
@dataclasses.dataclass(frozen=True)
class System:
    """One trained system of the study.

    Arguments
    ---------
    name : str
        ``experiment_name`` of its runs (their folder under the results root).
    label : str
        Its row in the results table.
    yaml : str
        Recipe YAML under ``hparams/``.
    overrides : tuple of (str, str)
        Extra ``train.py`` overrides (the ablation).
    teacher : str or None
        Name of the system whose first-seed run is its teacher (distilled
        systems only).
    steps_factor : int
        Multiplies the budget's epochs (the 4x-steps group).
    every_seed : bool
        Runs with every seed (the key comparisons), else with the first.
    paired_with : str or None
        The system it is compared with seed by seed (below the table).
    cost : float
        Measured single-thread CPU-seconds of training per second of audio
        (batch 8 x 2 s steps), for :func:`estimate_seconds`.
    """

    name: str
    label: str
    yaml: str
    overrides: tuple = ()
    teacher: str = None
    steps_factor: int = 1
    every_seed: bool = False
    paired_with: str = None
    cost: float = 0.35

    @property
    def distilled(self):
        return self.teacher is not None


TEACHER = "uformer"
STUDENT_ALONE = "distil_dccrn"
STUDENT_ATKL = "distil_dccrn_atkl"
STUDENT_ATKL_T8 = "atkl_t8"
LONG_TEACHER = "uformer_long"
STUDENT_FIXED = "atkl_t8_long_teacher"
STUDENT_ALONE_4X = "distil_dccrn_4x"
STUDENT_FIXED_4X = "atkl_t8_4x"
# The KL temperature of the fixes (see the comment above STUDENT_ATKL_T8 below).
KL_TEMPERATURE_8 = (("atkl_temperature", "8.0"),)
SYSTEMS = (
    System(TEACHER, "Uformer-light (teacher)", "uformer.yaml", cost=0.41),
    System("dccrn", "DCCRN-E", "dccrn.yaml", cost=0.33),
    System(STUDENT_ALONE, "Distil-DCCRN alone", "distil_dccrn.yaml", every_seed=True, cost=0.19),
    System(
        STUDENT_ATKL,
        "Distil-DCCRN + AT-KL",
        "distil_dccrn_atkl.yaml",
        teacher=TEACHER,
        every_seed=True,
        paired_with=STUDENT_ALONE,
    ),
    System(
        "atkl_output_only",
        "ablation: output-only distillation (no AT-KL)",
        "distil_dccrn_atkl.yaml",
        (("feature_weight", "0.0"),),
        teacher=TEACHER,
        cost=0.31,
    ),
    System(
        "atkl_no_kl",
        "ablation: attention transfer without KL",
        "distil_dccrn_atkl.yaml",
        (("atkl_kl_weight", "0.0"),),
        teacher=TEACHER,
    ),
    System(
        "atkl_no_at",
        "ablation: KL without attention transfer",
        "distil_dccrn_atkl.yaml",
        (("atkl_at_weight", "0.0"),),
        teacher=TEACHER,
    ),
    System(
        "atkl_time_only",
        "ablation: time-dimension AT-KL only",
        "distil_dccrn_atkl.yaml",
        (("atkl_dims", "[time]"),),
        teacher=TEACHER,
    ),
    System(
        "atkl_channel_only",
        "ablation: channel-dimension AT-KL only",
        "distil_dccrn_atkl.yaml",
        (("atkl_dims", "[channel]"),),
        teacher=TEACHER,
    ),
    # Fixes tried after the ablations (docs/study.md, "Why AT-KL did not help"): the channel-dimension KL
    # on the large early/late maps is 15-30 nats at temperature 1 and swamps every other term;
    # at temperature 8 it is 0.3-1.6, the scale of the attention-transfer terms.
    System(
        STUDENT_ATKL_T8,
        "fix: AT-KL with KL temperature 8",
        "distil_dccrn_atkl.yaml",
        KL_TEMPERATURE_8,
        teacher=TEACHER,
        every_seed=True,
        paired_with=STUDENT_ALONE,
    ),
    # The teacher barely beats its input after the budget's steps: train one 4x as long ...
    System(LONG_TEACHER, "Uformer-light, 4x the steps (stronger teacher)", "uformer.yaml", steps_factor=4, cost=0.41),
    # ... and distil the student (same budget as every student) from it, with the temperature fix.
    System(
        STUDENT_FIXED,
        "fix: AT-KL with KL temperature 8, from the 4x-steps teacher",
        "distil_dccrn_atkl.yaml",
        KL_TEMPERATURE_8,
        teacher=LONG_TEACHER,
        every_seed=True,
        paired_with=STUDENT_ALONE,
    ),
    # Last, the key comparison again with teacher and students all at 4x the steps.
    System(
        STUDENT_ALONE_4X,
        "Distil-DCCRN alone, 4x the steps",
        "distil_dccrn.yaml",
        steps_factor=4,
        every_seed=True,
        cost=0.19,
    ),
    System(
        STUDENT_FIXED_4X,
        "fix: AT-KL with KL temperature 8, teacher and student at 4x the steps",
        "distil_dccrn_atkl.yaml",
        KL_TEMPERATURE_8,
        teacher=LONG_TEACHER,
        steps_factor=4,
        every_seed=True,
        paired_with=STUDENT_ALONE_4X,
    ),
)
SYSTEM_NAMES = tuple(system.name for system in SYSTEMS)


@dataclasses.dataclass(frozen=True)
class Run:
    """One ``train.py`` run: a system and a seed."""

    system: System
    seed: int

    @property
    def key(self):
        return f"{self.system.name}/{self.seed}"

    def output(self, results_root):
        """The run's output folder (the YAML's ``<results_root>/<experiment_name>/<seed>``)."""
        return Path(results_root) / self.system.name / str(self.seed)

    def finished(self, results_root):
        return (self.output(results_root) / "test_metrics.json").is_file()


def select_systems(names=None):
    """The systems to run, in study order; the teacher joins any distilled system.

    Example
    -------
    >>> [s.name for s in select_systems(["distil_dccrn_atkl"])]
    ['uformer', 'distil_dccrn_atkl']
    >>> [s.name for s in select_systems(["atkl_t8_long_teacher"])]
    ['uformer_long', 'atkl_t8_long_teacher']
    """
    if not names:
        return SYSTEMS
    unknown = sorted(set(names) - set(SYSTEM_NAMES))
    if unknown:
        raise StudyError(f"Unknown system(s) {unknown}; choose from {list(SYSTEM_NAMES)}.")
    wanted = set(names)
    wanted |= {system.teacher for system in SYSTEMS if system.name in wanted and system.distilled}
    return tuple(system for system in SYSTEMS if system.name in wanted)


def plan_runs(systems, seeds):
    """Every run, teacher first: key systems with each seed, the others with the first.

    Example
    -------
    >>> runs = plan_runs(SYSTEMS, [1986, 1987, 1988])
    >>> len(runs), runs[0].key
    (26, 'uformer/1986')
    """
    if not seeds:
        raise StudyError("At least one seed is needed.")
    return [Run(system, seed) for system in systems for seed in (seeds if system.every_seed else seeds[:1])]


# Start-up of a run (imports, environment record, model building), seconds.
STARTUP_SECONDS = 10.0
# CPU-seconds to score one test item, noisy and enhanced: DNSMOS (run on both) and the other metrics.
SCORE_SECONDS = {"dnsmos": 3.0, "other": 0.3}
# What a second torch thread may gain on an idle 2-core CPU (not measured): from 1.5 times the speed to nothing.
THREAD_GAIN = (1.5, 1.0)


def estimate_seconds(runs, budget):
    """Estimated wall time of ``runs`` on an idle 2-core CPU: ``(low, high)`` seconds.

    Training and validation scale with the measured :attr:`System.cost`
    (a forward pass costs a third of a training step); scoring runs on
    ``eval_num_workers`` processes.

    Example
    -------
    >>> low, high = estimate_seconds(plan_runs(SYSTEMS, [1986, 1987, 1988]), BUDGETS["small"])
    >>> round(low / 60), round(high / 60)  # minutes
    (211, 307)
    """
    scoring = SCORE_SECONDS[
        "dnsmos" if "dnsmos" in dict(budget.extra).get("test_metrics", "dnsmos") else "other"
    ]
    totals = []
    for gain in THREAD_GAIN:
        total = 0.0
        for run in runs:
            cost = run.system.cost
            epochs = budget.number_of_epochs * run.system.steps_factor
            train = epochs * budget.epoch_size * budget.segment_seconds * cost
            valid = epochs * budget.valid_count * (budget.segment_seconds * cost / 3 + 0.05)
            test = budget.test_count * (budget.test_seconds * cost / 3 + scoring)
            total += STARTUP_SECONDS + (train + valid) / gain + test / max(1, budget.eval_num_workers)
        totals.append(total)
    return tuple(totals)


def train_command(run, budget, data_folder, results_root, teacher_seed, device="cpu"):
    """The ``train.py`` command line of a run (a list of arguments).

    A distilled run learns from the ``teacher_seed`` run of its teacher system.
    """
    options = dict(budget.overrides())
    options["number_of_epochs"] = str(budget.number_of_epochs * run.system.steps_factor)
    options.update(
        data_folder=str(data_folder),
        layout="dns2020",
        results_root=str(results_root),
        experiment_name=run.system.name,
        seed=str(run.seed),
    )
    options.update(run.system.overrides)
    if run.system.distilled:
        options["teacher_checkpoint"] = str(Path(results_root) / run.system.teacher / str(teacher_seed))
    return [
        sys.executable,
        str(REPO / "train.py"),
        str(REPO / "hparams" / run.system.yaml),
        *(f"--{key}={value}" for key, value in options.items()),
        f"--device={device}",
        "--noprogressbar",
    ]


