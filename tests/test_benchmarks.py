"""Smoke runs of the benchmarks on tiny configurations, so they cannot drift from the code they measure.

The figures of such runs mean nothing; the checks are that each benchmark runs the current code end to end and
ends with its documented summary line.
"""

from __future__ import annotations

import math
import subprocess
import sys

from recipe import ROOT


def _bench(*arguments: str) -> dict[str, float]:
    """Run ``python -m wssam.bench ...`` from the project root; the last line's ``key=value`` pairs as floats."""
    command = [sys.executable, "-m", "wssam.bench", *arguments]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    values = dict(pair.split("=") for pair in last.split())
    return {key: float(value) for key, value in values.items()}


def test_bench_sam_runs_on_a_tiny_sam() -> None:
    figures = _bench("sam", "--model-type", "tiny", "--images", "1", "--views", "2", "--image-size", "64")
    assert set(figures) == {"per_view_s", "encoder_s", "naive_s", "overhead", "speedup"}
    assert all(math.isfinite(value) and value > 0 for value in figures.values())


def test_bench_train_runs_on_a_tiny_network() -> None:
    figures = _bench(
        "train", "--backbone", "resnet18", "--size", "64", "--batch", "2", "--steps", "1", "--warmup", "0",
        "--width", "16",
    )  # fmt: skip
    assert set(figures) == {"wssam_img_s", "baseline_img_s", "bf16_speedup"}
    assert all(math.isfinite(value) and value > 0 for value in figures.values())


def test_bench_scale_runs_on_a_tiny_set() -> None:
    """One view of 3 small images, 1 then 2 processes (torchrun, CPU), a rerun, 1 added image: the counts are exact
    (the maps of 2 processes equal 1 process's, or the benchmark fails), the speeds only positive."""
    figures = _bench("scale", "--images", "3", "--added", "1", "--width", "64", "--height", "48", "--views", "hflip")
    assert set(figures) == {"images", "one_proc_img_s", "two_proc_img_s", "scaling", "rerun_reused", "added_labelled"}
    assert figures["images"] == 3 and figures["rerun_reused"] == 1.0 and figures["added_labelled"] == 1
    assert all(math.isfinite(value) and value > 0 for value in figures.values())
