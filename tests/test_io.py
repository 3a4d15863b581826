"""File I/O: clear errors naming the file, conventions of masks and maps, atomic writes."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest
from PIL import Image

from wssam.io import (
    InputError,
    list_images,
    read_gt,
    read_image_size,
    read_label_map,
    read_probability,
    read_rgb,
    write_probability,
)
from wssam.staging import atomic_path, is_temporary, signals_held, staged_outputs


def test_corrupt_and_missing_images_name_the_file(tmp_path) -> None:
    corrupt = tmp_path / "broken.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(InputError, match=r"broken\.jpg"):
        read_rgb(corrupt)
    with pytest.raises(InputError, match=r"absent\.png: file not found"):
        read_rgb(tmp_path / "absent.png")


def test_image_size_from_the_header_is_height_then_width(tmp_path) -> None:
    path = tmp_path / "wide.png"
    write_probability(path, np.zeros((20, 30), np.float32))
    assert read_image_size(path) == (20, 30)
    (tmp_path / "cut.png").write_bytes(b"\x89PNG\r\n")
    with pytest.raises(InputError, match=r"cut\.png: cannot read image .*; rerun it"):
        read_image_size(tmp_path / "cut.png", fix="rerun it")
    with pytest.raises(InputError, match=r"absent\.png: file not found; replace or remove the file"):
        read_image_size(tmp_path / "absent.png")


def test_a_png_cut_off_in_its_pixels_is_an_unreadable_file_not_an_exif_problem(tmp_path) -> None:
    """Its header reads, so the size is known; Pillow reads a PNG's chunks to find EXIF and hits the cut (the message
    used to blame the EXIF block and say to save the image without it)."""
    whole = tmp_path / "whole.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(whole)
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(InputError, match=r"cut\.png: cannot read image \(.*\); rerun it$") as error:
        read_image_size(cut, fix="rerun it")
    assert "EXIF" not in str(error.value)


def test_a_soft_gt_is_binarised_above_128_and_grey_rgb_masks_become_one_channel(tmp_path) -> None:
    grey = np.array([[0, 127, 128, 255]], dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    assert read_gt(tmp_path / "grey.png").tolist() == [[False, False, False, True]]  # as the CODToolbox: > 128
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(tmp_path / "rgb.png")
    assert read_gt(tmp_path / "rgb.png").tolist() == [[False, False, False, True]]


def test_probability_round_trip_is_within_half_a_level(tmp_path) -> None:
    probability = np.linspace(0, 1, 101, dtype=np.float32).reshape(1, -1)
    write_probability(tmp_path / "p.png", probability)
    assert np.abs(read_probability(tmp_path / "p.png") - probability).max() <= 0.5 / 255 + 1e-7


def test_label_map_keeps_values_and_rejects_rgb(tmp_path) -> None:
    labels = np.array([[0, 1, 2]], dtype=np.uint8)
    Image.fromarray(labels).save(tmp_path / "s.png")
    assert read_label_map(tmp_path / "s.png").tolist() == [[0, 1, 2]]
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(InputError, match=r"rgb\.png"):
        read_label_map(tmp_path / "rgb.png")


def test_label_map_stored_as_jpeg_is_refused(tmp_path) -> None:
    """JPEG moves labels between 0, 1 and 2 where they stay valid (here a background stroke becomes foreground), so
    the file is refused for its format, not its values."""
    labels = np.zeros((32, 32), dtype=np.uint8)
    labels[4:7, 4:28] = 2
    labels[16:19, 8:24] = 1
    Image.fromarray(labels).save(tmp_path / "s.jpg")
    with Image.open(tmp_path / "s.jpg") as stored:
        assert not np.array_equal(np.asarray(stored), labels)  # what reading it as stored would train on
    with pytest.raises(InputError, match=r"s\.jpg: label map stored as JPEG.*save it as PNG"):
        read_label_map(tmp_path / "s.jpg")


def test_a_signal_during_held_signals_acts_after_the_block() -> None:
    """The outputs of a stage go in place together: a SIGTERM between two of them waits for the last, also while
    another thread runs (torch's worker threads: the kernel may hand the signal to any thread)."""
    seen: list[str] = []
    previous = signal.signal(signal.SIGTERM, lambda *_: seen.append("handled"))
    done = threading.Event()
    other = threading.Thread(target=done.wait)
    other.start()
    try:
        with signals_held():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)  # time enough for the handler to run if it were not held off
            seen.append("block ended")
        seen.append("after")
    finally:
        done.set()
        other.join()
        signal.signal(signal.SIGTERM, previous)
    assert seen == ["block ended", "handled", "after"]


def _outputs(folder) -> dict[str, str]:
    """Every file under ``folder`` (relative name -> text) outside temporaries: what a rerun would read."""
    files = (p.relative_to(folder) for p in sorted(folder.rglob("*")) if p.is_file())
    return {str(p): (folder / p).read_text() for p in files if not is_temporary(p.parts[0])}


def test_staged_outputs_change_together_or_not_at_all(tmp_path) -> None:
    """Two folders and a file of one stage: a failure before the commit leaves the old three and no temporary;
    the commit puts both folders in place and the block writes the file with them."""
    maps, report, metrics = tmp_path / "maps", tmp_path / "report", tmp_path / "metrics.json"
    for folder in (maps, report):
        folder.mkdir()
        (folder / "old.txt").write_text("old")
    metrics.write_text("old")
    before = _outputs(tmp_path)
    with pytest.raises(RuntimeError), staged_outputs(maps, report) as staged:
        (staged[maps] / "new.txt").write_text("new")
        (staged[report] / "new.txt").write_text("new")
        raise RuntimeError("stopped before the commit")
    assert _outputs(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["maps", "metrics.json", "report"]

    with staged_outputs(str(maps), report) as staged:  # any path-like names the output
        (staged[maps] / "new.txt").write_text("new")
        (staged[str(report)] / "page.html").write_text("new")
        assert _outputs(tmp_path) == before  # nothing changes until the commit
        with staged.commit():
            metrics.write_text("new")
    assert _outputs(tmp_path) == {"maps/new.txt": "new", "metrics.json": "new", "report/page.html": "new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["maps", "metrics.json", "report"]


def test_a_signal_during_the_commit_acts_after_every_output_is_in_place(tmp_path) -> None:
    seen: list[bool] = []
    previous = signal.signal(signal.SIGTERM, lambda *_: seen.append((tmp_path / "maps" / "new.txt").is_file()))
    try:
        with staged_outputs(tmp_path / "maps") as staged:
            (staged[tmp_path / "maps"] / "new.txt").write_text("new")
            with staged.commit():
                os.kill(os.getpid(), signal.SIGTERM)
                (tmp_path / "metrics.json").write_text("new")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == [True] and (tmp_path / "metrics.json").read_text() == "new"


def test_atomic_path_leaves_target_untouched_on_failure(tmp_path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_list_images_rejects_duplicate_base_names(tmp_path) -> None:
    for name in ("a.jpg", "a.png"):
        (tmp_path / name).write_bytes(b"x")
    with pytest.raises(InputError, match="same base name"):
        list_images(tmp_path)


def test_a_table_keeps_its_names_as_written(tmp_path) -> None:
    import pandas as pd

    from wssam.io import read_table, write_table

    for names in (["0001", "0002"], ["1e5", "NA", "nan", "007"]):
        write_table(tmp_path / "t.csv", pd.DataFrame({"name": names, "value": [0.5] * len(names)}))
        assert read_table(tmp_path / "t.csv")["name"].tolist() == names
