"""Training runs started by the recipes' drivers (campaign, release, study, benchmarks).

A driver that is killed (even with SIGKILL) must not leave its ``train.py``
behind: a second driver started on the same run folder would then train beside
it. :func:`die_with_parent` asks Linux to send the child SIGTERM when its parent
dies; :func:`run_logged` runs a command with it, its output appended to a log.

Authors
 * speechbrain-atkl developers 2026
"""

import ctypes
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
