"""Every image mode and mask encoding a user's dataset may hold is converted by its documented rule or refused in
one line naming the file (wssam.pixels, through the readers of wssam.io).

Each case here was read wrongly without a word before: a 16-bit image became all white, a 0/1 GT (or any GT whose
foreground is below 128) became empty, an EXIF-rotated photo was used as stored, a coloured GT lost its object.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wssam.io import InputError, decode_gt, decode_image, read_grey, read_gt, read_image_size, read_label_map, read_rgb
from wssam.pixels import CMYK_CONVERTED, EXIF_ROTATED, SCALED_16_BIT, SOFT_MASK

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (12, 20, 3), dtype=np.uint8)  # not square: a turn shows in the shape
SQUARE = RNG.integers(0, 256, (16, 16, 3), dtype=np.uint8)


def _save(path: Path, image: Image.Image, **options: object) -> Path:
    image.save(path, **options)
    return path


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


# --- images ---------------------------------------------------------------------------------------------------


def test_a_16_bit_grey_image_is_scaled_not_clipped_to_white(tmp_path: Path) -> None:
    levels = np.linspace(0, 65535, 12 * 20).reshape(12, 20).astype(np.uint16)
    path = _save(tmp_path / "deep.png", Image.fromarray(levels))
    assert Image.open(path).mode == "I;16"
    decoded = decode_image(path)
    expected = np.round(levels / 257.0).astype(np.uint8)
    assert np.array_equal(decoded.pixels, np.stack([expected] * 3, axis=-1))
    assert decoded.notes == (SCALED_16_BIT,)
    assert np.array_equal(read_grey(path), expected)
    assert np.asarray(Image.open(path).convert("L")).mean() > 250, "Pillow's own conversion clips: all white"


def test_32_bit_integers_within_16_bits_are_scaled_and_others_refused(tmp_path: Path) -> None:
    inside = _save(tmp_path / "i.tif", Image.fromarray(np.array([[0, 257, 65535]], np.int32), "I"))
    assert read_rgb(inside)[0, :, 0].tolist() == [0, 1, 255]
    outside = _save(tmp_path / "big.tif", Image.fromarray(np.array([[0, 70000]], np.int32), "I"))
    with pytest.raises(InputError, match=r"big\.tif: 32-bit integer image with values 0\.\.70000"):
        read_rgb(outside)


def test_grey_one_bit_and_palette_images_become_rgb(tmp_path: Path) -> None:
    grey = RGB[..., 0]
    assert np.array_equal(read_rgb(_save(tmp_path / "g.png", Image.fromarray(grey))), np.stack([grey] * 3, -1))
    bits = _save(tmp_path / "b.png", Image.fromarray(grey > 127))
    assert set(np.unique(read_rgb(bits))) == {0, 255}
    palette = Image.fromarray(RGB).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    path = _save(tmp_path / "p.png", palette)
    assert np.array_equal(read_rgb(path), np.asarray(palette.convert("RGB")))


def test_an_opaque_alpha_channel_is_dropped_and_transparency_refused(tmp_path: Path) -> None:
    alpha = np.full(RGB.shape[:2], 255, np.uint8)
    opaque = _save(tmp_path / "opaque.png", Image.fromarray(np.dstack([RGB, alpha]), "RGBA"))
    assert np.array_equal(read_rgb(opaque), RGB)
    alpha[3, 4] = 0
    clear = _save(tmp_path / "clear.png", Image.fromarray(np.dstack([RGB, alpha]), "RGBA"))
    with pytest.raises(InputError, match=r"clear\.png: 1 of 240 pixels are transparent .* flatten") as error:
        read_rgb(clear)
    assert "\n" not in str(error.value)
    palette = Image.fromarray(RGB[..., 0] // 64, "P")
    palette.putpalette([0, 0, 0, 90, 90, 90, 180, 180, 180, 255, 255, 255])
    with pytest.raises(InputError, match=r"keyed\.png: .* transparent"):
        read_rgb(_save(tmp_path / "keyed.png", palette, transparency=0))


def test_cmyk_is_converted_and_noted(tmp_path: Path) -> None:
    path = _save(tmp_path / "print.tif", Image.fromarray(RGB).convert("CMYK"))
    decoded = decode_image(path)
    assert decoded.notes == (CMYK_CONVERTED,)
    assert np.array_equal(decoded.pixels, np.asarray(Image.open(path).convert("RGB")))
    assert np.abs(decoded.pixels.astype(int) - RGB).max() <= 1  # Pillow's naive CMYK round trip


def test_floating_point_images_are_refused(tmp_path: Path) -> None:
    path = _save(tmp_path / "float.tif", Image.fromarray(np.full((4, 4), 0.5, np.float32)))
    with pytest.raises(InputError, match=r"float\.tif: image mode F is not supported"):
        read_rgb(path)


@pytest.mark.parametrize(("orientation", "turn"), [(3, lambda a: np.rot90(a, 2)), (6, lambda a: np.rot90(a, -1))])
def test_exif_orientation_is_applied_to_pixels_and_size(tmp_path: Path, orientation: int, turn) -> None:
    """A square photo with an orientation tag used to be read as stored, misaligned with labels drawn on what a
    viewer shows; a non-square one was a size mismatch."""
    for name, pixels in (("square", SQUARE), ("wide", RGB)):
        path = _save(tmp_path / f"{name}{orientation}.png", Image.fromarray(pixels), exif=_exif(orientation))
        decoded = decode_image(path)
        assert np.array_equal(decoded.pixels, turn(pixels)), name
        assert decoded.notes == (EXIF_ROTATED,)
        assert read_image_size(path) == turn(pixels).shape[:2]
    jpeg = _save(tmp_path / "photo.jpg", Image.fromarray(RGB), exif=_exif(orientation), quality=95)
    assert read_rgb(jpeg).shape == turn(RGB).shape and read_image_size(jpeg) == turn(RGB).shape[:2]


def test_masks_and_label_maps_follow_their_exif_orientation_too(tmp_path: Path) -> None:
    mask = np.zeros((12, 20), np.uint8)
    mask[:4, :6] = 255
    path = _save(tmp_path / "gt.png", Image.fromarray(mask), exif=_exif(6))
    assert np.array_equal(read_gt(path), np.rot90(mask > 0, -1))
    labels = np.zeros((12, 20), np.uint8)
    labels[0, :3] = 1
    path = _save(tmp_path / "scribble.png", Image.fromarray(labels), exif=_exif(6))
    assert np.array_equal(read_label_map(path), np.rot90(labels, -1))


def test_an_image_above_the_pixel_limit_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _save(tmp_path / "huge.png", Image.fromarray(RGB))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow's limit, lowered instead of writing 90 Mpx
    for read in (read_rgb, read_image_size):
        with pytest.raises(InputError, match=r"huge\.png: too large to read \(Image size \(240 pixels\)") as error:
            read(path)
        assert "\n" not in str(error.value)


# --- ground-truth masks ------------------------------------------------------------------------------------------

SHAPE = np.zeros((10, 12), bool)
SHAPE[2:6, 3:9] = True


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("zero_one", SHAPE.astype(np.uint8)),
        ("zero_255", SHAPE.astype(np.uint8) * 255),
        ("zero_100", SHAPE.astype(np.uint8) * 100),  # a foreground below 128 used to vanish
        ("sixteen_bit", SHAPE.astype(np.uint16) * 65535),
        ("sixteen_bit_zero_one", SHAPE.astype(np.uint16)),
        ("red_on_black", np.dstack([SHAPE * 255, SHAPE * 0, SHAPE * 0]).astype(np.uint8)),  # luminance 76
    ],
)
def test_binary_masks_any_encoding(tmp_path: Path, name: str, stored: np.ndarray) -> None:
    path = _save(tmp_path / f"{name}.png", Image.fromarray(stored))
    decoded = decode_gt(path)
    assert np.array_equal(decoded.pixels, SHAPE), name
    assert SOFT_MASK not in decoded.notes


def test_a_palette_mask_is_read_by_its_colours(tmp_path: Path) -> None:
    voc = Image.fromarray(SHAPE.astype(np.uint8), "P")
    voc.putpalette([0, 0, 0, 128, 0, 0])  # black background, dark-red object (luminance 38)
    assert np.array_equal(read_gt(_save(tmp_path / "voc.png", voc)), SHAPE)


def test_a_soft_mask_is_cut_above_128_as_the_toolbox_does(tmp_path: Path) -> None:
    soft = np.where(SHAPE, 200, 0).astype(np.uint8)
    soft[0, 0], soft[9, 0], soft[2, 3] = 128, 90, 129  # anti-aliased levels
    decoded = decode_gt(_save(tmp_path / "soft.png", Image.fromarray(soft)))
    assert decoded.notes == (SOFT_MASK,)
    assert np.array_equal(decoded.pixels, soft > 128)


def test_masks_no_rule_covers_are_refused(tmp_path: Path) -> None:
    faint = np.where(SHAPE, 90, 0).astype(np.uint8)
    faint[0, 0] = 40
    with pytest.raises(InputError, match=r"faint\.png: soft mask with 3 grey levels, none above 128"):
        read_gt(_save(tmp_path / "faint.png", Image.fromarray(faint)))
    colours = np.zeros((10, 12, 3), np.uint8)
    colours[SHAPE] = (255, 0, 0)
    colours[0, 0] = (0, 255, 0)
    with pytest.raises(InputError, match=r"colours\.png: colour mask with 3 colours"):
        read_gt(_save(tmp_path / "colours.png", Image.fromarray(colours)))


def test_empty_and_full_masks_read_as_such(tmp_path: Path) -> None:
    assert not read_gt(_save(tmp_path / "empty.png", Image.fromarray(np.zeros((4, 4), np.uint8)))).any()
    assert read_gt(_save(tmp_path / "full.png", Image.fromarray(np.ones((4, 4), np.uint8)))).all()


# --- sparse label maps -------------------------------------------------------------------------------------------


def test_label_maps_keep_indices_and_values(tmp_path: Path) -> None:
    labels = np.array([[0, 1, 2, 1]], np.uint8)
    palette = Image.fromarray(labels, "P")
    palette.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255])
    assert read_label_map(_save(tmp_path / "p.png", palette)).tolist() == labels.tolist()
    deep = _save(tmp_path / "deep.png", Image.fromarray(labels.astype(np.uint16)))
    assert read_label_map(deep).tolist() == labels.tolist()


def test_label_maps_that_would_wrap_or_carry_colour_are_refused(tmp_path: Path) -> None:
    wraps = _save(tmp_path / "wraps.png", Image.fromarray(np.array([[0, 257]], np.uint16)))  # 257 % 256 == 1
    with pytest.raises(InputError, match=r"wraps\.png: label map has values up to 257"):
        read_label_map(wraps)
    with pytest.raises(InputError, match=r"alpha\.png: label map has mode LA"):
        read_label_map(_save(tmp_path / "alpha.png", Image.fromarray(np.zeros((2, 2, 2), np.uint8), "LA")))
