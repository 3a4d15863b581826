"""The score stage end to end on a tiny dataset: outputs, metrics, selection, input errors, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from recipe import recipe, stage_app, write_params
from typer.testing import CliRunner

from wssam.io import InputError, read_probability, write_png, write_probability
from wssam.prepare.layout import gt_file, image_file
from wssam.prepare.manifest import manifest_row, write_manifest
from wssam.pseudo_label.layout import view_map_path
from wssam.score.config import ScoreConfig
from wssam.score.entropy import pixel_weights
from wssam.score.stage import score
from wssam.staging import staged_folder

VIEWS = ("identity", "hflip", "rot90")
SIZE = 32


def make_dataset(root: Path, *, n_images: int = 6, with_gt: bool = True) -> tuple[Path, Path]:
    """Images with a square object; view maps whose noise grows with the image index (so entropy ~ error)."""
    rng = np.random.default_rng(0)
    rows = []
    for index in range(n_images):
        name = f"img{index:02d}"
        gt = np.zeros((SIZE, SIZE), bool)
        gt[8:24, 8 + index : 20 + index] = True
        row = manifest_row(name=name, image=image_file(name), size=(SIZE, SIZE), gt=gt_file(name) if with_gt else "")
        write_png(root / row["image"], np.zeros((SIZE, SIZE, 3), np.uint8))
        if with_gt:
            write_png(root / row["gt"], (gt * 255).astype(np.uint8))
        for view in VIEWS:
            noise = rng.uniform(0, 0.12 * index, (SIZE, SIZE))
            write_probability(view_map_path(root / "views", view, name), np.where(gt, 1.0 - noise, noise))
        rows.append(row)
    rows.append({**rows[0], "name": "unusable", "usable": False, "note": "no foreground stroke"})
    manifest = root / "manifest.csv"
    write_manifest(manifest, pd.DataFrame(rows))
    return manifest, root / "views"


def run(tmp_path: Path, manifest: Path, views_dir: Path, **config: float | str) -> dict:
    return score(
        manifest=manifest,
        views_dir=views_dir,
        views=VIEWS,
        config=recipe(ScoreConfig, "score", **config),
        output=tmp_path / "scored",
        metrics=tmp_path / "metrics" / "pseudo_labels.json",
    )


def test_score_stage_writes_labels_weights_selection_and_metrics(tmp_path: Path) -> None:
    manifest, views_dir = make_dataset(tmp_path / "data")
    summary = run(tmp_path, manifest, views_dir, selection="tau", tau=0.3)
    out = tmp_path / "scored"
    names = [f"img{i:02d}" for i in range(6)]
    assert sorted(p.stem for p in (out / "labels").iterdir()) == names, "unusable rows are skipped"
    assert sorted(p.stem for p in (out / "weights").iterdir()) == names
    assert not list(tmp_path.glob(".scored*")), "no temporary folder is left behind"

    views = [read_probability(views_dir / v / "img03.png") for v in VIEWS]
    fused = read_probability(out / "labels" / "img03.png")
    np.testing.assert_allclose(fused, np.mean(views, axis=0), atol=1 / 255)
    np.testing.assert_allclose(read_probability(out / "weights" / "img03.png"), pixel_weights(fused), atol=0.02)

    table = pd.read_csv(out / "selection.csv")
    assert list(table.columns) == ["name", "mean_entropy", "kept", "iou", "mae", *[f"iou_{v}" for v in VIEWS]]
    assert table["kept"].tolist() == (table["mean_entropy"] <= 0.3).tolist()
    assert table["mean_entropy"].is_monotonic_increasing, "noisier views give higher entropy"
    assert table.loc[0, "iou"] == 1.0 and table.loc[0, "mae"] == 0.0

    written = json.loads((tmp_path / "metrics" / "pseudo_labels.json").read_text())
    assert written == summary
    assert summary["images"] == 6 and summary["kept"] == int(table["kept"].sum()) and 0 < summary["kept"] < 6
    assert summary["kept_fraction"] == pytest.approx(summary["kept"] / 6)
    assert summary["selection"] == "tau" and summary["tau"] == 0.3
    assert summary["mean_iou_all"] == pytest.approx(table["iou"].mean())
    assert summary["mean_iou_kept"] >= summary["mean_iou_all"]
    assert summary["entropy_error_spearman"] > 0

    views = pd.read_csv(out / "views.csv")
    assert views["view"].tolist() == [*VIEWS, "fused"]
    for view in VIEWS:
        assert views.set_index("view").loc[view, "mean_iou"] == pytest.approx(table[f"iou_{view}"].mean())
    assert views["mean_iou"].iloc[-1] == pytest.approx(summary["mean_iou_all"])


def test_the_headline_metrics_stay_narrow(tmp_path: Path) -> None:
    """`dvc metrics show` prints one column per key: the per-view IoUs live in views.csv, not in the JSON."""
    manifest, views_dir = make_dataset(tmp_path / "data")
    summary = run(tmp_path, manifest, views_dir, selection="tau", tau=0.3)
    assert set(summary) == {
        "images", "kept", "kept_fraction", "selection", "tau", "mean_entropy", "mean_iou_all", "mean_iou_kept",
        "mean_mae_all", "entropy_error_spearman",
    }  # fmt: skip
    assert all(not isinstance(value, dict | list) for value in summary.values())


def test_fraction_rule_and_rerun_replaces_the_folder(tmp_path: Path) -> None:
    manifest, views_dir = make_dataset(tmp_path / "data")
    run(tmp_path, manifest, views_dir, selection="tau", tau=1.0)
    (tmp_path / "scored" / "stale.txt").write_text("from an older run")
    summary = run(tmp_path, manifest, views_dir, selection="fraction", keep_fraction=0.5)
    assert not (tmp_path / "scored" / "stale.txt").exists()
    table = pd.read_csv(tmp_path / "scored" / "selection.csv")
    assert table["kept"].tolist() == [True, True, True, False, False, False]
    assert summary["kept"] == 3 and summary["tau"] is None and summary["selection"] == "fraction"


def test_tau_keeping_nothing_names_the_parameter_and_keeps_old_output(tmp_path: Path) -> None:
    manifest, views_dir = make_dataset(tmp_path / "data")
    run(tmp_path, manifest, views_dir, selection="tau", tau=1.0)
    before = (tmp_path / "scored" / "selection.csv").read_text()
    for path in views_dir.glob("*/img00.png"):
        write_probability(path, np.full((SIZE, SIZE), 0.4))
    with pytest.raises(InputError, match=r"score\.tau"):
        run(tmp_path, manifest, views_dir, selection="tau", tau=0.0)
    assert (tmp_path / "scored" / "selection.csv").read_text() == before
    assert not list(tmp_path.glob(".scored*"))


def test_without_gt_quality_keys_are_null_and_columns_absent(tmp_path: Path) -> None:
    manifest, views_dir = make_dataset(tmp_path / "data", with_gt=False)
    summary = run(tmp_path, manifest, views_dir, selection="tau", tau=1.0)
    table = pd.read_csv(tmp_path / "scored" / "selection.csv")
    assert list(table.columns) == ["name", "mean_entropy", "kept"]
    for key in ("mean_iou_all", "mean_iou_kept", "mean_mae_all", "entropy_error_spearman"):
        assert summary[key] is None, key
    assert not (tmp_path / "scored" / "views.csv").exists()
    assert "null" in (tmp_path / "metrics" / "pseudo_labels.json").read_text()


def test_missing_view_map_names_file_and_view_stage(tmp_path: Path) -> None:
    manifest, views_dir = make_dataset(tmp_path / "data")
    (views_dir / "hflip" / "img02.png").unlink()
    with pytest.raises(InputError, match=r"hflip/img02\.png.*pseudo_label@hflip"):
        run(tmp_path, manifest, views_dir)
    assert not (tmp_path / "scored").exists()


def test_wrong_size_view_map_names_file_and_both_sizes(tmp_path: Path) -> None:
    manifest, views_dir = make_dataset(tmp_path / "data")
    write_probability(views_dir / "rot90" / "img01.png", np.zeros((SIZE, SIZE + 8)))
    with pytest.raises(InputError, match=r"rot90/img01\.png: view map is 40x32 .* is 32x32"):
        run(tmp_path, manifest, views_dir)


def test_staged_folder_leaves_target_untouched_on_error(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("old")
    with pytest.raises(RuntimeError), staged_folder(target) as folder:
        (folder / "new.txt").write_text("new")
        raise RuntimeError("interrupted")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert (target / "keep.txt").read_text() == "old"


def cli(tmp_path: Path, params: Path, manifest: Path, views_dir: Path):
    arguments = ["--params", str(params), "--manifest", str(manifest), "--views-dir", str(views_dir)]
    arguments += ["--output", str(tmp_path / "scored"), "--metrics", str(tmp_path / "m.json")]
    return CliRunner().invoke(stage_app("score"), arguments)


def test_cli_runs_and_rejects_bad_parameters_with_one_line(tmp_path: Path) -> None:
    manifest, views_dir = make_dataset(tmp_path / "data", n_images=3)
    params = write_params(tmp_path / "params.yaml", pseudo_label={"views": list(VIEWS)}, score={"tau": 1.0})
    done = cli(tmp_path, params, manifest, views_dir)
    assert done.exit_code == 0, done.stderr
    assert "kept 3 of 3 images" in done.stdout
    assert json.loads((tmp_path / "m.json").read_text())["images"] == 3

    for section, key in (({"tau": -1}, "score.tau"), ({"tua": 0.1}, "score.tua")):
        write_params(params, pseudo_label={"views": list(VIEWS)}, score=section)
        done = cli(tmp_path, params, manifest, views_dir)
        assert done.exit_code == 2
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and key in lines[0], done.stderr
    write_params(params, pseudo_label={"views": ["identity", "spin"]})
    done = cli(tmp_path, params, manifest, views_dir)
    assert done.exit_code == 2 and "pseudo_label.views[1]" in done.stderr and "unknown token 'spin'" in done.stderr
