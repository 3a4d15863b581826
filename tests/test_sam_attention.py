"""The fused attention gives segment-anything's own attention results, module by module and for a whole encoder."""

from __future__ import annotations

import copy

import pytest
import torch
from sam_helpers import build_tiny_sam
from segment_anything.modeling.image_encoder import Attention

from wssam.labelers.sam_attention import fused_attention_forward, relative_position_bias, use_fused_attention


@pytest.mark.parametrize("use_rel_pos", [True, False])
@pytest.mark.parametrize("grid", [(4, 4), (3, 5)])
def test_fused_forward_equals_stock_forward(use_rel_pos: bool, grid: tuple[int, int]) -> None:
    torch.manual_seed(0)
    attention = Attention(dim=24, num_heads=3, use_rel_pos=use_rel_pos, input_size=grid).eval()
    if use_rel_pos:  # the official init is zeros, which would hide a wrongly laid out bias
        torch.nn.init.normal_(attention.rel_pos_h, std=0.5)
        torch.nn.init.normal_(attention.rel_pos_w, std=0.5)
    x = torch.randn(2, *grid, 24)
    with torch.no_grad():
        stock = attention(x)
        fused = fused_attention_forward(attention, x)
    assert fused.shape == stock.shape == (2, *grid, 24)
    torch.testing.assert_close(fused, stock, atol=1e-5, rtol=1e-5)


def test_relative_position_bias_rows_then_columns() -> None:
    """Entry [(i, j), (k, l)] is q . (R_h[i - k] + R_w[j - l]), with offsets indexed from H - 1 and W - 1."""
    torch.manual_seed(1)
    attention = Attention(dim=4, num_heads=1, use_rel_pos=True, input_size=(2, 3))
    torch.nn.init.normal_(attention.rel_pos_h)
    torch.nn.init.normal_(attention.rel_pos_w)
    q = torch.randn(1, 1, 6, 4)
    bias = relative_position_bias(q, attention, (2, 3))
    assert bias.shape == (1, 1, 6, 6)
    row_q, col_q, row_k, col_k = 1, 0, 0, 2
    query = q[0, 0, row_q * 3 + col_q]
    expected = query @ (attention.rel_pos_h[row_q - row_k + 1] + attention.rel_pos_w[col_q - col_k + 2])
    torch.testing.assert_close(bias[0, 0, row_q * 3 + col_q, row_k * 3 + col_k], expected)


def test_use_fused_attention_keeps_the_encoder_output() -> None:
    torch.manual_seed(0)
    stock = build_tiny_sam().image_encoder
    for block in stock.blocks:
        torch.nn.init.normal_(block.attn.rel_pos_h, std=0.5)
        torch.nn.init.normal_(block.attn.rel_pos_w, std=0.5)
    fused = copy.deepcopy(stock)
    assert use_fused_attention(fused) == len(stock.blocks) == 2  # one windowed block, one global block
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), stock(x), atol=1e-5, rtol=1e-5)
