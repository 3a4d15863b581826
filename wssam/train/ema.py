"""An exponential moving average (EMA) of the network's weights, the network that is validated and kept.

After every optimisation step ``ema = decay * ema + (1 - decay) * weights`` for every parameter and buffer (batch
norm's running statistics included), by ``torch.optim.swa_utils.AveragedModel`` with
``get_ema_multi_avg_fn``. The average of the last ~``1 / (1 - decay)`` steps' weights (100 at 0.99) moves less
with the last few batches than the weights themselves, so the epoch kept and the test scores depend less on the
seed and on the order of floating-point sums. ``decay`` 0 turns it off: the trained weights are validated and kept.
"""

from __future__ import annotations

from typing import Any

from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

EMA_KEY = "ema"


class WeightAverage:
    """The network that is validated and saved: an EMA of ``model`` (``decay`` in (0, 1)) or ``model`` itself (0).

    ``model``: the network being trained (not DDP-wrapped). Call :meth:`update` after every optimisation step.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0 <= decay < 1:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.model = model
        self.averaged = (
            AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True) if decay else None
        )

    @property
    def network(self) -> nn.Module:
        """The averaged network (or the trained one when the EMA is off): validate and save this one."""
        return self.model if self.averaged is None else self.averaged.module

    def update(self) -> None:
        """Fold the trained network's current weights into the average (nothing when the EMA is off)."""
        if self.averaged is not None:
            self.averaged.update_parameters(self.model)

    def state(self) -> dict[str, Any] | None:
        """What ``last.pt`` keeps to resume the average: its weights and the number of updates (None when off)."""
        return None if self.averaged is None else self.averaged.state_dict()

    def restore(self, state: dict[str, Any] | None) -> None:
        """Inverse of :meth:`state`; a resume point written with the EMA off (None) leaves it as built."""
        if self.averaged is not None and state is not None:
            self.averaged.load_state_dict(state)
