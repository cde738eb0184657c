"""Reading weights files safely and loading them strictly.

Authors
 * speechbrain-atkl developers 2026
"""

import itertools

import torch

from speechbrain_atkl.loading.files import regular_file


def load_weights(path, what="checkpoint"):
    """Reads a state dict file safely: tensors only, never pickled code.

    ``torch.load`` runs with ``weights_only=True`` whatever torch's default,
    so a file holding other Python objects (a pickle payload) is refused
    before anything in it runs.

    Arguments
    ---------
    path : str or pathlib.Path
        A file written by ``torch.save(model.state_dict(), path)``.
    what : str
        What the file is, for error messages.

    Returns
    -------
    dict
        Parameter name -> ``torch.Tensor``, on the CPU.

    Raises
    ------
    ValueError
        Naming the file when it is not such a file (corrupt, empty, not
        PyTorch, holding anything but tensors, or not a regular file).

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "w.ckpt")
    >>> torch.save(torch.nn.Linear(2, 1).state_dict(), path)
    >>> sorted(load_weights(path))
    ['bias', 'weight']
    >>> with open(path, "wb") as file:
    ...     _ = file.write(b"not torch")
    >>> load_weights(path)
    Traceback (most recent call last):
    ...
    ValueError: checkpoint ...w.ckpt is not a PyTorch weights file that loads safely (tensors only): ...
    """
    path = regular_file(path, what)
    prefix = f"{what} {path} is not a PyTorch weights file that loads safely (tensors only)"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - corrupt files raise anything (IndexError, EOFError, ...)
        # torch's message suggests weights_only=False, i.e. running the file's code: leave that out.
        lines = [line for line in str(error).splitlines() if line.strip() and "weights_only" not in line]
        reason = " ".join(lines[:2]) or "the file is empty or truncated"
        raise ValueError(f"{prefix}: {type(error).__name__}: {reason}") from None
    if not isinstance(state, dict) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items()
    ):
        raise ValueError(f"{prefix}: it holds a {type(state).__name__}, not a mapping of names to tensors.")
    return state


def load_state_dict(model, path, what="checkpoint"):
    """Loads a state dict file into ``model``, strictly, with an error that says what differs.

    See :func:`load_weights` for how the file is read and :func:`fill` for
    what must match.

    Arguments
    ---------
    model : torch.nn.Module
        The model to fill.
    path : str or pathlib.Path
        The weights file.
    what : str
        What the file is, for error messages.

    Returns
    -------
    torch.nn.Module
        ``model``.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "w.ckpt")
    >>> torch.save(torch.nn.Linear(2, 1).state_dict(), path)
    >>> load_state_dict(torch.nn.Linear(2, 1), path).weight.shape
    torch.Size([1, 2])
    >>> load_state_dict(torch.nn.Linear(3, 1), path)
    Traceback (most recent call last):
    ...
    ValueError: checkpoint ...w.ckpt does not fit a Linear with this configuration: ...
    """
    return fill(model, load_weights(path, what), f"{what} {path}")


def fill(model, state, what):
    """Loads ``state`` into ``model`` strictly: every tensor of each must be in the other, with its shape.

    A model on the meta device (built without memory) is only checked
    against ``state``: nothing is copied.

    Arguments
    ---------
    model : torch.nn.Module
        The model to fill.
    state : dict
        Parameter name -> tensor (see :func:`load_weights`).
    what : str
        Where ``state`` comes from, for error messages.

    Returns
    -------
    torch.nn.Module
        ``model``.

    Example
    -------
    >>> state = torch.nn.Linear(2, 1).state_dict()
    >>> with torch.device("meta"):
    ...     shell = torch.nn.Linear(2, 3)
    >>> fill(shell, state, "weights.ckpt")
    Traceback (most recent call last):
    ...
    ValueError: weights.ckpt does not fit a Linear with this configuration: ...size mismatch...
    """
    meta = any(tensor.is_meta for tensor in itertools.chain(model.parameters(), model.buffers()))
    try:
        result = model.load_state_dict(state, strict=False, assign=meta)
        missing, unexpected = result.missing_keys, result.unexpected_keys
    except RuntimeError as error:  # shape mismatches
        raise ValueError(f"{what} does not fit a {type(model).__name__} with this configuration: {error}") from None
    if missing or unexpected:
        raise ValueError(
            f"{what} does not fit a {type(model).__name__} with this configuration: "
            f"{len(missing)} of the model's tensors missing {_names(missing)}, "
            f"{len(unexpected)} unexpected {_names(unexpected)}."
        )
    return model


def _names(keys, shown=8):
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return f"({', '.join(keys[:shown])}{more})" if keys else ""
