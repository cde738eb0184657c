"""End-to-end tests of the recipe: each YAML trains, resumes after SIGKILL, and runs under DDP."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from speechbrain_atkl.data.demo import create_demo_corpus
from speechbrain_atkl.loading import best_checkpoint, load_trained_model
from speechbrain_atkl.training.checkpoints import PENDING_META, AtomicCheckpointer, load_teacher

from helpers import REPO, recipe_command, run_output, train_recipe


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory, corpus):
    results = tmp_path_factory.mktemp("results")
    train_recipe("uformer.yaml", results, corpus)
    return results


def _check_finished(output, test_utterances=2):
    metrics = json.loads((output / "test_metrics.json").read_text())
    assert metrics["num_utterances"] == test_utterances
    assert {"pesq_wb", "si_snr"} <= set(metrics["enhanced"]) and "si_snr" in metrics["noisy"]
    assert (output / "test_results" / "per_utterance.csv").is_file()
    log = (output / "train_log.txt").read_text()
    assert "epoch: 1" in log and "valid pesq" in log
    model, checkpoint = load_trained_model(output)
    assert "valid_pesq" in checkpoint.meta
    return model


@pytest.mark.parametrize("yaml_name", ["dccrn.yaml", "distil_dccrn.yaml"])
def test_supervised_yaml_trains(yaml_name, tmp_path, corpus):
    train_recipe(yaml_name, tmp_path, corpus, save_enhanced=True)
    output = run_output(tmp_path, yaml_name[:-5])
    model = _check_finished(output)
    assert type(model).__name__ == "DCCRN"
    enhanced = sorted((output / "enhanced").glob("*.wav"))
    assert len(enhanced) == 2 and all(path.stat().st_size > 1000 for path in enhanced)


def test_uformer_yaml_trains(teacher_run):
    model = _check_finished(run_output(teacher_run, "uformer"))
    assert type(model).__name__ == "Uformer"


def test_distillation_yaml_trains_from_teacher_folder(teacher_run, corpus):
    # The student recipes offer the same schedules: cosine decays to final_lr_ratio (5 %) over the planned 2 steps.
    train_recipe("distil_dccrn_atkl.yaml", teacher_run, corpus, lr_schedule="cosine")
    output = run_output(teacher_run, "distil_dccrn_atkl")
    student = _check_finished(output)
    assert sum(p.numel() for p in student.parameters()) < 1.2e6
    log = (output / "train_log.txt").read_text()
    assert "atkl_total" in log and "balanced_si_snr" in log
    assert "lr: 5.00e-05" in log


def test_distillation_without_teacher_says_how_to_get_one(tmp_path, corpus):
    done = train_recipe("distil_dccrn_atkl.yaml", tmp_path, corpus, check=False,
                        teacher_checkpoint=tmp_path / "nowhere")
    assert done.returncode != 0
    assert "python train.py hparams/uformer.yaml" in done.stdout + done.stderr


def test_killed_run_resumes_and_finishes(tmp_path, corpus):
    """SIGKILL after the first intra-epoch checkpoint, then the same command finishes."""
    command = recipe_command(
        "distil_dccrn.yaml", tmp_path, corpus, epoch_size=40, number_of_epochs=2, ckpt_interval_steps=2
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    save = run_output(tmp_path, "distil_dccrn") / "save"
    log_file = open(tmp_path / "killed_run.log", "w")
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    try:
        while time.time() < deadline and process.poll() is None:
            infos = list(save.glob("CKPT+*/CKPT.yaml"))
            if any("brain_intra_epoch_ckpt" in info.read_text() for info in infos):
                break
            time.sleep(0.2)
        assert process.poll() is None, (tmp_path / "killed_run.log").read_text()[-3000:]
        process.send_signal(signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
    assert not (run_output(tmp_path, "distil_dccrn") / "test_metrics.json").exists()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Loading a checkpoint from" in done.stdout + done.stderr
    log = (run_output(tmp_path, "distil_dccrn") / "train_log.txt").read_text()
    assert "epoch: 2" in log
    assert (run_output(tmp_path, "distil_dccrn") / "test_metrics.json").is_file()


def test_two_process_ddp_on_cpu(tmp_path, corpus):
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29531"]
    train_recipe("distil_dccrn.yaml", tmp_path, corpus, launcher=launcher, distributed_backend="gloo",
                 number_of_epochs=2, average_checkpoints=2)
    _check_finished(run_output(tmp_path, "distil_dccrn"))
    infos = (run_output(tmp_path, "distil_dccrn") / "save").glob("CKPT+*/CKPT.yaml")
    assert sum("averaged_from" in info.read_text() for info in infos) == 1  # saved once, by the main process


def test_interrupted_checkpoint_is_invisible_and_cleaned(tmp_path):
    layer = torch.nn.Linear(2, 2)
    checkpointer = AtomicCheckpointer(tmp_path, {"layer": layer})
    checkpointer.save_checkpoint(meta={"valid_pesq": 1.5})

    def failing_save(obj, path):
        raise KeyboardInterrupt  # the process dies while writing parameters

    checkpointer.add_recoverable("broken", layer, custom_save_hook=failing_save)
    with pytest.raises(KeyboardInterrupt):
        checkpointer.save_checkpoint(meta={"valid_pesq": 3.0})
    assert len(list(tmp_path.glob(f"CKPT+*/{PENDING_META}"))) == 1
    assert [c.meta["valid_pesq"] for c in checkpointer.list_checkpoints()] == [1.5]
    assert best_checkpoint(tmp_path).meta["valid_pesq"] == 1.5
    del checkpointer.recoverables["broken"], checkpointer.custom_save_hooks["broken"]
    checkpointer.save_checkpoint(meta={"valid_pesq": 2.0})
    assert not list(tmp_path.glob(f"CKPT+*/{PENDING_META}"))
    assert best_checkpoint(tmp_path).meta["valid_pesq"] == 2.0


def test_teacher_checkpoint_file_must_match(tmp_path):
    from speechbrain_atkl.models import DCCRN

    teacher = DCCRN(channels=[8] * 6, rnn_units=16)
    path = tmp_path / "model.ckpt"
    torch.save(teacher.state_dict(), path)
    loaded = load_teacher(path, DCCRN(channels=[8] * 6, rnn_units=16))
    assert not any(p.requires_grad for p in loaded.parameters()) and not loaded.training
    with pytest.raises(ValueError, match="does not fit"):
        load_teacher(path, DCCRN(channels=[16] * 6, rnn_units=16))
    with pytest.raises(FileNotFoundError, match="Train a teacher first"):
        load_teacher(tmp_path / "missing", None)


def test_webdataset_shards_train(tmp_path, corpus):
    """SpeechBrain DNS-synthesiser shards (noisy/clean tensors) train directly."""
    import numpy as np
    import webdataset as wds

    shards = tmp_path / "shards"
    shards.mkdir()
    for shard in range(2):
        with wds.TarWriter(str(shards / f"shard-{shard:06d}.tar")) as sink:
            for n in range(shard * 4, shard * 4 + 4):
                clean = np.random.default_rng(n).standard_normal(16000) * 0.1
                noise = np.random.default_rng(100 + n).standard_normal(16000) * 0.05
                sink.write(
                    {
                        "__key__": f"clean_fileid_{n}.wav",
                        "clean_audio.pth": torch.tensor(clean),
                        "noise_audio.pth": torch.tensor(noise),
                        "noisy_audio.pth": torch.tensor(clean + noise),
                    }
                )
    train_recipe("distil_dccrn.yaml", tmp_path, corpus, train_shards=shards)
    _check_finished(run_output(tmp_path, "distil_dccrn"))


def test_pairs_folder_with_a_torch_scheduler(tmp_path, corpus):
    """A noisy/clean pairs folder trains, and a torch scheduler from the command line steps each epoch."""
    from speechbrain_atkl.data.audio import load_audio
    from speechbrain_atkl.data.audio_writer import save_audio
    from speechbrain_atkl.data.mixing import mix_at_snr

    pairs = tmp_path / "pairs"
    noise = load_audio(next((corpus / "datasets" / "noise").glob("*.wav")))
    for n, path in enumerate(sorted((corpus / "datasets" / "clean").glob("*.wav"))):
        clean = load_audio(path)
        noisy = mix_at_snr(clean, noise[: clean.shape[-1]], snr_db=5.0)
        save_audio(pairs / "clean" / f"utt_{n}.wav", clean, 16000)
        save_audio(pairs / "noisy" / f"utt_{n}.wav", noisy, 16000)
    text = (REPO / "hparams" / "distil_dccrn.yaml").read_text()
    start = text.index("lr_schedule: ")  # the named schedules give way to one torch scheduler
    end = text.index("epoch_counter:")
    yaml_file = tmp_path / "step_lr.yaml"
    yaml_file.write_text(
        text[:start] + "lr_scheduler: !name:torch.optim.lr_scheduler.StepLR\n  step_size: 1\n  gamma: 0.5\n\n"
        + text[end:]
    )
    train_recipe(yaml_file, tmp_path, corpus, data_folder=pairs, prepare_folder=tmp_path / "prepared",
                 number_of_epochs=2)
    output = run_output(tmp_path, "distil_dccrn")
    _check_finished(output, test_utterances=1)  # one of the 6 pairs is held out for testing
    log = (output / "train_log.txt").read_text()
    assert "epoch: 1, lr: 5.00e-04" in log and "epoch: 2, lr: 2.50e-04" in log


def test_published_training_run_loads_with_enhance_batch(teacher_run, tmp_path):
    """Train (the teacher run), publish to a folder, load with EnhanceBatch: same output."""
    from speechbrain_atkl.inference import EnhanceBatch
    from speechbrain_atkl.publishing import publish

    output = run_output(teacher_run, "uformer")
    publish(output, tmp_path / "published")
    enhancer = EnhanceBatch.from_hparams(source=str(tmp_path / "published"), savedir=str(tmp_path / "fetched"))
    trained, _ = load_trained_model(output)
    wav = torch.randn(2, 8000) * 0.1
    with torch.no_grad():
        assert torch.allclose(enhancer.enhance_batch(wav), trained(wav), atol=1e-5)


def test_tensorboard_logging(tmp_path, monkeypatch):
    import types

    import speechbrain as sb
    from speechbrain.utils.train_logger import FileTrainLogger

    from speechbrain_atkl.losses import SISNRLoss
    from speechbrain_atkl.models import DCCRN
    from speechbrain_atkl.training import EnhancementBrain

    def make_brain():
        hparams = {
            "loss": SISNRLoss(), "use_tensorboard": True, "tensorboard_folder": str(tmp_path / "tb"),
            "train_logger": FileTrainLogger(tmp_path / "log.txt"),
        }
        return EnhancementBrain(
            {"model": DCCRN(channels=[8] * 6, rnn_units=16)},
            opt_class=lambda params: torch.optim.Adam(params), hparams=hparams, run_opts={"device": "cpu"},
        )

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as when tensorboard is absent
    with pytest.raises(ImportError, match="pip install tensorboard"):
        make_brain().on_fit_start()

    scalars = []

    class RecordingWriter:
        def __init__(self, save_dir):
            self.save_dir = save_dir

        def add_scalar(self, tag, value, step):
            scalars.append((tag, value, step))

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=RecordingWriter))
    brain = make_brain()
    brain.on_fit_start()
    brain._log_stats(stats_meta={"epoch": 1}, valid_stats={"loss": -3.0, "pesq": 1.5})
    assert ("loss/valid", -3.0, 1) in scalars and ("pesq/valid", 1.5, 1) in scalars
    assert "valid pesq: 1.50" in (tmp_path / "log.txt").read_text()
    assert sb.Stage.TRAIN  # the Brain imported above is the recipe's


def test_mixed_precision_bf16(tmp_path, corpus):
    done = train_recipe("distil_dccrn.yaml", tmp_path, corpus, precision="bf16")
    assert "Using training precision: `--precision=bf16`" in done.stdout + done.stderr
    _check_finished(run_output(tmp_path, "distil_dccrn"))


def _tiny_brain(tmp_path, **hparams):
    from speechbrain.utils.train_logger import FileTrainLogger

    from speechbrain_atkl.losses import SISNRLoss
    from speechbrain_atkl.models import DCCRN
    from speechbrain_atkl.training import EnhancementBrain

    hparams = {
        "loss": SISNRLoss(), "train_logger": FileTrainLogger(tmp_path / "log.txt"),
        "output_folder": str(tmp_path), "test_results_folder": str(tmp_path / "test_results"),
        "test_metrics": ["si_snr"], "eval_num_workers": 0, **hparams,
    }
    return EnhancementBrain(
        {"model": DCCRN(channels=[8] * 6, rnn_units=16)}, hparams=hparams, run_opts={"device": "cpu"}
    )


def test_test_metrics_count_failed_outputs_against_the_model(tmp_path):
    """A NaN or silent output is not dropped from test_metrics.json: worst score and a failed count."""
    from speechbrain_atkl.evaluation.metrics import WORST_SCORES, si_snr

    brain = _tiny_brain(tmp_path)
    rng = torch.Generator().manual_seed(0)
    clean = [torch.randn(16000, generator=rng).numpy() for _ in range(3)]
    enhanced = [clean[0] + 0.1, clean[1] * float("nan"), clean[2] * 0]
    brain.test_items = [
        {"id": f"u{k}", "enhanced": e, "clean": c, "noisy": c + 1.0} for k, (e, c) in enumerate(zip(enhanced, clean))
    ]
    means = brain._score_test_set()
    record = json.loads((tmp_path / "test_metrics.json").read_text())
    expected = (si_snr(enhanced[0], clean[0]) + 2 * WORST_SCORES["si_snr"]) / 3
    assert record["enhanced"]["si_snr"] == pytest.approx(expected) and means["si_snr"] == pytest.approx(expected)
    assert record["num_failed"] == {"noisy": 0, "enhanced": 2} and record["num_skipped"] == 0


def test_validation_pesq_counts_a_silent_output_against_the_model(tmp_path):
    """A silent validation output counts in the mean PESQ, with the worst score (1.0)."""
    from types import SimpleNamespace

    import speechbrain as sb

    brain = _tiny_brain(tmp_path, valid_pesq=True)
    brain.on_stage_start(sb.Stage.VALID)
    t = torch.arange(16000) / 16000
    clean = (torch.sin(2 * torch.pi * 440 * t) * torch.sin(2 * torch.pi * 3 * t)).repeat(2, 1)
    batch = SimpleNamespace(noisy_sig=(clean, torch.ones(2)), clean_sig=(clean, torch.ones(2)), id=["a", "b"])
    brain._collect(torch.stack([clean[0], torch.zeros(16000)]), batch, sb.Stage.VALID)
    assert len(brain.valid_scores["pesq"]) == 2 and brain.valid_scores["pesq"][1] == 1.0


def test_bad_hyperparameters_fail_before_any_data_work(tmp_path):
    done = train_recipe("distil_dccrn.yaml", tmp_path, tmp_path / "no_corpus_yet", check=False, lr="abc",
                        valid_pesq=False)
    assert done.returncode != 0
    assert "lr: expected a positive number, got 'abc'" in done.stderr
    assert "ckpt_key: valid_pesq selects checkpoints by validation PESQ" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "prepared").exists()


def test_a_prepare_folder_another_run_reads_is_refused_in_one_line(tmp_path, corpus):
    """train.py turns PreparedDataInUse into a one-line error, as it does a configuration error."""
    import subprocess
    import sys

    prepared = tmp_path / "shared_prepared"
    holder_argv = recipe_command("distil_dccrn.yaml", tmp_path / "holder", corpus, prepare_folder=prepared,
                                 valid_count=3)[2:]
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from train import prepare_run_data; prepare_run_data(sys.argv[1:]); "
         "print('ready', flush=True); sys.stdin.readline()", *holder_argv],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        valid = (prepared / "valid.json").read_bytes()
        done = train_recipe("distil_dccrn.yaml", tmp_path, corpus, check=False, prepare_folder=prepared)
    finally:
        holder.communicate("\n", timeout=60)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "train.py: error:" in done.stderr and "another running process" in done.stderr
    assert (prepared / "valid.json").read_bytes() == valid


def test_no_checkpoint_no_test(tmp_path, corpus):
    """--number_of_epochs 0 on a new run fails: there is no trained model, and a random one is not tested."""
    from speechbrain_atkl.training.run_checks import ConfigurationError, require_checkpoint

    done = train_recipe("distil_dccrn.yaml", tmp_path, corpus, check=False, number_of_epochs=0)
    assert done.returncode != 0 and "no trained model to test" in done.stderr
    assert not (run_output(tmp_path, "distil_dccrn") / "test_metrics.json").exists()
    with pytest.raises(ConfigurationError, match="checkpoints were deleted"):  # the check made after fit()
        require_checkpoint(AtomicCheckpointer(tmp_path / "empty"), "valid_pesq")


def test_changed_configuration_is_refused_and_the_record_kept(teacher_run, corpus):
    output = run_output(teacher_run, "uformer")
    record = (output / "hyperparams.yaml").read_bytes()
    metrics = (output / "test_metrics.json").read_bytes()
    done = train_recipe("uformer.yaml", teacher_run, corpus, check=False, lr=0.0005)
    assert done.returncode != 0
    assert "lr: 0.001 -> 0.0005" in done.stderr and "--allow_config_change" in done.stderr
    assert (output / "hyperparams.yaml").read_bytes() == record
    assert (output / "test_metrics.json").read_bytes() == metrics


def test_configuration_check_allows_more_epochs_only(tmp_path, caplog):
    from hyperpyyaml import resolve_references

    from speechbrain_atkl.training.run_checks import ConfigurationError
    from speechbrain_atkl.training.run_records import check_configuration

    yaml_file = REPO / "hparams" / "distil_dccrn.yaml"
    saved = resolve_references(yaml_file.read_text(), {"number_of_epochs": 3, "lr": 0.002}).getvalue()
    (tmp_path / "hyperparams.yaml").write_text("# Generated from:\n# yamllint disable\n" + saved)
    check_configuration(tmp_path, yaml_file, "number_of_epochs: 3\nlr: 0.002\n")  # same run
    with caplog.at_level("INFO"):
        check_configuration(tmp_path, yaml_file, {"number_of_epochs": 5, "lr": 0.002})
    assert "number_of_epochs 3 -> 5: training continues" in caplog.text
    with pytest.raises(ConfigurationError, match="number_of_epochs: 3 -> 2"):
        check_configuration(tmp_path, yaml_file, {"number_of_epochs": 2, "lr": 0.002})
    with pytest.raises(ConfigurationError, match="batch_size: 16 -> 4"):
        check_configuration(tmp_path, yaml_file, {"number_of_epochs": 3, "lr": 0.002, "batch_size": 4})
    check_configuration(tmp_path, yaml_file, {"number_of_epochs": 3, "lr": 0.001}, allow_change=True)
    assert len(list(tmp_path.glob("hyperparams.*.yaml"))) == 1


LOCK_HOLDER = """
import sys, time
from speechbrain_atkl.training.run_checks import run_lock
with run_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(300)
"""


def test_a_run_folder_is_locked_while_trained_and_freed_when_its_trainer_is_killed(tmp_path, corpus):
    from speechbrain_atkl.training.run_checks import run_lock

    output = run_output(tmp_path, "distil_dccrn")
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(output)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        done = train_recipe("distil_dccrn.yaml", tmp_path, corpus, check=False)
        assert done.returncode != 0
        assert f"{output} is being trained by process {holder.pid}" in done.stderr
        assert "Traceback" not in done.stderr and not (tmp_path / "prepared").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with run_lock(output):  # the lock died with its holder
        assert (output / ".train.lock").read_text() == str(os.getpid())


def test_a_failed_start_binds_nothing_and_a_changed_split_is_refused(tmp_path):
    """A bad --init_from recorded its configuration, refusing the corrected command; a corpus changed under a
    finished run was split again and its test set scored again, overwriting test_metrics.json."""
    import shutil

    corpus = tmp_path / "corpus"
    create_demo_corpus(
        corpus, seed=0, n_clean=6, clean_seconds=(1.0, 1.5), n_noise=3, noise_seconds=2.0,
        n_rir=2, n_test=2, test_seconds=1.0,
    )
    results, output = tmp_path / "results", run_output(tmp_path / "results", "distil_dccrn")
    done = train_recipe("distil_dccrn.yaml", results, corpus, check=False, init_from=tmp_path / "no_such_model")
    assert done.returncode != 0 and (output / "hyperparams.yaml").is_file()
    train_recipe("distil_dccrn.yaml", results, corpus)  # the corrected command
    record = json.loads((output / "data_record.json").read_text())
    assert record["corpus"]["files"] > 0 and record["split"]["test"]["items"] == 2
    metrics = (output / "test_metrics.json").read_bytes()

    clean = sorted((corpus / "datasets" / "clean").glob("*.wav"))
    shutil.copy(clean[0], clean[0].with_name("demo_reader_99_utt_000.wav"))
    done = train_recipe("distil_dccrn.yaml", results, corpus, check=False)
    assert done.returncode != 0
    assert f"{output} was trained on another split of its data" in done.stderr
    assert "train_clean: " in done.stderr and "--allow_config_change" in done.stderr
    assert (output / "test_metrics.json").read_bytes() == metrics


def test_configuration_of_a_start_that_never_trained_is_replaced(tmp_path, caplog):
    from hyperpyyaml import resolve_references

    from speechbrain_atkl.training.run_records import check_configuration

    yaml_file = REPO / "hparams" / "distil_dccrn.yaml"
    saved = resolve_references(yaml_file.read_text(), {"data_folder": "/typo"}).getvalue()
    (tmp_path / "hyperparams.yaml").write_text(saved)
    with caplog.at_level("INFO"):
        check_configuration(tmp_path, yaml_file, {"data_folder": "/data"}, trained=False)
    assert "data_folder: '/typo' -> '/data'" in caplog.text and "replaced" in caplog.text


def test_validation_mixtures_keep_their_length_whatever_the_segment(tmp_path, corpus):
    """valid_seconds followed segment_seconds, so runs of different segments validated on different mixtures."""
    import train

    def valid_lengths(folder, *options):
        argv = [str(REPO / "hparams" / "distil_dccrn.yaml"), f"--data_folder={corpus}", f"--results_root={tmp_path}",
                f"--prepare_folder={tmp_path / folder}", "--valid_count=2", *options]
        record = train.prepare_run_data(argv)
        valid = json.loads(Path(record["manifests"]["valid"]).read_text())
        return {round(item["duration"], 3) for item in valid.values()}

    assert valid_lengths("default", "--segment_seconds=0.5") == {0.5}  # valid_seconds: null follows the segment
    assert valid_lengths("pinned", "--segment_seconds=0.5", "--valid_seconds=1.0") == {1.0}
    assert valid_lengths("pinned", "--segment_seconds=0.75", "--valid_seconds=1.0") == {1.0}  # same mixtures
    done = train_recipe("distil_dccrn.yaml", tmp_path, corpus, check=False, valid_seconds=-1)
    assert done.returncode != 0
    assert "valid_seconds: expected null or a positive number of seconds, got -1" in done.stderr
