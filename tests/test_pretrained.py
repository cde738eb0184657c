"""The shipped models (``pretrained/``) enhance real held-out speech.

Each published folder is loaded as a user would, and enhances mixtures built
from the shared corpus with the distillation study's split: speakers and
noise recordings of its test side only (never seen in training), mixed by
the study's own :func:`study_data.mix_test_item` at 0 and 5 dB. The SI-SNR
must improve by at least 1 dB on average.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from recipes.DNS import study_data
from speechbrain_atkl.data.audio import load_audio
from speechbrain_atkl.losses.si_snr import si_snr

REPO = Path(__file__).resolve().parents[1]
SHARED_CORPUS = REPO.parent / "shared" / "data" / "corpus"
SHIPPED = ("distil-dccrn-shared16k", "uformer-light-shared16k")
MIN_IMPROVEMENT_DB = 1.0

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def held_out_mixtures():
    """Four ``(clean, noisy)`` pairs of 4 s: two test speakers x two test noises, at 0 and 5 dB."""
    if not SHARED_CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {SHARED_CORPUS}")
    split = study_data.split_corpus(SHARED_CORPUS)
    pairs = []
    for index, snr in enumerate((0, 5, 0, 5)):
        rng = np.random.default_rng([0, 9, index])
        speech = load_audio(split["test_clean"][index % len(split["test_clean"])])[: 4 * 16000]
        noise = load_audio(split["test_noise"][index % len(split["test_noise"])])
        pairs.append(study_data.mix_test_item(speech, noise, snr, rng))
    return pairs


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_improves_si_snr(name, held_out_mixtures, tmp_path):
    folder = _shipped(name)
    from speechbrain_atkl import EnhanceBatch

    enhancer = EnhanceBatch.from_hparams(source=str(folder), savedir=str(tmp_path / name))
    improvements = []
    for clean, noisy in held_out_mixtures:
        with torch.no_grad():
            enhanced = enhancer.enhance_batch(noisy[None])[0]
        assert enhanced.shape == noisy.shape and torch.isfinite(enhanced).all()
        before = float(si_snr(noisy[None], clean[None]))
        improvements.append(float(si_snr(enhanced[None], clean[None])) - before)
    assert np.mean(improvements) >= MIN_IMPROVEMENT_DB, f"SI-SNR improvements (dB): {improvements}"


def _shipped(name):
    folder = REPO / "pretrained" / name
    if not (folder / "hyperparams.yaml").is_file():
        pytest.skip(f"{folder} is not published yet (recipes/DNS/release.py writes it)")
    return folder


def test_command_line_enhances_a_held_out_file_with_the_shipped_student(held_out_mixtures, tmp_path):
    """``speechbrain-atkl-enhance noisy/ out/ --model pretrained/distil-dccrn-shared16k``, as in the README."""
    import soundfile

    from speechbrain_atkl.inference.cli import main

    folder = _shipped("distil-dccrn-shared16k")
    clean, noisy = held_out_mixtures[0]
    (tmp_path / "noisy").mkdir()
    soundfile.write(tmp_path / "noisy" / "held out.wav", noisy.numpy(), 16000, subtype="FLOAT")
    argv = [str(tmp_path / "noisy"), str(tmp_path / "out"), "--model", str(folder), "--savedir", str(tmp_path / "m")]
    assert main([*argv, "--no-progress"]) == 0
    enhanced = load_audio(tmp_path / "out" / "held out.wav")
    assert enhanced.shape == noisy.shape
    gain = float(si_snr(enhanced[None], clean[None]) - si_snr(noisy[None], clean[None]))
    assert gain >= MIN_IMPROVEMENT_DB, f"SI-SNR improvement {gain:.2f} dB"


def test_shipped_teacher_is_a_teacher_checkpoint_for_the_atkl_recipe(tmp_path):
    """The YAML's documented option: ``--teacher_checkpoint pretrained/uformer-light-shared16k``."""
    from speechbrain_atkl.models.uformer import Uformer
    from speechbrain_atkl.training.checkpoints import load_teacher

    folder = _shipped("uformer-light-shared16k")
    teacher = load_teacher(folder, Uformer.from_preset("Uformer-light"), savedir=str(tmp_path / "t"))
    assert type(teacher).__name__ == "Uformer" and not teacher.training
    assert all(not p.requires_grad for p in teacher.parameters())
