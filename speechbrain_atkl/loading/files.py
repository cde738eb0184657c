"""Reading a folder's files within bounds: regular files only, text of a bounded size.

A model or run folder may hold a named pipe where a file is expected (reading
it would wait forever) or a YAML file of hundreds of megabytes (parsing it
would take minutes). Every file the loaders read goes through these checks.

Authors
 * speechbrain-atkl developers 2026
"""

from pathlib import Path

#: Largest YAML file a folder may hold (a published ``hyperparams.yaml`` is about 1 kB).
MAX_TEXT_BYTES = 64 * 1024


def regular_file(path, what):
    """``path`` as a ``Path``, if it is a regular file (or a link to one).

    Arguments
    ---------
    path : str or pathlib.Path
        The file.
    what : str
        What the file is, for error messages.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileNotFoundError
        If nothing is there.
    ValueError
        If it is a folder, a pipe, a device or a socket.

    Example
    -------
    >>> import tempfile
    >>> regular_file(tempfile.mkdtemp(), "model.ckpt")
    Traceback (most recent call last):
    ...
    ValueError: model.ckpt /tmp/... is not a regular file (it is a folder, a pipe or a device).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} {path} not found.")
    if not path.is_file():
        raise ValueError(f"{what} {path} is not a regular file (it is a folder, a pipe or a device).")
    return path


def read_text(path, what, max_bytes=MAX_TEXT_BYTES):
    """The UTF-8 text of a regular file of at most ``max_bytes`` bytes.

    The size is checked before reading, so a huge file is refused at once.

    Arguments
    ---------
    path : str or pathlib.Path
        The file.
    what : str
        What the file is, for error messages.
    max_bytes : int or None
        Size limit; None reads any size (for files the caller trusts).

    Returns
    -------
    str

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "hyperparams.yaml")
    >>> _ = open(path, "w").write("sample_rate: 16000\\n" * 10)
    >>> read_text(path, "hyperparams.yaml", max_bytes=100)
    Traceback (most recent call last):
    ...
    ValueError: hyperparams.yaml /tmp/.../hyperparams.yaml is 190 bytes, more than the 100 a model's file may hold.
    """
    path = regular_file(path, what)
    with open(path, "rb") as file:
        data = file.read() if max_bytes is None else file.read(max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:
        size = max(path.stat().st_size, len(data))
        raise ValueError(f"{what} {path} is {size} bytes, more than the {max_bytes} a model's file may hold.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{what} {path} is not UTF-8 text: {error}") from None
