"""The files that tell a loader how to build a published model: ``hyperparams.yaml`` and ``config.json``.

Authors
 * speechbrain-atkl developers 2026
"""

import json

from speechbrain_atkl import __version__
from speechbrain_atkl.publishing.card import yaml_lines


def inference_hyperparams(spec, sample_rate, origin=""):
    """The inference ``hyperparams.yaml`` text for a model description.

    The YAML builds the model from ``speechbrain_atkl`` classes (no custom
    code file) and loads ``enhance_model.ckpt`` through SpeechBrain's
    ``Pretrainer``.

    Arguments
    ---------
    spec : dict
        Model description (``class_path``, ``config``), as
        :func:`speechbrain_atkl.loading.model_spec` returns it.
    sample_rate : int
        The model's sample rate.
    origin : str
        Where the weights come from, written as a comment (line breaks escaped).

    Returns
    -------
    str
        The YAML text.

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
        "# (written by speechbrain_atkl.publishing; needs `pip install speechbrain-atkl`).\n\n"
        f"sample_rate: {sample_rate}\n\n"
        f"enhance_model: !new:{spec['class_path']}\n{config}\n\n"
        "modules:\n    enhance_model: !ref <enhance_model>\n\n"
        "pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer\n"
        "    loadables:\n        enhance_model: !ref <enhance_model>\n"
    )


def interface_config(spec, sample_rate):
    """The ``config.json`` text: the SpeechBrain interface that loads the folder, the model class.

    Arguments
    ---------
    spec : dict
        Model description (``class_path``, ``config``).
    sample_rate : int
        The model's sample rate.

    Returns
    -------
    str
        JSON text ending with a line break.

    Example
    -------
    >>> spec = {"class_path": "speechbrain_atkl.models.dccrn.DCCRN", "config": {}}
    >>> print(interface_config(spec, 16000))  # doctest: +ELLIPSIS
    {
      "speechbrain_interface": "EnhanceBatch",
      "speechbrain_interface_module": "speechbrain_atkl",
      "model_class": "speechbrain_atkl.models.dccrn.DCCRN",
      "sample_rate": 16000,
      "speechbrain_atkl_version": "..."
    }
    """
    config = {
        "speechbrain_interface": "EnhanceBatch",
        "speechbrain_interface_module": "speechbrain_atkl",
        "model_class": spec["class_path"],
        "sample_rate": sample_rate,
        "speechbrain_atkl_version": __version__,
    }
    return json.dumps(config, indent=2) + "\n"
