"""Model builders and recipe runners shared by the test files."""

import os
import subprocess
import sys
from pathlib import Path

import torch

from speechbrain_atkl.models.dccrn import DCCRN
from speechbrain_atkl.streaming import CheckedStep, StreamingEnhancer, StreamingStep


def small_dccrn(seed=0, **config):
    """A small DCCRN in eval mode with non-trivial batch-norm statistics."""
    torch.manual_seed(seed)
    model = DCCRN(**{"channels": [8, 8, 16, 16, 16, 16], "rnn_units": 16, **config})
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def convolution_streamer(model, atten_lim_db=None):
    """A StreamingEnhancer running the convolution form of the hop (the form the ONNX graph holds)."""
    enhancer = StreamingEnhancer(model, atten_lim_db=atten_lim_db)
    enhancer.step = CheckedStep(StreamingStep(model, matrix_steps=False, atten_lim_db=atten_lim_db))
    return enhancer


REPO = Path(__file__).resolve().parents[1]
#: train.py options of a run that takes seconds (with the ``corpus`` fixture's demo corpus).
TINY = {
    "epoch_size": 4,
    "batch_size": 2,
    "segment_seconds": 0.5,
    "valid_count": 2,
    "number_of_epochs": 1,
    "num_workers": 0,
    "test_metrics": "[si_snr, pesq_wb]",
    "eval_num_workers": 0,
    "ckpt_interval_minutes": 0,
}


def recipe_command(yaml_name, results, corpus, launcher=None, **overrides):
    """The ``train.py`` command of ``hparams/<yaml_name>`` with the :data:`TINY` options and ``overrides``."""
    options = {**TINY, "data_folder": corpus, "results_root": results, **overrides}
    return (launcher or [sys.executable]) + [
        str(REPO / "train.py"), str(REPO / "hparams" / yaml_name),
        *(f"--{key}={value}" for key, value in options.items()),
    ]


def train_recipe(yaml_name, results, corpus, check=True, launcher=None, **overrides):
    """Runs :func:`recipe_command` on one thread; with ``check``, asserts that it succeeded."""
    command = recipe_command(yaml_name, results, corpus, launcher, **overrides)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def run_output(results, name):
    """The output folder of the run ``name`` (seed 1986) under ``results``."""
    return Path(results) / name / "1986"
