"""Frame-by-frame (streaming) enhancement with the DCCRN family.

Two layers:

* :class:`StreamingStep` runs one STFT hop of a :class:`~speechbrain_atkl.models.dccrn.DCCRN`
  as a pure function of explicit state tensors: ``hop_length`` samples in,
  ``hop_length`` samples out. It is what the streaming ONNX graph holds
  (:mod:`speechbrain_atkl.inference.onnx_export`).
* :class:`StreamingEnhancer` keeps that state and accepts chunks of any size
  (one sample, one hop, anything), returning as many samples as it receives
  (the buffering is :class:`~speechbrain_atkl.inference.hop_streamer.HopStreamer`,
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
import torch.nn.functional as F
from torch import nn

from speechbrain_atkl.inference.hop_streamer import HopStreamer, all_finite
from speechbrain_atkl.models.complex_nn import complex_cat
from speechbrain_atkl.models.complex_streaming import (
    conv_step,
    conv_transpose_step,
    fold_batch_norm,
    lstm_layer_weights,
    lstm_step,
    lstm_step_weights,
)
from speechbrain_atkl.models.dccrn import DCCRN
from speechbrain_atkl.models.dccrn_blocks import apply_mask


class StreamingStep(nn.Module):
    """One STFT hop of a DCCRN with its state as explicit tensors.

    Every state tensor has the batch on axis 0 and starts as zeros
    (:meth:`initial_state`); :attr:`state_shapes` lists them in the order
    :meth:`forward` takes and returns them:

    * ``stft_context`` ``(batch, win_length - hop_length)``: the last input samples;
    * ``encoder{i}`` ``(batch, channels, freq, kernel_time - 1)``: the previous
      input frames of encoder block ``i``;
    * ``rnn_h``, ``rnn_c``: LSTM states, ``(batch, layers, units)`` for a real
      LSTM, ``(batch, layers, 2, 2, units / 2)`` for a complex one (axis 2:
      applied to the real or imaginary input; axis 3: the LSTM of the real or
      imaginary weights);
    * ``decoder{j}`` ``(batch, channels, freq, kernel_time - 1)``: the previous
      input frames of decoder block ``j`` (0 is the deepest);
    * ``skip{j}`` ``(batch, lag, channels, freq)``: the encoder outputs waiting
      for decoder block ``j`` (only where that block is ``lag > 0`` frames late);
    * ``spectrum`` ``(batch, lookahead_frames, 2, n_fft // 2 + 1)``: the noisy
      spectrum waiting for its mask, and ``valid_history``
      ``(batch, lookahead_frames)``: the recent ``valid`` flags (both only
      with look-ahead);
    * ``overlap`` ``(batch, win_length - hop_length)``: overlap-add partial sums.

    Step ``s`` reads input samples ``[s * hop, (s + 1) * hop)`` and returns the
    enhanced samples ``[(s - lookahead_frames) * hop - (win_length - hop),
    ... + hop)`` of the offline output (negative positions are before the
    signal: discard them).

    Arguments
    ---------
    model : speechbrain_atkl.models.dccrn.DCCRN
        In eval mode (batch normalisation must use its running statistics).
        The convolution kernels are assembled once, here: build a new step
        after changing the model's weights.
    matrix_steps : bool
        Run each (transposed) convolution's one-frame step as one gather and
        one matrix product, batch normalisation folded in
        (:mod:`~speechbrain_atkl.models.complex_streaming`): the fast form in
        PyTorch. False runs the layers' one-frame convolutions
        (:meth:`~speechbrain_atkl.models.complex_nn.ComplexConv2d.step`): the
        form onnxruntime runs faster, used for the ONNX graph, and the
        reference of ``benchmarks/streaming_onnx.py``. Same outputs to float
        rounding.

    Example
    -------
    >>> from speechbrain_atkl.models.dccrn import DCCRN
    >>> step = StreamingStep(DCCRN(channels=[8] * 6, rnn_units=16).eval())
    >>> state = step.initial_state(batch_size=2)
    >>> out, *state = step(torch.randn(2, 100), torch.ones(2), *state)
    >>> out.shape, len(state) == len(step.state_shapes)
    (torch.Size([2, 100]), True)
    """

    def __init__(self, model, matrix_steps=True):
        super().__init__()
        if not isinstance(model, DCCRN):
            raise TypeError(f"streaming needs a DCCRN-family model, got {type(model).__name__}.")
        if model.training:
            raise ValueError("streaming needs the model in eval mode: call model.eval() first.")
        self.model = model
        stft = model.stft
        self.hop_length = stft.hop_length
        self.win_length = stft.win_length
        self.lookahead_frames = model.lookahead_frames
        self.sample_rate = model.sample_rate
        context = model.config["kernel_size"][1] - 1

        # How many frames each decoder block's input lags behind the encoder.
        self.decoder_lags = []
        lag = 0
        for block in model.decoder:
            self.decoder_lags.append(lag)
            lag += context if block.conv.lookahead else 0

        self.register_buffer("analysis", stft.analysis[:, 0].T.clone(), persistent=False)
        self.register_buffer("synthesis", stft.synthesis[:, 0].clone(), persistent=False)
        # Overlap-add divides by the window-square envelope, periodic in the hop.
        window_sq = F.pad(stft.window_sq[0, 0], (0, -self.win_length % self.hop_length))
        envelope = window_sq.view(-1, self.hop_length).sum(0)
        self.register_buffer("inverse_envelope", 1.0 / envelope.clamp_min(1e-8), persistent=False)
        self.state_shapes = self._state_shapes(model, context)
        self._kernel_parts = {}
        # Kernels are assembled once, here. With matrix steps each layer's step is one gather
        # and one matrix product, batch normalisation folded in (`_norms` keeps those that do
        # not fold: the complex one); otherwise the layers' one-frame convolutions.
        self.matrix_steps = matrix_steps
        self._norms, self._steps = {}, {}
        with torch.no_grad():
            for part, matrix_step in (("encoder", conv_step), ("decoder", conv_transpose_step)):
                for i, block in enumerate(getattr(model, part)):
                    name = f"{part}{i}"
                    if matrix_steps:
                        matrix, scale, shift, *geometry = block.conv.step_matrix(self.state_shapes[name][1])
                        scale, shift, self._norms[name] = fold_batch_norm(scale, shift, block.norm)
                        self._register(name, (matrix, scale, shift, *geometry))
                        self._steps[name] = matrix_step
                    else:
                        self._norms[name] = block.norm
                        self._register(name, block.conv.step_kernel())
                        self._steps[name] = block.conv.step
            self._register_rnn(model.bottleneck)

    def _register_rnn(self, bottleneck):
        if bottleneck.rnn_type == "real":
            lstm = bottleneck.lstm
            layers = [lstm_layer_weights(lstm, layer) for layer in range(lstm.num_layers)]
            projection = (bottleneck.projection.weight.T, bottleneck.projection.bias)
        else:
            lstm = bottleneck.lstm
            layers = [lstm_step_weights(pair) for pair in zip(lstm.real, lstm.imag)]
            # The real and imaginary projections as one block-diagonal matrix.
            real, imag = lstm.projection
            projection = (torch.block_diag(real.weight.T, imag.weight.T), torch.cat([real.bias, imag.bias]))
        for layer, weights in enumerate(layers):
            self._register(f"rnn{layer}", weights)
        self._register("projection", projection)
        self.rnn_layers = len(layers)

    def _register(self, name, kernel):
        # The tensors of a kernel become (non-persistent) buffers, to follow the module's device.
        parts = []
        for k, part in enumerate(kernel):
            if isinstance(part, torch.Tensor):
                self.register_buffer(f"{name}_{k}", part.detach().clone(), persistent=False)
                part = f"{name}_{k}"
            parts.append(part)
        self._kernel_parts[name] = parts

    def _kernel(self, name):
        return tuple(getattr(self, p) if isinstance(p, str) else p for p in self._kernel_parts[name])

    def _state_shapes(self, model, context):
        cfg = model.config
        widths = [2] + list(cfg["channels"])
        bins = cfg["n_fft"] // 2
        shapes = {"stft_context": (self.win_length - self.hop_length,)}
        for i in range(len(model.encoder)):
            shapes[f"encoder{i}"] = (widths[i], bins >> i, context)
        layers, units = cfg["rnn_layers"], cfg["rnn_units"]
        rnn = (layers, units) if cfg["rnn_type"] == "real" else (layers, 2, 2, units // 2)
        shapes["rnn_h"] = shapes["rnn_c"] = rnn
        depth = len(model.decoder)
        for j, lag in enumerate(self.decoder_lags):
            level = depth - 1 - j  # the encoder block whose output is skipped to decoder j
            shapes[f"decoder{j}"] = (2 * widths[level + 1], bins >> (level + 1), context)
            if lag:
                shapes[f"skip{j}"] = (lag, widths[level + 1], bins >> (level + 1))
        if self.lookahead_frames:
            shapes["spectrum"] = (self.lookahead_frames, 2, bins + 1)
            shapes["valid_history"] = (self.lookahead_frames,)
        shapes["overlap"] = (self.win_length - self.hop_length,)
        return shapes

    @property
    def state_names(self):
        """Names of the state tensors, in :meth:`forward`'s order."""
        return list(self.state_shapes)

    def initial_state(self, batch_size):
        """Zero state tensors for ``batch_size`` streams, in :attr:`state_names` order."""
        like = self.analysis
        return [like.new_zeros(batch_size, *shape) for shape in self.state_shapes.values()]

    def forward(self, audio, valid, *state):
        """Enhances one hop.

        Arguments
        ---------
        audio : torch.Tensor
            The next ``hop_length`` input samples, ``(batch, hop_length)``.
        valid : torch.Tensor
            ``(batch,)``: 1 for a frame of the signal (the trailing frames
            that are partly or wholly zero padding included), 0 for the
            ``lookahead_frames`` drain steps after it.
        *state : torch.Tensor
            The state tensors, in :attr:`state_names` order.

        Returns
        -------
        enhanced : torch.Tensor
            ``(batch, hop_length)`` completed output samples.
        *state : torch.Tensor
            The updated state tensors.
        """
        old = dict(zip(self.state_names, state))
        new = {}

        def advance(name, value):
            # Moves the history `name` on by `value` (frames on the last axis); returns the old one.
            history = old[name]
            if history.shape[-1] == value.shape[-1]:
                new[name] = value
            else:
                new[name] = torch.cat([history, value], -1)[..., value.shape[-1] :]
            return history

        def delay(name, value, frames):
            # `value` (batch, ..., 1) as it was `frames` steps ago (itself for 0). The history
            # `name` (batch, frames, ...) keeps the frames on axis 1: moving on copies blocks.
            if not frames:
                return value
            history = old[name]
            new[name] = torch.cat([history[:, 1:], value.unsqueeze(1).squeeze(-1)], 1)
            return history[:, 0].unsqueeze(-1)

        def window(name, value):
            # The history `name` followed by `value`; the history moves on.
            return torch.cat([advance(name, value), value], -1)

        model = self.model
        frame = window("stft_context", audio) @ self.analysis
        spectrum = frame.unflatten(1, (2, -1))[..., None]  # (batch, 2, bins + 1, 1)

        x = spectrum[:, :, 1:]  # the DC bin is dropped
        skips = []
        for i, block in enumerate(model.encoder):
            x = self._block_step(block, f"encoder{i}", x, advance)
            skips.append(x)

        x, new["rnn_h"], new["rnn_c"] = self._rnn_step(x, old["rnn_h"], old["rnn_c"])

        flags = window("valid_history", valid[:, None]) if self.lookahead_frames else valid[:, None]
        last = flags.shape[1] - 1
        for j, (block, skip, lag) in enumerate(zip(model.decoder, reversed(skips), self.decoder_lags)):
            skip = delay(f"skip{j}", skip, lag)  # the encoder frame `lag` steps back
            frame_valid = flags[:, last - lag].view(-1, 1, 1, 1)
            x = self._block_step(block, f"decoder{j}", complex_cat([x, skip]) * frame_valid, advance)

        noisy = delay("spectrum", spectrum, self.lookahead_frames)  # the frame this mask belongs to
        mask = F.pad(x, (0, 0, 1, 0))  # zero mask for the DC bin
        enhanced = apply_mask(noisy, mask, model.masking_mode).flatten(1) @ self.synthesis
        overlap = enhanced + F.pad(old["overlap"], (0, self.hop_length))
        new["overlap"] = overlap[:, self.hop_length :]
        out = overlap[:, : self.hop_length] * self.inverse_envelope
        return (out, *(new[name] for name in self.state_names))

    def _block_step(self, block, name, frame, advance):
        # An encoder or decoder block's step on its newest input frame: its convolution over the
        # history `name` and the frame (the history moves on), the norm left to apply, PReLU.
        history = advance(name, frame)
        if self.matrix_steps:
            out = self._steps[name](history, frame, self._kernel(name))
        else:
            out = self._steps[name](torch.cat([history, frame], -1), self._kernel(name))
        return block.activation(self._norms[name](out))

    def _rnn_step(self, x, h, c):
        # The bottleneck for one frame (batch, channels, freq, 1); see RecurrentBottleneck.forward:
        # both LSTM kinds read the frame flattened channel-major, real half first. (Batch sizes
        # are written -1, so that the ONNX graph keeps them dynamic.)
        seq = x.flatten(1)
        new_h, new_c = [], []
        for layer in range(self.rnn_layers):
            weights = self._kernel(f"rnn{layer}")
            if h.dim() == 3:  # a real LSTM: (batch, layers, units)
                h_l, c_l = lstm_step(seq, h[:, layer, None], c[:, layer, None], weights)
                seq = h_l[:, 0]
            else:
                # ComplexLSTM: the real- and imaginary-weight LSTMs Lr, Li each read the real
                # and imaginary input: rows (batch, input part), the two LSTMs side by side.
                h_l, c_l = (t[:, layer].flatten(0, 1) for t in (h, c))
                h_l, c_l = lstm_step(seq.view(h_l.shape[0], -1), h_l, c_l, weights)
                # Complex product: real = Lr(xr) - Li(xi), imag = Lr(xi) + Li(xr).
                out = h_l.view(-1, 4, h_l.shape[2])  # Lr(xr), Li(xr), Lr(xi), Li(xi)
                seq = torch.cat([out[:, 0] - out[:, 3], out[:, 2] + out[:, 1]], -1)
                h_l, c_l = (t.view(-1, 1, 2, 2, t.shape[2]) for t in (h_l, c_l))
            new_h.append(h_l)
            new_c.append(c_l)
        matrix, bias = self._kernel("projection")
        out = torch.addmm(bias, seq, matrix).view(-1, *x.shape[1:])
        return out, torch.cat(new_h, 1), torch.cat(new_c, 1)


class CheckedStep(nn.Module):
    """A :class:`StreamingStep` that also tells whether its output and new state are all finite.

    One reduction over every value the hop produced (fused into the step
    when compiled), in place of a pass over the whole state after it.

    Arguments
    ---------
    step : StreamingStep
        The hop to run.

    Example
    -------
    >>> from speechbrain_atkl.models.dccrn import DCCRN
    >>> step = StreamingStep(DCCRN(channels=[8] * 6, rnn_units=16).eval())
    >>> state = step.initial_state(batch_size=1)
    >>> out, finite, *state = CheckedStep(step)(torch.randn(1, 100), torch.ones(1), *state)
    >>> bool(finite), out.shape
    (True, torch.Size([1, 100]))
    """

    def __init__(self, step):
        super().__init__()
        self.step = step

    def forward(self, audio, valid, *state):
        """``(out, finite, *state)``: :meth:`StreamingStep.forward`'s results and a 0-d bool tensor."""
        out, *state = self.step(audio, valid, *state)
        return (out, all_finite([out, *state]), *state)


class StreamingEnhancer(HopStreamer):
    """Stateful streaming enhancement with a DCCRN-family model in PyTorch.

    Feed chunks of any size to :meth:`process`; each call returns as many
    enhanced samples, delayed by :attr:`latency_samples` (see the module
    docstring). :meth:`flush` returns the rest and resets.

    Arguments
    ---------
    model : speechbrain_atkl.models.dccrn.DCCRN
        In eval mode, on any device (chunks are moved to it, outputs back).
    matrix_steps : bool
        See :class:`StreamingStep` (True: the fast form).
    compile : bool
        Run the hop through ``torch.compile`` (SpeechBrain's ``compile``
        switch): about half the CPU time per hop of the eager step, after a
        one-off compilation of about a minute on a 2-core CPU when the first
        chunk arrives (``benchmarks/streaming_onnx.py`` measures both). Needs
        the inductor backend's C++ compiler. Outputs agree with the eager
        step to float rounding.

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
    """

    def __init__(self, model, matrix_steps=True, compile=False):
        self.step_module = StreamingStep(model, matrix_steps)
        checked = CheckedStep(self.step_module)
        self._run_step = torch.compile(checked, dynamic=False) if compile else checked
        self.compiled = compile
        super().__init__(
            model.stft.hop_length, model.stft.win_length, model.lookahead_frames, model.sample_rate
        )

    def _start(self, batch_size):
        self._state = self.step_module.initial_state(batch_size)
        self._finite_flags = []

    def _is_finite(self):
        # The hops of this call checked their outputs and new state: together, all that changed.
        flags, self._finite_flags = self._finite_flags, []
        return not flags or bool(torch.stack(flags).all())

    def _step(self, audio, valid):
        device = self.step_module.analysis.device
        with torch.inference_mode():
            valid = torch.full((audio.shape[0],), valid, device=device)
            try:
                out, finite, *self._state = self._run_step(audio.to(device), valid, *self._state)
                self._finite_flags = self._finite_flags + [finite]  # replaced, not mutated: see process
            except Exception as error:
                if not self.compiled:
                    raise
                raise RuntimeError(
                    "StreamingEnhancer(compile=True): the torch.compile'd hop step failed "
                    f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); "
                    "compiling needs the inductor backend's C++ compiler. Use compile=False for the eager step."
                ) from error
        return out.to(audio.device)
