"""Speech enhancement evaluation: PESQ-WB, STOI, eSTOI, SI-SNR(i), DNSMOS, reports."""

from speechbrain_atkl.evaluation.dnsmos import DNSMOS
from speechbrain_atkl.evaluation.metrics import (
    UnscorableError,
    estoi,
    pesq_wb,
    si_snr,
    si_snr_improvement,
    stoi,
)
from speechbrain_atkl.evaluation.pairing import pair_folders
from speechbrain_atkl.evaluation.report import (
    format_summary,
    summarise,
    write_report,
)
from speechbrain_atkl.evaluation.scoring import (
    ScoringResults,
    score_utterances,
)
from speechbrain_atkl.evaluation.utterance_scorer import METRICS

__all__ = [
    "DNSMOS",
    "METRICS",
    "ScoringResults",
    "UnscorableError",
    "estoi",
    "format_summary",
    "pair_folders",
    "pesq_wb",
    "score_utterances",
    "si_snr",
    "si_snr_improvement",
    "stoi",
    "summarise",
    "write_report",
]
