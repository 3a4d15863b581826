"""Prediction: rebuild the trained network from its checkpoint and write one 8-bit map per test image.

For every image: resize to the training input side (from the checkpoint's config), forward, sigmoid of ``p1``,
resize bilinearly back to the image's original size, min-max normalise per image (a constant map becomes all
zeros), and write ``<output>/<name>.png`` as round(p * 255). The output folder is written as a temporary sibling
and renamed into place at the end, so an interrupted run never leaves a half folder.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from wssam.data.manifest import read_manifest
from wssam.io import InputError, probability_to_uint8, read_rgb, staged_folder, write_png
from wssam.training.checkpoint import load_checkpoint
from wssam.training.config import PredictConfig, TrainConfig, train_config_from_dict
from wssam.training.dataset import normalise_images
from wssam.training.loop import FINAL_OUTPUT, build_network, default_device


def load_trained_model(checkpoint: str | os.PathLike[str]) -> tuple[nn.Module, TrainConfig]:
    """The network of ``checkpoint`` in eval mode, rebuilt from its stored config, and that config.

    The backbone is built without pretrained weights (the checkpoint holds all weights), so no file other than the
    checkpoint is needed.
    """
    state = load_checkpoint(checkpoint)
    config = train_config_from_dict(state["config"])
    model = build_network(dataclasses.replace(config, backbone_weights="none"))
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as error:
        raise InputError(f"{checkpoint}: weights do not fit the network in its config ({error})") from error
    return model.eval(), config


def min_max_normalise(probability: np.ndarray) -> np.ndarray:
    """Stretch a float map (H, W) to [0, 1] by its own min and max; a constant map becomes all zeros."""
    low, high = float(probability.min()), float(probability.max())
    if high - low < 1e-12:
        return np.zeros_like(probability, dtype=np.float32)
    return ((probability - low) / (high - low)).astype(np.float32)


@torch.no_grad()
def predict_images(model: nn.Module, images: list[np.ndarray], size: int, device: torch.device) -> list[np.ndarray]:
    """Probability maps float32 (H_i, W_i) in [0, 1] (sigmoid of p1, not normalised) for RGB uint8 images (H_i, W_i, 3).

    Each image is resized to ``size`` x ``size`` for the network and its map resized back to the image's own size.
    """
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
    probabilities = torch.sigmoid(model(normalise_images(batch))[FINAL_OUTPUT].float())
    maps = []
    for probability, image in zip(probabilities, images, strict=True):
        resized = F.interpolate(probability[None], size=image.shape[:2], mode="bilinear", align_corners=False)
        maps.append(resized[0, 0].clamp(0.0, 1.0).cpu().numpy())
    return maps


def predict_dataset(
    *,
    checkpoint: str | os.PathLike[str],
    manifest: str | os.PathLike[str],
    output: str | os.PathLike[str],
    config: PredictConfig,
    device: torch.device | None = None,
) -> dict[str, Any]:
    """Write ``<output>/<name>.png`` for every image of ``manifest``; returns ``images``, ``image_size``, ``model``.

    Every image file is checked to exist before the network is loaded (a missing one is an InputError naming it).
    """
    rows = read_manifest(manifest)
    for path in rows["image"]:
        if path is None or not Path(path).is_file():
            raise InputError(f"{path}: image listed in {manifest} not found; rerun the prepare stage")
    device = device or default_device()
    model, train_config = load_trained_model(checkpoint)
    model.to(device)
    names, paths = list(rows["name"]), list(rows["image"])
    with staged_folder(output) as staging:
        for start in range(0, len(names), config.batch_size):
            images = [read_rgb(p) for p in paths[start : start + config.batch_size]]
            maps = predict_images(model, images, train_config.image_size, device)
            for name, probability in zip(names[start : start + config.batch_size], maps, strict=True):
                write_png(staging / f"{name}.png", probability_to_uint8(min_max_normalise(probability)))
    return {"images": len(names), "image_size": train_config.image_size, "model": train_config.model}
