"""Power-law-compressed spectral loss (complex + magnitude MSE).

With ``S_c = |S|^p e^{j angle S}`` the compressed spectrum of a waveform
(``p = 0.3`` usual), the loss of an estimate ``Y`` against a target ``S`` is::

    complex_weight * mean |Y_c - S_c|^2 + (1 - complex_weight) * mean (|Y|^p - |S|^p)^2

over the frequency bins and the valid frames of every item. It is the kind of
compressed-spectrum term the Uformer authors train with (Fu et al., ICASSP 2022;
our settings and why: ``docs/method.md``, "Uformer teacher loss"),
added to the SI-SNR loss by ``spectral_loss`` / ``spectral_weight`` in the
recipe YAML (:class:`speechbrain_atkl.training.EnhancementBrain`).

Authors
 * speechbrain-atkl developers 2026
"""

import torch
from torch import nn

from speechbrain_atkl.models.stft import STFT


class CompressedSpectralLoss(nn.Module):
    """Complex + magnitude MSE of power-law-compressed spectra (see the module docstring).

    Only frames made of valid samples count: an item of ``L`` valid samples
    (SpeechBrain relative lengths; all samples without them) keeps the first
    ``max(1, L // hop_length)`` frames of the causal STFT, whose samples all
    lie before ``L``, so samples past the length never change the loss.

    Arguments
    ---------
    exponent : float
        Compression exponent ``p`` in ``(0, 1]``.
    complex_weight : float
        Weight of the complex term in ``[0, 1]``; the magnitude term gets the rest.
    n_fft, win_length, hop_length : int
        STFT settings in samples.
    window : str
        STFT window (see :func:`speechbrain_atkl.models.stft.make_window`).
    eps : float
        Added to the squared magnitude (finite gradients at silent bins).

    Example
    -------
    >>> loss = CompressedSpectralLoss()
    >>> clean = torch.randn(2, 1600)
    >>> float(loss(clean, clean, torch.tensor([1.0, 0.5])))
    0.0
    >>> bool(loss(0.5 * clean, clean) > 0)
    True
    """

    def __init__(
        self,
        exponent=0.3,
        complex_weight=0.3,
        n_fft=512,
        win_length=400,
        hop_length=100,
        window="hann",
        eps=1e-8,
    ):
        super().__init__()
        if not 0.0 < exponent <= 1.0:
            raise ValueError(f"CompressedSpectralLoss: exponent must be in (0, 1], got {exponent}.")
        if not 0.0 <= complex_weight <= 1.0:
            raise ValueError(
                f"CompressedSpectralLoss: complex_weight must be in [0, 1], got {complex_weight}."
            )
        self.exponent = exponent
        self.complex_weight = complex_weight
        self.eps = eps
        self.stft = STFT(win_length, hop_length, n_fft, window)

    def compress(self, wav):
        """Compressed spectrum and compressed magnitude of ``wav`` ``(batch, time)``.

        Returns
        -------
        spectrum : torch.Tensor
            ``(batch, 2, bins, frames)``, real part first.
        magnitude : torch.Tensor
            ``(batch, 1, bins, frames)``.
        """
        spec = self.stft(wav)
        magnitude = torch.sqrt(spec.pow(2).sum(1, keepdim=True) + self.eps)
        compressed = magnitude**self.exponent
        return spec * (compressed / magnitude), compressed

    def frame_mask(self, lengths, max_len, frames, device=None):
        """``(batch, frames)`` float mask of the frames holding only valid samples."""
        if lengths is None:
            lengths = torch.ones(1)
        samples = torch.round(lengths.to(device) * max_len)
        valid = torch.clamp(torch.div(samples, self.stft.hop_length, rounding_mode="floor"), min=1)
        return (torch.arange(frames, device=device)[None, :] < valid[:, None]).float()

    def forward(self, estimate, target, lengths=None):
        """Returns the loss (a scalar) of ``estimate`` against ``target``, both ``(batch, time)``.

        Arguments
        ---------
        estimate, target : torch.Tensor
            Waveforms ``(batch, time)``.
        lengths : torch.Tensor or None
            Relative lengths ``(batch,)``; frames past each length are ignored.
        """
        if estimate.shape != target.shape:
            raise ValueError(
                f"CompressedSpectralLoss: estimate {tuple(estimate.shape)} and target "
                f"{tuple(target.shape)} must have the same shape (batch, time)."
            )
        if self.stft.analysis.device != estimate.device:
            self.stft.to(estimate.device)  # the loss is not among the Brain's modules
        est_spec, est_mag = self.compress(estimate)
        tgt_spec, tgt_mag = self.compress(target)
        mask = self.frame_mask(lengths, target.shape[-1], est_spec.shape[-1], target.device)
        mask = mask[:, None, None, :].expand(est_mag.shape[0], 1, est_mag.shape[2], -1)
        count = mask.sum().clamp_min(1.0)
        complex_error = ((est_spec - tgt_spec).pow(2).sum(1, keepdim=True) * mask).sum() / count
        magnitude_error = ((est_mag - tgt_mag).pow(2) * mask).sum() / count
        return self.complex_weight * complex_error + (1.0 - self.complex_weight) * magnitude_error
