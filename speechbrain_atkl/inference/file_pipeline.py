"""Enhancing an audio file in bounded memory: read in blocks, enhanced in chunks, written in pieces.

:func:`enhance_audio_file` is the pipeline behind
:meth:`~speechbrain_atkl.inference.enhance.EnhanceBatch.enhance_file`: the
file is read and resampled to the model's rate block by block
(:func:`~speechbrain_atkl.data.audio.read_blocks`), enhanced in overlapping
chunks as the blocks arrive (:func:`~speechbrain_atkl.inference.chunking.enhance_stream`),
optionally resampled back to the file's rate, and written piece by piece
(:class:`~speechbrain_atkl.inference.enhanced_output.EnhancedOutput`), so
that memory does not grow with the file's length.

Authors
 * speechbrain-atkl developers 2026
"""

import torch

from speechbrain_atkl.data.audio import audio_info, read_blocks
from speechbrain_atkl.data.resample import StreamResampler
from speechbrain_atkl.inference.chunking import enhance_stream
from speechbrain_atkl.inference.enhanced_output import EnhancedOutput

__all__ = ["enhance_audio_file"]


def enhance_audio_file(
    enhance, path, sample_rate, chunking, output_filename=None, return_signal=True, output_rate=None
):
    """Enhances an audio file block by block, writing the output as it is produced.

    Arguments
    ---------
    enhance : callable
        Enhances one ``(time,)`` waveform at ``sample_rate`` (a chunk with
        its context) into a waveform of the same length.
    path : str or pathlib.Path
        Noisy audio file: any format soundfile reads, any rate (resampled to
        ``sample_rate``), several channels averaged to mono.
    sample_rate : int
        The rate ``enhance`` works at.
    chunking : dict
        Keyword arguments of :func:`~speechbrain_atkl.inference.chunking.enhance_stream`
        in samples (``chunk_samples``, ``context_samples``,
        ``lookahead_samples``, ``crossfade_samples``, ``hop_samples``).
    output_filename : str or pathlib.Path or None
        Where the output is written (see
        :class:`~speechbrain_atkl.inference.enhanced_output.EnhancedOutput`:
        under a temporary name, renamed when complete); None: not written.
    return_signal : bool
        Keep and return the whole output (else ``None``).
    output_rate : str or None
        ``"input"``: the output is resampled back to the file's rate, as
        many samples as the file has; None: at ``sample_rate``.

    Returns
    -------
    torch.Tensor or None
        The output ``(time,)`` on the CPU, at the output rate.

    Example
    -------
    >>> import os, tempfile
    >>> from speechbrain_atkl.data.audio_writer import save_audio
    >>> folder = tempfile.mkdtemp()
    >>> noisy, enhanced = os.path.join(folder, "noisy.wav"), os.path.join(folder, "enhanced.wav")
    >>> save_audio(noisy, 0.1 * torch.ones(1, 8000), 8000)  # 1 s at 8 kHz
    >>> chunking = dict(chunk_samples=4000, context_samples=800, lookahead_samples=0, crossfade_samples=160)
    >>> enhance_audio_file(lambda wav: 0.5 * wav, noisy, 16000, chunking).shape  # at 16 kHz
    torch.Size([16000])
    >>> out = enhance_audio_file(lambda wav: 0.5 * wav, noisy, 16000, chunking, enhanced, output_rate="input")
    >>> out.shape, round(out[4000].item(), 4), os.path.exists(enhanced)
    (torch.Size([8000]), 0.05, True)
    """
    blocks = read_blocks(path, sample_rate, block_frames=_block_frames(chunking["chunk_samples"]))
    pieces = (piece.cpu() for piece in enhance_stream(enhance, blocks, **chunking))
    rate = sample_rate
    if output_rate == "input":
        info = audio_info(path)
        if info.sample_rate != rate:
            pieces = _resampled(pieces, rate, info.sample_rate, info.frames)
            rate = info.sample_rate
    kept = [] if return_signal else None
    with EnhancedOutput(output_filename, rate) as output:
        for piece in pieces:
            output.write(piece)
            if kept is not None:
                kept.append(piece)
    return torch.cat(kept) if kept is not None else None


def _resampled(pieces, orig_rate, new_rate, frames):
    """Consecutive ``(time,)`` pieces of a signal at ``orig_rate``, as pieces at ``new_rate``.

    The output is cut to ``frames`` samples (the rounding up of two
    resamplings leaves a few more).
    """
    resampler = StreamResampler(orig_rate, new_rate)
    for piece in pieces:
        piece = resampler.push(piece)[:frames]
        frames -= piece.shape[0]
        yield piece
    yield resampler.finish()[:frames]


def _block_frames(chunk_samples):
    """File samples read per block: about one chunk, at most 2**20."""
    return min(max(chunk_samples, 4096), 1 << 20)
