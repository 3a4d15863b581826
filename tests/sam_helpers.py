"""Helpers for the pseudo-label tests: a tiny SAM from segment-anything's own parts, synthetic images with
scribbles, and a tiny prepared training set written with the project's manifest writer."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

from wssam.data.manifest import write_manifest
from wssam.io import write_png

TINY_IMG_SIZE = 64


def build_tiny_sam(img_size: int = TINY_IMG_SIZE) -> Sam:
    """A SAM with the official architecture at toy sizes (random weights, seeded by the caller)."""
    dim = 32
    encoder = ImageEncoderViT(
        img_size=img_size,
        patch_size=16,
        embed_dim=64,
        depth=2,
        num_heads=2,
        mlp_ratio=2.0,
        out_chans=dim,
        qkv_bias=True,
        norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
        use_rel_pos=True,
        window_size=2,
        global_attn_indexes=(1,),
    )
    prompt_encoder = PromptEncoder(
        embed_dim=dim,
        image_embedding_size=(img_size // 16, img_size // 16),
        input_image_size=(img_size, img_size),
        mask_in_chans=4,
    )
    decoder = MaskDecoder(
        num_multimask_outputs=3,
        transformer=TwoWayTransformer(depth=2, embedding_dim=dim, mlp_dim=64, num_heads=2),
        transformer_dim=dim,
        iou_head_depth=2,
        iou_head_hidden_dim=32,
    )
    return Sam(image_encoder=encoder, prompt_encoder=prompt_encoder, mask_decoder=decoder).eval()


def save_tiny_checkpoint(path: Path, seed: int = 0) -> Path:
    """Write a tiny SAM's state dict (random weights from ``seed``) to ``path``, as the official files are."""
    torch.manual_seed(seed)
    torch.save(build_tiny_sam().state_dict(), path)
    return path


def synthetic_example(height: int = 48, width: int = 80, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A textured RGB image ``uint8`` (H, W, 3) with a bright ellipse, and an S-COD scribble map (0/1/2) with a
    horizontal foreground stroke inside the ellipse and a background stroke along the left and top margins."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    cy, cx = height * 0.55, width * 0.45
    inside = ((ys - cy) / (height * 0.28)) ** 2 + ((xs - cx) / (width * 0.25)) ** 2 <= 1.0
    image = np.where(inside[..., None], [200, 170, 60], [50, 90, 120]).astype(np.float64)
    image += rng.normal(0, 6, size=image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    sparse = np.zeros((height, width), dtype=np.uint8)
    row = int(cy)
    sparse[row - 1 : row + 1, int(cx - width * 0.15) : int(cx + width * 0.15)] = 1
    sparse[3:5, 3 : width - 3] = 2
    sparse[3 : height - 3, 3:5] = 2
    return image, sparse


def write_training_set(root: Path, count: int = 3, *, kind: str = "scribble", unusable: int = 0) -> Path:
    """Write ``count`` synthetic images (sizes differ, not square) + sparse maps and a manifest under ``root``;
    the last ``unusable`` rows have no foreground label and are marked not usable. Returns the manifest path."""
    rows = []
    for index in range(count):
        height, width = 40 + 8 * index, 64 + 4 * index
        image, sparse = synthetic_example(height, width, seed=index)
        usable = index < count - unusable
        if not usable:
            sparse[sparse == 1] = 0
        if kind == "point":
            points = np.zeros_like(sparse)
            fg = np.argwhere(sparse == 1)
            bg = np.argwhere(sparse == 2)
            if len(fg):
                points[tuple(fg[len(fg) // 2])] = 1
            points[tuple(bg[len(bg) // 2])] = 2
            sparse = points
        name = f"img{index:02d}"
        folder = "Point" if kind == "point" else "Scribble"
        write_png(root / "Imgs" / f"{name}.png", image)
        write_png(root / folder / f"{name}.png", sparse)
        rows.append(
            {
                "name": name,
                "image": f"Imgs/{name}.png",
                "gt": "",
                "sparse": f"{folder}/{name}.png",
                "height": height,
                "width": width,
                "sparse_kind": kind,
                "sparse_source": "simulated",
                "fg_pixels": int((sparse == 1).sum()),
                "bg_pixels": int((sparse == 2).sum()),
                "usable": usable,
                "note": "" if usable else "no foreground label",
            }
        )
    manifest = root / "manifest.csv"
    write_manifest(manifest, pd.DataFrame(rows))
    return manifest
