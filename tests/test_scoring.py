"""Entropy, pixel weights, view fusion, image selection and pseudo-label quality measures (pure functions)."""

from __future__ import annotations

import numpy as np
import pytest

from wssam.score.entropy import binary_entropy, image_entropy, pixel_weights
from wssam.score.fusion import fuse_views
from wssam.score.quality import binarise, iou, mae, rank_correlation
from wssam.score.selection import count_to_keep, select_images


def test_binary_entropy_known_values_and_no_nan() -> None:
    p = np.array([0.0, 1.0, 0.5, 0.25, 1e-12, 1 - 1e-7], dtype=np.float32)
    h = binary_entropy(p)
    assert h.dtype == np.float32
    assert np.all(np.isfinite(h))
    assert h[0] == 0.0 and h[1] == 0.0
    assert h[2] == pytest.approx(1.0)
    assert h[3] == pytest.approx(-(0.25 * np.log2(0.25) + 0.75 * np.log2(0.75)), rel=1e-6)
    assert 0.0 <= h[4] < 1e-9 and 0.0 <= h[5] < 1e-5


def test_binary_entropy_is_symmetric_and_bounded() -> None:
    p = np.linspace(0.0, 1.0, 1001)
    h = binary_entropy(p)
    np.testing.assert_allclose(h, binary_entropy(1.0 - p), atol=1e-6)
    assert h.min() >= 0.0 and h.max() <= 1.0
    assert np.all(np.diff(h[:500]) > 0), "entropy rises towards p = 0.5"


def test_binary_entropy_clips_out_of_range_values() -> None:
    assert np.all(binary_entropy(np.array([-0.1, 1.2])) == 0.0)


def test_pixel_weights_are_one_minus_entropy() -> None:
    p = np.array([[0.0, 0.5], [1.0, 0.9]])
    w = pixel_weights(p)
    assert w.shape == (2, 2) and w.dtype == np.float32
    assert w[0, 0] == 1.0 and w[1, 0] == 1.0
    assert w[0, 1] == pytest.approx(0.0, abs=1e-7)
    assert w[1, 1] == pytest.approx(1.0 - binary_entropy(np.array(0.9)), abs=1e-7)


def test_image_entropy_is_the_mean() -> None:
    p = np.array([[0.0, 0.5], [0.5, 1.0]])
    assert image_entropy(p) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        image_entropy(np.zeros((0, 0)))


def test_fuse_views_is_the_pixel_mean() -> None:
    a = np.zeros((3, 4), np.float32)
    b = np.ones((3, 4), np.float32)
    c = np.full((3, 4), 0.5, np.float32)
    fused = fuse_views([a, b, c])
    assert fused.dtype == np.float32 and fused.shape == (3, 4)
    np.testing.assert_allclose(fused, 0.5)
    np.testing.assert_array_equal(fuse_views([c]), c)


def test_fuse_views_rejects_mismatched_or_no_views() -> None:
    with pytest.raises(ValueError, match="shape"):
        fuse_views([np.zeros((3, 4)), np.zeros((4, 3))])
    with pytest.raises(ValueError, match="at least one"):
        fuse_views([])


def test_select_tau_rule_is_inclusive() -> None:
    entropy = {"a": 0.01, "b": 0.03, "c": 0.2}
    assert select_images(entropy, rule="tau", tau=0.03) == {"a": True, "b": True, "c": False}
    assert select_images(entropy, rule="tau", tau=0.001) == {"a": False, "b": False, "c": False}


def test_select_fraction_rule_breaks_ties_by_name_and_keeps_one() -> None:
    entropy = {"d": 0.1, "b": 0.1, "c": 0.1, "a": 0.5}
    kept = select_images(entropy, rule="fraction", keep_fraction=0.5)
    assert kept == {"d": False, "b": True, "c": True, "a": False}
    assert list(kept) == list(entropy), "order of the input is kept"
    assert sum(select_images(entropy, rule="fraction", keep_fraction=0.01).values()) == 1
    assert select_images(entropy, rule="fraction", keep_fraction=0.01)["b"]
    assert all(select_images(entropy, rule="fraction", keep_fraction=1.0).values())


def test_count_to_keep_rounds_half_up_within_bounds() -> None:
    assert count_to_keep(48, 0.75) == 36
    assert count_to_keep(10, 0.7) == 7
    assert count_to_keep(4, 0.125) == 1
    assert count_to_keep(3, 0.5) == 2
    with pytest.raises(ValueError):
        count_to_keep(3, 0.0)


def test_select_rejects_unknown_rule() -> None:
    with pytest.raises(ValueError, match="unknown selection rule"):
        select_images({"a": 0.1}, rule="median")


@pytest.mark.parametrize("rule", ["tau", "fraction"])
def test_select_refuses_an_entropy_that_is_not_a_number(rule: str) -> None:
    """A NaN sorted anywhere: the fraction rule kept it and dropped the most certain image."""
    entropies = {"a": 0.1, "b": float("nan"), "c": 0.05, "d": 0.2}
    with pytest.raises(ValueError, match="not a finite number for b"):
        select_images(entropies, rule=rule, tau=0.5, keep_fraction=0.5)


def test_iou_and_mae() -> None:
    gt = np.array([[True, True], [False, False]])
    assert iou(gt, gt) == 1.0
    assert iou(np.array([[True, False], [True, False]]), gt) == pytest.approx(1 / 3)
    assert iou(np.zeros((2, 2), bool), np.zeros((2, 2), bool)) == 1.0
    assert iou(np.ones((2, 2), bool), np.zeros((2, 2), bool)) == 0.0
    assert mae(np.array([[1.0, 0.5], [0.0, 0.25]]), gt) == pytest.approx((0 + 0.5 + 0 + 0.25) / 4)
    np.testing.assert_array_equal(binarise(np.array([0.49, 0.5, 0.9])), [False, True, True])
    with pytest.raises(ValueError):
        iou(np.zeros((2, 2), bool), np.zeros((2, 3), bool))


def test_rank_correlation_sign_and_undefined_cases() -> None:
    rng = np.random.default_rng(0)
    entropy = rng.uniform(0, 0.3, 40)
    quality = 1.0 - 2.0 * entropy + rng.normal(0, 0.05, 40)
    rho = rank_correlation(entropy, quality)
    assert rho is not None and rho < -0.8
    assert rank_correlation(entropy, 1.0 - quality) == pytest.approx(-rho)
    assert rank_correlation([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    assert rank_correlation([1, 2], [2, 1]) is None
    assert rank_correlation([1, 2, 3], [5, 5, 5]) is None


def test_rank_correlation_matches_scipy_with_ties() -> None:
    stats = pytest.importorskip("scipy.stats")
    x = [0.1, 0.2, 0.2, 0.4, 0.05, 0.3]
    y = [0.9, 0.7, 0.8, 0.8, 0.95, 0.6]
    assert rank_correlation(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
