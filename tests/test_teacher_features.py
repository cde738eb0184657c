"""Any teacher by forward hooks, explicit time alignment for any hop, real-valued teacher maps."""

from pathlib import Path
from types import SimpleNamespace

import pytest
import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml

from speechbrain_atkl.losses import ATKLLoss, BalancedSISNRLoss, SISNRLoss
from speechbrain_atkl.losses.attention_maps import align_frames, align_frequencies, resample_axes
from speechbrain_atkl.models.dccrn import DCCRN
from speechbrain_atkl.models.gtcrn import GTCRN
from speechbrain_atkl.models.stft import STFT, CentredSTFT, FrameTiming
from speechbrain_atkl.models.uformer import Uformer
from speechbrain_atkl.training import DistillationBrain
from speechbrain_atkl.training.checkpoints import load_teacher
from speechbrain_atkl.training.teacher_features import (
    HookedTeacher,
    bin_frequencies,
    frame_timing,
    linear_frequencies,
)

REPO = Path(__file__).resolve().parents[1]
GTCRN_WEIGHTS = REPO.parent / "shared" / "peers" / "gtcrn" / "gtcrn_dns3.pt"
UFORMER_MODULES = {
    "encoder": [f"encoder_fusion.{i}[0]" for i in range(6)],
    "decoder": [f"decoder_fusion.{i}[0]" for i in range(6)],
}
DCCRN_MODULES = {"encoder": [f"encoder.{i}" for i in range(6)], "decoder": [f"decoder.{i}" for i in range(6)]}


def _batch(seconds=1.0, seed=0):
    generator = torch.Generator().manual_seed(seed)
    length = int(seconds * 16000)
    lengths = torch.tensor([1.0, 0.8])
    return SimpleNamespace(
        id=["a", "b"],
        noisy_sig=(torch.randn(2, length, generator=generator) * 0.1, lengths),
        clean_sig=(torch.randn(2, length, generator=generator) * 0.1, lengths),
    )


def _distillation_brain(teacher, atkl_loss=None, **hparams):
    torch.manual_seed(0)
    brain = DistillationBrain(
        modules={"model": DCCRN.from_preset("Distil-DCCRN")},
        opt_class=lambda params: torch.optim.Adam(params, lr=1e-3),
        hparams={
            "loss": SISNRLoss(),
            "teacher": teacher,
            "balanced_loss": BalancedSISNRLoss(0.5),
            "atkl_loss": atkl_loss or ATKLLoss(),
            "feature_weight": 1.0,
            **hparams,
        },
        run_opts={"device": "cpu", "precision": "fp32"},
    )
    brain.on_fit_start()
    brain.on_stage_start(sb.Stage.TRAIN, epoch=1)
    return brain


def _training_loss(brain, batch):
    predictions = brain.compute_forward(batch, sb.Stage.TRAIN)
    return brain.compute_objectives(predictions, batch, sb.Stage.TRAIN), predictions


@pytest.mark.parametrize(
    "make_teacher,modules",
    [
        (lambda: Uformer.from_preset("Uformer-light"), UFORMER_MODULES),
        (lambda: DCCRN(channels=[8] * 6, rnn_units=16), DCCRN_MODULES),
    ],
    ids=["uformer", "dccrn"],
)
def test_hooked_teacher_gives_the_return_features_value(make_teacher, modules, one_thread):
    torch.manual_seed(1)
    teacher = make_teacher().eval()
    batch = _batch()
    direct = _distillation_brain(teacher)
    hooked = _distillation_brain(teacher, teacher_feature_modules=modules)
    assert isinstance(hooked.teacher, HookedTeacher) and not isinstance(direct.teacher, HookedTeacher)
    loss_direct, (_, _, _, maps_direct) = _training_loss(direct, batch)
    loss_hooked, (_, _, _, maps_hooked) = _training_loss(hooked, batch)
    for group in ("encoder", "decoder"):
        assert all(torch.equal(a, b) for a, b in zip(maps_direct[group], maps_hooked[group]))
    assert torch.equal(loss_direct, loss_hooked)
    assert direct.loss_terms == hooked.loss_terms and direct.loss_terms["atkl_total"] > 0


def test_hooks_are_removed_after_each_forward():
    model = GTCRN.from_preset("GTCRN").eval()
    teacher = HookedTeacher(model, {"encoder": ["encoder.en_convs.0"]}, layout="channels_frames_freq")
    with torch.no_grad():
        _, features = teacher(torch.randn(1, 4000), return_features=True)
    assert features["encoder"][0].shape == (1, 16, 65, 16)  # (batch, channels, freq, frames)
    assert not model.encoder.en_convs[0]._forward_hooks


def test_hooked_teacher_errors_name_the_module():
    model = GTCRN.from_preset("GTCRN").eval()
    with pytest.raises(ValueError, match=r"no module 'encoder.en_conv.0': 'encoder' has only \['en_convs'\]"):
        HookedTeacher(model, {"encoder": ["encoder.en_conv.0"]})
    with pytest.raises(ValueError, match="teacher_feature_layout"):
        HookedTeacher(model, {"encoder": ["encoder"]}, layout="frames_first")
    with pytest.raises(ValueError, match="non-empty list"):
        HookedTeacher(model, {"encoder": "encoder.en_convs.0"})
    wav = torch.randn(1, 4000)
    for reference, message in [
        ("encoder", r"returns a tuple of 2: name the map's index, e.g. 'encoder\[0\]'"),
        ("encoder.en_convs.2.tra.att_gru[0]", r"gives shape \(1, 16, 16\); AT-KL needs 4-D maps"),
        ("encoder.en_convs.2.sfe[1]", "'encoder.en_convs.2.sfe' does not return a tuple with an element 1"),
    ]:
        teacher = HookedTeacher(model, {"encoder": [reference]})
        with pytest.raises(ValueError, match=message), torch.no_grad():
            teacher(wav, return_features=True)
    shared = torch.nn.Linear(4, 4)
    twice = torch.nn.Sequential(shared, shared)
    with pytest.raises(RuntimeError, match="'0' ran 2 times in one forward"):
        HookedTeacher(twice, {"encoder": ["0"]})(torch.randn(1, 4), return_features=True)


TIMINGS = {
    "DCCRN (causal, hop 100)": STFT(400, 100, 512),
    "Uformer (causal, hop 160)": STFT(400, 160, 512),
    "GTCRN (centred, hop 256)": CentredSTFT(512, 256),
    "centred, hop 128": CentredSTFT(256, 128),
    "causal, hop 480": STFT(960, 480, 1024),
}


def _frames(stft, length):
    return stft(torch.zeros(1, length)).shape[-1]


@pytest.mark.parametrize("teacher_name", list(TIMINGS))
@pytest.mark.parametrize("length", [16000, 23457, 64000])
def test_timestamps_alignment_reads_the_teacher_at_each_student_frame_time(teacher_name, length):
    """A teacher map holding each frame's centre time, aligned to DCCRN's frames, holds theirs."""
    student, teacher = TIMINGS["DCCRN (causal, hop 100)"], TIMINGS[teacher_name]
    teacher_times = teacher.timing.centres(_frames(teacher, length))
    student_times = student.timing.centres(_frames(student, length))
    aligned = align_frames(teacher_times, len(student_times), student.timing, teacher.timing)
    inside = (student_times >= teacher_times[0]) & (student_times <= teacher_times[-1])
    assert inside.float().mean() > 0.9
    assert torch.allclose(aligned[inside], student_times[inside], atol=1e-6)
    # Outside the teacher's frames: its first or last frame.
    assert set(aligned[~inside].tolist()) <= {teacher_times[0].item(), teacher_times[-1].item()}


def test_span_alignment_is_off_by_the_framings_offsets():
    """Why the GTCRN recipe aligns by timestamps: span misaligns hop 256 by 1.5 student frames at 1 s."""
    student = TIMINGS["DCCRN (causal, hop 100)"]

    def span_error(teacher, length):
        teacher_times = teacher.timing.centres(_frames(teacher, length)).float()
        student_times = student.timing.centres(_frames(student, length)).float()
        stretched = resample_axes(teacher_times.expand(1, 2, -1), (2, len(student_times)))[0, 0]
        inside = (student_times >= teacher_times[0]) & (student_times <= teacher_times[-1])
        return (stretched - student_times)[inside].abs().max().item()

    for length in (16000, 32000, 64000):
        assert span_error(TIMINGS["Uformer (causal, hop 160)"], length) <= 50.0  # half a student hop
    assert span_error(TIMINGS["GTCRN (centred, hop 256)"], 64000) < 25.0
    assert span_error(TIMINGS["GTCRN (centred, hop 256)"], 16000) > 140.0


def test_timestamps_needs_the_timings():
    student = {"encoder": [torch.rand(1, 4, 8, 50)], "decoder": []}
    teacher = {"encoder": [torch.rand(1, 6, 8, 20)], "decoder": []}
    loss = ATKLLoss(time_alignment="timestamps", layers=["encoder.0"])
    with pytest.raises(ValueError, match="needs timings=\\(student, teacher\\)"):
        loss(student, teacher)
    with pytest.raises(ValueError, match="time_alignment must be one of"):
        ATKLLoss(time_alignment="stretch")
    with pytest.raises(ValueError, match="no stft.timing.*teacher_frame_timing"):
        frame_timing(torch.nn.Identity())
    assert frame_timing(torch.nn.Identity(), [256, 0]) == FrameTiming(256, 0.0)


def test_real_valued_teacher_maps():
    """A real teacher map X and a complex student map X + 0i give zero loss; odd channels cannot be complex."""
    torch.manual_seed(0)
    real = torch.randn(2, 5, 16, 30)
    complex_student = {"encoder": [torch.cat([real, torch.zeros_like(real)], 1)], "decoder": []}
    real_teacher = {"encoder": [real], "decoder": []}
    loss = ATKLLoss(teacher_complex_features="channels", layers=["encoder.0"])
    assert loss(complex_student, real_teacher).abs().item() < 1e-5
    assert loss(complex_student, {"encoder": [real.flip(2)], "decoder": []}).item() > 1e-2
    with pytest.raises(ValueError, match="teacher's feature map has 5 channels.*needs 'channels'"):
        ATKLLoss(layers=["encoder.0"])(complex_student, real_teacher)
    with pytest.raises(ValueError, match="teacher_complex_features must be one of"):
        ATKLLoss(teacher_complex_features="real")


def _gtcrn_recipe(tmp_path, **overrides):
    text = (REPO / "hparams" / "distil_dccrn_atkl_gtcrn.yaml").read_text()
    return load_hyperpyyaml(text, {"results_root": str(tmp_path), **overrides})


def test_gtcrn_teacher_by_hooks_trains_the_student(tmp_path, one_thread):
    """The GTCRN recipe's settings (hooks, frames-first layout, real maps, timestamps): only the student learns."""
    torch.manual_seed(0)
    hparams = _gtcrn_recipe(tmp_path)
    teacher = GTCRN.from_preset("GTCRN")
    brain = _distillation_brain(
        teacher,
        hparams["atkl_loss"],
        **{key: hparams[key] for key in ("teacher_feature_modules", "teacher_feature_layout", "teacher_frame_timing")},
    )
    assert brain.frame_timings == (FrameTiming(100, -100.0), FrameTiming(256, 0.0))
    student_hz, teacher_hz = brain.frequency_grids
    assert torch.equal(student_hz(128), linear_frequencies(128)) and teacher_hz(129).equal(teacher.erb.frequencies)
    batch = _batch(seconds=1.0)
    loss, (_, student_maps, _, teacher_maps) = _training_loss(brain, batch)
    assert [m.shape[2] for m in teacher_maps["encoder"]] == [65, 33, 33, 33, 33]
    assert [m.shape[2] for m in teacher_maps["decoder"]] == [33, 33, 33, 65, 129]
    assert teacher_maps["decoder"][4].shape[1] == 2 and student_maps["encoder"][0].shape[-1] == 163
    assert torch.isfinite(loss) and brain.loss_terms["atkl_total"] > 0
    loss.backward()
    assert all(p.grad is not None for p in brain.modules.model.encoder.parameters())
    assert all(p.grad is None for p in teacher.parameters())


@pytest.mark.skipif(not GTCRN_WEIGHTS.is_file(), reason=f"GTCRN weights not found at {GTCRN_WEIGHTS}")
def test_gtcrn_yaml_loads_the_published_teacher(tmp_path):
    hparams = _gtcrn_recipe(tmp_path, teacher_checkpoint=str(GTCRN_WEIGHTS))
    teacher = load_teacher(hparams["teacher_checkpoint"], hparams["teacher"])
    published = torch.load(GTCRN_WEIGHTS, weights_only=True)
    name = "decoder.de_convs.4.conv.weight"
    assert torch.equal(teacher.state_dict()[name], published[name])


def test_linear_frequency_alignment_is_the_index_resampling():
    """On two linear bin grids, aligning by Hz is exactly today's bilinear resampling by relative index."""
    torch.manual_seed(0)
    teacher = torch.rand(3, 5, 65)
    for bins in (128, 65, 33, 8):
        by_hz = align_frequencies(teacher, linear_frequencies(bins), linear_frequencies(65))
        by_index = resample_axes(teacher, (5, bins))
        assert torch.allclose(by_hz.float(), by_index, atol=1e-6), bins


def test_gtcrn_bins_lie_on_the_erb_scale():
    """GTCRN's maps are linear up to 2 kHz (31.25 Hz apart at 129 bins), ERB-spaced above; other sizes are refused."""
    gtcrn = GTCRN.from_preset("GTCRN")
    full = gtcrn.feature_frequencies(129)
    assert torch.allclose(full[:65], torch.arange(65) * 31.25)
    high = full[65:].diff()
    assert (high > 0).all() and high[-1] > 3 * high[0]  # ERB bands widen with frequency
    assert torch.equal(gtcrn.feature_frequencies(65), full[::2])
    assert torch.equal(gtcrn.feature_frequencies(33), full[::4])
    for bins in (64, 1, 130):
        with pytest.raises(ValueError, match=f"not {bins}"):
            gtcrn.feature_frequencies(bins)
    assert bin_frequencies(torch.nn.Identity(), torch.nn.Identity(), 16000) is None


def test_frequency_alignment_compares_the_same_hz():
    """A student map that holds the teacher's spectrum at its own bin frequencies scores (near) zero only by Hz."""
    gtcrn = GTCRN.from_preset("GTCRN")
    student_hz, teacher_hz = linear_frequencies(128), gtcrn.feature_frequencies(65)

    def spectrum(hz):  # an energy bump at 3-4 kHz over 20 frames, on any bin grid
        profile = 0.05 + torch.exp(-(((hz - 3500.0) / 400.0) ** 2))
        return profile.float()[None, None, :, None].expand(2, 4, -1, 20).sqrt()

    student = {"encoder": [spectrum(student_hz)], "decoder": []}
    teacher = {"encoder": [spectrum(teacher_hz)], "decoder": []}
    loss = ATKLLoss(complex_features="channels", teacher_complex_features="channels", layers=["encoder.0"])
    frequencies = (lambda bins: linear_frequencies(bins), gtcrn.feature_frequencies)
    by_hz = loss.terms(student, teacher, frequencies=frequencies)
    by_index = loss.terms(student, teacher)
    assert by_hz["at_channel"] < 0.05 and by_hz["kl_channel"] < 0.01
    assert by_index["at_channel"] > 10 * by_hz["at_channel"]
    assert by_index["kl_channel"] > 10 * by_hz["kl_channel"]
