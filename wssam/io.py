"""Reading and writing the pipeline's files: images, masks, label maps, probability maps, tables, JSON.

Conventions used everywhere in wssam:

- images are RGB ``uint8`` arrays of shape (H, W, 3);
- ground-truth masks are ``bool`` arrays of shape (H, W);
- probability maps are ``float32`` arrays of shape (H, W) in [0, 1], stored as 8-bit PNG (round(p * 255));
- sparse label maps are ``uint8`` (H, W) with the S-COD values 0/1/2 (:mod:`wssam.labels`).

How stored files become those arrays (EXIF orientation, bit depth, palette, alpha, CMYK, grey; masks as 0/1,
0/255, soft or colour) is one rule per encoding, stated in :mod:`wssam.pixels`; what no rule covers is refused with
an :class:`InputError` that names the file and says what to do.

Images above Pillow's decompression-bomb limit (about 89 megapixels) are refused. Every write is atomic
(:func:`wssam.staging.atomic_path`): an interrupted stage never leaves a half-written file that a rerun would trust.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

import wssam.pixels as pixels
from wssam.staging import atomic_path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
#: image formats a dataset may hold that wssam does not read: refused by name rather than skipped
UNREAD_IMAGE_SUFFIXES = (".webp", ".gif", ".jfif", ".heic", ".heif", ".avif", ".jp2", ".ppm", ".pgm", ".tga")


class InputError(Exception):
    """A problem with the user's files or parameters, reported as one line without a traceback."""


@dataclass(frozen=True)
class Decoded:
    """Pixels read from a file by the rules of :mod:`wssam.pixels`, and ``notes``: the conversions it applied."""

    pixels: np.ndarray
    notes: tuple[str, ...]


# ----------------------------------------------------------------------------------------------- te--- reading


def _open_image(path: Path, fix: str = "replace or remove the file", *, load: bool = True) -> Image.Image:
    """Open ``path`` with Pillow (decoded when ``load``); every failure is an InputError naming the file."""
    if not path.is_file():
        raise InputError(f"{path}: file not found; {fix}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            if load:
                image.load()
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
        reason = str(error).split(",")[0]
        raise InputError(f"{path}: too large to read ({reason}); downscale the image") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise InputError(f"{path}: cannot read image ({error}); {fix}") from error
    return image


def _decode(path: str | os.PathLike[str], rule: Callable[[Image.Image, list[str]], np.ndarray]) -> Decoded:
    """Open ``path`` and apply one rule of :mod:`wssam.pixels`; a refusal becomes an InputError naming the file."""
    path = Path(path)
    notes: list[str] = []
    try:
        return Decoded(rule(_open_image(path), notes), tuple(notes))
    except pixels.UnsupportedPixelsError as error:
        raise InputError(f"{path}: {error}") from None


def read_image_size(path: str | os.PathLike[str], *, fix: str = "replace or remove the file") -> tuple[int, int]:
    """(height, width) of an image as it is used (EXIF orientation applied), from its header only.

    A missing or unreadable file is an InputError naming it and ending with ``fix`` (what the user should do).
    """
    path = Path(path)
    with _open_image(path, fix, load=False) as image:
        width, height = image.size
        turned = _orientation(path, image, fix) in pixels.SWAPPING_ORIENTATIONS
    return (width, height) if turned else (height, width)


def _orientation(path: Path, image: Image.Image, fix: str) -> int:
    """:func:`wssam.pixels.orientation` of the opened file ``path``; a failure is an InputError naming it."""
    try:
        return pixels.orientation(image)
    except pixels.UnsupportedPixelsError as error:
        raise InputError(f"{path}: {error}") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read image ({error}); {fix}") from None


def exif_orientation(path: str | os.PathLike[str]) -> int:
    """The EXIF orientation tag of an image file (1 = as stored), for messages about sizes."""
    path = Path(path)
    with _open_image(path, load=False) as image:
        return _orientation(path, image, "replace or remove the file")


def decode_image(path: str | os.PathLike[str]) -> Decoded:
    """An image as RGB ``uint8`` (H, W, 3) (rules in :mod:`wssam.pixels`), with the conversions applied."""
    return _decode(path, pixels.rgb)


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image as RGB ``uint8`` of shape (H, W, 3) (rules in :mod:`wssam.pixels`)."""
    return decode_image(path).pixels


def read_grey(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image as one ``uint8`` channel (H, W): RGB files as luminance, 16-bit files scaled to 8 bits."""
    return _decode(path, pixels.grey).pixels


def read_prediction(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a predicted map to evaluate as the CODToolbox does: ``float64`` (H, W) in [0, 1], the first channel of a
    colour file, at its stored depth (rules in :mod:`wssam.pixels`)."""
    return _decode(path, pixels.prediction).pixels


def decode_gt(path: str | os.PathLike[str]) -> Decoded:
    """A ground-truth mask as ``bool`` (H, W) by the binary or soft rule of :mod:`wssam.pixels`, with notes."""
    return _decode(path, pixels.mask)


def read_gt(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a ground-truth mask as ``bool`` (H, W) (binary or soft rule, see :mod:`wssam.pixels`)."""
    return decode_gt(path).pixels


def read_probability(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an 8-bit probability map as ``float32`` (H, W) in [0, 1] (grey level / 255)."""
    return read_grey(path).astype(np.float32) / 255.0


def read_mask_made_elsewhere(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a pseudo mask made outside the pipeline as ``float32`` (H, W) in [0, 1]: a binary file (0/1, 0/255,
    0/65535) as 0 and 1, a soft map as grey level / 255 (rules in :mod:`wssam.pixels`)."""
    return _decode(path, pixels.made_elsewhere).pixels


def read_label_map(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a label map (e.g. S-COD scribbles) as stored: ``uint8`` (H, W), upright (EXIF applied), no conversion.

    Palette PNGs keep their indices and 16-bit files their values (which must fit 8 bits); files with colour or
    alpha channels are rejected because their values would be ambiguous.
    """
    return _decode(path, lambda image, notes: pixels.label_values(image)).pixels


# ----------------------------------------------------------------------------------------------------- writing


def probability_to_uint8(probability: np.ndarray) -> np.ndarray:
    """Map a float map in [0, 1] to ``uint8`` levels round(p * 255); values outside [0, 1] are clipped."""
    return np.round(np.clip(probability, 0.0, 1.0) * 255.0).astype(np.uint8)


def png_bytes(array: np.ndarray) -> bytes:
    """A ``uint8`` (H, W) or (H, W, 3) array encoded as PNG (the bytes :func:`write_png` writes)."""
    if array.dtype != np.uint8:
        raise TypeError(f"PNG encoding expects uint8, got {array.dtype}")
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def write_png(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write a ``uint8`` (H, W) or (H, W, 3) array as PNG, atomically."""
    data = png_bytes(array)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_probability(path: str | os.PathLike[str], probability: np.ndarray) -> None:
    """Write a probability map in [0, 1] as an 8-bit PNG (round(p * 255)), atomically."""
    write_png(path, probability_to_uint8(probability))


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write text atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write JSON (indented, keys in insertion order) atomically."""
    write_text(path, json.dumps(data, indent=2) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file; a missing or malformed file is an :class:`InputError`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found; run the stage that writes it first")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not valid JSON ({error}); delete it and rerun the stage that writes it") from error


def write_table(path: str | os.PathLike[str], table: pd.DataFrame) -> None:
    """Write a table as CSV (no index column), atomically."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CSV table; a missing or empty file is an :class:`InputError`.

    A ``name`` column (image base names) is text as written: ``0001`` stays ``0001``, not the number 1 (a dataset of
    zero-padded numbers would otherwise get predictions named ``1.png`` beside ``0001.png``); no value but an empty
    field is read as missing (``NA`` and ``nan`` are names too).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found; run the stage that writes it first")
    try:
        return pd.read_csv(path, dtype={"name": str}, keep_default_na=False, na_values=[""])
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as error:
        raise InputError(f"{path}: cannot read table ({error}); delete it and rerun the stage") from error


def list_images(folder: str | os.PathLike[str], *, fix: str = "check the path") -> dict[str, Path]:
    """Map base name -> path for the image files in ``folder`` (not recursive), sorted by name.

    Hidden files (wssam's temporaries among them) and files of other kinds are skipped. An :class:`InputError`
    (ending with ``fix`` for a missing folder): the folder is missing; two files share a base name (``a.jpg`` and
    ``a.png``); an image in a format wssam does not read (``.webp``), which would otherwise look missing.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: folder not found; {fix}")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in UNREAD_IMAGE_SUFFIXES and not path.name.startswith("."):
            raise InputError(
                f"{path}: image format {path.suffix} is not read; convert it to one of {', '.join(IMAGE_SUFFIXES)}"
            )
        if path.suffix.lower() not in IMAGE_SUFFIXES or path.name.startswith(".") or not path.is_file():
            continue
        if path.stem in found:
            raise InputError(f"{path}: same base name as {found[path.stem].name}; keep only one of them")
        found[path.stem] = path
    return found
