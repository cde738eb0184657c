"""Predicates for configuration values: finite numbers in a range, ``(low, high)`` pairs.

One definition for every layer that checks a value it was given (recipe
hyper-parameters, dataset options, checkpoint metadata, model cards): a
number is an ``int`` or ``float``, never a ``bool``, and finite.

Authors
 * speechbrain-atkl developers 2026
"""

import math


def is_number(value, low=-math.inf, high=math.inf, integer=False, low_open=False):
    """True if ``value`` is a finite (integer) number in the range ``[low, high]`` (``(low, high]``: ``low_open``).

    Example
    -------
    >>> is_number(3, 1, integer=True), is_number(2.5, 1, integer=True), is_number(True), is_number(0, 0, low_open=True)
    (True, False, False, False)
    >>> is_number(float("nan")), is_number("2.1")
    (False, False)
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if integer and not float(value).is_integer():
        return False
    return math.isfinite(value) and (value > low if low_open else value >= low) and value <= high


def is_range(value):
    """True if ``value`` is a list or tuple ``(low, high)`` of two finite numbers with ``low <= high``.

    Example
    -------
    >>> is_range([-5, 20]), is_range((3.0, 1.0)), is_range((1, 2, 3)), is_range((0, float("inf")))
    (True, False, False, False)
    """
    return isinstance(value, (list, tuple)) and len(value) == 2 and all(map(is_number, value)) and value[0] <= value[1]


def check_probability(name, value):
    """Raises ValueError naming ``name`` unless ``value`` is a probability (a number in ``[0, 1]``).

    Example
    -------
    >>> check_probability("prob", 0.5)
    >>> check_probability("prob", 2)
    Traceback (most recent call last):
        ...
    ValueError: prob must be a probability in [0, 1], got 2.
    """
    if not is_number(value, 0.0, 1.0):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}.")


def check_range(name, value):
    """``value`` as a ``(low, high)`` tuple of floats; ValueError naming ``name`` unless :func:`is_range`.

    Example
    -------
    >>> check_range("snr_range", [-5, 20])
    (-5.0, 20.0)
    >>> check_range("snr_range", (3, 1))
    Traceback (most recent call last):
        ...
    ValueError: snr_range must be (low, high) with low <= high, got (3, 1).
    """
    if not is_range(value):
        raise ValueError(f"{name} must be (low, high) with low <= high, got {value!r}.")
    return float(value[0]), float(value[1])
