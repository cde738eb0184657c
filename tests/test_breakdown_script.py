"""benchmarks/test_breakdown.py: per-group scores of the fixed test set, transparency on clean speech, clear errors.

A tiny synthetic split stands in for the study's: 2 noise recordings x 2
speakers x 2 input SNRs of 0.5 s, the speaker ``rumble`` carrying an 8 Hz
component in its clean speech (as LibriSpeech speaker 3005 carries
infrasonic rumble in the real test set).
"""

import csv
import doctest
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks import breakdown_tables, test_breakdown
from recipes.DNS.study_results import group_scores, snr_breakdown
from speechbrain_atkl.data.audio_writer import save_audio

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "pretrained" / "distil-dccrn-shared16k"
RATE = 16000

pytestmark = pytest.mark.usefixtures("one_thread")


def _clean(speaker, rng):
    """0.5 s of modulated tones; ``rumble`` adds an 8 Hz component as strong as the tones."""
    t = np.arange(RATE // 2) / RATE
    speech = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in (220, 470, 910, 1800))
    speech = speech * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    if speaker == "rumble":
        speech = speech + 2.0 * np.sin(2 * np.pi * 8 * t)
    return 0.05 * speech


def _noise(name, rng):
    white = rng.standard_normal(RATE // 2)
    return white if name == "hiss.wav" else np.convolve(white, np.ones(16) / 4, mode="same")


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    """``split.json`` of 8 items: noises hiss/hum x speakers plain/rumble x SNRs 0/10 dB."""
    root = tmp_path_factory.mktemp("split")
    items = []
    for fileid, (noise, speaker, snr) in enumerate(
        (n, s, snr) for n in ("hiss.wav", "hum.wav") for s in ("plain", "rumble") for snr in (0, 10)
    ):
        rng = np.random.default_rng(fileid)
        clean, noise_wav = _clean(speaker, rng), _noise(noise, rng)
        noise_wav *= np.sqrt(np.mean(clean**2) / np.mean(noise_wav**2) / 10 ** (snr / 10))
        paths = {role: root / f"{role}_fileid_{fileid}.wav" for role in ("clean", "noisy")}
        save_audio(paths["clean"], torch.tensor(clean, dtype=torch.float32), RATE)
        save_audio(paths["noisy"], torch.tensor(clean + noise_wav, dtype=torch.float32), RATE)
        items.append({"fileid": fileid, "snr_db": snr, "speaker": speaker, "noise_source": noise,
                      "clean_source": f"{speaker}.wav", "clean": str(paths["clean"]), "noisy": str(paths["noisy"])})
    path = root / "split.json"
    path.write_text(json.dumps({"test_items": items}))
    return path


def _low_cut(wav, cutoff=125.0):
    """A "model" that zeroes every frequency below ``cutoff`` Hz (DC included)."""
    spectrum = torch.fft.rfft(wav)
    spectrum[torch.fft.rfftfreq(wav.shape[-1], 1 / RATE) < cutoff] = 0
    return torch.fft.irfft(spectrum, n=wav.shape[-1])


def test_group_scores_gives_each_groups_mean_and_count():
    items = [{"fileid": i, "speaker": "a" if i < 3 else "b", "snr_db": (-5, 0, 5)[i % 3]} for i in range(5)]
    scores = {0: 1.0, 1: 2.0, 2: 6.0, 3: 10.0, 4: 20.0}
    # Unequal groups: the overall mean (7.8) is not the mean of the group means (7.5).
    assert group_scores(scores, items, "speaker") == {"a": (3.0, 3), "b": (15.0, 2)}
    assert group_scores(scores, items, "snr_db") == {-5: (5.5, 2), 0: (11.0, 2), 5: (6.0, 1)}
    # Pairs: a repeated file id counts each time; an item without a score is left out of its group.
    assert group_scores([(0, 1.0), (0, 3.0), (4, 2.0)], items, "speaker") == {"a": (2.0, 2), "b": (2.0, 1)}
    with pytest.raises(KeyError, match="file id 9 is not a test item"):
        group_scores({9: 1.0}, items, "speaker")


def test_snr_breakdown_groups_a_runs_per_utterance_csv_by_input_snr(tmp_path):
    items = [{"fileid": i, "snr_db": (0, 5)[i % 2]} for i in range(4)]
    (tmp_path / "test_results").mkdir()
    with open(tmp_path / "test_results" / "per_utterance.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "system", "si_snr_i"])
        for fileid, value in enumerate((1.0, 2.0, 3.0, "")):  # the last one failed to score: skipped
            writer.writerow([f"no_reverb_fileid_{fileid}", "enhanced", value])
            writer.writerow([f"no_reverb_fileid_{fileid}", "noisy", 0.0])
    assert snr_breakdown(tmp_path, {"test_items": items}) == {0: 2.0, 5: 2.0}
    assert snr_breakdown(tmp_path, {"test_items": items}, system="noisy") == {0: 0.0, 5: 0.0}
    assert snr_breakdown(tmp_path / "nowhere", {"test_items": items}) == {}


def test_transparency_of_an_identity_model_is_very_high_and_a_low_cut_hurts_the_rumbling_speaker(split):
    items = test_breakdown.read_test_items(split)
    signals = test_breakdown.load_signals(items)
    identity = test_breakdown.score_system(lambda wav: wav, signals, pesq=False)
    low_cut = test_breakdown.score_system(_low_cut, signals, pesq=False)
    assert min(identity["transparency"].values()) > 60
    assert max(abs(value) for value in identity["si_snr_i"].values()) < 1e-6
    by_speaker = group_scores(low_cut["transparency"], items, "speaker")
    assert by_speaker["plain"][0] > 30 and by_speaker["rumble"][0] < 10
    assert by_speaker["plain"][1] == by_speaker["rumble"][1] == 4
    table = breakdown_tables.group_table(
        {"identity": identity["transparency"], "low cut": low_cut["transparency"]}, items, "speaker", "speaker"
    )
    lines = table.splitlines()
    assert lines[0] == "| speaker | n | identity | low cut |"
    assert lines[2].startswith("| plain | 4 | ") and lines[3].startswith("| rumble | 4 | ")
    assert lines[4].startswith("| all | 8 | ") and lines[3].endswith(f"| {by_speaker['rumble'][0]:.2f} |")


def test_the_script_prints_every_table_for_a_published_model(split, tmp_path, capsys):
    # Two items (other noise, speaker and SNR): loading the shipped folder is most of the cost.
    items = json.loads(split.read_text())["test_items"]
    two = _write_split(tmp_path / "split.json", [items[0], items[7]])
    test_breakdown.main([str(SHIPPED), "--split", str(two), "--noprogressbar"])
    text = capsys.readouterr().out
    for heading in ("SI-SNR-i (dB) by noise recording", "PESQ-WB by speaker", "SI-SNR-i (dB) by input SNR (dB)",
                    "Transparency by speaker", "Overall"):
        assert f"## {heading}" in text
    assert "| input SNR (dB) | n | input SI-SNR | distil-dccrn-shared16k |" in text
    assert "| hum.wav | 1 | " in text and "| rumble | 1 | " in text and "| 10 | 1 | " in text
    overall = text.split("## Overall")[1].strip().splitlines()
    assert overall[-2].startswith("| noisy input | 2 | ") and overall[-1].startswith("| distil-dccrn-shared16k | 2 | ")


def _write_split(path, items):
    path.write_text(json.dumps({"test_items": items}))
    return path


def test_missing_or_malformed_inputs_fail_naming_the_path_and_what_was_expected(split, tmp_path, capsys):
    error = test_breakdown.BreakdownError
    expected = r"expected the study's split\.json with its test_items \(written by .*build_study_data"
    with pytest.raises(error, match=rf"split .*nowhere\.json: not found; {expected}"):
        test_breakdown.read_test_items(tmp_path / "nowhere.json")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(error, match=r"bad\.json: unreadable or without test_items"):
        test_breakdown.read_test_items(tmp_path / "bad.json")
    items = json.loads(split.read_text())["test_items"]
    gone = _write_split(tmp_path / "gone.json", [*items[:2], {**items[2], "noisy": str(tmp_path / "x.wav")}])
    with pytest.raises(error, match=r"the noisy file of test item 2, .*x\.wav, is missing"):
        test_breakdown.read_test_items(gone)
    no_key = _write_split(tmp_path / "no_key.json", [{k: v for k, v in items[0].items() if k != "speaker"}])
    with pytest.raises(error, match=r"test item 0 lacks \['speaker'\]"):
        test_breakdown.read_test_items(no_key)
    with pytest.raises(error, match=r"model folder .*absent: not found; expected a published model folder"):
        test_breakdown.load_published(tmp_path / "absent", tmp_path / "links")
    with pytest.raises(error, match=r"model folder .*: no hyperparams\.yaml in it"):
        test_breakdown.load_published(tmp_path, tmp_path / "links")
    with pytest.raises(error, match=r"--gtcrn .*gtcrn\.pt: not found; expected GTCRN's published weights"):
        test_breakdown.load_gtcrn(tmp_path / "gtcrn.pt")
    # The script checks every input before it enhances anything, and exits with the message.
    with pytest.raises(SystemExit, match=r"^test_breakdown\.py: model folder .*absent: not found"):
        test_breakdown.main([str(SHIPPED), str(tmp_path / "absent"), "--split", str(split), "--noprogressbar"])
    with pytest.raises(SystemExit, match=r"^test_breakdown\.py: split .*nowhere\.json: not found"):
        test_breakdown.main([str(SHIPPED), "--split", str(tmp_path / "nowhere.json")])
    with pytest.raises(SystemExit):
        test_breakdown.main(["--split", str(split)])
    assert "give at least one model folder or --gtcrn" in capsys.readouterr().err


def test_the_scripts_examples_hold():
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    for module in (test_breakdown, breakdown_tables):
        assert doctest.testmod(module, optionflags=flags).failed == 0
