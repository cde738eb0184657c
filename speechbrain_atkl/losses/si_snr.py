"""Scale-invariant signal-to-noise ratio and the losses built on it.

Authors
 * speechbrain-atkl developers 2026
"""

import torch
from torch import nn


def length_mask(lengths, max_len, device=None):
    """Boolean mask of the valid samples of a padded batch.

    Arguments
    ---------
    lengths : torch.Tensor or None
        Relative lengths in ``(0, 1]`` (SpeechBrain convention), shape ``(batch,)``.
    max_len : int
        Padded length.

    Returns
    -------
    torch.Tensor or None
        ``(batch, max_len)`` with True on valid samples; None if ``lengths`` is None.

    Example
    -------
    >>> length_mask(torch.tensor([1.0, 0.5]), 4)
    tensor([[ True,  True,  True,  True],
            [ True,  True, False, False]])
    """
    if lengths is None:
        return None
    absolute = torch.round(lengths.to(device) * max_len)
    return torch.arange(max_len, device=device)[None, :] < absolute[:, None]


def si_snr(estimate, target, lengths=None, eps=1e-8):
    """Scale-invariant SNR of each item, in dB.

    Both signals are made zero-mean over their valid samples; the target is
    projected out of the estimate and the ratio of the projection's energy to
    the residual's is returned. ``eps`` keeps the result finite for silent
    references or estimates.

    Arguments
    ---------
    estimate : torch.Tensor
        ``(batch, time)``.
    target : torch.Tensor
        ``(batch, time)``.
    lengths : torch.Tensor or None
        Relative lengths ``(batch,)``; samples past each length are ignored.
    eps : float
        Regulariser.

    Returns
    -------
    torch.Tensor
        ``(batch,)`` SI-SNR in dB.

    Example
    -------
    >>> target = torch.sin(torch.arange(800.0) / 10).unsqueeze(0)
    >>> noise = 0.1 * torch.cos(torch.arange(800.0) * 1.3).unsqueeze(0)
    >>> si_snr(2 * target + noise, target).round()
    tensor([26.])
    """
    if estimate.shape != target.shape:
        raise ValueError(
            f"estimate {tuple(estimate.shape)} and target {tuple(target.shape)} must have the same shape."
        )
    mask = length_mask(lengths, target.shape[-1], target.device)
    if mask is None:
        mask = torch.ones_like(target, dtype=torch.bool)
    mask = mask.to(target.dtype)
    count = mask.sum(-1, keepdim=True).clamp_min(1.0)
    estimate = (estimate - (estimate * mask).sum(-1, keepdim=True) / count) * mask
    target = (target - (target * mask).sum(-1, keepdim=True) / count) * mask
    scale = (estimate * target).sum(-1, keepdim=True) / (target.pow(2).sum(-1, keepdim=True) + eps)
    projection = scale * target
    residual = estimate - projection
    ratio = (projection.pow(2).sum(-1) + eps) / (residual.pow(2).sum(-1) + eps)
    return 10 * torch.log10(ratio)


class SISNRLoss(nn.Module):
    """Negative SI-SNR averaged over the batch (lower is better).

    Example
    -------
    >>> loss = SISNRLoss()
    >>> clean = torch.randn(2, 1600)
    >>> loss(clean, clean, torch.tensor([1.0, 0.5])) < -60
    tensor(True)
    """

    def forward(self, estimate, target, lengths=None):
        """Returns ``-mean(si_snr(estimate, target, lengths))``."""
        return -si_snr(estimate, target, lengths).mean()


class BalancedSISNRLoss(nn.Module):
    """SI-SNR of the student against both the clean target and the teacher.

    ``loss = (1 - teacher_weight) * -SI-SNR(student, clean)
    + teacher_weight * -SI-SNR(student, teacher)``; the teacher's output is a
    fixed "soft label" and never receives gradients.

    Arguments
    ---------
    teacher_weight : float
        The balance, in ``[0, 1]``; 0 is plain supervised training.

    Example
    -------
    >>> clean, teacher, student = torch.randn(3, 2, 1600)
    >>> balanced = BalancedSISNRLoss(teacher_weight=0.25)(student, clean, teacher)
    >>> expected = 0.75 * SISNRLoss()(student, clean) + 0.25 * SISNRLoss()(student, teacher)
    >>> torch.allclose(balanced, expected)
    True
    """

    def __init__(self, teacher_weight=0.5):
        super().__init__()
        if not 0.0 <= teacher_weight <= 1.0:
            raise ValueError(f"teacher_weight must be in [0, 1], got {teacher_weight}.")
        self.teacher_weight = teacher_weight

    def forward(self, student, clean, teacher, lengths=None):
        """Returns the balanced loss (a scalar)."""
        to_clean = -si_snr(student, clean, lengths).mean()
        if self.teacher_weight == 0.0:
            return to_clean
        to_teacher = -si_snr(student, teacher.detach(), lengths).mean()
        return (1.0 - self.teacher_weight) * to_clean + self.teacher_weight * to_teacher
