"""What every segmentation network shares: it owns its input normalisation and names its outputs.

As segment-anything's ``Sam`` does, the network holds its normalisation (``pixel_mean`` / ``pixel_std`` as
buffers) and a :meth:`~SegmentationNetwork.preprocess` step, so training and prediction hand it plain RGB images.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor, nn

from wssam.models.config import FINAL_OUTPUT, OUTPUT_NAMES, check_input_side

#: the normalisation of torchvision's ImageNet weights, used for every backbone (also from random initialisation)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def check_image_size(images: Tensor) -> None:
    """Raise ``ValueError`` unless ``images`` is (B, 3, H, W) with H and W positive multiples of 32."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")
    for side in images.shape[-2:]:
        check_input_side(int(side), "image side")


class SegmentationNetwork(nn.Module, ABC):
    """Base of the networks: ``forward(images)`` normalises, then calls :meth:`segment`.

    ``forward``: RGB ``float`` images (B, 3, H, W) in [0, 1], H and W multiples of 32 (else ``ValueError``) ->
    ``{name: logits (B, 1, H, W)}`` for every name in :data:`OUTPUT_NAMES`, at the input size;
    ``sigmoid(outputs[FINAL_OUTPUT])`` is the foreground probability.
    """

    output_names = OUTPUT_NAMES
    final_output = FINAL_OUTPUT

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, images: Tensor) -> Tensor:
        """Check the size of RGB images (B, 3, H, W) in [0, 1] and normalise them as the backbone expects."""
        check_image_size(images)
        return (images - self.pixel_mean) / self.pixel_std

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        return self.segment(self.preprocess(images))

    @abstractmethod
    def segment(self, images: Tensor) -> dict[str, Tensor]:
        """The network proper on normalised images (B, 3, H, W); returns the logits named in ``output_names``."""
