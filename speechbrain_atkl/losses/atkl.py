"""AT-KL: attention transfer with Kullback-Leibler divergence between feature maps.

The Distil-DCCRN paper distils intermediate feature maps of a teacher and a
student whose channel counts and frame rates differ. Its equations are not
published; this module implements the reading given in ``docs/method.md``
("The AT-KL loss"), with every open choice an argument:

For a feature map ``X`` of shape ``(batch, channels, freq, frames)``, take
``A = |X| ** p`` (for complex maps ``|X|`` is the complex magnitude, or the
absolute value of each real and imaginary channel; maps of a real-valued
teacher use the absolute value of each channel, ``teacher_complex_features=
"channels"``) and collapse one axis:

* channel-dimension attention ``mean_c A``, a map over ``(freq, frames)``;
  the teacher's frames are put onto the student's (``time_alignment``: by the
  time of each frame's centre, for any pair of hops, or by stretching one
  frame axis over the other; see
  :func:`~speechbrain_atkl.losses.attention_maps.align_frames`) and its
  frequency axis is resampled to the student's, by relative bin index or,
  given each model's bin frequencies, by Hz
  (:func:`~speechbrain_atkl.losses.attention_maps.align_frequencies`);
* time-dimension attention ``mean_t A``, a map over ``(channels, freq)``.
  Channels of two networks do not correspond, so by default the map is
  compared in a form that does not depend on channel order (``time_map``:
  channel energies sorted per frequency, a frequency Gram matrix, or the
  frequency profile; see :mod:`~speechbrain_atkl.losses.attention_maps`);
  ``time_map="index"`` resamples the teacher's channel axis onto the
  student's, channel index against channel index.

Each pair of maps is compared by

* attention transfer (AT): the L2 distance between the L2-normalised,
  flattened maps (Zagoruyko & Komodakis, 2017);
* KL: ``KL(teacher || student)`` between softmax distributions of the
  flattened maps at temperature ``tau``, times ``tau ** 2``; the maps are
  optionally taken to log-energy (``energy="log"``) and standardised first.
  Raw energies are heavy-tailed: at ``tau = 1`` their softmax puts most of
  its mass on a few bins; log-energies spread it over the map.

The loss is ``sum over layer pairs and over dims of
(at_weight * AT + kl_weight * KL)``, averaged over the layer pairs.

Authors
 * speechbrain-atkl developers 2026
"""

import torch
import torch.nn.functional as F
from torch import nn

from speechbrain_atkl.losses.attention_maps import (
    ALIGN_MODES,
    ENERGY_MODES,
    TIME_ALIGNMENTS,
    TIME_MAPS,
    align_frames,
    align_frequencies,
    frame_mask,
    kl_logits,
    resample_axes,
    time_map_pair,
)
from speechbrain_atkl.models.complex_nn import complex_magnitude

DIMS = ("time", "channel")
COMPLEX_MODES = ("magnitude", "channels")
DEFAULT_LAYERS = [f"encoder.{i}" for i in range(6)] + [f"decoder.{i}" for i in range(6)]


class ATKLLoss(nn.Module):
    """Feature distillation loss between teacher and student layer outputs.

    Arguments
    ---------
    dims : list of str
        Which attentions to use: ``"time"`` and/or ``"channel"``.
    at_weight : float
        Weight of the attention-transfer (L2) distance.
    kl_weight : float
        Weight of the KL divergence.
    p : float
        Exponent of the attention maps ``|X| ** p``.
    temperature : float
        Softmax temperature of the KL term.
    standardize : bool
        Standardise each flattened map (zero mean, unit variance) before the
        softmax, so that the KL term does not depend on feature scale.
    energy : str
        What the KL's softmax sees: ``"power"``, the maps themselves, or
        ``"log"``, their log-energy (floored at ``log_floor`` times the map's
        mean); the AT term always compares the maps themselves.
    log_floor : float
        Floor of the log-energy, relative to each map's mean.
    time_map : str
        Form of the time-dimension map: ``"sorted"``, ``"gram"``,
        ``"profile"`` (independent of channel order) or ``"index"`` (channel
        index against channel index); see
        :func:`~speechbrain_atkl.losses.attention_maps.time_map_pair`.
    align : str
        How mismatched axes are resampled: ``"interpolate"`` or ``"pool"``
        (the frequency axes, the channel axis of ``time_map="index"``, and
        the frame axis with ``time_alignment="span"``).
    time_alignment : str
        How teacher frames meet student frames in the channel-dimension map:
        ``"timestamps"``, each student frame takes the teacher's map at the
        centre of its window (needs both models' frame timings, see
        :meth:`terms`; right for any pair of hops), or ``"span"``, the
        teacher's frame axis stretched over the student's (assumes both cover
        the same stretch of signal, which holds only when the two framings start alike).
    complex_features : str
        ``"magnitude"``: features are complex (real half first) and ``|X|`` is
        the complex magnitude; ``"channels"``: every channel is used as is.
    teacher_complex_features : str or None
        The same for the teacher's maps; None: as ``complex_features``. A
        real-valued teacher (e.g. GTCRN) needs ``"channels"``.
    layers : list
        Layer pairs to link. An entry ``"encoder.2"`` links the same layer of
        both models; ``["decoder.0", "decoder.1"]`` links student layer to
        teacher layer. Default: the 6 encoder and 6 decoder layers.

    Example
    -------
    >>> loss = ATKLLoss()
    >>> student = {"encoder": [torch.randn(2, 16, 8, 161)], "decoder": []}
    >>> teacher = {"encoder": [torch.randn(2, 32, 8, 97)], "decoder": []}
    >>> value = loss(student, teacher, layers=["encoder.0"])
    >>> value.shape, bool(value > 0)
    (torch.Size([]), True)
    >>> loss(student, student, layers=["encoder.0"]).abs().item() < 1e-6
    True
    >>> permuted = {"encoder": [student["encoder"][0][:, torch.randperm(16)]], "decoder": []}
    >>> ATKLLoss(complex_features="channels")(permuted, student, layers=["encoder.0"]).abs().item() < 1e-5
    True

    A real-valued teacher with 65 bins and hop 256 (GTCRN) against a complex
    student with 128 bins and hop 100, aligned by time:

    >>> from speechbrain_atkl.models.stft import FrameTiming
    >>> real_teacher = {"encoder": [torch.randn(2, 16, 65, 63)], "decoder": []}
    >>> loss = ATKLLoss(time_alignment="timestamps", teacher_complex_features="channels")
    >>> timings = (FrameTiming(100, -100.0), FrameTiming(256, 0.0))
    >>> bool(loss(student, real_teacher, layers=["encoder.0"], timings=timings) > 0)
    True
    """

    def __init__(
        self,
        dims=DIMS,
        at_weight=1.0,
        kl_weight=1.0,
        p=2.0,
        temperature=1.0,
        standardize=True,
        energy="log",
        log_floor=1e-3,
        time_map="sorted",
        align="interpolate",
        time_alignment="span",
        complex_features="magnitude",
        teacher_complex_features=None,
        layers=None,
    ):
        super().__init__()
        dims = list(dims)
        if not dims or any(d not in DIMS for d in dims):
            raise ValueError(f"dims must be a non-empty subset of {DIMS}, got {dims}.")
        if energy not in ENERGY_MODES:
            raise ValueError(f"energy must be one of {ENERGY_MODES}, got {energy!r}.")
        if log_floor <= 0:
            raise ValueError(f"log_floor must be positive, got {log_floor}.")
        if time_map not in TIME_MAPS:
            raise ValueError(f"time_map must be one of {TIME_MAPS}, got {time_map!r}.")
        if align not in ALIGN_MODES:
            raise ValueError(f"align must be one of {ALIGN_MODES}, got {align!r}.")
        if time_alignment not in TIME_ALIGNMENTS:
            raise ValueError(f"time_alignment must be one of {TIME_ALIGNMENTS}, got {time_alignment!r}.")
        teacher_complex_features = teacher_complex_features or complex_features
        modes = {"complex_features": complex_features, "teacher_complex_features": teacher_complex_features}
        for name, mode in modes.items():
            if mode not in COMPLEX_MODES:
                raise ValueError(f"{name} must be one of {COMPLEX_MODES}, got {mode!r}.")
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}.")
        self.dims = dims
        self.at_weight = at_weight
        self.kl_weight = kl_weight
        self.p = p
        self.temperature = temperature
        self.standardize = standardize
        self.energy = energy
        self.log_floor = log_floor
        self.time_map = time_map
        self.align = align
        self.time_alignment = time_alignment
        self.complex_features = complex_features
        self.teacher_complex_features = teacher_complex_features
        self.layers = self._parse_layers(layers if layers is not None else DEFAULT_LAYERS)

    @staticmethod
    def _parse_layers(layers):
        pairs = []
        for entry in layers:
            student, teacher = (entry, entry) if isinstance(entry, str) else entry
            for name in (student, teacher):
                group, _, index = name.partition(".")
                if group not in ("encoder", "decoder") or not index.isdigit():
                    raise ValueError(f"layer {name!r} must look like 'encoder.3' or 'decoder.0'.")
            pairs.append((student, teacher))
        if not pairs:
            raise ValueError("layers must name at least one layer pair.")
        return pairs

    def forward(self, student_features, teacher_features, lengths=None, layers=None, timings=None, frequencies=None):
        """Total AT-KL loss (a scalar); see :meth:`terms` for the arguments."""
        return self.terms(student_features, teacher_features, lengths, layers, timings, frequencies)["total"]

    def terms(self, student_features, teacher_features, lengths=None, layers=None, timings=None, frequencies=None):
        """Computes the loss and its parts.

        Arguments
        ---------
        student_features, teacher_features : dict
            ``{"encoder": [...], "decoder": [...]}`` of ``(batch, channels,
            freq, frames)`` tensors, as the models return them.
        lengths : torch.Tensor or None
            Relative lengths ``(batch,)``; padded frames are ignored.
        layers : list or None
            Overrides the layer pairs given at construction.
        timings : tuple or None
            ``(student, teacher)``
            :class:`~speechbrain_atkl.models.stft.FrameTiming` of the feature
            maps' frames; needed by ``time_alignment="timestamps"``.
        frequencies : tuple or None
            ``(student, teacher)`` callables mapping a map's number of
            frequency bins to the centre (Hz) of each bin, ``(bins,)``
            increasing: the teacher's maps are then sampled at the student's
            bin frequencies (:func:`align_frequencies`) before any other
            resampling. None: frequency axes are resampled by relative index
            (right when both are linear from 0 Hz to the Nyquist frequency).

        Returns
        -------
        dict
            ``"total"`` and, averaged over layer pairs, ``"at_time"``,
            ``"kl_time"``, ``"at_channel"``, ``"kl_channel"`` (those used).
        """
        pairs = self._parse_layers(layers) if layers is not None else self.layers
        sums = {}
        for student_name, teacher_name in pairs:
            student = _lookup(student_features, student_name, "student")
            teacher = _lookup(teacher_features, teacher_name, "teacher").detach()
            for name, value in self._pair_terms(student, teacher, lengths, timings, frequencies).items():
                sums[name] = sums.get(name, 0.0) + value / len(pairs)
        total = 0.0
        for dim in self.dims:
            if self.at_weight:
                total = total + self.at_weight * sums[f"at_{dim}"]
            if self.kl_weight:
                total = total + self.kl_weight * sums[f"kl_{dim}"]
        sums["total"] = total if torch.is_tensor(total) else torch.zeros(())
        return sums

    @staticmethod
    def _amplitude(x, mode, side):
        if mode == "channels":
            return x.abs()
        if x.shape[1] % 2:
            raise ValueError(
                f"the {side}'s feature map has {x.shape[1]} channels, so it cannot hold real and imaginary "
                f"halves ({side}_complex_features 'magnitude'); a real-valued {side} needs 'channels'."
            )
        return complex_magnitude(x)

    def _attention(self, x, lengths, mode, side):
        x = self._amplitude(x, mode, side)
        energy = x.pow(self.p)
        mask = frame_mask(lengths, x.shape[-1], x.device)
        maps = {}
        if "channel" in self.dims:
            maps["channel"] = energy.mean(1)
        if "time" in self.dims:
            if mask is None:
                maps["time"] = energy.mean(-1)
            else:
                weights = mask[:, None, None, :]
                maps["time"] = (energy * weights).sum(-1) / weights.sum(-1)
        return maps, mask

    def flat_maps(self, student, teacher, lengths=None, timings=None, frequencies=None):
        """The flattened maps each term compares, for one layer pair.

        Arguments
        ---------
        student, teacher : torch.Tensor
            Feature maps ``(batch, channels, freq, frames)``.
        lengths : torch.Tensor or None
            Relative lengths ``(batch,)``.
        timings : tuple or None
            ``(student, teacher)`` frame timings (see :meth:`terms`).
        frequencies : tuple or None
            ``(student, teacher)`` bin frequencies (see :meth:`terms`).

        Returns
        -------
        dict
            ``{dim: (student, teacher, valid)}``: ``(batch, bins)`` maps of
            equal shape (channel dimension: the teacher's frames aligned;
            time dimension: the ``time_map`` form) and the ``(batch, bins)``
            mask of the bins inside the lengths, or None.
        """
        student_maps, mask = self._attention(student, lengths, self.complex_features, "student")
        teacher_maps, _ = self._attention(teacher, lengths, self.teacher_complex_features, "teacher")
        if frequencies is not None:
            student_hz, teacher_hz = frequencies[0](student.shape[2]), frequencies[1](teacher.shape[2])
            if "channel" in teacher_maps:  # (batch, freq, frames)
                teacher_maps["channel"] = align_frequencies(
                    teacher_maps["channel"].transpose(1, 2), student_hz, teacher_hz
                ).transpose(1, 2)
            if "time" in teacher_maps:  # (batch, channels, freq)
                teacher_maps["time"] = align_frequencies(teacher_maps["time"], student_hz, teacher_hz)
        flat = {}
        for dim in self.dims:
            valid = None
            if dim == "time":
                s_map, t_map = time_map_pair(student_maps[dim], teacher_maps[dim], self.time_map, self.align)
            else:
                s_map, t_map = student_maps[dim], teacher_maps[dim]
                if self.time_alignment == "timestamps":
                    t_map = align_frames(t_map, s_map.shape[-1], *self._timings(timings))
                t_map = resample_axes(t_map, s_map.shape[-2:], self.align)
                if mask is not None:
                    valid = mask[:, None, :].expand_as(s_map).flatten(1)
            flat[dim] = (s_map.flatten(1), t_map.flatten(1), valid)
        return flat

    @staticmethod
    def _timings(timings):
        if timings is None or len(timings) != 2:
            raise ValueError(
                "time_alignment 'timestamps' needs timings=(student, teacher) FrameTiming of the feature "
                f"maps (e.g. model.stft.timing), got {timings!r}."
            )
        return timings

    def _pair_terms(self, student, teacher, lengths, timings, frequencies):
        terms = {}
        for dim, (s_flat, t_flat, valid) in self.flat_maps(student, teacher, lengths, timings, frequencies).items():
            if self.at_weight:
                terms[f"at_{dim}"] = self._at_distance(s_flat, t_flat, valid)
            if self.kl_weight:
                terms[f"kl_{dim}"] = self._kl(s_flat, t_flat, valid)
        return terms

    def logits(self, flat, valid=None):
        """The logits of the KL's softmax (before the temperature) of flattened maps ``(batch, bins)``."""
        return kl_logits(flat, self.standardize, self.energy, self.log_floor, valid)

    @staticmethod
    def _at_distance(student, teacher, valid):
        if valid is not None:
            student, teacher = student * valid, teacher * valid
        diff = F.normalize(student, dim=1) - F.normalize(teacher, dim=1)
        return diff.norm(dim=1).mean()

    def _kl(self, student, teacher, valid):
        student, teacher = self.logits(student, valid), self.logits(teacher, valid)
        student, teacher = student / self.temperature, teacher / self.temperature
        if valid is not None:
            # A finite fill keeps gradients free of inf - inf; exp(-1e4) is exactly 0.
            student = student.masked_fill(valid == 0, -1e4)
            teacher = teacher.masked_fill(valid == 0, -1e4)
        log_s = F.log_softmax(student, dim=1)
        log_t = F.log_softmax(teacher, dim=1)
        kl = (log_t.exp() * (log_t - log_s)).sum(1).mean()
        return kl * self.temperature**2


def _lookup(features, name, side):
    group, _, index = name.partition(".")
    layers = features.get(group, [])
    if int(index) >= len(layers):
        raise ValueError(
            f"{side} has {len(layers)} {group} feature maps, cannot link {name!r}; "
            "was the model called with return_features=True (or, for a hooked teacher, does "
            "teacher_feature_modules name that many modules)?"
        )
    return layers[int(index)]
