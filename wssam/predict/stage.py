"""The ``predict`` stage: rebuild the trained network from its checkpoint and write one 8-bit map per test image.

For every image: resize to the network's input side (stored in the checkpoint), forward, sigmoid of the final
output, resize bilinearly back to the image's original size, min-max normalise per image (a constant map becomes
all zeros), and write ``<output>/<name>.png`` as round(p * 255). The output folder is written as a temporary sibling
and renamed into place at the end, so an interrupted run never leaves a half folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from wssam.cli import progress
from wssam.devices import resolve_device
from wssam.io import InputError, probability_to_uint8, read_rgb, remove_temporaries, staged_folder, write_png
from wssam.models.checkpoint import load_network
from wssam.models.network import SegmentationNetwork
from wssam.predict.config import PredictConfig
from wssam.predict.layout import prediction_file
from wssam.prepare.manifest import read_manifest


def min_max_normalise(probability: np.ndarray) -> np.ndarray:
    """Stretch a float map (H, W) to [0, 1] by its own min and max; a constant map becomes all zeros."""
    low, high = float(probability.min()), float(probability.max())
    if high - low < 1e-12:
        return np.zeros_like(probability, dtype=np.float32)
    return ((probability - low) / (high - low)).astype(np.float32)


@torch.no_grad()
def predict_images(
    model: SegmentationNetwork, images: list[np.ndarray], size: int, device: torch.device
) -> list[np.ndarray]:
    """Probability maps float32 (H_i, W_i) in [0, 1] (sigmoid of the final output, not normalised) for RGB uint8
    images (H_i, W_i, 3). Each image is resized to ``size`` x ``size`` for the network and its map resized back."""
    batch = torch.stack(
        [
            F.interpolate(
                torch.from_numpy(image).permute(2, 0, 1).float()[None] / 255.0,
                size=(size, size),
                mode="bilinear",
                align_corners=False,
                antialias=True,
            )[0]
            for image in images
        ]
    ).to(device)
    probabilities = torch.sigmoid(model(batch)[model.final_output].float())
    maps = []
    for probability, image in zip(probabilities, images, strict=True):
        resized = F.interpolate(probability[None], size=image.shape[:2], mode="bilinear", align_corners=False)
        maps.append(resized[0, 0].clamp(0.0, 1.0).cpu().numpy())
    return maps


def predict(
    *,
    checkpoint: str | os.PathLike[str],
    manifest: str | os.PathLike[str],
    output: str | os.PathLike[str],
    config: PredictConfig,
    device: torch.device | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Write ``<output>/<name>.png`` for every image of ``manifest``; returns ``images``, ``image_size``, ``model``.

    ``device``: None = CUDA when there is a GPU, else the CPU. Every image file is checked to exist before the
    network is loaded (a missing one is an InputError naming it). ``show_progress``: a progress bar on stderr.
    """
    remove_temporaries(output)
    rows = read_manifest(manifest)
    for path in rows["image"]:
        if path is None or not Path(path).is_file():
            raise InputError(f"{path}: image listed in {manifest} not found; rerun the prepare stage")
    device = device or resolve_device("auto")
    model, model_config, input_size = load_network(checkpoint)
    model.to(device)
    names, paths = list(rows["name"]), list(rows["image"])
    starts = range(0, len(names), config.batch_size)
    with staged_folder(output) as staging:
        for start in progress(starts, desc=f"predict {Path(output).name}", unit="batch", enabled=show_progress):
            images = [read_rgb(p) for p in paths[start : start + config.batch_size]]
            maps = predict_images(model, images, input_size, device)
            for name, probability in zip(names[start : start + config.batch_size], maps, strict=True):
                write_png(prediction_file(staging, name), probability_to_uint8(min_max_normalise(probability)))
    return {"images": len(names), "image_size": input_size, "model": model_config.name}
