"""Checkpoint averaging: the average of a run's last epochs is a scored checkpoint, made once."""

import math

import pytest
import torch
import yaml
from speechbrain.dataio.dataset import DynamicItemDataset

from recipes.DNS import campaign
from speechbrain_atkl.losses.si_snr import SISNRLoss
from speechbrain_atkl.publishing.card import model_card
from speechbrain_atkl.training.averaging import AVERAGED_FROM, add_averaged_checkpoint
from speechbrain_atkl.training.brains import EnhancementBrain
from speechbrain_atkl.training.checkpoints import AtomicCheckpointer

from helpers import run_output, train_recipe


def _infos(save):
    return [yaml.safe_load(info.read_text()) for info in sorted(save.glob("CKPT+*/CKPT.yaml"))]


def test_train_py_adds_the_average_of_the_last_epochs_once(tmp_path, corpus):
    options = dict(number_of_epochs=3, average_checkpoints=3, keep_checkpoints=1)
    train_recipe("distil_dccrn.yaml", tmp_path, corpus, **options)
    save = run_output(tmp_path, "distil_dccrn") / "save"
    averages = [info for info in _infos(save) if AVERAGED_FROM in info]
    assert len(averages) == 1
    sources = averages[0][AVERAGED_FROM]
    # keep_checkpoints: 1 was raised to the three epochs the average needs
    assert len(sources) == 3 and all((save / name / "model.ckpt").is_file() for name in sources)
    for key in ("valid_loss", "valid_si_snr", "valid_pesq"):
        assert math.isfinite(averages[0][key])
    average_folder = next(f for f in save.glob("CKPT+*") if AVERAGED_FROM in (f / "CKPT.yaml").read_text())
    averaged = torch.load(average_folder / "model.ckpt")
    weights = [torch.load(save / name / "model.ckpt") for name in sources]
    for name, value in averaged.items():
        if value.is_floating_point():
            torch.testing.assert_close(value, sum(w[name] for w in weights) / 3)
    assert any(not torch.equal(weights[0][name], weights[2][name]) for name in averaged)  # the epochs differ
    # Run again (as after a kill during the test): the same sources are not averaged twice.
    train_recipe("distil_dccrn.yaml", tmp_path, corpus, **options)
    assert sum(AVERAGED_FROM in info for info in _infos(save)) == 1


def test_average_checkpoints_of_one_is_refused_before_any_data_work(tmp_path):
    done = train_recipe("distil_dccrn.yaml", tmp_path, tmp_path / "no_corpus_yet", check=False, average_checkpoints=1)
    assert done.returncode != 0
    assert "average_checkpoints: expected 0 (off) or an integer >= 2, got 1" in done.stderr


def _scaling_brain(folder, weights):
    model = torch.nn.Sequential(  # (batch, time) -> (batch, time), times one weight
        torch.nn.Unflatten(1, (1, -1)), torch.nn.Conv1d(1, 1, 1, bias=False), torch.nn.Flatten())
    checkpointer = AtomicCheckpointer(folder, {"model": model})
    for weight in weights:
        torch.nn.init.constant_(model[1].weight, weight)
        checkpointer.save_checkpoint(meta={"valid_si_snr": 0.0})
    checkpointer.save_checkpoint(meta={}, end_of_epoch=False)  # an intra-epoch checkpoint is no source
    brain = EnhancementBrain(modules={"model": model}, checkpointer=checkpointer,
                             hparams={"loss": SISNRLoss(), "valid_pesq": False, "ckpt_key": "valid_si_snr"})
    data = {"a": {"noisy_sig": torch.randn(800), "clean_sig": torch.randn(800)}}
    return brain, model, DynamicItemDataset(data, output_keys=["id", "noisy_sig", "clean_sig"])


def test_the_last_count_epochs_are_averaged_and_a_single_epoch_is_not(tmp_path):
    brain, model, valid = _scaling_brain(tmp_path / "a", [1.0, 2.0, 4.0])
    average = add_averaged_checkpoint(brain, valid, count=2)
    assert model[1].weight.item() == 3.0 and len(average.meta[AVERAGED_FROM]) == 2
    brain, model, valid = _scaling_brain(tmp_path / "b", [5.0])
    assert add_averaged_checkpoint(brain, valid, count=2) is None and model[1].weight.item() == 5.0
    with pytest.raises(ValueError, match="average_checkpoints must be 0 .off. or >= 2, got 1"):
        add_averaged_checkpoint(brain, valid, count=1)


def test_the_card_says_the_weights_are_an_average():
    spec = {"class_path": "speechbrain_atkl.models.dccrn.DCCRN", "config": {}}
    meta = {"valid_si_snr": 10.5, AVERAGED_FROM: ["CKPT+a", "CKPT+b", "CKPT+c"]}
    card = model_card("student", spec, meta, None)
    assert "average of 3 end-of-epoch checkpoints: `CKPT+a`, `CKPT+b`, `CKPT+c`." in card
    assert "average of" not in model_card("student", spec, {"valid_si_snr": 10.5}, None)


def test_a_campaign_stage_averages_its_epochs(tmp_path):
    import train

    for hours, epochs, average in ((6, 3, 3), (2, 1, 0)):
        args = campaign.parse_args(["--stage-hours", str(hours)])
        command = campaign.train_command(args, "student-alone-stage9", 1242, tmp_path, tmp_path, tmp_path)
        hparams = train.parse_run(command[2:])[2]
        assert (hparams["number_of_epochs"], hparams["average_checkpoints"]) == (epochs, average)
