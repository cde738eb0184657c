"""Tests of SI-SNR, the balanced SI-SNR and AT-KL."""

import numpy as np
import pytest
import torch

from speechbrain_atkl.losses import ATKLLoss, BalancedSISNRLoss, SISNRLoss, si_snr
from speechbrain_atkl.models.dccrn import DCCRN


def _numpy_si_snr(est, ref):
    est, ref = est - est.mean(), ref - ref.mean()
    proj = np.dot(est, ref) / np.dot(ref, ref) * ref
    return 10 * np.log10(np.sum(proj**2) / np.sum((est - proj) ** 2))


def test_si_snr_matches_direct_computation():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((3, 4000))
    est = 0.7 * ref + 0.3 * rng.standard_normal((3, 4000)) + 0.2
    ours = si_snr(torch.tensor(est), torch.tensor(ref))
    expected = [_numpy_si_snr(e, r) for e, r in zip(est, ref)]
    assert np.allclose(ours.numpy(), expected, atol=1e-5)


def test_si_snr_ignores_padding():
    rng = np.random.default_rng(1)
    ref = rng.standard_normal(3000)
    est = ref + 0.5 * rng.standard_normal(3000)
    padded_ref = torch.zeros(2, 4000, dtype=torch.float64)
    padded_est = torch.zeros(2, 4000, dtype=torch.float64)
    padded_ref[0], padded_est[0] = torch.tensor(rng.standard_normal(4000)), torch.tensor(rng.standard_normal(4000))
    padded_ref[1, :3000], padded_est[1, :3000] = torch.tensor(ref), torch.tensor(est)
    padded_est[1, 3000:] = 100.0  # garbage in the padding must not matter
    value = si_snr(padded_est, padded_ref, torch.tensor([1.0, 0.75]))
    assert value[1].item() == pytest.approx(_numpy_si_snr(est, ref), abs=1e-5)


def test_si_snr_scale_invariant_and_finite_on_silence():
    ref = torch.randn(2, 1000)
    est = ref + 0.1 * torch.randn(2, 1000)
    assert torch.allclose(si_snr(est, ref), si_snr(5 * est, ref), atol=1e-4)
    silent = torch.zeros(2, 1000)
    assert torch.isfinite(si_snr(est, silent)).all()
    assert torch.isfinite(si_snr(silent, silent)).all()
    est.requires_grad_()
    SISNRLoss()(est, silent).backward()
    assert torch.isfinite(est.grad).all()
    with pytest.raises(ValueError, match="same shape"):
        si_snr(torch.zeros(1, 10), torch.zeros(1, 11))


def test_balanced_si_snr_weights_and_teacher_gradient():
    clean, teacher = torch.randn(2, 2, 800)
    teacher.requires_grad_()
    student = torch.randn(2, 800, requires_grad=True)
    only_clean = BalancedSISNRLoss(0.0)(student, clean, teacher)
    only_teacher = BalancedSISNRLoss(1.0)(student, clean, teacher)
    half = BalancedSISNRLoss(0.5)(student, clean, teacher)
    assert half.item() == pytest.approx(0.5 * (only_clean.item() + only_teacher.item()), rel=1e-5)
    half.backward()
    assert teacher.grad is None and student.grad is not None
    with pytest.raises(ValueError, match="teacher_weight"):
        BalancedSISNRLoss(1.5)


def _features(channels, frames, freq=(128, 64, 32, 16, 8, 4), requires_grad=False):
    enc = [torch.randn(2, c, f, frames, requires_grad=requires_grad) for c, f in zip(channels, freq)]
    dec = [torch.randn(2, c, f, frames, requires_grad=requires_grad) for c, f in zip(channels[::-1], freq[::-1])]
    return {"encoder": enc, "decoder": dec}


@pytest.mark.parametrize("kl_weight,at_weight", [(1.0, 1.0), (1.0, 0.0), (0.0, 1.0)])
@pytest.mark.parametrize("dims", [["time", "channel"], ["time"], ["channel"]])
def test_atkl_zero_on_identical_positive_otherwise(kl_weight, at_weight, dims):
    loss = ATKLLoss(dims=dims, kl_weight=kl_weight, at_weight=at_weight)
    student = _features([16, 32, 64, 96, 128, 128], 41)
    assert loss(student, student).abs().item() < 1e-5
    teacher = _features([16, 32, 64, 128, 256, 256], 26)
    value = loss(student, teacher)
    assert value.item() > 1e-3
    terms = loss.terms(student, teacher)
    assert {f"{kind}_{dim}" for dim in dims for kind, w in (("at", at_weight), ("kl", kl_weight)) if w} <= set(terms)


def test_atkl_gradients_reach_student_only_and_finite_on_silence():
    loss = ATKLLoss()
    student = _features([16, 32, 64, 96, 128, 128], 41, requires_grad=True)
    teacher = _features([16, 32, 64, 128, 256, 256], 26, requires_grad=True)
    loss(student, teacher).backward()
    assert all(t.grad is not None and torch.isfinite(t.grad).all() for t in student["encoder"])
    assert all(t.grad is None for t in teacher["encoder"] + teacher["decoder"])
    silent_s = {k: [torch.zeros_like(t, requires_grad=True) for t in v] for k, v in student.items()}
    silent_t = {k: [torch.zeros_like(t) for t in v] for k, v in teacher.items()}
    value = loss(silent_s, silent_t)
    value.backward()
    assert torch.isfinite(value)
    assert all(torch.isfinite(t.grad).all() for t in silent_s["encoder"])


def test_atkl_layers_lengths_and_errors():
    student = _features([16, 32, 64, 96, 128, 128], 41)
    teacher = _features([16, 32, 64, 128, 256, 256], 26)
    one = ATKLLoss(layers=["encoder.0"])(student, teacher)
    cross = ATKLLoss(layers=[["encoder.0", "encoder.0"]])(student, teacher)
    assert torch.allclose(one, cross)
    # Frames past a relative length do not matter.
    lengths = torch.tensor([1.0, 0.5])
    masked = ATKLLoss()(student, teacher, lengths)
    changed = {k: [t.clone() for t in v] for k, v in student.items()}
    for t in changed["encoder"] + changed["decoder"]:
        t[1, ..., 30:] = 50.0
    assert torch.allclose(masked, ATKLLoss()(changed, teacher, lengths), atol=1e-5)
    assert not torch.allclose(masked, ATKLLoss()(changed, teacher), atol=1e-3)
    with pytest.raises(ValueError, match="encoder.3"):
        ATKLLoss(layers=["bottleneck"])
    with pytest.raises(ValueError, match="return_features"):
        ATKLLoss()({"encoder": [], "decoder": []}, teacher)
    with pytest.raises(ValueError, match="dims"):
        ATKLLoss(dims=["frequency"])
    for align in ("interpolate", "pool"):
        assert torch.isfinite(ATKLLoss(align=align, complex_features="channels", p=1)(student, teacher))


def _permute_complex_channels(features, seed=0):
    """The same features with their complex channels (real and imaginary halves alike) permuted."""
    generator = torch.Generator().manual_seed(seed)
    permuted = {}
    for group, maps in features.items():
        permuted[group] = []
        for x in maps:
            order = torch.randperm(x.shape[1] // 2, generator=generator)
            permuted[group].append(x[:, torch.cat([order, order + x.shape[1] // 2])])
    return permuted


@pytest.mark.parametrize("energy", ["power", "log"])
def test_atkl_time_dimension_ignores_channel_order(energy):
    torch.manual_seed(0)
    teacher = {k: [t.exp() for t in v] for k, v in _features([16, 32, 64, 128, 256, 256], 26).items()}
    permuted = _permute_complex_channels(teacher)
    default = ATKLLoss(energy=energy).terms(permuted, teacher)
    assert ATKLLoss().time_map == "sorted"
    assert max(float(default[name]) for name in ("at_time", "kl_time", "total")) < 1e-5
    for time_map in ("gram", "profile"):
        terms = ATKLLoss(dims=["time"], energy=energy, time_map=time_map).terms(permuted, teacher)
        assert max(float(terms["at_time"]), float(terms["kl_time"])) < 1e-5
    index = ATKLLoss(dims=["time"], energy=energy, time_map="index").terms(permuted, teacher)
    assert float(index["at_time"]) > 0.05 and float(index["kl_time"]) > 0.05
    # the channel-dimension map never depended on channel order
    channel = ATKLLoss(dims=["channel"], energy=energy).terms(permuted, teacher)
    assert float(channel["total"]) < 1e-5
    with pytest.raises(ValueError, match="time_map"):
        ATKLLoss(time_map="channel_sort")


def test_atkl_time_maps_accept_channel_count_mismatch():
    student = _features([16, 32, 64, 96, 128, 128], 41, requires_grad=True)
    teacher = _features([16, 32, 64, 128, 256, 256], 26)
    for time_map in ("sorted", "gram", "profile", "index"):
        value = ATKLLoss(dims=["time"], time_map=time_map)(student, teacher)
        value.backward()
        assert torch.isfinite(value) and value > 0
        assert all(torch.isfinite(t.grad).all() for t in student["encoder"])


def test_atkl_log_energy_spreads_the_teacher_softmax():
    from speechbrain_atkl.losses.attention_maps import kl_logits, softmax_concentration

    torch.manual_seed(0)
    energies = torch.randn(4, 5000).mul(2.0).exp()  # heavy-tailed, like |X|^2 maps
    power_share, power_bins = softmax_concentration(kl_logits(energies, energy="power"))
    log_share, log_bins = softmax_concentration(kl_logits(energies, energy="log"))
    assert (log_share < power_share / 5).all() and (log_bins > 5 * power_bins).all()
    # scale-free, and finite on silence
    assert torch.allclose(kl_logits(energies * 1e3, energy="log"), kl_logits(energies, energy="log"), atol=1e-3)
    assert torch.isfinite(kl_logits(torch.zeros(2, 10), energy="log")).all()
    with pytest.raises(ValueError, match="energy"):
        ATKLLoss(energy="db")
    student = _features([16, 32, 64, 96, 128, 128], 41)
    teacher = _features([16, 32, 64, 128, 256, 256], 26)
    power = ATKLLoss(energy="power", at_weight=0.0)(student, teacher)
    log = ATKLLoss(energy="log", at_weight=0.0)(student, teacher)
    assert torch.isfinite(log) and not torch.allclose(power, log)


def test_atkl_on_real_model_pair():
    """Student DCCRN (hop 100) against a differently shaped DCCRN-like teacher (hop 160)."""
    student = DCCRN.from_preset("Distil-DCCRN")
    teacher = DCCRN(channels=[32, 64, 128, 256, 256, 256], rnn_type="complex", hop_length=160, window="sqrt_hann")
    wav = torch.randn(2, 8000)
    _, s_feat = student(wav, return_features=True)
    with torch.no_grad():
        _, t_feat = teacher(wav, return_features=True)
    assert s_feat["encoder"][0].shape[-1] != t_feat["encoder"][0].shape[-1]
    value = ATKLLoss()(s_feat, t_feat)
    value.backward()
    assert value.item() > 0
    assert all(p.grad is not None for p in student.encoder.parameters())
    assert all(p.grad is None for p in teacher.parameters())


def test_atkl_between_uformer_teacher_and_distil_student():
    """The real pair: Uformer-light (hop 160, 8..128 complex channels) -> Distil-DCCRN (hop 100)."""
    from speechbrain_atkl.models.uformer import Uformer

    torch.manual_seed(0)
    student = DCCRN.from_preset("Distil-DCCRN")
    teacher = Uformer.from_preset("Uformer-light").eval()
    wav = torch.randn(2, 16000) * 0.1
    _, s_feat = student(wav, return_features=True)
    with torch.no_grad():
        _, t_feat = teacher(wav, return_features=True)
    for group in ("encoder", "decoder"):
        for s, t in zip(s_feat[group], t_feat[group]):
            assert s.shape[2] == t.shape[2]  # same frequency axis
            assert s.shape[3] != t.shape[3]  # 161 vs 101 frames
    assert any(s.shape[1] != t.shape[1] for s, t in zip(s_feat["encoder"], t_feat["encoder"]))
    loss = ATKLLoss()
    terms = loss.terms(s_feat, t_feat)
    assert all(torch.isfinite(v) and v > 0 for v in terms.values())
    terms["total"].backward()
    assert all(p.grad is not None for p in student.encoder.parameters())
    assert all(p.grad is None for p in teacher.parameters())
