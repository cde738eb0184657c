"""Tests of the teacher benchmark (recipes/DNS/teacher_benchmark.py)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SCRIPT = REPO / "recipes" / "DNS" / "teacher_benchmark.py"

sys.path.insert(0, str(SCRIPT.parent))
import teacher_benchmark  # noqa: E402  (recipes/DNS is not a package)

MICRO = ["--steps", "1", "--batch-size", "2", "--segment-seconds", "0.5", "--valid-count", "2",
         "--test-count", "5", "--test-seconds", "1.0", "--eval-workers", "0"]


def test_dry_run_plans_every_system_and_seed_on_the_same_batches(tmp_path, capsys):
    for folder in ("clean", "noise"):
        (tmp_path / "corpus" / folder).mkdir(parents=True)
    argv = [str(tmp_path / "corpus"), "--work-dir", str(tmp_path / "w"), "--dry-run"]
    assert teacher_benchmark.main(argv) == 0
    out = capsys.readouterr().out
    commands = [line for line in out.splitlines() if "train.py" in line]
    assert len(commands) == 18 and not (tmp_path / "w").exists()  # 6 systems x 3 seeds
    for command in commands:
        assert "--number_of_epochs=5 --epoch_size=240 --batch_size=4 --segment_seconds=2.0" in command
        assert "--data_seed" not in command  # every run: the YAML's data_seed, the same batches
    names = ["uformer_before", "uformer_after", "uformer_after_sisnr", "dccrn_e", "distil_dccrn", "distil_dccrn_atkl"]
    for name in names:
        for seed in (1986, 1987, 1988):
            assert sum(f"--experiment_name={name} --seed={seed}" in c for c in commands) == 1
    before = [c for c in commands if "uformer_before" in c]
    assert all("--output_combination=complex_mean --conformer_fusion=False --dilated_conv=time" in c for c in before)
    assert sum("--spectral_weight=0.0" in c for c in commands) == 6  # before and after_sisnr
    assert sum(f"--spectral_weight={teacher_benchmark.SPECTRAL_WEIGHT}" in c for c in commands) == 3
    assert all("--precision=fp32" in c for c in commands)
    assert sum("/dccrn.yaml" in c for c in commands) == 3
    distilled = [c for c in commands if "distil_dccrn_atkl.yaml" in c]
    assert len(distilled) == 3 and all("uformer_after/1986" in c for c in distilled)
    with pytest.raises(teacher_benchmark.StudyError, match="Unknown system"):
        teacher_benchmark.main(argv + ["--systems", "uformer_huge"])


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"real corpus absent: {SHARED_DATA}")
def test_micro_benchmark_end_to_end(tmp_path):
    """Two systems really trained (1 step) and scored on the real held-out split; a rerun skips them."""
    command = [sys.executable, str(SCRIPT), str(SHARED_DATA), "--work-dir", str(tmp_path / "tb"), "--seeds", "1",
               "--systems", "uformer_before,uformer_after", "--threads", "1", *MICRO]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=400, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = (tmp_path / "tb" / "results_table.md").read_text()
    assert table in done.stdout
    after = "Uformer-light after (SI-SNR + 10 x spectral loss)"
    for label in ("noisy input", "Uformer-light before (previous teacher, SI-SNR)", after):
        assert f"| {label} |" in table
    assert f"| {after} | 1986 | " in table
    assert "DCCRN-E" not in table
    for label in ("before \\(previous teacher, SI-SNR\\)", "after \\(SI-SNR \\+ 10 x spectral loss\\)"):
        assert re.search(rf"\| Uformer-light {label} \| 1 \| -?\d+\.\d\d \| \d\.\d{{3}} \| -?\d+\.\d\d \|", table)
    again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=200, env=env)
    assert again.returncode == 0 and again.stdout.count("finished earlier, skipped") == 2
    report = [*command, "--report-only"]
    report[report.index("uformer_before,uformer_after")] = "uformer_before,uformer_after,dccrn_e"
    only = subprocess.run(report, cwd=tmp_path, capture_output=True, text=True, timeout=200, env=env)
    assert only.returncode == 0, only.stderr[-2000:]
    assert "training" not in only.stdout and "| DCCRN-E |" not in only.stdout and f"| {after} | 1 |" in only.stdout
