"""GTCRN: the published DNS3 weights load strictly and reproduce the authors' output."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile
import torch

from speechbrain_atkl.data.demo import create_demo_corpus
from speechbrain_atkl.loading import build_model, model_spec
from speechbrain_atkl.models.gtcrn import GTCRN
from speechbrain_atkl.models.gtcrn.erb import erb_filterbank
from speechbrain_atkl.training.checkpoints import load_teacher

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PEER = SHARED / "peers" / "gtcrn"
WEIGHTS = PEER / "gtcrn_dns3.pt"
needs_weights = pytest.mark.skipif(not WEIGHTS.is_file(), reason=f"GTCRN weights not found at {WEIGHTS}")


@pytest.fixture(scope="module")
def published():
    torch.manual_seed(0)
    model = GTCRN.from_preset("GTCRN").eval()
    model.load_state_dict(torch.load(WEIGHTS, weights_only=True), strict=True)
    return model


@needs_weights
def test_reproduces_the_authors_output(published, one_thread):
    noisy, rate = soundfile.read(SHARED / "data" / "reference" / "pesq_speech_bab_0dB.wav", dtype="float32")
    reference, _ = soundfile.read(PEER / "reference_enhanced_pesq_speech_bab_0dB.wav", dtype="float32")
    assert rate == published.sample_rate
    with torch.no_grad():
        enhanced = published(torch.from_numpy(noisy)[None])[0]
    assert enhanced.shape == (len(reference),)
    # Float rounding: 2.1e-7 measured, the output's peak is 0.27.
    assert (enhanced - torch.from_numpy(reference)).abs().max().item() < 2e-6


@needs_weights
def test_erb_filters_match_the_checkpoint():
    weights = torch.load(WEIGHTS, weights_only=True)
    filters = erb_filterbank(low_bins=65, bands=64, n_fft=512, sample_rate=16000)
    assert torch.allclose(filters, weights["erb.erb_fc.weight"], atol=1e-6)
    assert torch.equal(weights["erb.ierb_fc.weight"], weights["erb.erb_fc.weight"].T)


@needs_weights
def test_weights_load_as_a_frozen_teacher():
    teacher = load_teacher(WEIGHTS, GTCRN.from_preset("GTCRN"))
    assert not teacher.training
    assert not any(p.requires_grad for p in teacher.parameters())


@pytest.mark.parametrize("length", [257, 511, 512, 4001])
def test_output_has_the_input_length(length, one_thread):
    model = GTCRN.from_preset("GTCRN").eval()
    with torch.no_grad():
        assert model(torch.randn(2, length)).shape == (2, length)


def test_too_short_input_is_refused():
    with pytest.raises(ValueError, match="more than n_fft // 2 = 256 samples .* got 256"):
        GTCRN.from_preset("GTCRN")(torch.randn(1, 256))


def test_causal_up_to_lookahead(one_thread):
    torch.manual_seed(0)
    model = GTCRN.from_preset("GTCRN").eval()
    noisy = torch.randn(1, 8000)
    cut = 4000
    changed = noisy.clone()
    changed[:, cut:] = torch.randn(1, 8000 - cut)
    with torch.no_grad():
        before, after = model(noisy), model(changed)
    last_unchanged = cut - 1 - model.lookahead_samples
    assert torch.allclose(before[:, : last_unchanged + 1], after[:, : last_unchanged + 1], atol=1e-6)
    assert not torch.allclose(before[:, : cut], after[:, : cut], atol=1e-6)


def test_trainable_parameters_get_gradients_and_erb_filters_stay_fixed(one_thread):
    model = GTCRN.from_preset("GTCRN").train()
    model(torch.randn(2, 4000)).pow(2).mean().backward()
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    assert sum(p.numel() for _, p in trainable) == 23669
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for _, p in trainable)
    assert not model.erb.erb_fc.weight.requires_grad and model.erb.erb_fc.weight.grad is None


@needs_weights
def test_published_weights_are_evaluated_like_our_models(tmp_path):
    """train.py hparams/gtcrn.yaml with 0 epochs scores the published weights on the test set."""
    corpus = tmp_path / "corpus"
    create_demo_corpus(corpus, seed=0, n_clean=4, clean_seconds=(1.0, 1.5), n_noise=2, noise_seconds=2.0,
                       n_rir=1, n_test=2, test_seconds=1.0)
    options = {
        "number_of_epochs": 0, "init_from": WEIGHTS, "data_folder": corpus, "results_root": tmp_path / "results",
        "num_workers": 0, "eval_num_workers": 0, "test_metrics": "[si_snr]",
    }
    command = [sys.executable, str(REPO / "train.py"), str(REPO / "hparams" / "gtcrn.yaml")]
    command += [f"--{key}={value}" for key, value in options.items()]
    done = subprocess.run(command, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    metrics = json.loads((tmp_path / "results" / "gtcrn" / "1986" / "test_metrics.json").read_text())
    assert metrics["num_utterances"] == 2
    assert metrics["enhanced"]["si_snr"] > metrics["noisy"]["si_snr"] + 1.0  # measured: 5.2 -> 9.7 dB


def test_config_round_trip(one_thread):
    torch.manual_seed(0)
    model = GTCRN.from_preset("GTCRN", channels=8).eval()
    rebuilt = build_model(model_spec(model)).eval()
    rebuilt.load_state_dict(model.state_dict(), strict=True)
    wav = torch.randn(1, 3000)
    with torch.no_grad():
        assert torch.equal(model(wav), rebuilt(wav))


def test_bad_configurations():
    with pytest.raises(ValueError, match="Unknown GTCRN preset 'gtcrn'"):
        GTCRN.from_preset("gtcrn")
    with pytest.raises(ValueError, match="low_bins \\+ erb_bands = 128"):
        GTCRN(low_bins=64)
    with pytest.raises(ValueError, match="two band centres on one bin"):
        erb_filterbank(low_bins=5, bands=200)
