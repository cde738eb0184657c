"""Tests of publishing a training output folder as a Hub-ready model folder."""

import json
import time

import huggingface_hub
import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from speechbrain.utils.checkpoints import Checkpointer

from speechbrain_atkl.data.audio import load_audio
from speechbrain_atkl.inference.enhance import EnhanceBatch
from speechbrain_atkl.loading import save_model_config
from speechbrain_atkl.models.dccrn import DCCRN
from speechbrain_atkl.publishing import PublishError, load_best_model, publish, push_to_hub
from speechbrain_atkl.publishing.cli import main

ARCH = dict(channels=[8, 8, 16, 16, 16, 16], rnn_units=32)
#: Validation values of the three checkpoints: best PESQ is the 2nd, lowest loss the 3rd.
METAS = [
    {"valid_pesq": 1.5, "valid_si_snr": 5.0, "valid_loss": -5.0},
    {"valid_pesq": 2.5, "valid_si_snr": 7.0, "valid_loss": -7.0},
    {"valid_pesq": 2.0, "valid_si_snr": 8.0, "valid_loss": -8.0},
]
TEST_METRICS = {
    "test_set": "DNS-2020 synthetic no_reverb",
    "num_utterances": 150,
    "enhanced": {"pesq_wb": 2.91, "stoi": 0.945, "si_snr": 15.2, "si_snr_i": 6.1, "dnsmos_ovrl": 3.2},
    "noisy": {"pesq_wb": 1.58, "stoi": 0.915, "si_snr": 9.1, "dnsmos_ovrl": 2.5},
}


pytestmark = pytest.mark.usefixtures("one_thread")


def make_training_run(folder, metrics=TEST_METRICS):
    """Writes the layout of a distillation run; returns each checkpoint's state dict."""
    torch.manual_seed(0)
    model = DCCRN(**ARCH)
    (folder / "hyperparams.yaml").parent.mkdir(parents=True)
    (folder / "hyperparams.yaml").write_text("teacher: !new:speechbrain_atkl.models.uformer.Uformer\n")
    save_model_config(model, folder / "save" / "model_config.yaml")
    checkpointer = Checkpointer(folder / "save", recoverables={"model": model})
    states = []
    for meta in METAS:
        with torch.no_grad():  # stands for a few training steps
            for parameter in model.parameters():
                parameter.add_(0.05 * torch.randn_like(parameter))
            model.train()(0.1 * torch.randn(2, 2000))  # BatchNorm statistics must travel too
        states.append({k: v.clone() for k, v in model.state_dict().items()})
        checkpointer.save_checkpoint(meta=meta)
    if metrics is not None:
        (folder / "test_metrics.json").write_text(json.dumps(metrics))
    return states


def trained_model(state):
    model = DCCRN(**ARCH)
    model.load_state_dict(state)
    return model.eval()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("publish")
    states = make_training_run(root / "train")
    folder = publish(root / "train", root / "model", checkpoint_key="valid_pesq", name="distil-dccrn-test")
    return root, states, folder


def front_matter(readme):
    text = readme.read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1]), text


def test_published_model_loads_and_reproduces_the_best_checkpoint(run, tmp_path):
    root, states, folder = run
    enhancer = EnhanceBatch.from_hparams(source=str(folder), savedir=str(tmp_path / "savedir"))
    noisy = 0.1 * torch.randn(2, 3000)
    best = trained_model(states[1])  # highest valid_pesq
    with torch.no_grad():
        expected = best(noisy)
    torch.testing.assert_close(enhancer.enhance_batch(noisy), expected, atol=1e-5, rtol=0)
    with torch.no_grad():
        other = trained_model(states[2])(noisy)
    assert (other - expected).abs().max() > 1e-3  # the checkpoints really differ
    # Nothing but the model folder was left beside it.
    assert sorted(p.name for p in root.iterdir()) == ["model", "train"]


def test_model_folder_contents(run):
    _, _, folder = run
    assert sorted(p.name for p in folder.iterdir()) == [
        ".speechbrain_atkl_model",
        "README.md",
        "config.json",
        "enhance_model.ckpt",
        "example.wav",
        "example_enhanced.wav",
        "hyperparams.yaml",
    ]
    hparams = (folder / "hyperparams.yaml").read_text()
    assert "enhance_model: !new:speechbrain_atkl.models.dccrn.DCCRN" in hparams
    assert "pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer" in hparams
    assert "channels: [8, 8, 16, 16, 16, 16]" in hparams
    config = json.loads((folder / "config.json").read_text())
    assert config["speechbrain_interface"] == "EnhanceBatch"
    assert config["speechbrain_interface_module"] == "speechbrain_atkl"
    assert config["sample_rate"] == 16000


def test_model_card_front_matter_carries_the_measured_metrics(run):
    _, _, folder = run
    meta, text = front_matter(folder / "README.md")
    assert meta["license"] == "apache-2.0" and meta["library_name"] == "speechbrain"
    assert "knowledge-distillation" in meta["tags"] and "speech-enhancement" in meta["tags"]
    (result,) = meta["model-index"][0]["results"]
    assert meta["model-index"][0]["name"] == "distil-dccrn-test"
    assert result["dataset"]["name"] == TEST_METRICS["test_set"]
    values = {m["type"]: m["value"] for m in result["metrics"]}
    assert values["pesq"] == 2.91 and values["stoi"] == 0.945 and values["dnsmos-ovrl"] == 3.2
    assert values["si-snr-improvement"] == 6.1
    assert "from speechbrain_atkl import EnhanceBatch" in text
    assert "| PESQ (wide-band, P.862.2) | 1.580 | 2.910 |" in text
    assert "`valid_pesq`: 2.5000" in text


def test_example_is_enhanced_by_the_published_model(run, tmp_path):
    _, states, folder = run
    example, rate = sf.read(str(folder / "example.wav"), dtype="float32")
    enhanced, rate2 = sf.read(str(folder / "example_enhanced.wav"), dtype="float32")
    assert rate == rate2 == 16000 and example.shape == enhanced.shape and len(example) >= 16000
    with torch.no_grad():
        expected = trained_model(states[1])(torch.from_numpy(example)[None])[0]
    np.testing.assert_allclose(enhanced, expected.numpy(), atol=1e-5)


def test_checkpoint_key_chooses_max_or_min(tmp_path):
    states = make_training_run(tmp_path / "train", metrics=None)
    for key, index in [("valid_pesq", 1), ("valid_si_snr", 2), ("valid_loss", 2)]:
        model, checkpoint = load_best_model(tmp_path / "train", key)
        assert checkpoint.meta[key] == METAS[index][key]
        for name, value in model.state_dict().items():
            torch.testing.assert_close(value, states[index][name])
    with pytest.raises(PublishError, match="no checkpoint records 'valid_stoi'.*valid_pesq"):
        load_best_model(tmp_path / "train", "valid_stoi")


def test_without_test_metrics_and_with_a_given_example(tmp_path):
    make_training_run(tmp_path / "train", metrics=None)
    t = np.arange(8000) / 8000
    sf.write(str(tmp_path / "ex.wav"), 0.3 * np.sin(2 * np.pi * 300 * t), 8000)
    folder = publish(tmp_path / "train", tmp_path / "model", example=tmp_path / "ex.wav", license="cc-by-4.0")
    meta, _ = front_matter(folder / "README.md")
    assert meta["license"] == "cc-by-4.0" and "model-index" not in meta
    example = sf.read(str(folder / "example.wav"), dtype="float32")[0]
    np.testing.assert_allclose(example, load_audio(tmp_path / "ex.wav").numpy(), atol=1e-6)


def test_bad_training_folders_fail_clearly_and_leave_no_output(tmp_path):
    with pytest.raises(PublishError, match="training output folder not found"):
        publish(tmp_path / "nowhere", tmp_path / "out")
    make_training_run(tmp_path / "train", metrics=None)
    with pytest.raises(PublishError, match="valid_stoi"):
        publish(tmp_path / "train", tmp_path / "out", checkpoint_key="valid_stoi")
    config = tmp_path / "train" / "save" / "model_config.yaml"
    save_model_config(DCCRN(channels=[8] * 6, rnn_units=16), config)
    with pytest.raises(PublishError, match="does not fit"):
        publish(tmp_path / "train", tmp_path / "out")
    save_model_config(DCCRN(**ARCH), config)
    (tmp_path / "train" / "test_metrics.json").write_text("{not json")
    with pytest.raises(PublishError, match="test_metrics.json"):
        publish(tmp_path / "train", tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train"]


def test_existing_output_needs_overwrite(run, tmp_path):
    root, _, _ = run
    out = tmp_path / "model"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(PublishError, match="--overwrite"):
        publish(root / "train", out)
    assert (out / "keep.txt").read_text() == "mine"
    (out / ".speechbrain_atkl_model").touch()  # an older publish of this model, with a file of ours
    with pytest.raises(PublishError, match="keep.txt"):
        publish(root / "train", out, overwrite=True)
    (out / "keep.txt").rename(out / "README.md")
    publish(root / "train", out, overwrite=True)
    assert (out / "enhance_model.ckpt").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_push_without_token_fails_clearly(run, monkeypatch):
    _, _, folder = run
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(PublishError, match="no Hugging Face token.*is complete"):
        push_to_hub(folder, "someone/model")


def test_push_without_network_fails_fast_and_keeps_the_folder(run, tmp_path, monkeypatch, capsys):
    root, _, _ = run
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    out = tmp_path / "model"
    start = time.monotonic()
    status = main(
        [str(root / "train"), "--output", str(out), "--push", "--repo-id", "someone/model", "--timeout", "3"]
    )
    assert status == 1
    assert time.monotonic() - start < 30
    error = capsys.readouterr().err
    assert "someone/model" in error and f"The model folder {out} is complete" in error
    enhancer = EnhanceBatch.from_hparams(source=str(out), savedir=str(tmp_path / "savedir"))
    assert enhancer.enhance_batch(torch.zeros(1, 1000)).shape == (1, 1000)


def test_push_needs_repo_id(run, tmp_path):
    root, _, _ = run
    with pytest.raises(SystemExit):
        main([str(root / "train"), "--output", str(tmp_path / "m"), "--push"])


# ------------------------------------------------------- never destroy what is not a published model


def test_overwrite_never_replaces_the_training_folder_or_its_relatives(run, tmp_path, capsys):
    root, _, _ = run
    train = tmp_path / "results" / "exp" / "1986"
    make_training_run(train, metrics=None)
    (tmp_path / "results" / "other_run").mkdir()
    (tmp_path / "results" / "other_run" / "train_log.txt").write_text("precious")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for output in (train, train.parent, tmp_path / "results", train / "save", train / "save" / "published"):
        assert main([str(train), "--output", str(output), "--overwrite"]) == 1, output
        error = capsys.readouterr().err
        assert "training folder" in error and str(train) in error, error
    # Same folder through another spelling (a trailing "/." and a relative path with "..").
    assert main([str(train), "--output", f"{train}/.", "--overwrite"]) == 1
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_overwrite_replaces_only_a_published_model_folder(run, tmp_path, capsys):
    root, _, folder = run
    assert (folder / ".speechbrain_atkl_model").is_file()  # the marker publish writes
    plain = tmp_path / "notes"
    plain.mkdir()
    (plain / "thesis.tex").write_text("mine")
    assert main([str(root / "train"), "--output", str(plain), "--overwrite"]) == 1
    assert "not a model folder written by publish" in capsys.readouterr().err
    assert (plain / "thesis.tex").read_text() == "mine"
    out = tmp_path / "model"
    publish(root / "train", out)
    publish(root / "train", out, overwrite=True)  # a published model is replaced
    assert (out / "enhance_model.ckpt").is_file()
    (out / "later run").mkdir()  # something else was put inside it since: never deleted
    assert main([str(root / "train"), "--output", str(out), "--overwrite"]) == 1
    assert "holds files publish did not write (later run)" in capsys.readouterr().err
    assert (out / "later run").is_dir()


def test_output_naming_a_file_is_a_clear_error(run, tmp_path, capsys):
    root, _, _ = run
    target = tmp_path / "model.txt"
    target.write_text("keep")
    for flags in ([], ["--overwrite"]):
        assert main([str(root / "train"), "--output", str(target), *flags]) == 1
        assert "is a file, not a folder" in capsys.readouterr().err
    assert target.read_text() == "keep"


@pytest.mark.parametrize("name", ["with space é", "-dash", "new\nline", "hash#1", "x" * 250])
def test_any_folder_name_works(tmp_path, name):
    train = tmp_path / (f"run {name}"[:255])
    make_training_run(train, metrics=None)
    example = tmp_path / f"{name}.wav"
    sf.write(str(example), 0.1 * np.ones(1600), 16000)
    folder = publish(train, tmp_path / (f"out {name}"[:255]), example=example)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))  == []
    enhancer = EnhanceBatch.from_hparams(source=str(folder), savedir=str(tmp_path / (f"saved {name}"[:255])))
    assert enhancer.enhance_batch(torch.zeros(1, 500)).shape == (1, 500)


def test_default_checkpoint_is_the_one_the_run_tested(tmp_path):
    """Without --checkpoint-key the run's own ckpt_key picks the weights, so the card's test metrics are theirs."""
    states = make_training_run(tmp_path / "train")
    record = tmp_path / "train" / "hyperparams.yaml"
    record.write_text(record.read_text() + "ckpt_key: valid_si_snr   # valid_pesq | valid_si_snr | valid_loss\n")
    folder = publish(tmp_path / "train", tmp_path / "model")
    enhancer = EnhanceBatch.from_hparams(source=str(folder), savedir=str(tmp_path / "savedir"))
    noisy = 0.1 * torch.randn(1, 3000)
    with torch.no_grad():
        expected = trained_model(states[2])(noisy)  # highest valid_si_snr (valid_pesq would pick states[1])
    torch.testing.assert_close(enhancer.enhance_batch(noisy), expected, atol=1e-5, rtol=0)
    assert "valid_si_snr = 8.0" in (folder / "hyperparams.yaml").read_text()


def test_added_card_text_and_files_are_in_place_with_the_folder_or_not_at_all(run, tmp_path, monkeypatch):
    """A recipe's card section and extra files (the campaign's training history) are written before the folder is
    renamed into place: a failure on the way leaves the old folder as it was, no complete-looking new one."""
    from speechbrain_atkl.publishing import assembly

    root, _, _ = run
    out = tmp_path / "model"
    publish(root / "train", out, card_extra="\n## First release\n", extra_files={"training_history.json": "[1]\n"})
    card = (out / "README.md").read_text()
    assert card.endswith("\n## First release\n") and (out / "training_history.json").read_text() == "[1]\n"
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    with pytest.raises(PublishError, match=r"holds files publish did not write \(training_history.json\)"):
        publish(root / "train", out, overwrite=True)  # the history is not the caller's: never deleted

    def fail(new, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(assembly, "replace_folder", fail)  # every file written, the folder not yet in place
    with pytest.raises(OSError, match="No space left"):
        publish(root / "train", out, overwrite=True, card_extra="\n## Second\n",
                extra_files={"training_history.json": "[1, 2]\n"})
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no staging folder left
    monkeypatch.undo()

    publish(root / "train", out, overwrite=True, card_extra="\n## Second\n",
            extra_files={"training_history.json": "[1, 2]\n"})  # an old folder holding the file is replaced
    assert (out / "README.md").read_text() == card.replace("\n## First release\n", "\n## Second\n")
    assert (out / "training_history.json").read_text() == "[1, 2]\n"
    with pytest.raises(PublishError, match="plain file names"):
        publish(root / "train", tmp_path / "other", extra_files={"../escape.txt": "x"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
