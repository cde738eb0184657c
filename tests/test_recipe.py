"""Tests of the recipe's data and training choices: speakers, FLAC speech, precision, schedules."""

import functools
import json
import logging
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch

from recipes.DNS import campaign, campaign_card, study_data
from speechbrain_atkl.data import prepare_dns
from speechbrain_atkl.data.speakers import speaker_of
from speechbrain_atkl.training.precision import choose_precision, resolve_precision
from speechbrain_atkl.training.schedules import WarmupCosineLR

REPO = Path(__file__).resolve().parents[1]
SHARED_CORPUS = REPO.parent / "shared" / "data" / "corpus"
AVX2_ONLY = {"fpu", "sse4_2", "avx", "avx2", "fma"}
AVX512_BF16 = AVX2_ONLY | {"avx512f", "avx512bw", "avx512_bf16"}
AMX = AVX2_ONLY | {"amx_tile", "amx_bf16"}


def tone(path, seconds, seed, sample_rate=16000):
    """Writes a short random signal (WAV or FLAC by the suffix)."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), 0.1 * rng.standard_normal(int(seconds * sample_rate)), sample_rate)
    return path


# ---------------------------------------------------------------- precision
@pytest.mark.parametrize(
    "flags, device, expected",
    [(AVX2_ONLY, "cpu", "fp32"), (AVX512_BF16, "cpu", "bf16"), (AMX, "cpu", "bf16"),
     (set(), "cpu", "fp32"), (AVX2_ONLY, "cuda:0", "bf16")],
)
def test_auto_precision_uses_bf16_only_where_native(flags, device, expected):
    assert resolve_precision("auto", device, flags=flags) == expected
    assert resolve_precision("fp32", device, flags=flags) == "fp32"


def test_choose_precision_keeps_the_command_line_and_logs_auto(caplog, monkeypatch):
    from speechbrain.utils.run_opts import RunOptions

    from speechbrain_atkl.training import precision

    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(AVX2_ONLY))
    hparams = {"precision": "auto"}
    with caplog.at_level(logging.INFO):
        assert choose_precision(hparams, RunOptions(device="cpu")) == "fp32"
    assert hparams["precision"] == "fp32" and "precision: auto -> fp32" in caplog.text
    hparams = {"precision": "auto"}
    forced = RunOptions.from_dictionary({"precision": "bf16", "device": "cpu"})
    assert choose_precision(hparams, forced) == "bf16"
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("half", "cpu")


def test_student_recipes_default_to_auto_precision():
    for name in ("distil_dccrn.yaml", "distil_dccrn_atkl.yaml"):
        lines = (REPO / "hparams" / name).read_text().splitlines()
        assert [line.split()[1] for line in lines if line.startswith("precision:")] == ["auto"]


# ---------------------------------------------------------------- schedule
def test_warmup_cosine_resumes_exactly_and_stretches_with_more_steps():
    def optimizer():
        return torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=1e-3)

    first = optimizer()
    scheduler = WarmupCosineLR(first, total_steps=20, warmup_steps=4, final_ratio=0.1)
    rates = []
    for _ in range(20):
        first.step()
        scheduler.step()
        rates.append(first.param_groups[0]["lr"])
    assert rates[2] == pytest.approx(1e-3) and rates[-1] == pytest.approx(1e-4)
    assert all(a >= b for a, b in zip(rates[3:], rates[4:]))  # decays monotonically after the warm-up

    # Resumed from its state after 10 steps, it continues with the same rates.
    replay = optimizer()
    partial = WarmupCosineLR(replay, total_steps=20, warmup_steps=4, final_ratio=0.1)
    for _ in range(10):
        replay.step()
        partial.step()
    resumed_opt = optimizer()
    resumed = WarmupCosineLR(resumed_opt, total_steps=20, warmup_steps=4, final_ratio=0.1)
    resumed.load_state_dict(partial.state_dict())
    resumed_rates = []
    for _ in range(10):
        resumed_opt.step()
        resumed.step()
        resumed_rates.append(resumed_opt.param_groups[0]["lr"])
    assert resumed_rates == pytest.approx(rates[10:])

    # The planned length comes from the YAML, not the checkpoint: more steps stretch the cosine.
    longer = WarmupCosineLR(optimizer(), total_steps=40, warmup_steps=4, final_ratio=0.1)
    longer.load_state_dict(partial.state_dict())
    assert longer.total_steps == 40 and longer.factor(19) > 0.5


@pytest.mark.parametrize("total, warmup, final", [(0, 0, 0.1), (10, 10, 0.1), (10, 2, 1.5)])
def test_warmup_cosine_refuses_bad_settings(total, warmup, final):
    with pytest.raises(ValueError, match="WarmupCosineLR"):
        WarmupCosineLR(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0), total, warmup, final)


def test_brain_steps_a_per_step_schedule_after_every_optimiser_step(tmp_path):
    from types import SimpleNamespace

    from speechbrain_atkl.training.brains import EnhancementBrain

    brain = EnhancementBrain.__new__(EnhancementBrain)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    brain.optimizer = optimizer
    brain.hparams = SimpleNamespace(**EnhancementBrain.DEFAULT_HPARAMS)
    brain.hparams.lr_schedule = "cosine"
    brain.hparams.lr_schedulers = {
        "cosine": functools.partial(WarmupCosineLR, total_steps=10, warmup_steps=0, final_ratio=0.0),
        "plateau": None,
    }
    brain.scheduler = brain._build_scheduler()
    for _ in range(5):
        brain.on_fit_batch_end(None, None, None, should_step=True)
    brain.on_fit_batch_end(None, None, None, should_step=False)  # gradient accumulation: no step
    assert brain.scheduler.last_epoch == 5
    assert brain._schedule(1, 0.0) == pytest.approx(brain.scheduler.get_last_lr()[0])  # not stepped per epoch
    assert brain.scheduler.last_epoch == 5
    brain.hparams.lr_schedule = "linear"
    with pytest.raises(ValueError, match="lr_schedule 'linear'"):
        brain._build_scheduler()


# ---------------------------------------------------------------- speakers and FLAC speech
def test_validation_holds_out_whole_speakers_and_flac_is_prepared_like_wav(tmp_path, caplog):
    corpus = tmp_path / "corpus"
    for speaker in range(10):
        for utterance in range(3):
            name = f"so762_SPEAKER{speaker:04d}__{utterance:09d}.flac"
            tone(corpus / "clean" / name, 1.2, seed=speaker * 10 + utterance)
    for index in range(4):
        tone(corpus / "noise" / f"noise_{index}.wav", 1.5, seed=100 + index)
    options = dict(data_folder=corpus, valid_count=4, valid_seconds=1.0, valid_fraction=0.2, test_count=2,
                   test_seconds=1.0, test_fraction=0.2)
    record = prepare_dns(save_folder=tmp_path / "by_speaker", valid_split="speakers", **options)
    manifests = {k: json.loads(Path(v).read_text()) for k, v in record["manifests"].items()}
    train_speakers = {speaker_of(entry["wav"]) for entry in manifests["train_clean"].values()}
    valid_speakers = {speaker_of(entry["clean_source"]) for entry in manifests["valid"].values()}
    assert len(manifests["train_clean"]) % 3 == 0  # whole speakers only
    assert valid_speakers and not valid_speakers & train_speakers
    assert all(entry["wav"].endswith(".flac") for entry in manifests["train_clean"].values())

    # The FLAC corpus is cached like a WAV one, and a changed FLAC file is noticed.
    with caplog.at_level(logging.INFO):
        prepare_dns(save_folder=tmp_path / "by_speaker", valid_split="speakers", **options)
    assert "already prepared" in caplog.text
    caplog.clear()
    tone(corpus / "clean" / "so762_SPEAKER0000__000000000.flac", 1.7, seed=99)
    with caplog.at_level(logging.INFO):
        prepare_dns(save_folder=tmp_path / "by_speaker", valid_split="speakers", **options)
    assert "the corpus changed" in caplog.text

    by_file = prepare_dns(save_folder=tmp_path / "by_file", valid_split="files", **options)
    assert by_file["options"]["valid_split"] == "files"
    with pytest.raises(ValueError, match="valid_split"):
        prepare_dns(save_folder=tmp_path / "bad", valid_split="utterances", **options)


def _small_corpus(root):
    for speaker in ("1001", "1002", "1003", "1004", "1005", "1006", "1007"):
        for utterance in range(2):
            tone(root / "clean" / f"ls_{speaker}-1-{utterance}.wav", 1.5, seed=int(speaker) + utterance)
    for index in range(5):
        tone(root / "noise" / f"noise_{index}.wav", 2.0, seed=200 + index)
    return root


def test_extra_training_speech_leaves_the_test_set_unchanged(tmp_path):
    corpus = _small_corpus(tmp_path / "corpus")
    extra = tmp_path / "extra"
    for speaker in range(3):
        tone(extra / f"so762_SPEAKER{speaker:04d}__000000001.flac", 1.0, seed=300 + speaker)
    (extra / "README.md").write_text("not audio")
    plain = study_data.build_study_data(corpus, tmp_path / "plain", test_count=5, test_seconds=1.0)
    more = study_data.build_study_data(corpus, tmp_path / "more", test_count=5, test_seconds=1.0, extra_clean=[extra])
    assert more["test_clean"] == plain["test_clean"] and more["test_speakers"] == plain["test_speakers"]
    strip = [{k: v for k, v in item.items() if k not in ("clean", "noisy")} for item in plain["test_items"]]
    assert strip == [{k: v for k, v in item.items() if k not in ("clean", "noisy")} for item in more["test_items"]]
    for a, b in zip(plain["test_items"], more["test_items"]):
        assert sf.read(a["noisy"])[0].tolist() == sf.read(b["noisy"])[0].tolist()
    added = set(more["train_clean"]) - set(plain["train_clean"])
    assert {Path(p).name for p in added} == {p.name for p in extra.glob("*.flac")}
    assert {Path(p).name for p in (tmp_path / "more" / "datasets" / "clean").iterdir()} >= {
        p.name for p in extra.glob("*.flac")
    }
    assert "speechocean762-SPEAKER0001" in more["train_speakers"]

    # A test speaker among the extra files would leak into training: refused, naming it.
    leak = tmp_path / "leak"
    test_speaker = plain["test_speakers"][0].split("-")[1]
    tone(leak / f"other_{test_speaker}-9-9.wav", 1.0, seed=1)
    with pytest.raises(study_data.StudyError, match=plain["test_speakers"][0]):
        study_data.build_study_data(corpus, tmp_path / "leaky", test_count=5, test_seconds=1.0, extra_clean=[leak])


@pytest.mark.skipif(not (SHARED_CORPUS / "clean_extra").is_dir(), reason=f"no clean_extra in {SHARED_CORPUS}")
def test_shared_extra_speech_has_no_test_speaker_and_keeps_the_release_test_split():
    split = study_data.split_corpus(SHARED_CORPUS.parent)
    extra = sorted((SHARED_CORPUS / "clean_extra").glob("*.flac"))
    assert len(extra) == 1532
    speakers = {speaker_of(path.name) for path in extra}
    assert len(speakers) == 205 and not speakers & set(split["test_speakers"])
    assert len(split["test_speakers"]) == 18 and len(split["test_noise"]) == 6


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux only")
def test_a_training_child_dies_with_its_killed_driver(tmp_path):
    import os
    import signal
    import subprocess
    import time

    driver = (
        "import sys, time\n"
        "from speechbrain_atkl.training.children import run_logged\n"
        f"run_logged([sys.executable, '-c', 'import os, time; print(os.getpid(), flush=True); time.sleep(60)'], "
        f"{str(tmp_path / 'child.log')!r})\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", driver])
    log = tmp_path / "child.log"
    deadline = time.monotonic() + 120  # the driver imports the package first
    while not (log.is_file() and log.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.1)
    child = int(log.read_text().split()[0])
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    for _ in range(100):
        try:
            state = Path(f"/proc/{child}/stat").read_text().split()[2]
        except FileNotFoundError:
            state = "gone"
        if state in ("gone", "Z"):
            break
        time.sleep(0.05)
    assert state in ("gone", "Z")


def test_campaign_card_credits_the_added_speech_and_shows_the_history(tmp_path):
    entry = {
        "stage": "student-alone-stage1", "date": "2026-12-07", "steps": 1200, "batch": "8 x 3 s",
        "audio_hours": 8.0, "recipe": "lr: 0.001", "training_speech": "1516 files of 293 speakers",
        "valid": {"si_snr": 11.5, "pesq": 1.6}, "valid_previous": {"si_snr": 11.37, "pesq": 1.53},
        "test": {"si_snr_i": 3.1, "pesq_wb": 1.9}, "by_snr": {"si_snr_i": {"-5": 5.0, "10": 2.5}},
    }
    history = [{"stage": "release", "steps": 1600, "audio_hours": 10.667, "test": {"si_snr_i": 2.63}}, entry]
    (tmp_path / "SOURCES.md").write_text("## Files: clean/\n\n| file | licence |\n|---|---|\n| a.wav | CC BY 4.0 |\n")
    card = campaign_card.card_section(entry, history, None, tmp_path, [tmp_path / "clean_extra"])
    assert "18.67 audio-hours seen in all" in card and "11.50 dB beat the previous model's 11.37 dB" in card
    assert "speechocean762" in card and "VCTK" in card and "CC BY 4.0 (1 file)" in card
    assert "| release |" in card and "| student-alone-stage1 |" in card and "| 5.00 | 2.50 |" in card
    assert "speechocean762" not in campaign_card.card_section(entry, history, None, tmp_path, [])
    assert campaign.stage_steps(16, 8, 3.0, 300) == 2400 and campaign.audio_hours_seen(history) == 18.667
    assert card.count("Distil-DCCRN alone") == 1
    distilled = campaign_card.card_section({**entry, "method": campaign.RECIPES["atkl_gtcrn"][1]}, history, None,
                                           tmp_path, [])
    assert "Distil-DCCRN alone" not in distilled and "AT-KL from GTCRN" in distilled and "MIT licence" in distilled


def test_campaign_publishes_a_better_stage_with_its_card_and_history_whole_or_not_at_all(tmp_path, monkeypatch):
    """The shipped folder holds training_history.json: publishing a stage over it is accepted, and the card section
    and the history are in the folder when it is put in place; a failure on the way leaves the shipped folder as
    it was (not new weights under the old card and history)."""
    from speechbrain.utils.checkpoints import Checkpointer

    from speechbrain_atkl.loading import save_model_config
    from speechbrain_atkl.models import DCCRN
    from speechbrain_atkl.publishing import publish

    run, shipped = tmp_path / "stage_run", tmp_path / "pretrained" / "distil-dccrn-shared16k"
    model = DCCRN(channels=[8] * 6, rnn_units=16)
    save_model_config(model, run / "save" / "model_config.yaml")
    (run / "hyperparams.yaml").write_text("ckpt_key: valid_si_snr\nlr: 0.001\n")
    Checkpointer(run / "save", {"model": model}).save_checkpoint(meta={"valid_si_snr": 12.0})
    (run / "test_metrics.json").write_text(json.dumps({"enhanced": {"si_snr_i": {"mean": 3.0}}}))
    publish(run, shipped)
    old_history = [{"stage": "release", "audio_hours": 10.0}]
    (shipped / campaign.HISTORY).write_text(campaign.json_text(old_history))
    before = {p.name: p.read_bytes() for p in shipped.iterdir()}

    monkeypatch.setattr(campaign, "corpus_root", lambda data_dir: data_dir)
    args = SimpleNamespace(batch_size=8, segment_seconds=3.0, recipe="alone", data_dir=tmp_path, extra_clean=[])
    split = {"train_clean": ["a.wav"], "train_speakers": ["a"]}
    stage = {"name": "student-alone-stage1", "steps": 10, "audio_hours": 0.5}

    def publish_stage():
        return campaign.publish_stage(stage, run, shipped, args, split, {"si_snr": 12.0}, {"si_snr": 11.0},
                                      old_history)

    def failing_section(*section_args):
        raise RuntimeError("the card section could not be written")

    monkeypatch.setattr(campaign, "card_section", failing_section)
    with pytest.raises(RuntimeError, match="card section"):
        publish_stage()
    assert {p.name: p.read_bytes() for p in shipped.iterdir()} == before

    monkeypatch.setattr(campaign, "card_section", lambda entry, history, *rest: f"\n## Stage {len(history)}\n")
    history = publish_stage()
    assert [entry["stage"] for entry in history] == ["release", "student-alone-stage1"]
    assert json.loads((shipped / campaign.HISTORY).read_text()) == history
    assert (shipped / "README.md").read_text().endswith("\n## Stage 2\n")
    assert sorted(p.name for p in shipped.parent.iterdir()) == ["distil-dccrn-shared16k"]  # no staging left
    # A resumed stage keeps the recipe of its name whatever --recipe says now; a variant that won is named.
    variant_stage = {"name": "student-atkl_gtcrn-stage2", "steps": 10, "audio_hours": 0.5,
                     "variant": {"overrides": ["lr=0.0001"]}}
    history = campaign.publish_stage(variant_stage, run, shipped, args, split, {"si_snr": 12.5}, {"si_snr": 12.0},
                                     history, "variant")
    assert history[-1]["method"] == campaign.RECIPES["atkl_gtcrn"][1] + "; variant: lr=0.0001"
    assert history[-1]["variant"] == ["lr=0.0001"] and history[-1]["stage"] == "student-atkl_gtcrn-stage2"


def test_campaign_distillation_stage_needs_a_teacher_that_beats_the_shipped_student(tmp_path):
    """--recipe atkl_gtcrn trains with the GTCRN YAML and its teacher; without a teacher file or validation: errors."""
    teacher = tmp_path / "gtcrn_dns3.pt"
    with pytest.raises(study_data.StudyError, match="needs --teacher PATH/gtcrn_dns3.pt"):
        campaign.main(["--recipe", "atkl_gtcrn", "--teacher", str(teacher), "--work-dir", str(tmp_path)])
    teacher.write_bytes(b"")
    args = campaign.parse_args(["--stage-hours", "1", "--valid-every", "150", "--valid-count", "10",
                                "--recipe", "atkl_gtcrn", "--teacher", str(teacher), "--override", "lr=5e-4"])
    command = campaign.train_command(args, "student-atkl_gtcrn-stage3", 1236, tmp_path, tmp_path, tmp_path)
    assert command[2].endswith("hparams/distil_dccrn_atkl_gtcrn.yaml")
    assert f"--teacher_checkpoint={teacher}" in command and "--lr=5e-4" in command
    assert campaign.teacher_gate(SimpleNamespace(recipe="alone"), tmp_path, tmp_path, tmp_path / "valid.json") is None
    with pytest.raises(study_data.StudyError, match="valid.json: missing; .* written by train.py's data preparation"):
        campaign.enhancer_scores(None, tmp_path / "prepared" / "valid.json")


def test_a_first_distillation_stage_prepares_the_validation_mixtures_that_its_train_py_reuses(tmp_path, monkeypatch):
    """A fresh work folder with --recipe atkl_gtcrn: the campaign runs train.py's preparation with the stage's
    options before the gate; the stage's train.py then finds the data prepared and trains on that split."""
    import train
    from speechbrain_atkl.data import prepare
    from speechbrain_atkl.training.run_records import data_record

    corpus = _small_corpus(tmp_path / "corpus")
    shipped = tmp_path / "pretrained" / campaign.STUDENT_FOLDER
    shipped.mkdir(parents=True)
    (shipped / campaign.HISTORY).write_text("[]")
    teacher = tmp_path / "gtcrn_dns3.pt"
    teacher.write_bytes(b"")
    work = tmp_path / "work"
    manifest = work / "runs" / campaign.PREPARED / "valid.json"
    gated = []

    def teacher_scores(recipe, checkpoint, work_dir, valid_manifest):
        gated.append(Path(valid_manifest))
        mixtures = campaign.read_json(valid_manifest, {})
        assert recipe == "distil_dccrn_atkl_gtcrn.yaml" and checkpoint == teacher and len(mixtures) == 6
        return {"si_snr": 9.0, "pesq": 2.0}

    monkeypatch.setattr(campaign, "teacher_scores", teacher_scores)
    monkeypatch.setattr(campaign, "build_study_data", functools.partial(study_data.build_study_data, test_count=5))
    argv = ["--data-dir", str(corpus), "--extra-clean", "--work-dir", str(work), "--publish-dir",
            str(shipped.parent), "--recipe", "atkl_gtcrn", "--teacher", str(teacher), "--stage-hours", "0.01",
            "--segment-seconds", "0.5", "--valid-seconds", "1.0", "--valid-count", "6", "--valid-fraction", "0.2",
            "--valid-every", "5", "--valid-noise-count", "1"]

    # The gate fails: no stage starts, but the validation mixtures are there.
    monkeypatch.setattr(campaign, "validation_scores", lambda model, valid_manifest: {"si_snr": 10.0, "pesq": 2.5})
    with pytest.raises(study_data.StudyError, match="does not beat the shipped student"):
        campaign.main(argv)
    assert gated == [manifest] and not (work / campaign.LEDGER).exists()
    preparation = prepare.read_preparation(manifest.parent)
    assert preparation["options"]["valid_count"] == 6 and preparation["options"]["valid_seconds"] == 1.0
    assert preparation["options"]["data_folder"] == str(work / campaign.DATA_FOLDER)
    assert [preparation["options"][k] for k in prepare.LATER_OPTIONS] == ["subfolders", 1, [-5.0, 15.0]]

    # The teacher wins: the stage's train.py (its first steps, in this process) reuses that preparation.
    monkeypatch.setattr(campaign, "validation_scores", lambda model, valid_manifest: {"si_snr": 5.0, "pesq": 1.5})
    monkeypatch.setattr(prepare, "prepare_dynamic", lambda *args: pytest.fail("train.py prepared the data again"))
    monkeypatch.setattr(train.sb, "create_experiment_directory", lambda **kwargs: None)  # global logging set-up
    monkeypatch.setattr(train, "load_teacher", lambda checkpoint, teacher, **kwargs: teacher)
    monkeypatch.setattr(train, "init_from_pretrained", lambda *args: None)

    class Trains(Exception):
        pass

    def make_datasets(hparams, preparation):
        raise Trains(preparation)

    def run_stage(command, log_path, threads):
        monkeypatch.setattr(train, "make_datasets", make_datasets)
        train.main(command[2:])

    monkeypatch.setattr(campaign, "run_stage", run_stage)
    with pytest.raises(Trains) as trains:
        campaign.main(argv)
    assert trains.value.args[0] == preparation and gated == [manifest, manifest]
    stage = campaign.read_json(work / campaign.LEDGER, {})["stages"][0]
    assert stage["teacher_gate"]["teacher"]["si_snr"] == 9.0 and stage["name"] == "student-atkl_gtcrn-stage1"
    run = work / "runs" / stage["name"] / "1986"
    assert campaign.read_json(run / "data_record.json", {}) == data_record(preparation)


def test_the_teacher_gate_compares_with_the_student_trained_alone_from_the_shipped_one(tmp_path, monkeypatch):
    """A distilled student above its teacher on validation fell back when trained alone: the teacher still teaches."""
    monkeypatch.setattr(campaign, "teacher_scores", lambda *args: {"si_snr": 10.55, "pesq": 1.6})
    monkeypatch.setattr(campaign, "validation_scores", lambda *args: {"si_snr": 10.68, "pesq": 1.55})
    args = SimpleNamespace(recipe="atkl_gtcrn", teacher=tmp_path / "gtcrn_dns3.pt")
    valid = tmp_path / "valid.json"
    with pytest.raises(study_data.StudyError, match="does not beat the shipped student on validation"):
        campaign.teacher_gate(args, tmp_path, tmp_path, valid)
    stage = {"name": "student-alone-stage11", "starts_from_hours": 50.67, "valid": {"si_snr": 10.1, "pesq": 1.49},
             "valid_manifest": str(valid)}
    history = [{"audio_hours": 44.67}, {"audio_hours": 6.0}]
    alone = campaign.student_alone({"stages": [stage]}, history, valid)
    gate = campaign.teacher_gate(args, tmp_path, tmp_path, valid, alone)
    assert gate["student_alone"] == {"stage": "student-alone-stage11", "si_snr": 10.1, "pesq": 1.49}
    assert campaign.student_alone({"stages": [stage]}, history, tmp_path / "other" / "valid.json") is None
    stage["valid"]["si_snr"] = 10.6  # alone, it would have learned more than the teacher knows
    with pytest.raises(study_data.StudyError, match=r"not beat the student trained alone \(student-alone-stage11\)"):
        campaign.teacher_gate(args, tmp_path, tmp_path, valid, stage)
