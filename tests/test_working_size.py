"""The random walker's working size: a big image is walked at ``max_side`` pixels (long side) and its map brought
back to full size, so it never dies with a MemoryError; images at or below that size are walked as they are."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from recipe import ROOT, recipe, write_params
from sam_helpers import synthetic_example

import wssam.pseudo_label.labelers.random_walker as random_walker_module
from wssam.io import InputError, probability_to_uint8, read_image_size
from wssam.pseudo_label.config import PseudoLabelConfig
from wssam.pseudo_label.labelers.random_walker import RandomWalkerLabeler, working_view
from wssam.pseudo_label.prompts import prompts_from_sparse
from wssam.pseudo_label.views import parse_view


def _labeler(max_side: int) -> RandomWalkerLabeler:
    config = recipe(PseudoLabelConfig, "pseudo_label", random_walker={"max_side": max_side})
    return RandomWalkerLabeler(config.random_walker)


def _prompts(sparse: np.ndarray, kind: str = "scribble"):
    config = recipe(PseudoLabelConfig, "pseudo_label").prompts
    return prompts_from_sparse(sparse, kind=kind, name="x", seed=0, config=config)


def _upscaled(factor: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 48x80 synthetic scene and its scribbles, nearest-neighbour upscaled ``factor`` times, and the small image."""
    image, sparse = synthetic_example(48, 80)
    big = np.asarray(Image.fromarray(image).resize((80 * factor, 48 * factor), Image.Resampling.NEAREST))
    return big, np.kron(sparse, np.ones((factor, factor), np.uint8)), image


def test_images_within_the_working_size_are_walked_as_they_are() -> None:
    """The demo's 128 px maps must not change: at or below max_side nothing is resized."""
    image, sparse = synthetic_example(48, 80)
    assert working_view((48, 80), 80) is None
    assert np.array_equal(_labeler(80).label(image, _prompts(sparse)), _labeler(4096).label(image, _prompts(sparse)))


def test_a_big_image_is_walked_at_the_working_size(monkeypatch: pytest.MonkeyPatch) -> None:
    big, sparse, _ = _upscaled(4)  # 192 x 320
    walked: list[tuple[int, ...]] = []
    real = random_walker_module.random_walker

    def observed(data: np.ndarray, labels: np.ndarray, **options: object) -> np.ndarray:
        walked.append(labels.shape)
        return real(data, labels, **options)

    monkeypatch.setattr(random_walker_module, "random_walker", observed)
    probability = _labeler(80).label(big, _prompts(sparse))
    assert walked == [(48, 80)], "the linear system has one equation per pixel of the working size"
    assert probability.shape == big.shape[:2] and probability.dtype == np.float32
    full = _labeler(320).label(big, _prompts(sparse))
    agree = np.mean((probability >= 0.5) == (full >= 0.5))
    assert agree >= 0.97, f"the shrunk walk agrees with the full-size one on {agree:.1%} of the pixels"


def test_seeds_survive_the_shrink_and_keep_their_values() -> None:
    """Single-pixel points would vanish under plain nearest neighbour; the put-back keeps each one."""
    big, sparse, _ = _upscaled(6)
    points = np.zeros_like(sparse)
    points[100, 170] = 1  # inside the bright ellipse
    points[20, 20] = 2
    probability = _labeler(64).label(big, _prompts(points, kind="point"))
    assert probability[100, 170] > 0.5 > probability[20, 20]


def test_a_point_crowded_out_by_the_other_label_keeps_a_pixel_when_shrinking() -> None:
    """A foreground point beside a background point: both land on one pixel at half size, and nearest neighbour
    keeps the background; the foreground point then takes the nearest free pixel instead of vanishing (the walker
    would otherwise have no foreground seed in that view)."""
    from wssam.labels import resize_label_map

    labels = np.zeros((24, 24), np.uint8)
    labels[11, 10], labels[11, 11] = 1, 2
    labels[3:6, 2:20] = 2  # a stroke, far from them: unchanged by the rule
    small = resize_label_map(labels, (12, 12))
    assert (small == 1).sum() == 1 and (small == 2).any()
    row, col = np.argwhere(small == 1)[0]
    assert abs(row - 5) <= 1 and abs(col - 5) <= 1, "beside where both points land"
    assert np.array_equal(small[1:3], resize_label_map(labels[:8], (4, 12))[1:3])
    assert np.array_equal(parse_view("scale0.5").apply_label_map(labels), small)


@pytest.mark.parametrize("max_side", [0, 15])
def test_the_working_size_has_a_floor(max_side: int) -> None:
    with pytest.raises(InputError, match="pseudo_label.random_walker.max_side"):
        recipe(PseudoLabelConfig, "pseudo_label", random_walker={"max_side": max_side})


@pytest.mark.slow
def test_an_8000_by_6000_photo_goes_through_prepare_and_labelling(tmp_path: Path) -> None:
    """It used to pass prepare and die in pseudo_label with a numpy MemoryError traceback."""
    height, width = 6000, 8000
    root = tmp_path / "raw" / "big"
    for folder in ("Imgs", "GT", "Scribble"):
        (root / folder).mkdir(parents=True)
    small, sparse = synthetic_example(60, 80)
    Image.fromarray(small).resize((width, height), Image.Resampling.BILINEAR).save(root / "Imgs" / "big.jpg")
    Image.fromarray(np.zeros((height, width), np.uint8)).save(root / "GT" / "big.png")
    Image.fromarray(sparse).resize((width, height), Image.Resampling.NEAREST).save(root / "Scribble" / "big.png")
    params = write_params(tmp_path / "params.yaml", prepare={"train": {"source": str(root)}, "synthetic": {
        "image_size": 32, "train_images": 1, "test_images": 1}})  # fmt: skip
    stage = [sys.executable, str(ROOT / "stages" / "prepare.py"), "--params", str(params), "--quiet"]
    run = subprocess.run([*stage, "--raw-dir", str(tmp_path / "raw"), "--output", str(tmp_path / "prepared")],
                         capture_output=True, text=True, timeout=900, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr
    stage = [sys.executable, str(ROOT / "stages" / "pseudo_label.py"), "--params", str(params), "--quiet"]
    stage += ["--manifest", str(tmp_path / "prepared" / "train" / "manifest.csv"), "--view", "hflip"]
    stage += ["--labeler-dir", str(tmp_path), "--output", str(tmp_path / "views" / "hflip")]
    stage += ["--cache-dir", str(tmp_path / "cache")]
    run = subprocess.run(stage, capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0, run.stderr
    assert read_image_size(tmp_path / "views" / "hflip" / "big.png") == (height, width)
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    assert peak_gib < 4, f"a stage peaked at {peak_gib:.1f} GiB"


FLIPS_AND_TURNS = ("identity", "rot90", "rot180", "rot270", "hflip", "hflip_rot90", "hflip_rot180", "hflip_rot270")


@pytest.mark.parametrize("factor", [1, 4])
def test_flip_and_rotation_views_are_one_map_and_the_half_size_view_another(
    factor: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why params.yaml's default views are identity and scale0.5: the walk is equivariant to flips and quarter turns,
    so their 8 views give one map bit for bit, walked as it is (factor 1) or at the working size (factor 4: a view
    taken before the shrink would resample each rotation differently). The half-size view of a big image is walked
    at half the working size, not shrunk to the working size like identity (which would make it the same map)."""
    big, sparse, _ = _upscaled(factor)  # 48 x 80 or 192 x 320, walked at 48 x 80
    labeler, prompts = _labeler(80), _prompts(sparse)
    maps = {name: probability_to_uint8(labeler.map_in_view("x", big, prompts, parse_view(name)))
            for name in FLIPS_AND_TURNS}  # fmt: skip
    assert all(np.array_equal(maps[name], maps["identity"]) for name in FLIPS_AND_TURNS)
    walked: list[tuple[int, ...]] = []
    real = random_walker_module.random_walker
    monkeypatch.setattr(random_walker_module, "random_walker", lambda data, labels, **options: walked.append(
        labels.shape) or real(data, labels, **options))  # fmt: skip
    half = probability_to_uint8(labeler.map_in_view("x", big, prompts, parse_view("scale0.5")))
    assert walked == [(24, 40)] and half.shape == maps["identity"].shape
    assert not np.array_equal(half, maps["identity"])
