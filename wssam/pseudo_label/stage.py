"""The ``pseudo_label`` stage for one augmentation view: for every usable training image, prompts are drawn from
its sparse labels in the ORIGINAL frame (so all views share the same points), moved into the view together with the
image and the sparse map, answered by the labeler, and the probability map is brought back to the original frame
and size and written as ``<output>/<name>.png`` (8-bit, round(p * 255); see :mod:`wssam.pseudo_label.layout`).

Work is never done twice: every map goes into the per-image cache (:mod:`wssam.pseudo_label.cache`) the moment it
is done, under a key that covers everything it depends on, and a map whose key is there is copied instead of
computed. So a killed run loses only the images in flight, images added to the set are the only ones labelled, and
a changed parameter or code relabels everything. The stage still writes its whole output folder (DVC caches it).

Under torchrun (:mod:`wssam.launcher`), each process labels its share of the missing maps (in batches, round robin)
into the cache; rank 0 waits for the others and assembles the output. The maps are the same bytes whichever process
computes them, so the output is byte-identical to a single process's.

The folder is built in a temporary sibling and renamed into place at the end, so an interrupted run never leaves
a half folder that a rerun (or DVC) would trust. Images are read and prepared by a background thread while the
labeler works.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from wssam.cli import progress as progress_bar
from wssam.distributed import World, barrier, from_main, process_group, use_local_gpu, world_from_env
from wssam.io import InputError, png_bytes, probability_to_uint8, read_label_map, read_rgb
from wssam.labels import check_label_map
from wssam.prepare.manifest import read_manifest
from wssam.pseudo_label.cache import MapCache, file_digest, labelling_code_fingerprint, map_key, view_context
from wssam.pseudo_label.config import PromptConfig, PseudoLabelConfig
from wssam.pseudo_label.labelers import Labeler, build_labeler
from wssam.pseudo_label.labelers.base import Example
from wssam.pseudo_label.labelers.sam_setup import check_checkpoint
from wssam.pseudo_label.layout import view_map_file
from wssam.pseudo_label.prompts import prompts_from_sparse
from wssam.pseudo_label.views import View, parse_view
from wssam.staging import remove_temporaries, staged_folder

T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True)
class ViewSummary:
    """What :func:`pseudo_label` did for one view: maps written (``images``), of which ``labelled`` were computed and
    ``reused`` copied from the cache, where, and in how many ``seconds``. ``main``: this process wrote the output
    (rank 0; the others report nothing)."""

    view: str
    images: int
    labelled: int
    reused: int
    output: Path
    seconds: float
    main: bool = True

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("inf")


@dataclass(frozen=True)
class Plan:
    """The cache ``keys`` of the usable rows (manifest order) and the positions of those not in the cache yet."""

    keys: list[str]
    todo: list[int]


def check_inputs(config: PseudoLabelConfig, view_name: str, labeler_dir: str | os.PathLike[str]) -> View:
    """Check what is cheap before heavy work: ``view_name`` parses, and the SAM checkpoint exists in
    ``labeler_dir`` when the labeler is SAM. Returns the parsed view."""
    view = parse_view(view_name)
    if config.labeler == "sam":
        check_checkpoint(config.sam.model_type, Path(labeler_dir) / config.sam.checkpoint)
    return view


def load_example(row: Any, *, seed: int, config: PromptConfig) -> Example:
    """Read one manifest row: the RGB image ``uint8`` (H, W, 3) and its prompts in the original frame."""
    if row.sparse is None:
        raise InputError(f"image {row.name}: the manifest gives no sparse label file; pseudo_label needs one")
    image = read_rgb(row.image)
    sparse = check_label_map(read_label_map(row.sparse), row.sparse)
    if sparse.shape != image.shape[:2]:
        raise InputError(
            f"{row.sparse}: sparse map is {sparse.shape[1]}x{sparse.shape[0]} but the image is "
            f"{image.shape[1]}x{image.shape[0]}; they must have the same size"
        )
    kind = row.sparse_kind or "scribble"
    return Example(row.name, image, prompts_from_sparse(sparse, kind=kind, name=row.name, seed=seed, config=config))


#: what to do when a file the training manifest lists is missing
REPREPARE = "the training manifest lists it: run the prepare stage again (dvc repro prepare)"


def plan_view(
    rows: Sequence[Any],
    *,
    config: PseudoLabelConfig,
    view: View,
    labeler: Labeler,
    labeler_dir: str | os.PathLike[str],
    cache: MapCache,
) -> Plan:
    """The key of every row's map in ``view`` (see :mod:`wssam.pseudo_label.cache`) and which the cache lacks."""
    files = {}
    if config.labeler == "sam":
        files["checkpoint"] = cache.remembered_digest(Path(labeler_dir) / config.sam.checkpoint)
    context = view_context(
        config, view, resolved=labeler.resolved(), files=files, libraries=labeler.libraries,
        code=labelling_code_fingerprint(), samples_prompts=labeler.samples_prompts,
    )  # fmt: skip
    keys = [_row_key(context, row, labeler) for row in rows]
    return Plan(keys=keys, todo=[i for i, key in enumerate(keys) if not cache.has(key)])


def _row_key(context: str, row: Any, labeler: Labeler) -> str:
    """The cache key of one manifest row's map (:func:`~wssam.pseudo_label.cache.map_key`)."""
    sparse = file_digest(row.sparse, REPREPARE) if row.sparse is not None else ""
    return map_key(context, name=row.name, kind=row.sparse_kind or "scribble", image=file_digest(row.image, REPREPARE),
                   sparse=sparse, labeler_input=labeler.image_input(row.name))  # fmt: skip


def prefetched(items: Iterable[T], load: Callable[[T], U]) -> Iterator[tuple[T, U]]:
    """``(item, load(item))`` for each item in order, the next item loaded by a background thread meanwhile."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="wssam-loader") as pool:
        pending: tuple[T, Future[U]] | None = None
        try:
            for item in items:
                upcoming = (item, pool.submit(load, item))
                if pending is not None:
                    yield pending[0], pending[1].result()
                pending = upcoming
            if pending is not None:
                yield pending[0], pending[1].result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _label(
    batches: list[list[int]],
    rows: Sequence[Any],
    plan: Plan,
    *,
    labeler: Labeler,
    view: View,
    config: PseudoLabelConfig,
    cache: MapCache,
    staging: Path | None,
    show: Callable[[Iterable[Any]], Iterable[Any]],
) -> set[int]:
    """Label the rows of ``batches`` (positions in ``rows``), put each map into the cache at once and, with
    ``staging``, into the output being built; returns the positions written to ``staging``."""

    def load(batch: list[int]) -> list[Example]:
        return [load_example(rows[i], seed=config.seed, config=config.prompts) for i in batch]

    written = set()
    for batch, examples in show(prefetched(batches, load)):
        for i, probability in zip(batch, labeler.maps_in_view(examples, view), strict=True):
            data = png_bytes(probability_to_uint8(probability))
            cache.put(plan.keys[i], data)
            if staging is not None:
                view_map_file(staging, rows[i].name).write_bytes(data)
                written.add(i)
    return written


def batched(positions: list[int], size: int) -> list[list[int]]:
    """``positions`` cut into consecutive batches of ``size`` (the last may be smaller)."""
    return [positions[i : i + size] for i in range(0, len(positions), size)]


def pseudo_label(
    *,
    manifest: str | os.PathLike[str],
    view: str,
    labeler_dir: str | os.PathLike[str],
    output: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str],
    config: PseudoLabelConfig,
    labeler: Labeler | None = None,
    progress: bool = True,
) -> ViewSummary:
    """Write one 8-bit probability map per usable manifest row into ``output`` for the view named ``view``, taking
    the maps already in the cache folder ``cache_dir`` and adding the others to it.

    ``labeler_dir`` holds the labeler's own files (SAM: ``config.sam.checkpoint``). ``labeler`` overrides the one
    ``config`` names (tests inject a tiny SAM this way). Under torchrun the processes share the work (see the
    module docstring); outside it this process is the only one.
    """
    world = world_from_env()
    with process_group(world):
        return _label_view(world, manifest, view, labeler_dir, output, cache_dir, config, labeler, progress)


def _label_view(
    world: World,
    manifest: str | os.PathLike[str],
    view_name: str,
    labeler_dir: str | os.PathLike[str],
    output: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str],
    config: PseudoLabelConfig,
    labeler: Labeler | None,
    progress: bool,
) -> ViewSummary:
    """:func:`pseudo_label` as process ``world.rank`` of ``world.size``."""
    start = time.perf_counter()
    if world.is_main:
        remove_temporaries(output)
    view = check_inputs(config, view_name, labeler_dir)
    table = read_manifest(manifest, usable_only=True)
    rows = list(table.itertuples(index=False))
    if config.labeler == "sam":
        use_local_gpu(world)
    labeler = labeler or build_labeler(config, labeler_dir)
    labeler.check_images(table)
    cache = MapCache(cache_dir)
    plan = from_main(world, plan_view(rows, config=config, view=view, labeler=labeler, labeler_dir=labeler_dir,
                                      cache=cache) if world.is_main else None)  # fmt: skip
    mine = world.part(batched(plan.todo, labeler.batch_size))
    unit = "img" if labeler.batch_size == 1 else "batch"
    label = dict(labeler=labeler, view=view, config=config, cache=cache)

    def show(items: Iterable[Any]) -> Iterable[Any]:
        desc = f"pseudo_label {view_name}" + (f" (rank 0 of {world.size})" if world.size > 1 else "")
        return progress_bar(items, desc=desc, unit=unit, total=len(mine), enabled=progress and world.is_main)

    if not world.is_main:
        _label(mine, rows, plan, staging=None, show=show, **label)
        barrier(world)  # all maps are in the cache
        barrier(world)  # rank 0 has put the output in place: no process ends before that (see below)
        return ViewSummary(view_name, len(rows), len(plan.todo), len(rows) - len(plan.todo), Path(output),
                           time.perf_counter() - start, main=False)  # fmt: skip
    with staged_folder(output) as staging:
        written = _label(mine, rows, plan, staging=staging, show=show, **label)
        barrier(world)
        late = [i for i in plan.todo if i not in written and not cache.has(plan.keys[i])]
        if late:
            print(f"warning: {len(late)} maps the other processes labelled are not in {cache_dir}, which rank 0 "
                  "reads (put pseudo_label.cache_dir on storage every machine shares); labelling them again",
                  file=sys.stderr)  # fmt: skip
            written |= _label(batched(late, labeler.batch_size), rows, plan, staging=staging, show=iter, **label)
        for i, row in enumerate(rows):
            if i not in written:
                cache.copy_to(plan.keys[i], view_map_file(staging, row.name))
    barrier(world)  # on several machines rank 0 may not run beside DVC: DVC's processes wait for the output
    seconds = time.perf_counter() - start
    return ViewSummary(view_name, len(rows), len(plan.todo), len(rows) - len(plan.todo), Path(output), seconds)
