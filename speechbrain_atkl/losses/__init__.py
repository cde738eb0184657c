"""Losses: SI-SNR, balanced SI-SNR and AT-KL feature distillation."""

from speechbrain_atkl.losses.atkl import ATKLLoss
from speechbrain_atkl.losses.si_snr import BalancedSISNRLoss, SISNRLoss, si_snr

__all__ = ["ATKLLoss", "BalancedSISNRLoss", "SISNRLoss", "si_snr"]
