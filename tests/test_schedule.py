"""Learning-rate and uncertainty-ramp schedules: pure functions of the global step over the whole run."""

from __future__ import annotations

import itertools

import pytest

from wssam.train.schedule import cosine_lr, progress, uncertainty_ramp


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
