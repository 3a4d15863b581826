"""File I/O: clear errors naming the file, conventions of masks and maps, atomic writes."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
from PIL import Image

from wssam.io import (
    InputError,
    atomic_path,
    list_images,
    read_gt,
    read_image_size,
    read_label_map,
    read_probability,
    read_rgb,
    signals_held,
    write_probability,
)


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
    """The outputs of a stage go in place together: a SIGTERM between two of them waits for the last."""
    seen: list[str] = []
    previous = signal.signal(signal.SIGTERM, lambda *_: seen.append("handled"))
    try:
        with signals_held():
            os.kill(os.getpid(), signal.SIGTERM)
            seen.append("block ended")
        seen.append("after")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == ["block ended", "handled", "after"]


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
