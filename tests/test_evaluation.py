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
from wssam.evaluate.stage import evaluate, measure_pair, pair_files
from wssam.io import InputError, read_grey, read_gt, read_prediction, write_png

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
        measures = measure_image(read_prediction(pred_path), read_gt(gt_path))
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


@pytest.mark.parametrize(
    ("case", "expected"),
    [("object over half the image, confident map", 0.25), ("black map, empty GT", 1.0)],
)
def test_adaptive_emeasure_binarises_above_the_threshold_as_the_toolbox_does(case: str, expected: float) -> None:
    """``Bi_sal(sal > min(2 * mean, 1))``. A confident map of an object over half the image has 2 * mean > 1: the
    toolbox keeps no pixel, and an empty map against a two-class GT aligns nowhere, 0.25 at every pixel (pysodmetrics'
    ``>=`` kept the object: 0.96). A black map on an empty GT: the toolbox keeps no pixel, all agree (``>=`` kept
    every pixel: 0). The toolbox divides the enhanced sum by (pixels - 1)."""
    gt = np.zeros((10, 10), bool)
    if case.startswith("object"):
        gt[:, :6] = True
        pred = gt.astype(np.float64)
    else:
        pred = np.zeros((10, 10))
    assert measure_image(pred, gt).adp_em == pytest.approx(expected * 100 / 99, abs=1e-12)


def test_gt_level_128_is_background_as_in_matlab(tmp_path: Path) -> None:
    pred = np.zeros((16, 16), np.uint8)
    pred[4:12, 4:12] = 255
    gt = np.zeros((16, 16), np.uint8)
    gt[4:12, 4:12] = 255
    grey = gt.copy()
    grey[0, :] = 128
    for name, array in {"pred": pred, "gt": gt, "grey": grey}.items():
        write_png(tmp_path / f"{name}.png", array)
    with_128, _ = measure_pair(tmp_path / "pred.png", tmp_path / "grey.png")
    binary, _ = measure_pair(tmp_path / "pred.png", tmp_path / "gt.png")
    assert with_128.values() == binary.values()
    assert binary.values()["MAE"] == 0.0


def _matlab_mae(levels: np.ndarray, gt: np.ndarray) -> float:
    """The toolbox's MAE of a map already read by ``im2double``: ``mapminmax`` then mean |gt - pred|."""
    low, high = levels.min(), levels.max()
    normalised = (levels - low) / (high - low) if high > low else levels
    return float(np.mean(np.abs(gt.astype(np.float64) - normalised)))


def _half_square_gt(root: Path) -> np.ndarray:
    gt = np.zeros((32, 32), bool)
    gt[:, 16:] = True
    write_png(root / "gt.png", gt.astype(np.uint8) * 255)
    return gt


def test_a_16_bit_prediction_is_read_at_its_full_depth_as_the_toolbox_does(tmp_path: Path) -> None:
    """``im2double`` of a 16-bit map divides by 65535; rounding to 8 bits first leaves a map spanning 0..600 of
    65535 only three grey levels."""
    from PIL import Image

    gt = _half_square_gt(tmp_path)
    ramp = np.tile(np.linspace(0, 600, 32), (32, 1)).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "pred16.png")
    assert np.asarray(Image.open(tmp_path / "pred16.png")).dtype == np.uint16
    measures, _ = measure_pair(tmp_path / "pred16.png", tmp_path / "gt.png")
    assert measures.mae == pytest.approx(_matlab_mae(ramp / 65535.0, gt), abs=1e-12)
    assert measures.mae != pytest.approx(_matlab_mae(np.round(ramp / 257.0) / 255.0, gt), abs=1e-3)


def test_a_colour_prediction_is_read_by_its_first_channel_as_the_toolbox_does(tmp_path: Path) -> None:
    """The toolbox reads ``pred(:, :, 1)``: a heat-map render whose channels differ is its red channel, not its
    luminance."""
    gt = _half_square_gt(tmp_path)
    red = np.tile(np.linspace(0, 255, 32), (32, 1)).astype(np.uint8)
    colour = np.stack([red, np.full_like(red, 40), 255 - red], axis=-1)
    write_png(tmp_path / "colour.png", colour)
    write_png(tmp_path / "red.png", red)
    from_colour, _ = measure_pair(tmp_path / "colour.png", tmp_path / "gt.png")
    from_red, _ = measure_pair(tmp_path / "red.png", tmp_path / "gt.png")
    assert from_colour.values() == from_red.values()
    assert from_colour.mae == pytest.approx(_matlab_mae(red / 255.0, gt), abs=1e-12)
    assert not np.array_equal(read_grey(tmp_path / "colour.png"), red), "its luminance differs from its red channel"


def test_an_8_bit_prediction_gives_what_pysodmetrics_gives_on_its_own() -> None:
    """For the common case (8-bit grey maps) the toolbox reading equals pysodmetrics' own ``pred / 255``."""
    folder = fixture("cod10k-matlab")
    for _, pred_path, gt_path in pair_files(folder / "pred", folder / "GT"):
        own = sod.Smeasure(), sod.MAE(), sod.WeightedFmeasure()
        for metric in own:
            metric.step(pred=read_grey(pred_path), gt=read_gt(gt_path).astype(np.uint8) * 255)
        measures, _ = measure_pair(pred_path, gt_path)
        assert (measures.smeasure, measures.mae, measures.wfmeasure) == (
            own[0].get_results()["sm"],
            own[1].get_results()["mae"],
            own[2].get_results()["wfm"],
        )


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
