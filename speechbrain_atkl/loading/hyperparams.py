"""Reading a model or run folder's YAML without trusting it.

HyperPyYAML builds Python objects while it reads: ``!new:os.system`` or
``!apply:...`` run any function, ``!ref <a.attr>`` reaches any attribute,
``!ref`` arithmetic is unbounded (``<n> ** 999999999``), and a plain
``(...)`` value is read as a tuple by PyYAML's unsafe loader. A model folder
from the Hub is therefore code. :func:`read_yaml` reads such a file itself
and allows only what a model folder needs (everything
:mod:`speechbrain_atkl.publishing` writes):

* plain YAML values (strings, numbers, booleans, null, lists, mappings) and
  tuples of plain values, ``(1, 2)`` or ``!tuple``;
* ``!ref`` and ``!copy`` of another key (``<key>`` or ``<key[sub]>``, no
  attributes), alone or inside a string, with ``+ - * / // % **`` on numbers
  (computed by :mod:`~speechbrain_atkl.loading.yaml_references`, within
  bounds);
* ``!new:`` of a model class of
  :data:`~speechbrain_atkl.loading.recipes.MODEL_CLASSES` and ``!apply:``
  of such a class's ``from_preset``, with plain arguments; they become
  :class:`~speechbrain_atkl.loading.recipes.ModelRecipe` objects, built
  only once their weights are known;
* SpeechBrain's ``Pretrainer`` with ``loadables`` only (the weights of
  loadable ``name`` are ``name.ckpt`` beside the file): a :class:`Loadables`.

Everything else is refused with :class:`UnsafeHyperparamsError`, and so is a
file beyond the bounds that keep reading cheap: :data:`MAX_BYTES`,
:data:`MAX_DEPTH` levels of nesting (containers and references),
:data:`MAX_VALUES` values once aliases and references are expanded,
:data:`MAX_MODELS` models, integers of
:data:`~speechbrain_atkl.loading.yaml_references.MAX_INT_BITS` bits and
strings of :data:`~speechbrain_atkl.loading.yaml_references.MAX_STRING`
characters. ``EnhanceBatch.from_hparams`` and the
command-line tools read folders this way; ``trust_remote_code=True``
(``--trust-remote-code``) hands a folder you trust to HyperPyYAML instead.

Authors
 * speechbrain-atkl developers 2026
"""

import re
from dataclasses import dataclass

import ruamel.yaml
from ruamel.yaml.events import CollectionEndEvent, CollectionStartEvent

from speechbrain_atkl.loading.files import MAX_TEXT_BYTES
from speechbrain_atkl.loading.recipes import ModelRecipe, model_class
from speechbrain_atkl.loading.yaml_references import (
    MAX_INT_BITS,
    PLAIN_TYPES,
    RefusedReference,
    key_path_keys,
    resolve_reference,
)

#: Largest text read (bytes).
MAX_BYTES = MAX_TEXT_BYTES
#: Deepest nesting of containers and references.
MAX_DEPTH = 32
#: Most values once aliases and references are expanded.
MAX_VALUES = 10_000
#: Most models one file may describe.
MAX_MODELS = 4
#: Longest integer literal (characters).
MAX_LITERAL = 100

PRETRAINER = "speechbrain.utils.parameter_transfer.Pretrainer"
YAML_TAG = "tag:yaml.org,2002:"
SCALARS = ("str", "int", "float", "bool", "null")
TUPLE = re.compile(r"\(.*\)", re.DOTALL)
LOADABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TRUST_HINT = (
    "Only plain values, !ref/!copy/!tuple and speechbrain_atkl model classes are allowed. If you trust "
    "this folder's author, pass trust_remote_code=True (command line: --trust-remote-code)."
)


class UnsafeHyperparamsError(ValueError):
    """A folder's YAML holds something that could run code or cost without bound."""


@dataclass(eq=False)
class Loadables:
    """What a SpeechBrain ``Pretrainer`` of a model folder loads: name -> model.

    The weights of ``name`` are the file ``name.ckpt`` of the folder.
    """

    models: dict


def check_hyperparams(text, where="hyperparams.yaml"):
    """Refuses a HyperPyYAML text that :func:`read_yaml` would refuse.

    Nothing is built or imported.

    Arguments
    ---------
    text : str
        The YAML text.
    where : str
        Where it comes from, for the error message.

    Raises
    ------
    UnsafeHyperparamsError
        Naming the first refused value and its line.

    Example
    -------
    >>> check_hyperparams("model: !new:speechbrain_atkl.models.dccrn.DCCRN\\n    rnn_units: 16\\n")
    >>> check_hyperparams("x: !apply:os.system [ls]")
    Traceback (most recent call last):
    ...
    speechbrain_atkl.loading.hyperparams.UnsafeHyperparamsError: hyperparams.yaml, line 1: the tag !apply:os.system ...
    """
    read_yaml(text, where)


def read_yaml(text, where="hyperparams.yaml", overrides=None, tags=True):
    """Reads a folder's YAML text as plain values and model recipes, within bounds.

    Arguments
    ---------
    text : str
        The YAML text.
    where : str
        Where it comes from, for error messages.
    overrides : dict or None
        Values replacing the file's before references are resolved, as
        HyperPyYAML's overrides (the caller's, so trusted).
    tags : bool
        Allow the tags of a model folder; False reads plain values only.

    Returns
    -------
    object
        The document: plain values, tuples,
        :class:`~speechbrain_atkl.loading.recipes.ModelRecipe` and
        :class:`Loadables` (keys starting with ``__`` are left out, as
        HyperPyYAML does).

    Raises
    ------
    UnsafeHyperparamsError
        Naming the refused value and its line.

    Example
    -------
    >>> read_yaml("rate: 16000\\nhop: !ref <rate> // 100\\nname: !ref run-<hop>\\nsize: (1, 2)\\n")
    {'rate': 16000, 'hop': 160, 'name': 'run-160', 'size': (1, 2)}
    >>> read_yaml("n: 2\\nbig: !ref <n> ** 999999999\\n")
    Traceback (most recent call last):
    ...
    speechbrain_atkl.loading.hyperparams.UnsafeHyperparamsError: hyperparams.yaml, line 2: ...more than 64 bits...
    >>> read_yaml("f: !ref <model.forward>\\n")
    Traceback (most recent call last):
    ...
    speechbrain_atkl.loading.hyperparams.UnsafeHyperparamsError: hyperparams.yaml, line 1: <model.forward>: ...
    """
    return _Reader(where, tags).read(text, overrides)


@dataclass
class _Given:
    """A value given by the caller (an override), used as it is."""

    value: object


class _Reader:
    """One bounded reading of one YAML text (see :func:`read_yaml`)."""

    def __init__(self, where, tags, within=None):
        self.where = where
        self.tags = tags
        self.within = within  # the node of the outer text this text comes from (a tuple)
        self.yaml = ruamel.yaml.YAML(typ="safe")  # libyaml's parser where installed
        self.root = None
        self.values = {}  # id(node) -> value: references share one object, as in HyperPyYAML
        self.reading = set()
        self.depth = 0

    def read(self, text, overrides=None):
        self.root = self._compose(text)
        if overrides:
            if not self._is_mapping(self.root):
                self._refuse(self.root, "overrides need a mapping at the top of the file")
            self._override(self.root, overrides)
        value = self._value(self.root) if self.root is not None else None
        self._count(value)
        if isinstance(value, dict):
            value = {key: item for key, item in value.items() if not str(key).startswith("__")}
        return value

    def _compose(self, text):
        size = len(text.encode("utf-8"))
        if size > MAX_BYTES:
            raise UnsafeHyperparamsError(f"{self.where}: {size} bytes, more than the {MAX_BYTES} allowed.")
        try:
            depth = 0
            for event in self.yaml.parse(text):
                depth += isinstance(event, CollectionStartEvent) - isinstance(event, CollectionEndEvent)
                if depth > MAX_DEPTH:
                    self._refuse(event, f"nested deeper than {MAX_DEPTH} levels")
            return self.yaml.compose(text)
        except ruamel.yaml.YAMLError as error:
            raise UnsafeHyperparamsError(f"{self.where}: not valid YAML: {error}") from None

    def _refuse(self, node, reason):
        node = self.within or node
        line = f", line {node.start_mark.line + 1}" if getattr(node, "start_mark", None) else ""
        raise UnsafeHyperparamsError(f"{self.where}{line}: {reason}")

    @staticmethod
    def _is_mapping(node):
        return isinstance(node, ruamel.yaml.MappingNode)

    def _override(self, node, overrides):
        for key, new in overrides.items():
            index = [i for i, (k, _) in enumerate(node.value) if k.value == key]
            if not index:
                raise ValueError(f"{self.where}: the override {key!r} names no key of the file.")
            k, old = node.value[index[-1]]
            if isinstance(new, dict) and self._is_mapping(old):
                self._override(old, new)
            else:
                node.value[index[-1]] = (k, _Given(new))

    # ------------------------------------------------------------------ values

    def _value(self, node):
        if isinstance(node, _Given):
            return node.value
        if id(node) in self.values:
            return self.values[id(node)]
        if id(node) in self.reading:
            self._refuse(node, "a value refers to itself")
        if self.depth >= MAX_DEPTH:
            self._refuse(node, f"nested deeper than {MAX_DEPTH} levels (containers and references)")
        self.reading.add(id(node))
        self.depth += 1
        try:
            value = self._build(node)
        finally:
            self.reading.discard(id(node))
            self.depth -= 1
        self.values[id(node)] = value
        return value

    def _build(self, node):
        tag = node.tag
        if tag.startswith(YAML_TAG):
            return self._plain(node, tag[len(YAML_TAG) :])
        if self.tags:
            if tag == "!tuple":
                return self._tuple(node, node.value)
            if tag in ("!ref", "!copy"):
                return self._reference(node, copy_mode=tag == "!copy")
            kind, _, name = tag.partition(":")
            if kind == "!new" and name == PRETRAINER:
                return self._loadables(node)
            if kind == "!new":
                return self._recipe(node, name, preset=False)
            if kind == "!apply" and name.endswith(".from_preset"):
                return self._recipe(node, name[: -len(".from_preset")], preset=True)
        self._refuse_tag(node, tag)

    def _refuse_tag(self, node, tag):
        if tag.startswith(("!", YAML_TAG + "python/")):
            self._refuse(
                node,
                f"the tag {tag} could run arbitrary code while the folder loads, so it was not loaded. "
                + (TRUST_HINT if self.tags or self.within else "Only plain values are allowed here."),
            )
        self._refuse(node, f"the tag {tag} is not allowed here: only plain values are.")

    def _plain(self, node, kind):
        if kind == "map":
            return self._mapping(node)
        if kind == "seq":
            return [self._value(item) for item in node.value]
        if kind.startswith("python/"):
            self._refuse_tag(node, node.tag)
        if kind not in SCALARS:
            self._refuse(
                node,
                f"the YAML type {kind} is not allowed (only strings, numbers, booleans, null, lists and mappings).",
            )
        if kind == "int" and len(node.value) > MAX_LITERAL:
            self._refuse(node, f"the integer {node.value[:20]}... has more than {MAX_INT_BITS} bits.")
        value = self.yaml.constructor.construct_object(node)
        if kind == "int" and value.bit_length() > MAX_INT_BITS:
            self._refuse(node, f"the integer {value} has more than {MAX_INT_BITS} bits.")
        if kind == "str" and not node.style and self.tags and TUPLE.fullmatch(value):
            return self._tuple(node, value)
        return value

    def _mapping(self, node):
        mapping = {}
        for key_node, value_node in node.value:
            if key_node.tag == YAML_TAG + "merge":
                self._refuse(key_node, "merge keys (<<) are not supported; write the values out.")
            if not isinstance(key_node, ruamel.yaml.ScalarNode) or not key_node.tag.startswith(YAML_TAG):
                self._refuse(key_node, "mapping keys must be plain strings or numbers.")
            key = self._plain(key_node, key_node.tag[len(YAML_TAG) :])
            if not isinstance(key, PLAIN_TYPES):
                self._refuse(key_node, "mapping keys must be plain strings or numbers.")
            if key in mapping:
                self._refuse(key_node, f"the key {key!r} appears twice.")
            mapping[key] = self._value(value_node)
        return mapping

    def _tuple(self, node, text):
        if not (isinstance(text, str) and TUPLE.fullmatch(text.strip())):
            self._refuse(node, f"!tuple expects a value written (a, b, ...), got {text!r}.")
        return tuple(_Reader(self.where, tags=False, within=node).read(f"[{text.strip()[1:-1]}]"))

    def _recipe(self, node, class_path, preset):
        try:
            model_class(class_path)
        except ValueError as error:
            self._refuse(
                node,
                f"{error} The tag !{'apply' if preset else 'new'}:{class_path} could run "
                f"arbitrary code while the model folder loads, so it was not loaded. {TRUST_HINT}",
            )
        args, kwargs = (), {}
        if isinstance(node, ruamel.yaml.MappingNode):
            kwargs = self._mapping(node)
        elif isinstance(node, ruamel.yaml.SequenceNode):
            args = tuple(self._value(item) for item in node.value)
        elif node.value:
            self._refuse(node, f"the arguments of {class_path} must be a mapping or a list.")
        if not all(_is_plain(value) for value in (*args, *kwargs.values())):
            self._refuse(node, f"the arguments of {class_path} must be plain values (no models).")
        return ModelRecipe(class_path, args, kwargs, preset)

    def _loadables(self, node):
        keys = {key.value for key, _ in node.value} if isinstance(node, ruamel.yaml.MappingNode) else set()
        if keys != {"loadables"}:
            self._refuse(
                node,
                "a model folder's Pretrainer may only list its loadables (the weights of "
                f"loadable x are x.ckpt beside this file), got {sorted(keys) or 'nothing'}. {TRUST_HINT}",
            )
        models = self._mapping(node)["loadables"]
        if not isinstance(models, dict) or not models:
            self._refuse(node, "the Pretrainer's loadables must be a non-empty mapping of names to models.")
        for name in models:
            if not (isinstance(name, str) and LOADABLE_NAME.fullmatch(name)):
                self._refuse(
                    node,
                    f"the loadable name {name!r} is not a plain name (letters, digits, _): "
                    "it names the file <name>.ckpt.",
                )
        return Loadables(models)

    # -------------------------------------------------------------- references

    def _reference(self, node, copy_mode):
        if not isinstance(node, ruamel.yaml.ScalarNode):
            self._refuse(node, f"{node.tag} expects a string such as <key>.")
        try:
            return resolve_reference(node.value, lambda path: self._value(self._target(node, path)), copy_mode)
        except RefusedReference as error:
            self._refuse(node, str(error))

    def _target(self, node, path):
        """The node that a reference's ``path`` (``key`` or ``key[sub]``) names in the file."""
        branch = self.root
        for key in key_path_keys(path):
            if isinstance(branch, _Given) and isinstance(branch.value, dict) and key in branch.value:
                branch = _Given(branch.value[key])
                continue
            found = [v for k, v in branch.value if k.value == key] if self._is_mapping(branch) else []
            if not found:
                self._refuse(node, f"<{path}>: the file has no such key.")
            branch = found[-1]
        return branch

    # ------------------------------------------------------------------ bounds

    def _count(self, value):
        """Refuses more than :data:`MAX_VALUES` values once shared parts are expanded, or more than
        :data:`MAX_MODELS` models."""
        sizes = {}

        def size(item):
            if id(item) not in sizes:
                sizes[id(item)] = (item, 1 + sum(size(child) for child in _children(item)))
            return sizes[id(item)][1]

        if size(value) > MAX_VALUES:
            raise UnsafeHyperparamsError(
                f"{self.where}: more than {MAX_VALUES} values once aliases and references are expanded."
            )
        if sum(isinstance(item, ModelRecipe) for item, _ in sizes.values()) > MAX_MODELS:
            raise UnsafeHyperparamsError(f"{self.where}: more than {MAX_MODELS} models.")


def _children(item):
    if isinstance(item, dict):
        return [*item.keys(), *item.values()]
    if isinstance(item, (list, tuple)):
        return item
    if isinstance(item, ModelRecipe):
        return [*item.args, *item.kwargs.values()]
    if isinstance(item, Loadables):
        return list(item.models.values())
    return []


def _is_plain(value):
    if isinstance(value, (list, tuple)):
        return all(_is_plain(item) for item in value)
    if isinstance(value, dict):
        return all(_is_plain(key) and _is_plain(item) for key, item in value.items())
    return isinstance(value, PLAIN_TYPES)
