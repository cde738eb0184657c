"""Tests of the STFT, the complex layers and DCCRN."""

import pytest
import torch

from benchmarks.model_cost import count_macs, count_parameters
from speechbrain_atkl.models.complex_lstm import ComplexLSTM
from speechbrain_atkl.models.complex_nn import (
    ComplexConv2d,
    ComplexConvTranspose2d,
    complex_cat,
)
from speechbrain_atkl.models.dccrn import DCCRN
from speechbrain_atkl.models.dccrn_blocks import apply_mask
from speechbrain_atkl.models.stft import STFT


@pytest.mark.parametrize("win,hop,window", [(400, 100, "hann"), (400, 160, "sqrt_hann")])
@pytest.mark.parametrize("length", [1, 17, 399, 401, 16001])
def test_stft_round_trip(win, hop, window, length):
    stft = STFT(win, hop, 512, window)
    wav = torch.randn(3, length)
    spec = stft(wav)
    assert spec.shape == (3, 2, 257, stft.num_frames(length))
    assert (stft.inverse(spec, length) - wav).abs().max() < 1e-4


def test_stft_ten_minutes():
    stft = STFT(400, 100, 512)
    wav = torch.randn(1, 16000 * 600)
    assert (stft.inverse(stft(wav), wav.shape[-1]) - wav).abs().max() < 1e-4


def test_stft_matches_torch_stft():
    stft = STFT(400, 100, 512, "hann")
    wav = torch.randn(1, 4000)
    ours = stft(wav)
    # torch.stft with the same left padding, window placed at the start of the frame.
    padded = torch.nn.functional.pad(wav, (300, 512))
    window = torch.nn.functional.pad(torch.hann_window(400), (0, 112))
    ref = torch.stft(padded, 512, 100, 512, window, center=False, return_complex=True)
    n = ours.shape[-1]
    assert torch.allclose(ours[:, 0], ref.real[..., :n], atol=1e-3)
    assert torch.allclose(ours[:, 1], ref.imag[..., :n], atol=1e-3)


def test_stft_rejects_bad_shapes():
    with pytest.raises(ValueError, match="n_fft"):
        STFT(win_length=600, n_fft=512)
    with pytest.raises(ValueError, match="batch, time"):
        STFT()(torch.randn(10))


def _complex_reference_conv(conv, x):
    """The complex convolution written with four real convolutions."""
    xr, xi = x.chunk(2, 1)
    pad = (conv.time_pad, 0, conv.freq_pad, conv.freq_pad)
    xr, xi = torch.nn.functional.pad(xr, pad), torch.nn.functional.pad(xi, pad)
    real = conv.real(xr) - conv.imag(xi)
    imag = conv.real(xi) + conv.imag(xr)
    return torch.cat([real, imag], 1)


def test_complex_conv_is_complex_product():
    conv = ComplexConv2d(4, 6)
    x = torch.randn(2, 4, 16, 7)
    assert torch.allclose(conv(x), _complex_reference_conv(conv, x), atol=1e-5)


def test_complex_conv_is_causal():
    conv = ComplexConv2d(2, 4)
    x = torch.randn(1, 2, 16, 10)
    y = x.clone()
    y[..., 6:] = torch.randn_like(y[..., 6:])
    assert torch.allclose(conv(x)[..., :6], conv(y)[..., :6])
    assert not torch.allclose(conv(x)[..., 6], conv(y)[..., 6])


@pytest.mark.parametrize("lookahead", [False, True])
def test_complex_transposed_conv_time_context(lookahead):
    deconv = ComplexConvTranspose2d(4, 2, lookahead=lookahead)
    x = torch.randn(1, 4, 8, 10)
    y = x.clone()
    y[..., 6:] = 0.0
    changed = (deconv(x) - deconv(y)).abs().amax(dim=(0, 1, 2)) > 0
    first_changed = int(changed.float().argmax())
    assert first_changed == (5 if lookahead else 6)
    # A complex product: imaginary weights of zero make it two real convolutions.
    with torch.no_grad():
        deconv.imag.weight.zero_()
        deconv.imag.bias.zero_()
    out = deconv(x)
    ref = torch.nn.functional.conv_transpose2d(x[:, :2], deconv.real.weight, deconv.real.bias, (2, 1))
    assert torch.allclose(out[:, :1], ref[:, :, 2:18, int(lookahead) : int(lookahead) + 10], atol=1e-5)


def _complex_convs(model):
    return [m for m in model.modules() if isinstance(m, (ComplexConv2d, ComplexConvTranspose2d))]


def test_reference_and_pytorch_init_statistics():
    torch.manual_seed(0)
    reference = DCCRN.from_preset("DCCRN-E")
    torch.manual_seed(0)
    pytorch = DCCRN.from_preset("DCCRN-E", init="pytorch")
    assert reference.config["init"] == "reference" and pytorch.config["init"] == "pytorch"
    ref_convs, pt_convs = _complex_convs(reference), _complex_convs(pytorch)
    assert len(ref_convs) == len(pt_convs) == 12
    for ref, pt in zip(ref_convs, pt_convs):
        for part in ("real", "imag"):
            ref_layer, pt_layer = getattr(ref, part), getattr(pt, part)
            std = ref_layer.weight.std().item()
            assert abs(ref_layer.weight.mean().item()) < 0.01
            assert std == pytest.approx(0.05, rel=0.2 if ref_layer.weight.numel() < 200 else 0.05)
            assert ref_layer.bias.abs().max().item() == 0.0
            # PyTorch's default: kaiming-uniform weights bounded by 1 / sqrt(fan_in), non-zero biases
            assert pt_layer.weight.abs().max().item() <= pt_layer.weight[0].numel() ** -0.5 + 1e-6
            assert pt_layer.bias.abs().max().item() > 0.0
    # the first layer (fan-in 10) starts 3-4 times wider under PyTorch's default
    assert pt_convs[0].real.weight.std().item() > 3 * ref_convs[0].real.weight.std().item()
    with pytest.raises(ValueError, match="init must be one of"):
        ComplexConv2d(2, 4, init="xavier")


def test_init_survives_config_round_trip():
    from speechbrain_atkl.loading import build_model, model_spec

    model = DCCRN(channels=[8, 8, 16, 16, 16, 16], rnn_units=16, init="pytorch")
    assert build_model(model_spec(model)).config == model.config


def test_complex_lstm_matches_complex_product():
    lstm = ComplexLSTM(8, 6, num_layers=1)
    x = torch.randn(2, 5, 8)
    out = lstm(x)
    xr, xi = x.chunk(2, -1)
    real = lstm.real[0](xr)[0] - lstm.imag[0](xi)[0]
    imag = lstm.real[0](xi)[0] + lstm.imag[0](xr)[0]
    assert torch.allclose(out, torch.cat([real, imag], -1), atol=1e-6)


@pytest.mark.parametrize(
    "name,expected,tolerance",
    [("DCCRN-E", 3_742_349, 0.01), ("DCCRN-CL", 3_671_053, 0.01), ("Distil-DCCRN", 1_100_000, 0.05)],
)
def test_preset_parameter_counts(name, expected, tolerance):
    count = count_parameters(DCCRN.from_preset(name))
    assert abs(count - expected) <= tolerance * expected


def test_cost_counts_trainable_parameters_and_the_lstms_macs():
    assert count_parameters(torch.nn.Linear(3, 2)) == 8
    lstm_model = torch.nn.Sequential(torch.nn.Unflatten(1, (-1, 10)), torch.nn.LSTM(10, 4))
    assert count_macs(lstm_model, seconds=0.01) == 16 * 4 * 4 * (10 + 4)  # steps x gates x hidden x (in + hidden)


def test_student_compute_budget():
    student = count_macs(DCCRN.from_preset("Distil-DCCRN"))
    dccrn_e = count_macs(DCCRN.from_preset("DCCRN-E"))
    assert 3.9e9 < dccrn_e < 4.3e9  # the paper's ~4.1 GMAC per second of audio
    assert student <= 0.55 * dccrn_e


@pytest.mark.parametrize("mode", ["E", "C", "R"])
@pytest.mark.parametrize("rnn_type", ["real", "complex"])
@pytest.mark.parametrize("length", [1, 399, 8001])
def test_dccrn_shapes(mode, rnn_type, length):
    model = DCCRN(channels=[8, 8, 16, 16, 16, 16], rnn_type=rnn_type, rnn_units=16, masking_mode=mode)
    out = model(torch.randn(2, length))
    assert out.shape == (2, length)
    assert torch.isfinite(out).all()


def test_dccrn_features_only_when_asked():
    model = DCCRN.from_preset("Distil-DCCRN")
    wav = torch.randn(2, 3200)
    plain = model(wav)
    assert isinstance(plain, torch.Tensor)
    enhanced, features = model(wav, return_features=True)
    assert torch.allclose(plain, enhanced, atol=1e-6)
    frames = model.stft.num_frames(3200)
    enc_channels = [16, 32, 64, 96, 128, 128]
    for i, feat in enumerate(features["encoder"]):
        assert feat.shape == (2, enc_channels[i], 256 // 2 ** (i + 1), frames)
    dec_channels = [128, 96, 64, 32, 16, 2]
    for i, feat in enumerate(features["decoder"]):
        assert feat.shape == (2, dec_channels[i], 8 * 2**i, frames)


def test_complex_cat_channels_last_is_the_same_concatenation():
    parts = [torch.randn(2, 6, 5, 7).contiguous(memory_format=torch.channels_last), torch.randn(2, 4, 5, 7)]
    expected = complex_cat(parts)
    with torch.no_grad():
        fast = complex_cat(parts, memory_format=torch.channels_last)
    assert fast.is_contiguous(memory_format=torch.channels_last) and torch.equal(fast, expected)
    leaf = parts[1].requires_grad_()
    joined = complex_cat(parts, memory_format=torch.channels_last)  # with gradients: no `out=`
    assert joined.is_contiguous(memory_format=torch.channels_last) and torch.equal(joined, expected)
    joined.sum().backward()
    assert torch.equal(leaf.grad, torch.ones_like(leaf))


@pytest.mark.parametrize("preset", ["Distil-DCCRN", "DCCRN-E"])
def test_eval_forward_channels_last_decoder_is_bit_identical(preset):
    # Eval mode runs the decoder channels-last; training mode keeps the default layout. With the
    # batch norms in eval mode both compute the same function: they must agree bit for bit.
    torch.manual_seed(0)
    model = DCCRN.from_preset(preset).eval()
    for norm in model.modules():
        if isinstance(norm, torch.nn.BatchNorm2d):
            norm.running_mean.normal_()
            norm.running_var.uniform_(0.5, 2.0)
    wav = torch.randn(2, 8123)
    with torch.no_grad():
        fast, features = model(wav, return_features=True)
        model.train()
        for norm in model.modules():
            if isinstance(norm, torch.nn.BatchNorm2d):
                norm.eval()
        default, default_features = model(wav, return_features=True)
    assert torch.equal(fast, default)
    for a, b in zip(features["decoder"], default_features["decoder"]):
        assert torch.equal(a, b)


@pytest.mark.parametrize("lookahead", [0, 2, 6])
def test_dccrn_causality(lookahead):
    torch.manual_seed(0)
    # float64: the deepest look-ahead path adds ~1e-8 under the reference init, float32 rounding level
    model = DCCRN(channels=[8, 8, 16, 16, 16, 16], rnn_units=16, lookahead=lookahead).eval().double()
    wav = torch.randn(1, 6000, dtype=torch.float64)
    t = 3000
    changed = wav.clone()
    changed[:, t:] = torch.randn(1, 6000 - t, dtype=torch.float64)
    with torch.no_grad():
        diff = (model(wav) - model(changed)).abs()[0]
    first = int((diff > 1e-12).float().argmax())
    assert model.lookahead_samples == 399 + 100 * lookahead
    # Nothing earlier than t - lookahead_samples changes, and the change does reach there.
    assert first >= t - model.lookahead_samples
    # (the first changed frame starts within two hops of that bound; window tapers hide its edge)
    assert first <= t - model.lookahead_samples + 200


def test_masking_modes_identity():
    spec = torch.randn(2, 2, 5, 3)
    assert torch.allclose(apply_mask(spec, torch.stack([torch.ones(2, 5, 3), torch.zeros(2, 5, 3)], 1), "C"), spec)
    assert torch.allclose(apply_mask(spec, torch.ones_like(spec), "R"), spec)
    big = torch.stack([torch.full((2, 5, 3), 50.0), torch.zeros(2, 5, 3)], 1)
    assert torch.allclose(apply_mask(spec, big, "E"), spec, atol=1e-5)
    with pytest.raises(ValueError, match="masking"):
        apply_mask(spec, spec, "X")


def test_dccrn_gradients_and_errors():
    model = DCCRN(channels=[8, 8, 16, 16, 16, 16], rnn_units=16, norm="complex_batch")
    model(torch.randn(2, 1600)).pow(2).mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(ValueError, match="Unknown DCCRN preset"):
        DCCRN.from_preset("DCCRN-X")
    with pytest.raises(ValueError, match="even"):
        DCCRN(channels=[7, 8, 16, 16, 16, 16])


def test_dccrn_from_yaml():
    from hyperpyyaml import load_hyperpyyaml

    hparams = load_hyperpyyaml(
        "model: !apply:speechbrain_atkl.models.dccrn.DCCRN.from_preset\n"
        "  name: Distil-DCCRN\n  lookahead: 0\n"
    )
    assert hparams["model"].lookahead_frames == 0
    assert count_parameters(hparams["model"]) == count_parameters(DCCRN.from_preset("Distil-DCCRN"))
