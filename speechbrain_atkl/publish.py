"""Turns a training output folder into a Hugging Face Hub model folder.

Usage::

    python -m speechbrain_atkl.publish TRAIN_OUTPUT_FOLDER --output DIR \\
        [--checkpoint-key valid_pesq] [--license apache-2.0] [--example WAV] \\
        [--push --repo-id user/name]

The training folder is what the recipes write:

* ``save/CKPT+<time>/model.ckpt`` and ``CKPTINFO.yaml``: checkpoints of a
  SpeechBrain ``Checkpointer`` with the recoverable ``model`` and meta keys
  such as ``valid_pesq`` or ``valid_si_snr``;
* ``save/model_config.yaml``: the architecture
  (:func:`speechbrain_atkl.loading.model_config.save_model_config`);
* ``hyperparams.yaml``: the training YAML (only read to tell whether the run
  was distilled from a teacher);
* ``test_metrics.json`` (optional): measured test-set metrics.

The model folder holds an inference ``hyperparams.yaml`` that builds the
model from ``speechbrain_atkl`` classes (no custom code file),
``enhance_model.ckpt``, ``config.json`` naming the :class:`EnhanceBatch`
interface, a ``README.md`` model card, and ``example.wav`` with its
enhanced version ``example_enhanced.wav``. Before the folder is put in
place, it is loaded back with ``EnhanceBatch.from_hparams`` and its output
is checked against the trained model's. Load it with::

    from speechbrain_atkl import EnhanceBatch
    enhancer = EnhanceBatch.from_hparams(source=DIR_OR_HUB_ID, savedir="pretrained/model")

Authors
 * speechbrain-atkl developers 2026
"""

import argparse
import json
import math
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import torch

from speechbrain_atkl import __version__
from speechbrain_atkl.loading import load_trained_model, model_spec, records
from speechbrain_atkl.publishing import PublishError
from speechbrain_atkl.publishing.card import (  # noqa: F401 - METRIC_NAMES: re-exported
    METRIC_NAMES,
    model_card,
    read_test_metrics,
    yaml_lines,
)
from speechbrain_atkl.publishing.folder import (  # noqa: F401 - PUBLISHED_FILES: re-exported
    MARKER,
    PUBLISHED_FILES,
    check_output,
    replace_folder,
)
from speechbrain_atkl.publishing.hub import push_to_hub
from speechbrain_atkl.training.run_checks import read_run_record

#: Largest difference allowed between the published and the trained model's
#: output, relative to the output's peak.
VERIFY_TOLERANCE = 1e-4

#: Longest example kept in the model folder (seconds).
MAX_EXAMPLE_SECONDS = 30.0


def load_best_model(train_dir, key="valid_pesq"):
    """Rebuilds a training folder's model from its best checkpoint by ``key``.

    Uses :func:`speechbrain_atkl.loading.load_trained_model`
    (``key`` is maximised for PESQ, STOI, SI-SNR and DNSMOS, else minimised),
    but refuses to fall back on a checkpoint that does not record ``key``.

    Arguments
    ---------
    train_dir : str or pathlib.Path
        Training output folder (see the module docstring).
    key : str
        ``CKPTINFO.yaml`` meta key ranking the checkpoints.

    Returns
    -------
    model : torch.nn.Module
        In eval mode, with the checkpoint's weights.
    checkpoint : speechbrain.utils.checkpoints.Checkpoint
        The chosen checkpoint.
    """
    train_dir = Path(train_dir)
    if not train_dir.is_dir():
        raise PublishError(f"{train_dir}: training output folder not found.")
    try:
        model, checkpoint = load_trained_model(train_dir, key)
    except (FileNotFoundError, ValueError) as error:
        raise PublishError(f"{train_dir}: {error}") from error
    if not records(checkpoint, key):
        raise PublishError(
            f"{train_dir / 'save'}: no checkpoint records {key!r} as a finite number (the latest has "
            f"{sorted(k for k in checkpoint.meta if k != 'unixtime')}); pass another --checkpoint-key."
        )
    return model, checkpoint


def inference_hyperparams(spec, sample_rate, origin=""):
    """The inference ``hyperparams.yaml`` text for a model description.

    Example
    -------
    >>> spec = {"class_path": "speechbrain_atkl.models.dccrn.DCCRN", "config": {"rnn_units": 16}}
    >>> print(inference_hyperparams(spec, 16000))  # doctest: +ELLIPSIS
    # Inference hyper-parameters for speechbrain_atkl.EnhanceBatch...
    enhance_model: !new:speechbrain_atkl.models.dccrn.DCCRN
        rnn_units: 16
    ...
    """
    config = "\n".join("    " + line for line in yaml_lines(spec["config"]).splitlines())
    header = "# Inference hyper-parameters for speechbrain_atkl.EnhanceBatch"
    if origin:  # escaped: a line break in a folder name must not end the comment
        header += f"\n# Published from {json.dumps(origin, ensure_ascii=False)[1:-1]}"
    return (
        f"{header}\n"
        "# (written by speechbrain_atkl.publish; needs `pip install speechbrain-atkl`).\n\n"
        f"sample_rate: {sample_rate}\n\n"
        f"enhance_model: !new:{spec['class_path']}\n{config}\n\n"
        "modules:\n    enhance_model: !ref <enhance_model>\n\n"
        "pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer\n"
        "    loadables:\n        enhance_model: !ref <enhance_model>\n"
    )


def synthetic_example(seconds=3.0, sample_rate=16000, snr_db=5.0, seed=0):
    """A deterministic noisy example: a voiced-like harmonic signal in white noise.

    Used when no ``--example`` recording is given. It is not speech; it only
    shows that the model runs and what it removes.

    Example
    -------
    >>> wav = synthetic_example(seconds=0.5)
    >>> wav.shape, bool(wav.abs().max() <= 1)
    (torch.Size([8000]), True)
    """
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    pitch = 140 + 30 * torch.sin(2 * math.pi * 0.7 * t)
    phase = 2 * math.pi * torch.cumsum(pitch, 0) / sample_rate
    voiced = sum(torch.sin(h * phase) / h for h in range(1, 12))
    syllables = torch.sin(math.pi * 3.0 * t).clamp_min(0) ** 2
    clean = voiced * syllables
    noise = torch.randn(t.shape, generator=generator)
    noise = noise * (clean.pow(2).mean() / noise.pow(2).mean() / 10 ** (snr_db / 10)).sqrt()
    noisy = clean + noise
    return 0.5 * noisy / noisy.abs().max()


def publish(
    train_dir,
    output_dir,
    checkpoint_key=None,
    license="apache-2.0",
    example=None,
    name=None,
    datasets=(),
    source=None,
    overwrite=False,
):
    """Writes a Hub-ready model folder from a training output folder.

    The folder is assembled under a temporary name beside ``output_dir``,
    loaded back through :class:`~speechbrain_atkl.inference.enhance.EnhanceBatch`
    and checked to reproduce the trained model's output (within
    :data:`VERIFY_TOLERANCE` of the peak), then renamed to ``output_dir``. A failure
    leaves no partial ``output_dir``.

    Arguments
    ---------
    train_dir : str or pathlib.Path
        Training output folder (see the module docstring).
    output_dir : str or pathlib.Path
        Model folder to create.
    checkpoint_key : str or None
        Checkpoint meta key to select the best checkpoint by (see
        :func:`load_best_model`); default: the run's own ``ckpt_key``
        recorded in its ``hyperparams.yaml``, so the published weights are the ones
        its ``test_metrics.json`` (shown in the card) measured.
    license : str
        Licence identifier for the model card.
    example : str or pathlib.Path or None
        A noisy recording for ``example.wav`` (first
        :data:`MAX_EXAMPLE_SECONDS` seconds, resampled to 16 kHz mono);
        ``None`` writes :func:`synthetic_example`.
    name : str or None
        Model name for the card; defaults to the output folder's name.
    datasets : sequence of str
        Training data names for the card.
    source : str or None
        Hub id to show in the card's usage snippet; defaults to ``name``.
    overwrite : bool
        Replace an existing non-empty ``output_dir``; only a model folder
        written by :func:`publish` (holding :data:`MARKER`) is ever replaced,
        see :func:`check_output`.

    Returns
    -------
    pathlib.Path
        ``output_dir``.
    """
    from speechbrain_atkl.data.audio import load_audio
    from speechbrain_atkl.inference.enhance import EnhanceBatch
    from speechbrain_atkl.inference.enhanced_output import write_enhanced

    train_dir, output_dir = Path(train_dir), Path(output_dir)
    check_output(train_dir, output_dir, overwrite)
    record = read_run_record(train_dir)
    checkpoint_key = checkpoint_key or record.get("ckpt_key", "valid_pesq")
    model, checkpoint = load_best_model(train_dir, checkpoint_key)
    spec = model_spec(model)
    metrics = read_test_metrics(train_dir / "test_metrics.json")
    sample_rate = getattr(model, "sample_rate", 16000)
    if example is not None:
        noisy = load_audio(example, sample_rate, frames=int(MAX_EXAMPLE_SECONDS * sample_rate))
    else:
        noisy = synthetic_example(sample_rate=sample_rate)

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = output_dir.parent / f".publish-{uuid.uuid4().hex[:12]}.partial"
    staging.mkdir()
    try:
        (staging / MARKER).write_text(f"written by speechbrain_atkl.publish {__version__}\n", encoding="utf-8")
        torch.save(model.state_dict(), staging / "enhance_model.ckpt")
        origin = "/".join([*train_dir.resolve().parts[-2:], Path(checkpoint.path).name])
        origin += f" ({checkpoint_key} = {checkpoint.meta[checkpoint_key]})"
        (staging / "hyperparams.yaml").write_text(
            inference_hyperparams(spec, sample_rate, origin), encoding="utf-8"
        )
        config = {
            "speechbrain_interface": "EnhanceBatch",
            "speechbrain_interface_module": "speechbrain_atkl",
            "model_class": spec["class_path"],
            "sample_rate": sample_rate,
            "speechbrain_atkl_version": __version__,
        }
        (staging / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        with tempfile.TemporaryDirectory() as savedir:
            enhancer = EnhanceBatch.from_hparams(
                source=str(staging), savedir=savedir, run_opts={"device": "cpu"}
            )
            published = enhancer.enhance_batch(noisy[None])[0]
        with torch.no_grad():
            expected = model(noisy[None])[0]
        difference = (published - expected).abs().max().item() / max(expected.abs().max().item(), 1e-3)
        if not difference <= VERIFY_TOLERANCE:
            raise PublishError(
                f"the published model's output differs from the trained model's by {difference:.3g} "
                f"of its peak (tolerance {VERIFY_TOLERANCE}); refusing to publish."
            )
        write_enhanced(staging / "example.wav", noisy, sample_rate)
        write_enhanced(staging / "example_enhanced.wav", published, sample_rate)
        name = name or output_dir.name
        distilled = any(key.startswith("teacher") for key in record)
        card = model_card(
            name,
            spec,
            checkpoint.meta,
            metrics,
            license=license,
            datasets=datasets,
            distilled=distilled,
            num_parameters=sum(p.numel() for p in model.parameters()),
            lookahead_ms=_lookahead_ms(model, sample_rate),
            source=source,
        )
        (staging / "README.md").write_text(card, encoding="utf-8")
        replace_folder(staging, output_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return output_dir


def _lookahead_ms(model, sample_rate):
    samples = getattr(model, "lookahead_samples", None)
    return None if samples is None else 1000.0 * samples / sample_rate


def main(argv=None):
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m speechbrain_atkl.publish",
        description="Turn a speechbrain-atkl training output folder into a Hub-ready model folder.",
    )
    parser.add_argument(
        "train_dir", help="training output folder (hyperparams.yaml, save/, test_metrics.json)"
    )
    parser.add_argument("--output", required=True, help="model folder to write")
    parser.add_argument(
        "--checkpoint-key",
        help="CKPTINFO meta key ranking checkpoints (maximised for pesq/stoi/si_snr/dnsmos, else minimised; "
        "default: the run's ckpt_key, the checkpoint its test measured)",
    )
    parser.add_argument("--license", default="apache-2.0", help="licence identifier for the model card")
    parser.add_argument("--example", help="noisy recording to ship as example.wav (default: a synthetic one)")
    parser.add_argument("--name", help="model name for the card (default: the output folder's name)")
    parser.add_argument("--dataset", action="append", default=[], help="training data name (repeatable)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    parser.add_argument("--push", action="store_true", help="upload the folder to the Hub (needs --repo-id)")
    parser.add_argument("--repo-id", help="Hub repository user/name")
    parser.add_argument("--private", action="store_true", help="create the Hub repository as private")
    parser.add_argument("--timeout", type=float, default=10.0, help="Hub connection timeout (s)")
    args = parser.parse_args(argv)
    if args.push and not args.repo_id:
        parser.error("--push needs --repo-id user/name")
    try:
        folder = publish(
            args.train_dir,
            args.output,
            checkpoint_key=args.checkpoint_key,
            license=args.license,
            example=args.example,
            name=args.name or (args.repo_id.split("/")[-1] if args.repo_id else None),
            datasets=args.dataset,
            source=args.repo_id,
            overwrite=args.overwrite,
        )
        print(f"Model folder written: {folder}")
        if args.push:
            print(f"Pushed: {push_to_hub(folder, args.repo_id, private=args.private, timeout=args.timeout)}")
    except (PublishError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
