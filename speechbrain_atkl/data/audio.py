"""Reading and inspecting audio files with clear errors.

Everything goes through ``soundfile`` (``torchaudio.load`` needs torchcodec in
recent torchaudio releases). Signals come back as 1-D float32 tensors at the
requested sample rate:

* any format soundfile reads (WAV, FLAC, OGG, MP3, ...);
* any sample rate from :data:`MIN_SAMPLE_RATE` to :data:`MAX_SAMPLE_RATE`
  (others are refused: a header can claim anything), resampled with
  :func:`torchaudio.functional.resample` at a bounded cost
  (:func:`speechbrain_atkl.data.resample.resample`);
* several channels are mixed to mono by **averaging** them (a stereo file
  with identical channels therefore loads unchanged); channels that cancel
  (opposite polarity: the mix is :data:`CANCELLED_DB` or more below them)
  are warned about, since their mix is close to silence;
* :func:`read_blocks` reads a file of any length block by block, in bounded
  memory;
* :func:`float_samples` takes signals handed over in memory, refusing integer
  samples (16-bit PCM read as integers is not in [-1, 1]).

Every problem with a file raises :class:`AudioError` (a ``ValueError``) whose
message starts with the file's path. Writing is in
:mod:`~speechbrain_atkl.data.audio_writer`.

Authors
 * speechbrain-atkl developers 2026
"""

import math
import os
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf
import torch

from speechbrain_atkl.data.resample import StreamResampler, resample

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


#: Sampling rates accepted from a file's header (Hz).
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 384000
#: Samples per block of :func:`read_blocks` (at the file's rate).
BLOCK_FRAMES = 1 << 18
#: Channels whose average is this far (dB) below their own power cancel: a warning says so.
CANCELLED_DB = 20.0


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
        return sf.SoundFile(os.fsencode(path))  # bytes: any name the OS allows, even non-UTF-8
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
    >>> from speechbrain_atkl.data.audio_writer import save_audio
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
        The signal, shape ``(time,)``, dtype float32. Channels are averaged
        (a ``UserWarning`` says when they cancel).

    Raises
    ------
    AudioError
        If the file is missing, not audio, has no samples (or none from
        ``start`` on), or holds NaN or infinite samples.

    Example
    -------
    >>> import os, tempfile
    >>> from speechbrain_atkl.data.audio_writer import save_audio
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
        file_rate = _check_rate(path, handle.samplerate)
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
    mix = _ChannelMix(path)
    wav = resample(torch.from_numpy(mix(data)), file_rate, sample_rate)
    mix.check()
    if frames is not None:
        wav = wav[:frames]
    return wav.contiguous()


def float_samples(signal, what="signal"):
    """A signal given in memory as a float32 tensor; integer, boolean or complex samples are refused.

    Models take samples in [-1, 1]: ``int16`` PCM as floats would be 32768
    times too loud, so the caller must scale it (``x / 32768``).

    Arguments
    ---------
    signal : torch.Tensor, numpy.ndarray or sequence of float
        The samples.
    what : str
        Its name in the error message.

    Returns
    -------
    torch.Tensor
        float32, on ``signal``'s device (CPU for arrays).

    Raises
    ------
    TypeError
        Naming the dtype and the conversion to make.

    Example
    -------
    >>> float_samples(np.zeros(4, np.float64)).dtype
    torch.float32
    >>> float_samples(torch.zeros(4, dtype=torch.int16), "noisy")
    Traceback (most recent call last):
    ...
    TypeError: noisy: expected floating-point samples in [-1, 1], got torch.int16;
    scale integer PCM first (int16: x / 32768).
    """
    tensor = torch.as_tensor(signal)
    if not tensor.is_floating_point():
        raise TypeError(
            f"{what}: expected floating-point samples in [-1, 1], got {tensor.dtype}; "
            "scale integer PCM first (int16: x / 32768)."
        )
    return tensor.to(torch.float32)


class _ChannelMix:
    """Averages a file's channels block by block and warns, at :meth:`check`, when they cancel."""

    def __init__(self, path):
        self.path = path
        self.channels, self.channel_energy, self.mix_energy = 1, 0.0, 0.0

    def __call__(self, data):
        """The mono mix of ``(frames, channels)`` samples."""
        mix = data.mean(axis=1)
        if data.shape[1] > 1:
            self.channels = data.shape[1]
            self.channel_energy += float(np.square(data, dtype=np.float64).mean(axis=1).sum())
            self.mix_energy += float(np.square(mix, dtype=np.float64).sum())
        return mix

    def check(self):
        if self.mix_energy < self.channel_energy * 10 ** (-CANCELLED_DB / 10):
            below = 10 * math.log10(self.channel_energy / max(self.mix_energy, 1e-300))
            warnings.warn(
                f"{self.path}: its {self.channels} channels cancel when averaged to mono (the mix is "
                f"{below:.0f} dB below them, nearly silent): opposite polarity? Pick or mix the channels "
                "yourself to keep the signal.",
                stacklevel=3,
            )


def _check_rate(path, rate):
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioError(
            f"{path}: the header's sample rate {rate} Hz is outside "
            f"[{MIN_SAMPLE_RATE}, {MAX_SAMPLE_RATE}] Hz; refusing to read it (corrupt header?)."
        )
    return rate


def read_blocks(path, sample_rate=16000, block_frames=BLOCK_FRAMES):
    """Reads a whole file block by block as mono float32 at ``sample_rate``.

    Memory stays bounded by the block size whatever the file's length; the
    blocks concatenated equal :func:`load_audio` ``(path, sample_rate)`` (to
    float rounding). Errors are those of :func:`load_audio`, raised when met
    (a NaN sample late in the file is found when its block is read).

    Arguments
    ---------
    path : str or pathlib.Path
        Audio file.
    sample_rate : int
        Rate of the yielded samples.
    block_frames : int
        File samples read per block.

    Yields
    ------
    torch.Tensor
        ``(time,)`` float32 blocks (some may be empty).

    Example
    -------
    >>> import os, tempfile
    >>> from speechbrain_atkl.data.audio_writer import save_audio
    >>> path = os.path.join(tempfile.mkdtemp(), "tone.wav")
    >>> save_audio(path, 0.1 * torch.ones(2, 8000), 8000)
    >>> [block.shape[0] for block in read_blocks(path, block_frames=3000)]
    [5984, 6000, 4000, 16]
    """
    mix = _ChannelMix(path)
    with _open(path) as handle:
        resampler = StreamResampler(_check_rate(path, handle.samplerate), sample_rate)
        while True:
            try:
                data = handle.read(block_frames, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as error:
                raise AudioError(f"{path}: reading the samples failed: {error}") from error
            if data.shape[0] == 0:
                break
            if not np.isfinite(data).all():
                raise AudioError(f"{path}: the file holds NaN or infinite samples.")
            yield resampler.push(torch.from_numpy(mix(data)))
    if resampler.frames == 0:
        raise AudioError(f"{path}: the file holds no samples (zero length).")
    mix.check()
    yield resampler.finish()
