"""Tests of the study data laid by source and of the campaign's validation: new stages balanced, old ones unchanged."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from recipes.DNS import campaign, study_data
from speechbrain_atkl.data import prepare_dns
from speechbrain_atkl.data.prepare import LATER_OPTIONS, PREPARATION_FILE
from speechbrain_atkl.data.speakers import speaker_of


def tone(path, seconds, seed):
    """Writes a short random signal (WAV or FLAC by the suffix)."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), 0.1 * rng.standard_normal(int(seconds * 16000)), 16000)


def corpus(root):
    """A corpus folder (7 LibriSpeech-named speakers, 5 noises) and two extra folders: ``speech`` (4
    speechocean762 speakers) and ``street`` (3 files named by no corpus rule: each its own speaker)."""
    for speaker in range(7):
        for utterance in range(2):
            tone(root / "corpus" / "clean" / f"ls_{1001 + speaker}-1-{utterance}.wav", 1.5, 10 * speaker + utterance)
    for index in range(5):
        tone(root / "corpus" / "noise" / f"noise_{index}.wav", 2.0, seed=200 + index)
    for speaker in range(4):
        for utterance in range(2):
            name = f"so762_SPEAKER{speaker:04d}__{utterance:09d}.flac"
            tone(root / "speech" / name, 1.0, seed=300 + 10 * speaker + utterance)
    for index, name in enumerate(("street_a", "street_b", "street_c")):
        tone(root / "street" / f"{name}.wav", 1.0, seed=400 + index)
    return root / "corpus", [root / "speech", root / "street"]


def tiny_campaign(tmp_path, history=()):
    """``(work, shipped, argv)``: a campaign on :func:`corpus` with tiny stages, its shipped student's history given."""
    data_dir, _ = corpus(tmp_path)
    work, shipped = tmp_path / "work", tmp_path / "pretrained" / campaign.STUDENT_FOLDER
    shipped.mkdir(parents=True)
    (shipped / campaign.HISTORY).write_text(json.dumps(list(history)))
    argv = ["--data-dir", str(data_dir), "--extra-clean", "--work-dir", str(work), "--publish-dir", str(shipped.parent),
            "--stage-hours", "0.01", "--segment-seconds", "1.0", "--valid-count", "6", "--valid-every", "5",
            "--valid-noise-count", "1"]
    return work, shipped, argv


def test_extra_speech_laid_by_source_keeps_the_test_set_and_is_checked_for_leaks(tmp_path):
    data_dir, extra = corpus(tmp_path)
    options = dict(test_count=5, test_seconds=1.0, extra_clean=extra)
    plain = study_data.build_study_data(data_dir, tmp_path / "plain", **options)
    split = study_data.build_study_data(data_dir, tmp_path / "by_source", by_source=True, **options)
    clean = tmp_path / "by_source" / "datasets" / "clean"
    assert sorted(p.name for p in clean.iterdir() if p.is_file()) == sorted(Path(p).name for p in plain["train_clean"]
                                                                            if Path(p).parent == data_dir / "clean")
    assert sorted(p.name for p in (clean / "street").iterdir()) == ["street_a.wav", "street_b.wav", "street_c.wav"]
    assert len(list((clean / "speech").iterdir())) == 8
    assert split["source_folders"] == {"speech": str(extra[0].resolve()), "street": str(extra[1].resolve())}
    assert "by_source" not in json.loads((tmp_path / "plain" / study_data.DATA_MARKER).read_text())["options"]
    for a, b in zip(plain["test_items"], split["test_items"]):
        assert Path(a["noisy"]).read_bytes() == Path(b["noisy"]).read_bytes()

    # Balanced by source: two mixtures from each of ".", speech and street; check_prepared reads the source
    # prefix of the ids (street's files are their own speakers: "street__street_a" is street_a's).
    record = prepare_dns(tmp_path / "by_source", tmp_path / "prep", valid_count=6, valid_seconds=1.0,
                         valid_fraction=0.3, valid_split="speakers", valid_balance="subfolders", valid_noise_count=1)
    valid = json.loads(Path(record["manifests"]["valid"]).read_text())
    ids = [entry["clean_source"] for entry in valid.values()]
    sources = [next((s for s in ("speech", "street") if i.startswith(f"{s}__")), ".") for i in ids]
    assert sorted(sources) == [".", ".", "speech", "speech", "street", "street"]
    check = study_data.check_prepared(tmp_path / "prep", split)
    assert any(speaker.startswith("street_") for speaker in check["valid_speakers"]) and len(check["valid_noises"]) == 1

    # A validation mixture of a test speaker, even behind a source prefix, is a leak.
    test_stem = Path(split["test_clean"][0]).stem
    valid["valid_00000"]["clean_source"] = f"speech__{test_stem}"
    Path(record["manifests"]["valid"]).write_text(json.dumps(valid))
    with pytest.raises(study_data.StudyError, match=f"valid_00000 uses speaker {speaker_of(test_stem)}, not"):
        study_data.check_prepared(tmp_path / "prep", split)

    twins = [tmp_path / "a" / "speech", extra[0]]
    tone(twins[0] / "so762_SPEAKER0100__000000001.flac", 1.0, seed=1)
    with pytest.raises(study_data.StudyError, match="two extra-clean folders named 'speech'"):
        study_data.build_study_data(data_dir, tmp_path / "twins", by_source=True, **{**options, "extra_clean": twins})


def test_the_test_set_is_copied_byte_for_byte_from_a_folder_with_the_same_test_options(tmp_path):
    data_dir, extra = corpus(tmp_path)
    first = study_data.build_study_data(data_dir, tmp_path / "first", test_count=5, test_seconds=1.0)
    kept = Path(first["test_items"][2]["noisy"])
    kept.write_bytes(kept.read_bytes()[:-2] + b"\x01\x00")  # as if mixed by other audio code: a last-bit change
    copied = study_data.build_study_data(data_dir, tmp_path / "second", test_count=5, test_seconds=1.0,
                                         extra_clean=extra, by_source=True, test_set_from=tmp_path / "first")
    noisy = Path(copied["test_items"][2]["noisy"])
    assert noisy.read_bytes() == kept.read_bytes()
    assert noisy.parent == tmp_path / "second/datasets/test_set/synthetic/no_reverb/noisy"
    strip = [{k: v for k, v in item.items() if k not in ("clean", "noisy")} for item in first["test_items"]]
    assert strip == [{k: v for k, v in item.items() if k not in ("clean", "noisy")} for item in copied["test_items"]]
    assert "test_set_from" not in json.loads((tmp_path / "second" / study_data.DATA_MARKER).read_text())["options"]
    with pytest.raises(study_data.StudyError, match="its test set is not this one .other test_count"):
        study_data.build_study_data(data_dir, tmp_path / "third", test_count=10, test_seconds=1.0,
                                    test_set_from=tmp_path / "first")


def test_the_campaign_stage_command_carries_the_new_validation(tmp_path):
    import train

    args = campaign.parse_args([])
    command = campaign.train_command(args, "student-alone-stage5", 1238, tmp_path / "data", tmp_path / "runs", tmp_path)
    assert f"--prepare_folder={tmp_path / 'runs' / campaign.PREPARED}" in command
    assert {"--valid_balance=subfolders", "--valid_noise_count=4", "--valid_snr_range=[-5, 15]"} <= set(command)
    hparams = train.parse_run(command[2:])[2]  # as train.py reads them, checked
    assert hparams["valid_snr_range"] == [-5, 15] and hparams["valid_noise_count"] == 4
    assert hparams["prepare_folder"] == str(tmp_path / "runs" / campaign.PREPARED)
    args = campaign.parse_args(["--valid-balance", "none", "--valid-noise-count", "2", "--valid-snr-range", "0", "10"])
    command = campaign.train_command(args, "student-alone-stage5", 1238, tmp_path, tmp_path, tmp_path)
    assert {"--valid_balance=none", "--valid_noise_count=2", "--valid_snr_range=[0, 10]"} <= set(command)
    args = campaign.parse_args(["--valid-noise-count", "0", "--valid-snr-range", "15", "-5"])
    command = campaign.train_command(args, "student-alone-stage5", 1238, tmp_path, tmp_path, tmp_path)
    with pytest.raises(study_data.StudyError, match=r"(?s)preparation of the stage failed: Bad hyper-parameters:.*"
                       r"valid_snr_range: expected null .*, got \[15, -5\].*valid_noise_count: expected null"):
        campaign.prepare_stage_data(command)


def test_a_stage_recorded_before_keeps_its_validation_and_the_next_stage_gets_the_new_one(tmp_path, monkeypatch):
    """The ledger's training stage (recorded with <work>/data and runs/prepared, without the new options) resumes
    on its own data and is scored on its own mixtures; the next stage is prepared by source in its own folder,
    and the shipped model is scored again on those mixtures, not compared with an old number."""
    import speechbrain_atkl.publishing

    work, shipped, argv = tiny_campaign(tmp_path)
    argv += ["--stages", "2"]
    data_dir = tmp_path / "corpus"
    study_data.build_study_data(data_dir, work / "data", test_count=40, test_seconds=8.0)
    new_keys = ("--prepare_folder=", "--valid_balance=", "--valid_noise_count=", "--valid_snr_range=")
    old = campaign.train_command(campaign.parse_args(argv), "student-alone-stage1", 1234, work / "data",
                                 work / "runs", shipped)
    old = [item for item in old if not item.startswith(new_keys)]
    campaign.prepare_stage_data(old)  # as its train.py did, then its record as the code before wrote it
    record_path = work / "runs" / "prepared" / PREPARATION_FILE
    record = json.loads(record_path.read_text())
    record["options"] = {k: v for k, v in record["options"].items() if k not in LATER_OPTIONS}
    record_path.write_text(json.dumps(record))
    mixture = work / "runs" / "prepared" / "valid_mixtures" / "noisy" / "valid_00000.wav"
    before = (mixture.stat().st_mtime_ns, record_path.read_bytes(), (work / "data" / "split.json").read_bytes())
    (work / campaign.LEDGER).write_text(json.dumps({"stages": [
        {"name": "student-alone-stage1", "status": "training", "steps": 5, "audio_hours": 0.01,
         "starts_from_hours": 0.0, "command": old}]}))

    def run_stage(command, log_path, threads):
        name = next(item.split("=", 1)[1] for item in command if item.startswith("--experiment_name="))
        (work / "runs" / name / "1986").mkdir(parents=True, exist_ok=True)
        (work / "runs" / name / "1986" / "test_metrics.json").write_text("{}")

    scored = []

    def validation_scores(model, valid_manifest):
        scored.append((Path(model).name, Path(valid_manifest)))
        return {"si_snr": 1.0 if Path(model) != shipped else 2.0, "pesq": 1.5}

    monkeypatch.setattr(campaign, "run_stage", run_stage)
    monkeypatch.setattr(campaign, "validation_scores", validation_scores)
    monkeypatch.setattr(speechbrain_atkl.publishing, "publish", lambda output, folder, **kw: folder.mkdir(parents=True))
    assert campaign.main(argv) == 0

    old_valid, new_valid = work / "runs" / "prepared" / "valid.json", work / "runs" / campaign.PREPARED / "valid.json"
    assert scored == [("student-alone-stage1", old_valid), (campaign.STUDENT_FOLDER, old_valid),
                      ("student-alone-stage2", new_valid), (campaign.STUDENT_FOLDER, new_valid)]
    assert before == (mixture.stat().st_mtime_ns, record_path.read_bytes(), (work / "data" / "split.json").read_bytes())
    stages = json.loads((work / campaign.LEDGER).read_text())["stages"]
    assert [stage["status"] for stage in stages] == ["not better", "not better"] and stages[0]["command"] == old
    assert stages[1]["valid_manifest"] == str(new_valid) and f"--data_folder={work / campaign.DATA_FOLDER}" in \
        stages[1]["command"]
    new = json.loads(new_valid.read_text())
    assert all(-5 <= entry["snr_db"] <= 15 for entry in new.values())
    assert len({entry["noise_source"] for entry in new.values()}) == 1
    first_test = json.loads((work / "data" / "split.json").read_text())["test_items"]
    new_test = json.loads((work / campaign.DATA_FOLDER / "split.json").read_text())["test_items"]
    assert [Path(i["noisy"]).read_bytes() for i in first_test] == [Path(i["noisy"]).read_bytes() for i in new_test]


def test_a_lost_work_folder_continues_the_stage_count_of_the_shipped_history(tmp_path, monkeypatch):
    """A fresh work folder (a new machine) names its first stage after the shipped history's last one and
    mixes with that stage's own seed, not stage 1's again."""
    import speechbrain_atkl.publishing

    history = [{"stage": name, "steps": 100, "audio_hours": 1.0}
               for name in ("release", "student-atkl_gtcrn-stage3", "student-alone-stage5")]
    work, shipped, argv = tiny_campaign(tmp_path, history)

    def run_stage(command, log_path, threads):
        name = next(item.split("=", 1)[1] for item in command if item.startswith("--experiment_name="))
        (work / "runs" / name / "1986").mkdir(parents=True, exist_ok=True)
        (work / "runs" / name / "1986" / "test_metrics.json").write_text("{}")

    monkeypatch.setattr(campaign, "run_stage", run_stage)
    monkeypatch.setattr(campaign, "validation_scores", lambda model, manifest: {"si_snr": 1.0, "pesq": 1.5})
    monkeypatch.setattr(speechbrain_atkl.publishing, "publish", lambda output, folder, **kw: folder.mkdir(parents=True))
    assert campaign.main(argv) == 0
    (stage,) = json.loads((work / campaign.LEDGER).read_text())["stages"]
    assert stage["name"] == "student-alone-stage6"
    assert f"--mixing_seed={campaign.DATA_SEED + 5}" in stage["command"]


def test_the_campaign_restarts_on_the_current_code_when_it_changed_under_a_training(tmp_path, monkeypatch):
    """A merge during a stage's training must not leave the driver importing old and new modules together:
    after the training it re-executes itself (with the stages it has left) and resumes from the ledger."""
    work, shipped, argv = tiny_campaign(tmp_path)
    argv += ["--threads", "1", "--stages", "3"]
    code = tmp_path / "code"
    code.mkdir()
    (code / "model.py").write_text("x = 1")

    def run_stage(command, log_path, threads):
        (code / "model.py").write_text("x = 12")  # merged while it trained

    class Restarted(Exception):
        pass

    def restart(module, new_argv, root):
        raise Restarted(module, new_argv)

    monkeypatch.setattr(campaign, "CODE", [code])
    monkeypatch.setattr(campaign, "run_stage", run_stage)
    monkeypatch.setattr(campaign, "restart_on_current_code", restart)
    with pytest.raises(Restarted) as restarted:
        campaign.main(argv)
    assert restarted.value.args == ("recipes.DNS.campaign", [*argv[:-2], "--stages", "3"])
    (stage,) = json.loads((work / campaign.LEDGER).read_text())["stages"]
    assert stage["status"] == "training"  # the restarted driver resumes it


def test_restart_on_current_code_runs_the_module_as_it_is_now(tmp_path):
    """The process is replaced: same id and output, the module read from disk again, the new arguments."""
    (tmp_path / "driver.py").write_text(
        "import os, sys\n"
        "from speechbrain_atkl.training.children import restart_on_current_code\n"
        "print('pid', os.getpid(), 'argv', sys.argv[1:], flush=True)\n"
        "if sys.argv[1:] == ['first']:\n"
        "    open(__file__, 'a').write('print(\"new code\")\\n')\n"
        f"    restart_on_current_code('driver', ['second'], {str(tmp_path)!r})\n"
    )
    result = subprocess.run([sys.executable, "-m", "driver", "first"], cwd=tmp_path, capture_output=True, text=True,
                            check=True, env={**os.environ, "PYTHONPATH": str(Path(campaign.__file__).parents[2])})
    lines = result.stdout.splitlines()
    assert lines[0].endswith("argv ['first']") and lines[2].endswith("argv ['second']")
    assert lines[0].split()[1] == lines[2].split()[1]  # the same process
    assert lines[1].startswith("the code under") and lines[3] == "new code"
