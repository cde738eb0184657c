"""Reading a corpus folder's audio files: headers, skip report and manifests of files.

:class:`ScanReport` reads every file's header (in parallel threads) and its
samples once (through :class:`~speechbrain_atkl.data.checks.SampleChecks`),
and records what :func:`~speechbrain_atkl.data.prepare.prepare_dns` must
report: skipped and unpaired files, and files resampled or mixed to mono at
load time. :func:`single_manifest` and :func:`pair_entries` turn the usable
files into manifest entries.

Authors
 * speechbrain-atkl developers 2026
"""

import collections
import concurrent.futures
import logging
from pathlib import Path

from speechbrain_atkl.data.audio import AUDIO_EXTENSIONS, AudioError, audio_info

logger = logging.getLogger(__name__)

# Threads reading file headers (I/O bound; helps on network storage).
SCAN_THREADS = 8
# Examples kept per list in the report (counts are always complete).
REPORT_EXAMPLES = 50


class ScanReport:
    """Collects what preparation skipped, could not pair or must convert.

    Arguments
    ---------
    sample_rate : int
        The rate the recipe trains at: files at another rate are counted as
        resampled at load time.
    checks : speechbrain_atkl.data.checks.SampleChecks
        Reads each file's samples once (non-finite samples make it unusable).

    Example
    -------
    >>> import os, tempfile
    >>> import numpy as np, soundfile as sf
    >>> from speechbrain_atkl.data.checks import SampleChecks
    >>> folder = tempfile.mkdtemp()
    >>> sf.write(os.path.join(folder, "a.wav"), np.zeros((800, 2)), 8000)
    >>> sf.write(os.path.join(folder, "empty.wav"), np.zeros(0), 16000)
    >>> report = ScanReport(16000, SampleChecks(os.path.join(folder, "checks.json")))
    >>> manifest = single_manifest(folder, "some audio", report)
    >>> list(manifest), [item["reason"] for item in report.skipped]
    (['a'], ['zero-length audio (no samples)'])
    >>> summary = report.as_dict({"train": manifest})
    >>> summary["resampled_at_load"]["count"], summary["mixed_to_mono_at_load"]["count"]
    (1, 1)
    """

    def __init__(self, sample_rate, checks):
        self.sample_rate = sample_rate
        self.checks = checks
        self.skipped = []
        self.unpaired = []
        self.notes = []
        self.sample_rates = collections.Counter()
        self.channels = collections.Counter()
        self.converted = {"resampled": [], "mixed_to_mono": []}

    def skip(self, path, reason):
        """Records ``path`` as skipped for ``reason`` (and logs a warning)."""
        logger.warning("Skipping %s: %s", path, reason)
        self.skipped.append({"file": str(path), "reason": reason})

    def inspect(self, paths):
        """AudioInfo of each file (read in parallel); None if unusable."""
        with concurrent.futures.ThreadPoolExecutor(SCAN_THREADS) as pool:
            headers = list(pool.map(self._read, paths))
        return [self._check(path, header) for path, header in zip(paths, headers)]

    def _check(self, path, info):
        """Records a file's header; returns None (and a report line) if unusable."""
        if isinstance(info, AudioError):
            self.skip(path, str(info))
            return None
        if info.frames == 0:
            self.skip(path, "zero-length audio (no samples)")
            return None
        self.sample_rates[info.sample_rate] += 1
        self.channels[info.channels] += 1
        if info.sample_rate != self.sample_rate:
            self.converted["resampled"].append(str(path))
        if info.channels > 1:
            self.converted["mixed_to_mono"].append(str(path))
        return info

    def as_dict(self, manifests):
        """The report as a JSON-ready dict, with each of ``manifests`` (name -> manifest) counted."""
        return {
            "manifests": {
                name: {"entries": len(data), "hours": _hours(data)}
                for name, data in manifests.items()
            },
            "skipped": self.skipped,
            "unpaired": self.unpaired,
            "resampled_at_load": {
                "count": len(self.converted["resampled"]),
                "target_sample_rate": self.sample_rate,
                "examples": self.converted["resampled"][:REPORT_EXAMPLES],
            },
            "mixed_to_mono_at_load": {
                "count": len(self.converted["mixed_to_mono"]),
                "examples": self.converted["mixed_to_mono"][:REPORT_EXAMPLES],
            },
            "sample_rates": {str(k): v for k, v in sorted(self.sample_rates.items())},
            "channels": {str(k): v for k, v in sorted(self.channels.items())},
            "notes": self.notes,
        }

    def _read(self, path):
        """The file's AudioInfo, or an AudioError if it is unreadable or holds non-finite samples."""
        try:
            info = audio_info(path)
        except AudioError as error:
            return error
        problem = self.checks.problem(path) if info.frames else None
        return AudioError(f"{path}: {problem}") if problem else info


def _hours(manifest):
    return round(sum(entry["duration"] for entry in manifest.values()) / 3600, 4)


def report_text(report):
    """Human-readable version of the report dict.

    Arguments
    ---------
    report : dict
        As :meth:`ScanReport.as_dict` returns it.

    Returns
    -------
    str
        One line per manifest, conversion count and skipped or unpaired file.

    Example
    -------
    >>> report = ScanReport(16000, checks=None)
    >>> report.skip("b.wav", "zero-length audio (no samples)")
    >>> print(report_text(report.as_dict({})))
    Data preparation report
    <BLANKLINE>
    Files resampled to 16000 Hz at load time: 0 (sample rates seen: {})
    Files mixed to mono (channel average) at load time: 0 (channel counts seen: {})
    Skipped files: 1
      b.wav: zero-length audio (no samples)
    Unpaired files: 0
    <BLANKLINE>
    """
    lines = ["Data preparation report", ""]
    for name, stats in report["manifests"].items():
        lines.append(f"{name}: {stats['entries']} entries, {stats['hours']} h")
    lines.append("")
    resampled = report["resampled_at_load"]
    lines.append(
        f"Files resampled to {resampled['target_sample_rate']} Hz at load time: "
        f"{resampled['count']} (sample rates seen: {report['sample_rates']})"
    )
    lines.append(
        f"Files mixed to mono (channel average) at load time: "
        f"{report['mixed_to_mono_at_load']['count']} (channel counts seen: "
        f"{report['channels']})"
    )
    lines.append(f"Skipped files: {len(report['skipped'])}")
    lines += [f"  {item['file']}: {item['reason']}" for item in report["skipped"]]
    lines.append(f"Unpaired files: {len(report['unpaired'])}")
    lines += [f"  {path}" for path in report["unpaired"]]
    if report["notes"]:
        lines.append("Notes:")
        lines += [f"  {note}" for note in report["notes"]]
    return "\n".join(lines) + "\n"


def require_dir(path, expected):
    """Raises a clear error unless ``path`` is a folder.

    Arguments
    ---------
    path : str or pathlib.Path
        The folder.
    expected : str
        What the folder should hold, for the error message.

    Returns
    -------
    pathlib.Path
        ``path``.

    Example
    -------
    >>> require_dir("/no/such/folder", "clean speech")
    Traceback (most recent call last):
     ...
    FileNotFoundError: /no/such/folder: missing folder; expected clean speech.
    """
    if not Path(path).is_dir():
        raise FileNotFoundError(f"{path}: missing folder; expected {expected}.")
    return Path(path)


def list_audio(folder, expected):
    """Sorted audio files under ``folder`` (recursive); error if none.

    Hidden files and files of other extensions than
    :data:`~speechbrain_atkl.data.audio.AUDIO_EXTENSIONS` are left out.

    Arguments
    ---------
    folder : str or pathlib.Path
        The folder.
    expected : str
        What the folder should hold, for the error messages.

    Returns
    -------
    list of pathlib.Path

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("b.wav", "sub/a.flac", ".hidden.wav", "notes.txt"):
    ...     (folder / name).parent.mkdir(exist_ok=True)
    ...     _ = (folder / name).write_bytes(b"")
    >>> [path.relative_to(folder).as_posix() for path in list_audio(folder, "noise")]
    ['b.wav', 'sub/a.flac']
    """
    folder = require_dir(folder, expected)
    files = sorted(
        path
        for path in folder.rglob("*")
        if path.suffix.lower() in AUDIO_EXTENSIONS
        and not path.name.startswith(".")
        and path.is_file()
    )
    if not files:
        raise ValueError(
            f"{folder}: no audio files found (looked for "
            f"{', '.join(AUDIO_EXTENSIONS)}); expected {expected}."
        )
    return files


def _utt_id(path, root):
    """An id from a path relative to its folder: ``a/b/c.wav`` -> ``a__b__c``."""
    return Path(path).relative_to(root).with_suffix("").as_posix().replace("/", "__")


def single_manifest(folder, expected, report, subfolders=None, required=True):
    """Manifest ``{id: {"wav", "duration", "sample_rate", "channels"}}``.

    Files are taken from ``folder`` or only from its ``subfolders``; an id is
    the file's path below ``folder`` without extension, ``/`` written
    ``__``. Unusable files are left out and recorded in ``report``
    (:class:`ScanReport` shows an example).

    Arguments
    ---------
    folder : pathlib.Path
        The folder.
    expected : str
        What the folder should hold, for the error messages.
    report : ScanReport
        Reads the files and records what was skipped.
    subfolders : list of str or None
        Only these subfolders of ``folder``.
    required : bool
        False: a missing folder gives an empty manifest instead of an error.

    Returns
    -------
    dict
    """
    if not required and not Path(folder).is_dir():
        return {}
    if subfolders:
        paths = [path for sub in subfolders for path in list_audio(folder / sub, expected)]
    else:
        paths = list_audio(folder, expected)
    manifest = {}
    for path, info in zip(paths, report.inspect(paths)):
        if info is not None:
            manifest[_utt_id(path, folder)] = {
                "wav": str(path),
                "duration": info.duration,
                "sample_rate": info.sample_rate,
                "channels": info.channels,
            }
    if required and not manifest:
        raise ValueError(f"{folder}: every audio file was unusable; expected {expected}.")
    return manifest


def pair_entries(pairs, report):
    """Paired manifest entries ``{id: {"noisy_wav", "clean_wav", "duration", ...}}``.

    A pair with an unusable file is left out; a pair whose files differ in
    length gets the shorter duration and a note in ``report``.

    Arguments
    ---------
    pairs : dict
        Maps ids to ``(noisy_path, clean_path, extra_fields)``; the extra
        fields (a dict) are copied into the entry.
    report : ScanReport
        Reads the files and records what was skipped.

    Returns
    -------
    dict
    """
    ids = list(pairs)
    infos = report.inspect([pairs[i][0] for i in ids] + [pairs[i][1] for i in ids])
    entries = {}
    for utt_id, noisy_info, clean_info in zip(ids, infos[: len(ids)], infos[len(ids) :]):
        noisy, clean, extra = pairs[utt_id]
        if noisy_info is None or clean_info is None:
            continue
        if abs(noisy_info.duration - clean_info.duration) > 0.01:
            report.notes.append(
                f"{noisy} and {clean} differ in length ({noisy_info.duration:.3f} s "
                f"vs {clean_info.duration:.3f} s): trimmed to the shorter at load time"
            )
        entries[utt_id] = {
            "noisy_wav": str(noisy),
            "clean_wav": str(clean),
            "duration": min(noisy_info.duration, clean_info.duration),
            **extra,
        }
    return entries
