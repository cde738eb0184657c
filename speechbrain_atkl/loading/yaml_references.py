"""HyperPyYAML's ``!ref`` values, computed within bounds.

A folder's YAML (read by :mod:`~speechbrain_atkl.loading.hyperparams`) may
write, as HyperPyYAML allows:

* ``!ref <key>``: the key's value itself (``!copy <key>``: a copy of it);
* ``!ref run-<key>``: the keys' values put inside a string;
* ``!ref <rate> // 100``: a built string that reads as arithmetic on numbers
  (``+ - * / // % **``) is computed.

HyperPyYAML computes any such string, however costly (``<n> ** 999999999``).
:func:`resolve_reference` refuses strings longer than :data:`MAX_STRING`
characters and results of more than :data:`MAX_INT_BITS` bits (bounded
before computing them), and leaves a string longer than
:data:`MAX_EXPRESSION` characters uncomputed.

Authors
 * speechbrain-atkl developers 2026
"""

import ast
import copy
import operator
import re

#: Longest string built by ``!ref`` interpolation.
MAX_STRING = 4096
#: Longest ``!ref`` string evaluated as arithmetic (longer ones stay strings).
MAX_EXPRESSION = 256
#: Largest integer, in bits.
MAX_INT_BITS = 64

#: The values that may be put inside a string (and, in a folder's YAML, be a mapping key or a model argument).
PLAIN_TYPES = (str, int, float, bool, type(None))
REFERENCE = re.compile(r"<([^<>]*)>")
KEY_PATH = re.compile(r"[^\[\].<>]+(\[[^\[\].<>]+\])*")
OPERATORS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Pow: operator.pow,
    ast.Mod: operator.mod,
}


class RefusedReference(ValueError):
    """A ``!ref`` value that is not computed; the message says why (the reader adds where it is)."""


def resolve_reference(text, value_of, copy_value=False):
    """The value of a ``!ref`` (or ``!copy``) text, within bounds.

    Arguments
    ---------
    text : str
        What follows the tag: ``<key>``, or a string with ``<key>`` inside.
    value_of : callable
        ``value_of(path)`` is the value of the key named between ``<>``:
        ``key`` or ``key[sub]`` (:func:`key_path_keys` splits it).
    copy_value : bool
        ``!copy``: a text that is one reference gives a deep copy of the value.

    Returns
    -------
    object
        The referenced value (a text that is one reference); the text
        itself (no reference); else the built string, or the number it
        computes to.

    Raises
    ------
    RefusedReference
        A reference names something else than a key (``<a.b>``), a value put
        inside a string is not plain, the string is longer than
        :data:`MAX_STRING`, or its arithmetic cannot be computed within bounds.

    Example
    -------
    >>> values = {"rate": 16000, "hop": 160, "model": object()}
    >>> resolve_reference("<rate>", values.get)
    16000
    >>> resolve_reference("run-<hop>", values.get)
    'run-160'
    >>> resolve_reference("<rate> // 100", values.get)
    160
    >>> resolve_reference("<rate> ** 99", values.get)
    Traceback (most recent call last):
    ...
    speechbrain_atkl.loading.yaml_references.RefusedReference: the result has more than 64 bits.
    >>> resolve_reference("name-<model>", values.get)
    Traceback (most recent call last):
    ...
    speechbrain_atkl.loading.yaml_references.RefusedReference: <model> is a object: only plain values ...
    >>> resolve_reference("<model.forward>", values.get)
    Traceback (most recent call last):
    ...
    speechbrain_atkl.loading.yaml_references.RefusedReference: <model.forward>: a reference names a key, ...
    """

    def checked_value_of(path):
        if not KEY_PATH.fullmatch(path):
            raise RefusedReference(
                f"<{path}>: a reference names a key, <key> or <key[sub]>; attributes (<a.b>) "
                "and other forms are not allowed."
            )
        return value_of(path)

    whole = REFERENCE.fullmatch(text)
    if whole:
        value = checked_value_of(whole.group(1))
        return copy.deepcopy(value) if copy_value else value
    if not REFERENCE.search(text):
        return text

    def substitute(match):
        value = checked_value_of(match.group(1))
        if not isinstance(value, PLAIN_TYPES):
            raise RefusedReference(
                f"<{match.group(1)}> is a {type(value).__name__}: only plain values can be put inside a string."
            )
        return str(value)

    result = REFERENCE.sub(substitute, text)
    if len(result) > MAX_STRING:
        raise RefusedReference(f"the string built here is longer than {MAX_STRING} characters.")
    return compute_arithmetic(result)


def key_path_keys(path):
    """The keys a reference's path names, outermost first.

    Example
    -------
    >>> key_path_keys("encoder[channels]")
    ['encoder', 'channels']
    """
    return re.findall(r"[^\[\]]+", path)


def compute_arithmetic(text):
    """``text`` computed as HyperPyYAML does (numbers and ``+ - * / // % **``), within bounds.

    Arguments
    ---------
    text : str
        A string built by ``!ref``.

    Returns
    -------
    object
        The number it computes to, or ``text`` itself if it is not
        arithmetic (or longer than :data:`MAX_EXPRESSION`).

    Raises
    ------
    RefusedReference
        Arithmetic on something other than numbers, a result (or an
        intermediate one) of more than :data:`MAX_INT_BITS` bits, or one that
        cannot be computed (division by zero, a complex power...).

    Example
    -------
    >>> compute_arithmetic("16000 * 2 // 100"), compute_arithmetic("1 / 4"), compute_arithmetic("run-160")
    (320, 0.25, 'run-160')
    >>> compute_arithmetic("1 // 0")
    Traceback (most recent call last):
    ...
    speechbrain_atkl.loading.yaml_references.RefusedReference: '1 // 0' cannot be computed: ZeroDivisionError: ...
    """
    if len(text) > MAX_EXPRESSION:
        return text
    try:
        expression = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError):
        return text
    parts = list(ast.walk(expression))
    if not all(
        isinstance(part, ast.Constant)
        or (isinstance(part, ast.BinOp) and type(part.op) in OPERATORS)
        or isinstance(part, ast.operator)
        for part in parts
    ):
        return text
    if isinstance(expression, ast.Constant):
        return expression.value
    constants = [part.value for part in parts if isinstance(part, ast.Constant)]
    if not all(isinstance(value, (int, float)) for value in constants):
        raise RefusedReference(f"{text!r}: arithmetic is allowed on numbers only.")
    try:
        return _evaluate(expression)
    except ArithmeticError as error:
        raise RefusedReference(f"{text!r} cannot be computed: {type(error).__name__}: {error}") from None


def _evaluate(expression):
    """The value of a parsed expression of numbers and :data:`OPERATORS`, refused past :data:`MAX_INT_BITS`."""
    if isinstance(expression, ast.Constant):
        return expression.value
    left, right = _evaluate(expression.left), _evaluate(expression.right)
    kind = type(expression.op)
    both_ints = isinstance(left, int) and isinstance(right, int)
    if both_ints and kind is ast.Pow and right > 0 and abs(left) > 1:
        bits = (abs(left).bit_length() - 1) * right
    elif both_ints and kind is ast.Mult:
        bits = left.bit_length() + right.bit_length() - 1
    else:
        bits = 0
    if bits > MAX_INT_BITS:
        raise RefusedReference(f"the result has more than {MAX_INT_BITS} bits.")
    result = OPERATORS[kind](left, right)
    if isinstance(result, complex):
        raise ArithmeticError("the result is not a real number")
    if isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
        raise RefusedReference(f"the result has more than {MAX_INT_BITS} bits.")
    return result
