"""Evaluation against the MATLAB CODToolbox reference, edge-case masks, input errors and the CLI."""

from __future__ import annotations

import json
import math
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import py_sod_metrics as sod
import pytest
from recipe import shared_fixture as fixture
from recipe import stage_app
from typer.testing import CliRunner

from wssam.evaluate.metrics import METRIC_NAMES, measure_image
from wssam.evaluate.stage import evaluate, pair_files
from wssam.io import InputError, read_grey, write_png

MATLAB_TOLERANCE = 2e-5  # pysodmetrics' documented deviation on meanEm and maxFm is about 1e-5
PINNED_PYSODMETRICS = "1.6.2"  # the version whose deviation from MATLAB the tolerance above was measured on


def test_the_pinned_pysodmetrics_is_installed() -> None:
    assert version("pysodmetrics") == PINNED_PYSODMETRICS


def test_matches_the_matlab_codtoolbox_reference(tmp_path: Path) -> None:
    folder = fixture("cod10k-matlab")
    reference = json.loads((folder / "matlab_reference.json").read_text())["values"]
    results = evaluate(
        pred_dir=folder / "pred", gt_dir=folder / "GT", output=tmp_path / "m.json", per_image=tmp_path / "p.csv"
    )
    assert list(results) == list(METRIC_NAMES)
    assert json.loads((tmp_path / "m.json").read_text()) == results
    for name in METRIC_NAMES:
        assert results[name] == pytest.approx(reference[name], abs=MATLAB_TOLERANCE), name
    table = pd.read_csv(tmp_path / "p.csv")
    assert list(table.columns) == ["name", *METRIC_NAMES] and len(table) == 3
    for name in ("Smeasure", "wFmeasure", "MAE", "adpEm", "meanEm", "adpFm", "meanFm"):
        assert table[name].mean() == pytest.approx(results[name], abs=1e-12), "these are image means"


def test_per_image_aggregation_equals_one_pysodmetrics_accumulator() -> None:
    folder = fixture("cod10k-matlab")
    pairs = pair_files(folder / "pred", folder / "GT")
    emeasure = sod.Emeasure()
    fmeasure = sod.FmeasureV2({"fm": sod.FmeasureHandler(with_dynamic=True, with_adaptive=True, beta=0.3)})
    curves = []
    for _, pred_path, gt_path in pairs:
        pred, gt = read_grey(pred_path), read_grey(gt_path)
        emeasure.step(pred=pred, gt=gt)
        fmeasure.step(pred=pred, gt=gt)
        measures = measure_image(pred, gt)
        curves.append((measures.em_curve, measures.fm_curve))
    np.testing.assert_allclose(np.mean([c[0] for c in curves], axis=0), emeasure.get_results()["em"]["curve"])
    np.testing.assert_allclose(np.mean([c[1] for c in curves], axis=0), fmeasure.get_results()["fm"]["dynamic"])


def test_edge_cases_stay_finite(tmp_path: Path) -> None:
    folder = fixture("sod-edge-cases")
    results = evaluate(
        pred_dir=folder / "pred", gt_dir=folder / "GT", output=tmp_path / "m.json", per_image=tmp_path / "p.csv"
    )
    assert all(math.isfinite(value) for value in results.values()), results
    table = pd.read_csv(tmp_path / "p.csv").set_index("name")
    assert np.isfinite(table.to_numpy()).all()
    assert table.loc["aerial-1867541__340", "wFmeasure"] == 0.0, "an all-background GT has no weighted F"


def test_gt_level_128_is_background_as_in_matlab() -> None:
    pred = np.zeros((16, 16), np.uint8)
    pred[4:12, 4:12] = 255
    gt = np.zeros((16, 16), np.uint8)
    gt[4:12, 4:12] = 255
    grey = gt.copy()
    grey[0, :] = 128
    assert measure_image(pred, grey).values() == measure_image(pred, gt).values()
    assert measure_image(pred, gt).values()["MAE"] == 0.0


def make_pairs(root: Path, sizes: dict[str, tuple[int, int]]) -> tuple[Path, Path]:
    """GT 24x24 squares; predictions of the given (height, width) per name."""
    for name, (height, width) in sizes.items():
        gt = np.zeros((24, 24), np.uint8)
        gt[6:18, 6:18] = 255
        write_png(root / "GT" / f"{name}.png", gt)
        write_png(root / "pred" / f"{name}.png", np.full((height, width), 100, np.uint8))
    return root / "pred", root / "GT"


def test_missing_prediction_names_the_file(tmp_path: Path) -> None:
    pred_dir, gt_dir = make_pairs(tmp_path, {"a": (24, 24), "b": (24, 24)})
    (pred_dir / "b.png").unlink()
    with pytest.raises(InputError, match=r"pred/b\.png: prediction missing"):
        evaluate(pred_dir=pred_dir, gt_dir=gt_dir, output=tmp_path / "m.json")
    assert not (tmp_path / "m.json").exists()


def test_wrong_size_names_the_file_and_both_sizes(tmp_path: Path) -> None:
    pred_dir, gt_dir = make_pairs(tmp_path, {"a": (24, 24), "b": (20, 30)})
    with pytest.raises(InputError, match=r"pred/b\.png: prediction is 30x20 \(WxH\) but its GT .*b\.png is 24x24"):
        evaluate(pred_dir=pred_dir, gt_dir=gt_dir, output=tmp_path / "m.json")


def test_empty_gt_dir_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "GT").mkdir()
    (tmp_path / "pred").mkdir()
    with pytest.raises(InputError, match="no GT image"):
        pair_files(tmp_path / "pred", tmp_path / "GT")


def cli(*args: str):
    return CliRunner().invoke(stage_app("evaluate"), list(args))


def test_cli_writes_json_and_reports_a_missing_prediction_in_one_line(tmp_path: Path) -> None:
    pred_dir, gt_dir = make_pairs(tmp_path, {"a": (24, 24), "b": (24, 24)})
    output = tmp_path / "metrics" / "set.json"
    done = cli("--pred-dir", str(pred_dir), "--gt-dir", str(gt_dir), "--output", str(output))
    assert done.exit_code == 0, done.stderr
    assert set(json.loads(output.read_text())) == set(METRIC_NAMES)

    (pred_dir / "a.png").unlink()
    done = cli("--pred-dir", str(pred_dir), "--gt-dir", str(gt_dir), "--output", str(output))
    assert done.exit_code == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "a.png" in lines[0], done.stderr


def test_curves_per_threshold_agree_with_the_dataset_values(tmp_path: Path) -> None:
    folder = fixture("cod10k-matlab")
    results = evaluate(pred_dir=folder / "pred", gt_dir=folder / "GT", output=tmp_path / "m.json",
                       curves=tmp_path / "curves.csv")  # fmt: skip
    curves = pd.read_csv(tmp_path / "curves.csv")
    assert list(curves.columns) == ["threshold", "precision", "recall", "fmeasure", "emeasure"]
    assert curves["threshold"].tolist() == list(range(255, -1, -1))
    assert curves["fmeasure"].max() == pytest.approx(results["maxFm"]) and curves["emeasure"].mean() == pytest.approx(
        results["meanEm"]
    )
    assert curves["recall"].is_monotonic_increasing  # a lower threshold finds more of the object
