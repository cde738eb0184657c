"""Writing audio files atomically, progressively or in one call, with clear errors.

:func:`save_audio` writes a whole signal; :class:`AudioWriter` writes one block
by block (in bounded memory). Either way the samples go to a temporary file
renamed to the target once complete, so a file is never half-written, and the
temporary is removed when writing fails or the process is stopped with SIGTERM
(:mod:`~speechbrain_atkl.data.atomic`). Every write failure (full disk, no
permission, ...) raises :class:`AudioWriteError` (an ``OSError``) naming the
file. Reading is in :mod:`~speechbrain_atkl.data.audio`.

Authors
 * speechbrain-atkl developers 2026
"""

import contextlib
import os
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from speechbrain_atkl.data.atomic import FileWriteError, atomic_temporary, naming_the_file
from speechbrain_atkl.data.audio import AUDIO_EXTENSIONS


class AudioWriteError(FileWriteError):
    """Writing an audio file failed (full disk, no permission, ...)."""


class AudioWriter:
    """Writes an audio file progressively and atomically.

    Samples go to a temporary file in the target's folder, renamed to
    ``path`` when the ``with`` block ends without error and removed when it
    raises or SIGTERM stops the process, so ``path`` is never half-written.
    Parent folders are created.
    Any write failure raises :class:`AudioWriteError` naming ``path``.

    Arguments
    ---------
    path : str or pathlib.Path
        Output file; its extension picks the format.
    sample_rate : int
        Sampling rate (Hz).
    channels : int
        Channel count.
    subtype : str or None
        soundfile subtype (``None``: the format's default).

    Example
    -------
    >>> import os, tempfile
    >>> from speechbrain_atkl.data.audio import audio_info
    >>> path = os.path.join(tempfile.mkdtemp(), "out.flac")
    >>> with AudioWriter(path, 16000) as writer:
    ...     writer.write(torch.zeros(800))
    ...     writer.write(torch.zeros(800))
    >>> audio_info(path).frames
    1600
    """

    def __init__(self, path, sample_rate, channels=1, subtype=None):
        self.path = Path(path)
        self.format = self.path.suffix[1:].upper()
        if self.format not in sf.available_formats():
            raise ValueError(
                f"{self.path}: unknown audio extension; expected one of {', '.join(AUDIO_EXTENSIONS)}."
            )
        self.options = dict(samplerate=sample_rate, channels=channels, subtype=subtype, format=self.format)
        self.handle, self.written = None, False
        self._cleanup = contextlib.ExitStack()

    def __enter__(self):
        if self.path.is_dir():
            raise AudioWriteError(f"{self.path}: an existing folder has this name; refusing to write the audio file.")
        with self._failure("creating"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.temporary = self._cleanup.enter_context(atomic_temporary(self.path))
        return self

    def write(self, wav, whole=False):
        """Appends ``(time,)`` or ``(channels, time)`` finite samples.

        ``whole=True`` writes the complete signal in one ``soundfile.write``
        call (it must then be the only write).
        """
        if isinstance(wav, torch.Tensor):
            wav = wav.detach().cpu().numpy()
        wav = np.asarray(wav)
        if not np.isfinite(wav).all():
            raise ValueError(f"{self.path}: refusing to write NaN or infinite samples.")
        with self._failure("writing"):
            if whole:
                options = {k: v for k, v in self.options.items() if k != "channels"}
                sf.write(os.fsencode(self.temporary), wav.T, **options)
                self.written = True
                return
            if self.handle is None:
                self.handle = sf.SoundFile(os.fsencode(self.temporary), "w", **self.options)
            self.handle.write(wav.T)

    def __exit__(self, kind, error, traceback):
        try:
            with self._failure("writing"):
                if self.handle is not None:
                    self.handle.close()
                elif kind is None and not self.written:  # nothing written: an empty file
                    sf.SoundFile(os.fsencode(self.temporary), "w", **self.options).close()
            if kind is None:
                with self._failure("renaming the finished file to"):
                    os.replace(self.temporary, self.path)
        finally:
            self._cleanup.close()
        return False

    def _failure(self, doing):
        """Turns libsndfile and OS errors into :class:`AudioWriteError` naming the file."""
        return naming_the_file(
            self.path, f"{doing} the audio file", AudioWriteError, (sf.LibsndfileError, RuntimeError, OSError)
        )


def save_audio(path, wav, sample_rate, subtype=None):
    """Writes a signal to disk atomically.

    The samples go to a temporary name in the same folder that is renamed to
    ``path`` once complete, so a file under ``path`` is never half-written.
    Parent folders are created.

    Arguments
    ---------
    path : str or pathlib.Path
        Output file; its extension picks the format (``.wav``, ``.flac``...).
    wav : torch.Tensor or numpy.ndarray
        Signal of shape ``(time,)`` or ``(channels, time)``.
    sample_rate : int
        Sample rate in Hz.
    subtype : str or None
        soundfile subtype, e.g. ``"PCM_16"`` or ``"FLOAT"``; ``None`` takes the
        format's default (16-bit PCM for WAV, which clips beyond [-1, 1]).

    Example
    -------
    >>> import os, tempfile
    >>> from speechbrain_atkl.data.audio import audio_info
    >>> path = os.path.join(tempfile.mkdtemp(), "out", "noise.flac")
    >>> save_audio(path, 0.01 * torch.randn(1600), 16000)
    >>> audio_info(path).frames
    1600
    """
    path = Path(path)
    if isinstance(wav, torch.Tensor):
        wav = wav.detach().cpu().numpy()
    wav = np.asarray(wav)
    if wav.ndim not in (1, 2) or wav.shape[-1] == 0:
        raise ValueError(
            f"{path}: expected a non-empty signal of shape (time,) or "
            f"(channels, time), got shape {wav.shape}."
        )
    if not np.isfinite(wav).all():
        raise ValueError(f"{path}: refusing to write NaN or infinite samples.")
    with AudioWriter(path, sample_rate, 1 if wav.ndim == 1 else wav.shape[0], subtype) as writer:
        writer.write(wav, whole=True)
