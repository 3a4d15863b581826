"""The per-image cache of view maps: added images are the only ones labelled, a changed parameter, label file or
checkpoint relabels, an equal view spelled otherwise reuses, entries are whole or absent, and the key covers the
labelling code. (Killing a run and running it again: tests/test_interruption.py.)"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
from recipe import recipe
from sam_helpers import build_tiny_sam, save_tiny_checkpoint, write_training_set

import wssam.pseudo_label.cache as cache_module
from wssam.io import read_label_map, write_png
from wssam.pseudo_label.cache import MapCache, imported_sources, labelling_code_fingerprint
from wssam.pseudo_label.config import PseudoLabelConfig
from wssam.pseudo_label.labelers.sam import SamLabeler
from wssam.pseudo_label.stage import pseudo_label
from wssam.staging import TEMP_MARK

VIEWS = ("identity", "hflip_scale0.5")


def _config(**changes: object) -> PseudoLabelConfig:
    return recipe(PseudoLabelConfig, "pseudo_label", **changes)


def _label(root: Path, manifest: Path, view: str, config: PseudoLabelConfig, output: str = "views"):
    return pseudo_label(
        manifest=manifest, view=view, labeler_dir=root, output=root / output / view, cache_dir=root / "cache",
        config=config, progress=False,
    )  # fmt: skip


def _files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_adding_two_images_labels_only_those_two_in_every_view(tmp_path: Path) -> None:
    """write_training_set draws image i from seed i, so the first 4 images of the 6-image set are the same files."""
    config = _config()
    for view in VIEWS:
        first = _label(tmp_path, write_training_set(tmp_path / "four", count=4), view, config)
        assert (first.labelled, first.reused) == (4, 0)
    six = write_training_set(tmp_path / "six", count=6)
    for view in VIEWS:
        summary = _label(tmp_path, six, view, config)
        assert (summary.labelled, summary.reused, summary.images) == (2, 4, 6)
        fresh = pseudo_label(manifest=six, view=view, labeler_dir=tmp_path, output=tmp_path / "fresh" / view,
                             cache_dir=tmp_path / "fresh cache", config=config, progress=False)  # fmt: skip
        assert fresh.labelled == 6
        assert _files(tmp_path / "views" / view) == _files(tmp_path / "fresh" / view)


def test_a_changed_labeler_parameter_labels_everything_again(tmp_path: Path) -> None:
    manifest = write_training_set(tmp_path / "train", count=3)
    config = _config()
    assert _label(tmp_path, manifest, "identity", config).labelled == 3
    assert _label(tmp_path, manifest, "identity", config).reused == 3
    sharper = config.replace(random_walker=config.random_walker.replace(beta=260.0))
    assert _label(tmp_path, manifest, "identity", sharper).labelled == 3
    assert _label(tmp_path, manifest, "identity", sharper).reused == 3
    assert _label(tmp_path, manifest, "identity", config).reused == 3  # the first settings' maps are still there


def test_prompt_settings_relabel_for_sam_and_not_for_the_walker_which_ignores_them(tmp_path: Path) -> None:
    """SAM's maps depend on the points and box sampled from the strokes (their number, the seed); the random
    walker's on the strokes alone, so changing those settings reuses every walker map."""
    manifest = write_training_set(tmp_path / "train", count=2)
    checkpoint = save_tiny_checkpoint(tmp_path / "sam" / "tiny.pth")
    sam = {"model_type": "vit_b", "checkpoint": checkpoint.name, "device": "cpu", "precision": "fp32"}
    for name in ("random_walker", "sam"):
        first = _config(labeler=name, sam=sam)
        tiny = SamLabeler.from_config(first.sam, checkpoint.parent, builder=build_tiny_sam) if name == "sam" else None
        for config in (first, first.replace(prompts=first.prompts.replace(max_points=3)), first.replace(seed=7)):
            summary = pseudo_label(
                manifest=manifest, view="identity", labeler_dir=checkpoint.parent, output=tmp_path / "views" / name,
                cache_dir=tmp_path / "cache", config=config, labeler=tiny, progress=False,
            )  # fmt: skip
            changed = config is not first
            assert summary.labelled == (2 if name == "sam" or not changed else 0), (name, config.prompts, config.seed)


def test_a_changed_label_file_relabels_that_image_only(tmp_path: Path) -> None:
    manifest = write_training_set(tmp_path / "train", count=3)
    assert _label(tmp_path, manifest, "identity", _config()).labelled == 3
    sparse_file = tmp_path / "train" / "Scribble" / "img01.png"
    sparse = read_label_map(sparse_file)
    sparse[sparse.shape[0] - 6, 10:20] = 2
    write_png(sparse_file, sparse)
    summary = _label(tmp_path, manifest, "identity", _config())
    assert (summary.labelled, summary.reused) == (1, 2)


def test_the_same_view_spelled_otherwise_is_reused(tmp_path: Path) -> None:
    manifest = write_training_set(tmp_path / "train", count=2)
    assert _label(tmp_path, manifest, "vflip", _config()).labelled == 2
    summary = _label(tmp_path, manifest, "hflip_rot180", _config())
    assert (summary.labelled, summary.reused) == (0, 2)
    assert _files(tmp_path / "views" / "vflip") == _files(tmp_path / "views" / "hflip_rot180")


def test_a_cleared_cache_is_filled_again_to_the_same_bytes(tmp_path: Path) -> None:
    manifest = write_training_set(tmp_path / "train", count=2)
    _label(tmp_path, manifest, "identity", _config(), output="first")
    shutil.rmtree(tmp_path / "cache")
    assert _label(tmp_path, manifest, "identity", _config(), output="second").labelled == 2
    assert _files(tmp_path / "first" / "identity") == _files(tmp_path / "second" / "identity")


def test_the_checkpoint_is_hashed_once_and_again_when_it_changes(tmp_path: Path, monkeypatch) -> None:
    checkpoint = tmp_path / "sam.pth"
    checkpoint.write_bytes(b"weights one")
    hashed: list[Path] = []
    real_digest = cache_module.file_digest
    monkeypatch.setattr(cache_module, "file_digest", lambda path: hashed.append(Path(path)) or real_digest(path))
    cache = MapCache(tmp_path / "cache")
    first = cache.remembered_digest(checkpoint)
    assert MapCache(tmp_path / "cache").remembered_digest(checkpoint) == first and len(hashed) == 1
    checkpoint.write_bytes(b"weights two")
    os.utime(checkpoint, ns=(1, 1))
    assert cache.remembered_digest(checkpoint) != first and len(hashed) == 2


def test_a_checkpoint_replaced_by_a_copy_with_the_old_size_and_time_is_hashed_again(tmp_path: Path) -> None:
    """``cp -p``, ``rsync -a`` and ``tar x`` keep the modification time: size and mtime alone would keep the old
    digest, and the SAM views would reuse maps of the old checkpoint."""
    checkpoint, other = tmp_path / "sam.pth", tmp_path / "other.pth"
    checkpoint.write_bytes(b"weights one")
    other.write_bytes(b"weights two")
    cache = MapCache(tmp_path / "cache")
    first = cache.remembered_digest(checkpoint)
    kept = checkpoint.stat().st_mtime_ns
    os.utime(other, ns=(kept, kept))
    os.replace(other, checkpoint)  # a copy put in place, same size and modification time
    assert checkpoint.stat().st_mtime_ns == kept and checkpoint.stat().st_size == len(b"weights one")
    assert cache.remembered_digest(checkpoint) == cache_module.file_digest(checkpoint) != first
    checkpoint.write_bytes(b"weights thr")  # rewritten in place, then its time set back
    os.utime(checkpoint, ns=(kept, kept))
    assert cache.remembered_digest(checkpoint) == cache_module.file_digest(checkpoint)


def test_entries_are_whole_or_absent_and_old_leftovers_go(tmp_path: Path) -> None:
    cache = MapCache(tmp_path)
    stale, fresh = tmp_path / "tmp" / f".k1.x{TEMP_MARK}", tmp_path / "tmp" / f".k2.y{TEMP_MARK}"
    for path in (stale, fresh):
        path.write_bytes(b"half an entry")
    os.utime(stale, (0, 0))
    key = "ab" * 32
    assert not cache.has(key)
    cache.put(key, b"a map")
    assert cache.has(key) and cache.path(key).read_bytes() == b"a map"
    assert sorted((tmp_path / "tmp").iterdir()) == [stale, fresh]  # put leaves nothing of its own behind
    MapCache(tmp_path)
    assert sorted((tmp_path / "tmp").iterdir()) == [fresh]  # a run in progress elsewhere may still write that one


def test_an_entry_reaches_the_disk_before_it_gets_its_name(tmp_path: Path, monkeypatch) -> None:
    """A rename without fsync can leave a named but empty or cut entry after a power loss, trusted by its name."""
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(cache_module.os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(cache_module.os, "replace", lambda a, b: (events.append("rename"), real_replace(a, b))[1])
    target = MapCache(tmp_path / "cache").put("ab" * 32, b"map bytes")
    assert events == ["fsync", "rename"] and target.read_bytes() == b"map bytes"


def test_the_key_covers_the_labelling_code_and_nothing_else() -> None:
    root = cache_module.PACKAGE_ROOT
    names = {path.relative_to(root).as_posix() for path in imported_sources(cache_module.STAGE_MODULE)}
    needed = {"pseudo_label/stage.py", "pseudo_label/views.py", "pseudo_label/prompts.py", "pseudo_label/cache.py",
              "pseudo_label/labelers/random_walker.py", "pseudo_label/labelers/sam.py", "io.py", "pixels.py",
              "labels.py", "prepare/manifest.py"}  # fmt: skip
    assert needed <= names
    assert not {name for name in names if name.startswith(("train/", "score/", "models/", "predict/"))}
    assert labelling_code_fingerprint() == labelling_code_fingerprint()


def test_an_edit_of_the_labelling_code_changes_the_fingerprint(tmp_path: Path, monkeypatch) -> None:
    package = tmp_path / "wssam"
    shutil.copytree(cache_module.PACKAGE_ROOT, package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache_module, "PACKAGE_ROOT", package)
    start = package / "pseudo_label" / "stage.py"
    before = labelling_code_fingerprint(start)
    walker = package / "pseudo_label" / "labelers" / "random_walker.py"
    walker.write_text(walker.read_text() + "\n# an edit\n")
    assert labelling_code_fingerprint(start) != before
    unrelated = package / "train" / "losses.py"
    after = labelling_code_fingerprint(start)
    unrelated.write_text(unrelated.read_text() + "\n# an edit\n")
    assert labelling_code_fingerprint(start) == after


def test_a_replaced_mask_of_the_folder_labeler_is_read_again(tmp_path: Path) -> None:
    manifest = write_training_set(tmp_path / "train", count=2)
    masks = tmp_path / "masks"
    for name, size in (("img00", (40, 64)), ("img01", (48, 68))):
        write_png(masks / f"{name}.png", np.full(size, 255 if name == "img00" else 0, np.uint8))
    config = _config(labeler="folder", folder={"masks": "masks"})
    assert _label(tmp_path, manifest, "identity", config).labelled == 2
    write_png(masks / "img01.png", np.full((48, 68), 128, np.uint8))
    summary = _label(tmp_path, manifest, "identity", config)
    assert (summary.labelled, summary.reused) == (1, 1)
    assert read_label_map(tmp_path / "views" / "identity" / "img01.png").max() == 128
