"""The SAM labeler on a tiny SAM built from segment-anything's parts, loaded through the project's loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from recipe import recipe
from sam_helpers import build_tiny_sam, save_tiny_checkpoint, synthetic_example
from segment_anything import SamPredictor

from wssam.io import InputError
from wssam.pseudo_label.config import PseudoLabelConfig
from wssam.pseudo_label.labelers.base import Example
from wssam.pseudo_label.labelers.sam import SamLabeler, load_sam, read_state_dict
from wssam.pseudo_label.labelers.sam_setup import check_checkpoint
from wssam.pseudo_label.prompts import prompts_from_sparse, prompts_in_view
from wssam.pseudo_label.views import parse_view

CONFIG = recipe(PseudoLabelConfig, "pseudo_label")


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("sam") / "tiny_sam.pth")


def _prompts(kind: str = "scribble", use_box: bool = False):
    """Scribble prompts (10 + 10 points), or a single foreground point (kind "point"; two with ``use_box``, so that
    the box around them encloses an area)."""
    image, sparse = synthetic_example(48, 80)
    if kind == "point":
        sparse = np.zeros_like(sparse)
        sparse[26, 36] = 1
        if use_box:
            sparse[31, 44] = 1
    config = CONFIG.prompts.replace(use_box=use_box)
    return image, prompts_from_sparse(sparse, kind=kind, name="t", seed=0, config=config)


def test_loader_gives_the_saved_weights(tiny_checkpoint: Path) -> None:
    model = load_sam("vit_b", tiny_checkpoint, builder=build_tiny_sam)
    saved = torch.load(tiny_checkpoint, weights_only=True)
    assert not model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved[key]), key


def test_missing_checkpoint_names_the_official_file(tmp_path: Path) -> None:
    for model_type, file_name in [("vit_h", "sam_vit_h_4b8939.pth"), ("vit_b", "sam_vit_b_01ec64.pth")]:
        with pytest.raises(InputError) as error:
            load_sam(model_type, tmp_path / "absent.pth")
        message = str(error.value)
        assert file_name in message and "absent.pth" in message and "\n" not in message
        assert f"https://dl.fbaipublicfiles.com/segment_anything/{file_name}" in message
    with pytest.raises(InputError, match="sam_vit_l_0b3195.pth"):
        check_checkpoint("vit_l", tmp_path / "absent.pth")


def test_checkpoint_of_another_architecture_is_one_line(tiny_checkpoint: Path) -> None:
    with pytest.raises(InputError) as error:
        load_sam("vit_b", tiny_checkpoint)  # the real vit_b given tiny weights
    message = str(error.value)
    assert "does not fit model type vit_b" in message and "size-mismatched" in message
    assert "\n" not in message and len(message) < 400


def test_wrong_key_is_reported(tmp_path: Path) -> None:
    state = build_tiny_sam().state_dict()
    state["extra.weight"] = state.pop("mask_decoder.iou_token.weight")
    torch.save(state, tmp_path / "renamed.pth")
    with pytest.raises(InputError, match="1 missing / 1 unexpected / 0 size-mismatched"):
        load_sam("vit_b", tmp_path / "renamed.pth", builder=build_tiny_sam)


def test_unreadable_or_pickled_code_checkpoint_is_input_error(tmp_path: Path) -> None:
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot read"):
        read_state_dict(tmp_path / "junk.pth")
    torch.save({"weights": [1, 2]}, tmp_path / "list.pth")
    with pytest.raises(InputError, match="not a state dict"):
        read_state_dict(tmp_path / "list.pth")


def test_sam_labeler_soft_output(tiny_checkpoint: Path) -> None:
    sam = CONFIG.sam.replace(
        model_type="vit_b", checkpoint=tiny_checkpoint.name, device="cpu", precision="fp32", output="soft"
    )
    labeler = SamLabeler.from_config(sam, tiny_checkpoint.parent, builder=build_tiny_sam)
    assert not labeler.bf16 and labeler.device.type == "cpu"
    image, prompts = _prompts()
    state = labeler.prepare(image)
    assert state.input_size == (38, 64) and state.original_size == (48, 80)
    probability = labeler.predict(state, prompts)
    assert probability.shape == (48, 80) and probability.dtype == np.float32
    assert np.all(np.isfinite(probability)) and probability.min() >= 0 and probability.max() <= 1
    assert len(np.unique(probability)) > 10  # soft, not a binary mask
    again = labeler.predict(state, prompts)  # the state is reusable: no hidden per-image state
    assert np.array_equal(again, probability)
    binary = SamLabeler.from_config(sam.replace(output="binary"), tiny_checkpoint.parent, builder=build_tiny_sam)
    assert np.array_equal(binary.label(image, prompts), (probability > 0.5).astype(np.float32))


@pytest.mark.parametrize(("kind", "use_box"), [("scribble", False), ("point", False), ("point", True)])
def test_sam_labeler_matches_official_predictor(tiny_checkpoint: Path, kind: str, use_box: bool) -> None:
    """Same weights, fp32: our labeler (fused attention) equals sigmoid(logits) of SamPredictor on the stock
    model, with SAM's multimask policy."""
    image, prompts = _prompts(kind, use_box)
    labeler = SamLabeler(load_sam("vit_b", tiny_checkpoint, builder=build_tiny_sam), precision="fp32", output="soft")
    ours = labeler.label(image, prompts)
    predictor = SamPredictor(load_sam("vit_b", tiny_checkpoint, builder=build_tiny_sam))
    predictor.set_image(image)
    logits, iou, _ = predictor.predict(
        point_coords=prompts.points,
        point_labels=prompts.labels,
        box=prompts.box,
        multimask_output=prompts.multimask,
        return_logits=True,
    )
    assert len(logits) == (3 if kind == "point" and not use_box else 1)
    expected = 1 / (1 + np.exp(-logits[int(np.argmax(iou))]))
    np.testing.assert_allclose(ours, expected, atol=1e-5)
    masks, _, _ = predictor.predict(
        point_coords=prompts.points, point_labels=prompts.labels, box=prompts.box, multimask_output=prompts.multimask
    )  # SamPredictor's default answer: the binary masks (logits > 0)
    binary = SamLabeler(labeler.model, precision="fp32", output="binary").label(image, prompts)
    assert set(np.unique(binary)) <= {0.0, 1.0}
    assert np.array_equal(binary, masks[int(np.argmax(iou))].astype(np.float32))


def test_sam_labeler_in_views_runs_on_non_square_images(tiny_checkpoint: Path) -> None:
    labeler = SamLabeler(load_sam("vit_b", tiny_checkpoint, builder=build_tiny_sam), precision="fp32", output="soft")
    image, prompts = _prompts()
    for name in ("identity", "hflip_rot90", "scale0.5", "rot90_scale2"):
        view = parse_view(name)
        moved = prompts_in_view(prompts, view)
        assert moved.size == view.view_size((48, 80))
        back = labeler.map_in_view("t", image, prompts, view)
        assert back.shape == (48, 80) and np.all(np.isfinite(back))


@pytest.mark.parametrize("name", ["scale0.5", "rot90_scale0.5", "hflip_scale2"])
def test_binary_maps_stay_binary_in_scaled_views(tiny_checkpoint: Path, name: str) -> None:
    """sam.output binary in a scaled view: the mask is SAM's logits brought to full scale by SAM's own upsampling,
    then thresholded, as segment-anything makes a full-size mask. Resampling the view's 0/1 mask back to full scale
    put grey levels on every edge, entropy where no view disagrees, which score's tau would count."""
    image, prompts = _prompts()
    labeler = SamLabeler(load_sam("vit_b", tiny_checkpoint, builder=build_tiny_sam), precision="fp32", output="binary")
    view = parse_view(name)
    back = labeler.map_in_view("t", image, prompts, view)
    assert back.shape == image.shape[:2] and set(np.unique(back).tolist()) == {0.0, 1.0}

    model = load_sam("vit_b", tiny_checkpoint, builder=build_tiny_sam)  # stock attention
    predictor = SamPredictor(model)
    moved = prompts_in_view(prompts, view)
    predictor.set_image(view.apply_image(image))
    _, iou, low_res = predictor.predict(
        point_coords=moved.points, point_labels=moved.labels, box=moved.box, multimask_output=moved.multimask
    )
    best = int(np.argmax(iou))
    with torch.no_grad():
        logits = model.postprocess_masks(
            torch.from_numpy(low_res[best : best + 1][None]), predictor.input_size, view.rotated_size(image.shape[:2])
        )[0, 0]
    expected = np.rot90((logits > model.mask_threshold).numpy(), -view.k)
    expected = expected[:, ::-1] if view.hflip else expected
    assert np.mean(back != expected) < 0.002  # fused attention vs stock: only logits within rounding of 0 may flip


def test_bf16_autocast_agrees_with_fp32(tiny_checkpoint: Path) -> None:
    model = load_sam("vit_b", tiny_checkpoint, builder=build_tiny_sam)
    image, prompts = _prompts()
    fp32 = SamLabeler(model, precision="fp32", output="soft").label(image, prompts)
    # "bf16" forces autocast even where the CPU only emulates bf16 (slow on big models, fine here)
    bf16 = SamLabeler(model, precision="bf16", output="soft").label(image, prompts)
    assert np.abs(bf16 - fp32).mean() < 0.02
    a, b = fp32 >= 0.5, bf16 >= 0.5
    union = (a | b).sum()
    assert union == 0 or (a & b).sum() / union >= 0.9


def test_unknown_precision_or_output_is_refused(tiny_checkpoint: Path) -> None:
    model = load_sam("vit_b", tiny_checkpoint, builder=build_tiny_sam)
    with pytest.raises(ValueError, match="precision must be auto, bf16 or fp32"):
        SamLabeler(model, precision="fp16", output="soft")
    with pytest.raises(ValueError, match="output must be one of binary, soft"):
        SamLabeler(model, precision="fp32", output="logits")


def test_a_batch_of_images_gives_the_maps_of_one_image_at_a_time(tiny_checkpoint: Path) -> None:
    """pseudo_label.sam.batch_size: three images of different sizes encoded in one pass (soft output, so any change
    of the logits shows) equal three passes within floating-point tolerance, in every view kind."""
    examples = []
    for index, (height, width) in enumerate([(48, 80), (64, 40), (56, 56)]):
        image, sparse = synthetic_example(height, width, seed=index)
        prompts = prompts_from_sparse(sparse, kind="scribble", name=f"i{index}", seed=0, config=CONFIG.prompts)
        examples.append(Example(f"i{index}", image, prompts))
    model = load_sam("vit_b", tiny_checkpoint, builder=build_tiny_sam)
    one = SamLabeler(model, precision="fp32", output="soft", batch_size=1)
    three = SamLabeler(model, precision="fp32", output="soft", batch_size=3)
    for name in ("identity", "hflip_rot90", "rot180_scale0.5"):
        view = parse_view(name)
        singles = [m for e in examples for m in one.maps_in_view([e], view)]
        batched = three.maps_in_view(examples, view)
        for single, together, example in zip(singles, batched, examples, strict=True):
            assert together.shape == example.image.shape[:2] and together.dtype == np.float32
            np.testing.assert_allclose(together, single, atol=1e-5)
        assert np.array_equal(singles[0], one.map_in_view("i0", examples[0].image, examples[0].prompts, view))
