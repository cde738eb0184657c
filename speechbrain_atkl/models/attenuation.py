"""Attenuation limit: how much of the input the enhancement keeps at least, bin by bin.

A limit of ``L`` dB keeps at least ``10 ** (-L / 20)`` of the input's
amplitude in every time-frequency bin (12 dB: about a quarter; 0 dB removes
nothing), the strength knob of enhancement tools (DeepFilterNet's
``atten_lim_db``). The models apply it to their masked spectrum, before the
inverse STFT, so offline, streaming and ONNX enhancement get it alike:

* DCCRN's E and C masks are complex gains ``G`` (E: ``tanh|M| e^{j angle M}``):
  the limit is a floor under ``|G|``, the phase kept;
* DCCRN's R mask scales the real and imaginary parts apart, and the
  Uformer's gain acts on a compressed spectrum: for both the floor is on the
  bin's gain ``|enhanced| / |noisy|``, the enhanced phase kept;
* a bin the model sets to zero (the DC bin, which every model removes) passes
  at the floor with the noisy phase.

Bins already above the floor are left bit for bit as they are; no limit
(``None``) leaves the models' output as it was.

Authors
 * speechbrain-atkl developers 2026
"""

import math
import numbers

import torch

from speechbrain_atkl.models.complex_nn import complex_magnitude


def attenuation_floor(atten_lim_db):
    """The least gain an attenuation limit allows, or None for no limit.

    Arguments
    ---------
    atten_lim_db : float or None
        The most any bin may be attenuated, in dB (>= 0); None: no limit.

    Returns
    -------
    float or None
        ``10 ** (-atten_lim_db / 20)``.

    Example
    -------
    >>> round(attenuation_floor(12), 3), attenuation_floor(0), attenuation_floor(None)
    (0.251, 1.0, None)
    >>> attenuation_floor(-6)
    Traceback (most recent call last):
        ...
    ValueError: atten_lim_db must be None (no limit) or a finite number of dB >= 0, got -6.
    """
    if atten_lim_db is None:
        return None
    if (
        isinstance(atten_lim_db, bool)
        or not isinstance(atten_lim_db, numbers.Real)
        or not 0 <= atten_lim_db < math.inf
    ):
        raise ValueError(
            f"atten_lim_db must be None (no limit) or a finite number of dB >= 0, got {atten_lim_db!r}."
        )
    return 10.0 ** (-float(atten_lim_db) / 20.0)


def limit_attenuation(enhanced, noisy, floor):
    """Raises every bin of ``enhanced`` to at least ``floor`` times the magnitude of ``noisy``'s.

    Arguments
    ---------
    enhanced : torch.Tensor
        Enhanced spectrum ``(batch, 2, freq, frames)``, real part first.
    noisy : torch.Tensor
        The noisy spectrum it was computed from, same shape.
    floor : float
        The least gain, from :func:`attenuation_floor`.

    Returns
    -------
    torch.Tensor
        ``(batch, 2, freq, frames)``: ``enhanced`` where its bin's magnitude
        reaches ``floor * |noisy|`` (the same values), else that magnitude with
        the enhanced bin's phase (the noisy one's where the enhanced bin is 0).

    Example
    -------
    >>> noisy = torch.tensor([4.0, 4.0, 0.0]).view(1, 1, 3, 1).repeat(1, 2, 1, 1)  # 4 + 4j, 4 + 4j, 0
    >>> enhanced = torch.tensor([[0.1, 3.0, 0.0], [0.0, 0.0, 0.0]]).view(1, 2, 3, 1)  # 0.1, 3, 0
    >>> out = limit_attenuation(enhanced, noisy, floor=0.25)
    >>> out[0, :, :, 0]  # |noisy| / 4 = 1.414 under the enhanced phase; 3 kept; 0 stays 0
    tensor([[1.4142, 3.0000, 0.0000],
            [0.0000, 0.0000, 0.0000]])
    >>> limit_attenuation(torch.zeros_like(noisy), noisy, floor=0.25)[0, :, 0, 0]  # the noisy phase
    tensor([1., 1.])
    """
    least = floor * complex_magnitude(noisy, eps=0.0)
    magnitude = complex_magnitude(enhanced, eps=0.0)
    # The enhanced bin's direction, divided before it is scaled (no overflow for tiny magnitudes),
    # or the noisy one's where the magnitude is 0: a zero bin, or one whose square underflows.
    silent = magnitude == 0
    direction = ~silent * (enhanced / magnitude.clamp_min(torch.finfo(magnitude.dtype).tiny))
    raised = direction * least + silent * (floor * noisy)
    # Selected by a product, not torch.where: a where() over the noisy spectrum lets the ONNX
    # exporter fix the time axis at the traced length. Bins not raised get + 0: the same values.
    return enhanced + (magnitude < least) * (raised - enhanced)
