"""Published model folders: ``hyperparams.yaml``, the weights of its loadables, checked.

A model folder (a local folder or a Hub id, as :mod:`speechbrain_atkl.publishing`
writes it) holds ``hyperparams.yaml`` and ``enhance_model.ckpt``.
:func:`load_model_folder` reads the YAML without trusting it
(:func:`~speechbrain_atkl.loading.hyperparams.read_yaml`), builds each model
its ``Pretrainer`` lists, loads ``<name>.ckpt`` into it strictly, and checks
what the folder asks the interface to run:

* every module of ``modules`` is filled from a weights file (a Pretrainer
  without loadables, or a ``modules.enhance_model`` that is not the loaded
  model, would run random weights);
* ``sample_rate`` is a whole number of Hz in [1, :data:`MAX_SAMPLE_RATE`]
  that the model itself agrees with;
* the folder sets no run option (``device``, ``compile``, ``precision``
  ...): those are the caller's.

With ``trust_remote_code=True`` the folder is read by HyperPyYAML and loaded
by its own ``Pretrainer`` (custom paths and hooks included), and the same
checks apply.

Authors
 * speechbrain-atkl developers 2026
"""

from pathlib import Path

import torch
from speechbrain.core import RunOptions
from speechbrain.utils.fetching import LocalStrategy

from speechbrain_atkl.loading.fetching import ModelFiles
from speechbrain_atkl.loading.files import read_text
from speechbrain_atkl.loading.hyperparams import MAX_BYTES, Loadables, read_yaml
from speechbrain_atkl.loading.recipes import ModelRecipe
from speechbrain_atkl.loading.weights import fill, load_state_dict, load_weights

#: Highest sampling rate a model folder may declare (Hz).
MAX_SAMPLE_RATE = 384_000


def load_model_folder(
    source,
    savedir=None,
    trust_remote_code=False,
    overrides=None,
    hparams_file="hyperparams.yaml",
    local_strategy=LocalStrategy.SYMLINK,
    fetch_config=None,
    download_only=False,
):
    """Loads a model folder's hyper-parameters and modules, with every module's weights.

    Arguments
    ---------
    source : str or pathlib.Path
        A local model folder or a Hub id ``user/name``.
    savedir : str or pathlib.Path or None
        Where the files are linked or downloaded (see
        :class:`~speechbrain_atkl.loading.fetching.ModelFiles`).
    trust_remote_code : bool
        Read ``hyperparams.yaml`` with HyperPyYAML, which runs any code its
        tags name.
    overrides : dict or None
        Values replacing the file's (the caller's, so trusted).
    hparams_file : str
        The YAML file of the folder.
    local_strategy, fetch_config
        See ``speechbrain.utils.fetching.fetch``.
    download_only : bool
        Only fetch the files; returns ``None``.

    Returns
    -------
    dict or None
        The hyper-parameters; ``"modules"`` maps names to loaded modules,
        ``"sample_rate"`` is an ``int``.

    Example
    -------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from speechbrain_atkl.models import DCCRN
    >>> folder = Path(tempfile.mkdtemp())
    >>> model = DCCRN(channels=[8] * 6, rnn_units=16)
    >>> torch.save(model.state_dict(), folder / "enhance_model.ckpt")
    >>> _ = (folder / "hyperparams.yaml").write_text(
    ...     "sample_rate: 16000\\n"
    ...     "enhance_model: !new:speechbrain_atkl.models.dccrn.DCCRN {channels: [8, 8, 8, 8, 8, 8], rnn_units: 16}\\n"
    ...     "modules: {enhance_model: !ref <enhance_model>}\\n"
    ...     "pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer\\n"
    ...     "    loadables: {enhance_model: !ref <enhance_model>}\\n"
    ... )
    >>> hparams = load_model_folder(folder)
    >>> loaded = hparams["modules"]["enhance_model"]
    >>> all(torch.equal(a, b) for a, b in zip(loaded.parameters(), model.parameters())), hparams["sample_rate"]
    (True, 16000)
    """
    if (Path(source) / "save").is_dir():
        raise ValueError(
            f"{source} is a training output folder, whose hyperparams.yaml is the training recipe: publish it "
            "(python -m speechbrain_atkl.publishing) or load its model with speechbrain_atkl.loading.load_model."
        )
    files = ModelFiles(source, savedir, local_strategy, fetch_config)
    where = f"{source}: {hparams_file}"
    text = read_text(files.fetch(hparams_file), where, max_bytes=None if trust_remote_code else MAX_BYTES)
    if trust_remote_code:
        hparams = _load_trusted(text, overrides, files, where, download_only)
    else:
        hparams = _load_checked(text, overrides, files, where, download_only)
    if download_only:
        return None
    _check_modules(hparams, where)
    _check_sample_rate(hparams, where)
    return hparams


def _load_checked(text, overrides, files, where, download_only):
    """Reads the YAML without trusting it, then builds and fills each loadable."""
    hparams = read_yaml(text, where, overrides)
    if not isinstance(hparams, dict) or not isinstance(hparams.get("pretrainer"), Loadables):
        raise ValueError(f"{where}: expected a mapping with a `pretrainer` (SpeechBrain's Pretrainer).")
    recipes = hparams["pretrainer"].models
    weights = {name: files.fetch(f"{name}.ckpt") for name in recipes}
    if download_only:
        return None
    unloaded = [recipe for recipe in _recipes(hparams) if not any(recipe is r for r in recipes.values())]
    if unloaded:
        raise ValueError(
            f"{where}: {unloaded[0].class_path} is built but no loadable of the pretrainer fills it, "
            "so it would run with random weights."
        )
    models = {}
    for name, recipe in recipes.items():
        if not isinstance(recipe, ModelRecipe):
            raise ValueError(f"{where}: the loadable {name!r} is a {type(recipe).__name__}, not a model.")
        label = f"{files.source}: {name}.ckpt"
        state = load_weights(weights[name], label)
        if id(recipe) in models:
            fill(models[id(recipe)], state, label)
        else:
            models[id(recipe)] = recipe.build(where, state, label)
    return _replace(hparams, models)


def _load_trusted(text, overrides, files, where, download_only):
    """Reads the YAML with HyperPyYAML and loads it with its own Pretrainer."""
    from hyperpyyaml import load_hyperpyyaml

    hparams = load_hyperpyyaml(text, overrides or {})
    pretrainer = hparams.get("pretrainer")
    if pretrainer is None or not pretrainer.loadables:
        raise ValueError(f"{where}: the pretrainer loads nothing, so the model would run with random weights.")
    pretrainer.set_collect_in(files.savedir)
    pretrainer.collect_files(
        default_source=files.source, local_strategy=files.local_strategy, fetch_config=files.fetch_config
    )
    if download_only:
        return None
    modules = [name for name, obj in pretrainer.loadables.items() if isinstance(obj, torch.nn.Module)]
    if len(modules) < len(pretrainer.loadables) or pretrainer.custom_hooks:
        pretrainer.load_collected()
    for name in modules:
        if name not in pretrainer.custom_hooks:
            load_state_dict(pretrainer.loadables[name], pretrainer.paths[name], what=f"{files.source}: {name}.ckpt")
    return hparams


def _recipes(value):
    """The model recipes of a document, each once."""
    found, stack, seen = [], [value], set()
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, ModelRecipe):
            found.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, Loadables):
            stack.extend(item.models.values())
    return found


def _replace(value, models):
    """``value`` with each model recipe replaced by its built model (``models``: id -> model)."""
    if isinstance(value, ModelRecipe):
        return models[id(value)]
    if isinstance(value, Loadables):
        return Loadables({name: _replace(item, models) for name, item in value.models.items()})
    if isinstance(value, dict):
        return {key: _replace(item, models) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_replace(item, models) for item in value)
    return value


def _check_modules(hparams, where):
    """Every module the interface runs is one the weights filled; no run option is set."""
    options = sorted(set(RunOptions().as_dict()) & set(hparams))
    if options:
        raise ValueError(
            f"{where} sets the run options {options}: those are the caller's (run_opts), not a model folder's."
        )
    modules = hparams.get("modules")
    if not isinstance(modules, dict) or not isinstance(modules.get("enhance_model"), torch.nn.Module):
        raise ValueError(f"{where}: expected `modules` with an `enhance_model` module.")
    pretrainer = hparams["pretrainer"]
    loaded = pretrainer.models if isinstance(pretrainer, Loadables) else pretrainer.loadables
    for name, module in modules.items():
        if not any(module is other for other in loaded.values()):
            raise ValueError(
                f"{where}: modules.{name} is not one of the pretrainer's loadables "
                f"({', '.join(loaded)}), so it would run with random weights."
            )


def _check_sample_rate(hparams, where):
    """``sample_rate`` is a whole number of Hz in range, and the model's own if it has one."""
    rate = hparams.get("sample_rate")
    if isinstance(rate, float) and rate.is_integer():
        rate = int(rate)
    if not isinstance(rate, int) or isinstance(rate, bool) or not 1 <= rate <= MAX_SAMPLE_RATE:
        raise ValueError(
            f"{where}: sample_rate must be a whole number of Hz from 1 to {MAX_SAMPLE_RATE}, "
            f"got {hparams.get('sample_rate')!r}."
        )
    model_rate = getattr(hparams["modules"]["enhance_model"], "sample_rate", rate)
    if model_rate != rate:
        raise ValueError(f"{where}: sample_rate is {rate} but the model works at {model_rate} Hz.")
    hparams["sample_rate"] = rate
