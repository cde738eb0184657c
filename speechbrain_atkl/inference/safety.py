"""A safety check of a downloaded model folder's ``hyperparams.yaml``.

HyperPyYAML builds Python objects from tags: ``!new:os.system`` or
``!apply:...`` would run any function while the file is loaded. A model
folder from the Hub is therefore code. :func:`check_hyperparams` reads the
file's tags (without building anything) and allows only what a model folder
needs, which covers everything :mod:`speechbrain_atkl.publish` writes:

* plain YAML values (strings, numbers, booleans, null, lists, mappings);
* ``!ref``, ``!copy`` and ``!tuple``;
* ``!new:`` of a ``torch.nn.Module`` class defined in
  ``speechbrain_atkl.models`` and of SpeechBrain's ``Pretrainer``;
* ``!apply:`` of such a model class's ``from_preset``.

Everything else (``!apply:`` of other functions, ``!name:``, ``!module:``,
``!include:``, ``!applyref``, ``!!python/...``) is refused with
:class:`UnsafeHyperparamsError`. ``EnhanceBatch.from_hparams`` and the
command-line tools run this check by default; pass ``trust_remote_code=True``
(``--trust-remote-code``) to load a folder you trust that needs more.

Authors
 * speechbrain-atkl developers 2026
"""

import inspect
import pydoc

import ruamel.yaml
import torch

#: Tags that build nothing or only containers.
PLAIN_TAGS = ("!ref", "!copy", "!tuple")
#: Standard YAML types (``tag:yaml.org,2002:<type>``).
YAML_TYPES = ("str", "int", "float", "bool", "null", "seq", "map", "merge")
#: Callables ``!new:`` may name besides the model classes.
ALLOWED_OBJECTS = ("speechbrain.utils.parameter_transfer.Pretrainer",)
#: Where model classes must be defined.
MODEL_PACKAGE = "speechbrain_atkl.models."


class UnsafeHyperparamsError(ValueError):
    """A ``hyperparams.yaml`` holds a tag that could run arbitrary code."""


def check_hyperparams(text, where="hyperparams.yaml"):
    """Refuses a HyperPyYAML text with tags beyond a model folder's needs.

    Nothing is built or imported except this package's own model modules
    (to check that a name really is one of their classes).

    Arguments
    ---------
    text : str
        The YAML text.
    where : str
        Where it comes from, for the error message.

    Raises
    ------
    UnsafeHyperparamsError
        Naming the first refused tag and its line.

    Example
    -------
    >>> check_hyperparams("model: !new:speechbrain_atkl.models.dccrn.DCCRN\\n    rnn_units: 16\\n")
    >>> check_hyperparams("x: !apply:os.system [ls]")
    Traceback (most recent call last):
    ...
    speechbrain_atkl.inference.safety.UnsafeHyperparamsError: hyperparams.yaml, line 1: the tag !apply:os.system could run arbitrary code...
    """
    try:
        root = ruamel.yaml.YAML(typ="rt").compose(text)
    except ruamel.yaml.YAMLError as error:
        raise UnsafeHyperparamsError(f"{where}: not valid YAML: {error}") from None
    stack, seen = [root] if root is not None else [], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        tag = node.tag if isinstance(node.tag, str) else node.tag.value
        if not _allowed(tag):
            line = node.start_mark.line + 1
            raise UnsafeHyperparamsError(
                f"{where}, line {line}: the tag {tag} could run arbitrary code while the model "
                "folder loads, so it was not loaded. Only plain values, !ref/!copy/!tuple and "
                f"speechbrain_atkl model classes are allowed. If you trust this folder's author, "
                "pass trust_remote_code=True (command line: --trust-remote-code)."
            )
        if isinstance(node.value, list):
            for item in node.value:
                stack.extend(item if isinstance(item, tuple) else (item,))


def _allowed(tag):
    if tag.startswith("tag:yaml.org,2002:"):
        return tag.rpartition(":")[2] in YAML_TYPES
    if tag in PLAIN_TAGS:
        return True
    kind, _, name = tag.partition(":")
    if kind == "!new":
        return name in ALLOWED_OBJECTS or _is_model_class(name)
    if kind == "!apply":
        owner, _, method = name.rpartition(".")
        return method == "from_preset" and _is_model_class(owner)
    return False


def _is_model_class(name):
    """Whether ``name`` is a ``torch.nn.Module`` class defined in :data:`MODEL_PACKAGE`."""
    if not name.startswith(MODEL_PACKAGE):
        return False
    try:
        obj = pydoc.locate(name)
    except pydoc.ErrorDuringImport:
        return False
    return (
        inspect.isclass(obj)
        and issubclass(obj, torch.nn.Module)
        and obj.__module__.startswith(MODEL_PACKAGE)
    )
