"""SAM's image-encoder attention computed by PyTorch's fused ``scaled_dot_product_attention``: the same maths.

segment-anything's ``Attention.forward`` materialises the full attention matrix, adds the decomposed relative
position terms in two more passes over it, applies softmax in a fourth, and then multiplies by the values. In the
four global-attention blocks of a 1024 input that matrix holds (heads, 4096, 4096) floats (0.8 GB for ``vit_b``),
so the passes cost memory traffic, not arithmetic. Here the relative-position terms are summed once into an additive
mask and handed, with q, k and v, to ``torch.nn.functional.scaled_dot_product_attention``, whose fused kernels (CPU
and CUDA) never write the attention matrix. Weights, modules and results stay segment-anything's: only the order of
floating-point operations changes (agreement with the stock forward is tested to 1e-5).
"""

from __future__ import annotations

import types

import torch
import torch.nn.functional as F
from segment_anything.modeling.image_encoder import Attention, get_rel_pos


def relative_position_bias(q: torch.Tensor, attention: Attention, size: tuple[int, int]) -> torch.Tensor:
    """SAM's decomposed relative-position terms as one additive mask.

    ``q``: (B, heads, H * W, d), the unscaled queries of an (H, W) token grid (rows first).
    Returns (B, heads, H * W, H * W): entry [b, n, (i, j), (k, l)] = q[b, n, (i, j)] . (R_h[i, k] + R_w[j, l]),
    with R_h, R_w the learned embeddings for the row and column offsets i - k and j - l (interpolated by
    segment-anything's ``get_rel_pos`` when the grid differs from the trained one).
    """
    height, width = size
    batch, heads, _, dim = q.shape
    rel_h = get_rel_pos(height, height, attention.rel_pos_h)  # (H, H, d)
    rel_w = get_rel_pos(width, width, attention.rel_pos_w)  # (W, W, d)
    grid_q = q.reshape(batch, heads, height, width, dim)
    # einsum may return permuted strides; with contiguous terms the broadcast sum is contiguous, so the reshape
    # below is a view instead of one more copy of the whole (B, heads, H * W, H * W) mask
    by_row = torch.einsum("bnhwc,hkc->bnhwk", grid_q, rel_h).contiguous()  # (B, heads, H, W, H)
    by_col = torch.einsum("bnhwc,wkc->bnhwk", grid_q, rel_w).contiguous()  # (B, heads, H, W, W)
    bias = by_row[..., :, None] + by_col[..., None, :]  # (B, heads, H, W, H, W)
    return bias.view(batch, heads, height * width, height * width)


def fused_attention_forward(self: Attention, x: torch.Tensor) -> torch.Tensor:
    """Drop-in for ``Attention.forward``: ``x`` (B, H, W, C) tokens -> (B, H, W, C), via the fused kernel."""
    batch, height, width, _ = x.shape
    qkv = self.qkv(x).reshape(batch, height * width, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)  # each (B, heads, H * W, d)
    bias = relative_position_bias(q, self, (height, width)) if self.use_rel_pos else None
    # the kernel's default scale is d ** -0.5, SAM's ``self.scale``
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self.scale)
    return self.proj(out.transpose(1, 2).reshape(batch, height, width, -1))


def use_fused_attention(encoder: torch.nn.Module) -> int:
    """Switch every segment-anything ``Attention`` inside ``encoder`` to :func:`fused_attention_forward`.

    Modifies the modules in place (their weights are untouched) and returns how many were switched.
    """
    switched = 0
    for module in encoder.modules():
        if isinstance(module, Attention):
            module.forward = types.MethodType(fused_attention_forward, module)
            switched += 1
    return switched
