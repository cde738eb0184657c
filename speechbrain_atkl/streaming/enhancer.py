"""Frame-by-frame (streaming) enhancement with the DCCRN family in PyTorch.

Two layers:

* :class:`~speechbrain_atkl.streaming.step.StreamingStep` runs one STFT hop of a
  :class:`~speechbrain_atkl.models.dccrn.DCCRN` as a pure function of explicit state tensors: ``hop_length`` samples in,
  ``hop_length`` samples out. It is what the streaming ONNX graph holds
  (:mod:`speechbrain_atkl.streaming.onnx_stream`).
* :class:`StreamingEnhancer` keeps that state and accepts chunks of any size
  (one sample, one hop, anything), returning as many samples as it receives
  (the buffering is :class:`~speechbrain_atkl.streaming.hop_streamer.HopStreamer`,
  shared with the ONNX streamer).

**Latency.** The stream that comes out is the offline output ``model(wav)``
delayed by :attr:`StreamingEnhancer.latency_samples` ``= win_length - 1 +
lookahead_frames * hop_length`` samples (the model's ``lookahead_samples``):
999 samples, 62.4 ms, for DCCRN's 400/100 STFT with all 6 decoder blocks
looking one frame ahead; 399 samples, 24.9 ms, with ``lookahead=0``. It is the
least possible: enhanced sample ``n`` depends on input samples up to
``n + latency_samples``, and it comes out in the very call that delivers that
input sample. The first ``latency_samples`` output samples are zeros, and
:meth:`StreamingEnhancer.flush` returns the last ``latency_samples`` samples
of the signal, so that ``cat(outputs)[latency_samples:]`` equals ``model(wav)``
(to float rounding). Compute time comes on top.

**Exactness.** Every layer of DCCRN is causal in time or looks a fixed number
of frames ahead, and batch normalisation in eval mode acts on each frame
alone, so keeping per layer the frames it still needs reproduces the offline
computation: the STFT input buffer, the previous input frame of every encoder
and decoder convolution, the LSTM states, the encoder outputs waiting for the
decoder on the skip paths (a decoder that looks ahead is late by one frame per
look-ahead block), the noisy spectrum waiting for its mask, and the
overlap-add buffer. The offline network zero-pads each look-ahead decoder
block past the last frame; streaming reproduces it with a per-frame
``valid`` flag that travels with the frames and zeroes the decoder inputs of
the ``lookahead_frames`` drain steps run by :meth:`StreamingEnhancer.flush`.

Authors
 * speechbrain-atkl developers 2026
"""

import torch

from speechbrain_atkl.streaming.checked_step import CheckedStep
from speechbrain_atkl.streaming.hop_streamer import HopStreamer
from speechbrain_atkl.streaming.step import StreamingStep


class StreamingEnhancer(HopStreamer):
    """Stateful streaming enhancement with a DCCRN-family model in PyTorch.

    Feed chunks of any size to :meth:`process`; each call returns as many
    enhanced samples, delayed by :attr:`latency_samples` (see the module
    docstring). :meth:`flush` returns the rest and resets.

    Arguments
    ---------
    model : speechbrain_atkl.models.dccrn.DCCRN
        In eval mode, on any device (chunks are moved to it, outputs back).
        Its kernels are assembled here: build a new enhancer after changing
        the model's weights.
    atten_lim_db : float or None
        Attenuation limit in dB: every time-frequency bin keeps at least
        ``10 ** (-atten_lim_db / 20)`` of its noisy magnitude, as in
        ``model(wav, atten_lim_db=...)`` (see
        :mod:`~speechbrain_atkl.models.attenuation`); None: no limit.

    Attributes
    ----------
    step : CheckedStep
        The hop it runs: :class:`StreamingStep`'s matrix form, its state as
        separate tensors.

    Example
    -------
    >>> from speechbrain_atkl.models.dccrn import DCCRN
    >>> model = DCCRN(channels=[8] * 6, rnn_units=16).eval()
    >>> streamer = StreamingEnhancer(model)
    >>> streamer.latency_samples, round(streamer.latency_ms, 2)
    (999, 62.44)
    >>> wav = torch.randn(2, 1000)
    >>> outputs = [streamer.process(chunk) for chunk in wav.split(37, dim=1)]
    >>> stream = torch.cat(outputs + [streamer.flush()], dim=1)
    >>> stream.shape
    torch.Size([2, 1999])
    >>> torch.allclose(stream[:, 999:], model(wav), atol=1e-4)
    True
    >>> limited = StreamingEnhancer(model, atten_lim_db=12.0)
    >>> stream = torch.cat([limited.process(wav), limited.flush()], dim=1)
    >>> torch.allclose(stream[:, 999:], model(wav, atten_lim_db=12.0), atol=1e-4)
    True
    """

    def __init__(self, model, atten_lim_db=None):
        self.step = CheckedStep(StreamingStep(model, atten_lim_db=atten_lim_db))
        super().__init__(
            model.stft.hop_length, model.stft.win_length, model.lookahead_frames, model.sample_rate
        )

    def _start(self, batch_size):
        self._state = self.step.initial_state(batch_size)
        self._device = self._state[0].device

    def _step(self, audio, valid):
        with torch.inference_mode():
            valid = torch.full((audio.shape[0],), valid, device=self._device)
            out, finite, *self._state = self.step(audio.to(self._device), valid, *self._state)
        return out.to(audio.device), finite
