"""Smoke test of the learning-speed benchmark (benchmarks/learning_speed.py)."""

import importlib.util
from pathlib import Path

import pytest
import torch

from speechbrain_atkl.data.audio_writer import save_audio

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "learning_speed.py"
spec = importlib.util.spec_from_file_location("learning_speed", SCRIPT)
learning_speed = importlib.util.module_from_spec(spec)
spec.loader.exec_module(learning_speed)

pytestmark = pytest.mark.usefixtures("one_thread")


def _corpus(folder):
    torch.manual_seed(0)
    for kind, count in (("clean", 3), ("noise", 2)):
        (folder / kind).mkdir(parents=True)
        for index in range(count):
            save_audio(folder / kind / f"{kind}_{index}.wav", 0.1 * torch.randn(12000), 16000)
    return folder


def test_pair_differs_only_in_conv_init():
    models = learning_speed.build_pair(learning_speed.MODELS["tiny"], seed=3)
    reference, pytorch = models["reference"].state_dict(), models["pytorch"].state_dict()
    differing = {name for name in reference if not torch.equal(reference[name], pytorch[name])}
    assert differing and all(name.split(".")[0] in ("encoder", "decoder") and ".conv." in name for name in differing)
    biases = [value for name, value in reference.items() if ".conv." in name and name.endswith("bias")]
    assert all(bias.abs().max() == 0 for bias in biases)
    assert models["reference"].config["init"] == "reference" and models["pytorch"].config["init"] == "pytorch"


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_command_line_two_steps(tmp_path, capsys, precision):
    data = _corpus(tmp_path / "corpus")
    argv = ["--model", "tiny", "--steps", "2", "--seeds", "1", "--batches", "2", "--batch-size", "2"]
    argv += ["--segment-seconds", "0.25", "--data", str(data), "--precision", precision]
    assert learning_speed.main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    table = [line for line in lines if line.startswith("| ")]
    assert table[0].split(" | ")[4:6] == ["SI-SNR @0", "SI-SNR @2"]
    rows = {tuple(line.split(" | ")[:2]): line for line in table[1:]}
    assert set(rows) == {("| 1", "reference"), ("| 1", "pytorch"), ("| mean", "reference"), ("| mean", "pytorch")}
    # the untrained reference mask is smaller than PyTorch's default (its convs start with std 0.05, no bias)
    mask_rms = {init: float(rows[("| 1", init)].split(" | ")[2]) for init in ("reference", "pytorch")}
    assert 0 < mask_rms["reference"] < mask_rms["pytorch"]


def test_missing_data_folder_is_an_error(tmp_path):
    with pytest.raises(SystemExit):
        learning_speed.main(["--model", "tiny", "--data", str(tmp_path / "nowhere")])
