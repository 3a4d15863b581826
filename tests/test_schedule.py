"""Learning-rate and uncertainty-ramp schedules: pure functions of the global step over the whole run."""

from __future__ import annotations

import itertools

import pytest

from wssam.train.schedule import cosine_lr, progress, released_cosine_lr, released_epoch_ramp, uncertainty_ramp


def test_cosine_lr_endpoints_and_monotone() -> None:
    total = 50
    values = [cosine_lr(s, total, lr=1e-4, min_lr=1e-6) for s in range(total + 1)]
    assert values[0] == pytest.approx(1e-4)
    assert values[-1] == pytest.approx(1e-6)
    assert values[total // 2] == pytest.approx((1e-4 + 1e-6) / 2)
    assert all(a > b for a, b in itertools.pairwise(values))


def test_ramp_endpoints_and_monotone() -> None:
    total = 40
    values = [uncertainty_ramp(s, total) for s in range(total + 1)]
    assert values[0] == 0.0
    assert values[-1] == pytest.approx(1.0)
    assert values[total // 2] == pytest.approx(0.5)
    assert all(a < b for a, b in itertools.pairwise(values))


def test_progress_clips_and_rejects_empty_runs() -> None:
    assert progress(-3, 10) == 0.0 and progress(30, 10) == 1.0
    with pytest.raises(ValueError):
        progress(0, 0)


def test_released_schedules_rise_again_and_restart() -> None:
    """The released code's schedules, kept for reproducing its numbers: the learning rate of CosineAnnealingLR with
    T_max 40 stepped before each epoch, and the uncertainty ramp restarted at every epoch."""
    lr = [released_cosine_lr(epoch, lr=1e-4, min_lr=1e-6) for epoch in range(160)]
    assert lr[0] < 1e-4 and lr[38] > lr[39] == pytest.approx(1e-6) and lr[79] == pytest.approx(1e-4)
    assert sum(1 for a, b in itertools.pairwise(lr) if b > a) > 0  # unlike ours, it oscillates
    ramp = [released_epoch_ramp(step % 10, 10) for step in range(30)]
    assert ramp[9] == ramp[19] == pytest.approx(1.0) and ramp[10] == ramp[0] < 0.05
