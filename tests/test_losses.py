"""The training losses: weights really apply, ignored pixels get no gradient, values are what they claim."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from wssam.train.losses import (
    WholeBatch,
    band_mask,
    boundary_emphasis,
    partial_bce,
    pseudo_pixel_weight,
    structure_loss,
    total_loss,
    uncertainty_loss,
)

NAMES = ("prior", "p4", "p3", "p2", "p1")


def _maps(seed: int = 0, size: int = 16) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, 1, size, size, generator=generator)
    target = torch.rand(2, 1, size, size, generator=generator)
    weight = torch.rand(2, 1, size, size, generator=generator)
    return logits, target, weight


def test_weight_zero_pixel_gets_exactly_zero_gradient_from_pseudo_term() -> None:
    logits, target, weight = _maps()
    weight[0, 0, 3, 5] = 0.0
    weight[1, 0, 10, 2] = 0.0
    logits.requires_grad_(True)
    structure_loss(logits, target, weight).backward()
    assert logits.grad[0, 0, 3, 5].item() == 0.0
    assert logits.grad[1, 0, 10, 2].item() == 0.0
    assert (logits.grad.abs() > 0).float().mean() > 0.9  # everything else does train


def test_pixel_weights_change_the_loss_value() -> None:
    """Catches the legacy ``reduce='none'`` trap, where BCE silently returns a plain mean and weights do nothing."""
    logits, target, weight = _maps()
    ones = torch.ones_like(weight)
    assert structure_loss(logits, target, weight).item() != pytest.approx(structure_loss(logits, target, ones).item())
    # and a plain-mean BCE would not depend on where the weight is: moving weight mass must change the loss
    shifted = torch.roll(weight, shifts=3, dims=-1)
    assert structure_loss(logits, target, weight).item() != pytest.approx(
        structure_loss(logits, target, shifted).item()
    )


def test_structure_loss_matches_a_direct_computation() -> None:
    logits, target, weight = _maps(1, 8)
    emphasis = 1 + 5 * (F.avg_pool2d(target, 31, stride=1, padding=15) - target).abs()
    w = emphasis * weight
    bce = -(target * torch.log(torch.sigmoid(logits)) + (1 - target) * torch.log(1 - torch.sigmoid(logits)))
    wbce = (w * bce).sum(dim=(2, 3)) / w.sum(dim=(2, 3))
    p = torch.sigmoid(logits)
    inter = (w * p * target).sum(dim=(2, 3))
    union = (w * (p + target)).sum(dim=(2, 3))
    expected = (wbce + 1 - (inter + 1) / (union - inter + 1)).mean()
    assert structure_loss(logits, target, weight).item() == pytest.approx(expected.item(), rel=1e-5)


def test_boundary_emphasis_is_one_on_flat_maps_and_larger_at_edges() -> None:
    flat = torch.full((1, 1, 40, 40), 1.0)
    assert torch.allclose(boundary_emphasis(torch.zeros_like(flat)), torch.ones_like(flat))
    step = torch.zeros(1, 1, 80, 80)
    step[..., 40:] = 1.0
    emphasis = boundary_emphasis(step)
    assert emphasis[0, 0, 40, 40] > 3.0  # on the edge: half the window differs
    assert emphasis[0, 0, 40, 60] == pytest.approx(1.0)  # 20 px inside: the window (31) sees no edge
    assert emphasis.max() <= 6.0


def test_band_mask_and_pixel_weight() -> None:
    target = torch.tensor([0.0, 0.3, 0.31, 0.5, 0.69, 0.7, 1.0]).view(1, 1, 1, 7)
    assert band_mask(target, (0.3, 0.7)).flatten().tolist() == [1, 1, 0, 0, 0, 1, 1]
    assert band_mask(target, ()).flatten().tolist() == [1] * 7
    entropy = torch.full_like(target, 0.5)
    assert pseudo_pixel_weight(target, entropy, ignore_band=()).flatten().tolist() == [0.5] * 7
    on = pseudo_pixel_weight(target, entropy, ignore_band=(0.3, 0.7))
    assert on.flatten().tolist() == [0.5, 0.5, 0, 0, 0, 0.5, 0.5]


def test_partial_bce_ignores_unlabelled_pixels() -> None:
    logits, _, _ = _maps(2, 8)
    sparse = torch.zeros(2, 1, 8, 8, dtype=torch.long)
    sparse[0, 0, 1, 1] = 1
    sparse[1, 0, 4, 4] = 2
    logits.requires_grad_(True)
    loss = partial_bce(logits, sparse)
    loss.backward()
    grad = logits.grad
    assert grad[0, 0, 1, 1] < 0 and grad[1, 0, 4, 4] > 0  # push fg up, bg down
    labelled = sparse != 0
    assert (grad[~labelled] == 0).all()
    expected = (F.softplus(-logits[0, 0, 1, 1]) + F.softplus(logits[1, 0, 4, 4])) / 2
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_partial_bce_is_zero_without_labels() -> None:
    logits, _, _ = _maps()
    assert partial_bce(logits, torch.zeros_like(logits, dtype=torch.long)).item() == 0.0


def test_uncertainty_loss_values() -> None:
    assert uncertainty_loss(torch.zeros(1, 1, 4, 4)).item() == pytest.approx(1.0)
    assert uncertainty_loss(torch.full((1, 1, 4, 4), 30.0)).item() == pytest.approx(0.0, abs=1e-6)
    assert uncertainty_loss(torch.full((1, 1, 4, 4), -30.0)).item() == pytest.approx(0.0, abs=1e-6)


def test_total_loss_combines_terms_with_weights() -> None:
    logits, target, weight = _maps(3, 8)
    sparse = torch.zeros(2, 1, 8, 8, dtype=torch.long)
    sparse[:, :, 0, 0] = 1
    outputs = {name: logits + i for i, name in enumerate(NAMES)}
    ds = dict(zip(NAMES, (0.0625, 0.125, 0.25, 0.5, 1.0), strict=True))
    loss, parts = total_loss(
        outputs,
        target=target,
        pixel_weight=weight,
        sparse=sparse,
        deep_supervision=ds,
        final="p1",
        pseudo_weight=1.0,
        partial_weight=3.0,
        uncertainty_weight=2.0,
        ramp=0.25,
    )
    pseudo = sum(w * structure_loss(outputs[n], target, weight) for n, w in ds.items())
    partial = sum(w * partial_bce(outputs[n], sparse) for n, w in ds.items())
    expected = pseudo + 3 * partial + 2 * 0.25 * uncertainty_loss(outputs["p1"])
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert parts["total"] == pytest.approx(loss.item())
    assert parts["uncertainty"] == pytest.approx(uncertainty_loss(outputs["p1"]).item())


def test_boundary_emphasis_equals_the_reference_square_window() -> None:
    target = torch.rand(2, 1, 45, 70)
    reference = 1 + 5 * (F.avg_pool2d(target, 31, stride=1, padding=15) - target).abs()
    assert torch.allclose(boundary_emphasis(target), reference, atol=1e-6)


def test_the_shares_of_a_split_batch_sum_to_the_whole_batch_loss_and_gradient() -> None:
    """Under DDP each process computes its part's share of the whole batch's loss: the parts' losses and gradients
    must sum to the whole batch's, although the partial BCE averages over the batch's labelled pixels (unevenly
    spread over the parts here) and not over its images."""
    torch.manual_seed(0)
    logits = torch.randn(5, 1, 8, 8, requires_grad=True)
    target, weight = torch.rand(5, 1, 8, 8), torch.rand(5, 1, 8, 8)
    sparse = torch.zeros(5, 1, 8, 8, dtype=torch.long)
    sparse[0, :, :6, 0], sparse[1, :, 0, :2], sparse[3, :, 2, 2], sparse[4, :, 5, :] = 1, 2, 1, 2
    ds = dict(zip(NAMES, (0.0625, 0.125, 0.25, 0.5, 1.0), strict=True))

    def loss_of(rows: slice, whole: WholeBatch | None) -> torch.Tensor:
        outputs = {name: logits[rows] * (i + 1) for i, name in enumerate(NAMES)}
        return total_loss(
            outputs, target=target[rows], pixel_weight=weight[rows], sparse=sparse[rows], deep_supervision=ds,
            final="p1", pseudo_weight=1.0, partial_weight=3.0, uncertainty_weight=2.0, ramp=0.5, whole=whole,
        )[0]  # fmt: skip

    whole_loss = loss_of(slice(0, 5), None)
    (whole_gradient,) = torch.autograd.grad(whole_loss, logits)
    whole = WholeBatch(images=5, labelled=float((sparse > 0).sum()))
    parts = [loss_of(slice(0, 3), whole), loss_of(slice(3, 5), whole)]
    (parts_gradient,) = torch.autograd.grad(sum(parts), logits)
    assert float(sum(parts).detach()) == pytest.approx(float(whole_loss.detach()), rel=1e-6)
    assert torch.allclose(parts_gradient, whole_gradient, atol=1e-7)
    means = [loss_of(slice(0, 3), None), loss_of(slice(3, 5), None)]  # what DDP would average without the shares
    (naive_gradient,) = torch.autograd.grad(sum(means) / 2, logits)
    assert float((naive_gradient - whole_gradient).abs().max()) > 1e-2  # measured: 0.087
