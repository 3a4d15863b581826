"""Benchmark of the SAM labeler: ``python -m wssam.bench sam [--images 2] [--views 3] [--model-type vit_b]``.

On the same random images and prompts, with one model of random weights (no download), it times side by side:

(a) ``encoder_s``: the bare image-encoder forward per image, as the labeler runs it (its precision, fused
    attention);
(b) ``per_view_s``: this project's whole per-view work (view transform, prepare, predict, map back);
(c) ``informed_s``: the loop a user who knows PyTorch writes: one ``SamPredictor`` on the stock model, its
    ``set_image`` under bf16 autocast where the hardware has native bf16 (fp32 elsewhere), inference mode, in this
    process (so with the same allocator as ours); timed view by view alternately with (b);
(d) ``naive_s``: a naive loop per view: a fresh ``SamPredictor`` in fp32 with default settings
    (``set_image`` + ``predict`` with three masks, binary output), also mapped back, run in a child process with
    glibc's default allocator, as a plain user script runs.

(a), (b) and (c) run in this process, which restarts itself once with the allocator tunables the ``pseudo_label``
stage sets (see :mod:`wssam.pseudo_label.labelers.sam_setup`). So that the naive loop's gap can be read lever by
lever, it also runs in this process (``naive_tuned_s``, same allocator as ours). (a), (b), (c) and the tuned naive
loop are timed in turn for every (image, view), so their ratios (``overhead``, ``vs_informed``,
``speedup_same_allocator``) are measured side by side; (d) runs after them in its own process, so ``speedup`` is
not: read it beside ``speedup_same_allocator``. The first line names the CPU's bf16
capability and the thread count; the last line is ``per_view_s=<b> encoder_s=<a> naive_s=<d> overhead=<b/a>
speedup=<d/b> informed_s=<c> vs_informed=<b/c>``, each time the median over its runs (a shared machine's hiccups
move a mean, not a median). ``--compile`` runs our encoder through ``torch.compile`` (as
``pseudo_label.sam.compile: true`` does; the compile happens in the warm-up, untimed). ``--profile`` prints where one
view's time goes instead (see :mod:`wssam.bench.sam_profile`; eager only: a compiled encoder is one program).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from segment_anything import SamPredictor, sam_model_registry
from segment_anything.modeling import Sam

from wssam.devices import autocast, describe_cpu_bf16, uses_bf16
from wssam.pseudo_label.config import SAM_MODEL_TYPES, PromptConfig
from wssam.pseudo_label.labelers.sam import SamLabeler
from wssam.pseudo_label.labelers.sam_setup import reexec_with_allocator_tunables
from wssam.pseudo_label.labelers.tiny_sam import build_tiny_sam
from wssam.pseudo_label.prompts import Prompts, prompts_from_sparse, prompts_in_view
from wssam.pseudo_label.views import View, parse_view

#: views timed per image, in this order (``--views N`` takes the first N): flips, quarter turns, a half-size view
BENCH_VIEWS = ("identity", "rot90", "rot180", "hflip", "scale0.5", "hflip_rot90")
#: the prompts of ``params.yaml``'s default recipe: up to 10 points per class, no box
PROMPTS = PromptConfig(max_points=10, use_box=False)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m wssam.bench sam", description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2, help="random images (default 2)")
    parser.add_argument("--views", type=int, default=3, help=f"first N of {', '.join(BENCH_VIEWS)} (default 3)")
    parser.add_argument(
        "--model-type", choices=(*SAM_MODEL_TYPES, "tiny"), default="vit_b", help="tiny: a smoke run, not a figure"
    )
    parser.add_argument("--image-size", type=int, default=1024, help="side of the random images, pixels")
    parser.add_argument(
        "--precision",
        choices=("auto", "bf16", "fp32"),
        default="auto",
        help="labeler encoder precision: auto = bf16 where the hardware has it (the labeler's default)",
    )
    parser.add_argument(
        "--informed-precision",
        choices=("auto", "bf16", "fp32"),
        default="auto",
        help="the informed loop's set_image precision: auto = bf16 autocast where native (what that user does)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="where one view's time goes, and the compute floor")
    parser.add_argument(
        "--compile", action="store_true", help="our encoder through torch.compile (pseudo_label.sam.compile)"
    )
    return parser.parse_args(argv)


def random_example(size: int, rng: np.random.Generator, name: str) -> tuple[np.ndarray, Prompts]:
    """A random smooth RGB image (size, size, 3) and scribble prompts (a fg stroke in the middle, a bg frame)."""
    coarse = rng.integers(0, 256, size=(size // 32 + 1, size // 32 + 1, 3)).astype(np.uint8)
    image = np.kron(coarse, np.ones((32, 32, 1), dtype=np.uint8))[:size, :size]
    image = np.clip(image.astype(np.int16) + rng.integers(-20, 21, size=image.shape), 0, 255).astype(np.uint8)
    sparse = np.zeros((size, size), dtype=np.uint8)
    sparse[size // 2 - 2 : size // 2 + 2, size // 4 : 3 * size // 4] = 1
    sparse[4:8, 4:-4] = 2
    sparse[4:-4, 4:8] = 2
    prompts = prompts_from_sparse(sparse, kind="scribble", name=name, seed=0, config=PROMPTS)
    return image, prompts


def naive_view(model: torch.nn.Module, image: np.ndarray, prompts: Prompts, view: View) -> np.ndarray:
    """The naive per-view loop: a fresh SamPredictor, fp32, default predict settings, mask mapped back."""
    predictor = SamPredictor(model)
    moved = prompts_in_view(prompts, view)
    predictor.set_image(view.apply_image(image))
    masks, scores, _ = predictor.predict(point_coords=moved.points, point_labels=moved.labels, box=moved.box)
    return view.invert_map(masks[int(np.argmax(scores))].astype(np.float32), image.shape[:2])


def informed_view(predictor: SamPredictor, bf16: bool, image: np.ndarray, prompts: Prompts, view: View) -> np.ndarray:
    """The informed per-view loop: ``set_image`` under bf16 autocast when ``bf16`` (the encoder is the whole cost;
    the decoder stays fp32, as ``predict`` returns numpy arrays), inference mode, SAM's mask-count rule, the mask
    mapped back."""
    moved = prompts_in_view(prompts, view)
    with torch.inference_mode():
        with autocast(predictor.device, bf16):
            predictor.set_image(view.apply_image(image))
        masks, scores, _ = predictor.predict(
            point_coords=moved.points, point_labels=moved.labels, box=moved.box, multimask_output=moved.multimask
        )
    return view.invert_map(masks[int(np.argmax(scores))].astype(np.float32), image.shape[:2])


def timed(function: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    """Seconds taken by ``function(*args)`` and its result."""
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def setup(args: argparse.Namespace) -> tuple[Sam, list[tuple[np.ndarray, Prompts]], list[View]]:
    """The random-weight model, the random examples and the views: the same in every process for one seed."""
    torch.manual_seed(args.seed)
    if args.model_type == "tiny":
        model = build_tiny_sam()
    else:
        model = sam_model_registry[args.model_type](checkpoint=None).eval()
    rng = np.random.default_rng(args.seed)
    examples = [random_example(args.image_size, rng, f"bench{i}") for i in range(args.images)]
    return model, examples, [parse_view(name) for name in BENCH_VIEWS[: args.views]]


def naive_times(model: Sam, examples: list[tuple[np.ndarray, Prompts]], views: list[View]) -> list[float]:
    """Seconds of :func:`naive_view` for every (example, view), after one untimed fp32 encoder pass."""
    with torch.inference_mode():
        side = model.image_encoder.img_size
        model.image_encoder(torch.zeros(1, 3, side, side))
    return [timed(naive_view, model, image, prompts, view)[0] for image, prompts in examples for view in views]


def naive_child(argv: list[str]) -> None:
    """Entry point of the child process: print the naive loop's per-view seconds as one JSON list."""
    model, examples, views = setup(parse_args(argv))
    print(json.dumps(naive_times(model, examples, views)))


def naive_times_default_allocator(argv: list[str]) -> list[float]:
    """Run :func:`naive_child` in a fresh interpreter whose environment has no allocator tunables."""
    env = {key: value for key, value in os.environ.items() if key != "GLIBC_TUNABLES"}
    code = "import sys; from wssam.bench.sam import naive_child; naive_child(sys.argv[1:])"
    completed = subprocess.run(
        [sys.executable, "-c", code, *argv], env=env, capture_output=True, text=True, check=False
    )
    if completed.returncode:
        raise SystemExit(f"error: the naive loop's process failed:\n{completed.stderr[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> None:
    reexec_with_allocator_tunables()
    args = parse_args(argv)
    if args.profile and args.compile:
        raise SystemExit("error: --profile times the eager encoder's parts; leave out --compile")
    model, examples, views = setup(args)
    # the labeler switches its model's attention in place; the informed and naive loops keep the stock model
    labeler = SamLabeler(copy.deepcopy(model), precision=args.precision, output="binary", compile_encoder=args.compile)
    informed_bf16 = uses_bf16(args.informed_precision, labeler.device)
    print(
        f"CPU bf16: {describe_cpu_bf16()}, {torch.get_num_threads()} threads; {args.model_type} random weights; "
        f"encoder: ours {'bf16 autocast' if labeler.bf16 else 'fp32'}{', compiled' if args.compile else ''}, informed "
        f"{'bf16 autocast' if informed_bf16 else 'fp32'}; "
        f"GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', '(default allocator)')}",
        flush=True,
    )
    if args.profile:
        from wssam.bench.sam_profile import print_profile

        print_profile(labeler, model.image_encoder, *examples[0], views[0])
        return
    predictor = SamPredictor(model)

    def encoder(image: np.ndarray) -> float:
        return timed(labeler.encode, labeler.encoder_input(image)[0])[0]

    encoder(examples[0][0])  # warm-up of the labeler's precision (and its compile)
    informed_view(predictor, informed_bf16, *examples[0], views[0])  # and of the informed loop's
    naive_view(model, *examples[0], views[0])  # and of the naive loop's (fp32)
    encoder_times, view_times, informed_times, tuned = [], [], [], []
    for image, prompts in examples:
        for view in views:  # each in turn, view by view: a change of load touches all alike
            encoder_times.append(encoder(image))
            view_times.append(timed(labeler.map_in_view, "bench", image, prompts, view)[0])
            informed_times.append(timed(informed_view, predictor, informed_bf16, image, prompts, view)[0])
            tuned.append(timed(naive_view, model, image, prompts, view)[0])
            print(f"view {view.name}: encoder {encoder_times[-1]:.2f} s, ours {view_times[-1]:.2f} s, informed "
                  f"{informed_times[-1]:.2f} s, naive {tuned[-1]:.2f} s", flush=True)  # fmt: skip
    default = naive_times_default_allocator(argv)
    print(f"naive loop, child process (default allocator): {' '.join(f'{t:.2f}' for t in default)} s", flush=True)
    per_view, encoder_s, naive_s, naive_tuned_s, informed_s = (
        float(np.median(t)) for t in (view_times, encoder_times, default, tuned, informed_times)
    )
    print(f"naive_tuned_s={naive_tuned_s:.3f} speedup_same_allocator={naive_tuned_s / per_view:.3f}")
    print(
        f"per_view_s={per_view:.4g} encoder_s={encoder_s:.4g} naive_s={naive_s:.4g} "
        f"overhead={per_view / encoder_s:.3f} speedup={naive_s / per_view:.3f} "
        f"informed_s={informed_s:.4g} vs_informed={per_view / informed_s:.3f}"
    )
