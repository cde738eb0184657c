"""The shipped models (``pretrained/``) enhance real held-out speech.

Each published folder is loaded as a user would, and enhances mixtures built
from the shared corpus with the distillation study's split: speakers and
noise recordings of its test side only (never seen in training), mixed by
the study's own :func:`study_data.mix_test_item` at 0 and 5 dB. The SI-SNR
must improve by at least 1 dB on average.
"""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from speechbrain_atkl.data.audio import load_audio
from speechbrain_atkl.losses.si_snr import si_snr

REPO = Path(__file__).resolve().parents[1]
SHARED_CORPUS = REPO.parent / "shared" / "data" / "corpus"
SHIPPED = ("distil-dccrn-shared16k", "uformer-light-shared16k")
MIN_IMPROVEMENT_DB = 1.0

sys.path.insert(0, str(REPO / "recipes" / "DNS"))
import study_data  # noqa: E402  (recipes/DNS is not a package)

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
    folder = REPO / "pretrained" / name
    if not (folder / "hyperparams.yaml").is_file():
        pytest.skip(f"{folder} is not published yet (recipes/DNS/release.py writes it)")
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
