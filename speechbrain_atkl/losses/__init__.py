"""Losses: SI-SNR, balanced SI-SNR and AT-KL feature distillation."""
