"""DCCRN: Deep Complex Convolution Recurrent Network for speech enhancement.

One configurable class covers DCCRN-E, DCCRN-CL and the small Distil-DCCRN
student (Hu et al., Interspeech 2020; Han et al., IEEE SPL 2024):

    waveform -> STFT -> 6 complex conv encoder blocks -> (complex) LSTM
             -> 6 complex transposed-conv decoder blocks with U-Net skips
             -> complex mask (E / C / R) -> inverse STFT -> waveform

Authors
 * speechbrain-atkl developers 2026
"""

import torch
from torch import nn

from speechbrain_atkl.models.attenuation import attenuation_floor
from speechbrain_atkl.models.complex_nn import complex_cat
from speechbrain_atkl.models.dccrn_blocks import (
    MASKING_MODES,
    DecoderBlock,
    EncoderBlock,
    RecurrentBottleneck,
    apply_mask,
)
from speechbrain_atkl.models.stft import STFT

#: Named configurations. Parameter counts of the first two match the DCCRN
#: reference implementation exactly (3,742,349 and 3,671,053). The student's
#: layer list is this project's choice (see ``docs/method.md``, "Choices the papers leave open").
DCCRN_PRESETS = {
    "DCCRN-E": dict(
        channels=[16, 32, 64, 128, 256, 256], rnn_type="real", rnn_units=256, masking_mode="E"
    ),
    "DCCRN-CL": dict(
        channels=[32, 64, 128, 256, 256, 256], rnn_type="complex", rnn_units=256, masking_mode="E"
    ),
    "Distil-DCCRN": dict(
        channels=[16, 32, 64, 96, 128, 128], rnn_type="complex", rnn_units=208, masking_mode="E"
    ),
}


class DCCRN(nn.Module):
    """Deep Complex Convolution Recurrent Network.

    Arguments
    ---------
    channels : list of int
        Output channels of the encoder blocks, real and imaginary counted
        together (DCCRN-E: ``[16, 32, 64, 128, 256, 256]``).
    kernel_size : tuple
        ``(freq, time)`` kernel of every encoder and decoder block.
    rnn_type : str
        ``"real"`` (DCCRN-E) or ``"complex"`` (DCCRN-CL) LSTM bottleneck.
    rnn_units : int
        LSTM hidden units (complex: real and imaginary together).
    rnn_layers : int
        Stacked LSTM layers.
    masking_mode : str
        ``"E"``, ``"C"`` or ``"R"`` (see :func:`apply_mask`).
    lookahead : int
        How many decoder blocks (from the deepest) look ``kernel_size[1] - 1``
        frames ahead. The reference DCCRN uses all 6 (37.5 ms at hop 100);
        0 makes the network causal up to the STFT window.
    norm : str
        ``"batch"`` (real BatchNorm over all channels, as the reference),
        ``"complex_batch"`` or ``"none"``.
    win_length, hop_length, n_fft : int
        STFT parameters (samples).
    window : str
        STFT window name.
    init : str
        Initialisation of the complex convolutions: ``"reference"`` (weights
        N(0, 0.05), zero biases, as the DCCRN authors) or ``"pytorch"``
        (PyTorch's default); see :func:`~speechbrain_atkl.models.complex_nn.init_complex_layers`.

    Example
    -------
    >>> import torch
    >>> model = DCCRN.from_preset("Distil-DCCRN")
    >>> noisy = torch.randn(2, 16000)
    >>> model(noisy).shape
    torch.Size([2, 16000])
    >>> enhanced, features = model(noisy, return_features=True)
    >>> [f.shape[2] for f in features["encoder"]], features["decoder"][0].shape[2]
    ([128, 64, 32, 16, 8, 4], 8)
    >>> model(noisy, atten_lim_db=12.0).shape  # every bin keeps >= 1/4 of its noisy magnitude
    torch.Size([2, 16000])
    """

    def __init__(
        self,
        channels=(16, 32, 64, 128, 256, 256),
        kernel_size=(5, 2),
        rnn_type="real",
        rnn_units=256,
        rnn_layers=2,
        masking_mode="E",
        lookahead=6,
        norm="batch",
        win_length=400,
        hop_length=100,
        n_fft=512,
        window="hann",
        init="reference",
    ):
        super().__init__()
        channels = list(channels)
        kernel_size = tuple(kernel_size)
        if masking_mode not in MASKING_MODES:
            raise ValueError(f"masking_mode must be one of {MASKING_MODES}, got {masking_mode!r}.")
        if not 0 <= lookahead <= len(channels):
            raise ValueError(f"lookahead must be in [0, {len(channels)}], got {lookahead}.")
        n_bins = n_fft // 2  # the DC bin is dropped
        if n_bins % 2 ** len(channels):
            raise ValueError(
                f"n_fft // 2 = {n_bins} must be divisible by 2 ** {len(channels)} (one halving per layer)."
            )
        #: Constructor arguments, enough to rebuild the model (used when publishing).
        self.config = dict(
            channels=channels,
            kernel_size=list(kernel_size),
            rnn_type=rnn_type,
            rnn_units=rnn_units,
            rnn_layers=rnn_layers,
            masking_mode=masking_mode,
            lookahead=lookahead,
            norm=norm,
            win_length=win_length,
            hop_length=hop_length,
            n_fft=n_fft,
            window=window,
            init=init,
        )
        self.masking_mode = masking_mode
        self.lookahead_frames = lookahead * (kernel_size[1] - 1)
        self.stft = STFT(win_length, hop_length, n_fft, window)

        widths = [2] + channels
        self.encoder = nn.ModuleList(
            EncoderBlock(widths[i], widths[i + 1], kernel_size, norm, init) for i in range(len(channels))
        )
        self.bottleneck = RecurrentBottleneck(
            channels[-1], n_bins // 2 ** len(channels), rnn_type, rnn_units, rnn_layers
        )
        self.decoder = nn.ModuleList(
            DecoderBlock(
                2 * widths[i + 1],
                widths[i],
                kernel_size,
                norm,
                lookahead=depth < lookahead,
                last=i == 0,
                init=init,
            )
            for depth, i in enumerate(reversed(range(len(channels))))
        )

    @classmethod
    def from_preset(cls, name, **overrides):
        """Builds a named configuration from :data:`DCCRN_PRESETS`.

        Arguments
        ---------
        name : str
            ``"DCCRN-E"``, ``"DCCRN-CL"`` or ``"Distil-DCCRN"``.
        **overrides
            Constructor arguments replacing the preset's.

        Example
        -------
        >>> model = DCCRN.from_preset("DCCRN-E")
        >>> sum(p.numel() for p in model.parameters())
        3742349
        """
        if name not in DCCRN_PRESETS:
            raise ValueError(f"Unknown DCCRN preset {name!r}; choose from {sorted(DCCRN_PRESETS)}.")
        return cls(**{**DCCRN_PRESETS[name], **overrides})

    @property
    def sample_rate(self):
        """The sampling rate the presets are designed for (Hz)."""
        return 16000

    @property
    def lookahead_samples(self):
        """Output sample ``n`` depends on input samples up to ``n + lookahead_samples``."""
        return self.stft.win_length - 1 + self.lookahead_frames * self.stft.hop_length

    def forward(self, noisy, return_features=False, atten_lim_db=None):
        """Enhances a batch of waveforms.

        Arguments
        ---------
        noisy : torch.Tensor
            Noisy waveforms ``(batch, time)`` at 16 kHz.
        return_features : bool
            Also return the encoder and decoder feature maps (for distillation).
        atten_lim_db : float or None
            Attenuation limit: every time-frequency bin keeps at least
            ``10 ** (-atten_lim_db / 20)`` of its noisy magnitude (a floor
            under the mask's magnitude, see
            :mod:`~speechbrain_atkl.models.attenuation`); None: no limit.

        Returns
        -------
        enhanced : torch.Tensor
            ``(batch, time)``, the input's length.
        features : dict
            Only with ``return_features``: ``{"encoder": [...], "decoder": [...]}``,
            each block's output ``(batch, channels, freq, frames)`` (real half first).
        """
        floor = attenuation_floor(atten_lim_db)
        spec = self.stft(noisy)
        mask, encoded, decoded = self.estimate_mask(spec[:, :, 1:], return_features)
        mask = nn.functional.pad(mask, (0, 0, 1, 0))  # the DC bin gets a zero mask
        enhanced = self.stft.inverse(apply_mask(spec, mask, self.masking_mode, floor), noisy.shape[-1])
        if return_features:
            return enhanced, {"encoder": encoded, "decoder": decoded}
        return enhanced

    def estimate_mask(self, spec, return_features=False):
        """Runs the U-Net on a spectrum without its DC bin.

        Arguments
        ---------
        spec : torch.Tensor
            ``(batch, 2, n_fft // 2, frames)``.
        return_features : bool
            Collect each block's output.

        Returns
        -------
        mask : torch.Tensor
            ``(batch, 2, n_fft // 2, frames)``.
        encoded, decoded : list
            Block outputs (empty unless ``return_features``).
        """
        skips = []
        x = spec
        for block in self.encoder:
            x = block(x)
            skips.append(x)
        x = self.bottleneck(x)
        decoded = []
        # In eval mode the decoder runs channels-last: oneDNN's transposed convolution computes
        # in that layout, and in PyTorch's default one each block's input and output would be
        # reordered to and from it (the same values, bit for bit; the time it saves is in
        # docs/benchmarks.md, "Offline forward speed"). Training keeps the default layout: its
        # batch statistics would differ in the last bit, and its step is slower channels-last.
        layout = torch.contiguous_format if self.training else torch.channels_last
        for block, skip in zip(self.decoder, reversed(skips)):
            x = block(complex_cat([x, skip], memory_format=layout))
            if return_features:
                decoded.append(x)
        return x.contiguous(), (skips if return_features else []), decoded
