"""Chunks of any size in, chunks of the same size out, for a step function that works hop by hop.

:class:`HopStreamer` is the stream bookkeeping shared by the PyTorch
(:class:`~speechbrain_atkl.streaming.enhancer.StreamingEnhancer`) and ONNX
(:class:`~speechbrain_atkl.streaming.onnx_stream.OnnxStreamingEnhancer`)
streaming enhancers: input buffering, output delay, the end of a stream, and
rejecting a chunk without touching the stream's state.

Authors
 * speechbrain-atkl developers 2026
"""

import numpy as np
import torch

from speechbrain_atkl.data.audio import float_samples


class HopStreamer:
    """Turns a hop-by-hop step function into a stream of chunks of any size.

    Subclasses provide :meth:`_start` (fresh state for a batch size) and
    :meth:`_step` (one hop in, one hop out and whether that hop's output and
    new state are all finite, see
    :class:`~speechbrain_atkl.streaming.checked_step.CheckedStep`). This
    class buffers input samples until a hop is complete, discards the output
    positions before the signal, and delays the output by
    :attr:`latency_samples` so that every call returns as many samples as it
    receives.

    Arguments
    ---------
    hop_length, win_length : int
        STFT hop and window (samples).
    lookahead_frames : int
        Frames the network looks ahead.
    sample_rate : int
        Sampling rate (Hz), for :attr:`latency_ms`.

    Example
    -------
    >>> streamer = HopStreamer(hop_length=100, win_length=400, lookahead_frames=6, sample_rate=16000)
    >>> streamer.latency_samples, streamer.latency_ms
    (999, 62.4375)
    """

    def __init__(self, hop_length, win_length, lookahead_frames, sample_rate):
        self.hop_length = hop_length
        self.win_length = win_length
        self.lookahead_frames = lookahead_frames
        self.sample_rate = sample_rate
        self.reset()

    @property
    def latency_samples(self):
        """Output sample ``n + latency_samples`` of the stream is enhanced input sample ``n``."""
        return self.win_length - 1 + self.lookahead_frames * self.hop_length

    @property
    def latency_ms(self):
        """:attr:`latency_samples` in milliseconds (algorithmic latency, compute time excluded)."""
        return 1000.0 * self.latency_samples / self.sample_rate

    def reset(self):
        """Forgets the current stream; the next chunk starts a new one."""
        self._shape = None  # (batch, ndim) of the stream's chunks
        self._pending = None  # input samples not yet forming a full hop
        self._ready = None  # output samples computed but not yet returned
        self._samples_in = 0
        self._steps = 0
        self._finite = True  # whether every hop since the last check gave finite values
        # Computed output positions before the first sample of the signal.
        self._before_signal = self.lookahead_frames * self.hop_length + self.win_length - self.hop_length

    def process(self, chunk):
        """Enhances the next samples of the stream.

        Arguments
        ---------
        chunk : torch.Tensor or numpy.ndarray
            ``(time,)`` or ``(batch, time)``, any ``time`` (zero included),
            floating-point samples in [-1, 1] (integer PCM is refused with a
            ``TypeError``: scale it first); every chunk of a stream must have
            the same batch size (at least 1).

        Returns
        -------
        torch.Tensor
            As many samples as ``chunk``, same shape: the enhanced stream
            delayed by :attr:`latency_samples` (zeros at first).

        Raises
        ------
        ValueError
            If ``chunk`` holds NaN or infinite samples, or is so extreme
            (e.g. 3e38) that enhancing it overflows. The chunk is rejected and
            the stream's state is left as it was before the call, so the stream
            goes on cleanly with the next chunk (send zeros in its place to
            keep the timing). Also for a chunk of another shape than the
            stream's, or of batch size 0.
        TypeError
            If ``chunk`` holds integer samples; the stream is unchanged.
        """
        chunk = self._check(chunk)
        saved = dict(self.__dict__)  # every step replaces these objects, never mutates them
        try:
            self._pending = torch.cat([self._pending, chunk], 1) if self._pending.shape[1] else chunk
            self._samples_in += chunk.shape[1]
            full = self._pending.shape[1] // self.hop_length * self.hop_length
            for start in range(0, full, self.hop_length):
                self._run(self._pending[:, start : start + self.hop_length], valid=1.0)
            self._pending = self._pending[:, full:]
        except BaseException:  # e.g. an interrupt: the stream stays as it was before the call
            self.__dict__.update(saved)
            raise
        # The hops of this call checked their outputs and new state: together, all that changed.
        finite, self._finite = self._finite, True
        if not finite:
            self.__dict__.update(saved)
            raise ValueError(
                f"enhancing this chunk (peak {chunk.abs().max().item():.3g}) produced NaN or infinite "
                "values: chunk rejected, the stream state is unchanged."
            )
        return self._emit(chunk.shape[1])

    def flush(self):
        """Ends the stream: returns its last :attr:`latency_samples` samples and resets.

        Returns
        -------
        torch.Tensor
            ``(latency_samples,)`` or ``(batch, latency_samples)`` (no samples
            if the stream was empty), so that all outputs concatenated are
            ``latency_samples`` zeros followed by the offline output.
        """
        if self._shape is None:
            return torch.zeros(0)
        if self._samples_in == 0:
            out = self._emit(0)
        else:
            # The offline STFT covers the last sample with zero-padded frames;
            # then the look-ahead decoder blocks see zeros past the end.
            left_pad = self.win_length - self.hop_length
            frames = (left_pad + self._samples_in - 1) // self.hop_length + 1
            silence = self._pending.new_zeros(self._pending.shape[0], self.hop_length)
            audio = torch.cat([self._pending, silence], 1)[:, : self.hop_length]
            while self._steps < frames:
                self._run(audio, valid=1.0)
                audio = silence
            for _ in range(self.lookahead_frames):
                self._run(silence, valid=0.0)
            out = self._emit(self.latency_samples)
        self.reset()
        return out

    def _check(self, chunk):
        chunk = float_samples(chunk, "chunk").detach()  # streaming computes no gradients
        if chunk.dim() not in (1, 2) or (chunk.dim() == 2 and chunk.shape[0] == 0):
            raise ValueError(
                f"expected a chunk of shape (time,) or (batch, time) with batch >= 1, got {tuple(chunk.shape)}: "
                "chunk rejected, the stream state is unchanged."
            )
        on_cpu = chunk.device.type == "cpu"  # numpy checks a small chunk faster than torch
        if not (np.isfinite(chunk.numpy()).all() if on_cpu else torch.isfinite(chunk).all()):
            raise ValueError("the chunk holds NaN or infinite samples: chunk rejected, the stream state is unchanged.")
        shape = (chunk.shape[0] if chunk.dim() == 2 else 1, chunk.dim())
        if self._shape is None:
            self._start(shape[0])  # first: it may refuse the batch size
            self._shape = shape
            self._pending = chunk.new_zeros(shape[0], 0)
            self._ready = chunk.new_zeros(shape[0], self.hop_length - 1)
        elif shape != self._shape:
            raise ValueError(
                f"chunk of shape {tuple(chunk.shape)} does not continue the stream of "
                f"{'(time,)' if self._shape[1] == 1 else f'({self._shape[0]}, time)'} chunks; "
                "call reset() or flush() to start another stream."
            )
        return chunk.reshape(shape[0], -1)

    def _run(self, audio, valid):
        out, finite = self._step(audio, valid)
        self._finite = self._finite and bool(finite)
        silenced = min(self._before_signal, self.hop_length)
        if silenced:
            out = torch.cat([out.new_zeros(out.shape[0], silenced), out[:, silenced:]], 1)
            self._before_signal -= silenced
        self._ready = torch.cat([self._ready, out], 1)
        self._steps += 1

    def _emit(self, count):
        out, self._ready = self._ready[:, :count], self._ready[:, count:]
        return out[0] if self._shape[1] == 1 else out

    def _start(self, batch_size):
        raise NotImplementedError

    def _step(self, audio, valid):
        raise NotImplementedError
