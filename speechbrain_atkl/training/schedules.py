"""Learning-rate schedules stepped after every optimiser step.

:class:`WarmupCosineLR` warms the rate up linearly, then follows a half cosine
down to a floor over a planned number of steps. The Brains step a scheduler
after every optimiser step when it has ``per_step = True`` (and once per
epoch otherwise).

Authors
 * speechbrain-atkl developers 2026
"""

import math

import torch

#: Settings that come from the YAML, never from a checkpoint: a resumed run
#: given more steps stretches its cosine instead of ending it early.
CONFIG_KEYS = ("total_steps", "warmup_steps", "final_ratio")


class WarmupCosineLR(torch.optim.lr_scheduler.LRScheduler):
    """Linear warm-up, then a half cosine from the optimiser's rate to ``final_ratio`` of it.

    Step ``t`` (counted from 0) trains at ``lr * (t + 1) / warmup_steps``
    while ``t < warmup_steps``, then at
    ``lr * (final_ratio + (1 - final_ratio) * (1 + cos(pi * p)) / 2)`` with
    ``p = (t - warmup_steps) / (total_steps - warmup_steps - 1)``: the last
    planned step trains at the floor, and so does any step past the end.

    Arguments
    ---------
    optimizer : torch.optim.Optimizer
        Its rates at construction are the peak rates.
    total_steps : int
        Planned optimiser steps, warm-up included.
    warmup_steps : int
        Steps of linear warm-up.
    final_ratio : float
        The last rate as a fraction of the peak, in ``[0, 1]``.

    Example
    -------
    >>> optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> scheduler = WarmupCosineLR(optimizer, total_steps=6, warmup_steps=2, final_ratio=0.0)
    >>> rates = [optimizer.param_groups[0]["lr"]]
    >>> for _ in range(6):
    ...     optimizer.step(); scheduler.step(); rates.append(optimizer.param_groups[0]["lr"])
    >>> [round(rate, 3) for rate in rates]
    [0.5, 1.0, 1.0, 0.75, 0.25, 0.0, 0.0]
    """

    per_step = True

    def __init__(self, optimizer, total_steps, warmup_steps=0, final_ratio=0.01, last_epoch=-1):
        if int(total_steps) < 1 or not 0 <= int(warmup_steps) < int(total_steps):
            raise ValueError(
                f"WarmupCosineLR: need total_steps >= 1 and 0 <= warmup_steps < total_steps, "
                f"got total_steps={total_steps}, warmup_steps={warmup_steps}."
            )
        if not 0.0 <= float(final_ratio) <= 1.0:
            raise ValueError(f"WarmupCosineLR: final_ratio must be in [0, 1], got {final_ratio}.")
        self.total_steps, self.warmup_steps = int(total_steps), int(warmup_steps)
        self.final_ratio = float(final_ratio)
        super().__init__(optimizer, last_epoch)

    def factor(self, step):
        """The rate of step ``step`` (from 0) as a fraction of the peak."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps - 1))
        return self.final_ratio + (1.0 - self.final_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def get_lr(self):
        """The rates of the current step (``last_epoch`` counts the steps taken)."""
        return [base * self.factor(self.last_epoch) for base in self.base_lrs]

    def state_dict(self):
        """The scheduler's progress, without the planned length (see :data:`CONFIG_KEYS`)."""
        return {key: value for key, value in super().state_dict().items() if key not in CONFIG_KEYS}
