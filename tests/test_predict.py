"""Prediction: the network comes back from its checkpoint alone; maps have the original size and span 0..255."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from wssam.data.manifest import write_manifest
from wssam.io import InputError, read_grey, write_png
from wssam.training.checkpoint import save_checkpoint
from wssam.training.config import PredictConfig, TrainConfig, train_config_to_dict
from wssam.training.loop import build_network
from wssam.training.predict import load_trained_model, min_max_normalise, predict_dataset

SIZES = {"wide": (40, 72), "tall": (90, 50), "square": (64, 64)}


def _checkpoint(path: Path) -> TrainConfig:
    config = TrainConfig(model="baseline", backbone="resnet18", image_size=64)
    torch.manual_seed(0)
    model = build_network(config)
    save_checkpoint(path, {"config": train_config_to_dict(config), "model": model.state_dict(), "epoch": 1})
    return config


def _test_set(root: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for name, (height, width) in SIZES.items():
        write_png(root / "Imgs" / f"{name}.png", rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        rows.append(
            dict(name=name, image=f"Imgs/{name}.png", gt="", sparse="", height=height, width=width, sparse_kind="",
                 sparse_source="", fg_pixels=0, bg_pixels=0, usable=True, note="")
        )  # fmt: skip
    write_manifest(root / "manifest.csv", pd.DataFrame(rows))
    return root / "manifest.csv"


def test_predictions_have_original_size_and_full_range(tmp_path: Path) -> None:
    _checkpoint(tmp_path / "model.pt")
    manifest = _test_set(tmp_path / "test")
    output = tmp_path / "pred" / "demo"
    output.mkdir(parents=True)
    (output / "stale.png").write_bytes(b"old")  # the folder is replaced whole
    summary = predict_dataset(
        checkpoint=tmp_path / "model.pt", manifest=manifest, output=output, config=PredictConfig(batch_size=2)
    )
    assert summary["images"] == 3 and summary["image_size"] == 64
    assert sorted(p.name for p in output.iterdir()) == sorted(f"{n}.png" for n in SIZES)
    for name, size in SIZES.items():
        prediction = read_grey(output / f"{name}.png")
        assert prediction.shape == size
        assert prediction.min() == 0 and prediction.max() == 255
    assert not list((tmp_path / "pred").glob(".*"))  # no staging folder left behind


def test_model_is_rebuilt_from_the_checkpoint_alone(tmp_path: Path) -> None:
    config = _checkpoint(tmp_path / "model.pt")
    model, loaded = load_trained_model(tmp_path / "model.pt")
    assert loaded == config and not model.training
    torch.manual_seed(0)
    reference = build_network(config)
    for key, value in reference.state_dict().items():
        assert torch.equal(value, model.state_dict()[key])


def test_missing_image_is_an_input_error(tmp_path: Path) -> None:
    _checkpoint(tmp_path / "model.pt")
    manifest = _test_set(tmp_path / "test")
    (tmp_path / "test" / "Imgs" / "tall.png").unlink()
    with pytest.raises(InputError, match="tall.png"):
        predict_dataset(
            checkpoint=tmp_path / "model.pt", manifest=manifest, output=tmp_path / "out", config=PredictConfig()
        )
    assert not (tmp_path / "out").exists()


def test_missing_checkpoint_is_an_input_error(tmp_path: Path) -> None:
    manifest = _test_set(tmp_path / "test")
    with pytest.raises(InputError, match="model.pt"):
        predict_dataset(
            checkpoint=tmp_path / "model.pt", manifest=manifest, output=tmp_path / "out", config=PredictConfig()
        )


def test_min_max_normalise() -> None:
    assert min_max_normalise(np.full((3, 4), 0.7, np.float32)).tolist() == np.zeros((3, 4)).tolist()
    stretched = min_max_normalise(np.array([[0.2, 0.4], [0.3, 0.6]], np.float32))
    assert stretched.min() == 0.0 and stretched.max() == 1.0 and stretched[0, 1] == pytest.approx(0.5)
