"""benchmarks/paired_comparison.py: two models' paired differences per mixture on validation and test, clear errors."""

import doctest
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks import paired_comparison, test_breakdown
from speechbrain_atkl.data.audio_writer import save_audio

REPO = Path(__file__).resolve().parents[1]
STUDENT = REPO / "pretrained" / "distil-dccrn-shared16k"
TEACHER = REPO / "pretrained" / "uformer-light-shared16k"
RATE = 16000

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    """A validation manifest of 3 mixtures and a test split of 2 items, 0.5 s of tones in white noise."""
    root = tmp_path_factory.mktemp("paired")
    t = np.arange(RATE // 2) / RATE
    valid, items = {}, []
    for index in range(5):
        rng = np.random.default_rng(index)
        clean = 0.05 * sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in (220, 470, 910))
        noisy = clean + 0.03 * rng.standard_normal(t.size)
        paths = {role: root / f"{role}_{index}.wav" for role in ("clean", "noisy")}
        for role, wav in (("clean", clean), ("noisy", noisy)):
            save_audio(paths[role], torch.tensor(wav, dtype=torch.float32), RATE)
        if index < 3:
            valid[f"mixture{index}"] = {"noisy_wav": str(paths["noisy"]), "clean_wav": str(paths["clean"])}
        else:
            items.append({"fileid": index, "snr_db": 5, "speaker": "s", "noise_source": "white",
                          "clean": str(paths["clean"]), "noisy": str(paths["noisy"])})
    (root / "valid.json").write_text(json.dumps(valid))
    (root / "split.json").write_text(json.dumps({"test_items": items}))
    return root / "valid.json", root / "split.json"


def test_paired_difference_pairs_by_item_and_refuses_disjoint_scores():
    result = paired_comparison.paired_difference({1: 0.0, 2: 1.0, 3: 5.0}, {3: 4.0, 2: 3.0, 1: 3.0})
    # Pairs by item, not by order: differences 3, 2, -1.
    assert result["items"] == 3 and result["b_better"] == 2
    assert result["difference"] == pytest.approx(4 / 3)
    assert result["standard_error"] == pytest.approx(np.std([3, 2, -1], ddof=1) / np.sqrt(3))
    assert result["a"] == pytest.approx(2.0) and result["b"] == pytest.approx(10 / 3)
    assert np.isnan(paired_comparison.paired_difference({1: 0.0}, {1: 1.0})["standard_error"])
    with pytest.raises(ValueError, match="no item in common"):
        paired_comparison.paired_difference({1: 0.0}, {2: 1.0})


def test_the_script_compares_two_published_models_on_both_sets(sets, capsys):
    valid, split = sets
    paired_comparison.main([str(STUDENT), str(TEACHER), "--valid", str(valid), "--split", str(split),
                            "--no-pesq", "--noprogressbar"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("| measure | items | A: distil-dccrn-shared16k | B: uformer-light-shared16k | B - A | SE "
                        "| B better on |")
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[1:] for line in lines[2:]}
    assert list(rows) == ["validation SI-SNR (dB)", "test SI-SNR-i (dB)", "test transparency (dB)"]
    assert rows["validation SI-SNR (dB)"][0] == "3" and rows["test SI-SNR-i (dB)"][0] == "2"
    # The columns are the models' own scores: the test row's A is the student's mean SI-SNR-i.
    signals = test_breakdown.load_signals(test_breakdown.read_test_items(split))
    student = test_breakdown.load_published(STUDENT, Path(valid).parent / "links")
    own = test_breakdown.score_system(student, signals, pesq=False)["si_snr_i"]
    assert rows["test SI-SNR-i (dB)"][1] == f"{np.mean(list(own.values())):.3f}"
    a, b, difference = (float(value) for value in rows["validation SI-SNR (dB)"][1:4])
    assert difference == pytest.approx(b - a, abs=2e-3) and abs(difference) > 0.01


def test_missing_inputs_fail_naming_the_path(sets, tmp_path):
    valid, split = sets
    with pytest.raises(SystemExit, match=r"^paired_comparison\.py: .*nowhere\.json: missing; the validation "
                       r"mixtures are written by train\.py's data preparation"):
        paired_comparison.main([str(STUDENT), str(STUDENT), "--valid", str(tmp_path / "nowhere.json"),
                                "--no-test", "--no-pesq"])
    with pytest.raises(SystemExit, match=r"^paired_comparison\.py: model folder .*absent: not found"):
        paired_comparison.main([str(STUDENT), str(tmp_path / "absent"), "--valid", str(valid)])
    with pytest.raises(SystemExit, match=r"^paired_comparison\.py: split .*gone\.json: not found"):
        paired_comparison.main([str(STUDENT), str(STUDENT), "--no-valid", "--split", str(tmp_path / "gone.json")])
    with pytest.raises(SystemExit):
        paired_comparison.main([str(STUDENT), str(STUDENT), "--no-valid", "--no-test"])


def test_the_scripts_examples_hold():
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    assert doctest.testmod(paired_comparison, optionflags=flags).failed == 0
