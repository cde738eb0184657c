"""The campaign's variants: a stage and its variant train side by side; the better on validation is published."""

import json
import threading
from pathlib import Path

import pytest
from test_campaign_validation import tiny_campaign

from recipes.DNS import campaign, campaign_stages


def _campaign(tmp_path):
    """:func:`tiny_campaign` with one thread per training."""
    work, shipped, argv = tiny_campaign(tmp_path)
    return work, shipped, [*argv, "--threads", "1"]


def _option(command, key):
    return next(item.split("=", 1)[1] for item in command if item.startswith(f"--{key}="))


def test_a_stage_and_its_variant_train_side_by_side_and_the_better_one_is_published(tmp_path, monkeypatch):
    import speechbrain_atkl.publishing

    work, shipped, argv = _campaign(tmp_path)
    both_running = threading.Barrier(2, timeout=30)  # passes only when the two trainings run at the same time
    trained = []

    def run_stage(command, log_path, threads):
        both_running.wait()
        name = _option(command, "experiment_name")
        trained.append((name, Path(log_path).name, threads))
        (work / "runs" / name / "1986").mkdir(parents=True, exist_ok=True)
        (work / "runs" / name / "1986" / "test_metrics.json").write_text("{}")

    def validation_scores(model, valid_manifest):
        return {"si_snr": {"student-alone-stage1": 1.0, "student-alone-stage1-variant": 3.0}.get(Path(model).name, 2.0),
                "pesq": 1.5}

    published = []

    def publish_stage(stage, output, shipped_folder, args, split, valid, previous, history, arm):
        published.append((Path(output), arm, valid["si_snr"], previous["si_snr"]))
        return history

    monkeypatch.setattr(campaign, "run_stage", run_stage)
    monkeypatch.setattr(campaign, "validation_scores", validation_scores)
    monkeypatch.setattr(campaign, "publish_stage", publish_stage)
    monkeypatch.setattr(speechbrain_atkl.publishing, "publish", lambda output, folder, **kw: folder.mkdir(parents=True))
    assert campaign.main([*argv, "--override", "lr=0.0003", "--variant", "lr=0.0001", "noise_tonal_prob=0.25"]) == 0

    assert sorted(trained) == [("student-alone-stage1", "student-alone-stage1.log", 1),
                               ("student-alone-stage1-variant", "student-alone-stage1-variant.log", 1)]
    (stage,) = json.loads((work / campaign.LEDGER).read_text())["stages"]
    variant = stage["variant"]
    assert variant["name"] == "student-alone-stage1-variant"
    assert variant["overrides"] == ["lr=0.0001", "noise_tonal_prob=0.25"]
    # The same command but for the run's name and the variant's overrides, which win over --override.
    assert _option(stage["command"], "lr") == "0.0003" and _option(variant["command"], "lr") == "0.0001"
    assert _option(variant["command"], "noise_tonal_prob") == "0.25"
    assert "--noise_tonal_prob=0.25" not in stage["command"]
    same = {"experiment_name", "lr", "noise_tonal_prob"}
    assert [item for item in stage["command"] if item.split("=")[0][2:] not in same] == \
        [item for item in variant["command"] if item.split("=")[0][2:] not in same]
    assert stage["status"] == "published" and stage["chosen"] == "variant" and stage["valid"]["si_snr"] == 3.0
    assert stage["valid_arms"] == {"stage": {"si_snr": 1.0, "pesq": 1.5}, "variant": {"si_snr": 3.0, "pesq": 1.5}}
    assert published == [(work / "runs" / "student-alone-stage1-variant" / "1986", "variant", 3.0, 2.0)]


def test_a_failed_arm_is_named_and_only_the_unfinished_arm_trains_again(tmp_path, monkeypatch):
    """The other arm finishes; the failure is raised once both ended; the resumed stage keeps its variant
    (recorded) though --variant is not given again, and trains only the arm without test results."""
    import speechbrain_atkl.publishing

    work, shipped, argv = _campaign(tmp_path)
    trained, failures = [], []

    def run_stage(command, log_path, threads):
        name = _option(command, "experiment_name")
        trained.append(name)
        if name.endswith("-variant") and not failures:
            failures.append(name)
            raise campaign.StudyError(f"the stage's train.py failed (exit status 1); see {log_path}")
        (work / "runs" / name / "1986").mkdir(parents=True, exist_ok=True)
        (work / "runs" / name / "1986" / "test_metrics.json").write_text("{}")

    monkeypatch.setattr(campaign, "run_stage", run_stage)
    monkeypatch.setattr(campaign, "validation_scores", lambda model, manifest: {"si_snr": 1.0, "pesq": 1.5})
    monkeypatch.setattr(speechbrain_atkl.publishing, "publish", lambda output, folder, **kw: folder.mkdir(parents=True))
    with pytest.raises(campaign.StudyError, match=r"^student-alone-stage1-variant: the stage's train.py failed .*"
                       r"student-alone-stage1-variant\.log$"):
        campaign.main([*argv, "--variant", "lr=0.0001"])
    assert sorted(trained) == ["student-alone-stage1", "student-alone-stage1-variant"]
    assert json.loads((work / campaign.LEDGER).read_text())["stages"][0]["status"] == "training"

    trained.clear()
    assert campaign.main(argv) == 0
    assert trained == ["student-alone-stage1-variant"]
    (stage,) = json.loads((work / campaign.LEDGER).read_text())["stages"]
    assert stage["status"] == "not better" and stage["chosen"] == "stage"  # a tie: the stage itself


def test_variant_items_must_be_key_value_and_a_stage_name_gives_its_recipe(tmp_path):
    work, shipped, argv = _campaign(tmp_path)
    with pytest.raises(campaign.StudyError, match=r"--variant takes KEY=VALUE items, got \['lr'\]"):
        campaign.main([*argv, "--variant", "lr"])
    assert campaign_stages.stage_recipe("student-alone-stage13") == "alone"
    with pytest.raises(ValueError, match="student-teacher-stage2: not a campaign stage's name"):
        campaign_stages.stage_recipe("student-teacher-stage2")
