"""Tests of the speechbrain-atkl-enhance command-line enhancer."""

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from speechbrain_atkl.inference.cli import main
from speechbrain_atkl.models.config import model_spec
from speechbrain_atkl.models.dccrn import DCCRN
from speechbrain_atkl.publish import inference_hyperparams


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    """A model folder as published, holding a tiny DCCRN."""
    folder = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    model = DCCRN(channels=[8] * 6, rnn_units=16)
    (folder / "hyperparams.yaml").write_text(inference_hyperparams(model_spec(model), 16000))
    torch.save(model.state_dict(), folder / "enhance_model.ckpt")
    return folder


@pytest.fixture
def tree(tmp_path):
    """``in/`` with two good files (one 48 kHz stereo FLAC), one bad file and a text file."""
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    sf.write(str(root / "a.wav"), 0.1 * rng.standard_normal(8000), 16000)
    sf.write(str(root / "sub" / "b.flac"), 0.1 * rng.standard_normal((24000, 2)), 48000)
    (root / "sub" / "broken.wav").write_bytes(b"RIFF but not really a wav file")
    (root / "readme.txt").write_text("not audio, not an audio extension: ignored")
    return root


def run(*args):
    return main([str(a) for a in args] + ["--no-progress"])


def test_folder_tree_is_mirrored_and_the_bad_file_reported(tree, model_folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(tree, out, "--model", model_folder) == 1
    captured = capsys.readouterr()
    assert "Enhanced 2 file(s), skipped 0 with existing output, 1 failed." in captured.out
    assert (
        f"FAILED {tree / 'sub' / 'broken.wav'}:" in captured.err
        and "not a readable audio file" in captured.err
    )
    outputs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert outputs == ["a.wav", "sub/b.wav"]
    info = sf.info(str(out / "sub" / "b.wav"))
    assert info.samplerate == 16000 and info.channels == 1 and info.frames == 8000

    # A second run skips what exists; --overwrite redoes it.
    (out / "a.wav").write_bytes(b"stale")
    assert run(tree, out, "--model", model_folder) == 1
    assert "Enhanced 0 file(s), skipped 2" in capsys.readouterr().out
    assert (out / "a.wav").read_bytes() == b"stale"
    assert run(tree, out, "--model", model_folder, "--overwrite", "--output-format", "flac") == 1
    assert "Enhanced 2 file(s)" in capsys.readouterr().out
    assert sf.info(str(out / "sub" / "b.flac")).format == "FLAC"


def test_all_good_files_exit_zero(tree, model_folder, tmp_path, capsys):
    (tree / "sub" / "broken.wav").unlink()
    assert run(tree, tmp_path / "out", "--model", model_folder, "--chunk-seconds", "0.2") == 0
    assert "Enhanced 2 file(s), skipped 0 with existing output, 0 failed." in capsys.readouterr().out


def test_inputs_are_never_overwritten_and_colliding_outputs_fail(tree, model_folder, capsys):
    before = (tree / "a.wav").read_bytes()
    sf.write(str(tree / "a.flac"), np.zeros(1600), 16000)  # a.wav and a.flac both map to a.wav
    assert run(tree / "a.wav", tree / "a.wav", "--model", model_folder, "--overwrite") == 1
    assert "would replace the input" in capsys.readouterr().err
    out = tree.parent / "out"
    assert run(tree, out, "--model", model_folder) == 1
    assert f"its output {out / 'a.wav'} is also the output of {tree / 'a.flac'}" in capsys.readouterr().err
    assert (tree / "a.wav").read_bytes() == before


def test_single_file_to_file_or_folder(tree, model_folder, tmp_path):
    assert run(tree / "a.wav", tmp_path / "x" / "clean.wav", "--model", model_folder) == 0
    assert sf.info(str(tmp_path / "x" / "clean.wav")).frames == 8000
    assert run(tree / "sub" / "b.flac", tmp_path / "folder", "--model", model_folder) == 0
    assert (tmp_path / "folder" / "b.wav").is_file()


def test_unusable_input_or_model_fail_with_a_message(tree, model_folder, tmp_path, capsys):
    assert run(tmp_path / "missing.wav", tmp_path / "out", "--model", model_folder) == 1
    assert "missing.wav: no such file or folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert run(tmp_path / "empty", tmp_path / "out", "--model", model_folder) == 1
    assert "no audio files" in capsys.readouterr().err
    assert run(tree, tmp_path / "out", "--model", tmp_path / "no_model") == 1
    assert "could not load the model" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_module_entry_point_help():
    result = subprocess.run(
        [sys.executable, "-m", "speechbrain_atkl.inference.cli", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "--chunk-seconds" in result.stdout and "--model" in result.stdout


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_chunk_seconds_fail_at_once(value, tmp_path, capsys):
    from speechbrain_atkl.inference.cli import main

    assert main([str(tmp_path / "missing.wav"), str(tmp_path / "out"), "--model", str(tmp_path), f"--chunk-seconds={value}"]) == 2
    assert "--chunk-seconds must be a finite number > 0" in capsys.readouterr().err
