"""SAM's image-encoder attention computed by PyTorch's fused ``scaled_dot_product_attention``: the same maths.

segment-anything's ``Attention.forward`` materialises the full attention matrix, adds the decomposed relative
position terms in two more passes over it, applies softmax in a fourth, and then multiplies by the values. In the
four global-attention blocks of a 1024 input that matrix holds (heads, 4096, 4096) floats (0.8 GB for ``vit_b``),
so the passes cost memory traffic, not arithmetic. Here the relative-position terms are summed once into an additive
mask and handed, with q, k and v, to ``torch.nn.functional.scaled_dot_product_attention``, whose fused kernels (CPU
and CUDA) never write the attention matrix.

The windowed blocks pad the (64, 64) token grid to a multiple of the window (70 for 14) before attention, so
segment-anything projects 4900 tokens to q, k, v and back where 4096 are real. Here the projections run on the real
tokens only; the padding tokens' q, k, v are what the stock block computes for them (zero input: the qkv bias),
because they still take part, as keys and values, in the attention of the windows at the border.

Weights, modules and results stay segment-anything's: only the order of floating-point operations changes
(agreement with the stock forward is tested to 1e-5).
"""

from __future__ import annotations

import types

import torch
import torch.nn.functional as F
from segment_anything.modeling.image_encoder import Attention, Block, get_rel_pos, window_partition, window_unpartition


def relative_position_terms(
    q: torch.Tensor, attention: Attention, size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """SAM's decomposed relative-position terms of an (H, W) token grid, as segment-anything computes them.

    ``q``: (B, heads, H * W, d), the unscaled queries (rows first). Returns ``by_row`` (B, heads, H, W, H) and
    ``by_col`` (B, heads, H, W, W): by_row[b, n, i, j, k] = q[b, n, (i, j)] . R_h[i, k] and by_col[..., l] =
    q[b, n, (i, j)] . R_w[j, l], with R_h, R_w the learned embeddings of the row and column offsets i - k and
    j - l (interpolated by segment-anything's ``get_rel_pos`` when the grid differs from the trained one). The
    attention logit of query (i, j) and key (k, l) gets by_row[..., k] + by_col[..., l].
    """
    height, width = size
    batch, heads, _, dim = q.shape
    rel_h = get_rel_pos(height, height, attention.rel_pos_h)  # (H, H, d)
    rel_w = get_rel_pos(width, width, attention.rel_pos_w)  # (W, W, d)
    grid_q = q.reshape(batch, heads, height, width, dim)
    by_row = torch.einsum("bnhwc,hkc->bnhwk", grid_q, rel_h)
    by_col = torch.einsum("bnhwc,wkc->bnhwk", grid_q, rel_w)
    return by_row, by_col


def relative_position_bias(q: torch.Tensor, attention: Attention, size: tuple[int, int]) -> torch.Tensor:
    """SAM's decomposed relative-position terms as one additive mask.

    ``q``: (B, heads, H * W, d), the unscaled queries of an (H, W) token grid (rows first).
    Returns (B, heads, H * W, H * W): entry [b, n, (i, j), (k, l)] = q[b, n, (i, j)] . (R_h[i, k] + R_w[j, l])
    (see :func:`relative_position_terms`).
    """
    height, width = size
    batch, heads = q.shape[:2]
    by_row, by_col = relative_position_terms(q, attention, size)
    # einsum may return permuted strides; with contiguous terms the broadcast sum is contiguous, so the reshape
    # below is a view instead of one more copy of the whole (B, heads, H * W, H * W) mask
    bias = by_row.contiguous()[..., :, None] + by_col.contiguous()[..., None, :]  # (B, heads, H, W, H, W)
    return bias.view(batch, heads, height * width, height * width)


def explicit_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attention: Attention, size: tuple[int, int]
) -> torch.Tensor:
    """softmax(q k^T * scale + relative positions) v by whole-matrix products, the relative positions added by the
    first product itself.

    ``q``, ``k``, ``v``: (B, heads, H * W, d) over an (H, W) token grid. Returns (B, heads, H * W, d).
    The relative-position mask of :func:`relative_position_bias` is the ``input`` of ``torch.baddbmm``, which adds
    it to the product of the scaled queries and the keys as it writes the logits: one pass over the logits fewer
    than segment-anything's two broadcast additions, and the sum is rounded once (to bf16 under autocast) instead
    of three times. Then softmax and the product with the values, as segment-anything computes them.
    """
    batch, heads, tokens, dim = q.shape
    q, k, v = (t.reshape(batch * heads, tokens, dim) for t in (q, k, v))
    scaled_q = q * attention.scale
    if attention.use_rel_pos:
        bias = relative_position_bias(q.view(batch, heads, tokens, dim), attention, size)
        logits = torch.baddbmm(bias.view(batch * heads, tokens, tokens), scaled_q, k.transpose(-2, -1))
    else:
        logits = scaled_q @ k.transpose(-2, -1)  # (B * heads, H * W, H * W)
    return (logits.softmax(dim=-1) @ v).view(batch, heads, tokens, dim)


def uses_fused_kernel(q: torch.Tensor) -> bool:
    """Whether :func:`attend` hands ``q`` to ``scaled_dot_product_attention``: on CUDA, and in fp32 on a CPU.

    On a CPU in bf16 (autocast) the fused kernel is slower than segment-anything's explicit products: it multiplies
    small blocks (and adds the mask to them) below the rate the BLAS reaches on whole matrices, which costs more
    than it saves by not writing the attention matrix; :func:`explicit_attention` is used there instead.
    """
    return q.device.type != "cpu" or q.dtype == torch.float32


def attend(attention: Attention, qkv: torch.Tensor) -> torch.Tensor:
    """Multi-head attention of ``attention`` over token grids, before its output projection.

    ``qkv``: (B, H, W, 3 * C), the output of ``attention.qkv``. Returns (B, H, W, C), heads concatenated.
    """
    batch, height, width, _ = qkv.shape
    q, k, v = qkv.reshape(batch, height * width, 3, attention.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
    if uses_fused_kernel(q):
        bias = relative_position_bias(q, attention, (height, width)) if attention.use_rel_pos else None
        # the kernel's default scale is d ** -0.5, as SAM's ``scale``; passed so that a changed scale is kept
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=attention.scale)
    else:
        out = explicit_attention(q, k, v, attention, (height, width))  # (B, heads, H * W, d)
    return out.transpose(1, 2).reshape(batch, height, width, -1)


def fused_attention_forward(self: Attention, x: torch.Tensor) -> torch.Tensor:
    """Drop-in for ``Attention.forward``: ``x`` (B, H, W, C) tokens -> (B, H, W, C), via the fused kernel."""
    return self.proj(attend(self, self.qkv(x)))


def padded_qkv(attention: Attention, x: torch.Tensor, window: int) -> torch.Tensor:
    """q, k, v of the tokens ``x`` (B, H, W, C), padded at the bottom and right to multiples of ``window`` with
    what the projection gives a zero token (its bias): (B, Hp, Wp, 3 * C)."""
    height, width = x.shape[1], x.shape[2]
    qkv = attention.qkv(x)
    pad_h, pad_w = -height % window, -width % window
    if not (pad_h or pad_w):
        return qkv
    padded = F.pad(qkv, (0, 0, 0, pad_w, 0, pad_h))
    if attention.qkv.bias is not None:
        padded[:, height:] = attention.qkv.bias
        padded[:, :height, width:] = attention.qkv.bias
    return padded


def windowed_block_forward(self: Block, x: torch.Tensor) -> torch.Tensor:
    """Drop-in for ``Block.forward`` of a windowed block: ``x`` (B, H, W, C) -> (B, H, W, C), projecting only
    the real tokens (see the module's docstring)."""
    window = self.window_size
    windows, padded_size = window_partition(padded_qkv(self.attn, self.norm1(x), window), window)
    attended = window_unpartition(attend(self.attn, windows), window, padded_size, (x.shape[1], x.shape[2]))
    x = x + self.attn.proj(attended)
    return x + self.mlp(self.norm2(x))


def use_fused_attention(encoder: torch.nn.Module) -> int:
    """Switch the attention of every segment-anything ``Block`` inside ``encoder`` to the fused kernel: windowed
    blocks to :func:`windowed_block_forward`, global ones to :func:`fused_attention_forward` for their attention.

    Modifies the modules in place (their weights are untouched) and returns how many blocks were switched.
    """
    switched = 0
    for module in encoder.modules():
        if isinstance(module, Block):
            if module.window_size > 0:
                module.forward = types.MethodType(windowed_block_forward, module)
            else:
                module.attn.forward = types.MethodType(fused_attention_forward, module.attn)
            switched += 1
    return switched


def cast_matmul_weights(encoder: torch.nn.Module, dtype: torch.dtype = torch.bfloat16) -> int:
    """Store the weights and biases of ``encoder``'s linear and convolution layers in ``dtype``, in place; returns
    how many layers were cast.

    Only for an encoder that runs under autocast to ``dtype``: autocast casts exactly these tensors to ``dtype``
    at every forward (about 0.12 s per vit_b forward on one CPU core), so casting them once changes no result.
    Layer norms, position embeddings and relative-position tables keep their dtype, as autocast uses them.
    """
    cast = 0
    for module in encoder.modules():
        if isinstance(module, torch.nn.Linear | torch.nn.Conv2d):
            module.to(dtype)
            cast += 1
    return cast
