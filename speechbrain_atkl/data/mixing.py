"""Noisy speech made on the fly (dynamic mixing).

:class:`DynamicMixingDataset` draws, for every item, a clean speech segment, a
noise segment, an SNR, an overall level and (optionally) a room impulse
response. Item ``i`` of epoch ``e`` is a pure function of ``(seed, e, i)``, so a
run is reproducible for a seed and can resume mid-training, whatever the
number of DataLoader workers.

Files that go bad after preparation (deleted, truncated, NaN samples) are
skipped with a warning, another file taking their place, until more than
``max_bad_files`` distinct files have failed in one process; then training
stops with an error that says so (:class:`~speechbrain_atkl.data.checks.BadFiles`).

Authors
 * speechbrain-atkl developers 2026
"""

import math

import numpy as np
import torch
import torchaudio

from speechbrain_atkl.data.audio import AudioError, audio_info, load_audio
from speechbrain_atkl.data.checks import BadFiles
from speechbrain_atkl.data.manifest import read_manifest
from speechbrain_atkl.data.paired import paired_dataset  # noqa: F401 - re-exported (it lived here)

REVERBERANT_TARGETS = ("dry", "early", "reverberant")

# A segment quieter than this (mean power, i.e. -100 dBFS) counts as silent.
SILENCE_POWER = 1e-10

# How many other segments are tried before a silent draw becomes an error.
MAX_DRAWS = 10


def mix_at_snr(clean, noise, snr_db):
    """Adds noise to speech at a given signal-to-noise ratio.

    The noise is scaled so that ``10 log10(P_clean / P_noise) == snr_db``,
    where ``P`` is the mean power over the last (time) axis; the speech is
    left untouched.

    Arguments
    ---------
    clean : torch.Tensor
        Speech, shape ``(..., time)``.
    noise : torch.Tensor
        Noise, same shape as ``clean``.
    snr_db : float or torch.Tensor
        Wanted SNR in dB, broadcast against ``clean.shape[:-1]``.

    Returns
    -------
    torch.Tensor
        The mixture ``clean + gain * noise``, shape ``(..., time)``.

    Example
    -------
    >>> clean, noise = torch.randn(2, 16000), torch.randn(2, 16000)
    >>> noisy = mix_at_snr(clean, noise, 5.0)
    >>> snr = 10 * torch.log10(clean.pow(2).sum(-1) / (noisy - clean).pow(2).sum(-1))
    >>> torch.allclose(snr, torch.tensor([5.0, 5.0]), atol=1e-3)
    True
    """
    if clean.shape != noise.shape:
        raise ValueError(
            f"clean {tuple(clean.shape)} and noise {tuple(noise.shape)} must "
            "have the same shape."
        )
    clean_power = clean.pow(2).mean(-1, keepdim=True)
    noise_power = noise.pow(2).mean(-1, keepdim=True)
    if (clean_power <= 0).any() or (noise_power <= 0).any():
        raise ValueError("Cannot set the SNR of a silent clean or noise signal.")
    snr_db = torch.as_tensor(snr_db, dtype=clean.dtype)
    if snr_db.dim() > 0:
        snr_db = snr_db.unsqueeze(-1)
    gain = torch.sqrt(clean_power / (noise_power * 10 ** (snr_db / 10)))
    return clean + gain * noise


def _fit_length(wav, length):
    """Zero-pads or trims ``wav`` (time,) to ``length`` samples."""
    if wav.shape[-1] >= length:
        return wav[:length]
    return torch.nn.functional.pad(wav, (0, length - wav.shape[-1]))


def _sources(manifest, sample_rate, name):
    """Lists ``(utt_id, path, frames at sample_rate)`` sorted by id."""
    sources = []
    for utt_id, entry in sorted(read_manifest(manifest).items()):
        if "wav" not in entry:
            raise ValueError(f"{name} manifest entry {utt_id!r} has no 'wav' field: {entry}")
        duration = entry.get("duration")
        if duration is None:
            duration = audio_info(entry["wav"]).duration
        sources.append((utt_id, entry["wav"], int(duration * sample_rate)))
    return sources


class DynamicMixingDataset(torch.utils.data.Dataset):
    """Map-style dataset of noisy/clean pairs mixed on the fly.

    Each item is made as follows (``rng`` is seeded by ``(seed, epoch, i)``):

    1. clean speech: every clean file is used once per ``len(clean)`` items,
       in an order shuffled per epoch; a random ``segment_seconds`` segment is
       read (only those frames). A file shorter than a segment is zero-padded
       at the end (the padding is silence in both signals, so a mask-free
       loss simply sees silence there);
    2. reverberation, with probability ``reverb_prob``: a random RIR, scaled
       so that its direct path (its largest sample) is 1, is convolved with
       the speech; the result is shifted so that the direct path stays
       aligned with the dry speech. The *training target* is chosen by
       ``reverberant_target``: ``"dry"`` (the speech itself), ``"early"``
       (speech convolved with the RIR up to ``early_reverb_ms`` after the
       direct path) or ``"reverberant"`` (the full reverberant speech, i.e.
       denoising only, as in DNS-Challenge synthesis);
    3. noise: a random file and segment; a file shorter than a segment is
       looped from a random offset; then ``noise_augmentation``, if given,
       makes a new noise of it (its randomness comes from a second generator
       seeded by ``(seed, epoch, i, 2)``, so an item keeps its speech, noise
       file, SNR and level with or without it);
    4. SNR uniform in ``snr_range`` between the (reverberant) speech present
       in the mixture and the noise;
    5. level: mixture and target get the same gain so that the mixture's RMS
       is uniform in ``level_range_db`` (dBFS); if a peak would then exceed
       ``peak_limit``, the gain is lowered to avoid clipping.

    A segment that is digital silence, or a file that fails to load (counted
    against ``max_bad_files``), is redrawn (up to 10 times in a row).

    Arguments
    ---------
    clean_manifest : str, pathlib.Path or dict
        Clean speech manifest ``{id: {"wav": path, "duration": s}}``.
    noise_manifest : str, pathlib.Path or dict
        Noise manifest, same format.
    rir_manifest : str, pathlib.Path, dict or None
        Room impulse responses, same format (may be empty if
        ``reverb_prob == 0``).
    segment_seconds : float or None
        Length of every item; ``None`` uses whole clean files.
    snr_range : tuple of float
        SNR range in dB, drawn uniformly.
    level_range_db : tuple of float
        Mixture RMS range in dBFS, drawn uniformly.
    reverb_prob : float
        Probability of reverberating an item.
    reverberant_target : str
        Target of reverberated items: ``"dry"``, ``"early"`` or
        ``"reverberant"``.
    early_reverb_ms : float
        Length of the early part of the RIR kept in the ``"early"`` target.
    epoch_size : int or None
        Items per epoch; ``None`` means one per clean file.
    seed : int
        Non-negative random seed.
    sample_rate : int
        Sample rate of the items (sources are resampled on load).
    peak_limit : float
        Largest absolute sample value allowed after the level gain.
    max_bad_files : int
        Distinct files that may fail to load (and are skipped) before an
        error; per process.
    noise_augmentation : callable or None
        ``noise_augmentation(noise, rng, draw_noise)`` returns a new noise
        ``(time,)`` for the drawn noise ``(time,)``, where ``draw_noise(length)``
        reads another noise segment with ``rng``, e.g.
        :class:`~speechbrain_atkl.data.noise_augment.NoiseAugmentation`;
        ``None`` (no augmentation) for validation and test mixtures.

    Example
    -------
    >>> import os, tempfile
    >>> from speechbrain_atkl.data.audio_writer import save_audio
    >>> folder = tempfile.mkdtemp()
    >>> save_audio(f"{folder}/s.wav", torch.randn(24000) * 0.1, 16000)
    >>> save_audio(f"{folder}/n.wav", torch.randn(8000) * 0.1, 16000)
    >>> dataset = DynamicMixingDataset(
    ...     {"s": {"wav": f"{folder}/s.wav", "duration": 1.5}},
    ...     {"n": {"wav": f"{folder}/n.wav", "duration": 0.5}},
    ...     segment_seconds=1.0, epoch_size=4, seed=3,
    ... )
    >>> item = dataset[0]
    >>> sorted(item), item["noisy_sig"].shape
    (['clean_sig', 'id', 'noisy_sig'], torch.Size([16000]))
    """

    def __init__(
        self,
        clean_manifest,
        noise_manifest,
        rir_manifest=None,
        segment_seconds=4.0,
        snr_range=(-5.0, 20.0),
        level_range_db=(-35.0, -15.0),
        reverb_prob=0.0,
        reverberant_target="early",
        early_reverb_ms=50.0,
        epoch_size=None,
        seed=1234,
        sample_rate=16000,
        peak_limit=0.99,
        max_bad_files=0,
        noise_augmentation=None,
    ):
        super().__init__()
        self.bad_files = BadFiles(max_bad_files)
        self.clean = _sources(clean_manifest, sample_rate, "clean")
        self.noise = _sources(noise_manifest, sample_rate, "noise")
        self.rirs = _sources(rir_manifest, sample_rate, "RIR") if rir_manifest is not None else []
        if not self.clean or not self.noise:
            raise ValueError(
                f"Dynamic mixing needs clean and noise files; got "
                f"{len(self.clean)} clean and {len(self.noise)} noise entries."
            )
        if not 0.0 <= reverb_prob <= 1.0:
            raise ValueError(f"reverb_prob must be in [0, 1], got {reverb_prob}.")
        if reverb_prob > 0 and not self.rirs:
            raise ValueError(f"reverb_prob={reverb_prob} but the RIR manifest is empty.")
        if reverberant_target not in REVERBERANT_TARGETS:
            raise ValueError(
                f"reverberant_target must be one of {REVERBERANT_TARGETS}, "
                f"got {reverberant_target!r}."
            )
        for name, (low, high) in (("snr_range", snr_range), ("level_range_db", level_range_db)):
            if low > high:
                raise ValueError(f"{name} must be (low, high) with low <= high, got {(low, high)}.")
        if seed < 0:
            raise ValueError(f"seed must be non-negative, got {seed}.")
        self.segment = None if segment_seconds is None else round(segment_seconds * sample_rate)
        self.snr_range = tuple(float(x) for x in snr_range)
        self.level_range_db = tuple(float(x) for x in level_range_db)
        self.reverb_prob = reverb_prob
        self.reverberant_target = reverberant_target
        self.early_samples = round(early_reverb_ms * sample_rate / 1000)
        self.epoch_size = len(self.clean) if epoch_size is None else int(epoch_size)
        self.seed = int(seed)
        self.sample_rate = sample_rate
        self.peak_limit = peak_limit
        self.noise_augmentation = noise_augmentation
        self.epoch = 0
        self._order_key = None
        self._order = None

    def set_epoch(self, epoch):
        """Selects the epoch whose items ``__getitem__`` returns.

        Call it before creating the epoch's DataLoader iterator (the dataset
        is copied into non-persistent workers at that moment).

        Arguments
        ---------
        epoch : int
            Non-negative epoch number.
        """
        if epoch < 0:
            raise ValueError(f"epoch must be non-negative, got {epoch}.")
        self.epoch = int(epoch)

    def __len__(self):
        return self.epoch_size

    def __getitem__(self, index):
        mixture = self.get_mixture(index)
        return {key: mixture[key] for key in ("id", "noisy_sig", "clean_sig")}

    def get_mixture(self, index):
        """Makes item ``index`` of the current epoch, with its recipe.

        Arguments
        ---------
        index : int
            Item number in ``[0, len(self))``.

        Returns
        -------
        dict
            ``id``, ``noisy_sig`` and ``clean_sig`` (``(time,)`` tensors), and
            ``clean_source``, ``noise_source``, ``rir_source`` (ids, or
            ``None``), ``snr_db`` and ``level_db`` (the mixture's final RMS
            in dBFS).
        """
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items.")
        rng = np.random.default_rng([self.seed, self.epoch, index])
        clean_id, clean = self._draw_clean(index, rng)
        length = clean.shape[-1]

        rir_id, target, speech = None, clean, clean
        if self.rirs and rng.random() < self.reverb_prob:
            rir_id, rir_path, _ = self.rirs[rng.integers(len(self.rirs))]
            rir = self._load(rir_path)
            if rir is None:  # a bad RIR: this item stays dry
                rir_id = None
            else:
                target, speech = self._reverberate(clean, rir)

        noise_id, noise = self._draw_noise(length, rng)
        if self.noise_augmentation is not None:
            augment_rng = np.random.default_rng([self.seed, self.epoch, index, 2])
            noise = self.noise_augmentation(noise, augment_rng, lambda n: self._draw_noise(n, augment_rng)[1])
        snr_db = float(rng.uniform(*self.snr_range))
        noisy = mix_at_snr(speech, noise, snr_db)

        level_db = float(rng.uniform(*self.level_range_db))
        gain = 10 ** (level_db / 20) / noisy.pow(2).mean().sqrt()
        peak = gain * torch.maximum(noisy.abs().max(), target.abs().max())
        if peak > self.peak_limit:
            gain = gain * self.peak_limit / peak
        noisy, target = noisy * gain, target * gain
        return {
            "id": f"mix_e{self.epoch}_{index:07d}",
            "noisy_sig": noisy,
            "clean_sig": target,
            "clean_source": clean_id,
            "noise_source": noise_id,
            "rir_source": rir_id,
            "snr_db": snr_db,
            "level_db": float(10 * torch.log10(noisy.pow(2).mean())),
        }

    def _clean_order(self, round_index):
        """The shuffled clean-file order of one pass over the clean files."""
        key = (self.epoch, round_index)
        if self._order_key != key:
            order_rng = np.random.default_rng([self.seed, self.epoch, round_index, 1])
            self._order = order_rng.permutation(len(self.clean))
            self._order_key = key
        return self._order

    def _draw_clean(self, index, rng):
        """Reads the clean segment of an item (redrawn when silent)."""
        position = self._clean_order(index // len(self.clean))[index % len(self.clean)]
        for _ in range(MAX_DRAWS):
            utt_id, path, frames = self.clean[position]
            length = self.segment or frames
            start = int(rng.integers(0, frames - length + 1)) if frames > length else 0
            wav = self._load(path, start, length)
            if wav is not None:
                wav = _fit_length(wav, length)
                if wav.pow(2).mean() > SILENCE_POWER:
                    return utt_id, wav
            position = rng.integers(len(self.clean))
        raise ValueError(f"{path}: {MAX_DRAWS} clean segments drawn in a row were silent or unreadable.")

    def _draw_noise(self, length, rng):
        """Reads (or loops) a noise segment of ``length`` samples."""
        for _ in range(MAX_DRAWS):
            utt_id, path, frames = self.noise[rng.integers(len(self.noise))]
            if frames > length:
                start = int(rng.integers(0, frames - length + 1))
                wav = self._load(path, start, length)
                wav = None if wav is None else _fit_length(wav, length)
            else:
                wav = self._load(path)
                if wav is not None:
                    wav = torch.roll(wav, -int(rng.integers(wav.shape[-1])))
                    wav = wav.repeat(math.ceil(length / wav.shape[-1]))[:length]
            if wav is not None and wav.pow(2).mean() > SILENCE_POWER:
                return utt_id, wav
        raise ValueError(f"{path}: {MAX_DRAWS} noise segments drawn in a row were silent or unreadable.")

    def _load(self, path, start=0, frames=None):
        """``load_audio`` at the dataset's rate; None for a bad file (counted, skipped)."""
        if path in self.bad_files.paths:
            return None
        try:
            return load_audio(path, self.sample_rate, start, frames)
        except AudioError as error:
            self.bad_files.record(path, error)
            return None

    def _reverberate(self, clean, rir):
        """Returns ``(target, reverberant speech)`` for a RIR, both (time,)."""
        direct = int(rir.abs().argmax())
        rir = rir / rir[direct]
        length = clean.shape[-1]
        reverberant = torchaudio.functional.fftconvolve(clean, rir)[direct : direct + length]
        if self.reverberant_target == "dry":
            return clean, reverberant
        if self.reverberant_target == "reverberant":
            return reverberant, reverberant
        early_rir = rir[: direct + self.early_samples]
        early = torchaudio.functional.fftconvolve(clean, early_rir)[direct : direct + length]
        return early, reverberant
