"""Prompts from sparse labels: right classes, seeded, spread out, point labels, no-foreground error, view move."""

from __future__ import annotations

import numpy as np
import pytest
from recipe import recipe

from wssam.io import InputError
from wssam.pseudo_label.config import PseudoLabelConfig
from wssam.pseudo_label.prompts import (
    NoForegroundError,
    farthest_points,
    prompts_from_sparse,
    prompts_in_view,
)
from wssam.pseudo_label.views import parse_view

PROMPTS = recipe(PseudoLabelConfig, "pseudo_label").prompts


def _scribbles() -> np.ndarray:
    sparse = np.zeros((48, 80), dtype=np.uint8)
    sparse[20:23, 10:70] = 1
    sparse[40:42, 5:75] = 2
    sparse[5:40, 2] = 2
    return sparse


def _make(sparse: np.ndarray, seed: int = 0, name: str = "a", **config: object):
    return prompts_from_sparse(sparse, kind="scribble", name=name, seed=seed, config=PROMPTS.replace(**config))


def test_points_lie_on_strokes_of_their_class() -> None:
    sparse = _scribbles()
    prompts = _make(sparse)
    assert prompts.points.dtype == np.float32 and prompts.points.shape == (20, 2)
    assert prompts.labels.tolist() == [1] * 10 + [0] * 10
    cols, rows = prompts.points[:, 0].astype(int), prompts.points[:, 1].astype(int)
    assert np.array_equal(prompts.points, np.round(prompts.points))
    assert np.all(sparse[rows[prompts.labels == 1], cols[prompts.labels == 1]] == 1)
    assert np.all(sparse[rows[prompts.labels == 0], cols[prompts.labels == 0]] == 2)
    assert len(np.unique(prompts.points, axis=0)) == 20
    assert prompts.box is None and prompts.sparse is sparse and not prompts.multimask


def test_seeded_by_seed_and_name() -> None:
    sparse = _scribbles()
    same = _make(sparse, seed=3, name="x")
    assert np.array_equal(same.points, _make(sparse, seed=3, name="x").points)
    assert not np.array_equal(same.points, _make(sparse, seed=4, name="x").points)
    assert not np.array_equal(same.points, _make(sparse, seed=3, name="y").points)


def test_points_are_spread_along_the_stroke() -> None:
    prompts = _make(_scribbles(), max_points=4)
    fg_x = np.sort(prompts.points[prompts.labels == 1, 0])
    assert fg_x[-1] - fg_x[0] >= 40  # the stroke is 60 px long and 3 px thick
    assert np.diff(fg_x).min() >= 10  # no two points bunched together


def test_fewer_pixels_than_max_points_gives_all() -> None:
    sparse = np.zeros((32, 40), dtype=np.uint8)
    sparse[10, 10:13] = 1
    sparse[30, 30] = 2
    prompts = _make(sparse, max_points=10)
    assert (prompts.labels == 1).sum() == 3 and (prompts.labels == 0).sum() == 1


def test_point_labels_use_every_labelled_pixel_and_single_point_is_multimask() -> None:
    sparse = np.zeros((32, 40), dtype=np.uint8)
    sparse[5, 7] = 1
    single = prompts_from_sparse(sparse, kind="point", name="p", seed=0, config=PROMPTS.replace(max_points=1))
    assert single.points.tolist() == [[7.0, 5.0]] and single.labels.tolist() == [1]
    assert single.multimask and single.kind == "point"
    sparse[20, 30] = 2
    sparse[1, 2] = 1
    both = prompts_from_sparse(sparse, kind="point", name="p", seed=0, config=PROMPTS.replace(max_points=1))
    assert sorted(map(tuple, both.points.tolist())) == [(2.0, 1.0), (7.0, 5.0), (30.0, 20.0)]
    assert not both.multimask


def test_box_around_foreground() -> None:
    prompts = _make(_scribbles(), use_box=True)
    assert prompts.box.tolist() == [10.0, 20.0, 69.0, 22.0]
    assert not _make(_scribbles(), use_box=True, max_points=1).multimask  # a box makes a point unambiguous


def test_no_box_around_a_single_point_or_a_straight_line() -> None:
    """A zero-area box is no prompt: with a single foreground point it would also switch multimask off."""
    point = np.zeros((30, 40), np.uint8)
    point[12, 20] = 1
    prompts = prompts_from_sparse(point, kind="point", name="a", seed=0, config=PROMPTS.replace(use_box=True))
    assert prompts.box is None and prompts.multimask
    line = point.copy()
    line[3, 3] = 2
    line[12, 20:30] = 1
    assert _make(line, use_box=True).box is None
    line[13, 25] = 1
    assert _make(line, use_box=True).box.tolist() == [20.0, 12.0, 29.0, 13.0]


def test_no_foreground_is_a_clear_error() -> None:
    sparse = np.zeros((16, 16), dtype=np.uint8)
    sparse[3, 3] = 2
    with pytest.raises(NoForegroundError, match="image lonely: .*no foreground"):
        _make(sparse, name="lonely")
    assert issubclass(NoForegroundError, InputError)


def test_unknown_kind_is_input_error() -> None:
    with pytest.raises(InputError, match="sparse_kind"):
        prompts_from_sparse(_scribbles(), kind="box", name="a", seed=0, config=PROMPTS)


def test_farthest_points_deterministic_and_distinct() -> None:
    candidates = np.stack(np.meshgrid(np.arange(10), np.arange(10)), axis=-1).reshape(-1, 2)
    first = farthest_points(candidates, 5, np.random.default_rng(0))
    assert np.array_equal(first, farthest_points(candidates, 5, np.random.default_rng(0)))
    assert len(np.unique(first, axis=0)) == 5


def test_prompts_in_view_stay_on_their_strokes() -> None:
    sparse = _scribbles()
    prompts = _make(sparse, use_box=True)
    for name in ("hflip_rot90", "rot270", "vflip"):
        moved = prompts_in_view(prompts, parse_view(name))
        cols, rows = moved.points[:, 0].astype(int), moved.points[:, 1].astype(int)
        assert np.all(moved.sparse[rows, cols] == np.where(moved.labels == 1, 1, 2))
        assert moved.size == parse_view(name).view_size(prompts.size)
        assert np.array_equal(moved.labels, prompts.labels)
