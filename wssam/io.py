"""Reading and writing the pipeline's files: images, masks, probability maps, tables, JSON.

Conventions used everywhere in wssam:
- images are RGB ``uint8`` arrays of shape (H, W, 3);
- ground-truth masks are ``bool`` arrays of shape (H, W), foreground where the stored grey level is >= 128;
- probability maps are ``float32`` arrays of shape (H, W) in [0, 1], stored as 8-bit PNG (round(p * 255));
- every write goes to a temporary file in the target folder first and is moved into place with ``os.replace``,
  so an interrupted stage never leaves a half-written file that a rerun would trust.

A user's mistake (a missing, unreadable or corrupt file) raises :class:`InputError` with one line that names the
file and says what to do.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


class InputError(Exception):
    """A problem with the user's files or parameters, reported as one line without a traceback."""


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path`` atomically.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + target.suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def staged_folder(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a fresh temporary sibling folder of ``target``; on success it replaces ``target`` as a whole.

    On an exception the temporary folder is deleted and ``target`` is left as it was, so an interrupted run never
    leaves a half-written folder that a rerun would trust.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    tmp.chmod(0o755)
    try:
        yield tmp
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        had_old = target.exists()
        if had_old:
            os.replace(target, old)
        os.replace(tmp, target)
        if had_old and old.is_dir():
            shutil.rmtree(old)
        elif had_old:
            old.unlink()
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _open_image(path: Path) -> Image.Image:
    if not path.is_file():
        raise InputError(f"{path}: file not found; check the path or the dataset folder")
    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise InputError(f"{path}: cannot read image ({error}); replace or remove the file") from error
    return image


def read_image_size(path: str | os.PathLike[str], *, fix: str = "replace or remove the file") -> tuple[int, int]:
    """(height, width) of an image from its header, without decoding the pixels.

    A missing or unreadable file is an InputError naming it and ending with ``fix`` (what the user should do).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found; {fix}")
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise InputError(f"{path}: cannot read image ({error}); {fix}") from error
    return height, width


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image as RGB ``uint8`` of shape (H, W, 3); grey, palette and RGBA images are converted."""
    return np.asarray(_open_image(Path(path)).convert("RGB"), dtype=np.uint8).copy()


def read_grey(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image as one ``uint8`` channel of shape (H, W); RGB files are converted to luminance."""
    return np.asarray(_open_image(Path(path)).convert("L"), dtype=np.uint8).copy()


def read_gt(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a ground-truth mask as ``bool`` (H, W): foreground where the grey level is >= 128."""
    return read_grey(path) >= 128


def read_probability(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an 8-bit probability map as ``float32`` (H, W) in [0, 1] (grey level / 255)."""
    return read_grey(path).astype(np.float32) / 255.0


def read_label_map(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an 8-bit label map (e.g. S-COD scribbles) exactly as stored: ``uint8`` (H, W), no conversion.

    Palette PNGs keep their indices; RGB files are rejected because their values would be ambiguous.
    """
    image = _open_image(Path(path))
    if image.mode not in ("L", "P"):
        raise InputError(
            f"{path}: label map has mode {image.mode}; expected a single-channel 8-bit PNG with values 0/1/2"
        )
    return np.asarray(image, dtype=np.uint8).copy()


def probability_to_uint8(probability: np.ndarray) -> np.ndarray:
    """Map a float map in [0, 1] to ``uint8`` levels round(p * 255); values outside [0, 1] are clipped."""
    return np.round(np.clip(probability, 0.0, 1.0) * 255.0).astype(np.uint8)


def write_png(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write a ``uint8`` (H, W) or (H, W, 3) array as PNG, atomically."""
    if array.dtype != np.uint8:
        raise TypeError(f"write_png expects uint8, got {array.dtype}")
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")


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
    """Read a CSV table; a missing or empty file is an :class:`InputError`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found; run the stage that writes it first")
    try:
        return pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as error:
        raise InputError(f"{path}: cannot read table ({error}); delete it and rerun the stage") from error


def list_images(folder: str | os.PathLike[str]) -> dict[str, Path]:
    """Map base name -> path for the image files in ``folder`` (not recursive), sorted by name.

    Two files with the same base name (``a.jpg`` and ``a.png``) are an :class:`InputError`.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: folder not found")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES or path.name.startswith("."):
            continue
        if path.stem in found:
            raise InputError(f"{path}: same base name as {found[path.stem].name}; keep only one of them")
        found[path.stem] = path
    return found
