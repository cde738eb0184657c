"""Tests for the Uformer teacher model."""

import pytest
import torch
import torch.nn.functional as F
from hyperpyyaml import load_hyperpyyaml

from speechbrain_atkl.models.uformer import (
    UFORMER_PRESETS,
    BranchFusion,
    ComplexLinear,
    DualPathConformerBlock,
    GatedDilatedConv,
    MultiHeadAttention,
    Uformer,
)

TINY = dict(
    channels=[4, 8, 8, 8, 8, 8],
    attention_heads=2,
    ff_size=16,
    dilations=[1, 2, 4],
    dropout=0.0,
)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def to_complex(x, dim=-1):
    real, imag = x.chunk(2, dim)
    return torch.complex(real, imag)


@pytest.fixture(scope="module")
def light():
    torch.manual_seed(0)
    return Uformer.from_preset("Uformer-light").eval()


@pytest.mark.parametrize("length", [1, 159, 401, 4001])
def test_output_has_input_length(length):
    torch.manual_seed(0)
    model = Uformer(**TINY).eval()
    with torch.no_grad():
        out = model(torch.randn(2, length))
    assert out.shape == (2, length)
    assert torch.isfinite(out).all()


def test_light_preset_output_and_features(light):
    length = 16001
    with torch.no_grad():
        out = light(torch.randn(2, length))
        enhanced, features = light(torch.randn(2, length), return_features=True)
    assert isinstance(out, torch.Tensor) and out.shape == (2, length)
    assert enhanced.shape == (2, length)
    frames = light.stft.num_frames(length)
    assert frames == 102  # causal framing: (240 + 16001 - 1) // 160 + 1
    enc, dec = features["encoder"], features["decoder"]
    assert [f.shape for f in enc] == [
        (2, c, f, frames) for c, f in zip([16, 32, 64, 128, 256, 256], [128, 64, 32, 16, 8, 4])
    ]
    assert [f.shape for f in dec] == [
        (2, c, f, frames) for c, f in zip([256, 128, 64, 32, 16, 2], [8, 16, 32, 64, 128, 256])
    ]


def test_preset_parameter_counts():
    paper = n_params(Uformer.from_preset("Uformer"))
    light = n_params(Uformer.from_preset("Uformer-light"))
    assert abs(paper - 9.46e6) / 9.46e6 < 0.1, paper
    assert abs(light - 3.3e6) / 3.3e6 < 0.1, light
    assert UFORMER_PRESETS["Uformer"]["encoder_decoder_attention"]
    assert not UFORMER_PRESETS["Uformer-light"]["encoder_decoder_attention"]


def test_encoder_decoder_attention_adds_parameters():
    with_attention = Uformer(**TINY, encoder_decoder_attention=True)
    without = Uformer(**TINY, encoder_decoder_attention=False)
    assert n_params(with_attention) > n_params(without)
    assert without.complex_branch.skip_attention is None
    assert len(with_attention.complex_branch.skip_attention) == 6
    with torch.no_grad():
        assert with_attention.eval()(torch.randn(1, 800)).shape == (1, 800)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = Uformer(**TINY, encoder_decoder_attention=True)
    noisy = torch.randn(2, 1600)
    enhanced, features = model(noisy, return_features=True)
    loss = enhanced.pow(2).mean() + sum(f.pow(2).mean() for f in features["encoder"])
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


def test_batch_items_are_independent():
    torch.manual_seed(0)
    model = Uformer(**TINY, encoder_decoder_attention=True).eval()
    noisy = torch.randn(3, 1600)
    changed = noisy.clone()
    changed[1:] = torch.randn(2, 1600)
    with torch.no_grad():
        a, b = model(noisy), model(changed)
    assert torch.allclose(a[0], b[0], atol=1e-5)
    assert not torch.allclose(a[1], b[1], atol=1e-3)


def test_yaml_builds_preset():
    hparams = load_hyperpyyaml("""
teacher: !apply:speechbrain_atkl.models.uformer.Uformer.from_preset
    name: Uformer-light
    dropout: 0.0
    dilations: [1, 2]
""")
    teacher = hparams["teacher"]
    assert isinstance(teacher, Uformer)
    assert len(teacher.complex_branch.bottleneck[0].conv.gated) == 2
    assert teacher.complex_branch.skip_attention is None


def test_complex_linear_is_a_complex_matrix_product():
    torch.manual_seed(0)
    layer = ComplexLinear(6, 4)
    x = torch.randn(5, 6)
    weight = torch.complex(layer.real.weight, layer.imag.weight)
    expected = to_complex(x) @ weight.T + to_complex(layer.bias)
    assert torch.allclose(to_complex(layer(x)), expected, atol=1e-5)


def test_complex_attention_matches_definition():
    torch.manual_seed(0)
    attention = MultiHeadAttention(8, heads=1, is_complex=True)
    query, memory = torch.randn(2, 5, 8), torch.randn(2, 7, 8)
    q = attention.query(query)
    k, v = attention.key_value(memory).unflatten(-1, (2, 2, 4)).unbind(-2)
    q = q.unflatten(-1, (2, 4))  # (..., part, 4), like k and v

    def attend(qp, kp, vp):
        scores = qp @ kp.transpose(-1, -2) / 2.0  # sqrt(head size 4)
        return scores.softmax(-1) @ vp

    qr, qi, kr, ki, vr, vi = (
        q[..., 0, :],
        q[..., 1, :],
        k[..., 0, :],
        k[..., 1, :],
        v[..., 0, :],
        v[..., 1, :],
    )
    real = attend(qr, kr, vr) - attend(qr, ki, vi) - attend(qi, kr, vi) - attend(qi, ki, vr)
    imag = attend(qr, kr, vi) + attend(qr, ki, vr) + attend(qi, kr, vr) - attend(qi, ki, vi)
    expected = attention.out(torch.cat([real, imag], -1))
    assert torch.allclose(attention(query, memory), expected, atol=1e-5)


def test_gated_dilated_conv_matches_complex_convolution():
    torch.manual_seed(0)
    channels, dilation = 3, 2
    unit = GatedDilatedConv(channels, kernel_size=3, dilation=dilation, is_complex=True)
    with torch.no_grad():
        unit.bias.normal_()
    x = torch.randn(2, 2 * channels, 9)  # channel-major: r0, i0, r1, i1, ...
    xc = torch.complex(x[:, 0::2], x[:, 1::2])
    weight = torch.complex(unit.weight[:, :, 0], unit.weight[:, :, 1])  # (C, filter/gate, k)
    bias = torch.complex(unit.bias[:, :, 0], unit.bias[:, :, 1])
    padded = F.pad(xc, (dilation, dilation))
    taps = torch.stack([padded[..., j * dilation : j * dilation + 9] for j in range(3)], -1)
    filt = (taps * weight[None, :, 0, None, :]).sum(-1) + bias[None, :, 0, None]
    gate = (taps * weight[None, :, 1, None, :]).sum(-1) + bias[None, :, 1, None]
    gated = torch.complex(
        torch.tanh(filt.real) * torch.sigmoid(gate.real),
        torch.tanh(filt.imag) * torch.sigmoid(gate.imag),
    )
    out = unit(x)
    assert torch.allclose(torch.complex(out[:, 0::2], out[:, 1::2]), xc + gated, atol=1e-5)


def test_fusion_formula():
    fusion = BranchFusion(4, 2)
    c, m = torch.randn(1, 4, 3, 2), torch.randn(1, 2, 3, 2)
    fused_c, fused_m = fusion(c, m)
    magnitude = torch.sqrt(c[:, :2] ** 2 + c[:, 2:] ** 2)
    assert torch.allclose(fused_c, c + torch.sigmoid(m).repeat(1, 2, 1, 1))
    assert torch.allclose(fused_m, m + torch.sigmoid(magnitude), atol=1e-5)
    projected = BranchFusion(4, 3)  # channel counts differ: learnt 1x1 maps
    fused_c, fused_m = projected(c, torch.randn(1, 3, 3, 2))
    assert fused_c.shape == c.shape and fused_m.shape == (1, 3, 3, 2)


def test_conformer_block_is_equivariant_to_frequency_order():
    # No positional encoding on the frequency axis and per-bin time operations:
    # permuting the bins permutes the output, which catches reshaping mistakes.
    torch.manual_seed(0)
    block = DualPathConformerBlock(8, 2, 16, [1, 2], dropout=0.0, is_complex=True).eval()
    x = torch.randn(2, 5, 7, 8)
    perm = torch.tensor([3, 0, 4, 1, 2])
    with torch.no_grad():
        assert torch.allclose(block(x[:, perm]), block(x)[:, perm], atol=1e-5)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="expected one of"):
        Uformer.from_preset("Uformer-huge")
    with pytest.raises(ValueError, match="even"):
        Uformer(channels=[3, 8, 8, 8, 8, 8])
    with pytest.raises(ValueError, match="divisible"):
        Uformer(channels=[4] * 6, n_fft=400)
    with pytest.raises(ValueError, match=r"\(batch, time\)"):
        Uformer(**TINY)(torch.randn(1600))
