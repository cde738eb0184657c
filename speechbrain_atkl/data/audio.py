"""Reading, inspecting and writing audio files with clear errors.

Everything goes through ``soundfile`` (``torchaudio.load`` needs torchcodec in
recent torchaudio releases). Signals come back as 1-D float32 tensors at the
requested sample rate:

* any format soundfile reads (WAV, FLAC, OGG, MP3, ...);
* any sample rate, resampled with :func:`torchaudio.functional.resample`;
* several channels are mixed to mono by **averaging** them (a stereo file
  with identical channels therefore loads unchanged).

Every problem with a file raises :class:`AudioError` (a ``ValueError``) whose
message starts with the file's path.

Authors
 * speechbrain-atkl developers 2026
"""

import math
import os
import uuid
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf
import torch
import torchaudio

AUDIO_EXTENSIONS = (
    ".wav",
    ".flac",
    ".ogg",
    ".opus",
    ".mp3",
    ".aif",
    ".aiff",
    ".w64",
    ".rf64",
    ".caf",
    ".au",
)


class AudioError(ValueError):
    """A file is missing, unreadable, empty or holds non-finite samples."""


class AudioInfo(NamedTuple):
    """What a file's header says about its audio.

    Attributes
    ----------
    frames : int
        Number of samples per channel.
    sample_rate : int
        Sampling rate in Hz.
    channels : int
        Number of channels.
    duration : float
        Length in seconds (``frames / sample_rate``).
    """

    frames: int
    sample_rate: int
    channels: int
    duration: float


def _open(path):
    """Opens ``path`` for reading, turning every failure into AudioError."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such audio file.")
    try:
        return sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioError(
            f"{path}: not a readable audio file (corrupt or unsupported " f"format): {error}"
        ) from error


def audio_info(path):
    """Reads the header of an audio file, without reading its samples.

    Arguments
    ---------
    path : str or pathlib.Path
        Audio file.

    Returns
    -------
    AudioInfo
        Frames, sample rate, channels and duration. A zero-length file is
        reported (``frames == 0``), not rejected.

    Raises
    ------
    AudioError
        If the file is missing or not readable audio.

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "silence.wav")
    >>> save_audio(path, torch.zeros(2, 8000), 8000)
    >>> audio_info(path)
    AudioInfo(frames=8000, sample_rate=8000, channels=2, duration=1.0)
    """
    with _open(path) as handle:
        return AudioInfo(
            frames=handle.frames,
            sample_rate=handle.samplerate,
            channels=handle.channels,
            duration=handle.frames / handle.samplerate,
        )


def load_audio(path, sample_rate=16000, start=0, frames=None):
    """Loads (part of) an audio file as a mono float32 signal.

    Only the requested frames are read from disk, so taking a 4 s segment of
    a long file is cheap.

    Arguments
    ---------
    path : str or pathlib.Path
        Audio file in any format soundfile reads.
    sample_rate : int
        Sample rate of the returned signal; the file is resampled when its
        own rate differs.
    start : int
        First sample to return, counted at ``sample_rate``.
    frames : int or None
        Number of samples to return, counted at ``sample_rate``; ``None``
        reads to the end of the file. Fewer come back when the file ends
        first.

    Returns
    -------
    torch.Tensor
        The signal, shape ``(time,)``, dtype float32. Channels are averaged.

    Raises
    ------
    AudioError
        If the file is missing, not audio, has no samples (or none from
        ``start`` on), or holds NaN or infinite samples.

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tone.wav")
    >>> save_audio(path, 0.1 * torch.ones(2, 8000), 8000)
    >>> wav = load_audio(path)  # resampled to 16 kHz, mixed to mono
    >>> wav.shape, wav.dtype
    (torch.Size([16000]), torch.float32)
    >>> load_audio(path, start=1000, frames=320).shape
    torch.Size([320])
    """
    if start < 0 or (frames is not None and frames <= 0):
        raise ValueError(
            f"{path}: expected start >= 0 and frames > 0 or None, got "
            f"start={start}, frames={frames}."
        )
    with _open(path) as handle:
        file_rate = handle.samplerate
        if handle.frames == 0:
            raise AudioError(f"{path}: the file holds no samples (zero length).")
        file_start = start * file_rate // sample_rate
        file_frames = -1
        if frames is not None:
            # One spare sample covers the rounding of the start position.
            file_frames = math.ceil(frames * file_rate / sample_rate) + 1
        try:
            handle.seek(min(file_start, handle.frames))
            data = handle.read(file_frames, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as error:
            raise AudioError(f"{path}: reading the samples failed: {error}") from error
    if data.shape[0] == 0:
        raise AudioError(f"{path}: no samples from sample {start} on (at {sample_rate} Hz).")
    if not np.isfinite(data).all():
        raise AudioError(f"{path}: the file holds NaN or infinite samples.")
    wav = torch.from_numpy(data.mean(axis=1))
    if file_rate != sample_rate:
        wav = torchaudio.functional.resample(wav, file_rate, sample_rate)
    if frames is not None:
        wav = wav[:frames]
    return wav.contiguous()


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
    file_format = path.suffix[1:].upper()
    if file_format not in sf.available_formats():
        raise ValueError(
            f"{path}: unknown audio extension; expected one of " f"{', '.join(AUDIO_EXTENSIONS)}."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    try:
        sf.write(
            str(temporary),
            wav.T,
            sample_rate,
            subtype=subtype,
            format=file_format,
        )
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()
