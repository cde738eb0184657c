"""Tests of the validation options of prepare_dns: balance across sources, noise count, SNR range, their checks."""

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speechbrain_atkl.data import prepare_dns
from speechbrain_atkl.data.holdout import split_clean_by_source
from speechbrain_atkl.data.prepare import LATER_OPTIONS, PREPARATION_FILE
from speechbrain_atkl.data.speakers import speaker_of
from speechbrain_atkl.training.run_checks import ConfigurationError, validate_hparams

OPTIONS = dict(valid_count=10, valid_seconds=0.5, valid_fraction=0.2, valid_split="speakers")


def tone(path, seconds, seed):
    """Writes a short random signal (WAV or FLAC by the suffix)."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), 0.1 * rng.standard_normal(int(seconds * 16000)), 16000)


def dns_corpus(root, extra_speakers=30):
    """A DNS-2020 corpus: 10 LibriSpeech-named speakers directly in clean/, ``extra_speakers`` speechocean762
    speakers in clean/extra/ (two files each), 8 noises and a one-item test set."""
    clean = root / "datasets" / "clean"
    for speaker in range(10):
        for utterance in range(2):
            tone(clean / f"ls_{1000 + speaker}-1-{utterance}.wav", 0.6, seed=speaker * 10 + utterance)
    for speaker in range(extra_speakers):
        for utterance in range(2):
            name = f"so762_SPEAKER{speaker:04d}__{utterance:09d}.flac"
            tone(clean / "extra" / name, 0.6, seed=1000 + speaker * 10 + utterance)
    for index in range(8):
        tone(root / "datasets" / "noise" / f"noise_{index}.wav", 1.0, seed=500 + index)
    test = root / "datasets" / "test_set" / "synthetic" / "no_reverb"
    tone(test / "clean" / "clean_fileid_0.wav", 0.5, 900)
    tone(test / "noisy" / "noise_0_snr0_fileid_0.wav", 0.5, 901)
    return root


def manifests(record):
    return {name: json.loads(Path(path).read_text()) for name, path in record["manifests"].items()}


def test_subfolders_balance_the_validation_between_the_sources_and_hold_out_speakers_within_each(tmp_path):
    corpus = dns_corpus(tmp_path / "corpus")
    balanced = manifests(prepare_dns(corpus, tmp_path / "balanced", valid_balance="subfolders", **OPTIONS))
    plain = manifests(prepare_dns(corpus, tmp_path / "plain", **OPTIONS))

    def extra_items(manifest):
        return sum(entry["clean_source"].startswith("extra__") for entry in manifest.values())

    assert extra_items(balanced["valid"]) == 5 and len(balanced["valid"]) == 10  # half of the mixtures each
    assert extra_items(plain["valid"]) > 5  # the large source takes more without the balance

    # A fifth of the speakers of each source is held out (2 of 10, 6 of 30), whole, none heard in training.
    train_speakers = {speaker_of(utt_id) for utt_id in balanced["train_clean"]}
    held = {f"librispeech-{1000 + s}" for s in range(10)} | {f"speechocean762-SPEAKER{s:04d}" for s in range(30)}
    held -= train_speakers
    assert len([s for s in held if s.startswith("librispeech")]) == 2
    assert len([s for s in held if s.startswith("speechocean762")]) == 6
    assert len(balanced["train_clean"]) == 2 * (40 - 8)
    valid_speakers = {speaker_of(entry["clean_source"]) for entry in balanced["valid"].values()}
    assert valid_speakers <= held and not valid_speakers & train_speakers
    notes = json.loads((tmp_path / "balanced" / "preparation_report.json").read_text())["notes"]
    assert any(note.startswith("Validation balanced across the sources of speech: .: 4") for note in notes)


def test_a_speaker_of_two_sources_held_out_in_one_is_held_out_of_both():
    sources = {".": [f"vctk_p{225 + s}_00{u}" for s in range(4) for u in (1, 2)],
               "extra": [f"extra__vctk_p{225 + s}_003" for s in range(4)] + [f"extra__{s}-1-1" for s in range(4)]}
    for seed in range(10):
        kept, held = split_clean_by_source(sources, {"valid_split": "speakers", "valid_fraction": 0.25},
                                           np.random.default_rng(seed))
        for speaker in {i.rsplit("_", 1)[0] for i in held["."]}:  # its "extra" file leaves training too
            assert f"extra__{speaker}_003" in held["extra"] and f"extra__{speaker}_003" not in kept
        assert not {speaker_of(i) for ids in held.values() for i in ids} & {speaker_of(i) for i in kept}
        assert sorted(kept + [i for ids in held.values() for i in ids]) == sorted(sources["."] + sources["extra"])


def test_without_subfolders_the_balance_changes_nothing_and_the_defaults_give_the_manifests_of_before(tmp_path):
    corpus = dns_corpus(tmp_path / "corpus", extra_speakers=0)
    options = dict(OPTIONS, valid_count=6)
    record = prepare_dns(corpus, tmp_path / "default", **options)
    default = manifests(record)
    # Pinned from the code before valid_balance, valid_noise_count and valid_snr_range existed.
    assert [(e["clean_source"], e["noise_source"], e["snr_db"]) for e in default["valid"].values()] == [
        ("ls_1008-1-0", "noise_4", 18.081), ("ls_1009-1-0", "noise_1", 10.935), ("ls_1008-1-1", "noise_4", 14.124),
        ("ls_1009-1-1", "noise_4", -1.924), ("ls_1008-1-1", "noise_4", 2.618), ("ls_1009-1-1", "noise_1", 7.954),
    ]
    assert sorted(default["train_noise"]) == ["noise_0", "noise_2", "noise_3", "noise_5", "noise_6", "noise_7"]
    assert len(default["train_clean"]) == 16
    one_source = manifests(prepare_dns(corpus, tmp_path / "one_source", valid_balance="subfolders", **options))
    for name in ("train_clean", "train_noise", "valid"):
        text = json.dumps(one_source[name]).replace(str(tmp_path / "one_source"), str(tmp_path / "default"))
        assert json.loads(text) == default[name]
    assert record["options"]["valid_snr_range"] is None and record["options"]["valid_balance"] == "none"


def test_a_folder_prepared_before_the_later_options_is_not_prepared_again(tmp_path, caplog):
    """A run recorded before these options resumes on its preparation: its record lacks them, meaning their
    defaults, so preparing it again with the defaults finds it prepared (its mixtures are not rewritten)."""
    corpus = dns_corpus(tmp_path / "corpus", extra_speakers=0)
    record = prepare_dns(corpus, tmp_path / "prep", **OPTIONS)
    path = tmp_path / "prep" / PREPARATION_FILE
    old = json.loads(path.read_text())
    old["options"] = {key: value for key, value in old["options"].items() if key not in LATER_OPTIONS}
    path.write_text(json.dumps(old))
    with caplog.at_level(logging.INFO):
        again = prepare_dns(corpus, tmp_path / "prep", **OPTIONS)
    assert "already prepared" in caplog.text and again["manifests"] == record["manifests"]
    caplog.clear()
    with caplog.at_level(logging.INFO):
        prepare_dns(corpus, tmp_path / "prep", valid_noise_count=3, **OPTIONS)
    assert "preparation options changed" in caplog.text


def test_the_noise_count_and_the_snr_range_of_the_validation(tmp_path):
    corpus = dns_corpus(tmp_path / "corpus", extra_speakers=0)
    record = prepare_dns(corpus, tmp_path / "prep", valid_noise_count=3, valid_snr_range=[0, 5], **OPTIONS)
    data = manifests(record)
    held = {f"noise_{i}" for i in range(8)} - set(data["train_noise"])
    assert len(held) == 3 and {entry["noise_source"] for entry in data["valid"].values()} <= held
    assert all(0 <= entry["snr_db"] <= 5 for entry in data["valid"].values())
    assert record["options"]["valid_snr_range"] == [0.0, 5.0] and record["options"]["snr_range"] == [-5.0, 20.0]
    default = manifests(prepare_dns(corpus, tmp_path / "default", **OPTIONS))
    assert len({f"noise_{i}" for i in range(8)} - set(default["train_noise"])) == 2  # valid_fraction of 8
    assert any(not 0 <= entry["snr_db"] <= 5 for entry in default["valid"].values())  # snr_range, -5 to 20 dB


@pytest.mark.parametrize(
    "options, message",
    [
        ({"valid_balance": "sources"}, r"Unknown valid_balance 'sources'; expected one of \('none', 'subfolders'\)"),
        ({"valid_noise_count": 0}, "valid_noise_count must be None .* or an integer >= 1, got 0"),
        ({"valid_noise_count": 2.5}, "valid_noise_count must be None .* or an integer >= 1, got 2.5"),
        ({"valid_snr_range": [15, -5]}, r"valid_snr_range must be None .* \[low, high\] in dB with low <= high"),
        ({"valid_snr_range": "0 5"}, "valid_snr_range must be None"),
        ({"valid_noise_count": 8}, "Cannot hold out 8 of 8 noise files"),
        ({"valid_balance": "subfolders", "valid_count": 1}, r"2 sources .*\(\., extra\).* at least 2, got 1"),
    ],
)
def test_bad_validation_options_are_clear_errors(tmp_path, options, message):
    corpus = dns_corpus(tmp_path / "corpus", extra_speakers=3)
    with pytest.raises(ValueError, match=message):
        prepare_dns(corpus, tmp_path / "prep", **{**OPTIONS, **options})
    assert not (tmp_path / "prep" / PREPARATION_FILE).exists()


def test_the_recipe_checks_name_the_bad_validation_keys():
    validate_hparams({"valid_balance": "subfolders", "valid_noise_count": 4, "valid_snr_range": [-5, 15]})
    validate_hparams({"valid_balance": "none", "valid_noise_count": None, "valid_snr_range": None})
    with pytest.raises(ConfigurationError) as error:
        validate_hparams({"valid_balance": "yes", "valid_noise_count": 0, "valid_snr_range": [15, -5]})
    lines = str(error.value).splitlines()[1:]
    assert lines == [
        "  valid_snr_range: expected null (snr_range) or [low, high] in dB with low <= high, got [15, -5] (list)",
        "  valid_noise_count: expected null (valid_fraction of the noise files) or an integer >= 1, got 0 (int)",
        "  valid_balance: expected one of none, subfolders, got 'yes' (str)",
    ]
