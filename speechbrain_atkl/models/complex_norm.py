"""Complex batch normalisation: whitening of each complex channel.

Same storage convention as :mod:`~speechbrain_atkl.models.complex_nn`: a map
with ``C`` complex channels is a real tensor ``(batch, 2 * C, freq, frames)``,
real parts first. DCCRN (``norm="complex_batch"``) and the Uformer use it.

Authors
 * speechbrain-atkl developers 2026
"""

import torch
from torch import nn

from speechbrain_atkl.models.complex_nn import _half, split_complex


class ComplexBatchNorm2d(nn.Module):
    """Complex batch normalisation (whitening of each complex channel).

    Each complex channel is centred and multiplied by the inverse square root
    of its 2x2 real/imaginary covariance, then scaled by a learnt 2x2 matrix
    and shifted by a learnt complex bias (Trabelsi et al., 2018).

    Arguments
    ---------
    channels : int
        Channels, real and imaginary together.
    momentum : float
        Running-statistics momentum.
    eps : float
        Added to the covariance diagonal.

    Example
    -------
    >>> norm = ComplexBatchNorm2d(8)
    >>> out = norm(torch.randn(4, 8, 16, 10) * 3 + 1)
    >>> out.shape, abs(out.mean().item()) < 1e-4
    (torch.Size([4, 8, 16, 10]), True)
    """

    def __init__(self, channels, momentum=0.1, eps=1e-5):
        super().__init__()
        half = _half(channels, "channels")
        self.momentum = momentum
        self.eps = eps
        self.weight = nn.Parameter(torch.tensor([2**-0.5, 0.0, 2**-0.5]).repeat(half, 1))
        self.bias = nn.Parameter(torch.zeros(2, half))
        self.register_buffer("running_mean", torch.zeros(2, half))
        self.register_buffer("running_cov", torch.tensor([1.0, 0.0, 1.0]).repeat(half, 1))

    def forward(self, x):
        """Normalises ``x`` of shape ``(batch, channels, freq, frames)``.

        Statistics and whitening run in float32 (under bf16/fp16 autocast the
        2x2 inverse square root loses precision and the running statistics are
        float32); the output is float32.
        """
        real, imag = split_complex(x.float())
        if self.training:
            dims = (0, 2, 3)
            mean = torch.stack([real.mean(dims), imag.mean(dims)])
            cr = real - mean[0][:, None, None]
            ci = imag - mean[1][:, None, None]
            cov = torch.stack([(cr * cr).mean(dims), (cr * ci).mean(dims), (ci * ci).mean(dims)], 1)
            with torch.no_grad():
                self.running_mean.lerp_(mean, self.momentum)
                self.running_cov.lerp_(cov, self.momentum)
        else:
            mean, cov = self.running_mean, self.running_cov
            cr = real - mean[0][:, None, None]
            ci = imag - mean[1][:, None, None]
        vrr = cov[:, 0] + self.eps
        vri = cov[:, 1]
        vii = cov[:, 2] + self.eps
        # Inverse square root of [[vrr, vri], [vri, vii]] in closed form.
        det = (vrr * vii - vri**2).clamp_min(self.eps**2)
        s = det.sqrt()
        t = (vrr + vii + 2 * s).sqrt()
        inv = 1.0 / (s * t)
        wrr, wri, wii = (vii + s) * inv, -vri * inv, (vrr + s) * inv
        view = (slice(None), None, None)
        nr = wrr[view] * cr + wri[view] * ci
        ni = wri[view] * cr + wii[view] * ci
        grr, gri, gii = (self.weight[:, i][view] for i in range(3))
        out_r = grr * nr + gri * ni + self.bias[0][view]
        out_i = gri * nr + gii * ni + self.bias[1][view]
        return torch.cat([out_r, out_i], 1)
