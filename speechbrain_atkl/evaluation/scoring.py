"""Scoring many utterances, in parallel over CPU cores.

Each item gives an utterance ``id``, its ``enhanced`` signal, the ``clean``
reference and optionally the ``noisy`` input, as 1-D 16 kHz arrays/tensors or as
audio file paths. The noisy input is scored like a system of its own, so a
report compares "noisy" with "enhanced" on the same utterances. Each utterance
is scored by :class:`~speechbrain_atkl.evaluation.utterance_scorer.UtteranceScorer`
(which failures exclude an utterance and which count against the system: see
:mod:`~speechbrain_atkl.evaluation.utterance_scorer`).

Utterances excluded for a problem of their reference data are left out of every
system and listed with the reason. With worker processes, utterances lost to
a dead worker (e.g. killed for memory) are listed in ``ScoringResults.lost``;
the others are kept.

Worker processes run one BLAS/OpenMP thread each (:data:`WORKER_THREADS_ENV`):
``num_workers`` processes on as many cores, not each one spinning threads of
its own on all of them.

Usage at test time, e.g. from a Brain's ``on_stage_end``::

    results = score_utterances(items, num_workers=4)
    summary = write_report(results, "results/test_scores")

Authors
 * speechbrain-atkl developers 2026
"""

import contextlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from speechbrain_atkl.evaluation.metrics import UnscorableError, as_waveform
from speechbrain_atkl.evaluation.utterance_scorer import METRICS, UtteranceScorer

SYSTEMS = ("noisy", "enhanced")
LOST_REASON = (
    "not scored: a scoring worker process died (killed, e.g. for lack of memory) "
    "before this utterance was done; score it again with fewer --num-workers"
)
#: Environment of the worker processes: one thread per math library, set before
#: they import numpy/torch (read once at import), so that ``num_workers``
#: processes use ``num_workers`` cores.
WORKER_THREADS_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass
class ScoringResults:
    """Scores of many utterances, as returned by :func:`score_utterances`.

    Arguments
    ---------
    metrics : list of str
        Metric names, in column order.
    systems : list of str
        ``["noisy", "enhanced"]`` when noisy inputs were given, else ``["enhanced"]``.
    rows : list of dict
        One ``{"id", "system", <metric>: float, ..., "failed": {metric: reason}}``
        per scored utterance and system; ``failed`` names the metrics that got
        the worst score because the output failed (empty when none did).
    skipped : list of tuple
        ``(id, reason)`` for each utterance excluded for a problem of its
        reference data (or left unpaired).
    lost : list of tuple
        ``(id, reason)`` for each utterance lost to a dead worker process.
    """

    metrics: list
    systems: list
    rows: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    lost: list = field(default_factory=list)


def resolve_metrics(metrics, items):
    """Validates the metric names, defaulting to every metric that applies.

    Arguments
    ---------
    metrics : list of str, str or None
        Names from ``METRICS`` (one name alone may be given as a string);
        None selects all of them, leaving out ``si_snr_i`` unless every item
        has a noisy input.
    items : list of dict
        The utterances to score.

    Returns
    -------
    list of str
        The metric names without duplicates.

    Example
    -------
    >>> resolve_metrics(None, [{"id": "a", "enhanced": 0, "clean": 0}])[:5]
    ['pesq_wb', 'stoi', 'estoi', 'si_snr', 'dnsmos_sig']
    >>> resolve_metrics(["pesq"], [])
    Traceback (most recent call last):
    ...
    ValueError: Unknown metric 'pesq'; choose from pesq_wb, stoi, estoi, si_snr, si_snr_i, dnsmos_sig, dnsmos_bak,
    dnsmos_ovrl, dnsmos_p808.
    """
    without_noisy = [item["id"] for item in items if item.get("noisy") is None]
    if isinstance(metrics, str):
        metrics = [metrics]
    if metrics is None:
        return [m for m in METRICS if m != "si_snr_i" or not without_noisy]
    for metric in metrics:
        if metric not in METRICS:
            raise ValueError(
                f"Unknown metric {metric!r}; choose from {', '.join(METRICS)}."
            )
    if "si_snr_i" in metrics and without_noisy:
        raise ValueError(
            f"Metric si_snr_i needs the noisy input, which item "
            f"{without_noisy[0]!r} lacks."
        )
    return list(dict.fromkeys(metrics))


def _score_or_reason(scorer, item):
    """``(rows, None)`` for a scored item, ``(None, reason)`` otherwise."""
    try:
        return scorer(item), None
    except UnscorableError as err:
        return None, str(err)


_worker_scorer = None


def _start_worker(metrics, dnsmos_threads):
    """Process-pool initializer: one scorer (and DNSMOS sessions) per worker."""
    global _worker_scorer
    _worker_scorer = UtteranceScorer(metrics, dnsmos_threads)


def _score_in_worker(item):
    return _score_or_reason(_worker_scorer, item)


@contextlib.contextmanager
def _worker_environment():
    """Sets :data:`WORKER_THREADS_ENV` for the processes started inside, then restores it."""
    saved = {name: os.environ.get(name) for name in WORKER_THREADS_ENV}
    os.environ.update(WORKER_THREADS_ENV)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _prepare_items(items):
    """Checks the item dicts; converts arrays/tensors to numpy for pickling."""
    prepared, seen = [], set()
    for position, item in enumerate(items):
        for key in ("id", "enhanced", "clean"):
            if key not in item:
                raise ValueError(f"Item {position} has no {key!r} entry: {item!r:.200}")
        if item["id"] in seen:
            raise ValueError(f"Duplicate utterance id {item['id']!r}.")
        seen.add(item["id"])
        ready = {"id": item["id"]}
        for name in ("enhanced", "clean", "noisy"):
            source = item.get(name)
            if source is not None and not isinstance(source, (str, Path)):
                source = as_waveform(source, f"{name} of {item['id']!r}")
            ready[name] = source
        prepared.append(ready)
    return prepared


def score_utterances(
    items, metrics=None, num_workers=0, dnsmos_threads=None, progress=True, noisy_cache=None
):
    """Scores many utterances, noisy inputs included, skipping unscorable ones.

    Arguments
    ---------
    items : iterable of dict
        ``{"id": str, "enhanced": ..., "clean": ..., "noisy": ... (optional)}``;
        each signal a 1-D 16 kHz numpy array or torch tensor, or an audio file
        path (resampled to 16 kHz, channels averaged).
    metrics : list of str, optional
        Names from ``METRICS``; default: all (``si_snr_i`` only when every item
        has a noisy input).
    num_workers : int
        Worker processes; 0 or 1 scores in this process. Workers are spawned
        (not forked), so this is safe after torch/CUDA has been used; as with
        any spawned pool, a script calling this must guard its top-level code
        with ``if __name__ == "__main__":``. Each worker runs one BLAS/OpenMP
        thread (:data:`WORKER_THREADS_ENV`).
    dnsmos_threads : int, optional
        Threads per DNSMOS ONNX session; default: ONNX Runtime's choice in
        process, 1 per worker.
    progress : bool
        Show a tqdm progress bar.
    noisy_cache : NoisyScoreCache, optional
        Reuses the noisy inputs' scores stored by an earlier evaluation of the
        same noisy/clean signals and stores the new ones
        (:mod:`~speechbrain_atkl.evaluation.noisy_cache`).

    Returns
    -------
    ScoringResults
        Rows in item order (noisy before enhanced), skipped utterances (a
        problem of their reference data) and utterances lost to a dead worker.

    Example
    -------
    >>> import numpy as np
    >>> clean = np.random.default_rng(0).standard_normal(16000)
    >>> items = [
    ...     {"id": "good", "enhanced": clean + 0.1, "clean": clean},
    ...     {"id": "silent", "enhanced": np.zeros(16000), "clean": clean},
    ... ]
    >>> results = score_utterances(items, metrics=["si_snr"], progress=False)
    >>> [(row["id"], row["si_snr"]) for row in results.rows][1], results.skipped
    (('silent', -50.0), [])
    >>> results.rows[1]["failed"]
    {'si_snr': 'enhanced is silent (peak amplitude 0 <= 1e-05)'}
    """
    items = _prepare_items(items)
    metrics = resolve_metrics(metrics, items)
    has_noisy = any(item["noisy"] is not None for item in items)
    results = ScoringResults(
        metrics=metrics, systems=list(SYSTEMS) if has_noisy else ["enhanced"]
    )
    keys = {}
    if noisy_cache is not None:
        for item in items:
            if item["noisy"] is not None:
                keys[item["id"]] = noisy_cache.key(item["noisy"], item["clean"])
                item["noisy_scores"] = noisy_cache.get(keys[item["id"]], metrics)
    bar = tqdm(total=len(items), desc="Scoring", unit="utt", disable=not progress)
    if num_workers <= 1:
        scorer = UtteranceScorer(metrics, dnsmos_threads)
        outcomes = []
        for item in items:
            outcomes.append(_score_or_reason(scorer, item))
            bar.update()
    else:
        outcomes = [None] * len(items)
        with _worker_environment(), ProcessPoolExecutor(
            max_workers=num_workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(metrics, dnsmos_threads or 1),
        ) as pool:
            futures = {
                pool.submit(_score_in_worker, item): position
                for position, item in enumerate(items)
            }
            for future in as_completed(futures):
                try:
                    outcomes[futures[future]] = future.result()
                except BrokenProcessPool:
                    pass  # the item stays None: lost
                bar.update()
    bar.close()
    for item, outcome in zip(items, outcomes):
        if outcome is None:
            results.lost.append((item["id"], LOST_REASON))
        elif outcome[1] is None:
            results.rows.extend(outcome[0])
            if item["id"] in keys and not item["noisy_scores"]:
                noisy_row = outcome[0][0]
                noisy_cache.put(keys[item["id"]], {metric: noisy_row[metric] for metric in metrics})
        else:
            results.skipped.append((item["id"], outcome[1]))
    return results
