"""The params loader: unknown keys, missing keys, wrong types and out-of-range values name the full key."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from wssam.config import bounds, choices, from_mapping, load_section
from wssam.io import InputError


@dataclass(frozen=True)
class Inner:
    width: int = field(default=3, metadata=bounds(ge=1))


@dataclass(frozen=True)
class Example:
    tau: float = field(metadata=bounds(ge=0.0, le=1.0))
    labeler: str = field(default="random_walker", metadata=choices("random_walker", "sam"))
    views: tuple[str, ...] = ("identity",)
    band: tuple[float, ...] = field(default=(), metadata=bounds(ge=0.0, le=1.0))
    inner: Inner = field(default_factory=Inner)
    path: str | None = None


def test_builds_nested_dataclass_and_converts_types() -> None:
    config = from_mapping(Example, {"tau": 0, "views": ["a", "b"], "inner": {"width": 5}}, "score")
    assert config == Example(tau=0.0, views=("a", "b"), inner=Inner(width=5))
    assert isinstance(config.tau, float)


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"tau": 0.1, "tua": 1}, "score.tua"),
        ({}, "score.tau"),
        ({"tau": "high"}, "score.tau"),
        ({"tau": 1.5}, "score.tau"),
        ({"tau": 0.1, "labeler": "unet"}, "score.labeler"),
        ({"tau": 0.1, "inner": {"width": 0}}, "score.inner.width"),
        ({"tau": 0.1, "inner": {"height": 1}}, "score.inner.height"),
        ({"tau": 0.1, "band": [0.3, 1.7]}, "score.band[1]"),
        ({"tau": True}, "score.tau"),
    ],
)
def test_bad_values_name_the_key(mapping: dict, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        from_mapping(Example, mapping, "score")


def test_load_section_reads_yaml_and_reports_missing_section(tmp_path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("score:\n  tau: 0.25\n")
    assert load_section(Example, "score", params).tau == 0.25
    with pytest.raises(InputError, match="section 'train'"):
        load_section(Example, "train", params)
    with pytest.raises(InputError, match="not found"):
        load_section(Example, "score", tmp_path / "absent.yaml")
