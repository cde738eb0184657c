"""GTCRN: Grouped Temporal Convolutional Recurrent Network for speech enhancement.

Written from the description in X. Rong, T. Sun, X. Zhang, Y. Hu, C. Zhu,
J. Lu, "GTCRN: A Speech Enhancement Model Requiring Ultralow Computational
Resources", ICASSP 2024, and from the tensor names and shapes of the
authors' published checkpoints (their MIT-licensed code was not used). 23,669
trainable parameters (48,245 with the fixed ERB filters, the "48 k" often
quoted); causal up to the STFT window.

Overview (``F`` frequency, ``T`` frames; maps are ``(batch, channels, T, F)``)::

    noisy (batch, time)
      -> centred STFT (FFT 512, hop 256, sqrt-Hann): 257 bins
      -> features: magnitude, real, imaginary (3 channels)
      -> ERB band merging: 65 low bins kept, 192 merged into 64 bands: 129
      -> subband feature extraction (SFE): 3 neighbouring bins: 9 channels
      -> encoder: 2 strided conv blocks (F 129 -> 65 -> 33, 16 channels),
         3 grouped temporal convolution (GT-Conv) blocks, time dilations 1, 2, 5
      -> 2 grouped dual-path RNN blocks (DPGRNN)
      -> decoder mirroring the encoder (dilations 5, 2, 1, then transposed
         strided blocks 33 -> 65 -> 129), each block's input plus the
         matching encoder output (additive skips); the last block ends in Tanh
      -> ERB band splitting: a 2-channel complex ratio mask over 257 bins
      -> mask times the noisy spectrum (complex product) -> inverse STFT

Authors
 * speechbrain-atkl developers 2026
"""

import torch
from torch import nn

from speechbrain_atkl.models.gtcrn.blocks import ConvBlock, GroupedTemporalConvBlock, SubbandFeatures
from speechbrain_atkl.models.gtcrn.dual_path import GroupedDualPathRNN
from speechbrain_atkl.models.gtcrn.erb import ERBBands
from speechbrain_atkl.models.stft import CentredSTFT

#: Named configurations. "GTCRN" is the published model (the architecture of
#: the checkpoint ``gtcrn_dns3.pt``).
GTCRN_PRESETS = {
    "GTCRN": dict(channels=16, dilations=[1, 2, 5], low_bins=65, erb_bands=64, n_fft=512, hop_length=256),
}

STRIDED_CONV = dict(kernel_size=(1, 5), stride=(1, 2), padding=(0, 2))


def _strided_bins(bins):
    """Bins after one strided ``(1, 5)`` convolution block."""
    return (bins - 1) // 2 + 1


class Encoder(nn.Module):
    """Two strided convolution blocks then GT-Conv blocks; keeps every block's output for the skips.

    Arguments
    ---------
    in_channels : int
        Input channels (9: three features times three SFE bins).
    channels : int
        Channels of every block.
    dilations : list of int
        Time dilation of each GT-Conv block.

    Example
    -------
    >>> x, skips = Encoder(9, 16, [1, 2, 5])(torch.randn(2, 9, 10, 129))
    >>> x.shape, len(skips)
    (torch.Size([2, 16, 10, 33]), 5)
    """

    def __init__(self, in_channels, channels, dilations):
        super().__init__()
        self.en_convs = nn.ModuleList(
            [
                ConvBlock(in_channels, channels, **STRIDED_CONV),
                ConvBlock(channels, channels, groups=2, **STRIDED_CONV),
                *(GroupedTemporalConvBlock(channels, channels, dilation=d) for d in dilations),
            ]
        )

    def forward(self, x):
        """``(batch, in_channels, T, F)`` -> ``(batch, channels, T, F')`` and the list of block outputs."""
        outputs = []
        for block in self.en_convs:
            x = block(x)
            outputs.append(x)
        return x, outputs


class Decoder(nn.Module):
    """The encoder mirrored with transposed convolutions; each block adds the matching encoder output first.

    Arguments
    ---------
    channels : int
        Channels of every block but the last.
    dilations : list of int
        The encoder's GT-Conv dilations (used in reverse order).
    out_channels : int
        Channels of the output (2: real and imaginary mask).

    Example
    -------
    >>> encoder, decoder = Encoder(9, 16, [1, 2, 5]), Decoder(16, [1, 2, 5])
    >>> x, skips = encoder(torch.randn(2, 9, 10, 129))
    >>> decoder(x, skips).shape
    torch.Size([2, 2, 10, 129])
    """

    def __init__(self, channels, dilations, out_channels=2):
        super().__init__()
        self.de_convs = nn.ModuleList(
            [
                *(
                    GroupedTemporalConvBlock(channels, channels, dilation=d, transposed=True)
                    for d in reversed(dilations)
                ),
                ConvBlock(channels, channels, groups=2, transposed=True, **STRIDED_CONV),
                ConvBlock(channels, out_channels, transposed=True, last=True, **STRIDED_CONV),
            ]
        )

    def forward(self, x, skips):
        """``(batch, channels, T, F')`` and the encoder outputs -> ``(batch, out_channels, T, F)``."""
        for block, skip in zip(self.de_convs, reversed(skips)):
            x = block(x + skip)
        return x


class GTCRN(nn.Module):
    """GTCRN speech enhancement model: ``(batch, time)`` 16 kHz waveform in, enhanced waveform out.

    Arguments
    ---------
    channels : int
        Channels of the encoder, bottleneck and decoder blocks (even).
    dilations : list of int
        Time dilations of the encoder's GT-Conv blocks (the decoder mirrors them).
    low_bins : int
        FFT bins kept as they are by the ERB band merging.
    erb_bands : int
        ERB bands the other bins are merged into. ``low_bins + erb_bands``
        must be 1 more than a multiple of 4 (two halvings and back).
    n_fft : int
        FFT size and window length of the centred STFT (samples).
    hop_length : int
        STFT hop (samples).

    Example
    -------
    >>> model = GTCRN.from_preset("GTCRN").eval()
    >>> model(torch.randn(2, 16000)).shape
    torch.Size([2, 16000])
    >>> sum(p.numel() for p in model.parameters() if p.requires_grad)
    23669
    """

    def __init__(self, channels=16, dilations=(1, 2, 5), low_bins=65, erb_bands=64, n_fft=512, hop_length=256):
        super().__init__()
        dilations = list(dilations)
        merged_bins = low_bins + erb_bands
        if merged_bins % 4 != 1:
            raise ValueError(
                f"low_bins + erb_bands = {merged_bins} must be 1 more than a multiple of 4, so that the "
                "decoder's two upsamplings give back the encoder's input bins (GTCRN: 65 + 64 = 129)."
            )
        #: Constructor arguments, enough to rebuild the model (used when publishing).
        self.config = dict(
            channels=channels,
            dilations=dilations,
            low_bins=low_bins,
            erb_bands=erb_bands,
            n_fft=n_fft,
            hop_length=hop_length,
        )
        self.stft = CentredSTFT(n_fft, hop_length, "sqrt_hann")
        self.erb = ERBBands(low_bins, erb_bands, n_fft, self.sample_rate)
        self.sfe = SubbandFeatures(3)
        self.encoder = Encoder(3 * 3, channels, dilations)
        bottleneck_bins = _strided_bins(_strided_bins(merged_bins))
        self.dpgrnn1 = GroupedDualPathRNN(channels, bottleneck_bins, channels)
        self.dpgrnn2 = GroupedDualPathRNN(channels, bottleneck_bins, channels)
        self.decoder = Decoder(channels, dilations)

    @classmethod
    def from_preset(cls, name, **overrides):
        """Builds a named configuration from :data:`GTCRN_PRESETS`.

        Arguments
        ---------
        name : str
            ``"GTCRN"``.
        **overrides
            Constructor arguments replacing the preset's.

        Example
        -------
        >>> GTCRN.from_preset("GTCRN", channels=8).config["channels"]
        8
        """
        if name not in GTCRN_PRESETS:
            raise ValueError(f"Unknown GTCRN preset {name!r}; choose from {sorted(GTCRN_PRESETS)}.")
        return cls(**{**GTCRN_PRESETS[name], **overrides})

    @property
    def sample_rate(self):
        """The sampling rate of the published model (Hz)."""
        return 16000

    @property
    def lookahead_samples(self):
        """Output sample ``n`` depends on input samples up to ``n + lookahead_samples``.

        The network is causal over frames; a centred frame reaches
        ``n_fft - 1`` samples past the first sample it covers.
        """
        return self.stft.n_fft - 1

    def feature_frequencies(self, bins):
        """The centre (Hz) of each frequency bin of an encoder or decoder feature map.

        The blocks work on the ERB-merged spectrum (FFT bins up to
        ``low_bins``, ERB bands above), and each strided block keeps every
        other frequency, so bin ``j`` of a map with ``bins`` frequencies sits
        at merged frequency ``j * (merged - 1) / (bins - 1)``. This is what
        lets AT-KL compare these maps with a linear-frequency student's by Hz.

        Arguments
        ---------
        bins : int
            Frequency bins of the map (129, 65 or 33 for the published model).

        Returns
        -------
        torch.Tensor
            ``(bins,)`` centre frequencies in Hz, increasing.

        Example
        -------
        >>> hz = GTCRN.from_preset("GTCRN").feature_frequencies(33)
        >>> hz[:3].tolist(), round(hz[-1].item())
        ([0.0, 125.0, 250.0], 8000)
        """
        merged = self.erb.frequencies
        step = (len(merged) - 1) // max(bins - 1, 1)
        if bins < 2 or step * (bins - 1) != len(merged) - 1:
            raise ValueError(
                f"GTCRN's feature maps have {len(merged)} frequencies halved by strided blocks "
                f"({len(merged)}, {_strided_bins(len(merged))}, ...), not {bins}."
            )
        return merged[::step]

    def forward(self, noisy):
        """Enhances a batch of waveforms.

        Arguments
        ---------
        noisy : torch.Tensor
            ``(batch, time)`` at 16 kHz.

        Returns
        -------
        torch.Tensor
            ``(batch, time)``, the input's length.
        """
        if noisy.dim() != 2:
            raise ValueError(f"GTCRN expects (batch, time), got shape {tuple(noisy.shape)}.")
        spec = self.stft(noisy).transpose(2, 3)  # (batch, 2, T, F)
        mask = self.estimate_mask(spec)
        real, imag = spec[:, 0], spec[:, 1]
        mask_real, mask_imag = mask[:, 0], mask[:, 1]
        enhanced = torch.stack([real * mask_real - imag * mask_imag, real * mask_imag + imag * mask_real], 1)
        return self.stft.inverse(enhanced.transpose(2, 3), noisy.shape[-1])

    def estimate_mask(self, spec):
        """The complex ratio mask of a spectrum.

        Arguments
        ---------
        spec : torch.Tensor
            ``(batch, 2, frames, n_fft // 2 + 1)``, real part first.

        Returns
        -------
        torch.Tensor
            ``(batch, 2, frames, n_fft // 2 + 1)``, real part first, in [-1, 1].
        """
        real, imag = spec[:, 0], spec[:, 1]
        magnitude = torch.sqrt(real**2 + imag**2 + 1e-12)
        features = self.sfe(self.erb.merge(torch.stack([magnitude, real, imag], 1)))
        x, skips = self.encoder(features)
        x = self.dpgrnn2(self.dpgrnn1(x))
        return self.erb.split(self.decoder(x, skips))
