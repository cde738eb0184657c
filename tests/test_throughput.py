"""Tests of the training-throughput work: the padded transposed convolution and the step benchmark."""

import pytest
import torch
import torch.nn.functional as F

from speechbrain_atkl.models.complex_nn import ComplexConvTranspose2d

pytestmark = pytest.mark.usefixtures("one_thread")


def cropped_reference(deconv, x):
    """The former formulation: the full transposed convolution, then the kept rows and frames."""
    weight, bias = deconv.stacked_weight()
    out = F.conv_transpose2d(x, weight, bias, deconv.real.stride)
    crop, rows = deconv.freq_crop, x.shape[2] * deconv.freq_stride
    first = deconv.time_context if deconv.lookahead else 0
    return out[:, :, crop : crop + rows, first : first + x.shape[3]]


@pytest.mark.parametrize("lookahead", [False, True])
@pytest.mark.parametrize(
    "channels, freq, frames, kernel, stride",
    [
        ((4, 2), 1, 1, (5, 2), (2, 1)),
        ((8, 4), 16, 7, (5, 2), (2, 1)),
        ((64, 32), 33, 50, (5, 2), (2, 1)),
        ((256, 128), 8, 40, (5, 2), (2, 1)),
        ((8, 6), 12, 9, (3, 3), (2, 1)),
        ((8, 6), 12, 9, (4, 2), (2, 1)),
        ((8, 6), 10, 5, (7, 2), (3, 1)),
        ((8, 6), 10, 5, (5, 2), (1, 1)),
    ],
)
def test_padded_transposed_conv_is_bit_identical_to_crop(channels, freq, frames, kernel, stride, lookahead):
    torch.manual_seed(0)
    deconv = ComplexConvTranspose2d(*channels, kernel_size=kernel, stride=stride, lookahead=lookahead)
    x = torch.randn(3, channels[0], freq, frames)
    out = deconv(x)
    assert out.shape == (3, channels[1], freq * stride[0], frames)
    assert torch.equal(out, cropped_reference(deconv, x))


def test_training_step_benchmark_smoke(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "training_step.py"
    spec = importlib.util.spec_from_file_location("training_step", path)
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    benchmark.main(
        ["--threads", "1", "--batch", "1", "--seconds", "0.1", "--rounds", "2", "--warmup", "1",
         "--steps", "Distil-DCCRN", "distillation", "--variants", "fp32", "bf16"]
    )
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| Distil") or line.startswith("| distil")]
    assert len(rows) == 4  # two steps x two variants
    for row in rows:
        assert float(row.split("|")[5]) > 0  # audio-seconds per wall-second
    assert "load average" in out and "distillation / student step, bf16" in out
