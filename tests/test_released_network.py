"""The released network, proven against the released code: its per-part sizes, its key layout, the five outputs it
computed for a fixed input (``../shared/fixtures/released-network``), and the authors' checkpoint layout through
``predict`` and ``evaluate``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from recipe import recipe, shared_fixture
from released_rule import released_shapes, rule_state_dict
from typer.testing import CliRunner

from wssam.evaluate.stage import evaluate
from wssam.io import InputError, write_png
from wssam.models.__main__ import app as models_app
from wssam.models.builder import build_model
from wssam.models.checkpoint import load_network
from wssam.models.config import OUTPUT_NAMES, ModelConfig
from wssam.models.released_weights import RELEASED_MODEL, our_key, released_to_ours
from wssam.models.summary import summarise
from wssam.predict.config import PredictConfig
from wssam.predict.stage import predict
from wssam.prepare.layout import gt_file, image_file
from wssam.prepare.manifest import manifest_row, write_manifest

FIXTURE = "released-network"
#: parameters per part of the released network (the fixture's parameters_by_module, in our part names)
PART_SIZES = {
    "backbone": 23_508_032, "texture": 8_567_808, "grouping": 566_144, "fusion": 991_017, "prior": 9_324_931,
    "decoder": 3_564_100,
}  # fmt: skip
RELEASED_PARTS = {
    "backbone": ["shared_encoder"], "texture": [f"gcm_interFA.T{i}" for i in range(1, 5)],
    "grouping": ["gcm_interFA.ODE4"], "fusion": [f"gcm_interFA.interFA{i}" for i in range(1, 4)], "prior": ["GPM"],
    "decoder": ["rem_decoder"],
}  # fmt: skip


@pytest.fixture(scope="module")
def released() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ModelConfig(**RELEASED_MODEL)).eval()


def test_parts_have_the_released_sizes(released: torch.nn.Module) -> None:
    fixture = json.loads((shared_fixture(FIXTURE) / "network.json").read_text())
    ours = {name: sum(p.numel() for p in part.parameters()) for name, part in released.named_children()}
    theirs = {
        part: sum(fixture["parameters_by_module"][m] for m in modules) for part, modules in RELEASED_PARTS.items()
    }
    assert ours == theirs == PART_SIZES
    assert sum(ours.values()) == fixture["total_parameters"] == 46_522_032


def test_every_released_key_maps_to_one_of_ours_with_its_shape(released: torch.nn.Module) -> None:
    shapes = released_shapes(shared_fixture(FIXTURE))
    expected = released.state_dict()
    mapped = {our_key(key): tuple(shape) for key, shape in shapes.items()}
    assert len(mapped) == len(shapes), "two released keys map to the same key of ours"
    assert set(mapped) == set(expected)
    assert all(tuple(expected[key].shape) == shape for key, shape in mapped.items())


def test_the_loader_is_strict_and_names_the_key(released: torch.nn.Module) -> None:
    state = rule_state_dict(shared_fixture(FIXTURE), prefix="module.")
    expected = released.state_dict()
    assert set(released_to_ours(state, expected, source="ok.pth")) == set(expected)
    extra = {**state, "module.gcm_interFA.ODE3.SAn.conv.bias": torch.zeros(128)}
    with pytest.raises(InputError, match=r"extra.pth: key 'gcm_interFA.ODE3.SAn.conv.bias' is not part"):
        released_to_ours(extra, expected, source="extra.pth")
    missing = {k: v for k, v in state.items() if k != "module.GPM.head.1.gamma"}
    with pytest.raises(InputError, match=r"missing.pth: 1 weights .* missing, e.g. 'prior.attention.gamma'"):
        released_to_ours(missing, expected, source="missing.pth")
    wrong = {**state, "module.GPM.out.4.bias": torch.zeros(2)}
    with pytest.raises(InputError, match=r"wrong.pth: key 'GPM.out.4.bias' has shape \(2,\)"):
        released_to_ours(wrong, expected, source="wrong.pth")


@pytest.mark.slow
def test_reproduces_the_outputs_the_released_code_computed(released: torch.nn.Module) -> None:
    fixture = shared_fixture(FIXTURE)
    released.load_state_dict(released_to_ours(rule_state_dict(fixture), released.state_dict(), source="rule"))
    recorded = np.load(fixture / "io.npz")
    with torch.no_grad():  # the recorded input is already normalised: the network proper, without its preprocess
        outputs = released.segment(torch.from_numpy(recorded["input"]))
    assert tuple(outputs) == OUTPUT_NAMES
    for name in OUTPUT_NAMES:
        np.testing.assert_allclose(outputs[name].numpy(), recorded[name], rtol=0, atol=1e-4, err_msg=name)


def _test_set(root: Path) -> Path:
    """Two images (one not square) with GT disks."""
    rng = np.random.default_rng(0)
    rows = []
    for name, (height, width) in {"a": (96, 128), "b": (80, 80)}.items():
        yy, xx = np.mgrid[:height, :width]
        gt = ((yy - height / 2) ** 2 + (xx - width / 2) ** 2 < (height / 4) ** 2).astype(np.uint8) * 255
        row = manifest_row(name=name, image=image_file(name), size=(height, width), gt=gt_file(name))
        write_png(root / row["image"], rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        write_png(root / row["gt"], gt)
        rows.append(row)
    write_manifest(root / "manifest.csv", pd.DataFrame(rows))
    return root / "manifest.csv"


@pytest.mark.slow
def test_an_authors_checkpoint_goes_through_predict_and_evaluate(tmp_path: Path) -> None:
    """A checkpoint as the released Train.py saves it (DataParallel: every key starts with ``module.``)."""
    torch.save(rule_state_dict(shared_fixture(FIXTURE), prefix="module."), tmp_path / "Net_epoch_best.pth")
    _, config, input_size = load_network(tmp_path / "Net_epoch_best.pth")
    assert config == ModelConfig(**RELEASED_MODEL) and input_size == 384
    manifest = _test_set(tmp_path / "test")
    summary = predict(
        checkpoint=tmp_path / "Net_epoch_best.pth", manifest=manifest, output=tmp_path / "pred",
        config=recipe(PredictConfig, "predict"), device=torch.device("cpu"),
    )  # fmt: skip
    assert summary == {"images": 2, "image_size": 384, "model": "released", "main": True}
    results = evaluate(pred_dir=tmp_path / "pred", gt_dir=tmp_path / "test" / "GT", output=tmp_path / "m.json")
    assert json.loads((tmp_path / "m.json").read_text()) == results and 0 <= results["Smeasure"] <= 1


def test_summary_names_the_parts_and_counts_every_flop() -> None:
    config = ModelConfig(name="released", backbone="resnet18", backbone_weights="none", width=16, grouping=True)
    parts = summarise(config, 64)
    assert [p.name for p in parts] == list(PART_SIZES)
    assert all(p.parameters > 0 and p.flops > 0 for p in parts)
    done = CliRunner().invoke(
        models_app, ["summary", "--model", "released", "--backbone", "resnet18", "--width", "16", "--size", "64"]
    )
    assert done.exit_code == 0, done.output
    total = sum(p.parameters for p in parts) / 1e6
    assert (
        done.stdout.strip().splitlines()[-1]
        == f"params_millions={total:.2f} gflops={sum(p.flops for p in parts) / 1e9:.2f}"
    )


@pytest.mark.slow
def test_summary_of_the_released_network_at_384() -> None:
    done = CliRunner().invoke(models_app, ["summary", "--model", "released", "--backbone", "resnet50", "--size", "384"])
    assert done.exit_code == 0, done.output
    assert done.stdout.strip().splitlines()[-1].startswith("params_millions=46.52 gflops=")
