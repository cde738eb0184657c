"""A cache of the noisy inputs' scores, shared by evaluations of the same test set.

Every evaluation of a system scores the noisy inputs too (the "noisy" row of
the report, the baseline of every comparison), and those scores do not depend
on the system: the second system evaluated on a test set pays for them again.
:class:`NoisyScoreCache` keeps them in an SQLite file, keyed by the content
of the noisy and clean signals (SHA-256 of the file bytes or of the array), by
the metric and by the versions of the scoring code and libraries, so a changed
file, a changed reference or a new ``pesq``/``pystoi``/``speechmos`` release
is a miss, never a stale score. Only complete noisy rows are stored (a noisy
input that cannot be scored is scored, and reported, again). SQLite makes the
file safe for several evaluations running at the same time.

A file that is not such a cache (another SQLite database, any other file) is
refused when the cache is opened, before any scoring. A cache that cannot be
written (a read-only file or file system, a full disk) still gives its scores:
the scores it cannot store are left out with a warning, and the evaluation
goes on.

Usage::

    cache = NoisyScoreCache("results/noisy_scores.sqlite")
    results = score_utterances(items, noisy_cache=cache)

Authors
 * speechbrain-atkl developers 2026
"""

import contextlib
import hashlib
import logging
import sqlite3
from importlib import metadata
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

#: Libraries whose version is part of every key.
SCORING_LIBRARIES = ("speechbrain-atkl", "pesq", "pystoi", "speechmos", "onnxruntime")
#: The cache's one table and its columns.
SCHEMA = "CREATE TABLE IF NOT EXISTS scores (key TEXT, metric TEXT, value REAL, PRIMARY KEY (key, metric))"
COLUMNS = ["key", "metric", "value"]


def scoring_version():
    """The versions of the scoring code and libraries, part of every cache key.

    Returns
    -------
    str
        ``"name=version;..."`` (``missing`` for a library not installed).

    Example
    -------
    >>> scoring_version().startswith("speechbrain-atkl=")
    True
    """
    parts = []
    for name in SCORING_LIBRARIES:
        try:
            parts.append(f"{name}={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name}=missing")
    return ";".join(parts)


def signal_digest(source):
    """SHA-256 of a signal: an audio file's bytes, or a float64 array's values.

    Arguments
    ---------
    source : str, Path or numpy.ndarray
        An audio file or a 1-D waveform ``(time,)``.

    Returns
    -------
    str
        Hexadecimal digest.

    Example
    -------
    >>> import numpy as np
    >>> signal_digest(np.zeros(4)) == signal_digest(np.zeros(4, dtype=np.float32))
    True
    >>> signal_digest(np.zeros(4)) == signal_digest(np.zeros(5))
    False
    """
    digest = hashlib.sha256()
    if isinstance(source, (str, Path)):
        with open(source, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return "file:" + digest.hexdigest()
    array = np.ascontiguousarray(np.asarray(source, dtype=np.float64))
    digest.update(str(array.shape).encode())
    digest.update(array.tobytes())
    return "array:" + digest.hexdigest()


class NoisyScoreCache:
    """Scores of noisy inputs in an SQLite file, keyed by content, metric and versions.

    Arguments
    ---------
    path : str or Path
        The SQLite file (created with its folder if missing).

    Example
    -------
    >>> import tempfile, numpy as np
    >>> cache = NoisyScoreCache(Path(tempfile.mkdtemp()) / "scores.sqlite")
    >>> noisy, clean = np.ones(8), np.zeros(8)
    >>> key = cache.key(noisy, clean)
    >>> cache.get(key, ["si_snr"]) is None
    True
    >>> cache.put(key, {"si_snr": -3.5, "stoi": 0.7})
    >>> cache.get(key, ["si_snr"]), cache.get(key, ["si_snr", "pesq_wb"])
    ({'si_snr': -3.5}, None)
    """

    def __init__(self, path):
        self.path = Path(path)
        self.version = scoring_version()
        try:
            if not self.path.is_file():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as connection:
                tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
                if not tables:
                    connection.execute(SCHEMA)
                columns = [row[1] for row in connection.execute("PRAGMA table_info(scores)")]
            self.writable = self._can_write()
        except (OSError, sqlite3.Error) as err:
            raise ValueError(f"Cannot use {self.path} as a noisy-score cache (an SQLite file): {err}") from err
        if columns != COLUMNS:
            raise ValueError(
                f"{self.path} is not a noisy-score cache: it holds the tables {tables}, not one table "
                f"'scores' of columns {COLUMNS}. Give another --noisy-cache file (or noisy_score_cache)."
            )

    def _can_write(self):
        """Whether a write transaction succeeds (it changes nothing and is rolled back); warns when not."""
        connection = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            connection.execute("BEGIN")
            connection.execute("DELETE FROM scores WHERE 0")
            return True
        except sqlite3.OperationalError as err:
            logger.warning("%s: the noisy-score cache cannot be written (%s): its scores are used, new ones are "
                           "not stored.", self.path, err)
            return False
        finally:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            connection.close()

    @contextlib.contextmanager
    def _connect(self):
        """A connection that commits on success and is closed in every case."""
        connection = sqlite3.connect(self.path, timeout=60)
        try:
            with connection:
                yield connection
        finally:
            connection.close()

    def key(self, noisy, clean):
        """The cache key of a noisy input scored against its clean reference."""
        return f"{signal_digest(noisy)}|{signal_digest(clean)}|{self.version}"

    def get(self, key, metrics):
        """``{metric: score}`` when every metric is cached, else None."""
        try:
            with self._connect() as connection:
                placeholders = ",".join("?" * len(metrics))
                found = dict(
                    connection.execute(
                        f"SELECT metric, value FROM scores WHERE key = ? AND metric IN ({placeholders})",
                        (key, *metrics),
                    ).fetchall()
                )
        except sqlite3.Error as err:
            raise ValueError(f"{self.path}: reading the noisy-score cache failed: {err}") from err
        return {metric: found[metric] for metric in metrics} if len(found) == len(metrics) else None

    def put(self, key, scores):
        """Stores ``{metric: score}`` of one noisy input (nothing, with a warning, when the cache cannot be written)."""
        if not self.writable:
            return
        try:
            with self._connect() as connection:
                connection.executemany(
                    "INSERT OR REPLACE INTO scores VALUES (?, ?, ?)",
                    [(key, metric, float(value)) for metric, value in scores.items()],
                )
        except sqlite3.Error as err:
            self.writable = False
            logger.warning("%s: storing noisy scores failed (%s); the evaluation goes on without storing them.",
                           self.path, err)
