"""Attention maps of AT-KL: resampling, permutation-invariant time maps, KL logits.

Helpers of :class:`speechbrain_atkl.losses.ATKLLoss`, usable on their own to
inspect what the loss compares.

Time-dimension attention ``mean_t |X|^p`` is a map over ``(channels, freq)``.
Channel ``i`` of one network has nothing to do with channel ``i`` of another,
so :func:`time_map_pair` offers forms that do not depend on channel order:

* ``"sorted"``: the channel energies of each frequency bin sorted (largest
  first); the teacher's sorted axis is resampled to the student's channel
  count, so the two quantile profiles of channel energy are compared;
* ``"gram"``: the ``(freq, freq)`` Gram matrix ``A^T A / channels``, which
  frequencies are active in the same channels; independent of channel order
  and of the channel count;
* ``"profile"``: the channel-mean frequency profile ``(1, freq)`` (which is
  also the frame mean of the channel-dimension map);
* ``"index"``: channel index against channel index, the teacher's channel
  axis resampled (depends on channel order; kept for the ablation).

Channel-dimension attention is a map over ``(freq, frames)``, and two models
with different STFT hops have different frames. :func:`align_frames` puts the
teacher's frames onto the student's by time (``time_alignment="timestamps"``
of the loss): each student frame takes the teacher's map at the same instant
(the centre of its window), linearly interpolated between the two nearest
teacher frames, whatever the two hops (e.g. 256 and 100). The other
alignment, ``"span"``, stretches the teacher's frame axis over the student's
(bilinear resampling, :func:`resample_axes`), which assumes that both frame
axes cover the same stretch of signal. Against DCCRN's frames (hop 100) it
is off by up to 50 samples for Uformer's (hop 160), and for GTCRN's centred
hop-256 frames by 22 samples on 2-4 s segments but 146 on 1-s ones, where
the two frame counts round differently (tested).

Authors
 * speechbrain-atkl developers 2026
"""

import torch
import torch.nn.functional as F

ALIGN_MODES = ("interpolate", "pool")
TIME_ALIGNMENTS = ("span", "timestamps")
TIME_MAPS = ("sorted", "gram", "profile", "index")
ENERGY_MODES = ("power", "log")


def resample_axes(x, size, mode="interpolate"):
    """Resamples the last two axes of ``x`` ``(batch, a, b)`` to ``size``.

    Arguments
    ---------
    x : torch.Tensor
        ``(batch, a, b)``.
    size : tuple
        Target ``(a', b')``.
    mode : str
        ``"interpolate"`` (bilinear) or ``"pool"`` (adaptive average pooling;
        for upsampling it repeats values).

    Example
    -------
    >>> resample_axes(torch.ones(2, 4, 97), (4, 161)).shape
    torch.Size([2, 4, 161])
    """
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if mode == "interpolate":
        return F.interpolate(x[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
    if mode == "pool":
        return F.adaptive_avg_pool2d(x[:, None], size)[:, 0]
    raise ValueError(f"align must be one of {ALIGN_MODES}, got {mode!r}.")


def align_frames(teacher, student_frames, student_timing, teacher_timing):
    """The teacher's map sampled at the instants of the student's frames.

    Arguments
    ---------
    teacher : torch.Tensor
        ``(..., teacher_frames)``, frames last.
    student_frames : int
        Number of student frames.
    student_timing, teacher_timing : FrameTiming
        Where each model's frames lie in the waveform
        (:class:`~speechbrain_atkl.models.stft.FrameTiming`, e.g. ``model.stft.timing``).

    Returns
    -------
    torch.Tensor
        ``(..., student_frames)``: at the centre of each student frame, the
        linear interpolation of the two teacher frames around it (the first or
        last teacher frame outside the teacher's range).

    Example
    -------
    >>> from speechbrain_atkl.models.stft import FrameTiming
    >>> teacher = FrameTiming(hop_length=256, first_centre=0.0)  # GTCRN
    >>> student = FrameTiming(hop_length=100, first_centre=-100.0)  # DCCRN
    >>> centres = teacher.centres(20).float()  # a map holding each frame's time
    >>> align_frames(centres, 5, student, teacher).tolist()
    [0.0, 0.0, 100.0, 200.0, 300.0]
    """
    centres = student_timing.centres(student_frames, teacher.device)
    return sample_last_axis(teacher, (centres - teacher_timing.first_centre) / teacher_timing.hop_length)


def align_frequencies(teacher, student_hz, teacher_hz):
    """The teacher's map sampled at the student's bin frequencies.

    Two models whose frequency bins are not spread alike (e.g. GTCRN's ERB
    bands above 2 kHz against a linear STFT) are compared bin by bin at the
    same frequency, not at the same relative bin index.

    Arguments
    ---------
    teacher : torch.Tensor
        ``(..., teacher_bins)``, frequency last.
    student_hz, teacher_hz : torch.Tensor
        Centre frequency (Hz) of each bin, ``(student_bins,)`` and
        ``(teacher_bins,)``, increasing.

    Returns
    -------
    torch.Tensor
        ``(..., student_bins)``: linear interpolation in Hz between the two
        teacher bins around each student bin (the first or last teacher bin
        outside the teacher's range).

    Example
    -------
    >>> teacher_hz = torch.tensor([0.0, 1000.0, 4000.0, 8000.0])
    >>> align_frequencies(teacher_hz, torch.tensor([500.0, 2500.0, 8000.0]), teacher_hz).tolist()
    [500.0, 2500.0, 8000.0]
    """
    teacher_hz = teacher_hz.to(device=teacher.device, dtype=torch.float64)
    student_hz = student_hz.to(device=teacher.device, dtype=torch.float64)
    if teacher_hz.numel() != teacher.shape[-1]:
        raise ValueError(
            f"the teacher's map has {teacher.shape[-1]} frequency bins but {teacher_hz.numel()} bin frequencies."
        )
    above = torch.searchsorted(teacher_hz, student_hz).clamp(1, max(teacher_hz.numel() - 1, 1))
    below = above - 1
    span = (teacher_hz[above] - teacher_hz[below]).clamp_min(1e-9)
    positions = below + (student_hz - teacher_hz[below]) / span
    return sample_last_axis(teacher, positions)


def sample_last_axis(x, positions):
    """``x`` linearly interpolated at fractional indices of its last axis.

    Arguments
    ---------
    x : torch.Tensor
        ``(..., size)``.
    positions : torch.Tensor
        ``(count,)`` fractional indices; those outside ``[0, size - 1]`` take
        the first or last value.

    Returns
    -------
    torch.Tensor
        ``(..., count)``.

    Example
    -------
    >>> sample_last_axis(torch.tensor([0.0, 10.0, 20.0]), torch.tensor([-1.0, 0.5, 1.25, 5.0])).tolist()
    [0.0, 5.0, 12.5, 20.0]
    """
    size = x.shape[-1]
    positions = positions.clamp(0, size - 1)
    below = positions.floor().long().clamp(max=max(size - 2, 0))
    above = (below + 1).clamp(max=size - 1)
    weight = (positions - below).to(x.dtype)
    return x[..., below] * (1 - weight) + x[..., above] * weight


def frame_mask(lengths, frames, device):
    """``(batch, frames)`` float mask of the frames inside each relative length."""
    if lengths is None:
        return None
    valid = torch.ceil(lengths.to(device) * frames).clamp(1, frames)
    return (torch.arange(frames, device=device)[None, :] < valid[:, None]).float()


def _time_form(energy_map, mode):
    if mode == "sorted":
        return energy_map.sort(dim=1, descending=True).values
    if mode == "gram":
        return torch.einsum("bcf,bcg->bfg", energy_map, energy_map) / energy_map.shape[1]
    if mode == "profile":
        return energy_map.mean(1, keepdim=True)
    if mode == "index":
        return energy_map
    raise ValueError(f"time_map must be one of {TIME_MAPS}, got {mode!r}.")


def time_map_pair(student, teacher, mode="sorted", align="interpolate"):
    """Student and teacher time-dimension maps in a comparable form.

    Arguments
    ---------
    student, teacher : torch.Tensor
        ``mean_t |X|^p`` maps ``(batch, channels, freq)``; channel and
        frequency counts may differ.
    mode : str
        One of :data:`TIME_MAPS` (see the module docstring).
    align : str
        How the teacher's map is resampled to the student's shape.

    Returns
    -------
    tuple of torch.Tensor
        ``(student, teacher)`` of the same shape: ``(batch, channels, freq)``
        (sorted, index), ``(batch, freq, freq)`` (gram) or ``(batch, 1, freq)``
        (profile).

    Example
    -------
    >>> teacher = torch.rand(2, 8, 16)
    >>> student = teacher[:, torch.randperm(8)]
    >>> s, t = time_map_pair(student, teacher, "sorted")
    >>> s.shape, torch.allclose(s, t)
    (torch.Size([2, 8, 16]), True)
    >>> s, t = time_map_pair(student[:, :4], teacher, "gram")
    >>> s.shape
    torch.Size([2, 16, 16])
    """
    student, teacher = _time_form(student, mode), _time_form(teacher, mode)
    return student, resample_axes(teacher, student.shape[-2:], align)


def kl_logits(x, standardize=True, energy="power", log_floor=1e-3, valid=None, eps=1e-5):
    """The logits the KL term takes the softmax of, from flattened maps.

    Arguments
    ---------
    x : torch.Tensor
        Flattened attention maps ``(batch, bins)``, non-negative.
    standardize : bool
        Zero mean, unit variance per row (over the valid bins).
    energy : str
        ``"power"``: the map as is; ``"log"``: ``log(x + log_floor * mean(x))``,
        log-energy with a floor relative to the row's mean (so the result does
        not depend on feature scale and silent bins stay finite).
    log_floor : float
        The floor of ``"log"``, relative to the row's mean (1e-3: 30 dB
        below the mean of a p = 2 map, which holds power).
    valid : torch.Tensor or None
        ``(batch, bins)`` mask of the bins to use (1) or ignore (0).
    eps : float
        Added to the standard deviation.

    Example
    -------
    >>> x = torch.tensor([[1.0, 10.0, 100.0, 1000.0]])
    >>> kl_logits(x, energy="log").softmax(1).max().item() < kl_logits(x).softmax(1).max().item()
    True
    """
    if energy not in ENERGY_MODES:
        raise ValueError(f"energy must be one of {ENERGY_MODES}, got {energy!r}.")
    if energy == "log":
        mean = x.mean(1, keepdim=True) if valid is None else (x * valid).sum(1, keepdim=True) / valid.sum(
            1, keepdim=True
        ).clamp_min(1.0)
        x = torch.log(x + log_floor * mean + 1e-20)
    if not standardize:
        return x
    if valid is None:
        mean, std = x.mean(1, keepdim=True), x.std(1, keepdim=True)
    else:
        count = valid.sum(1, keepdim=True).clamp_min(2.0)
        mean = (x * valid).sum(1, keepdim=True) / count
        std = (((x - mean) * valid).pow(2).sum(1, keepdim=True) / (count - 1)).sqrt()
    return (x - mean) / (std + eps)


def softmax_concentration(logits):
    """How peaked each row's softmax is: largest bin's share and effective bin count.

    Arguments
    ---------
    logits : torch.Tensor
        ``(batch, bins)``.

    Returns
    -------
    tuple of torch.Tensor
        ``(max_share, effective_bins)``, each ``(batch,)``: the largest
        probability and ``exp(entropy)`` (``bins`` for a uniform softmax, 1
        for a one-hot one).

    Example
    -------
    >>> share, bins = softmax_concentration(torch.zeros(1, 10))
    >>> round(share.item(), 3), round(bins.item(), 3)
    (0.1, 10.0)
    """
    log_p = F.log_softmax(logits, dim=1)
    entropy = -(log_p.exp() * log_p).sum(1)
    return log_p.exp().amax(1), entropy.exp()
