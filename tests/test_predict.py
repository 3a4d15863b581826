"""Prediction: the network comes back from its checkpoint alone; maps have the original size and span 0..255."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from recipe import recipe

from wssam.io import InputError, read_grey, write_png
from wssam.models.builder import build_model
from wssam.models.checkpoint import load_network, model_entries, save_checkpoint
from wssam.models.config import ModelConfig
from wssam.predict.config import PredictConfig
from wssam.predict.stage import min_max_normalise, predict, predict_images
from wssam.prepare.layout import image_file
from wssam.prepare.manifest import manifest_row, write_manifest
from wssam.train.config import TrainConfig

SIZES = {"wide": (40, 72), "tall": (90, 50), "square": (64, 64)}
CPU = torch.device("cpu")


def _model_config() -> ModelConfig:
    return recipe(TrainConfig, "train").model.replace(name="baseline", width=16)


def _checkpoint(path: Path) -> ModelConfig:
    config = _model_config()
    torch.manual_seed(0)
    save_checkpoint(path, model_entries(config, 64, build_model(config).state_dict()))
    return config


def _test_set(root: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for name, size in SIZES.items():
        row = manifest_row(name=name, image=image_file(name), size=size)
        write_png(root / row["image"], rng.integers(0, 256, (*size, 3), dtype=np.uint8))
        rows.append(row)
    write_manifest(root / "manifest.csv", pd.DataFrame(rows))
    return root / "manifest.csv"


def _predict(tmp_path: Path, manifest: Path, output: Path, batch_size: int = 8) -> dict:
    config = recipe(PredictConfig, "predict", batch_size=batch_size)
    return predict(checkpoint=tmp_path / "model.pt", manifest=manifest, output=output, config=config, device=CPU)


def test_predictions_have_original_size_and_full_range(tmp_path: Path) -> None:
    _checkpoint(tmp_path / "model.pt")
    manifest = _test_set(tmp_path / "test")
    output = tmp_path / "pred" / "demo"
    output.mkdir(parents=True)
    (output / "stale.png").write_bytes(b"old")  # the folder is replaced whole
    summary = _predict(tmp_path, manifest, output, batch_size=2)
    assert summary == {"images": 3, "image_size": 64, "model": "baseline", "main": True}
    assert sorted(p.name for p in output.iterdir()) == sorted(f"{n}.png" for n in SIZES)
    for name, size in SIZES.items():
        prediction = read_grey(output / f"{name}.png")
        assert prediction.shape == size
        assert prediction.min() == 0 and prediction.max() == 255
    assert not list((tmp_path / "pred").glob(".*"))  # no staging folder left behind


def test_batch_size_does_not_change_the_maps(tmp_path: Path) -> None:
    _checkpoint(tmp_path / "model.pt")
    manifest = _test_set(tmp_path / "test")
    _predict(tmp_path, manifest, tmp_path / "one", batch_size=1)
    _predict(tmp_path, manifest, tmp_path / "three", batch_size=3)
    for name in SIZES:
        one, three = read_grey(tmp_path / "one" / f"{name}.png"), read_grey(tmp_path / "three" / f"{name}.png")
        assert np.abs(one.astype(int) - three).max() <= 1


def test_model_is_rebuilt_from_the_checkpoint_alone(tmp_path: Path) -> None:
    config = _checkpoint(tmp_path / "model.pt")
    model, loaded, input_size = load_network(tmp_path / "model.pt")
    assert loaded == config and input_size == 64 and not model.training
    torch.manual_seed(0)
    reference = build_model(config)
    for key, value in reference.state_dict().items():
        assert torch.equal(value, model.state_dict()[key])


def test_a_checkpoint_with_a_bad_model_config_is_refused_naming_the_key(tmp_path: Path) -> None:
    config = _model_config()
    torch.manual_seed(0)
    entries = model_entries(config, 64, build_model(config).state_dict())
    entries["model_config"]["width"] = 4
    save_checkpoint(tmp_path / "model.pt", entries)
    with pytest.raises(InputError, match=r"model.pt: model_config.width' = 4 is invalid"):
        load_network(tmp_path / "model.pt")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("missing", r"1 missing, e\.g\. prior_head\.weight\)"),
        ("unexpected", r"1 unexpected, e\.g\. extra\.weight\)"),
        ("shape", r"1 of another shape, e\.g\. prior_head\.weight \(1, 8, 1, 1\) against \(1, 16, 1, 1\)\)"),
    ],
)
def test_weights_that_do_not_fit_are_refused_naming_the_first_key(tmp_path: Path, damage: str, message: str) -> None:
    """torch's own error starts with a bare header line ("Error(s) in loading state_dict for BaselineNet:"), which
    was all the message kept."""
    config = _model_config()
    entries = model_entries(config, 64, build_model(config).state_dict())
    weights = entries["weights"]
    if damage == "missing":
        del weights["prior_head.weight"]
    elif damage == "unexpected":
        weights["extra.weight"] = torch.zeros(1)
    else:
        weights["prior_head.weight"] = torch.zeros(1, 8, 1, 1)
    save_checkpoint(tmp_path / "model.pt", entries)
    with pytest.raises(InputError, match=r"model.pt: weights do not fit the network in its model_config \(" + message):
        load_network(tmp_path / "model.pt")


def test_missing_image_is_an_input_error(tmp_path: Path) -> None:
    _checkpoint(tmp_path / "model.pt")
    manifest = _test_set(tmp_path / "test")
    (tmp_path / "test" / "Imgs" / "tall.png").unlink()
    with pytest.raises(InputError, match="tall.png"):
        _predict(tmp_path, manifest, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_missing_or_foreign_checkpoint_is_an_input_error(tmp_path: Path) -> None:
    manifest = _test_set(tmp_path / "test")
    with pytest.raises(InputError, match="model.pt: checkpoint not found"):
        _predict(tmp_path, manifest, tmp_path / "out")
    torch.save({"state_dict": {}}, tmp_path / "model.pt")
    with pytest.raises(InputError, match="not a wssam model checkpoint"):
        _predict(tmp_path, manifest, tmp_path / "out")


class _FixedLogits(torch.nn.Module):
    """Answers every image with the same 4x4 logits: a sharp +-8 checkerboard."""

    final_output = "p1"

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        board = (torch.arange(4)[:, None] + torch.arange(4)[None, :]) % 2 * 16.0 - 8.0
        return {"p1": board.expand(len(images), 1, 4, 4)}


def test_logits_are_resized_to_the_image_before_the_sigmoid_as_the_released_test_script_does() -> None:
    """The released Test.py: upsample(logits) -> sigmoid. Resizing the probabilities instead blurs them: half-way
    between a +8 and a -8 cell the released order gives sigmoid(0) = 0.5 on a sharp step, the other a linear ramp."""
    board = _FixedLogits()(torch.zeros(1, 3, 4, 4))["p1"]
    image = np.zeros((10, 14, 3), np.uint8)
    (result,) = predict_images(_FixedLogits(), [image], 4, torch.device("cpu"))
    logits_first = torch.sigmoid(torch.nn.functional.interpolate(board, size=(10, 14), mode="bilinear"))[0, 0]
    probability_first = torch.nn.functional.interpolate(torch.sigmoid(board), size=(10, 14), mode="bilinear")[0, 0]
    np.testing.assert_array_equal(result, logits_first.numpy())
    assert np.abs(result - probability_first.numpy()).max() > 0.1


def test_min_max_normalise() -> None:
    assert min_max_normalise(np.full((3, 4), 0.7, np.float32)).tolist() == np.zeros((3, 4)).tolist()
    stretched = min_max_normalise(np.array([[0.2, 0.4], [0.3, 0.6]], np.float32))
    assert stretched.min() == 0.0 and stretched.max() == 1.0 and stretched[0, 1] == pytest.approx(0.5)
