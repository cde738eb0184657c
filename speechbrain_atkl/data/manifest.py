"""SpeechBrain JSON manifests: ``{utt_id: {"wav": path, "duration": s, ...}}``.

Authors
 * speechbrain-atkl developers 2026
"""

import json
from pathlib import Path

from speechbrain_atkl.data.atomic import write_text_atomically


def read_manifest(manifest):
    """Returns a manifest as a dict, reading it when given a path.

    Arguments
    ---------
    manifest : str, pathlib.Path or dict
        A JSON manifest file, or an already loaded manifest (returned as is).

    Returns
    -------
    dict
        ``{utt_id: {field: value}}``.

    Example
    -------
    >>> read_manifest({"utt1": {"wav": "a.wav", "duration": 1.0}})
    {'utt1': {'wav': 'a.wav', 'duration': 1.0}}
    """
    if isinstance(manifest, dict):
        return manifest
    path = Path(manifest)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: manifest not found.")
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not a JSON manifest: {error}") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object {{utt_id: {{...}}}}.")
    return data


def write_json(path, data):
    """Writes JSON atomically (temporary name, then rename).

    Arguments
    ---------
    path : str or pathlib.Path
        Output file; parent folders are created. A failed write raises
        :class:`~speechbrain_atkl.data.atomic.FileWriteError` naming it.
    data : object
        Anything ``json.dump`` accepts.

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "train.json")
    >>> write_json(path, {"utt1": {"wav": "a.wav", "duration": 1.0}})
    >>> read_manifest(path)["utt1"]["duration"]
    1.0
    """
    write_text_atomically(path, json.dumps(data, indent=2))
