"""Galleries: small PNG strips that show what the pipeline did to a fixed handful of images.

A gallery is a grid of thumbnails (rows = images, columns = what is shown), a header row naming the columns and a
caption per row. Maps are shown as grey levels (probability 0 black, 1 white); sparse labels as colours (foreground
green, background red, unlabelled black); a row's caption is green for an image kept for training, red otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from wssam.io import write_png
from wssam.labels import background_mask, foreground_mask

THUMBNAIL = 96  # thumbnail height, pixels
CAPTION = 150  # width of the caption column, pixels
HEADER = 16  # height of the header row, pixels
GAP = 2
KEPT_COLOUR, DISCARDED_COLOUR, TEXT_COLOUR = (60, 170, 60), (200, 60, 60), (230, 230, 230)


@dataclass(frozen=True)
class GalleryRow:
    """One row: a caption, its colour, and the cells (RGB ``uint8`` (H, W, 3), all of one image's size)."""

    caption: str
    cells: Sequence[np.ndarray]
    colour: tuple[int, int, int] = TEXT_COLOUR


def grey_cell(probability: np.ndarray) -> np.ndarray:
    """A map in [0, 1] (H, W) as an RGB ``uint8`` (H, W, 3) grey image."""
    level = np.round(np.clip(probability, 0.0, 1.0) * 255).astype(np.uint8)
    return np.repeat(level[..., None], 3, axis=2)


def sparse_cell(labels: np.ndarray) -> np.ndarray:
    """S-COD labels ``uint8`` (H, W) as RGB: foreground green, background red, unlabelled black."""
    cell = np.zeros((*labels.shape, 3), dtype=np.uint8)
    cell[foreground_mask(labels)] = (0, 230, 0)
    cell[background_mask(labels)] = (230, 0, 0)
    return cell


def _thumbnail(cell: np.ndarray) -> Image.Image:
    image = Image.fromarray(cell)
    width = max(1, round(image.width * THUMBNAIL / image.height))
    return image.resize((width, THUMBNAIL), Image.Resampling.NEAREST if image.height < THUMBNAIL else Image.BILINEAR)


def compose(columns: Sequence[str], rows: Sequence[GalleryRow]) -> np.ndarray:
    """The gallery as an RGB ``uint8`` image: a header naming ``columns``, then one captioned row per image."""
    thumbnails = [[_thumbnail(cell) for cell in row.cells] for row in rows]
    widths = [max((row[i].width for row in thumbnails if i < len(row)), default=THUMBNAIL) for i in range(len(columns))]
    width = CAPTION + sum(widths) + GAP * len(widths)
    height = HEADER + (THUMBNAIL + GAP) * len(rows)
    canvas = Image.new("RGB", (width, height), (20, 20, 20))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    x = CAPTION
    for name, column_width in zip(columns, widths, strict=True):
        draw.text((x + 2, 2), name[: max(1, column_width // 6)], fill=TEXT_COLOUR, font=font)
        x += column_width + GAP
    for index, (row, cells) in enumerate(zip(rows, thumbnails, strict=True)):
        top = HEADER + index * (THUMBNAIL + GAP)
        for line, text in enumerate(row.caption.split("\n")):
            draw.text((4, top + 4 + 12 * line), text[:24], fill=row.colour, font=font)
        x = CAPTION
        for cell, column_width in zip(cells, widths, strict=False):
            canvas.paste(cell, (x, top))
            x += column_width + GAP
    return np.asarray(canvas, dtype=np.uint8).copy()


def write_gallery(path: str | os.PathLike[str], columns: Sequence[str], rows: Sequence[GalleryRow]) -> None:
    """Compose and write the gallery as a PNG, atomically."""
    write_png(path, compose(columns, rows))
