"""Enhancing a long signal in overlapping chunks, from blocks, in bounded memory.

:func:`enhance_stream` takes the input as an iterable of blocks and yields the
output as it is done; :func:`enhance_in_chunks` is its waveform-in,
waveform-out form. :class:`~speechbrain_atkl.inference.enhance.EnhanceBatch`
enhances waveforms with :func:`enhance_in_chunks` and files with
:func:`enhance_stream` (through :mod:`~speechbrain_atkl.inference.file_pipeline`).

Authors
 * speechbrain-atkl developers 2026
"""

import math
import numbers

import torch


def enhance_in_chunks(
    enhance,
    wav,
    chunk_samples,
    context_samples,
    lookahead_samples,
    crossfade_samples,
    hop_samples=1,
):
    """Runs an enhancement function over a long waveform in overlapping chunks.

    The waveform-in, waveform-out form of :func:`enhance_stream` (see there
    for the method and its accuracy).

    Arguments
    ---------
    enhance : callable
        Maps a ``(time,)`` waveform to a ``(time,)`` enhanced waveform.
    wav : torch.Tensor
        Waveform ``(time,)``.
    chunk_samples, context_samples, lookahead_samples, crossfade_samples, hop_samples : int
        See :func:`enhance_stream`.

    Returns
    -------
    torch.Tensor
        Enhanced waveform ``(time,)``.

    Example
    -------
    >>> wav = torch.randn(1000)
    >>> out = enhance_in_chunks(lambda x: 2 * x, wav, 300, 50, 0, 20, hop_samples=100)
    >>> torch.allclose(out, 2 * wav)
    True
    """
    pieces = list(
        enhance_stream(
            enhance, [wav], chunk_samples, context_samples, lookahead_samples, crossfade_samples, hop_samples
        )
    )
    return torch.cat(pieces) if pieces else wav[:0]


def enhance_stream(
    enhance,
    blocks,
    chunk_samples,
    context_samples,
    lookahead_samples,
    crossfade_samples,
    hop_samples=1,
):
    """Enhances a signal arriving in blocks, in overlapping chunks, yielding the output as it is done.

    The output is cut into consecutive chunks of ``chunk_samples``. Chunk
    ``k`` is computed from the input starting ``context_samples`` before it
    (so that recurrent state and convolutions have warmed up) and ending
    ``lookahead_samples`` after it (so that a model looking that far ahead
    sees exactly what it would in one pass), plus ``crossfade_samples`` over
    which it fades out while chunk ``k + 1`` fades in. The first chunk, which
    has no past, is ``context_samples`` longer instead: every chunk but the
    last then reads an input of the same length, so that the model meets one
    input shape less (a new shape costs oneDNN a search for its kernels, a
    few hundred milliseconds for DCCRN). Chunk starts and the context are
    rounded up to multiples of ``hop_samples``, so that every chunk's STFT
    frames fall on the frame grid of the whole signal. A signal no longer
    than the first chunk is enhanced in one pass.

    Memory is bounded by ``chunk + context + crossfade + lookahead`` samples
    plus one block, whatever the signal's length. For a model whose output
    sample ``n`` depends only on input samples up to ``n + lookahead_samples``
    and on a fading memory of the past (DCCRN), the result matches one-pass
    processing up to the difference left by truncating the past to
    ``context_samples``; with a context reaching the start of the signal it
    is identical. How the input is split into blocks does not change it.

    Arguments
    ---------
    enhance : callable
        Maps a ``(time,)`` waveform to a ``(time,)`` enhanced waveform.
    blocks : iterable of torch.Tensor
        The input signal, ``(time,)`` blocks of any sizes, in order.
    chunk_samples : int
        Output samples per chunk (> 0).
    context_samples : int
        Past input samples fed before each chunk (>= 0).
    lookahead_samples : int
        Future input samples fed after each chunk (>= 0).
    crossfade_samples : int
        Cross-fade length, at most ``chunk_samples``.
    hop_samples : int
        Alignment of chunk boundaries (the model's STFT hop).

    Yields
    ------
    torch.Tensor
        Consecutive pieces of the enhanced signal, ``(time,)``; together as
        long as the input.

    Example
    -------
    >>> wav = torch.randn(1000)
    >>> pieces = enhance_stream(lambda x: 2 * x, wav.split(128), 300, 50, 0, 20, hop_samples=100)
    >>> [p.shape[0] for p in pieces]
    [400, 300, 300]
    """
    if chunk_samples <= 0 or context_samples < 0 or lookahead_samples < 0 or hop_samples <= 0:
        raise ValueError(
            "expected chunk_samples > 0, context_samples >= 0, lookahead_samples >= 0 and "
            f"hop_samples > 0, got {chunk_samples}, {context_samples}, {lookahead_samples}, {hop_samples}."
        )
    chunk = _round_up(chunk_samples, hop_samples)
    context = _round_up(context_samples, hop_samples)
    if not 0 <= crossfade_samples <= chunk:
        raise ValueError(f"crossfade_samples must be in [0, {chunk}], got {crossfade_samples}.")
    blocks = iter(blocks)
    buffer, offset = None, 0  # buffer holds the input samples [offset, offset + len(buffer))
    start, tail, ended = 0, None, False
    while True:
        size = chunk if start else chunk + context  # output samples of this chunk
        # Enough input for this chunk, and one sample more to know that it is not the last.
        needed = start + size + crossfade_samples + lookahead_samples
        while not ended and (buffer is None or offset + buffer.shape[0] <= needed):
            block = next(blocks, None)
            ended = block is None
            if not ended:
                buffer = block if buffer is None else torch.cat([buffer, block])
        available = 0 if buffer is None else offset + buffer.shape[0]
        if start >= available:
            return
        end = min(start + size + crossfade_samples, available)
        first, last = max(start - context, 0), min(end + lookahead_samples, available)
        piece = enhance(buffer[first - offset : last - offset])[start - first : end - first]
        is_last = ended and start + size >= available
        weight = torch.ones_like(piece)
        fade_in = (torch.arange(crossfade_samples, device=piece.device) + 0.5) / crossfade_samples
        if start > 0:
            ramp = fade_in[: piece.shape[0]]
            weight[: ramp.shape[0]] = ramp
        if not is_last:
            weight[size:] = 1.0 - fade_in[: end - start - size]
        out = weight * piece
        if tail is not None:
            out[: tail.shape[0]] += tail
        if is_last:
            yield out
            return
        yield out[:size]
        tail = out[size:]
        start += size
        keep = max(start - context, 0)
        buffer, offset = buffer[keep - offset :], keep


def check_chunking(chunk_seconds, context_seconds, crossfade_seconds):
    """Raises ``ValueError`` unless chunks of these lengths (seconds) can be enhanced.

    Each must be a number (not a string or a bool): the chunk a finite
    length > 0, the context finite and >= 0, and the cross-fade between
    chunks no longer than a chunk.

    Example
    -------
    >>> check_chunking(10.0, 2.0, 0.05)
    >>> check_chunking(0.001, 2.0, 0.05)
    Traceback (most recent call last):
    ...
    ValueError: expected finite chunk_seconds > 0, context_seconds >= 0 and 0 <= crossfade_seconds <= chunk_seconds,
    got (0.001, 2.0, 0.05).
    """
    values = (chunk_seconds, context_seconds, crossfade_seconds)
    real = all(isinstance(value, numbers.Real) and not isinstance(value, bool) for value in values)
    if not (
        real
        and 0 < chunk_seconds < math.inf
        and 0 <= context_seconds < math.inf
        and 0 <= crossfade_seconds <= chunk_seconds
    ):
        raise ValueError(
            "expected finite chunk_seconds > 0, context_seconds >= 0 and 0 <= crossfade_seconds <= chunk_seconds, "
            f"got {values}."
        )


def _round_up(value, multiple):
    return -(-value // multiple) * multiple
