"""Tests of the training-throughput work: the padded transposed convolution and the step benchmark."""

import pytest
import torch
import torch.nn.functional as F

from speechbrain_atkl.models.complex_nn import ComplexConvTranspose2d

pytestmark = pytest.mark.usefixtures("one_thread")


def cropped_reference(deconv, x):
    """The plain formulation: the full transposed convolution, then the kept rows and frames."""
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


@pytest.mark.parametrize("distill", [False, True])
def test_bf16_training_step_keeps_losses_in_float32(distill):
    from types import SimpleNamespace

    import speechbrain as sb

    from speechbrain_atkl.losses import ATKLLoss, BalancedSISNRLoss, SISNRLoss
    from speechbrain_atkl.training import DistillationBrain, EnhancementBrain

    from helpers import small_dccrn

    student = small_dccrn(seed=1).train()
    hparams = {"loss": SISNRLoss(), "max_grad_norm": 5.0}
    if distill:
        hparams.update(teacher=small_dccrn(seed=2), balanced_loss=BalancedSISNRLoss(0.5),
                       atkl_loss=ATKLLoss(), feature_weight=1.0)
    brain = (DistillationBrain if distill else EnhancementBrain)(
        {"model": student}, opt_class=lambda params: torch.optim.Adam(params, lr=1e-3),
        hparams=hparams, run_opts={"device": "cpu", "precision": "bf16"},
    )
    brain.on_fit_start()
    brain.on_stage_start(sb.Stage.TRAIN, epoch=1)
    torch.manual_seed(0)
    batch = SimpleNamespace(id=["a", "b"], noisy_sig=(torch.randn(2, 1600) * 0.1, torch.ones(2)),
                            clean_sig=(torch.randn(2, 1600) * 0.1, torch.ones(2)))
    with brain.training_ctx:  # as fit_batch runs them: the model in bf16, the losses not
        outputs = brain.compute_forward(batch, sb.Stage.TRAIN)
        first = outputs[1]["encoder"][0] if distill else outputs
        loss = brain.compute_objectives(outputs, batch, sb.Stage.TRAIN)
    assert first.dtype == (torch.bfloat16 if distill else torch.float32)  # iSTFT output: float32
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    # The same numbers as float32 losses on the upcast outputs, outside autocast.
    upcast = outputs.float() if not distill else (
        outputs[0], {k: [f.float() for f in v] for k, v in outputs[1].items()}, *outputs[2:])
    assert torch.equal(loss, brain.compute_objectives(upcast, batch, sb.Stage.TRAIN))
    before = [p.detach().clone() for p in student.parameters()]
    assert torch.isfinite(brain.fit_batch(batch))
    assert all(p.dtype == torch.float32 for p in student.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, student.parameters()))


def test_complex_batch_norm_trains_under_bf16_autocast():
    from speechbrain_atkl.models.complex_norm import ComplexBatchNorm2d

    torch.manual_seed(0)
    norm = ComplexBatchNorm2d(8)
    x = torch.randn(2, 8, 4, 3) * 3 + 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = norm(x.bfloat16())  # a bf16 convolution's output
    assert out.dtype == torch.float32 and norm.running_mean.abs().sum() > 0
    assert torch.allclose(out, ComplexBatchNorm2d(8)(x.bfloat16().float()), atol=1e-5)
