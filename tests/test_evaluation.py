"""Tests of speechbrain_atkl.evaluation: metrics, DNSMOS, scoring, report and CLI."""

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from scipy.signal import resample_poly

from speechbrain_atkl.data.audio import load_audio
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
    scored = [f"book_0{k}_snr5_fileid_{k}" for k in range(4)]
    assert [(r["id"], r["system"]) for r in rows] == [
        (utt, system) for utt in scored for system in ("noisy", "enhanced")
    ]
    for row in rows:
        values = {k: float(v) for k, v in row.items() if k not in ("id", "system", "failed")}
        if row["failed"]:  # the silent and the too short outputs: worst scores
            assert row["system"] == "enhanced" and values["pesq_wb"] == 1.0
            assert values["si_snr"] == metrics_module.WORST_SCORES["si_snr"]
            continue
        assert 1.0 < values["pesq_wb"] < 4.65 and 1.0 < values["dnsmos_ovrl"] < 5.0
        if row["system"] == "enhanced":
            assert values["si_snr_i"] > 5  # noise scaled by 0.2: about +14 dB
        else:
            assert values["si_snr_i"] == 0.0
    failed = {r["id"]: r["failed"] for r in rows if r["system"] == "enhanced"}
    assert "enhanced is silent" in failed["book_02_snr5_fileid_2"]
    assert "enhanced is too short" in failed["book_03_snr5_fileid_3"]

    summary = {(r["system"], r["metric"]): r for r in read_csv(out / "summary.csv")}
    assert {r["count"] for r in summary.values()} == {"4"}
    assert summary["enhanced", "pesq_wb"]["failed"] == "2" and summary["noisy", "pesq_wb"]["failed"] == "0"
    pesq_enhanced = [float(r["pesq_wb"]) for r in rows if r["system"] == "enhanced"]
    assert float(summary["enhanced", "pesq_wb"]["mean"]) == pytest.approx(
        np.mean(pesq_enhanced)
    )

    skipped = {r["id"]: r["reason"] for r in read_csv(out / "skipped.csv")}
    assert set(skipped) == {"book_09_snr5_fileid_9", "clean_fileid_4"}
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
    assert parallel.skipped == serial.skipped == [] and parallel.lost == []
    assert len(serial.rows) == 6 and sum(bool(row["failed"]) for row in serial.rows) == 2
    for a, b in zip(serial.rows, parallel.rows):
        assert a["failed"] == b["failed"]
        assert {m: a[m] for m in metrics} == pytest.approx({m: b[m] for m in metrics}, rel=1e-6)


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
    assert results.systems == ["enhanced"] and results.skipped == []
    assert summary["enhanced"]["si_snr"]["count"] == 5
    assert summary["enhanced"]["si_snr"]["failed"] == 2
    failed = {row["id"]: row["failed"] for row in results.rows}
    assert failed["nan"] == {"si_snr": "enhanced contains NaN or Inf samples"}
    assert failed["garbage"]["si_snr"].startswith(f"cannot read enhanced file {garbage}")
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


def test_evaluation_command_reports_missing_folder(tmp_path):
    missing = tmp_path / "no_enhanced"
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "speechbrain_atkl.evaluation",
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
        cwd=REPO,
    )
    assert process.returncode == 2
    assert f"enhanced folder not found: {missing}" in process.stderr


def _write_pair_folders(root, names, clean_names=None):
    """Enhanced and clean folders of speech-like files named ``names``."""
    clean_names = names if clean_names is None else clean_names
    for folder, folder_names in (("enhanced", names), ("clean", clean_names)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for name in folder_names:
            soundfile.write(root / folder / name, SPEECHLIKE * 0.1, SR)
    return root / "enhanced", root / "clean"


def _cli(enhanced, clean, output, *extra):
    return main(
        ["--enhanced", str(enhanced), "--clean", str(clean), "--output", str(output),
         "--metrics", "si_snr", "--num-workers", "0", "--no-progress", *extra]
    )


@pytest.mark.parametrize("case", ["no pairs", "empty clean folder", "silent references"])
def test_cli_fails_when_nothing_was_scored(tmp_path, capsys, case):
    if case == "no pairs":
        enhanced, clean = _write_pair_folders(tmp_path, ["a.wav"], ["b.wav"])
    elif case == "empty clean folder":
        enhanced, clean = _write_pair_folders(tmp_path, ["a.wav"], [])
    else:
        enhanced, clean = _write_pair_folders(tmp_path, ["a.wav", "b.wav"])
        for path in clean.iterdir():
            soundfile.write(path, np.zeros(SR), SR)
    status = _cli(enhanced, clean, tmp_path / "out")
    assert status != 0
    assert "no utterance was scored" in capsys.readouterr().err


def test_failed_outputs_count_against_the_system(tmp_path):
    """NaN/silent/short outputs get the worst score in every row's mean; bad references are excluded."""
    rng = np.random.default_rng(7)
    clean = [rng.standard_normal(SR) for _ in range(5)]
    noisy = [c + rng.standard_normal(SR) for c in clean]
    enhanced = [c + 0.1 * rng.standard_normal(SR) for c in clean]
    enhanced[1] = np.full(SR, np.nan)          # the system failed
    enhanced[2] = np.zeros(SR)                 # the system output silence
    enhanced[3] = enhanced[3][: SR // 2]       # the system output the wrong length
    clean[4] = np.zeros(SR)                    # a problem of the reference data
    items = [
        {"id": f"u{k}", "enhanced": e, "clean": c, "noisy": n}
        for k, (e, c, n) in enumerate(zip(enhanced, clean, noisy))
    ]
    results = score_utterances(items, metrics=["si_snr", "si_snr_i", "stoi"], progress=False)
    assert [utt for utt, _ in results.skipped] == ["u4"]
    summary = write_report(results, tmp_path)
    for system in ("noisy", "enhanced"):
        assert {row["id"] for row in results.rows if row["system"] == system} == {"u0", "u1", "u2", "u3"}
        assert summary[system]["si_snr"]["count"] == 4
    assert summary["noisy"]["si_snr"]["failed"] == 0
    assert summary["enhanced"]["si_snr"]["failed"] == 3
    worst = metrics_module.WORST_SCORES
    good_si_snr = si_snr(enhanced[0], clean[0])
    assert summary["enhanced"]["si_snr"]["mean"] == pytest.approx((good_si_snr + 3 * worst["si_snr"]) / 4)
    assert summary["enhanced"]["stoi"]["mean"] < 0.3
    table = (tmp_path / "summary.md").read_text()
    assert "(3 failed)" in table and "enhanced contains NaN or Inf samples" in table
    rows = read_csv(tmp_path / "per_utterance.csv")
    failed = {row["id"]: row["failed"] for row in rows if row["system"] == "enhanced"}
    assert failed["u0"] == "" and "length mismatch" in failed["u3"]
    assert {(r["system"], r["metric"]): r["failed"] for r in read_csv(tmp_path / "summary.csv")}[
        "enhanced", "si_snr"
    ] == "3"


class _DiesWhenUnpickled(str):
    """A file name whose unpickling ends the worker process, as an out-of-memory kill would."""

    def __reduce__(self):
        import os

        return (os._exit, (3,))


def test_dead_worker_keeps_scores_and_reports_lost_items(tmp_path, monkeypatch, capsys):
    from speechbrain_atkl.evaluation import cli
    from speechbrain_atkl.evaluation.pairing import Pairing

    clean = SPEECHLIKE
    items = [{"id": "good", "enhanced": clean + 0.1, "clean": clean}]
    items.append({"id": "killer", "enhanced": _DiesWhenUnpickled("x.wav"), "clean": clean})
    results = score_utterances(items, metrics=["si_snr"], num_workers=2, progress=False)
    lost = dict(results.lost)
    assert "killer" in lost and "worker process died" in lost["killer"]
    assert {row["id"] for row in results.rows} | set(lost) == {"good", "killer"}

    monkeypatch.setattr(cli, "pair_folders", lambda *args: Pairing(items=items))
    status = main(["--enhanced", "e", "--clean", "c", "--output", str(tmp_path / "out"),
                   "--metrics", "si_snr", "--num-workers", "2", "--no-progress"])
    assert status != 0
    assert "killer" in (tmp_path / "out" / "skipped.csv").read_text()
    assert "lost" in capsys.readouterr().err


def test_cli_checks_output_before_scoring(tmp_path, monkeypatch, capsys):
    from speechbrain_atkl.evaluation import cli

    enhanced, clean = _write_pair_folders(tmp_path, ["a.wav"])
    output = tmp_path / "report.txt"
    output.write_text("a file, not a folder")
    monkeypatch.setattr(cli, "score_utterances", lambda *a, **k: pytest.fail("scored before checking --output"))
    with pytest.raises(SystemExit) as exit_info:
        _cli(enhanced, clean, output)
    assert exit_info.value.code == 2
    assert f"--output {output} is an existing file" in capsys.readouterr().err


def test_any_file_name_scores_and_reports(tmp_path, capsys):
    names = ["a b.wav", "-leading dash.wav", 'comma, "quote".wav', "new\nline.wav", "é 😀.flac"]
    enhanced, clean = _write_pair_folders(tmp_path, names)
    assert _cli(enhanced, clean, tmp_path / "out dir, odd") == 0
    rows = read_csv(tmp_path / "out dir, odd" / "per_utterance.csv")
    assert sorted(row["id"] for row in rows) == sorted(name.rsplit(".", 1)[0] for name in names)
    # Names that are not valid UTF-8 (allowed on Linux) are written back byte for byte.
    odd = os.fsdecode(b"caf\xe9")
    results = score_utterances([{"id": odd, "enhanced": SPEECHLIKE, "clean": SPEECHLIKE}], ["si_snr"],
                               progress=False)
    write_report(results, tmp_path / "bytes")
    assert b"caf\xe9," in (tmp_path / "bytes" / "per_utterance.csv").read_bytes()


@needs_corpus
def test_scorer_gives_the_plain_metric_calls_bits_on_real_speech():
    """Shared reading/resampling changes no bit: rows equal pesq/pystoi called directly."""
    import pesq
    import pystoi

    from speechbrain_atkl.evaluation.utterance_scorer import UtteranceScorer

    clean = soundfile.read(sorted(CORPUS_CLEAN.glob("*.wav"))[0])[0][: 2 * SR]
    noise = soundfile.read(sorted(CORPUS_NOISE.glob("*.wav"))[0])[0][: 2 * SR]
    noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2))
    noisy, enhanced = clean + noise, clean + 0.2 * noise
    metrics = ["pesq_wb", "stoi", "estoi", "si_snr", "si_snr_i"]
    np.random.seed(0)  # eSTOI adds eps-scaled random numbers: same draws in both runs
    rows = UtteranceScorer(metrics)({"id": "u", "enhanced": enhanced, "clean": clean,
                                     "noisy": noisy})
    np.random.seed(0)
    for row, wav in zip(rows, (noisy, enhanced)):
        assert row["failed"] == {}
        assert row["pesq_wb"] == pesq.pesq(SR, clean, wav, "wb")
        assert row["stoi"] == pystoi.stoi(clean, wav, SR)
        assert row["estoi"] == pystoi.stoi(clean, wav, SR, extended=True)
        assert row["si_snr"] == si_snr(wav, clean)
        assert row["si_snr_i"] == si_snr_improvement(wav, clean, noisy)
    assert rows[0]["pesq_wb"] < rows[1]["pesq_wb"]


def test_each_signal_is_resampled_and_dnsmos_scored_once(monkeypatch):
    from speechbrain_atkl.evaluation import utterance_scorer

    calls = []

    def counting_resample(wav):
        calls.append(("resample", len(wav)))
        return metrics_module.stoi_resample(wav)

    def fake_dnsmos(wav):
        calls.append(("dnsmos", len(wav)))
        return {"sig": 1.5, "bak": 2.5, "ovrl": 3.5, "p808": float(len(wav))}

    monkeypatch.setattr(utterance_scorer, "stoi_resample", counting_resample)
    scorer = utterance_scorer.UtteranceScorer(["stoi", "estoi", "dnsmos_ovrl", "dnsmos_p808"])
    scorer.dnsmos = fake_dnsmos
    lengths = {"clean": SR, "noisy": SR, "enhanced": SR}
    item = {name: SPEECHLIKE[:n] + 0.01 * i for i, (name, n) in enumerate(lengths.items())}
    for _ in range(2):  # a second item gets fresh computations, not the first one's
        rows = scorer({"id": "u", **item})
        assert [row["dnsmos_ovrl"] for row in rows] == [3.5, 3.5]
    assert sorted(calls) == sorted(2 * [("resample", SR)] * 3 + 2 * [("dnsmos", SR)] * 2)


def test_worker_environment_is_single_threaded_and_restored(monkeypatch):
    from speechbrain_atkl.evaluation.scoring import WORKER_THREADS_ENV, _worker_environment

    names = sorted(WORKER_THREADS_ENV)
    monkeypatch.setenv(names[0], "7")
    for name in names[1:]:
        monkeypatch.delenv(name, raising=False)
    with _worker_environment():
        assert all(os.environ[name] == "1" for name in names)
    assert os.environ[names[0]] == "7"
    assert not any(name in os.environ for name in names[1:])


@needs_corpus
def test_scoring_benchmark_builds_triples_and_compares_reports(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("scoring_bench", REPO / "benchmarks" / "scoring.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.build_triples(DATA, tmp_path / "t", count=2, seconds=1.5)
    clean, noisy = (soundfile.read(tmp_path / "t" / k / "u0001.wav")[0] for k in ("clean", "noisy"))
    assert clean.shape == noisy.shape == (int(1.5 * SR),)
    assert 3 < si_snr(noisy, clean) < 7  # mixed at 5 dB (16-bit rounding aside)
    results = score_utterances(
        [{"id": "a", "enhanced": noisy, "clean": clean}], metrics=["si_snr"], progress=False
    )
    write_report(results, tmp_path / "new")
    write_report(results, tmp_path / "old")
    assert bench.compare_reports(tmp_path / "new", tmp_path / "old") == ({"si_snr": 0.0}, True)


def test_report_on_a_full_disk_names_the_file_and_leaves_no_partial(tmp_path, monkeypatch, capsys):
    import errno

    enhanced, clean = _write_pair_folders(tmp_path, ["a.wav"])
    write_text = Path.write_text

    def full_disk(self, text, *args, **kwargs):
        if self.name.endswith(".partial"):
            write_text(self, text[: len(text) // 2], *args, **kwargs)
            raise OSError(errno.ENOSPC, "No space left on device")
        return write_text(self, text, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_disk)
    assert _cli(enhanced, clean, tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert str(tmp_path / "out" / "per_utterance.csv") in err and "disk full" in err
    assert [p.name for p in (tmp_path / "out").iterdir()] == []


def test_an_output_resampled_from_22k_is_scored_against_its_16k_reference(tmp_path):
    """22.05 kHz and back rounds 16007 samples up to 16008: a correct output is not a failed one."""
    from speechbrain_atkl.data.resample import resample

    rng = np.random.default_rng(11)
    clean = 0.1 * rng.standard_normal(16007)
    enhanced = clean + 0.001 * rng.standard_normal(16007)
    soundfile.write(tmp_path / "clean.wav", clean, SR, subtype="FLOAT")
    soundfile.write(tmp_path / "noisy.wav", clean + 0.05 * rng.standard_normal(16007), SR, subtype="FLOAT")
    at_22k = resample(torch.from_numpy(enhanced).float(), SR, 22050).numpy()
    soundfile.write(tmp_path / "enhanced.wav", at_22k, 22050, subtype="FLOAT")
    soundfile.write(tmp_path / "short.wav", at_22k[:-100], 22050, subtype="FLOAT")
    assert load_audio(tmp_path / "enhanced.wav").shape[0] == 16008
    items = [{"id": name, "enhanced": tmp_path / f"{name}.wav", "clean": tmp_path / "clean.wav",
              "noisy": tmp_path / "noisy.wav"} for name in ("enhanced", "short")]
    rows = score_utterances(items, metrics=["si_snr", "stoi"], progress=False).rows
    scored = {row["id"]: row for row in rows if row["system"] == "enhanced"}
    assert scored["enhanced"]["failed"] == {} and scored["enhanced"]["si_snr"] > 10  # worst: -50
    assert "length mismatch" in scored["short"]["failed"]["si_snr"]


def test_integer_samples_are_refused_and_one_metric_may_be_named_alone():
    clean = 0.1 * SPEECHLIKE
    with pytest.raises(TypeError, match="enhanced of 'a': expected floating-point samples.*int16"):
        score_utterances([{"id": "a", "enhanced": (clean * 32767).astype(np.int16), "clean": clean}],
                         metrics=["si_snr"], progress=False)
    rows = score_utterances([{"id": "a", "enhanced": clean, "clean": clean}], metrics="si_snr", progress=False).rows
    assert list(rows[0]) == ["id", "system", "failed", "si_snr"]
