"""Training-step benchmark: images per second and peak memory of the WS-SAM network against the baseline.

``python -m wssam.bench train [--steps 3] [--warmup 2] [--batch 4] [--size 384] [--backbone resnet50]``

Each (network, precision) pair runs in its own subprocess, so the peak memory of one does not hide another's:
on a GPU ``torch.cuda.max_memory_allocated``, on the CPU the process's peak resident set size
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``, which includes the Python interpreter and torch, ~0.3-0.5 GiB).
A step is the real training step: forward, the full loss with deep supervision, backward, gradient clamp, Adam.
The last line reads ``wssam_img_s=... baseline_img_s=... bf16_speedup=...`` (fp32 throughputs; the speed-up is
the WS-SAM network's bf16 over fp32).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch

from wssam.models.blocks import INPUT_MULTIPLE

MODELS = ("wssam", "baseline")
PRECISIONS = ("fp32", "bf16")
_CHILD_FLAG = "--child"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m wssam.bench train", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per configuration")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--batch", type=int, default=4, help="images per step")
    parser.add_argument("--size", type=int, default=384, help="input side, a multiple of 32")
    parser.add_argument("--backbone", default="resnet50", choices=("resnet18", "resnet50"))
    parser.add_argument(_CHILD_FLAG, nargs=2, metavar=("MODEL", "PRECISION"), help=argparse.SUPPRESS)
    return parser


def measure(*, model_name: str, precision: str, backbone: str, batch: int, size: int, warmup: int, steps: int) -> dict:
    """Run ``warmup`` + ``steps`` training steps on random data; returns img_s, s_per_step, peak_mib."""
    from wssam.training.config import TrainConfig
    from wssam.training.loop import build_network, default_device, train_step

    device = default_device()
    config = TrainConfig(
        model=model_name, backbone=backbone, batch_size=batch, image_size=size, bf16=precision == "bf16"
    )
    torch.manual_seed(0)
    model = build_network(config).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    target = torch.rand(batch, 1, size, size)
    data = {
        "image": torch.rand(batch, 3, size, size),
        "target": target,
        "weight": torch.rand_like(target),
        "sparse": torch.randint(0, 3, target.shape),
    }
    elapsed = 0.0
    for step in range(warmup + steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        train_step(model, optimizer, data, config, 0.5, device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step >= warmup:
            elapsed += time.perf_counter() - started
    if device.type == "cuda":
        peak_mib = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    return {
        "img_s": batch * steps / elapsed,
        "s_per_step": elapsed / steps,
        "peak_mib": peak_mib,
        "device": device.type,
    }


def main(argv: list[str]) -> None:
    """Benchmark every (network, precision) pair in a subprocess and print a table and a summary line."""
    args = _parser().parse_args(argv)
    options = {"backbone": args.backbone, "batch": args.batch, "size": args.size, "warmup": args.warmup}
    if args.child:
        model_name, precision = args.child
        print(json.dumps(measure(model_name=model_name, precision=precision, steps=args.steps, **options)))
        return
    if args.size % INPUT_MULTIPLE:
        raise SystemExit(f"error: --size {args.size} must be a multiple of {INPUT_MULTIPLE}")
    results = {}
    print(f"training step, {args.backbone}, batch {args.batch}, {args.size}x{args.size}, {args.steps} timed steps")
    print(f"{'network':<10}{'precision':<11}{'img/s':>8}{'s/step':>9}{'peak MiB':>10}  device")
    for model_name in MODELS:
        for precision in PRECISIONS:
            command = [
                sys.executable, "-c", "import sys; from wssam.bench.train import main; main(sys.argv[1:])",
                *argv, _CHILD_FLAG, model_name, precision,
            ]  # fmt: skip
            completed = subprocess.run(command, capture_output=True, text=True, check=False)
            if completed.returncode:
                raise SystemExit(f"error: {model_name} {precision} failed:\n{completed.stderr[-2000:]}")
            result = json.loads(completed.stdout.strip().splitlines()[-1])
            results[model_name, precision] = result
            print(
                f"{model_name:<10}{precision:<11}{result['img_s']:>8.2f}{result['s_per_step']:>9.3f}"
                f"{result['peak_mib']:>10.0f}  {result['device']}",
                flush=True,
            )
    wssam, baseline = results["wssam", "fp32"]["img_s"], results["baseline", "fp32"]["img_s"]
    speedup = results["wssam", "bf16"]["img_s"] / wssam
    print(f"wssam_img_s={wssam:.3f} baseline_img_s={baseline:.3f} bf16_speedup={speedup:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
