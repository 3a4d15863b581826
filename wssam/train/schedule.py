"""Schedules as pure functions of the global optimisation step (0-based) and the run's total number of steps.

Ours are functions of the progress through the WHOLE run, so they never restart at an epoch boundary and a resumed
run recomputes them exactly from the stored step. The released code's two schedules (a learning rate that rises
again after 40 epochs, an uncertainty ramp restarted at every epoch) are here too, named as such, for reproducing
its numbers.
"""

from __future__ import annotations

import math


def progress(step: int, total_steps: int) -> float:
    """Share of the run done before ``step``: ``step / total_steps`` clipped to [0, 1]."""
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    return min(max(step / total_steps, 0.0), 1.0)


def cosine_lr(step: int, total_steps: int, *, lr: float, min_lr: float) -> float:
    """Learning rate at ``step``: cosine from ``lr`` (step 0) down to ``min_lr`` (step ``total_steps``)."""
    return min_lr + (lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress(step, total_steps)))


def uncertainty_ramp(step: int, total_steps: int) -> float:
    """Weight of the uncertainty-aware loss at ``step``: cosine ramp-in from 0 (start) to 1 (end of the run)."""
    return 0.5 * (1.0 - math.cos(math.pi * progress(step, total_steps)))


def released_cosine_lr(epoch: int, *, lr: float, min_lr: float, period: int = 40) -> float:
    """The released code's learning rate in 0-based ``epoch``: PyTorch's ``CosineAnnealingLR(T_max=period)`` stepped
    once before each epoch, so it rises again after ``period`` epochs (over 160 epochs: two full waves). Selectable
    for reproducing the released numbers only (``train.lr_schedule: released_t40``)."""
    return min_lr + (lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * (epoch + 1) / period))


def released_epoch_ramp(step_in_epoch: int, steps_per_epoch: int) -> float:
    """The released code's uncertainty ramp: the cosine ramp restarted at every epoch (its bug), at 0-based
    ``step_in_epoch``. Selectable for reproducing the released numbers only."""
    return 0.5 * (1.0 - math.cos(math.pi * progress(step_in_epoch + 1, steps_per_epoch)))
