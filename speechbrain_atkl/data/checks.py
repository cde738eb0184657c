"""Audio files that are (or go) bad: sample checks with a cache, and a budget of bad files.

* :func:`scan_samples` reads every sample of a file once (in blocks) and says
  why it is unusable: unreadable, or NaN/infinite samples, which a header
  read cannot see;
* :class:`SampleChecks` remembers each file's verdict keyed by its path, size
  and modification time, so preparing a corpus again re-reads only the files
  that changed;
* :class:`BadFiles` lets training skip files that go bad after preparation,
  with a warning each, until more than ``max_bad_files`` distinct files have
  failed, which is then an error that says so. Each process (DataLoader
  worker, DDP rank) counts its own.

Authors
 * speechbrain-atkl developers 2026
"""

import logging
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from speechbrain_atkl.data.manifest import read_manifest, write_json

logger = logging.getLogger(__name__)

# Frames read at a time by scan_samples (bounded memory for any file length).
SCAN_BLOCK = 1 << 16


def scan_samples(path):
    """Reads all samples of a file; returns why it is unusable, or None.

    Arguments
    ---------
    path : str or pathlib.Path
        Audio file.

    Returns
    -------
    str or None
        The reason (``"holds NaN or infinite samples"``, a read error), or
        None for a file whose samples are all finite.

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "bad.wav")
    >>> sf.write(path, np.array([0.1, np.nan, 0.2]), 16000, subtype="FLOAT")
    >>> scan_samples(path)
    'holds NaN or infinite samples (first at sample 1)'
    """
    try:
        with sf.SoundFile(os.fsencode(path)) as handle:
            position = 0
            for block in handle.blocks(SCAN_BLOCK, dtype="float32", always_2d=True):
                finite = np.isfinite(block).all(axis=1)
                if not finite.all():
                    return f"holds NaN or infinite samples (first at sample {position + int(np.argmin(finite))})"
                position += block.shape[0]
    except (sf.LibsndfileError, RuntimeError, TypeError, OSError) as error:
        return f"reading the samples failed: {error}"
    return None


class SampleChecks:
    """:func:`scan_samples` verdicts cached in a JSON file, keyed by path, size and mtime.

    Arguments
    ---------
    cache_file : str or pathlib.Path
        The JSON cache (``{path: {"size", "mtime_ns", "problem"}}``); read if
        it exists, written by :meth:`save`.

    Example
    -------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> sf.write(os.path.join(folder, "a.wav"), np.zeros(100), 16000)
    >>> checks = SampleChecks(os.path.join(folder, "checks.json"))
    >>> checks.problem(os.path.join(folder, "a.wav")), checks.scanned
    (None, 1)
    >>> checks.save()
    >>> again = SampleChecks(os.path.join(folder, "checks.json"))
    >>> again.problem(os.path.join(folder, "a.wav")), again.scanned
    (None, 0)
    """

    def __init__(self, cache_file):
        self.cache_file = Path(cache_file)
        try:
            self.cache = read_manifest(self.cache_file) if self.cache_file.is_file() else {}
        except ValueError as error:
            logger.warning("%s: unreadable cache, checking every file again (%s).", cache_file, error)
            self.cache = {}
        self.scanned = 0

    def problem(self, path):
        """Why ``path``'s samples are unusable (None if they are fine); cached."""
        stat = os.stat(path)
        key = os.fsdecode(os.path.abspath(path))
        entry = self.cache.get(key)
        if entry is None or [entry["size"], entry["mtime_ns"]] != [stat.st_size, stat.st_mtime_ns]:
            entry = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "problem": scan_samples(path)}
            self.cache[key] = entry
            self.scanned += 1
        return entry["problem"]

    def save(self):
        """Writes the cache (atomically)."""
        write_json(self.cache_file, self.cache)


class BadFiles:
    """Counts distinct files that failed to load during training, up to a limit.

    Arguments
    ---------
    max_bad_files : int
        How many distinct bad files are skipped; one more is an error.
    what : str
        What the files are, for messages (e.g. ``"noise"``).

    Example
    -------
    >>> bad = BadFiles(1)
    >>> bad.record("a.wav", "a.wav: the file holds NaN or infinite samples.")
    >>> bad.record("a.wav", "same file again: not counted twice")
    >>> bad.count
    1
    >>> bad.record("b.wav", "b.wav: no such audio file.")
    Traceback (most recent call last):
    ...
    RuntimeError: 2 audio files failed to load, more than max_bad_files=1; the last: b.wav: no such audio file.
    Fix or remove them and prepare the data again, or raise max_bad_files.
    """

    def __init__(self, max_bad_files=0, what="audio"):
        if isinstance(max_bad_files, bool) or not isinstance(max_bad_files, int) or max_bad_files < 0:
            raise ValueError(f"max_bad_files must be an integer >= 0, got {max_bad_files!r}.")
        self.limit = max_bad_files
        self.what = what
        self.paths = set()

    @property
    def count(self):
        """Number of distinct bad files seen by this process."""
        return len(self.paths)

    def record(self, path, error):
        """Counts ``path`` as bad; warns, or raises RuntimeError past the limit."""
        if path in self.paths:
            return
        self.paths.add(path)
        if self.count > self.limit:
            raise RuntimeError(
                f"{self.count} {self.what} files failed to load, more than "
                f"max_bad_files={self.limit}; the last: {error} Fix or remove them and "
                "prepare the data again, or raise max_bad_files."
            )
        logger.warning(
            "Skipping a bad %s file (%d of at most max_bad_files=%d): %s",
            self.what, self.count, self.limit, error,
        )
