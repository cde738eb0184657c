"""Scoring one utterance: the noisy input and the enhanced output, every selected metric.

:class:`UtteranceScorer` takes an item ``{"id", "enhanced", "clean"[, "noisy"]}``
(1-D 16 kHz arrays/tensors or audio file paths) and returns one row per system;
:func:`~speechbrain_atkl.evaluation.scoring.score_utterances` runs it over many
utterances, in parallel over CPU cores.

Only problems of the reference data exclude an utterance (:class:`UtteranceScorer`
raises :class:`~speechbrain_atkl.evaluation.metrics.UnscorableError` with the
reason): an unreadable, silent, NaN or too short clean or noisy file, or a
metric that fails on the reference itself. A failure of the system under test
counts against it: an enhanced output that is unreadable, NaN, silent, too
short or of the wrong length (or that makes one metric fail) gets the metric's
worst score (:data:`~speechbrain_atkl.evaluation.metrics.WORST_SCORES`) and its
row says why in ``failed``.

Files at another rate than 16 kHz are resampled; resampling rounds a length
up, so a correct output written at another rate (an enhancer's output resampled
back to a 22.05 kHz input) may come back a sample longer or shorter than its
16 kHz reference. A file whose length is off by no more than that rounding is
cut or zero-padded to its reference's length (:func:`resampling_slack`); any
other length mismatch fails.

Each signal is read once per utterance, and what several metrics derive from it
(its DNSMOS scores, its 10 kHz version for STOI and eSTOI) is computed once.

Authors
 * speechbrain-atkl developers 2026
"""

import math
from pathlib import Path

import numpy as np

from speechbrain_atkl.data.audio import AudioError, audio_info, load_audio
from speechbrain_atkl.evaluation.dnsmos import DNSMOS
from speechbrain_atkl.evaluation.metrics import (
    WORST_SCORES,
    UnscorableError,
    as_waveform,
    check_pair,
    check_signal,
    estoi,
    pesq_wb,
    si_snr,
    si_snr_improvement,
    stoi,
    stoi_resample,
)

REFERENCE_METRICS = {"pesq_wb": pesq_wb, "stoi": stoi, "estoi": estoi, "si_snr": si_snr}
DNSMOS_METRICS = {
    "dnsmos_sig": "sig",
    "dnsmos_bak": "bak",
    "dnsmos_ovrl": "ovrl",
    "dnsmos_p808": "p808",
}
METRICS = (*REFERENCE_METRICS, "si_snr_i", *DNSMOS_METRICS)
SAMPLE_RATE = 16000


def resampling_slack(rate):
    """Samples by which a file at ``rate`` resampled to 16 kHz may differ in length by rounding alone.

    One sample of the file spans ``16000 / rate`` samples at 16 kHz.

    Example
    -------
    >>> resampling_slack(16000), resampling_slack(22050), resampling_slack(8000)
    (0, 1, 2)
    """
    return 0 if rate == SAMPLE_RATE else math.ceil(SAMPLE_RATE / rate)


def _load(source, name):
    """A 16 kHz waveform from a file path (read and resampled) or an array, and its :func:`resampling_slack`."""
    if isinstance(source, (str, Path)):
        try:
            rate = audio_info(source).sample_rate
            return load_audio(source, SAMPLE_RATE).numpy().astype(np.float64), resampling_slack(rate)
        except (AudioError, RuntimeError, OSError) as err:
            raise UnscorableError(f"cannot read {name} file {source}: {err}") from err
    return as_waveform(source, name), 0


def _fit(wav, length, slack):
    """``wav`` cut or zero-padded to ``length`` samples when it is off by at most ``slack``."""
    if wav.size != length and abs(wav.size - length) <= slack:
        return np.pad(wav[:length], (0, max(0, length - wav.size)))
    return wav


class UtteranceScorer:
    """Scores one utterance, every system, with the selected metrics.

    Arguments
    ---------
    metrics : list of str
        Names from ``METRICS``.
    dnsmos_threads : int, optional
        Threads per DNSMOS ONNX session (None: ONNX Runtime's default).

    Example
    -------
    >>> import numpy as np
    >>> clean = np.random.default_rng(0).standard_normal(16000)
    >>> noise = np.random.default_rng(1).standard_normal(16000)
    >>> item = {"id": "u1", "enhanced": clean + 0.1 * noise, "clean": clean,
    ...         "noisy": clean + noise}
    >>> rows = UtteranceScorer(["si_snr", "si_snr_i"])(item)
    >>> [(row["system"], round(row["si_snr_i"], 1)) for row in rows]
    [('noisy', 0.0), ('enhanced', 20.1)]
    >>> row = UtteranceScorer(["si_snr"])({**item, "enhanced": 0 * clean})[1]
    >>> row["si_snr"], row["failed"]
    (-50.0, {'si_snr': 'enhanced is silent (peak amplitude 0 <= 1e-05)'})
    """

    def __init__(self, metrics=METRICS, dnsmos_threads=None):
        self.metrics = list(metrics)
        needs_dnsmos = any(m in DNSMOS_METRICS for m in self.metrics)
        self.dnsmos = DNSMOS(num_threads=dnsmos_threads) if needs_dnsmos else None
        self._memo = {}

    def __call__(self, item):
        """Returns one row per system, or raises UnscorableError with the reason.

        Arguments
        ---------
        item : dict
            ``{"id", "enhanced", "clean"[, "noisy"]}``, arrays or file paths.

        Returns
        -------
        list of dict
            ``{"id", "system", <metric>: float, ..., "failed": {}}`` for noisy
            (if given) then enhanced.

        Raises
        ------
        UnscorableError
            When the reference data (clean or noisy) cannot be scored.
        """
        self._memo = {}
        clean, clean_slack = _load(item["clean"], "clean")
        clean = check_signal(clean, "clean")
        rows, noisy = [], None
        if item.get("noisy") is not None:
            noisy, slack = _load(item["noisy"], "noisy")
            noisy, _ = check_pair(_fit(noisy, clean.size, max(slack, clean_slack)), clean, "noisy", "clean")
            row = {"id": item["id"], "system": "noisy", "failed": {}, **(item.get("noisy_scores") or {})}
            for metric in (m for m in self.metrics if m not in row):
                try:
                    row[metric] = self._score(metric, noisy, clean, noisy)
                except UnscorableError as err:
                    raise UnscorableError(f"noisy: {err}") from err
            rows.append(row)
        rows.append(self._score_enhanced(item, clean, noisy, clean_slack))
        return rows

    def _derived(self, function, wav):
        """``function(wav)``, computed once per signal of the current item."""
        key = (function, id(wav))
        if key not in self._memo:  # the entry holds wav, so its id stays unique
            self._memo[key] = (wav, function(wav))
        return self._memo[key][1]

    def _stoi_resample(self, wav):
        return self._derived(stoi_resample, wav)

    def _score(self, metric, wav, clean, noisy):
        """One metric of one signal (DNSMOS and STOI resampling once per signal)."""
        if metric in ("stoi", "estoi"):
            return REFERENCE_METRICS[metric](wav, clean, resample=self._stoi_resample)
        if metric in REFERENCE_METRICS:
            return REFERENCE_METRICS[metric](wav, clean)
        if metric == "si_snr_i":
            return si_snr_improvement(wav, clean, noisy)
        return self._derived(self.dnsmos, wav)[DNSMOS_METRICS[metric]]

    def _score_enhanced(self, item, clean, noisy, clean_slack):
        """The enhanced row; a failed output gets the worst score of each metric."""
        row = {"id": item["id"], "system": "enhanced", "failed": {}}
        try:
            wav, slack = _load(item["enhanced"], "enhanced")
            wav, _ = check_pair(_fit(wav, clean.size, max(slack, clean_slack)), clean, "enhanced", "clean")
        except UnscorableError as err:
            wav, reason = None, str(err)
        for metric in self.metrics:
            if wav is not None:
                try:
                    row[metric] = self._score(metric, wav, clean, noisy)
                    continue
                except UnscorableError as err:
                    reason = f"{metric} failed on enhanced: {err}"
                if noisy is None and metric in REFERENCE_METRICS:
                    try:  # the same metric on the reference itself tells whose problem it is
                        self._score(metric, clean, clean, None)
                    except UnscorableError as err:
                        raise UnscorableError(f"clean: {err}") from err
            row[metric] = self._worst(metric, clean, noisy)
            row["failed"][metric] = reason
        return row

    @staticmethod
    def _worst(metric, clean, noisy):
        if metric == "si_snr_i":
            return WORST_SCORES["si_snr"] - si_snr(noisy, clean)
        return WORST_SCORES[metric]
