"""The pseudo_label stage: core function with both labelers, the CLI, validation and the staged output folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from recipe import ROOT, merge, recipe
from sam_helpers import build_tiny_sam, save_tiny_checkpoint, write_training_set

from wssam.config import read_params
from wssam.io import InputError, read_grey, read_probability, write_png
from wssam.prepare.manifest import read_manifest
from wssam.pseudo_label.config import PseudoLabelConfig
from wssam.pseudo_label.labelers.sam import SamLabeler, load_sam
from wssam.pseudo_label.stage import pseudo_label
from wssam.staging import staged_folder


def _config(**changes: object) -> PseudoLabelConfig:
    return recipe(PseudoLabelConfig, "pseudo_label", **changes)


def _label(manifest: Path, view: str, output: Path, config: PseudoLabelConfig, **kwargs: object):
    return pseudo_label(
        manifest=manifest, view=view, labeler_dir=output.parent, output=output, cache_dir=output.parent / "cache",
        config=config, progress=False, **kwargs,
    )  # fmt: skip


def test_random_walker_view_writes_original_size_maps(tmp_path: Path) -> None:
    manifest = write_training_set(tmp_path / "train", count=3, unusable=1)
    out = tmp_path / "views" / "hflip_rot90"
    summary = _label(manifest, "hflip_rot90", out, _config())
    assert summary.images == 2
    assert sorted(p.name for p in out.iterdir()) == ["img00.png", "img01.png"]  # the unusable row is skipped
    for index, name in enumerate(["img00", "img01"]):
        probability = read_probability(out / f"{name}.png")
        assert probability.shape == (40 + 8 * index, 64 + 4 * index)
        assert probability.max() == 1.0 and probability.min() == 0.0
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_views_agree_for_random_walker(tmp_path: Path) -> None:
    manifest = write_training_set(tmp_path / "train", count=1)
    maps = {}
    for view in ("identity", "rot270", "hflip_rot180"):
        _label(manifest, view, tmp_path / view, _config())
        maps[view] = read_grey(tmp_path / view / "img00.png").astype(int)
    for view in ("rot270", "hflip_rot180"):
        assert np.mean(np.abs(maps[view] - maps["identity"]) <= 2) >= 0.99


def test_point_labels(tmp_path: Path) -> None:
    manifest = write_training_set(tmp_path / "train", count=2, kind="point")
    assert _label(manifest, "scale0.5", tmp_path / "out", _config()).images == 2


def test_a_view_not_listed_in_params_is_accepted(tmp_path: Path) -> None:
    manifest = write_training_set(tmp_path / "train", count=1)
    assert "vflip_scale0.75" not in _config().views
    assert _label(manifest, "vflip_scale0.75", tmp_path / "out", _config()).images == 1


def test_sam_through_the_stage_core(tmp_path: Path) -> None:
    """The tiny SAM goes through the same checkpoint loader and the real per-view loop (fp32, CPU: pinned, so the
    result does not depend on whether the host has native bf16)."""
    manifest = write_training_set(tmp_path / "train", count=2)
    checkpoint = save_tiny_checkpoint(tmp_path / "sam" / "tiny.pth")
    sam = {
        "model_type": "vit_b",
        "checkpoint": checkpoint.name,
        "device": "cpu",
        "precision": "fp32",
        "output": "binary",
    }
    config = _config(labeler="sam", sam=sam)
    labeler = SamLabeler.from_config(config.sam, checkpoint.parent, builder=build_tiny_sam)
    out = tmp_path / "rot90_scale2"
    summary = pseudo_label(
        manifest=manifest, view="rot90_scale2", labeler_dir=checkpoint.parent, output=out,
        cache_dir=tmp_path / "cache", config=config, labeler=labeler, progress=False,
    )  # fmt: skip
    assert summary.images == 2
    assert read_probability(out / "img01.png").shape == (48, 68)
    same = SamLabeler(load_sam("vit_b", checkpoint, builder=build_tiny_sam), precision="fp32", output="binary")
    pseudo_label(
        manifest=manifest, view="rot90_scale2", labeler_dir=checkpoint.parent, output=tmp_path / "again",
        cache_dir=tmp_path / "other cache", config=config, labeler=same, progress=False,
    )  # fmt: skip
    for name in ("img00", "img01"):
        assert np.array_equal(read_grey(out / f"{name}.png"), read_grey(tmp_path / "again" / f"{name}.png"))


def test_sam_without_checkpoint_fails_before_work(tmp_path: Path) -> None:
    manifest = write_training_set(tmp_path / "train", count=1)
    config = _config(labeler="sam", sam={"model_type": "vit_h", "checkpoint": "none.pth"})
    with pytest.raises(InputError, match="none.pth: SAM checkpoint not found .*sam_vit_h_4b8939.pth"):
        _label(manifest, "identity", tmp_path / "out", config)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("column", ["image", "sparse"])
def test_a_missing_training_file_is_one_line_naming_it(tmp_path: Path, column: str) -> None:
    """A file under data/prepared deleted by hand or lost in a partial checkout: the cache key reads it first, and
    the message names it and the stage to rerun (it was a FileNotFoundError traceback)."""
    manifest = write_training_set(tmp_path / "train", count=2)
    lost = manifest.parent / str(read_manifest(manifest)[column].iloc[1])
    lost.unlink()
    with pytest.raises(InputError, match=f"{lost.name}: file not found; .*run the prepare stage again"):
        _label(manifest, "identity", tmp_path / "out", _config())
    assert not (tmp_path / "out").exists()


def test_bad_view_fails_before_work(tmp_path: Path) -> None:
    manifest = write_training_set(tmp_path / "train", count=1)
    with pytest.raises(InputError, match="unknown token 'spin'"):
        _label(manifest, "hflip_spin", tmp_path / "out", _config())
    assert not (tmp_path / "out").exists()


def test_staged_folder_replaces_or_keeps(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.png").write_bytes(b"x")
    with pytest.raises(RuntimeError), staged_folder(out) as staging:
        (staging / "new.png").write_bytes(b"y")
        raise RuntimeError("interrupted")
    assert [p.name for p in out.iterdir()] == ["stale.png"]  # an interrupted run leaves the old folder
    with staged_folder(out) as staging:
        (staging / "new.png").write_bytes(b"y")
    assert [p.name for p in out.iterdir()] == ["new.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def _run_cli(tmp_path: Path, section: dict, view: str) -> subprocess.CompletedProcess[str]:
    """The stage script as DVC runs it, in a subprocess: it re-executes itself for SAM's allocator settings."""
    params = read_params(ROOT / "params.yaml")
    params["pseudo_label"] = merge(params["pseudo_label"], section)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    manifest = write_training_set(tmp_path / "train", count=2)
    command = [sys.executable, str(ROOT / "stages" / "pseudo_label.py"), "--params", str(tmp_path / "params.yaml")]
    command += ["--manifest", str(manifest), "--view", view, "--labeler-dir", str(tmp_path / "labeler")]
    command += ["--output", str(tmp_path / "views" / view), "--cache-dir", str(tmp_path / "cache"), "--quiet"]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)


def test_cli_random_walker(tmp_path: Path) -> None:
    result = _run_cli(tmp_path, {"labeler": "random_walker"}, "hflip_scale0.5")
    assert result.returncode == 0, result.stderr
    assert "pseudo_label hflip_scale0.5: labelled=2 reused=0 in " in result.stdout and "; 2 maps with" in result.stdout
    assert len(list((tmp_path / "views" / "hflip_scale0.5").glob("*.png"))) == 2


def test_cli_missing_checkpoint_is_one_line_after_the_reexec(tmp_path: Path) -> None:
    section = {"labeler": "sam", "sam": {"model_type": "vit_l", "checkpoint": "x.pth", "device": "cpu"}}
    result = _run_cli(tmp_path, section, "identity")
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "sam_vit_l_0b3195.pth" in result.stderr and "Traceback" not in result.stderr


def _masks(folder: Path, manifest: Path, *, skip: str = "", wrong_size: str = "") -> None:
    """Binary 0/255 masks named like the training images (one left out, one of the wrong size if asked)."""
    for row in read_manifest(manifest).itertuples():
        if row.name == skip:
            continue
        height, width = (row.height, row.width + 4) if row.name == wrong_size else (row.height, row.width)
        mask = np.zeros((height, width), np.uint8)
        mask[height // 4 : height // 2, width // 4 : width // 2] = 255
        write_png(folder / f"{row.name}.png", mask)


def test_folder_labeler_reads_the_masks_for_every_view(tmp_path: Path) -> None:
    manifest = write_training_set(tmp_path / "train", count=3, unusable=1)
    _masks(tmp_path / "labeler" / "authors", manifest)
    config = _config(labeler="folder", folder={"masks": "authors"})
    for view in ("identity", "hflip_rot90_scale0.5"):
        out = tmp_path / "views" / view
        summary = pseudo_label(
            manifest=manifest, view=view, labeler_dir=tmp_path / "labeler", output=out, cache_dir=tmp_path / "cache",
            config=config, progress=False,
        )  # fmt: skip
        assert summary.images == 2
        for name in ("img00", "img01"):
            assert np.array_equal(
                read_grey(out / f"{name}.png"), read_grey(tmp_path / "labeler" / "authors" / f"{name}.png")
            )


def test_folder_labeler_reads_0_1_16_bit_and_colour_masks_as_the_0_255_mask(tmp_path: Path) -> None:
    """A 0/1 mask divided by 255 would be a nearly black map, an empty label that entropy selection keeps as certain;
    it is read as the binary mask it is, as ground truth is (and a 0/65535 one too). So is a mask saved in colour,
    black and red (its luminance, 0.3, would fall below the foreground cut) or grey 128 stored as RGB."""
    from PIL import Image

    manifest = write_training_set(tmp_path / "train", count=2)
    _masks(tmp_path / "labeler" / "authors", manifest)
    for name in ("img00", "img01"):
        mask = read_grey(tmp_path / "labeler" / "authors" / f"{name}.png")
        write_png(tmp_path / "labeler" / "ones" / f"{name}.png", (mask > 0).astype(np.uint8))
        (tmp_path / "labeler" / "deep").mkdir(exist_ok=True)
        Image.fromarray((mask > 0).astype(np.uint16) * 65535).save(tmp_path / "labeler" / "deep" / f"{name}.png")
        for folder, colour in (("red", (255, 0, 0)), ("grey128", (128, 128, 128))):
            rgb = np.where((mask > 0)[..., None], np.array(colour, np.uint8), np.uint8(0))
            write_png(tmp_path / "labeler" / folder / f"{name}.png", rgb)
    maps = {}
    folders = ("authors", "ones", "deep", "red", "grey128")
    for folder in folders:
        out = tmp_path / "views" / folder
        pseudo_label(
            manifest=manifest, view="identity", labeler_dir=tmp_path / "labeler", output=out,
            cache_dir=tmp_path / "cache", config=_config(labeler="folder", folder={"masks": folder}), progress=False,
        )  # fmt: skip
        maps[folder] = [read_grey(out / f"{name}.png") for name in ("img00", "img01")]
    for folder in folders[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(maps[folder], maps["authors"], strict=True)), folder
    assert all(m.max() == 255 for m in maps["authors"])


FOLDER_CASES = [
    ("missing", r"img01.png: no pseudo mask for training image 'img01'"),
    ("size", r"img00.png: pseudo mask is 68x40 \(WxH\) but image 'img00' is 64x40"),
    ("folder", r"nowhere: folder of pseudo masks not found"),
]


@pytest.mark.parametrize(("case", "message"), FOLDER_CASES)
def test_folder_labeler_refuses_missing_or_wrong_masks_before_work(tmp_path: Path, case: str, message: str) -> None:
    manifest = write_training_set(tmp_path / "train", count=2)
    _masks(
        tmp_path / "labeler",
        manifest,
        skip="img01" if case == "missing" else "",
        wrong_size="img00" if case == "size" else "",
    )
    config = _config(labeler="folder", folder={"masks": "nowhere" if case == "folder" else "."})
    with pytest.raises(InputError, match=message):
        pseudo_label(
            manifest=manifest, view="identity", labeler_dir=tmp_path / "labeler", output=tmp_path / "out",
            cache_dir=tmp_path / "cache", config=config, progress=False,
        )  # fmt: skip
    assert not (tmp_path / "out").exists()
