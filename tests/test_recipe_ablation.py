"""The recipe ablation's distillation arms: same run as the baseline but the loss, a teacher gate, paired table."""

import json
from argparse import Namespace
from pathlib import Path

import pytest

from benchmarks import recipe_ablation

REPO = Path(__file__).resolve().parents[1]


def _args(tmp_path, **overrides):
    options = dict(steps=600, valid_every=200, batch_size=8, segment_seconds=3.0, valid_count=100,
                   valid_fraction=0.1, gtcrn=tmp_path / "gtcrn_dns3.pt", uformer=tmp_path / "uformer", seeds=[1, 2],
                   threads=1)
    return Namespace(**{**options, **overrides})


def _options(command):
    return dict(item[2:].split("=", 1) for item in command if item.startswith("--") and "=" in item)


def test_distillation_arms_differ_from_the_baseline_by_the_loss_only(tmp_path):
    args = _args(tmp_path)
    baseline = recipe_ablation.command("baseline", 1, args, tmp_path / "data", tmp_path / "runs")
    distilled = recipe_ablation.command("atkl_gtcrn", 1, args, tmp_path / "data", tmp_path / "runs")
    output_only = recipe_ablation.command("output_gtcrn", 1, args, tmp_path / "data", tmp_path / "runs")
    assert baseline[2] == str(REPO / "hparams" / "distil_dccrn.yaml")
    assert distilled[2] == output_only[2] == str(REPO / "hparams" / "distil_dccrn_atkl_gtcrn.yaml")
    base, dist = _options(baseline), _options(distilled)
    assert dist.pop("teacher_checkpoint") == str(tmp_path / "gtcrn_dns3.pt")
    for key in ("seed", "batch_size", "segment_seconds", "epoch_size", "number_of_epochs", "data_folder"):
        assert base[key] == dist[key]
    assert dist["experiment_name"] == "atkl_gtcrn" and _options(output_only)["feature_weight"] == "0.0"
    # The distillation YAML trains like the baseline's: same optimiser settings and the plateau schedule.
    for yaml in ("distil_dccrn.yaml", "distil_dccrn_atkl_gtcrn.yaml"):
        text = (REPO / "hparams" / yaml).read_text()
        assert "lr: 0.001" in text and "max_grad_norm: 5.0" in text and "factor: 0.5" in text
    assert recipe_ablation.teacher_source("baseline", args) is None
    assert recipe_ablation.teacher_source("atkl_uformer", args) == tmp_path / "uformer"


def _finished(work, arm, seed, si_snr, pesq, test):
    run = work / "runs" / arm / str(seed)
    run.mkdir(parents=True)
    (run / "test_metrics.json").write_text(json.dumps({"enhanced": {"si_snr_i": test}}))
    (run / "train_log.txt").write_text(
        "epoch: 1, lr: 1e-3 - train loss: 1.0 - valid loss: 1.0, valid si_snr: 0.0, valid pesq: 1.0\n"
        f"epoch: 2, lr: 1e-3 - train loss: 1.0 - valid loss: 1.0, valid si_snr: {si_snr}, valid pesq: {pesq}\n"
    )


def test_paired_differences_use_the_last_validation_and_only_seeds_both_arms_finished(tmp_path):
    _finished(tmp_path, "baseline", 1, 10.0, 1.50, 0.5)
    _finished(tmp_path, "baseline", 2, 11.0, 1.55, 1.0)
    _finished(tmp_path, "atkl_gtcrn", 1, 11.0, 1.60, 2.0)
    _finished(tmp_path, "atkl_gtcrn", 2, 11.5, 1.60, 1.5)
    _finished(tmp_path, "spectral", 3, 9.0, 1.40, 0.0)  # no baseline of seed 3: not paired
    table = recipe_ablation.paired_differences(tmp_path, ["baseline", "atkl_gtcrn", "spectral"], [1, 2, 3])
    rows = [line for line in table.splitlines() if line.startswith("| atkl") or line.startswith("| spectral")]
    assert rows == ["| atkl_gtcrn | 2 | +0.75 ± 0.35 (+1.00, +0.50) | +0.075 ± 0.035 (+0.100, +0.050) "
                    "| +1.00 ± 0.71 (+1.50, +0.50) |"]


def test_an_arm_whose_teacher_is_weaker_is_skipped_and_needs_a_baseline(tmp_path, monkeypatch):
    """The gate is decided once per arm (teacher_gate.json) and a failing teacher's arm trains nothing."""
    gates = {"atkl_uformer": {"teacher": {"si_snr": 8.0}, "baseline seed 1": {"si_snr": 10.0}, "passes": False}}
    (tmp_path / "teacher_gate.json").write_text(json.dumps(gates))
    monkeypatch.setattr(recipe_ablation, "build_study_data", lambda *args, **kwargs: None)
    trained = []
    monkeypatch.setattr(recipe_ablation, "run_logged", lambda command, *args, **kwargs: trained.append(command) or 1)
    recipe_ablation.main(["--work-dir", str(tmp_path), "--arms", "atkl_uformer", "--seeds", "1"])
    assert trained == []
    with pytest.raises(SystemExit, match="needs the baseline arm first"):
        recipe_ablation.teacher_gate("atkl_gtcrn", _args(tmp_path, gtcrn=Path("unused")), tmp_path)
