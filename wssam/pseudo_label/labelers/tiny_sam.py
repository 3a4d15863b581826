"""A SAM with segment-anything's own architecture at toy sizes, with random weights.

For smoke runs only (tests, ``python -m wssam.bench sam --model-type tiny``): every code path of the real labeler
runs in a fraction of a second, but its maps are meaningless. Its encoder has two blocks (one windowed, one global)
so both attention paths are exercised.
"""

from __future__ import annotations

from functools import partial

import torch
from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

TINY_IMG_SIZE = 64


def build_tiny_sam(img_size: int = TINY_IMG_SIZE) -> Sam:
    """A SAM of the official architecture with ``img_size`` inputs (embedding grid img_size / 16), in eval mode;
    weights are drawn from torch's global generator (seed it first for reproducible weights)."""
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
