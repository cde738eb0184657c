"""Datasets over pre-mixed noisy/clean file pairs.

A pair that fails to load (deleted, truncated, NaN samples) is replaced by
the next one with a warning, until more than ``max_bad_files`` distinct pairs
have failed in one process (:class:`~speechbrain_atkl.data.checks.BadFiles`).

Authors
 * speechbrain-atkl developers 2026
"""

from speechbrain.dataio.dataset import DynamicItemDataset
from speechbrain.utils.data_pipeline import provides, takes

from speechbrain_atkl.data.audio import AudioError, load_audio
from speechbrain_atkl.data.checks import BadFiles
from speechbrain_atkl.data.manifest import read_manifest


class _SkippingDataset(DynamicItemDataset):
    """A DynamicItemDataset whose items that fail to load are replaced by the next ones."""

    def __init__(self, data, bad_files):
        super().__init__(data)
        self.bad_files = bad_files

    def __getitem__(self, index):
        for offset in range(len(self)):
            position = (index + offset) % len(self)
            try:
                return super().__getitem__(position)
            except AudioError as error:
                for item in self.pipeline.dynamic_items:
                    item.reset()  # SpeechBrain resets its generators only after a success
                self.bad_files.record(self.data_ids[position], error)
        raise RuntimeError("Every item of the dataset failed to load.")


def paired_dataset(manifest, sample_rate=16000, max_bad_files=0):
    """A SpeechBrain dataset over pre-mixed noisy/clean file pairs.

    Both files of a pair are loaded (resampled to ``sample_rate``, mixed to
    mono) and trimmed to the shorter of the two. A pair that fails to load is
    replaced by the next one, with a warning, up to ``max_bad_files`` pairs.

    Arguments
    ---------
    manifest : str, pathlib.Path or dict
        Paired manifest ``{id: {"noisy_wav": path, "clean_wav": path, ...}}``.
    sample_rate : int
        Sample rate of the returned signals.
    max_bad_files : int
        Distinct pairs that may fail to load (and are skipped) before an
        error; per process. 0 (the default, for validation and test sets)
        makes the first one an error.

    Returns
    -------
    speechbrain.dataio.dataset.DynamicItemDataset
        Items ``{"id", "noisy_sig", "clean_sig"}`` with ``(time,)`` tensors.

    Example
    -------
    >>> import os, tempfile
    >>> import torch
    >>> from speechbrain_atkl.data.audio_writer import save_audio
    >>> folder = tempfile.mkdtemp()
    >>> save_audio(f"{folder}/noisy.wav", torch.zeros(1600), 16000)
    >>> save_audio(f"{folder}/clean.wav", torch.zeros(1601), 16000)
    >>> data = paired_dataset(
    ...     {"u1": {"noisy_wav": f"{folder}/noisy.wav", "clean_wav": f"{folder}/clean.wav"}}
    ... )
    >>> data[0]["id"], data[0]["noisy_sig"].shape, data[0]["clean_sig"].shape
    ('u1', torch.Size([1600]), torch.Size([1600]))
    """
    dataset = _SkippingDataset(read_manifest(manifest), BadFiles(max_bad_files))

    @takes("noisy_wav", "clean_wav")
    @provides("noisy_sig", "clean_sig")
    def audio_pipeline(noisy_wav, clean_wav):
        noisy = load_audio(noisy_wav, sample_rate)
        clean = load_audio(clean_wav, sample_rate)
        length = min(noisy.shape[-1], clean.shape[-1])
        yield noisy[:length]
        yield clean[:length]

    dataset.add_dynamic_item(audio_pipeline)
    dataset.set_output_keys(["id", "noisy_sig", "clean_sig"])
    return dataset
