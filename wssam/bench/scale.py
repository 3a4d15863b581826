"""Scale benchmark of the labelling stage: ``python -m wssam.bench scale [--images 64] [--added 8] [--width 640]
[--height 480] [--views identity,scale0.5]``.

It generates a training set of real-sized demo-style images (camouflage-like textures, scribbles simulated from
their ground truth; generation is not timed) and runs the real ``pseudo_label`` stage script on it with the
weight-free random walker (so it needs no weights), one view after the other, as ``dvc repro`` would:

1. with one process (``launcher.nproc_per_node: 1``), into an empty cache: ``one_proc_img_s``;
2. with two processes (``launcher.nproc_per_node: 2``: the script runs itself under torchrun, CPU), into
   another empty cache: ``two_proc_img_s``; its maps must be the bytes of the one-process run's;
3. again with two processes, nothing changed: ``rerun_reused`` is the share of maps taken from the cache (1.0:
   nothing is labelled twice);
4. after adding ``--added`` images to the set: ``added_labelled``, the maps computed (``added`` x views: only the
   new images are labelled).

Throughputs are images labelled per second, one image in one view counting once (a map), over the wall time of the
stage commands, process start and torchrun's rendezvous included. Each process uses the threads the launcher gives
it (``OMP_NUM_THREADS`` is not passed on): one process all cores, two processes half each. The last line is
``images=<n> one_proc_img_s=<x> two_proc_img_s=<y> scaling=<y/x> rerun_reused=<fraction> added_labelled=<k>``;
a line before it gives the same throughputs as the stage timed itself (rank 0 from its start to its output in
place), without the fixed cost of starting the processes, which a small set feels most.
The ``pseudo_label`` and ``launcher`` sections come from ``--params`` (default params.yaml), with the labeler, its
views and the process count replaced.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from wssam.config import read_params
from wssam.io import write_png
from wssam.launcher import THREADS_ENV
from wssam.prepare.demo import demo_samples
from wssam.prepare.layout import MANIFEST_NAME, image_file, sparse_file
from wssam.prepare.manifest import manifest_row, write_manifest
from wssam.prepare.simulate import simulate_scribbles
from wssam.pseudo_label.views import parse_view

STAGE_SCRIPT = Path(__file__).resolve().parents[2] / "stages" / "pseudo_label.py"
SUMMARY = re.compile(
    r"^pseudo_label (?P<view>\S+): labelled=(?P<labelled>\d+) reused=(?P<reused>\d+) in (?P<seconds>[\d.e+-]+) s ",
    re.MULTILINE,
)
STROKE_WIDTH = 3


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m wssam.bench scale", description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64, help="images of the first set (default 64)")
    parser.add_argument("--added", type=int, default=8, help="images added before the last run (default 8)")
    parser.add_argument("--width", type=int, default=640, help="image width, pixels (default 640)")
    parser.add_argument("--height", type=int, default=480, help="image height, pixels (default 480)")
    parser.add_argument("--views", default="identity,scale0.5", help="comma-separated view names")
    parser.add_argument("--params", default="params.yaml", help="parameter file (pseudo_label, launcher sections)")
    parser.add_argument("--workdir", help="folder for the generated set, caches and outputs (default: a temporary one)")
    args = parser.parse_args(argv)
    if args.images < 1 or args.added < 0 or min(args.width, args.height) < 16:
        parser.error("--images must be >= 1, --added >= 0, --width and --height >= 16")
    args.views = [view.strip() for view in args.views.split(",") if view.strip()]
    for view in args.views:
        try:
            parse_view(view)
        except ValueError as error:
            parser.error(str(error))
    return args


def write_training_set(folder: Path, count: int, *, width: int, height: int, seed: int = 0) -> Path:
    """Demo-style images ``height`` x ``width`` (a window of a square demo image, placed over its objects) with
    simulated scribbles, and their manifest; the first ``count`` images of the seed, so a larger ``count`` adds
    images and changes none. Returns the manifest's path."""
    rows = []
    samples = demo_samples(count=count, image_size=max(width, height), two_object_fraction=0.25, seed=seed,
                           prefix="scale")  # fmt: skip
    for sample in samples:
        rows_at, cols_at = np.nonzero(sample.mask)
        top = int(np.clip(rows_at.mean() - height / 2, 0, sample.mask.shape[0] - height))
        left = int(np.clip(cols_at.mean() - width / 2, 0, sample.mask.shape[1] - width))
        window = (slice(top, top + height), slice(left, left + width))
        image, mask = sample.image[window], sample.mask[window]
        sparse = simulate_scribbles(mask, stroke_width=STROKE_WIDTH, seed=seed)
        row = manifest_row(name=sample.name, image=image_file(sample.name), size=mask.shape,
                           sparse=sparse_file(sample.name, "scribble"), labels=sparse, sparse_kind="scribble",
                           sparse_source="simulated")  # fmt: skip
        write_png(folder / row["image"], image)
        write_png(folder / row["sparse"], sparse)
        rows.append(row)
    manifest = folder / MANIFEST_NAME
    write_manifest(manifest, pd.DataFrame(rows))
    return manifest


def write_bench_params(path: Path, source: str, *, views: list[str], processes: int) -> Path:
    """``source``'s ``pseudo_label`` and ``launcher`` sections with the random walker, ``views`` and ``processes``
    processes on this machine."""
    params = read_params(source)
    labelling: dict[str, Any] = {**params["pseudo_label"], "labeler": "random_walker", "views": views}
    launcher = {**params["launcher"], "nproc_per_node": processes, "nnodes": 1, "rdzv_endpoint": ""}
    path.write_text(yaml.safe_dump({"pseudo_label": labelling, "launcher": launcher}, sort_keys=False))
    return path


def machine_busy_seconds() -> float:
    """CPU seconds all processes of this machine have used since boot (``/proc/stat``; 0 where there is none)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU seconds used by this process and its finished children (the stage processes, torchrun's included)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass(frozen=True)
class Run:
    """What the stage did over all views: ``seconds`` of wall time of its commands, ``inside`` of them as the stage
    timed itself (rank 0, from its start to its output in place: no process start, no torchrun), maps
    ``labelled`` and ``reused``."""

    seconds: float
    inside: float
    labelled: int
    reused: int
    others_cpu: float


def run_views(params: Path, manifest: Path, views: list[str], output: Path, cache: Path) -> Run:
    """Run the stage script for each view in turn."""
    labelled = reused = 0
    seconds = inside = 0.0
    busy, own = machine_busy_seconds(), own_cpu_seconds()
    env = {key: value for key, value in os.environ.items() if key != THREADS_ENV}  # threads as the launcher shares
    for view in views:
        command = [sys.executable, str(STAGE_SCRIPT), "--params", str(params), "--manifest", str(manifest),
                   "--view", view, "--labeler-dir", str(output.parent), "--output", str(output / view),
                   "--cache-dir", str(cache), "--quiet"]  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        seconds += time.perf_counter() - started
        if done.returncode:
            raise SystemExit(f"error: pseudo_label {view} failed:\n{done.stdout[-2000:]}{done.stderr[-4000:]}")
        summaries = [found for found in SUMMARY.finditer(done.stdout) if found["view"] == view]
        if len(summaries) != 1:
            raise SystemExit(f"error: pseudo_label {view} printed no single summary line:\n{done.stdout[-2000:]}")
        labelled += int(summaries[0]["labelled"])
        reused += int(summaries[0]["reused"])
        inside += float(summaries[0]["seconds"])
    others = (machine_busy_seconds() - busy) - (own_cpu_seconds() - own)
    return Run(seconds, inside, labelled, reused, max(others, 0.0))


def folder_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path."""
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*.png"))}


def bench(args: argparse.Namespace, root: Path) -> dict[str, float]:
    """The four runs of the module docstring in ``root``; returns the figures of the last line."""
    views, images = args.views, args.images
    for leftover in ("train", "one", "two", "cache_one", "cache_two"):  # a reused --workdir: time work, not copies
        shutil.rmtree(root / leftover, ignore_errors=True)
    first = write_training_set(root / "train", images, width=args.width, height=args.height)
    params = {n: write_bench_params(root / f"params{n}.yaml", args.params, views=views, processes=n) for n in (1, 2)}
    print(f"pseudo_label of {images} images {args.width}x{args.height}, views {', '.join(views)}, random walker")
    one = run_views(params[1], first, views, root / "one", root / "cache_one")
    two = run_views(params[2], first, views, root / "two", root / "cache_two")
    if folder_bytes(root / "one") != folder_bytes(root / "two"):
        raise SystemExit("error: the maps of two processes differ from those of one process")
    maps = images * len(views)
    for name, run in (("one process", one), ("two processes", two)):
        if run.labelled != maps:
            raise SystemExit(f"error: {name} labelled {run.labelled} of {maps} maps (reused {run.reused}): not timed")
    for name, run in (("1 process:  ", one), ("2 processes:", two)):
        print(f"{name} {run.seconds:.1f} s ({maps / run.seconds:.3f} maps/s); inside the stage {run.inside:.1f} s "
              f"({maps / run.inside:.3f} maps/s); other processes of the machine used {run.others_cpu:.1f} CPU s "
              "meanwhile")  # fmt: skip
    print(f"the same bytes; inside the stage 2 processes are {one.inside / two.inside:.2f} times as fast")
    rerun = run_views(params[2], first, views, root / "two", root / "cache_two")
    print(f"rerun, nothing changed: {rerun.seconds:.1f} s, labelled {rerun.labelled}, reused {rerun.reused}")
    grown = write_training_set(root / "train", images + args.added, width=args.width, height=args.height)
    added = run_views(params[2], grown, views, root / "two", root / "cache_two")
    print(f"{args.added} images added: {added.seconds:.1f} s, labelled {added.labelled}, reused {added.reused}")
    return {
        "images": images, "one_proc_img_s": maps / one.seconds, "two_proc_img_s": maps / two.seconds,
        "scaling": one.seconds / two.seconds, "rerun_reused": rerun.reused / (rerun.reused + rerun.labelled),
        "added_labelled": added.labelled,
    }  # fmt: skip


def main(argv: list[str]) -> None:
    """Run the benchmark and print its summary line."""
    args = parse_args(argv)
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
        figures = bench(args, Path(args.workdir))
    else:
        with tempfile.TemporaryDirectory(prefix="wssam-bench-scale-") as folder:
            figures = bench(args, Path(folder))
    print(
        f"images={figures['images']} one_proc_img_s={figures['one_proc_img_s']:.3f} "
        f"two_proc_img_s={figures['two_proc_img_s']:.3f} scaling={figures['scaling']:.2f} "
        f"rerun_reused={figures['rerun_reused']:.3f} added_labelled={figures['added_labelled']}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
