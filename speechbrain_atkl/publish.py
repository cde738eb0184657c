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
  (:func:`speechbrain_atkl.models.config.save_model_config`);
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
import re
import shutil
import socket
import sys
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlparse

import torch
import yaml

from speechbrain_atkl import __version__
from speechbrain_atkl.models.config import model_spec

#: ``test_metrics.json`` keys -> (model card name, model-index type).
METRIC_NAMES = {
    "pesq_wb": ("PESQ (wide-band, P.862.2)", "pesq"),
    "pesq_nb": ("PESQ (narrow-band, P.862)", "pesq"),
    "stoi": ("STOI", "stoi"),
    "estoi": ("eSTOI", "estoi"),
    "si_snr": ("SI-SNR (dB)", "si-snr"),
    "si_snr_i": ("SI-SNR improvement (dB)", "si-snr-improvement"),
    "dnsmos_sig": ("DNSMOS P.835 SIG", "dnsmos-sig"),
    "dnsmos_bak": ("DNSMOS P.835 BAK", "dnsmos-bak"),
    "dnsmos_ovrl": ("DNSMOS P.835 OVRL", "dnsmos-ovrl"),
    "dnsmos_p808": ("DNSMOS P.808", "dnsmos-p808"),
}

#: Largest difference allowed between the published and the trained model's
#: output, relative to the output's peak.
VERIFY_TOLERANCE = 1e-4

#: Longest example kept in the model folder (seconds).
MAX_EXAMPLE_SECONDS = 30.0

#: Marker file that every model folder written by :func:`publish` holds; only a
#: folder holding it may be replaced by ``--overwrite``.
MARKER = ".speechbrain_atkl_model"
#: Everything :func:`publish` writes into a model folder.
PUBLISHED_FILES = (
    MARKER,
    "README.md",
    "config.json",
    "enhance_model.ckpt",
    "example.wav",
    "example_enhanced.wav",
    "hyperparams.yaml",
)


class PublishError(RuntimeError):
    """The training folder cannot be published, or the push failed."""


def load_best_model(train_dir, key="valid_pesq"):
    """Rebuilds a training folder's model from its best checkpoint by ``key``.

    Uses :func:`speechbrain_atkl.training.checkpoints.load_trained_model`
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
    from speechbrain_atkl.training.checkpoints import load_trained_model

    train_dir = Path(train_dir)
    if not train_dir.is_dir():
        raise PublishError(f"{train_dir}: training output folder not found.")
    try:
        model, checkpoint = load_trained_model(train_dir, key)
    except (FileNotFoundError, ValueError) as error:
        raise PublishError(f"{train_dir}: {error}") from error
    if key not in checkpoint.meta:
        raise PublishError(
            f"{train_dir / 'save'}: no checkpoint records {key!r} (the latest has "
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
    config = "\n".join("    " + line for line in _yaml_lines(spec["config"]).splitlines())
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


def _yaml_lines(mapping):
    """``key: value`` YAML lines, lists written inline (``channels: [16, 32]``).

    Example
    -------
    >>> print(_yaml_lines({"channels": [8, 16], "rnn_type": "real", "window": None}))
    channels: [8, 16]
    rnn_type: real
    window: null
    """
    return "".join(
        yaml.safe_dump({key: value}, default_flow_style=None if isinstance(value, (list, dict)) else False)
        for key, value in mapping.items()
    ).rstrip("\n")


def read_test_metrics(path):
    """Reads ``test_metrics.json``; returns ``None`` when the file is absent.

    Returns
    -------
    dict or None
        ``{"test_set": str, "num_utterances": int, "enhanced": {metric: float},
        "noisy": {metric: float}}`` with only numeric metrics kept (a
        ``{"mean": ...}`` entry counts as its mean).
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise PublishError(f"{path}: not readable JSON: {error}") from error
    if not isinstance(data, dict) or not isinstance(data.get("enhanced"), dict):
        raise PublishError(f"{path}: expected an object with an 'enhanced' metrics object.")
    metrics = {
        "test_set": str(data.get("test_set", "test set")),
        "num_utterances": data.get("num_utterances"),
    }
    for system in ("enhanced", "noisy"):
        values = {name: _metric_value(value) for name, value in (data.get(system) or {}).items()}
        metrics[system] = {name: value for name, value in values.items() if value is not None}
    return metrics


def _metric_value(value):
    """A finite float from a number or a ``{"mean": number}`` entry, else None."""
    if isinstance(value, dict):
        value = value.get("mean")
    return float(value) if _is_number(value) else None


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def model_card(
    name,
    spec,
    checkpoint_meta,
    metrics=None,
    license="apache-2.0",
    datasets=(),
    distilled=False,
    num_parameters=None,
    lookahead_ms=None,
    source=None,
):
    """The ``README.md`` model card: YAML front matter and a short description.

    Arguments
    ---------
    name : str
        Model name (the Hub repository name).
    spec : dict
        Model description (``class_path``, ``config``).
    checkpoint_meta : dict
        Meta values of the published checkpoint.
    metrics : dict or None
        Output of :func:`read_test_metrics`.
    license : str
        Licence identifier for the front matter.
    datasets : sequence of str
        Training data names for the front matter.
    distilled : bool
        Whether the model was trained by distillation from a teacher.
    num_parameters : int or None
        Parameter count.
    lookahead_ms : float or None
        Algorithmic look-ahead of the model.
    source : str or None
        The ``source`` to show in the usage snippet (Hub id or folder).

    Returns
    -------
    str
        Markdown text.
    """
    model_class = spec["class_path"].rpartition(".")[2]
    tags = ["speechbrain", "speechbrain-atkl", "speech-enhancement", "denoising", "audio-to-audio", "pytorch"]
    tags.append(model_class.lower())
    if distilled:
        tags += ["knowledge-distillation", "at-kl", "distil-dccrn"]
    front = {
        "language": ["en"],
        "license": license,
        "library_name": "speechbrain",
        "pipeline_tag": "audio-to-audio",
        "tags": tags,
    }
    if datasets:
        front["datasets"] = list(datasets)
    if metrics and metrics["enhanced"]:
        front["metrics"] = sorted({_metric_name(k)[1] for k in metrics["enhanced"]})
        front["model-index"] = [
            {
                "name": name,
                "results": [
                    {
                        "task": {"type": "audio-to-audio", "name": "Speech Enhancement"},
                        "dataset": {"name": metrics["test_set"], "type": metrics["test_set"]},
                        "metrics": [
                            {"name": _metric_name(k)[0], "type": _metric_name(k)[1], "value": round(v, 4)}
                            for k, v in metrics["enhanced"].items()
                        ],
                    }
                ],
            }
        ]
    lines = ["---", yaml.safe_dump(front, sort_keys=False).rstrip("\n"), "---", "", f"# {name}", ""]
    how = ", trained by AT-KL knowledge distillation from a teacher model" if distilled else ""
    lines.append(
        f"A speech enhancement model ({model_class}{how}) for **16 kHz** mono speech, made with "
        "speechbrain-atkl, a SpeechBrain plug-in."
    )
    facts = []
    if num_parameters is not None:
        facts.append(f"{num_parameters / 1e6:.2f} M parameters")
    if lookahead_ms is not None:
        facts.append(f"causal up to {lookahead_ms:.2f} ms of look-ahead")
    if facts:
        lines += ["", "Model: " + ", ".join(facts) + "."]
    lines += ["", "## Usage", "", "```bash", "pip install speechbrain-atkl", "```", "", "```python"]
    lines += [
        "from speechbrain_atkl import EnhanceBatch",
        f'EnhanceBatch.from_hparams(source="{source or name}", savedir="pretrained_models/{name}")'
        '.enhance_file("example.wav", "enhanced.wav")',
        "```",
        "",
        "Any format and sampling rate soundfile reads is accepted; channels are averaged and the "
        "input is resampled to 16 kHz. The output is at 16 kHz. Long files are processed in "
        "overlapping chunks. A folder of files: `speechbrain-atkl-enhance IN_DIR OUT_DIR "
        f"--model {source or name}`.",
        "",
        "`example.wav` is a short noisy example and `example_enhanced.wav` this model's output.",
    ]
    if metrics and metrics["enhanced"]:
        count = metrics.get("num_utterances")
        where = f"{metrics['test_set']}" + (f", {count} utterances" if count else "")
        lines += [
            "",
            "## Results",
            "",
            f"Measured on {where}.",
            "",
            "| metric | noisy | enhanced |",
            "|---|---|---|",
        ]
        for key, value in metrics["enhanced"].items():
            noisy = metrics["noisy"].get(key)
            noisy = f"{noisy:.3f}" if noisy is not None else "-"
            lines.append(f"| {_metric_name(key)[0]} | {noisy} | {value:.3f} |")
    meta = {k: v for k, v in checkpoint_meta.items() if _is_number(v) and not k.startswith("unixtime")}
    if meta:
        lines += ["", "## Checkpoint", "", "Validation values of the published checkpoint:", ""]
        lines += [f"- `{k}`: {v:.4f}" for k, v in meta.items()]
    lines += [
        "",
        "## Architecture",
        "",
        f"`{spec['class_path']}` with:",
        "",
        "```yaml",
        _yaml_lines(spec["config"]),
        "```",
        "",
        "## References",
        "",
        "- Y. Hu et al., *DCCRN: Deep Complex Convolution Recurrent Network for Phase-Aware Speech "
        "Enhancement*, Interspeech 2020 (arXiv:2008.00264).",
    ]
    if distilled:
        lines += [
            "- R. Han et al., *Distil-DCCRN: A Small-footprint DCCRN Leveraging Feature-based Knowledge "
            "Distillation in Speech Enhancement*, IEEE Signal Processing Letters 31, 2024 (arXiv:2408.04267).",
            "- Y. Fu et al., *Uformer: A Unet Based Dilated Complex & Real Dual-Path Conformer Network for "
            "Simultaneous Speech Enhancement and Dereverberation*, ICASSP 2022 (arXiv:2111.06015).",
        ]
    lines += [
        "- M. Ravanelli et al., *SpeechBrain: A General-Purpose Speech Toolkit*, 2021 (arXiv:2106.04624).",
        "",
    ]
    return "\n".join(lines)


def _metric_name(key):
    return METRIC_NAMES.get(key, (key, key.replace("_", "-")))


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
    checkpoint_key="valid_pesq",
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
    checkpoint_key : str
        Checkpoint meta key to select the best checkpoint by (see
        :func:`load_best_model`).
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
    from speechbrain_atkl.inference.enhance import EnhanceBatch, write_enhanced

    train_dir, output_dir = Path(train_dir), Path(output_dir)
    check_output(train_dir, output_dir, overwrite)
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
        training_yaml = train_dir / "hyperparams.yaml"
        distilled = training_yaml.is_file() and bool(
            re.search(r"^teacher\w*\s*:", training_yaml.read_text(encoding="utf-8"), re.MULTILINE)
        )
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
        _replace_folder(staging, output_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return output_dir


def check_output(train_dir, output_dir, overwrite=False):
    """Refuses an output folder that publishing could destroy or cannot use.

    The output may not be the training folder, one of its parent folders or
    a folder inside it (compared after resolving links, ``.`` and ``..``), nor
    an existing file; an existing non-empty folder is replaced only with
    ``overwrite``, only if it holds :data:`MARKER` (:func:`publish` wrote it)
    and nothing but :data:`PUBLISHED_FILES`.

    Raises
    ------
    PublishError
        Saying why, naming both folders.

    Example
    -------
    >>> import tempfile
    >>> train = Path(tempfile.mkdtemp()) / "results" / "1986"
    >>> check_output(train, train.parent / "model")  # a sibling: fine
    >>> check_output(train, train.parent, overwrite=True)
    Traceback (most recent call last):
    ...
    speechbrain_atkl.publish.PublishError: --output ... contains the training folder ...
    """
    train, output = Path(train_dir).resolve(), Path(output_dir).resolve()
    where = None
    if output == train:
        where = "is the training folder"
    elif output in train.parents:
        where = "contains the training folder"
    elif train in output.parents:
        where = "is inside the training folder"
    if where:
        raise PublishError(
            f"--output {output_dir} {where} {train_dir}; publishing there could destroy the run. "
            "Choose a folder outside it."
        )
    if output_dir.exists() and not output_dir.is_dir():
        raise PublishError(f"--output {output_dir} is a file, not a folder; choose a folder name.")
    if output_dir.is_dir() and any(output_dir.iterdir()):
        if not overwrite:
            raise PublishError(f"{output_dir} exists and is not empty; pass --overwrite to replace it.")
        if not (output_dir / MARKER).is_file():
            raise PublishError(
                f"{output_dir} is not a model folder written by publish (it has no {MARKER}); "
                "--overwrite only replaces those. Choose another --output or remove it yourself."
            )
        others = sorted(p.name for p in output_dir.iterdir() if p.name not in PUBLISHED_FILES)
        if others:
            raise PublishError(
                f"{output_dir} holds files publish did not write ({', '.join(others[:5])}); "
                "--overwrite would delete them. Move them away or choose another --output."
            )


def _lookahead_ms(model, sample_rate):
    samples = getattr(model, "lookahead_samples", None)
    return None if samples is None else 1000.0 * samples / sample_rate


def _replace_folder(new, target):
    """Moves the folder ``new`` to ``target``, removing an old ``target`` only once ``new`` is in place."""
    old = None
    if target.exists():
        old = target.parent / f".publish-{uuid.uuid4().hex[:12]}.old"
        target.rename(old)
    new.rename(target)
    if old is not None:
        shutil.rmtree(old)


def push_to_hub(folder, repo_id, token=None, private=False, timeout=10.0):
    """Uploads a model folder to the Hugging Face Hub.

    The token comes from ``token``, else ``HF_TOKEN`` or a stored
    ``hf auth login``. Before uploading, the Hub endpoint must answer a TCP
    connection within ``timeout`` seconds. Any failure raises
    :class:`PublishError`; the local folder is never modified.

    Arguments
    ---------
    folder : str or pathlib.Path
        The model folder written by :func:`publish`.
    repo_id : str
        ``user/name`` of the model repository (created if missing).
    token : str or None
        Hub token.
    private : bool
        Create the repository as private.
    timeout : float
        Connection timeout in seconds for the reachability check.

    Returns
    -------
    str
        The repository URL.
    """
    import huggingface_hub
    from huggingface_hub import constants

    folder = Path(folder)
    later = f"The model folder {folder} is complete; upload it later with `hf upload {repo_id} {folder}`."
    if constants.HF_HUB_OFFLINE:
        raise PublishError(f"cannot push to {repo_id}: HF_HUB_OFFLINE is set. {later}")
    token = token or huggingface_hub.get_token()
    if not token:
        raise PublishError(
            f"cannot push to {repo_id}: no Hugging Face token (set HF_TOKEN or run `hf auth login`). {later}"
        )
    endpoint = urlparse(constants.ENDPOINT)
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((endpoint.hostname, port), timeout=timeout).close()
    except OSError as error:
        raise PublishError(
            f"cannot push to {repo_id}: {constants.ENDPOINT} is not reachable within {timeout:g} s "
            f"({error}). {later}"
        ) from error
    api = huggingface_hub.HfApi(token=token)
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(
            folder_path=str(folder), repo_id=repo_id, commit_message="Upload speechbrain-atkl model"
        )
    except Exception as error:  # noqa: BLE001 - any Hub failure becomes one clear message
        raise PublishError(
            f"pushing to {repo_id} failed: {type(error).__name__}: {error}. {later}"
        ) from error
    return str(url)


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
        default="valid_pesq",
        help="CKPTINFO meta key ranking checkpoints (maximised for pesq/stoi/si_snr/dnsmos, else minimised)",
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
