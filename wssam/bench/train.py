"""Training-step benchmark: images per second and peak memory of the WS-SAM network against the baseline.

``python -m wssam.bench train [--steps 3] [--warmup 2] [--batch 4] [--size 384] [--backbone resnet50] [--width 128]``

The training recipe (losses, clamp, learning rate) is the ``train`` section of ``--params`` (default params.yaml);
the options above replace its network and sizes.

One subprocess builds both networks in every precision and times their steps in turn (one step of each, and again;
medians), so that a change of the machine's load touches all alike: both ratios (WS-SAM against the baseline, bf16
against fp32) are measured side by side. Peak memory comes from one more subprocess per (network, precision), one
step each, so the peak of one does not hide another's: on a GPU ``torch.cuda.max_memory_allocated``, on the CPU the
process's peak resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``, which includes the Python
interpreter and torch, ~0.3-0.5 GiB). A step is the real training step: forward, the full loss with deep
supervision, backward, gradient clamp, Adam.
The last line reads ``wssam_img_s=... baseline_img_s=... bf16_speedup=... wssam_vs_baseline=...`` (fp32
throughputs; the speed-up is the WS-SAM network's bf16 over fp32; ``wssam_vs_baseline`` is the fp32 step time of
WS-SAM over the baseline's). ``--precisions fp32`` times fp32 only (the speed-up is then left out). ``--flops``
prints where the work is instead: parameters and forward FLOPs per part of each network, and the whole step's FLOPs
(see :mod:`wssam.bench.network_cost`).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch

from wssam.config import load_section
from wssam.models.config import BACKBONE_NAMES, check_input_side
from wssam.train.config import TrainConfig

MODELS = ("wssam", "baseline")
PRECISIONS = ("fp32", "bf16")
_TIME_FLAG = "--child-time"
_MEMORY_FLAG = "--child-memory"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m wssam.bench train", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per configuration")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--batch", type=int, default=4, help="images per step")
    parser.add_argument("--size", type=int, default=384, help="input side, a multiple of 32")
    parser.add_argument("--backbone", default="resnet50", choices=BACKBONE_NAMES)
    parser.add_argument("--width", type=int, default=128, help="channels after the backbone (paper: 128)")
    parser.add_argument("--params", default="params.yaml", help="parameter file whose train section is the recipe")
    parser.add_argument(
        "--precisions", nargs="+", choices=PRECISIONS, default=list(PRECISIONS), help="timed precisions (both)"
    )
    parser.add_argument("--flops", action="store_true", help="count FLOPs per part instead of timing")
    parser.add_argument(_TIME_FLAG, nargs="+", metavar="PRECISION", help=argparse.SUPPRESS)
    parser.add_argument(_MEMORY_FLAG, nargs=2, metavar=("MODEL", "PRECISION"), help=argparse.SUPPRESS)
    return parser


def bench_config(args: argparse.Namespace, model_name: str, precision: str) -> TrainConfig:
    """The ``train`` recipe of ``args.params`` with the benchmark's network, sizes and precision."""
    recipe = load_section(TrainConfig, "train", args.params)
    model = recipe.model.replace(name=model_name, backbone=args.backbone, width=args.width, backbone_weights="none")
    return recipe.replace(model=model, batch_size=args.batch, image_size=args.size, precision=precision)


def _prepared(config: TrainConfig) -> tuple:
    """The network of ``config`` in training mode, its Adam optimizer, a batch of random data, device and bf16."""
    from wssam.devices import resolve_device, uses_bf16
    from wssam.models.builder import build_model
    from wssam.train.loop import make_optimizer

    device = resolve_device("auto")
    batch, size = config.batch_size, config.image_size
    torch.manual_seed(0)
    model = build_model(config.model).to(device).train()
    optimizer = make_optimizer(model, config)
    target = torch.rand(batch, 1, size, size)
    data = {
        "image": torch.rand(batch, 3, size, size),
        "target": target,
        "weight": torch.rand_like(target),
        "sparse": torch.randint(0, 3, target.shape),
    }
    return model, optimizer, data, config, device, uses_bf16(config.precision, device)


def _timed_step(prepared: tuple) -> float:
    """Seconds of one real training step (forward, full loss, backward, clamp, Adam) of a :func:`_prepared` set."""
    from wssam.train.loop import train_step

    model, optimizer, data, config, device, bf16 = prepared
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    train_step(model, optimizer, data, config, 0.5, device, bf16)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def time_alternately(configs: dict[str, TrainConfig], *, warmup: int, steps: int) -> dict[str, list[float]]:
    """Seconds per step of each config's network, timed in turn step by step after ``warmup`` untimed steps each,
    so that a change in the machine's load between them touches all the same way."""
    prepared = {name: _prepared(config) for name, config in configs.items()}
    for item in prepared.values():
        for _ in range(warmup):
            _timed_step(item)
    times: dict[str, list[float]] = {name: [] for name in prepared}
    for _ in range(steps):
        for name, item in prepared.items():
            times[name].append(_timed_step(item))
    return times


def peak_memory_mib(config: TrainConfig) -> float:
    """Peak memory of one training step of ``config`` in a fresh process: on a GPU
    ``torch.cuda.max_memory_allocated``, on the CPU the process's peak resident set size."""
    prepared = _prepared(config)
    _timed_step(prepared)
    if prepared[4].type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _timed_name(model_name: str, precision: str) -> str:
    return f"{model_name}/{precision}"


def _child(argv: list[str], *flag: str) -> dict:
    """Run this module's ``main`` in a fresh interpreter with ``flag`` appended; its last line as JSON."""
    command = [
        sys.executable, "-c", "import sys; from wssam.bench.train import main; main(sys.argv[1:])", *argv, *flag,
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode:
        raise SystemExit(f"error: {' '.join(flag)} failed:\n{completed.stderr[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> None:
    """Time every (network, precision) in turn in one subprocess, measure their peak memory in one subprocess each,
    and print a table and a summary line."""
    args = _parser().parse_args(argv)
    if args.child_time:
        configs = {_timed_name(name, p): bench_config(args, name, p) for p in args.child_time for name in MODELS}
        print(json.dumps(time_alternately(configs, warmup=args.warmup, steps=args.steps)))
        return
    if args.child_memory:
        model_name, precision = args.child_memory
        print(json.dumps({"peak_mib": peak_memory_mib(bench_config(args, model_name, precision))}))
        return
    try:
        check_input_side(args.size, "--size")
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    if args.flops:
        from wssam.bench.network_cost import print_network_costs

        print_network_costs([bench_config(args, name, "fp32") for name in MODELS])
        return
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(
        f"training step, {args.backbone}, batch {args.batch}, {args.size}x{args.size}, {args.steps} timed steps per "
        f"network, in turn (medians); {torch.get_num_threads()} threads, {device}"
    )
    print(f"{'network':<10}{'precision':<11}{'img/s':>8}{'s/step':>9}{'peak MiB':>10}")
    img_s = {}
    precisions = list(dict.fromkeys(args.precisions))
    times = _child(argv, _TIME_FLAG, *precisions)  # every network in every precision, in turn
    for precision in precisions:
        for model_name in MODELS:
            seconds = statistics.median(times[_timed_name(model_name, precision)])
            img_s[model_name, precision] = args.batch / seconds
            peak = _child(argv, _MEMORY_FLAG, model_name, precision)["peak_mib"]
            row = f"{model_name:<10}{precision:<11}{args.batch / seconds:>8.2f}{seconds:>9.3f}{peak:>10.0f}"
            print(row, flush=True)
    main_precision = "fp32" if "fp32" in precisions else precisions[0]
    wssam, baseline = img_s["wssam", main_precision], img_s["baseline", main_precision]
    figures = f"wssam_img_s={wssam:.3f} baseline_img_s={baseline:.3f} "
    if set(precisions) == set(PRECISIONS):
        figures += f"bf16_speedup={img_s['wssam', 'bf16'] / wssam:.2f} "
    print(figures + f"wssam_vs_baseline={baseline / wssam:.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
