"""Networks: output names, shapes and finiteness, size checks, backbone weights, parameter counts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision import models

from wssam.io import InputError
from wssam.models import OUTPUT_NAMES, build_model, count_parameters_millions


def run(model: torch.nn.Module, height: int, width: int) -> dict[str, torch.Tensor]:
    """Forward one random image (1, 3, height, width) in eval mode without gradients."""
    model.eval()
    with torch.no_grad():
        return model(torch.randn(1, 3, height, width))


def check_outputs(outputs: dict[str, torch.Tensor], height: int, width: int) -> None:
    assert tuple(outputs) == OUTPUT_NAMES
    for name, logits in outputs.items():
        assert logits.shape == (1, 1, height, width), name
        assert torch.isfinite(logits).all(), name


@pytest.mark.parametrize("backbone", ["resnet18", "resnet50"])
def test_baseline_shapes(backbone: str) -> None:
    model = build_model("baseline", backbone=backbone)
    for height, width in [(256, 256), (256, 320)]:
        check_outputs(run(model, height, width), height, width)


def test_size_not_multiple_of_32_is_a_clear_error() -> None:
    model = build_model("baseline", backbone="resnet18")
    with pytest.raises(ValueError, match="multiple of 32"):
        run(model, 100, 128)


def test_unknown_model_name() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        build_model("unet")


def test_backbone_weights_from_a_path(tmp_path: Path) -> None:
    reference = models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    model = build_model("baseline", backbone="resnet18", backbone_weights=str(path))
    assert torch.equal(model.backbone.stem[0].weight, reference.conv1.weight)
    assert torch.equal(model.backbone.layer4[1].bn2.running_var, reference.layer4[1].bn2.running_var)


def test_missing_weights_path_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.pth"
    with pytest.raises(InputError, match="absent.pth"):
        build_model("baseline", backbone="resnet18", backbone_weights=str(path))


def test_mismatched_weights_are_one_line_input_error(tmp_path: Path) -> None:
    path = tmp_path / "resnet18.pth"
    torch.save(models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(InputError, match="resnet18.pth") as caught:
        build_model("baseline", backbone="resnet50", backbone_weights=str(path))
    assert "\n" not in str(caught.value)


def test_count_parameters_millions() -> None:
    assert count_parameters_millions(torch.nn.Linear(1000, 1000)) == pytest.approx(1.001)
