"""ResNet backbones returning the four feature stages at strides 4, 8, 16 and 32.

Weights come from one of three places, named by ``backbone_weights``:

- ``"none"``: random initialisation (tests, quick demos);
- ``"imagenet"``: torchvision's own weights mechanism (``ResNet50_Weights.IMAGENET1K_V1``),
  which downloads into the torch cache on a user's machine (offline, a failed download is one line saying where
  to put the file);
- a file path: a torchvision-format ResNet state dict, loaded with ``torch.load(..., weights_only=True)``;
  the trunk must match exactly, the classifier (``fc.*``) is ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.error import URLError

import torch
from torch import Tensor, nn
from torchvision import models

from wssam.io import InputError

#: name -> (constructor, ImageNet weights enum, channels of the four stages)
BACKBONES: dict[str, tuple[Callable[..., models.ResNet], models.WeightsEnum, tuple[int, int, int, int]]] = {
    "resnet18": (models.resnet18, models.ResNet18_Weights.IMAGENET1K_V1, (64, 128, 256, 512)),
    "resnet50": (models.resnet50, models.ResNet50_Weights.IMAGENET1K_V1, (256, 512, 1024, 2048)),
}


class ResNetBackbone(nn.Module):
    """A torchvision ResNet trunk without its classifier.

    ``forward(images)`` takes ImageNet-normalised ``float`` images (B, 3, H, W) and returns four maps
    ``[x1, x2, x3, x4]`` of shapes (B, C_i, H / s, W / s) for strides s = 4, 8, 16, 32 and channels
    ``self.channels`` (64/128/256/512 for ResNet-18, 256/512/1024/2048 for ResNet-50).
    """

    def __init__(self, resnet: models.ResNet, channels: tuple[int, int, int, int]) -> None:
        super().__init__()
        self.stem = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool)
        self.layer1 = resnet.layer1
        self.layer2 = resnet.layer2
        self.layer3 = resnet.layer3
        self.layer4 = resnet.layer4
        self.channels = channels

    def forward(self, images: Tensor) -> list[Tensor]:
        x1 = self.layer1(self.stem(images))
        x2 = self.layer2(x1)
        x3 = self.layer3(x2)
        x4 = self.layer4(x3)
        return [x1, x2, x3, x4]


def check_weights_file(weights: str) -> None:
    """``train.model.backbone_weights`` naming a file that is not there is an InputError saying what to give."""
    if weights not in ("none", "imagenet") and not Path(weights).is_file():
        raise InputError(
            f"{weights}: backbone weights file not found (train.model.backbone_weights); give 'none', 'imagenet' or "
            "a torchvision-format state dict, e.g. in data/backbones/"
        )


def load_trunk_weights(resnet: models.ResNet, path: Path) -> None:
    """Load a torchvision-format state dict from ``path`` into ``resnet``, strict on everything but ``fc.*`` and batch
    norm's ``num_batches_tracked`` counters, which files saved before PyTorch 0.4.1 lack (torchvision's own
    ``resnet18-5c106cde.pth`` and ``resnet50-19c8e357.pth``, which torch's strict loading accepts too).

    Raises :class:`InputError` when the file is missing or unreadable, or its keys or shapes do not match.
    """
    check_weights_file(str(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several unrelated types for corrupt files
        kind = type(err).__name__
        raise InputError(f"{path}: cannot read backbone weights ({kind}); expected a state dict") from err
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InputError(f"{path}: expected a torchvision ResNet state dict, found {type(state).__name__}")
    trunk = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing, unexpected = _key_misfit(trunk, resnet)
    if missing or unexpected:
        other = next((name for name, (build, _, _) in BACKBONES.items() if _fits_keys(trunk, build(weights=None))),
                     None)  # fmt: skip
        hint = f"; it holds a {other} trunk: set train.model.backbone: {other}" if other else ""
        raise InputError(
            f"{path}: not a matching torchvision ResNet state dict "
            f"({len(missing)} missing keys, e.g. {missing[:2]}; "
            f"{len(unexpected)} unexpected, e.g. {unexpected[:2]}){hint}"
        )
    own = resnet.state_dict()
    wrong = [k for k, v in trunk.items() if tuple(v.shape) != tuple(own[k].shape)]
    if wrong:
        raise InputError(f"{path}: {len(wrong)} tensors have the wrong shape e.g. {wrong[0]}")
    resnet.load_state_dict(trunk, strict=False)


def _key_misfit(trunk: dict[str, Tensor], resnet: models.ResNet) -> tuple[list[str], list[str]]:
    """The trunk keys ``resnet`` has that ``trunk`` lacks (batch norm's step counters may be absent) and those it
    does not have, sorted."""
    expected = {k for k in resnet.state_dict() if not k.startswith("fc.")}
    optional = {k for k in expected if k.endswith(".num_batches_tracked")}
    return sorted(expected - optional - trunk.keys()), sorted(trunk.keys() - expected)


def _fits_keys(trunk: dict[str, Tensor], resnet: models.ResNet) -> bool:
    """Whether ``trunk`` has exactly ``resnet``'s trunk keys."""
    return _key_misfit(trunk, resnet) == ([], [])


def _with_imagenet_weights(constructor: Callable[..., models.ResNet], imagenet: models.WeightsEnum) -> models.ResNet:
    """The ResNet with torchvision's ImageNet weights (from the torch cache, downloaded when absent); a failed
    download (no network, a proxy, a damaged file) is one InputError line saying what to do offline."""
    try:
        return constructor(weights=imagenet)
    except (URLError, OSError, RuntimeError) as error:
        reason = str(getattr(error, "reason", None) or error).strip().splitlines()[0]
        cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(imagenet.url).name
        raise InputError(
            f"parameter 'train.model.backbone_weights' = 'imagenet': cannot download {imagenet.url} ({reason}); "
            f"offline, copy that file to {cache} or set backbone_weights to the path of a local state dict"
        ) from None


def build_backbone(name: str, weights: str) -> ResNetBackbone:
    """Build the ResNet ``name`` (``resnet18`` | ``resnet50``) with ``weights`` (see the module docstring)."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}")
    constructor, imagenet, channels = BACKBONES[name]
    if weights == "imagenet":
        resnet = _with_imagenet_weights(constructor, imagenet)
    else:
        resnet = constructor(weights=None)
        if weights != "none":
            load_trunk_weights(resnet, Path(weights))
    return ResNetBackbone(resnet, channels)
