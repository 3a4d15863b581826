"""The ``predict`` stage: rebuild the trained network from its checkpoint and write one 8-bit map per test image.

For every image: resize to the network's input side (stored in the checkpoint), forward, sigmoid of the final
output, resize bilinearly back to the image's original size, min-max normalise per image (a constant map becomes
all zeros), and write ``<output>/<name>.png`` as round(p * 255). The output folder is written as a temporary sibling
and renamed into place at the end, so an interrupted run never leaves a half folder.

Under torchrun (:mod:`wssam.launcher`) the processes share the batches (round robin; each on its own GPU where
there are GPUs) and write into one staging folder that rank 0 puts in place when all are done. The batches are the
ones a single process forms, so every map is computed from the same batch: the output is byte-identical when each
process runs as many threads as the single one did (``OMP_NUM_THREADS``). On a CPU the thread count alone changes
the order of some sums (oneDNN chooses another kernel for the small maps of the deepest level), which moves a map
by a grey level at a few pixels.
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
from wssam.distributed import World, process_group, shared_staged_folder, use_local_gpu, world_from_env
from wssam.io import InputError, probability_to_uint8, read_rgb, write_png
from wssam.models.checkpoint import load_network
from wssam.models.network import SegmentationNetwork
from wssam.predict.config import PredictConfig
from wssam.predict.layout import prediction_file
from wssam.prepare.manifest import read_manifest
from wssam.staging import remove_temporaries


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
    images (H_i, W_i, 3). Each image is resized to ``size`` x ``size`` for the network, and its logits are resized
    back (bilinear) before the sigmoid, as the released test script does: a resized probability map would soften
    every edge differently."""
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
    logits = model(batch)[model.final_output].float()
    maps = []
    for image_logits, image in zip(logits, images, strict=True):
        resized = F.interpolate(image_logits[None], size=image.shape[:2], mode="bilinear", align_corners=False)
        maps.append(torch.sigmoid(resized[0, 0]).cpu().numpy())
    return maps


def check_images(manifest: str | os.PathLike[str]) -> list[Any]:
    """The manifest's rows, after checking that every image file exists (a missing one is an InputError)."""
    rows = read_manifest(manifest)
    for path in rows["image"]:
        if path is None or not Path(path).is_file():
            raise InputError(f"{path}: image listed in {manifest} not found; rerun the prepare stage")
    return list(rows.itertuples(index=False))


def predict(
    *,
    checkpoint: str | os.PathLike[str],
    manifest: str | os.PathLike[str],
    output: str | os.PathLike[str],
    config: PredictConfig,
    device: torch.device | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Write ``<output>/<name>.png`` for every image of ``manifest``; returns ``images``, ``image_size``, ``model``
    and ``main`` (whether this process put the output in place: rank 0 under torchrun).

    ``device``: None = this process's GPU when there are GPUs, else the CPU. Every image file is checked to exist
    before the network is loaded (a missing one is an InputError naming it). ``show_progress``: a progress bar on
    stderr (rank 0's batches).
    """
    world = world_from_env()
    with process_group(world):
        return _predict(world, checkpoint, manifest, output, config, device, show_progress)


def _predict(
    world: World,
    checkpoint: str | os.PathLike[str],
    manifest: str | os.PathLike[str],
    output: str | os.PathLike[str],
    config: PredictConfig,
    device: torch.device | None,
    show_progress: bool,
) -> dict[str, Any]:
    """:func:`predict` as process ``world.rank`` of ``world.size``."""
    if world.is_main:
        remove_temporaries(output)
    rows = check_images(manifest)
    use_local_gpu(world)
    device = device or resolve_device("auto")
    model, model_config, input_size = load_network(checkpoint)
    model.to(device)
    batches = world.part([rows[start : start + config.batch_size] for start in range(0, len(rows), config.batch_size)])
    desc = f"predict {Path(output).name}"
    with shared_staged_folder(world, output) as staging:
        for batch in progress(batches, desc=desc, unit="batch", enabled=show_progress and world.is_main):
            maps = predict_images(model, [read_rgb(row.image) for row in batch], input_size, device)
            for row, probability in zip(batch, maps, strict=True):
                write_png(prediction_file(staging, row.name), probability_to_uint8(min_max_normalise(probability)))
    return {"images": len(rows), "image_size": input_size, "model": model_config.name, "main": world.is_main}
