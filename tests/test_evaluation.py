"""Tests of speechbrain_atkl.evaluation: metrics, DNSMOS, scoring, report and CLI."""

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from scipy.signal import resample_poly

from speechbrain_atkl.evaluation import (
    DNSMOS,
    UnscorableError,
    estoi,
    pair_folders,
    pesq_wb,
    score_utterances,
    si_snr,
    si_snr_improvement,
    stoi,
    write_report,
)
from speechbrain_atkl.evaluation import metrics as metrics_module
from speechbrain_atkl.data.audio import load_audio
from speechbrain_atkl.evaluation.cli import main

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REFERENCE = DATA / "reference"
CORPUS_CLEAN = DATA / "corpus" / "clean"
CORPUS_NOISE = DATA / "corpus" / "noise"
SR = 16000
CLIP = int(4.6 * SR)  # doubled to 9.2 s by DNSMOS: a single 9.01 s segment

needs_reference = pytest.mark.skipif(
    not (REFERENCE / "pesq_speech.wav").is_file(),
    reason=f"reference audio not found in {REFERENCE}",
)
needs_corpus = pytest.mark.skipif(
    not CORPUS_CLEAN.is_dir() or not CORPUS_NOISE.is_dir(),
    reason=f"audio corpus not found in {DATA / 'corpus'}",
)


@pytest.fixture
def reference_pair(tmp_path):
    """The pesq project's clean/noisy pair, copied to tmp_path and read back."""
    wavs = []
    for name in ("pesq_speech.wav", "pesq_speech_bab_0dB.wav"):
        shutil.copy(REFERENCE / name, tmp_path / name)
        wavs.append(load_audio(tmp_path / name).double().numpy())
    return wavs


@needs_reference
def test_pesq_wb_reference_pair(reference_pair):
    clean, noisy = reference_pair
    assert pesq_wb(noisy, clean) == pytest.approx(1.0832337, abs=1e-4)
    assert pesq_wb(clean, clean) > 4.5


@needs_reference
def test_dnsmos_anchor(reference_pair):
    scores = DNSMOS()(reference_pair[0])
    expected = {"sig": 3.552, "bak": 4.048, "ovrl": 3.246, "p808": 3.951}
    for name, value in expected.items():
        assert scores[name] == pytest.approx(value, abs=5e-3), name


def test_si_snr_matches_direct_numpy():
    rng = np.random.default_rng(3)
    reference = rng.standard_normal(8000) + 0.3
    estimate = 0.5 * reference + 0.2 * rng.standard_normal(8000) - 1.0
    s = reference - reference.mean()
    e = estimate - estimate.mean()
    target = np.dot(e, s) / np.dot(s, s) * s
    expected = 10 * np.log10(np.sum(target**2) / np.sum((e - target) ** 2))
    assert si_snr(estimate, reference) == pytest.approx(expected, abs=1e-6)
    # Scale invariant, and torch tensors are accepted.
    assert si_snr(torch.from_numpy(7 * estimate), reference) == pytest.approx(
        expected, abs=1e-6
    )


def test_si_snr_improvement_sign():
    rng = np.random.default_rng(4)
    clean = rng.standard_normal(8000)
    noise = rng.standard_normal(8000)
    noisy = clean + noise
    assert si_snr_improvement(clean + 0.1 * noise, clean, noisy) > 10
    assert si_snr_improvement(clean + 3 * noise, clean, noisy) < -5
    assert si_snr_improvement(noisy, clean, noisy) == 0.0


SPEECHLIKE = np.random.default_rng(5).standard_normal(SR)
BAD_INPUTS = {
    "silent reference": (SPEECHLIKE, np.zeros(SR), "reference is silent"),
    "silent estimate": (np.zeros(SR), SPEECHLIKE, "estimate is silent"),
    "short": (SPEECHLIKE[:3000], SPEECHLIKE[:3000], "too short: 0.188 s < 0.25 s"),
    "nan": (np.where(np.arange(SR) == 9, np.nan, SPEECHLIKE), SPEECHLIKE, "NaN or Inf"),
    "inf": (SPEECHLIKE, np.where(np.arange(SR) == 9, np.inf, SPEECHLIKE), "NaN or Inf"),
    "length mismatch": (SPEECHLIKE[:-1], SPEECHLIKE, "length mismatch"),
}


@pytest.mark.parametrize("metric", [pesq_wb, stoi, estoi, si_snr])
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_unscorable_inputs_give_reason(metric, case):
    estimate, reference, reason = BAD_INPUTS[case]
    with pytest.raises(UnscorableError, match=reason):
        metric(estimate, reference)


def test_pesq_failure_becomes_unscorable(monkeypatch):
    def failing_pesq(*args):
        raise metrics_module.pesq_package.NoUtterancesError("No utterances detected")

    monkeypatch.setattr(metrics_module.pesq_package, "pesq", failing_pesq)
    with pytest.raises(UnscorableError, match="PESQ failed: NoUtterancesError"):
        pesq_wb(SPEECHLIKE, SPEECHLIKE)


def test_stoi_too_little_speech_is_unscorable():
    burst = np.zeros(SR)
    burst[:1600] = SPEECHLIKE[:1600]  # 0.1 s of signal, then digital silence
    with pytest.raises(UnscorableError, match="too little speech"):
        stoi(burst, burst)


@pytest.fixture(scope="module")
def dns_folders(tmp_path_factory):
    """A small DNS-2020-like test set with good, bad and unpaired files.

    fileid_0: good; fileid_1: good, enhanced saved at 48 kHz in stereo;
    fileid_2: silent enhanced file; fileid_3: enhanced file of 0.1 s;
    fileid_4: no enhanced file; fileid_9: enhanced file without reference.
    """
    if not CORPUS_CLEAN.is_dir() or not CORPUS_NOISE.is_dir():
        pytest.skip(f"audio corpus not found in {DATA / 'corpus'}")
    root = tmp_path_factory.mktemp("dns")
    for name in ("clean", "noisy", "enhanced"):
        (root / name).mkdir()
    speech = [
        soundfile.read(path)[0]
        for path in sorted(CORPUS_CLEAN.glob("*.wav"))
        if soundfile.info(path).frames >= CLIP
    ][:5]
    noise = soundfile.read(sorted(CORPUS_NOISE.glob("*.wav"))[0])[0][: 5 * CLIP]
    for k, clean in enumerate(speech):
        clean = clean[:CLIP]
        part = noise[k * CLIP : (k + 1) * CLIP]
        part = part * np.std(clean) / np.std(part) * 10 ** (-5 / 20)
        noisy_name = f"book_0{k}_snr5_fileid_{k}.wav"
        soundfile.write(root / "clean" / f"clean_fileid_{k}.wav", clean, SR)
        soundfile.write(root / "noisy" / noisy_name, clean + part, SR)
        enhanced = clean + 0.2 * part
        if k == 0:
            soundfile.write(root / "enhanced" / noisy_name, enhanced, SR)
        elif k == 1:
            upsampled = resample_poly(enhanced, 3, 1)
            soundfile.write(
                root / "enhanced" / noisy_name, np.stack([upsampled] * 2, axis=1), 48000
            )
        elif k == 2:
            soundfile.write(root / "enhanced" / noisy_name, np.zeros(CLIP), SR)
        elif k == 3:
            soundfile.write(root / "enhanced" / noisy_name, enhanced[:1600], SR)
    unpaired = root / "enhanced" / "book_09_snr5_fileid_9.wav"
    soundfile.write(unpaired, speech[0][:CLIP], SR)
    return root


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_pair_folders_by_fileid(dns_folders):
    pairing = pair_folders(
        dns_folders / "enhanced", dns_folders / "clean", dns_folders / "noisy"
    )
    assert [item["id"] for item in pairing.items] == [
        f"book_0{k}_snr5_fileid_{k}" for k in range(4)
    ]
    assert all(
        item["clean"].name == f"clean_fileid_{k}.wav"
        for k, item in enumerate(pairing.items)
    )
    missing = dict(pairing.missing)
    assert "no clean file" in missing["book_09_snr5_fileid_9"]
    assert "no enhanced file" in missing["clean_fileid_4"]


def test_pair_folders_by_relative_name(tmp_path):
    for folder in ("enh/sub", "ref/sub"):
        (tmp_path / folder).mkdir(parents=True)
    soundfile.write(tmp_path / "enh/sub/utt.flac", SPEECHLIKE, SR)
    soundfile.write(tmp_path / "ref/sub/utt.wav", SPEECHLIKE, SR)
    pairing = pair_folders(tmp_path / "enh", tmp_path / "ref")
    assert pairing.missing == []
    assert pairing.items[0]["id"] == "sub/utt"
    assert pairing.items[0]["clean"] == tmp_path / "ref/sub/utt.wav"


@needs_corpus
def test_cli_scores_folder_end_to_end(dns_folders, tmp_path, capsys):
    out = tmp_path / "report"
    status = main(
        [
            "--enhanced",
            str(dns_folders / "enhanced"),
            "--clean",
            str(dns_folders / "clean"),
            "--noisy",
            str(dns_folders / "noisy"),
            "--output",
            str(out),
            "--num-workers",
            "0",
            "--no-progress",
        ]
    )
    assert status == 0
    assert "| pesq_wb |" in capsys.readouterr().out
    assert not list(out.glob("*.partial"))

    rows = read_csv(out / "per_utterance.csv")
    good = ["book_00_snr5_fileid_0", "book_01_snr5_fileid_1"]
    assert [(r["id"], r["system"]) for r in rows] == [
        (utt, system) for utt in good for system in ("noisy", "enhanced")
    ]
    for row in rows:
        values = {k: float(v) for k, v in row.items() if k not in ("id", "system")}
        assert 1.0 < values["pesq_wb"] < 4.65 and 1.0 < values["dnsmos_ovrl"] < 5.0
        if row["system"] == "enhanced":
            assert values["si_snr_i"] > 5  # noise scaled by 0.2: about +14 dB
        else:
            assert values["si_snr_i"] == 0.0

    summary = {(r["system"], r["metric"]): r for r in read_csv(out / "summary.csv")}
    assert {r["count"] for r in summary.values()} == {"2"}
    pesq_enhanced = [float(r["pesq_wb"]) for r in rows if r["system"] == "enhanced"]
    assert float(summary["enhanced", "pesq_wb"]["mean"]) == pytest.approx(
        np.mean(pesq_enhanced)
    )
    assert float(summary["enhanced", "pesq_wb"]["mean"]) > float(
        summary["noisy", "pesq_wb"]["mean"]
    )

    skipped = {r["id"]: r["reason"] for r in read_csv(out / "skipped.csv")}
    assert set(skipped) == {
        "book_02_snr5_fileid_2",
        "book_03_snr5_fileid_3",
        "book_09_snr5_fileid_9",
        "clean_fileid_4",
    }
    assert "enhanced is silent" in skipped["book_02_snr5_fileid_2"]
    assert "enhanced is too short" in skipped["book_03_snr5_fileid_3"]
    assert "enhanced is silent" in (out / "summary.md").read_text()


@needs_corpus
def test_parallel_scoring_matches_serial(dns_folders):
    items = pair_folders(
        dns_folders / "enhanced", dns_folders / "clean", dns_folders / "noisy"
    ).items
    items = [items[0], items[2], items[3]]  # one good, one silent, one short
    metrics = ["pesq_wb", "estoi", "si_snr_i", "dnsmos_ovrl", "dnsmos_p808"]
    # One ONNX thread in both runs, so that DNSMOS sums in the same order.
    serial = score_utterances(items, metrics, 0, dnsmos_threads=1, progress=False)
    parallel = score_utterances(items, metrics, 2, dnsmos_threads=1, progress=False)
    assert parallel.skipped == serial.skipped and len(serial.skipped) == 2
    assert len(serial.rows) == 2
    for a, b in zip(serial.rows, parallel.rows):
        assert a == pytest.approx(b, rel=1e-6)


def test_score_tensors_from_a_brain(tmp_path):
    """In-memory tensors, no noisy input: only the enhanced system is reported."""
    rng = np.random.default_rng(6)
    clean = torch.from_numpy(rng.standard_normal(SR))
    items = [
        {"id": f"utt{k}", "enhanced": clean + 0.1 * k * torch.randn(SR), "clean": clean}
        for k in range(1, 4)
    ]
    items.append({"id": "nan", "enhanced": clean * float("nan"), "clean": clean})
    garbage = tmp_path / "garbage.wav"
    garbage.write_text("not audio")
    items.append({"id": "garbage", "enhanced": garbage, "clean": clean})
    results = score_utterances(items, metrics=["si_snr"], progress=False)
    summary = write_report(results, tmp_path)
    assert results.systems == ["enhanced"]
    assert summary["enhanced"]["si_snr"]["count"] == 3
    assert results.skipped[0] == ("nan", "enhanced contains NaN or Inf samples")
    assert results.skipped[1][1].startswith(f"cannot read enhanced file {garbage}")
    with pytest.raises(ValueError, match="si_snr_i needs the noisy input"):
        score_utterances(items, metrics=["si_snr_i"], progress=False)


def test_cli_missing_folder_is_named(tmp_path, capsys):
    missing = tmp_path / "does_not_exist"
    (tmp_path / "enhanced").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "--enhanced",
                str(tmp_path / "enhanced"),
                "--clean",
                str(missing),
                "--output",
                str(tmp_path / "out"),
            ]
        )
    assert exit_info.value.code == 2
    assert f"clean folder not found: {missing}" in capsys.readouterr().err


def test_recipe_script_reports_missing_folder(tmp_path):
    missing = tmp_path / "no_enhanced"
    process = subprocess.run(
        [
            sys.executable,
            str(REPO / "recipes" / "DNS" / "evaluate.py"),
            "--enhanced",
            str(missing),
            "--clean",
            str(tmp_path),
            "--output",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert process.returncode == 2
    assert f"enhanced folder not found: {missing}" in process.stderr
