"""Run by tests/test_distributed.py, alone or under torchrun: train() on the data of ``ROOT`` into ``ROOT/OUT``.

``python tests/ddp_training.py ROOT OUT STOP_AFTER_EPOCHS LOADER_WORKERS``. The network is the demo's (WS-SAM,
ResNet-18 trunk, small width) with every batch norm removed: DDP computes batch-norm statistics per process, so
only without it do two processes on half batches take exactly the step one process takes on the whole batch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from recipe import recipe

from wssam.models.builder import build_model
from wssam.models.config import ModelConfig
from wssam.train.config import TrainConfig
from wssam.train.stage import train

SIZE = 64


def config() -> TrainConfig:
    """2 epochs of 3 steps (12 images, global batch 4), fp32, every image trained on, at the paper's learning rate
    (Adam's steps follow the gradients' signs, so fp noise in near-zero gradients moves weights by up to ~lr / 5:
    2e-5 at lr 1e-3, 8e-7 at 1e-4; a wrongly weighted share of the batch moves them by 2e-4 to 5e-4 at 1e-4)."""
    model = {"name": "wssam", "backbone": "resnet18", "backbone_weights": "none", "width": 16}
    return recipe(TrainConfig, "train", model=model, epochs=2, batch_size=4, image_size=SIZE, val_fraction=0.0,
                  precision="fp32", lr=0.0001)  # fmt: skip


def without_batch_norm(model_config: ModelConfig) -> nn.Module:
    """The network ``model_config`` names, every BatchNorm2d replaced by the identity."""
    model = build_model(model_config)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.BatchNorm2d):
                setattr(parent, name, nn.Identity())
    return model


def main(root: Path, out: str, stop_after_epochs: int, loader_workers: int) -> None:
    train(
        config=config(), manifest=root / "prepared" / "train" / "manifest.csv", scored_dir=root / "scored",
        output_dir=root / out / "model", log_dir=root / out / "log", metrics_path=root / out / "train.json",
        build=without_batch_norm, device=torch.device("cpu"), stop_after_epochs=stop_after_epochs,
        show_progress=False, loader_workers=loader_workers,
    )  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
