"""Training straight from the WebDataset shards of SpeechBrain's DNS synthesiser.

SpeechBrain's ``recipes/DNS/noisyspeech_synthesizer`` writes tar shards
(``shard-000000.tar``..., often one folder per language) whose samples hold:

* ``noisy_audio.pth``, ``clean_audio.pth``, ``noise_audio.pth``: 1-D torch
  tensors (float64 or float32) at the synthesiser's ``sampling_rate``;
* ``clean_file``, ``noise_file``, ``noisy_file``, ``language_id``: strings.

Its sample keys are file names such as ``clean_fileid_12.wav``. WebDataset
splits a tar member name at the first dot, so those samples read back with
fields named ``wav.noisy_audio.pth`` and key ``clean_fileid_12``; fields are
therefore looked up by suffix, and both forms work.

Authors
 * speechbrain-atkl developers 2026
"""

import tarfile
import zlib
from pathlib import Path

import numpy as np
import torch
import torchaudio
import webdataset as wds

NOISY_FIELD = "noisy_audio.pth"
CLEAN_FIELD = "clean_audio.pth"
UNUSED_FIELD = "noise_audio.pth"


def find_shards(shards):
    """Expands a shard specification into a sorted list of tar files.

    Arguments
    ---------
    shards : str, pathlib.Path or list
        A folder (searched recursively for ``*.tar``), a brace pattern such as
        ``"data/shard-{000000..000009}.tar"``, a single tar file, or a list of
        any of these.

    Returns
    -------
    list of str
        Tar file paths.

    Example
    -------
    >>> find_shards("shards/shard-{000000..000002}.tar")
    ['shards/shard-000000.tar', 'shards/shard-000001.tar', 'shards/shard-000002.tar']
    """
    if isinstance(shards, (list, tuple)):
        return [url for item in shards for url in find_shards(item)]
    shards = str(shards)
    if Path(shards).is_dir():
        found = sorted(str(path) for path in Path(shards).rglob("*.tar"))
        if not found:
            raise FileNotFoundError(f"{shards}: no .tar shards found in this folder.")
        return found
    return wds.shardlists.expand_urls(shards)


def _field(sample, name):
    """The value of field ``name`` (or ``<prefix>.name``) of a sample."""
    for key, value in sample.items():
        if key == name or key.endswith("." + name):
            return value
    fields = sorted(key for key in sample if not key.startswith("__"))
    raise KeyError(
        f"{sample.get('__url__')}: sample {sample.get('__key__')!r} has no "
        f"{name!r} field; its fields are {fields}."
    )


class DNSShardDataset(torch.utils.data.IterableDataset):
    """Iterates noisy/clean pairs stored in DNS-synthesiser WebDataset shards.

    Items are ``{"id", "noisy_sig", "clean_sig"}`` with 1-D float32 tensors,
    ready for a DataLoader with ``collate_fn=PaddedBatch``. Shards are split
    between DDP processes and DataLoader workers (so use at least as many
    shards as workers). Cropping is a function of ``(seed, epoch, key)``.

    Arguments
    ---------
    shards : str, pathlib.Path or list
        Shard folder, pattern or list (see :func:`find_shards`).
    segment_seconds : float or None
        If set, items are cut to this length at a random position (shorter
        items are zero-padded at the end); ``None`` keeps whole items.
    sample_rate : int
        Sample rate of the returned signals.
    shard_sample_rate : int
        Sample rate the shards were synthesised at (resampled if different).
    shuffle_shards : bool
        Visit shards in an order shuffled per epoch.
    shuffle_buffer : int
        Size of the sample shuffle buffer; 0 keeps the shard order.
    seed : int
        Non-negative seed for shard order, sample shuffling and crops.

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "shard-000000.tar")
    >>> with wds.TarWriter(path) as sink:
    ...     size = sink.write({"__key__": "clean_fileid_0.wav",
    ...                 "noisy_audio.pth": torch.randn(32000, dtype=torch.float64),
    ...                 "clean_audio.pth": torch.randn(32000, dtype=torch.float64)})
    >>> data = DNSShardDataset(path, segment_seconds=1.0)
    >>> item = next(iter(data))
    >>> item["id"], item["noisy_sig"].shape, item["clean_sig"].dtype
    ('clean_fileid_0', torch.Size([16000]), torch.float32)
    """

    def __init__(
        self,
        shards,
        segment_seconds=None,
        sample_rate=16000,
        shard_sample_rate=16000,
        shuffle_shards=False,
        shuffle_buffer=0,
        seed=1234,
    ):
        super().__init__()
        self.urls = find_shards(shards)
        if not self.urls:
            raise ValueError(f"No shards found for {shards!r}.")
        self.segment = None if segment_seconds is None else round(segment_seconds * sample_rate)
        self.sample_rate = sample_rate
        self.shard_sample_rate = shard_sample_rate
        self.shuffle_shards = shuffle_shards
        self.shuffle_buffer = shuffle_buffer
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch):
        """Selects the epoch (shard order, shuffling and crops depend on it).

        Arguments
        ---------
        epoch : int
            Non-negative epoch number.
        """
        self.epoch = int(epoch)

    def __iter__(self):
        urls = list(self.urls)
        if self.shuffle_shards:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(len(urls))
            urls = [urls[i] for i in order]
        pipeline = wds.WebDataset(
            urls,
            shardshuffle=False,
            nodesplitter=wds.split_by_node,
            workersplitter=wds.split_by_worker,
            select_files=lambda name: not name.endswith(UNUSED_FIELD),
            empty_check=False,
        )
        if self.shuffle_buffer > 0:
            pipeline = pipeline.shuffle(self.shuffle_buffer, seed=self.seed + self.epoch)
        return iter(pipeline.decode().map(self._to_item))

    def _to_item(self, sample):
        """Turns a decoded shard sample into ``{"id", "noisy_sig", "clean_sig"}``."""
        key = sample["__key__"]
        noisy = torch.as_tensor(_field(sample, NOISY_FIELD)).squeeze().float()
        clean = torch.as_tensor(_field(sample, CLEAN_FIELD)).squeeze().float()
        if noisy.dim() != 1 or clean.dim() != 1:
            raise ValueError(
                f"{sample.get('__url__')}: sample {key!r} holds signals of shapes "
                f"{tuple(noisy.shape)} and {tuple(clean.shape)}; expected 1-D."
            )
        length = min(noisy.shape[-1], clean.shape[-1])
        noisy, clean = noisy[:length], clean[:length]
        if self.shard_sample_rate != self.sample_rate:
            noisy, clean = (
                torchaudio.functional.resample(x, self.shard_sample_rate, self.sample_rate)
                for x in (noisy, clean)
            )
            length = noisy.shape[-1]
        if self.segment is not None:
            if length > self.segment:
                rng = np.random.default_rng([self.seed, self.epoch, zlib.crc32(key.encode())])
                start = int(rng.integers(0, length - self.segment + 1))
                noisy = noisy[start : start + self.segment]
                clean = clean[start : start + self.segment]
            else:
                pad = (0, self.segment - length)
                noisy = torch.nn.functional.pad(noisy, pad)
                clean = torch.nn.functional.pad(clean, pad)
        return {"id": key, "noisy_sig": noisy, "clean_sig": clean}

    def count_samples(self):
        """Counts the samples in the shards by reading the tar headers only.

        Returns
        -------
        int
            Number of samples with a noisy signal (e.g. for SpeechBrain's
            ``looped_nominal_epoch``).
        """
        total = 0
        for url in self.urls:
            with tarfile.open(url) as archive:
                total += sum(1 for name in archive.getnames() if name.endswith(NOISY_FIELD))
        return total


def shard_dataset(
    shards,
    segment_seconds=4.0,
    sample_rate=16000,
    shard_sample_rate=16000,
    shuffle_buffer=1000,
    seed=1234,
):
    """Training-ready :class:`DNSShardDataset`: shuffled shards and samples, random crops.

    Arguments
    ---------
    shards : str, pathlib.Path or list
        Shard folder, pattern or list (see :func:`find_shards`).
    segment_seconds : float or None
        Crop length (``None`` keeps whole items).
    sample_rate : int
        Sample rate of the returned signals.
    shard_sample_rate : int
        Sample rate the shards were synthesised at.
    shuffle_buffer : int
        Size of the sample shuffle buffer.
    seed : int
        Non-negative seed.

    Returns
    -------
    DNSShardDataset
        Iterable of ``{"id", "noisy_sig", "clean_sig"}``; call its
        ``set_epoch`` every epoch.
    """
    return DNSShardDataset(
        shards,
        segment_seconds=segment_seconds,
        sample_rate=sample_rate,
        shard_sample_rate=shard_sample_rate,
        shuffle_shards=True,
        shuffle_buffer=shuffle_buffer,
        seed=seed,
    )
