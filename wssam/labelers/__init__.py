"""Labelers turn an image plus prompts into a foreground probability map (see :mod:`wssam.labelers.base`).

``build_labeler(config)`` picks one by ``pseudo_label.labeler``: ``random_walker`` (no weights) or ``sam``
(official segment-anything checkpoint). The SAM module, and with it torch, is imported only when chosen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from wssam.io import InputError
from wssam.labelers.base import Labeler
from wssam.labelers.random_walker import RandomWalkerLabeler

if TYPE_CHECKING:
    from wssam.pseudo_labeling import PseudoLabelConfig

LABELERS = ("random_walker", "sam")


def _random_walker(config: PseudoLabelConfig, **_: Any) -> Labeler:
    return RandomWalkerLabeler(config.random_walker)


def _sam(config: PseudoLabelConfig, *, sam_builder: Any = None, **_: Any) -> Labeler:
    from wssam.labelers.sam import SamLabeler

    return SamLabeler.from_config(config.sam, builder=sam_builder)


_REGISTRY: dict[str, Callable[..., Labeler]] = {"random_walker": _random_walker, "sam": _sam}


def build_labeler(config: PseudoLabelConfig, *, sam_builder: Any = None) -> Labeler:
    """The labeler named by ``config.labeler``; ``sam_builder`` replaces the registry model (tests: a tiny SAM)."""
    if config.labeler not in _REGISTRY:
        raise InputError(f"pseudo_label.labeler {config.labeler!r} is not one of {', '.join(LABELERS)}")
    return _REGISTRY[config.labeler](config, sam_builder=sam_builder)


__all__ = ["LABELERS", "Labeler", "build_labeler"]
