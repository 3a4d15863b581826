"""The prepare stage: sparse-label simulation, real dataset folders, bad inputs, the CLI, atomic output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from recipe import recipe, stage_app, write_params
from typer.testing import CliRunner

from wssam.io import InputError, read_label_map
from wssam.labels import BACKGROUND, FOREGROUND
from wssam.prepare.config import PrepareConfig
from wssam.prepare.demo import demo_samples
from wssam.prepare.manifest import read_manifest
from wssam.prepare.simulate import simulate_points, simulate_scribbles
from wssam.prepare.stage import prepare

SMALL_DEMO = {"image_size": 32, "train_images": 3, "test_images": 2, "two_object_fraction": 0.5}


def _masks() -> list[np.ndarray]:
    masks = [s.mask for s in demo_samples(count=10, image_size=64, two_object_fraction=0.5, seed=1, prefix="m")]
    edge = np.zeros((40, 50), bool)
    edge[:, :20] = True  # object touching the border
    tiny = np.zeros((32, 32), bool)
    tiny[5, 7] = True  # too small to erode
    return [*masks, edge, tiny]


@pytest.mark.parametrize("width", [1, 3, 5])
def test_scribbles_never_cross_the_boundary(width):
    for mask in _masks():
        labels = simulate_scribbles(mask, stroke_width=width, seed=4)
        assert labels.dtype == np.uint8 and labels.shape == mask.shape
        assert set(np.unique(labels)) <= {0, 1, 2}
        assert mask[labels == FOREGROUND].all()
        assert not mask[labels == BACKGROUND].any()
        assert (labels == FOREGROUND).any() and (labels == BACKGROUND).any()


@pytest.mark.parametrize(("shape", "width"), [((2, 60), 3), ((12, 40), 25), ((32, 32), 65)])
def test_scribbles_on_an_image_too_thin_for_the_border_line(shape, width):
    """The background line along a border sits 6 % of the side (at least the stroke's radius + 1) inside it; where
    that is outside the image, the line is left out (it indexed past the image, or wrapped to the far side)."""
    mask = np.zeros(shape, bool)
    mask[: shape[0] // 2 + 1, shape[1] // 3 : shape[1] // 2] = True
    for seed in range(8):
        labels = simulate_scribbles(mask, stroke_width=width, seed=seed)
        assert mask[labels == FOREGROUND].all() and not mask[labels == BACKGROUND].any()
        assert (labels == FOREGROUND).any() and (labels == BACKGROUND).any()


def test_tiny_object_gets_its_pixel():
    tiny = _masks()[-1]
    assert simulate_scribbles(tiny, stroke_width=3, seed=0)[5, 7] == FOREGROUND
    assert simulate_points(tiny, points_per_class=2, seed=0)[5, 7] == FOREGROUND


def test_simulation_is_seeded():
    mask = _masks()[0]
    assert np.array_equal(
        simulate_scribbles(mask, stroke_width=3, seed=1), simulate_scribbles(mask, stroke_width=3, seed=1)
    )
    assert not np.array_equal(
        simulate_scribbles(mask, stroke_width=3, seed=1), simulate_scribbles(mask, stroke_width=3, seed=2)
    )
    assert not np.array_equal(
        simulate_points(mask, points_per_class=3, seed=1), simulate_points(mask, points_per_class=3, seed=2)
    )


@pytest.mark.parametrize("count", [1, 4])
def test_points_per_class(count):
    for mask in _masks()[:-1]:
        labels = simulate_points(mask, points_per_class=count, seed=3)
        assert (labels == FOREGROUND).sum() == count and (labels == BACKGROUND).sum() == count
        assert mask[labels == FOREGROUND].all() and not mask[labels == BACKGROUND].any()


# --- real dataset folders -------------------------------------------------------------------------------------


def _write_dataset(root: Path, names=("a", "b", "c"), sparse: str | None = "Scribble", size=(40, 32)) -> Path:
    """A tiny dataset: jpg images, 0/255 GT, optional S-COD sparse maps (size is width x height)."""
    rng = np.random.default_rng(0)
    for folder in ("Imgs", "GT", *([sparse] if sparse else [])):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(root / "Imgs" / f"{name}.jpg")
        mask = np.zeros((size[1], size[0]), np.uint8)
        mask[8:24, 10:30] = 255
        Image.fromarray(mask).save(root / "GT" / f"{name}.png")
        if sparse:
            labels = np.zeros_like(mask)
            labels[15, 12:28] = FOREGROUND
            labels[2, 2:30] = BACKGROUND
            if name == "c":
                labels[labels == FOREGROUND] = 0  # no foreground stroke: not usable
            Image.fromarray(labels).save(root / sparse / f"{name}.png")
    return root


def _config(train: Path | str, tests: dict[str, str] | None = None, **changes) -> PrepareConfig:
    config = recipe(PrepareConfig, "prepare", train={"source": str(train)}, synthetic=SMALL_DEMO, **changes)
    return config.replace(test_sets=tests or {"demo": "synthetic"})


def _run(tmp_path: Path, config: PrepareConfig) -> Path:
    output = tmp_path / "prepared"
    prepare(config=config, raw_dir=tmp_path / "raw", output=output, log=lambda line: None)
    return output


def test_real_dataset_round_trip(tmp_path):
    train = _write_dataset(tmp_path / "raw" / "train")
    test = _write_dataset(tmp_path / "raw" / "test", names=("x", "y"), sparse=None)
    output = _run(tmp_path, _config(train, {"real": str(test)}))
    table = read_manifest(output / "train" / "manifest.csv")
    assert list(table["name"]) == ["a", "b", "c"]
    assert list(table["usable"]) == [True, True, False] and "no foreground" in table["note"][2]
    assert set(table["sparse_kind"]) == {"scribble"} and set(table["sparse_source"]) == {"given"}
    assert (table["height"] == 32).all() and (table["width"] == 40).all()
    for row in table.itertuples():
        assert row.image.read_bytes() == (train / "Imgs" / f"{row.name}.jpg").read_bytes()
        assert np.array_equal(read_label_map(row.sparse), read_label_map(train / "Scribble" / f"{row.name}.png"))
        assert row.fg_pixels == (read_label_map(row.sparse) == FOREGROUND).sum()
    tests = read_manifest(output / "test" / "real" / "manifest.csv")
    assert list(tests["name"]) == ["x", "y"] and all(path.is_file() for path in tests["gt"])


def test_point_labels_and_simulated_labels(tmp_path):
    points = _write_dataset(tmp_path / "raw" / "points", sparse="Point")
    table = read_manifest(_run(tmp_path, _config(points)) / "train" / "manifest.csv")
    assert set(table["sparse_kind"]) == {"point"} and table["sparse"][0].parent.name == "Point"
    bare = _write_dataset(tmp_path / "raw" / "bare", sparse=None)
    table = read_manifest(_run(tmp_path, _config(bare)) / "train" / "manifest.csv")
    assert set(table["sparse_source"]) == {"simulated"} and table["usable"].all()


def test_max_images_and_synthetic_sets(tmp_path):
    train = _write_dataset(tmp_path / "raw" / "train")
    output = _run(tmp_path, _config(train, max_images=2))
    assert list(read_manifest(output / "train" / "manifest.csv")["name"]) == ["a", "b"]
    demo = read_manifest(output / "test" / "demo" / "manifest.csv")
    assert len(demo) == 2 and demo["gt"][0].is_file() and demo["sparse"][0] is None


def _break(root: Path, case: str) -> str:
    """Damage the dataset at ``root``; returns the file name the error must mention."""
    if case == "missing_gt":
        (root / "GT" / "b.png").unlink()
        return "b.jpg"
    if case == "orphan_scribble":
        Image.fromarray(np.zeros((32, 40), np.uint8)).save(root / "Scribble" / "z.png")
        return "z.png"
    if case == "size":
        Image.fromarray(np.zeros((30, 40), np.uint8)).save(root / "GT" / "b.png")
        return "b.png"
    if case == "corrupt":
        (root / "Imgs" / "b.jpg").write_bytes(b"not an image")
        return "b.jpg"
    if case == "label_7":
        Image.fromarray(np.full((32, 40), 7, np.uint8)).save(root / "Scribble" / "c.png")
        return "c.png"
    if case == "webp":  # a format not read: named as such, not reported as a GT without its image
        (root / "Imgs" / "b.jpg").rename(root / "Imgs" / "b.webp")
        return r"b\.webp: image format \.webp is not read"
    if case == "no_imgs_folder":
        (root / "Imgs").rename(root / "images")
        return r"Imgs: folder not found; a dataset folder holds Imgs/, GT/"
    if case == "nested":
        (root / "Imgs" / "sub").mkdir()
        for path in (root / "Imgs").glob("*.jpg"):
            path.rename(root / "Imgs" / "sub" / path.name)
        return r"no image files \(sub-folders are not searched\)"
    for path in (root / "Imgs").iterdir():
        path.unlink()
    return "Imgs"


@pytest.mark.parametrize(
    "case", ["missing_gt", "orphan_scribble", "size", "corrupt", "label_7", "empty", "webp", "no_imgs_folder", "nested"]
)
def test_bad_inputs_name_the_file_and_write_nothing(tmp_path, case):
    train = _write_dataset(tmp_path / "raw" / "train")
    expected = _break(train, case)
    with pytest.raises(InputError, match=expected):
        _run(tmp_path, _config(train))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def test_test_set_needs_gt(tmp_path):
    test = _write_dataset(tmp_path / "raw" / "test", sparse=None)
    for path in (test / "GT").iterdir():
        path.unlink()
    (test / "GT").rmdir()
    with pytest.raises(InputError, match="GT"):
        _run(tmp_path, _config("synthetic", {"real": str(test)}))


def test_rerun_replaces_the_output(tmp_path):
    output = tmp_path / "prepared"
    (output / "stale").mkdir(parents=True)
    _run(tmp_path, _config("synthetic"))
    assert sorted(p.name for p in output.iterdir()) == ["test", "train"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prepared"]


# --- the stage script -------------------------------------------------------------------------------------------


def _cli(tmp_path: Path, **prepare_changes: object):
    params = write_params(tmp_path / "params.yaml", prepare={"synthetic": SMALL_DEMO, **prepare_changes})
    arguments = ["--params", str(params), "--raw-dir", "raw", "--output", "out"]
    return CliRunner().invoke(stage_app("prepare"), arguments)


def test_cli_runs_and_reports_bad_params(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # sources are relative to the project root, here tmp_path
    done = _cli(tmp_path, sparse={"kind": "point"})
    assert done.exit_code == 0, done.stderr
    assert "train train: 3 images, 3 usable, sparse labels point (simulated)" in done.stdout
    assert (tmp_path / "out" / "test" / "demo_test" / "manifest.csv").is_file()
    bad = _cli(tmp_path, sparse={"kind": "brush"})
    assert bad.exit_code == 2 and "prepare.sparse.kind" in bad.stderr and bad.stderr.count("\n") == 1
    missing = _cli(tmp_path, train={"source": "raw/none"})
    assert missing.exit_code == 2 and "raw/none" in missing.stderr


def test_sources_outside_raw_dir_are_warned_about(tmp_path):
    inside = _write_dataset(tmp_path / "raw" / "in", sparse=None)
    outside = _write_dataset(tmp_path / "elsewhere", sparse=None)
    lines: list[str] = []
    config = _config(inside, {"out": str(outside)})
    prepare(config=config, raw_dir=tmp_path / "raw", output=tmp_path / "prepared", log=lines.append)
    assert len(lines) == 1 and "prepare.test_sets.out" in lines[0] and "DVC will not see" in lines[0]
