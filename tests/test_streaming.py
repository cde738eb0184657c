"""Tests of streaming DCCRN: single-frame layer steps and the StreamingEnhancer."""

import os
import shutil
from pathlib import Path

import pytest
import soundfile as sf
import torch

from speechbrain_atkl.models.complex_nn import ComplexConv2d, ComplexConvTranspose2d
from speechbrain_atkl.models.dccrn import DCCRN
from speechbrain_atkl.streaming import CheckedStep, StreamingEnhancer, StreamingStep
from speechbrain_atkl.streaming import step as streaming_step
from speechbrain_atkl.streaming.frame_steps import conv_frame_step, conv_transpose_frame_step
from speechbrain_atkl.streaming.lstm_steps import lstm_step, lstm_step_weights
from speechbrain_atkl.streaming.row_steps import fold_batch_norm, matrix_kernel, row_step

from helpers import small_dccrn

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


pytestmark = pytest.mark.usefixtures("one_thread")




def stream(enhancer, wav, chunk_sizes):
    """Feeds ``wav`` (time last) in chunks cycling through ``chunk_sizes``; returns all outputs."""
    outputs, start, i = [], 0, 0
    while start < wav.shape[-1]:
        size = chunk_sizes[i % len(chunk_sizes)]
        chunk = wav[..., start : start + size]
        out = enhancer.process(chunk)
        assert out.shape == chunk.shape  # as many samples out as in
        outputs.append(out)
        start, i = start + size, i + 1
    tail = enhancer.flush()
    assert tail.shape[-1] == enhancer.latency_samples
    return torch.cat(outputs + [tail], -1)


def offline(model, wav):
    with torch.no_grad():
        return model(wav)


@pytest.mark.parametrize("kernel_time", [2, 3])
def test_conv_steps_match_forward(kernel_time):
    torch.manual_seed(0)
    x = torch.randn(2, 6, 16, 9)
    past = torch.nn.functional.pad(x, (kernel_time - 1, 0))  # zeros before the start
    conv = ComplexConv2d(6, 4, kernel_size=(5, kernel_time))
    steps = [conv_frame_step(conv, past[..., t : t + kernel_time]) for t in range(9)]
    assert torch.allclose(torch.cat(steps, -1), conv(x), atol=1e-5)
    for lookahead in (False, True):
        deconv = ComplexConvTranspose2d(6, 4, kernel_size=(5, kernel_time), lookahead=lookahead)
        future = torch.nn.functional.pad(past, (0, kernel_time - 1))  # zeros after the end
        frames = [future[..., t : t + kernel_time] for t in range(8 + kernel_time)]
        steps = torch.cat([conv_transpose_frame_step(deconv, f) for f in frames], -1)
        late = kernel_time - 1 if lookahead else 0  # a look-ahead layer's frames come out late
        assert torch.allclose(steps[..., late : late + 9], deconv(x), atol=1e-5)


def rows_step(layer, x, split, norm=None):
    """``row_step`` of ``layer`` on frames ``x`` (batch, channels, freq, kernel_time), as the
    model's layout (batch, channels, out_freq)."""
    kernel = matrix_kernel(layer, x.shape[2], split)
    if norm is not None:
        kernel, rest = fold_batch_norm(kernel, norm)
        assert isinstance(rest, torch.nn.Identity)
    front, back = kernel[-1][:2]
    rows = x.permute(0, 3, 2, 1)  # (batch, frames, freq, channels)
    history = torch.nn.functional.pad(rows[:, :-1], (0, 0, front, back))
    out, history = row_step(history, rows[:, -1:], kernel)
    assert history.shape == (x.shape[0], x.shape[3] - 1, front + x.shape[2] + back, x.shape[1])
    return out[:, 0].transpose(1, 2)


@pytest.mark.parametrize("kernel_freq, stride", [(5, 2), (4, 2), (3, 1), (7, 3), (6, 2)])
@pytest.mark.parametrize("kernel_time", [2, 3])
@pytest.mark.parametrize("split", [False, True])
def test_step_matrix_products_match_convolution_steps(kernel_freq, stride, kernel_time, split):
    # The matrix-product steps on rows-first frames (both forms: 2x2 block and split) against the
    # layers' one-frame convolutions, for kernels that do and do not divide by the stride (zero
    # taps), paddings past both ends, one and two past frames, batch of 3.
    torch.manual_seed(0)
    x = torch.randn(3, 10, 12, kernel_time)
    conv = ComplexConv2d(10, 8, (kernel_freq, kernel_time), (stride, 1), init="pytorch")
    assert torch.allclose(rows_step(conv, x, split), conv_frame_step(conv, x)[..., 0], atol=1e-5)
    deconv = ComplexConvTranspose2d(10, 8, (kernel_freq, kernel_time), (stride, 1), init="pytorch")
    assert torch.allclose(rows_step(deconv, x, split), conv_transpose_frame_step(deconv, x)[..., 0], atol=1e-5)


@pytest.mark.parametrize("split", [False, True])
def test_folded_batch_norm_and_lstm_step(split):
    torch.manual_seed(0)
    norm = torch.nn.BatchNorm2d(8).eval()
    with torch.no_grad():
        for tensor in (norm.weight, norm.bias, norm.running_mean):
            tensor.normal_()
        norm.running_var.uniform_(0.5, 2.0)
    x, conv = torch.randn(2, 6, 8, 2), ComplexConv2d(6, 8, init="pytorch")
    with torch.no_grad():
        assert torch.allclose(rows_step(conv, x, split, norm), norm(conv_frame_step(conv, x))[..., 0], atol=1e-5)
    # Two LSTMs reading the same input in one product, each with its own state.
    lstms = [torch.nn.LSTM(6, 5, batch_first=True) for _ in range(2)]
    seq, h, c = torch.randn(3, 4, 6), torch.randn(3, 2, 5), torch.randn(3, 2, 5)
    state = (h, c)
    for t in range(4):
        state = lstm_step(seq[:, t], *state, lstm_step_weights(lstms))
    for i, lstm in enumerate(lstms):
        _, (ref_h, ref_c) = lstm(seq, (h[:, i][None].contiguous(), c[:, i][None].contiguous()))
        assert torch.allclose(state[0][:, i], ref_h[0], atol=1e-5)
        assert torch.allclose(state[1][:, i], ref_c[0], atol=1e-5)


@pytest.mark.parametrize("norm", ["batch", "complex_batch"])
def test_matrix_steps_equal_convolution_steps(norm):
    # The fast PyTorch form (matrix products, batch norm folded) and the ONNX form (the layers'
    # one-frame convolutions) of the same hop, on the same state, three hops in a row.
    model = small_dccrn(rnn_type="complex", norm=norm)
    fast, slow = StreamingStep(model), StreamingStep(model, matrix_steps=False)
    state_fast, state_slow = fast.initial_state(2), slow.initial_state(2)
    with torch.no_grad():
        for _ in range(3):
            audio, valid = torch.randn(2, 100), torch.ones(2)
            out_fast, *state_fast = fast(audio, valid, *state_fast)
            out_slow, *state_slow = slow(audio, valid, *state_slow)
            assert (out_fast - out_slow).abs().max() < 1e-5
    # The same history in the two layouts: rows-first, zero-padded (fast) and the model's (slow).
    names = fast.state_names
    fast_state, slow_state = dict(zip(names, state_fast)), dict(zip(names, state_slow))
    for name in ("encoder2", "decoder4"):
        front = fast._kernel(name)[-1][0]
        freq = slow_state[name].shape[2]
        rows = fast_state[name][:, :, front : front + freq].permute(0, 3, 2, 1)
        assert torch.allclose(rows, slow_state[name], atol=1e-5)
        assert fast_state[name][:, :, :front].abs().max() == 0
    assert torch.allclose(fast_state["rnn_h"], slow_state["rnn_h"], atol=1e-5)


CONFIGS = [
    dict(rnn_type="real", lookahead=0, masking_mode="E"),
    dict(rnn_type="real", lookahead=6, masking_mode="C"),
    dict(rnn_type="complex", lookahead=6, masking_mode="E"),
    dict(rnn_type="complex", lookahead=0, masking_mode="R"),
    dict(rnn_type="complex", lookahead=2, masking_mode="E", norm="complex_batch"),
    dict(rnn_type="real", lookahead=3, kernel_size=(5, 3), win_length=400, hop_length=160),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(f"{v}" for v in c.values()))
def test_stream_equals_offline_delayed(config):
    model = small_dccrn(**config)
    enhancer = StreamingEnhancer(model)
    assert enhancer.latency_samples == model.lookahead_samples
    wav = torch.randn(2, 1733)
    expected = offline(model, wav)
    delay = enhancer.latency_samples
    hop = model.stft.hop_length
    for chunk_sizes in ([1], [hop], [37, 0, 250, 3], [5000]):
        out = stream(enhancer, wav, chunk_sizes)
        assert out.shape == (2, wav.shape[1] + delay)
        assert torch.equal(out[:, :delay], torch.zeros(2, delay))
        assert (out[:, delay:] - expected).abs().max() < 1e-4, chunk_sizes


@pytest.mark.parametrize("split_weights", [0, 10**9], ids=["all-split", "all-block"])
@pytest.mark.parametrize("rnn_type", ["real", "complex"])
def test_both_product_forms_stream_equal_offline(monkeypatch, split_weights, rnn_type):
    # Every layer in the split form (each weight read once) or in the 2x2 block form; the decoders
    # read [x | skip] joined plainly (two sources) in both.
    monkeypatch.setattr(streaming_step, "SPLIT_WEIGHTS", split_weights)
    model = small_dccrn(rnn_type=rnn_type, lookahead=6, norm="batch")
    enhancer = StreamingEnhancer(model)
    splits = [enhancer.step.step._kernel(name)[2] is not None for name in ("encoder3", "decoder0")]
    assert splits == [split_weights == 0] * 2
    wav = torch.randn(2, 1733)
    out = stream(enhancer, wav, [100])
    assert (out[:, enhancer.latency_samples :] - offline(model, wav)).abs().max() < 1e-4


def test_checked_step_packed_and_separate_state_agree():
    # One CheckedStep for both callers: the state as the step's tensors (StreamingEnhancer) or
    # packed in one tensor (the ONNX graph); same outputs, same finiteness flag, same state.
    model = small_dccrn(rnn_type="complex", lookahead=2)
    step = StreamingStep(model, matrix_steps=False)
    separate, packed = CheckedStep(step), CheckedStep(step, packed=True)
    state, flat = separate.initial_state(2), packed.initial_state(2)
    assert flat.shape == (2, packed.state_size) and flat.abs().max() == 0
    with torch.no_grad():
        for audio in (torch.randn(2, 100), torch.randn(2, 100), torch.full((2, 100), 3e38)):
            out, finite, *state = separate(audio, torch.ones(2), *state)
            out_packed, finite_packed, flat = packed(audio, torch.ones(2), flat)
            assert bool(finite) == bool(finite_packed)
            joined = torch.cat([t.flatten(1) for t in state], 1)
            for got, want in ((out_packed, out), (flat, joined)):
                torch.testing.assert_close(got, want, atol=0, rtol=0, equal_nan=True)
    assert not finite  # the overflowing hop is flagged by both


def test_step_kernels_follow_the_module_to_another_dtype():
    # The kernels are collected once as tuples of buffers; moving the module collects them again.
    model = small_dccrn(rnn_type="complex")
    step = StreamingStep(model)
    state = step.initial_state(1)
    audio, valid = torch.randn(1, 100), torch.ones(1)
    out, *_ = step(audio, valid, *state)
    step.double()
    out64, *_ = step(audio.double(), valid.double(), *(t.double() for t in state))
    assert out64.dtype == torch.float64 and step._kernel("decoder0")[0].dtype == torch.float64
    assert torch.allclose(out64.float(), out, atol=1e-5)


def test_latency_figures():
    default = StreamingEnhancer(DCCRN(channels=[8] * 6, rnn_units=16).eval())
    assert default.latency_samples == 400 - 1 + 6 * 100
    assert default.latency_ms == pytest.approx(62.4375)
    causal = StreamingEnhancer(DCCRN(channels=[8] * 6, rnn_units=16, lookahead=0).eval())
    assert causal.latency_ms == pytest.approx(24.9375)


def test_one_dimensional_stream_and_reuse():
    model = small_dccrn(lookahead=6, rnn_type="complex")
    enhancer = StreamingEnhancer(model)
    delay = enhancer.latency_samples
    for length in (1733, 1, 150, delay + 3):  # flush resets: the enhancer takes the next signal
        wav = torch.randn(length)
        out = stream(enhancer, wav, [64])
        assert out.shape == (length + delay,)
        assert (out[delay:] - offline(model, wav[None])[0]).abs().max() < 1e-4
    # reset() drops a stream half-way.
    enhancer.process(torch.randn(2, 500))
    enhancer.reset()
    wav = torch.randn(3, 900)
    assert (stream(enhancer, wav, [100])[:, delay:] - offline(model, wav)).abs().max() < 1e-4


def test_output_does_not_depend_on_future_input():
    model = small_dccrn(lookahead=6)
    wav = torch.randn(1, 3000)
    changed = wav.clone()
    changed[:, 2000:] = torch.randn(1, 1000)
    first, second = StreamingEnhancer(model), StreamingEnhancer(model)
    out_a = first.process(wav[:, :2000])
    out_b = second.process(changed[:, :2000])
    assert torch.equal(out_a, out_b)  # nothing returned so far saw sample 2000
    assert out_a[:, 2000 - first.latency_samples - 100 :].abs().sum() > 0


def test_empty_stream_and_bad_input():
    model = small_dccrn()
    enhancer = StreamingEnhancer(model)
    assert enhancer.flush().numel() == 0
    assert enhancer.process(torch.zeros(2, 0)).shape == (2, 0)
    assert enhancer.flush().shape == (2, 0)
    with pytest.raises(ValueError, match="batch, time"):
        enhancer.process(torch.zeros(1, 2, 100))
    enhancer.process(torch.zeros(2, 10))
    with pytest.raises(ValueError, match=r"does not continue the stream of \(2, time\)"):
        enhancer.process(torch.zeros(3, 10))
    with pytest.raises(ValueError, match="eval"):
        StreamingEnhancer(DCCRN(channels=[8] * 6, rnn_units=16))
    with pytest.raises(TypeError, match="DCCRN"):
        StreamingStep(torch.nn.Linear(2, 2))


def test_chunks_that_require_grad_and_numpy_chunks_stream_alike():
    # The NaN check reads CPU chunks through numpy: a chunk from an autograd graph must work too.
    model = small_dccrn()
    wav = 0.1 * torch.randn(2, 600)
    with torch.no_grad():
        expected = StreamingEnhancer(model).process(wav)
    from_graph = StreamingEnhancer(model).process(wav.clone().requires_grad_())
    from_numpy = StreamingEnhancer(model).process(wav.numpy())
    torch.testing.assert_close(from_graph, expected, atol=0, rtol=0)
    torch.testing.assert_close(from_numpy, expected, atol=0, rtol=0)


@pytest.mark.parametrize("bad", ["nan", "inf", "overflow"])
def test_a_bad_chunk_is_rejected_and_leaves_the_stream_clean(bad):
    """A NaN chunk, or finite input so extreme it overflows, is refused and leaves the state unchanged."""
    model = small_dccrn()
    torch.manual_seed(1)
    wav = 0.1 * torch.randn(2, 1500)
    chunks = wav.split(250, dim=1)
    clean = StreamingEnhancer(model)
    expected = [clean.process(chunk) for chunk in chunks] + [clean.flush()]
    poison = chunks[2].clone()
    poison[1, 7] = {"nan": float("nan"), "inf": float("inf"), "overflow": 3e38}[bad]
    if bad == "overflow":
        poison[1] = 3e38
    enhancer = StreamingEnhancer(model)
    outputs = [enhancer.process(chunk) for chunk in chunks[:2]]
    with pytest.raises(ValueError, match="rejected.*unchanged"):
        enhancer.process(poison)
    outputs += [enhancer.process(chunk) for chunk in chunks[2:]] + [enhancer.flush()]
    for got, want in zip(outputs, expected):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


@pytest.mark.parametrize("dtype", [torch.int16, torch.int32, torch.bool])
def test_integer_chunks_are_refused_and_leave_the_stream_clean(dtype):
    """int16 PCM enhanced as floats would be 32768 times too loud: refused, the stream goes on."""
    model = small_dccrn()
    wav = 0.1 * torch.randn(1, 600)
    expected = StreamingEnhancer(model).process(wav)
    enhancer = StreamingEnhancer(model)
    with pytest.raises(TypeError, match=f"floating-point samples.*{str(dtype).split('.')[1]}.*32768"):
        enhancer.process(torch.ones(1, 100, dtype=dtype))
    with pytest.raises(TypeError, match="floating-point"):
        enhancer.process(torch.ones(1, 100, dtype=dtype).numpy())
    torch.testing.assert_close(enhancer.process(wav), expected, atol=0, rtol=0)


def test_an_empty_batch_first_chunk_is_refused_and_the_stream_stays_usable():
    model = small_dccrn()
    wav = 0.1 * torch.randn(2, 600)
    expected = StreamingEnhancer(model).process(wav)
    enhancer = StreamingEnhancer(model)
    with pytest.raises(ValueError, match=r"batch >= 1, got \(0, 100\)"):
        enhancer.process(torch.zeros(0, 100))
    torch.testing.assert_close(enhancer.process(wav), expected, atol=0, rtol=0)


def test_state_shapes_are_documented_names():
    step = StreamingStep(small_dccrn(lookahead=6, rnn_type="complex"))
    names = step.state_names
    assert names[0] == "stft_context" and names[-1] == "overlap"
    assert [n for n in names if n.startswith("skip")] == [f"skip{j}" for j in range(1, 6)]
    assert step.state_shapes["skip5"] == (5, 128, 8)  # the first encoder block's output, 5 frames, rows-first
    assert StreamingStep(small_dccrn(lookahead=6), matrix_steps=False).state_shapes["skip5"] == (5, 8, 128)
    assert step.state_shapes["encoder0"] == (1, 2 + 256 + 1, 2)  # one past frame, padded bins, channels
    assert step.state_shapes["rnn_h"] == (2, 2, 2, 8)
    assert "spectrum" not in StreamingStep(small_dccrn(lookahead=0)).state_shapes


@pytest.mark.skipif(not (SHARED_DATA / "corpus").is_dir(), reason=f"{SHARED_DATA}/corpus not found")
def test_distil_dccrn_on_real_speech():
    clean_path = sorted((SHARED_DATA / "corpus" / "clean").glob("*.wav"))[0]
    noise_path = sorted((SHARED_DATA / "corpus" / "noise").glob("*.wav"))[0]
    clean, _ = sf.read(clean_path, dtype="float32", frames=16000)
    noise, _ = sf.read(noise_path, dtype="float32", frames=16000)
    noisy = torch.from_numpy(clean + 0.5 * noise[: len(clean)])
    model = DCCRN.from_preset("Distil-DCCRN").eval()
    enhancer = StreamingEnhancer(model)
    out = stream(enhancer, noisy, [100])
    expected = offline(model, noisy[None])[0]
    assert (out[enhancer.latency_samples :] - expected).abs().max() < 1e-4


@pytest.mark.skipif(
    not any(shutil.which(name) for name in (os.environ.get("CXX", "g++"), "g++", "clang++")),
    reason="torch.compile's inductor backend needs a C++ compiler",
)
def test_compiled_stream_equals_eager_stream():
    # The hop through torch.compile (as benchmarks/streaming_onnx.py runs it): same stream to float
    # rounding, chunks of several hops and a flush included.
    model = small_dccrn(rnn_type="complex", lookahead=2)
    wav = torch.randn(1, 1000)
    eager = stream(StreamingEnhancer(model), wav, [250])
    compiled_enhancer = StreamingEnhancer(model)
    compiled_enhancer.step = torch.compile(compiled_enhancer.step, dynamic=False)
    compiled = stream(compiled_enhancer, wav, [250])
    assert compiled.shape == eager.shape
    assert (compiled - eager).abs().max() < 1e-5


def test_a_step_that_fails_mid_stream_leaves_the_stream_as_it_was():
    # Mid-stream, a failing chunk leaves the stream as it was: it goes on as if that chunk never came.
    def broken(*args):
        raise OSError("no C++ compiler found")

    model = small_dccrn()
    first, second = torch.randn(1, 300), torch.randn(1, 250)
    reference, enhancer = StreamingEnhancer(model), StreamingEnhancer(model)
    expected = torch.cat([reference.process(first), reference.process(second)], 1)
    out = enhancer.process(first)
    working, enhancer.step = enhancer.step, broken
    with pytest.raises(OSError, match="no C\\+\\+ compiler found"):
        enhancer.process(torch.randn(1, 400))
    enhancer.step = working
    assert torch.equal(torch.cat([out, enhancer.process(second)], 1), expected)
