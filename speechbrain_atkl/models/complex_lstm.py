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
    >>> lstm(torch.randn(3, 10, 64)).shape
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

    def forward(self, x):
        """Runs the LSTM over all frames, from zero states.

        Arguments
        ---------
        x : torch.Tensor
            Input, shape ``(batch, frames, input_size)``, real half first.

        Returns
        -------
        torch.Tensor
            Shape ``(batch, frames, hidden_size or projection_size)``.
        """
        batch = x.shape[0]
        for lstm_r, lstm_i in zip(self.real, self.imag):
            # Run each real LSTM once on the real and imaginary inputs stacked on batch.
            both = torch.cat(split_complex(x, dim=-1), 0)
            out_r, out_i = lstm_r(both)[0], lstm_i(both)[0]
            r2r, i2r = out_r[:batch], out_r[batch:]
            r2i, i2i = out_i[:batch], out_i[batch:]
            x = torch.cat([r2r - i2i, i2r + r2i], -1)
        if self.projection is not None:
            real, imag = split_complex(x, dim=-1)
            x = torch.cat([self.projection[0](real), self.projection[1](imag)], -1)
        return x
