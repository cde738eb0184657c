"""Complex LSTM: two real LSTMs per layer combined like a complex product.

Same storage convention as :mod:`~speechbrain_atkl.models.complex_nn`: the
feature axis holds the real parts, then the imaginary parts.

Authors
 * speechbrain-atkl developers 2026
"""

import torch
from torch import nn

from speechbrain_atkl.models.complex_nn import _half, split_complex


class ComplexLSTM(nn.Module):
    """Stacked complex LSTM built from two real LSTMs per layer.

    Layer ``l`` runs ``Lr`` and ``Li`` (real LSTMs) on the real and imaginary
    inputs and combines them like a complex product:
    ``real = Lr(xr) - Li(xi)``, ``imag = Lr(xi) + Li(xr)``. An optional complex
    linear projection follows the last layer.

    Arguments
    ---------
    input_size : int
        Input features, real and imaginary together.
    hidden_size : int
        Hidden units, real and imaginary together.
    num_layers : int
        Number of stacked layers.
    projection_size : int or None
        Output features of the final complex linear layer (real and imaginary
        together), or None for no projection.

    Example
    -------
    >>> lstm = ComplexLSTM(input_size=64, hidden_size=32, num_layers=2, projection_size=64)
    >>> out, state = lstm(torch.randn(3, 10, 64))
    >>> out.shape
    torch.Size([3, 10, 64])
    """

    def __init__(self, input_size, hidden_size, num_layers=2, projection_size=None):
        super().__init__()
        half_in = _half(input_size, "input_size")
        half_hidden = _half(hidden_size, "hidden_size")
        self.real = nn.ModuleList()
        self.imag = nn.ModuleList()
        for layer in range(num_layers):
            size = half_in if layer == 0 else half_hidden
            self.real.append(nn.LSTM(size, half_hidden, batch_first=True))
            self.imag.append(nn.LSTM(size, half_hidden, batch_first=True))
        self.projection = None
        if projection_size is not None:
            half_proj = _half(projection_size, "projection_size")
            self.projection = nn.ModuleList(
                [nn.Linear(half_hidden, half_proj), nn.Linear(half_hidden, half_proj)]
            )

    def forward(self, x, state=None):
        """Runs the LSTM.

        Arguments
        ---------
        x : torch.Tensor
            Input, shape ``(batch, frames, input_size)``, real half first.
        state : list or None
            Per layer, the ``((h, c), (h, c))`` states of the real and imaginary
            LSTMs, as returned by a previous call (for streaming).

        Returns
        -------
        out : torch.Tensor
            Shape ``(batch, frames, hidden_size or projection_size)``.
        state : list
            The final states, to pass to the next call.
        """
        batch = x.shape[0]
        new_state = []
        for layer, (lstm_r, lstm_i) in enumerate(zip(self.real, self.imag)):
            sr, si = (None, None) if state is None else state[layer]
            # Run each real LSTM once on the real and imaginary inputs stacked on batch.
            both = torch.cat(split_complex(x, dim=-1), 0)
            out_r, sr = lstm_r(both, sr)
            out_i, si = lstm_i(both, si)
            r2r, i2r = out_r[:batch], out_r[batch:]
            r2i, i2i = out_i[:batch], out_i[batch:]
            x = torch.cat([r2r - i2i, i2r + r2i], -1)
            new_state.append((sr, si))
        if self.projection is not None:
            real, imag = split_complex(x, dim=-1)
            x = torch.cat([self.projection[0](real), self.projection[1](imag)], -1)
        return x, new_state
