"""Building blocks of DCCRN: encoder and decoder blocks, the LSTM bottleneck, masking.

:class:`EncoderBlock` (complex conv, halves frequency), :class:`DecoderBlock`
(complex transposed conv, doubles frequency), :class:`RecurrentBottleneck`
(real or complex LSTM between them) and :func:`apply_mask` (E / C / R complex
masks); :class:`~speechbrain_atkl.models.dccrn.DCCRN` assembles them.

Authors
 * speechbrain-atkl developers 2026
"""

import torch
from torch import nn

from speechbrain_atkl.models.attenuation import limit_attenuation
from speechbrain_atkl.models.complex_lstm import ComplexLSTM
from speechbrain_atkl.models.complex_nn import (
    ComplexConv2d,
    ComplexConvTranspose2d,
    split_complex,
)
from speechbrain_atkl.models.complex_norm import ComplexBatchNorm2d

MASKING_MODES = ("E", "C", "R")


class EncoderBlock(nn.Module):
    """Complex convolution, normalisation and PReLU; halves the frequency axis.

    Example
    -------
    >>> block = EncoderBlock(2, 16)
    >>> block(torch.randn(1, 2, 256, 5)).shape
    torch.Size([1, 16, 128, 5])
    """

    def __init__(self, in_channels, out_channels, kernel_size=(5, 2), norm="batch", init="reference"):
        super().__init__()
        self.conv = ComplexConv2d(in_channels, out_channels, kernel_size, stride=(2, 1), init=init)
        self.norm = _make_norm(norm, out_channels)
        self.activation = nn.PReLU()

    def forward(self, x):
        """``(batch, in_channels, freq, frames)`` -> ``(batch, out_channels, freq / 2, frames)``."""
        return self.activation(self.norm(self.conv(x)))


class DecoderBlock(nn.Module):
    """Complex transposed convolution (doubles frequency), then optional norm and PReLU.

    Example
    -------
    >>> block = DecoderBlock(32, 2, last=True)
    >>> block(torch.randn(1, 32, 128, 5)).shape
    torch.Size([1, 2, 256, 5])
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size=(5, 2),
        norm="batch",
        lookahead=False,
        last=False,
        init="reference",
    ):
        super().__init__()
        self.conv = ComplexConvTranspose2d(
            in_channels, out_channels, kernel_size, stride=(2, 1), lookahead=lookahead, init=init
        )
        self.norm = nn.Identity() if last else _make_norm(norm, out_channels)
        self.activation = nn.Identity() if last else nn.PReLU()

    def forward(self, x):
        """``(batch, in_channels, freq, frames)`` -> ``(batch, out_channels, 2 * freq, frames)``."""
        return self.activation(self.norm(self.conv(x)))


def _make_norm(norm, channels):
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "complex_batch":
        return ComplexBatchNorm2d(channels)
    if norm in (None, "none"):
        return nn.Identity()
    raise ValueError(f"norm must be 'batch', 'complex_batch' or 'none', got {norm!r}.")


class RecurrentBottleneck(nn.Module):
    """The LSTM between encoder and decoder, real or complex.

    ``rnn_type="real"``: a real LSTM on the flattened real and imaginary
    features, then a linear layer back to the encoder size (DCCRN-E).
    ``rnn_type="complex"``: a :class:`ComplexLSTM` whose last layer projects
    back to the encoder size (DCCRN-CL).

    Arguments
    ---------
    channels : int
        Encoder output channels (real and imaginary together).
    freq : int
        Encoder output frequency bins.
    rnn_type : str
        ``"real"`` or ``"complex"``.
    rnn_units : int
        LSTM hidden units (for complex: real and imaginary together).
    rnn_layers : int
        Stacked LSTM layers.

    Example
    -------
    >>> rnn = RecurrentBottleneck(channels=8, freq=4, rnn_type="complex", rnn_units=16)
    >>> rnn(torch.randn(2, 8, 4, 7)).shape
    torch.Size([2, 8, 4, 7])
    """

    def __init__(self, channels, freq, rnn_type="real", rnn_units=256, rnn_layers=2):
        super().__init__()
        size = channels * freq
        self.rnn_type = rnn_type
        if rnn_type == "real":
            self.lstm = nn.LSTM(size, rnn_units, num_layers=rnn_layers, batch_first=True)
            self.projection = nn.Linear(rnn_units, size)
        elif rnn_type == "complex":
            self.lstm = ComplexLSTM(size, rnn_units, rnn_layers, projection_size=size)
        else:
            raise ValueError(f"rnn_type must be 'real' or 'complex', got {rnn_type!r}.")

    def forward(self, x):
        """Runs the LSTM over all frames, from zero states.

        (Streaming runs the same weights one frame at a time:
        :mod:`speechbrain_atkl.streaming.lstm_steps`.)

        Arguments
        ---------
        x : torch.Tensor
            Encoder output ``(batch, channels, freq, frames)``.

        Returns
        -------
        torch.Tensor
            Same shape as ``x``.
        """
        batch, channels, freq, frames = x.shape
        if self.rnn_type == "real":
            seq = x.permute(0, 3, 1, 2).reshape(batch, frames, channels * freq)
            out = self.projection(self.lstm(seq)[0])
            return out.reshape(batch, frames, channels, freq).permute(0, 2, 3, 1)
        # Complex: flatten real and imaginary halves separately, real half first.
        real, imag = split_complex(x)
        seq = torch.cat([_frames_last_to_seq(real), _frames_last_to_seq(imag)], -1)
        out_real, out_imag = split_complex(self.lstm(seq), dim=-1)
        half = (batch, frames, channels // 2, freq)
        out = torch.cat([out_real.reshape(half), out_imag.reshape(half)], 2)
        return out.permute(0, 2, 3, 1)


def _frames_last_to_seq(x):
    batch, channels, freq, frames = x.shape
    return x.permute(0, 3, 1, 2).reshape(batch, frames, channels * freq)


def apply_mask(spec, mask, mode, floor=None):
    """Applies a complex mask to a spectrum, with an optional attenuation limit.

    Arguments
    ---------
    spec : torch.Tensor
        Noisy spectrum ``(batch, 2, freq, frames)`` (real, imaginary).
    mask : torch.Tensor
        Network output of the same shape.
    mode : str
        ``"E"``: polar mask, magnitude ``tanh(|M|)`` and phase of ``M`` added;
        ``"C"``: complex multiplication; ``"R"``: real and imaginary parts
        scaled separately.
    floor : float or None
        The least gain of any bin, ``|enhanced| >= floor * |spec|`` (for E
        and C a floor under the complex gain's magnitude, ``tanh|M|`` and
        ``|M|``; see :func:`~speechbrain_atkl.models.attenuation.limit_attenuation`);
        None: no limit.

    Returns
    -------
    torch.Tensor
        Enhanced spectrum ``(batch, 2, freq, frames)``.

    Example
    -------
    >>> spec = torch.tensor([1.0, 0.0]).view(1, 2, 1, 1)
    >>> mask = torch.tensor([0.0, 100.0]).view(1, 2, 1, 1)  # phase +90 deg, |M| large
    >>> apply_mask(spec, mask, "E").flatten()
    tensor([0., 1.])
    >>> apply_mask(spec, torch.zeros(1, 2, 1, 1), "C", floor=0.25).flatten()  # at most 12 dB less
    tensor([0.2500, 0.0000])
    """
    sr, si = spec[:, 0], spec[:, 1]
    mr, mi = mask[:, 0], mask[:, 1]
    if mode == "R":
        enhanced = torch.stack([sr * mr, si * mi], 1)
    elif mode in ("E", "C"):
        if mode == "E":
            # tanh(|M|) * exp(i angle(M)) == M * tanh(|M|) / |M|; no atan2 needed.
            magnitude = torch.sqrt(mr**2 + mi**2 + 1e-12)
            gain = torch.tanh(magnitude) / magnitude
            mr, mi = mr * gain, mi * gain
        enhanced = torch.stack([sr * mr - si * mi, sr * mi + si * mr], 1)
    else:
        raise ValueError(f"masking mode must be one of {MASKING_MODES}, got {mode!r}.")
    return enhanced if floor is None else limit_attenuation(enhanced, spec, floor)
