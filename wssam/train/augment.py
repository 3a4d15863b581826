"""Training augmentation: one random geometry applied identically to image, pseudo label, weight map and scribbles.

A sample holds four aligned maps in the image's frame:

- ``image``  float32 (3, H, W) in [0, 1], RGB;
- ``target`` float32 (1, H, W) in [0, 1], soft pseudo label;
- ``weight`` float32 (1, H, W) in [0, 1], pixel weight of the pseudo-label loss (0 = ignore);
- ``sparse`` uint8 (1, H, W) in {0, 1, 2}, S-COD scribble map.

Geometry (horizontal flip, rotation, crop then resize to a square side) moves all four together. Image, target and
weight are resampled bilinearly; the scribble map ALWAYS with nearest neighbour (``NEAREST_EXACT`` when resizing,
which samples the same pixel centres as bilinear resizing), so its values stay in {0, 1, 2}. Pixels rotated in from
outside the image get weight 0 and no scribble label, so they never train the network. Colour jitter touches the
image only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from torchvision.transforms import InterpolationMode

from wssam.train.config import AugmentConfig

BILINEAR = InterpolationMode.BILINEAR
NEAREST_RESIZE = InterpolationMode.NEAREST_EXACT  # samples the pixel centres bilinear resizing uses
NEAREST_ROTATE = InterpolationMode.NEAREST  # grid sampling: already centre-aligned


@dataclass(frozen=True)
class Sample:
    """Four aligned maps of one training image (see the module docstring for shapes and ranges)."""

    image: torch.Tensor
    target: torch.Tensor
    weight: torch.Tensor
    sparse: torch.Tensor


def hflip(sample: Sample) -> Sample:
    """Mirror every map left-right."""
    return Sample(*(TF.horizontal_flip(m) for m in _maps(sample)))


def rotate(sample: Sample, degrees: float) -> Sample:
    """Rotate every map by ``degrees`` (counter-clockwise) about its centre, keeping the size; outside fills 0."""
    if degrees == 0:
        return sample
    return Sample(
        image=TF.rotate(sample.image, degrees, interpolation=BILINEAR, fill=0.0),
        target=TF.rotate(sample.target, degrees, interpolation=BILINEAR, fill=0.0),
        weight=TF.rotate(sample.weight, degrees, interpolation=BILINEAR, fill=0.0),
        sparse=TF.rotate(sample.sparse, degrees, interpolation=NEAREST_ROTATE, fill=0),
    )


def crop_resize(sample: Sample, *, top: int, left: int, height: int, width: int, size: int) -> Sample:
    """Cut the box (top, left, height, width) in pixels (row, column) from every map and resize it to size x size."""
    box = (top, left, height, width)
    return Sample(
        image=TF.resized_crop(sample.image, *box, [size, size], interpolation=BILINEAR, antialias=True),
        target=TF.resized_crop(sample.target, *box, [size, size], interpolation=BILINEAR, antialias=True),
        weight=TF.resized_crop(sample.weight, *box, [size, size], interpolation=BILINEAR, antialias=True),
        sparse=TF.resized_crop(sample.sparse, *box, [size, size], interpolation=NEAREST_RESIZE),
    )


def resize(sample: Sample, size: int) -> Sample:
    """Resize every map of ``sample`` to size x size (no augmentation: validation)."""
    height, width = sample.image.shape[-2:]
    return crop_resize(sample, top=0, left=0, height=height, width=width, size=size)


def jitter_colour(image: torch.Tensor, *, brightness: float, contrast: float, saturation: float) -> torch.Tensor:
    """Scale brightness, contrast (about the mean grey level) and saturation of a (3, H, W) [0, 1] image by factors."""
    image = image * brightness
    grey = TF.rgb_to_grayscale(image)
    image = (image - grey.mean()) * contrast + grey.mean()
    grey = TF.rgb_to_grayscale(image)
    image = grey + (image - grey) * saturation
    return image.clamp(0.0, 1.0)


def augment(sample: Sample, config: AugmentConfig, size: int, rng: np.random.Generator) -> Sample:
    """Random flip, rotation, crop (side share in [crop_scale, 1]) resized to ``size``, then colour jitter.

    All random draws come from ``rng``, so a sample's augmentation is reproducible from the generator's seed.
    """
    if rng.random() < config.hflip:
        sample = hflip(sample)
    sample = rotate(sample, float(rng.uniform(-config.rotation_degrees, config.rotation_degrees)))
    height, width = sample.image.shape[-2:]
    scale = float(rng.uniform(config.crop_scale, 1.0))
    crop_h, crop_w = max(1, round(height * scale)), max(1, round(width * scale))
    top = int(rng.integers(0, height - crop_h + 1))
    left = int(rng.integers(0, width - crop_w + 1))
    sample = crop_resize(sample, top=top, left=left, height=crop_h, width=crop_w, size=size)
    j = config.color_jitter
    brightness, contrast, saturation = (float(f) for f in rng.uniform(1.0 - j, 1.0 + j, size=3))
    image = jitter_colour(sample.image, brightness=brightness, contrast=contrast, saturation=saturation)
    return replace(sample, image=image)


def _maps(sample: Sample) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    return sample.image, sample.target, sample.weight, sample.sparse
