"""One STFT hop of a DCCRN as a pure function of explicit state tensors.

:class:`StreamingStep` is what :class:`~speechbrain_atkl.streaming.enhancer.StreamingEnhancer`
runs per hop and what the streaming ONNX graph holds
(:mod:`~speechbrain_atkl.streaming.onnx_stream`), each through
:class:`~speechbrain_atkl.streaming.checked_step.CheckedStep`. See
:mod:`~speechbrain_atkl.streaming.enhancer` for latency and exactness.

Authors
 * speechbrain-atkl developers 2026
"""

import torch
import torch.nn.functional as F
from torch import nn

from speechbrain_atkl.models.attenuation import attenuation_floor
from speechbrain_atkl.models.dccrn import DCCRN
from speechbrain_atkl.models.dccrn_blocks import apply_mask
from speechbrain_atkl.streaming.frame_steps import (
    conv_frame_step,
    conv_transpose_frame_step_channels,
    fold_batch_norm_into_conv,
    frame_kernel,
)
from speechbrain_atkl.streaming.lstm_steps import lstm_layer_weights, lstm_step, lstm_step_weights
from speechbrain_atkl.streaming.row_steps import fold_batch_norm, matrix_kernel, row_step
from speechbrain_atkl.streaming.step_state import StateUpdate, state_shapes

#: Layers whose 2x2 block matrix has more weights than this run the split form of
#: :func:`~speechbrain_atkl.streaming.row_steps.row_step`.
SPLIT_WEIGHTS = 2**17


def _channel_major_to_rows(channels, freq):
    # Index of each (freq, channel) value, rows-first, in a channel-major (channel, freq) flattening.
    return torch.arange(channels * freq).view(channels, freq).T.flatten()


class StreamingStep(nn.Module):
    """One STFT hop of a DCCRN with its state as explicit tensors.

    Every state tensor has the batch on axis 0 and starts as zeros
    (:meth:`initial_state`); :attr:`state_shapes` lists them in the order
    :meth:`forward` takes and returns them (names, shapes and the frames'
    layout in each form: :mod:`~speechbrain_atkl.streaming.step_state`).

    Step ``s`` reads input samples ``[s * hop, (s + 1) * hop)`` and returns the
    enhanced samples ``[(s - lookahead_frames) * hop - (win_length - hop),
    ... + hop)`` of the offline output (negative positions are before the
    signal: discard them).

    Arguments
    ---------
    model : speechbrain_atkl.models.dccrn.DCCRN
        In eval mode (batch normalisation must use its running statistics).
        The kernels are assembled once, here: build a new step after
        changing the model's weights.
    matrix_steps : bool
        Run each (transposed) convolution's one-frame step as one matrix
        product on rows-first frames, batch normalisation folded in: the
        fast form in PyTorch. False runs the layers' one-frame convolutions
        (:mod:`~speechbrain_atkl.streaming.frame_steps`): the
        form onnxruntime runs faster, used for the ONNX graph. Same outputs
        to float rounding.
    atten_lim_db : float or None
        Attenuation limit in dB, as the model's ``forward`` takes it (the
        same output, delayed); None: no limit.

    Example
    -------
    >>> from speechbrain_atkl.models.dccrn import DCCRN
    >>> step = StreamingStep(DCCRN(channels=[8] * 6, rnn_units=16).eval())
    >>> state = step.initial_state(batch_size=2)
    >>> out, *state = step(torch.randn(2, 100), torch.ones(2), *state)
    >>> out.shape, len(state) == len(step.state_shapes)
    (torch.Size([2, 100]), True)
    """

    def __init__(self, model, matrix_steps=True, atten_lim_db=None):
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
        self.rnn_type = model.config["rnn_type"]
        self.depth = len(model.encoder)
        self.matrix_steps = matrix_steps
        self.floor = attenuation_floor(atten_lim_db)
        self.context = model.config["kernel_size"][1] - 1

        # How many frames each decoder block's input lags behind the encoder.
        self.decoder_lags = []
        lag = 0
        for block in model.decoder:
            self.decoder_lags.append(lag)
            lag += self.context if block.conv.lookahead else 0

        self.n_fft = model.config["n_fft"]
        bins = self.n_fft // 2
        if matrix_steps:  # a real FFT of the windowed frame: the STFT's DFT, fewer operations
            self.register_buffer("window", stft.analysis[0, 0].clone(), persistent=False)
        else:  # the STFT's DFT matrices (the ONNX graph)
            self.register_buffer("analysis", stft.analysis[:, 0].T.clone(), persistent=False)
            self.register_buffer("synthesis", stft.synthesis[:, 0].clone(), persistent=False)
        # Overlap-add divides by the window-square envelope, periodic in the hop.
        window_sq = F.pad(stft.window_sq[0, 0], (0, -self.win_length % self.hop_length))
        envelope = window_sq.view(-1, self.hop_length).sum(0)
        self.register_buffer("inverse_envelope", 1.0 / envelope.clamp_min(1e-8), persistent=False)

        self._kernel_parts = {}
        self._norms = {}  # the norms left to apply (those that do not fold: the complex one)
        self._layer_shapes = {}
        with torch.no_grad():
            self._register_layers(model, bins)
            self._register_rnn(model.bottleneck, model.config["channels"][-1], bins >> len(model.encoder))
        self.state_shapes = state_shapes(model, self._layer_shapes, self.decoder_lags, matrix_steps)
        self._collect_kernels()

    def _register_layers(self, model, bins):
        widths = [2] + list(model.config["channels"])
        for part, blocks in (("encoder", model.encoder), ("decoder", model.decoder)):
            for i, block in enumerate(blocks):
                name = f"{part}{i}"
                level = i if part == "encoder" else len(blocks) - 1 - i
                freq = bins >> (level + (part == "decoder"))
                channels = widths[level] if part == "encoder" else 2 * widths[level + 1]
                if not self.matrix_steps:
                    self._register_convolution(part, name, block, channels, freq)
                    continue
                # The split form reads each weight once: the large layers are memory-bound.
                split = 4 * block.conv.real.weight.numel() > SPLIT_WEIGHTS
                # A decoder block reads torch.cat([x, skip], -1): two sources.
                kernel = matrix_kernel(block.conv, freq, split, sources=1 + (part == "decoder"))
                kernel, self._norms[name] = fold_batch_norm(kernel, block.norm)
                self._register(name, kernel)
                front, back = kernel[-1][:2]
                self._layer_shapes[name] = (self.context, front + freq + back, channels)

    def _register_convolution(self, part, name, block, channels, freq):
        # The one-frame convolution of a block, batch norm folded in. A decoder reads its frames
        # stacked on the channel axis, oldest first, and [x | skip] joined plainly (the weight's
        # input channels reordered from complex_cat's order): no reordering in the graph.
        weight, bias = frame_kernel(block.conv)
        if part == "decoder":  # input channels (part, source, channel) -> (source, part, channel)
            weight = weight.unflatten(0, (-1, 2, 2, channels // 4)).transpose(1, 2).flatten(0, 3)
        out_dim = 1 if part == "decoder" else 0
        kernel, self._norms[name] = fold_batch_norm_into_conv(weight, bias, block.norm, out_dim)
        self._register(name, kernel)
        if part == "decoder":
            self._layer_shapes[name] = (self.context * channels, freq, 1)
        else:
            self._layer_shapes[name] = (channels, freq, self.context)

    def _register_rnn(self, bottleneck, channels, freq):
        # `channels` x `freq`: the last encoder block's output, the LSTM's input.
        if bottleneck.rnn_type == "real":
            lstm = bottleneck.lstm
            layers = [lstm_layer_weights(lstm, layer) for layer in range(lstm.num_layers)]
            projection = (bottleneck.projection.weight.T, bottleneck.projection.bias)
            inputs = channels * freq
        else:
            lstm = bottleneck.lstm
            layers = [lstm_step_weights(pair) for pair in zip(lstm.real, lstm.imag)]
            # The real and imaginary projections as one block-diagonal matrix.
            real, imag = lstm.projection
            projection = (torch.block_diag(real.weight.T, imag.weight.T), torch.cat([real.bias, imag.bias]))
            channels, inputs = channels // 2, channels // 2 * freq  # per part: the rows of the product
        if self.matrix_steps:  # rows-first input and output instead of channel-major
            matrix, bias = layers[0]
            order = _channel_major_to_rows(channels, freq)
            layers[0] = (torch.cat([matrix[:inputs][order], matrix[inputs:]]), bias)
            order = _channel_major_to_rows(projection[0].shape[1] // freq, freq)
            projection = (projection[0][:, order], projection[1][order])
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
        return self._kernels[name]

    def _collect_kernels(self):
        # The kernels as tuples of their buffers, read once per hop without module attribute
        # look-ups (per layer and hop); collected again whenever the buffers move.
        self._kernels = {
            name: tuple(getattr(self, p) if isinstance(p, str) else p for p in parts)
            for name, parts in self._kernel_parts.items()
        }
        # What each block applies after its step: the norm not folded, the PReLU weight.
        self._rest = {}
        for part in ("encoder", "decoder"):
            for i, block in enumerate(getattr(self.model, part)):
                name, activation = f"{part}{i}", block.activation
                if not isinstance(activation, (nn.PReLU, nn.Identity)):
                    raise TypeError(f"{name}: streaming runs PReLU or no activation, got {type(activation).__name__}.")
                norm = None if isinstance(self._norms[name], nn.Identity) else self._norms[name]
                self._rest[name] = (norm, activation.weight if isinstance(activation, nn.PReLU) else None)

    def _apply(self, fn, *args, **kwargs):
        module = super()._apply(fn, *args, **kwargs)
        self._collect_kernels()
        return module

    @property
    def state_names(self):
        """Names of the state tensors, in :meth:`forward`'s order."""
        return list(self.state_shapes)

    def initial_state(self, batch_size):
        """Zero state tensors for ``batch_size`` streams, in :attr:`state_names` order."""
        like = self.inverse_envelope
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
        update = StateUpdate(self.state_names, state)
        frame = update.window("stft_context", audio)
        if self.matrix_steps:
            spectrum = torch.view_as_real(torch.fft.rfft(frame * self.window, self.n_fft))[:, None]
            x = self._rows_network(spectrum[:, :, 1:], valid, update)  # (batch, 1, bins, 2): no DC bin
            noisy = update.delay("spectrum", spectrum, self.lookahead_frames)  # the frame of this mask
            mask = F.pad(x, (0, 0, 1, 0))  # zero mask for the DC bin
            enhanced = apply_mask(noisy.transpose(1, 3), mask.transpose(1, 3), self.model.masking_mode, self.floor)
            enhanced = torch.view_as_complex(enhanced.transpose(1, 3)[:, 0].contiguous())
            enhanced = torch.fft.irfft(enhanced, self.n_fft)[:, : self.win_length] * self.window
        else:
            spectrum = (frame @ self.analysis).view(frame.shape[0], 1, 2, -1)  # (batch, 1, 2, bins + 1)
            x = self._convolution_network(spectrum[:, 0, :, 1:, None], valid, update)
            noisy = update.delay("spectrum", spectrum, self.lookahead_frames)[:, 0, ..., None]
            mask = F.pad(x, (0, 0, 1, 0))  # zero mask for the DC bin
            enhanced = apply_mask(noisy, mask, self.model.masking_mode, self.floor).flatten(1) @ self.synthesis
        overlap = enhanced + F.pad(update.old["overlap"], (0, self.hop_length))
        update.new["overlap"] = overlap[:, self.hop_length :]
        out = overlap[:, : self.hop_length] * self.inverse_envelope
        return (out, *(update.new[name] for name in self.state_names))

    def _valid_flags(self, valid, update):
        # (batch, lookahead + 1) flags, newest last.
        return update.window("valid_history", valid[:, None]) if self.lookahead_frames else valid[:, None]

    def _rows_network(self, x, valid, update):
        # The U-Net on a rows-first frame (batch, 1, bins, 2) -> the mask (batch, 1, bins, 2).
        skips = []
        for i in range(self.depth):
            x = self._rows_block(f"encoder{i}", x, update)
            skips.append(x)
        if self.rnn_type == "real":
            seq = x.flatten(1)
        else:  # the real-part rows, then the imaginary-part rows
            seq = x.unflatten(3, (2, -1)).transpose(2, 3).flatten(1)
        x = self._rnn_step(seq, update).view_as(x)
        flags = self._valid_flags(valid, update)
        flags = flags.view(*flags.shape, 1, 1, 1)
        for j, (skip, lag) in enumerate(zip(reversed(skips), self.decoder_lags)):
            skip = update.delay(f"skip{j}", skip, lag)  # the encoder frame `lag` steps back
            frame = torch.cat([x, skip], -1) * flags[:, flags.shape[1] - 1 - lag]
            x = self._rows_block(f"decoder{j}", frame, update)
        return x

    def _rows_block(self, name, frame, update):
        # A block's matrix step on its newest input frame (batch, 1, freq, channels), the norm
        # left to apply (the complex one, on (batch, channels, freq, 1)), PReLU.
        out, update.new[name] = row_step(update.old[name], frame, self._kernel(name))
        norm, prelu = self._rest[name]
        if norm is not None:
            out = norm(out.transpose(1, 3)).transpose(1, 3)
        return out if prelu is None else torch.prelu(out, prelu)

    def _convolution_network(self, x, valid, update):
        # The U-Net on a frame (batch, 2, bins, 1) -> the mask (batch, 2, bins, 1).
        skips = []
        for i, block in enumerate(self.model.encoder):
            frames = torch.cat([update.old[f"encoder{i}"], x], -1)  # time last
            update.new[f"encoder{i}"] = x if frames.shape[-1] == 2 else frames[..., 1:]
            out = conv_frame_step(block.conv, frames, self._kernel(f"encoder{i}"))
            x = self._convolution_rest(f"encoder{i}", block, out)
            skips.append(x)
        x = self._rnn_step(x.flatten(1), update).view_as(x)
        flags = self._valid_flags(valid, update)
        for j, (block, skip, lag) in enumerate(zip(self.model.decoder, reversed(skips), self.decoder_lags)):
            if lag:  # the encoder frame `lag` steps back
                skip = update.delay(f"skip{j}", skip.squeeze(-1).unsqueeze(1), lag).squeeze(1).unsqueeze(-1)
            frame = torch.cat([x, skip], 1) * flags[:, flags.shape[1] - 1 - lag].view(-1, 1, 1, 1)
            frames = torch.cat([update.old[f"decoder{j}"], frame], 1)  # frames on the channel axis
            update.new[f"decoder{j}"] = frames[:, frame.shape[1] :]
            out = conv_transpose_frame_step_channels(block.conv, frames, self._kernel(f"decoder{j}"))
            x = self._convolution_rest(f"decoder{j}", block, out)
        return x

    def _convolution_rest(self, name, block, out):
        # The norm left to apply (the complex one), then the activation.
        norm = self._norms[name]
        return block.activation(out if isinstance(norm, nn.Identity) else norm(out))

    def _rnn_step(self, seq, update):
        # The bottleneck for one flattened frame (batch, inputs); see RecurrentBottleneck.forward:
        # both LSTM kinds read the frame real half first. (Batch sizes are written -1, so that the
        # ONNX graph keeps them dynamic.)
        h, c = update.old["rnn_h"], update.old["rnn_c"]
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
        update.new["rnn_h"], update.new["rnn_c"] = torch.cat(new_h, 1), torch.cat(new_c, 1)
        matrix, bias = self._kernel("projection")
        return torch.addmm(bias, seq, matrix)
