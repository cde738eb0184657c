"""Tests of the attenuation limit (atten_lim_db): bin by bin, offline, streaming, ONNX, EnhanceBatch."""

import numpy as np
import pytest
import soundfile as sf
import torch

from speechbrain_atkl.inference.enhance import EnhanceBatch
from speechbrain_atkl.inference.onnx_export import export_onnx
from speechbrain_atkl.models import dccrn_blocks
from speechbrain_atkl.models.attenuation import attenuation_floor, limit_attenuation
from speechbrain_atkl.models.complex_nn import complex_magnitude
from speechbrain_atkl.models.uformer import Uformer
from speechbrain_atkl.models.uformer import model as uformer_model
from speechbrain_atkl.streaming import OnnxStreamingEnhancer, StreamingEnhancer

from helpers import convolution_streamer, small_dccrn

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_UFORMER = dict(channels=[4, 8, 8, 8, 8, 8], attention_heads=2, ff_size=16, dilations=[1, 2, 4], conv_channels=4)
MODELS = {
    "DCCRN-E": lambda: small_dccrn(masking_mode="E"),
    "DCCRN-C": lambda: small_dccrn(masking_mode="C", lookahead=0),
    "DCCRN-R": lambda: small_dccrn(masking_mode="R", rnn_type="complex"),
    "Uformer": lambda: (torch.manual_seed(0), Uformer(**TINY_UFORMER).eval())[1],
}


def noisy_speechlike(batch=2, length=6000, seed=3):
    """Noise with a loud low band: the masks vary widely over the bins."""
    generator = torch.Generator().manual_seed(seed)
    wav = 0.05 * torch.randn(batch, length, generator=generator)
    return wav + 0.3 * torch.sin(torch.arange(length) * 0.05) * torch.rand(batch, 1, generator=generator)


def spectra(model, wav, atten_lim_db):
    """The noisy spectrum and the enhanced one the model hands to its inverse STFT."""
    captured = {}
    inverse = model.stft.inverse

    def capture(spec, length):
        captured["enhanced"] = spec
        return inverse(spec, length)

    model.stft.inverse = capture
    try:
        with torch.no_grad():
            model(wav, atten_lim_db=atten_lim_db)
            noisy = model.stft(wav)
    finally:
        del model.stft.inverse
    return noisy, captured["enhanced"]


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("atten_lim_db", [12.0, 3.0, 0.0])
def test_the_limit_holds_bin_by_bin_and_leaves_the_other_bins_alone(name, atten_lim_db):
    model = MODELS[name]()
    wav = noisy_speechlike()
    floor = attenuation_floor(atten_lim_db)
    noisy, free = spectra(model, wav, None)
    _, limited = spectra(model, wav, atten_lim_db)
    noisy_magnitude = complex_magnitude(noisy, eps=0.0)
    free_gain = complex_magnitude(free, eps=0.0) / noisy_magnitude
    assert (free_gain < floor).float().mean() > 0.05, "the model should attenuate some bins below the floor"
    # Every bin, the DC bin (which the models remove) included, keeps at least the floor.
    gain = complex_magnitude(limited, eps=0.0) / noisy_magnitude
    assert gain.min() >= floor * (1 - 1e-5)
    assert gain[:, :, 0].max() <= floor * (1 + 1e-5)  # the DC bin: exactly at the floor
    # Bins already above the floor are the same values; the raised ones keep their phase.
    above = (free_gain >= floor).expand_as(free)
    assert torch.equal(limited[above], free[above])
    raised = ~above[:, :1] & (free_gain > 0)
    norms = complex_magnitude(limited, eps=0.0) * complex_magnitude(free, eps=0.0)
    cosine = (limited * free).sum(1, keepdim=True) / norms
    assert cosine[raised].min() > 1 - 1e-5


def test_limit_attenuation_handles_silent_and_tiny_bins():
    # Bins: 3 + 4j silenced; 0 and 0; 1e-25 (its square underflows); 3e-20 (1 - 1j) (a subnormal square).
    noisy = torch.tensor([[3.0, 0.0, 2.0, 2.0], [4.0, 0.0, 0.0, 0.0]]).view(1, 2, 4, 1)
    enhanced = torch.tensor([[0.0, 0.0, 1e-25, 3e-20], [0.0, 0.0, 0.0, -3e-20]]).view(1, 2, 4, 1)
    out = limit_attenuation(enhanced, noisy, floor=0.5)[0, :, :, 0]
    expected = torch.tensor([[1.5, 0.0, 1.0, 2**-0.5], [2.0, 0.0, 0.0, -(2**-0.5)]])
    assert torch.allclose(out, expected, rtol=1e-2, atol=0)
    assert torch.equal(out[:, :3], expected[:, :3])


@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf"), "12", True])
def test_bad_limits_are_refused_naming_the_value(value):
    with pytest.raises(ValueError, match=f"atten_lim_db must be None .* got {value!r}"):
        attenuation_floor(value)
    with pytest.raises(ValueError, match="atten_lim_db"):
        small_dccrn()(torch.zeros(1, 800), atten_lim_db=value)


def test_without_a_limit_nothing_is_applied(monkeypatch, tmp_path):
    """No limit runs exactly the code of before: limit_attenuation is never called."""

    def forbidden(*args):
        raise AssertionError("limit_attenuation called without a limit")

    wav = noisy_speechlike(length=2000)
    with torch.no_grad():
        expected = {name: build()(wav) for name, build in MODELS.items()}
    monkeypatch.setattr(dccrn_blocks, "limit_attenuation", forbidden)
    monkeypatch.setattr(uformer_model, "limit_attenuation", forbidden)
    for name, build in MODELS.items():
        model = build()
        with torch.no_grad():
            assert torch.equal(model(wav, atten_lim_db=None), expected[name])
        enhancer = EnhanceBatch(
            modules={"enhance_model": model}, hparams={"sample_rate": 16000}, run_opts={"device": "cpu"}
        )
        assert torch.equal(enhancer.enhance_batch(wav), expected[name])
    model = MODELS["DCCRN-E"]()
    for streamer in (StreamingEnhancer(model), convolution_streamer(model)):
        stream = torch.cat([streamer.process(wav), streamer.flush()], 1)[:, streamer.latency_samples :]
        assert torch.allclose(stream, expected["DCCRN-E"], atol=1e-5)


@pytest.mark.parametrize("matrix_steps", [True, False])
@pytest.mark.parametrize(
    "config", [dict(masking_mode="E"), dict(masking_mode="C", lookahead=0), dict(masking_mode="R", lookahead=2)]
)
def test_stream_equals_offline_with_a_limit(matrix_steps, config):
    model = small_dccrn(**config)
    wav = noisy_speechlike(length=3000)
    with torch.no_grad():
        offline = model(wav, atten_lim_db=9.0)
        assert (offline - model(wav)).abs().max() > 1e-3  # the limit changes the output
    build = StreamingEnhancer if matrix_steps else convolution_streamer
    streamer = build(model, atten_lim_db=9.0)
    outputs = [streamer.process(chunk) for chunk in wav.split(170, 1)]
    stream = torch.cat(outputs + [streamer.flush()], 1)[:, streamer.latency_samples :]
    assert torch.allclose(stream, offline, atol=1e-5)


def test_onnx_graphs_with_a_limit_match_pytorch(tmp_path):
    import onnxruntime

    model = small_dccrn(masking_mode="E", lookahead=2)
    wav = noisy_speechlike(length=4321)  # not the traced length
    with torch.no_grad():
        expected = model(wav, atten_lim_db=12.0)
    offline = export_onnx(model, tmp_path / "offline.onnx", atten_lim_db=12.0)
    result = onnxruntime.InferenceSession(str(offline)).run(None, {"noisy": wav.numpy()})[0]
    assert np.allclose(result, expected.numpy(), atol=1e-4)
    streamer = OnnxStreamingEnhancer(export_onnx(model, tmp_path / "step.onnx", streaming=True, atten_lim_db=12.0))
    assert streamer.atten_lim_db == 12.0
    stream = torch.cat([streamer.process(chunk) for chunk in wav.split(999, 1)] + [streamer.flush()], 1)
    assert torch.allclose(stream[:, streamer.latency_samples :], expected, atol=1e-4)
    assert OnnxStreamingEnhancer(export_onnx(model, tmp_path / "free.onnx", streaming=True)).atten_lim_db is None
    with pytest.raises(ValueError, match="got -3"):
        export_onnx(model, tmp_path / "bad.onnx", atten_lim_db=-3)
    assert not (tmp_path / "bad.onnx").exists()


def test_enhance_batch_and_file_take_the_limit(tmp_path):
    model = small_dccrn()
    enhancer = EnhanceBatch(
        modules={"enhance_model": model}, hparams={"sample_rate": 16000}, run_opts={"device": "cpu"}
    )
    wav = noisy_speechlike(length=5000)
    with torch.no_grad():
        expected = model(wav, atten_lim_db=12.0)
    assert torch.allclose(enhancer.enhance_batch(wav, atten_lim_db=12.0), expected, atol=1e-6)
    assert torch.allclose(enhancer.enhance_waveform(wav[0], atten_lim_db=12.0), expected[0], atol=1e-6)
    sf.write(str(tmp_path / "noisy.wav"), wav[0].numpy(), 16000, subtype="FLOAT")
    chunking = dict(chunk_seconds=0.1, context_seconds=0.1)
    out = enhancer.enhance_file(tmp_path / "noisy.wav", tmp_path / "out.wav", atten_lim_db=12.0, **chunking)
    assert torch.allclose(out, enhancer.enhance_waveform(wav[0], atten_lim_db=12.0, **chunking), atol=1e-6)
    assert not torch.allclose(out, enhancer.enhance_waveform(wav[0], **chunking), atol=1e-3)
    assert np.allclose(sf.read(str(tmp_path / "out.wav"), dtype="float32")[0], out.numpy())
    with pytest.raises(ValueError, match="got -1"):
        enhancer.enhance_file(tmp_path / "noisy.wav", tmp_path / "bad.wav", atten_lim_db=-1)
    assert not (tmp_path / "bad.wav").exists()


def test_a_model_without_the_argument_is_refused_clearly():
    enhancer = EnhanceBatch(
        modules={"enhance_model": torch.nn.Identity()}, hparams={"sample_rate": 16000}, run_opts={"device": "cpu"}
    )
    assert enhancer.attenuation_kwargs(None) == {}
    assert torch.equal(enhancer.enhance_batch(torch.ones(1, 10)), torch.ones(1, 10))
    with pytest.raises(TypeError, match="Identity takes no attenuation limit"):
        enhancer.enhance_batch(torch.ones(1, 10), atten_lim_db=6.0)

