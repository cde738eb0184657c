"""speechbrain-atkl models: STFT, complex layers, DCCRN and Uformer."""

from speechbrain_atkl.models.dccrn import DCCRN, DCCRN_PRESETS
from speechbrain_atkl.models.stft import STFT
from speechbrain_atkl.models.uformer import UFORMER_PRESETS, Uformer

__all__ = ["DCCRN", "DCCRN_PRESETS", "STFT", "UFORMER_PRESETS", "Uformer"]
