"""Held-out sets of a dynamically mixed corpus: which clean and noise files validation takes.

:func:`split_off` holds out a seeded share (or number) of items, and
:func:`split_clean` a share of the clean files, by file or by speaker
(``valid_split``). With ``valid_balance="subfolders"`` the clean speech is
taken as several *sources* (:func:`clean_sources`: each top-level subfolder
of the clean folder, the files directly in it being one more source, e.g. a
main corpus and the corpora added to it); :func:`split_clean_by_source` then
holds out the share within each source, and :func:`shares` gives each source
an equal share of the fixed validation mixtures, so that the largest source
does not make the validation its own.

Authors
 * speechbrain-atkl developers 2026
"""

from pathlib import Path

from speechbrain_atkl.data.speakers import group_by_speaker, speaker_of

VALID_BALANCES = ("none", "subfolders")
#: The source of the files directly in the clean folder (not in a subfolder).
TOP_LEVEL = "."


def split_off(ids, fraction, rng, what, count=None):
    """Splits a seeded ``fraction`` (at least one, never all) off the sorted ``ids``.

    Arguments
    ---------
    ids : iterable of str
        Items to split (sorted first, so the result depends only on ``rng``).
    fraction : float
        Share of items to hold out.
    rng : numpy.random.Generator
        Random generator.
    what : str
        What the items are, for the error message (e.g. ``"clean files"``).
    count : int, optional
        Hold out this many items instead of ``fraction`` of them.

    Returns
    -------
    kept, held : list
        Both sorted.

    Example
    -------
    >>> import numpy as np
    >>> split_off(["c", "a", "b", "d"], 0.25, np.random.default_rng(0), "files")
    (['a', 'b', 'd'], ['c'])
    >>> split_off(["c", "a", "b", "d"], 0.25, np.random.default_rng(0), "files", count=2)[1]
    ['a', 'c']
    """
    ids = sorted(ids)
    count = max(1, round(fraction * len(ids))) if count is None else count
    if count >= len(ids):
        raise ValueError(
            f"Cannot hold out {count} of {len(ids)} {what} and keep "
            "some for training; add files or hold out fewer."
        )
    chosen = set(rng.permutation(len(ids))[:count].tolist())
    held = [utt for i, utt in enumerate(ids) if i in chosen]
    kept = [utt for i, utt in enumerate(ids) if i not in chosen]
    return kept, held


def split_clean(ids, options, rng, fraction_key="valid_fraction"):
    """Holds ``options[fraction_key]`` of the clean files out, by file or by speaker.

    With ``options["valid_split"] == "speakers"`` the fraction is of the
    speakers (:func:`~speechbrain_atkl.data.speakers.speaker_of`), and every
    file of a held-out speaker is held out; ``"files"`` holds out files.

    Example
    -------
    >>> import numpy as np
    >>> ids = [f"vctk_p{s}_{u:03d}" for s in (225, 226, 227, 228) for u in range(3)]
    >>> kept, held = split_clean(ids, {"valid_split": "speakers", "valid_fraction": 0.25}, np.random.default_rng(0))
    >>> len(kept), len(held), len({i.split("_")[1] for i in held})
    (9, 3, 1)
    """
    fraction = options[fraction_key]
    if options.get("valid_split", "files") == "files":
        return split_off(ids, fraction, rng, "clean files")
    groups = group_by_speaker(ids)
    kept, held = split_off(groups, fraction, rng, "clean speakers")
    return sorted(i for s in kept for i in groups[s]), sorted(i for s in held for i in groups[s])


def clean_sources(manifest, clean_dir):
    """``{source: [ids]}`` of a clean manifest, sources sorted: each file's top-level subfolder of ``clean_dir``.

    A file directly in ``clean_dir`` belongs to the source :data:`TOP_LEVEL`.

    Example
    -------
    >>> manifest = {"b": {"wav": "/c/b.wav"}, "x__a": {"wav": "/c/x/a.wav"}, "x__y__c": {"wav": "/c/x/y/c.wav"}}
    >>> clean_sources(manifest, "/c")
    {'.': ['b'], 'x': ['x__a', 'x__y__c']}
    """
    sources = {}
    for utt_id, entry in manifest.items():
        parts = Path(entry["wav"]).relative_to(clean_dir).parts
        sources.setdefault(parts[0] if len(parts) > 1 else TOP_LEVEL, []).append(utt_id)
    return dict(sorted(sources.items()))


def split_clean_by_source(sources, options, rng):
    """Holds out :func:`split_clean`'s share of each source's clean files (in turn, with ``rng``).

    With ``valid_split: speakers``, a speaker held out in one source is held
    out of every source (its files elsewhere join those sources' held-out
    files), so that no validation speaker is heard in training. One source
    gives what :func:`split_clean` gives.

    Arguments
    ---------
    sources : dict
        ``{source: [ids]}`` (:func:`clean_sources`).
    options : dict
        ``valid_fraction`` and ``valid_split``.
    rng : numpy.random.Generator
        Random generator.

    Returns
    -------
    kept : list
        The training ids, sorted.
    held : dict
        ``{source: [held-out ids]}``, each sorted.

    Example
    -------
    >>> import numpy as np
    >>> sources = {".": [f"{s}-1-{u}" for s in range(1, 5) for u in (1, 2)], "extra": ["extra__vctk_p225_001",
    ...            "extra__vctk_p226_001", "extra__4-1-3"]}
    >>> kept, held = split_clean_by_source(sources, {"valid_split": "speakers", "valid_fraction": 0.3},
    ...                                    np.random.default_rng(4))
    >>> held  # LibriSpeech speaker 4, held out of ".", is held out of "extra" too
    {'.': ['4-1-1', '4-1-2'], 'extra': ['extra__4-1-3', 'extra__vctk_p225_001']}
    >>> sorted(set(kept) & {i for ids in held.values() for i in ids})
    []
    """
    held = {}
    for name, ids in sources.items():
        try:
            held[name] = split_clean(ids, options, rng)[1]
        except ValueError as error:
            if len(sources) == 1:
                raise
            raise ValueError(f"clean source {name!r}: {error}") from error
    if options.get("valid_split", "files") == "speakers":
        speakers = {speaker_of(i) for ids in held.values() for i in ids}
        held = {name: sorted(i for i in ids if speaker_of(i) in speakers) for name, ids in sources.items()}
    held_ids = {i for ids in held.values() for i in ids}
    return sorted(i for ids in sources.values() for i in ids if i not in held_ids), held


def shares(count, parts):
    """``count`` split into ``parts`` whole shares that differ by at most one, the larger first.

    Example
    -------
    >>> shares(100, 3), shares(6, 2)
    ([34, 33, 33], [3, 3])
    """
    return [count // parts + (index < count % parts) for index in range(parts)]
