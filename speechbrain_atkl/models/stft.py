"""Short-time Fourier analysis and synthesis with exact reconstruction.

The transform is written with fixed (non-trainable) real convolution kernels so
that it runs anywhere a convolution runs (CPU, GPU, ONNX Runtime) and needs no
complex dtype. Framing is causal: the waveform is padded with
``win_length - hop_length`` zeros on the left, so frame ``j`` ends at sample
``(j + 1) * hop_length - 1`` and every input sample is covered by the same
number of frames as in the middle of an infinite signal.

:class:`CentredSTFT` is the other common convention (``torch.stft`` with
``center=True``: frame ``j`` is centred on sample ``j * hop_length``), used
by models trained elsewhere such as GTCRN. Both say where their frames lie in
time through :class:`FrameTiming`, which is how feature maps of two models
with different hops are aligned for distillation.

Authors
 * speechbrain-atkl developers 2026
"""

import contextlib
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

WINDOWS = ("hann", "sqrt_hann", "hamming", "rectangular")


class FrameTiming(NamedTuple):
    """Where the frames of a spectrogram lie in the waveform.

    Arguments
    ---------
    hop_length : int
        Samples between the centres of consecutive frames.
    first_centre : float
        Sample index of the centre of frame 0 (the peak of its window); may be
        negative when the first frame reaches into left padding.

    Example
    -------
    >>> FrameTiming(hop_length=256, first_centre=0.0).centres(3).tolist()
    [0.0, 256.0, 512.0]
    """

    hop_length: int
    first_centre: float

    def centres(self, frames, device=None):
        """Sample index of the centre of each of ``frames`` frames, ``(frames,)`` float64."""
        index = torch.arange(frames, dtype=torch.float64, device=device)
        return self.first_centre + index * self.hop_length


def full_precision(x):
    """A context that keeps the transform in float32 under autocast (bf16/fp16 AMP).

    Autocast would run the framing convolutions in half precision and round the
    waveform to ~43 dB SNR; outside autocast this is a no-op context.

    Example
    -------
    >>> stft = STFT()
    >>> with torch.autocast("cpu", dtype=torch.bfloat16):
    ...     stft(torch.randn(1, 800)).dtype
    torch.float32
    """
    if torch.is_autocast_enabled(x.device.type):
        return torch.autocast(x.device.type, enabled=False)
    return contextlib.nullcontext()


def at_least_float32(x):
    """``x`` in float32 if it is in a half-precision (or integer) type, else unchanged (float64 stays).

    Example
    -------
    >>> at_least_float32(torch.ones(2, dtype=torch.bfloat16)).dtype, at_least_float32(torch.ones(2).double()).dtype
    (torch.float32, torch.float64)
    """
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def make_window(name, win_length):
    """Returns a periodic analysis window.

    Arguments
    ---------
    name : str
        One of ``"hann"``, ``"sqrt_hann"``, ``"hamming"``, ``"rectangular"``.
    win_length : int
        Window length in samples.

    Returns
    -------
    torch.Tensor
        The window, shape ``(win_length,)``.

    Example
    -------
    >>> make_window("sqrt_hann", 4)
    tensor([0.0000, 0.7071, 1.0000, 0.7071])
    """
    if name == "hann":
        return torch.hann_window(win_length, periodic=True)
    if name == "sqrt_hann":
        return torch.hann_window(win_length, periodic=True).sqrt()
    if name == "hamming":
        return torch.hamming_window(win_length, periodic=True)
    if name == "rectangular":
        return torch.ones(win_length)
    raise ValueError(f"Unknown window {name!r}; expected one of {WINDOWS}.")


class STFT(nn.Module):
    """Causal STFT front end and its inverse (weighted overlap-add).

    Arguments
    ---------
    win_length : int
        Window length in samples (400 = 25 ms at 16 kHz).
    hop_length : int
        Hop between frames in samples (DCCRN: 100, Uformer: 160).
    n_fft : int
        FFT size; frames are zero-padded to it. Must be >= ``win_length``.
    window : str
        Analysis and synthesis window (see :func:`make_window`).

    Example
    -------
    >>> stft = STFT(win_length=400, hop_length=100, n_fft=512)
    >>> wav = torch.randn(2, 1601)
    >>> spec = stft(wav)
    >>> spec.shape  # (batch, real/imag, n_fft // 2 + 1, frames)
    torch.Size([2, 2, 257, 20])
    >>> stft.inverse(spec, wav.shape[-1]).shape
    torch.Size([2, 1601])
    """

    def __init__(self, win_length=400, hop_length=100, n_fft=512, window="hann"):
        super().__init__()
        if n_fft < win_length:
            raise ValueError(f"n_fft ({n_fft}) must be >= win_length ({win_length}).")
        if not 0 < hop_length <= win_length:
            raise ValueError(
                f"hop_length must be in (0, win_length={win_length}], got {hop_length}."
            )
        self.win_length = win_length
        self.hop_length = hop_length
        self.n_fft = n_fft
        self.n_bins = n_fft // 2 + 1

        win = make_window(window, win_length).double()
        bins = torch.arange(self.n_bins, dtype=torch.float64)[:, None]
        samples = torch.arange(win_length, dtype=torch.float64)[None, :]
        angle = 2 * math.pi * bins * samples / n_fft
        # Analysis: X_k = sum_n w[n] x[n] exp(-i 2 pi k n / N).
        analysis = torch.cat([win * torch.cos(angle), -win * torch.sin(angle)])
        # Synthesis: real inverse DFT of the one-sided spectrum, times the window.
        scale = torch.full((self.n_bins, 1), 2.0, dtype=torch.float64)
        scale[0] = 1.0
        if n_fft % 2 == 0:
            scale[-1] = 1.0
        synthesis = torch.cat(
            [scale * torch.cos(angle), -scale * torch.sin(angle)]
        ) * (win / n_fft)
        self.register_buffer("analysis", analysis.float()[:, None, :], persistent=False)
        self.register_buffer("synthesis", synthesis.float()[:, None, :], persistent=False)
        self.register_buffer("window_sq", (win**2).float()[None, None, :], persistent=False)

    @property
    def left_pad(self):
        """Zeros added before the first sample so that it is fully covered."""
        return self.win_length - self.hop_length

    @property
    def timing(self):
        """The :class:`FrameTiming` of the frames: frame ``j`` is centred on ``(j + 1) * hop - win / 2``.

        Example
        -------
        >>> STFT(400, 100, 512).timing
        FrameTiming(hop_length=100, first_centre=-100.0)
        """
        return FrameTiming(self.hop_length, self.hop_length - self.win_length / 2)

    def num_frames(self, length):
        """Number of frames produced for ``length`` input samples.

        Example
        -------
        >>> STFT(400, 100, 512).num_frames(1601)
        20
        """
        return (self.left_pad + length - 1) // self.hop_length + 1

    def forward(self, wav):
        """Computes the spectrum.

        Arguments
        ---------
        wav : torch.Tensor
            Waveform, shape ``(batch, time)``.

        Returns
        -------
        torch.Tensor
            Real and imaginary parts, shape ``(batch, 2, n_fft // 2 + 1, frames)``.
        """
        if wav.dim() != 2:
            raise ValueError(f"STFT expects (batch, time), got shape {tuple(wav.shape)}.")
        length = wav.shape[-1]
        padded_length = (self.num_frames(length) - 1) * self.hop_length + self.win_length
        right_pad = padded_length - self.left_pad - length
        wav = F.pad(at_least_float32(wav[:, None, :]), (self.left_pad, right_pad))
        with full_precision(wav):
            spec = F.conv1d(wav, self.analysis, stride=self.hop_length)
        return spec.unflatten(1, (2, self.n_bins))

    def inverse(self, spec, length):
        """Resynthesises a waveform by weighted overlap-add.

        Arguments
        ---------
        spec : torch.Tensor
            Real and imaginary parts, shape ``(batch, 2, n_fft // 2 + 1, frames)``.
        length : int
            Number of samples to return (the length given to :meth:`forward`).

        Returns
        -------
        torch.Tensor
            Waveform, shape ``(batch, length)``.
        """
        frames = spec.shape[-1]
        spec = at_least_float32(spec)
        with full_precision(spec):
            wav = F.conv_transpose1d(spec.flatten(1, 2), self.synthesis, stride=self.hop_length)
            ones = torch.ones(1, 1, frames, dtype=spec.dtype, device=spec.device)
            envelope = F.conv_transpose1d(ones, self.window_sq, stride=self.hop_length)
        wav = wav / envelope.clamp_min(1e-8)
        return wav[:, 0, self.left_pad : self.left_pad + length]


class CentredSTFT(nn.Module):
    """``torch.stft`` / ``torch.istft`` with centred frames, in this package's layout.

    Frame ``j`` is centred on sample ``j * hop_length`` (the signal is
    reflect-padded by ``n_fft // 2`` on both sides, so it must be longer than
    that), so ``length`` samples give ``length // hop_length + 1`` frames. This is the front end of models
    trained with PyTorch's defaults, such as GTCRN.

    Arguments
    ---------
    n_fft : int
        FFT size and window length (samples).
    hop_length : int
        Hop between frames (samples).
    window : str
        Analysis and synthesis window (see :func:`make_window`).

    Example
    -------
    >>> stft = CentredSTFT(n_fft=512, hop_length=256, window="sqrt_hann")
    >>> wav = torch.randn(2, 16000)
    >>> spec = stft(wav)
    >>> spec.shape  # (batch, real/imag, n_fft // 2 + 1, frames)
    torch.Size([2, 2, 257, 63])
    >>> (stft.inverse(spec, 16000) - wav).abs().max().item() < 1e-5
    True
    """

    def __init__(self, n_fft=512, hop_length=256, window="sqrt_hann"):
        super().__init__()
        if not 0 < hop_length <= n_fft:
            raise ValueError(f"hop_length must be in (0, n_fft={n_fft}], got {hop_length}.")
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.register_buffer("window", make_window(window, n_fft), persistent=False)

    @property
    def timing(self):
        """The :class:`FrameTiming` of the frames: frame ``j`` is centred on ``j * hop_length``.

        Example
        -------
        >>> CentredSTFT(512, 256).timing
        FrameTiming(hop_length=256, first_centre=0.0)
        """
        return FrameTiming(self.hop_length, 0.0)

    def forward(self, wav):
        """Computes the spectrum.

        Arguments
        ---------
        wav : torch.Tensor
            Waveform ``(batch, time)``.

        Returns
        -------
        torch.Tensor
            Real and imaginary parts ``(batch, 2, n_fft // 2 + 1, frames)``.
        """
        if wav.dim() != 2:
            raise ValueError(f"CentredSTFT expects (batch, time), got shape {tuple(wav.shape)}.")
        if wav.shape[-1] <= self.n_fft // 2:
            raise ValueError(
                f"CentredSTFT needs more than n_fft // 2 = {self.n_fft // 2} samples (its reflection "
                f"padding), got {wav.shape[-1]}."
            )
        wav = at_least_float32(wav)
        with full_precision(wav):
            spec = torch.stft(
                wav, self.n_fft, self.hop_length, window=self.window.to(wav.dtype), return_complex=True
            )
        return torch.stack([spec.real, spec.imag], 1)

    def inverse(self, spec, length):
        """Resynthesises ``length`` samples from ``(batch, 2, n_fft // 2 + 1, frames)``."""
        spec = at_least_float32(spec)
        with full_precision(spec):
            return torch.istft(
                torch.complex(spec[:, 0], spec[:, 1]),
                self.n_fft,
                self.hop_length,
                window=self.window.to(spec.dtype),
                length=length,
            )
