"""The ``README.md`` model card of a published model folder, and the metrics it shows.

Authors
 * speechbrain-atkl developers 2026
"""

import json
from pathlib import Path

import yaml

from speechbrain_atkl.publishing.errors import PublishError
from speechbrain_atkl.value_checks import is_number

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


def yaml_lines(mapping):
    """``key: value`` YAML lines, lists written inline (``channels: [16, 32]``).

    Example
    -------
    >>> print(yaml_lines({"channels": [8, 16], "rnn_type": "real", "window": None}))
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
    return float(value) if is_number(value) else None


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
    meta = {k: v for k, v in checkpoint_meta.items() if is_number(v) and not k.startswith("unixtime")}
    if meta:
        lines += ["", "## Checkpoint", "", "Validation values of the published checkpoint:", ""]
        lines += [f"- `{k}`: {v:.4f}" for k, v in meta.items()]
    if checkpoint_meta.get("averaged_from"):
        sources = checkpoint_meta["averaged_from"]
        lines += ["", f"The weights are the average of {len(sources)} end-of-epoch checkpoints: "
                  + ", ".join(f"`{name}`" for name in sources) + "."]
    lines += [
        "",
        "## Architecture",
        "",
        f"`{spec['class_path']}` with:",
        "",
        "```yaml",
        yaml_lines(spec["config"]),
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
