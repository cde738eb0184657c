"""``precision: auto``: bfloat16 only where the hardware computes it natively.

CPU autocast to bfloat16 speeds training up on CPUs with bfloat16 instructions
(AVX512-BF16, AMX) and slows it down many times on CPUs without them, where
every bfloat16 operation is emulated. ``auto`` picks ``bf16`` on CUDA and on
such CPUs, ``fp32`` everywhere else; the choice is made once at start-up and
logged.

Authors
 * speechbrain-atkl developers 2026
"""

import logging
from pathlib import Path

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: ``/proc/cpuinfo`` flags of native bfloat16 arithmetic (x86: AVX512-BF16, AMX-BF16; Arm: BF16).
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def cpu_flags(cpuinfo="/proc/cpuinfo"):
    """The CPU's feature flags (``flags`` on x86, ``Features`` on Arm); empty where unknown.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "cpuinfo"
    >>> _ = path.write_text("processor : 0\\nflags : fpu avx2 avx512_bf16\\n")
    >>> sorted(cpu_flags(path))
    ['avx2', 'avx512_bf16', 'fpu']
    >>> cpu_flags(path.parent / "absent")
    frozenset()
    """
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def resolve_precision(precision, device="cpu", flags=None):
    """The training precision to use for ``precision`` on ``device``.

    Arguments
    ---------
    precision : str
        ``"auto"``, ``"fp32"``, ``"bf16"`` or ``"fp16"``; only ``"auto"`` is decided here.
    device : str
        ``"cpu"``, ``"cuda"``, ``"cuda:N"``...
    flags : set of str, optional
        CPU feature flags (default: read from ``/proc/cpuinfo``).

    Returns
    -------
    str
        ``"fp32"``, ``"bf16"`` or ``"fp16"``.

    Example
    -------
    >>> resolve_precision("auto", "cpu", flags={"avx2", "fma"})
    'fp32'
    >>> resolve_precision("auto", "cpu", flags={"avx512f", "avx512_bf16"})
    'bf16'
    >>> resolve_precision("auto", "cuda:0"), resolve_precision("fp32", "cuda")
    ('bf16', 'fp32')
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision: expected one of {PRECISIONS}, got {precision!r}.")
    if precision != "auto":
        return precision
    if str(device).startswith("cuda"):
        return "bf16"
    flags = cpu_flags() if flags is None else flags
    return "bf16" if NATIVE_BF16_FLAGS & set(flags) else "fp32"


def choose_precision(hparams, run_opts):
    """Resolves the YAML's ``precision`` (unless the command line set one) in place; logs the choice.

    Arguments
    ---------
    hparams : dict
        The run's hyper-parameters; its ``precision`` (``auto`` resolved by
        :func:`resolve_precision`) is replaced by the precision chosen.
    run_opts : dict
        SpeechBrain's run options (``device``; a ``precision`` given on the
        command line wins).

    Returns
    -------
    str
        The precision the run trains in: ``fp32``, ``bf16`` or ``fp16``.

    Example
    -------
    >>> hparams = {"precision": "auto"}
    >>> choose_precision(hparams, {"device": "cuda:0"}), hparams["precision"]
    ('bf16', 'bf16')
    >>> choose_precision({"precision": "fp32"}, {"device": "cpu"})
    'fp32'
    """
    if "precision" in getattr(run_opts, "overridden_args", ()):
        return run_opts["precision"]
    requested = hparams.get("precision", "fp32")
    device = run_opts.get("device") or hparams.get("device") or "cpu"
    hparams["precision"] = resolve_precision(requested, device)
    if requested == "auto":
        native = sorted(NATIVE_BF16_FLAGS & cpu_flags()) if not str(device).startswith("cuda") else ["cuda"]
        logger.info(
            "precision: auto -> %s on %s (native bfloat16: %s)",
            hparams["precision"], device, ", ".join(native) or "no",
        )
    return hparams["precision"]
