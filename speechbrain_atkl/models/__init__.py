"""speechbrain-atkl models: STFT, complex layers, DCCRN, Uformer and GTCRN."""

from speechbrain_atkl.models.dccrn import DCCRN, DCCRN_PRESETS
from speechbrain_atkl.models.gtcrn import GTCRN, GTCRN_PRESETS
from speechbrain_atkl.models.stft import STFT
from speechbrain_atkl.models.uformer import UFORMER_PRESETS, Uformer

__all__ = ["DCCRN", "DCCRN_PRESETS", "GTCRN", "GTCRN_PRESETS", "STFT", "UFORMER_PRESETS", "Uformer"]
