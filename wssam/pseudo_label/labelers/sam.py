"""The SAM labeler on the official segment-anything code: one image-encoder pass per image (and view), then the
cheap prompt encoder and mask decoder for the prompts. Its answer is SAM's binary mask (logits > 0, the mask SAM
returns: the paper's maps, whose average over the views measures the views' disagreement) or SAM's soft output
(sigmoid of the logits), by ``pseudo_label.sam.output``.

Weights are read by :func:`load_sam` with ``torch.load(..., weights_only=True)`` (no pickled code runs) and loaded
strictly into a model built without weights, so a checkpoint for another model type is a one-line InputError.
The image encoder runs under bf16 autocast where the hardware has bf16 arithmetic (CUDA, or a CPU with
AVX512-BF16/AMX); elsewhere emulated bf16 is many times slower than fp32, so fp32 is used. Its attention runs
through PyTorch's fused kernel in fp32 and on CUDA, and by whole-matrix products with the relative positions added
inside the first one under bf16 on a CPU (:mod:`wssam.pseudo_label.labelers.sam_attention`: the same maths, the
faster route for each case); optionally the whole encoder is compiled
(:mod:`wssam.pseudo_label.labelers.sam_compile`). The decoder runs in fp32.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from segment_anything import sam_model_registry
from segment_anything.modeling import Sam
from segment_anything.utils.transforms import ResizeLongestSide

from wssam.devices import autocast, resolve_device, uses_bf16
from wssam.io import InputError
from wssam.pseudo_label.config import SAM_OUTPUTS, SamConfig
from wssam.pseudo_label.labelers.base import Example, PromptLabeler, checked_probability
from wssam.pseudo_label.labelers.sam_attention import cast_matmul_weights, use_fused_attention
from wssam.pseudo_label.labelers.sam_compile import CompiledEncoder
from wssam.pseudo_label.labelers.sam_setup import check_checkpoint, official_checkpoint
from wssam.pseudo_label.prompts import Prompts, prompts_in_view
from wssam.pseudo_label.views import View

SamBuilder = Callable[[], Sam]


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint file, read without running pickled code; an unreadable file is an InputError."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for corrupt or non-weight files
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"{path}: cannot read as a SAM state dict ({first_line}); re-download the file") from error
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(f"{path}: not a state dict of tensors; expected an official SAM checkpoint")
    return state


def _registry_builder(model_type: str) -> SamBuilder:
    if model_type not in sam_model_registry or model_type == "default":
        raise InputError(f"pseudo_label.sam.model_type {model_type!r} is not one of vit_h, vit_l, vit_b")
    return lambda: sam_model_registry[model_type](checkpoint=None)


def load_sam(
    model_type: str,
    checkpoint: str | os.PathLike[str],
    *,
    builder: SamBuilder | None = None,
    device: torch.device | str = "cpu",
) -> Sam:
    """Build ``model_type`` (or ``builder()``, e.g. a tiny SAM in tests) and load ``checkpoint`` strictly.

    Returns the model in eval mode on ``device``. A missing file, an unreadable file, or weights that do not fit
    the architecture (missing / unexpected / wrongly shaped keys) are one-line InputErrors.
    """
    path = check_checkpoint(model_type, checkpoint)
    state = read_state_dict(path)
    model = (builder or _registry_builder(model_type))()
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = sorted(k for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
    if missing or unexpected or mismatched:
        example = (missing or unexpected or mismatched)[0]
        raise InputError(
            f"{path}: checkpoint does not fit model type {model_type} ({len(missing)} missing / "
            f"{len(unexpected)} unexpected / {len(mismatched)} size-mismatched keys, e.g. {example!r}); "
            f"check pseudo_label.sam.model_type (the official {model_type} file is {official_checkpoint(model_type)})"
        )
    model.load_state_dict(state, strict=True)
    return model.eval().to(device)


@dataclass(frozen=True)
class SamEmbedding:
    """SAM's per-image state: encoder ``features`` (1, C, h, w) float32, the resized ``input_size`` (H, W)
    fed to the encoder (before padding) and the ``original_size`` (H, W) of the image given to prepare."""

    features: torch.Tensor
    input_size: tuple[int, int]
    original_size: tuple[int, int]


class SamLabeler(PromptLabeler):
    """Foreground probabilities from SAM given points (and an optional box), in the prepared image's frame.

    ``precision`` of the image encoder: ``auto`` = bf16 autocast where bf16 is native, else fp32; ``bf16`` = bf16
    autocast everywhere (emulated bf16 is slow: for measurements); ``fp32``. ``output``: ``binary`` (1 where the
    logits are above SAM's mask threshold 0, else 0) or ``soft`` (sigmoid of the logits). ``fused_attention`` switches
    ``model``'s encoder attention to the fused kernel in place (see
    :func:`~wssam.pseudo_label.labelers.sam_attention.use_fused_attention`); under bf16 the encoder's linear and
    convolution weights are also cast to bf16 in place (what autocast would do at every forward), so ``model`` is
    the labeler's from then on. ``compile_encoder``: the encoder through ``torch.compile``, eager where that fails
    (:class:`~wssam.pseudo_label.labelers.sam_compile.CompiledEncoder`).
    """

    name = "sam"
    libraries = ("numpy", "pillow", "torch", "segment-anything")

    def __init__(
        self,
        model: Sam,
        *,
        precision: str,
        output: str,
        fused_attention: bool = True,
        batch_size: int = 1,
        compile_encoder: bool = False,
    ) -> None:
        if output not in SAM_OUTPUTS:
            raise ValueError(f"output must be one of {', '.join(SAM_OUTPUTS)}, got {output!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size = batch_size
        self.bf16 = uses_bf16(precision, model.device)
        self.binary = output == "binary"
        if fused_attention:
            use_fused_attention(model.image_encoder)
        if self.bf16:
            cast_matmul_weights(model.image_encoder)
        self.model = model.eval()
        self.encoder = CompiledEncoder(model.image_encoder) if compile_encoder else model.image_encoder
        self.device = model.device
        self.transform = ResizeLongestSide(model.image_encoder.img_size)

    @classmethod
    def from_config(
        cls, config: SamConfig, labeler_dir: str | os.PathLike[str], *, builder: SamBuilder | None = None
    ) -> SamLabeler:
        """Load the checkpoint ``config.checkpoint`` from ``labeler_dir`` on the configured device."""
        device = resolve_device(config.device, key="pseudo_label.sam.device")
        path = Path(labeler_dir) / config.checkpoint
        model = load_sam(config.model_type, path, builder=builder, device=device)
        return cls(
            model,
            precision=config.precision,
            output=config.output,
            batch_size=config.batch_size,
            compile_encoder=config.compile,
        )

    def resolved(self) -> dict[str, str | bool]:
        """The device the maps are computed on (a GPU by its name) and whether the encoder runs in bf16."""
        device = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else self.device.type
        return {"device": device, "bf16": self.bf16}

    def encoder_input(self, image: np.ndarray) -> tuple[torch.Tensor, tuple[int, int]]:
        """``image`` uint8 (H, W, 3) RGB -> the encoder's input (1, 3, S, S) float (long side resized to S,
        normalised, padded) and the resized (H', W') before padding."""
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"SAM expects an RGB uint8 (H, W, 3) image, got {image.dtype} {image.shape}")
        resized = self.transform.apply_image(image)
        tensor = torch.as_tensor(resized, device=self.device).permute(2, 0, 1).contiguous()[None]
        return self.model.preprocess(tensor.float()), (int(resized.shape[0]), int(resized.shape[1]))

    @torch.inference_mode()
    def encode(self, tensor: torch.Tensor) -> torch.Tensor:
        """The image encoder at the labeler's precision: (B, 3, S, S) -> float32 features (B, C, S/16, S/16)."""
        with autocast(self.device, self.bf16):
            return self.encoder(tensor).float()

    def prepare(self, image: np.ndarray) -> SamEmbedding:
        """Resize the long side to the encoder size, normalise, pad, and run the image encoder once."""
        tensor, input_size = self.encoder_input(image)
        return SamEmbedding(
            features=self.encode(tensor),
            input_size=input_size,
            original_size=(int(image.shape[0]), int(image.shape[1])),
        )

    def prepare_many(self, images: list[np.ndarray]) -> list[SamEmbedding]:
        """:meth:`prepare` of several RGB ``uint8`` (H_i, W_i, 3) images with ONE encoder pass over all of them
        (each is resized and padded to S x S first, so they stack whatever their sizes)."""
        inputs = [self.encoder_input(image) for image in images]
        features = self.encode(torch.cat([tensor for tensor, _ in inputs]))
        return [
            SamEmbedding(features=features[i : i + 1], input_size=size, original_size=(image.shape[0], image.shape[1]))
            for i, ((_, size), image) in enumerate(zip(inputs, images, strict=True))
        ]

    def maps_in_view(self, examples: list[Example], view: View) -> list[np.ndarray]:
        """The maps of ``examples`` in ``view``, their images encoded together (:meth:`prepare_many`); decoding stays
        per image. Equal to one image at a time within floating-point tolerance.

        In a scaled view SAM's logits are brought to full scale by SAM's own upsampling before the mask is taken
        (``output_size`` of :meth:`predict`), so a ``binary`` map comes back binary: resampling the view's 0/1 mask
        instead would put grey levels on every edge, entropy where no view disagrees."""
        states = self.prepare_many([view.apply_image(example.image) for example in examples])
        maps = []
        for example, state in zip(examples, states, strict=True):
            full_scale = view.rotated_size(example.image.shape[:2])
            answer = self.predict(state, prompts_in_view(example.prompts, view), output_size=full_scale)
            answer = checked_probability(answer, full_scale, self.name)
            maps.append(view.restore_orientation(answer, example.image.shape[:2]))
        return maps

    def map_in_view(self, name: str, image: np.ndarray, prompts: Prompts, view: View) -> np.ndarray:
        """:meth:`maps_in_view` of one image."""
        return self.maps_in_view([Example(name, image, prompts)], view)[0]

    @torch.inference_mode()
    def predict(self, state: SamEmbedding, prompts: Prompts, output_size: tuple[int, int] | None = None) -> np.ndarray:
        """SAM's mask for ``prompts`` (in the prepared image's frame), ``float32`` (H, W) = ``output_size`` (default:
        the prepared image's size): 0/1 (``binary``: logits above SAM's mask threshold) or the sigmoid of the logits
        in [0, 1] (``soft``), the logits upsampled to that size by SAM's ``postprocess_masks`` first.

        One point without a box: three masks, keep the highest predicted IoU; otherwise a single mask.
        """
        if prompts.size != state.original_size:
            raise ValueError(f"prompts are for size {prompts.size}, the prepared image is {state.original_size}")
        points = None
        if len(prompts.points):
            coords = self.transform.apply_coords(prompts.points.astype(np.float64), state.original_size)
            points = (
                torch.as_tensor(coords, dtype=torch.float32, device=self.device)[None],
                torch.as_tensor(prompts.labels, dtype=torch.int64, device=self.device)[None],
            )
        boxes = None
        if prompts.box is not None:
            box = self.transform.apply_boxes(prompts.box.astype(np.float64)[None], state.original_size)
            boxes = torch.as_tensor(box, dtype=torch.float32, device=self.device)
        sparse, dense = self.model.prompt_encoder(points=points, boxes=boxes, masks=None)
        low_res, iou = self.model.mask_decoder(
            image_embeddings=state.features,
            image_pe=self.model.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=prompts.multimask,
        )
        best = int(torch.argmax(iou[0]))
        size = state.original_size if output_size is None else output_size
        logits = self.model.postprocess_masks(low_res[:, best : best + 1], state.input_size, size)
        logits = logits[0, 0].float()
        answer = (logits > self.model.mask_threshold).float() if self.binary else torch.sigmoid(logits)
        return answer.cpu().numpy().astype(np.float32)
