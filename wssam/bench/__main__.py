"""Dispatch ``python -m wssam.bench <name> [options]`` to ``wssam.bench.<name>.main(options)``."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {
    "sam": "SAM labeler per view vs bare encoder vs a naive SamPredictor loop",
    "train": "segmentation network training step",
    "scale": "pseudo_label with 1 and 2 processes (torchrun), then a rerun and added images (the cache)",
}


def main(argv: list[str]) -> None:
    """Run the benchmark named by ``argv[0]`` with the remaining arguments."""
    if not argv or argv[0] not in BENCHMARKS:
        lines = "\n".join(f"  {name:6s} {text}" for name, text in BENCHMARKS.items())
        print(f"usage: python -m wssam.bench <benchmark> [options]\nbenchmarks:\n{lines}", file=sys.stderr)
        raise SystemExit(2)
    module = importlib.import_module(f"wssam.bench.{argv[0]}")  # imported lazily: each pulls in heavy modules
    module.main(argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
