"""The embedded demo dataset: seeded, camouflage-like RGB images with binary ground truth.

Every image has one object (or two, for a share ``two_object_fraction``) hidden in a textured background.
Object and background textures are drawn from overlapping distributions: both are smoothed coloured noise around
the SAME mean colour, with the same contrast, so a global grey-level threshold finds little (Otsu IoU well below
0.5). They differ only locally, as real camouflage does:

- texture statistics: the two regions use different noise scales and orientations (fine vs coarse, oriented
  stripes vs isotropic blobs);
- a small chromatic shift of the object, consistent across the dataset (objects lean warm; the grey level is
  unchanged), and a tendency (not a rule) for the object to carry the finer texture;
- a darker rim along the object's outline, about two pixels wide (a soft edge, like the shading at a real
  object's border: the cue that edge-aware propagation from scribbles relies on).

That keeps the task learnable for a small CNN and lets an edge-aware propagation (random walker) seeded by
scribbles recover most of the object, while staying hard for global intensity rules.

Shapes are smooth random blobs, rotated ellipses or elongated curved bodies, covering about 5 % to 35 % of the
image, at random positions. Images are ``uint8`` (S, S, 3); masks are ``bool`` (S, S).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

MIN_AREA_FRACTION = 0.05
MAX_AREA_FRACTION = 0.35
TEXTURE_CONTRAST = 20.0  # standard deviation of each channel's texture, grey levels
CHROMA_SHIFT = 14.0  # length of the object's colour shift, grey levels, orthogonal to the grey axis
RIM_DEPTH = 60.0  # how much darker the object's outline is, grey levels
RIM_SIGMA = 0.7  # blur of the rim, pixels
FINE_SCALES = (1.3, 2.0)  # noise smoothing (pixels) of the fine texture
COARSE_SCALES = (3.0, 5.0)  # noise smoothing (pixels) of the coarse texture
OBJECT_HUE = (1.0, 0.0, -1.0)  # objects lean warm (more red, less blue) ...
HUE_JITTER = 0.35  # ... with this much random jitter of the direction per image
OBJECT_FINE_PROBABILITY = 0.75  # share of images whose object has the finer texture
SHAPE_KINDS = ("blob", "ellipse", "elongated")


@dataclass(frozen=True)
class DemoSample:
    """One demo image: ``name``, ``image`` uint8 (S, S, 3) RGB, ``mask`` bool (S, S) ground truth."""

    name: str
    image: np.ndarray
    mask: np.ndarray


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (y, x) of a size x size image, each float (S, S)."""
    return np.mgrid[0:size, 0:size].astype(np.float64)


def blob_shape(size: int, rng: np.random.Generator, area_fraction: float) -> np.ndarray:
    """A smooth star-shaped blob: radius r(theta) = r0 (1 + sum of a few low harmonics); bool (S, S)."""
    yy, xx = _grid(size)
    radius = np.sqrt(area_fraction * size * size / np.pi)
    cy, cx = rng.uniform(radius, size - radius, size=2)
    theta = np.arctan2(yy - cy, xx - cx)
    wobble = np.ones_like(theta)
    for harmonic in range(2, 5):
        wobble += rng.uniform(0.05, 0.22) / harmonic * 2 * np.cos(harmonic * theta + rng.uniform(0, 2 * np.pi))
    return np.hypot(yy - cy, xx - cx) <= radius * wobble


def ellipse_shape(size: int, rng: np.random.Generator, area_fraction: float, aspect: float) -> np.ndarray:
    """A rotated ellipse with axis ratio ``aspect`` (>= 1) and the given area; bool (S, S)."""
    yy, xx = _grid(size)
    minor = np.sqrt(area_fraction * size * size / (np.pi * aspect))
    major = minor * aspect
    margin = min(major, size / 2 - 1)
    cy, cx = rng.uniform(margin * 0.8, size - margin * 0.8, size=2)
    angle = rng.uniform(0, np.pi)
    u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
    v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
    return (u / major) ** 2 + (v / minor) ** 2 <= 1.0


def elongated_shape(size: int, rng: np.random.Generator, area_fraction: float) -> np.ndarray:
    """An elongated, gently curved body (a thick bent ellipse, like a lizard or a stick insect); bool (S, S)."""
    yy, xx = _grid(size)
    aspect = rng.uniform(3.0, 5.0)
    minor = np.sqrt(area_fraction * size * size / (np.pi * aspect))
    major = min(minor * aspect, 0.45 * size)
    minor = area_fraction * size * size / (np.pi * major)
    cy, cx = rng.uniform(0.35 * size, 0.65 * size, size=2)
    angle = rng.uniform(0, np.pi)
    bend = rng.uniform(-1.0, 1.0) * minor / major
    u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
    v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
    v = v - bend * (u**2) / major
    return (u / major) ** 2 + (v / minor) ** 2 <= 1.0


def random_shape(size: int, rng: np.random.Generator, area_fraction: float) -> np.ndarray:
    """One object mask of roughly ``area_fraction`` of the image, of a random kind; bool (S, S)."""
    kind = SHAPE_KINDS[int(rng.integers(len(SHAPE_KINDS)))]
    if kind == "blob":
        return blob_shape(size, rng, area_fraction)
    if kind == "ellipse":
        return ellipse_shape(size, rng, area_fraction, aspect=rng.uniform(1.0, 2.2))
    return elongated_shape(size, rng, area_fraction)


def object_mask(size: int, rng: np.random.Generator, objects: int) -> np.ndarray:
    """A ground-truth mask with ``objects`` (1 or 2) separate objects, 5 % to 35 % of the image in all; bool (S, S)."""
    total = rng.uniform(MIN_AREA_FRACTION, MAX_AREA_FRACTION)
    if objects == 1:
        return random_shape(size, rng, total)
    for _ in range(50):
        share = rng.uniform(0.35, 0.65)
        first = random_shape(size, rng, total * share)
        second = random_shape(size, rng, total * (1 - share))
        if not (ndimage.binary_dilation(first, iterations=4) & second).any():
            return first | second
    return random_shape(size, rng, total)


def oriented_noise(size: int, rng: np.random.Generator, scale: float, anisotropy: float) -> np.ndarray:
    """Three-channel smoothed noise, each channel zero mean and unit variance; float (S, S, 3).

    ``scale`` is the smoothing sigma in pixels across the texture's orientation; along it the sigma is
    ``scale * anisotropy`` (1 = isotropic blobs, > 1 = stripes at a random angle).
    """
    pad = size // 2
    big = size + 2 * pad
    noise = rng.standard_normal((big, big, 3))
    smooth = ndimage.gaussian_filter(noise, sigma=(scale, scale * anisotropy, 0))
    if anisotropy != 1.0:
        smooth = ndimage.rotate(smooth, rng.uniform(0, 180), axes=(0, 1), reshape=False, order=1, mode="reflect")
    crop = smooth[pad : pad + size, pad : pad + size]
    crop = crop - crop.mean(axis=(0, 1))
    return crop / (crop.std(axis=(0, 1)) + 1e-8)


def _chroma_direction(rng: np.random.Generator) -> np.ndarray:
    """A unit RGB vector orthogonal to grey (1, 1, 1), so shifting along it keeps the mean grey level.

    It is the dataset-wide ``OBJECT_HUE`` direction (objects slightly warmer) plus a small random jitter: a
    consistent but subtle cue that a network can learn and a grey-level threshold cannot see.
    """
    vector = np.asarray(OBJECT_HUE, dtype=np.float64) + HUE_JITTER * rng.standard_normal(3)
    vector -= vector.mean()
    return vector / np.linalg.norm(vector)


def _texture_pair(rng: np.random.Generator) -> tuple[tuple[float, float], tuple[float, float]]:
    """(scale, anisotropy) for the background and the object: one fine, one coarse.

    The object gets the fine texture with probability ``OBJECT_FINE_PROBABILITY`` (a tendency, not a rule).
    """
    fine = (rng.uniform(*FINE_SCALES), rng.uniform(1.0, 2.5))
    coarse = (rng.uniform(*COARSE_SCALES), rng.uniform(1.0, 2.5))
    return (coarse, fine) if rng.random() < OBJECT_FINE_PROBABILITY else (fine, coarse)


def render_image(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Paint a camouflage image for ``mask`` (bool (S, S)); returns uint8 (S, S, 3) RGB."""
    size = mask.shape[0]
    base = rng.uniform(85, 170) + rng.uniform(-25, 25, size=3)  # shared mean colour (earthy, random)
    mixing = np.eye(3) * 0.6 + 0.4 * rng.uniform(0.5, 1.0, size=(3, 3))  # correlated channels: natural hues
    (bg_scale, bg_aniso), (fg_scale, fg_aniso) = _texture_pair(rng)
    background = oriented_noise(size, rng, bg_scale, bg_aniso) @ mixing.T
    foreground = oriented_noise(size, rng, fg_scale, fg_aniso) @ mixing.T
    background *= TEXTURE_CONTRAST / background.std()
    foreground *= TEXTURE_CONTRAST / foreground.std()
    foreground += CHROMA_SHIFT * _chroma_direction(rng)
    soft = ndimage.gaussian_filter(mask.astype(np.float64), 0.7)[..., None]
    image = base + soft * foreground + (1 - soft) * background
    outline = mask ^ ndimage.binary_erosion(mask)
    rim = ndimage.gaussian_filter(outline.astype(np.float64), RIM_SIGMA)
    image -= RIM_DEPTH * (rim / max(rim.max(), 1e-8))[..., None]
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def demo_samples(
    *, count: int, image_size: int, two_object_fraction: float, seed: int, prefix: str
) -> Iterator[DemoSample]:
    """Yield ``count`` demo images named ``<prefix>_0000`` ... deterministically for ``seed``.

    Image ``i`` uses its own generator seeded by (seed, i), so a sample does not depend on ``count``.
    """
    for index in range(count):
        rng = np.random.default_rng([seed, index])
        objects = 2 if rng.random() < two_object_fraction else 1
        mask = object_mask(image_size, rng, objects)
        yield DemoSample(name=f"{prefix}_{index:04d}", image=render_image(mask, rng), mask=mask)
