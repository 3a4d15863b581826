"""The fused attention gives segment-anything's own attention results, module by module and for a whole encoder,
in fp32 exactly (to 1e-5) and under bf16 autocast to bf16 rounding."""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from sam_helpers import build_tiny_sam
from segment_anything.modeling.image_encoder import Attention, Block

from wssam.pseudo_label.labelers.sam_attention import (
    cast_matmul_weights,
    fused_attention_forward,
    relative_position_bias,
    use_fused_attention,
    windowed_block_forward,
)


def randomise_rel_pos(attention: Attention, std: float = 0.5) -> None:
    """The official init of the relative-position tables is zeros, which would hide a wrongly laid out bias."""
    torch.nn.init.normal_(attention.rel_pos_h, std=std)
    torch.nn.init.normal_(attention.rel_pos_w, std=std)


def assert_same_output(ours: Callable[[torch.Tensor], torch.Tensor], stock: torch.nn.Module, shape: tuple) -> None:
    """``ours(x)`` equals ``stock(x)`` to 1e-5 for random tokens ``x`` of ``shape``."""
    x = torch.randn(*shape)
    with torch.no_grad():
        expected, found = stock(x), ours(x)
    assert found.shape == expected.shape == shape
    torch.testing.assert_close(found, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("use_rel_pos", [True, False])
@pytest.mark.parametrize("grid", [(4, 4), (3, 5)])
def test_fused_forward_equals_stock_forward(use_rel_pos: bool, grid: tuple[int, int]) -> None:
    torch.manual_seed(0)
    attention = Attention(dim=24, num_heads=3, use_rel_pos=use_rel_pos, input_size=grid).eval()
    if use_rel_pos:
        randomise_rel_pos(attention)
    assert_same_output(partial(fused_attention_forward, attention), attention, (2, *grid, 24))


@pytest.mark.parametrize("qkv_bias", [True, False])
@pytest.mark.parametrize("grid", [(5, 7), (6, 6)])
def test_windowed_block_equals_stock_block(qkv_bias: bool, grid: tuple[int, int]) -> None:
    """Windows of 3 over a 5 x 7 grid pad to 6 x 9: border windows attend to padding tokens, whose q, k, v must be
    what the stock block computes for them (the qkv bias), or the real tokens' outputs change."""
    torch.manual_seed(0)
    block = Block(dim=24, num_heads=3, qkv_bias=qkv_bias, use_rel_pos=True, window_size=3, input_size=(3, 3)).eval()
    randomise_rel_pos(block.attn)
    if qkv_bias:
        torch.nn.init.normal_(block.attn.qkv.bias, std=1.0)
    assert_same_output(partial(windowed_block_forward, block), block, (2, *grid, 24))


def test_relative_position_bias_rows_then_columns() -> None:
    """Entry [(i, j), (k, l)] is q . (R_h[i - k] + R_w[j - l]), with offsets indexed from H - 1 and W - 1."""
    torch.manual_seed(1)
    attention = Attention(dim=4, num_heads=1, use_rel_pos=True, input_size=(2, 3))
    randomise_rel_pos(attention, std=1.0)
    q = torch.randn(1, 1, 6, 4)
    bias = relative_position_bias(q, attention, (2, 3))
    assert bias.shape == (1, 1, 6, 6)
    row_q, col_q, row_k, col_k = 1, 0, 0, 2
    query = q[0, 0, row_q * 3 + col_q]
    expected = query @ (attention.rel_pos_h[row_q - row_k + 1] + attention.rel_pos_w[col_q - col_k + 2])
    torch.testing.assert_close(bias[0, 0, row_q * 3 + col_q, row_k * 3 + col_k], expected)


@pytest.mark.parametrize("img_size", [64, 80])
def test_use_fused_attention_keeps_the_encoder_output(img_size: int) -> None:
    """At 80 px the 5 x 5 token grid pads to 6 x 6 for windows of 2; at 64 px it needs no padding."""
    torch.manual_seed(0)
    stock = build_tiny_sam(img_size).image_encoder
    for block in stock.blocks:
        randomise_rel_pos(block.attn)
    fused = copy.deepcopy(stock)
    assert use_fused_attention(fused) == len(stock.blocks) == 2  # one windowed block, one global block
    x = torch.randn(1, 3, img_size, img_size)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), stock(x), atol=1e-5, rtol=1e-5)


def _randomised_encoder(img_size: int, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    encoder = build_tiny_sam(img_size).image_encoder
    for block in encoder.blocks:
        randomise_rel_pos(block.attn)
    return encoder


@pytest.mark.parametrize("img_size", [64, 80])
def test_bf16_encoder_agrees_with_stock_bf16_autocast(img_size: int) -> None:
    """Under bf16 autocast on a CPU, our encoder (explicit attention with the relative positions added inside the
    first product, weights cast once) is as close to the exact fp32 result as segment-anything's own bf16 forward
    is, and within bf16 rounding of it. A relative-position term in the wrong place moves outputs by tenths."""
    stock = _randomised_encoder(img_size, seed=0)
    ours = copy.deepcopy(stock)
    use_fused_attention(ours)
    cast_matmul_weights(ours)
    x = torch.randn(1, 3, img_size, img_size)
    with torch.inference_mode():
        exact = stock(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            stock_bf16, ours_bf16 = stock(x).float(), ours(x).float()
    stock_error = (stock_bf16 - exact).abs().mean()
    assert (ours_bf16 - exact).abs().mean() <= 1.25 * stock_error
    assert (ours_bf16 - stock_bf16).abs().mean() <= 1.5 * stock_error
    assert (ours_bf16 - stock_bf16).abs().max() < 0.08


def test_bf16_on_a_cpu_takes_the_explicit_products(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fused kernel is slower than whole-matrix products in bf16 on a CPU: it must not be called there, and
    must be in fp32."""
    encoder = _randomised_encoder(64, seed=1)
    use_fused_attention(encoder)
    calls: list[torch.dtype] = []
    fused = F.scaled_dot_product_attention

    def counting(q: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        calls.append(q.dtype)
        return fused(q, *args, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", counting)
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        encoder(x)
    assert calls == []
    with torch.inference_mode():
        encoder(x)
    assert calls == [torch.float32] * len(encoder.blocks)


def test_casting_the_weights_once_changes_nothing_under_autocast() -> None:
    """Autocast casts linear and convolution weights to bf16 at every call; casting them once gives the same bits."""
    encoder = _randomised_encoder(80, seed=2)
    cast = copy.deepcopy(encoder)
    assert cast_matmul_weights(cast) == sum(isinstance(m, torch.nn.Linear | torch.nn.Conv2d) for m in cast.modules())
    assert cast.blocks[0].attn.qkv.weight.dtype == torch.bfloat16
    assert cast.blocks[0].norm1.weight.dtype == cast.pos_embed.dtype == torch.float32
    x = torch.randn(1, 3, 80, 80)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(cast(x), encoder(x))
