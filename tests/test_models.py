"""Networks: output names, shapes and finiteness, size checks, backbone weights, parameter counts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from recipe import recipe
from torchvision import models

from wssam.bench.network_cost import network_cost
from wssam.io import InputError
from wssam.models.builder import build_model as build
from wssam.models.builder import count_parameters_millions
from wssam.models.config import FINAL_OUTPUT, OUTPUT_NAMES, ModelConfig
from wssam.models.grouping import MultiScaleFeatureGrouping, position_grid
from wssam.models.network import IMAGENET_MEAN, IMAGENET_STD
from wssam.train.config import TrainConfig

#: sizes (H, W) every network must handle at paper size: square at two scales and non-square
PAPER_SIZES = [(256, 256), (384, 384), (256, 320)]
#: tiny sizes for the default tier: square and non-square
TINY_SIZES = [(64, 64), (64, 96)]
PAPER_WIDTH = 128


def config(name: str = "wssam", **changes: object) -> ModelConfig:
    """params.yaml's model section (ResNet-18, random weights) with ``name`` and ``changes``."""
    return recipe(TrainConfig, "train").model.replace(name=name, **changes)


def build_model(name: str, **changes: object) -> torch.nn.Module:
    return build(config(name, **changes))


def run(model: torch.nn.Module, height: int, width: int) -> dict[str, torch.Tensor]:
    """Forward one random RGB image (1, 3, height, width) in [0, 1] in eval mode without gradients."""
    model.eval()
    with torch.no_grad():
        return model(torch.rand(1, 3, height, width))


def check_outputs(outputs: dict[str, torch.Tensor], height: int, width: int) -> None:
    assert tuple(outputs) == OUTPUT_NAMES
    for name, logits in outputs.items():
        assert logits.shape == (1, 1, height, width), name
        assert torch.isfinite(logits).all(), name


@pytest.mark.parametrize("name", ["wssam", "baseline"])
def test_five_named_outputs_at_input_size(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, width=16)
    assert model.output_names == OUTPUT_NAMES and model.final_output == FINAL_OUTPUT == "p1"
    for height, width in TINY_SIZES:
        check_outputs(run(model, height, width), height, width)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["wssam", "baseline"])
@pytest.mark.parametrize("backbone", ["resnet18", "resnet50"])
def test_five_named_outputs_at_paper_sizes(name: str, backbone: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, backbone=backbone, width=PAPER_WIDTH)
    for height, width in PAPER_SIZES:
        check_outputs(run(model, height, width), height, width)


def test_the_network_owns_its_input_normalisation() -> None:
    torch.manual_seed(0)
    model = build_model("baseline", width=16).eval()
    images = torch.rand(2, 3, 64, 64)
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        direct, by_hand = model(images), model.segment((images - mean) / std)
    for name in OUTPUT_NAMES:
        assert torch.equal(direct[name], by_hand[name])
    assert not {"pixel_mean", "pixel_std"} & set(model.state_dict())  # buffers, not weights: checkpoints unchanged


@pytest.mark.parametrize("name", ["wssam", "baseline"])
def test_size_not_multiple_of_32_is_a_clear_error(name: str) -> None:
    model = build_model(name, width=16)
    with pytest.raises(ValueError, match="multiple of 32"):
        run(model, 100, 128)
    with pytest.raises(ValueError, match="multiple of 32"):
        run(model, 128, 96 + 8)


@pytest.mark.slow
def test_a_wssam_training_step_costs_at_most_twice_the_baseline_at_paper_size() -> None:
    """ResNet-50, width 128, 384 px: the step's FLOPs (forward and backward, FlopCounterMode) of WS-SAM are at most
    twice the baseline's, with every part of the method present (with full-width texture branches, two RCABs per
    stream and 3x3 merges, as before, it cost 3.9 times)."""
    train = recipe(TrainConfig, "train").replace(batch_size=1, image_size=384)
    costs = {
        name: network_cost(train.replace(model=config(name, backbone="resnet50", width=PAPER_WIDTH)))
        for name in ("wssam", "baseline")
    }
    assert set(costs["wssam"].parts) == {"backbone", "enhance", "grouping", "fusion", "prior", "decoder"}
    assert all(gflop > 0 for _, gflop in costs["wssam"].parts.values())
    assert costs["wssam"].step_gflop <= 2.0 * costs["baseline"].step_gflop


def test_grouping_false_drops_the_grouping_module() -> None:
    with_grouping = build_model("wssam", width=PAPER_WIDTH)
    without = build_model("wssam", width=PAPER_WIDTH, grouping=False)
    assert isinstance(without.grouping, torch.nn.Identity)
    difference = count_parameters_millions(with_grouping) - count_parameters_millions(without)
    assert difference == pytest.approx(count_parameters_millions(with_grouping.grouping))
    assert 0.5 <= difference <= 0.65  # the paper's MFG: about 0.57 M
    check_outputs(run(without, 64, 96), 64, 96)


def test_width_option_makes_a_smaller_network() -> None:
    small = build_model("wssam", width=16)
    assert count_parameters_millions(small) < count_parameters_millions(build_model("wssam", width=64))
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
    model = build_model("wssam", width=16).train()
    outputs = model(torch.randn(2, 3, 96, 64))
    sum(outputs[name].mean() for name in OUTPUT_NAMES).backward()
    for grouping in (model.grouping.first, model.grouping.second):
        grad = grouping.slot_attention.slots_init.grad
        assert grad is not None
        assert grad.abs().sum() > 0


def test_trains_with_batch_size_one() -> None:
    model = build_model("wssam", width=16).train()
    outputs = model(torch.randn(1, 3, 64, 64))
    outputs["p1"].mean().backward()
    assert all(torch.isfinite(o).all() for o in outputs.values())


def test_backbone_weights_from_a_path(tmp_path: Path) -> None:
    reference = models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    model = build_model("baseline", backbone_weights=str(path))
    assert torch.equal(model.backbone.stem[0].weight, reference.conv1.weight)
    assert torch.equal(model.backbone.layer4[1].bn2.running_var, reference.layer4[1].bn2.running_var)


def test_backbone_weights_saved_before_batch_norm_counted_its_steps_load(tmp_path: Path) -> None:
    """torchvision's classic ImageNet files (resnet18-5c106cde.pth, saved before PyTorch 0.4.1) have no
    ``num_batches_tracked``; torch's strict loading accepts them, and so does ours."""
    reference = models.resnet18(weights=None)
    state = {k: v for k, v in reference.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "resnet18-5c106cde.pth"
    torch.save(state, path)
    model = build_model("baseline", backbone_weights=str(path))
    assert torch.equal(model.backbone.layer4[1].bn2.running_var, reference.layer4[1].bn2.running_var)
    del state["layer4.1.bn2.running_var"]
    torch.save(state, path)
    with pytest.raises(InputError, match=r"1 missing keys, e.g. \['layer4.1.bn2.running_var'\]"):
        build_model("baseline", backbone_weights=str(path))


def test_missing_weights_path_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.pth"
    with pytest.raises(InputError, match="absent.pth"):
        build_model("baseline", backbone_weights=str(path))


def test_mismatched_weights_are_one_line_input_error(tmp_path: Path) -> None:
    path = tmp_path / "resnet18.pth"
    torch.save(models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(InputError, match="resnet18.pth") as caught:
        build_model("baseline", backbone="resnet50", backbone_weights=str(path))
    assert "\n" not in str(caught.value)
    assert str(caught.value).endswith("; it holds a resnet18 trunk: set train.model.backbone: resnet18")


def test_unreadable_weights_file_is_input_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="broken.pth"):
        build_model("wssam", backbone_weights=str(path))
