"""The WS-SAM training losses, as pure functions of tensors.

Shapes: logits, soft targets and pixel weights are ``float`` tensors of shape (B, 1, H, W); logits are raw network
outputs (before the sigmoid), targets are pseudo-label probabilities in [0, 1], pixel weights are in [0, 1]
(entropy weight ``1 - H(p)``, 0 = ignore). Sparse label maps are integer tensors (B, 1, H, W) in the S-COD
encoding of :mod:`wssam.labels` (1 foreground, 2 background, 0 unlabelled).

Every per-pixel weight really multiplies the per-pixel loss (``reduction="none"``), both in the BCE part and in the
sums of the IoU part, so a pixel with weight 0 receives exactly zero gradient.

Under DistributedDataParallel each process holds a part of the batch. :class:`WholeBatch` tells
:func:`total_loss` the whole batch's image and labelled-pixel counts, so that each process's loss is its share
of the whole batch's loss (the per-image terms divided by the whole batch's images, the partial BCE by the whole
batch's labelled pixels): the processes' losses then sum to the loss one process computes on the whole batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from wssam.labels import foreground_mask, labelled_mask

BOUNDARY_KERNEL = 31  # window of the local mean that finds pseudo-label boundaries
BOUNDARY_GAIN = 5.0  # boundary pixels weigh up to 1 + 5 in the structure loss
_EPS = 1e-6


@dataclass(frozen=True)
class WholeBatch:
    """The whole batch a process holds a part of: its ``images`` and its ``labelled`` sparse-label pixels."""

    images: int
    labelled: float


def boundary_emphasis(target: torch.Tensor) -> torch.Tensor:
    """``1 + 5 * |avgpool31(y) - y|`` of shape (B, 1, H, W), in [1, 6]: larger near pseudo-label edges.

    The 31 x 31 mean (zero padding counted, as in the reference structure loss) is computed as a 31 x 1 mean
    followed by a 1 x 31 mean: the same box sum, an order of magnitude cheaper on CPU.
    """
    pad = BOUNDARY_KERNEL // 2
    local_mean = F.avg_pool2d(target, (BOUNDARY_KERNEL, 1), stride=1, padding=(pad, 0), count_include_pad=True)
    local_mean = F.avg_pool2d(local_mean, (1, BOUNDARY_KERNEL), stride=1, padding=(0, pad), count_include_pad=True)
    return 1.0 + BOUNDARY_GAIN * (local_mean - target).abs()


def band_mask(target: torch.Tensor, band: Sequence[float]) -> torch.Tensor:
    """Float mask (B, 1, H, W): 0 where ``band[0] < target < band[1]`` (ambiguous pseudo label), else 1.

    An empty ``band`` keeps every pixel (all ones). This is the released code's hard ignore rule.
    """
    if not band:
        return torch.ones_like(target)
    low, high = band
    return (~((target > low) & (target < high))).to(target.dtype)


def structure_loss(logits: torch.Tensor, target: torch.Tensor, pixel_weight: torch.Tensor) -> torch.Tensor:
    """Weighted BCE + weighted IoU against a soft target, averaged over the batch; a scalar tensor.

    The weight of a pixel is ``boundary_emphasis(target) * pixel_weight``. BCE is the weighted mean over each image;
    IoU is ``1 - (sum(w p y) + 1) / (sum(w (p + y)) - sum(w p y) + 1)`` with ``p = sigmoid(logits)``. An image whose
    weights are all 0 contributes 0 to the BCE part and a constant to the IoU part (no gradient).
    """
    return _weighted_structure_loss(logits, target, boundary_emphasis(target) * pixel_weight)


def _weighted_structure_loss(
    logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, whole: WholeBatch | None = None
) -> torch.Tensor:
    """:func:`structure_loss` with the full per-pixel weight (boundary emphasis included) given; with ``whole``,
    the sum over these images divided by the whole batch's image count."""
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    weight_sum = weight.sum(dim=(2, 3))
    weighted_bce = (weight * bce).sum(dim=(2, 3)) / weight_sum.clamp_min(_EPS)
    prob = torch.sigmoid(logits)
    intersection = (weight * prob * target).sum(dim=(2, 3))
    union = (weight * (prob + target)).sum(dim=(2, 3))
    weighted_iou = 1.0 - (intersection + 1.0) / (union - intersection + 1.0)
    if whole is not None:
        return (weighted_bce + weighted_iou).sum() / whole.images
    return (weighted_bce + weighted_iou).mean()


def partial_bce(logits: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
    """BCE on labelled pixels only: 1 -> target 1, 2 -> target 0, 0 ignored; mean over labelled pixels (scalar).

    Returns 0 (still attached to the graph) when no pixel of the batch is labelled.
    """
    labelled, target = _sparse_masks(sparse, logits.dtype)
    return _masked_bce(logits, target, labelled)


def _sparse_masks(sparse: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(labelled, target) float masks (B, 1, H, W) of an S-COD map: labelled = 1 or 2, target = 1."""
    return labelled_mask(sparse).to(dtype), foreground_mask(sparse).to(dtype)


def _masked_bce(
    logits: torch.Tensor, target: torch.Tensor, labelled: torch.Tensor, whole: WholeBatch | None = None
) -> torch.Tensor:
    """:func:`partial_bce` with the masks given; with ``whole``, divided by the whole batch's labelled pixels."""
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    if whole is not None:
        return (bce * labelled).sum() / max(whole.labelled, 1.0)
    return (bce * labelled).sum() / labelled.sum().clamp_min(1.0)


def uncertainty_loss(logits: torch.Tensor, whole: WholeBatch | None = None) -> torch.Tensor:
    """Uncertainty-aware loss: mean of ``1 - |2 sigmoid(x) - 1|^2`` (scalar in [0, 1]; 0 when fully confident);
    with ``whole``, the sum over these images divided by the whole batch's pixel count."""
    certainty_gap = 1.0 - (2.0 * torch.sigmoid(logits) - 1.0).pow(2)
    if whole is not None:
        return certainty_gap.sum() / (whole.images * certainty_gap[0].numel())
    return certainty_gap.mean()


def pseudo_pixel_weight(target: torch.Tensor, weight: torch.Tensor, *, ignore_band: Sequence[float]) -> torch.Tensor:
    """Per-pixel weight (B, 1, H, W) of the pseudo-label term: the data's weight map (the entropy weight, or 1 where
    entropy weighting is off; 0 where a rotation brought pixels in from outside the image) times the band mask."""
    return weight * band_mask(target, ignore_band)


def total_loss(
    outputs: Mapping[str, torch.Tensor],
    *,
    target: torch.Tensor,
    pixel_weight: torch.Tensor,
    sparse: torch.Tensor,
    deep_supervision: Mapping[str, float],
    final: str,
    pseudo_weight: float,
    partial_weight: float,
    uncertainty_weight: float,
    ramp: float,
    whole: WholeBatch | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """``pseudo_weight * L_pseudo + partial_weight * L_pce + uncertainty_weight * ramp * L_ual``.

    ``L_pseudo`` and ``L_pce`` are sums over the outputs named in ``deep_supervision`` (name -> weight);
    ``L_ual`` uses the output ``final`` only. Outputs are cast to float32 (bf16 autocast safe). ``whole``: these
    images are part of a larger batch (one process's part under DDP); the loss is then this part's share of the
    whole batch's loss (see the module docstring). Returns the scalar loss and its parts as floats (``pseudo``,
    ``partial``, ``uncertainty``, ``total``).
    """
    weight = boundary_emphasis(target) * pixel_weight  # the weights and masks depend on the labels only:
    labelled, sparse_target = _sparse_masks(sparse, torch.float32)  # computed once for every output
    logits = {name: outputs[name].float() for name in deep_supervision}
    pseudo = sum(w * _weighted_structure_loss(logits[n], target, weight, whole) for n, w in deep_supervision.items())
    partial = sum(w * _masked_bce(logits[n], sparse_target, labelled, whole) for n, w in deep_supervision.items())
    uncertainty = uncertainty_loss(outputs[final].float(), whole)
    loss = pseudo_weight * pseudo + partial_weight * partial + uncertainty_weight * ramp * uncertainty
    parts = {
        "pseudo": float(pseudo.detach()),
        "partial": float(partial.detach()),
        "uncertainty": float(uncertainty.detach()),
        "total": float(loss.detach()),
    }
    return loss, parts
