"""The noisy-score cache: reused only for the same signals, same scores, shared by evaluations."""

import csv

import numpy as np
import pytest
import soundfile

from speechbrain_atkl.evaluation import metrics as metrics_module
from speechbrain_atkl.evaluation import utterance_scorer
from speechbrain_atkl.evaluation.cli import main
from speechbrain_atkl.evaluation.noisy_cache import NoisyScoreCache
from speechbrain_atkl.evaluation.scoring import score_utterances

SR = 16000


def _items(seed=0, count=3):
    rng = np.random.default_rng(seed)
    items = []
    for k in range(count):
        clean = np.sin(np.arange(SR) * 0.05 * (k + 1)) * (1 + rng.random(SR))
        noise = rng.standard_normal(SR)
        items.append({"id": f"u{k}", "clean": clean, "noisy": clean + noise, "enhanced": clean + 0.1 * noise})
    return items


def _counting_si_snr(monkeypatch):
    """Counts the SI-SNR calls of the scorer (noisy and enhanced sides together)."""
    calls = []

    def counted(wav, clean):
        calls.append(len(wav))
        return metrics_module.si_snr(wav, clean)

    monkeypatch.setitem(utterance_scorer.REFERENCE_METRICS, "si_snr", counted)
    return calls


def test_second_evaluation_reuses_noisy_scores_and_gives_the_same_rows(tmp_path, monkeypatch):
    calls = _counting_si_snr(monkeypatch)
    cache = NoisyScoreCache(tmp_path / "scores.sqlite")
    first = score_utterances(_items(), metrics=["si_snr", "si_snr_i"], progress=False, noisy_cache=cache)
    assert len(calls) == 6  # noisy + enhanced of 3 items
    other_system = [{**item, "enhanced": item["clean"] + 0.3 * (item["noisy"] - item["clean"])} for item in _items()]
    second = score_utterances(other_system, metrics=["si_snr", "si_snr_i"], progress=False,
                              noisy_cache=NoisyScoreCache(tmp_path / "scores.sqlite"))
    assert len(calls) == 9  # only the enhanced side was scored again
    noisy_rows = lambda results: [row for row in results.rows if row["system"] == "noisy"]  # noqa: E731
    assert noisy_rows(first) == noisy_rows(second)
    enhanced = [row["si_snr"] for row in second.rows if row["system"] == "enhanced"]
    assert enhanced != [row["si_snr"] for row in first.rows if row["system"] == "enhanced"]


def test_changed_noisy_or_clean_signal_or_new_metric_is_a_miss(tmp_path, monkeypatch):
    calls = _counting_si_snr(monkeypatch)
    cache = NoisyScoreCache(tmp_path / "scores.sqlite")
    score_utterances(_items(count=1), metrics=["si_snr"], progress=False, noisy_cache=cache)
    changed = _items(count=1)
    changed[0]["noisy"] = changed[0]["noisy"] * 1.01
    score_utterances(changed, metrics=["si_snr"], progress=False, noisy_cache=cache)
    reference = _items(count=1)
    reference[0]["clean"] = reference[0]["clean"] + 1e-3
    score_utterances(reference, metrics=["si_snr"], progress=False, noisy_cache=cache)
    assert len(calls) == 6  # every noisy side scored again
    rows = score_utterances(_items(count=1), metrics=["si_snr", "stoi"], progress=False, noisy_cache=cache).rows
    assert len(calls) == 8 and np.isfinite(rows[0]["stoi"])  # stoi was never cached: the noisy row is recomputed


def test_a_cached_score_is_what_the_report_shows(tmp_path):
    """The rows come from the cache (a planted value shows), so a hit really skips the scoring."""
    cache = NoisyScoreCache(tmp_path / "scores.sqlite")
    item = _items(count=1)[0]
    cache.put(cache.key(item["noisy"], item["clean"]), {"si_snr": 123.0})
    rows = score_utterances([item], metrics=["si_snr"], progress=False, noisy_cache=cache).rows
    assert rows[0]["system"] == "noisy" and rows[0]["si_snr"] == 123.0


def test_cli_noisy_cache_gives_identical_reports(tmp_path, capsys):
    folders = {name: tmp_path / name for name in ("clean", "noisy", "enhanced")}
    for folder in folders.values():
        folder.mkdir()
    for item in _items(count=2):
        for name, folder in folders.items():
            soundfile.write(folder / f"{item['id']}.wav", item[name] * 0.1, SR)
    args = ["--enhanced", str(folders["enhanced"]), "--clean", str(folders["clean"]), "--noisy",
            str(folders["noisy"]), "--metrics", "si_snr", "stoi", "--num-workers", "0", "--no-progress",
            "--noisy-cache", str(tmp_path / "cache" / "noisy.sqlite")]
    assert main([*args, "--output", str(tmp_path / "first")]) == 0
    assert main([*args, "--output", str(tmp_path / "second")]) == 0
    read = lambda name: list(csv.DictReader(open(tmp_path / name / "per_utterance.csv")))  # noqa: E731
    assert read("first") == read("second") and len(read("first")) == 4
    assert (tmp_path / "cache" / "noisy.sqlite").is_file()


def test_unusable_cache_path_is_named(tmp_path, capsys):
    (tmp_path / "a_file").write_text("not a folder")
    try:
        NoisyScoreCache(tmp_path / "a_file" / "scores.sqlite")
    except ValueError as err:
        assert "a_file" in str(err) and "SQLite" in str(err)
    else:
        raise AssertionError("no error for a cache inside a file")


def _cli_args(tmp_path, cache):
    folders = {name: tmp_path / name for name in ("clean", "noisy", "enhanced")}
    for item in _items(count=2):
        for name, folder in folders.items():
            folder.mkdir(exist_ok=True)
            soundfile.write(folder / f"{item['id']}.wav", item[name] * 0.1, SR)
    return ["--enhanced", str(folders["enhanced"]), "--clean", str(folders["clean"]), "--noisy",
            str(folders["noisy"]), "--metrics", "si_snr", "--num-workers", "0", "--no-progress",
            "--noisy-cache", str(cache), "--output", str(tmp_path / "report")]


def test_read_only_cache_gives_its_scores_and_the_report_is_written(tmp_path, monkeypatch, caplog):
    """A cache that cannot be written (here opened read-only, as SQLite opens a file it may not write)."""
    import sqlite3

    path = tmp_path / "scores.sqlite"
    item = _items(count=1)[0]
    cache = NoisyScoreCache(path)
    cache.put(cache.key(item["noisy"], item["clean"]), {"si_snr": 123.0})
    connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda name, **kw: connect(f"file:{name}?mode=ro", uri=True, **kw))
    read_only = NoisyScoreCache(path)
    assert "cannot be written (attempt to write a readonly database)" in caplog.text and str(path) in caplog.text
    items = [item, *_items(seed=1, count=2)[1:]]  # one hit, one miss that cannot be stored
    results = score_utterances(items, metrics=["si_snr"], progress=False, noisy_cache=read_only)
    assert [row["si_snr"] for row in results.rows if row["system"] == "noisy"][0] == 123.0
    assert len(results.rows) == 4
    monkeypatch.undo()
    assert NoisyScoreCache(path).get(read_only.key(items[1]["noisy"], items[1]["clean"]), ["si_snr"]) is None


def test_a_cache_that_fails_to_store_does_not_lose_the_evaluation(tmp_path, monkeypatch, caplog):
    import sqlite3

    cache = NoisyScoreCache(tmp_path / "scores.sqlite")

    class FullDisk(sqlite3.Connection):
        def executemany(self, *args):
            raise sqlite3.OperationalError("database or disk is full")

    connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda name, **kw: connect(name, factory=FullDisk, **kw))
    results = score_utterances(_items(count=2), metrics=["si_snr"], progress=False, noisy_cache=cache)
    assert len(results.rows) == 4 and "disk is full" in caplog.text


@pytest.mark.parametrize("content", ["another table", "another scores table", "text"])
def test_a_foreign_cache_file_is_refused_before_scoring(tmp_path, monkeypatch, capsys, content):
    import sqlite3

    from speechbrain_atkl.evaluation import cli

    path = tmp_path / "foreign.sqlite"
    if content == "text":
        path.write_text("a text file, not SQLite" * 10)
    else:
        table = "notes (text TEXT)" if content == "another table" else "scores (id INTEGER, payload BLOB)"
        with sqlite3.connect(path) as connection:
            connection.execute(f"CREATE TABLE {table}")
    before = path.read_bytes()
    monkeypatch.setattr(cli, "score_utterances", lambda *a, **k: pytest.fail("scored before checking the cache"))
    with pytest.raises(SystemExit) as exit_info:
        main(_cli_args(tmp_path, path))
    assert exit_info.value.code == 2
    assert str(path) in capsys.readouterr().err
    assert path.read_bytes() == before  # a foreign file is left as it was
