"""Keeping glibc's allocator from returning large temporaries to the kernel.

glibc's ``malloc`` serves every request above its mmap threshold (at most
32 MiB by default) with a fresh ``mmap`` and gives it back with ``munmap``
when freed; it also trims the top of its heap beyond a trim threshold. A
model forward on seconds of audio allocates and frees temporaries of tens
to hundreds of MiB, so every call faults all of their pages in again, and
a large share of the CPU time goes to the kernel, the more so the longer the
input (the faults grow faster than the length). :func:`tune_allocator`
raises both thresholds, so that the memory is kept and reused by later
calls. The price is memory: the largest temporaries stay allocated, and
memory freed at the top of the heap is kept up to the threshold. What it
saves and costs, measured with ``benchmarks/enhance_cost.py``:
``docs/benchmarks.md``, "enhance_file: CPU cost and the allocator".

Who calls it: the two commands at start-up, ``speechbrain-atkl-enhance``
(:func:`speechbrain_atkl.inference.cli.main`, and each of its ``--jobs``
worker processes) and ``speechbrain-atkl-evaluate``
(:func:`speechbrain_atkl.evaluation.cli.main`), and ``benchmarks/enhance_cost.py``,
which measures it; a library user may call it once too. ``train.py`` does
not: a training step's peak memory grew with it and its CPU time did not
measurably shrink.

The environment variable :data:`ENV_VAR` controls it:

* unset: both thresholds set to :data:`DEFAULT_THRESHOLD_MIB` MiB;
* ``off`` (or ``0``): the allocator is left alone;
* a number: the thresholds in MiB.

It is a no-op on a C library other than glibc, and when glibc's own
settings are given (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``
or ``malloc`` entries of ``GLIBC_TUNABLES``): those are the user's choice.
It changes the calling process only: a process started with ``spawn`` keeps
glibc's defaults unless it calls it too (the evaluation's scoring workers
do not).

Authors
 * speechbrain-atkl developers 2026
"""

import ctypes
import logging
import os
import platform

__all__ = ["DEFAULT_THRESHOLD_MIB", "ENV_VAR", "tune_allocator"]

logger = logging.getLogger(__name__)

#: Environment variable: ``off``, or the thresholds in MiB.
ENV_VAR = "SPEECHBRAIN_ATKL_MALLOC_MIB"
#: Default mmap and trim thresholds (MiB): above the largest temporaries of a 60 s Distil-DCCRN
#: forward (a lower one left many of its faults), at about the peak memory of a lower one.
DEFAULT_THRESHOLD_MIB = 1024
#: ``mallopt`` takes a C ``int``: thresholds stay below 2 GiB.
MAX_MIB = 2048
#: ``mallopt`` parameter numbers from glibc's ``malloc.h``.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
#: glibc's own settings, which take precedence.
GLIBC_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def tune_allocator(environ=None):
    """Raises glibc's mmap and trim thresholds (see the module docstring).

    Arguments
    ---------
    environ : mapping or None
        Environment to read :data:`ENV_VAR` and glibc's settings from
        (default ``os.environ``).

    Returns
    -------
    int or None
        The thresholds set, in bytes; ``None`` when nothing was changed
        (disabled, glibc's own settings given, not glibc, ``mallopt``
        refused the value, or :data:`ENV_VAR` is neither ``off`` nor a
        whole number of MiB: a warning names it).

    Example
    -------
    >>> tune_allocator({ENV_VAR: "off"}) is None
    True
    >>> tune_allocator({ENV_VAR: "lots"}) is None  # logs a warning naming the value
    True
    """
    environ = os.environ if environ is None else environ
    mib = _threshold_mib(environ.get(ENV_VAR, ""))
    if mib is None:
        return None
    if any(name in environ for name in GLIBC_SETTINGS) or "glibc.malloc." in environ.get("GLIBC_TUNABLES", ""):
        logger.debug("glibc's malloc settings are given in the environment; %s not applied.", ENV_VAR)
        return None
    if platform.libc_ver()[0] != "glibc":
        logger.debug("not glibc; the allocator is left alone.")
        return None
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None
    value = mib << 20
    # Trim first: setting the mmap threshold stops glibc adjusting the trim threshold itself.
    if not (mallopt(M_TRIM_THRESHOLD, value) and mallopt(M_MMAP_THRESHOLD, value)):
        logger.warning("glibc refused mallopt thresholds of %d MiB; set %s=off to silence.", mib, ENV_VAR)
        return None
    logger.debug("glibc mmap and trim thresholds set to %d MiB.", mib)
    return value


def _threshold_mib(text):
    """The thresholds in MiB from :data:`ENV_VAR`'s value; ``None`` for ``off`` or an invalid value."""
    text = text.strip().lower()
    if not text:
        return DEFAULT_THRESHOLD_MIB
    if text in ("off", "0"):
        return None
    if text.isdigit() and int(text) < MAX_MIB:
        return int(text)
    logger.warning(
        "%s=%r: expected 'off' or a whole number of MiB below %d; allocator left alone.", ENV_VAR, text, MAX_MIB
    )
    return None
