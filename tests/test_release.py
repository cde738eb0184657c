"""The release machinery at micro size on the shared corpus: gpu_run.sh (on CPU) -> release.py,
resume after SIGKILL, skip when finished, published folders, and train.py's ``init_from``; and, on
tiny runs, the release publishing over a shipped folder that holds the campaign's training history."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from speechbrain.utils.checkpoints import METAFNAME

from speechbrain_atkl.data.audio import load_audio
from speechbrain_atkl.loading import best_checkpoint
from speechbrain_atkl.models import DCCRN
from speechbrain_atkl.publishing.example import synthetic_example
from speechbrain_atkl.training.checkpoints import AtomicCheckpointer, init_from_pretrained

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
GPU_RUN = REPO / "recipes" / "DNS" / "gpu_run.sh"
TEACHER_FOLDER, STUDENT_FOLDER = "uformer-light-shared16k", "distil-dccrn-shared16k"

pytestmark = pytest.mark.usefixtures("one_thread")


def _gpu_run(tmp, **popen):
    env = dict(
        os.environ,
        GPU_RUN_DEVICE="cpu",
        GPU_RUN_BUDGET="micro",
        GPU_RUN_DATA=str(SHARED_DATA),
        GPU_RUN_WORK=str(tmp / "work"),
        GPU_RUN_ARCHIVE="1",
        OUT=str(tmp / "out"),
        OMP_NUM_THREADS="1",
    )
    return subprocess.Popen(["bash", str(GPU_RUN)], cwd=tmp, env=env, text=True, **popen)


def _finish(tmp):
    process = _gpu_run(tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = process.communicate(timeout=600)
    assert process.returncode == 0, out[-4000:]
    return out


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """gpu_run.sh killed (SIGKILL) once the teacher has its first checkpoint, then run again to the end."""
    if not (SHARED_DATA / "corpus").is_dir():
        pytest.skip(f"shared corpus not found at {SHARED_DATA}")
    tmp = tmp_path_factory.mktemp("release")
    teacher_run = tmp / "work" / "runs" / "uformer" / "1986"
    process = _gpu_run(tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while not list((teacher_run / "save").glob(f"CKPT+*/{METAFNAME}")):
        assert process.poll() is None and time.monotonic() < deadline, "the teacher never checkpointed"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    killed_with_metrics = (teacher_run / "test_metrics.json").is_file()
    return tmp, killed_with_metrics, _finish(tmp)


def test_killed_release_resumes_and_publishes(release):
    tmp, killed_with_metrics, out = release
    assert not killed_with_metrics
    assert "uformer/1986: training Uformer-light (teacher) (resuming from its checkpoint)" in out
    log = (tmp / "work" / "runs" / "uformer" / "1986" / "train_log.txt").read_text()
    assert len(re.findall(r"^epoch: 1,", log, re.M)) == 1 and re.search(r"^epoch: 2,", log, re.M)
    for name in ("distil_dccrn_atkl", "distil_dccrn"):
        assert (tmp / "work" / "runs" / name / "1986" / "test_metrics.json").is_file()
    # GPU_RUN_ARCHIVE=1: every output is one plain file (8 here), none over 16 MiB
    files = sorted(p.name for p in (tmp / "out").iterdir())
    assert files == sorted(
        ["calibration.json", "gpu_run.log", "release_results.json", "release_results.md", "runs.tar.gz",
         "spectrograms.png", f"{TEACHER_FOLDER}.tar.gz", f"{STUDENT_FOLDER}.tar.gz"]
    )
    assert all(p.stat().st_size < 16 * 2**20 for p in (tmp / "out").iterdir())
    calibration = json.loads((tmp / "out" / "calibration.json").read_text())
    assert all(model["audio_s_per_s"] > 0 for model in calibration["models"].values())

    results = json.loads((tmp / "out" / "release_results.json").read_text())
    assert results["training"] == json.loads((tmp / "work" / "release.json").read_text())  # what the runs used
    assert [s["name"] for s in results["systems"]] == ["uformer", "distil_dccrn_atkl", "distil_dccrn"]
    assert results["noisy"]["metrics"]["si_snr_i"] == pytest.approx(0.0, abs=1e-6)
    for row in (results["noisy"], *results["systems"]):
        assert sorted(row["by_snr"]["si_snr_i"]) == ["-5", "0", "10", "15", "5"]  # JSON keys
    assert all(s["steps"] == 2 for s in results["systems"])
    table = (tmp / "out" / "release_results.md").read_text()
    assert "| noisy input |" in table and "si_snr_i by input SNR:" in table and "pesq_wb by input SNR:" in table

    student_card = (tmp / "work" / "pretrained" / STUDENT_FOLDER / "README.md").read_text()
    assert "this is the one with the better validation valid_si_snr: Distil-DCCRN + AT-KL " in student_card
    for folder in (TEACHER_FOLDER, STUDENT_FOLDER):
        published = tmp / "work" / "pretrained" / folder
        card = (published / "README.md").read_text()
        assert "not a DNS-scale model; for demonstration and fine-tuning" in card
        assert "### Licences of the training audio" in card and "CC BY-SA" in card and "2 steps of batch 2" in card
        assert not list(published.glob("*optim*"))
        assert all(p.stat().st_size < 400_000 for p in published.glob("*.wav"))
        example = load_audio(published / "example.wav")  # synthetic: no corpus audio is shipped
        assert "example.wav` is synthetic" in card and torch.allclose(example, synthetic_example(), atol=1e-4)


def test_finished_release_does_nothing(release):
    tmp = release[0]
    logs = sorted((tmp / "work" / "runs").glob("*/1986/train_log.txt"))
    cards = [tmp / "work" / "pretrained" / folder / "README.md" for folder in (TEACHER_FOLDER, STUDENT_FOLDER)]
    before = {p: p.stat().st_mtime_ns for p in logs + cards}
    out = _finish(tmp)
    assert out.count("finished earlier, skipped") == 3 and ": training" not in out
    assert {p: p.stat().st_mtime_ns for p in logs + cards} == before  # published.json: nothing to publish


def test_published_folders_load_and_enhance(release, tmp_path):
    from speechbrain_atkl import EnhanceBatch

    work = release[0] / "work"
    item = json.loads((work / "data" / "split.json").read_text())["test_items"][0]
    noisy = load_audio(item["noisy"])
    for folder in (TEACHER_FOLDER, STUDENT_FOLDER):
        source = work / "pretrained" / folder
        enhancer = EnhanceBatch.from_hparams(source=str(source), savedir=str(tmp_path / folder))
        enhanced = enhancer.enhance_batch(noisy[None])[0]
        assert enhanced.shape == noisy.shape and torch.isfinite(enhanced).all()
    (tmp_path / "noisy").mkdir()
    os.symlink(item["noisy"], tmp_path / "noisy" / "item.wav")
    cli = Path(sys.executable).with_name("speechbrain-atkl-enhance")
    command = [str(cli)] if cli.is_file() else [sys.executable, "-m", "speechbrain_atkl.inference.cli"]
    done = subprocess.run(
        [*command, str(tmp_path / "noisy"), str(tmp_path / "out"),
         "--model", str(work / "pretrained" / STUDENT_FOLDER)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert load_audio(tmp_path / "out" / "item.wav").shape == noisy.shape


def test_init_from_published_student_and_published_teacher(release, tmp_path):
    """train.py --init_from starts from the shipped weights (bit for bit at lr 1e-20); the shipped teacher distils."""
    work = release[0] / "work"
    student, teacher = work / "pretrained" / STUDENT_FOLDER, work / "pretrained" / TEACHER_FOLDER
    options = {
        "data_folder": work / "data", "layout": "dns2020", "results_root": tmp_path, "number_of_epochs": 1,
        "epoch_size": 2, "batch_size": 2, "segment_seconds": 0.5, "valid_count": 2, "num_workers": 0,
        "eval_num_workers": 0, "test_metrics": "[si_snr]", "ckpt_interval_minutes": 0, "lr": 1e-20,
        "init_from": student, "teacher_checkpoint": teacher,
    }
    done = subprocess.run(
        [sys.executable, str(REPO / "train.py"), str(REPO / "hparams" / "distil_dccrn_atkl.yaml"),
         *(f"--{key}={value}" for key, value in options.items()), "--device=cpu", "--noprogressbar"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    save = tmp_path / "distil_dccrn_atkl" / "1986" / "save"
    trained = torch.load(best_checkpoint(save).paramfiles["model"], weights_only=True)
    shipped = torch.load(student / "enhance_model.ckpt", weights_only=True)
    fresh = DCCRN.from_preset("Distil-DCCRN").state_dict()
    name = next(key for key in shipped if key.endswith("weight") and shipped[key].dim() == 4)
    assert torch.equal(trained[name], shipped[name]) and not torch.equal(fresh[name], shipped[name])
    # a resumed run keeps its own weights: even a mismatched init_from is not loaded
    model = DCCRN.from_preset("Distil-DCCRN")
    assert not init_from_pretrained(model, teacher, AtomicCheckpointer(save))
    with pytest.raises(ValueError, match="init_from .* does not fit a DCCRN"):
        init_from_pretrained(model, teacher)


def _tiny_finished_run(output, valid_si_snr):
    """A tested train.py folder of a tiny DCCRN: a checkpoint, its record, scores of two test items (-5, 0 dB)."""
    from speechbrain.utils.checkpoints import Checkpointer

    from speechbrain_atkl.loading import save_model_config

    model = DCCRN(channels=[8] * 6, rnn_units=16)
    save_model_config(model, output / "save" / "model_config.yaml")
    (output / "hyperparams.yaml").write_text("ckpt_key: valid_si_snr\nlr: 0.001\nprecision: bf16\n")
    Checkpointer(output / "save", {"model": model}).save_checkpoint(
        meta={"valid_si_snr": valid_si_snr, "valid_pesq": 1.5}
    )
    (output / "test_metrics.json").write_text(
        json.dumps({"enhanced": {"si_snr_i": {"mean": 3.0}, "pesq_wb": 1.7}, "noisy": {"pesq_wb": 1.5}})
    )
    (output / "test_results").mkdir()
    (output / "test_results" / "per_utterance.csv").write_text(
        "id,system,si_snr_i,pesq_wb\nfileid_0,enhanced,4.0,1.2\nfileid_1,enhanced,2.0,2.2\n"
        "fileid_0,noisy,0.0,1.1\nfileid_1,noisy,0.0,1.9\n"
    )


def test_release_publishes_over_the_campaign_history_and_starts_a_new_one(tmp_path):
    """The release run again once the campaign has published a stage: the shipped student's folder holds
    training_history.json, which publish refuses to delete unless it writes it anew. The release writes its
    own: one entry in the shipped history's schema, which the campaign reads; the teacher gets one too."""
    from recipes.DNS import campaign, campaign_card, release
    from recipes.DNS.release_publication import collect, publish_models
    from recipes.DNS.training_history import HISTORY, json_text
    from speechbrain_atkl.publishing import publish

    for folder in ("clean", "noise"):
        (tmp_path / "corpus" / folder).mkdir(parents=True)
    args = release.build_parser().parse_args(
        ["--data-dir", str(tmp_path / "corpus"), "--work-dir", str(tmp_path / "work"),
         "--publish-dir", str(tmp_path / "pretrained"), "--teacher-steps", "400", "--student-steps", "1600",
         "--valid-every", "400", "--batch-size", "8", "--segment-seconds", "3"]
    )
    work = args.work_dir.resolve()
    entries = release.plan(args)  # teacher, student + AT-KL, student alone
    for entry, valid_si_snr in zip(entries, (8.0, 9.0, 10.0)):
        _tiny_finished_run(entry["run"].output(work / "runs"), valid_si_snr)
    split = {
        "train_clean": ["a.wav", "b.wav", "c.wav"], "train_speakers": ["a", "b"], "test_speakers": ["t"],
        "train_noise": ["n.wav"], "test_noise": ["m.wav"],
        "test_items": [{"fileid": 0, "snr_db": -5}, {"fileid": 1, "snr_db": 0}],
    }
    shipped = args.publish_dir / STUDENT_FOLDER
    campaign_history = [
        {"stage": "release", "audio_hours": 10.667}, {"stage": "student-alone-stage1", "audio_hours": 8.0}
    ]
    publish(entries[1]["run"].output(work / "runs"), shipped, extra_files={HISTORY: json_text(campaign_history)})

    published, student = publish_models(collect(entries, work / "runs", split, {}), split, work, args)
    assert student["name"] == "distil_dccrn" and sorted(p.name for p in args.publish_dir.iterdir()) == sorted(
        [TEACHER_FOLDER, STUDENT_FOLDER]  # no staging folder left
    )
    history = campaign.read_json(shipped / campaign.HISTORY, [])
    assert [entry["stage"] for entry in history] == ["release"]
    [entry] = history
    shipped_schema = json.loads((REPO / "pretrained" / STUDENT_FOLDER / HISTORY).read_text())[0]
    assert set(shipped_schema) - {"note"} <= set(entry)
    assert entry["steps"] == 1600 and entry["audio_hours"] == round(1600 * 8 * 3 / 3600, 3) == 10.667
    assert entry["batch"] == "8 x 3 s" and entry["method"] == "Distil-DCCRN alone"
    assert entry["recipe"] == "lr: 0.001, precision: bf16" and entry["training_speech"] == "3 files of 2 speakers"
    assert entry["valid"] == {"si_snr": 10.0, "pesq": 1.5} and entry["test"] == {"si_snr_i": 3.0, "pesq_wb": 1.7}
    assert entry["by_snr"] == {"si_snr_i": {"-5": 4.0, "0": 2.0}, "pesq_wb": {"-5": 1.2, "0": 2.2}}
    assert campaign.audio_hours_seen(history) == 10.667  # what the campaign's next stage starts from
    assert "| release |" in campaign_card.learning_curve(history)
    [teacher_entry] = json.loads((args.publish_dir / TEACHER_FOLDER / HISTORY).read_text())
    assert teacher_entry["method"] == "Uformer-light (teacher)" and teacher_entry["audio_hours"] == 2.667

    files = {p: p.stat().st_mtime_ns for folder in published for p in folder.iterdir()}
    publish_models(collect(entries, work / "runs", split, {}), split, work, args)
    assert {p: p.stat().st_mtime_ns for p in files} == files  # published.json: nothing to publish again
