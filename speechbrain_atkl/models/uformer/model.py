"""Uformer: a U-Net with a dilated complex & real dual-path conformer.

The teacher model of Distil-DCCRN, written from the description in
Fu et al., "Uformer: A Unet based dilated complex & real dual-path conformer
network for simultaneous speech enhancement and dereverberation" (ICASSP 2022)
and, where the paper is silent, what the authors' public model does as
described in ``docs/method.md``, "Choices the papers leave open" (the
authors' code has no licence and was not used).

Overview (``C`` complex channels, ``M`` magnitude channels, ``F`` frequency,
``T`` frames)::

    noisy (batch, time)
      -> STFT (window 400, hop 160, FFT 512, sqrt-Hann), DC bin dropped: 256 bins
      -> power-law compression: Xc = |X|^p e^{j angle X}  (p = 0.5)
      -> complex branch on Xc (2 channels) | magnitude branch on |Xc| (1 channel)
      -> 6 encoder layers per branch (frequency 128, 64, 32, 16, 8, 4),
         the branches fused after every layer (branches.py)
      -> dual-path conformer bottleneck, both branches in lockstep, fused
         after every sub-module (conformer.py, dilated.py, attention.py)
      -> 6 decoder layers per branch (frequency 8, 16, ..., 256) with U-Net
         skips, optionally through encoder-decoder attention, fused after
         every layer
      -> complex mask Mc and magnitude mask Mm -> enhanced compressed spectrum
      -> expansion |S|^(1/p), DC bin set to zero
      -> optional attenuation limit (a floor under |S| / |X|, attenuation.py)
      -> inverse STFT

Output combination (``output_combination``):

* ``"magnitude"`` (default, the authors' public model): the magnitudes are
  averaged under the complex branch's phase,
  ``S = 0.5 (tanh|Mc| + sigmoid(Mm)) |Xc| e^{j (angle Xc + angle Mc)}``.
* ``"complex_mean"`` (as in :data:`PREVIOUS_TEACHER`): the mean of the complex-branch
  estimate ``tanh(|Mc|) e^{j angle Mc} Xc`` and the magnitude-branch estimate
  ``sigmoid(Mm) Xc`` (noisy phase). The two partly cancel when ``Mc`` rotates
  the phase.

Both are computed without ``atan2``: ``Xc Mc / |Mc|`` carries the phase.
``channels`` counts real and imaginary parts together (``[16, ..., 256]`` is
8 ... 128 complex channels); ``magnitude_channels`` defaults to half of it.

:data:`PREVIOUS_TEACHER` is the Uformer without the choices taken from the
authors' public code (``output_combination="complex_mean",
conformer_fusion=False, dilated_conv="time", dilations=[1, 2, ..., 128],
init="pytorch"``), for ablations: the teacher benchmark trains it next to
the default (``docs/method.md``, row "previous teacher").

Authors
 * speechbrain-atkl developers 2026
"""

import torch
from torch import nn

from speechbrain_atkl.models.attenuation import attenuation_floor, limit_attenuation
from speechbrain_atkl.models.complex_nn import complex_magnitude, split_complex
from speechbrain_atkl.models.stft import STFT
from speechbrain_atkl.models.uformer.branches import Branch, BranchFusion
from speechbrain_atkl.models.uformer.conformer import DILATED_CONV, DualStreamConformerBlock

OUTPUT_COMBINATIONS = ("magnitude", "complex_mean")
#: Overrides that leave out the choices taken from the authors' public code (output combination, conformer
#: fusion, dilated convolutions, initialisation), for ablations; the presets' comments give its parameter counts.
PREVIOUS_TEACHER = dict(
    output_combination="complex_mean",
    conformer_fusion=False,
    dilated_conv="time",
    dilations=[1, 2, 4, 8, 16, 32, 64, 128],
    init="pytorch",
)

UFORMER_PRESETS = {
    # The paper's size (9.46 M) with encoder-decoder attention: 9,430,275 parameters,
    # 7.96 GMAC per second of audio (9,504,195 with PREVIOUS_TEACHER). How the authors
    # reach 9.46 M is not published: 5 conformer blocks and feed-forward 1024 are ours.
    "Uformer": dict(
        channels=[16, 32, 64, 128, 256, 256],
        num_blocks=5,
        attention_heads=4,
        ff_size=1024,
        encoder_decoder_attention=True,
    ),
    # The light public variant's size (about 3.3 M), no encoder-decoder attention:
    # 3,367,875 parameters, 3.55 GMAC per second of audio (3,382,659 with PREVIOUS_TEACHER).
    "Uformer-light": dict(
        channels=[16, 32, 64, 128, 256, 256],
        num_blocks=1,
        attention_heads=4,
        ff_size=512,
        encoder_decoder_attention=False,
    ),
}


class Uformer(nn.Module):
    """Uformer speech enhancement model (see the module docstring).

    Arguments
    ---------
    channels : list of int
        Complex-branch encoder channels, real and imaginary counted together
        (``[16, 32, 64, 128, 256, 256]`` = 8 ... 128 complex channels). The
        decoder mirrors them. Each must be even.
    magnitude_channels : list of int or None
        Magnitude-branch encoder channels; None for half of ``channels``.
    kernel_size : tuple
        ``(freq, time)`` convolution kernel.
    stride : tuple
        ``(freq, time)`` stride; time stride 1.
    win_length, hop_length, n_fft : int
        STFT window, hop and FFT size in samples.
    window : str
        STFT window name (see :func:`speechbrain_atkl.models.stft.make_window`).
    compression : float
        Power-law exponent ``p``: the network sees ``|X|^p`` (phase kept) and
        the output is expanded by ``1 / p``.
    num_blocks : int
        Conformer blocks in each branch's bottleneck.
    attention_heads : int
        Heads of the bottleneck attention (must divide the per-part features).
    ff_size : int
        Complex-branch feed-forward hidden size, real and imaginary together.
    magnitude_ff_size : int or None
        Magnitude-branch feed-forward hidden size; None for ``ff_size // 2``.
    dilations : list of int
        Time dilations of the dilated-convolution module: one 2-D block per
        dilation (``"2d"``), or one depthwise unit per dilation (``"time"``).
    conv_kernel_size : int
        Kernel size of those convolutions (odd; 3 x 3 for ``"2d"``).
    encoder_decoder_attention : bool
        Route each skip through encoder-decoder attention.
    dropout : float
        Dropout probability in the conformer and the skip attention.
    output_combination : str
        ``"magnitude"`` or ``"complex_mean"`` (see the module docstring).
    conformer_fusion : bool
        Fuse the two branches after every conformer sub-module (the
        bottlenecks run in lockstep); False runs them independently.
    dilated_conv : str
        ``"2d"``: gated 2-D (frequency x time) blocks; ``"time"``: depthwise
        time-only gated units (see :mod:`~.dilated`).
    conv_channels : int
        Hidden channels of the 2-D blocks of the complex branch, real and
        imaginary together (32 = 16 complex channels); the magnitude branch
        has half as many (real) channels.
    init : str
        Initialisation of the encoder and decoder convolutions of both
        branches: ``"reference"`` (weights N(0, 0.05), zero biases, the DCCRN
        authors' choice) or ``"pytorch"`` (PyTorch's default, as in
        :data:`PREVIOUS_TEACHER`).

    Example
    -------
    >>> model = Uformer(channels=[4] * 6, attention_heads=1, ff_size=8, dilations=[1], conv_channels=4)
    >>> model(torch.randn(2, 1000)).shape
    torch.Size([2, 1000])
    >>> enhanced, features = model(torch.randn(2, 1000), return_features=True)
    >>> [f.shape[2] for f in features["encoder"]], [f.shape[2] for f in features["decoder"]]
    ([128, 64, 32, 16, 8, 4], [8, 16, 32, 64, 128, 256])
    """

    def __init__(
        self,
        channels=(16, 32, 64, 128, 256, 256),
        magnitude_channels=None,
        kernel_size=(5, 2),
        stride=(2, 1),
        win_length=400,
        hop_length=160,
        n_fft=512,
        window="sqrt_hann",
        compression=0.5,
        num_blocks=1,
        attention_heads=4,
        ff_size=512,
        magnitude_ff_size=None,
        dilations=(1, 2, 4, 8),
        conv_kernel_size=3,
        encoder_decoder_attention=False,
        dropout=0.1,
        output_combination="magnitude",
        conformer_fusion=True,
        dilated_conv="2d",
        conv_channels=32,
        init="reference",
    ):
        super().__init__()
        channels = list(channels)
        for c in channels:
            if c <= 0 or c % 2:
                raise ValueError(
                    f"channels must be positive and even (real and imaginary together), "
                    f"got {channels}."
                )
        if magnitude_channels is None:
            magnitude_channels = [c // 2 for c in channels]
        magnitude_channels = list(magnitude_channels)
        #: Constructor arguments, enough to rebuild the model (used when publishing).
        self.config = dict(
            channels=channels,
            magnitude_channels=magnitude_channels,
            kernel_size=list(kernel_size),
            stride=list(stride),
            win_length=win_length,
            hop_length=hop_length,
            n_fft=n_fft,
            window=window,
            compression=compression,
            num_blocks=num_blocks,
            attention_heads=attention_heads,
            ff_size=ff_size,
            magnitude_ff_size=magnitude_ff_size,
            dilations=list(dilations),
            conv_kernel_size=conv_kernel_size,
            encoder_decoder_attention=encoder_decoder_attention,
            dropout=dropout,
            output_combination=output_combination,
            conformer_fusion=conformer_fusion,
            dilated_conv=dilated_conv,
            conv_channels=conv_channels,
            init=init,
        )
        if output_combination not in OUTPUT_COMBINATIONS:
            raise ValueError(
                f"output_combination must be one of {OUTPUT_COMBINATIONS}, got {output_combination!r}."
            )
        if dilated_conv not in DILATED_CONV:
            raise ValueError(f"dilated_conv must be one of {DILATED_CONV}, got {dilated_conv!r}.")
        if conv_channels <= 0 or conv_channels % 2:
            raise ValueError(
                f"conv_channels must be positive and even (real and imaginary together), "
                f"got {conv_channels}."
            )
        if len(magnitude_channels) != len(channels):
            raise ValueError(
                f"magnitude_channels ({magnitude_channels}) must have one entry per "
                f"encoder layer, like channels ({channels})."
            )
        bins = n_fft // 2
        if bins % stride[0] ** len(channels):
            raise ValueError(
                f"n_fft // 2 = {bins} frequency bins (DC dropped) must be divisible by "
                f"stride[0] ** len(channels) = {stride[0] ** len(channels)}."
            )
        if not compression > 0:
            raise ValueError(f"compression must be > 0, got {compression}.")
        self.compression = compression
        self.output_combination = output_combination
        self.stft = STFT(win_length, hop_length, n_fft, window)
        common = dict(
            kernel_size=kernel_size,
            stride=stride,
            encoder_decoder_attention=encoder_decoder_attention,
            dropout=dropout,
            init=init,
        )
        self.complex_branch = Branch(2, channels, 2, is_complex=True, **common)
        self.magnitude_branch = Branch(1, magnitude_channels, 1, is_complex=False, **common)
        if magnitude_ff_size is None:
            magnitude_ff_size = ff_size // 2
        self.bottleneck = nn.ModuleList(
            DualStreamConformerBlock(
                channels[-1],
                magnitude_channels[-1],
                ff_size,
                magnitude_ff_size,
                fusion=conformer_fusion,
                heads=attention_heads,
                dilations=list(dilations),
                conv_kernel_size=conv_kernel_size,
                dropout=dropout,
                dilated_conv=dilated_conv,
                conv_channels=conv_channels,
            )
            for _ in range(num_blocks)
        )
        self.encoder_fusion = nn.ModuleList(
            BranchFusion(c, m) for c, m in zip(channels, magnitude_channels)
        )
        decoder_pairs = zip(channels[-2::-1] + [2], magnitude_channels[-2::-1] + [1])
        self.decoder_fusion = nn.ModuleList(BranchFusion(c, m) for c, m in decoder_pairs)

    @classmethod
    def from_preset(cls, name, **overrides):
        """Builds a model from :data:`UFORMER_PRESETS`, with arguments overridden.

        Example
        -------
        >>> model = Uformer.from_preset("Uformer-light", num_blocks=0)
        >>> model.stft.hop_length
        160
        """
        if name not in UFORMER_PRESETS:
            raise ValueError(
                f"Unknown Uformer preset {name!r}; expected one of {sorted(UFORMER_PRESETS)}."
            )
        return cls(**{**UFORMER_PRESETS[name], **overrides})

    def _compress(self, spec):
        """Returns ``|X|^p e^{j angle X}`` and ``|X|^p`` of ``spec`` ``(B, 2, F, T)``."""
        magnitude = complex_magnitude(spec)
        compressed = magnitude**self.compression
        return spec * (compressed / magnitude), compressed

    def _expand(self, spec):
        """Undoes :meth:`_compress` on a complex spectrum ``(B, 2, F, T)``."""
        magnitude = complex_magnitude(spec)
        return spec * magnitude ** (1.0 / self.compression - 1.0)

    def apply_masks(self, spec, complex_mask, magnitude_mask):
        """Combines both masks with the compressed spectrum (see the module docstring).

        Arguments
        ---------
        spec : torch.Tensor
            Compressed noisy spectrum ``Xc``, ``(batch, 2, freq, frames)``, real part first.
        complex_mask : torch.Tensor
            Unbounded complex mask ``Mc``, same shape.
        magnitude_mask : torch.Tensor
            Unbounded magnitude mask ``Mm``, ``(batch, 1, freq, frames)``.

        Returns
        -------
        torch.Tensor
            The enhanced compressed spectrum, ``(batch, 2, freq, frames)``.

        Example
        -------
        >>> model = Uformer(channels=[4] * 6, attention_heads=1, ff_size=8, conv_channels=4)
        >>> spec = torch.tensor([1.0, 0.0]).view(1, 2, 1, 1)  # Xc = 1
        >>> rotate = torch.tensor([0.0, 50.0]).view(1, 2, 1, 1)  # Mc = 50j: tanh|Mc| = 1
        >>> model.apply_masks(spec, rotate, torch.full((1, 1, 1, 1), 50.0)).flatten()
        tensor([0., 1.])
        """
        mask_magnitude = complex_magnitude(complex_mask)
        sr, si = split_complex(spec)
        mr, mi = split_complex(complex_mask / mask_magnitude)
        # Xc rotated by the complex mask's phase, |Xc| kept.
        rotated = torch.cat([sr * mr - si * mi, sr * mi + si * mr], 1)
        by_magnitude = torch.sigmoid(magnitude_mask)
        if self.output_combination == "magnitude":
            return 0.5 * (torch.tanh(mask_magnitude) + by_magnitude) * rotated
        return 0.5 * (torch.tanh(mask_magnitude) * rotated + by_magnitude * spec)

    def forward(self, noisy, return_features=False, atten_lim_db=None):
        """Enhances ``noisy`` speech.

        Arguments
        ---------
        noisy : torch.Tensor
            Waveform, shape ``(batch, time)``.
        return_features : bool
            Also return the complex branch's fused encoder and decoder outputs.
        atten_lim_db : float or None
            Attenuation limit: every time-frequency bin of the expanded
            estimate keeps at least ``10 ** (-atten_lim_db / 20)`` of its noisy
            magnitude (see :mod:`~speechbrain_atkl.models.attenuation`); None:
            no limit.

        Returns
        -------
        enhanced : torch.Tensor
            Shape ``(batch, time)``, the input's length.
        features : dict
            Only with ``return_features``: ``"encoder"`` and ``"decoder"``, each
            a list of 6 tensors ``(batch, 2*C, freq, frames)``, real half first.
        """
        if noisy.dim() != 2:
            raise ValueError(f"Uformer expects (batch, time), got shape {tuple(noisy.shape)}.")
        floor = attenuation_floor(atten_lim_db)
        length = noisy.shape[-1]
        full_spec = self.stft(noisy)
        dc, spec = full_spec[:, :, :1], full_spec[:, :, 1:]
        c, m = self._compress(spec)
        spec_compressed = c
        cb, mb = self.complex_branch, self.magnitude_branch
        skips = []
        encoder_features, decoder_features = [], []
        for c_layer, m_layer, fuse in zip(cb.encoder, mb.encoder, self.encoder_fusion):
            c, m = fuse(c_layer(c), m_layer(m))
            skips.append((c, m))
            if return_features:
                encoder_features.append(c)
        for block in self.bottleneck:
            c, m = block(c, m)
        layers = zip(cb.decoder, mb.decoder, self.decoder_fusion, reversed(skips))
        for n, (c_layer, m_layer, fuse, (c_skip, m_skip)) in enumerate(layers):
            c = c_layer(cb.decoder_input(n, c, c_skip))
            m = m_layer(mb.decoder_input(n, m, m_skip))
            c, m = fuse(c, m)
            if return_features:
                decoder_features.append(c)
        estimate = self._expand(self.apply_masks(spec_compressed, c, m))
        estimate = torch.cat([torch.zeros_like(dc), estimate], 2)
        if floor is not None:
            estimate = limit_attenuation(estimate, full_spec, floor)
        enhanced = self.stft.inverse(estimate, length)
        if return_features:
            return enhanced, {"encoder": encoder_features, "decoder": decoder_features}
        return enhanced
