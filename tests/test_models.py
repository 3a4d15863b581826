"""Networks: output names, shapes and finiteness, size checks, backbone weights, parameter counts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision import models

from wssam.io import InputError
from wssam.models import OUTPUT_NAMES, build_model, count_parameters_millions
from wssam.models.grouping import MultiScaleFeatureGrouping, position_grid

#: sizes (H, W) every network must handle: square at two scales and non-square
SIZES = [(256, 256), (384, 384), (256, 320)]
#: the paper's parameter count of the ResNet-50 WS-SAM network, in millions
PAPER_PARAMS_MILLIONS = 46.5


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


@pytest.mark.parametrize("name", ["wssam", "baseline"])
@pytest.mark.parametrize("backbone", ["resnet18", "resnet50"])
def test_five_named_outputs_at_input_size(name: str, backbone: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, backbone=backbone)
    for height, width in SIZES:
        check_outputs(run(model, height, width), height, width)


@pytest.mark.parametrize("name", ["wssam", "baseline"])
def test_size_not_multiple_of_32_is_a_clear_error(name: str) -> None:
    model = build_model(name, backbone="resnet18", width=16)
    with pytest.raises(ValueError, match="multiple of 32"):
        run(model, 100, 128)
    with pytest.raises(ValueError, match="multiple of 32"):
        run(model, 128, 96 + 8)


def test_resnet50_wssam_has_about_the_paper_parameter_count() -> None:
    millions = count_parameters_millions(build_model("wssam", backbone="resnet50"))
    assert abs(millions - PAPER_PARAMS_MILLIONS) <= 0.1 * PAPER_PARAMS_MILLIONS


def test_grouping_false_drops_the_grouping_module() -> None:
    with_grouping = build_model("wssam", backbone="resnet18")
    without = build_model("wssam", backbone="resnet18", grouping=False)
    assert isinstance(without.grouping, torch.nn.Identity)
    difference = count_parameters_millions(with_grouping) - count_parameters_millions(without)
    assert difference == pytest.approx(count_parameters_millions(with_grouping.grouping))
    assert 0.5 <= difference <= 0.65  # the paper's MFG: about 0.57 M
    check_outputs(run(without, 64, 96), 64, 96)


def test_width_option_makes_a_smaller_network() -> None:
    small = build_model("wssam", backbone="resnet18", width=64)
    assert count_parameters_millions(small) < count_parameters_millions(build_model("wssam", backbone="resnet18"))
    check_outputs(run(small, 64, 64), 64, 64)


@pytest.mark.parametrize("grid", [(1, 1), (3, 5), (8, 8), (12, 12), (16, 10)])
def test_grouping_module_works_on_any_grid(grid: tuple[int, int]) -> None:
    torch.manual_seed(0)
    module = MultiScaleFeatureGrouping(32)
    feature = torch.randn(2, 32, *grid)
    out = module(feature)
    assert out.shape == feature.shape
    assert torch.isfinite(out).all()
    assert not torch.allclose(out, feature)


def test_position_grid_is_row_major_x_then_y() -> None:
    grid = position_grid(2, 3, torch.device("cpu"), torch.float32)
    assert grid.shape == (6, 4)
    assert grid[0].tolist() == [0.0, 0.0, 1.0, 1.0]  # top-left: x = 0, y = 0
    assert grid[1].tolist() == [0.5, 0.0, 0.5, 1.0]  # next column
    assert grid[5].tolist() == [1.0, 1.0, 0.0, 0.0]  # bottom-right


def test_gradient_reaches_learned_slot_initialisations() -> None:
    torch.manual_seed(0)
    model = build_model("wssam", backbone="resnet18", width=16).train()
    outputs = model(torch.randn(2, 3, 96, 64))
    sum(outputs[name].mean() for name in OUTPUT_NAMES).backward()
    for grouping in (model.grouping.first, model.grouping.second):
        grad = grouping.slot_attention.slots_init.grad
        assert grad is not None
        assert grad.abs().sum() > 0


def test_trains_with_batch_size_one() -> None:
    model = build_model("wssam", backbone="resnet18", width=16).train()
    outputs = model(torch.randn(1, 3, 64, 64))
    outputs["p1"].mean().backward()
    assert all(torch.isfinite(o).all() for o in outputs.values())


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


def test_unreadable_weights_file_is_input_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="broken.pth"):
        build_model("wssam", backbone="resnet18", backbone_weights=str(path))


def test_count_parameters_millions() -> None:
    assert count_parameters_millions(torch.nn.Linear(1000, 1000)) == pytest.approx(1.001)
