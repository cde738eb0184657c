#!/usr/bin/env python3
"""Where a model fails on the study's fixed test set: its scores per noise, speaker and input SNR, and on clean speech.

Enhances every test item of a ``split.json`` (the fixed held-out test set
written by :func:`recipes.DNS.study_data.build_study_data`) with each system
(published model folders, and GTCRN's published weights with ``--gtcrn``)
and prints Markdown tables, one column per system:

* SI-SNR improvement (dB) and wide-band PESQ grouped by noise recording
  (``noise_source``), by speaker and by input SNR (``snr_db``), with the
  number of items per group and the noisy input's own score;
* transparency: the SI-SNR (dB) of each system's output when its input is
  the clean reference itself, grouped by speaker: how much the model damages
  clean speech (removing part of the reference, such as infrasonic rumble,
  counts as distortion);
* the overall means, comparable with a run's ``test_metrics.json``.

::

    nice -n 10 python benchmarks/test_breakdown.py pretrained/distil-dccrn-shared16k \\
        --gtcrn ../shared/peers/gtcrn/gtcrn_dns3.pt --threads 1 > /tmp/test_breakdown.md
    python benchmarks/test_breakdown.py MODEL_FOLDER --split DATA/split.json --no-pesq   # quicker

The split defaults to the campaign's, ``<work dir>/data/split.json`` (else
``data_by_source/split.json``, the same test set, in a work folder laid since) with the
work dir of :func:`recipes.DNS.campaign.default_work_dir`
(``$SPEECHBRAIN_ATKL_WORK/campaign``, else ``~/.cache/speechbrain-atkl/campaign``).
The progress bars go to stderr, the tables to stdout; this script loads and scores the systems,
:mod:`benchmarks.breakdown_tables` writes the tables.

Authors
 * speechbrain-atkl developers 2026
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: the repository root, home of the recipes package

from benchmarks.breakdown_tables import GROUPINGS, report  # noqa: E402
from recipes.DNS.campaign import DATA_FOLDER, FIRST_DATA_FOLDER, default_work_dir  # noqa: E402
from speechbrain_atkl.evaluation.metrics import (  # noqa: E402
    WORST_SCORES,
    UnscorableError,
    pesq_wb,
    si_snr,
)

SAMPLE_RATE = 16000
SPLIT_MAKER = "recipes.DNS.study_data.build_study_data"
MODEL_FOLDER = "a published model folder (hyperparams.yaml and its weights, as speechbrain_atkl.publishing writes)"


class BreakdownError(ValueError):
    """A missing or malformed input (split, test audio, model); the message names it and what was expected."""


def default_split(work_dir=None):
    """The campaign's split: ``<work>/data/split.json``, else (a work folder laid since) ``data_by_source``'s.

    Both hold the same fixed test set (the campaign copies it byte for byte);
    ``work_dir`` defaults to the campaign's work folder.

    Example
    -------
    >>> import tempfile
    >>> work = Path(tempfile.mkdtemp())
    >>> default_split(work).parts[-2:]
    ('data_by_source', 'split.json')
    >>> (work / "data").mkdir()
    >>> _ = (work / "data" / "split.json").write_text("{}")
    >>> default_split(work).parts[-2:]
    ('data', 'split.json')
    """
    work = default_work_dir() if work_dir is None else Path(work_dir)
    first = work / FIRST_DATA_FOLDER / "split.json"
    return first if first.is_file() else work / DATA_FOLDER / "split.json"


def read_test_items(path):
    """The ``test_items`` of a study ``split.json``, every clean and noisy file checked to exist.

    Arguments
    ---------
    path : str or pathlib.Path
        The split, written by :func:`recipes.DNS.study_data.build_study_data`.

    Returns
    -------
    list of dict
        One ``{"fileid", "snr_db", "speaker", "noise_source", "clean", "noisy", ...}`` per item.

    Raises
    ------
    BreakdownError
        If the file is missing or not such a split, or a test file is missing.

    Example
    -------
    >>> try:
    ...     read_test_items("/nowhere/split.json")
    ... except BreakdownError as error:
    ...     print(error)
    split /nowhere/split.json: not found; expected the study's split.json with its test_items ...
    """
    path = Path(path)
    expected = f"expected the study's split.json with its test_items (written by {SPLIT_MAKER} into its data folder)"
    if not path.is_file():
        raise BreakdownError(f"split {path}: not found; {expected}.")
    try:
        items = json.loads(path.read_text(encoding="utf-8"))["test_items"]
    except (ValueError, KeyError, TypeError) as error:
        raise BreakdownError(f"split {path}: unreadable or without test_items ({error!r}); {expected}.") from None
    if not items:
        raise BreakdownError(f"split {path}: test_items is empty; {expected}.")
    needed = {"fileid", "clean", "noisy", *(key for key, _ in GROUPINGS)}
    for item in items:
        missing = needed - set(item)
        if missing:
            raise BreakdownError(f"split {path}: test item {item.get('fileid')} lacks {sorted(missing)}; {expected}.")
        for role in ("clean", "noisy"):
            if not Path(item[role]).is_file():
                raise BreakdownError(
                    f"split {path}: the {role} file of test item {item['fileid']}, {item[role]}, is missing "
                    f"(the split's data folder moved or was deleted? {SPLIT_MAKER} writes it again)."
                )
    return items


def load_signals(items):
    """``{fileid: (clean, noisy)}``: each item's waveforms, float32 tensors ``(time,)`` at 16 kHz."""
    from speechbrain_atkl.data.audio import load_audio

    return {item["fileid"]: (load_audio(item["clean"], SAMPLE_RATE), load_audio(item["noisy"], SAMPLE_RATE))
            for item in items}


def load_published(folder, savedir, device="cpu"):
    """An enhancing function ``(time,) -> (time,)`` of a published model folder (``EnhanceBatch``).

    Arguments
    ---------
    folder : str or pathlib.Path
        The model folder.
    savedir : str or pathlib.Path
        An empty folder for ``EnhanceBatch.from_hparams``'s links to its files.
    device : str
        Where the model runs.

    Returns
    -------
    callable
        ``wav (time,) tensor -> enhanced (time,) tensor`` on the CPU.

    Raises
    ------
    BreakdownError
        If the folder is missing, has no ``hyperparams.yaml`` or a rate other than 16 kHz.

    Example
    -------
    >>> try:
    ...     load_published("/nowhere/model", "/tmp/unused")
    ... except BreakdownError as error:
    ...     print(error)
    model folder /nowhere/model: not found; expected a published model folder (hyperparams.yaml ...
    """
    from speechbrain_atkl import EnhanceBatch

    folder = Path(folder)
    if not folder.is_dir():
        raise BreakdownError(f"model folder {folder}: not found; expected {MODEL_FOLDER}.")
    if not (folder / "hyperparams.yaml").is_file():
        raise BreakdownError(f"model folder {folder}: no hyperparams.yaml in it; expected {MODEL_FOLDER}.")
    enhancer = EnhanceBatch.from_hparams(source=str(folder), savedir=str(savedir), run_opts={"device": device})
    if enhancer.sample_rate != SAMPLE_RATE:
        raise BreakdownError(f"model folder {folder}: a {enhancer.sample_rate} Hz model; the test set is 16 kHz.")
    return lambda wav: enhancer.enhance_batch(wav[None])[0].cpu()


def load_gtcrn(path, device="cpu"):
    """An enhancing function ``(time,) -> (time,)`` of GTCRN's published weights (the ``GTCRN`` preset).

    Raises
    ------
    BreakdownError
        If the file is missing.

    Example
    -------
    >>> try:
    ...     load_gtcrn("/nowhere/gtcrn_dns3.pt")
    ... except BreakdownError as error:
    ...     print(error)
    --gtcrn /nowhere/gtcrn_dns3.pt: not found; expected GTCRN's published weights (gtcrn_dns3.pt).
    """
    import torch

    from speechbrain_atkl.models.gtcrn.model import GTCRN
    from speechbrain_atkl.training.checkpoints import load_teacher

    if not Path(path).is_file():
        raise BreakdownError(f"--gtcrn {path}: not found; expected GTCRN's published weights (gtcrn_dns3.pt).")
    model = load_teacher(path, GTCRN.from_preset("GTCRN")).to(device)

    def enhance(wav):
        with torch.no_grad():
            return model(wav[None].to(device))[0].cpu()

    return enhance


def system_names(folders):
    """A column name per model folder: its name, or its path where two folders share a name.

    Example
    -------
    >>> system_names(["pretrained/student", "runs/a/student", "probe/release"])
    ['pretrained/student', 'runs/a/student', 'release']
    """
    names = [Path(folder).name for folder in folders]
    return [name if names.count(name) == 1 else str(folder) for name, folder in zip(names, folders)]


def scored(metric, estimate, reference):
    """``metric(estimate, reference)``, or its worst score when the estimate cannot be scored (silent, NaN...).

    Example
    -------
    >>> import numpy as np
    >>> scored(si_snr, np.zeros(16000), np.ones(16000))
    -50.0
    """
    try:
        return metric(estimate, reference)
    except UnscorableError:
        return WORST_SCORES[metric.__name__]


def input_scores(signals, pesq=True):
    """The noisy input's own scores: ``{"si_snr": {fileid: dB}, "pesq_wb": {fileid: MOS}}``.

    Example
    -------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> clean, noise = rng.standard_normal(16000), rng.standard_normal(16000)
    >>> round(input_scores({7: (clean, clean + 0.1 * noise)}, pesq=False)["si_snr"][7], 1)
    20.0
    """
    scores = {"si_snr": {fileid: si_snr(noisy, clean) for fileid, (clean, noisy) in signals.items()}}
    if pesq:
        scores["pesq_wb"] = {fileid: pesq_wb(noisy, clean) for fileid, (clean, noisy) in signals.items()}
    return scores


def score_system(enhance, signals, pesq=True, name=None, progress=False):
    """One system's scores on every item, on its noisy input and on the clean reference as input.

    Arguments
    ---------
    enhance : callable
        ``wav (time,) tensor -> enhanced (time,)``.
    signals : dict
        ``{fileid: (clean, noisy)}`` (:func:`load_signals`).
    pesq : bool
        Also score wide-band PESQ.
    name : str or None
        The progress bar's label.
    progress : bool
        Show a progress bar (on stderr).

    Returns
    -------
    dict
        ``{"si_snr_i": {fileid: dB}, "transparency": {fileid: dB}[, "pesq_wb": {fileid: MOS}]}``;
        ``transparency`` is the SI-SNR of ``enhance(clean)`` against ``clean``. An output that cannot be
        scored (silent, NaN, wrong length) gets the metric's worst score (:func:`scored`).

    Example
    -------
    >>> import torch
    >>> clean = torch.sin(torch.arange(16000) * 0.1)
    >>> noisy = clean + 0.1 * torch.randn(16000, generator=torch.Generator().manual_seed(0))
    >>> scores = score_system(lambda wav: wav, {3: (clean, noisy)}, pesq=False)
    >>> scores["si_snr_i"][3], scores["transparency"][3] > 60
    (0.0, True)
    """
    from tqdm import tqdm

    scores = {"si_snr_i": {}, "transparency": {}, **({"pesq_wb": {}} if pesq else {})}
    for fileid, (clean, noisy) in tqdm(signals.items(), desc=name, disable=not progress, dynamic_ncols=True):
        enhanced = enhance(noisy)
        scores["si_snr_i"][fileid] = scored(si_snr, enhanced, clean) - si_snr(noisy, clean)
        if pesq:
            scores["pesq_wb"][fileid] = scored(pesq_wb, enhanced, clean)
        scores["transparency"][fileid] = scored(si_snr, enhance(clean), clean)
    return scores


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", type=Path, nargs="*", help="published model folders (EnhanceBatch)")
    parser.add_argument("--gtcrn", type=Path, help="also GTCRN, from its published weights (gtcrn_dns3.pt)")
    parser.add_argument("--split", type=Path, default=default_split(), help="the study split (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    parser.add_argument("--device", default="cpu", help="where the models run (default: %(default)s)")
    parser.add_argument("--no-pesq", dest="pesq", action="store_false", help="skip wide-band PESQ")
    parser.add_argument("--noprogressbar", dest="progress", action="store_false", help="no progress bars")
    args = parser.parse_args(argv)
    if not args.models and args.gtcrn is None:
        parser.error("give at least one model folder or --gtcrn")

    import torch

    torch.set_num_threads(args.threads)
    try:
        items = read_test_items(args.split)
        with tempfile.TemporaryDirectory(prefix="test_breakdown-") as links:
            enhancers = {name: load_published(folder, Path(links) / str(index), args.device)
                         for index, (name, folder) in enumerate(zip(system_names(args.models), args.models))}
            if args.gtcrn is not None:
                enhancers["GTCRN"] = load_gtcrn(args.gtcrn, args.device)
            signals = load_signals(items)
            inputs = input_scores(signals, args.pesq)
            systems = {name: score_system(enhance, signals, args.pesq, name, args.progress)
                       for name, enhance in enhancers.items()}
    except BreakdownError as error:
        sys.exit(f"test_breakdown.py: {error}")
    print(report(items, inputs, systems, args.split))
    return 0


if __name__ == "__main__":
    sys.exit(main())
