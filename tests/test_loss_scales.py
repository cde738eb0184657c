"""Tests of the per-layer AT-KL scale report (recipes/DNS/loss_scales.py)."""

import pytest
import torch
from speechbrain.utils.checkpoints import Checkpointer

from recipes.DNS import loss_scales
from speechbrain_atkl.data.audio_writer import save_audio
from speechbrain_atkl.loading import save_model_config
from speechbrain_atkl.losses import ATKLLoss

from helpers import small_dccrn

pytestmark = pytest.mark.usefixtures("one_thread")


def test_means_match_the_loss_over_all_layers():
    student, teacher = small_dccrn(seed=0), small_dccrn(seed=1, channels=[8, 16, 16, 16, 32, 32])
    noisy = torch.randn(2, 4000)
    rows = loss_scales.term_scales(student, teacher, noisy, temperatures=[1.0, 8.0])
    assert len(rows) == 24 and {row["dim"] for row in rows} == {"time", "channel"}
    with torch.no_grad():
        _, s_features = student(noisy, return_features=True)
        _, t_features = teacher(noisy, return_features=True)
    for dim in ("time", "channel"):
        chosen = [row for row in rows if row["dim"] == dim]
        for temperature in (1.0, 8.0):
            expected = ATKLLoss(dims=[dim], at_weight=0.0, temperature=temperature).terms(s_features, t_features)
            mean = sum(row["kl"][temperature] for row in chosen) / len(chosen)
            assert mean == pytest.approx(float(expected[f"kl_{dim}"]), rel=1e-5)
    table = loss_scales.format_scales(rows)
    assert table.count("\n") == 2 + 24 + 2 - 1 and "| KL (T=8) |" in table.splitlines()[0]
    # identical models: every term vanishes
    same = loss_scales.term_scales(student, student, noisy, temperatures=[1.0])
    assert max(max(row["at"], row["kl"][1.0]) for row in same) < 1e-5


def _run_folder(folder, model):
    save_model_config(model, folder / "save" / "model_config.yaml")
    Checkpointer(folder / "save", recoverables={"model": model}).save_checkpoint(meta={"valid_pesq": 1.5})
    return folder


def test_command_line_on_run_folders(tmp_path, capsys):
    teacher = _run_folder(tmp_path / "teacher", small_dccrn(seed=1))
    student = _run_folder(tmp_path / "student", small_dccrn(seed=2))
    files = []
    for index in range(3):
        files.append(tmp_path / f"noisy_{index}.wav")
        save_audio(files[-1], 0.1 * torch.randn(8000 + 4000 * index), 16000)
    argv = ["--teacher", str(teacher), "--student", str(student), "--seconds", "0.5", "--temperatures", "2"]
    assert loss_scales.main(argv + ["--audio", *map(str, files)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].endswith("| AT | KL (T=2) | teacher max share | teacher eff. bins |") and len(lines) == 2 + 24 + 2
    assert lines[-1].startswith("| mean | channel |")


def test_untrained_presets_noise_mixing_and_time_map_checks(tmp_path, capsys):
    clean, noise = tmp_path / "clean.wav", tmp_path / "noise.wav"
    save_audio(clean, 0.1 * torch.randn(8000), 16000)
    save_audio(noise, 0.1 * torch.randn(8000), 16000)
    mixed = loss_scales.load_mixtures([str(clean)] * 2, 0.5, [str(noise)], snr=0.0)
    alone = loss_scales.load_batch([str(clean)] * 2, 0.5)
    assert torch.allclose((mixed - alone).pow(2).mean(), alone.pow(2).mean(), rtol=1e-3)
    assert loss_scales.load_model("Distil-DCCRN").training  # untrained presets normalise with batch statistics
    with pytest.raises(ValueError, match="preset"):
        loss_scales.load_model("DCCRN-X")
    student, teacher = small_dccrn(seed=0), small_dccrn(seed=1, channels=[8, 16, 16, 16, 32, 32])
    checks = loss_scales.time_map_checks(student, teacher, torch.randn(2, 4000), layers=["encoder.1", "decoder.2"])
    assert set(checks) == {"sorted", "gram", "profile", "index"}
    for time_map, row in checks.items():
        assert set(row) == {"permuted", "half", "other_input", "student"}
        if time_map != "index":
            assert max(row["permuted"].values()) < 1e-5
    assert min(checks["index"]["permuted"].values()) > 1e-3
    table = loss_scales.format_checks(checks)
    assert table.count("\n") == 5 and table.splitlines()[2].startswith("| sorted | 0.000 / 0.000 |")
