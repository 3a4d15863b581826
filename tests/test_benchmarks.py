"""Smoke runs of the benchmarks on tiny configurations, so they cannot drift from the code they measure.

The figures of such runs mean nothing; the checks are that each benchmark runs the current code end to end and
ends with its documented summary line.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys

import pytest
from recipe import ROOT


def _run(*arguments: str) -> list[str]:
    """Run ``python -m wssam.bench ...`` from the project root; its output lines."""
    command = [sys.executable, "-m", "wssam.bench", *arguments]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()


def _figures(line: str) -> dict[str, float]:
    """The ``key=value`` pairs of ``line`` (words without ``=`` are skipped) as floats."""
    return {key: float(value) for key, _, value in (word.partition("=") for word in line.split()) if value}


def _bench(*arguments: str) -> dict[str, float]:
    """The last line's figures of ``python -m wssam.bench ...``."""
    return _figures(_run(*arguments)[-1])


def test_bench_sam_runs_on_a_tiny_sam() -> None:
    lines = _run("sam", "--model-type", "tiny", "--images", "1", "--views", "2", "--image-size", "64")
    assert lines[0].startswith("CPU bf16: ") and " threads;" in lines[0]
    figures = _figures(lines[-1])
    assert set(figures) == {
        "per_view_s", "encoder_s", "naive_s", "overhead", "speedup", "informed_s", "vs_informed",
    }  # fmt: skip
    assert all(math.isfinite(value) and value > 0 for value in figures.values())
    assert figures["vs_informed"] == pytest.approx(figures["per_view_s"] / figures["informed_s"], rel=0.01)


def test_bench_sam_profile_accounts_for_the_view() -> None:
    """The profile's parts add up to the view's time (the encoder's parts to the encoder's), and the floor line
    follows from the FLOPs and the peak."""
    lines = _run("sam", "--model-type", "tiny", "--images", "1", "--views", "1", "--image-size", "64", "--profile")
    rows = [re.match(r"^  (.+?)\s+(\d+\.\d+) s\s+(\d+\.\d+) %$", line) for line in lines if line.startswith("  ")]
    shares = {row[1]: float(row[3]) for row in rows if row}
    assert {"encoder: MLP", "encoder: attention, global blocks", "mask decoder", "PNG write"} <= set(shares)
    assert 90.0 <= sum(shares.values()) <= 101.0  # what the timers miss is the Python between the parts
    floor = _figures(lines[-1])
    assert floor["encoder_gflop"] > 0 and floor["peak_gflops"] > 0
    assert floor["floor_s"] == pytest.approx(floor["encoder_gflop"] / floor["peak_gflops"], rel=0.05, abs=2e-3)


def test_bench_train_runs_on_a_tiny_network() -> None:
    figures = _bench(
        "train", "--backbone", "resnet18", "--size", "64", "--batch", "2", "--steps", "1", "--warmup", "0",
        "--width", "16",
    )  # fmt: skip
    assert set(figures) == {"wssam_img_s", "baseline_img_s", "bf16_speedup", "wssam_vs_baseline"}
    assert all(math.isfinite(value) and value > 0 for value in figures.values())
    assert figures["wssam_vs_baseline"] == pytest.approx(figures["baseline_img_s"] / figures["wssam_img_s"], rel=0.01)


def test_bench_train_times_a_precision_named_twice_once() -> None:
    figures = _bench(
        "train", "--backbone", "resnet18", "--size", "64", "--batch", "2", "--steps", "1", "--warmup", "0",
        "--width", "16", "--precisions", "fp32", "fp32",
    )  # fmt: skip
    assert set(figures) == {"wssam_img_s", "baseline_img_s", "wssam_vs_baseline"}  # no bf16 figure without bf16


def test_bench_train_flops_add_up_per_part() -> None:
    """``--flops``: the parts' forward FLOPs add up to the counter's total for the whole forward (no operation outside a
    part), and the step (with backward) costs more."""
    lines = _run("train", "--backbone", "resnet18", "--size", "64", "--batch", "2", "--width", "16", "--flops")
    rows = [line.split() for line in lines[2:-1]]
    for network in ("wssam", "baseline"):
        parts = [float(row[3]) for row in rows if row[0] == network and row[1] not in ("forward", "step")]
        forward = next(float(row[3]) for row in rows if row[:2] == [network, "forward"])
        step = next(float(row[2]) for row in rows if row[:2] == [network, "step"])
        assert sum(parts) == pytest.approx(forward, rel=0.01) and forward > 0
        assert 2.0 * forward < step < 3.5 * forward  # backward: about twice the forward
    figures = _figures(lines[-1])
    ratio = figures["wssam_step_gflop"] / figures["baseline_step_gflop"]
    assert figures["flop_ratio"] == pytest.approx(ratio, rel=0.01)


def test_bench_scale_runs_on_a_tiny_set(tmp_path) -> None:
    """One view of 3 small images, 1 then 2 processes (torchrun, CPU), a rerun, 1 added image: the counts are exact
    (the maps of 2 processes equal 1 process's, or the benchmark fails), the speeds only positive. Run again in the
    same --workdir, it labels afresh (its caches would otherwise make it time copies)."""
    options = ["--images", "3", "--added", "1", "--width", "64", "--height", "48", "--views", "hflip"]
    for _ in range(2):
        figures = _bench("scale", *options, "--workdir", str(tmp_path))
        assert set(figures) == {"images", "one_proc_img_s", "two_proc_img_s", "scaling", "rerun_reused",
                                "added_labelled"}  # fmt: skip
        assert figures["images"] == 3 and figures["rerun_reused"] == 1.0 and figures["added_labelled"] == 1
        assert all(math.isfinite(value) and value > 0 for value in figures.values())
