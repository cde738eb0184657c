"""Pairing enhanced audio files with their clean references (and noisy inputs).

A file is identified by its path relative to its folder, without the extension
(``sub/a.wav`` and ``sub/a.flac`` are the same utterance). An enhanced file is
paired with the reference of the same relative name; failing that, with the
reference carrying the same DNS Challenge ``fileid_N`` suffix, which pairs the
DNS-2020 synthetic test set (``clean/clean_fileid_0.wav`` with
``noisy/book_..._fileid_0.wav``, enhanced files keeping the noisy name).

Authors
 * speechbrain-atkl developers 2026
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
_FILEID = re.compile(r"fileid_(\d+)$")


@dataclass
class Pairing:
    """Result of :func:`pair_folders`.

    Arguments
    ---------
    items : list of dict
        One ``{"id", "enhanced", "clean"[, "noisy"]}`` dict of paths per pair.
    missing : list of tuple
        ``(id, reason)`` for every file left without a partner.
    """

    items: list = field(default_factory=list)
    missing: list = field(default_factory=list)


def dns_fileid(name):
    """The DNS Challenge ``fileid_N`` number at the end of a file name, if any.

    Arguments
    ---------
    name : str
        File name or relative path, with or without extension.

    Returns
    -------
    str or None
        The number as a string, or None.

    Example
    -------
    >>> dns_fileid("noisy/book_01_snr5_fileid_12.wav")
    '12'
    >>> dns_fileid("speech.wav") is None
    True
    """
    match = _FILEID.search(Path(name).with_suffix("").name)
    return match.group(1) if match else None


def find_audio(folder):
    """Audio files under a folder, keyed by relative path without extension.

    Arguments
    ---------
    folder : str or pathlib.Path
        Folder searched recursively for ``AUDIO_EXTENSIONS`` files.

    Returns
    -------
    dict
        ``{relative key (posix str): pathlib.Path}``.

    Raises
    ------
    ValueError
        If two files differ only by their extension.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / "sub").mkdir()
    >>> (folder / "sub" / "a.wav").touch()
    >>> (folder / "notes.txt").touch()
    >>> list(find_audio(folder))
    ['sub/a']
    """
    folder = Path(folder)
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in AUDIO_EXTENSIONS or not path.is_file():
            continue
        key = path.relative_to(folder).with_suffix("").as_posix()
        if key in files:
            raise ValueError(
                f"Two audio files for one utterance: {files[key]} and {path}."
            )
        files[key] = path
    return files


class _Index:
    """Looks files of one folder up by relative key, then by DNS file id."""

    def __init__(self, role, folder):
        self.role = role
        self.folder = folder
        self.files = find_audio(folder)
        self.by_fileid = {}
        for key in self.files:
            self.by_fileid.setdefault(dns_fileid(key), []).append(key)
        self.by_fileid.pop(None, None)

    def match(self, key):
        """Returns ``(matched key, None)`` or ``(None, reason)``."""
        if key in self.files:
            return key, None
        fileid = dns_fileid(key)
        candidates = self.by_fileid.get(fileid, []) if fileid is not None else []
        if len(candidates) == 1:
            return candidates[0], None
        if len(candidates) > 1:
            return None, (
                f"ambiguous {self.role} file: fileid_{fileid} matches "
                f"{len(candidates)} files in {self.folder}"
            )
        return None, f"no {self.role} file named like {key!r} in {self.folder}"


def _check_folder(role, folder):
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{role} folder not found: {folder}")
    return folder


def pair_folders(enhanced_dir, clean_dir, noisy_dir=None):
    """Pairs every enhanced file with its clean reference (and noisy input).

    Arguments
    ---------
    enhanced_dir : str or pathlib.Path
        Folder of enhanced files.
    clean_dir : str or pathlib.Path
        Folder of clean references.
    noisy_dir : str or pathlib.Path, optional
        Folder of the noisy inputs; every pair then needs one.

    Returns
    -------
    Pairing
        Items keyed by the enhanced file's relative name, and the missing
        partners: enhanced files without a reference (or noisy input), and
        references that no enhanced file matched.

    Raises
    ------
    FileNotFoundError
        If a folder does not exist.
    ValueError
        If the enhanced folder holds no audio file.

    Example
    -------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> for name in ["clean/clean_fileid_0.wav", "clean/clean_fileid_1.wav",
    ...              "enhanced/book_snr5_fileid_0.wav"]:
    ...     (root / name).parent.mkdir(exist_ok=True)
    ...     (root / name).touch()
    >>> pairing = pair_folders(root / "enhanced", root / "clean")
    >>> [(item["id"], item["clean"].name) for item in pairing.items]
    [('book_snr5_fileid_0', 'clean_fileid_0.wav')]
    >>> pairing.missing[0][0]
    'clean_fileid_1'
    """
    enhanced_dir = _check_folder("enhanced", enhanced_dir)
    partners = [("clean", _check_folder("clean", clean_dir))]
    if noisy_dir is not None:
        partners.append(("noisy", _check_folder("noisy", noisy_dir)))
    enhanced = find_audio(enhanced_dir)
    if not enhanced:
        raise ValueError(
            f"No audio files ({', '.join(AUDIO_EXTENSIONS)}) in enhanced folder "
            f"{enhanced_dir}."
        )
    partners = [_Index(role, folder) for role, folder in partners]

    pairing = Pairing()
    used_clean = set()
    for key, path in enhanced.items():
        item = {"id": key, "enhanced": path}
        for index in partners:
            match, reason = index.match(key)
            if match is None:
                pairing.missing.append((key, reason))
                break
            item[index.role] = index.files[match]
        else:
            pairing.items.append(item)
        used_clean.add(item.get("clean"))
    clean = partners[0]
    for key, path in clean.files.items():
        if path not in used_clean:
            pairing.missing.append(
                (key, f"no enhanced file for clean reference {path}")
            )
    return pairing
