"""Files written whole or not at all, with errors that name them.

A file is written under a hidden temporary name in its folder and renamed to
its own name once complete, so a reader never finds it half-written.
:func:`atomic_temporary` gives that name and removes it however the writing
ends: when the block raises, and when the process is stopped with SIGTERM
(from the main thread, a handler removes every temporary in progress and then
lets the signal act as it did before). :func:`write_text_atomically` writes a
text file that way, :func:`check_writable` tries a folder before the work
whose results go there, and :func:`exclusive_lock` lets one process at a time
write what several may share. Every write failure (full disk, no permission, read-only
file system, a folder in the way...) raises :class:`FileWriteError`, an
``OSError`` whose message starts with the file's path.

Authors
 * speechbrain-atkl developers 2026
"""

import contextlib
import errno
import fcntl
import os
import signal
import threading
import uuid
from pathlib import Path


class FileWriteError(OSError):
    """Writing a file failed (full disk, no permission, ...); the message names the file."""


_in_progress = set()
_previous_sigterm = signal.SIG_DFL


def _remove_in_progress(signum, frame):
    """SIGTERM handler: removes the temporaries being written, then acts as the previous handler."""
    if _previous_sigterm == signal.SIG_IGN:
        return
    for path in list(_in_progress):
        with contextlib.suppress(OSError):
            os.unlink(path)
    if callable(_previous_sigterm):
        _previous_sigterm(signum, frame)
    else:  # the default action (or a handler set outside Python): terminate
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _watch_sigterm():
    """Puts :func:`_remove_in_progress` in front of the current SIGTERM handler (main thread only)."""
    global _previous_sigterm
    if threading.current_thread() is not threading.main_thread():
        return
    current = signal.getsignal(signal.SIGTERM)
    if current is not _remove_in_progress:
        _previous_sigterm = current
        signal.signal(signal.SIGTERM, _remove_in_progress)


@contextlib.contextmanager
def atomic_temporary(path):
    """A hidden temporary name beside ``path``, removed when the block ends (rename it to ``path`` to keep it).

    Arguments
    ---------
    path : str or pathlib.Path
        The file to write.

    Yields
    ------
    pathlib.Path
        ``.<random>.partial`` in ``path``'s folder (short: ``path``'s own name
        may be as long as the system allows).

    Example
    -------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "notes.txt"
    >>> with atomic_temporary(target) as temporary:
    ...     _ = temporary.write_text("whole")
    ...     os.replace(temporary, target)
    >>> [p.name for p in target.parent.iterdir()], target.read_text()
    (['notes.txt'], 'whole')
    """
    temporary = Path(path).with_name(f".{uuid.uuid4().hex[:16]}.partial")
    _watch_sigterm()
    _in_progress.add(temporary)
    try:
        yield temporary
    finally:
        _in_progress.discard(temporary)
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def naming_the_file(path, doing="writing", error_class=FileWriteError, errors=(OSError,)):
    """Turns the ``errors`` raised in the block into ``error_class`` whose message starts with ``path``.

    Example
    -------
    >>> with naming_the_file("/results/report.csv"):
    ...     raise OSError(errno.ENOSPC, "No space left on device")
    Traceback (most recent call last):
    ...
    speechbrain_atkl.data.atomic.FileWriteError: /results/report.csv: writing failed (is the disk full?):
    [Errno 28] No space left on device
    """
    try:
        yield
    except FileWriteError:
        raise
    except errors as error:
        full = getattr(error, "errno", None) == errno.ENOSPC or "System error" in str(error)
        hint = " (is the disk full?)" if full else ""
        raise error_class(f"{path}: {doing} failed{hint}: {error}") from error


def write_text_atomically(path, text, errors="strict"):
    """Writes a UTF-8 text file whole or not at all; parent folders are created.

    Arguments
    ---------
    path : str or pathlib.Path
        The file.
    text : str
        Its content.
    errors : str
        Encoding error handling (``"surrogateescape"`` writes back names read
        from a non-UTF-8 file system byte for byte).

    Raises
    ------
    FileWriteError
        Naming ``path``; no temporary is left behind.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_text_atomically(folder / "out" / "summary.md", "# Scores\\n")
    >>> (folder / "out" / "summary.md").read_text()
    '# Scores\\n'
    >>> write_text_atomically(folder / "out", "a folder is in the way")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    speechbrain_atkl.data.atomic.FileWriteError: .../out: writing failed: [Errno 21] Is a directory: ...
    """
    path = Path(path)
    with naming_the_file(path), atomic_temporary(path) as temporary:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(text, encoding="utf-8", errors=errors)
        os.replace(temporary, path)


def check_writable(folder):
    """Checks that files can be written in ``folder``, creating nothing.

    Call it before long work whose results go to ``folder``, so that a
    read-only, full or misnamed folder fails at once. A temporary file is
    written (then removed) in ``folder`` or, when it does not exist yet, in
    its nearest existing parent, which must be a folder.

    Arguments
    ---------
    folder : str or pathlib.Path
        The folder.

    Raises
    ------
    FileWriteError
        Naming ``folder`` and why it cannot be written.

    Example
    -------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> check_writable(root / "reports" / "today")
    >>> (root / "reports").exists()
    False
    >>> _ = (root / "file").write_text("")
    >>> check_writable(root / "file" / "reports")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    speechbrain_atkl.data.atomic.FileWriteError: .../file/reports: writing a file in this folder failed: ...
    """
    folder = Path(folder)
    existing = next(parent for parent in (folder, *folder.absolute().parents) if parent.exists())
    with naming_the_file(folder, "writing a file in this folder"):
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"{existing} is a file, not a folder")
        with atomic_temporary(existing / "probe") as temporary:
            temporary.touch()


@contextlib.contextmanager
def exclusive_lock(path, wait=True):
    """Holds an exclusive ``flock`` on the file ``path`` (created with its folder) while the block runs.

    The lock is released when the block ends and, whatever ends the process
    (SIGKILL included), with the process, so it is never left behind.

    Arguments
    ---------
    path : str or pathlib.Path
        The lock file (its content is the holder's to use).
    wait : bool
        Wait for another holder to release it; False raises
        ``BlockingIOError`` at once instead.

    Yields
    ------
    io.TextIOWrapper
        The lock file, open for reading and appending.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "data" / ".prepare.lock"
    >>> with exclusive_lock(path):
    ...     with exclusive_lock(path, wait=False):
    ...         pass
    Traceback (most recent call last):
    ...
    BlockingIOError: [Errno 11] Resource temporarily unavailable
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        yield handle


def shared_lock(path):
    """Takes a shared ``flock`` on the file ``path`` (created with its folder); returns the open file.

    Closing the file releases it, and so does the end of the process. Many
    holders may share it; :func:`exclusive_lock` waits for (or, without
    ``wait``, refuses) all of them.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / ".in_use.lock"
    >>> first, second = shared_lock(path), shared_lock(path)
    >>> with exclusive_lock(path, wait=False):
    ...     pass
    Traceback (most recent call last):
    ...
    BlockingIOError: [Errno 11] Resource temporarily unavailable
    >>> first.close(), second.close()
    (None, None)
    >>> with exclusive_lock(path, wait=False):
    ...     pass
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+", encoding="utf-8")
    fcntl.flock(handle, fcntl.LOCK_SH)
    return handle
