"""Training augmentation: one random geometry applied identically to image, pseudo label, weight map and scribbles.

A sample holds four aligned maps in the image's frame:

- ``image``  float32 (3, H, W) in [0, 1], RGB;
- ``target`` float32 (1, H, W) in [0, 1], soft pseudo label;
- ``weight`` float32 (1, H, W) in [0, 1], pixel weight of the pseudo-label loss (0 = ignore);
- ``sparse`` uint8 (1, H, W) in {0, 1, 2}, S-COD scribble map.

Geometry (horizontal flip, rotation, crop then resize to a square side) moves all four together. Image, target and
weight are resampled bilinearly; the scribble map ALWAYS with nearest neighbour (when resizing, at the pixel centres
bilinear resizing samples, with labelled pixels that would vanish put back; when rotating, a point that nearest
neighbour misses put back where the rotation takes it), so its values stay in {0, 1, 2} and no point is lost while
it stays inside the image. Pixels rotated in from outside the image get weight 0 and no scribble label, so they
never train the network. Colour jitter touches the image only; label noise (the released code's salt and pepper)
the pseudo label.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from torchvision.transforms import InterpolationMode

from wssam.labels import UNLABELLED, central_pixel, labelled_pieces, resize_label_map
from wssam.train.config import AugmentConfig

BILINEAR = InterpolationMode.BILINEAR
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
        sparse=rotate_label_map(sample.sparse, degrees),
    )


def rotate_label_map(sparse: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate a scribble map ``uint8`` (1, H, W) like :func:`rotate` by nearest neighbour, values unchanged, and put
    back every labelled piece that nearest neighbour drops while it stays inside the image.

    Nearest neighbour keeps a stroke (it covers many target pixel centres) but can miss a single-pixel point: about
    1 % of them at +-10 degrees. A piece (8-connected pixels of one label) with no pixel left gets one pixel back:
    its pixel nearest its centroid, moved by the same rotation (the peak of that pixel rotated bilinearly), when it
    lands wholly inside the image and on an unlabelled pixel. A piece rotated out of the image stays out.
    """
    rotated = TF.rotate(sparse, degrees, interpolation=NEAREST_ROTATE, fill=0)
    labels = sparse[0].numpy()
    lost: list[tuple[int, int, int]] = []  # (row, column, label) of one pixel per dropped piece
    for value, pieces, count in labelled_pieces(labels):
        ids = torch.from_numpy(pieces.astype(np.float32))[None]
        kept = np.unique(TF.rotate(ids, degrees, interpolation=NEAREST_ROTATE, fill=0.0).numpy())
        for piece in sorted(set(range(1, count + 1)) - set(kept.astype(int).tolist())):
            rows, cols = np.nonzero(pieces == piece)
            nearest = central_pixel(rows, cols)
            lost.append((int(rows[nearest]), int(cols[nearest]), value))
    if not lost:
        return rotated
    impulses = torch.zeros((len(lost), *labels.shape), dtype=torch.float32)
    for index, (row, col, _) in enumerate(lost):
        impulses[index, row, col] = 1.0
    moved = TF.rotate(impulses, degrees, interpolation=BILINEAR, fill=0.0)
    out = rotated.clone()
    for index, (_, _, value) in enumerate(lost):
        spread = moved[index]
        if float(spread.sum()) < 0.999:  # partly or wholly outside the image
            continue
        row, col = divmod(int(spread.argmax()), spread.shape[1])
        if out[0, row, col] == UNLABELLED:
            out[0, row, col] = value
    return out


def crop_resize(sample: Sample, *, top: int, left: int, height: int, width: int, size: int) -> Sample:
    """Cut the box (top, left, height, width) in pixels (row, column) from every map and resize it to size x size.

    The sparse labels are resized by nearest neighbour with put-back (:func:`wssam.labels.resize_label_map`): no
    labelled pixel is lost, even a single-pixel point going from 800 px to 384 px.
    """
    box = (top, left, height, width)
    cropped = sample.sparse[0, top : top + height, left : left + width].numpy()
    return Sample(
        image=TF.resized_crop(sample.image, *box, [size, size], interpolation=BILINEAR, antialias=True),
        target=TF.resized_crop(sample.target, *box, [size, size], interpolation=BILINEAR, antialias=True),
        weight=TF.resized_crop(sample.weight, *box, [size, size], interpolation=BILINEAR, antialias=True),
        sparse=torch.from_numpy(resize_label_map(cropped, (size, size)))[None],
    )


def resize(sample: Sample, size: int) -> Sample:
    """Resize every map of ``sample`` to size x size (no augmentation: validation)."""
    height, width = sample.image.shape[-2:]
    return crop_resize(sample, top=0, left=0, height=height, width=width, size=size)


def jitter_colour(
    image: torch.Tensor, *, brightness: float, contrast: float, saturation: float, sharpness: float = 1.0
) -> torch.Tensor:
    """Scale brightness, contrast (about the mean grey level), saturation and sharpness of a (3, H, W) [0, 1] image
    by factors (1 changes nothing; sharpness 0 is torchvision's smoothed image, 2 twice the detail)."""
    image = image * brightness
    grey = TF.rgb_to_grayscale(image)
    image = (image - grey.mean()) * contrast + grey.mean()
    grey = TF.rgb_to_grayscale(image)
    image = (grey + (image - grey) * saturation).clamp(0.0, 1.0)
    return image if sharpness == 1.0 else TF.adjust_sharpness(image, sharpness)


def salt_and_pepper(target: torch.Tensor, share: float, rng: np.random.Generator) -> torch.Tensor:
    """Set ``round(share * H * W)`` random pixels of a (1, H, W) pseudo label to 0 or 1 (half each, at random):
    the released code's label noise."""
    count = round(share * target.shape[-2] * target.shape[-1])
    if count == 0:
        return target
    rows = rng.integers(0, target.shape[-2], size=count)
    cols = rng.integers(0, target.shape[-1], size=count)
    noisy = target.clone()
    noisy[0, rows, cols] = torch.from_numpy(rng.integers(0, 2, size=count).astype(np.float32))
    return noisy


def crop_box(height: int, width: int, config: AugmentConfig, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the random crop: ``random``: side share uniform in [crop_scale, 1], anywhere;
    ``centred``: each side shortened by 1 to ``crop_border`` pixels (at most the side minus one), centred."""
    if config.crop == "centred":
        crop_h = height - int(rng.integers(1, max(1, min(config.crop_border, height - 1)) + 1))
        crop_w = width - int(rng.integers(1, max(1, min(config.crop_border, width - 1)) + 1))
        return (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w
    scale = float(rng.uniform(config.crop_scale, 1.0))
    crop_h, crop_w = max(1, round(height * scale)), max(1, round(width * scale))
    return int(rng.integers(0, height - crop_h + 1)), int(rng.integers(0, width - crop_w + 1)), crop_h, crop_w


def augment(sample: Sample, config: AugmentConfig, size: int, rng: np.random.Generator) -> Sample:
    """Random flip, rotation, crop resized to ``size``, colour jitter and label noise, by ``config``.

    All random draws come from ``rng``, so a sample's augmentation is reproducible from the generator's seed; a step
    that cannot change anything (probability 1 of rotating, a range of one value) draws nothing.
    """
    if rng.random() < config.hflip:
        sample = hflip(sample)
    if config.rotation_probability >= 1.0 or rng.random() < config.rotation_probability:
        sample = rotate(sample, float(rng.uniform(-config.rotation_degrees, config.rotation_degrees)))
    top, left, crop_h, crop_w = crop_box(*sample.image.shape[-2:], config, rng)
    sample = crop_resize(sample, top=top, left=left, height=crop_h, width=crop_w, size=size)
    ranges = [config.brightness, config.contrast, config.saturation]
    brightness, contrast, saturation = (float(f) for f in rng.uniform(*np.transpose(ranges)))
    low, high = config.sharpness
    sharpness = float(rng.uniform(low, high)) if high > low else low
    image = jitter_colour(
        sample.image, brightness=brightness, contrast=contrast, saturation=saturation, sharpness=sharpness
    )
    return replace(sample, image=image, target=salt_and_pepper(sample.target, config.label_noise, rng))


def _maps(sample: Sample) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    return sample.image, sample.target, sample.weight, sample.sparse
