"""The study's fixed test set: mixed once from the test split, or copied from an earlier study folder.

Part of :mod:`recipes.DNS.study_data` (``build_study_data``):
:func:`mix_test_set` mixes the test items at -5 to 15 dB (:func:`mix_test_item`
each) and writes them in the DNS-2020 test layout; :func:`copy_test_set`
copies the items of an earlier study folder instead, byte for byte (mixing
again gives the same items but may differ in the last bit of some samples
when the audio code changed since, and runs tested on the two would not be
tested on the same files).

Authors
 * speechbrain-atkl developers 2026
"""

import math
import shutil
from pathlib import Path

import numpy as np
import torch

from speechbrain_atkl.data.audio import load_audio
from speechbrain_atkl.data.audio_writer import save_audio
from speechbrain_atkl.data.mixing import mix_at_snr
from speechbrain_atkl.data.speakers import speaker_of

SAMPLE_RATE = 16000
TEST_SNRS = (-5, 0, 5, 10, 15)


def _segment(wav, length, rng):
    """A seeded window of ``length`` samples (the whole signal if shorter)."""
    if wav.shape[-1] <= length:
        return wav
    start = int(rng.integers(0, wav.shape[-1] - length + 1))
    return wav[start : start + length]


def _noise_for(noise, length, rng):
    """A seeded noise excerpt of ``length`` samples, looped if the recording is shorter."""
    noise = torch.roll(noise, -int(rng.integers(noise.shape[-1])))
    return noise.repeat(math.ceil(length / noise.shape[-1]))[:length]


def mix_test_item(clean, noise, snr_db, rng, level_range_db=(-35.0, -15.0), peak_limit=0.99):
    """Mixes one test pair: noise at ``snr_db``, then a seeded overall level.

    Arguments
    ---------
    clean : torch.Tensor
        Speech, shape ``(time,)``.
    noise : torch.Tensor
        Noise recording, shape ``(time,)``, any length.
    snr_db : float
        SNR of the mixture (recipe's :func:`mix_at_snr`).
    rng : numpy.random.Generator
        Chooses the noise excerpt and the level.
    level_range_db : tuple of float
        The mixture's RMS is uniform in this range (dBFS), lowered if a peak
        would exceed ``peak_limit``.

    Returns
    -------
    tuple of torch.Tensor
        ``(clean, noisy)``, both scaled by the same gain, shape ``(time,)``.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> clean, noisy = mix_test_item(torch.randn(8000), torch.randn(3000), 5.0, rng)
    >>> snr = 10 * torch.log10(clean.pow(2).sum() / (noisy - clean).pow(2).sum())
    >>> round(float(snr), 3)
    5.0
    """
    noisy = mix_at_snr(clean, _noise_for(noise, clean.shape[-1], rng), float(snr_db))
    level = float(rng.uniform(*level_range_db))
    gain = 10 ** (level / 20) / noisy.pow(2).mean().sqrt()
    peak = gain * torch.maximum(noisy.abs().max(), clean.abs().max())
    if peak > peak_limit:
        gain = gain * peak_limit / peak
    return clean * gain, noisy * gain


def mix_test_set(split, test_folder, test_count, test_seconds, snrs, seed):
    """Mixes and writes ``test_count`` test items of the split's test speech and noise; returns them.

    Item ``fileid`` takes the SNR ``snrs[fileid % len(snrs)]``, the next test
    recording and noise in seeded orders, and a seeded window of at most
    ``test_seconds``; its files are ``test_folder/clean/clean_fileid_N.wav``
    and ``test_folder/noisy/<noise>_snr<S>_fileid_N.wav``.

    Returns
    -------
    list of dict
        One ``{"fileid", "snr_db", "clean_source", "speaker", "noise_source",
        "clean", "noisy", "seconds"}`` per item.
    """
    order_rng = np.random.default_rng([seed, 6])
    clean_order = [split["test_clean"][i] for i in order_rng.permutation(len(split["test_clean"]))]
    noise_order = [split["test_noise"][i] for i in order_rng.permutation(len(split["test_noise"]))]
    items = []
    for fileid in range(test_count):
        rng = np.random.default_rng([seed, 7, fileid])
        clean_path = Path(clean_order[fileid % len(clean_order)])
        noise_path = Path(noise_order[fileid % len(noise_order)])
        snr = snrs[fileid % len(snrs)]
        speech = _segment(load_audio(clean_path, SAMPLE_RATE), round(test_seconds * SAMPLE_RATE), rng)
        clean, noisy = mix_test_item(speech, load_audio(noise_path, SAMPLE_RATE), snr, rng)
        paths = {
            "clean": test_folder / "clean" / f"clean_fileid_{fileid}.wav",
            "noisy": test_folder / "noisy" / f"{noise_path.stem}_snr{snr}_fileid_{fileid}.wav",
        }
        save_audio(paths["clean"], clean, SAMPLE_RATE)
        save_audio(paths["noisy"], noisy, SAMPLE_RATE)
        items.append(
            {
                "fileid": fileid,
                "snr_db": snr,
                "clean_source": clean_path.name,
                "speaker": speaker_of(clean_path.stem),
                "noise_source": noise_path.name,
                "clean": str(paths["clean"]),
                "noisy": str(paths["noisy"]),
                "seconds": round(clean.shape[-1] / SAMPLE_RATE, 3),
            }
        )
    return items


def copy_test_set(items, test_folder):
    """Copies the files of test ``items`` (:func:`mix_test_set`) into ``test_folder``; returns the items there.

    Example
    -------
    >>> import tempfile
    >>> old, new = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp())
    >>> for key in ("clean", "noisy"):
    ...     (old / key).mkdir()
    ...     _ = (old / key / f"{key}_fileid_0.wav").write_bytes(b"RIFF")
    >>> items = [{"fileid": 0, "clean": str(old / "clean/clean_fileid_0.wav"),
    ...           "noisy": str(old / "noisy/noisy_fileid_0.wav")}]
    >>> copied = copy_test_set(items, new)
    >>> copied[0]["noisy"] == str(new / "noisy/noisy_fileid_0.wav"), (new / "noisy/noisy_fileid_0.wav").read_bytes()
    (True, b'RIFF')
    """
    copied = []
    for item in items:
        paths = {key: Path(test_folder) / key / Path(item[key]).name for key in ("clean", "noisy")}
        for key, path in paths.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(item[key], path)
        copied.append({**item, **{key: str(path) for key, path in paths.items()}})
    return copied
