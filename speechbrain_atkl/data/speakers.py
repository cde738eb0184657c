"""Who speaks in a clean speech file, from its name: speaker-disjoint splits.

A held-out set is only held out when none of its speakers is heard in
training. :func:`speaker_of` reads the speaker from the file-name conventions
of the common read-speech corpora; :func:`group_by_speaker` groups files by it.

Authors
 * speechbrain-atkl developers 2026
"""

import re
from pathlib import Path

from speechbrain_atkl.data.audio import AUDIO_EXTENSIONS

#: ``(pattern, prefix)``: the first pattern that matches a stem names its speaker.
SPEAKER_PATTERNS = (
    (re.compile(r"(\d+)-\d+-\d+$"), "librispeech"),
    (re.compile(r"(?:^|_)(p\d{3})_\d+$"), "vctk"),
    (re.compile(r"arctic_([a-z]+)_[ab]\d{4}$"), "arctic"),
    (re.compile(r"reader_(\d+)_utt_\d+$"), "reader"),
    (re.compile(r"reader_(\d+)_\d+$"), "reader"),
    (re.compile(r"(?:^|_)(SPEAKER\d{4})__?\d+$"), "speechocean762"),
)
SPEAKER_RULE = (
    "LibriSpeech SPEAKER-CHAPTER-UTT -> librispeech-SPEAKER; VCTK _pNNN_MMM -> vctk-pNNN; "
    "CMU ARCTIC arctic_XXX_aNNNN -> arctic-XXX; demo reader_NN_utt_MMM and DNS reader_NNNNN_M -> reader-NN; "
    "speechocean762 SPEAKERNNNN__UTT -> speechocean762-SPEAKERNNNN; any other file is its own speaker"
)


def speaker_of(name):
    """The speaker of a clean speech file, from its name.

    Rules, first match wins (``name`` is a file name, path or stem):

    1. ``...SPEAKER-CHAPTER-UTTERANCE`` (LibriSpeech): ``librispeech-SPEAKER``,
       whatever the prefix, so one reader is one speaker across sources;
    2. ``..._pNNN_MMM`` (VCTK): ``vctk-pNNN``;
    3. ``...arctic_XXX_aNNNN`` (CMU ARCTIC): ``arctic-XXX``;
    4. ``..._reader_NN_utt_MMM`` (the synthetic demo corpus) and
       ``..._reader_NNNNN_M`` (DNS Challenge clean speech): ``reader-NN``;
    5. ``...SPEAKERNNNN__UTTERANCE`` (speechocean762):
       ``speechocean762-SPEAKERNNNN``;
    6. anything else is its own speaker (the file's stem).

    Example
    -------
    >>> speaker_of("resemblyzer-ls-test-other_1688-142285-0003.wav")
    'librispeech-1688'
    >>> speaker_of("audiomentations-vctk_p286_011"), speaker_of("vctk_p225_003.flac")
    ('vctk-p286', 'vctk-p225')
    >>> speaker_of("so762_SPEAKER0001__000010011.flac")
    'speechocean762-SPEAKER0001'
    >>> speaker_of("book_00000_chp_0009_reader_06709_0.wav")
    'reader-06709'
    >>> speaker_of("spatialaudio_xmas.wav")
    'spatialaudio_xmas'
    """
    stem = Path(name).stem if Path(name).suffix.lower() in AUDIO_EXTENSIONS else Path(str(name)).name
    for pattern, prefix in SPEAKER_PATTERNS:
        match = pattern.search(stem)
        if match:
            return f"{prefix}-{match.group(1)}"
    return stem


def group_by_speaker(names):
    """``{speaker: [names]}`` of file names or ids (see :func:`speaker_of`), names in input order.

    Example
    -------
    >>> group_by_speaker(["vctk_p225_001", "x", "vctk_p225_002"])
    {'vctk-p225': ['vctk_p225_001', 'vctk_p225_002'], 'x': ['x']}
    """
    groups = {}
    for name in names:
        groups.setdefault(speaker_of(name), []).append(name)
    return groups
