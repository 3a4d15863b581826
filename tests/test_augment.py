"""Augmentation moves image, pseudo label, weight and scribbles together; scribbles stay in {0, 1, 2}."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from recipe import recipe

from wssam.train.augment import Sample, augment, crop_box, crop_resize, hflip, resize, rotate
from wssam.train.config import TrainConfig

AUGMENT = recipe(TrainConfig, "train").augment


def _block_sample(height: int = 48, width: int = 64, top: int = 8, left: int = 10, side: int = 9) -> Sample:
    """A bright square (image, pseudo label, weight 1) marked as foreground scribble; background scribble elsewhere."""
    image = torch.zeros(3, height, width)
    image[:, top : top + side, left : left + side] = 1.0
    target = image[:1].clone()
    weight = torch.full((1, height, width), 0.5)
    weight[:, top : top + side, left : left + side] = 1.0
    sparse = torch.zeros(1, height, width, dtype=torch.uint8)
    sparse[:, top + 2 : top + side - 2, left + 2 : left + side - 2] = 1
    sparse[:, height - 6 : height - 3, width - 12 : width - 4] = 2
    return Sample(image=image, target=target, weight=weight, sparse=sparse)


def _centroid(mask: torch.Tensor) -> np.ndarray:
    rows, cols = np.nonzero(mask.squeeze(0).numpy())
    return np.array([rows.mean(), cols.mean()])


def _assert_aligned(sample: Sample, tolerance: float = 1.0) -> None:
    bright = _centroid(sample.image[0] > 0.5)
    assert np.abs(_centroid(sample.target > 0.5) - bright).max() <= tolerance
    assert np.abs(_centroid(sample.weight > 0.75) - bright).max() <= tolerance
    assert np.abs(_centroid(sample.sparse == 1) - bright).max() <= tolerance
    assert set(np.unique(sample.sparse.numpy())) <= {0, 1, 2}


def test_hflip_moves_every_map() -> None:
    sample = _block_sample()
    flipped = hflip(sample)
    assert _centroid(flipped.sparse == 1)[1] == pytest.approx(63 - _centroid(sample.sparse == 1)[1])
    _assert_aligned(flipped, tolerance=0.0)


@pytest.mark.parametrize("degrees", [-10.0, 7.5, 30.0])
def test_rotation_moves_every_map_and_keeps_labels(degrees: float) -> None:
    sample = _block_sample()
    rotated = rotate(sample, degrees)
    _assert_aligned(rotated)
    assert (rotated.sparse == 1).sum() > 0 and (rotated.sparse == 2).sum() > 0
    # rotated-in corners are ignored: weight 0 and no scribble there
    assert rotated.weight[0, 0, 0] == 0.0 and rotated.sparse[0, 0, 0] == 0


def test_crop_resize_moves_every_map() -> None:
    sample = _block_sample()
    cropped = crop_resize(sample, top=4, left=6, height=36, width=36, size=64)
    _assert_aligned(cropped)
    expected = (_centroid(sample.sparse == 1) - np.array([4, 6]) + 0.5) * 64 / 36 - 0.5
    assert np.abs(_centroid(cropped.sparse == 1) - expected).max() <= 1.0


@pytest.mark.parametrize("seed", range(6))
def test_random_augment_is_aligned_and_sized(seed: int) -> None:
    config = AUGMENT.replace(
        hflip=0.5,
        crop_scale=0.7,
        rotation_degrees=15.0,
        brightness=(1.0, 1.0),
        contrast=(1.0, 1.0),
        saturation=(1.0, 1.0),
        sharpness=(1.0, 1.0),
    )
    out = augment(_block_sample(top=20, left=27), config, 32, np.random.default_rng(seed))  # block survives any crop
    for m in (out.image, out.target, out.weight, out.sparse):
        assert m.shape[-2:] == (32, 32)
    assert out.sparse.dtype == torch.uint8
    _assert_aligned(out, tolerance=1.5)


def test_augment_is_reproducible_from_the_generator_seed() -> None:
    config = AUGMENT
    a = augment(_block_sample(), config, 32, np.random.default_rng([0, 3, 5]))
    b = augment(_block_sample(), config, 32, np.random.default_rng([0, 3, 5]))
    assert torch.equal(a.image, b.image) and torch.equal(a.sparse, b.sparse)


def test_colour_jitter_touches_the_image_only() -> None:
    config = AUGMENT.replace(
        hflip=0.0, crop_scale=1.0, rotation_degrees=0.0, brightness=(0.5, 1.5), saturation=(0.0, 2.0),
        sharpness=(0.0, 3.0),
    )  # fmt: skip
    sample = _block_sample()
    sample = Sample(sample.image * 0.6 + 0.2, sample.target, sample.weight, sample.sparse)
    out = augment(sample, config, 64, np.random.default_rng(1))
    plain = resize(sample, 64)
    assert not torch.allclose(out.image, plain.image)
    assert torch.equal(out.target, plain.target) and torch.equal(out.weight, plain.weight)
    assert torch.equal(out.sparse, plain.sparse)
    assert out.image.min() >= 0.0 and out.image.max() <= 1.0


def test_resize_keeps_scribble_values_when_downscaling() -> None:
    sample = _block_sample(height=96, width=128)
    small = resize(sample, 32)
    assert set(np.unique(small.sparse.numpy())) <= {0, 1, 2}
    assert small.sparse.shape == (1, 32, 32)


def test_every_point_of_a_point_map_survives_the_training_resize() -> None:
    """800 px -> 384 px: nearest neighbour alone loses most single-pixel points; the put-back keeps every one."""
    rng = np.random.default_rng(0)
    sparse = np.zeros((800, 800), np.uint8)
    rows, cols = rng.choice(800, size=(2, 60), replace=True)
    sparse[rows, cols] = rng.integers(1, 3, size=60)
    points = {(int(r), int(c)): int(sparse[r, c]) for r, c in zip(rows, cols, strict=True)}
    sample = Sample(
        image=torch.zeros(3, 800, 800), target=torch.zeros(1, 800, 800), weight=torch.ones(1, 800, 800),
        sparse=torch.from_numpy(sparse)[None],
    )  # fmt: skip
    small = resize(sample, 384).sparse[0].numpy()
    for (row, col), value in points.items():
        target = (min(383, round((row + 0.5) * 384 / 800 - 0.5)), min(383, round((col + 0.5) * 384 / 800 - 0.5)))
        neighbourhood = small[max(0, target[0] - 1) : target[0] + 2, max(0, target[1] - 1) : target[1] + 2]
        assert value in neighbourhood, (row, col)
    assert (small > 0).sum() >= len({(round(r * 0.48), round(c * 0.48)) for r, c in points}) - 2


def test_released_preset_centred_crop_rotation_probability_and_label_noise() -> None:
    released = AUGMENT.replace(
        hflip=0.5, rotation_probability=0.2, rotation_degrees=15.0, crop="centred", crop_border=30,
        brightness=(0.5, 1.5), contrast=(0.5, 1.5), saturation=(0.0, 2.0), sharpness=(0.0, 3.0), label_noise=0.0015,
    )  # fmt: skip
    half = Sample(torch.zeros(3, 128, 128), torch.full((1, 128, 128), 0.5), torch.ones(1, 128, 128),
                  torch.zeros(1, 128, 128, dtype=torch.uint8))  # fmt: skip
    rotated = 0
    for seed in range(40):
        top, left, height, width = crop_box(200, 160, released, np.random.default_rng(seed))
        assert 170 <= height <= 199 and 130 <= width <= 159
        assert top == (200 - height) // 2 and left == (160 - width) // 2
        plain = released.replace(crop="random", crop_scale=1.0)
        out = augment(half, plain.replace(label_noise=0.0), 128, np.random.default_rng(seed))
        rotated += bool((out.weight < 1).any())  # a rotation brings in weight-0 corners
        out = augment(half, plain.replace(rotation_probability=0.0), 128, np.random.default_rng(seed))
        noisy = out.target[out.target != 0.5]
        assert round(0.0015 * 128 * 128) - 2 <= noisy.numel() <= round(0.0015 * 128 * 128)  # a repeat is rare
        assert set(noisy.unique().tolist()) <= {0.0, 1.0}
    assert 2 <= rotated <= 18  # about one in five


def _forward_rotation(row: int, col: int, degrees: float, height: int, width: int) -> tuple[float, float]:
    """Where a counter-clockwise rotation about the image centre takes pixel (row, col) (y down, as displayed)."""
    theta = np.deg2rad(degrees)
    cy, cx = (height - 1) / 2, (width - 1) / 2
    dy, dx = row - cy, col - cx
    return cy - dx * np.sin(theta) + dy * np.cos(theta), cx + dx * np.cos(theta) + dy * np.sin(theta)


def test_every_single_pixel_point_survives_rotation_where_the_rotation_takes_it() -> None:
    """Nearest neighbour alone drops about 1 % of single-pixel points at +-10 degrees (one target pixel centre may
    fall in no source pixel); each comes back within a pixel of where the rotation takes it."""
    rng = np.random.default_rng(0)
    height, width = 120, 160
    for _ in range(600):
        row, col = int(rng.integers(30, height - 30)), int(rng.integers(40, width - 40))
        degrees, value = float(rng.uniform(-15, 15)), int(rng.integers(1, 3))
        sparse = torch.zeros(1, height, width, dtype=torch.uint8)
        sparse[0, row, col] = value
        sample = Sample(torch.zeros(3, height, width), torch.zeros(1, height, width), torch.ones(1, height, width),
                        sparse)  # fmt: skip
        rows, cols = np.nonzero(rotate(sample, degrees).sparse[0].numpy() == value)
        assert len(rows) >= 1, (row, col, degrees)
        expected = _forward_rotation(row, col, degrees, height, width)
        assert np.hypot(rows - expected[0], cols - expected[1]).min() <= 1.0, (row, col, degrees)


def test_rotating_strokes_is_plain_nearest_neighbour_and_a_point_rotated_out_stays_out() -> None:
    """The put-back touches only pieces nearest neighbour drops: simulated scribbles (3 px strokes) rotate exactly as
    before, so scribble training is unchanged; a point the rotation takes outside the image is not brought back."""
    import torchvision.transforms.v2.functional as TF
    from torchvision.transforms import InterpolationMode

    from wssam.prepare.demo import object_mask
    from wssam.prepare.simulate import simulate_scribbles

    rng = np.random.default_rng(1)
    for seed in range(12):
        mask = object_mask(128, rng, objects=1 + seed % 2)
        sparse = torch.from_numpy(simulate_scribbles(mask, stroke_width=3, seed=seed))[None]
        sample = Sample(torch.zeros(3, 128, 128), torch.zeros(1, 128, 128), torch.ones(1, 128, 128), sparse)
        for degrees in rng.uniform(-15, 15, size=8):
            plain = TF.rotate(sparse, float(degrees), interpolation=InterpolationMode.NEAREST, fill=0)
            assert torch.equal(rotate(sample, float(degrees)).sparse, plain), (seed, degrees)
    corner = torch.zeros(1, 64, 64, dtype=torch.uint8)
    corner[0, 0, 0] = 1
    sample = Sample(torch.zeros(3, 64, 64), torch.zeros(1, 64, 64), torch.ones(1, 64, 64), corner)
    assert not rotate(sample, 30.0).sparse.any()
