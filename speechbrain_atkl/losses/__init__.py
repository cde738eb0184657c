"""Losses: SI-SNR, balanced SI-SNR, compressed spectral loss and AT-KL feature distillation."""

from speechbrain_atkl.losses.atkl import ATKLLoss
from speechbrain_atkl.losses.si_snr import BalancedSISNRLoss, SISNRLoss, si_snr
from speechbrain_atkl.losses.spectral import CompressedSpectralLoss

__all__ = ["ATKLLoss", "BalancedSISNRLoss", "CompressedSpectralLoss", "SISNRLoss", "si_snr"]
