"""How stored pixels become the pipeline's arrays: one rule per image mode and mask encoding.

Pure functions of an opened Pillow image (no files: :mod:`wssam.io` opens them and names the file in errors).
A case no rule covers raises :class:`UnsupportedPixelsError` with what to do; ``notes`` lists collect the conversions
worth telling the user about (the constants below), which ``prepare`` reports once per kind.

- **Orientation**: a file with an EXIF orientation tag (JPEG, PNG, TIFF) is used as a viewer shows it: the rotation
  or flip is applied to its pixels and its size, for images, masks and label maps alike.
- **Images** become RGB ``uint8`` (H, W, 3): grey, 1-bit and palette files by replication or palette colour;
  16-bit grey as ``round(v / 257)`` (32-bit integer files only when their values lie in 0..65535; 16-bit RGB PNGs
  are read by Pillow as their high bytes); CMYK without colour management; an alpha channel is dropped when every
  pixel is opaque, and a file with any transparent pixel is refused (wssam does not guess a background);
  floating-point and other modes are refused.
- **Masks** (ground truth) become ``bool`` (H, W). Binary: at most two values, one of them 0 (black), and
  everything not black is foreground (0/1, 0/255, 0/65535, black and one colour). Soft: any other grey mask
  (anti-aliased or JPEG-compressed edges) is foreground where its 8-bit level is above 128 (as the CODToolbox
  reads GT), and refused when no level is. Colour masks with more than two colours are refused.
- **Predictions** (maps to evaluate) become ``float64`` (H, W) in [0, 1] as the CODToolbox reads them: the first
  channel of a colour file, 8-bit levels / 255 and 16-bit levels / 65535.
- **Label maps** (S-COD 0/1/2) are one channel of integers read as stored: 8-bit grey, palette indices (not their
  colours), 16-bit values that fit 8 bits; colour and alpha files are refused, and so are JPEG files (lossy).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

#: the EXIF tag of the orientation, and its values that swap width and height (transpose, 90/270 turns, transverse)
EXIF_ORIENTATION = 0x0112
SWAPPING_ORIENTATIONS = (5, 6, 7, 8)
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
ALPHA_MODES = ("RGBA", "LA", "RGBa", "La")
LABEL_MODES = ("L", "P", "1", "I", *SIXTEEN_BIT_MODES)
#: Pillow's names of the lossy formats wssam reads (MPO: a camera's JPEG with more than one picture)
LOSSY_FORMATS = ("JPEG", "MPO")

# conversions worth reporting (prepare prints one line per kind with the images concerned)
EXIF_ROTATED = "EXIF orientation applied"
SCALED_16_BIT = "16-bit values scaled to 8 bits"
CMYK_CONVERTED = "CMYK converted to RGB without colour management"
SOFT_MASK = "soft mask binarised at level > 128"
SOFT_THRESHOLD = 128


class UnsupportedPixelsError(ValueError):
    """Stored pixels that no rule converts; the message says what to do (the caller adds the file name)."""


def orientation(image: Image.Image) -> int:
    """The EXIF orientation of ``image`` (1..8; 1 = as stored, also when absent or out of range). An ``OSError``
    (a truncated or corrupt file, which Pillow reads to find a PNG's EXIF) passes to the caller, who names the file."""
    try:
        value = image.getexif().get(EXIF_ORIENTATION, 1)
    except OSError:
        raise
    except Exception as error:  # Pillow raises several types for broken EXIF blocks
        raise UnsupportedPixelsError(f"cannot read its EXIF block ({error}); save the image without EXIF") from None
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1


def upright(image: Image.Image, notes: list[str]) -> Image.Image:
    """``image`` as a viewer shows it: its EXIF orientation applied (noted), or ``image`` itself."""
    if orientation(image) == 1:
        return image
    notes.append(EXIF_ROTATED)
    return ImageOps.exif_transpose(image)


def without_alpha(image: Image.Image) -> Image.Image:
    """``image`` without alpha when every pixel is opaque (palette transparency too), else UnsupportedPixelsError."""
    if (image.mode == "P" and "transparency" in image.info) or image.mode == "PA":
        image = image.convert("RGBA")
    if image.mode not in ALPHA_MODES:
        return image
    alpha = np.asarray(image.getchannel("A"))
    transparent = int(np.count_nonzero(alpha < 255))
    if transparent:
        raise UnsupportedPixelsError(
            f"{transparent} of {alpha.size} pixels are transparent (alpha < 255) and wssam does not guess a "
            "background; flatten the image onto one and save it without alpha"
        )
    return image.convert("L" if image.mode in ("LA", "La") else "RGB")


def sixteen_bit(values: np.ndarray) -> np.ndarray:
    """Integer levels as ``uint16``; values outside 0..65535 (32-bit files) are UnsupportedPixelsError."""
    if values.size and (values.min() < 0 or values.max() > 65535):
        raise UnsupportedPixelsError(
            f"32-bit integer image with values {values.min()}..{values.max()} (outside 0..65535); "
            "save it as an 8-bit or 16-bit image"
        )
    return values.astype(np.uint16)


def scale_16_bit(values: np.ndarray) -> np.ndarray:
    """16-bit levels -> ``uint8`` as round(v / 257): 0 -> 0, 257 k -> k, 65535 -> 255."""
    return np.round(values.astype(np.float64) / 257.0).astype(np.uint8)


def native(image: Image.Image, notes: list[str]) -> np.ndarray:
    """Pixels of an upright image at their stored depth: one channel ``uint8`` or ``uint16`` (H, W) (16-bit kept:
    masks need the raw levels) or RGB ``uint8`` (H, W, 3). Alpha, palette, CMYK and modes as in the docstring."""
    image = without_alpha(image)
    mode = image.mode
    if mode in SIXTEEN_BIT_MODES or mode == "I":
        return sixteen_bit(np.asarray(image))
    if mode in ("1", "L"):
        return np.asarray(image.convert("L"), dtype=np.uint8).copy()
    if mode == "CMYK":
        notes.append(CMYK_CONVERTED)
    elif mode not in ("RGB", "P", "YCbCr", "RGBX"):
        raise UnsupportedPixelsError(
            f"image mode {mode} is not supported (floating-point or another colour space); save it as 8-bit RGB or grey"
        )
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def to_uint8(values: np.ndarray, notes: list[str]) -> np.ndarray:
    """``values`` from :func:`native` with 16-bit levels scaled to 8 bits (noted)."""
    if values.dtype == np.uint8:
        return values
    notes.append(SCALED_16_BIT)
    return scale_16_bit(values)


def rgb(image: Image.Image, notes: list[str]) -> np.ndarray:
    """An image as RGB ``uint8`` (H, W, 3) (rules of the module docstring)."""
    values = to_uint8(native(upright(image, notes), notes), notes)
    return np.ascontiguousarray(np.repeat(values[..., None], 3, axis=2) if values.ndim == 2 else values)


def grey(image: Image.Image, notes: list[str]) -> np.ndarray:
    """An image as one ``uint8`` channel (H, W): RGB as luminance (ITU-R 601, as Pillow), 16-bit scaled."""
    values = to_uint8(native(upright(image, notes), notes), notes)
    if values.ndim == 3:
        values = np.asarray(Image.fromarray(values).convert("L"), dtype=np.uint8)
    return values.copy()


def prediction(image: Image.Image, notes: list[str]) -> np.ndarray:
    """A predicted map as the CODToolbox reads one, ``im2double(pred(:, :, 1))``: ``float64`` (H, W) in [0, 1].

    The first channel of a colour file (not its luminance: a heat-map render is read by its red channel, as the
    toolbox does), at its stored depth: 8-bit levels / 255, 16-bit levels / 65535 (not rounded to 8 bits first).
    Grey, 1-bit and palette files read as their grey levels (a grey palette's colours).
    """
    values = native(upright(image, notes), notes)
    if values.ndim == 3:
        values = values[..., 0]
    return values / (65535 if values.dtype == np.uint16 else 255)


def made_elsewhere(image: Image.Image, notes: list[str]) -> np.ndarray:
    """A pseudo mask made outside the pipeline as a probability map, ``float32`` (H, W) in [0, 1]: a binary file
    (the binary rule of masks: 0/1, 0/255, 0/65535, black and one colour) as 0 and 1; any other as its grey level
    / 255 (RGB as luminance, 16-bit scaled), a soft map keeping its levels."""
    values = native(upright(image, notes), notes)
    single = values if values.ndim == 2 else _mask_channel(values)
    if single is not None:
        levels = np.unique(single)
        if len(levels) <= 2 and levels[0] == 0:
            return (single > 0).astype(np.float32)
    return grey(image, notes).astype(np.float32) / 255.0


def _mask_channel(rgb: np.ndarray) -> np.ndarray | None:
    """A colour mask's one channel: (H, W) of its grey level when its three channels agree, 0/1 (``uint8``) when it
    is black and one colour, None when it has more colours (or two, neither black)."""
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
        return rgb[..., 0]
    colours = np.unique(rgb.reshape(-1, 3), axis=0)
    if len(colours) > 2 or not (colours == 0).all(axis=1).any():
        return None
    return rgb.any(axis=2).astype(np.uint8)


def mask(image: Image.Image, notes: list[str]) -> np.ndarray:
    """A ground-truth mask as ``bool`` (H, W): the binary rule, else the soft rule (module docstring)."""
    values = native(upright(image, notes), notes)
    if values.ndim == 3:
        single = _mask_channel(values)
        if single is None:
            colours = len(np.unique(values.reshape(-1, 3), axis=0))
            raise UnsupportedPixelsError(
                f"colour mask with {colours} colours; save it as a single-channel mask (0 background, 255 foreground)"
            )
        values = single
    levels = np.unique(values)
    if len(levels) == 1 or (len(levels) == 2 and levels[0] == 0):
        return values > 0
    notes.append(SOFT_MASK)
    levels_8 = scale_16_bit(values) if values.dtype != np.uint8 else values
    foreground = levels_8 > SOFT_THRESHOLD
    if not foreground.any():
        raise UnsupportedPixelsError(
            f"soft mask with {len(levels)} grey levels, none above {SOFT_THRESHOLD} (highest "
            f"{int(levels_8.max())}); save it as 0 (background) and 255 (foreground)"
        )
    return foreground


def label_values(image: Image.Image) -> np.ndarray:
    """A label map's stored values, upright, as ``uint8`` (H, W) (palette indices, not colours). A JPEG file is
    refused: its compression moves values between 0, 1 and 2 where they stay valid (a background stroke read as
    foreground), so no check of the values could catch it."""
    if image.format in LOSSY_FORMATS:
        raise UnsupportedPixelsError(
            f"label map stored as {image.format}, whose compression changes the 0/1/2 labels; save it as PNG"
        )
    image = upright(image, [])
    if image.mode not in LABEL_MODES:
        raise UnsupportedPixelsError(
            f"label map has mode {image.mode}; expected a single-channel 8-bit PNG with values 0/1/2"
        )
    values = np.asarray(image)
    if values.dtype != np.uint8 and values.size and (values.min() < 0 or values.max() > 255):
        raise UnsupportedPixelsError(f"label map has values up to {values.max()}; expected 0/1/2 (S-COD)")
    return values.astype(np.uint8)
