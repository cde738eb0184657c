"""speechbrain-atkl models: STFT, complex layers, DCCRN and Uformer."""

from speechbrain_atkl.models.dccrn import DCCRN, DCCRN_PRESETS
from speechbrain_atkl.models.stft import STFT

__all__ = ["DCCRN", "DCCRN_PRESETS", "STFT"]
