"""Where one SAM view's time goes, and how far the image encoder is from the CPU's compute floor.

``python -m wssam.bench sam --profile`` runs one view of one image through the labeler twice (the first is a
warm-up) and prints the second's wall-clock time per part: the view transform, the encoder input (resize,
normalise, pad), the encoder's patch embedding, its blocks split into layer norms, q/k/v and output projections,
the attention itself (softmax(q k^T + relative positions) v, windowed and global blocks apart) and the MLP, the
neck, the prompt encoder, the mask decoder, the mask upsampling, the map back to the original frame and the PNG
write. Module parts are timed by forward hooks (CPU calls are synchronous); the attention is a block's time minus
its timed modules.

The floor: the encoder's FLOPs, counted by ``torch.utils.flop_counter.FlopCounterMode`` on segment-anything's own
forward (a multiply-add is 2 FLOPs; matrix products only), over the CPU's peak for the labeler's precision, taken as
the best rate of a large square matrix product in that precision on the same threads (what the BLAS reaches; no
network layer can go faster on this CPU).
"""

from __future__ import annotations

import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from segment_anything.modeling import ImageEncoderViT
from torch.utils.flop_counter import FlopCounterMode

from wssam.io import write_probability
from wssam.pseudo_label.labelers.sam import SamEmbedding, SamLabeler
from wssam.pseudo_label.prompts import Prompts, prompts_in_view
from wssam.pseudo_label.views import View

#: side of the square matrices whose product measures the peak (2 * 4096^3 = 137 GFLOP per product)
PEAK_SIDE = 4096


#: the parts in the order one view runs them
DISPLAY_ORDER = (
    "view transform",
    "encoder input (resize, normalise, pad)",
    "encoder: patch embedding",
    "encoder: layer norms",
    "encoder: q/k/v and output projections",
    "encoder: attention, windowed blocks",
    "encoder: attention, global blocks",
    "encoder: MLP",
    "encoder: neck",
    "encoder: the rest (position embedding, casts)",
    "prompt encoder",
    "mask decoder",
    "mask upsampling, sigmoid",
    "map back to the original frame",
    "PNG write",
)


class PartTimer:
    """Wall-clock seconds per label, summed over the forward calls of the modules it watches."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._handles: list[Any] = []

    def watch(self, module: torch.nn.Module, label: str) -> None:
        started: list[float] = []

        def start(*_: Any) -> None:
            started.append(time.perf_counter())

        def stop(*_: Any) -> None:
            self.seconds[label] += time.perf_counter() - started.pop()

        self._handles += [module.register_forward_pre_hook(start), module.register_forward_hook(stop)]

    def time(self, label: str, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)``, its seconds added to ``label``."""
        start = time.perf_counter()
        result = function(*args)
        self.seconds[label] += time.perf_counter() - start
        return result

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


@contextmanager
def watching(labeler: SamLabeler) -> Iterator[PartTimer]:
    """A :class:`PartTimer` on the labeler's encoder blocks and their modules, the neck, prompt encoder and decoder."""
    timer = PartTimer()
    encoder = labeler.model.image_encoder
    timer.watch(encoder.patch_embed, "encoder: patch embedding")
    for block in encoder.blocks:
        kind = "windowed" if block.window_size > 0 else "global"
        timer.watch(block, f"blocks ({kind})")
        timer.watch(block.norm1, "encoder: layer norms")
        timer.watch(block.norm2, "encoder: layer norms")
        timer.watch(block.attn.qkv, "encoder: q/k/v and output projections")
        timer.watch(block.attn.proj, "encoder: q/k/v and output projections")
        timer.watch(block.mlp, "encoder: MLP")
        timer.watch(block.mlp, f"mlp ({kind})")
        timer.watch(block.norm1, f"norm ({kind})")
        timer.watch(block.norm2, f"norm ({kind})")
        timer.watch(block.attn.qkv, f"projections ({kind})")
        timer.watch(block.attn.proj, f"projections ({kind})")
    timer.watch(encoder.neck, "encoder: neck")
    timer.watch(labeler.model.prompt_encoder, "prompt encoder")
    timer.watch(labeler.model.mask_decoder, "mask decoder")
    try:
        yield timer
    finally:
        timer.remove()


def profile_view(
    labeler: SamLabeler, image: np.ndarray, prompts: Prompts, view: View, folder: Path
) -> dict[str, float]:
    """Seconds per part of one view (see the module docstring), the whole ``encoder`` and the view's ``total``."""
    with watching(labeler) as timer:
        start = time.perf_counter()
        viewed = timer.time("view transform", view.apply_image, image)
        moved = timer.time("view transform", prompts_in_view, prompts, view)
        tensor, input_size = timer.time("encoder input (resize, normalise, pad)", labeler.encoder_input, viewed)
        features = timer.time("encoder", labeler.encode, tensor)
        state = SamEmbedding(features=features, input_size=input_size, original_size=viewed.shape[:2])
        full_scale = view.rotated_size(image.shape[:2])
        probability = timer.time("prompts, decoder, upsampling", labeler.predict, state, moved, full_scale)
        mapped = timer.time("map back to the original frame", view.restore_orientation, probability, image.shape[:2])
        timer.time("PNG write", write_probability, folder / "map.png", mapped)
        total = time.perf_counter() - start
    parts = dict(timer.seconds)
    for kind in ("windowed", "global"):
        block = parts.pop(f"blocks ({kind})", 0.0)
        inner = sum(parts.pop(f"{name} ({kind})", 0.0) for name in ("mlp", "norm", "projections"))
        if block:
            parts[f"encoder: attention, {kind} blocks"] = block - inner
    encoder = parts.pop("encoder")
    parts["encoder: the rest (position embedding, casts)"] = encoder - sum(
        seconds for name, seconds in parts.items() if name.startswith("encoder:")
    )
    parts["mask upsampling, sigmoid"] = parts.pop("prompts, decoder, upsampling") - (
        parts["prompt encoder"] + parts["mask decoder"]
    )
    parts["total"], parts["encoder"] = total, encoder
    return parts


def encoder_gflop(encoder: ImageEncoderViT) -> float:
    """GFLOP of one forward of ``encoder`` at its input size (matrix products and convolutions; the count does not
    depend on the precision, and the counter does not run under autocast, so it counts an fp32 forward)."""
    side = encoder.img_size
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        encoder(torch.zeros(1, 3, side, side))
    return counter.get_total_flops() / 1e9


def peak_gflops(dtype: torch.dtype, side: int = PEAK_SIDE, repeats: int = 3) -> float:
    """The best rate (GFLOP/s) of ``side``-square matrix products in ``dtype`` on this process's threads."""
    a, b = torch.randn(side, side).to(dtype), torch.randn(side, side).to(dtype)
    best = float("inf")
    for _ in range(repeats + 1):  # the first call is a warm-up
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * side**3 / best / 1e9


def print_profile(
    labeler: SamLabeler, stock_encoder: ImageEncoderViT, image: np.ndarray, prompts: Prompts, view: View
) -> None:
    """Print :func:`profile_view` as a table, then the encoder's FLOPs, the peak and the floor."""
    with tempfile.TemporaryDirectory() as folder:
        profile_view(labeler, image, prompts, view, Path(folder))  # warm-up
        parts = profile_view(labeler, image, prompts, view, Path(folder))
    total, encoder_s = parts.pop("total"), parts.pop("encoder")
    print(f"one view ({view.name}, {image.shape[1]}x{image.shape[0]} image), seconds and share of the view:")
    for name in sorted(parts, key=DISPLAY_ORDER.index):
        seconds = parts[name]
        print(f"  {name:<46}{seconds:>8.3f} s {100 * seconds / total:>6.1f} %")
    print(f"  {'total':<46}{total:>8.3f} s")
    gflop = encoder_gflop(stock_encoder)
    dtype = torch.bfloat16 if labeler.bf16 else torch.float32
    peak = peak_gflops(dtype)
    floor = gflop / peak
    print(
        f"encoder_gflop={gflop:.4g} peak_gflops={peak:.1f} ({str(dtype).removeprefix('torch.')} {PEAK_SIDE}^3 "
        f"matrix product) floor_s={floor:.4g} encoder_s={encoder_s:.3f} of_floor={encoder_s / floor:.2f} "
        f"view_s={total:.3f}"
    )
