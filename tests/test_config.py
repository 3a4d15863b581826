"""The params door: every section of params.yaml validates; unknown, missing, mistyped and out-of-range keys are one
line naming the full key; a config built in code or rebuilt from a dict is checked the same way."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from recipe import PARAMS, params_section, recipe

from wssam.check_params.stage import SECTIONS as PARAMS_SECTIONS
from wssam.config import build_config, load_section, read_params
from wssam.io import InputError
from wssam.models.config import ModelConfig
from wssam.score.config import ScoreConfig
from wssam.train.config import TrainConfig

SECTIONS = dict(PARAMS_SECTIONS)


def _leaf_keys(mapping: dict, prefix: str) -> list[str]:
    keys = []
    for key, value in mapping.items():
        if isinstance(value, dict) and key != "test_sets":
            keys += _leaf_keys(value, f"{prefix}.{key}")
        else:
            keys.append(f"{prefix}.{key}")
    return keys


def _without(mapping: dict, dotted: list[str]) -> dict:
    inner = mapping
    for part in dotted[:-1]:
        inner = inner[part]
    del inner[dotted[-1]]
    return mapping


def test_every_section_of_params_yaml_validates() -> None:
    assert set(read_params(PARAMS)) == set(SECTIONS)
    for section, cls in SECTIONS.items():
        assert isinstance(load_section(cls, section, PARAMS), cls)


@pytest.mark.parametrize(
    "key", [key for section in SECTIONS for key in _leaf_keys(read_params(PARAMS)[section], section)]
)
def test_deleting_any_key_names_it(key: str) -> None:
    section, *path = key.split(".")
    mapping = _without(params_section(section), path)
    with pytest.raises(InputError, match=rf"^parameter '{key}' is missing; add it to params.yaml$"):
        build_config(SECTIONS[section], mapping, section)


@pytest.mark.parametrize(
    ("section", "changes", "message"),
    [
        ("score", {"taux": 0.3}, r"unknown parameter 'score.taux'; known keys of 'score': keep_fraction, selection"),
        ("score", {"tau": -1}, r"parameter 'score.tau' = -1 is invalid: Input should be greater than or equal to 0"),
        ("score", {"selection": "best"}, r"parameter 'score.selection' = 'best' is invalid"),
        ("train", {"model": {"width": 4}}, r"parameter 'train.model.width' = 4 is invalid: .*greater than or equal"),
        ("train", {"model": {"name": "unet"}}, r"parameter 'train.model.name' = 'unet'"),
        ("train", {"image_size": 100}, r"parameter 'train.image_size' = 100 is invalid: .*multiple of 32 \(e.g. 96\)"),
        ("train", {"min_lr": 0.1}, r"parameter 'train.min_lr' = 0.1 is invalid: must not exceed train.lr"),
        ("train", {"epochs": 2.5}, r"parameter 'train.epochs' = 2.5"),
        ("train", {"loss": {"deep_supervision": [1, 1]}}, r"'train.loss.deep_supervision' = \[1, 1\] .* 5 weights"),
        ("train", {"loss": {"ignore_band": [0.3, 1.7]}}, r"parameter 'train.loss.ignore_band\[1\]' = 1.7"),
        ("train", {"loss": {"ignore_band": [0.7, 0.3]}}, r"'train.loss.ignore_band' = \[0.7, 0.3\] .* lo < hi"),
        ("train", {"precision": "fp16"}, r"parameter 'train.precision' = 'fp16'"),
        ("train", {"augment": {"hflip": 2}}, r"parameter 'train.augment.hflip' = 2"),
        ("train", {"model": {"name": "released"}, "batch_size": 1}, r"'train.batch_size' = 1 .* after global pooling"),
        ("train", {"batch_size": 1, "image_size": 32}, r"'train.image_size' = 32 .* 1 x 1: batch norm cannot train"),
        ("train", {"model": {"name": "released", "width": 12}}, r"'train.model.width' = 12 .* released .* 16"),
        ("train", {"augment": {"crop_border": 0}}, r"parameter 'train.augment.crop_border' = 0"),  # cut 1 px anyway
        ("pseudo_label", {"labler": "sam"}, r"unknown parameter 'pseudo_label.labler'"),
        ("pseudo_label", {"views": ["identity", "rot45"]}, r"'pseudo_label.views\[1\]' = 'rot45' .* unknown token"),
        ("pseudo_label", {"views": ["identity", "identity"]}, r"'pseudo_label.views' .* 'identity' is listed twice"),
        ("pseudo_label", {"views": ["vflip", "rot180_hflip"]}, r"'vflip' and 'rot180_hflip' are the same flip, turn"),
        ("pseudo_label", {"sam": {"precision": "half"}}, r"parameter 'pseudo_label.sam.precision' = 'half'"),
        ("prepare", {"max_image": 4}, r"unknown parameter 'prepare.max_image'"),
        ("prepare", {"test_sets": {"bad name": "synthetic"}}, r"'prepare.test_sets' .* may hold only letters"),
        ("prepare", {"test_sets": {"COD10K.v2": "synthetic"}}, r"'COD10K.v2' may hold only letters, .* reads a dot"),
        ("prepare", {"test_sets": {"2020set": "synthetic"}}, r"'2020set' may hold only .* starts with a letter"),
        ("prepare", {"test_sets": {"train": "synthetic"}}, r"'prepare.test_sets' .* 'train' is the training set's"),
        ("prepare", {"sparse": {"kind": "box"}}, r"parameter 'prepare.sparse.kind' = 'box'"),
        ("prepare", {"sparse": {"stroke_width": 4}}, r"'prepare.sparse.stroke_width' = 4 .* odd .* use 3 or 5"),
    ],
)
def test_bad_values_are_one_line_naming_the_key(section: str, changes: dict, message: str) -> None:
    with pytest.raises(InputError, match=message) as error:
        recipe(SECTIONS[section], section, **changes)
    assert "\n" not in str(error.value)


def test_numbers_in_exponent_form_are_numbers(tmp_path: Path) -> None:
    text = PARAMS.read_text().replace("  lr: 0.001 ", "  lr: 1e-3 ").replace("  min_lr: 0.000001", "  min_lr: 1e-6")
    assert yaml.safe_load(text)["train"]["lr"] == "1e-3"  # what YAML 1.1 makes of it
    (tmp_path / "params.yaml").write_text(text)
    config = load_section(TrainConfig, "train", tmp_path / "params.yaml")
    assert config.lr == 0.001 and config.min_lr == 1e-6


def test_configs_built_in_code_or_replaced_are_validated_too() -> None:
    model = recipe(TrainConfig, "train").model
    with pytest.raises(ValidationError, match="width"):
        ModelConfig(name="wssam", backbone="resnet18", backbone_weights="none", width=4, grouping=True)
    with pytest.raises(ValidationError, match="width"):
        model.replace(width=4)
    with pytest.raises(ValidationError, match="grouping"):
        ModelConfig(name="wssam", backbone="resnet18", backbone_weights="none", width=8)  # no default
    rebuilt = TrainConfig.model_validate(recipe(TrainConfig, "train").to_dict())
    assert rebuilt == recipe(TrainConfig, "train")


def test_missing_file_section_and_malformed_yaml(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="parameter file not found"):
        load_section(ScoreConfig, "score", tmp_path / "absent.yaml")
    (tmp_path / "params.yaml").write_text("train: {}\n")
    with pytest.raises(InputError, match="section 'score' is missing"):
        load_section(ScoreConfig, "score", tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text("score: [1, 2\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_section(ScoreConfig, "score", tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text("score: 3\n")
    with pytest.raises(InputError, match="parameter 'score' must be a mapping"):
        load_section(ScoreConfig, "score", tmp_path / "params.yaml")
