"""Tests of the distillation study script (recipes/DNS/study.py) at micro scale."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from recipes.DNS import study, study_data, study_plan, study_report
from speechbrain_atkl.data.audio import load_audio
from speechbrain_atkl.data.audio_writer import save_audio
from speechbrain_atkl.data.demo import NOISE_TYPES, noise_like, room_impulse_response, speech_like
from speechbrain_atkl.loading import MODEL_CONFIG, save_model_config
from speechbrain_atkl.models import DCCRN
from speechbrain_atkl.training.checkpoints import AtomicCheckpointer

REPO = Path(__file__).resolve().parents[1]
SHARED_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "corpus"

# File names shaped like the shared corpus: 10 speakers under 5 naming rules.
CLEAN_NAMES = (
    "fakels_1001-10-0000",
    "fakels_1001-10-0001",
    "fakels_1002-11-0000",
    "fakels_1003-12-0000",
    "other-source_1004-13-0000",
    "fakels_1005-14-0000",
    "src-vctk_p301_001",
    "src-cmuarctic_bdl_a0001",
    "src-cmuarctic_bdl_a0002",
    "src_voice",
    "fakels_1006-15-0000",
    "fakels_1007-16-0000",
)
SPEAKERS = {
    "fakels_1001-10-0000": "librispeech-1001",
    "fakels_1001-10-0001": "librispeech-1001",
    "src-vctk_p301_001": "vctk-p301",
    "src-cmuarctic_bdl_a0002": "arctic-bdl",
    "src_voice": "src_voice",
    "demo_reader_03_utt_007": "reader-03",
    "other-source_1004-13-0000.wav": "librispeech-1004",
}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A tiny corpus laid out like ../shared/data/corpus (clean/, noise/, rir/)."""
    root = tmp_path_factory.mktemp("corpus")
    for index, name in enumerate(CLEAN_NAMES):
        wav = speech_like(1.2, np.random.default_rng([0, index]), speaker=index)
        save_audio(root / "clean" / f"{name}.wav", torch.from_numpy(wav), 16000)
    for index in range(5):
        kind = NOISE_TYPES[index % len(NOISE_TYPES)]
        wav = noise_like(kind, 2.0, np.random.default_rng([1, index]))
        save_audio(root / "noise" / f"noise_{index}_{kind}.wav", torch.from_numpy(wav), 16000)
    rir = room_impulse_response(np.random.default_rng(2))
    save_audio(root / "rir" / "room.wav", torch.from_numpy(rir), 16000)
    return root


@pytest.fixture(scope="module")
def built_study(corpus, tmp_path_factory):
    folder = tmp_path_factory.mktemp("work") / "data"
    return folder, study_data.build_study_data(corpus, folder, test_count=10, test_seconds=1.0)


def _assert_disjoint(split):
    train_speakers = {study_data.speaker_of(Path(p).stem) for p in split["train_clean"]}
    test_speakers = {study_data.speaker_of(Path(p).stem) for p in split["test_clean"]}
    assert train_speakers and test_speakers and not train_speakers & test_speakers
    assert set(split["test_speakers"]) == test_speakers
    train_noise = {Path(p).name for p in split["train_noise"]}
    test_noise = {Path(p).name for p in split["test_noise"]}
    assert train_noise and test_noise and not train_noise & test_noise


@pytest.mark.parametrize("name, speaker", sorted(SPEAKERS.items()))
def test_speaker_rule(name, speaker):
    assert study_data.speaker_of(name) == speaker


@pytest.mark.skipif(not SHARED_CORPUS.is_dir(), reason=f"shared corpus not found at {SHARED_CORPUS}")
def test_speaker_rule_agrees_with_sources_table_and_real_split_is_disjoint():
    """Two files share a speaker in SOURCES.md exactly when they share one by the rule."""
    rows = re.findall(
        r"^\| (\S+\.wav) \|[^|]*\|[^|]*\|[^|]*\| ([^|]+) \|", (SHARED_CORPUS / "SOURCES.md").read_text(), re.M
    )
    clean = {path.name for path in (SHARED_CORPUS / "clean").glob("*.wav")}
    listed = {name: re.sub(r"\s*\(.*\)", "", speaker).strip() for name, speaker in rows if name in clean}
    assert set(listed) == clean
    pairs = {(listed[name], study_data.speaker_of(name)) for name in clean}
    assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs}) == 118
    split = study_data.split_corpus(SHARED_CORPUS.parent)
    _assert_disjoint(split)
    assert len(split["train_clean"]) + len(split["test_clean"]) == len(clean)
    assert len(split["test_noise"]) == 6 and len(split["rir"]) == 7


def test_split_and_test_set(built_study, corpus):
    folder, split = built_study
    _assert_disjoint(split)
    datasets = folder / "datasets"
    linked = sorted(p.name for p in (datasets / "clean").iterdir())
    assert linked == sorted(Path(p).name for p in split["train_clean"])
    assert all((datasets / "clean" / name).is_symlink() for name in linked)
    assert sorted(p.name for p in (datasets / "noise").iterdir()) == sorted(
        Path(p).name for p in split["train_noise"]
    )
    assert [p.name for p in (datasets / "impulse_responses").iterdir()] == ["room.wav"]

    test = datasets / "test_set" / "synthetic" / "no_reverb"
    items = split["test_items"]
    assert [item["snr_db"] for item in items] == [-5, 0, 5, 10, 15] * 2
    for item in items:
        assert item["speaker"] in split["test_speakers"]
        assert item["noise_source"] in {Path(p).name for p in split["test_noise"]}
        noisy_path = Path(item["noisy"])
        assert noisy_path.parent == test / "noisy"
        assert noisy_path.name.endswith(f"_snr{item['snr_db']}_fileid_{item['fileid']}.wav")
        assert Path(item["clean"]) == test / "clean" / f"clean_fileid_{item['fileid']}.wav"
        clean, noisy = load_audio(item["clean"]), load_audio(noisy_path)
        assert clean.shape == noisy.shape and clean.shape[-1] <= 16000
        snr = 10 * torch.log10(clean.pow(2).sum() / (noisy - clean).pow(2).sum())
        assert abs(float(snr) - item["snr_db"]) < 0.05

    before = (test / "clean" / "clean_fileid_0.wav").stat().st_mtime_ns
    assert study_data.build_study_data(corpus, folder, test_count=10, test_seconds=1.0) == split
    assert (test / "clean" / "clean_fileid_0.wav").stat().st_mtime_ns == before


def test_bad_inputs_are_named(corpus, tmp_path):
    with pytest.raises(study_data.StudyError, match="multiple of 5"):
        study_data.build_study_data(corpus, tmp_path / "data", test_count=7)
    (tmp_path / "only_clean" / "clean").mkdir(parents=True)
    with pytest.raises(study_data.StudyError, match="only_clean.*clean/, noise/"):
        study_data.split_corpus(tmp_path / "only_clean")
    with pytest.raises(study_data.StudyError, match="Unknown system"):
        study_plan.select_systems(["dccrn", "bogus"])


def _fabricate_run(output, metrics, si_snr_curve, test_items=()):
    """A finished run folder as train.py leaves it, with a tiny model.

    Each test item's enhanced SI-SNR-i is ``metrics["si_snr"] - 10 + snr_db / 10``.
    """
    model = DCCRN(channels=[8] * 6, rnn_units=16)
    save_model_config(model, output / "save" / MODEL_CONFIG)
    AtomicCheckpointer(output / "save", {"model": model}).save_checkpoint(meta={"valid_pesq": 1.5})
    lines = [
        f"epoch: {epoch}, lr: 1.00e-03 - train loss: 1.00e+00 - valid loss: {-value:.2e}, "
        f"valid si_snr: {value:.2f}, valid pesq: 1.{epoch}0"
        for epoch, value in enumerate(si_snr_curve, 1)
    ]
    (output / "train_log.txt").write_text("\n".join(lines) + "\n")
    noisy = {"pesq_wb": 1.2, "stoi": 0.8, "si_snr": 5.0, "si_snr_i": 0.0, "dnsmos_ovrl": 2.5}
    record = {"test_set": "test", "num_utterances": 10, "num_skipped": 0, "noisy": noisy, "enhanced": metrics}
    (output / "test_metrics.json").write_text(json.dumps(record))
    rows = ["id,system,si_snr_i"]
    for item in test_items:
        rows.append(f"no_reverb_fileid_{item['fileid']},noisy,0.0")
        rows.append(f"no_reverb_fileid_{item['fileid']},enhanced,{metrics['si_snr'] - 10 + item['snr_db'] / 10}")
    (output / "test_results").mkdir()
    (output / "test_results" / "per_utterance.csv").write_text("\n".join(rows) + "\n")


def test_table_and_figures_from_fabricated_runs(built_study, tmp_path):
    _, split = built_study
    seeds = [1986, 1987, 1988]
    runs = study_plan.plan_runs(study_plan.SYSTEMS, seeds)
    assert len(runs) == 26
    for index, run in enumerate(runs):
        shift = {study_plan.STUDENT_ATKL: 0.3, study_plan.STUDENT_FIXED: -0.2, study_plan.STUDENT_FIXED_4X: 0.5}.get(
            run.system.name, 0.0
        )
        offset = 0.1 * seeds.index(run.seed) + shift
        metrics = {
            "pesq_wb": 2.0 + offset,
            "stoi": 0.9,
            "si_snr": 10.0 + offset,
            "si_snr_i": 5.0,
            "dnsmos_ovrl": 3.0,
        }
        _fabricate_run(run.output(tmp_path / "runs"), metrics, [1.0 + offset, 2.0, 3.0 + index], split["test_items"])

    budget = study_plan.BUDGETS["micro"]
    figures = tmp_path / "figures"
    table, written = study_report.write_results(runs, tmp_path / "runs", tmp_path, "micro", budget, split, [figures])
    main_table, by_snr = table.split("SI-SNR improvement (dB) by input SNR (mean over seeds):")
    rows = {line.split(" | ")[0].lstrip("| "): line for line in main_table.splitlines() if line.startswith("| ")}
    assert set(rows) == {"system", "noisy input"} | {system.label for system in study_plan.SYSTEMS}
    snr_rows = {line.split(" | ")[0].lstrip("| "): line for line in by_snr.splitlines() if line.startswith("| ")}
    assert snr_rows["system"] == "| system | -5 dB | 0 dB | 5 dB | 10 dB | 15 dB |"
    # AT-KL: seed offsets 0.3, 0.4, 0.5 -> mean 0.4, plus snr / 10
    assert snr_rows["Distil-DCCRN + AT-KL"] == "| Distil-DCCRN + AT-KL | -0.10 | +0.40 | +0.90 | +1.40 | +1.90 |"
    assert "| 3 |" in rows["Distil-DCCRN alone"] and "| 2.100 ± 0.100 |" in rows["Distil-DCCRN alone"]
    assert "| 2.400 ± 0.100 |" in rows["Distil-DCCRN + AT-KL"]
    assert rows["DCCRN-E"].endswith("| 3.000 | 4.00 |")  # one seed: no spread; last valid SI-SNR 3.0 + index 1
    assert rows["noisy input"].endswith("| 2.500 | - |")  # no prepared validation set here
    # the last epoch's validation SI-SNR is paired too: AT-KL runs are 3 to 5 positions after the student's
    assert "- valid_si_snr_last: +3.000 ± 0.000 (3 seeds)" in table
    # ... and so is the mean over the curve: (1.0 + offset, 2.0, 3.0 + index) differs by (0.3 + 3) / 3
    assert "- valid_si_snr_mean: +1.100 ± 0.000 (3 seeds)" in table
    assert "- pesq_wb: +0.300 ± 0.000 (3 seeds)" in table
    assert "Rows with 4x the steps: 4 epochs (8 steps)." in table  # micro budget: 1 epoch of 2 steps
    # every distilled system run with every seed gets its paired difference to the student alone
    assert table.count(", paired by seed:") == 4
    assert table.count("minus Distil-DCCRN alone, paired by seed:") == 3  # the 4x group is paired with 4x
    fixed = table.split("from the 4x-steps teacher minus Distil-DCCRN alone")[1]
    assert "- pesq_wb: -0.200 ± 0.000 (3 seeds)" in fixed and "- si_snr: -0.200 ± 0.000 (3 seeds)" in fixed
    assert "minus Distil-DCCRN alone, 4x the steps, paired by seed:\n- pesq_wb: +0.500 ± 0.000" in table
    assert (tmp_path / "results_table.md").read_text() == table
    results = json.loads((tmp_path / "results.json").read_text())
    assert len(results["systems"]) == 14 and results["noisy"]["dnsmos_ovrl"] == 2.5
    assert sorted(p.name for p in written) == ["spectrograms.png", "valid_curves.png"]
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_dry_run_prints_every_run_with_the_same_budget(corpus, tmp_path, capsys):
    assert study.main([str(corpus), "--work-dir", str(tmp_path / "w"), "--dry-run", "--seeds", "3"]) == 0
    out = capsys.readouterr().out
    commands = [line for line in out.splitlines() if "train.py" in line]
    assert len(commands) == 26 and not (tmp_path / "w").exists()
    long_runs = [c for c in commands if "--number_of_epochs=20 --epoch_size=112" in c]
    assert len(long_runs) == 7 and sum("--experiment_name=uformer_long" in c for c in long_runs) == 1
    for command in set(commands) - set(long_runs):
        assert "--number_of_epochs=5 --epoch_size=112 --batch_size=8 --segment_seconds=2.0" in command
    distilled = [c for c in commands if "distil_dccrn_atkl.yaml" in c]
    assert len(distilled) == 17
    runs = tmp_path / "w" / "runs"
    from_long = [c for c in distilled if f"--teacher_checkpoint={runs / 'uformer_long' / '1986'}" in c]
    assert len(from_long) == 6
    assert {re.search(r"--experiment_name=(\S+)", c).group(1) for c in from_long} == {
        "atkl_t8_long_teacher",
        "atkl_t8_4x",
    }
    assert all(f"--teacher_checkpoint={runs / 'uformer' / '1986'}" in c for c in set(distilled) - set(from_long))
    for override in (
        "--feature_weight=0.0",
        "--atkl_kl_weight=0.0",
        "--atkl_at_weight=0.0",
        "--atkl_dims=[time]",
        "--atkl_dims=[channel]",
    ):
        assert sum(override in c for c in commands) == 1
    assert sum("--atkl_temperature=8.0" in c for c in commands) == 9
    for seed in (1986, 1987, 1988):
        assert sum(f"--experiment_name=distil_dccrn_atkl --seed={seed}" in c for c in commands) == 1


def test_micro_study_end_to_end(corpus, tmp_path, capsys):
    """Teacher, student alone and student with AT-KL really trained; then a resumed call skips them."""
    work = tmp_path / "study"
    committed = {p: p.stat().st_mtime_ns for p in study.COMMITTED_FIGURES.glob("*.png")}
    argv = [
        str(corpus),
        "--work-dir",
        str(work),
        "--budget",
        "micro",
        "--seeds",
        "1",
        "--systems",
        "distil_dccrn,distil_dccrn_atkl",
        "--threads",
        "1",
    ]
    python_path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))  # run from tmp_path
    done = subprocess.run(
        [sys.executable, "-m", "recipes.DNS.study", *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": python_path},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "[3/3] distil_dccrn_atkl/1986: training" in done.stdout and "epoch 1: valid si_snr" in done.stdout

    check = json.loads((work / "data_check.json").read_text())
    split = json.loads((work / "data" / "split.json").read_text())
    assert check["valid_from_training_only"] and check["test_items"] == 5
    assert set(check["valid_speakers"]) <= set(split["train_speakers"])
    assert set(check["valid_noises"]) <= {Path(p).stem for p in split["train_noise"]}
    _assert_disjoint(split)

    table = (work / "results_table.md").read_text()
    for label in ("noisy input", "Uformer-light (teacher)", "Distil-DCCRN alone", "Distil-DCCRN + AT-KL"):
        assert f"| {label} |" in table
    assert re.search(r"\| Distil-DCCRN \+ AT-KL \| 1 \| 1\.\d\d M \| \d\.\d\d \| \d\.\d{3} \|", table)
    # the unprocessed validation mixtures fill the noisy row's last-epoch validation SI-SNR
    assert re.search(r"\| noisy input \|.*\| -?\d+\.\d\d \|\n", table)
    # one test item per SNR: the real per-utterance scores give every cell of the by-SNR table
    assert re.search(r"\| Distil-DCCRN \+ AT-KL( \| [+-]\d+\.\d\d){5} \|", table)
    assert (work / "figures" / "valid_curves.png").is_file() and (
        work / "figures" / "spectrograms.png"
    ).is_file()
    assert {p: p.stat().st_mtime_ns for p in study.COMMITTED_FIGURES.glob("*.png")} == committed

    assert study.main(argv[:-2] + ["--dry-run"]) == 0
    assert capsys.readouterr().out.count("(finished: skipped)") == 3


def test_noisy_validation_scores(tmp_path):
    rng = np.random.default_rng(5)
    manifest, expected = {}, []
    for index, snr in enumerate((0.0, 10.0)):
        clean = torch.from_numpy(speech_like(2.0, rng, speaker=index)).float()
        noise = torch.from_numpy(noise_like("babble", 2.0, rng)).float()
        noisy = clean + noise * clean.norm() / noise.norm() * 10 ** (-snr / 20)
        paths = {kind: tmp_path / kind / f"valid_{index}.wav" for kind in ("noisy", "clean")}
        save_audio(paths["noisy"], noisy, 16000)
        save_audio(paths["clean"], clean, 16000)
        manifest[f"valid_{index}"] = {"noisy_wav": str(paths["noisy"]), "clean_wav": str(paths["clean"])}
        expected.append(snr)
    (tmp_path / "valid.json").write_text(json.dumps(manifest))
    scores = study_report.noisy_validation_scores(tmp_path)
    # additive noise uncorrelated with the speech: SI-SNR is close to the mixing SNR
    assert scores["si_snr"] == pytest.approx(np.mean(expected), abs=0.5)
    assert 1.0 <= scores["pesq"] < 4.6
    assert study_report.noisy_validation_scores(tmp_path / "missing") == {}


# ---------------------------------------------------------------------- the release's records


def _release_args(tmp_path, *extra):
    from recipes.DNS import release

    corpus = tmp_path / "corpus"
    for folder in ("clean", "noise"):
        (corpus / folder).mkdir(parents=True, exist_ok=True)
    return release, ["--data-dir", str(corpus), "--work-dir", str(tmp_path / "work"), *extra]


@pytest.mark.parametrize(
    "option, message",
    [(["--test-count", "7"], "--test-count 7: expected a positive multiple of 5"),
     (["--valid-count", "0"], "--valid-count 0: expected an integer >= 1"),
     (["--metrics", "pesq,stoi"], "--metrics: unknown pesq"),
     (["--test-seconds", "nan"], "--test-seconds nan: expected a finite number")],
)
def test_release_options_are_checked_before_anything_is_recorded(tmp_path, option, message):
    release, argv = _release_args(tmp_path, *option)
    with pytest.raises(study_data.StudyError, match=re.escape(message)):
        release.main(argv)
    assert not (tmp_path / "work").exists()


def test_release_record_binds_every_setting_once_a_run_trained(tmp_path):
    """A record replaced while nothing trained; then --ckpt-key and --metrics, ignored by finished runs, are refused."""
    release, argv = _release_args(tmp_path)
    work = tmp_path / "work"
    args = release.build_parser().parse_args(argv)
    study.check_work_record(work, release.RECORD, release.release_record(args), "release")
    changed = release.build_parser().parse_args([*argv, "--test-count", "20"])
    study.check_work_record(  # nothing trained yet: the corrected settings replace the record
        work, release.RECORD, release.release_record(changed), "release",
        replaceable=not study.has_trained_runs(work / "runs"),
    )
    assert json.loads((work / release.RECORD).read_text())["test_count"] == 20
    (work / "runs" / "uformer" / "1986").mkdir(parents=True)
    (work / "runs" / "uformer" / "1986" / "test_metrics.json").write_text("{}")
    for option, key in ((["--ckpt-key", "valid_pesq"], "'ckpt_key': 'valid_pesq'"),
                        (["--metrics", "si_snr"], "'metrics': ['si_snr']")):
        with pytest.raises(study_data.StudyError, match="holds a release of") as error:
            release.main([*argv, "--test-count", "20", *option])
        assert key in str(error.value)


def test_release_needs_a_corpus_named_and_publishes_by_its_record(tmp_path, capsys):
    from recipes.DNS.release_publication import publication

    release, _ = _release_args(tmp_path)
    with pytest.raises(SystemExit):
        release.build_parser().parse_args([])
    assert "--data-dir" in capsys.readouterr().err
    run, folder = tmp_path / "run", tmp_path / "published"
    run.mkdir()
    (run / "test_metrics.json").write_text('{"enhanced": {}}')
    folder.mkdir()
    (folder / "README.md").write_text("## This release\n**Note: card of a release.** Uformer-light (teacher),")
    made = publication({"output": str(run)}, folder)
    (folder / "README.md").write_text("a folder replaced by hand, its text copied")
    assert publication({"output": str(run)}, folder) != made
    (folder / "README.md").write_text("## This release\n**Note: card of a release.** Uformer-light (teacher),")
    (folder / "training_history.json").write_text("[]")  # the campaign replaced the history
    assert publication({"output": str(run)}, folder) != made
    (run / "test_metrics.json").write_text('{"enhanced": {"si_snr": 1.0}}')  # the run was extended
    assert publication({"output": str(run)}, folder)["test_metrics_sha256"] != made["test_metrics_sha256"]


def test_release_tries_the_publish_folder_before_anything_is_recorded(tmp_path):
    release, argv = _release_args(tmp_path)
    (tmp_path / "a_file").write_text("")
    with pytest.raises(study_data.StudyError, match="--publish-dir: .*a_file.*writing a file in this folder failed"):
        release.main([*argv, "--publish-dir", str(tmp_path / "a_file" / "pretrained")])
    assert not (tmp_path / "work" / release.RECORD).exists()


def test_enhance_file_uses_the_checkpoint_the_key_chose(tmp_path):
    """The release's spectrogram shows the checkpoint it publishes (its --ckpt-key), not the best PESQ one."""
    from speechbrain.utils.checkpoints import Checkpointer

    from speechbrain_atkl.loading.model_config import save_model_config
    from speechbrain_atkl.models import DCCRN

    torch.manual_seed(0)
    best_pesq, best_si_snr = DCCRN(channels=[8] * 6, rnn_units=16), DCCRN(channels=[8] * 6, rnn_units=16)
    save_model_config(best_pesq, tmp_path / "save" / "model_config.yaml")
    checkpointer = Checkpointer(tmp_path / "save", {"model": best_pesq})
    checkpointer.save_checkpoint(meta={"valid_pesq": 2.0, "valid_si_snr": 5.0}, name="pesq")
    checkpointer.recoverables["model"] = best_si_snr
    checkpointer.save_checkpoint(meta={"valid_pesq": 1.0, "valid_si_snr": 9.0}, name="si_snr")
    noisy = torch.randn(4000)
    with torch.no_grad():
        expected = {key: model.eval()(noisy[None])[0] for key, model in
                    (("valid_pesq", best_pesq), ("valid_si_snr", best_si_snr))}
    for key, wav in expected.items():
        assert torch.allclose(study_report.enhance_file(tmp_path, noisy, key), wav, atol=1e-6)
    assert not torch.allclose(expected["valid_pesq"], expected["valid_si_snr"], atol=1e-3)
