"""Views: parsing, round trips of points and maps, nearest-neighbour label maps, non-square images."""

from __future__ import annotations

import numpy as np
import pytest
from recipe import params_section
from scipy import ndimage

from wssam.io import InputError
from wssam.pseudo_label.views import View, parse_view

SIZE = (48, 80)  # (H, W), deliberately not square
#: every flip x quarter turn x scale the views' grammar names (the paper's 12 among them), and other spellings
GRID_VIEWS = tuple(
    "_".join(part for part in (flip, turn, scale) if part) or "identity"
    for flip in ("", "hflip")
    for turn in ("", "rot90", "rot180", "rot270")
    for scale in ("", "scale0.5", "scale2")
)
ALL_VIEWS = (*GRID_VIEWS, "vflip", "vflip_rot90", "hflip_vflip", "rot90_hflip", "scale0.75_rot270")


def test_the_views_in_use_are_all_tested() -> None:
    assert set(params_section("pseudo_label")["views"]) <= set(ALL_VIEWS) and len(GRID_VIEWS) == 24


def test_parse_view_fields() -> None:
    assert parse_view("identity") == View()
    assert parse_view("hflip_rot90") == View(name="hflip_rot90", hflip=True, k=1, scale=1.0)
    assert parse_view("rot90_scale2") == View(name="rot90_scale2", k=1, scale=2.0)
    assert parse_view("scale0.5").scale == 0.5
    assert parse_view("vflip") == View(name="vflip", hflip=True, k=2)
    assert parse_view("hflip_vflip") == View(name="hflip_vflip", hflip=False, k=2)


@pytest.mark.parametrize("name", ["rot45", "flip", "scale", "scale-1", "hflip__rot90", "", "Identity"])
def test_unknown_view_is_input_error(name: str) -> None:
    with pytest.raises(InputError, match="hflip, vflip, rot90"):
        parse_view(name)


def test_rotation_is_counter_clockwise_like_np_rot90() -> None:
    image = np.zeros((*SIZE, 3), dtype=np.uint8)
    image[5, 70] = 255  # near the top-right corner: a counter-clockwise quarter turn moves it to the top-left
    rotated = parse_view("rot90").apply_image(image)
    assert rotated.shape == (80, 48, 3)
    assert np.array_equal(rotated, np.rot90(image, 1))
    assert tuple(np.argwhere(rotated[..., 0])[0]) == (9, 5)  # row = W - 1 - x, col = y


@pytest.mark.parametrize("name", ALL_VIEWS)
def test_points_follow_pixels(name: str) -> None:
    """A marked pixel's point lands on the marked pixel of the transformed label map (flips/rotations exact)."""
    view = parse_view(name)
    rng = np.random.default_rng(0)
    points = np.stack([rng.integers(0, SIZE[1], 20), rng.integers(0, SIZE[0], 20)], axis=1).astype(np.float32)
    moved = view.apply_points(points, SIZE)
    for x, y in points.astype(int):
        single = np.zeros(SIZE, dtype=np.uint8)
        single[y, x] = 1
        target = np.argwhere(view.apply_label_map(single) == 1)
        assert len(target) >= 1
        index = np.where((points[:, 0] == x) & (points[:, 1] == y))[0][0]
        distance = np.abs(target[:, ::-1] - moved[index]).max(axis=1).min()
        assert distance <= 0.5 * max(1.0, view.scale) + 1e-6
    if view.scale == 1.0:
        assert np.array_equal(moved, np.round(moved))


@pytest.mark.parametrize("name", ALL_VIEWS)
def test_points_round_trip(name: str) -> None:
    view = parse_view(name)
    rng = np.random.default_rng(1)
    points = rng.uniform([0, 0], [SIZE[1] - 1, SIZE[0] - 1], size=(50, 2)).astype(np.float32)
    back = view.invert_points(view.apply_points(points, SIZE), SIZE)
    if view.scale == 1.0:
        integer = np.round(points)
        assert np.array_equal(view.invert_points(view.apply_points(integer, SIZE), SIZE), integer)
    np.testing.assert_allclose(back, points, atol=1e-4)  # float32 storage; the maths is exact to 1e-12
    exact = view.invert_points(view.apply_points(points.astype(np.float64), SIZE), SIZE)
    np.testing.assert_allclose(exact, points, atol=1e-5)


@pytest.mark.parametrize("name", ALL_VIEWS)
def test_sizes(name: str) -> None:
    view = parse_view(name)
    image = np.zeros((*SIZE, 3), dtype=np.uint8)
    moved = view.apply_image(image)
    assert moved.shape[:2] == view.view_size(SIZE)
    assert view.apply_label_map(np.zeros(SIZE, dtype=np.uint8)).shape == moved.shape[:2]
    back = view.invert_map(np.zeros(moved.shape[:2], dtype=np.float32), SIZE)
    assert back.shape == SIZE and back.dtype == np.float32


@pytest.mark.parametrize("name", ALL_VIEWS)
def test_label_maps_stay_sparse_labels(name: str) -> None:
    """Nearest neighbour only: a map with 0/1/2 strokes keeps exactly those values (bilinear/bicubic would not)."""
    sparse = np.zeros(SIZE, dtype=np.uint8)
    sparse[10:13, 5:60] = 1
    sparse[30, 2:78] = 2
    sparse[40, 40] = 1  # a single-pixel point label must survive shrinking
    moved = parse_view(name).apply_label_map(sparse)
    assert moved.dtype == np.uint8
    assert set(np.unique(moved)) == {0, 1, 2}
    assert (moved == 1).sum() >= 1 + (sparse[10:13] == 1).sum() * 0.25  # strokes are not thinned away


def _paint_disks(points: np.ndarray, labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A fake labeler: probability 1 inside a disk of radius 12 % of the short side around each positive point."""
    radius = 0.12 * min(size)
    ys, xs = np.mgrid[0 : size[0], 0 : size[1]]
    out = np.zeros(size, dtype=np.float32)
    for (x, y), label in zip(points, labels, strict=True):
        if label == 1:
            out[(xs - x) ** 2 + (ys - y) ** 2 <= radius**2] = 1.0
    return out


@pytest.mark.parametrize("name", ALL_VIEWS)
def test_map_round_trip_with_fake_labeler(name: str) -> None:
    """Each view's map brought back agrees with the identity view's map within one pixel."""
    view = parse_view(name)
    points = np.array([[10, 12], [60, 30], [75, 44]], dtype=np.float32)
    labels = np.array([1, 1, 0])
    reference = _paint_disks(points, labels, SIZE) >= 0.5
    view_size = view.view_size(SIZE)
    answer = _paint_disks(view.apply_points(points, SIZE), labels, view_size)
    back = view.invert_map(answer, SIZE) >= 0.5
    assert back.shape == reference.shape
    grown = ndimage.binary_dilation(reference, iterations=1)
    shrunk = ndimage.binary_erosion(reference, iterations=1)
    assert np.all(back <= grown), f"{name}: foreground outside the identity map + 1 px"
    assert np.all(shrunk <= back), f"{name}: foreground missing inside the identity map - 1 px"
    if view.scale == 1.0:
        assert np.array_equal(back, reference)


def test_invert_map_undoes_orientation_exactly() -> None:
    rng = np.random.default_rng(2)
    original = rng.random(SIZE).astype(np.float32)
    for name in ("rot90", "hflip_rot270", "vflip", "rot180"):
        view = parse_view(name)
        oriented = view.apply_label_map((original * 100).astype(np.uint8)).astype(np.float32) / 100
        assert np.array_equal(view.invert_map(oriented, SIZE), (original * 100).astype(np.uint8) / np.float32(100))


def test_invert_map_rejects_wrong_shape() -> None:
    with pytest.raises(ValueError, match="expected"):
        parse_view("rot90").invert_map(np.zeros(SIZE, dtype=np.float32), SIZE)


def test_box_follows_corners() -> None:
    view = parse_view("hflip_rot90")
    box = np.array([10, 5, 30, 20], dtype=np.float32)
    moved = view.apply_box(box, SIZE)
    assert moved[0] <= moved[2] and moved[1] <= moved[3]
    mask = np.zeros(SIZE, dtype=np.uint8)
    mask[5:21, 10:31] = 1
    ys, xs = np.nonzero(view.apply_label_map(mask))
    np.testing.assert_array_equal(moved, [xs.min(), ys.min(), xs.max(), ys.max()])
