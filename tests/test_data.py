"""Tests of speechbrain_atkl.data: audio I/O, preparation, mixing, shards, demo corpus."""

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import webdataset as wds
from speechbrain.dataio.batch import PaddedBatch

from speechbrain_atkl.data import (
    AudioError,
    DynamicMixingDataset,
    audio_info,
    audio_writer,
    detect_layout,
    load_audio,
    mix_at_snr,
    paired_dataset,
    prepare_dns,
    read_preparation,
    save_audio,
)
from speechbrain_atkl.data.demo import create_demo_corpus
from speechbrain_atkl.data.webdataset import DNSShardDataset, shard_dataset

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def write(path, seconds, sample_rate=16000, channels=1, seed=0):
    """Writes a random, amplitude-modulated test signal (raw soundfile)."""
    rng = np.random.default_rng(seed)
    frames = int(seconds * sample_rate)
    envelope = 0.5 + 0.5 * np.sin(np.linspace(0, 20, frames))
    data = 0.1 * rng.standard_normal((frames, channels)) * envelope[:, None]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data.squeeze(), sample_rate)
    return path


def write_corrupt(path):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(b"RIFF\x10\x00\x00\x00WAVEnot really audio")
    return Path(path)


def write_empty(path):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.zeros(0), 16000)
    return Path(path)


def snr_db(clean, noisy):
    return float(10 * torch.log10(clean.pow(2).sum() / (noisy - clean).pow(2).sum()))


# ------------------------------------------------------------------- audio I/O


def test_load_audio_errors_name_the_file(tmp_path):
    nan_file = tmp_path / "nan.wav"
    sf.write(str(nan_file), np.array([0.1, np.nan, 0.2] * 100), 16000, subtype="FLOAT")
    cases = {
        tmp_path / "missing.wav": "no such audio file",
        write_corrupt(tmp_path / "corrupt.wav"): "not a readable audio file",
        write_empty(tmp_path / "empty.wav"): "zero length",
        nan_file: "NaN or infinite",
    }
    for path, reason in cases.items():
        with pytest.raises(AudioError, match=reason) as error:
            load_audio(path)
        assert str(path) in str(error.value)
        assert isinstance(error.value, ValueError)
    with pytest.raises(AudioError, match="corrupt.wav"):
        audio_info(tmp_path / "corrupt.wav")


def test_load_audio_resamples_and_averages_channels(tmp_path):
    t = np.arange(48000) / 48000
    tone = 0.4 * np.sin(2 * np.pi * 440 * t)
    path = tmp_path / "stereo48k.flac"
    sf.write(str(path), np.stack([tone, np.zeros_like(tone)], axis=1), 48000)
    assert audio_info(path) == (48000, 48000, 2, 1.0)
    wav = load_audio(path)
    assert wav.shape == (16000,) and wav.dtype == torch.float32
    expected = 0.2 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    assert np.abs(wav.numpy()[100:-100] - expected[100:-100]).max() < 1e-2
    # A segment counted at the output rate, read without the rest of the file.
    segment = load_audio(path, start=8000, frames=1600)
    assert segment.shape == (1600,)
    assert np.abs(segment.numpy()[50:-50] - expected[8050:9550]).max() < 1e-2


def test_load_audio_segment_matches_full_read(tmp_path):
    path = write(tmp_path / "a.wav", 1.0)
    full = load_audio(path)
    assert torch.equal(load_audio(path, start=1234, frames=500), full[1234:1734])
    assert load_audio(path, start=15900, frames=500).shape == (100,)  # file ends first
    with pytest.raises(AudioError, match="no samples from sample 20000"):
        load_audio(path, start=20000, frames=10)


def test_save_audio_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "out" / "x.wav"
    save_audio(target, torch.full((2, 160), 0.25), 16000)
    assert audio_info(target).channels == 2
    assert np.allclose(sf.read(str(target))[0], 0.25, atol=1e-4)

    def interrupted(path, *args, **kwargs):
        Path(os.fsdecode(path)).write_bytes(b"RIFF half-written")  # save_audio passes bytes paths
        raise KeyboardInterrupt

    monkeypatch.setattr(audio_writer.sf, "write", interrupted)
    other = tmp_path / "out" / "y.wav"
    with pytest.raises(KeyboardInterrupt):
        save_audio(other, torch.zeros(160), 16000)
    with pytest.raises(KeyboardInterrupt):
        save_audio(target, torch.zeros(160), 16000)
    assert not other.exists()
    assert np.allclose(sf.read(str(target))[0], 0.25, atol=1e-4)  # old file intact
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.wav"]
    with pytest.raises(ValueError, match="NaN"):
        save_audio(tmp_path / "bad.wav", torch.tensor([0.0, float("nan")]), 16000)


# ----------------------------------------------------------------- preparation


def make_dns2020(root):
    """A tiny DNS-2020 tree with a corrupt, an empty, a 48 kHz and a stereo file."""
    data = root / "datasets"
    for i in range(6):
        write(data / "clean" / f"book_{i:02d}_reader_{i}.wav", 1.0 + 0.2 * i, seed=i)
    write(data / "clean" / "book_48k.wav", 1.5, sample_rate=48000, seed=10)
    write(data / "clean" / "book_stereo.wav", 1.5, channels=2, seed=11)
    write_corrupt(data / "clean" / "book_corrupt.wav")
    (data / "clean" / "README.txt").write_text("not audio, ignored")
    for i in range(4):
        write(data / "noise" / f"noise_{i}.wav", 0.7 + i, seed=20 + i)
    write_empty(data / "noise" / "noise_empty.wav")
    write(data / "impulse_responses" / "SLR26" / "room1" / "rir_a.wav", 0.2, seed=30)
    write(data / "impulse_responses" / "rir_b.wav", 0.3, seed=31)
    for subset, ids in (("no_reverb", (3, 12)), ("with_reverb", (5,))):
        folder = data / "test_set" / "synthetic" / subset
        for n in ids:
            write(folder / "clean" / f"clean_fileid_{n}.wav", 1.0, seed=40 + n)
            write(folder / "noisy" / f"book_x_snr5_tl-25_fileid_{n}.wav", 1.0, seed=60 + n)
    write(data / "test_set" / "synthetic" / "no_reverb" / "noisy" / "lonely_fileid_99.wav", 1.0)
    return root


def test_prepare_dns2020(tmp_path, caplog):
    corpus = make_dns2020(tmp_path / "DNS")
    save = tmp_path / "prepared"
    with caplog.at_level(logging.WARNING):
        record = prepare_dns(
            corpus,
            save,
            test_subsets=("no_reverb", "with_reverb"),
            valid_count=3,
            valid_seconds=1.0,
            valid_fraction=0.25,
        )
    assert record["layout"] == "dns2020" and record["training"] == "dynamic_mixing"
    assert record == read_preparation(save)
    manifests = {k: json.loads(Path(v).read_text()) for k, v in record["manifests"].items()}
    assert set(manifests) == {"train_clean", "train_noise", "train_rir", "valid", "test"}
    # 8 usable clean files (corrupt skipped), 2 held out; 4 usable noises, 1 held out.
    assert len(manifests["train_clean"]) == 6 and len(manifests["train_noise"]) == 3
    assert "book_corrupt" not in manifests["train_clean"]
    assert set(manifests["train_rir"]) == {"SLR26__room1__rir_a", "rir_b"}
    assert set(manifests["test"]) == {
        "no_reverb_fileid_3",
        "no_reverb_fileid_12",
        "with_reverb_fileid_5",
    }
    pair = manifests["test"]["no_reverb_fileid_12"]
    assert pair["clean_wav"].endswith("clean_fileid_12.wav")
    assert pair["noisy_wav"].endswith("book_x_snr5_tl-25_fileid_12.wav")

    # The validation set is mixed once, from held-out files only.
    valid = manifests["valid"]
    assert len(valid) == 3
    held_clean = {v["clean_source"] for v in valid.values()}
    assert not held_clean & set(manifests["train_clean"])
    for item in valid.values():
        assert audio_info(item["noisy_wav"]).frames == 16000
        assert Path(item["clean_wav"]).is_file()

    report = json.loads((save / "preparation_report.json").read_text())
    skipped = {Path(item["file"]).name for item in report["skipped"]}
    assert skipped == {"book_corrupt.wav", "noise_empty.wav"}
    assert report["resampled_at_load"]["count"] == 1
    assert report["mixed_to_mono_at_load"]["count"] == 1
    assert [Path(p).name for p in report["unpaired"]] == ["lonely_fileid_99.wav"]
    text = (save / "preparation_report.txt").read_text()
    assert "book_corrupt.wav" in text and "noise_empty.wav" in text
    assert "book_corrupt.wav" in caplog.text and "noise_empty.wav" in caplog.text

    # Idempotent: same options skip; the valid set is identical when redone.
    first = {p.name: p.read_bytes() for p in (save / "valid_mixtures" / "noisy").iterdir()}
    stamp = (save / "valid.json").stat().st_mtime_ns
    assert (
        prepare_dns(
            corpus,
            save,
            test_subsets=("no_reverb", "with_reverb"),
            valid_count=3,
            valid_seconds=1.0,
            valid_fraction=0.25,
        )
        == record
    )
    assert (save / "valid.json").stat().st_mtime_ns == stamp
    again = prepare_dns(
        corpus,
        tmp_path / "elsewhere",
        test_subsets=("no_reverb", "with_reverb"),
        valid_count=3,
        valid_seconds=1.0,
        valid_fraction=0.25,
    )
    redone = {
        p.name: p.read_bytes()
        for p in Path(again["manifests"]["valid"]).parent.glob("valid_mixtures/noisy/*")
    }
    assert redone == first
    # Changed options are prepared again.
    changed = prepare_dns(
        corpus,
        save,
        test_subsets="no_reverb",
        valid_count=2,
        valid_seconds=1.0,
        valid_fraction=0.25,
    )
    assert len(json.loads(Path(changed["manifests"]["valid"]).read_text())) == 2
    assert len(list((save / "valid_mixtures" / "noisy").iterdir())) == 2
    assert set(json.loads(Path(changed["manifests"]["test"]).read_text())) == {
        "no_reverb_fileid_3",
        "no_reverb_fileid_12",
    }


def test_prepare_fullband_resamples_and_mixes_test_set(tmp_path):
    root = tmp_path / "DNS4" / "datasets_fullband"
    for i, language in enumerate(("read_speech", "german_speech", "read_speech")):
        write(root / "clean_fullband" / language / f"utt_{i}.wav", 1.2, 48000, channels=2, seed=i)
    write(root / "clean_fullband" / "vctk" / "p001" / "utt_3.flac", 1.2, 48000, seed=3)
    write(root / "clean_fullband" / "vctk" / "p002" / "utt_4.wav", 1.2, 16000, seed=4)
    for i in range(3):
        write(root / "noise_fullband" / f"n{i}.wav", 2.0, 48000, seed=10 + i)
    write(root / "impulse_responses" / "SLR28" / "r.wav", 0.3, 48000, seed=20)
    assert detect_layout(tmp_path / "DNS4") == "dns_fullband"
    record = prepare_dns(
        tmp_path / "DNS4",
        tmp_path / "prep",
        valid_count=2,
        valid_seconds=1.0,
        valid_fraction=0.2,
        test_count=2,
        test_seconds=1.0,
        test_fraction=0.2,
        reverb_prob=1.0,
    )
    assert record["layout"] == "dns_fullband"
    m = {k: json.loads(Path(v).read_text()) for k, v in record["manifests"].items()}
    assert len(m["train_clean"]) == 3 and len(m["train_noise"]) == 1
    assert "read_speech__utt_0" in {
        **m["train_clean"],
        **{v["clean_source"]: 1 for v in m["valid"].values()},
        **{v["clean_source"]: 1 for v in m["test"].values()},
    }
    sources = [{v["clean_source"] for v in m[s].values()} for s in ("valid", "test")]
    assert not sources[0] & sources[1] and not (sources[0] | sources[1]) & set(m["train_clean"])
    assert all(v["rir_source"] == "SLR28__r" for v in m["valid"].values())
    report = json.loads((tmp_path / "prep" / "preparation_report.json").read_text())
    assert report["resampled_at_load"]["count"] == 8  # every 48 kHz file
    assert report["mixed_to_mono_at_load"]["count"] == 3
    test = paired_dataset(record["manifests"]["test"])
    assert test[0]["noisy_sig"].shape == (16000,)
    clean = DynamicMixingDataset(
        record["manifests"]["train_clean"],
        record["manifests"]["train_noise"],
        segment_seconds=0.5,
        seed=0,
    )
    assert clean[0]["clean_sig"].shape == (8000,)
    # Only some sub-folders of clean_fullband (e.g. languages).
    options = dict(valid_count=1, valid_seconds=0.5, valid_fraction=0.2, test_count=1)
    subset = prepare_dns(
        tmp_path / "DNS4", tmp_path / "prep2", clean_subsets=["read_speech", "vctk"], **options
    )
    used = set(json.loads(Path(subset["manifests"]["train_clean"]).read_text()))
    used |= {
        v["clean_source"]
        for k in ("valid", "test")
        for v in json.loads(Path(subset["manifests"][k]).read_text()).values()
    }
    assert used == {
        "read_speech__utt_0",
        "read_speech__utt_2",
        "vctk__p001__utt_3",
        "vctk__p002__utt_4",
    }
    with pytest.raises(FileNotFoundError, match="clean_fullband/french_speech: missing folder"):
        prepare_dns(tmp_path / "DNS4", tmp_path / "prep3", clean_subsets=["french_speech"])


def test_prepare_pairs_voicebank_style(tmp_path):
    root = tmp_path / "vb"
    for split, count in (("trainset_28spk", 10), ("testset", 2)):
        for i in range(count):
            name = f"p{i:03d}_{split}.wav"
            write(root / f"clean_{split}_wav" / name, 0.5, seed=i)
            write(root / f"noisy_{split}_wav" / name, 0.5, seed=100 + i)
    write(root / "noisy_testset_wav" / "orphan.wav", 0.5)
    assert detect_layout(root) == "pairs"
    record = prepare_dns(root, tmp_path / "prep", valid_fraction=0.2)
    assert record["training"] == "paired"
    assert set(record["manifests"]) == {"train", "valid", "test"}
    m = {k: json.loads(Path(v).read_text()) for k, v in record["manifests"].items()}
    assert (len(m["train"]), len(m["valid"]), len(m["test"])) == (8, 2, 2)
    assert not set(m["train"]) & set(m["valid"])
    entry = m["test"]["p001_testset"]
    assert Path(entry["noisy_wav"]).name == Path(entry["clean_wav"]).name
    report = json.loads((tmp_path / "prep" / "preparation_report.json").read_text())
    assert [Path(p).name for p in report["unpaired"]] == ["orphan.wav"]
    item = paired_dataset(record["manifests"]["train"])[0]
    assert item["noisy_sig"].shape == item["clean_sig"].shape == (8000,)


def test_preparation_holds_its_folder_so_runs_sharing_it_take_turns(tmp_path, monkeypatch):
    """Two runs of one results folder (release --jobs 2) prepared it at once, each deleting the other's files."""
    from speechbrain_atkl.data import layouts, prepare
    from speechbrain_atkl.data.atomic import exclusive_lock

    for i in range(10):
        write(tmp_path / "data" / "noisy" / f"u{i}.wav", 0.3, seed=i)
        write(tmp_path / "data" / "clean" / f"u{i}.wav", 0.3, seed=50 + i)
    prepare_pairs, held = layouts.prepare_pairs, []

    def prepare_while_checking_the_lock(*args):
        try:
            with exclusive_lock(tmp_path / "prep" / ".prepare.lock", wait=False):
                held.append(False)
        except BlockingIOError:
            held.append(True)
        return prepare_pairs(*args)

    monkeypatch.setattr(prepare, "prepare_pairs", prepare_while_checking_the_lock)
    record = prepare_dns(tmp_path / "data", tmp_path / "prep", valid_fraction=0.2, test_fraction=0.2)
    assert held == [True]
    assert prepare_dns(tmp_path / "data", tmp_path / "prep", valid_fraction=0.2, test_fraction=0.2) == record
    assert held == [True]  # found prepared
    with exclusive_lock(tmp_path / "prep" / ".prepare.lock", wait=False):  # released
        pass


def test_a_folder_another_process_reads_is_not_prepared_again_under_it(tmp_path):
    """A run re-prepared a shared folder with other options and rewrote the validation mixtures of a running one."""
    import subprocess
    import sys

    from speechbrain_atkl.data.prepare import PreparedDataInUse

    for i in range(10):
        write(tmp_path / "data" / "noisy" / f"u{i}.wav", 0.3, seed=i)
        write(tmp_path / "data" / "clean" / f"u{i}.wav", 0.3, seed=50 + i)
    reader = subprocess.Popen(
        [sys.executable, "-c", "import sys; from speechbrain_atkl.data.prepare import prepare_dns; "
         "prepare_dns(sys.argv[1], sys.argv[2], valid_fraction=0.2, test_fraction=0.2); print('ready', flush=True); "
         "sys.stdin.readline()", str(tmp_path / "data"), str(tmp_path / "prep")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "ready"
        valid = json.loads((tmp_path / "prep" / "valid.json").read_text())
        # The same options: found prepared, shared.
        assert json.loads(Path(prepare_dns(tmp_path / "data", tmp_path / "prep", valid_fraction=0.2,
                                           test_fraction=0.2)["manifests"]["valid"]).read_text()) == valid
        with pytest.raises(PreparedDataInUse, match=r"prep: preparation options changed \(valid_fraction\), but "
                           r"another running process .* its own prepare_folder"):
            prepare_dns(tmp_path / "data", tmp_path / "prep", valid_fraction=0.4, test_fraction=0.2)
        assert json.loads((tmp_path / "prep" / "valid.json").read_text()) == valid  # untouched
    finally:
        reader.communicate("\n", timeout=60)
    # The reader is gone: this process (which holds the folder itself) prepares it again.
    record = prepare_dns(tmp_path / "data", tmp_path / "prep", valid_fraction=0.4, test_fraction=0.2)
    assert record["options"]["valid_fraction"] == 0.4


def test_prepare_pairs_single_folder_split_three_ways(tmp_path):
    for i in range(10):
        write(tmp_path / "data" / "noisy" / f"u{i}.wav", 0.3, seed=i)
        write(tmp_path / "data" / "clean" / f"u{i}.wav", 0.3, seed=50 + i)
    record = prepare_dns(
        tmp_path / "data", tmp_path / "prep", layout="pairs", valid_fraction=0.1, test_fraction=0.2
    )
    sizes = [
        len(json.loads(Path(record["manifests"][k]).read_text()))
        for k in ("train", "valid", "test")
    ]
    assert sizes == [7, 1, 2]


def test_prepare_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        prepare_dns(tmp_path / "nowhere", tmp_path / "prep")
    (tmp_path / "odd" / "stuff").mkdir(parents=True)
    with pytest.raises(ValueError, match="unrecognised corpus layout"):
        prepare_dns(tmp_path / "odd", tmp_path / "prep")
    dns = tmp_path / "dns" / "datasets"
    (dns / "clean").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"datasets/noise: missing folder"):
        prepare_dns(tmp_path / "dns", tmp_path / "prep", layout="dns2020")
    (dns / "noise").mkdir()
    with pytest.raises(ValueError, match=r"datasets/clean: no audio files found"):
        prepare_dns(tmp_path / "dns", tmp_path / "prep")
    write_corrupt(dns / "clean" / "only.wav")
    write(dns / "noise" / "n.wav", 1.0)
    with pytest.raises(ValueError, match=r"datasets/clean: every audio file was unusable"):
        prepare_dns(tmp_path / "dns", tmp_path / "prep")
    write(dns / "clean" / "one.wav", 1.0)
    with pytest.raises(ValueError, match="Cannot hold out 1 of 1 clean"):
        prepare_dns(tmp_path / "dns", tmp_path / "prep")
    with pytest.raises(ValueError, match="Unknown test subset"):
        prepare_dns(tmp_path / "dns", tmp_path / "prep", test_subsets="reverb")
    assert not (tmp_path / "prep" / "preparation.json").exists()


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"shared data not found at {SHARED_DATA}")
def test_prepare_real_corpus(tmp_path):
    record = prepare_dns(
        SHARED_DATA / "corpus",
        tmp_path,
        valid_count=2,
        valid_seconds=2.0,
        test_count=2,
        test_seconds=2.0,
    )
    assert record["layout"] == "dns2020"
    m = {k: json.loads(Path(v).read_text()) for k, v in record["manifests"].items()}
    assert len(m["train_clean"]) > 150 and len(m["train_noise"]) > 20 and len(m["train_rir"]) == 7
    item = paired_dataset(record["manifests"]["valid"])[1]
    assert item["noisy_sig"].shape == (32000,)
    assert (
        abs(snr_db(item["clean_sig"], item["noisy_sig"]) - m["valid"][item["id"]]["snr_db"]) < 0.1
    )


# -------------------------------------------------------------- dynamic mixing


@pytest.fixture
def sources(tmp_path):
    clean = {
        f"c{i}": {"wav": str(write(tmp_path / f"c{i}.wav", 2.0 + i, seed=i)), "duration": 2.0 + i}
        for i in range(3)
    }
    clean["short"] = {"wav": str(write(tmp_path / "short.wav", 0.5, seed=9)), "duration": 0.5}
    noise = {
        "n0": {"wav": str(write(tmp_path / "n0.wav", 0.3, seed=10)), "duration": 0.3},
        "n1": {"wav": str(write(tmp_path / "n1.wav", 5.0, 48000, seed=11))},
    }
    rir = np.zeros(1600)
    rir[40], rir[200:] = 1.0, 0.05 * np.random.default_rng(0).standard_normal(1400) * np.exp(
        -np.arange(1400) / 300
    )
    sf.write(str(tmp_path / "rir.wav"), rir, 16000, subtype="FLOAT")
    return clean, noise, {"r": {"wav": str(tmp_path / "rir.wav"), "duration": 0.1}}


def test_mix_at_snr_batched():
    clean, noise = torch.randn(3, 4000), torch.randn(3, 4000) * 5
    noisy = mix_at_snr(clean, noise, torch.tensor([-5.0, 0.0, 17.0]))
    snrs = [snr_db(c, n) for c, n in zip(clean, noisy)]
    assert np.allclose(snrs, [-5.0, 0.0, 17.0], atol=1e-3)
    with pytest.raises(ValueError, match="silent"):
        mix_at_snr(torch.zeros(100), torch.randn(100), 0.0)


def test_dynamic_mixing_snr_level_and_length(sources):
    clean, noise, _ = sources
    data = DynamicMixingDataset(
        clean,
        noise,
        segment_seconds=1.0,
        epoch_size=12,
        seed=5,
        snr_range=(-5, 20),
        level_range_db=(-35, -15),
    )
    assert len(data) == 12
    seen_short = False
    for index in range(len(data)):
        item = data.get_mixture(index)
        assert item["noisy_sig"].shape == item["clean_sig"].shape == (16000,)
        assert abs(snr_db(item["clean_sig"], item["noisy_sig"]) - item["snr_db"]) < 0.1
        assert -5 <= item["snr_db"] <= 20
        rms_db = 10 * np.log10(float(item["noisy_sig"].pow(2).mean()))
        assert rms_db <= -15 + 1e-3 and abs(rms_db - item["level_db"]) < 1e-3
        assert max(item["noisy_sig"].abs().max(), item["clean_sig"].abs().max()) <= 0.99 + 1e-6
        if item["clean_source"] == "short":  # 0.5 s of speech, then zeros
            seen_short = True
            assert torch.all(item["clean_sig"][8000:] == 0)
            assert item["clean_sig"][:8000].abs().max() > 0
    assert seen_short
    # Every clean file is used once per len(clean) items.
    assert sorted(data.get_mixture(i)["clean_source"] for i in range(4)) == [
        "c0",
        "c1",
        "c2",
        "short",
    ]


def test_dynamic_mixing_is_reproducible(sources):
    clean, noise, rir = sources

    def items(seed, epoch):
        data = DynamicMixingDataset(
            clean, noise, rir, segment_seconds=0.5, epoch_size=6, reverb_prob=0.5, seed=seed
        )
        data.set_epoch(epoch)
        return torch.stack([data[i]["noisy_sig"] for i in range(len(data))])

    reference = items(seed=1, epoch=3)
    assert torch.equal(reference, items(seed=1, epoch=3))
    assert not torch.equal(reference, items(seed=1, epoch=4))
    assert not torch.equal(reference, items(seed=2, epoch=3))
    # Same items through a multi-worker DataLoader with PaddedBatch.
    data = DynamicMixingDataset(
        clean, noise, rir, segment_seconds=0.5, epoch_size=6, reverb_prob=0.5, seed=1
    )
    data.set_epoch(3)
    loader = torch.utils.data.DataLoader(data, batch_size=3, num_workers=2, collate_fn=PaddedBatch)
    batches = list(loader)
    assert batches[0].noisy_sig.data.shape == (3, 8000)
    assert torch.equal(batches[0].noisy_sig.lengths, torch.ones(3))
    assert torch.equal(torch.cat([b.noisy_sig.data for b in batches]), reference)
    assert batches[1].id == ["mix_e3_0000003", "mix_e3_0000004", "mix_e3_0000005"]


def test_dynamic_mixing_reverberant_targets(sources):
    clean, noise, rir = sources
    targets = {}
    for target in ("dry", "early", "reverberant"):
        data = DynamicMixingDataset(
            clean,
            noise,
            rir,
            segment_seconds=1.0,
            epoch_size=1,
            reverb_prob=1.0,
            reverberant_target=target,
            seed=0,
        )
        item = data.get_mixture(0)
        assert item["rir_source"] == "r"
        targets[target] = item
    # The SNR is that of the reverberant speech present in the mixture.
    reverberant = targets["reverberant"]
    assert (
        abs(snr_db(reverberant["clean_sig"], reverberant["noisy_sig"]) - reverberant["snr_db"])
        < 0.1
    )
    assert torch.allclose(targets["dry"]["noisy_sig"], reverberant["noisy_sig"])
    dry, early, full = (targets[k]["clean_sig"] for k in ("dry", "early", "reverberant"))
    # Early reflections only: the early target sits between dry and fully reverberant.
    assert 0 < (early - dry).pow(2).sum() < (full - dry).pow(2).sum()
    with pytest.raises(ValueError, match="RIR manifest is empty"):
        DynamicMixingDataset(clean, noise, {}, reverb_prob=0.5)
    with pytest.raises(ValueError, match="reverberant_target"):
        DynamicMixingDataset(clean, noise, rir, reverberant_target="wet")


def test_paired_dataset_with_padded_batch(tmp_path):
    manifest = {}
    for i, seconds in enumerate((0.5, 0.8)):
        noisy = write(tmp_path / "noisy" / f"u{i}.wav", seconds, seed=i)
        clean = write(tmp_path / "clean" / f"u{i}.wav", seconds, 8000, seed=i)  # resampled
        manifest[f"u{i}"] = {"noisy_wav": str(noisy), "clean_wav": str(clean), "duration": seconds}
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps(manifest))
    loader = torch.utils.data.DataLoader(paired_dataset(path), batch_size=2, collate_fn=PaddedBatch)
    batch = next(iter(loader))
    assert batch.id == ["u0", "u1"]
    assert batch.noisy_sig.data.shape == batch.clean_sig.data.shape == (2, 12800)
    assert torch.allclose(batch.noisy_sig.lengths, torch.tensor([0.625, 1.0]))


# ----------------------------------------------------------------- WebDataset


def test_webdataset_round_trip(tmp_path):
    # Samples laid out like SpeechBrain's DNS synthesiser writes them.
    signals = {}
    (tmp_path / "read_speech").mkdir()
    for shard in range(2):
        with wds.TarWriter(str(tmp_path / "read_speech" / f"shard-{shard:06d}.tar")) as sink:
            for n in range(shard * 3, shard * 3 + 3):
                noisy, clean = np.random.default_rng(n).standard_normal((2, 16000 + 800 * n))
                signals[f"clean_fileid_{n}"] = (noisy, clean)
                sink.write(
                    {
                        "__key__": f"clean_fileid_{n}.wav",
                        "clean_file": f"clean_fileid_{n}.wav",
                        "noise_file": f"noise_fileid_{n}.wav",
                        "noisy_file": f"x_snr5_fileid_{n}.wav",
                        "language_id": "read_speech",
                        "clean_audio.pth": torch.tensor(clean),
                        "noise_audio.pth": torch.tensor(noisy - clean),
                        "noisy_audio.pth": torch.tensor(noisy),
                    }
                )
    whole = list(DNSShardDataset(tmp_path))
    assert [item["id"] for item in whole] == [f"clean_fileid_{n}" for n in range(6)]
    for item in whole:
        noisy, clean = signals[item["id"]]
        assert item["noisy_sig"].dtype == torch.float32
        assert torch.allclose(item["noisy_sig"], torch.tensor(noisy, dtype=torch.float32))
        assert torch.allclose(item["clean_sig"], torch.tensor(clean, dtype=torch.float32))
    assert DNSShardDataset(tmp_path).count_samples() == 6

    data = shard_dataset(
        str(tmp_path / "read_speech" / "shard-{000000..000001}.tar"),
        segment_seconds=0.5,
        shuffle_buffer=4,
        seed=3,
    )
    epoch0 = {item["id"]: item["noisy_sig"] for item in data}
    assert len(epoch0) == 6 and all(sig.shape == (8000,) for sig in epoch0.values())
    n = int(next(iter(epoch0)).rsplit("_", 1)[1])
    assert any(
        np.allclose(
            epoch0[f"clean_fileid_{n}"].numpy(),
            signals[f"clean_fileid_{n}"][0][s : s + 8000],
            atol=1e-6,
        )
        for s in range(0, 16000 + 800 * n - 7999)
    )
    assert all(torch.equal(epoch0[k], v) for k, v in ((i["id"], i["noisy_sig"]) for i in data))
    data.set_epoch(1)
    assert any(not torch.equal(epoch0[i["id"]], i["noisy_sig"]) for i in data)

    half_rate = DNSShardDataset(tmp_path, shard_sample_rate=32000)
    loader = torch.utils.data.DataLoader(half_rate, batch_size=2, collate_fn=PaddedBatch)
    batch = next(iter(loader))
    assert batch.noisy_sig.data.shape == (2, 8400)


# ---------------------------------------------------------------- demo corpus


def test_demo_corpus_layout_determinism_and_idempotence(tmp_path):
    options = dict(n_clean=3, n_noise=4, n_rir=2, n_test=3, noise_seconds=1.5, test_seconds=1.5)
    root = create_demo_corpus(tmp_path / "a", seed=7, **options)
    data = root / "datasets"
    assert len(list((data / "clean").glob("*.wav"))) == 3
    assert len(list((data / "noise").glob("*.wav"))) == 4
    assert len(list((data / "impulse_responses").glob("*.wav"))) == 2
    test = data / "test_set" / "synthetic" / "no_reverb"
    assert sorted(p.name for p in (test / "clean").iterdir()) == [
        f"clean_fileid_{i}.wav" for i in range(3)
    ]
    noisy = sorted((test / "noisy").iterdir(), key=lambda p: int(p.stem.rsplit("_fileid_", 1)[1]))
    assert [p.stem.rsplit("_fileid_", 1)[1] for p in noisy] == ["0", "1", "2"]
    assert "snr-5" in noisy[0].name and "snr15" in noisy[2].name
    for path in data.rglob("*.wav"):
        info = audio_info(path)
        assert info.sample_rate == 16000 and info.channels == 1 and info.frames > 0
    assert detect_layout(root) == "dns2020"

    files = {p.relative_to(root): p.read_bytes() for p in data.rglob("*.wav")}
    stamps = {p: p.stat().st_mtime_ns for p in data.rglob("*.wav")}
    assert create_demo_corpus(tmp_path / "a", seed=7, **options) == root
    assert {p: p.stat().st_mtime_ns for p in data.rglob("*.wav")} == stamps  # not redone
    other = create_demo_corpus(tmp_path / "b", seed=7, **options)
    assert {
        p.relative_to(other): p.read_bytes() for p in (other / "datasets").rglob("*.wav")
    } == files
    reseeded = create_demo_corpus(tmp_path / "c", seed=8, **options)
    assert (reseeded / "datasets" / "clean").iterdir().__next__().read_bytes() not in files.values()

    # An interrupted creation (no completion marker) is redone.
    (root / ".demo_corpus_complete").unlink()
    (root / ".demo_corpus_started").touch()
    next((data / "clean").iterdir()).unlink()
    create_demo_corpus(tmp_path / "a", seed=7, **options)
    assert {p.relative_to(root): p.read_bytes() for p in data.rglob("*.wav")} == files
    foreign = tmp_path / "foreign"
    (foreign / "datasets").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="not made by create_demo_corpus"):
        create_demo_corpus(foreign)


def test_demo_corpus_defaults_prepare_and_train_batch(tmp_path):
    root = create_demo_corpus(tmp_path / "demo")
    data = root / "datasets"
    counts = [len(list((data / d).rglob("*.wav"))) for d in ("clean", "noise", "impulse_responses")]
    assert counts == [40, 10, 4]
    assert len(list((data / "test_set" / "synthetic" / "no_reverb" / "noisy").iterdir())) == 12
    durations = [audio_info(p).duration for p in (data / "clean").iterdir()]
    assert 3.0 <= min(durations) and max(durations) <= 6.0
    record = prepare_dns(root, tmp_path / "prep", valid_count=4, valid_seconds=2.0)
    data = DynamicMixingDataset(
        record["manifests"]["train_clean"],
        record["manifests"]["train_noise"],
        record["manifests"]["train_rir"],
        segment_seconds=2.0,
        reverb_prob=0.3,
    )
    batch = PaddedBatch([data[i] for i in range(4)])
    assert batch.noisy_sig.data.shape == (4, 32000)
    assert len(paired_dataset(record["manifests"]["test"])) == 12


def _nan_wav(path, seconds=1.0):
    data = 0.1 * np.random.default_rng(0).standard_normal(int(seconds * 16000))
    data[100] = np.nan
    sf.write(str(path), data, 16000, subtype="FLOAT")
    return path


def test_prepare_skips_non_finite_audio_and_notices_corpus_changes(tmp_path, caplog, monkeypatch):
    from speechbrain_atkl.data import checks

    corpus, prepared = tmp_path / "corpus", tmp_path / "prepared"
    create_demo_corpus(corpus, seed=0, n_clean=6, clean_seconds=(1.0, 1.2), n_noise=3, noise_seconds=1.0,
                       n_rir=1, n_test=2, test_seconds=1.0)
    bad = _nan_wav(corpus / "datasets" / "clean" / "bad_nan.wav")
    options = dict(data_folder=corpus, save_folder=prepared, valid_count=2, valid_seconds=0.5)
    record = prepare_dns(**options)
    manifests = {name: json.loads(Path(path).read_text()) for name, path in record["manifests"].items()}
    assert all(entry["wav"] != str(bad) for entry in manifests["train_clean"].values())
    report = json.loads((prepared / "preparation_report.json").read_text())
    assert [item["reason"] for item in report["skipped"] if item["file"] == str(bad)] == [
        f"{bad}: holds NaN or infinite samples (first at sample 100)"
    ]

    scanned = []
    monkeypatch.setattr(checks, "scan_samples", lambda path: scanned.append(path))
    bad.unlink()  # the user deletes the bad file: the prepared manifests must notice
    with caplog.at_level(logging.INFO):
        record = prepare_dns(**options)
    assert "the corpus changed" in caplog.text and scanned == []  # unchanged files are not read again
    train_clean = json.loads(Path(record["manifests"]["train_clean"]).read_text())
    assert all(Path(entry["wav"]).is_file() for entry in train_clean.values())
    caplog.clear()
    with caplog.at_level(logging.INFO):
        prepare_dns(**options)
    assert "already prepared" in caplog.text


def test_a_training_file_gone_bad_is_skipped_up_to_a_limit(tmp_path, caplog):
    clean = {f"c{i}": {"wav": str(write(tmp_path / f"c{i}.wav", 1.0, seed=i)), "duration": 1.0} for i in range(3)}
    noise = {"n": {"wav": str(write(tmp_path / "n.wav", 1.0, seed=5)), "duration": 1.0}}
    sf.write(str(tmp_path / "c1.wav"), np.full(16000, np.nan), 16000, subtype="FLOAT")  # goes bad after preparation
    data = DynamicMixingDataset(clean, noise, segment_seconds=0.5, epoch_size=6, seed=1, max_bad_files=1)
    with caplog.at_level(logging.WARNING):
        items = [data[i] for i in range(len(data))]
    assert all(torch.isfinite(item["noisy_sig"]).all() for item in items)
    assert data.bad_files.count == 1 and "c1.wav" in caplog.text and "max_bad_files=1" in caplog.text
    (tmp_path / "c2.wav").unlink()
    with pytest.raises(RuntimeError, match="more than max_bad_files=1"):
        [data[i] for i in range(len(data))]

    pairs = {f"u{i}": {"noisy_wav": clean[f"c{i}"]["wav"], "clean_wav": clean[f"c{i}"]["wav"]} for i in range(2)}
    paired = paired_dataset(pairs, max_bad_files=1)
    assert [paired[i]["id"] for i in range(2)] == ["u0", "u0"]  # u1 (NaN) replaced by the next pair
    with pytest.raises(RuntimeError, match="more than max_bad_files=0"):
        paired_dataset(pairs)[1]
