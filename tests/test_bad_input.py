"""Bad input through the stage CLIs, as a user meets it: every case converted by a documented rule (and reported
once per kind) or refused with one line naming the file or key, exit code 2, no traceback.

One test per class of the README table "What happens with bad input": image encodings, mask encodings, EXIF
orientation, empty labels, parameters (typos, numbers as strings, an offline download), checkpoints (random bytes,
malicious pickles).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from recipe import PARAMS, ROOT, stage_app, write_params
from test_training import make_training_data
from typer.testing import CliRunner

from wssam.io import read_gt, read_rgb
from wssam.pixels import CMYK_CONVERTED, EXIF_ROTATED, SCALED_16_BIT, SOFT_MASK
from wssam.prepare.manifest import read_manifest
from wssam.prepare.report import (
    GT_EMPTY,
    GT_FULL,
    GT_NEARLY_EMPTY,
    NO_BACKGROUND_LABEL,
    NO_FOREGROUND_LABEL,
    mask_findings,
)

SMALL_DEMO = {"image_size": 32, "train_images": 3, "test_images": 2, "two_object_fraction": 0.5}
HEIGHT, WIDTH = 24, 32


def _scene(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RGB image (H, W, 3), its GT (bool) and an S-COD scribble map; the object is in the top-left corner, so a
    half turn moves it away from its labels."""
    rng = np.random.default_rng(seed)
    gt = np.zeros((HEIGHT, WIDTH), bool)
    gt[2:10, 3:13] = True
    image = np.where(gt[..., None], 200, 60).astype(np.uint8) + rng.integers(0, 20, (HEIGHT, WIDTH, 3), np.uint8)
    labels = np.zeros((HEIGHT, WIDTH), np.uint8)
    labels[5, 5:11] = 1
    labels[HEIGHT - 3, 2 : WIDTH - 2] = 2
    return image, gt, labels


def _dataset(root: Path, names: list[str]) -> Path:
    """A plain dataset: PNG images, 0/255 GT and scribbles."""
    for folder in ("Imgs", "GT", "Scribble"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(names):
        image, gt, labels = _scene(index)
        Image.fromarray(image).save(root / "Imgs" / f"{name}.png")
        Image.fromarray(gt.astype(np.uint8) * 255).save(root / "GT" / f"{name}.png")
        Image.fromarray(labels).save(root / "Scribble" / f"{name}.png")
    return root


def _prepare(tmp_path: Path, train: Path):
    params = write_params(tmp_path / "params.yaml", prepare={"train": {"source": str(train)}, "synthetic": SMALL_DEMO})
    arguments = ["--params", str(params), "--raw-dir", str(tmp_path / "raw"), "--output", str(tmp_path / "out")]
    return CliRunner().invoke(stage_app("prepare"), arguments, env={"WSSAM_QUIET": "1"})


def _one_line_error(result, *patterns: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for pattern in patterns:
        assert re.search(pattern, lines[0]), (pattern, lines[0])


# --- images, masks, orientation, empty labels: prepare ----------------------------------------------------------


def test_names_that_are_numbers_keep_their_zeros_through_the_manifest(tmp_path: Path) -> None:
    """``0001`` read back as the number 1 gave predictions named ``1.png`` beside GT ``0001.png`` (when every name
    of a set is a number)."""
    names = ["0001", "0002", "0010"]
    train = _dataset(tmp_path / "raw" / "train", names)
    result = _prepare(tmp_path, train)
    assert result.exit_code == 0, result.stderr
    table = read_manifest(tmp_path / "out" / "train" / "manifest.csv")
    assert sorted(table["name"]) == sorted(names)
    assert all((tmp_path / "out" / "train" / "Imgs" / f"{name}.png").is_file() for name in names)


def test_prepare_converts_every_encoding_by_its_rule_and_reports_each_kind_once(tmp_path: Path) -> None:
    names = ["deep", "deep2", "cmyk", "exif", "zero_one", "soft", "empty_gt", "no_bg", "no_fg", "plain"]
    train = _dataset(tmp_path / "raw" / "train", names)
    image, gt, labels = _scene(0)
    levels = (image[..., 0].astype(np.uint16) * 257 + 3).astype(np.uint16)
    for name in ("deep", "deep2"):  # 16-bit grey: used to become all white
        Image.fromarray(levels).save(train / "Imgs" / f"{name}.png")
    Image.fromarray(image).convert("CMYK").save(train / "Imgs" / "cmyk.jpg", quality=95)
    (train / "Imgs" / "cmyk.png").unlink()
    exif = Image.Exif()
    exif[0x0112] = 3  # the stored pixels are upside down; a viewer (and the annotator) sees them turned
    Image.fromarray(np.rot90(image, 2).copy()).save(train / "Imgs" / "exif.png", exif=exif)
    Image.fromarray(gt.astype(np.uint8)).save(train / "GT" / "zero_one.png")  # 0/1: used to become empty
    soft = gt.astype(np.uint8) * 250
    soft[2, 3:13], soft[9, 3:13] = 100, 200  # anti-aliased top and bottom rows
    Image.fromarray(soft).save(train / "GT" / "soft.png")
    Image.fromarray(np.zeros_like(gt, np.uint8)).save(train / "GT" / "empty_gt.png")
    Image.fromarray(np.where(labels == 2, 0, labels).astype(np.uint8)).save(train / "Scribble" / "no_bg.png")
    Image.fromarray(np.where(labels == 1, 0, labels).astype(np.uint8)).save(train / "Scribble" / "no_fg.png")

    done = _prepare(tmp_path, train)
    assert done.exit_code == 0, done.stderr
    warnings = [line for line in done.stdout.splitlines() if line.startswith("warning:")]
    expected = {
        SCALED_16_BIT: "2 of 10 images (deep, deep2)",
        CMYK_CONVERTED: "1 of 10 images (cmyk)",
        EXIF_ROTATED: "1 of 10 images (exif)",
        SOFT_MASK: "1 of 10 images (soft)",
        GT_EMPTY: "1 of 10 images (empty_gt)",
        NO_BACKGROUND_LABEL: "1 of 10 images (no_bg)",
        NO_FOREGROUND_LABEL: "1 of 10 images (no_fg)",
    }
    assert len(warnings) == len(expected), done.stdout
    for kind, count in expected.items():
        assert f"warning: train: {kind}: {count}" in warnings, (kind, warnings)

    prepared = tmp_path / "out" / "train"
    table = read_manifest(prepared / "manifest.csv").set_index("name")
    assert np.array_equal(read_rgb(table.loc["deep", "image"])[..., 0], np.round(levels / 257).astype(np.uint8))
    assert table.loc["exif", "image"].suffix == ".png" and table.loc["plain", "image"].suffix == ".png"
    assert np.array_equal(read_rgb(table.loc["exif", "image"]), image)  # upright, aligned with its labels
    assert "exif" not in Image.open(table.loc["exif", "image"]).info  # written as plain pixels
    assert np.array_equal(read_gt(table.loc["zero_one", "gt"]), gt)
    expected_soft = gt.copy()
    expected_soft[2, 3:13] = False
    assert np.array_equal(read_gt(table.loc["soft", "gt"]), expected_soft)
    assert not table.loc["no_fg", "usable"] and table["usable"].sum() == 9


def test_nearly_empty_and_full_masks_are_found() -> None:
    mask = np.zeros((100, 100), bool)
    assert mask_findings(mask) == [GT_EMPTY]
    mask[0, :9] = True  # 0.09 % of the image
    assert mask_findings(mask) == [GT_NEARLY_EMPTY]
    mask[1, :2] = True  # 0.11 %
    assert mask_findings(mask) == []
    assert mask_findings(np.ones((4, 4), bool)) == [GT_FULL]


def test_a_size_mismatch_from_exif_orientation_says_so(tmp_path: Path) -> None:
    train = _dataset(tmp_path / "raw" / "train", ["turned", "plain"])
    image, _, _ = _scene(0)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned a quarter: 24x32 stored, 32x24 shown, but the GT follows the stored pixels
    Image.fromarray(image).save(train / "Imgs" / "turned.jpg", exif=exif)
    (train / "Imgs" / "turned.png").unlink()
    _one_line_error(_prepare(tmp_path, train), r"turned\.png: size 32x24 differs", r"EXIF orientation 6")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", ["transparent_image", "float_image", "colour_mask", "faint_mask", "wrapping_labels"])
def test_what_no_rule_covers_is_one_line_naming_the_file(tmp_path: Path, case: str) -> None:
    train = _dataset(tmp_path / "raw" / "train", ["a", "b"])
    image, gt, _ = _scene(1)
    if case == "transparent_image":
        alpha = np.where(gt, 255, 0).astype(np.uint8)
        Image.fromarray(np.dstack([image, alpha]), "RGBA").save(train / "Imgs" / "b.png")
        expected = r"Imgs/b\.png: .* transparent"
    elif case == "float_image":
        Image.fromarray(image[..., 0].astype(np.float32)).save(train / "Imgs" / "b.tif")
        (train / "Imgs" / "b.png").unlink()
        expected = r"Imgs/b\.tif: image mode F"
    elif case == "colour_mask":
        colours = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        colours[gt] = (255, 0, 0)
        colours[0, 0] = (0, 0, 255)
        Image.fromarray(colours).save(train / "GT" / "b.png")
        expected = r"GT/b\.png: colour mask with 3 colours"
    elif case == "faint_mask":
        faint = np.where(gt, 100, 0).astype(np.uint8)
        faint[0, 0] = 50
        Image.fromarray(faint).save(train / "GT" / "b.png")
        expected = r"GT/b\.png: soft mask .* none above 128"
    else:
        Image.fromarray(np.full((HEIGHT, WIDTH), 257, np.uint16)).save(train / "Scribble" / "b.png")
        expected = r"Scribble/b\.png: label map has values up to 257"
    _one_line_error(_prepare(tmp_path, train), expected)
    assert not (tmp_path / "out").exists()


# --- evaluate reads GT by the same rules -----------------------------------------------------------------------


def test_evaluate_reads_a_zero_one_gt_as_binary_and_reports_empty_ones(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for folder in ("pred", "gt255", "gt01"):
        (tmp_path / folder).mkdir()
    _, gt, _ = _scene(0)
    for name in ("a", "b", "c"):
        Image.fromarray(rng.integers(0, 256, gt.shape, dtype=np.uint8)).save(tmp_path / "pred" / f"{name}.png")
        Image.fromarray(gt.astype(np.uint8) * 255).save(tmp_path / "gt255" / f"{name}.png")
        Image.fromarray(gt.astype(np.uint8)).save(tmp_path / "gt01" / f"{name}.png")
    results = {}
    for folder in ("gt255", "gt01"):
        arguments = ["--pred-dir", str(tmp_path / "pred"), "--gt-dir", str(tmp_path / folder)]
        arguments += ["--output", str(tmp_path / f"{folder}.json"), "--quiet"]
        done = CliRunner().invoke(stage_app("evaluate"), arguments)
        assert done.exit_code == 0, done.stderr
        results[folder] = json.loads((tmp_path / f"{folder}.json").read_text())
    assert results["gt01"] == results["gt255"]  # a 0/1 GT used to be all background: every metric meaningless

    Image.fromarray(np.zeros(gt.shape, np.uint8)).save(tmp_path / "gt01" / "b.png")
    arguments = ["--pred-dir", str(tmp_path / "pred"), "--gt-dir", str(tmp_path / "gt01"), "--quiet"]
    done = CliRunner().invoke(stage_app("evaluate"), [*arguments, "--output", str(tmp_path / "m.json")])
    assert done.exit_code == 0
    assert [line for line in done.stdout.splitlines() if line.startswith("warning:")] == [
        f"warning: 1 of 3 GT masks in {tmp_path / 'gt01'} are empty (b); their S-measure and F-measures say little"
    ]


# --- parameters ---------------------------------------------------------------------------------------------------


def _check(tmp_path: Path, text: str):
    params = tmp_path / "params.yaml"
    params.write_text(text, encoding="utf-8")
    arguments = ["--params", str(params), "--output", str(tmp_path / "checked.json")]
    return CliRunner().invoke(stage_app("check_params"), arguments)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("  tau: 0.5 ", "  taux: 0.3\n  tau: 0.5 ", r"unknown parameter 'score\.taux'"),
        ("  labeler: random_walker ", "  labler: sam\n  labeler: random_walker ", r"'pseudo_label\.labler'"),
        ("  max_images: 0 ", "  max_image: 4\n  max_images: 0 ", r"unknown parameter 'prepare\.max_image'"),
        ("predict:\n", "trian:\n  epochs: 3\npredict:\n", r"unknown section 'trian'"),
        ("  batch_size: 8", "  batch_size: 0", r"parameter 'predict\.batch_size' = 0 is invalid"),
        ("    width: 32 ", "    width: 32\n    depth: 3 ", r"unknown parameter 'train\.model\.depth'"),
        (
            "    demo_test: synthetic",
            "    demo_test: synthetic\n    demo_test_curves: synthetic",
            r"'prepare\.test_sets': the sets 'demo_test' and 'demo_test_curves' would both write .*_curves\.csv",
        ),
    ],
)
def test_check_params_stops_at_a_typo_in_any_section(tmp_path: Path, old: str, new: str, message: str) -> None:
    text = PARAMS.read_text(encoding="utf-8")
    assert old in text
    _one_line_error(_check(tmp_path, text.replace(old, new, 1)), message)
    assert not (tmp_path / "checked.json").exists()


def test_check_params_accepts_exponent_numbers_and_its_marker_ignores_values(tmp_path: Path) -> None:
    text = PARAMS.read_text(encoding="utf-8")
    done = _check(tmp_path, text)
    assert done.exit_code == 0, done.stderr
    marker = (tmp_path / "checked.json").read_bytes()
    changed = text.replace("  lr: 0.001 ", "  lr: 1e-3 ").replace("  tau: 0.5 ", "  tau: 0.25 ")
    assert changed != text
    done = _check(tmp_path, changed)
    assert done.exit_code == 0, done.stderr  # YAML 1.1 reads 1e-3 as a string: it is still the number
    assert (tmp_path / "checked.json").read_bytes() == marker, "prepare depends on it: values must not rerun it"


def test_imagenet_weights_offline_is_one_line_saying_what_to_do(tmp_path: Path) -> None:
    """No network (here: a proxy nobody listens on) used to end in a URLError traceback."""
    manifest, scored = make_training_data(tmp_path, n_images=3, size=32)
    model = {"name": "baseline", "backbone": "resnet18", "backbone_weights": "imagenet", "width": 8}
    params = write_params(tmp_path / "params.yaml", train={"model": model, "image_size": 32, "epochs": 1})
    command = [sys.executable, str(ROOT / "stages" / "train.py"), "--params", str(params), "--manifest", str(manifest)]
    command += ["--scored-dir", str(scored), "--output", str(tmp_path / "model"), "--log-dir", str(tmp_path / "log")]
    command += ["--metrics", str(tmp_path / "train.json"), "--quiet"]
    dead_proxy = "http://127.0.0.1:9"
    env = {**os.environ, "TORCH_HOME": str(tmp_path / "torch"), "https_proxy": dead_proxy, "HTTPS_PROXY": dead_proxy}
    env.pop("no_proxy", None), env.pop("NO_PROXY", None)
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300, check=False)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "train.model.backbone_weights' = 'imagenet': cannot download https://" in lines[0]
    assert str(tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in lines[0]


# --- checkpoints ------------------------------------------------------------------------------------------------


class _RunsCode:
    """Pickled, this would call a function when loaded without weights_only."""

    def __reduce__(self) -> tuple:
        return (print, ("this must never run",))


@pytest.mark.parametrize("kind", ["random_bytes", "malicious_pickle", "plain_pickle", "empty"])
def test_predict_refuses_a_bad_checkpoint_in_one_line(tmp_path: Path, kind: str) -> None:
    """Used to be an 85-line traceback (refused, but not in one line)."""
    checkpoint = tmp_path / "model.pt"
    if kind == "random_bytes":
        checkpoint.write_bytes(np.random.default_rng(1).bytes(10_000))
    elif kind == "malicious_pickle":
        torch.save({"model_config": _RunsCode()}, checkpoint)
    elif kind == "plain_pickle":
        import pickle

        checkpoint.write_bytes(pickle.dumps(_RunsCode(), protocol=4))
    else:
        checkpoint.write_bytes(b"")
    (tmp_path / "test").mkdir()
    manifest = tmp_path / "test" / "manifest.csv"
    manifest.write_text("name,image,gt,sparse,height,width,sparse_kind,sparse_source,fg_pixels,bg_pixels,usable,note\n")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "test" / "x.png")
    with manifest.open("a") as handle:
        handle.write("x,x.png,,,8,8,,,0,0,True,\n")
    params = write_params(tmp_path / "params.yaml")
    arguments = ["--params", str(params), "--checkpoint", str(checkpoint), "--manifest", str(manifest)]
    done = CliRunner().invoke(stage_app("predict"), [*arguments, "--output", str(tmp_path / "out"), "--quiet"])
    expected = (
        r"refused unread: it holds pickled objects \([\w.]*print\)"
        if kind == "malicious_pickle"
        else (r"not a readable PyTorch checkpoint")
    )
    _one_line_error(done, rf"model\.pt: {expected}")
    assert "this must never run" not in done.stdout + done.stderr
    assert not (tmp_path / "out").exists()
