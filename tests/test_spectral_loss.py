"""Tests of the power-law-compressed spectral loss (losses/spectral.py)."""

import pytest
import torch

from speechbrain_atkl.losses import CompressedSpectralLoss


@pytest.fixture
def signals():
    gen = torch.Generator().manual_seed(0)
    clean = torch.randn(3, 4000, generator=gen)
    estimate = clean + 0.3 * torch.randn(3, 4000, generator=gen)
    return estimate, clean


def test_zero_for_identical_inputs_and_positive_otherwise(signals):
    estimate, clean = signals
    loss = CompressedSpectralLoss()
    assert loss(clean, clean).item() == 0.0
    assert loss(estimate, clean).item() > 1e-3


def test_scale_behaviour(signals):
    # Compressed spectra scale as a^p, squared errors as a^(2p).
    estimate, clean = signals
    for exponent in (0.3, 0.5, 1.0):
        loss = CompressedSpectralLoss(exponent=exponent)
        scaled = loss(4.0 * estimate, 4.0 * clean)
        assert scaled.item() == pytest.approx(4.0 ** (2 * exponent) * loss(estimate, clean).item(), rel=1e-3)
    # The magnitude term ignores the phase: a sign flip costs only the complex term.
    magnitude_only = CompressedSpectralLoss(complex_weight=0.0)
    complex_only = CompressedSpectralLoss(complex_weight=1.0)
    assert magnitude_only(-clean, clean).item() == pytest.approx(0.0, abs=1e-6)
    assert complex_only(-clean, clean).item() > 1.0


def test_weighting_is_a_convex_combination(signals):
    estimate, clean = signals
    parts = [CompressedSpectralLoss(complex_weight=w)(estimate, clean) for w in (0.0, 1.0, 0.3)]
    assert parts[2].item() == pytest.approx(0.7 * parts[0].item() + 0.3 * parts[1].item(), rel=1e-5)


def test_padded_samples_are_masked(signals):
    estimate, clean = signals
    loss = CompressedSpectralLoss(hop_length=160)
    lengths = torch.tensor([1.0, 0.5, 0.25])
    garbage = estimate.clone()
    for item, length in enumerate(lengths):
        garbage[item, int(length * 4000) :] = 100 * torch.randn(4000 - int(length * 4000))
    assert torch.allclose(loss(estimate, clean, lengths), loss(garbage, clean, lengths))
    assert not torch.allclose(loss(estimate, clean), loss(garbage, clean))
    # One item alone, cut to its length, gives its own loss.
    short = loss(estimate[1:2, :2000], clean[1:2, :2000])
    assert loss(estimate[1:2], clean[1:2], torch.tensor([0.5])).item() == pytest.approx(short.item(), rel=1e-5)


def test_gradients_are_finite_on_silence():
    estimate = torch.zeros(1, 1600, requires_grad=True)
    CompressedSpectralLoss()(estimate, torch.randn(1, 1600)).backward()
    assert torch.isfinite(estimate.grad).all()


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="exponent"):
        CompressedSpectralLoss(exponent=0.0)
    with pytest.raises(ValueError, match="complex_weight"):
        CompressedSpectralLoss(complex_weight=1.5)
    with pytest.raises(ValueError, match="same shape"):
        CompressedSpectralLoss()(torch.randn(1, 100), torch.randn(1, 200))
