"""Training runs started by the recipes' drivers (campaign, release, study, benchmarks).

A driver that is killed (even with SIGKILL) must not leave its ``train.py``
behind: a second driver started on the same run folder would then train beside
it. :func:`die_with_parent` asks Linux to send the child SIGTERM when its parent
dies; :func:`run_logged` runs a command with it, its output appended to a log.

A driver runs for hours, and the code under it may change meanwhile (a merge,
a pull): what it imports lazily after a training, or a YAML it reads again,
would then meet the modules it loaded at start. :func:`code_fingerprint` tells
whether the code changed; :func:`restart_on_current_code` re-executes the
driver on the code as it is now, which resumes from its own records.

Authors
 * speechbrain-atkl developers 2026
"""

import ctypes
import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

PR_SET_PDEATHSIG = 1


def die_with_parent():
    """In a child process (``preexec_fn``): SIGTERM when the parent dies; nothing off Linux."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def run_logged(command, log_path, env=None, cwd=None):
    """Runs ``command`` to its end, output appended to ``log_path``; returns its exit status.

    Example
    -------
    >>> import tempfile
    >>> log = Path(tempfile.mkdtemp()) / "logs" / "run.log"
    >>> run_logged([sys.executable, "-c", "print('trained')"], log), log.read_text()
    (0, 'trained\\n')
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", encoding="utf-8") as log:
        return subprocess.call(
            command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
        )


#: What :func:`code_fingerprint` reads under a repository: the code and the recipes' YAML.
CODE_PATTERNS = ("*.py", "*.yaml")


def code_fingerprint(paths, patterns=CODE_PATTERNS):
    """A digest of the path, size and modification time of the files matching ``patterns`` in ``paths``.

    Arguments
    ---------
    paths : list of pathlib.Path
        Folders (read recursively) and files.
    patterns : tuple of str
        File name patterns of the folders' files.

    Example
    -------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "model.py").write_text("x = 1")
    >>> before = code_fingerprint([root])
    >>> _ = (root / "notes.txt").write_text("not code")
    >>> before == code_fingerprint([root])
    True
    >>> _ = (root / "model.py").write_text("x = 12")
    >>> before == code_fingerprint([root])
    False
    """
    files = set()
    for path in map(Path, paths):
        files |= {path} if path.is_file() else {found for pattern in patterns for found in path.rglob(pattern)}
    digest = hashlib.sha256()
    for path in sorted(files):
        status = path.stat()
        digest.update(f"{path}\0{status.st_size}\0{status.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def restart_on_current_code(module, argv, root):
    """Replaces this process by ``python -m module *argv``, run from ``root`` on the code as it is now.

    The process keeps its id, its standard output and error (its log) and its
    environment, with ``root`` first on ``PYTHONPATH``. Never returns.
    """
    print(f"the code under {root} changed: restarting {module} on it", flush=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    os.chdir(root)
    os.execve(sys.executable, [sys.executable, "-m", module, *argv], env)
