"""Writing enhanced signals: atomically, piece by piece, without silent clipping.

Authors
 * speechbrain-atkl developers 2026
"""

import logging
from pathlib import Path

from speechbrain_atkl.data.audio_writer import AudioWriter

logger = logging.getLogger(__name__)

#: Output formats written as 32-bit float, so that nothing is clipped.
FLOAT_FORMATS = (".wav", ".w64", ".rf64", ".caf", ".aif", ".aiff")


def write_enhanced(path, wav, sample_rate):
    """Writes an enhanced signal atomically without silent clipping.

    WAV-like formats (:data:`FLOAT_FORMATS`) are written as 32-bit float;
    other formats use their default sample type, and a signal beyond
    [-1, 1] is clipped with a logged warning.

    Arguments
    ---------
    path : str or pathlib.Path
        Output file.
    wav : torch.Tensor
        Signal ``(time,)``.
    sample_rate : int
        Sampling rate in Hz.

    Example
    -------
    >>> import os, tempfile, soundfile, torch
    >>> path = os.path.join(tempfile.mkdtemp(), "loud.wav")
    >>> write_enhanced(path, torch.tensor([1.5, -2.0, 0.25]), 16000)
    >>> soundfile.read(path)[0].tolist()
    [1.5, -2.0, 0.25]
    """
    with EnhancedOutput(path, sample_rate) as output:
        output.write(wav)


class EnhancedOutput:
    """Writes an enhanced signal piece by piece (see :func:`write_enhanced`); ``path=None`` writes nothing.

    A context manager: the file appears under ``path`` only when the block
    ends without an exception (it is written under a temporary name until
    then, and removed if the block fails).

    Arguments
    ---------
    path : str or pathlib.Path or None
        Output file (format from the extension), or None.
    sample_rate : int
        Sampling rate in Hz.

    Example
    -------
    >>> import os, tempfile, soundfile, torch
    >>> path = os.path.join(tempfile.mkdtemp(), "out.flac")
    >>> with EnhancedOutput(path, 16000) as output:
    ...     output.write(torch.full((100,), 0.5))
    ...     output.write(torch.full((100,), 2.0))  # clipped for FLAC (a warning is logged)
    >>> soundfile.read(path)[0][[0, 150]].tolist()
    [0.5, 0.999969482421875]
    """

    def __init__(self, path, sample_rate):
        self.path = None if path is None else Path(path)
        self.writer, self.peak = None, 0.0
        if self.path is not None:
            self.float = self.path.suffix.lower() in FLOAT_FORMATS
            self.writer = AudioWriter(self.path, sample_rate, subtype="FLOAT" if self.float else None)

    def __enter__(self):
        if self.writer is not None:
            self.writer.__enter__()
        return self

    def write(self, wav):
        """Appends ``wav`` ``(time,)`` to the file (clipped to [-1, 1] unless a float format)."""
        if self.writer is None:
            return
        if not self.float:
            self.peak = max(self.peak, wav.abs().max().item() if wav.numel() else 0.0)
            wav = wav.clamp(-1.0, 1.0)
        self.writer.write(wav)

    def __exit__(self, kind, error, traceback):
        if self.writer is not None:
            self.writer.__exit__(kind, error, traceback)
            if kind is None and self.peak > 1.0:
                logger.warning(
                    "%s: enhanced signal peaks at %.2f; clipped to [-1, 1] for this format.", self.path, self.peak
                )
        return False
