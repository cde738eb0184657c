"""Tests of the speechbrain-atkl-enhance command-line enhancer."""

import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from speechbrain_atkl.inference.cli import main
from speechbrain_atkl.loading import model_spec
from speechbrain_atkl.models.dccrn import DCCRN
from speechbrain_atkl.publishing import inference_hyperparams

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

    arguments = [str(tmp_path / "missing.wav"), str(tmp_path / "out"), "--model", str(tmp_path)]
    arguments.append(f"--chunk-seconds={value}")
    assert main(arguments) == 2
    assert "--chunk-seconds, --context-seconds, --crossfade-seconds: expected finite chunk_seconds > 0" in (
        capsys.readouterr().err
    )


def test_a_chunk_shorter_than_the_cross_fade_fails_at_once_and_the_cross_fade_is_an_option(
    tree, model_folder, tmp_path, capsys
):
    arguments = [tmp_path / "missing.wav", tmp_path / "out", "--model", tmp_path / "no_model"]
    assert run(*arguments, "--chunk-seconds", "0.001") == 2
    assert "0 <= crossfade_seconds <= chunk_seconds, got (0.001, 2.0, 0.05)" in capsys.readouterr().err
    out = tmp_path / "short_chunks.wav"
    options = ("--model", model_folder, "--chunk-seconds", "0.001", "--crossfade-seconds", "0")
    assert run(tree / "a.wav", out, *options) == 0
    assert sf.info(str(out)).frames == 8000


def test_an_existing_folder_named_like_an_output_is_not_taken_for_the_output(tree, model_folder, tmp_path, capsys):
    (tree / "sub" / "broken.wav").unlink()
    (tmp_path / "out" / "a.wav").mkdir(parents=True)
    assert run(tree, tmp_path / "out", "--model", model_folder) == 1
    captured = capsys.readouterr()
    assert "Enhanced 1 file(s), skipped 0 with existing output, 1 failed." in captured.out
    assert f"its output {tmp_path / 'out' / 'a.wav'} is an existing folder" in captured.err
    (tmp_path / "folder.wav").mkdir()  # a single input into a folder, whatever its name
    assert run(tree / "a.wav", tmp_path / "folder.wav", "--model", model_folder) == 0
    assert sf.info(str(tmp_path / "folder.wav" / "a.wav")).frames == 8000


# ---------------------------------------------------------------- jobs, threads, attenuation limit, output rate


def outputs_of(folder):
    """Each output's samples and rate, by name (a float WAV's bytes also hold the time it was written)."""
    outputs = {}
    for path in sorted(folder.rglob("*.wav")):
        samples, rate = sf.read(str(path), dtype="float32")
        outputs[path.relative_to(folder).as_posix()] = (samples.tobytes(), rate)
    return outputs


def test_jobs_give_the_outputs_of_one_job_a_bad_file_fails_alone_and_the_bar_counts_files(
    tree, model_folder, tmp_path, capsys
):
    assert run(tree, tmp_path / "one", "--model", model_folder, "--jobs", "1", "--threads", "1") == 1
    one = capsys.readouterr()
    argv = [tree, tmp_path / "two", "--model", model_folder, "--jobs", "2", "--threads", "1", "--progress"]
    assert main([str(a) for a in argv]) == 1
    two = capsys.readouterr()
    assert two.out == one.out == "Enhanced 2 file(s), skipped 0 with existing output, 1 failed.\n"
    failure = [line for line in one.err.splitlines() if line.startswith("FAILED")]
    assert len(failure) == 1 and "broken.wav" in failure[0] and failure[0] in two.err.splitlines()
    assert "3/3" in two.err  # the progress bar: every file, whichever job did it
    assert outputs_of(tmp_path / "two") == outputs_of(tmp_path / "one")  # bit for bit
    assert len(outputs_of(tmp_path / "one")) == 2


@pytest.mark.parametrize(
    "args, single, expected",
    [
        ((), False, dict(jobs=4, threads=1)),
        ((), True, dict(jobs=1, threads=4)),
        (("--jobs", "2"), False, dict(jobs=2, threads=2)),
        (("--jobs", "3", "--threads", "3"), True, dict(jobs=3, threads=3)),
    ],
)
def test_default_jobs_are_the_cores_for_a_folder_and_one_for_a_file(
    tree, model_folder, tmp_path, monkeypatch, args, single, expected
):
    from speechbrain_atkl.inference import cli

    calls = []
    monkeypatch.setattr(cli.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(cli, "enhance_all", lambda enhancer, pairs, **kw: calls.append(kw) or ([], [], []))
    source = tree / "a.wav" if single else tree
    assert run(source, tmp_path / "out", "--model", model_folder, *args) == 0
    assert {key: calls[0][key] for key in expected} == expected


@pytest.mark.parametrize(
    "args, message",
    [
        (("--jobs", "0"), "--jobs must be at least 1, got 0"),
        (("--threads", "-2"), "--threads must be at least 1, got -2"),
        (
            ("--atten-lim-db", "-3"),
            "--atten-lim-db: atten_lim_db must be None (no limit) or a finite number of dB >= 0, got -3.0",
        ),
    ],
)
def test_bad_jobs_threads_or_limit_fail_at_once(tree, model_folder, tmp_path, capsys, args, message):
    assert run(tree, tmp_path / "out", "--model", model_folder, *args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_attenuation_limit_and_output_rate_from_the_command_line(tree, model_folder, tmp_path):
    from speechbrain_atkl.inference.enhance import EnhanceBatch

    source = tree / "sub" / "b.flac"  # 48 kHz stereo, 24000 frames
    out = tmp_path / "b.wav"
    assert run(source, out, "--model", model_folder, "--atten-lim-db", "12", "--output-rate", "input") == 0
    written, rate = sf.read(str(out), dtype="float32")
    assert rate == 48000 and written.shape == (24000,)
    enhancer = EnhanceBatch.from_hparams(source=str(model_folder), savedir=str(tmp_path / "saved"))
    expected = enhancer.enhance_file(source, atten_lim_db=12.0, output_rate="input")
    assert np.allclose(written, expected.numpy(), atol=1e-6)
    assert not np.allclose(written, enhancer.enhance_file(source, output_rate="input").numpy(), atol=1e-3)


class DiesOnLength(torch.nn.Module):
    """Returns its input, but ends its process at once on an input of 777 samples."""

    def forward(self, noisy):
        if noisy.shape[-1] == 777:
            os._exit(3)
        return noisy


def test_a_dead_worker_loses_its_files_with_a_reason_and_nothing_hangs(tmp_path):
    from speechbrain_atkl.inference.cli import LOST_REASON, enhance_all
    from speechbrain_atkl.inference.enhance import EnhanceBatch

    for name, length in (("a", 1600), ("dies", 777), ("c", 1600)):
        sf.write(str(tmp_path / f"{name}.wav"), np.full(length, 0.1), 16000)
    pairs = [(tmp_path / f"{name}.wav", tmp_path / "out" / f"{name}.wav") for name in ("a", "dies", "c")]
    enhancer = EnhanceBatch(
        modules={"enhance_model": DiesOnLength()}, hparams={"sample_rate": 16000}, run_opts={"device": "cpu"}
    )
    enhanced, skipped, failed = enhance_all(enhancer, pairs, progress=False, jobs=2)
    assert (tmp_path / "dies.wav", LOST_REASON) in failed
    assert sorted(enhanced + [source for source, _ in failed]) == sorted(source for source, _ in pairs)
    assert all(reason == LOST_REASON for _, reason in failed) and not skipped


def test_an_output_that_cannot_be_written_fails_before_the_model_is_loaded(tree, tmp_path, monkeypatch, capsys):
    from speechbrain_atkl.inference.enhance import EnhanceBatch

    monkeypatch.setattr(EnhanceBatch, "from_hparams", lambda *a, **k: pytest.fail("loaded the model first"))
    (tmp_path / "a_file").write_text("")
    assert run(tree, tmp_path / "a_file" / "out", "--model", "unused") == 1
    assert f"{tmp_path / 'a_file' / 'out'}: writing a file in this folder failed" in capsys.readouterr().err
