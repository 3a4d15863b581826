"""The ``pseudo_label`` section of params.yaml: the labeler, the views, the prompts and each labeler's settings.

Light on purpose (no torch): the ``score`` stage reads the view list through it, and checking a params file
needs no model.
"""

from __future__ import annotations

import importlib.util
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from wssam.config import CommandPath, Config, Device, Precision
from wssam.io import InputError
from wssam.pseudo_label.views import parse_view

LABELERS = ("random_walker", "sam", "folder")
SAM_MODEL_TYPES = ("vit_h", "vit_l", "vit_b")
#: binary: SAM's mask (logits > 0), as the paper averages them; soft: the sigmoid of SAM's logits
SAM_OUTPUTS = ("binary", "soft")


def _parses(name: str) -> str:
    """``name`` if it is a view name (see :mod:`wssam.pseudo_label.views`), else a ValueError saying why."""
    try:
        parse_view(name)
    except InputError as error:
        raise ValueError(str(error)) from None
    return name


ViewName = Annotated[str, AfterValidator(_parses)]


class PromptConfig(Config):
    """``pseudo_label.prompts``: up to ``max_points`` points per class from the strokes, optionally a box."""

    max_points: int = Field(ge=1)
    use_box: bool


class RandomWalkerConfig(Config):
    """``pseudo_label.random_walker``: the weight-free labeler (:mod:`wssam.pseudo_label.labelers.random_walker`).

    ``max_side``: the walk's working size, pixels on the long side (larger images are walked shrunk to it).
    ``mode: cg_mg`` needs pyamg (a dependency of wssam); without it the mode is refused here, since scikit-image
    would silently solve with ``cg_j`` instead."""

    beta: float = Field(gt=0)
    border_background: bool
    mode: Literal["bf", "cg_j", "cg", "cg_mg"]
    tol: float = Field(gt=0)
    max_side: int = Field(ge=16)

    @field_validator("mode")
    @classmethod
    def _solver_installed(cls, mode: str) -> str:
        if mode == "cg_mg" and importlib.util.find_spec("pyamg") is None:
            raise ValueError("cg_mg needs the pyamg package (pip install pyamg), or choose bf, cg_j or cg")
        return mode


class SamConfig(Config):
    """``pseudo_label.sam``: an official segment-anything checkpoint and where and how to run it.

    ``compile``: run the image encoder through ``torch.compile`` (falls back to eager where that fails; see
    :mod:`wssam.pseudo_label.labelers.sam_compile`). ``batch_size``: images of a view encoded in one pass (a GPU
    gains from several; a CPU does not).
    """

    model_type: Literal[SAM_MODEL_TYPES]
    checkpoint: str = Field(min_length=1)
    device: Device
    precision: Precision
    compile: bool
    output: Literal[SAM_OUTPUTS]
    batch_size: int = Field(ge=1)


class FolderConfig(Config):
    """``pseudo_label.folder``: ``masks`` is the folder of the maps, relative to the labeler's folder
    ``data/labelers/folder/`` (``.``: that folder itself)."""

    masks: str = Field(min_length=1)


class PseudoLabelConfig(Config):
    """The ``pseudo_label`` section: ``labeler`` names the section (``random_walker``, ``sam`` or ``folder``) used;
    ``cache_dir`` is the per-image cache of maps (:mod:`wssam.pseudo_label.cache`), handed to the stage by
    dvc.yaml."""

    labeler: Literal[LABELERS]
    cache_dir: CommandPath
    seed: int = Field(ge=0)
    views: tuple[ViewName, ...] = Field(min_length=1)
    prompts: PromptConfig
    random_walker: RandomWalkerConfig
    sam: SamConfig
    folder: FolderConfig

    @field_validator("views")
    @classmethod
    def _each_view_once(cls, views: tuple[str, ...]) -> tuple[str, ...]:
        """Each view once, by name and by what it does: ``vflip`` and ``hflip_rot180`` give one map, which the
        fusion would count twice."""
        repeated = sorted({name for name in views if views.count(name) > 1})
        if repeated:
            raise ValueError(f"view {repeated[0]!r} is listed twice; list each view once")
        seen: dict[tuple[bool, int, float], str] = {}
        for name in views:
            view = parse_view(name)
            same = seen.setdefault((view.hflip, view.k, view.scale), name)
            if same != name:
                raise ValueError(f"views {same!r} and {name!r} are the same flip, turn and scale; list one of them")
        return views
