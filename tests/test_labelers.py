"""Labeler interface, random walker and its equivariance across views, the labeler registry."""

from __future__ import annotations

import numpy as np
import pytest
from recipe import recipe
from sam_helpers import synthetic_example

from wssam.io import InputError
from wssam.pseudo_label.config import PseudoLabelConfig
from wssam.pseudo_label.labelers import build_labeler
from wssam.pseudo_label.labelers.base import label_in_view
from wssam.pseudo_label.labelers.random_walker import RandomWalkerLabeler, seeds_with_border
from wssam.pseudo_label.prompts import prompts_from_sparse
from wssam.pseudo_label.views import parse_view

CONFIG = recipe(PseudoLabelConfig, "pseudo_label")
WALKER = CONFIG.random_walker


def _example(kind: str = "scribble"):
    image, sparse = synthetic_example(48, 80)
    if kind == "point":
        points = np.zeros_like(sparse)
        points[26, 36] = 1
        sparse = points
    prompts = prompts_from_sparse(sparse, kind=kind, name="s", seed=0, config=CONFIG.prompts)
    return image, prompts


def _inside() -> np.ndarray:
    ys, xs = np.mgrid[0:48, 0:80]
    return ((ys - 48 * 0.55) / (48 * 0.28)) ** 2 + ((xs - 80 * 0.45) / (80 * 0.25)) ** 2 <= 1.0


def test_random_walker_finds_the_object() -> None:
    image, prompts = _example()
    probability = RandomWalkerLabeler(WALKER).label(image, prompts)
    assert probability.dtype == np.float32 and probability.shape == (48, 80)
    assert np.all(np.isfinite(probability)) and probability.min() >= 0 and probability.max() <= 1
    inside = _inside()
    assert probability[inside].mean() > 0.8 and probability[~inside].mean() < 0.2
    assert np.all(probability[prompts.sparse == 1] == 1) and np.all(probability[prompts.sparse == 2] == 0)


def test_point_labels_use_the_border_as_background() -> None:
    image, prompts = _example("point")
    seeds = seeds_with_border(prompts.sparse, kind="point", border_background=True)
    assert np.all(seeds[0] == 2) and np.all(seeds[:, -1] == 2) and seeds[26, 36] == 1
    probability = RandomWalkerLabeler(WALKER).label(image, prompts)
    inside = _inside()
    assert probability[inside].mean() > 0.6 and probability[~inside].mean() < 0.3


def test_border_is_left_alone_for_scribbles_with_background() -> None:
    _, prompts = _example()
    seeds = seeds_with_border(prompts.sparse, kind="scribble", border_background=True)
    assert np.array_equal(seeds, prompts.sparse)


@pytest.mark.parametrize(
    "name", ["rot90", "rot180", "rot270", "hflip", "hflip_rot90", "hflip_rot180", "hflip_rot270", "vflip"]
)
def test_random_walker_is_equivariant_under_flips_and_rotations(name: str) -> None:
    """Every flip/rotation view brought back equals the identity view within 2/255 on >= 99 % of pixels."""
    image, prompts = _example()
    labeler = RandomWalkerLabeler(WALKER)
    reference = label_in_view(labeler, image, prompts, parse_view("identity"))
    back = label_in_view(labeler, image, prompts, parse_view(name))
    assert back.shape == reference.shape
    assert np.mean(np.abs(back - reference) <= 2 / 255) >= 0.99


@pytest.mark.parametrize("name", ["scale0.5", "scale2", "hflip_scale0.5", "rot90_scale2"])
def test_random_walker_scaled_views_agree_roughly(name: str) -> None:
    """Scaled views land on the same object. Upsampling halves the contrast between neighbouring pixels, so the
    walk leaks more at beta 130 in x2 views (a property of the walk, not of the geometry): test at beta 500."""
    image, prompts = _example()
    labeler = RandomWalkerLabeler(WALKER.replace(beta=500.0))
    reference = label_in_view(labeler, image, prompts, parse_view("identity")) >= 0.5
    back = label_in_view(labeler, image, prompts, parse_view(name)) >= 0.5
    assert (reference & back).sum() / (reference | back).sum() >= 0.9


def test_build_labeler_picks_the_configured_one(tmp_path) -> None:
    assert isinstance(build_labeler(CONFIG.replace(labeler="random_walker"), tmp_path), RandomWalkerLabeler)
    sam = CONFIG.replace(labeler="sam", sam=CONFIG.sam.replace(checkpoint="absent.pth"))
    with pytest.raises(InputError, match="absent.pth: SAM checkpoint not found"):
        build_labeler(sam, tmp_path)


def test_conjugate_gradient_mode_agrees_with_direct_solve() -> None:
    image, prompts = _example()
    direct = RandomWalkerLabeler(WALKER.replace(mode="bf")).label(image, prompts)
    iterative = RandomWalkerLabeler(WALKER.replace(mode="cg_j", tol=1e-4)).label(image, prompts)
    assert np.mean(np.abs(direct - iterative) <= 2 / 255) >= 0.99
